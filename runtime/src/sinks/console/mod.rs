//! Records as lines for people: an alert at a glance (state, rule, group, value, summary), a
//! window with its aggregates, a sample with its labels.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use pipe_dsl::plan::format_value;

use super::records::{Record, aggregates};
use crate::time::clock_time;

/// Where console lines go: standard output, above the status line when there is one.
#[derive(Debug, Clone)]
pub struct Console {
    colored: bool,
    status: Option<indicatif::ProgressBar>,
}

impl Console {
    /// Standard output; coloured when it is a terminal and `NO_COLOR` is unset.
    pub fn stdout(status: Option<indicatif::ProgressBar>) -> Self {
        Console {
            colored: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            status,
        }
    }

    /// Prints lines without tearing the status line.
    pub fn print(&self, lines: &[String]) {
        match &self.status {
            Some(bar) if std::io::stdout().is_terminal() => bar.suspend(|| print_all(lines)),
            _ => print_all(lines),
        }
    }

    /// The line of a record.
    pub fn line(&self, record: &Record) -> String {
        let paint = |style: Style, text: &str| {
            if self.colored {
                format!("{style}{text}{style:#}")
            } else {
                text.to_string()
            }
        };
        match record {
            Record::Transition(t) => {
                let color = match t.kind.word() {
                    "firing" => AnsiColor::Red,
                    "pending" => AnsiColor::Yellow,
                    "resolved" => AnsiColor::Green,
                    _ => AnsiColor::BrightBlack,
                };
                let state = paint(
                    Style::new().fg_color(Some(color.into())).bold(),
                    &format!("{:<9}", t.kind.word().to_uppercase()),
                );
                let group: Vec<String> = t.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let summary = t
                    .annotations
                    .iter()
                    .find(|(key, _)| key == "summary")
                    .map(|(_, text)| format!("  {text}"))
                    .unwrap_or_default();
                format!(
                    "{}  {state} {}  {}  value={}{summary}",
                    clock_time(t.at),
                    paint(Style::new().bold(), &t.rule),
                    group.join(" "),
                    format_value(t.value)
                )
            }
            Record::Window { rollup, window } => {
                let values: Vec<String> = aggregates(rollup, window)
                    .map(|(aggregate, value)| {
                        format!(
                            "{aggregate}={}",
                            value.map_or("-".to_string(), format_value)
                        )
                    })
                    .collect();
                format!(
                    "{}  {}  [{} – {})  {}  {}",
                    clock_time(window.end),
                    paint(Style::new().bold(), &rollup.name),
                    clock_time(window.start),
                    clock_time(window.end),
                    window.labels,
                    values.join(" ")
                )
            }
            Record::Sample {
                stream,
                labels,
                ts,
                value,
                ..
            } => {
                format!(
                    "{}  {}  {labels}  {}",
                    clock_time(*ts),
                    stream,
                    format_value(*value)
                )
            }
        }
    }
}

fn print_all(lines: &[String]) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in lines {
        // A closed pipe (`pipectl run … | head`) ends output, not the pipeline.
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

impl super::Sink for Console {
    fn write(&mut self, _time: u64, records: &[Record<'_>]) -> anyhow::Result<()> {
        let lines: Vec<String> = records.iter().map(|record| self.line(record)).collect();
        self.print(&lines);
        Ok(())
    }
}
