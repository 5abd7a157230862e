//! `GET /api/v1/status`: what `pipectl status` shows of a running pipeline, as JSON, with
//! rates over the last few seconds from [`Rates`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;

use pipe_dataflow::telemetry::Telemetry;
use pipe_dsl::Plan;

use super::deploy::Version;
use crate::pipeline::Progress;
use crate::time::now_millis;

/// Every source's samples and every sink's records so far, by `source NAME` and `sink NAME`.
fn totals(plan: &Plan, progress: &Progress) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for source in &plan.sources {
        let label = vec![("source", source.name.clone())];
        let samples = progress.source_samples.get_or_create(&label).get();
        totals.insert(format!("source {}", source.name), samples);
    }
    for (sink, meter) in progress.sink_meters.all() {
        totals.insert(format!("sink {sink}"), meter.records.get());
    }
    totals
}

/// Readings kept: a minute of them, as a Prometheus `rate(…[1m])` sees it. Sources that follow
/// the clock send a burst per interval, so a shorter span would often see none.
const READINGS: usize = 13;

/// Per second, over the last minute of readings.
#[derive(Debug, Default)]
pub struct Rates {
    readings: Mutex<VecDeque<(Instant, BTreeMap<String, u64>)>>,
    rates: Mutex<BTreeMap<String, f64>>,
}

impl Rates {
    /// Takes a reading; the control listener does every five seconds.
    pub fn read(&self, plan: &Plan, progress: &Progress) {
        let now = Instant::now();
        let totals = totals(plan, progress);
        let mut readings = self.readings.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, before)) = readings.front() {
            let seconds = now.duration_since(*at).as_secs_f64().max(1e-3);
            let rates = totals
                .iter()
                .map(|(key, total)| {
                    let before = before.get(key).copied().unwrap_or(0);
                    (key.clone(), total.saturating_sub(before) as f64 / seconds)
                })
                .collect();
            *self.rates.lock().unwrap_or_else(|p| p.into_inner()) = rates;
        }
        readings.push_back((now, totals));
        if readings.len() > READINGS {
            readings.pop_front();
        }
    }

    fn of(&self, key: &str) -> f64 {
        let rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        rates.get(key).copied().unwrap_or(0.0)
    }
}

/// The running version and the pipeline's figures now.
pub fn report(
    version: &Version,
    plan: &Plan,
    telemetry: &Telemetry,
    progress: &Progress,
    rates: &Rates,
) -> serde_json::Value {
    let figures = telemetry.snapshot();
    let added = progress.additions.snapshot();
    let watermark = progress.watermark.load(Ordering::Relaxed);
    let dead_letters = progress.sources.dead_letters.by_name();
    let lags = progress.sources.lag.all();
    let totals = totals(plan, progress);
    let sources: Vec<serde_json::Value> = plan
        .sources
        .iter()
        .map(|source| {
            let key = format!("source {}", source.name);
            let partitions: Vec<i64> = lags
                .iter()
                .filter(|((name, _, _), _)| *name == source.name)
                .map(|(_, lag)| *lag)
                .collect();
            serde_json::json!({
                "name": source.name,
                "samples": totals.get(&key),
                "samples_per_second": rates.of(&key).round() as u64,
                "lag": (!partitions.is_empty()).then(|| partitions.iter().sum::<i64>()),
                "partitions": partitions.len(),
            })
        })
        .collect();
    let waiting = progress.sinks.waiting();
    let sinks: Vec<serde_json::Value> = progress
        .sink_meters
        .all()
        .into_iter()
        .map(|(name, meter)| {
            let key = format!("sink {name}");
            serde_json::json!({
                "records": meter.records.get(),
                "records_per_second": rates.of(&key).round() as u64,
                "durable_until": meter.durable(),
                "waiting": waiting.iter().any(|w| *w == format!("sink `{name}`")),
                "name": name,
            })
        })
        .collect();
    serde_json::json!({
        "version": version,
        "event_time": watermark,
        "event_time_behind_ms": now_millis().saturating_sub(watermark),
        "samples": figures.samples,
        "series": figures.series,
        "open_windows": figures.open_windows + added.open_windows,
        "windows": figures.windows_emitted + added.windows_emitted,
        "transitions": figures.transitions,
        "alerts": { "firing": figures.firing },
        "sources": sources,
        "sinks": sinks,
        "dead_letters": dead_letters,
    })
}
