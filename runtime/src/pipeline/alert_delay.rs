//! Alert delay: from the moment the input passed an alert step (every sample before it was
//! in) to the moment every worker had evaluated that step and its transitions left the
//! dataflow. Watched on worker 0 through [`Observer`]; `pipectl bench` keeps every delay,
//! `pipectl run` puts them in a histogram of `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Observer;

/// Boundaries passed and not yet evaluated, and where each delay goes.
pub struct AlertDelays<F> {
    passed: Mutex<BTreeMap<u64, Instant>>,
    step: AtomicU64,
    record: F,
}

impl<F: Fn(Duration) + Send + Sync> AlertDelays<F> {
    /// Delays of steps `step` milliseconds apart, each given to `record`.
    pub fn new(step: u64, record: F) -> Self {
        AlertDelays {
            passed: Mutex::default(),
            step: AtomicU64::new(step),
            record,
        }
    }
}

impl<F: Fn(Duration) + Send + Sync> Observer for AlertDelays<F> {
    /// The first move, from time 0 to the source's start, passes no step that data could
    /// reach. A boundary is passed once the input is past it: `[from, to)`.
    fn input_advanced(&self, from: u64, to: u64) {
        let step = self.step.load(Ordering::Relaxed);
        if step == 0 || from == 0 || to <= from {
            return;
        }
        let now = Instant::now();
        let mut passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        let mut boundary = from.div_ceil(step) * step;
        while boundary < to {
            passed.entry(boundary).or_insert(now);
            boundary += step;
        }
    }

    fn alerts_passed(&self, frontier: Option<u64>) {
        let now = Instant::now();
        let mut passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(entry) = passed.first_entry() {
            if frontier.is_some_and(|f| *entry.key() >= f) {
                break;
            }
            (self.record)(now - entry.remove());
        }
    }
}

/// Alert delays in seconds, in buckets from 5 ms to 10 s.
#[derive(Debug, Clone)]
pub struct DelayHistogram(pub prometheus_client::metrics::histogram::Histogram);

impl Default for DelayHistogram {
    fn default() -> Self {
        DelayHistogram(prometheus_client::metrics::histogram::Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]))
    }
}
