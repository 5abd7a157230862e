//! Every file under `tests/invalid/` renders its diagnostics exactly as snapshotted, reports
//! exactly the codes its first line expects, and together the files exercise every code.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use pipe_dsl::diagnostics::{Code, Style, render, summary};

fn expected_codes(source: &str, path: &Path) -> Vec<String> {
    let first = source.lines().next().unwrap_or_default();
    let codes = first
        .strip_prefix("# expect:")
        .unwrap_or_else(|| panic!("{} must start with `# expect: CODE …`", path.display()));
    let mut codes: Vec<String> = codes.split_whitespace().map(String::from).collect();
    codes.sort();
    codes
}

#[test]
fn renders() {
    insta::glob!("invalid/*.pipe", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let compiled = support::compile_for_test(&source);
        let mut codes: Vec<String> = compiled
            .diagnostics
            .iter()
            .map(|d| d.code.id().to_string())
            .collect();
        codes.sort();
        assert_eq!(
            codes,
            expected_codes(&source, path),
            "codes of {}",
            path.display()
        );
        let name = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
        let rendered = render(&compiled.diagnostics, &name, &source, Style::Plain)
            + &summary(&compiled.diagnostics, &name);
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn the_corpus_exercises_every_diagnostic_code() {
    let mut seen = BTreeSet::new();
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid")).unwrap()
    {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        seen.extend(expected_codes(&source, &path));
    }
    // A failed expectation is reported by `pipectl test`, after a run; runtime/tests/cli.rs
    // shows it.
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|code| **code != Code::ExpectationFailed)
        .map(|code| code.id())
        .filter(|id| !seen.contains(*id))
        .collect();
    assert!(missing.is_empty(), "no invalid file exercises {missing:?}");
    assert!(seen.len() + 1 >= Code::ALL.len());
}
