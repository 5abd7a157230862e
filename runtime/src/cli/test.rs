//! `pipectl test FILE`: runs the test blocks of a pipeline and of the `FILE.test` beside it, as
//! `promtool test rules` runs a rule file's tests; every failed expectation is shown at its line
//! with what was expected and what the rules produced.

use std::path::{Path, PathBuf};

use pipe_dsl::diagnostics::{Code, Style, render};
use pipe_dsl::testing::TestCase;
use pipe_dsl::{Diagnostic, compile_tests, compile_with_process_env};

use super::report;
use crate::rule_test::{Mismatch, describe, run_case};

/// Runs every test of `path`; true when all pass.
pub fn run(path: &Path, style: Style) -> bool {
    let Some(source) = report::read(path) else {
        return false;
    };
    let compiled = compile_with_process_env(&source);
    report::print(path, &source, &compiled.diagnostics, style);
    let Some(plan) = compiled.plan else {
        return false;
    };
    let mut files = vec![(path.to_path_buf(), source, compiled.tests)];
    let beside = test_file(path);
    if beside.exists() {
        let Some(source) = report::read(&beside) else {
            return false;
        };
        let rules: Vec<&str> = plan.alerts.iter().map(|rule| rule.name.as_str()).collect();
        let (tests, diagnostics) = compile_tests(&source, &rules);
        report::print(&beside, &source, &diagnostics, style);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return false;
        }
        files.push((beside, source, tests));
    }
    let total: usize = files.iter().map(|(_, _, tests)| tests.len()).sum();
    if total == 0 {
        eprintln!(
            "error: `{}` has no tests: write `test NAME {{ input {{ … }} expect {{ … }} }}` blocks in it or in `{}`",
            path.display(),
            test_file(path).display()
        );
        return false;
    }
    let (mut passed, mut failed) = (0, 0);
    for (file, source, tests) in &files {
        if tests.is_empty() {
            continue;
        }
        println!("running {} from {}", count(tests.len()), file.display());
        for case in tests {
            let mismatches = run_case(&plan, case);
            if mismatches.is_empty() {
                println!("test {} ... ok", case.name);
                passed += 1;
            } else {
                println!("test {} ... FAILED", case.name);
                failed += 1;
                let diagnostics = failures(case, &mismatches);
                let path = file.display().to_string();
                eprint!("{}", render(&diagnostics, &path, source, style));
            }
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!("test result: {verdict}. {passed} passed; {failed} failed");
    failed == 0
}

/// `quickstart.pipe.test` beside `quickstart.pipe`.
fn test_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".test");
    PathBuf::from(name)
}

fn failures(case: &TestCase, mismatches: &[Mismatch]) -> Vec<Diagnostic> {
    mismatches
        .iter()
        .map(|mismatch| {
            let expectation = mismatch.expectation;
            let expected: Vec<String> = expectation
                .alerts
                .iter()
                .map(|alert| describe(alert.state, &alert.labels, alert.annotations.as_ref()))
                .collect();
            let annotations_checked = expectation.alerts.iter().any(|a| a.annotations.is_some());
            let actual: Vec<String> = mismatch
                .actual
                .iter()
                .map(|alert| {
                    describe(
                        alert.state,
                        &alert.labels,
                        annotations_checked.then_some(&alert.annotations),
                    )
                })
                .collect();
            Diagnostic::new(
                Code::ExpectationFailed,
                expectation.span,
                format!(
                    "test `{}`: at {}, `{}` has other alerts than expected",
                    case.name, expectation.at_text, expectation.rule
                ),
            )
            .label("expected here")
            .note(format!(
                "expected: {}\nactual:   {}",
                listing(&expected),
                listing(&actual)
            ))
        })
        .collect()
}

fn listing(alerts: &[String]) -> String {
    if alerts.is_empty() {
        "none".to_string()
    } else {
        alerts.join("; ")
    }
}

fn count(tests: usize) -> String {
    if tests == 1 {
        "1 test".to_string()
    } else {
        format!("{tests} tests")
    }
}
