//! What the cross-block passes share: the blocks by name, what is known about each stream, and
//! which streams are read.

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{ALERTS_STREAM, Aggregate, Duration, Grouping, LabelSet, StateSet, Window};
use crate::schema::{BlockKind, Shape};
use crate::syntax::ast::Ident;

use super::blocks::Declared;
use super::suggest::{did_you_mean, quoted_list};

/// What readers of a stream need to know about it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Samples or rollup windows.
    pub shape: Shape,
    /// The labels its groups carry.
    pub labels: LabelSet,
    /// Its grouping (`Series` for sources).
    pub grouping: Grouping,
    /// Its windows, for rollups.
    pub window: Option<Window>,
    /// The state it keeps, for rollups.
    pub state: StateSet,
    /// The aggregates it writes, for rollups.
    pub aggregates: Vec<Aggregate>,
    /// The source at the root.
    pub root_source: String,
    /// The step of alert rules that read it.
    pub step: Duration,
}

/// A stream reference, resolved.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// The built-in `alerts` stream.
    Alerts,
    /// A source or rollup, with its info when its block is sound enough to have one.
    Stream(Option<StreamInfo>),
    /// Not a stream; already reported.
    Missing,
}

/// The blocks by name and what is known about their streams.
pub struct Graph<'a> {
    /// Every block whose kind is known.
    pub declared: &'a [Declared<'a>],
    by_name: HashMap<&'a str, usize>,
    unparsed: &'a [Ident],
    infos: HashMap<String, Option<StreamInfo>>,
}

impl<'a> Graph<'a> {
    /// Indexes blocks by name, reporting duplicate and reserved names.
    pub fn new(
        declared: &'a [Declared<'a>],
        unparsed: &'a [Ident],
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut by_name: HashMap<&'a str, usize> = HashMap::new();
        for (index, block) in declared.iter().enumerate() {
            let name = &block.block.name;
            if name.name == ALERTS_STREAM {
                diagnostics.push(
                    Diagnostic::new(Code::ReservedName, name.span, "`alerts` is a reserved name")
                        .label("reserved for the stream of alert transitions")
                        .help("choose another name"),
                );
                continue;
            }
            if let Some(&first) = by_name.get(name.name.as_str()) {
                let first = &declared[first];
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        name.span,
                        format!("the name `{}` is defined twice", name.name),
                    )
                    .label("defined again here")
                    .also(
                        first.block.name.span,
                        format!("first defined here, as a {}", first.kind.keyword()),
                    )
                    .help("every source, rollup, alert and sink needs a name of its own"),
                );
                continue;
            }
            by_name.insert(&name.name, index);
        }
        Graph {
            declared,
            by_name,
            unparsed,
            infos: HashMap::new(),
        }
    }

    /// The block called `name`.
    pub fn block(&self, name: &str) -> Option<&'a Declared<'a>> {
        self.by_name.get(name).map(|&index| &self.declared[index])
    }

    /// Records what is known about a stream.
    pub fn set_info(&mut self, name: &str, info: Option<StreamInfo>) {
        self.infos.insert(name.to_string(), info);
    }

    /// Resolves a reference to a stream, reporting unknown names.
    pub fn resolve(&self, reference: &Ident, diagnostics: &mut Vec<Diagnostic>) -> Resolved {
        if reference.name == ALERTS_STREAM {
            return Resolved::Alerts;
        }
        match self.block(&reference.name) {
            Some(block) if matches!(block.kind, BlockKind::Source | BlockKind::Rollup) => {
                Resolved::Stream(self.infos.get(&reference.name).cloned().flatten())
            }
            Some(block) => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::UndefinedStream,
                        reference.span,
                        format!(
                            "`{}` is a {}, not a stream",
                            reference.name,
                            block.kind.keyword()
                        ),
                    )
                    .label("not a stream")
                    .also(
                        block.block.name.span,
                        format!("`{}` is defined here", reference.name),
                    )
                    .help(format!(
                        "streams are sources, rollups and `{ALERTS_STREAM}`"
                    )),
                );
                Resolved::Missing
            }
            None if self.unparsed.iter().any(|name| name.name == reference.name) => {
                Resolved::Stream(None)
            }
            None => {
                let streams = self.stream_names();
                diagnostics.push(
                    Diagnostic::new(
                        Code::UndefinedStream,
                        reference.span,
                        format!("no stream is called `{}`", reference.name),
                    )
                    .label("undefined")
                    .maybe_help(did_you_mean(&reference.name, streams.iter().copied()))
                    .note(format!(
                        "the streams are {}",
                        quoted_list(streams.iter().copied())
                    )),
                );
                Resolved::Missing
            }
        }
    }

    /// The names of all sources and rollups, then `alerts`.
    pub fn stream_names(&self) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = self
            .declared
            .iter()
            .filter(|block| matches!(block.kind, BlockKind::Source | BlockKind::Rollup))
            .map(|block| block.block.name.name.as_str())
            .collect();
        names.push(ALERTS_STREAM);
        names
    }

    /// The blocks of one kind, leaving out those whose name was taken by an earlier block.
    pub fn of_kind(&self, kind: BlockKind) -> Vec<&'a Declared<'a>> {
        self.declared
            .iter()
            .enumerate()
            .filter(|(index, block)| {
                block.kind == kind && self.by_name.get(block.name()) == Some(index)
            })
            .map(|(_, block)| block)
            .collect()
    }

    /// Whether some blocks failed to parse, so that what the file defines is not fully known.
    pub fn has_unparsed_blocks(&self) -> bool {
        !self.unparsed.is_empty()
    }
}
