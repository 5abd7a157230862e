//! Renders diagnostics as rustc does, with annotate-snippets (rustc's own renderer):
//! `error[E0104]: …`, `--> file:line:col`, the source line, a caret underline and a help line.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::{Diagnostic, Severity};
use crate::span::Span;

/// Plain text for files and snapshots, or ANSI colours for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No escape codes.
    Plain,
    /// Colours, for a terminal.
    Colored,
}

/// Renders all diagnostics of one file, errors and warnings in file order, each followed by a
/// blank line.
pub fn render(diagnostics: &[Diagnostic], path: &str, source: &str, style: Style) -> String {
    let renderer = match style {
        Style::Plain => Renderer::plain(),
        Style::Colored => Renderer::styled(),
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&renderer.render(&report(diagnostic, path, source)));
        out.push_str("\n\n");
    }
    out
}

/// The closing line of a run over one file, as cargo prints it: `error: could not use … due to 2
/// errors; 1 warning emitted`. Empty when there is nothing to say.
pub fn summary(diagnostics: &[Diagnostic], path: &str) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let warnings_text = plural(warnings, "warning");
    match (errors, warnings) {
        (0, 0) => String::new(),
        (0, _) => format!("warning: `{path}` is valid; {warnings_text} emitted"),
        (_, 0) => format!("error: `{path}` is not valid: {}", plural(errors, "error")),
        _ => format!(
            "error: `{path}` is not valid: {}; {warnings_text} emitted",
            plural(errors, "error")
        ),
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn report<'a>(diagnostic: &'a Diagnostic, path: &'a str, source: &'a str) -> Vec<Group<'a>> {
    let level = match diagnostic.severity() {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let mut snippet = Snippet::source(source).path(path).annotation(
        AnnotationKind::Primary
            .span(clamp(diagnostic.primary.span, source))
            .label(non_empty(&diagnostic.primary.text)),
    );
    for label in &diagnostic.secondary {
        snippet = snippet.annotation(
            AnnotationKind::Context
                .span(clamp(label.span, source))
                .label(non_empty(&label.text)),
        );
    }
    let mut group = level
        .primary_title(&diagnostic.message)
        .id(diagnostic.code.id())
        .element(snippet);
    if let Some(note) = &diagnostic.note {
        group = group.element(Level::NOTE.message(note));
    }
    if let Some(help) = &diagnostic.help {
        group = group.element(Level::HELP.message(help));
    }
    vec![group]
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// Keeps a span inside the text and on character boundaries, so that rendering never fails.
fn clamp(span: Span, source: &str) -> std::ops::Range<usize> {
    let floor = |mut at: usize| {
        at = at.min(source.len());
        while !source.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let start = floor(span.start);
    start..floor(span.end).max(start)
}
