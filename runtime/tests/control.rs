//! The control listener of `pipectl run --control`: `/healthz`, `/metrics` in Prometheus's
//! exposition format with the pipeline's figures, a bearer token when one is set (401 without
//! it, and never logged), and no listener beyond loopback without a token.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Running, wait_for};

fn quickstart() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines/quickstart.pipe")
        .display()
        .to_string()
}

fn start(port: u16, token: Option<&str>) -> Running {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    command
        .current_dir(dir)
        .args([
            "run",
            &quickstart(),
            "--control",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("PIPE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.env("PIPE_TOKEN", token);
    }
    Running::new(command.spawn().unwrap())
}

/// The status code and body of a GET, with `token` as a bearer token.
fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let mut command = Command::new("curl");
    command.args([
        "-sS",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        &format!("http://127.0.0.1:{port}{path}"),
    ]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_show_the_running_pipeline() {
    let port = 17_171;
    let running = start(port, None);
    wait_for(Duration::from_secs(30), "the control API", || {
        get(port, "/healthz", None) == (200, "ok\n".to_string())
    });
    // The quickstart's fleet: 1,000 hosts × 50 metrics, once the stage has published them.
    wait_for(
        Duration::from_secs(30),
        "every series in the metrics",
        || value(&get(port, "/metrics", None).1, "pipe_series") == 50_000.0,
    );
    let (code, metrics) = get(port, "/metrics", None);
    assert_eq!(code, 200);
    assert!(value(&metrics, "pipe_samples_total") > 0.0);
    assert!(value(&metrics, "process_resident_memory_bytes") > 1e6);
    assert!(value(&metrics, "pipe_event_time_seconds") > 1.7e9);
    assert_eq!(
        value(&metrics, "pipe_dead_letters_total{reason=\"late\"}"),
        0.0
    );
    assert!(metrics.contains("# TYPE pipe_samples counter"), "{metrics}");
    assert!(metrics.trim_end().ends_with("# EOF"));

    // Once the first windows and alert steps have passed through, every KPI is there.
    wait_for(
        Duration::from_secs(90),
        "the first windows and alert steps",
        || {
            let metrics = get(port, "/metrics", None).1;
            value(&metrics, "pipe_alert_delay_seconds_count") > 0.0
                && value(&metrics, "pipe_sink_records_total{sink=\"rollups\"}") > 0.0
        },
    );
    let (_, metrics) = get(port, "/metrics", None);
    assert!(
        value(&metrics, "pipe_source_samples_total{source=\"metrics\"}") > 0.0,
        "{metrics}"
    );
    assert!(value(&metrics, "pipe_sink_records_total{sink=\"rollups\"}") > 0.0);
    assert!(
        value(
            &metrics,
            "pipe_sink_durable_event_time_seconds{sink=\"rollups\"}"
        ) > 1.7e9
    );
    assert!(metrics.contains("pipe_end_to_end_latency_seconds_bucket{"));
    assert_eq!(value(&metrics, "pipe_plan_version"), 1.0);
    for name in dashboard_metrics() {
        // Kafka lag needs a Kafka source (runtime/tests/kafka.rs reads it), and a sink waits
        // only while its store is down.
        if name == "pipe_kafka_consumer_lag" || name == "pipe_sink_waiting" {
            continue;
        }
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with(&format!("{name} "))
                    || line.starts_with(&format!("{name}{{"))),
            "the dashboard reads `{name}`, which /metrics does not serve:\n{metrics}"
        );
    }

    let status = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["status", "--to", &format!("http://127.0.0.1:{port}")])
        .env_remove("PIPE_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(text.starts_with("version 1 of "), "{text}");
    assert!(text.contains("50,000 series"), "{text}");
    assert!(text.contains("sink        rollups: "), "{text}");
    drop(running);
}

/// Every metric the shipped Grafana dashboard queries.
fn dashboard_metrics() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana/pipe.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if (word.starts_with("pipe_") || word.starts_with("process_"))
                    && !names.iter().any(|n| n == word)
                {
                    names.push(word.to_string());
                }
            }
        }
    }
    assert!(names.len() >= 15, "{names:?}");
    names
}

#[test]
fn with_a_token_every_request_needs_it_and_the_token_is_never_logged() {
    let port = 17_172;
    let token = "s3cret-token-value";
    let mut running = start(port, Some(token));
    wait_for(Duration::from_secs(30), "the control API", || {
        get(port, "/healthz", Some(token)).0 == 200
    });
    assert_eq!(get(port, "/metrics", None).0, 401);
    assert_eq!(get(port, "/healthz", Some("guess")).0, 401);
    let (code, metrics) = get(port, "/metrics", Some(token));
    assert_eq!(code, 200);
    assert!(metrics.contains("pipe_samples_total"));
    support::signal(running.child().id(), "-INT");
    let output = running.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("control API: refused GET /metrics from 127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("wrong token"), "{stderr}");
    assert!(
        !stderr.contains(token),
        "the token reached the log: {stderr}"
    );
    assert!(
        !stderr.contains("guess"),
        "a sent token reached the log: {stderr}"
    );
}

#[test]
fn beyond_loopback_the_control_api_needs_a_token() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["run", &quickstart(), "--control", "0.0.0.0:17173"])
        .env_remove("PIPE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to serve the control API on 0.0.0.0:17173 without a token"),
        "{stderr}"
    );
}
