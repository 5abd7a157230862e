//! `pipectl fmt`: prints a file in the canonical layout, keeping every comment.
//!
//! Like gofmt, the user decides where lines break: a block or map written on one line stays on
//! one line, and properties written on one line separated by commas stay together. Everything
//! else is fixed: two-space indentation, one space around `=` and operators, `=` aligned in runs
//! of one-property lines, alert clauses and blocks within blocks in statement form (`for 2m`,
//! `kafka { … }`), at most one blank line,
//! trailing comments kept in their column when there is room.

mod expr;

use crate::diagnostics::Diagnostic;
use crate::schema::{ALERT, BlockKind, KindSpec, connector};
use crate::span::LineIndex;
use crate::syntax::ast::{Block, Body, Comment, Entry, File, Value, ValueKind};
use crate::syntax::literal::quote;
use crate::syntax::parse;
use crate::testing::TEST_KEYWORD;

/// The canonical form of `source`, or the syntax errors that stop it from being formatted.
pub fn format(source: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diagnostics) = parse(source);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut printer = Printer {
        lines: LineIndex::new(source),
        source,
        comments: &file.comments,
        next_comment: 0,
        out: String::with_capacity(source.len() + 64),
        last_line: 0,
        at_container_start: true,
        in_test: false,
    };
    printer.file(&file);
    Ok(printer.finish())
}

struct Printer<'a> {
    source: &'a str,
    lines: LineIndex,
    comments: &'a [Comment],
    /// Comments are printed in file order; those before this index are printed.
    next_comment: usize,
    out: String,
    /// The source line of the last thing printed, to keep blank lines between things.
    last_line: usize,
    /// No blank line right after `{` or at the start of the file.
    at_container_start: bool,
    /// Printing a test block, whose sections are all written in statement form.
    in_test: bool,
}

impl Printer<'_> {
    fn file(&mut self, file: &File) {
        for block in &file.blocks {
            self.leading_comments(block.span.start, 0);
            self.gap(self.lines.line(block.span.start));
            self.block(block);
            self.trailing_comment(block.span.end);
            self.out.push('\n');
        }
        self.leading_comments(usize::MAX, 0);
    }

    fn block(&mut self, block: &Block) {
        self.in_test = block.kind.name == TEST_KEYWORD;
        self.out.push_str(&block.kind.name);
        self.out.push(' ');
        self.out.push_str(&block.name.name);
        if let Some(link) = &block.link {
            self.out.push(' ');
            self.out.push_str(&link.connector.name);
            self.out.push(' ');
            self.out.push_str(&link.target.name);
            expr::matchers(link.matchers.as_deref().unwrap_or_default(), &mut self.out);
        }
        self.out.push(' ');
        let spec = match BlockKind::from_keyword(&block.kind.name) {
            Some(BlockKind::Alert) => Some(&ALERT),
            Some(kind) => block
                .link
                .as_ref()
                .and_then(|link| connector(kind, &link.target.name)),
            None => None,
        };
        self.body(&block.body, 0, spec);
        self.last_line = self.lines.line(block.span.end.saturating_sub(1));
    }

    /// `{ … }` of a block or a map, at `indent` levels.
    fn body(&mut self, body: &Body, indent: usize, spec: Option<&'static KindSpec>) {
        if !body.multiline {
            if body.entries.is_empty() {
                self.out.push_str("{}");
                return;
            }
            self.out.push_str("{ ");
            for (index, entry) in body.entries.iter().enumerate() {
                if index > 0 {
                    self.out.push_str(", ");
                }
                self.entry(entry, None, indent, spec);
            }
            self.out.push_str(" }");
            return;
        }
        self.out.push('{');
        self.trailing_comment(body.span.start + 1);
        self.out.push('\n');
        self.at_container_start = true;
        let lines = self.group_lines(body);
        let widths = self.alignment(body, &lines, spec);
        for (line, width) in lines.iter().zip(widths) {
            let first = &body.entries[line.start];
            let last = &body.entries[line.end - 1];
            self.leading_comments(first.span.start, indent + 1);
            self.gap(self.lines.line(first.span.start));
            self.interior_comments(&body.entries[line.clone()], indent + 1);
            self.indent(indent + 1);
            for (index, entry) in body.entries[line.clone()].iter().enumerate() {
                if index > 0 {
                    self.out.push_str(", ");
                }
                self.entry(entry, width, indent + 1, spec);
            }
            if body
                .separators
                .get(line.end - 1)
                .is_some_and(|sep| sep.comma)
            {
                self.out.push(',');
            }
            self.last_line = self
                .last_line
                .max(self.lines.line(last.span.end.saturating_sub(1)));
            self.trailing_comment(last.span.end);
            self.out.push('\n');
        }
        self.leading_comments(body.span.end.saturating_sub(1), indent + 1);
        self.indent(indent);
        self.out.push('}');
    }

    /// Entries that share a source line, as index ranges.
    fn group_lines(&self, body: &Body) -> Vec<std::ops::Range<usize>> {
        let mut lines = Vec::new();
        let mut start = 0;
        for index in 0..body.entries.len() {
            let ends_line = index + 1 == body.entries.len()
                || body
                    .separators
                    .get(index)
                    .is_some_and(|sep| sep.newlines > 0);
            if ends_line {
                lines.push(start..index + 1);
                start = index + 1;
            }
        }
        lines
    }

    /// The key width to pad to, per line: lines holding one `key = value` entry align their `=`
    /// with their neighbours, up to a blank line.
    fn alignment(
        &self,
        body: &Body,
        lines: &[std::ops::Range<usize>],
        spec: Option<&'static KindSpec>,
    ) -> Vec<Option<usize>> {
        let alignable = |line: &std::ops::Range<usize>| {
            line.len() == 1 && !is_statement(&body.entries[line.start], spec, self.in_test)
        };
        let mut widths = vec![None; lines.len()];
        let mut index = 0;
        while index < lines.len() {
            if !alignable(&lines[index]) {
                index += 1;
                continue;
            }
            let start = index;
            index += 1;
            while index < lines.len()
                && alignable(&lines[index])
                && !self.blank_line_between(
                    body.entries[lines[index - 1].start].span.end,
                    body.entries[lines[index].start].span.start,
                )
            {
                index += 1;
            }
            let width = (start..index)
                .map(|i| key_text(&body.entries[lines[i].start]).chars().count())
                .max();
            widths[start..index].fill(width);
        }
        widths
    }

    /// Whether a whole blank line stands between two places of the source.
    fn blank_line_between(&self, from: usize, to: usize) -> bool {
        let pieces: Vec<&str> = self.source[from..to].split('\n').collect();
        pieces.len() > 2
            && pieces[1..pieces.len() - 1]
                .iter()
                .any(|line| line.trim().is_empty())
    }

    fn entry(
        &mut self,
        entry: &Entry,
        key_width: Option<usize>,
        indent: usize,
        spec: Option<&'static KindSpec>,
    ) {
        let key = key_text(entry);
        self.out.push_str(&key);
        if is_statement(entry, spec, self.in_test) {
            self.out.push(' ');
        } else {
            let padding = key_width.unwrap_or(0).saturating_sub(key.chars().count());
            self.out.extend(std::iter::repeat_n(' ', padding));
            self.out.push_str(" = ");
        }
        self.value(&entry.value, indent);
    }

    fn value(&mut self, value: &Value, indent: usize) {
        match &value.kind {
            ValueKind::String(text) => self.out.push_str(&quote(text)),
            ValueKind::Number { text, .. }
            | ValueKind::Duration { text, .. }
            | ValueKind::Size { text, .. } => self.out.push_str(text),
            ValueKind::Bool(value) => self.out.push_str(if *value { "true" } else { "false" }),
            ValueKind::Ident(name) => self.out.push_str(name),
            ValueKind::List(items) => {
                self.out.push('[');
                self.comma_separated(items, indent);
                self.out.push(']');
            }
            ValueKind::Map(body) => self.body(body, indent, None),
            ValueKind::Call { name, args } => {
                self.out.push_str(&name.name);
                self.out.push('(');
                self.comma_separated(args, indent);
                self.out.push(')');
            }
            ValueKind::Condition(condition) => expr::condition(condition, &mut self.out),
        }
    }

    fn comma_separated(&mut self, values: &[Value], indent: usize) {
        for (index, value) in values.iter().enumerate() {
            if index > 0 {
                self.out.push_str(", ");
            }
            self.value(value, indent);
        }
    }

    /// Prints, each on its own line, the comments not yet printed that start before `before`.
    fn leading_comments(&mut self, before: usize, indent: usize) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= before {
                break;
            }
            let line = self.lines.line(comment.span.start);
            self.gap(line);
            self.indent(indent);
            self.out.push_str(&comment.text);
            self.out.push('\n');
            self.last_line = self.last_line.max(line);
            self.next_comment += 1;
        }
    }

    /// Prints, before a line of entries, the comments inside their values (a comment inside a
    /// list, say), since values are printed on one line; comments inside multi-line maps stay
    /// where they are, printed with the map.
    fn interior_comments(&mut self, entries: &[Entry], indent: usize) {
        let end = entries.last().map_or(0, |entry| entry.span.end);
        while let Some(comment) = self.comments.get(self.next_comment) {
            let at = comment.span.start;
            let in_map = entries.iter().any(|entry| {
                matches!(&entry.value.kind, ValueKind::Map(map) if map.multiline && map.span.start <= at && at < map.span.end)
            });
            if at >= end || in_map {
                break;
            }
            self.indent(indent);
            self.out.push_str(&comment.text);
            self.out.push('\n');
            self.next_comment += 1;
        }
    }

    /// Prints the comment that follows `after` on the same source line, if any, in its column.
    fn trailing_comment(&mut self, after: usize) {
        let Some(comment) = self.comments.get(self.next_comment) else {
            return;
        };
        let line = self.lines.line(after.saturating_sub(1));
        if comment.span.start < after || self.lines.line(comment.span.start) != line {
            return;
        }
        let line_start = self.lines.line_start(line);
        let column = self.source[line_start..comment.span.start].chars().count();
        let current = self.out[self.out.rfind('\n').map_or(0, |at| at + 1)..]
            .chars()
            .count();
        let padding = column.max(current + 1) - current;
        self.out.extend(std::iter::repeat_n(' ', padding));
        self.out.push_str(&comment.text);
        self.last_line = self.last_line.max(line);
        self.next_comment += 1;
    }

    /// Keeps one blank line where the source had one or more before `line`.
    fn gap(&mut self, line: usize) {
        if !std::mem::take(&mut self.at_container_start) && line > self.last_line + 1 {
            self.out.push('\n');
        }
    }

    fn indent(&mut self, levels: usize) {
        self.out.extend(std::iter::repeat_n("  ", levels));
    }

    fn finish(self) -> String {
        let mut out: String = self
            .out
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n");
        let trimmed = out.trim_end_matches('\n').len();
        out.truncate(trimmed);
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// Alert clauses such as `for 2m` are written without `=`; conditions always are, and so are the
/// sections of a test block (`input { … }`, `10m { … }`), which have no schema.
fn is_statement(entry: &Entry, spec: Option<&'static KindSpec>, in_test: bool) -> bool {
    matches!(entry.value.kind, ValueKind::Condition(_))
        || (in_test && matches!(entry.value.kind, ValueKind::Map(_)))
        || spec
            .and_then(|spec| spec.property(&entry.key.name))
            .is_some_and(|p| p.statement)
}

fn key_text(entry: &Entry) -> String {
    let mut key = if entry.quoted_key {
        quote(&entry.key.name)
    } else {
        entry.key.name.clone()
    };
    if let Some(series) = &entry.series {
        expr::matchers(series, &mut key);
    }
    key
}
