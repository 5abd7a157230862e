//! Counters and gauges the operators publish for `pipectl run`'s status line, `pipectl bench` and
//! the self-metrics: plain atomics, written by each operator, summed on read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Every operator's figures, for one process.
#[derive(Debug, Default)]
pub struct Telemetry {
    slots: Mutex<Vec<Arc<Slot>>>,
}

#[derive(Debug, Default)]
struct Slot {
    samples: AtomicU64,
    series: AtomicU64,
    open_windows: AtomicU64,
    rollup_state_bytes: AtomicU64,
    alert_state_bytes: AtomicU64,
    windows_emitted: AtomicU64,
    transitions: AtomicU64,
    firing: AtomicU64,
}

/// The figures of one process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Samples taken by the series stages since start.
    pub samples: u64,
    /// Series known.
    pub series: u64,
    /// Windows open.
    pub open_windows: u64,
    /// Bytes of rollup state: series slots, open windows of every rollup.
    pub rollup_state_bytes: u64,
    /// Bytes of alert step partials.
    pub alert_state_bytes: u64,
    /// Closed windows emitted since start.
    pub windows_emitted: u64,
    /// Alert transitions emitted since start.
    pub transitions: u64,
    /// Alerts firing now.
    pub firing: u64,
}

impl Telemetry {
    /// A shared, empty set of figures.
    pub fn new() -> Arc<Telemetry> {
        Arc::new(Telemetry::default())
    }

    /// The sum over every operator.
    pub fn snapshot(&self) -> Snapshot {
        let slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let sum = |field: fn(&Slot) -> &AtomicU64| -> u64 {
            slots
                .iter()
                .map(|slot| field(slot).load(Ordering::Relaxed))
                .sum()
        };
        Snapshot {
            samples: sum(|s| &s.samples),
            series: sum(|s| &s.series),
            open_windows: sum(|s| &s.open_windows),
            rollup_state_bytes: sum(|s| &s.rollup_state_bytes),
            alert_state_bytes: sum(|s| &s.alert_state_bytes),
            windows_emitted: sum(|s| &s.windows_emitted),
            transitions: sum(|s| &s.transitions),
            firing: sum(|s| &s.firing),
        }
    }
}

/// One operator's figures.
#[derive(Debug, Clone)]
pub struct WorkerGauges {
    slot: Arc<Slot>,
}

impl WorkerGauges {
    /// A new operator's figures, added to `telemetry`.
    pub fn new(telemetry: &Telemetry) -> Self {
        let slot = Arc::new(Slot::default());
        telemetry
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::clone(&slot));
        WorkerGauges { slot }
    }

    /// Samples a series stage took.
    pub fn record_samples(&self, samples: u64) {
        self.slot.samples.fetch_add(samples, Ordering::Relaxed);
    }

    /// A series stage's sizes.
    pub fn record_stage(
        &self,
        series: usize,
        open_windows: usize,
        rollup_bytes: usize,
        alert_bytes: usize,
    ) {
        self.slot.series.store(series as u64, Ordering::Relaxed);
        self.slot
            .open_windows
            .store(open_windows as u64, Ordering::Relaxed);
        self.slot
            .rollup_state_bytes
            .store(rollup_bytes as u64, Ordering::Relaxed);
        self.slot
            .alert_state_bytes
            .store(alert_bytes as u64, Ordering::Relaxed);
    }

    /// A cascade's figures after one activation.
    pub fn record_cascade(&self, open_windows: usize, rollup_bytes: usize) {
        self.slot
            .open_windows
            .store(open_windows as u64, Ordering::Relaxed);
        self.slot
            .rollup_state_bytes
            .store(rollup_bytes as u64, Ordering::Relaxed);
    }

    /// Closed windows emitted.
    pub fn record_windows(&self, count: usize) {
        self.slot
            .windows_emitted
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    /// An evaluator's figures after one activation.
    pub fn record_alerts(&self, transitions: usize, firing: usize) {
        self.slot
            .transitions
            .fetch_add(transitions as u64, Ordering::Relaxed);
        self.slot.firing.store(firing as u64, Ordering::Relaxed);
    }
}
