//! The `.pipe` language: text to a checked [`Plan`].
//!
//! Parsing (`syntax`) gives a tree with spans; checking (`check`) resolves names and types
//! against the schema (`schema`) and builds the plan; `diagnostics` renders what is wrong the way
//! rustc does; `format` prints a tree back in the canonical layout. The plan is the only thing
//! later stages consume.

pub mod check;
pub mod diagnostics;
pub mod format;
pub mod import;
pub mod plan;
pub mod schema;
pub mod span;
pub mod syntax;
pub mod testing;

pub use check::EnvLookup;
pub use diagnostics::{Diagnostic, Severity};
pub use plan::Plan;

/// A file parsed and checked.
#[derive(Debug)]
pub struct Compiled {
    /// The plan, when the file has no errors.
    pub plan: Option<Plan>,
    /// Errors and warnings in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The file's test blocks, for `pipectl test`.
    pub tests: Vec<testing::TestCase>,
}

impl Compiled {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks `source`, reading `env()` variables through `env`.
pub fn compile(source: &str, env: EnvLookup) -> Compiled {
    let (file, mut diagnostics) = syntax::parse(source);
    let checked = check::check(&file, env);
    diagnostics.extend(checked.diagnostics);
    diagnostics.sort_by_key(|diagnostic| diagnostic.primary.span.start);
    Compiled {
        plan: checked
            .plan
            .filter(|_| !diagnostics.iter().any(Diagnostic::is_error)),
        diagnostics,
        tests: checked.tests,
    }
}

/// Parses and checks a file of test blocks kept beside a pipeline (`quickstart.pipe.test`)
/// against the pipeline's alert rules.
pub fn compile_tests(source: &str, rules: &[&str]) -> (Vec<testing::TestCase>, Vec<Diagnostic>) {
    let (file, mut diagnostics) = syntax::parse(source);
    for block in &file.blocks {
        if block.kind.name != testing::TEST_KEYWORD {
            diagnostics.push(
                Diagnostic::new(
                    diagnostics::Code::BadTest,
                    block.kind.span,
                    format!(
                        "a test file holds `test` blocks only, not `{}`",
                        block.kind.name
                    ),
                )
                .label("not a test")
                .help("pipeline blocks belong in the `.pipe` file beside it"),
            );
        }
    }
    let tests = file
        .blocks
        .iter()
        .filter(|block| block.kind.name == testing::TEST_KEYWORD);
    let (tests, checked) = testing::check(tests, rules);
    diagnostics.extend(checked);
    diagnostics.sort_by_key(|diagnostic| diagnostic.primary.span.start);
    (tests, diagnostics)
}

/// Parses and checks `source` against the process environment.
pub fn compile_with_process_env(source: &str) -> Compiled {
    compile(source, &|var| std::env::var(var).ok())
}
