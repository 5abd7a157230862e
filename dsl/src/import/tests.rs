//! `promtool test rules` files to test blocks: the same series (the notation is the same) and
//! the same expected alerts at the same times.

use serde::Deserialize;

use super::{Converted, InputFile, Skipped, StringMap, parse_yaml, prometheus_duration};
use crate::syntax::literal::{format_duration, quote};

#[derive(Debug, Deserialize)]
struct TestFile {
    #[serde(default)]
    tests: Vec<Test>,
}

#[derive(Debug, Deserialize)]
struct Test {
    name: Option<String>,
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<Series>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
struct Series {
    series: String,
    values: String,
}

#[derive(Debug, Deserialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Deserialize)]
struct ExpectedAlert {
    #[serde(default)]
    exp_labels: StringMap,
    exp_annotations: Option<StringMap>,
}

/// Reads one test file; tests that cannot be converted go to `skipped`.
pub fn read(file: &InputFile, skipped: &mut Vec<Skipped>) -> Vec<Converted> {
    let Some(parsed) = parse_yaml::<TestFile>(file, "a promtool test file", skipped) else {
        return Vec::new();
    };
    let test_lines: Vec<usize> = file
        .text
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            line.trim_start()
                .trim_start_matches('-')
                .trim_start()
                .starts_with("input_series:")
        })
        .map(|(index, _)| index + 1)
        .collect();
    let mut converted: Vec<Converted> = Vec::new();
    for (index, test) in parsed.tests.iter().enumerate() {
        let line = test_lines.get(index).copied().unwrap_or(1);
        let mut name = test
            .name
            .as_deref()
            .map_or_else(|| format!("test_{}", index + 1), identifier);
        if converted.iter().any(|other| other.name == name) {
            name = format!("{name}_{}", index + 1);
        }
        let skip = |reason: String| Skipped {
            file: file.name.clone(),
            line,
            name: name.clone(),
            reason,
        };
        if !test.promql_expr_test.is_empty() {
            skipped.push(skip(format!(
                "its {} `promql_expr_test` entries: pipe tests alerts, not queries (its alert tests are imported)",
                test.promql_expr_test.len()
            )));
        }
        if test.alert_rule_test.is_empty() {
            continue;
        }
        match test_block(&name, test) {
            Ok(text) => converted.push(Converted {
                name: name.clone(),
                file: file.name.clone(),
                line,
                text,
            }),
            Err(reason) => skipped.push(skip(reason)),
        }
    }
    converted
}

fn test_block(name: &str, test: &Test) -> Result<String, String> {
    let interval = prometheus_duration(test.interval.as_deref().unwrap_or("1m"))?;
    let mut text = format!(
        "test {name} {{\n  interval = {}\n  input {{\n",
        format_duration(interval)
    );
    for series in &test.input_series {
        text.push_str(&format!(
            "    {} = {}\n",
            series_key(&series.series)?,
            quote(&series.values)
        ));
    }
    text.push_str("  }\n  expect {\n");
    // promtool lists each (time, alert) on its own; pipe groups the rules of one time.
    let mut times: Vec<(u64, Vec<String>)> = Vec::new();
    for expectation in &test.alert_rule_test {
        let at = prometheus_duration(&expectation.eval_time)?;
        let entries = expected_entries(expectation);
        match times.iter_mut().find(|(time, _)| *time == at) {
            Some((_, existing)) => existing.extend(entries),
            None => times.push((at, entries)),
        }
    }
    for (at, entries) in times {
        let at = format_duration(at);
        match entries.as_slice() {
            [one] => text.push_str(&format!("    {at} {{ {one} }}\n")),
            _ => text.push_str(&format!(
                "    {at} {{\n      {}\n    }}\n",
                entries.join("\n      ")
            )),
        }
    }
    text.push_str("  }\n}\n");
    Ok(text)
}

/// `Rule = none`, or one `Rule { labels…, annotations { … } }` per expected alert.
fn expected_entries(expectation: &AlertTest) -> Vec<String> {
    let rule = &expectation.alertname;
    if expectation.exp_alerts.is_empty() {
        return vec![format!("{rule} = none")];
    }
    expectation
        .exp_alerts
        .iter()
        .map(|alert| {
            let mut fields: Vec<String> = alert
                .exp_labels
                .strings()
                .into_iter()
                .filter(|(key, _)| key != "alertname")
                .map(|(key, value)| format!("{} = {}", key_text(&key), quote(&value)))
                .collect();
            if let Some(annotations) = &alert.exp_annotations {
                let annotations: Vec<String> = annotations
                    .strings()
                    .into_iter()
                    .map(|(key, value)| format!("{} = {}", key_text(&key), quote(&value)))
                    .collect();
                fields.push(format!("annotations {{ {} }}", annotations.join(", ")));
            }
            format!("{rule} {{ {} }}", fields.join(", "))
        })
        .collect()
}

/// `metric{label="value"}` as pipe writes an input series.
fn series_key(series: &str) -> Result<String, String> {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::{Expr, parse};
    let Ok(Expr::VectorSelector(selector)) = parse(series) else {
        return Err(format!("the series `{series}` is not a selector"));
    };
    let mut name = selector.name.clone();
    let mut labels = Vec::new();
    for matcher in &selector.matchers.matchers {
        if !matches!(matcher.op, MatchOp::Equal) {
            return Err(format!(
                "the series `{series}` has a matcher that is not `=`"
            ));
        }
        if matcher.name == "__name__" {
            name = Some(matcher.value.clone());
        } else {
            labels.push(format!("{}={}", matcher.name, quote(&matcher.value)));
        }
    }
    let name = name.ok_or_else(|| format!("the series `{series}` has no metric name"))?;
    Ok(if labels.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", labels.join(", "))
    })
}

fn key_text(key: &str) -> String {
    if identifier(key) == key {
        key.to_string()
    } else {
        quote(key)
    }
}

/// A test's name as a block name: other characters become `_`.
fn identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}
