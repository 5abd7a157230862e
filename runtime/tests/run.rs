//! `pipectl run` on the quickstart pipeline: alerts on the console, closed windows in the file,
//! and a clean stop on Ctrl-C that leaves only whole lines behind.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Running;

/// The quickstart pipeline, run from a scratch directory so that its `out/` lands there.
fn quickstart_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/quickstart.pipe");
    std::fs::copy(source, dir.path().join("quickstart.pipe")).unwrap();
    dir
}

fn pipectl(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(["run", "quickstart.pipe"])
        .args(args);
    command
}

/// The whole lines of the rollup file; a run may be writing the last one.
fn windows(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out/metrics_1m.jsonl"))
        .unwrap_or_default()
        .split_inclusive('\n')
        .filter_map(|line| line.strip_suffix('\n'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn the_quickstart_pages_high_cpu_and_writes_whole_minute_windows() {
    let dir = quickstart_dir();
    // Ten minutes of event time: the history the quickstart replays before following the clock.
    let output = pipectl(dir.path(), &["--for", "10m"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("finished: "), "{stderr}");

    let stdout = String::from_utf8(output.stdout).unwrap();
    let firing: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("FIRING") && line.contains("HighCpu"))
        .collect();
    assert!(
        !firing.is_empty(),
        "no firing HighCpu on the console:\n{stdout}"
    );
    for line in &firing {
        assert!(line.contains("host=host-"), "the group is shown: {line}");
        assert!(line.contains("value=9"), "the value is above 90: {line}");
        assert!(
            line.contains("CPU on host-"),
            "the summary is filled in: {line}"
        );
    }

    let windows = windows(dir.path());
    // 1000 hosts x 50 metrics x 10 whole minutes, less the hosts that fall silent.
    assert!(
        windows.len() > 490_000 && windows.len() <= 500_000,
        "{}",
        windows.len()
    );
    let mut starts = std::collections::BTreeSet::new();
    for window in &windows {
        starts.insert(window["start"].as_str().unwrap().to_string());
        let count = window["count"].as_u64().unwrap();
        let host = window["labels"]["host"].as_str().unwrap();
        if host.ends_with("42") {
            assert!(
                (1..=4).contains(&count),
                "a host that falls silent: {window}"
            );
        } else {
            assert_eq!(
                count, 4,
                "a 15 s series has four samples a minute: {window}"
            );
        }
        let (min, max, avg) = (
            window["min"].as_f64().unwrap(),
            window["max"].as_f64().unwrap(),
            window["avg"].as_f64().unwrap(),
        );
        let sum = window["sum"].as_f64().unwrap();
        assert!(min <= avg && avg <= max, "{window}");
        let mean = sum / count as f64;
        assert!((mean - avg).abs() <= 1e-9 * avg.abs().max(1.0), "{window}");
        let p95 = window["p95"].as_f64().unwrap();
        assert!(min <= p95 && p95 <= max, "{window}");
    }
    assert_eq!(starts.len(), 10, "ten minutes: {starts:?}");
}

#[test]
fn ctrl_c_stops_the_quickstart_cleanly_after_flushing() {
    let dir = quickstart_dir();
    let mut running = Running::new(
        pipectl(dir.path(), &[])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = running.child();
    // The replayed history closes windows at once; then the run follows the clock.
    let deadline = Instant::now() + Duration::from_secs(120);
    while windows(dir.path()).len() < 1000 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "pipectl exited before Ctrl-C"
        );
        assert!(
            Instant::now() < deadline,
            "no closed windows after two minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("pipectl did not stop within a minute of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = running.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("stopped: "), "{stderr}");
    let written = std::fs::read_to_string(dir.path().join("out/metrics_1m.jsonl")).unwrap();
    assert!(written.ends_with('\n'), "the file ends on a whole line");
    assert_eq!(written.lines().count(), windows(dir.path()).len());
}
