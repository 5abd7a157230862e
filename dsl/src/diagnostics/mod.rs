//! Problems found in a `.pipe` file, each pointing at the text it is about, rendered the way
//! rustc renders its errors.

mod code;
mod render;

pub use code::{Code, Severity};
pub use render::{Style, render, summary};

use crate::span::Span;

/// A problem in a file: what is wrong, where, and what would help.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    /// Which problem this is.
    pub code: Code,
    /// The headline, such as "unknown property `hots`".
    pub message: String,
    /// The place the problem is, with a short label.
    pub primary: Label,
    /// Other places that explain it.
    pub secondary: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
    /// More context.
    pub note: Option<String>,
}

/// A span with a short explanation shown under it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Label {
    /// The text pointed at.
    pub span: Span,
    /// What to say about it; may be empty.
    pub text: String,
}

impl Diagnostic {
    /// A diagnostic of `code` at `span`.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            primary: Label {
                span,
                text: String::new(),
            },
            secondary: Vec::new(),
            help: None,
            note: None,
        }
    }

    /// Sets the label under the primary span.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.primary.text = text.into();
        self
    }

    /// Adds another place that explains the problem.
    pub fn also(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Sets the help line.
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// Sets the help line when there is one.
    pub fn maybe_help(mut self, text: Option<String>) -> Self {
        self.help = text;
        self
    }

    /// Sets the note line.
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.note = Some(text.into());
        self
    }

    /// Error or warning, as the code says.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// Whether this diagnostic stops the file from being used.
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}
