//! Turns pest's parse errors into diagnostics that say, in words, what was expected and what
//! was found instead.

use pest::error::{Error, ErrorVariant, InputLocation};

use super::chunk::unclosed_bracket;
use super::parser::Rule;
use crate::diagnostics::{Code, Diagnostic};
use crate::span::Span;

/// The diagnostic for a failed parse of the block text starting at byte `offset` of the file.
pub fn syntax_error(error: &Error<Rule>, text: &str, offset: usize) -> Diagnostic {
    let at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((start, _)) => start,
    };
    if at >= text.trim_end().len()
        && let Some(open) = unclosed_bracket(text)
    {
        let bracket = &text[open..open + 1];
        let closing = match bracket {
            "{" => "}",
            "[" => "]",
            _ => ")",
        };
        return Diagnostic::new(
            Code::Syntax,
            Span::new(open, open + 1).shift(offset),
            format!("this `{bracket}` is never closed"),
        )
        .label("unclosed")
        .help(format!("add `{closing}` where it should end"));
    }
    if let Some(diagnostic) = prometheus_syntax(text, at, offset) {
        return diagnostic;
    }
    let found = found_at(text, at);
    let span = Span::new(at, at + found.len_in_text).shift(offset);
    let expected = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => expected_list(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let mut diagnostic = Diagnostic::new(
        Code::Syntax,
        span,
        format!("expected {expected}, found {}", found.description),
    )
    .label(format!("expected {expected}"));
    if let Some(help) = help_for(text, at, &found) {
        diagnostic = diagnostic.help(help);
    }
    diagnostic
}

/// Keys of Prometheus rule files, which people paste into `.pipe` files.
const PROMETHEUS_KEYS: [&str; 10] = [
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
    "alert",
    "record",
    "groups",
    "rules",
    "interval",
];

/// The diagnostic for a Prometheus rule (`expr: …`, `for: 2m`) or a PromQL condition (`when
/// avg by (host) (avg_over_time(x[5m])) > 90`) written where `.pipe` syntax belongs: it names
/// what it saw, shows the `.pipe` spelling where it can, and points to the importer.
fn prometheus_syntax(text: &str, at: usize, offset: usize) -> Option<Diagnostic> {
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let indent = line.len() - line.trim_start().len();
    let content = line.trim_start().trim_start_matches('-').trim_start();
    let content_start = line_start + (line.len() - content.len());
    let span = Span::new(line_start + indent, line_end).shift(offset);
    let import = "`pipectl import prometheus RULES.yml` converts whole Prometheus rule files";
    if let Some((key, value)) = content.split_once(':')
        && PROMETHEUS_KEYS.contains(&key.trim())
        && at >= content_start + key.len()
    {
        let key = key.trim();
        let value = value.trim();
        let help = match key {
            "expr" => match crate::import::promql::condition(value) {
                Ok(converted) => format!("in a `.pipe` alert: `when {}`", converted.condition),
                Err(reason) => format!(
                    "in a `.pipe` alert the condition is `when …`; this expression does not convert: {reason}"
                ),
            },
            "for" | "keep_firing_for" => format!("in a `.pipe` alert: `{key} {value}`"),
            "interval" => format!("in a `.pipe` source: `interval = {value}`"),
            "labels" | "annotations" => {
                format!("in a `.pipe` alert: `{key} {{ name = \"value\" }}`")
            }
            _ => "a `.pipe` alert is `alert NAME { when … }`".to_string(),
        };
        return Some(
            Diagnostic::new(
                Code::Syntax,
                span,
                format!("`{key}:` is Prometheus rule syntax, not `.pipe`"),
            )
            .label("written as in a Prometheus rule file")
            .help(help)
            .note(import),
        );
    }
    let condition = content.strip_prefix("when")?.trim();
    let looks_like_promql = condition.contains('[') || condition.contains("by (");
    if !looks_like_promql {
        return None;
    }
    let help = match crate::import::promql::condition(condition) {
        Ok(converted) => format!("in `.pipe`: `when {}`", converted.condition),
        Err(reason) => format!("it does not convert to `.pipe`: {reason}"),
    };
    Some(
        Diagnostic::new(Code::Syntax, span, "this condition is written in PromQL")
            .label("PromQL, not a `.pipe` condition")
            .help(help)
            .note(import),
    )
}

struct Found {
    description: String,
    len_in_text: usize,
}

/// Names the token at `at`: a word, an operator, end of line or end of file.
fn found_at(text: &str, at: usize) -> Found {
    let rest = &text[at.min(text.len())..];
    let Some(first) = rest.chars().next() else {
        return Found {
            description: "end of file".to_string(),
            len_in_text: 0,
        };
    };
    if first == '\n' || first == '\r' {
        return Found {
            description: "end of line".to_string(),
            len_in_text: 0,
        };
    }
    let word_len = if first.is_alphanumeric() || first == '_' || first == '.' {
        rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if first == '"' {
        rest[1..]
            .find(['"', '\n'])
            .map_or(rest.len(), |end| end + 2)
    } else {
        first.len_utf8()
    };
    let word = rest[..word_len].trim_end_matches('\n');
    Found {
        description: format!("`{word}`"),
        len_in_text: word.len(),
    }
}

/// A hint for the mistakes people make most.
fn help_for(text: &str, at: usize, found: &Found) -> Option<String> {
    let before = text[..at.min(text.len())].trim_end();
    if before.ends_with('=') && found.description == "end of line" {
        return Some("write the value on the same line as its property".to_string());
    }
    if found.description.starts_with("`\"") && !found.description.ends_with("\"`") {
        return Some("this string is never closed: add `\"` at its end".to_string());
    }
    if found.description.starts_with("`'") {
        return Some("strings use double quotes: \"like this\"".to_string());
    }
    None
}

fn expected_list(rules: &[Rule]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for rule in rules {
        let name = describe(*rule);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    match names.as_slice() {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What a grammar rule is called in an error message.
fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::ident | Rule::key | Rule::series_key => "a name",
        Rule::label => "a label name",
        Rule::connector => "`from` or `to`",
        Rule::link => "`from` or `to`",
        Rule::body => "`{`",
        Rule::sep | Rule::comma => "`,` or a new line",
        Rule::entry | Rule::property | Rule::condition => "a property",
        Rule::equals => "`=`",
        Rule::value
        | Rule::call
        | Rule::list
        | Rule::size
        | Rule::boolean
        | Rule::string
        | Rule::string_inner
        | Rule::escape => "a value",
        Rule::number | Rule::digits => "a number",
        Rule::duration | Rule::duration_unit => "a duration such as `5m`",
        Rule::expr | Rule::term | Rule::paren => "a number or a term such as `avg(metric) over 5m`",
        Rule::or_op
        | Rule::and_op
        | Rule::cmp_op
        | Rule::add
        | Rule::sub
        | Rule::mul
        | Rule::div => "an operator",
        Rule::over | Rule::over_kw => "`over`",
        Rule::by | Rule::by_kw => "`by`",
        Rule::when_kw => "`when`",
        Rule::selector => "a metric name",
        Rule::matchers => "`{`",
        Rule::matcher => "a label matcher such as `host=\"a\"`",
        Rule::match_op => "`=`, `!=`, `=~` or `!~`",
        Rule::block => "a block such as `source NAME from KIND { … }`",
        Rule::item | Rule::value_only | Rule::EOI => "end of file",
        Rule::nl => "a new line",
        Rule::WHITESPACE | Rule::COMMENT => "a space",
        Rule::infix | Rule::label_end => "an operator",
        Rule::operand => "a number or a term such as `avg(metric) over 5m`",
        Rule::keyword | Rule::ident_char => "a name",
    }
}
