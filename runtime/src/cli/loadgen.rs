//! `pipectl loadgen`: sends a simulated fleet's samples to a Kafka topic, shows progress, and
//! reports what the broker acknowledged, how fast and with what latency.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::loadgen::{self, Options, Rate, Snapshot, Totals};
use crate::status::thousands;

/// How often progress is logged when standard error is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// `--rate`: `max`, `realtime` or messages per second.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    match text {
        "max" => Ok(Rate::Max),
        "realtime" => Ok(Rate::Realtime),
        _ => match text.replace('_', "").parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Ok(Rate::PerSecond(n)),
            _ => Err(format!(
                "`{text}` is not a rate: `max`, `realtime` or messages per second such as `50000`"
            )),
        },
    }
}

/// Sends; false when it could not run.
pub fn run(options: &Options, json: bool) -> bool {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {percent:>3}% {msg} ({elapsed}, {per_sec:.0})")
                .expect("a valid template"),
        );
        bar
    });
    let mut logged = Instant::now();
    let show = |snapshot: Snapshot| match &bar {
        Some(bar) => {
            bar.set_length(snapshot.total);
            bar.set_position(snapshot.produced);
            bar.set_message(format!(
                "{} acknowledged, {} bad, {} errors",
                thousands(snapshot.sent),
                thousands(snapshot.bad),
                thousands(snapshot.errors)
            ));
        }
        None if logged.elapsed() >= LOG_EVERY => {
            logged = Instant::now();
            tracing::info!(
                "{} of {} messages sent, {} acknowledged ({} bad), {} errors",
                thousands(snapshot.produced),
                thousands(snapshot.total),
                thousands(snapshot.sent),
                thousands(snapshot.bad),
                thousands(snapshot.errors)
            );
        }
        None => {}
    };
    let result = loadgen::run(options, show);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(totals) => {
            if json {
                println!("{}", totals_json(options, &totals));
            } else {
                print!("{}", totals_text(options, &totals));
            }
            true
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            false
        }
    }
}

fn totals_text(options: &Options, totals: &Totals) -> String {
    let s = &totals.snapshot;
    let latency = totals.latency_ms;
    let mut text = format!(
        "pipectl loadgen → {} on {}\n\
         \x20 sent        {} messages ({} bad) in {:.1} s\n\
         \x20 errors      {} ({:.2}%)\n\
         \x20 ack latency mean {:.1} ms, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms\n\
         \x20 throughput  peak {} msg/s, mean {} msg/s\n\
         \x20 size        {:.1} bytes per message sent ({:.1} before compression)\n",
        options.topic,
        options.brokers,
        thousands(s.sent),
        thousands(s.bad),
        totals.elapsed.as_secs_f64(),
        thousands(s.errors),
        totals.error_rate() * 100.0,
        latency.mean,
        latency.p50,
        latency.p95,
        latency.p99,
        thousands(totals.peak_per_second),
        thousands(totals.mean_per_second() as u64),
        totals.wire_bytes_per_message,
        totals.message_bytes_per_message,
    );
    if let Some(error) = &totals.first_error {
        text.push_str(&format!("  first error {error}\n"));
    }
    text
}

fn totals_json(options: &Options, totals: &Totals) -> serde_json::Value {
    let s = &totals.snapshot;
    let latency = totals.latency_ms;
    let by_reason: serde_json::Map<String, serde_json::Value> = totals
        .bad_by_reason
        .iter()
        .map(|(reason, count)| (reason.name().to_string(), (*count).into()))
        .collect();
    serde_json::json!({
        "topic": options.topic,
        "sent": s.sent,
        "bad": s.bad,
        "bad_by_reason": by_reason,
        "errors": s.errors,
        "error_rate": totals.error_rate(),
        "seconds": totals.elapsed.as_secs_f64(),
        "ack_latency_ms": {
            "mean": latency.mean,
            "p50": latency.p50,
            "p95": latency.p95,
            "p99": latency.p99,
        },
        "peak_per_second": totals.peak_per_second,
        "mean_per_second": totals.mean_per_second(),
        "wire_bytes_per_message": totals.wire_bytes_per_message,
        "message_bytes_per_message": totals.message_bytes_per_message,
        "first_error": totals.first_error,
    })
}
