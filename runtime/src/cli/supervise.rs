//! `pipectl run --local-processes N`: starts N processes of one timely cluster on this machine
//! and watches them. A timely cluster cannot lose a process and go on, so when one dies the
//! others are stopped too (SIGTERM, then SIGKILL), and all start again, resuming from the
//! offsets their sources committed. Ctrl-C stops them all cleanly.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::run::{RunArgs, print_summary, stop_on_ctrl_c};

/// How long stopped processes may take to finish before they are killed.
const GRACE: Duration = Duration::from_secs(10);

/// The longest wait between restarts; the wait doubles from a second after each quick failure.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A cluster that ran this long before failing is restarted at once.
const HEALTHY_FOR: Duration = Duration::from_secs(60);

/// Runs `file` as `processes` supervised processes; false when they could not be started or the
/// run failed for good.
pub fn run(file: &Path, processes: usize, args: &RunArgs) -> bool {
    let stop = stop_on_ctrl_c();
    let summaries = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: cannot make a directory for the processes' summaries: {error}");
            return false;
        }
    };
    let mut backoff = Duration::from_secs(1);
    let mut starts = 0;
    loop {
        starts += 1;
        let started = Instant::now();
        let mut children = match start(file, processes, args, summaries.path()) {
            Ok(children) => children,
            Err(error) => {
                eprintln!("error: cannot start the processes: {error}");
                return false;
            }
        };
        tracing::info!(
            processes,
            pids = ?children.iter().map(Child::id).collect::<Vec<_>>(),
            "started the cluster (start {starts})"
        );
        let failed = watch(&mut children, &stop);
        if !failed || stop.load(Ordering::SeqCst) {
            let summary = combined(summaries.path(), processes);
            print_summary(&summary, args.json);
            return !failed;
        }
        if started.elapsed() >= HEALTHY_FOR {
            backoff = Duration::from_secs(1);
        }
        tracing::warn!(
            "restarting the cluster in {} s, from committed offsets",
            backoff.as_secs()
        );
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Starts every process of the cluster on fresh ports.
fn start(
    file: &Path,
    processes: usize,
    args: &RunArgs,
    summaries: &Path,
) -> anyhow::Result<Vec<Child>> {
    let addresses = free_addresses(processes)?.join(",");
    let program = std::env::current_exe()?;
    (0..processes)
        .map(|process| {
            let mut command = Command::new(&program);
            // A group of their own: Ctrl-C at a terminal reaches the supervisor alone, which
            // stops each process once.
            command.process_group(0);
            command
                .arg("run")
                .arg(file)
                .args(["--workers", &args.workers.to_string()])
                .args(["--process", &process.to_string()])
                .args(["--addresses", &addresses])
                .arg("--summary-to")
                .arg(summary_path(summaries, process));
            if let Some(run_for) = args.run_for {
                command.args(["--for", &format!("{run_for}ms")]);
            }
            // Process 0 serves the control API; its worker 0 applies deploys for all.
            if let Some(control) = args.control.as_ref().filter(|_| process == 0) {
                command.args(["--control", &control.address.to_string()]);
                if let Some(token) = &control.token {
                    command.env("PIPE_TOKEN", token);
                }
            }
            Ok(command.spawn()?)
        })
        .collect()
}

fn summary_path(dir: &Path, process: usize) -> PathBuf {
    dir.join(format!("process-{process}.json"))
}

/// Ports free now on 127.0.0.1 for each process.
fn free_addresses(processes: usize) -> std::io::Result<Vec<String>> {
    let listeners: Vec<TcpListener> = (0..processes)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?.to_string()))
        .collect()
}

/// Waits until every process has exited; stops them all when one fails or Ctrl-C is pressed.
/// True when a process failed.
fn watch(children: &mut [Child], stop: &std::sync::atomic::AtomicBool) -> bool {
    let mut exited: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let mut stopping = false;
    let mut failed = false;
    let mut stopped_at = Instant::now();
    while exited.iter().any(Option::is_none) {
        for (at, child) in children.iter_mut().enumerate() {
            if exited[at].is_some() {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                if !status.success() && !stopping {
                    tracing::warn!(process = at, "process {} ended: {status}", child.id());
                    failed = true;
                }
                exited[at] = Some(status);
            }
        }
        if !stopping && (failed || stop.load(Ordering::SeqCst)) {
            stopping = true;
            stopped_at = Instant::now();
            signal(children, &exited, Signal::SIGTERM);
        }
        if stopping && stopped_at.elapsed() >= GRACE {
            signal(children, &exited, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    failed
}

fn signal(children: &[Child], exited: &[Option<ExitStatus>], signal: Signal) {
    for (child, status) in children.iter().zip(exited) {
        if status.is_none() {
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
        }
    }
}

/// The processes' summaries added up.
fn combined(dir: &Path, processes: usize) -> serde_json::Value {
    let mut total = serde_json::json!({
        "ending": "finished",
        "seconds": 0.0,
        "samples": 0,
        "series": 0,
        "windows": 0,
        "transitions": 0,
        "dead_letters": 0,
        "dead_letters_by_reason": {},
        "cpu_seconds": 0.0,
        "peak_rss_bytes": 0,
        "processes": processes,
    });
    for process in 0..processes {
        let Ok(text) = std::fs::read_to_string(summary_path(dir, process)) else {
            continue;
        };
        let Ok(summary) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if summary["ending"] != "finished" {
            total["ending"] = summary["ending"].clone();
        }
        let seconds = summary["seconds"].as_f64().unwrap_or(0.0);
        total["seconds"] = total["seconds"].as_f64().unwrap_or(0.0).max(seconds).into();
        for key in [
            "samples",
            "series",
            "windows",
            "transitions",
            "dead_letters",
            "peak_rss_bytes",
        ] {
            let sum = total[key].as_u64().unwrap_or(0) + summary[key].as_u64().unwrap_or(0);
            total[key] = sum.into();
        }
        let cpu = total["cpu_seconds"].as_f64().unwrap_or(0.0);
        total["cpu_seconds"] = (cpu + summary["cpu_seconds"].as_f64().unwrap_or(0.0)).into();
        if let Some(reasons) = summary["dead_letters_by_reason"].as_object() {
            for (reason, count) in reasons {
                let sum = total["dead_letters_by_reason"][reason]
                    .as_u64()
                    .unwrap_or(0)
                    + count.as_u64().unwrap_or(0);
                total["dead_letters_by_reason"][reason] = sum.into();
            }
        }
    }
    total
}
