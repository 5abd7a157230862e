//! `pipectl run`: runs a pipeline with a live status line until its sources end or Ctrl-C, and
//! sums up what it did: in words on standard error, or as one JSON object, the last line on
//! standard output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use pipe_dataflow::telemetry::Telemetry;
use pipe_dsl::diagnostics::Style;

use super::report;
use crate::control::{Control, History};
use crate::pipeline::{
    self, AlertDelays, Cluster, Deploys, Ending, Observer, Progress, RunOptions,
};
use crate::sinks::Console;
use crate::sources::decode::Reason;
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
    /// Print the summary as JSON on standard output.
    pub json: bool,
    /// Write the JSON summary to this file as well (for a supervisor).
    pub summary_to: Option<PathBuf>,
    /// Serve the control API.
    pub control: Option<ControlArgs>,
}

/// Where the control API listens, and the token it requires.
#[derive(Debug, Clone)]
pub struct ControlArgs {
    /// The address.
    pub address: std::net::SocketAddr,
    /// The bearer token, when one is required.
    pub token: Option<String>,
}

/// Runs one pipeline file; false when it is invalid or the run failed.
pub fn run(path: &Path, args: RunArgs, style: Style) -> bool {
    let Some(source) = report::read(path) else {
        return false;
    };
    let Some(plan) = report::plan(path, style) else {
        return false;
    };
    let rule_links = rule_links(path, &plan);
    let stop = stop_on_ctrl_c();
    let telemetry = Telemetry::new();
    let progress = Arc::new(Progress::default());
    // Only the first process of a cluster serves the control API: its worker 0 applies deploys.
    let first_process = args.cluster.as_ref().is_none_or(|c| c.process == 0);
    let deploys = Arc::new(Deploys::default());
    let _control = match args.control.as_ref().filter(|_| first_process) {
        Some(control) => match Control::start(
            control.address,
            control.token.clone(),
            Arc::clone(&telemetry),
            Arc::clone(&progress),
            History::new(
                &path.display().to_string(),
                source,
                plan.clone(),
                Arc::clone(&deploys),
            ),
        ) {
            Ok(control) => Some(control),
            Err(error) => {
                eprintln!("error: {error:#}");
                return false;
            }
        },
        None => None,
    };
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
        cluster: args.cluster.clone(),
        run_for: args.run_for,
        stop: Arc::clone(&stop),
        console: Console::stdout(status.bar()),
        observer: alert_delays(&plan, &progress),
        sources: Default::default(),
        rule_links,
        deploys: args.control.is_some().then_some(deploys),
    };
    let result = pipeline::run(plan, Arc::clone(&telemetry), Arc::clone(&progress), options);
    status.finish();
    let summary = summary(&result, &telemetry, &progress, started);
    if let Some(file) = &args.summary_to
        && let Err(error) = std::fs::write(file, summary.to_string())
    {
        eprintln!(
            "error: cannot write the summary to `{}`: {error}",
            file.display()
        );
    }
    // A supervised process leaves its summary to the supervisor, which adds them up.
    if args.summary_to.is_none() {
        print_summary(&summary, args.json);
    }
    match result {
        Ok(_) => true,
        Err(error) => {
            eprintln!("error: {error:#}");
            false
        }
    }
}

/// Alert delays into the histogram `/metrics` shows, for the first source's steps.
fn alert_delays(plan: &pipe_dsl::Plan, progress: &Arc<Progress>) -> Option<Arc<dyn Observer>> {
    let step = plan.sources.first()?.step.millis();
    let histogram = progress.alert_delay.0.clone();
    Some(Arc::new(AlertDelays::new(step, move |delay| {
        histogram.observe(delay.as_secs_f64())
    })))
}

/// What a run did, as JSON.
fn summary(
    result: &anyhow::Result<Ending>,
    telemetry: &Telemetry,
    progress: &Progress,
    started: Instant,
) -> serde_json::Value {
    let figures = telemetry.snapshot();
    let dead_letters = progress.sources.dead_letters.by_name();
    serde_json::json!({
        "ending": match result {
            Ok(Ending::Finished) => "finished",
            Ok(Ending::Stopped) => "stopped",
            Err(_) => "failed",
        },
        "seconds": started.elapsed().as_secs_f64(),
        "samples": figures.samples,
        "series": figures.series,
        "windows": figures.windows_emitted,
        "transitions": figures.transitions,
        "dead_letters": progress.sources.dead_letters.total(),
        "dead_letters_by_reason": dead_letters,
        "cpu_seconds": crate::usage::cpu_seconds(),
        "peak_rss_bytes": crate::usage::peak_resident_bytes(),
    })
}

/// Prints a summary: as JSON on standard output, or in words on standard error.
pub fn print_summary(summary: &serde_json::Value, json: bool) {
    if json {
        println!("{summary}");
        return;
    }
    let count = |key: &str| thousands(summary[key].as_u64().unwrap_or(0));
    let refused: Vec<String> = Reason::ALL
        .iter()
        .filter_map(|reason| {
            let n = summary["dead_letters_by_reason"][reason.name()].as_u64()?;
            (n > 0).then(|| format!("{} {}", thousands(n), reason.name()))
        })
        .collect();
    let refused = if refused.is_empty() {
        String::new()
    } else {
        format!(
            ", {} dead letters ({})",
            count("dead_letters"),
            refused.join(", ")
        )
    };
    let line = format!(
        "{} samples, {} closed windows, {} alert transitions{refused} in {:.1} s",
        count("samples"),
        count("windows"),
        count("transitions"),
        summary["seconds"].as_f64().unwrap_or(0.0)
    );
    match summary["ending"].as_str() {
        Some("finished") => eprintln!("finished: {line}"),
        Some("stopped") => eprintln!("stopped: {line}; windows still open were not written"),
        _ => eprintln!("failed after {line}"),
    }
}

/// A flag set by the first Ctrl-C or SIGTERM (what systemd and Kubernetes send); another one
/// more than two seconds later exits at once. The same signal often arrives twice at once
/// (`timeout` sends it to the process and to its group): that is still a clean stop.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let mut first: Option<Instant> = None;
    let installed = ctrlc::set_handler(move || {
        flag.store(true, Ordering::SeqCst);
        match first {
            None => first = Some(Instant::now()),
            Some(at) if at.elapsed() > std::time::Duration::from_secs(2) => std::process::exit(130),
            Some(_) => {}
        }
    });
    if let Err(error) = installed {
        tracing::warn!("Ctrl-C will not stop the run cleanly: {error}");
    }
    stop
}

/// `file:///…/FILE.pipe#L12` for each alert rule of the file: the `generatorURL` of its alerts.
fn rule_links(path: &Path, plan: &pipe_dsl::Plan) -> std::collections::BTreeMap<String, String> {
    let source = std::fs::read_to_string(path).unwrap_or_default();
    let lines = pipe_dsl::span::LineIndex::new(&source);
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    plan.alerts
        .iter()
        .map(|rule| {
            let line = lines.line(rule.span.start);
            (
                rule.name.clone(),
                format!("file://{}#L{line}", absolute.display()),
            )
        })
        .collect()
}
