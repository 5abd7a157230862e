//! The alertmanager sink against real Alertmanagers (`scripts/services start alertmanager
//! alertmanager2`): alerts read back through `GET /api/v2/alerts` with their labels,
//! annotations, times and link to the rule; resolved alerts leave; both URLs of a pair get every
//! alert, and one that is down does not stop delivery to the other; while every Alertmanager
//! is down the pipeline waits, and delivers everything once one is back.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pipe_runtime::time::{now_millis, rfc3339};
use serde_json::Value;
use support::{Running, wait_for};

fn alertmanager_url(var: &str, name: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: start Alertmanager with `export $(scripts/services start {name})`"
        )
    })
}

/// The active alerts an Alertmanager holds, of the rule `alertname`.
fn active(url: &str, alertname: &str) -> Vec<Value> {
    let output = Command::new("curl")
        .args([
            "-fsS",
            &format!("{url}/api/v2/alerts?filter=alertname=\"{alertname}\""),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "GET {url}/api/v2/alerts failed");
    let alerts: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    alerts
        .into_iter()
        .filter(|alert| alert["status"]["state"] == "active")
        .collect()
}

/// A fleet's temperatures from ten minutes ago, every 10 s for `steps` steps: `hot` stays at
/// 90, `cooling` is at 90 for five minutes and then at 20, `cold` stays at 20. Returns the time
/// `hot` became active: its first step boundary.
fn write_input(dir: &Path, rule: &str, steps: u64) -> u64 {
    let start = (now_millis() - 600_000) / 10_000 * 10_000;
    let mut lines = Vec::new();
    for step in 0..steps {
        let ts = start + step * 10_000;
        for (host, value) in [
            ("hot", 90.0),
            ("cooling", if step < 30 { 90.0 } else { 20.0 }),
            ("cold", 20.0),
        ] {
            lines.push(format!(
                r#"{{"metric_name":"temp_{rule}","timestamp":{ts},"value":{value},"labels":{{"host":"{host}"}}}}"#
            ));
        }
    }
    std::fs::write(dir.join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    start
}

/// A pipeline reading the input once, with the rule `rule` posting to `urls`.
fn write_pipeline(dir: &Path, rule: &str, urls: &str) {
    write_pipeline_with(dir, rule, urls, "", "");
}

/// [`write_pipeline`], with more properties for the source and the sink.
fn write_pipeline_with(dir: &Path, rule: &str, urls: &str, source: &str, sink: &str) {
    let pipeline = format!(
        r#"source temps from file {{ path = "in.jsonl", step = 10s{source} }}

alert {rule} {{
  when max(temp_{rule}) over 30s by host > 50
  labels {{ severity = "page" }}
  annotations {{ summary = "{{{{ host }}}} is at {{{{ value }}}} degrees" }}
}}

sink pages to alertmanager {{ from = alerts, url = "{urls}"{sink} }}
"#
    );
    std::fs::write(dir.join("p.pipe"), pipeline).unwrap();
}

fn run_pipeline(dir: &Path) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .current_dir(dir)
        .args(["run", "p.pipe", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running::new(child)
}

fn finish(running: Running) -> String {
    let output = running.wait();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "pipectl run failed: {stderr}");
    stderr
}

/// The hosts of the active alerts of `rule`.
fn active_hosts(url: &str, rule: &str) -> Vec<String> {
    let mut hosts: Vec<String> = active(url, rule)
        .iter()
        .map(|a| a["labels"]["host"].as_str().unwrap().to_string())
        .collect();
    hosts.sort();
    hosts
}

/// The one active alert of `rule`: `hot`'s, with everything Alertmanager shows of it.
fn assert_hot_is_the_one_active_alert(url: &str, rule: &str, start: u64, dir: &Path) {
    assert_eq!(active_hosts(url, rule), ["hot"], "{url}");
    let alerts = active(url, rule);
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["alertname"], rule);
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "hot is at 90 degrees");
    // Active from the first step boundary, which sees the first sample.
    assert_eq!(alert["startsAt"], rfc3339(start), "{alert:#?}");
    // Alertmanager keeps it for four minutes unless it is posted again.
    let ends_at = alert["endsAt"].as_str().unwrap();
    let ends_at = humantime::parse_rfc3339(ends_at).unwrap();
    let ahead = ends_at
        .duration_since(std::time::SystemTime::now())
        .expect("endsAt is in the future");
    assert!(
        ahead > Duration::from_secs(150) && ahead <= Duration::from_secs(240),
        "{ahead:?}"
    );
    let link = format!(
        "file://{}#L3",
        std::fs::canonicalize(dir.join("p.pipe")).unwrap().display()
    );
    assert_eq!(alert["generatorURL"], link);
}

#[test]
fn alerts_reach_both_alertmanagers_of_a_pair_and_resolved_ones_leave() {
    let first = alertmanager_url("ALERTMANAGER_URL", "alertmanager");
    let second = alertmanager_url("ALERTMANAGER_URL_2", "alertmanager2");
    let rule = format!("PairHot{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    write_pipeline(dir.path(), &rule, &format!("{first}, {second}"));
    // Five minutes: `cooling` is still hot when the input ends, and its alert still fires.
    write_input(dir.path(), &rule, 30);
    finish(run_pipeline(dir.path()));
    for url in [&first, &second] {
        assert_eq!(active_hosts(url, &rule), ["cooling", "hot"], "{url}");
    }
    // The whole ten minutes again: `cooling` resolves, and its alert leaves both.
    let start = write_input(dir.path(), &rule, 60);
    finish(run_pipeline(dir.path()));
    for url in [&first, &second] {
        assert_hot_is_the_one_active_alert(url, &rule, start, dir.path());
    }
}

#[test]
fn one_alertmanager_down_does_not_stop_delivery_to_the_other() {
    let first = alertmanager_url("ALERTMANAGER_URL", "alertmanager");
    let rule = format!("HalfHot{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let start = write_input(dir.path(), &rule, 60);
    // Nothing listens on port 9 (discard) here: that Alertmanager is down.
    write_pipeline(
        dir.path(),
        &rule,
        &format!("{first},http://user:secret@127.0.0.1:9"),
    );
    let stderr = finish(run_pipeline(dir.path()));
    assert_hot_is_the_one_active_alert(&first, &rule, start, dir.path());
    assert!(
        stderr.contains("cannot reach http://user@127.0.0.1:9/"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "a password reached the log: {stderr}"
    );
}

/// Starts a private Alertmanager on `port`, for a test that stops it.
fn private_alertmanager(dir: &Path, port: u16) -> Child {
    std::fs::write(
        dir.join("am.yml"),
        "route: { receiver: nobody }\nreceivers: [{ name: nobody }]\n",
    )
    .unwrap();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager runs (scripts/services start alertmanager installs it)");
    wait_for(Duration::from_secs(20), "Alertmanager to start", || {
        Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{port}/-/ready")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    child
}

#[test]
fn while_every_alertmanager_is_down_the_pipeline_waits_and_then_delivers_everything() {
    let port = 19_193;
    let url = format!("http://127.0.0.1:{port}");
    let rule = "DownHot";
    let dir = tempfile::tempdir().unwrap();
    let start = write_input(dir.path(), rule, 60);
    write_pipeline(dir.path(), rule, &url);
    let mut running = run_pipeline(dir.path());
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        running.child().try_wait().unwrap().is_none(),
        "the run ended while its alerts could not be delivered"
    );
    let mut alertmanager = private_alertmanager(dir.path(), port);
    let stderr = finish(running);
    assert!(stderr.contains("retrying in"), "{stderr}");
    assert_hot_is_the_one_active_alert(&url, rule, start, dir.path());
    let _ = alertmanager.kill();
    let _ = alertmanager.wait();
}

/// The `endsAt` of the one active alert of `rule`.
fn ends_at(url: &str, rule: &str) -> Option<std::time::SystemTime> {
    let alerts = active(url, rule);
    let alert = alerts.first()?;
    Some(humantime::parse_rfc3339(alert["endsAt"].as_str().unwrap()).unwrap())
}

#[test]
fn a_firing_alert_is_posted_again_while_it_fires_and_expires_once_pipe_stops() {
    let url = alertmanager_url("ALERTMANAGER_URL", "alertmanager");
    let rule = format!("StillHot{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    // Samples up to a minute ahead: the rule is evaluated up to then at once, and the alert
    // fires throughout the test.
    let start = (now_millis() - 120_000) / 10_000 * 10_000;
    let lines: Vec<String> = (0..18)
        .map(|step| {
            let ts = start + step * 10_000;
            format!(
                r#"{{"metric_name":"temp_{rule}","timestamp":{ts},"value":90,"labels":{{"host":"hot"}}}}"#
            )
        })
        .collect();
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    write_pipeline_with(dir.path(), &rule, &url, ", follow = true", ", resend = 2s");
    let mut running = run_pipeline(dir.path());
    wait_for(Duration::from_secs(20), "the alert in Alertmanager", || {
        ends_at(&url, &rule).is_some()
    });
    let first = ends_at(&url, &rule).unwrap();
    // endsAt is four re-sends (8 s) ahead; without a re-send the alert would expire.
    std::thread::sleep(Duration::from_secs(10));
    let later = ends_at(&url, &rule).expect("the alert is still active 10 s later");
    assert!(later > first, "endsAt moved on: {first:?} then {later:?}");
    support::signal(running.child().id(), "-INT");
    let output = running.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Nothing posts it again: Alertmanager resolves it by itself within four re-sends.
    wait_for(Duration::from_secs(12), "the alert to expire", || {
        ends_at(&url, &rule).is_none()
    });
}
