//! The process's figures in Prometheus's exposition format, through prometheus-client: read
//! from the pipeline's telemetry and progress at each scrape, so that nothing on the hot path
//! does more than it did.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use pipe_dataflow::telemetry::Telemetry;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::pipeline::Progress;

/// Labels of a family of one label.
type Label = Vec<(&'static str, String)>;

/// The registry and the metrics it holds, set from the pipeline's figures at each scrape.
pub struct Metrics {
    registry: Registry,
    samples: Counter,
    windows: Counter,
    transitions: Counter,
    series: Gauge,
    open_windows: Gauge,
    firing: Gauge,
    state_bytes: Family<Label, Gauge>,
    event_time: Gauge<f64, std::sync::atomic::AtomicU64>,
    dead_letters: Family<Label, Counter>,
    sinks_waiting: Family<Label, Gauge>,
    resident: Gauge,
    telemetry: Arc<Telemetry>,
    progress: Arc<Progress>,
}

impl Metrics {
    /// The metrics of one running pipeline.
    pub fn new(telemetry: Arc<Telemetry>, progress: Arc<Progress>) -> Self {
        let mut registry = Registry::default();
        let samples = Counter::default();
        let windows = Counter::default();
        let transitions = Counter::default();
        let series = Gauge::default();
        let open_windows = Gauge::default();
        let firing = Gauge::default();
        let state_bytes = Family::<Label, Gauge>::default();
        let event_time = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let dead_letters = Family::<Label, Counter>::default();
        let sinks_waiting = Family::<Label, Gauge>::default();
        let resident = Gauge::default();
        registry.register("pipe_samples", "Samples taken in", samples.clone());
        registry.register("pipe_windows", "Rollup windows closed", windows.clone());
        registry.register(
            "pipe_alert_transitions",
            "Alert transitions (pending, firing, resolved, cancelled)",
            transitions.clone(),
        );
        registry.register("pipe_series", "Series known", series.clone());
        registry.register(
            "pipe_open_windows",
            "Rollup windows open",
            open_windows.clone(),
        );
        registry.register("pipe_alerts_firing", "Alerts firing", firing.clone());
        registry.register(
            "pipe_state_bytes",
            "Bytes of state kept, by kind (rollup, alert)",
            state_bytes.clone(),
        );
        registry.register(
            "pipe_event_time_seconds",
            "The lowest source watermark, in seconds since the epoch",
            event_time.clone(),
        );
        registry.register(
            "pipe_dead_letters",
            "Messages refused, by reason (late samples among them)",
            dead_letters.clone(),
        );
        registry.register(
            "pipe_sink_waiting",
            "1 while a sink waits for its store",
            sinks_waiting.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            resident.clone(),
        );
        Metrics {
            registry,
            samples,
            windows,
            transitions,
            series,
            open_windows,
            firing,
            state_bytes,
            event_time,
            dead_letters,
            sinks_waiting,
            resident,
            telemetry,
            progress,
        }
    }

    /// The exposition text, with the figures of now.
    pub fn render(&self) -> String {
        let figures = self.telemetry.snapshot();
        self.samples
            .inner()
            .store(figures.samples, Ordering::Relaxed);
        self.windows
            .inner()
            .store(figures.windows_emitted, Ordering::Relaxed);
        self.transitions
            .inner()
            .store(figures.transitions, Ordering::Relaxed);
        self.series.set(figures.series as i64);
        self.open_windows.set(figures.open_windows as i64);
        self.firing.set(figures.firing as i64);
        for (kind, bytes) in [
            ("rollup", figures.rollup_state_bytes),
            ("alert", figures.alert_state_bytes),
        ] {
            self.state_bytes
                .get_or_create(&vec![("kind", kind.to_string())])
                .set(bytes as i64);
        }
        let watermark = self.progress.watermark.load(Ordering::Relaxed);
        self.event_time.set(watermark as f64 / 1000.0);
        for (reason, count) in self.progress.sources.dead_letters.all() {
            self.dead_letters
                .get_or_create(&vec![("reason", reason.name().to_string())])
                .inner()
                .store(count, Ordering::Relaxed);
        }
        self.sinks_waiting.clear();
        for what in self.progress.sinks.waiting() {
            // `sink `hot`` as `hot`.
            let name = what
                .strip_prefix("sink `")
                .and_then(|rest| rest.strip_suffix('`'))
                .unwrap_or(&what);
            self.sinks_waiting
                .get_or_create(&vec![("sink", name.to_string())])
                .set(1);
        }
        self.resident.set(resident_bytes() as i64);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The process's resident memory, from /proc (0 where there is none).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
