//! Prometheus rule files (`groups: [{ name, interval, rules: [...] }]`) to alert blocks.

use serde::Deserialize;

use super::promql::condition;
use super::{Converted, InputFile, Skipped, StringMap, parse_yaml, prometheus_duration};
use crate::plan::is_label_name;
use crate::syntax::literal::{format_duration, quote};

#[derive(Debug, Deserialize)]
struct RuleFile {
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: serde_norway::Value,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: StringMap,
    #[serde(default)]
    annotations: StringMap,
}

/// The alerts of one file, and the smallest evaluation interval its groups set.
pub struct Read {
    /// The alert rules that convert, as blocks.
    pub alerts: Vec<Converted>,
    /// The smallest group `interval`, which becomes the source's `step`.
    pub step: Option<u64>,
}

/// Reads one rule file; what cannot be converted goes to `skipped`.
pub fn read(file: &InputFile, skipped: &mut Vec<Skipped>) -> Read {
    let mut read = Read {
        alerts: Vec::new(),
        step: None,
    };
    let Some(parsed) = parse_yaml::<RuleFile>(file, "a Prometheus rule file", skipped) else {
        return read;
    };
    let mut lines = RuleLines::new(&file.text);
    for group in &parsed.groups {
        if let Some(Ok(step)) = group.interval.as_deref().map(prometheus_duration) {
            let step = step.max(1);
            read.step = Some(read.step.map_or(step, |s: u64| s.min(step)));
        }
        for rule in &group.rules {
            let line = lines.next_rule();
            let name = rule
                .alert
                .clone()
                .or_else(|| rule.record.clone())
                .unwrap_or_default();
            let skip = |reason: String| Skipped {
                file: file.name.clone(),
                line,
                name: name.clone(),
                reason,
            };
            if rule.alert.is_none() {
                skipped.push(skip(
                    "a recording rule: pipe keeps aggregates as `rollup` blocks, written by hand"
                        .to_string(),
                ));
                continue;
            }
            if read.alerts.iter().any(|a| a.name == name) {
                skipped.push(skip(format!(
                    "a second rule named `{name}`: pipe's alert names are unique"
                )));
                continue;
            }
            match alert_block(&name, rule) {
                Ok(text) => read.alerts.push(Converted {
                    name: name.clone(),
                    file: file.name.clone(),
                    line,
                    text,
                }),
                Err(reason) => skipped.push(skip(reason)),
            }
        }
    }
    read
}

fn alert_block(name: &str, rule: &Rule) -> Result<String, String> {
    if !is_label_name(name) {
        return Err(format!(
            "`{name}` is not a block name: pipe's alert names are letters, digits and `_`"
        ));
    }
    let expr = match &rule.expr {
        serde_norway::Value::String(text) => text.clone(),
        serde_norway::Value::Number(number) => number.to_string(),
        _ => return Err("`expr` is not a string".to_string()),
    };
    let converted = condition(&expr)?;
    let mut text = String::new();
    for note in &converted.notes {
        text.push_str(&format!("# note: {note}\n"));
    }
    text.push_str(&format!(
        "alert {name} {{\n  when {}\n",
        converted.condition
    ));
    if let Some(for_) = &rule.for_ {
        text.push_str(&format!(
            "  for {}\n",
            format_duration(prometheus_duration(for_)?)
        ));
    }
    if let Some(keep) = &rule.keep_firing_for {
        let keep = format_duration(prometheus_duration(keep)?);
        text.push_str(&format!("  keep_firing_for {keep}\n"));
    }
    if let Some(lookback) = converted.lookback {
        text.push_str(&format!("  lookback {}\n", format_duration(lookback)));
    }
    let mut labels = rule.labels.strings();
    for (name, value) in &converted.labels {
        if !labels.iter().any(|(existing, _)| existing == name) {
            labels.push((name.clone(), value.clone()));
        }
    }
    for (section, entries) in [
        ("labels", labels),
        ("annotations", rule.annotations.strings()),
    ] {
        if entries.is_empty() {
            continue;
        }
        let mut lines = Vec::new();
        for (key, value) in entries {
            let key = if is_label_name(&key) {
                key
            } else {
                quote(&key)
            };
            lines.push(format!("{key} = {}", quote(&template(&value)?)));
        }
        match lines.as_slice() {
            [one] => text.push_str(&format!("  {section} {{ {one} }}\n")),
            _ => text.push_str(&format!(
                "  {section} {{\n    {}\n  }}\n",
                lines.join("\n    ")
            )),
        }
    }
    text.push_str("}\n");
    Ok(text)
}

/// Prometheus's template spellings pipe fills in: `{{ $labels.x }}`, `{{ .Labels.x }}`,
/// `{{ $value }}`, `{{ .Value }}`, and `{{ $value | humanize }}` (pipe writes four significant
/// digits). Anything else in `{{ … }}` is refused rather than printed wrong in a page.
fn template(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find("}}")
            .ok_or_else(|| format!("the template `{text}` has `{{{{` without `}}}}`"))?;
        let inner = rest[open + 2..open + close].trim();
        let inner = inner.trim_start_matches('-').trim_end_matches('-').trim();
        let head = inner.split('|').next().unwrap_or_default().trim();
        let filters: Vec<&str> = inner.split('|').skip(1).map(str::trim).collect();
        let plain_filters = filters
            .iter()
            .all(|f| matches!(*f, "humanize" | "humanizePercentage" | "humanize1024"));
        let field = match head {
            "$value" | ".Value" if plain_filters => "{{ value }}".to_string(),
            _ if filters.is_empty() => match head
                .strip_prefix("$labels.")
                .or_else(|| head.strip_prefix(".Labels."))
            {
                Some(label) if is_label_name(label) => format!("{{{{ {label} }}}}"),
                _ => {
                    return Err(format!(
                        "the template `{{{{ {inner} }}}}` has no pipe equivalent: pipe fills in `{{{{ $labels.NAME }}}}` and `{{{{ $value }}}}`"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "the template `{{{{ {inner} }}}}` has no pipe equivalent: pipe fills in `{{{{ $labels.NAME }}}}` and `{{{{ $value }}}}`"
                ));
            }
        };
        out.push_str(&field);
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The lines of `- alert:` and `- record:` entries, in file order: each rule's line.
struct RuleLines<'t> {
    lines: std::iter::Enumerate<std::str::Lines<'t>>,
}

impl<'t> RuleLines<'t> {
    fn new(text: &'t str) -> Self {
        RuleLines {
            lines: text.lines().enumerate(),
        }
    }

    fn next_rule(&mut self) -> usize {
        self.lines
            .find(|(_, line)| {
                let line = line.trim_start().trim_start_matches('-').trim_start();
                line.starts_with("alert:") || line.starts_with("record:")
            })
            .map_or(0, |(index, _)| index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::template;

    #[test]
    fn templates_become_pipe_fields_or_are_refused() {
        assert_eq!(
            template("{{ $labels.host }} at {{ $value | humanize }}% ({{.Labels.job}})").unwrap(),
            "{{ host }} at {{ value }}% ({{ job }})"
        );
        assert!(
            template("{{ printf \"%.2f\" $value }}")
                .unwrap_err()
                .contains("no pipe equivalent")
        );
        assert!(template("{{ $externalLabels.x }}").is_err());
    }
}
