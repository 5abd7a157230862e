//! Checks that labels used on a stream exist there, and that matchers are valid.

use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{Grouping, LabelMatcher, LabelSet};
use crate::syntax::ast::{Ident, MatchOp, Matcher};

use super::graph::StreamInfo;
use super::suggest::{did_you_mean, quoted_list};

/// Whether groups of the stream carry `label`; reports it when not.
pub fn require(
    label: &Ident,
    info: &StreamInfo,
    stream: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    if info.grouping.carries(&label.name, &info.labels) {
        return true;
    }
    let available = available(info);
    let help = did_you_mean(&label.name, available.iter().map(String::as_str)).or_else(|| {
        Some(match &info.grouping {
            Grouping::Labels(_) => format!("add `{}` to the `by` of `{stream}`", label.name),
            Grouping::Series => format!("add `{}` to the `labels` of `{stream}`", label.name),
        })
    });
    diagnostics.push(
        Diagnostic::new(
            Code::MissingLabel,
            label.span,
            format!("`{stream}` has no label `{}`", label.name),
        )
        .label(format!("not carried by `{stream}`"))
        .maybe_help(help)
        .note(format!(
            "`{stream}` carries {}",
            quoted_list(available.iter().map(String::as_str))
        )),
    );
    false
}

fn available(info: &StreamInfo) -> Vec<String> {
    match (&info.grouping, &info.labels) {
        (Grouping::Labels(labels), _) | (Grouping::Series, LabelSet::Known(labels)) => {
            labels.clone()
        }
        (Grouping::Series, LabelSet::Open) => Vec::new(),
    }
}

/// Checks matchers against the stream (when it is known) and compiles their regexes; `None` when
/// one is invalid.
pub fn matchers(
    matchers: &[Matcher],
    info: Option<&StreamInfo>,
    stream: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<LabelMatcher>> {
    let mut valid = true;
    for matcher in matchers {
        if let Some(info) = info {
            valid &= require(&matcher.label, info, stream, diagnostics);
        }
        if matches!(matcher.op, MatchOp::Regex | MatchOp::NotRegex)
            && let Err(error) = regex::Regex::new(&format!("^(?:{})$", matcher.value))
        {
            let reason = error.to_string();
            let reason = reason
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            diagnostics.push(
                    Diagnostic::new(Code::InvalidRegex, matcher.value_span, "invalid regular expression")
                        .label(reason.to_string())
                        .note("the syntax is that of Rust's `regex` crate (RE2), matched against the whole value"),
                );
            valid = false;
        }
    }
    valid.then(|| {
        matchers
            .iter()
            .map(|matcher| LabelMatcher {
                label: matcher.label.name.clone(),
                op: matcher.op,
                value: matcher.value.clone(),
            })
            .collect()
    })
}
