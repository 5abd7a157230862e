//! Sinks: where streams go. A connector is a folder here (`console/`, `file/`, `kafka/`,
//! `timescale/`, `clickhouse/`, `alertmanager/`), each
//! with its settings taken from the plan, its writer and its tests; [`open`] is the one place
//! that knows the kinds.
//!
//! Sinks that write to a store run on every worker for the records that worker holds: stores
//! take parallel writers, and exactness comes from idempotent keys, not from order. Console and
//! file sinks have one writer, on worker 0, which receives every record, waits until event time
//! has passed it and writes each time's records in a fixed order (windows by group id,
//! transitions by rule and group, samples by time and series), so that their output does not
//! depend on the number of workers.
//!
//! Every sink says up to which event time its output is durable ([`Sink::unacknowledged`]);
//! the operator that runs it holds back its own progress until then ([`operator`]), so a probe
//! after every sink shows the pipeline's durable frontier, up to which sources commit.

mod alertmanager;
pub mod clickhouse;
mod console;
mod file;
mod health;
pub mod json;
mod kafka;
mod meter;
mod operator;
mod records;
pub mod store;
pub mod timescale;

pub use console::Console;
pub use health::SinkHealth;
pub use meter::{SinkMeter, SinkMeters};
pub use records::{Record, SeriesNames};

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pipe_dataflow::alert::Transition;
use pipe_dataflow::operators::WindowResult;
use pipe_dataflow::{Outputs, SourceRecord, SourceStream};
use pipe_dsl::Plan;
use pipe_dsl::plan::{ALERTS_STREAM, Rollup, SinkConnector};
use timely::dataflow::Stream;

/// A place a stream is written to.
pub trait Sink {
    /// Writes the records of event time `time`: on each worker, every time once, in time
    /// order, each time's records in the order the sink's writers promise.
    fn write(&mut self, time: u64, records: &[Record<'_>]) -> anyhow::Result<()>;

    /// Lets the sink make progress between writes (flush, collect acknowledgements); called
    /// whenever its operator runs.
    fn poll(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// The earliest time written whose records are not yet durable; `None` when everything
    /// written is.
    fn unacknowledged(&self) -> Option<u64> {
        None
    }
}

/// Which workers run a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// One writer, on worker 0, with each time's records sorted: output for people and files.
    One,
    /// Every worker, for the records it holds: stores.
    Every,
}

/// What every sink of a worker is opened with.
#[derive(Clone, Copy)]
pub struct SinkContext<'a> {
    /// This worker.
    pub worker: usize,
    /// Where console output goes.
    pub console: &'a Console,
    /// Whether the sources can resume after a restart, so that what a sink wrote must be
    /// known durable before they commit past it.
    pub resumable: bool,
    /// When the run resumed: every output before this time was durable already.
    pub resumed: Option<u64>,
    /// Where each alert rule is written, by name, for links back to it.
    pub rule_links: &'a BTreeMap<String, String>,
    /// Where sinks say they are waiting for their store, for the status line.
    pub health: &'a Arc<SinkHealth>,
    /// What each sink wrote and made durable, for `/metrics`.
    pub meters: &'a SinkMeters,
}

/// Opens a sink: the one place that maps kinds to connectors.
pub fn open(
    sink: &pipe_dsl::plan::Sink,
    context: &SinkContext,
) -> anyhow::Result<(Writers, Box<dyn Sink>)> {
    let name = &sink.name;
    Ok(match &sink.connector {
        SinkConnector::Console => (Writers::One, Box::new(context.console.clone())),
        SinkConnector::File(settings) => {
            (Writers::One, Box::new(file::open(name, settings, context)?))
        }
        SinkConnector::Kafka(settings) => (
            Writers::Every,
            Box::new(kafka::KafkaSink::open(name, settings, context)?),
        ),
        SinkConnector::Timescale(settings) => (
            Writers::Every,
            Box::new(timescale::TimescaleSink::open(name, settings, context)?),
        ),
        SinkConnector::ClickHouse(settings) => (
            Writers::Every,
            Box::new(clickhouse::ClickHouseSink::open(name, settings, context)?),
        ),
        SinkConnector::Alertmanager(settings) => (
            Writers::Every,
            Box::new(alertmanager::AlertmanagerSink::open(
                name, settings, context,
            )?),
        ),
    })
}

/// The first failure of any sink: the run stops and reports it.
pub type Failure = Arc<Mutex<Option<String>>>;

/// Records the first failure.
pub fn fail(failure: &Failure, message: String) {
    let mut slot = failure
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if slot.is_none() {
        tracing::error!("{message}");
        *slot = Some(message);
    }
}

/// Attaches every sink of the plan to the streams it reads; returns, per sink, the stream whose
/// progress is its durable frontier.
pub fn attach<'s>(
    plan: &Plan,
    sources: &BTreeMap<String, SourceStream<'s>>,
    outputs: &Outputs<'s>,
    context: &SinkContext<'_>,
    failure: &Failure,
) -> anyhow::Result<Vec<Stream<'s, u64, Vec<()>>>> {
    let mut acknowledged = Vec::new();
    for sink in &plan.sinks {
        let (writers, writer) = open(sink, context)?;
        let name = sink.name.clone();
        let run = operator::Run {
            name: &sink.name,
            writers,
            sink: writer,
            failure: Arc::clone(failure),
            meter: context.meters.of(&sink.name),
            worker: context.worker,
        };
        let acks = if sink.from == ALERTS_STREAM {
            run.attach(
                outputs.alerts.clone(),
                order_transitions,
                context.resumed,
                move |sink, time, batch: Vec<Transition>| {
                    let records: Vec<Record> = batch.iter().map(Record::Transition).collect();
                    sink.write(time, &records)
                },
            )
        } else if let Some(windows) = outputs.rollups.get(&sink.from) {
            let rollup: Rollup = plan
                .rollup(&sink.from)
                .expect("the checker resolved the stream")
                .clone();
            run.attach(
                windows.clone(),
                order_windows,
                context.resumed,
                move |sink, time, batch: Vec<WindowResult>| {
                    let records: Vec<Record> = batch
                        .iter()
                        .map(|window| Record::Window {
                            rollup: &rollup,
                            window,
                        })
                        .collect();
                    sink.write(time, &records)
                },
            )
        } else if let Some(source) = sources.get(&sink.from) {
            let stream = sink.from.clone();
            let mut names = SeriesNames::default();
            // A restart sends samples again at new times: sinks of samples are idempotent
            // by series and time instead.
            run.attach(
                source.records.clone(),
                order_source_records,
                None,
                move |sink, time, batch: Vec<SourceRecord>| {
                    let samples: Vec<_> =
                        batch.into_iter().filter_map(|r| names.learn(r)).collect();
                    let records: Vec<Record> = samples
                        .iter()
                        .filter_map(|s| {
                            Some(Record::Sample {
                                stream: &stream,
                                series: s.series,
                                labels: names.get(s.series)?,
                                ts: s.ts,
                                value: s.value,
                            })
                        })
                        .collect();
                    sink.write(time, &records)
                },
            )
        } else {
            anyhow::bail!(
                "sink `{name}` reads `{}`, which the dataflow does not have",
                sink.from
            );
        };
        acknowledged.push(acks);
    }
    Ok(acknowledged)
}

fn order_transitions(a: &Transition, b: &Transition) -> Ordering {
    (a.at, &a.rule, &a.group, a.kind).cmp(&(b.at, &b.rule, &b.group, b.kind))
}

/// By end, then group id (a stable hash of the labels), then labels where two ids are equal:
/// comparing the labels themselves, string by string, was a tenth of a worker's time when a
/// minute's 100,000 windows were sorted.
fn order_windows(a: &WindowResult, b: &WindowResult) -> Ordering {
    (a.end, a.group)
        .cmp(&(b.end, b.group))
        .then_with(|| a.labels.cmp(&b.labels))
}

/// Series labels before samples, samples in time order.
fn order_source_records(a: &SourceRecord, b: &SourceRecord) -> Ordering {
    let key = |r: &SourceRecord| match r {
        SourceRecord::Series { id, .. } => (0, 0, *id),
        SourceRecord::Sample { sample, .. } => (1, sample.ts, sample.series),
    };
    key(a).cmp(&key(b))
}
