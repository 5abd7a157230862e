//! `pipectl run`: runs a pipeline with a live status line until its sources end or Ctrl-C.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use pipe_dataflow::telemetry::Telemetry;
use pipe_dsl::diagnostics::Style;

use super::report;
use crate::pipeline::{self, Cluster, Ending, Progress, RunOptions};
use crate::sinks::Console;
use crate::status::{Status, thousands};

/// How `pipectl run` was asked to run.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// Worker threads.
    pub workers: usize,
    /// Other processes.
    pub cluster: Option<Cluster>,
    /// Event time after which sources stop.
    pub run_for: Option<u64>,
}

/// Runs one pipeline file; false when it is invalid or the run failed.
pub fn run(path: &Path, args: RunArgs, style: Style) -> bool {
    let Some(plan) = report::plan(path, style) else {
        return false;
    };
    let stop = stop_on_ctrl_c();
    let telemetry = Telemetry::new();
    let progress = Arc::new(Progress::default());
    let status = Status::start(Arc::clone(&telemetry), Arc::clone(&progress));
    let started = Instant::now();
    tracing::info!(
        workers = args.workers,
        processes = args.cluster.as_ref().map_or(1, |c| c.addresses.len()),
        "running {}",
        path.display()
    );
    let options = RunOptions {
        workers: args.workers,
        cluster: args.cluster,
        run_for: args.run_for,
        stop: Arc::clone(&stop),
        console: Console::stdout(status.bar()),
        observer: None,
    };
    let result = pipeline::run(plan, Arc::clone(&telemetry), progress, options);
    status.finish();
    let figures = telemetry.snapshot();
    let summary = format!(
        "{} samples, {} closed windows, {} alert transitions in {:.1} s",
        thousands(figures.samples),
        thousands(figures.windows_emitted),
        thousands(figures.transitions),
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(Ending::Finished) => {
            eprintln!("finished: {summary}");
            true
        }
        Ok(Ending::Stopped) => {
            eprintln!("stopped: {summary}; windows still open were not written");
            true
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            false
        }
    }
}

/// A flag set by the first Ctrl-C or SIGTERM (what systemd and Kubernetes send); a second one
/// exits at once.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(error) = installed {
        tracing::warn!("Ctrl-C will not stop the run cleanly: {error}");
    }
    stop
}
