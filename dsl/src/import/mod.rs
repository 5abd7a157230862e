//! `pipectl import prometheus`: Prometheus alerting rule files (and `promtool test rules`
//! suites) to a `.pipe` file. What converts keeps its meaning; every rule that does not is
//! listed with its file, line and reason, and the output is checked before it is returned, so
//! it always validates.

pub mod promql;
mod rules;
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::compile;
use crate::format::format;
use crate::span::LineIndex;
use crate::syntax::literal::format_duration;

/// One input file: its name, for messages, and its text.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The path as the user gave it.
    pub name: String,
    /// Its contents.
    pub text: String,
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The `.pipe` file, in canonical layout; it validates.
    pub pipe: String,
    /// Alert rules converted.
    pub converted: usize,
    /// Rules (and tests) not converted, with the reason.
    pub skipped: Vec<Skipped>,
}

/// A rule or test that was not converted.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The file.
    pub file: String,
    /// Its line, from 1.
    pub line: usize,
    /// The rule's or test's name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// How the pipeline around the rules is made.
#[derive(Debug, Clone)]
pub struct Options {
    /// The evaluation step when no group sets `interval`: Prometheus's default
    /// `evaluation_interval` is 1m.
    pub step: u64,
}

/// Converts rule files, and optionally `promtool test rules` files, to one `.pipe` file.
pub fn prometheus(
    rule_files: &[InputFile],
    test_files: &[InputFile],
    options: &Options,
) -> Imported {
    let mut skipped = Vec::new();
    let mut alerts = Vec::new();
    let mut step = None;
    for file in rule_files {
        let read = rules::read(file, &mut skipped);
        step = [step, read.step].into_iter().flatten().min();
        alerts.extend(read.alerts);
    }
    let step = step.unwrap_or(options.step);
    let mut test_blocks = Vec::new();
    for file in test_files {
        test_blocks.extend(tests::read(file, &mut skipped));
    }
    loop {
        let (text, alert_lines, test_lines) = assemble(&alerts, &test_blocks, step, rule_files);
        let compiled = compile(&text, &|_| None);
        let errors: Vec<_> = compiled
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        if errors.is_empty() {
            let pipe = format(&text).expect("the importer writes the grammar");
            return Imported {
                pipe: with_skipped(pipe, &skipped),
                converted: alerts.len(),
                skipped,
            };
        }
        // Take out each rule (or test) the checker refuses, with its first error, and retry.
        let lines = LineIndex::new(&text);
        let holding = |ranges: &[(usize, usize)], line: usize| {
            ranges
                .iter()
                .position(|&(first, last)| first <= line && line <= last)
        };
        let mut refused_alerts = BTreeMap::new();
        let mut refused_tests = BTreeMap::new();
        for error in &errors {
            let line = lines.line(error.primary.span.start);
            let reason = format!("{} ({})", error.message, error.code.id());
            if let Some(index) = holding(&alert_lines, line) {
                refused_alerts.entry(index).or_insert(reason);
            } else if let Some(index) = holding(&test_lines, line) {
                refused_tests.entry(index).or_insert(reason);
            } else {
                // Outside every rule (the source, say): no rule can be kept.
                let reason = format!("the pipeline around the rules does not check: {reason}");
                for index in 0..alerts.len() {
                    refused_alerts
                        .entry(index)
                        .or_insert_with(|| reason.clone());
                }
                for index in 0..test_blocks.len() {
                    refused_tests.entry(index).or_insert_with(|| reason.clone());
                }
            }
        }
        if refused_alerts.is_empty() && refused_tests.is_empty() {
            panic!("the importer's source and sink do not check: {errors:?}");
        }
        for (index, reason) in refused_alerts.into_iter().rev() {
            skipped.push(alerts.remove(index).skip(reason));
        }
        for (index, reason) in refused_tests.into_iter().rev() {
            skipped.push(test_blocks.remove(index).skip(reason));
        }
    }
}

/// A rule or test as `.pipe` text, with where it came from.
#[derive(Debug, Clone)]
struct Converted {
    name: String,
    file: String,
    line: usize,
    text: String,
}

impl Converted {
    fn skip(self, reason: String) -> Skipped {
        Skipped {
            file: self.file,
            line: self.line,
            name: self.name,
            reason,
        }
    }
}

/// Lines of the assembled file, from 1: the first and last of each block.
type Lines = Vec<(usize, usize)>;

/// The whole file: a source to replace, the rules, a sink to Alertmanager, the tests; with the
/// lines each rule and each test takes.
fn assemble(
    alerts: &[Converted],
    tests: &[Converted],
    step: u64,
    rule_files: &[InputFile],
) -> (String, Lines, Lines) {
    let names: Vec<&str> = rule_files.iter().map(|f| f.name.as_str()).collect();
    let mut text = format!(
        "# Imported by `pipectl import prometheus` from {}.\n\
         # Point the source at where your samples arrive; rules are evaluated every `step`.\n\
         source metrics from kafka {{\n  brokers = env(\"KAFKA_BROKERS\", \"127.0.0.1:9092\")\n  \
         topic = \"metrics-raw\"\n  group = \"pipe-alerts\"\n  format = json\n  step = {}\n}}\n",
        names.join(", "),
        format_duration(step)
    );
    let place = |text: &mut String, block: &Converted| {
        text.push('\n');
        let first_line = text.matches('\n').count() + 1;
        text.push_str(&block.text);
        (first_line, text.matches('\n').count())
    };
    let alert_lines = alerts.iter().map(|alert| place(&mut text, alert)).collect();
    text.push_str(
        "\nsink notify to alertmanager { from = alerts, url = env(\"ALERTMANAGER_URL\", \"http://127.0.0.1:9093\") }\n",
    );
    let test_lines = tests.iter().map(|test| place(&mut text, test)).collect();
    (text, alert_lines, test_lines)
}

/// The skipped rules as comments at the end of the file, so that nobody mistakes the file for
/// the whole rule set.
fn with_skipped(mut pipe: String, skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return pipe;
    }
    pipe.push_str("\n# Not imported (each also reported by `pipectl import`):\n");
    for skip in skipped {
        pipe.push_str(&format!(
            "# {}:{}: {}: {}\n",
            skip.file, skip.line, skip.name, skip.reason
        ));
    }
    pipe
}

/// A YAML file read as `T`; when it is not one, the whole file is skipped with the parser's
/// line and message.
fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &InputFile,
    what: &str,
    skipped: &mut Vec<Skipped>,
) -> Option<T> {
    serde_norway::from_str(&file.text)
        .map_err(|error| {
            skipped.push(Skipped {
                file: file.name.clone(),
                line: error.location().map_or(1, |l| l.line()),
                name: "(the whole file)".to_string(),
                reason: format!("not {what}: {error}"),
            });
        })
        .ok()
}

/// A duration as Prometheus writes it (`5m`, `1h30m`, `1d`), in milliseconds.
fn prometheus_duration(text: &str) -> Result<u64, String> {
    crate::syntax::literal::duration_millis(text)
        .map_err(|_| format!("`{text}` is not a duration pipe can write (units ms, s, m, h, d, w)"))
}

/// A string map in YAML, whose values may be written as numbers or booleans.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
struct StringMap(BTreeMap<String, serde_norway::Value>);

impl StringMap {
    fn strings(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    serde_norway::Value::String(text) => text.clone(),
                    serde_norway::Value::Number(number) => number.to_string(),
                    serde_norway::Value::Bool(flag) => flag.to_string(),
                    _ => String::new(),
                };
                (key.clone(), value)
            })
            .collect()
    }
}
