//! What each sink has done, for `/metrics` and `pipectl status`: records written, the event
//! time before which its output is durable on each worker, and how far behind the wall clock
//! that durable frontier was each time it moved (the end-to-end latency from sample to store).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::time::now_millis;

/// Latency buckets, in seconds: live pipelines sit in the first few, replays in the last.
const LATENCY_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

/// One sink's figures in this process.
#[derive(Debug)]
pub struct SinkMeter {
    /// Records handed to the sink.
    pub records: Counter,
    /// Seconds from an event time to the moment output before it was durable.
    pub latency: Histogram,
    /// Each worker's durable frontier; a worker whose input ended has none.
    durable: Mutex<BTreeMap<usize, u64>>,
}

/// A metric family labelled by sink.
type BySink<M, C = fn() -> M> = Family<Vec<(&'static str, String)>, M, C>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl SinkMeter {
    /// Worker `worker`'s output before `frontier` is durable (`None`: all of it, for ever).
    /// The first move, from time 0 to where the sources start, measures nothing.
    pub fn durable_before(&self, worker: usize, frontier: Option<u64>) {
        let mut durable = self.durable.lock().unwrap_or_else(|p| p.into_inner());
        match frontier {
            Some(frontier) => {
                if durable.insert(worker, frontier).is_some() {
                    let behind = now_millis().saturating_sub(frontier);
                    self.latency.observe(behind as f64 / 1000.0);
                }
            }
            None => {
                durable.remove(&worker);
            }
        }
    }

    /// The event time before which the output of every worker of this process is durable.
    pub fn durable(&self) -> Option<u64> {
        let durable = self.durable.lock().unwrap_or_else(|p| p.into_inner());
        durable.values().min().copied()
    }
}

/// The sinks of this process, by name, and their counters and histograms as the metric
/// families `/metrics` registers.
#[derive(Debug)]
pub struct SinkMeters {
    sinks: Mutex<BTreeMap<String, Arc<SinkMeter>>>,
    /// Records handed to each sink.
    pub records: BySink<Counter>,
    /// Each sink's end-to-end latency.
    pub latency: BySink<Histogram>,
}

impl Default for SinkMeters {
    fn default() -> Self {
        SinkMeters {
            sinks: Mutex::default(),
            records: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl SinkMeters {
    /// The meter of the sink called `name`, made on first use.
    pub fn of(&self, name: &str) -> Arc<SinkMeter> {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        let label = vec![("sink", name.to_string())];
        Arc::clone(sinks.entry(name.to_string()).or_insert_with(|| {
            Arc::new(SinkMeter {
                records: self.records.get_or_create(&label).clone(),
                latency: self.latency.get_or_create(&label).clone(),
                durable: Mutex::default(),
            })
        }))
    }

    /// Every sink's meter.
    pub fn all(&self) -> Vec<(String, Arc<SinkMeter>)> {
        let sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        sinks
            .iter()
            .map(|(name, meter)| (name.clone(), Arc::clone(meter)))
            .collect()
    }
}
