//! Sinks: the stream each one writes must exist and have a shape the sink can take.

use crate::diagnostics::{Code, Diagnostic};
use crate::plan;
use crate::schema::{BlockKind, Shape};

use super::blocks::{Declared, describe_kind};
use super::connectors;
use super::graph::{Graph, Resolved};
use super::suggest::quoted_list;

/// Checks every sink and returns the valid ones. A sink's typed settings are built only when its
/// block had no errors of its own.
pub fn sinks(graph: &mut Graph, diagnostics: &mut Vec<Diagnostic>) -> Vec<plan::Sink> {
    let mut planned = Vec::new();
    for declared in graph.of_kind(BlockKind::Sink) {
        planned.extend(sink(graph, declared, diagnostics));
    }
    planned
}

fn sink(
    graph: &mut Graph,
    declared: &Declared,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<plan::Sink> {
    let (spec, settings) = (declared.spec?, declared.settings.as_ref()?);
    let from = settings.stream("from")?;
    let shape = match graph.resolve(&from, diagnostics) {
        Resolved::Alerts => Shape::Alerts,
        Resolved::Stream(Some(info)) => info.shape,
        Resolved::Stream(None) | Resolved::Missing => return None,
    };
    if !spec.accepts.contains(&shape) {
        let accepted: Vec<&str> = spec.accepts.iter().map(|shape| shape.describe()).collect();
        let candidates = streams_of_shapes(graph, spec.accepts);
        let help = if candidates.is_empty() {
            format!("{} write {}", describe_kind(spec), accepted.join(" or "))
        } else {
            format!(
                "streams it can write: {}",
                quoted_list(candidates.iter().map(String::as_str))
            )
        };
        diagnostics.push(
            Diagnostic::new(
                Code::WrongShape,
                from.span,
                format!(
                    "{} cannot write `{}`, which holds {}",
                    describe_kind(spec),
                    from.name,
                    shape.describe()
                ),
            )
            .label(format!("expected {}", accepted.join(" or ")))
            .help(help),
        );
        return None;
    }
    if !declared.valid {
        return None;
    }
    Some(plan::Sink {
        name: declared.name().to_string(),
        from: from.name,
        connector: connectors::sink(spec.name, settings)?,
        span: declared.block.span,
    })
}

fn streams_of_shapes(graph: &Graph, shapes: &[Shape]) -> Vec<String> {
    let mut names = Vec::new();
    if shapes.contains(&Shape::Samples) {
        names.extend(
            graph
                .of_kind(BlockKind::Source)
                .iter()
                .map(|b| b.name().to_string()),
        );
    }
    if shapes.contains(&Shape::Rollups) {
        names.extend(
            graph
                .of_kind(BlockKind::Rollup)
                .iter()
                .map(|b| b.name().to_string()),
        );
    }
    if shapes.contains(&Shape::Alerts) {
        names.push(plan::ALERTS_STREAM.to_string());
    }
    names
}
