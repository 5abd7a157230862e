//! `pipectl validate`: every error and warning of every file, in one run.

use std::path::PathBuf;

use pipe_dsl::compile_with_process_env;
use pipe_dsl::diagnostics::Style;

use super::report;

/// Checks each file; true when all are valid.
pub fn run(files: &[PathBuf], deny_warnings: bool, style: Style) -> bool {
    let mut all_valid = true;
    for path in files {
        let Some(source) = report::read(path) else {
            all_valid = false;
            continue;
        };
        let compiled = compile_with_process_env(&source);
        report::print(path, &source, &compiled.diagnostics, style);
        let warnings = compiled
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .count();
        match &compiled.plan {
            Some(plan) if !(deny_warnings && warnings > 0) => println!(
                "ok: {} ({}, {}, {}, {})",
                path.display(),
                count(plan.sources.len(), "source"),
                count(plan.rollups.len(), "rollup"),
                count(plan.alerts.len(), "alert rule"),
                count(plan.sinks.len(), "sink")
            ),
            _ => all_valid = false,
        }
    }
    all_valid
}

fn count(number: usize, noun: &str) -> String {
    if number == 1 {
        format!("1 {noun}")
    } else {
        format!("{number} {noun}s")
    }
}
