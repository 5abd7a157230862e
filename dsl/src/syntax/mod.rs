//! Text to syntax tree: the grammar, the tree, and the rules for literals.

pub mod ast;
mod chunk;
pub mod literal;
mod parser;
mod syntax_error;

use crate::diagnostics::Diagnostic;
use crate::span::Span;
use ast::{Comment, File, Ident};
pub use parser::parse_value;

/// Parses a whole file. Blocks with syntax errors are left out of the tree and reported; the
/// others are parsed, so that one run reports every error of the file.
pub fn parse(text: &str) -> (File, Vec<Diagnostic>) {
    let mut file = File::default();
    let mut diagnostics = Vec::new();
    for range in chunk::chunks(text) {
        match parser::parse_item(&text[range.clone()], range.start) {
            Ok(block) => file.blocks.push(block),
            Err(errors) => {
                diagnostics.extend(errors);
                file.unparsed
                    .extend(header_name(&text[range.clone()], range.start));
            }
        }
    }
    file.comments = chunk::comments(text)
        .into_iter()
        .map(|range| Comment {
            text: text[range.clone()].to_string(),
            span: Span::new(range.start, range.end),
        })
        .collect();
    (file, diagnostics)
}

/// The name of a block that failed to parse, read from its header (`KIND NAME …`), so that
/// references to it are not reported as undefined too.
fn header_name(text: &str, offset: usize) -> Option<Ident> {
    let mut words = text.split(|c: char| !(c.is_alphanumeric() || c == '_'));
    words.next().filter(|kind| !kind.is_empty())?;
    let name = words.find(|word| !word.is_empty())?;
    let start = offset + name.as_ptr() as usize - text.as_ptr() as usize;
    Some(Ident {
        name: name.to_string(),
        span: Span::new(start, start + name.len()),
    })
}
