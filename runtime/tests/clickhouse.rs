//! The `clickhouse` sink against a real ClickHouse (`scripts/services start clickhouse`,
//! Debian's 18.16): every window lands with the values the pipeline computed, a replay
//! collapses into the rows written before, hourly windows equal the minutes aggregated, and
//! quantiles merged from the stored sketch points agree with the pipeline's. The DDL for
//! modern servers runs on a current engine (chDB, in-process).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use pipe_dsl::plan::{ClickHouseSink, Duration, Text};
use pipe_runtime::sinks::clickhouse::schema::{self, Table, Version};
use serde_json::Value;
use support::stores::{
    clickhouse as query, clickhouse_url, one_at_a_time, services, unique_table as unique,
};

fn run(dir: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .current_dir(dir)
        .args(["run", "p.pipe", "--for", "3h", "--json"])
        .env("CLICKHOUSE_URL", clickhouse_url())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary: {stdout}\n{stderr}"))
}

/// (metric, host, start in seconds) → (count, sum, min, max, avg, p95), from the file sink.
type Windows = BTreeMap<(String, String, u64), [f64; 6]>;

fn file_windows(path: &Path) -> Windows {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let w: Value = serde_json::from_str(line).unwrap();
            let key = (
                w["labels"]["metric_name"].as_str().unwrap().to_string(),
                w["labels"]["host"].as_str().unwrap().to_string(),
                w["start_ms"].as_u64().unwrap() / 1000,
            );
            let values =
                ["count", "sum", "min", "max", "avg", "p95"].map(|a| w[a].as_f64().unwrap());
            (key, values)
        })
        .collect()
}

fn table_windows(table: &str) -> Windows {
    query(&format!(
        "SELECT metric_name, host, toUInt32(window_start), count, sum, min, max, avg, p95 \
         FROM {table} FINAL FORMAT TabSeparated"
    ))
    .lines()
    .map(|line| {
        let f: Vec<&str> = line.split('\t').collect();
        let number = |at: usize| f[at].parse::<f64>().unwrap();
        (
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap()),
            [
                number(3),
                number(4),
                number(5),
                number(6),
                number(7),
                number(8),
            ],
        )
    })
    .collect()
}

#[test]
fn windows_land_with_their_values_once_and_quantiles_merge_from_the_stored_points() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (minutes, hours) = (unique("m1"), unique("m1h"));
    std::fs::write(
        dir.path().join("p.pipe"),
        format!(
            "source metrics from generator {{ hosts = 20, metrics = 5, interval = 15s, pace = max }}\n\
             rollup m1 from metrics {{ window = tumble(1m), by = [metric_name, host], aggs = [count, sum, min, max, avg, p95] }}\n\
             rollup m1h from m1 {{ window = tumble(1h) }}\n\
             sink warm to clickhouse {{ from = m1, url = env(\"CLICKHOUSE_URL\"), table = \"{minutes}\", ttl = 30d }}\n\
             sink cold to clickhouse {{ from = m1h, url = env(\"CLICKHOUSE_URL\"), table = \"{hours}\", ttl = 365d }}\n\
             sink copy to file {{ from = m1, path = \"out/m1.jsonl\" }}\n\
             sink copy_h to file {{ from = m1h, path = \"out/m1h.jsonl\" }}\n"
        ),
    )
    .unwrap();
    let summary = run(dir.path());
    let expected = file_windows(&dir.path().join("out/m1.jsonl"));
    assert_eq!(expected.len(), 20 * 5 * 180);
    assert_eq!(table_windows(&minutes), expected);
    assert_eq!(
        table_windows(&hours),
        file_windows(&dir.path().join("out/m1h.jsonl"))
    );
    assert_eq!(
        query(&format!("SELECT sum(count) FROM {minutes} FINAL")).trim(),
        summary["samples"].to_string()
    );

    // The hourly table equals the minutes aggregated.
    let mismatched = query(&format!(
        "SELECT count() FROM (SELECT metric_name, host, toStartOfHour(window_start) AS window_start, \
         sum(count) AS c, min(min) AS lo, max(max) AS hi, sum(sum) AS s FROM {minutes} FINAL \
         GROUP BY metric_name, host, window_start) ANY INNER JOIN (SELECT metric_name, host, window_start, \
         count AS hc, min AS hlo, max AS hhi, sum AS hs FROM {hours} FINAL) USING (metric_name, host, window_start) \
         WHERE c != hc OR lo != hlo OR hi != hhi OR abs(s - hs) > 1e-6 * abs(hs)"
    ));
    assert_eq!(mismatched.trim(), "0");

    // A quantile merged from the minutes' points is the hour's, within the sketch's 1% and a rank.
    let far = query(&format!(
        "SELECT count() FROM (SELECT metric_name, host, toStartOfHour(window_start) AS window_start, \
         quantileExactWeighted(0.95)(value, weight) AS q FROM {minutes}_points \
         GROUP BY metric_name, host, window_start) ANY INNER JOIN (SELECT metric_name, host, window_start, p95 \
         FROM {hours} FINAL) USING (metric_name, host, window_start) WHERE abs(q - p95) > 0.03 * abs(p95)"
    ));
    assert_eq!(far.trim(), "0");

    // A replay writes the same rows again; they collapse by (series, window).
    run(dir.path());
    query(&format!("OPTIMIZE TABLE {minutes} FINAL"));
    assert_eq!(
        query(&format!("SELECT count() FROM {minutes}")).trim(),
        (20 * 5 * 180).to_string()
    );
    assert_eq!(table_windows(&minutes), expected);
    for table in [&minutes, &hours] {
        query(&format!("DROP TABLE {table}"));
        query(&format!("DROP TABLE {table}_points"));
    }
}

#[test]
fn the_modern_ddl_runs_on_a_current_engine() {
    let settings = ClickHouseSink {
        url: Text::Literal("http://127.0.0.1:8123".into()),
        table: Text::Literal("metrics_1m".into()),
        database: Text::Literal("default".into()),
        ttl: Some(Duration(30 * 86_400_000)),
    };
    let table = Table::parse("default", "metrics_1m").unwrap();
    let mut statements = schema::create(&table, &settings, Version::parse("26.1").unwrap());
    statements.push(
        "INSERT INTO default.metrics_1m (metric_name, host, series_id, window_start, window_end, \
         count, sum, min, max, p95, sketch_values, sketch_counts) VALUES \
         ('cpu', 'a', 1, now(), now() + 60, 4, 10, 1, 4, 4, [1, 2, 3, 4], [1, 1, 1, 1])"
            .into(),
    );
    statements.push(
        "SELECT quantileExactWeighted(0.5)(value, weight) FROM default.metrics_1m_points".into(),
    );
    let script = format!(
        "import chdb.session as s\nsession = s.Session()\n{}",
        statements
            .iter()
            .map(|sql| format!("print(session.query({sql:?}, 'TSV'), end='')\n"))
            .collect::<String>()
    );
    let output = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chDB (`python3 -m pip install chdb-core`; scripts/test installs it): {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
}

#[test]
fn a_server_stopped_for_30_s_under_load_loses_nothing_and_doubles_nothing() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let table = unique("down");
    // 96 hours of 1,000 series: 5.7 M windows, more than ClickHouse takes in two seconds.
    std::fs::write(
        dir.path().join("p.pipe"),
        format!(
            "source metrics from generator {{ hosts = 50, metrics = 20, interval = 15s, pace = max }}\n\
             rollup m1 from metrics {{ window = tumble(1m), by = [metric_name, host], aggs = [count, sum] }}\n\
             sink warm to clickhouse {{ from = m1, url = env(\"CLICKHOUSE_URL\"), table = \"{table}\" }}\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .current_dir(dir.path())
        .args(["run", "p.pipe", "--for", "96h", "--json"])
        .env("CLICKHOUSE_URL", clickhouse_url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    services(&["stop", "clickhouse"]);
    std::thread::sleep(std::time::Duration::from_secs(30));
    services(&["start", "clickhouse"]);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("retrying"),
        "the run never saw the server down: {stderr}"
    );
    assert!(
        stderr.contains("sink `warm` waiting"),
        "the status line never said the sink was waiting: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    let (samples, windows) = (&summary["samples"], &summary["windows"]);
    // 96 hours of 1,000 series, less the generator's silent hosts.
    assert!(windows.as_u64().unwrap() > 5_700_000, "{summary}");
    let counts = query(&format!(
        "SELECT count(), sum(count), uniqExact(metric_name, host, window_start) FROM {table} FINAL"
    ));
    assert_eq!(counts.trim(), format!("{windows}\t{samples}\t{windows}"));
    query(&format!("DROP TABLE {table}"));
    query(&format!("DROP TABLE {table}_points"));
}
