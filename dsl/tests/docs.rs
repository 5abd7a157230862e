//! `docs/language.md` lists exactly what the language has: its generated sections (aggregates,
//! properties, diagnostics with real examples) must equal what the code generates now.
//! `UPDATE_DOCS=1 cargo test -p pipe-dsl --test docs` rewrites them.

mod support;

use std::path::{Path, PathBuf};

use pipe_dsl::diagnostics::{Code, Style, render};
use pipe_dsl::schema::{aggregates_markdown, reference_markdown};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Each code with a one-line meaning and the first corpus file's rendering of it.
fn diagnostics_markdown() -> String {
    let corpus = root().join("dsl/tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let mut out = String::new();
    for code in Code::ALL {
        out.push_str(&format!("### {}: {}\n\n", code.id(), code.title()));
        if *code == Code::ExpectationFailed {
            out.push_str("Reported by `pipectl test` after a run; see [Tests](#tests).\n\n");
            continue;
        }
        let example = files.iter().find_map(|path| {
            let source = std::fs::read_to_string(path).unwrap();
            let first_line = source.lines().next().unwrap_or_default().to_string();
            let expected = first_line.split_whitespace().any(|word| word == code.id());
            expected.then_some((path, source))
        });
        let (path, source) =
            example.unwrap_or_else(|| panic!("no corpus file shows {}", code.id()));
        let compiled = support::compile_for_test(&source);
        let shown: Vec<_> = compiled
            .diagnostics
            .into_iter()
            .filter(|d| d.code == *code)
            .take(1)
            .collect();
        let name = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
        let rendered = render(&shown, &name, &source, Style::Plain);
        out.push_str(&format!(
            "```text\n{}```\n\n",
            rendered.trim_end().to_string() + "\n"
        ));
    }
    out
}

fn replace_section(document: &str, name: &str, content: &str) -> String {
    let begin = format!("<!-- BEGIN GENERATED: {name} ");
    let end = format!("<!-- END GENERATED: {name} -->");
    let start = document
        .find(&begin)
        .unwrap_or_else(|| panic!("no section {name}"));
    let start = start + document[start..].find("-->\n").unwrap() + 4;
    let stop = document
        .find(&end)
        .unwrap_or_else(|| panic!("no end of section {name}"));
    format!("{}{}{}", &document[..start], content, &document[stop..])
}

#[test]
fn language_reference_lists_everything_the_language_has() {
    let path = root().join("docs/language.md");
    let document = std::fs::read_to_string(&path).unwrap();
    let mut expected = replace_section(&document, "aggregates", &aggregates_markdown());
    expected = replace_section(&expected, "properties", &reference_markdown());
    expected = replace_section(&expected, "diagnostics", &diagnostics_markdown());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert!(
        document == expected,
        "docs/language.md is out of date: run `UPDATE_DOCS=1 cargo test -p pipe-dsl --test docs`"
    );
}
