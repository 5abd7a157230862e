//! Sinks: where streams go. Every sink runs on worker 0, which receives its stream's records,
//! waits until the frontier passes their time, sorts them and writes them, so that what a sink
//! writes does not depend on the number of workers.

mod console;
mod file;
mod json;
mod records;

pub use console::Console;
pub use records::{Record, SeriesNames};

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use pipe_dataflow::alert::Transition;
use pipe_dataflow::operators::WindowResult;
use pipe_dataflow::{Outputs, SourceRecord};
use pipe_dsl::Plan;
use pipe_dsl::plan::{ALERTS_STREAM, Rollup, SinkConnector};
use timely::ExchangeData;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use file::JsonLines;

/// Where a sink writes.
enum Writer {
    Console(Console),
    File(JsonLines),
}

impl Writer {
    fn write(&mut self, records: &[Record]) -> std::io::Result<()> {
        match self {
            Writer::Console(console) => {
                let lines: Vec<String> = records.iter().map(|r| console.line(r)).collect();
                console.print(&lines);
                Ok(())
            }
            Writer::File(file) => file.write(records),
        }
    }
}

/// The first failure of any sink: the run stops and reports it.
pub type Failure = Arc<Mutex<Option<String>>>;

/// Records the first failure.
fn fail(failure: &Failure, message: String) {
    let mut slot = failure
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if slot.is_none() {
        tracing::error!("{message}");
        *slot = Some(message);
    }
}

/// Attaches every sink of the plan to the streams it reads.
pub fn attach<'s>(
    plan: &Plan,
    sources: &BTreeMap<String, Stream<'s, u64, Vec<SourceRecord>>>,
    outputs: &Outputs<'s>,
    console: &Console,
    failure: &Failure,
) -> anyhow::Result<()> {
    for sink in &plan.sinks {
        let mut writer = match &sink.connector {
            SinkConnector::Console => Writer::Console(console.clone()),
            SinkConnector::File(file) => {
                let path = file.path.resolve_from_process().with_context(|| {
                    format!(
                        "sink `{}`: the environment variable of its path is not set",
                        sink.name
                    )
                })?;
                Writer::File(JsonLines::new(PathBuf::from(path)))
            }
            other => bail!(
                "sink `{}` writes to {}, which this version of pipectl cannot run yet; `pipectl run` supports console and file sinks",
                sink.name,
                kind_name(other)
            ),
        };
        let failure = Arc::clone(failure);
        let name = sink.name.clone();
        let mut write = move |records: &[Record]| {
            if let Err(error) = writer.write(records) {
                fail(&failure, format!("sink `{name}` failed: {error}"));
            }
        };
        if sink.from == ALERTS_STREAM {
            sorted_sink(
                outputs.alerts.clone(),
                &sink.name,
                order_transitions,
                move |batch: Vec<Transition>| {
                    let records: Vec<Record> = batch.iter().map(Record::Transition).collect();
                    write(&records);
                },
            );
        } else if let Some(windows) = outputs.rollups.get(&sink.from) {
            let rollup: Rollup = plan
                .rollup(&sink.from)
                .expect("the checker resolved the stream")
                .clone();
            sorted_sink(
                windows.clone(),
                &sink.name,
                order_windows,
                move |batch: Vec<WindowResult>| {
                    let records: Vec<Record> = batch
                        .iter()
                        .map(|window| Record::Window {
                            rollup: &rollup,
                            window,
                        })
                        .collect();
                    write(&records);
                },
            );
        } else if let Some(records) = sources.get(&sink.from) {
            let stream = sink.from.clone();
            let mut names = SeriesNames::default();
            sorted_sink(
                records.clone(),
                &sink.name,
                order_source_records,
                move |batch: Vec<SourceRecord>| {
                    let samples: Vec<_> =
                        batch.into_iter().filter_map(|r| names.learn(r)).collect();
                    let records: Vec<Record> = samples
                        .iter()
                        .filter_map(|s| {
                            Some(Record::Sample {
                                stream: &stream,
                                labels: names.get(s.series)?,
                                ts: s.ts,
                                value: s.value,
                            })
                        })
                        .collect();
                    write(&records);
                },
            );
        }
    }
    Ok(())
}

fn kind_name(connector: &SinkConnector) -> &'static str {
    match connector {
        SinkConnector::Console => "the console",
        SinkConnector::File(_) => "a file",
        SinkConnector::Timescale(_) => "TimescaleDB",
        SinkConnector::ClickHouse(_) => "ClickHouse",
        SinkConnector::Alertmanager(_) => "Alertmanager",
        SinkConnector::Kafka(_) => "Kafka",
    }
}

fn order_transitions(a: &Transition, b: &Transition) -> Ordering {
    (a.at, &a.rule, &a.group, a.kind).cmp(&(b.at, &b.rule, &b.group, b.kind))
}

fn order_windows(a: &WindowResult, b: &WindowResult) -> Ordering {
    (a.end, &a.labels).cmp(&(b.end, &b.labels))
}

/// Series labels before samples, samples in time order.
fn order_source_records(a: &SourceRecord, b: &SourceRecord) -> Ordering {
    let key = |r: &SourceRecord| match r {
        SourceRecord::Series(id, _) => (0, 0, *id),
        SourceRecord::Sample(s) => (1, s.ts, s.series),
    };
    key(a).cmp(&key(b))
}

/// Collects a stream on worker 0 and hands `write` each event time's records, sorted, once the
/// frontier has passed that time.
fn sorted_sink<'s, D: ExchangeData + Clone>(
    stream: Stream<'s, u64, Vec<D>>,
    name: &str,
    order: fn(&D, &D) -> Ordering,
    mut write: impl FnMut(Vec<D>) + 'static,
) {
    let mut pending: BTreeMap<u64, Vec<D>> = BTreeMap::new();
    stream.sink(Exchange::new(|_: &D| 0), name, move |(input, frontier)| {
        input.for_each(|capability, batch| {
            if let Some(&time) = capability.least() {
                pending.entry(time).or_default().append(batch);
            }
        });
        while let Some(entry) = pending.first_entry() {
            if frontier.less_equal(entry.key()) {
                break;
            }
            let mut batch = entry.remove();
            batch.sort_by(order);
            write(batch);
        }
    });
}
