//! The file source through `pipectl run`: the same decoders and dead-letter accounting as Kafka
//! without a broker. Bad lines of every reason are counted and written to the dead-letter file;
//! line protocol windows like the same samples in JSON; and under host churn the series kept
//! follow the hosts alive.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600_000;

fn run(dir: &Path, pipeline: &str) -> Value {
    std::fs::write(dir.join("p.pipe"), pipeline).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .current_dir(dir)
        .args(["run", "p.pipe", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary: {stdout}\n{stderr}"));
    assert_eq!(summary["ending"], "finished", "{stderr}");
    summary
}

fn json_line(metric: &str, host: &str, ts: u64, value: f64) -> String {
    format!(
        r#"{{"metric_name":"{metric}","timestamp":{ts},"value":{value},"labels":{{"host":"{host}"}}}}"#
    )
}

fn counts(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

#[test]
fn every_bad_line_is_counted_by_reason_and_kept_in_the_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for minute in 0..5 {
        for host in ["a", "b", "c"] {
            lines.push(json_line("cpu", host, T0 + minute * 60_000, 50.0));
        }
    }
    let late = json_line("cpu", "a", T0, 1.0);
    let huge = json_line("cpu", "a", T0 + 300_000, 1.0)
        .replace("}}", &format!("}},\"pad\":\"{}\"}}", "x".repeat(2000)));
    let bad = [
        (
            "malformed",
            r#"{"metric_name":"cpu","timestamp":"#.to_string(),
        ),
        (
            "wrong_type",
            r#"{"metric_name":"cpu","timestamp":"soon","value":1}"#.to_string(),
        ),
        (
            "missing_field",
            r#"{"metric_name":"cpu","value":1}"#.to_string(),
        ),
        (
            "non_finite",
            r#"{"metric_name":"cpu","timestamp":1767225900000,"value":"NaN"}"#.to_string(),
        ),
        (
            "invalid_name",
            json_line("cpu usage", "a", T0 + 300_000, 1.0),
        ),
        ("late", late),
        ("future", json_line("cpu", "a", 4_000_000_000_000, 1.0)),
        ("oversize", huge),
        ("max_series", json_line("cpu", "d", T0 + 300_000, 1.0)),
    ];
    lines.extend(bad.iter().map(|(_, line)| line.clone()));
    lines.push(json_line("cpu", "a", T0 + 360_000, 50.0));
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    let summary = run(
        dir.path(),
        r#"
source m from file {
  path = "in.jsonl", dead_letter = "out/dead.jsonl", max_message_bytes = 1KB, max_series = 3
}
rollup m1 from m { window = tumble(1m), by = [host], aggs = [count] }
sink out to file { from = m1, path = "out/m1.jsonl" }
"#,
    );
    assert_eq!(summary["dead_letters"], 9, "{summary}");
    let dead = std::fs::read_to_string(dir.path().join("out/dead.jsonl")).unwrap();
    for ((reason, line), letter) in bad.iter().zip(dead.lines()) {
        assert_eq!(
            summary["dead_letters_by_reason"][reason], 1,
            "{reason}: {summary}"
        );
        let letter: Value = serde_json::from_str(letter).unwrap();
        assert_eq!(letter["reason"], *reason);
        assert_eq!(letter["message"], *line);
        assert!(letter["origin"].as_str().unwrap().starts_with("in.jsonl:"));
    }
    assert_eq!(
        counts(&dir.path().join("out/m1.jsonl")),
        16,
        "the good samples, all of them"
    );
}

#[test]
fn line_protocol_windows_like_the_same_samples_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let (mut json, mut influx) = (Vec::new(), Vec::new());
    for step in 0..40u64 {
        let ts = T0 + step * 15_000;
        for host in ["a", "b"] {
            let (usage, idle) = (step as f64 * 1.5, 100.0 - step as f64);
            json.push(json_line("cpu_usage", host, ts, usage));
            json.push(json_line("cpu_idle", host, ts, idle));
            influx.push(format!(
                "cpu,host={host} usage={usage},idle={idle}i {}",
                ts * 1_000_000
            ));
        }
    }
    std::fs::write(dir.path().join("in.jsonl"), json.join("\n")).unwrap();
    std::fs::write(dir.path().join("in.lp"), influx.join("\n")).unwrap();
    let pipeline = |path: &str, format: &str, out: &str| {
        format!(
            r#"source m from file {{ path = "{path}", format = {format} }}
rollup m1 from m {{ window = tumble(1m), by = [metric_name, host], aggs = [count, sum, min, max] }}
sink out to file {{ from = m1, path = "{out}" }}"#
        )
    };
    run(dir.path(), &pipeline("in.jsonl", "json", "out/json.jsonl"));
    run(dir.path(), &pipeline("in.lp", "influx", "out/influx.jsonl"));
    let json = std::fs::read_to_string(dir.path().join("out/json.jsonl")).unwrap();
    let influx = std::fs::read_to_string(dir.path().join("out/influx.jsonl")).unwrap();
    assert_eq!(json.lines().count(), 2 * 2 * 10);
    assert_eq!(influx, json);
}

#[test]
fn under_host_churn_the_series_kept_follow_the_hosts_alive() {
    let dir = tempfile::tempdir().unwrap();
    // Ten generations of 30 hosts, each replaced after ten minutes: 300 hosts in all.
    let mut lines = Vec::new();
    for step in 0..(100 * 60 / 15) {
        let ts = T0 + step * 15_000;
        let generation = step / 40;
        for host in 0..30 {
            lines.push(json_line("cpu", &format!("g{generation}-{host}"), ts, 1.0));
        }
    }
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n")).unwrap();
    let churn = |ttl: &str| {
        format!(
            r#"source m from file {{ path = "in.jsonl", series_ttl = {ttl} }}
rollup m1 from m {{ window = tumble(1m), by = [host], aggs = [count] }}
rollup m10 from m1 {{ window = tumble(10m) }}
alert Quiet {{ when count(cpu) over 1m by host < 1 }}
sink out to file {{ from = m10, path = "out/m10-{ttl}.jsonl" }}"#
        )
    };
    let short = run(dir.path(), &churn("5m"));
    let long = run(dir.path(), &churn("1d"));
    assert_eq!(long["series"], 300, "{long}");
    // Thirty alive, the generation before within the ttl, and the one after already read (a
    // poll reads 8,192 lines ahead): a third of all, however many generations there are.
    assert!(short["series"].as_u64().unwrap() <= 90, "{short}");
    assert_eq!(short["samples"], lines.len() as u64);
    assert_eq!(
        counts(&dir.path().join("out/m10-5m.jsonl")),
        lines.len() as u64
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/m10-5m.jsonl")).unwrap(),
        std::fs::read_to_string(dir.path().join("out/m10-1d.jsonl")).unwrap(),
        "forgetting quiet series changes no window"
    );
}
