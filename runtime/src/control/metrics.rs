//! The process's figures in Prometheus's exposition format, through prometheus-client: read
//! from the pipeline's telemetry and progress at each scrape, so that nothing on the hot path
//! does more than it did.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    late: Counter,
    lag: Family<Label, Gauge>,
    durable_time: Family<Label, Gauge<f64, AtomicU64>>,
    durable_lag: Family<Label, Gauge<f64, AtomicU64>>,
    version: Gauge,
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
        let late = Counter::default();
        let lag = Family::<Label, Gauge>::default();
        let durable_time = Family::<Label, Gauge<f64, AtomicU64>>::default();
        let durable_lag = Family::<Label, Gauge<f64, AtomicU64>>::default();
        let version = Gauge::default();
        registry.register("pipe_samples", "Samples taken in", samples.clone());
        registry.register(
            "pipe_source_samples",
            "Samples taken in, by source",
            progress.source_samples.clone(),
        );
        registry.register(
            "pipe_late_samples",
            "Samples later than their source's lateness, sent to the dead-letter path",
            late.clone(),
        );
        registry.register(
            "pipe_kafka_consumer_lag",
            "Messages the broker holds past what the pipeline has read, by source, topic and partition",
            lag.clone(),
        );
        registry.register(
            "pipe_sink_records",
            "Records handed to each sink",
            progress.sink_meters.records.clone(),
        );
        registry.register(
            "pipe_sink_durable_event_time_seconds",
            "The event time before which a sink's output is durable, in seconds since the epoch",
            durable_time.clone(),
        );
        registry.register(
            "pipe_sink_durable_lag_seconds",
            "How far a sink's durable frontier is behind the wall clock",
            durable_lag.clone(),
        );
        registry.register(
            "pipe_end_to_end_latency_seconds",
            "From an event time to the moment a sink's output before it was durable, each time the frontier moved",
            progress.sink_meters.latency.clone(),
        );
        registry.register(
            "pipe_alert_delay_seconds",
            "From the input passing an alert step to its transitions leaving the dataflow",
            progress.alert_delay.0.clone(),
        );
        registry.register(
            "pipe_plan_version",
            "The running plan's version: 1 at start, one more per deploy",
            version.clone(),
        );
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
            late,
            lag,
            durable_time,
            durable_lag,
            version,
            telemetry,
            progress,
        }
    }

    /// The exposition text, with the figures of now and the running plan's `version`.
    pub fn render(&self, version: u64) -> String {
        self.version.set(version as i64);
        let figures = self.telemetry.snapshot();
        let added = self.progress.additions.snapshot();
        self.samples
            .inner()
            .store(figures.samples, Ordering::Relaxed);
        self.windows.inner().store(
            figures.windows_emitted + added.windows_emitted,
            Ordering::Relaxed,
        );
        self.transitions
            .inner()
            .store(figures.transitions, Ordering::Relaxed);
        self.series.set(figures.series as i64);
        self.open_windows
            .set((figures.open_windows + added.open_windows) as i64);
        self.firing.set(figures.firing as i64);
        for (kind, bytes) in [
            (
                "rollup",
                figures.rollup_state_bytes + added.rollup_state_bytes,
            ),
            ("alert", figures.alert_state_bytes),
        ] {
            self.state_bytes
                .get_or_create(&vec![("kind", kind.to_string())])
                .set(bytes as i64);
        }
        let watermark = self.progress.watermark.load(Ordering::Relaxed);
        self.event_time.set(watermark as f64 / 1000.0);
        for ((source, topic, partition), lag) in self.progress.sources.lag.all() {
            let labels = vec![
                ("source", source),
                ("topic", topic),
                ("partition", partition.to_string()),
            ];
            self.lag.get_or_create(&labels).set(lag);
        }
        let now = crate::time::now_millis();
        for (sink, meter) in self.progress.sink_meters.all() {
            let label = vec![("sink", sink)];
            if let Some(durable) = meter.durable() {
                self.durable_time
                    .get_or_create(&label)
                    .set(durable as f64 / 1000.0);
                self.durable_lag
                    .get_or_create(&label)
                    .set(now.saturating_sub(durable) as f64 / 1000.0);
            }
        }
        for (reason, count) in self.progress.sources.dead_letters.all() {
            if reason == crate::sources::decode::Reason::Late {
                self.late.inner().store(count, Ordering::Relaxed);
            }
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
        self.resident.set(crate::usage::resident_bytes() as i64);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
