//! The feed loop: polls every source, sends its records and advances its input to its
//! watermark, steps the dataflow, and tells the sources what every sink has made durable.

use std::sync::atomic::Ordering;
use std::time::Duration;

use differential_dataflow::input::InputSession;
use pipe_dataflow::rules::{RuleRecord, rule_record};
use pipe_dataflow::{SourceInput, SourceRecord};
use pipe_dsl::Plan;
use timely::dataflow::ProbeHandle;

use super::backpressure::Backpressure;
use super::deploys::{self, AdditionsInput};
use super::feeds::{self, Feed};
use super::graph::{self, Graph};
use super::{Ending, Observer, Progress, RunOptions};
use crate::sinks::{Failure, fail};
use crate::sources::{Durable, Poll};
use crate::time::now_millis;

/// Feeds the dataflow until the sources end (every output written) or the run is stopped.
pub fn run(
    worker: &mut timely::worker::Worker,
    plan: &Plan,
    mut feeds: Vec<Feed>,
    graph: Graph,
    options: &RunOptions,
    progress: &Progress,
    failure: &Failure,
) -> Ending {
    let Graph {
        mut rules,
        additions,
        received,
        probe,
    } = graph;
    let index = worker.index();
    let observer = options.observer.as_deref().filter(|_| index == 0);
    // Worker 0 of process 0 applies deploys; the others close their inputs of them at once.
    let mut additions = Some(additions).filter(|_| index == 0);
    if index == 0 {
        for rule in &plan.alerts {
            rules.insert(rule_record(rule));
        }
    }
    let mut probes = vec![probe.clone()];
    let mut durability = Durability::new(feeds::resumed(&feeds));
    let longest_step = plan.sources.iter().map(|s| s.step.millis()).max();
    let mut backpressure = Backpressure::new(longest_step.unwrap_or(15_000));
    loop {
        let failed = failure.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if options.stop.load(Ordering::Relaxed) || failed {
            durability.hand(&mut feeds, &probes, plan);
            return Ending::Stopped;
        }
        let Some(slowest) = slowest_input(&feeds) else {
            break;
        };
        if let (Some(deploys), Some(additions)) = (&options.deploys, additions.as_mut()) {
            deploys::apply(deploys, &mut rules, additions);
        }
        let added: Vec<String> = received.borrow_mut().drain(..).collect();
        for addition in added {
            match install(worker, &addition, &mut feeds, options, progress, failure) {
                Ok(probe) => probes.push(probe),
                Err(error) => {
                    fail(failure, format!("{error:#}"));
                    return Ending::Stopped;
                }
            }
        }
        durability.hand(&mut feeds, &probes, plan);
        if backpressure.holds_back(slowest, durable_frontier(&probes).unwrap_or(u64::MAX)) {
            worker.step();
            continue;
        }
        let now = now_millis();
        let mut produced = false;
        let mut wake_at: Option<u64> = None;
        for (at, feed) in feeds.iter_mut().enumerate() {
            let Some(input) = feed.input.as_mut() else {
                continue;
            };
            let poll = match feed.source.poll(now, &mut feed.batch) {
                Ok(poll) => poll,
                Err(error) => {
                    fail(failure, format!("source `{}`: {error:#}", feed.name));
                    return Ending::Stopped;
                }
            };
            if !feed.batch.is_empty() {
                backpressure.sent(feed.batch.len());
                let samples = feed
                    .batch
                    .iter()
                    .filter(|r| matches!(r, SourceRecord::Sample { .. }))
                    .count();
                feed.samples.inc_by(samples as u64);
                for addition in &mut feed.additions {
                    addition.send_batch(&mut feed.batch.clone());
                }
                input.send_batch(&mut feed.batch);
                feed.batch.clear();
                produced = true;
            }
            let observer = observer.filter(|_| at == 0);
            match poll {
                Poll::Ready { watermark } => {
                    advance(input, &mut feed.additions, watermark, observer);
                    produced = true;
                }
                Poll::Waiting { watermark, until } => {
                    advance(input, &mut feed.additions, watermark, observer);
                    wake_at = Some(wake_at.map_or(until, |w| w.min(until)));
                }
                // The frontier passes the end before the input closes: every worker then
                // stops its alert steps at the same boundary, whichever series it holds.
                Poll::Finished { end } if *input.time() < end => {
                    advance(input, &mut feed.additions, end, observer);
                    produced = true;
                }
                Poll::Finished { end } => {
                    if !probe.less_than(&end) {
                        feed.input = None;
                        feed.additions.clear();
                    }
                }
            }
        }
        if let Some(slowest) = slowest_input(&feeds) {
            backpressure.advanced(slowest);
            advance_rules(&mut rules, additions.as_mut(), slowest);
            if index == 0 {
                progress.watermark.store(slowest, Ordering::Relaxed);
            }
        }
        if produced {
            worker.step();
        } else {
            let park = wake_at.map_or(100, |at| at.saturating_sub(now_millis()).min(100));
            worker.step_or_park(Some(Duration::from_millis(park)));
        }
    }
    drop(rules);
    drop(additions);
    while worker.step() {
        if options.stop.load(Ordering::Relaxed) {
            durability.hand(&mut feeds, &probes, plan);
            return Ending::Stopped;
        }
    }
    Ending::Finished
}

/// Installs the additions a deploy sent as a new dataflow; the probe of its outputs.
fn install(
    worker: &mut timely::worker::Worker,
    addition: &str,
    feeds: &mut [Feed],
    options: &RunOptions,
    progress: &Progress,
    failure: &Failure,
) -> anyhow::Result<ProbeHandle<u64>> {
    let plan: Plan = serde_json::from_str(addition)
        .map_err(|error| anyhow::anyhow!("a deploy's additions do not read back: {error}"))?;
    let probe = graph::build_addition(worker, &plan, feeds, options, progress, failure)?;
    if worker.index() == 0 {
        let names: Vec<&str> = plan.sinks.iter().map(|sink| sink.name.as_str()).collect();
        tracing::info!(
            "deploy: installed {} and its sinks {names:?}",
            plan.rollups.len()
        );
    }
    Ok(probe)
}

/// The time before which every output of every dataflow is durable; `None` once every output
/// ended.
fn durable_frontier(probes: &[ProbeHandle<u64>]) -> Option<u64> {
    probes
        .iter()
        .filter_map(|probe| probe.with_frontier(|frontier| frontier.iter().min().copied()))
        .min()
}

/// The earliest input time of the sources still open.
fn slowest_input(feeds: &[Feed]) -> Option<u64> {
    feeds
        .iter()
        .filter_map(|feed| feed.input.as_ref().map(|input| *input.time()))
        .min()
}

fn advance(
    input: &mut SourceInput,
    additions: &mut [SourceInput],
    to: u64,
    observer: Option<&dyn Observer>,
) {
    let from = *input.time();
    if to > from {
        input.advance_to(to);
        for addition in additions {
            addition.advance_to(to);
        }
        if let Some(observer) = observer {
            observer.input_advanced(from, to);
        }
    }
}

fn advance_rules(
    rules: &mut InputSession<u64, RuleRecord, isize>,
    additions: Option<&mut AdditionsInput>,
    to: u64,
) {
    if to > *rules.time() {
        rules.advance_to(to);
        rules.flush();
    }
    if let Some(additions) = additions
        && to > *additions.time()
    {
        additions.advance_to(to);
    }
}

/// What has been told to the sources of the durable frontier.
struct Durability {
    /// Outputs before this were durable before a restart: the frontier never goes below it,
    /// or a source would commit that the outputs it wrote before need to be read again.
    resumed: Option<u64>,
    handed: Option<u64>,
}

impl Durability {
    fn new(resumed: Option<u64>) -> Self {
        Durability {
            resumed,
            handed: None,
        }
    }

    /// Tells every source the durable frontier, when it has moved.
    fn hand(&mut self, feeds: &mut [Feed], probes: &[ProbeHandle<u64>], plan: &Plan) {
        let Some(frontier) = durable_frontier(probes) else {
            return;
        };
        let frontier = frontier.max(self.resumed.unwrap_or(0));
        if self.handed.is_some_and(|handed| handed >= frontier) {
            return;
        }
        self.handed = Some(frontier);
        for feed in feeds.iter_mut() {
            let durable = Durable {
                outputs_before: frontier,
                replay_from: plan.replay_from(&feed.name, frontier),
            };
            if let Err(error) = feed.source.commit(durable) {
                tracing::warn!(source = %feed.name, "cannot commit: {error:#}");
            }
        }
    }
}
