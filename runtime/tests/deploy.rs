//! `pipectl deploy` into a running cluster of two processes under generator load: a new rollup
//! with a file sink starts writing whole windows; a threshold change gives exactly the
//! transitions the new thresholds imply, once each; a replacing change, an invalid file and a
//! request without the token change nothing; rollback restores the rules. Everything the
//! cluster wrote is compared with the dataflow harness run over the same samples with the same
//! rule changes at the event times the deploys reported.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pipe_dataflow::harness::{Script, run};
use pipe_dataflow::rules::{RuleRecord, rule_record};
use pipe_dataflow::series::Labels;
use pipe_dataflow::{Sample, SourceRecord};
use pipe_dsl::Plan;
use pipe_dsl::plan::SourceConnector;
use pipe_runtime::sinks::Record;
use pipe_runtime::sinks::json;
use pipe_runtime::sources::generator::{Generator, Share};
use pipe_runtime::sources::{Poll, Source};
use pipe_runtime::time::now_millis;
use support::{Running, free_port, wait_for};

const HISTORY_MS: u64 = 180_000;
const TOKEN: &str = "deploy-test-token";

fn pipeline(high: u32, low: u32) -> String {
    format!(
        r#"
source metrics from generator {{ hosts = 40, metrics = 6, interval = 15s, pace = realtime, history = 3m, seed = 5 }}

rollup by_host from metrics {{ window = tumble(1m), by = [metric_name, host], aggs = [avg, max] }}

alert HighCpu {{
  when avg(cpu_usage_percent) over 1m by host > {high}
  annotations {{ summary = "{{{{ host }}}} at {{{{ value }}}}%" }}
}}
alert LowCpu {{ when avg(cpu_usage_percent) over 1m by host < {low} }}

sink windows to file {{ from = by_host, path = "out/by_host.jsonl" }}
sink transitions to file {{ from = alerts, path = "out/alerts.jsonl" }}
"#
    )
}

const ADDED: &str = r#"
rollup by_service from metrics { window = tumble(30s), by = [metric_name, service], aggs = [sum, max] }
sink services to file { from = by_service, path = "out/by_service.jsonl" }
"#;

fn compile(text: &str) -> Plan {
    let compiled = pipe_dsl::compile(text, &|_| None);
    compiled
        .plan
        .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
}

fn pipectl(dir: &Path, args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    command
        .current_dir(dir)
        .args(["--color", "never"])
        .args(args)
        .env_remove("PIPE_TOKEN");
    if let Some(token) = token {
        command.env("PIPE_TOKEN", token);
    }
    command.output().unwrap()
}

/// Deploys `file`; the event time from which it applies.
fn deployed(output: &Output) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the deploy failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|line| line.starts_with("applied: "))
        .unwrap_or_else(|| panic!("no `applied:` line in\n{stdout}"));
    line.rsplit_once('(')
        .and_then(|(_, at)| at.strip_suffix(')'))
        .and_then(|at| at.parse().ok())
        .unwrap_or_else(|| panic!("no event time in `{line}`"))
}

/// Every sample the generator of `plan` sends from `start` for `run_for`, as the cluster's
/// workers send them together.
fn generated(plan: &Plan, start: u64, run_for: u64) -> Vec<(Labels, u64, f64)> {
    let SourceConnector::Generator(config) = &plan.sources[0].connector else {
        panic!("a generator");
    };
    let lateness = plan.sources[0].lateness.millis();
    let mut generator = Generator::new(
        config,
        lateness,
        &Share::whole(),
        start + HISTORY_MS,
        Some(run_for),
    );
    let mut labels: BTreeMap<u64, Labels> = BTreeMap::new();
    let mut samples = Vec::new();
    let mut batch = Vec::new();
    loop {
        let poll = generator.poll(u64::MAX / 2, &mut batch).unwrap();
        for record in batch.drain(..) {
            match record {
                SourceRecord::Series { id, labels: l, .. } => {
                    labels.insert(id.0, l);
                }
                SourceRecord::Sample {
                    sample: Sample { series, ts, value },
                    ..
                } => samples.push((labels[&series.0].clone(), ts, value)),
            }
        }
        if let Poll::Finished { .. } = poll {
            return samples;
        }
    }
}

/// The rule records of `from` replaced by those of `to`, as a deploy changes them.
fn rule_changes(from: &Plan, to: &Plan) -> Vec<(RuleRecord, isize)> {
    let mut changes: Vec<(RuleRecord, isize)> =
        from.alerts.iter().map(|r| (rule_record(r), -1)).collect();
    changes.extend(to.alerts.iter().map(|r| (rule_record(r), 1)));
    changes
}

fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Asserts two sorted sets of lines are equal, showing a few differences rather than all.
fn assert_lines(what: &str, written: &[String], expected: &[String]) {
    if written == expected {
        return;
    }
    let missing: Vec<&String> = expected.iter().filter(|l| !written.contains(l)).collect();
    let extra: Vec<&String> = written.iter().filter(|l| !expected.contains(l)).collect();
    panic!(
        "{what}: {} lines written, {} expected; {} missing, such as\n{:#?}\n{} not expected, such as\n{:#?}",
        written.len(),
        expected.len(),
        missing.len(),
        &missing[..missing.len().min(4)],
        extra.len(),
        &extra[..extra.len().min(4)],
    );
}

fn start_of(line: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    let start = humantime::parse_rfc3339(value["start"].as_str().unwrap()).unwrap();
    start
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn deploys_change_a_running_cluster_exactly_as_the_harness_says() {
    let dir = tempfile::tempdir().unwrap();
    let before = pipeline(40, 25);
    let after = pipeline(50, 35);
    let with_rollup = |text: &str| format!("{text}{ADDED}");
    std::fs::write(dir.path().join("v1.pipe"), &before).unwrap();
    std::fs::write(dir.path().join("v2.pipe"), with_rollup(&before)).unwrap();
    std::fs::write(dir.path().join("v3.pipe"), with_rollup(&after)).unwrap();
    std::fs::write(
        dir.path().join("replacing.pipe"),
        with_rollup(&after).replace("tumble(1m)", "tumble(5m)"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("invalid.pipe"),
        with_rollup(&after).replace("> 50", "> fifty"),
    )
    .unwrap();

    // Each process starts its generator's history on the minute its own clock gives: not
    // within a few seconds of a minute's end, so that both give the same.
    if now_millis() % 60_000 > 50_000 {
        std::thread::sleep(Duration::from_millis(61_000 - now_millis() % 60_000));
    }
    // The run ends about 100 s from now, wherever in its minute the generator's history starts.
    let now = now_millis();
    let start = (now - HISTORY_MS) - (now - HISTORY_MS) % 60_000;
    let run_for = ((now + 100_000 - start) / 15_000 + 1) * 15_000;
    let control = free_port();
    let url = format!("http://127.0.0.1:{control}");
    let addresses = format!("127.0.0.1:{},127.0.0.1:{}", free_port(), free_port());
    let spawn = |process: &str| -> Running {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipectl"));
        command
            .current_dir(dir.path())
            .args(["--color", "never", "run", "v1.pipe"])
            .args(["--for", &format!("{run_for}ms"), "--process", process])
            .args(["--addresses", &addresses])
            .args(["--control", &format!("127.0.0.1:{control}")])
            .env("PIPE_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Running::new(command.spawn().unwrap())
    };
    let mut first = spawn("0");
    let second = spawn("1");
    let status = || {
        let output = pipectl(dir.path(), &["status", "--to", &url, "--json"], Some(TOKEN));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).ok()
    };
    wait_for(Duration::from_secs(60), "the cluster to catch up", || {
        status().is_some_and(|s| s["event_time"].as_u64() > Some(now_millis() - 20_000))
    });
    let pid = first.child().id();

    let added_at = deployed(&pipectl(
        dir.path(),
        &["deploy", "v2.pipe", "--to", &url],
        Some(TOKEN),
    ));
    std::thread::sleep(Duration::from_secs(2));
    let changed_at = deployed(&pipectl(
        dir.path(),
        &["deploy", "v3.pipe", "--to", &url],
        Some(TOKEN),
    ));

    let refused = pipectl(
        dir.path(),
        &["deploy", "replacing.pipe", "--to", &url],
        Some(TOKEN),
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("replace running state: nothing was changed")
            && stderr.contains("rollup by_host: window tumble(1m) → tumble(5m)"),
        "{stderr}"
    );
    let invalid = pipectl(
        dir.path(),
        &["deploy", "invalid.pipe", "--to", &url],
        Some(TOKEN),
    );
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(!invalid.status.success());
    assert!(stderr.contains("invalid.pipe:7:"), "{stderr}");
    assert!(stderr.contains("nothing was deployed"), "{stderr}");
    let anonymous = pipectl(dir.path(), &["deploy", "v1.pipe", "--to", &url], None);
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(stderr.contains("refused the request (401)"), "{stderr}");
    let running = status().unwrap();
    assert_eq!(running["version"]["number"], 3, "{running}");

    std::thread::sleep(Duration::from_secs(30));
    let rolled_back_at = deployed(&pipectl(
        dir.path(),
        &["rollback", "--to", &url],
        Some(TOKEN),
    ));
    assert_eq!(status().unwrap()["version"]["number"], 4);
    assert_eq!(first.child().id(), pid, "the same process throughout");

    let outputs = [first.wait(), second.wait()];
    for output in &outputs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(added_at <= changed_at && changed_at < rolled_back_at);

    // The harness, over the same samples, with the same rule changes at the same times.
    let (v1, v3) = (
        compile(&with_rollup(&before)),
        compile(&with_rollup(&after)),
    );
    let written_windows = lines(&dir.path().join("out/by_host.jsonl"));
    let first_start = written_windows.iter().map(|l| start_of(l)).min().unwrap();
    let script = Script {
        samples: generated(&v1, first_start, run_for),
        rule_changes: vec![
            (changed_at, rule_changes(&v1, &v3)),
            (rolled_back_at, rule_changes(&v3, &v1)),
        ],
        batch: 512,
        until: Some(first_start + run_for),
    };
    let expected = run(&v1, &script, 1);
    let json_lines = |records: Vec<Record>| {
        let mut lines: Vec<String> = records
            .iter()
            .map(|record| json::to_string(record).unwrap())
            .collect();
        lines.sort();
        lines
    };
    let windows_of = |name: &str| {
        let rollup = v1.rollup(name).unwrap();
        json_lines(
            expected.windows[name]
                .iter()
                .map(|window| Record::Window { rollup, window })
                .collect(),
        )
    };
    assert_lines(
        "the running rollup's windows are those of a run without deploys",
        &written_windows,
        &windows_of("by_host"),
    );
    let transitions = json_lines(
        expected
            .transitions
            .iter()
            .map(Record::Transition)
            .collect(),
    );
    assert_lines(
        "transitions",
        &lines(&dir.path().join("out/alerts.jsonl")),
        &transitions,
    );

    // The new thresholds both fired and resolved groups at the first step under them.
    let step = 15_000;
    let first_step = changed_at.div_ceil(step) * step;
    let at_first_step = |rule: &str, kind: &str| {
        expected
            .transitions
            .iter()
            .any(|t| t.at == first_step && &*t.rule == rule && format!("{:?}", t.kind) == kind)
    };
    assert!(at_first_step("HighCpu", "Resolved"), "{first_step}");
    assert!(at_first_step("LowCpu", "Firing"), "{first_step}");

    // The added rollup wrote whole windows from the first that started after the deploy.
    let added = lines(&dir.path().join("out/by_service.jsonl"));
    assert!(!added.is_empty(), "the added rollup wrote nothing");
    let from = added.iter().map(|l| start_of(l)).min().unwrap();
    assert!(
        from >= added_at && from < added_at + 60_000,
        "first window {from}, deployed at {added_at}"
    );
    let v2 = compile(&with_rollup(&before));
    let all_windows = run(&v2, &script, 1);
    let rollup = v2.rollup("by_service").unwrap();
    let whole = json_lines(
        all_windows.windows["by_service"]
            .iter()
            .filter(|window| window.start >= from)
            .map(|window| Record::Window { rollup, window })
            .collect(),
    );
    assert_lines("the added rollup's windows", &added, &whole);
}
