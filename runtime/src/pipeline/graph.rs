//! Building the graph: an input per source, the plan's dataflow, a sink operator per sink, and
//! the probe whose frontier is the time up to which every output is durable.

use anyhow::Context as _;
use differential_dataflow::input::{Input as _, InputSession};
use pipe_dataflow::rules::RuleRecord;
use pipe_dataflow::telemetry::Telemetry;
use pipe_dataflow::{SourceInput, SourceRecord, SourceStream};
use pipe_dsl::Plan;
use std::collections::BTreeMap;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Input, Probe};

use super::feeds::{self, Feed};
use super::{Progress, RunOptions};
use crate::sinks::{self, Failure, SinkContext};

/// A built dataflow's handles.
pub struct Graph {
    /// The rules collection.
    pub rules: InputSession<u64, RuleRecord, isize>,
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
    let observer = options.observer.clone().filter(|_| index == 0);
    let (mut inputs, rules, probe) =
        worker.dataflow::<u64, _, _>(|scope| -> anyhow::Result<_> {
            let mut inputs: BTreeMap<String, SourceInput> = BTreeMap::new();
            let mut streams = BTreeMap::new();
            for source in &plan.sources {
                let (input, stream) = scope.new_input::<Vec<SourceRecord>>();
                inputs.insert(source.name.clone(), input);
                streams.insert(source.name.clone(), stream);
            }
            let (rules, rules_stream) = scope.new_collection::<RuleRecord, isize>();
            let sources: BTreeMap<String, SourceStream> = streams
                .iter()
                .map(|(name, records)| {
                    (
                        name.clone(),
                        SourceStream {
                            records: records.clone(),
                            placed: placed[name],
                        },
                    )
                })
                .collect();
            let outputs = pipe_dataflow::build(plan, &sources, rules_stream.inner, telemetry)
                .context("cannot build the dataflow")?;
            // Progress is watched at the streams nothing else in the graph reads: a stream read by
            // another rollup or by alerts is behind them anyway, and every extra reader of a stream
            // costs a copy of each of its batches.
            let probe = ProbeHandle::new();
            let read_inside = |name: &str| {
                plan.rollups.iter().any(|r| r.input == name)
                    || plan.alerts.iter().any(|a| a.input == name)
            };
            for (name, windows) in &outputs.rollups {
                if !read_inside(name) {
                    windows.clone().probe_with(&probe);
                }
            }
            let alerts = outputs.alerts.clone().probe_with(&probe);
            if let Some(observer) = observer {
                alerts.sink(Pipeline, "Observe", move |(input, frontier)| {
                    input.for_each(|_, _| {});
                    observer.alerts_passed(frontier.frontier().iter().min().copied());
                });
            }
            let context = SinkContext {
                worker: index,
                console: &options.console,
                resumable,
                resumed,
                rule_links: &options.rule_links,
                health: &progress.sinks,
            };
            for acknowledged in sinks::attach(plan, &streams, &outputs, &context, failure)? {
                acknowledged.probe_with(&probe);
            }
            Ok((inputs, rules, probe))
        })?;
    for feed in feeds.iter_mut() {
        feed.input = inputs.remove(&feed.name);
    }
    Ok(Graph { rules, probe })
}
