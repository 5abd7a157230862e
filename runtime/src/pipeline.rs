//! Runs a plan: timely workers (threads, and processes when clustered), each opening its share
//! of every source (`feeds.rs`), building the dataflow with its sinks (`graph.rs`), and feeding
//! it until the sources end or the operator stops the run (`feed_loop.rs`). Nothing here names
//! a connector kind: sources and sinks are opened through their traits.

mod alert_delay;
mod backpressure;
mod deploys;
mod feed_loop;
mod feeds;
mod graph;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use pipe_dataflow::telemetry::Telemetry;
use pipe_dsl::Plan;
use timely::communication::Config as CommunicationConfig;

pub use alert_delay::{AlertDelays, DelayHistogram};
pub use deploys::{Deploy, Deploys};

use crate::sinks::{Console, Failure, fail};
use crate::sources::{Opener, Shared};

/// How the processes of a cluster find each other.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// This process's index.
    pub process: usize,
    /// `host:port` of every process, in index order.
    pub addresses: Vec<String>,
}

/// Watches a run from outside the dataflow, on worker 0: benchmarks measure alert delays so.
pub trait Observer: Send + Sync {
    /// The input of the plan's first source advanced from `from` to `to`.
    fn input_advanced(&self, from: u64, to: u64);

    /// The alerts stream's frontier reached `frontier` (`None` once it ended).
    fn alerts_passed(&self, frontier: Option<u64>);
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
    /// Where console sinks print.
    pub console: Console,
    /// Watches the run, for benchmarks.
    pub observer: Option<Arc<dyn Observer>>,
    /// Sources the program running the pipeline provides itself, by name: its `external`
    /// sources, or others it replaces.
    pub sources: BTreeMap<String, Opener>,
    /// Where each alert rule is written, by rule name (`file:///…/x.pipe#L12`): the link an
    /// alert carries back to its rule.
    pub rule_links: BTreeMap<String, String>,
    /// Deploys from the control API, applied by worker 0 of process 0.
    pub deploys: Option<Arc<Deploys>>,
}

/// Figures the status line and the summary show that the dataflow does not know.
#[derive(Debug, Default)]
pub struct Progress {
    /// The lowest source watermark, in event time.
    pub watermark: AtomicU64,
    /// What the sources of this process share: refused messages among them.
    pub sources: Arc<Shared>,
    /// Which sinks of this process are waiting for their store.
    pub sinks: Arc<crate::sinks::SinkHealth>,
    /// What each sink of this process wrote and made durable.
    pub sink_meters: crate::sinks::SinkMeters,
    /// Samples taken in, by source.
    pub source_samples: prometheus_client::metrics::family::Family<
        Vec<(&'static str, String)>,
        prometheus_client::metrics::counter::Counter,
    >,
    /// Alert delays, on the process of worker 0.
    pub alert_delay: DelayHistogram,
    /// The figures of the dataflows deploys added, apart from the running plan's so that
    /// samples and series are not counted twice.
    pub additions: Arc<Telemetry>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The sources ended and every window was written.
    Finished,
    /// The run was stopped.
    Stopped,
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
    let plan = Arc::new(plan);
    let failure: Failure = Arc::default();
    let worker_failure = Arc::clone(&failure);
    let guards = timely::execute(config(&options), move |worker| {
        let result = run_worker(
            worker,
            &plan,
            &telemetry,
            &progress,
            &options,
            &worker_failure,
        );
        // One worker's error stops the others, which would otherwise wait for it.
        if let Err(error) = &result {
            fail(&worker_failure, format!("{error:#}"));
        }
        result
    })
    .map_err(|error| anyhow::anyhow!("cannot start the workers: {error}"))?;
    let mut ending = Ending::Finished;
    for result in guards.join() {
        match result.map_err(|panic| anyhow::anyhow!("a worker failed: {panic}")) {
            Ok(Ok(Ending::Stopped)) => ending = Ending::Stopped,
            Ok(Ok(Ending::Finished)) | Ok(Err(_)) => {}
            Err(error) => return Err(error),
        }
    }
    if let Some(message) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        anyhow::bail!(message);
    }
    Ok(ending)
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    plan: &Plan,
    telemetry: &Telemetry,
    progress: &Progress,
    options: &RunOptions,
    failure: &Failure,
) -> anyhow::Result<Ending> {
    let mut feeds = feeds::open(plan, worker, options, progress)?;
    let graph = graph::build(
        worker, plan, telemetry, &mut feeds, options, progress, failure,
    )?;
    let ending = feed_loop::run(worker, plan, feeds, graph, options, progress, failure);
    if let Some(deploys) = options.deploys.as_ref().filter(|_| worker.index() == 0) {
        deploys.close();
    }
    if ending == Ending::Stopped {
        // Timely would run a dataflow whose inputs are gone to completion, closing every open
        // window with what it holds: partial windows a restart would then write again, whole.
        // A stopped run ends where it is.
        for dataflow in worker.installed_dataflows() {
            worker.drop_dataflow(dataflow);
        }
    }
    Ok(ending)
}
