//! The `timescale` sink against a real PostgreSQL (`scripts/services start postgres`): every
//! sample lands once with the value the pipeline read, a replay adds nothing, and a server that
//! is stopped under load and started again loses nothing and doubles nothing.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::stores::{
    assert_hourly_sums_match, one_at_a_time, pg_url, psql, services, unique_table,
};

fn summary(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary: {stdout}\n{stderr}"));
    assert_eq!(summary["ending"], "finished", "{stderr}");
    summary
}

fn pipectl(dir: &Path, arguments: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipectl"));
    command
        .current_dir(dir)
        .args(arguments)
        .env("PG_URL", pg_url());
    command
}

/// The rows of the table as `metric host ms value`, sorted.
fn table_rows(table: &str) -> Vec<String> {
    let mut rows: Vec<String> = psql(&format!(
        "SELECT metric_name, host, (extract(epoch FROM time) * 1000)::bigint, value FROM {table}"
    ))
    .lines()
    .map(|line| {
        let fields: Vec<&str> = line.split('\t').collect();
        let value: f64 = fields[3].parse().unwrap();
        format!("{} {} {} {value:?}", fields[0], fields[1], fields[2])
    })
    .collect();
    rows.sort();
    rows
}

/// The samples the file sink wrote, in the same form.
fn file_rows(path: &Path) -> Vec<String> {
    let mut rows: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let sample: Value = serde_json::from_str(line).unwrap();
            format!(
                "{} {} {} {:?}",
                sample["labels"]["metric_name"].as_str().unwrap(),
                sample["labels"]["host"].as_str().unwrap(),
                sample["timestamp_ms"],
                sample["value"].as_f64().unwrap()
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn every_sample_lands_once_with_its_value_and_a_replay_adds_nothing() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let table = unique_table("raw");
    std::fs::write(
        dir.path().join("p.pipe"),
        format!(
            "source metrics from generator {{ hosts = 10, metrics = 5, interval = 15s, pace = max }}\n\
             sink hot to timescale {{ from = metrics, url = env(\"PG_URL\"), table = \"{table}\", chunk = 10m }}\n\
             sink copy to file {{ from = metrics, path = \"out/samples.jsonl\" }}\n"
        ),
    )
    .unwrap();
    let run = || {
        summary(
            &pipectl(dir.path(), &["run", "p.pipe", "--for", "30m", "--json"])
                .output()
                .unwrap(),
        )
    };
    let first = run();
    let expected = file_rows(&dir.path().join("out/samples.jsonl"));
    assert_eq!(first["samples"].as_u64().unwrap(), 10 * 5 * 120);
    assert_eq!(expected.len(), 10 * 5 * 120);
    assert_eq!(table_rows(&table), expected);
    // 30 minutes in chunks of 10: three partitions.
    let partitions = psql(&format!(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = '{table}'::regclass \
         AND inhrelid::regclass::text LIKE '{table}_p17672%'"
    ));
    assert_eq!(partitions.trim(), "3");

    std::fs::remove_file(dir.path().join("out/samples.jsonl")).unwrap();
    run();
    assert_eq!(table_rows(&table), expected, "the replay doubled rows");
    assert_hourly_sums_match(&table);
    psql(&format!("DROP TABLE {table}, {table}_hourly"));
}

#[test]
fn a_server_stopped_under_load_and_started_again_loses_nothing_and_doubles_nothing() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let table = unique_table("down");
    // 2.9 million samples: the run lasts long enough to see the server go and come back.
    std::fs::write(
        dir.path().join("p.pipe"),
        format!(
            "source metrics from generator {{ hosts = 50, metrics = 20, interval = 15s, pace = max }}\n\
             sink hot to timescale {{ from = metrics, url = env(\"PG_URL\"), table = \"{table}\", chunk = 1h }}\n"
        ),
    )
    .unwrap();
    let child = pipectl(dir.path(), &["run", "p.pipe", "--for", "12h", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    services(&["stop", "postgres"]);
    std::thread::sleep(Duration::from_secs(30));
    services(&["start", "postgres"]);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("retrying"),
        "the run never saw the server down: {stderr}"
    );
    assert!(
        stderr.contains("sink `hot` waiting"),
        "the status line never said the sink was waiting: {stderr}"
    );
    let samples = summary(&output)["samples"].as_u64().unwrap();
    assert!(samples > 2_800_000, "{samples} samples");
    let counts = psql(&format!(
        "SELECT count(*), count(DISTINCT (series_id, time)) FROM {table}"
    ));
    assert_eq!(counts.trim(), format!("{samples}\t{samples}"));
    assert_hourly_sums_match(&table);
    psql(&format!("DROP TABLE {table}, {table}_hourly"));
}

#[test]
fn a_table_name_that_is_not_an_identifier_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.pipe"),
        "source metrics from generator { hosts = 1, metrics = 1, pace = max }\n\
         sink hot to timescale { from = metrics, url = \"postgres://u:hunter2@127.0.0.1:1/x\", table = \"x; DROP TABLE y\" }\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .current_dir(dir.path())
        .args(["run", "p.pipe", "--for", "1m"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("is not a plain identifier"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn migrate_prints_the_ddl_for_review_and_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let table = unique_table("migrated");
    std::fs::write(
        dir.path().join("p.pipe"),
        format!(
            "source metrics from kafka {{ brokers = \"127.0.0.1:1\", topic = \"t\", group = \"g\" }}\n\
             sink hot to timescale {{ from = metrics, url = env(\"PG_URL\"), table = \"{table}\", chunk = 1h, compress_after = 2h, retention = 7d }}\n\
             rollup m1 from metrics {{ window = tumble(1m), aggs = [count] }}\n\
             sink warm to clickhouse {{ from = m1, url = \"http://ops:hunter2@127.0.0.1:1\", table = \"m1\", ttl = 30d }}\n"
        ),
    )
    .unwrap();
    let offline = pipectl(
        dir.path(),
        &[
            "migrate",
            "p.pipe",
            "--postgres",
            "timescaledb",
            "--clickhouse",
            "24.8",
        ],
    )
    .output()
    .unwrap();
    let printed = String::from_utf8_lossy(&offline.stdout);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    assert!(
        printed.contains(&format!("SELECT create_hypertable('\"{table}\"'")),
        "{printed}"
    );
    assert!(printed.contains("add_retention_policy"), "{printed}");
    assert!(
        printed.contains("TTL window_start + toIntervalSecond(2592000)"),
        "{printed}"
    );
    assert!(!printed.contains("hunter2"));

    let _one = one_at_a_time();
    let applied = pipectl(
        dir.path(),
        &["migrate", "p.pipe", "--apply", "--clickhouse", "24.8"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&applied.stderr);
    // PostgreSQL is reached and migrated; the ClickHouse address is not a server.
    assert!(!applied.status.success());
    assert!(stderr.contains("cannot reach ClickHouse"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_eq!(
        psql(&format!(
            "SELECT relkind FROM pg_class WHERE relname = '{table}'"
        ))
        .trim(),
        "p"
    );
    psql(&format!("DROP TABLE {table}, {table}_hourly"));
}
