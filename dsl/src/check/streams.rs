//! Sources and rollups: what each stream carries, rollup inputs and cycles, windows that must
//! line up, labels and state that must exist upstream.

use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{
    self, Aggregate, Duration, GeneratorSource, Grouping, LabelSet, METRIC_NAME, StateSet,
};
use crate::schema::{BlockKind, Shape};
use crate::span::Span;

use super::blocks::Declared;
use super::connectors;
use super::graph::{Graph, Resolved, StreamInfo};
use super::labels;

/// The aggregates of a rollup of a source that does not list its own.
const DEFAULT_AGGREGATES: [Aggregate; 5] = [
    Aggregate::Count,
    Aggregate::Sum,
    Aggregate::Min,
    Aggregate::Max,
    Aggregate::Avg,
];

/// Checks every source, records what it carries, and returns the valid ones.
pub fn sources(graph: &mut Graph, diagnostics: &mut Vec<Diagnostic>) -> Vec<plan::Source> {
    let mut planned = Vec::new();
    for declared in graph.of_kind(BlockKind::Source) {
        let (Some(spec), Some(settings)) = (declared.spec, &declared.settings) else {
            graph.set_info(declared.name(), None);
            continue;
        };
        let interval = settings.duration("interval");
        let step = settings
            .duration("step")
            .or(interval)
            .unwrap_or(Duration(15_000));
        let positive = ["interval", "step", "series_ttl", "idle_timeout"]
            .map(|name| positive(declared, name, diagnostics))
            .iter()
            .all(|&ok| ok);
        let labels = match spec.name {
            "generator" => LabelSet::Known(GeneratorSource::LABELS.map(String::from).to_vec()),
            _ => match settings.labels("labels") {
                Some(declared_labels) => {
                    let mut labels = vec![METRIC_NAME.to_string()];
                    labels.extend(
                        declared_labels
                            .into_iter()
                            .map(|label| label.name)
                            .filter(|label| label != METRIC_NAME),
                    );
                    LabelSet::Known(labels)
                }
                None => LabelSet::Open,
            },
        };
        let name = declared.name().to_string();
        let info = StreamInfo {
            shape: Shape::Samples,
            labels: labels.clone(),
            grouping: Grouping::Series,
            window: None,
            state: StateSet::default(),
            aggregates: Vec::new(),
            root_source: name.clone(),
            step,
        };
        graph.set_info(&name, positive.then_some(info));
        let valid = declared.valid && positive;
        if let Some(connector) = valid
            .then(|| connectors::source(spec.name, settings))
            .flatten()
        {
            planned.push(plan::Source {
                name,
                connector,
                lateness: settings.duration("lateness").unwrap_or_default(),
                step,
                series_ttl: settings.duration("series_ttl"),
                labels,
                span: declared.block.span,
            });
        }
    }
    planned
}

/// Reports a duration property that is written as `0s`.
fn positive(declared: &Declared, name: &str, diagnostics: &mut Vec<Diagnostic>) -> bool {
    let settings = declared
        .settings
        .as_ref()
        .expect("only blocks with settings are checked");
    match (settings.duration(name), settings.value_span(name)) {
        (Some(Duration(0)), Some(span)) => {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    span,
                    format!("`{name}` must be longer than 0s"),
                )
                .label("zero"),
            );
            false
        }
        _ => true,
    }
}

/// Checks every rollup, inputs first, and returns the valid ones in that order.
pub fn rollups(graph: &mut Graph, diagnostics: &mut Vec<Diagnostic>) -> Vec<plan::Rollup> {
    let rollups = graph.of_kind(BlockKind::Rollup);
    let (order, in_cycles) = order(graph, &rollups, diagnostics);
    for &index in &in_cycles {
        graph.set_info(rollups[index].name(), None);
    }
    let mut planned = Vec::new();
    for index in order {
        let declared = rollups[index];
        let checked = rollup(graph, declared, diagnostics);
        graph.set_info(
            declared.name(),
            checked.as_ref().map(|(_, info)| info.clone()),
        );
        if let (Some((rollup, _)), true) = (checked, declared.valid) {
            planned.push(rollup);
        }
    }
    planned
}

/// Orders rollups so that inputs come first; reports cycles and returns their members. Each
/// rollup has one input, so following inputs from each rollup finds every cycle.
fn order(
    graph: &Graph,
    rollups: &[&Declared],
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<usize>, Vec<usize>) {
    let input_of = |index: usize| -> Option<usize> {
        let target = &rollups[index].block.link.as_ref()?.target.name;
        let input = graph.block(target)?;
        rollups.iter().position(|r| std::ptr::eq(*r, input))
    };
    let mut visited = vec![false; rollups.len()];
    let mut order = Vec::new();
    let mut in_cycles = Vec::new();
    for start in 0..rollups.len() {
        let mut path = Vec::new();
        let mut next = Some(start);
        while let Some(index) = next.filter(|&i| !visited[i]) {
            visited[index] = true;
            path.push(index);
            next = input_of(index);
        }
        if let Some(cycle_start) = next.and_then(|i| path.iter().position(|&p| p == i)) {
            let cycle = &path[cycle_start..];
            diagnostics.push(cycle_diagnostic(rollups, cycle));
            in_cycles.extend_from_slice(cycle);
        }
        order.extend(path.iter().rev());
    }
    (order, in_cycles)
}

fn cycle_diagnostic(rollups: &[&Declared], cycle: &[usize]) -> Diagnostic {
    let target_span = |index: usize| {
        rollups[index]
            .block
            .link
            .as_ref()
            .map_or(rollups[index].block.name.span, |link| link.target.span)
    };
    let mut names: Vec<&str> = cycle.iter().map(|&i| rollups[i].name()).collect();
    names.push(names[0]);
    let path = names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(" → ");
    let mut diagnostic = Diagnostic::new(
        Code::Cycle,
        target_span(cycle[0]),
        format!("rollups read each other in a cycle: {path}"),
    )
    .label(format!("`{}` reads `{}`", names[0], names[1]))
    .help("a rollup must read a source, or a rollup that does not depend on it");
    for (position, &index) in cycle.iter().enumerate().skip(1) {
        diagnostic = diagnostic.also(
            target_span(index),
            format!("`{}` reads `{}`", names[position], names[position + 1]),
        );
    }
    diagnostic
}

fn rollup(
    graph: &mut Graph,
    declared: &Declared,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(plan::Rollup, StreamInfo)> {
    let settings = declared.settings.as_ref()?;
    let link = declared.block.link.as_ref()?;
    let input_name = &link.target.name;
    let link_matchers = link.matchers.as_deref().unwrap_or_default();
    let info = match graph.resolve(&link.target, diagnostics) {
        Resolved::Stream(Some(info)) => info,
        resolved => {
            if let Resolved::Alerts = resolved {
                diagnostics.push(
                    Diagnostic::new(
                        Code::WrongShape,
                        link.target.span,
                        "a rollup cannot read `alerts`",
                    )
                    .label("alert transitions, not samples")
                    .help("rollups read a source or another rollup"),
                );
            }
            labels::matchers(link_matchers, None, input_name, diagnostics);
            return None;
        }
    };
    let window = settings.window("window")?;
    let window_span = settings
        .value_span("window")
        .unwrap_or(declared.header_span());
    let cascade = info.shape == Shape::Rollups;
    let mut sound = true;
    if let Some(input_window) = info.window.filter(|_| cascade) {
        if input_window.overlaps() {
            diagnostics.push(overlapping(link.target.span, input_name, input_window));
            return None;
        }
        let unit = input_window.size().millis();
        if window.size().millis() % unit != 0 || window.slide().millis() % unit != 0 {
            let offending = if window.size().millis() % unit != 0 {
                window.size()
            } else {
                window.slide()
            };
            let suggestion = Duration(offending.millis().div_ceil(unit).max(1) * unit);
            diagnostics.push(
                Diagnostic::new(
                    Code::WindowNotMultiple,
                    window_span,
                    format!("{window} does not line up with the {input_window} windows of `{input_name}`"),
                )
                .label(format!("{offending} is not a multiple of {}", input_window.size()))
                .also(link.target.span, format!("`{input_name}` has {} windows", input_window.size()))
                .help(format!("a cascade merges whole input windows: use a multiple of {}, such as {suggestion}", input_window.size())),
            );
            sound = false;
        }
    }
    let matchers = labels::matchers(link_matchers, Some(&info), input_name, diagnostics);
    let group = match settings.labels("by") {
        Some(by) => {
            let mut all_present = true;
            for label in &by {
                all_present &= labels::require(label, &info, input_name, diagnostics);
            }
            sound &= all_present;
            Grouping::Labels(by.into_iter().map(|label| label.name).collect())
        }
        None if cascade => info.grouping.clone(),
        None => Grouping::Series,
    };
    let aggregates: Vec<Aggregate> = match settings.aggregates("aggs") {
        Some(written) => {
            if cascade {
                for (aggregate, span) in &written {
                    sound &= state_available(*aggregate, *span, &info, input_name, diagnostics);
                }
            }
            written
                .into_iter()
                .map(|(aggregate, _)| aggregate)
                .collect()
        }
        None if cascade => info.aggregates.clone(),
        None => DEFAULT_AGGREGATES.to_vec(),
    };
    let matchers = matchers?;
    if !sound {
        return None;
    }
    let state = StateSet::for_aggregates(&aggregates);
    let labels = match &group {
        Grouping::Labels(labels) => LabelSet::Known(labels.clone()),
        Grouping::Series => info.labels.clone(),
    };
    let root_source = if cascade {
        info.root_source.clone()
    } else {
        input_name.clone()
    };
    let output = StreamInfo {
        shape: Shape::Rollups,
        labels,
        grouping: group.clone(),
        window: Some(window),
        state,
        aggregates: aggregates.clone(),
        root_source: root_source.clone(),
        step: window.slide(),
    };
    let rollup = plan::Rollup {
        name: declared.name().to_string(),
        input: input_name.clone(),
        cascade,
        root_source,
        matchers,
        window,
        group,
        aggregates,
        state,
        span: declared.block.span,
    };
    Some((rollup, output))
}

/// Reports a stream of overlapping windows that something tries to merge again.
pub fn overlapping(span: Span, stream: &str, window: plan::Window) -> Diagnostic {
    Diagnostic::new(
        Code::OverlappingInput,
        span,
        format!("`{stream}` has overlapping windows, {window}, which cannot be merged again"),
    )
    .label("each sample is in several of its windows")
    .help(format!(
        "read a tumbling rollup, or the source of `{stream}`"
    ))
}

/// Whether the input rollup keeps the state `aggregate` needs; reports it when not.
pub fn state_available(
    aggregate: Aggregate,
    span: Span,
    info: &StreamInfo,
    stream: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let missing = info.state.missing(aggregate.needs());
    if missing.is_empty() {
        return true;
    }
    let kept = info.state.kept();
    let example = match aggregate.quantile() {
        Some(_) => format!("add a quantile, such as `{aggregate}`, to the `aggs` of `{stream}`"),
        None => format!("add `{aggregate}` to the `aggs` of `{stream}`"),
    };
    diagnostics.push(
        Diagnostic::new(
            Code::MissingState,
            span,
            format!(
                "`{aggregate}` needs the {} of each window, which `{stream}` does not keep",
                missing.join(" and ")
            ),
        )
        .label(format!("cannot be computed from `{stream}`"))
        .help(example)
        .note(format!(
            "`{stream}` keeps {}",
            if kept.is_empty() {
                "no state".to_string()
            } else {
                kept.join(", ")
            }
        )),
    );
    false
}
