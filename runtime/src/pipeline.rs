//! Runs a plan: timely workers (threads, and processes when clustered), each building the
//! dataflow, feeding its share of every source, and stepping it until the sources end or the
//! operator stops the run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use differential_dataflow::input::{Input as _, InputSession};
use pipe_dataflow::rules::{RuleRecord, rule_record};
use pipe_dataflow::telemetry::Telemetry;
use pipe_dataflow::{SourceInput, SourceRecord, SourceStream, build};
use pipe_dsl::Plan;
use pipe_dsl::plan::{Pace, SourceConnector};
use timely::communication::Config as CommunicationConfig;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Input, Probe};

use crate::sinks::{self, Console, Failure};
use crate::sources::generator::{CHUNK, Generator, Poll, Share};
use crate::time::now_millis;

/// How the processes of a cluster find each other.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// This process's index.
    pub process: usize,
    /// `host:port` of every process, in index order.
    pub addresses: Vec<String>,
}

/// What a run writes to.
#[derive(Clone)]
pub enum Outputs {
    /// The plan's sinks.
    Sinks(Console),
    /// Nothing: outputs are consumed and dropped, and alert delays recorded (for benchmarks).
    Discard(Arc<DelayLog>),
}

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Worker threads in this process.
    pub workers: usize,
    /// Other processes, when the run spans several.
    pub cluster: Option<Cluster>,
    /// Stop the sources after this much event time, then finish every window.
    pub run_for: Option<u64>,
    /// Set to stop the run (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// Where outputs go.
    pub outputs: Outputs,
    /// Replaces every generator's pace (benchmarks use `max`).
    pub pace: Option<Pace>,
}

/// Figures the status line shows that the dataflow does not know.
#[derive(Debug, Default)]
pub struct Progress {
    /// The lowest source watermark, in event time.
    pub watermark: AtomicU64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The sources ended and every window was written.
    Finished,
    /// The run was stopped.
    Stopped,
}

/// When each alert step's frontier passed the input, and how long until its transitions left.
#[derive(Debug, Default)]
pub struct DelayLog {
    passed: Mutex<BTreeMap<u64, Instant>>,
    delays: Mutex<Vec<Duration>>,
    step: AtomicU64,
}

impl DelayLog {
    /// Notes that the input frontier moved from `from` to `to`. The first move, from time 0 to
    /// the source's start, passes no step that data could reach.
    fn input_passed(&self, from: u64, to: u64) {
        let step = self.step.load(Ordering::Relaxed);
        if step == 0 || from == 0 || to <= from {
            return;
        }
        let now = Instant::now();
        let mut passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        let mut boundary = from - from % step + step;
        while boundary <= to {
            passed.entry(boundary).or_insert(now);
            boundary += step;
        }
    }

    fn output_passed(&self, frontier: Option<u64>) {
        let now = Instant::now();
        let mut passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        let mut delays = self.delays.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(entry) = passed.first_entry() {
            if frontier.is_some_and(|f| *entry.key() >= f) {
                break;
            }
            delays.push(now - entry.remove());
        }
    }

    /// The delays recorded, in order.
    pub fn delays(&self) -> Vec<Duration> {
        self.delays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn config(options: &RunOptions) -> timely::Config {
    let communication = match &options.cluster {
        None => CommunicationConfig::Process(options.workers),
        Some(cluster) => CommunicationConfig::Cluster {
            threads: options.workers,
            process: cluster.process,
            addresses: cluster.addresses.clone(),
            report: false,
            zerocopy: false,
        },
    };
    timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    }
}

/// Runs `plan` until its sources end or `options.stop` is set.
pub fn run(
    plan: Plan,
    telemetry: Arc<Telemetry>,
    progress: Arc<Progress>,
    options: RunOptions,
) -> anyhow::Result<Ending> {
    for source in &plan.sources {
        if !matches!(source.connector, SourceConnector::Generator(_)) {
            bail!(
                "source `{}` is not a generator; this version of pipectl runs generator sources only",
                source.name
            );
        }
    }
    let plan = Arc::new(plan);
    let failure: Failure = Arc::default();
    let worker_failure = Arc::clone(&failure);
    let guards = timely::execute(config(&options), move |worker| {
        run_worker(
            worker,
            &plan,
            &telemetry,
            &progress,
            &options,
            &worker_failure,
        )
    })
    .map_err(|error| anyhow::anyhow!("cannot start the workers: {error}"))?;
    let mut ending = Ending::Finished;
    for result in guards.join() {
        match result.map_err(|panic| anyhow::anyhow!("a worker failed: {panic}"))?? {
            Ending::Stopped => ending = Ending::Stopped,
            Ending::Finished => {}
        }
    }
    if let Some(message) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        bail!(message);
    }
    Ok(ending)
}

struct SourceFeed {
    input: Option<SourceInput>,
    generator: Generator,
    /// The records of one poll, handed to the input whole: sending them one at a time copied
    /// each into the input's own buffer.
    batch: Vec<SourceRecord>,
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    plan: &Plan,
    telemetry: &Telemetry,
    progress: &Progress,
    options: &RunOptions,
    failure: &Failure,
) -> anyhow::Result<Ending> {
    let (index, peers) = (worker.index(), worker.peers());
    let built = worker.dataflow::<u64, _, _>(|scope| -> anyhow::Result<_> {
        let mut inputs = BTreeMap::new();
        let mut streams = BTreeMap::new();
        for source in &plan.sources {
            let (input, stream) = scope.new_input::<Vec<SourceRecord>>();
            inputs.insert(source.name.clone(), input);
            streams.insert(source.name.clone(), stream);
        }
        let (rules, rules_stream) = scope.new_collection::<RuleRecord, isize>();
        // Each worker's generator simulates exactly the series the worker owns.
        let sources: BTreeMap<String, SourceStream> = streams
            .iter()
            .map(|(name, records)| {
                (
                    name.clone(),
                    SourceStream {
                        records: records.clone(),
                        partitioned: true,
                    },
                )
            })
            .collect();
        let outputs = build(plan, &sources, rules_stream.inner, telemetry)
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
        match &options.outputs {
            Outputs::Sinks(console) => sinks::attach(plan, &streams, &outputs, console, failure)?,
            Outputs::Discard(delays) => {
                let delays = Arc::clone(delays);
                alerts.sink(Pipeline, "AlertDelay", move |(input, frontier)| {
                    input.for_each(|_, _| {});
                    delays.output_passed(frontier.frontier().iter().min().copied());
                });
            }
        }
        Ok((inputs, rules, probe))
    });
    let (mut inputs, mut rules, probe) = built?;
    let delays = match &options.outputs {
        Outputs::Discard(delays) if index == 0 => Some(Arc::clone(delays)),
        _ => None,
    };
    if let (Some(delays), Some(source)) = (&delays, plan.sources.first()) {
        delays.step.store(source.step.millis(), Ordering::Relaxed);
    }
    let now = now_millis();
    let mut feeds: Vec<SourceFeed> = plan
        .sources
        .iter()
        .map(|source| {
            let SourceConnector::Generator(config) = &source.connector else {
                unreachable!("checked before the workers start");
            };
            let mut config = config.clone();
            if let Some(pace) = options.pace {
                config.pace = pace;
            }
            SourceFeed {
                input: inputs.remove(&source.name),
                batch: Vec::new(),
                generator: Generator::new(
                    &config,
                    source.lateness.millis(),
                    &Share::of(plan, &source.name, index, peers),
                    now,
                    options.run_for,
                ),
            }
        })
        .collect();
    if index == 0 {
        for rule in &plan.alerts {
            rules.insert(rule_record(rule));
        }
    }
    let lag_limit = plan
        .sources
        .iter()
        .map(|s| s.step.millis())
        .max()
        .unwrap_or(15_000)
        * 2;
    loop {
        let failed = failure.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if options.stop.load(Ordering::Relaxed) || failed {
            return Ok(Ending::Stopped);
        }
        let open: Vec<u64> = feeds
            .iter()
            .filter_map(|f| f.input.as_ref().map(|i| *i.time()))
            .collect();
        let Some(&slowest) = open.iter().min() else {
            break;
        };
        // Backpressure: produce no more while the outputs trail the sources by two steps.
        if probe.less_than(&slowest.saturating_sub(lag_limit)) {
            worker.step();
            continue;
        }
        let now = now_millis();
        let mut produced = false;
        let mut wake_at: Option<u64> = None;
        for feed in &mut feeds {
            let Some(input) = feed.input.as_mut() else {
                continue;
            };
            let batch = &mut feed.batch;
            // Timely keeps the container it is sent, leaving an empty one: sized at once, it
            // is not grown (and copied) a dozen times per poll.
            batch.reserve(CHUNK);
            let poll = feed.generator.poll(now, |record| batch.push(record));
            input.send_batch(batch);
            batch.clear();
            match poll {
                Poll::Produced { frontier } => {
                    let before = *input.time();
                    if frontier > before {
                        input.advance_to(frontier);
                        if let Some(delays) = &delays {
                            delays.input_passed(before, frontier);
                        }
                    }
                    produced = true;
                }
                Poll::WaitUntil(at) => wake_at = Some(wake_at.map_or(at, |w| w.min(at))),
                // The frontier passes the end before the input closes: every worker then
                // stops its alert steps at the same boundary, whichever series it holds.
                Poll::Finished { end } if *input.time() < end => {
                    input.advance_to(end);
                    produced = true;
                }
                Poll::Finished { end } => {
                    if !probe.less_than(&end) {
                        feed.input = None;
                    }
                }
            }
        }
        let slowest = feeds
            .iter()
            .filter_map(|f| f.input.as_ref().map(|i| *i.time()))
            .min();
        if let Some(slowest) = slowest {
            advance_rules(&mut rules, slowest);
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
    while worker.step() {
        if options.stop.load(Ordering::Relaxed) {
            return Ok(Ending::Stopped);
        }
    }
    Ok(Ending::Finished)
}

fn advance_rules(rules: &mut InputSession<u64, RuleRecord, isize>, to: u64) {
    if to > *rules.time() {
        rules.advance_to(to);
        rules.flush();
    }
}
