//! `pipectl bench`: runs a pipeline with its generators at full speed and its sinks replaced by
//! nothing, and reports throughput, memory, state per series and alert delay; `pipectl bench
//! storage` reports what `crate::storage_bench` measures.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipe_dataflow::telemetry::{Snapshot, Telemetry};
use pipe_dsl::Plan;
use pipe_dsl::diagnostics::Style;
use pipe_dsl::plan::{Pace, SourceConnector};

use super::report;
use crate::pipeline::{self, AlertDelays, Observer, Progress, RunOptions};
use crate::sinks::Console;
use crate::status::thousands;

/// The plan as benchmarked: generators at full speed, no sinks (outputs are consumed and
/// dropped).
fn benchmarked(mut plan: Plan) -> Plan {
    for source in &mut plan.sources {
        if let SourceConnector::Generator(generator) = &mut source.connector {
            generator.pace = Pace::Max;
        }
    }
    plan.sinks.clear();
    plan
}

/// How long to measure, after how long a warm-up, with how many workers.
#[derive(Debug, Clone, Copy)]
pub struct BenchArgs {
    /// Worker threads.
    pub workers: usize,
    /// Seconds measured.
    pub seconds: u64,
    /// Seconds run before measuring (building, first windows).
    pub warmup: u64,
    /// Print JSON instead of text.
    pub json: bool,
}

/// Benchmarks one pipeline file; false when it is invalid or the run failed.
pub fn bench(path: &Path, args: BenchArgs, style: Style) -> bool {
    let Some(plan) = report::plan(path, style) else {
        return false;
    };
    let plan = benchmarked(plan);
    let telemetry = Telemetry::new();
    let recorded: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let delays = {
        let recorded = Arc::clone(&recorded);
        let step = plan
            .sources
            .first()
            .map_or(0, |source| source.step.millis());
        Arc::new(AlertDelays::new(step, move |delay| {
            recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(delay);
        }))
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (warmup, measured) = (
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.seconds),
    );
    let timer = {
        let (telemetry, stop) = (Arc::clone(&telemetry), Arc::clone(&stop));
        std::thread::spawn(move || {
            std::thread::sleep(warmup);
            let start = (Instant::now(), telemetry.snapshot());
            // State grows and shrinks as windows open and close: keep the largest seen.
            let mut peak = start.1;
            while start.0.elapsed() < measured {
                std::thread::sleep(Duration::from_millis(100));
                let now = telemetry.snapshot();
                peak.rollup_state_bytes = peak.rollup_state_bytes.max(now.rollup_state_bytes);
                peak.alert_state_bytes = peak.alert_state_bytes.max(now.alert_state_bytes);
            }
            let mut end = telemetry.snapshot();
            end.rollup_state_bytes = peak.rollup_state_bytes.max(end.rollup_state_bytes);
            end.alert_state_bytes = peak.alert_state_bytes.max(end.alert_state_bytes);
            stop.store(true, Ordering::SeqCst);
            (start, (Instant::now(), end))
        })
    };
    let options = RunOptions {
        workers: args.workers,
        cluster: None,
        run_for: None,
        stop,
        console: Console::stdout(None),
        observer: Some(Arc::clone(&delays) as Arc<dyn Observer>),
        sources: Default::default(),
        rule_links: Default::default(),
        deploys: None,
    };
    if let Err(error) = pipeline::run(
        plan,
        Arc::clone(&telemetry),
        Arc::new(Progress::default()),
        options,
    ) {
        eprintln!("error: {error:#}");
        return false;
    }
    let ((started, first), (ended, last)) = timer.join().expect("the timer thread does not panic");
    let report = Report::new(
        args,
        ended - started,
        first,
        last,
        crate::usage::peak_resident_bytes(),
        std::mem::take(&mut *recorded.lock().unwrap_or_else(|p| p.into_inner())),
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.json()).expect("a report serialises")
        );
    } else {
        print!("{}", report.text(path));
    }
    true
}

/// The measured figures.
struct Report {
    args: BenchArgs,
    elapsed: Duration,
    samples: u64,
    end: Snapshot,
    peak_rss: Option<u64>,
    delays: Vec<Duration>,
}

impl Report {
    fn new(
        args: BenchArgs,
        elapsed: Duration,
        first: Snapshot,
        end: Snapshot,
        peak_rss: Option<u64>,
        mut delays: Vec<Duration>,
    ) -> Report {
        delays.sort();
        Report {
            args,
            elapsed,
            samples: end.samples - first.samples,
            end,
            peak_rss,
            delays,
        }
    }

    fn per_worker(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64() / self.args.workers as f64
    }

    fn percentile(&self, p: f64) -> Option<Duration> {
        if self.delays.is_empty() {
            return None;
        }
        let rank = ((p * self.delays.len() as f64).ceil() as usize).clamp(1, self.delays.len());
        Some(self.delays[rank - 1])
    }

    fn bytes_per_series(&self, bytes: u64) -> u64 {
        bytes / self.end.series.max(1)
    }

    fn text(&self, path: &Path) -> String {
        let millis = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| {
                format!("{:.1} ms", d.as_secs_f64() * 1000.0)
            })
        };
        format!(
            "pipectl bench {} ({} worker{}, {:.1} s measured after {} s warm-up)\n\
             \x20 throughput      {} samples/s per worker ({} samples/s in all)\n\
             \x20 series          {} active\n\
             \x20 rollup state    {} bytes per active series at most ({:.1} MB)\n\
             \x20 alert state     {} bytes per active series at most ({:.1} MB)\n\
             \x20 peak memory     {}\n\
             \x20 alert delay     p50 {}, p95 {}, p99 {} over {} steps\n\
             \x20 output          {} closed windows, {} alert transitions\n",
            path.display(),
            self.args.workers,
            if self.args.workers == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64(),
            self.args.warmup,
            thousands(self.per_worker() as u64),
            thousands((self.per_worker() * self.args.workers as f64) as u64),
            thousands(self.end.series),
            self.bytes_per_series(self.end.rollup_state_bytes),
            self.end.rollup_state_bytes as f64 / 1e6,
            self.bytes_per_series(self.end.alert_state_bytes),
            self.end.alert_state_bytes as f64 / 1e6,
            self.peak_rss
                .map_or("-".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            millis(self.percentile(0.5)),
            millis(self.percentile(0.95)),
            millis(self.percentile(0.99)),
            self.delays.len(),
            thousands(self.end.windows_emitted),
            thousands(self.end.transitions),
        )
    }

    fn json(&self) -> serde_json::Value {
        let millis = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        serde_json::json!({
            "workers": self.args.workers,
            "seconds": self.elapsed.as_secs_f64(),
            "samples": self.samples,
            "samples_per_second_per_worker": self.per_worker(),
            "series": self.end.series,
            "rollup_state_bytes_per_series": self.bytes_per_series(self.end.rollup_state_bytes),
            "alert_state_bytes_per_series": self.bytes_per_series(self.end.alert_state_bytes),
            "peak_rss_bytes": self.peak_rss,
            "alert_delay_ms": { "p50": millis(self.percentile(0.5)), "p95": millis(self.percentile(0.95)), "p99": millis(self.percentile(0.99)), "steps": self.delays.len() },
            "windows": self.end.windows_emitted,
            "transitions": self.end.transitions,
        })
    }
}

/// Runs the storage bench and prints its figures; false when it could not run.
pub fn storage(options: &crate::storage_bench::Options, json: bool) -> bool {
    match crate::storage_bench::run(options) {
        Ok(report) if json => match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                println!("{text}");
                true
            }
            Err(error) => {
                eprintln!("error: {error}");
                false
            }
        },
        Ok(report) => {
            print!("{}", report.text());
            true
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            false
        }
    }
}
