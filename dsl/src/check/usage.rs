//! Warnings about work that goes nowhere: streams nothing reads, alerts no sink delivers.
//!
//! A stream counts as read when some block names it as its input, even a block with errors of
//! its own, so that one mistake does not also produce a warning about its input.

use std::collections::HashSet;

use crate::diagnostics::{Code, Diagnostic};
use crate::plan::ALERTS_STREAM;
use crate::schema::BlockKind;
use crate::syntax::ast::{Block, ValueKind};

use super::graph::Graph;

/// Warns about sources and rollups that nothing reads, and alert rules whose transitions no
/// sink delivers.
pub fn warnings<'a>(graph: &Graph<'a>, blocks: &'a [Block], diagnostics: &mut Vec<Diagnostic>) {
    let read = named_inputs(graph, blocks);
    for kind in [BlockKind::Source, BlockKind::Rollup] {
        for declared in graph.of_kind(kind) {
            if !read.contains(declared.name()) {
                diagnostics.push(
                    Diagnostic::new(
                        Code::UnreadStream,
                        declared.block.name.span,
                        format!("nothing reads the {} `{}`", kind.keyword(), declared.name()),
                    )
                    .label("no sink, rollup or alert reads this stream")
                    .help(format!(
                        "add a sink with `from = {}`, or remove the {}",
                        declared.name(),
                        kind.keyword()
                    )),
                );
            }
        }
    }
    let rules = graph.of_kind(BlockKind::Alert);
    if let (Some(first), false) = (rules.first(), read.contains(ALERTS_STREAM)) {
        diagnostics.push(
            Diagnostic::new(
                Code::AlertsUnread,
                first.block.name.span,
                "alert rules are defined but no sink reads `alerts`",
            )
            .label("its transitions go nowhere")
            .help("add a sink such as `sink pages to console { from = alerts }`"),
        );
    }
}

/// The streams that blocks name as their input: a rollup's `from STREAM`, a `from = STREAM`
/// property, and the only source for rules that name none.
fn named_inputs<'a>(graph: &Graph<'a>, blocks: &'a [Block]) -> HashSet<&'a str> {
    let mut read = HashSet::new();
    let mut rule_without_input = false;
    for block in blocks {
        if block.kind.name == BlockKind::Rollup.keyword() {
            read.extend(block.link.as_ref().map(|link| link.target.name.as_str()));
        }
        let from = block
            .body
            .entries
            .iter()
            .find(|entry| entry.key.name == "from");
        match from.map(|entry| &entry.value.kind) {
            Some(ValueKind::Ident(name)) => {
                read.insert(name.as_str());
            }
            None if block.kind.name == BlockKind::Alert.keyword() => rule_without_input = true,
            _ => {}
        }
    }
    if let ([source], true) = (
        graph.of_kind(BlockKind::Source).as_slice(),
        rule_without_input,
    ) {
        read.insert(source.block.name.name.as_str());
    }
    read
}
