//! Syntax tree to plan: every check the language makes, in passes from the single block to the
//! whole pipeline. All problems are reported, not only the first.

mod alerts;
mod blocks;
mod connectors;
mod graph;
mod labels;
mod sinks;
mod streams;
pub(crate) mod suggest;
mod usage;
mod values;

pub use values::EnvLookup;

use crate::diagnostics::Diagnostic;
use crate::plan::Plan;
use crate::syntax::ast::File;
use crate::testing::{self, TEST_KEYWORD, TestCase};

/// The outcome of checking a file: a plan when there are no errors, and every diagnostic (errors
/// and warnings) in file order.
#[derive(Debug)]
pub struct Checked {
    /// The plan, when the file has no errors.
    pub plan: Option<Plan>,
    /// Errors and warnings, in the order of their place in the file.
    pub diagnostics: Vec<Diagnostic>,
    /// The file's test blocks.
    pub tests: Vec<TestCase>,
}

/// Checks a parsed file. `env` reads environment variables for `env()` without defaults.
pub fn check(file: &File, env: EnvLookup) -> Checked {
    let mut diagnostics = Vec::new();
    let (test_blocks, pipeline_blocks): (Vec<_>, Vec<_>) = file
        .blocks
        .iter()
        .partition(|block| block.kind.name == TEST_KEYWORD);
    let declared = blocks::declare(pipeline_blocks, env, &mut diagnostics);
    let mut graph = graph::Graph::new(&declared, &file.unparsed, &mut diagnostics);
    let sources = streams::sources(&mut graph, &mut diagnostics);
    let rollups = streams::rollups(&mut graph, &mut diagnostics);
    let sinks = sinks::sinks(&mut graph, &mut diagnostics);
    let mut alerts = alerts::rules(&mut graph, &mut diagnostics);
    for rule in &mut alerts {
        let root = rollups
            .iter()
            .find(|rollup| rollup.name == rule.input)
            .map_or(rule.input.as_str(), |rollup| rollup.root_source.as_str());
        rule.forget_after = sources
            .iter()
            .find(|source| source.name == root)
            .and_then(|source| source.series_ttl);
    }
    if file.unparsed.is_empty() {
        usage::warnings(&graph, &file.blocks, &mut diagnostics);
    }
    let rules: Vec<&str> = alert_names(file);
    let (tests, test_diagnostics) = testing::check(test_blocks, &rules);
    diagnostics.extend(test_diagnostics);
    let plan = (!diagnostics.iter().any(Diagnostic::is_error)).then_some(Plan {
        sources,
        rollups,
        alerts,
        sinks,
        pinned_placement: Default::default(),
    });
    Checked {
        plan,
        diagnostics,
        tests,
    }
}

/// The names of the file's alert blocks, which its tests may expect.
pub fn alert_names(file: &File) -> Vec<&str> {
    file.blocks
        .iter()
        .filter(|block| block.kind.name == crate::schema::BlockKind::Alert.keyword())
        .map(|block| block.name.name.as_str())
        .collect()
}
