//! Sources: where samples come from. Each worker opens its own instance of every source of the
//! plan, which gives that worker its share of the samples as the records the dataflow takes, says
//! how far event time has come, and commits what the sinks have made durable.
//!
//! A connector is a folder here (`generator/`, `kafka/`, `file/`); [`open`] is the one place
//! that knows the kinds. Decoding, the series dictionary and dead letters are shared by every
//! source that reads messages (`decode/`).

pub mod decode;
pub mod file;
pub mod generator;
pub mod kafka;
pub mod partition;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pipe_dataflow::SourceRecord;
use pipe_dsl::Plan;
use pipe_dsl::plan::SourceConnector;

use decode::{DeadLetterCounts, SeriesLimit};

/// One worker's share of a source.
pub trait Source {
    /// Whether each worker's records are exactly the series it owns by the plan's placement
    /// (`Plan::placement`), so that they need no exchange. Otherwise the dataflow exchanges
    /// them once, by the place every record carries.
    fn placed(&self) -> bool;

    /// Appends the records ready for this worker to `out`, and says how far event time has
    /// come. `now_ms` is the wall clock.
    fn poll(&mut self, now_ms: u64, out: &mut Vec<SourceRecord>) -> anyhow::Result<Poll>;

    /// Sends the labels of every series it knows again, each before its next sample: a
    /// dataflow a deploy installs in the running workers learns them so.
    fn announce_again(&mut self);

    /// Records that every output before `durable.outputs_before` is durable in every sink, so
    /// that what a restart must read again starts at `durable.replay_from`. Sources that
    /// cannot be read again ignore it.
    fn commit(&mut self, durable: Durable) -> anyhow::Result<()> {
        let _ = durable;
        Ok(())
    }

    /// Whether the source commits what is durable and resumes from it after a restart, so
    /// that sinks must say what they have made durable before it commits past them.
    fn resumable(&self) -> bool {
        false
    }

    /// When the source resumed from committed state: the time before which every output was
    /// durable then, so that sinks do not write those again. `None` for a fresh start.
    fn resumed(&self) -> Option<u64> {
        None
    }
}

/// How far a source's event time has come after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// More may be ready at once. The source will send nothing before `watermark`.
    Ready {
        /// The earliest event time the source may still send.
        watermark: u64,
    },
    /// Nothing is ready now; poll again by the wall-clock time `until` at the latest.
    Waiting {
        /// The earliest event time the source may still send.
        watermark: u64,
        /// Milliseconds since the epoch.
        until: u64,
    },
    /// The source has sent everything it will: every record is before `end`.
    Finished {
        /// Where the source's event time ends.
        end: u64,
    },
}

/// What every sink has made durable, as the pipeline tells its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// Every output of an event time before this is durable.
    pub outputs_before: u64,
    /// The event time from which the source must be read again to produce every output not
    /// yet durable ([`Plan::replay_from`]).
    pub replay_from: u64,
}

/// What a source is opened with.
#[derive(Clone)]
pub struct Context<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The source, one of the plan's.
    pub source: &'a pipe_dsl::plan::Source,
    /// This worker, among every worker of every process.
    pub worker: usize,
    /// How many workers there are in all.
    pub peers: usize,
    /// Workers in this process.
    pub local_workers: usize,
    /// The wall clock when the run started.
    pub now_ms: u64,
    /// Stop the source after this much event time.
    pub run_for: Option<u64>,
    /// What the workers of this process share.
    pub shared: Arc<Shared>,
}

impl Context<'_> {
    /// The labels this source's series are placed on workers by.
    pub fn placement(&self) -> Option<Vec<String>> {
        self.plan.placement(&self.source.name)
    }

    /// The cardinality limit of this source in this process, shared by its workers: its share
    /// of `max_series` by its number of workers.
    pub fn series_limit(&self, max_series: Option<u64>) -> Option<SeriesLimit> {
        let max = max_series?;
        let share = (max * self.local_workers as u64).div_ceil(self.peers as u64);
        let mut limits = self
            .shared
            .limits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(
            limits
                .entry(self.source.name.clone())
                .or_insert_with(|| SeriesLimit::new(share))
                .clone(),
        )
    }
}

/// What the workers of one process share across their sources.
#[derive(Debug, Default)]
pub struct Shared {
    /// Refused messages, by reason.
    pub dead_letters: Arc<DeadLetterCounts>,
    /// Kafka consumer lag per partition.
    pub lag: Arc<kafka::lag::ConsumerLag>,
    limits: Mutex<HashMap<String, SeriesLimit>>,
}

/// Opens a program's own source on each worker: see [`RunOptions::sources`](crate::pipeline::RunOptions).
pub type Opener = Arc<dyn Fn(&Context) -> anyhow::Result<Box<dyn Source>> + Send + Sync>;

/// Opens this worker's share of a source: the one place that maps kinds to connectors.
pub fn open(context: &Context) -> anyhow::Result<Box<dyn Source>> {
    Ok(match &context.source.connector {
        SourceConnector::Generator(config) => Box::new(generator::Generator::open(config, context)),
        SourceConnector::Kafka(config) => Box::new(kafka::KafkaSource::open(config, context)?),
        SourceConnector::File(config) => Box::new(file::FileSource::open(config, context)?),
        SourceConnector::External => anyhow::bail!(
            "source `{}` is external: the program that runs the pipeline provides it (RunOptions::sources); pipectl cannot",
            context.source.name
        ),
    })
}
