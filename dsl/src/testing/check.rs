//! Test blocks from syntax to [`TestCase`]s: every section has its shape, every series is in
//! promtool's notation, every expected rule exists; all problems are reported, not the first.

use std::collections::BTreeMap;

use super::notation::expand;
use super::{AlertState, Expectation, ExpectedAlert, InputSeries, TestCase};
use crate::check::suggest::{did_you_mean, quoted_list};
use crate::diagnostics::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{Block, Body, Entry, MatchOp, ValueKind};
use crate::syntax::literal::duration_millis;

const SECTIONS: [&str; 3] = ["interval", "input", "expect"];

/// Checks test blocks against the names of the file's alert rules.
pub fn check<'a>(
    blocks: impl IntoIterator<Item = &'a Block>,
    rules: &[&str],
) -> (Vec<TestCase>, Vec<Diagnostic>) {
    let mut checker = Checker {
        rules,
        diagnostics: Vec::new(),
    };
    let mut cases: Vec<TestCase> = Vec::new();
    for block in blocks {
        if let Some(case) = checker.block(block) {
            if cases.iter().any(|other| other.name == case.name) {
                checker.diagnostics.push(
                    Diagnostic::new(
                        Code::BadTest,
                        block.name.span,
                        format!("the test `{}` is defined twice", case.name),
                    )
                    .label("defined again here"),
                );
                continue;
            }
            cases.push(case);
        }
    }
    (cases, checker.diagnostics)
}

struct Checker<'r> {
    rules: &'r [&'r str],
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn block(&mut self, block: &Block) -> Option<TestCase> {
        let errors_before = self.diagnostics.len();
        if let Some(link) = &block.link {
            self.error(
                link.connector.span.to(link.target.span),
                "a test block has no `from` or `to`",
                "written as `test NAME { … }`",
            );
        }
        let (mut interval, mut input, mut expectations) = (None, None, None);
        for entry in &block.body.entries {
            match entry.key.name.as_str() {
                "interval" => interval = self.interval(entry),
                "input" => input = self.map(entry).map(|body| self.input(body)),
                "expect" => expectations = self.map(entry).map(|body| self.expect(body)),
                other => {
                    let diagnostic = Diagnostic::new(
                        Code::BadTest,
                        entry.key.span,
                        format!("a test block has no section `{other}`"),
                    )
                    .label("not a section of a test")
                    .maybe_help(did_you_mean(other, SECTIONS))
                    .note(format!("a test has {}", quoted_list(SECTIONS)));
                    self.diagnostics.push(diagnostic);
                }
            }
        }
        let header = block.kind.span.to(block.name.span);
        let empty = |name: &str| {
            block.body.entries.iter().all(|entry| {
                entry.key.name != name
                    || matches!(&entry.value.kind, ValueKind::Map(body) if body.entries.is_empty())
            })
        };
        if empty("input") {
            self.error(
                header,
                "the test has no input series",
                "add `input { metric{label=\"value\"} = \"1+1x10\" }`",
            );
        }
        if empty("expect") {
            self.error(
                header,
                "the test expects nothing",
                "add `expect { 5m { Rule = none } }`",
            );
        }
        (self.diagnostics.len() == errors_before).then(|| TestCase {
            name: block.name.name.clone(),
            interval,
            input: input.unwrap_or_default(),
            expectations: expectations.unwrap_or_default(),
            span: block.span,
        })
    }

    fn interval(&mut self, entry: &Entry) -> Option<u64> {
        match &entry.value.kind {
            ValueKind::Duration { millis, .. } if *millis > 0 => Some(*millis),
            _ => {
                self.error(
                    entry.value.span,
                    "`interval` is the time between two samples",
                    "a duration above zero, such as `15s`",
                );
                None
            }
        }
    }

    fn map<'e>(&mut self, entry: &'e Entry) -> Option<&'e Body> {
        if let ValueKind::Map(body) = &entry.value.kind {
            return Some(body);
        }
        self.error(
            entry.value.span,
            format!(
                "`{}` is a section: `{} {{ … }}`",
                entry.key.name, entry.key.name
            ),
            "expected `{`",
        );
        None
    }

    fn input(&mut self, body: &Body) -> Vec<InputSeries> {
        body.entries
            .iter()
            .filter_map(|entry| self.series(entry))
            .collect()
    }

    fn series(&mut self, entry: &Entry) -> Option<InputSeries> {
        let mut labels = vec![("metric_name".to_string(), entry.key.name.clone())];
        for matcher in entry.series.iter().flatten() {
            if matcher.op != MatchOp::Equal {
                self.error(
                    matcher.span,
                    "an input series names its labels with `=`",
                    "a series has values, not matchers",
                );
                return None;
            }
            labels.push((matcher.label.name.clone(), matcher.value.clone()));
        }
        let ValueKind::String(text) = &entry.value.kind else {
            self.error(
                entry.value.span,
                "a series' samples are a string in promtool's notation",
                "such as \"50x19 99x39\"",
            );
            return None;
        };
        match expand(text) {
            Ok(values) => Some(InputSeries {
                labels,
                values,
                span: entry.span,
            }),
            Err(error) => {
                let start = entry.value.span.start + 1;
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidSeries,
                        Span::new(start + error.at.start, start + error.at.end),
                        error.message,
                    )
                    .label("not in promtool's notation")
                    .note(
                        "`1+2x3` is 1 3 5 7, `50x2` is 50 50 50, `_` a missing sample, `_x3` three",
                    ),
                );
                None
            }
        }
    }

    fn expect(&mut self, body: &Body) -> Vec<Expectation> {
        let mut expectations = Vec::new();
        for entry in &body.entries {
            let Ok(at) = duration_millis(&entry.key.name) else {
                self.error(
                    entry.key.span,
                    format!("`{}` is not a time", entry.key.name),
                    "expectations are keyed by the time after the start, such as `5m`",
                );
                continue;
            };
            let Some(rules) = self.map(entry) else {
                continue;
            };
            for rule in &rules.entries {
                if let Some(alerts) = self.alerts(rule) {
                    expectations.push(Expectation {
                        at,
                        at_text: entry.key.name.clone(),
                        rule: rule.key.name.clone(),
                        alerts,
                        span: rule.span,
                    });
                }
            }
        }
        self.merge_same_rule_and_time(expectations)
    }

    /// Several `Rule { … }` entries at one time are the several alerts of that rule then; a
    /// `Rule = none` beside them contradicts them.
    fn merge_same_rule_and_time(&mut self, expectations: Vec<Expectation>) -> Vec<Expectation> {
        let mut merged: Vec<Expectation> = Vec::new();
        for expectation in expectations {
            let Some(first) = merged
                .iter_mut()
                .find(|e| e.at == expectation.at && e.rule == expectation.rule)
            else {
                merged.push(expectation);
                continue;
            };
            if first.alerts.is_empty() || expectation.alerts.is_empty() {
                let diagnostic = Diagnostic::new(
                    Code::BadTest,
                    expectation.span,
                    format!(
                        "at {}, `{}` is expected both to have no alerts and to have some",
                        expectation.at_text, expectation.rule
                    ),
                )
                .label("contradicts the other expectation")
                .also(first.span, "expected here first");
                self.diagnostics.push(diagnostic);
                continue;
            }
            first.alerts.extend(expectation.alerts);
            first.span = first.span.to(expectation.span);
        }
        merged
    }

    /// `Rule = none` or `Rule { labels… }`, one entry per active alert.
    fn alerts(&mut self, entry: &Entry) -> Option<Vec<ExpectedAlert>> {
        let rule = &entry.key;
        if !self.rules.contains(&rule.name.as_str()) {
            let diagnostic = Diagnostic::new(
                Code::UnknownRule,
                rule.span,
                format!("no alert rule is called `{}`", rule.name),
            )
            .label("not an alert of this pipeline")
            .maybe_help(did_you_mean(&rule.name, self.rules.iter().copied()));
            self.diagnostics.push(diagnostic);
            return None;
        }
        match &entry.value.kind {
            ValueKind::Ident(word) if word == "none" => Some(Vec::new()),
            ValueKind::Map(body) => self.alert(body).map(|alert| vec![alert]),
            _ => {
                self.error(
                    entry.value.span,
                    "an expected alert is `Rule { label = \"value\", … }` or `Rule = none`",
                    "expected `{` or `none`",
                );
                None
            }
        }
    }

    fn alert(&mut self, body: &Body) -> Option<ExpectedAlert> {
        let mut alert = ExpectedAlert {
            state: AlertState::Firing,
            labels: BTreeMap::new(),
            annotations: None,
        };
        let errors_before = self.diagnostics.len();
        for entry in &body.entries {
            match (entry.key.name.as_str(), &entry.value.kind) {
                ("state", ValueKind::Ident(word)) if word == "pending" => {
                    alert.state = AlertState::Pending;
                }
                ("state", ValueKind::Ident(word)) if word == "firing" => {}
                ("state", _) => self.error(
                    entry.value.span,
                    "an active alert's state is `pending` or `firing`",
                    "expected `pending` or `firing`",
                ),
                ("annotations", ValueKind::Map(annotations)) => {
                    alert.annotations = Some(self.strings(annotations));
                }
                (name, ValueKind::String(value)) => {
                    alert.labels.insert(name.to_string(), value.clone());
                }
                _ => self.error(
                    entry.value.span,
                    format!("the label `{}` is a string", entry.key.name),
                    "expected a string",
                ),
            }
        }
        (self.diagnostics.len() == errors_before).then_some(alert)
    }

    fn strings(&mut self, body: &Body) -> BTreeMap<String, String> {
        let mut strings = BTreeMap::new();
        for entry in &body.entries {
            match &entry.value.kind {
                ValueKind::String(value) => {
                    strings.insert(entry.key.name.clone(), value.clone());
                }
                _ => self.error(
                    entry.value.span,
                    format!("the annotation `{}` is a string", entry.key.name),
                    "expected a string",
                ),
            }
        }
        strings
    }

    fn error(&mut self, span: Span, message: impl Into<String>, label: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::new(Code::BadTest, span, message).label(label));
    }
}
