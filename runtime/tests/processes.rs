//! One worker, four workers in one process, and two processes of two workers write the same
//! files, byte for byte: rollups of every window shape, a cascade, and alert transitions.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{Running, free_port};

const PIPELINE: &str = r#"
source metrics from generator { hosts = 60, metrics = 12, interval = 15s, pace = max, seed = 7 }

rollup by_host from metrics {
  window = tumble(1m)
  by     = [metric_name, host]
  aggs   = [count, sum, min, max, avg, last, p50, p99, rate]
}
rollup by_service from metrics { window = hop(5m, 1m), by = [metric_name, service], aggs = [sum, p95, increase] }
rollup hourly from by_host { window = tumble(1h) }

alert HighCpu {
  when avg(cpu_usage_percent{environment="prod"}) over 5m by host > 90
  for 2m
  annotations { summary = "{{ host }} at {{ value }}%" }
}
alert ErrorRatio { when rate(http_errors_total) over 5m by service / rate(http_requests_total) over 5m by service > 0.05 }
alert HostSilent { when absent(heartbeat) over 1m by host, for 1m }

sink a to file { from = by_host, path = "out/by_host.jsonl" }
sink b to file { from = by_service, path = "out/by_service.jsonl" }
sink c to file { from = hourly, path = "out/hourly.jsonl" }
sink d to file { from = alerts, path = "out/alerts.jsonl" }
"#;

const FILES: [&str; 4] = ["by_host", "by_service", "hourly", "alerts"];

fn pipectl(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    command
        .current_dir(dir)
        .args(["--color", "never", "run", "pipeline.pipe", "--for", "2h"])
        .args(args);
    command
}

fn fresh_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.pipe"), PIPELINE).unwrap();
    dir
}

fn check(output: &Output) {
    assert!(
        output.status.success(),
        "pipectl failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn outputs(dir: &Path) -> Vec<(String, String)> {
    FILES
        .iter()
        .map(|name| {
            let path: PathBuf = dir.join("out").join(format!("{name}.jsonl"));
            (
                name.to_string(),
                std::fs::read_to_string(&path).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn one_worker_four_workers_and_two_processes_write_the_same_files() {
    let single = fresh_dir();
    check(
        &pipectl(single.path(), &["--workers", "1"])
            .output()
            .unwrap(),
    );
    let expected = outputs(single.path());
    let lines = |name: &str| {
        expected
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .lines()
            .count()
    };
    assert!(
        lines("by_host") > 50_000,
        "a real amount of output: {}",
        lines("by_host")
    );
    assert!(lines("hourly") >= 720, "every series has hourly windows");
    let alerts = &expected.iter().find(|(n, _)| n == "alerts").unwrap().1;
    for rule in ["HighCpu", "ErrorRatio", "HostSilent"] {
        let fired = alerts.lines().any(|line| {
            line.contains(&format!("\"rule\":\"{rule}\"")) && line.contains("\"state\":\"firing\"")
        });
        assert!(fired, "{rule} never fired");
    }

    let threads = fresh_dir();
    check(
        &pipectl(threads.path(), &["--workers", "4"])
            .output()
            .unwrap(),
    );
    assert!(
        outputs(threads.path()) == expected,
        "four workers wrote different files"
    );

    let cluster = fresh_dir();
    let addresses = format!("127.0.0.1:{},127.0.0.1:{}", free_port(), free_port());
    let spawn = |process: &str| -> Running {
        pipectl(
            cluster.path(),
            &[
                "--workers",
                "2",
                "--process",
                process,
                "--addresses",
                &addresses,
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(Running::new)
        .unwrap()
    };
    let (first, second) = (spawn("0"), spawn("1"));
    let (first, second) = (first.wait(), second.wait());
    check(&first);
    check(&second);
    assert!(
        outputs(cluster.path()) == expected,
        "two processes wrote different files"
    );
}
