//! `pipectl validate`, `fmt` and `plan` as a user runs them: exit codes, what is printed where.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn pipectl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["--color", "never"])
        .args(args)
        .env_remove("PIPE_CLI_TEST_VAR")
        .output()
        .unwrap()
}

fn pipeline(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(name)
        .display()
        .to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn validate_accepts_the_example_pipelines() {
    let output = pipectl(&[
        "validate",
        &pipeline("quickstart.pipe"),
        &pipeline("kafka.pipe"),
        &pipeline("metrics.pipe"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("quickstart.pipe (1 source, 2 rollups, 3 alert rules, 2 sinks)"));
    assert!(stdout.contains("kafka.pipe (1 source, 2 rollups, 2 alert rules, 4 sinks)"));
    assert!(stdout.contains("metrics.pipe (1 source, 2 rollups, 0 alert rules, 4 sinks)"));
    assert!(text(&output.stderr).contains("warning[W0001]: nothing reads the rollup `metrics_1h`"));
}

#[test]
fn validate_fails_with_every_error_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.pipe",
        "source metrics from generator {\n  hots = 10\n}\nsink out to console { from = metrix }\n",
    );
    let output = pipectl(&["validate", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error[E0104]: unknown property `hots` for generator sources\n --> {}:2:3",
            file.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("help: did you mean `hosts`?"));
    assert!(
        stderr.contains(&format!("{}:4:30", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("is not valid: 2 errors"));
    assert!(output.stdout.is_empty());
}

#[test]
fn validate_can_deny_warnings_and_reports_unreadable_files() {
    let output = pipectl(&["validate", "--deny-warnings", &pipeline("quickstart.pipe")]);
    assert_eq!(output.status.code(), Some(1));
    let output = pipectl(&["validate", "/nonexistent/file.pipe"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("error: cannot read `/nonexistent/file.pipe`"));
}

#[test]
fn validate_reads_env_defaults_and_requires_variables_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "env.pipe",
        "source m from file { path = env(\"PIPE_CLI_TEST_VAR\") }\nsink s to console { from = m }\n",
    );
    let unset = pipectl(&["validate", file.to_str().unwrap()]);
    assert_eq!(unset.status.code(), Some(1));
    assert!(
        text(&unset.stderr)
            .contains("error[E0111]: environment variable `PIPE_CLI_TEST_VAR` is not set")
    );
    let set = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["validate", file.to_str().unwrap()])
        .env("PIPE_CLI_TEST_VAR", "samples.jsonl")
        .output()
        .unwrap();
    assert_eq!(set.status.code(), Some(0), "{}", text(&set.stderr));
}

#[test]
fn fmt_check_accepts_canonical_files_and_shows_a_diff_for_others() {
    let output = pipectl(&[
        "fmt",
        "--check",
        &pipeline("quickstart.pipe"),
        &pipeline("quickstart.pipe.test"),
        &pipeline("kafka.pipe.test"),
        &pipeline("bench.pipe.test"),
        &pipeline("metrics.pipe"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(output.stdout.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let messy = "source m from generator {\nhosts=1\n}\n";
    let file = write(dir.path(), "messy.pipe", messy);
    let output = pipectl(&["fmt", "--check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("-hosts=1\n+  hosts = 1\n"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        messy,
        "--check changes nothing"
    );
}

#[test]
fn fmt_rewrites_in_place_and_then_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "messy.pipe", "sink s to console {from=m}\n");
    let output = pipectl(&["fmt", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "sink s to console { from = m }\n"
    );
    assert_eq!(
        pipectl(&["fmt", "--check", file.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn fmt_reads_standard_input_and_refuses_syntax_errors() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sink s to console {from=m}")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(text(&output.stdout), "sink s to console { from = m }\n");

    let dir = tempfile::tempdir().unwrap();
    let broken = "source m from generator { hosts = = 1 }\n";
    let file = write(dir.path(), "broken.pipe", broken);
    let output = pipectl(&["fmt", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("error[E0001]"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
}

#[test]
fn plan_prints_the_tree_and_the_json_plan() {
    let output = pipectl(&["plan", &pipeline("quickstart.pipe")]);
    assert_eq!(output.status.code(), Some(0));
    let tree = text(&output.stdout);
    assert!(tree.contains("├─ rollup metrics_1m  tumble(1m)"), "{tree}");
    assert!(tree.contains("merge closed windows of metrics_1m (60 per window)"));

    let output = pipectl(&["plan", "--format", "json", &pipeline("quickstart.pipe")]);
    assert_eq!(output.status.code(), Some(0));
    let printed: pipe_dsl::Plan = serde_json::from_slice(&output.stdout).unwrap();
    let source = std::fs::read_to_string(pipeline("quickstart.pipe")).unwrap();
    assert_eq!(Some(printed), pipe_dsl::compile(&source, &|_| None).plan);
}

#[test]
fn plan_tree_hides_passwords_and_env_values_never_enter_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "secret.pipe",
        "source m from generator {}\nsink s to timescale { from = m, url = \"postgres://app:hunter2@db/metrics\", table = \"raw\" }\nsink t to timescale { from = m, url = env(\"PIPE_CLI_TEST_VAR\", \"postgres://db/m\"), table = \"raw2\" }\n",
    );
    let tree = pipectl(&["plan", file.to_str().unwrap()]);
    assert_eq!(tree.status.code(), Some(0));
    let tree = text(&tree.stdout);
    assert!(
        tree.contains("postgres://app:***@db/metrics") && !tree.contains("hunter2"),
        "{tree}"
    );

    let json = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args(["plan", "--format", "json", file.to_str().unwrap()])
        .env("PIPE_CLI_TEST_VAR", "postgres://app:from-env-secret@db/m")
        .output()
        .unwrap();
    let json = text(&json.stdout);
    assert!(json.contains("\"var\": \"PIPE_CLI_TEST_VAR\""), "{json}");
    assert!(
        !json.contains("from-env-secret"),
        "an environment value reached the plan: {json}"
    );
}

#[test]
fn test_runs_the_quickstart_tests_and_fails_on_a_broken_expectation() {
    let output = pipectl(&["test", &pipeline("quickstart.pipe")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("running 3 tests from"), "{stdout}");
    assert!(
        stdout.contains("test result: ok. 3 passed; 0 failed"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let quickstart = std::fs::read_to_string(pipeline("quickstart.pipe")).unwrap();
    let tests = std::fs::read_to_string(pipeline("quickstart.pipe.test")).unwrap();
    let file = write(dir.path(), "q.pipe", &quickstart);
    let broken = tests.replace("CPU on web-1 is 99%", "CPU on web-1 is 98%");
    write(dir.path(), "q.pipe.test", &broken);
    let output = pipectl(&["test", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("test high_cpu_pages_after_two_minutes_and_keeps_firing ... FAILED"));
    assert!(
        stdout.contains("test result: FAILED. 2 passed; 1 failed"),
        "{stdout}"
    );
    let stderr = text(&output.stderr);
    let line = broken
        .lines()
        .position(|line| line.trim_start().starts_with("HighCpu {") && !line.contains('}'))
        .unwrap()
        + 1;
    assert!(stderr.contains(&format!("q.pipe.test:{line}:")), "{stderr}");
    assert!(
        stderr.contains("at 2m, `HighCpu` has other alerts than expected"),
        "{stderr}"
    );
    assert!(stderr.contains(
        "expected: firing {host=\"web-1\", severity=\"critical\"} annotations {summary=\"CPU on web-1 is 98%\"}"
    ));
    assert!(stderr.contains(
        "actual:   firing {host=\"web-1\", severity=\"critical\"} annotations {summary=\"CPU on web-1 is 99%\"}"
    ));
}

#[test]
fn test_reads_test_blocks_in_the_pipeline_and_reports_a_file_without_tests() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = "source metrics from generator { interval = 10s }\n\
        alert Hot {\n  when max(temp) over 30s by host > 40\n  for 20s\n}\n\
        sink pages to console { from = alerts }\n\n\
        test hot_rack {\n  input {\n    temp{host=\"r1\"} = \"30 45x5 _x3 30x3\"\n    temp{host=\"r2\"} = \"30x12\"\n  }\n  \
        expect {\n    10s { Hot { host = \"r1\", state = pending } }\n    30s { Hot { host = \"r1\" } }\n    \
        1m20s { Hot { host = \"r1\" } }\n    1m30s { Hot = none }\n  }\n}\n";
    let file = write(dir.path(), "hot.pipe", pipeline);
    let output = pipectl(&["test", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("test hot_rack ... ok"));
    let output = pipectl(&["fmt", "--check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));

    let untested = write(
        dir.path(),
        "untested.pipe",
        &pipeline[..pipeline.find("test hot_rack").unwrap()],
    );
    let output = pipectl(&["test", untested.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("has no tests"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn import_prometheus_converts_rules_and_tests_into_a_pipeline_that_validates_and_passes() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prometheus/rules.yml");
    let tests = rules.with_file_name("rules.test.yml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported.pipe");
    let output = pipectl(&[
        "import",
        "prometheus",
        rules.to_str().unwrap(),
        "--tests",
        tests.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    for (line, name) in [
        (34, "service:http_requests:rate5m"),
        (36, "InstanceDown"),
        (39, "FancySummary"),
    ] {
        assert!(
            stderr.contains(&format!("rules.yml:{line}: `{name}` not imported: ")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("imported 6 alert rules; 3 not imported"),
        "{stderr}"
    );
    let pipeline = std::fs::read_to_string(&out).unwrap();
    assert!(
        pipeline.contains("when avg(cpu_usage_percent{environment=\"prod\"}) over 5m by host > 90")
    );
    assert!(pipeline.contains("rules.yml:36: InstanceDown: a bare selector"));
    let output = pipectl(&["validate", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = pipectl(&["fmt", "--check", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let output = pipectl(&["test", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("test fleet ... ok"));

    let nothing = write(
        dir.path(),
        "nothing.yml",
        "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n",
    );
    let output = pipectl(&["import", "prometheus", nothing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("nothing.yml:4: `Down` not imported"));
}

#[test]
fn every_rule_in_pipelines_has_tests_and_they_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "pipe"))
        .collect();
    files.sort();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let compiled = pipe_dsl::compile(&source, &|_| None);
        let plan = compiled
            .plan
            .unwrap_or_else(|| panic!("{} is valid", file.display()));
        if plan.alerts.is_empty() {
            continue;
        }
        let mut tests = compiled.tests;
        let beside = PathBuf::from(format!("{}.test", file.display()));
        if let Ok(text) = std::fs::read_to_string(&beside) {
            let rules: Vec<&str> = plan.alerts.iter().map(|r| r.name.as_str()).collect();
            let (more, diagnostics) = pipe_dsl::compile_tests(&text, &rules);
            assert!(
                diagnostics.is_empty(),
                "{}: {diagnostics:?}",
                beside.display()
            );
            tests.extend(more);
        }
        for rule in &plan.alerts {
            assert!(
                tests
                    .iter()
                    .flat_map(|t| &t.expectations)
                    .any(|e| e.rule == rule.name && !e.alerts.is_empty()),
                "{}: no test expects `{}` to fire",
                file.display(),
                rule.name
            );
        }
        let output = pipectl(&["test", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
}

#[test]
fn capacity_plans_thirteen_months_with_both_models() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("plan.svg");
    let metrics = pipeline("metrics.pipe");
    let capacity = |servers: &str, more: &[&str]| {
        let fleet = ["capacity", &metrics, "--servers", servers];
        pipectl(&[&fleet[..], &["--metrics-per-server", "50"], more].concat())
    };
    let output = capacity(
        "100000",
        &[
            "--growth",
            "15%/month",
            "--months",
            "12",
            "--json",
            "--chart",
            chart.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let months = report["months"].as_array().unwrap();
    assert_eq!(months.len(), 13);
    assert_eq!(months[0]["reference"]["monthly_usd"], 18_800);
    assert_eq!(months[12]["reference"]["samples_per_second"], 1_783_416);
    assert_eq!(months[12]["measured"]["samples_per_second"], 1_783_416);
    assert!(months[0]["measured"]["postgres"]["nodes"].as_u64() > Some(0));
    let reference = capacity("100000", &["--model", "reference", "--json"]);
    let reference: serde_json::Value = serde_json::from_slice(&reference.stdout).unwrap();
    assert!(reference["months"][0].get("measured").is_none());
    assert_eq!(reference["months"][0]["reference"]["clickhouse_nodes"], 7);
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    // Both plans on each of the two charts (nodes, cost).
    assert_eq!(
        svg.matches("reference design&apos;s planner").count(),
        2,
        "{svg}"
    );
    assert_eq!(svg.matches("measured (pipe&apos;s figures)").count(), 2);
    // The four lines (nodes and cost of both plans), each through the 13 months.
    let lines = svg
        .split("<polyline")
        .skip(1)
        .filter_map(|line| line.split("points=\"").nth(1)?.split('"').next())
        .filter(|points| {
            points
                .split_whitespace()
                .filter(|p| p.contains(','))
                .count()
                == 13
        })
        .count();
    assert_eq!(lines, 4, "{svg}");
    let csv = capacity("1000", &["--interval", "0s", "--csv"]);
    assert!(!csv.status.success());
    assert!(
        text(&csv.stderr).contains("not a duration"),
        "{}",
        text(&csv.stderr)
    );
}
