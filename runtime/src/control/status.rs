//! `GET /api/v1/status`: what `pipectl status` shows of a running pipeline, as JSON.

use std::sync::atomic::Ordering;

use pipe_dataflow::telemetry::Telemetry;

use super::deploy::Version;
use crate::pipeline::Progress;
use crate::time::now_millis;

/// The running version and the pipeline's figures now.
pub fn report(version: &Version, telemetry: &Telemetry, progress: &Progress) -> serde_json::Value {
    let figures = telemetry.snapshot();
    let added = progress.additions.snapshot();
    let watermark = progress.watermark.load(Ordering::Relaxed);
    let dead_letters: serde_json::Map<String, serde_json::Value> = progress
        .sources
        .dead_letters
        .all()
        .map(|(reason, count)| (reason.name().to_string(), count.into()))
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
        "dead_letters": dead_letters,
        "sinks_waiting": progress.sinks.waiting(),
    })
}
