//! Property tests: formatting keeps meaning and comments and is idempotent; no input, however
//! broken, makes the parser, checker, renderer or formatter panic.

mod support;

use pipe_dsl::diagnostics::{Style, render};
use pipe_dsl::format::format;
use pipe_dsl::syntax::parse;
use proptest::prelude::*;
use support::generate::{Choices, pipeline};
use support::{compile_for_test, meaning};

fn comment_texts(source: &str) -> Vec<String> {
    let mut texts: Vec<String> = parse(source)
        .0
        .comments
        .into_iter()
        .map(|c| c.text)
        .collect();
    texts.sort();
    texts
}

/// Everything that must hold for any input: no panic anywhere, and when the input can be
/// formatted, the result is a fixed point with the same meaning.
fn survives(input: &str) -> Result<(), TestCaseError> {
    let compiled = compile_for_test(input);
    let rendered = render(&compiled.diagnostics, "fuzz.pipe", input, Style::Plain);
    prop_assert!(compiled.diagnostics.is_empty() || !rendered.is_empty());
    if let Ok(formatted) = format(input) {
        let shown = format!("input:\n{input}\n--- formatted:\n{formatted}");
        prop_assert_eq!(
            format(&formatted).ok(),
            Some(formatted.clone()),
            "not idempotent\n{}",
            shown
        );
        prop_assert_eq!(
            meaning(input),
            meaning(&formatted),
            "formatting changed the meaning\n{}",
            shown
        );
        prop_assert_eq!(
            comment_texts(input),
            comment_texts(&formatted),
            "comments changed\n{}",
            shown
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn formatting_a_valid_pipeline_keeps_its_plan(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = pipeline(&mut Choices::new(&bytes));
        let compiled = compile_for_test(&text);
        prop_assert!(!compiled.has_errors(), "the generator made an invalid file:\n{text}\n{:#?}", compiled.diagnostics);
        let formatted = format(&text).unwrap();
        prop_assert!(meaning(&text).0.is_some());
        survives(&text)?;
        prop_assert_eq!(format(&formatted).unwrap(), formatted);
    }
}

const TOKENS: &[&str] = &[
    "source",
    "rollup",
    "alert",
    "sink",
    "from",
    "to",
    "metrics",
    "generator",
    "kafka",
    "console",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "=",
    ",",
    "\n",
    "\n\n",
    "# note\n",
    "\"text\"",
    "\"",
    "15s",
    "1m",
    "0s",
    "99999999999999999999d",
    "1.5",
    "-3",
    "64MB",
    "true",
    "when",
    "avg(cpu)",
    "over",
    "by",
    "host",
    ">",
    "/",
    "and",
    "or",
    "absent(x)",
    "window",
    "tumble(1m)",
    "hop(5m, 2m)",
    "env(\"PIPE_TEST_SET\")",
    "env(\"NOPE\")",
    "=~",
    "\"(\"",
    "\"{{ host }}\"",
    "\"{{ \"",
    "aggs",
    "[count, p99]",
    "é",
    "\t",
    "alerts",
    "for",
    "labels",
    "{ a = \"b\" }",
    "\\",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_text_never_panics(input in "\\PC{0,300}") {
        survives(&input)?;
    }

    #[test]
    fn random_token_soup_never_panics(tokens in prop::collection::vec((0..TOKENS.len(), 0..3usize), 0..80)) {
        let input: String = tokens
            .into_iter()
            .map(|(token, spaces)| format!("{}{}", TOKENS[token], " ".repeat(spaces)))
            .collect();
        survives(&input)?;
    }

    #[test]
    fn mutated_pipelines_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..4usize, 0..TOKENS.len()), 1..6),
    ) {
        let mut input = pipeline(&mut Choices::new(&bytes)).into_bytes();
        for (at, kind, token) in edits {
            let at = at.index(input.len() + 1);
            match kind {
                0 => { input.truncate(at); }
                1 => { input.splice(at..at, TOKENS[token].bytes()); }
                2 if at < input.len() => { input.remove(at); }
                _ => {
                    let line_end = input[at..].iter().position(|&b| b == b'\n').map_or(input.len(), |p| at + p);
                    input.drain(at..line_end);
                }
            }
        }
        survives(&String::from_utf8_lossy(&input))?;
    }
}
