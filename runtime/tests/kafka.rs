//! The Kafka source against a real Kafka-protocol broker (`scripts/services start kafka`), with
//! data from `pipectl loadgen`: windows equal the dataflow harness's over the same samples,
//! every bad message is a dead letter with its reason, a stopped or killed run resumes and
//! writes each window once, and when input stops, windows close and `absent` fires.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::kafka::{
    assert_same_lines, brokers, create_topic, file_lines, harness_lines, loadgen, loadgen_span,
    now_ms, one_at_a_time, read_topic, reference_sample, unique,
};
use support::{Running, signal, wait_for};

fn pipectl(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    command
        .current_dir(dir)
        .env("KAFKA_BROKERS", brokers())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn plan(text: &str) -> pipe_dsl::Plan {
    let compiled = pipe_dsl::compile(text, &|_| Some(brokers()));
    compiled
        .plan
        .unwrap_or_else(|| panic!("{:#?}", compiled.diagnostics))
}

/// Stops a run with Ctrl-C and returns its last line on standard output, and standard error.
fn interrupt(running: Running) -> (String, String) {
    let mut running = running;
    signal(running.child().id(), "-INT");
    let output = running.wait();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{}\n{stderr}", output.status);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    (last, stderr)
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

#[test]
fn two_processes_window_loadgen_data_as_the_harness_does_and_refuse_every_bad_message() {
    let _one = one_at_a_time();
    let (topic, dead) = (unique("windows"), unique("windows-dlq"));
    let pipeline = format!(
        r#"
source metrics from kafka {{
  brokers = env("KAFKA_BROKERS"), topic = "{topic}", group = "{group}"
  start = earliest, idle_timeout = 2s, lateness = 5s, dead_letter = "{dead}"
}}
rollup m1 from metrics {{ window = tumble(1m), by = [metric_name, host], aggs = [count, sum, min, max, avg, p95] }}
rollup svc from metrics {{ window = hop(2m, 1m), by = [metric_name, service], aggs = [count, avg, p99] }}
rollup m5 from m1 {{ window = tumble(5m) }}
sink a to file {{ from = m1, path = "out/m1.jsonl" }}
sink b to file {{ from = svc, path = "out/svc.jsonl" }}
sink c to file {{ from = m5, path = "out/m5.jsonl" }}
"#,
        group = unique("windows"),
    );
    let called = now_ms();
    let sent = loadgen(
        &topic,
        &[
            "--partitions",
            "4",
            "--hosts",
            "60",
            "--metrics",
            "5",
            "--span",
            "10m",
            "--bad-fraction",
            "0.01",
        ],
    );
    let span = loadgen_span(called, 600_000);
    let until = span.end - 60_000;
    let messages = read_topic(&topic);
    let good: Vec<_> = messages
        .iter()
        .filter_map(|message| reference_sample(&message.payload, span.clone()))
        .collect();
    // What loadgen says a message costs, against the messages read back: key and payload
    // before compression, and less on the wire (lz4).
    let bytes: usize = messages.iter().map(|m| m.key.len() + m.payload.len()).sum();
    let read_per_message = bytes as f64 / messages.len() as f64;
    let said = sent["message_bytes_per_message"].as_f64().unwrap();
    assert!(
        (said / read_per_message - 1.0).abs() < 0.01,
        "{said} bytes per message said, {read_per_message} read"
    );
    let wire = sent["wire_bytes_per_message"].as_f64().unwrap();
    assert!(wire > 0.0 && wire < said, "{sent}");
    let (sent_count, bad) = (
        sent["sent"].as_u64().unwrap(),
        sent["bad"].as_u64().unwrap(),
    );
    assert!(bad >= 9 * 5, "every reason several times: {sent}");
    assert_eq!(
        good.len() as u64,
        sent_count - bad,
        "the test reads good messages as the pipeline should"
    );
    let expected = harness_lines(&plan(&pipeline), good, until);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.pipe"), &pipeline).unwrap();
    let run = Running::new(
        pipectl(dir.path())
            .args(["run", "p.pipe", "--local-processes", "2", "--json"])
            .spawn()
            .unwrap(),
    );
    for (name, lines) in &expected {
        let path = dir.path().join(format!("out/{name}.jsonl"));
        wait_for(
            Duration::from_secs(120),
            &format!("{} windows of {name}", lines.len()),
            || file_lines(&path, until).len() >= lines.len(),
        );
    }
    let (summary, stderr) = interrupt(run);
    for (name, lines) in &expected {
        let written = file_lines(&dir.path().join(format!("out/{name}.jsonl")), until);
        assert!(!lines.is_empty());
        assert_same_lines(name, written, lines.clone());
    }
    let counted: u64 = file_lines(&dir.path().join("out/m1.jsonl"), u64::MAX)
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, sent_count - bad);

    let summary: serde_json::Value = serde_json::from_str(&summary)
        .unwrap_or_else(|_| panic!("the last line is the summary: {summary}\n{stderr}"));
    assert_eq!(summary["dead_letters"].as_u64(), Some(bad), "{summary}");
    let mut letters = std::collections::BTreeMap::<String, u64>::new();
    for message in read_topic(&dead) {
        *letters
            .entry(message.headers["pipe-reason"].clone())
            .or_default() += 1;
    }
    for (reason, count) in sent["bad_by_reason"].as_object().unwrap() {
        let count = count.as_u64().unwrap();
        assert_eq!(
            summary["dead_letters_by_reason"][reason].as_u64(),
            Some(count),
            "{reason}: {summary}"
        );
        assert_eq!(
            letters.get(reason).copied().unwrap_or(0),
            count,
            "{reason} in the dead-letter topic"
        );
    }
}

/// The `pipe_kafka_consumer_lag` values the control API at `address` serves.
fn consumer_lags(address: &str) -> Vec<f64> {
    let output = Command::new("curl")
        .args(["-sS", &format!("http://{address}/metrics")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with("pipe_kafka_consumer_lag{"))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse().ok())
        .collect()
}

/// A pipeline that resumes from committed offsets, with an hourly-like cascade that makes a
/// restart read back further than the minute windows.
fn resuming_pipeline(topic: &str, group: &str) -> String {
    format!(
        r#"
source metrics from kafka {{
  brokers = env("KAFKA_BROKERS"), topic = "{topic}", group = "{group}", idle_timeout = 2s, lateness = 5s
}}
rollup m1 from metrics {{ window = tumble(1m), by = [metric_name, host], aggs = [count, sum, max] }}
rollup m10 from m1 {{ window = tumble(10m) }}
sink a to file {{ from = m1, path = "out/m1.jsonl" }}
sink b to file {{ from = m10, path = "out/m10.jsonl" }}
"#
    )
}

/// Sends 20 minutes of a fleet to `topic` over about eight seconds, in the background; returns
/// when it was called.
fn live_loadgen(topic: &str) -> (u64, std::thread::JoinHandle<serde_json::Value>) {
    create_topic(topic, 4);
    let called = now_ms();
    let topic = topic.to_string();
    let thread = std::thread::spawn(move || {
        loadgen(
            &topic,
            &[
                "--hosts",
                "50",
                "--metrics",
                "4",
                "--span",
                "20m",
                "--rate",
                "2000",
            ],
        )
    });
    (called, thread)
}

/// The windows of the whole topic that close by the end of the span, by rollup, as the harness
/// computes them; and that end.
fn expected_windows(
    topic: &str,
    pipeline: &str,
    called: u64,
) -> (u64, BTreeMap<String, Vec<String>>) {
    let span = loadgen_span(called, 20 * 60_000);
    let until = span.end - 60_000;
    let good: Vec<_> = read_topic(topic)
        .iter()
        .filter_map(|message| reference_sample(&message.payload, span.clone()))
        .collect();
    (until, harness_lines(&plan(pipeline), good, until))
}

/// Waits until the run has written as many windows as it must.
fn wait_for_windows(dir: &Path, until: u64, expected: &BTreeMap<String, Vec<String>>) {
    for (name, lines) in expected {
        let path = dir.join(format!("out/{name}.jsonl"));
        wait_for(
            Duration::from_secs(120),
            &format!("{} windows of {name}", lines.len()),
            || file_lines(&path, until).len() >= lines.len(),
        );
    }
}

/// Checks each window is written once, with the values of an uninterrupted run.
fn check_each_window_once(dir: &Path, until: u64, expected: BTreeMap<String, Vec<String>>) {
    for (name, lines) in expected {
        let written = file_lines(&dir.join(format!("out/{name}.jsonl")), until);
        assert!(!lines.is_empty());
        assert_same_lines(&format!("{name}, each window once"), written, lines);
    }
}

#[test]
fn a_run_stopped_mid_stream_resumes_and_writes_each_window_once() {
    let _one = one_at_a_time();
    let topic = unique("sigterm");
    let pipeline = resuming_pipeline(&topic, &unique("sigterm"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.pipe"), &pipeline).unwrap();
    let (called, producing) = live_loadgen(&topic);
    let start = || Running::new(pipectl(dir.path()).args(["run", "p.pipe"]).spawn().unwrap());
    let first = start();
    let m1 = dir.path().join("out/m1.jsonl");
    wait_for(Duration::from_secs(60), "the first windows", || {
        line_count(&m1) > 0
    });
    let mut first = first;
    signal(first.child().id(), "-TERM");
    let output = first.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("stopped: "));
    producing.join().unwrap();
    let control = "127.0.0.1:17174";
    let second = Running::new(
        pipectl(dir.path())
            .args(["run", "p.pipe", "--control", control])
            .spawn()
            .unwrap(),
    );
    let (until, expected) = expected_windows(&topic, &pipeline, called);
    wait_for_windows(dir.path(), until, &expected);
    // Everything read: each of the four partitions reports a lag of 0 at /metrics.
    wait_for(
        Duration::from_secs(30),
        "consumer lag 0 on 4 partitions",
        || {
            let lags = consumer_lags(control);
            lags.len() == 4 && lags.iter().all(|lag| *lag == 0.0)
        },
    );
    interrupt(second);
    check_each_window_once(dir.path(), until, expected);
}

#[test]
fn a_killed_process_restarts_with_its_cluster_and_each_window_is_written_once() {
    let _one = one_at_a_time();
    let topic = unique("sigkill");
    let pipeline = resuming_pipeline(&topic, &unique("sigkill"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.pipe"), &pipeline).unwrap();
    let (called, producing) = live_loadgen(&topic);
    let mut supervisor = Running::new(
        pipectl(dir.path())
            .args(["run", "p.pipe", "--local-processes", "2"])
            .spawn()
            .unwrap(),
    );
    let m1 = dir.path().join("out/m1.jsonl");
    wait_for(Duration::from_secs(60), "the first windows", || {
        line_count(&m1) > 0
    });
    // Process 0 writes the files: killing it leaves whatever it had half written.
    let children = Command::new("pgrep")
        .args(["-o", "-P", &supervisor.child().id().to_string()])
        .output()
        .unwrap();
    let process_0: u32 = String::from_utf8_lossy(&children.stdout)
        .trim()
        .parse()
        .unwrap();
    signal(process_0, "-KILL");
    producing.join().unwrap();
    let (until, expected) = expected_windows(&topic, &pipeline, called);
    wait_for_windows(dir.path(), until, &expected);
    let (_, stderr) = interrupt(supervisor);
    assert!(stderr.contains("restarting the cluster"), "{stderr}");
    check_each_window_once(dir.path(), until, expected);
}

#[test]
fn when_input_stops_windows_close_and_absent_fires_within_the_idle_timeout_and_a_step() {
    let _one = one_at_a_time();
    let topic = unique("stops");
    let pipeline = format!(
        r#"
source metrics from kafka {{
  brokers = env("KAFKA_BROKERS"), topic = "{topic}", group = "{group}"
  idle_timeout = 2s, lateness = 1s, step = 5s
}}
rollup s10 from metrics {{ window = tumble(10s), by = [metric_name, host], aggs = [count] }}
alert Gone {{ when absent(heartbeat) over 15s by host }}
sink a to file {{ from = s10, path = "out/s10.jsonl" }}
sink b to file {{ from = alerts, path = "out/alerts.jsonl" }}
"#,
        group = unique("stops"),
    );
    create_topic(&topic, 2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.pipe"), &pipeline).unwrap();
    let run = Running::new(pipectl(dir.path()).args(["run", "p.pipe"]).spawn().unwrap());
    let sent = loadgen(
        &topic,
        &[
            "--hosts",
            "4",
            "--metrics",
            "5",
            "--interval",
            "5s",
            "--span",
            "30s",
            "--rate",
            "realtime",
        ],
    );
    assert!(sent["sent"].as_u64().unwrap() >= 4 * 5 * 5, "{sent}");
    // The newest heartbeat of each host, and when the last message was sent.
    let stopped_at = now_ms();
    let mut newest = std::collections::BTreeMap::new();
    for message in read_topic(&topic) {
        let Some((labels, ts, _)) = reference_sample(&message.payload, 0..u64::MAX) else {
            continue;
        };
        if labels.get("metric_name") == Some("heartbeat") && ts > stopped_at - 60_000 {
            let host = labels.get("host").unwrap().to_string();
            let entry = newest.entry(host).or_insert(ts);
            *entry = (*entry).max(ts);
        }
    }
    assert_eq!(newest.len(), 4);
    let alerts = dir.path().join("out/alerts.jsonl");
    let mut arrived = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.len() < newest.len() {
        assert!(
            Instant::now() < deadline,
            "no `Gone` for every host: {arrived:?}"
        );
        for line in std::fs::read_to_string(&alerts).unwrap_or_default().lines() {
            let alert: serde_json::Value = serde_json::from_str(line).unwrap();
            if alert["rule"] == "Gone" && alert["state"] == "firing" {
                let host = alert["labels"]["host"].as_str().unwrap().to_string();
                let at = humantime::parse_rfc3339(alert["at"].as_str().unwrap()).unwrap();
                let at = at
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                arrived.entry(host).or_insert((at, now_ms()));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (host, (at, seen)) in &arrived {
        let last = newest[host];
        // The first step at least 15 s after the last heartbeat.
        assert!(
            *at > last + 15_000 && *at <= last + 15_000 + 5_000,
            "{host}: at {at}, last {last}"
        );
        // Out once event time passed it: the clock, less lateness, after the idle timeout.
        let due = (*at + 1_000).max(stopped_at + 2_000);
        assert!(
            *seen <= due + 5_000 + 1_500,
            "{host}: {} ms after due",
            seen.saturating_sub(due)
        );
    }
    // The last windows closed too: the one holding each host's last sample is written.
    let windows = std::fs::read_to_string(dir.path().join("out/s10.jsonl")).unwrap();
    let last = newest.values().max().unwrap();
    assert!(
        windows.lines().any(|line| {
            let window: serde_json::Value = serde_json::from_str(line).unwrap();
            window["start_ms"].as_u64().unwrap() + 10_000 > *last
        }),
        "the window of the last samples is written"
    );
    interrupt(run);
}
