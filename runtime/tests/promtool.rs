//! The same rules and series through Prometheus's own `promtool test rules` and through pipe:
//! the rules of `tests/prometheus/rules.yml` are imported with `pipectl import prometheus`,
//! pipe's firing alerts at every 15 s step become a promtool test, and promtool must agree
//! with every one of them. Needs `promtool` (Debian's `prometheus` package; `scripts/test`
//! installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use pipe_dsl::import::{InputFile, Options, prometheus};
use pipe_dsl::testing::{InputSeries, TestCase};
use pipe_runtime::rule_test::{firing_timeline, run_case};
use serde_json::{Value, json};

/// The evaluation step of the rules, as `interval: 15s` in rules.yml sets it.
const STEP_MS: u64 = 15_000;

/// The samples of the step-by-step comparison are this far apart and none is at time 0, so that
/// none lies on the left end of a window. Debian 12's promtool is Prometheus 2.42, whose ranges
/// are `[t - range, t]`; Prometheus 3, which pipe follows, made them `(t - range, t]`. Off the
/// ends the two versions agree, and so must pipe.
const SAMPLE_INTERVAL_MS: u64 = 15_001;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prometheus")
}

fn input(name: &str) -> InputFile {
    InputFile {
        name: name.to_string(),
        text: std::fs::read_to_string(dir().join(name)).unwrap(),
    }
}

fn promtool(test_file: &Path) -> (bool, String) {
    let output = Command::new("promtool")
        .args(["test", "rules"])
        .arg(test_file)
        .current_dir(test_file.parent().unwrap())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run promtool ({error}): install Debian's `prometheus` package \
                 (`apt-get install prometheus`; scripts/test does)"
            )
        });
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The imported pipeline's plan and its one test, converted from the promtool suite.
fn imported() -> (pipe_dsl::Plan, TestCase) {
    let imported = prometheus(
        &[input("rules.yml")],
        &[input("rules.test.yml")],
        &Options { step: 60_000 },
    );
    let skipped: Vec<&str> = imported.skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "service:http_requests:rate5m",
            "InstanceDown",
            "FancySummary"
        ]
    );
    assert_eq!(imported.converted, 6);
    let compiled = pipe_dsl::compile(&imported.pipe, &|_| None);
    assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
    let mut tests = compiled.tests;
    assert_eq!(tests.len(), 1);
    (compiled.plan.unwrap(), tests.remove(0))
}

#[test]
fn promtool_passes_the_hand_written_suite_and_so_does_pipe_after_import() {
    let (passed, output) = promtool(&dir().join("rules.test.yml"));
    assert!(passed, "promtool: {output}");
    let (plan, case) = imported();
    let mismatches = run_case(&plan, &case);
    assert!(
        mismatches.is_empty(),
        "pipe disagrees with the suite promtool passes: {mismatches:#?}"
    );
}

#[test]
fn promtool_agrees_with_pipe_on_every_alert_at_every_step() {
    let (plan, mut case) = imported();
    case.interval = Some(SAMPLE_INTERVAL_MS);
    for series in &mut case.input {
        series.values.insert(0, None);
    }
    // pipe evaluates from its first sample, promtool from time 0: one sample at 0 of a metric
    // no rule reads starts both at once.
    case.input.push(InputSeries {
        labels: vec![("metric_name".to_string(), "evaluation_start".to_string())],
        values: vec![Some(1.0)],
        span: case.span,
    });
    let timeline = firing_timeline(&plan, &case, STEP_MS);
    // Every rule fires at some step and is quiet at another, so that agreement means something.
    for rule in &plan.alerts {
        let steps: Vec<bool> = timeline
            .iter()
            .filter(|(_, name, _)| *name == rule.name)
            .map(|(_, _, alerts)| !alerts.is_empty())
            .collect();
        assert!(
            steps.contains(&true) && steps.contains(&false),
            "{} fires at every step or none: the input does not exercise it",
            rule.name
        );
    }
    let tests: Vec<Value> = timeline
        .iter()
        .map(|(at, rule, alerts)| {
            let expected: Vec<Value> = alerts
                .iter()
                .map(|alert| json!({ "exp_labels": alert.labels, "exp_annotations": alert.annotations }))
                .collect();
            json!({ "eval_time": format!("{}s", at / 1000), "alertname": rule, "exp_alerts": expected })
        })
        .collect();
    let suite = json!({
        "rule_files": [dir().join("rules.yml")],
        "evaluation_interval": "15s",
        "tests": [{
            "interval": format!("{SAMPLE_INTERVAL_MS}ms"),
            "input_series": input_series(&case),
            "alert_rule_test": tests,
        }],
    });
    let scratch = tempfile::tempdir().unwrap();
    // JSON is YAML: promtool reads it as it is.
    let file = scratch.path().join("pipe_timeline.test.yml");
    std::fs::write(&file, serde_json::to_string_pretty(&suite).unwrap()).unwrap();
    let (passed, output) = promtool(&file);
    assert!(
        passed,
        "promtool disagrees with pipe's timeline ({} checks):\n{output}",
        timeline.len()
    );
}

/// The test's series back in promtool's form, one value per interval.
fn input_series(case: &TestCase) -> Vec<Value> {
    case.input
        .iter()
        .map(|series| {
            let (_, metric) = &series.labels[0];
            let labels: Vec<String> = series.labels[1..]
                .iter()
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect();
            let values: Vec<String> = series
                .values
                .iter()
                .map(|value| value.map_or("_".to_string(), |v| v.to_string()))
                .collect();
            json!({ "series": format!("{metric}{{{}}}", labels.join(", ")), "values": values.join(" ") })
        })
        .collect()
}
