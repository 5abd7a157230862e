//! Building the graph: an input per source, the plan's dataflow, a sink operator per sink, and
//! the probe whose frontier is the time up to which every output is durable; and, for each
//! deploy that adds rollups or sinks, another dataflow of them beside it.

use anyhow::Context as _;
use differential_dataflow::input::{Input as _, InputSession};
use pipe_dataflow::operators::WindowResult;
use pipe_dataflow::rules::RuleRecord;
use pipe_dataflow::rules::RuleUpdate;
use pipe_dataflow::telemetry::Telemetry;
use pipe_dataflow::{SourceInput, SourceRecord, SourceStream};
use pipe_dsl::Plan;
use std::collections::BTreeMap;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Capability, Input, Probe, ToStream};
use timely::dataflow::{ProbeHandle, Stream};

use super::deploys::{self, AdditionsInput, Received};
use super::feeds::{self, Feed};
use super::{Progress, RunOptions};
use crate::sinks::{self, Failure, SinkContext};

/// A built dataflow's handles.
pub struct Graph {
    /// The rules collection.
    pub rules: InputSession<u64, RuleRecord, isize>,
    /// Where worker 0 sends the additions of deploys.
    pub additions: AdditionsInput,
    /// The additions this worker received.
    pub received: Received,
    /// Passes a time once every output before it is durable.
    pub probe: ProbeHandle<u64>,
}

/// Builds the dataflow on this worker and gives each feed its input.
pub fn build(
    worker: &mut timely::worker::Worker,
    plan: &Plan,
    telemetry: &Telemetry,
    feeds: &mut [Feed],
    options: &RunOptions,
    progress: &Progress,
    failure: &Failure,
) -> anyhow::Result<Graph> {
    let index = worker.index();
    let resumed = feeds::resumed(feeds);
    let resumable = feeds::resumable(feeds);
    let placed: BTreeMap<String, bool> = feeds
        .iter()
        .map(|feed| (feed.name.clone(), feed.source.placed()))
        .collect();
    // Every worker builds the same operators; only worker 0's observes.
    let observer = options.observer.clone();
    let observing = index == 0;
    let (mut inputs, rules, additions, received, probe) =
        worker.dataflow::<u64, _, _>(|scope| -> anyhow::Result<_> {
            let (inputs, sources) = source_inputs(scope, plan, &placed);
            let (rules, rules_stream) = scope.new_collection::<RuleRecord, isize>();
            let (additions, added) = scope.new_input::<Vec<String>>();
            let received = deploys::receive(added);
            let outputs = pipe_dataflow::build(plan, &sources, rules_stream.inner, telemetry)
                .context("cannot build the dataflow")?;
            let probe = ProbeHandle::new();
            probe_unread(plan, &outputs, &probe);
            let alerts = outputs.alerts.clone().probe_with(&probe);
            if let Some(observer) = observer {
                alerts.sink(Pipeline, "Observe", move |(input, frontier)| {
                    input.for_each(|_, _| {});
                    if observing {
                        observer.alerts_passed(frontier.frontier().iter().min().copied());
                    }
                });
            }
            let context = SinkContext {
                worker: index,
                console: &options.console,
                resumable,
                resumed,
                rule_links: &options.rule_links,
                health: &progress.sinks,
                meters: &progress.sink_meters,
            };
            for acknowledged in sinks::attach(plan, &sources, &outputs, &context, failure)? {
                acknowledged.probe_with(&probe);
            }
            Ok((inputs, rules, additions, received, probe))
        })?;
    for feed in feeds.iter_mut() {
        feed.input = inputs.remove(&feed.name);
    }
    Ok(Graph {
        rules,
        additions,
        received,
        probe,
    })
}

/// Builds a deploy's additions as a new dataflow on this worker, fed by the sources it reads
/// from now on, and returns the probe of its outputs' durability. A window that started before
/// any worker fed it would be partial: each worker says when it started feeding, and windows
/// start at the latest of those times.
pub fn build_addition(
    worker: &mut timely::worker::Worker,
    plan: &Plan,
    feeds: &mut [Feed],
    options: &RunOptions,
    progress: &Progress,
    failure: &Failure,
) -> anyhow::Result<ProbeHandle<u64>> {
    let index = worker.index();
    let resumable = feeds::resumable(feeds);
    let reading: Vec<&mut Feed> = feeds
        .iter_mut()
        .filter(|feed| feed.input.is_some() && plan.source(&feed.name).is_some())
        .collect();
    let started = reading
        .iter()
        .filter_map(|feed| feed.input.as_ref().map(|input| *input.time()))
        .min()
        .unwrap_or(0);
    let placed: BTreeMap<String, bool> = reading
        .iter()
        .map(|feed| (feed.name.clone(), feed.source.placed()))
        .collect();
    let (inputs, mut start, probe) =
        worker.dataflow::<u64, _, _>(|scope| -> anyhow::Result<_> {
            let (inputs, sources) = source_inputs(scope, plan, &placed);
            let no_rules = Vec::<RuleUpdate>::new().to_stream(scope);
            let mut outputs = pipe_dataflow::build(plan, &sources, no_rules, &progress.additions)
                .context("cannot build the deploy's dataflow")?;
            let (start, starts) = scope.new_input::<Vec<u64>>();
            let starts = starts.broadcast();
            for windows in outputs.rollups.values_mut() {
                *windows = from_start(windows.clone(), starts.clone());
            }
            let probe = ProbeHandle::new();
            probe_unread(plan, &outputs, &probe);
            let context = SinkContext {
                worker: index,
                console: &options.console,
                resumable,
                resumed: None,
                rule_links: &options.rule_links,
                health: &progress.sinks,
                meters: &progress.sink_meters,
            };
            for acknowledged in sinks::attach(plan, &sources, &outputs, &context, failure)? {
                acknowledged.probe_with(&probe);
            }
            Ok((inputs, start, probe))
        })?;
    // Sent and closed once the dataflow is built: an input closed while it is being built
    // would hold its first time for ever.
    start.send(started);
    drop(start);
    // An input whose source has ended is dropped here, closed: nothing more comes.
    for (name, mut input) in inputs {
        let Some(feed) = feeds.iter_mut().find(|feed| feed.name == name) else {
            continue;
        };
        if let Some(main) = feed.input.as_ref() {
            input.advance_to(*main.time());
            feed.source.announce_again();
            feed.additions.push(input);
        }
    }
    Ok(probe)
}

/// An input for each source of the plan, and its stream as the plan's build and the sinks
/// take it, placed as `placed` says.
type SourceInputs<'s> = (
    BTreeMap<String, SourceInput>,
    BTreeMap<String, SourceStream<'s>>,
);

fn source_inputs<'s>(
    scope: timely::dataflow::Scope<'s, u64>,
    plan: &Plan,
    placed: &BTreeMap<String, bool>,
) -> SourceInputs<'s> {
    let mut inputs = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for source in &plan.sources {
        let (input, records) = scope.new_input::<Vec<SourceRecord>>();
        let placed = placed.get(&source.name).copied().unwrap_or(false);
        inputs.insert(source.name.clone(), input);
        sources.insert(source.name.clone(), SourceStream { records, placed });
    }
    (inputs, sources)
}

/// Watches progress at the streams nothing else in the graph reads: a stream read by another
/// rollup or by alerts is behind them anyway, and every extra reader of a stream costs a copy
/// of each of its batches.
fn probe_unread(plan: &Plan, outputs: &pipe_dataflow::Outputs, probe: &ProbeHandle<u64>) {
    let read_inside = |name: &str| {
        plan.rollups.iter().any(|r| r.input == name) || plan.alerts.iter().any(|a| a.input == name)
    };
    for (name, windows) in &outputs.rollups {
        if !read_inside(name) {
            windows.clone().probe_with(probe);
        }
    }
}

/// Passes the windows that start at or after the latest time any worker started feeding the
/// dataflow, once every worker has said when that was.
fn from_start<'s>(
    windows: Stream<'s, u64, Vec<WindowResult>>,
    starts: Stream<'s, u64, Vec<u64>>,
) -> Stream<'s, u64, Vec<WindowResult>> {
    windows.binary_frontier(
        starts,
        Pipeline,
        Pipeline,
        "FromFirstWholeWindow",
        |_, _| {
            let mut latest = 0;
            let mut held: Vec<(Capability<u64>, Vec<WindowResult>)> = Vec::new();
            move |(windows, _), (starts, starts_frontier), output| {
                starts.for_each(|_, times| latest = times.iter().fold(latest, |a, &b| a.max(b)));
                windows.for_each(|capability, batch| {
                    if let Some(capability) = capability.retain_least(0) {
                        held.push((capability, std::mem::take(batch)));
                    }
                });
                if starts_frontier.is_empty() {
                    for (capability, mut batch) in held.drain(..) {
                        batch.retain(|window| window.start >= latest);
                        output.session(&capability).give_container(&mut batch);
                    }
                }
            }
        },
    )
}
