//! `pipectl plan`: the dataflow a file becomes, as a tree or as the JSON plan itself.

use std::path::Path;

use pipe_dsl::diagnostics::Style;
use pipe_dsl::plan::explain;

use super::{PlanFormat, report};

/// Prints the plan of one file; false when the file is not valid.
pub fn run(path: &Path, format: PlanFormat, style: Style) -> bool {
    let Some(plan) = report::plan(path, style) else {
        return false;
    };
    match format {
        PlanFormat::Text => print!("{}", explain(&plan, &path.display().to_string())),
        PlanFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("plans serialise to JSON")
        ),
    }
    true
}
