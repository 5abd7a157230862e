//! End to end: `pipectl loadgen` → Kafka → the production pipeline (`pipelines/metrics.pipe`,
//! its Alertmanager sink included) → PostgreSQL and ClickHouse, with the pipeline killed
//! (SIGKILL) while loadgen still sends and started again. Then, in SQL: the raw table holds
//! every good sample exactly once; each 1-minute window's count, sum, min and max equal the
//! same aggregates computed over the raw table; its quantiles are the raw samples' at the
//! sketch's rank; the hourly windows written equal the minutes aggregated.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::kafka::{brokers, create_topic, loadgen, one_at_a_time, unique};
use support::stores::{
    assert_hourly_sums_match, clickhouse, clickhouse_url, pg_url, psql, unique_table,
};
use support::{Running, signal, wait_for};

fn pipectl(dir: &Path) -> Running {
    Running::new(
        Command::new(env!("CARGO_BIN_EXE_pipectl"))
            .current_dir(dir)
            .args(["run", "p.pipe"])
            .env("KAFKA_BROKERS", brokers())
            .env("PG_URL", pg_url())
            .env("CLICKHOUSE_URL", clickhouse_url())
            .env("ALERTMANAGER_URL", alertmanager_url())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// `pipelines/metrics.pipe`, each name in `renames` replaced so that the run has topics and
/// tables of its own.
fn production_pipeline(renames: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/metrics.pipe");
    let mut text: String = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| format!("{line}\n"))
        .collect();
    for (from, to) in renames {
        assert!(text.contains(from), "pipelines/metrics.pipe names {from}");
        text = text.replace(from, to);
    }
    text
}

fn alertmanager_url() -> String {
    std::env::var("ALERTMANAGER_URL").unwrap_or_else(|_| {
        panic!("ALERTMANAGER_URL is not set: start Alertmanager with `export $(scripts/services start alertmanager)`")
    })
}

/// (metric, host, minute) → [count, sum, min, max, and two quantiles].
type Minutes = BTreeMap<(String, String, u64), [f64; 6]>;

fn minutes(text: &str) -> Minutes {
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let number = |at: usize| f[at].parse::<f64>().unwrap();
            (
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap()),
                [3, 4, 5, 6, 7, 8].map(number),
            )
        })
        .collect()
}

#[test]
fn loadgen_through_kafka_to_postgresql_and_clickhouse_survives_a_sigkill() {
    let _one = one_at_a_time();
    let topic = unique("storage");
    let (raw, m1, m1h) = (unique_table("raw"), unique_table("m1"), unique_table("m1h"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.pipe"),
        production_pipeline(&[
            ("\"metrics-raw\"", &format!("\"{topic}\"")),
            ("\"pipe-metrics\"", &format!("\"{}\"", unique("storage"))),
            ("\"metrics-dlq\"", &format!("\"{topic}-dlq\"")),
            ("\"metrics_hot\"", &format!("\"{raw}\"")),
            ("\"metrics_1m\"", &format!("\"{m1}\"")),
            ("\"metrics_1h\"", &format!("\"{m1h}\"")),
        ]),
    )
    .unwrap();
    create_topic(&topic, 4);
    let producing = {
        let topic = topic.clone();
        std::thread::spawn(move || {
            loadgen(
                &topic,
                &[
                    "--partitions",
                    "4",
                    "--hosts",
                    "100",
                    "--metrics",
                    "10",
                    "--span",
                    "30m",
                    "--rate",
                    "max",
                    "--bad-fraction",
                    "0.01",
                ],
            )
        })
    };
    let raw_rows = || {
        psql(&format!("SELECT count(*) FROM {raw}"))
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let table_exists = || {
        !psql(&format!("SELECT to_regclass('{raw}')"))
            .trim()
            .is_empty()
    };

    // Killed once some rows are in, part of the data written.
    let mut first = pipectl(dir.path());
    wait_for(Duration::from_secs(120), "the first raw rows", || {
        table_exists() && raw_rows() > 0
    });
    signal(first.child().id(), "-KILL");
    drop(first);
    let written_before = raw_rows();
    let sent = producing.join().unwrap();
    let good = sent["sent"].as_u64().unwrap() - sent["bad"].as_u64().unwrap();
    assert!(
        written_before < good,
        "the kill came after every row was written ({written_before})"
    );

    let mut second = pipectl(dir.path());
    let minute_count = || {
        clickhouse(&format!("SELECT sum(count) FROM {m1} FINAL"))
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    wait_for(
        Duration::from_secs(180),
        "every good sample in both stores",
        || raw_rows() == good && minute_count() == good,
    );
    signal(second.child().id(), "-INT");
    let output = second.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The raw table: every good sample once.
    assert_eq!(
        psql(&format!(
            "SELECT count(*), count(DISTINCT (series_id, time)) FROM {raw}"
        ))
        .trim(),
        format!("{good}\t{good}")
    );

    // The minutes, from the raw table in SQL and from ClickHouse. The sketch's p95 is the value
    // of rank ⌊0.95·(n − 1)⌋ (0-based) within 1%; PostgreSQL's percentile_disc(0.95) is the
    // value of rank ⌈0.95·n⌉ − 1, the same or the next (docs/language.md says where pipe's
    // quantiles differ), so the stored p95 is at most percentile_disc's, within 1%.
    let from_raw = minutes(&psql(&format!(
        "SELECT metric_name, host, extract(epoch FROM date_trunc('minute', time))::bigint, \
         count(*), sum(value), min(value), max(value), \
         (array_agg(value ORDER BY value))[floor(0.95 * (count(*) - 1))::int + 1], \
         percentile_disc(0.95) WITHIN GROUP (ORDER BY value) \
         FROM {raw} GROUP BY 1, 2, 3"
    )));
    clickhouse(&format!("OPTIMIZE TABLE {m1} FINAL"));
    let from_clickhouse = minutes(&clickhouse(&format!(
        "SELECT metric_name, host, toUInt32(window_start), count, sum, min, max, p95, p95 FROM {m1}"
    )));
    assert_eq!(from_clickhouse.len(), from_raw.len(), "windows, once each");
    let within_one_percent = |a: f64, b: f64| (a - b).abs() <= 0.01 * b.abs();
    for (key, raw_values) in &from_raw {
        let stored = from_clickhouse
            .get(key)
            .unwrap_or_else(|| panic!("no window {key:?}"));
        let [count, sum, min, max, p95, _] = *stored;
        let [
            raw_count,
            raw_sum,
            raw_min,
            raw_max,
            at_rank,
            percentile_disc,
        ] = *raw_values;
        assert_eq!([count, min, max], [raw_count, raw_min, raw_max], "{key:?}");
        assert!(
            (sum - raw_sum).abs() <= 1e-9 * raw_sum.abs().max(1.0),
            "{key:?}: sum {sum} against {raw_sum}"
        );
        assert!(
            within_one_percent(p95, at_rank),
            "{key:?}: p95 {p95} against {at_rank}"
        );
        assert!(
            p95 <= percentile_disc || within_one_percent(p95, percentile_disc),
            "{key:?}: p95 {p95} above percentile_disc {percentile_disc}"
        );
    }

    // The hours written equal the minutes aggregated.
    let mismatched = clickhouse(&format!(
        "SELECT count() FROM (SELECT metric_name, host, toStartOfHour(window_start) AS window_start, \
         sum(count) AS c, min(min) AS lo, max(max) AS hi FROM {m1} FINAL \
         GROUP BY metric_name, host, window_start) ANY INNER JOIN (SELECT metric_name, host, window_start, \
         count AS hc, min AS hlo, max AS hhi FROM {m1h} FINAL) USING (metric_name, host, window_start) \
         WHERE c != hc OR lo != hlo OR hi != hhi"
    ));
    assert_eq!(mismatched.trim(), "0");
    // The sink's hourly sums hold every row once, through the kill and the replay.
    assert_hourly_sums_match(&raw);

    psql(&format!("DROP TABLE {raw}, {raw}_hourly"));
    for table in [&m1, &m1h] {
        clickhouse(&format!("DROP TABLE {table}"));
        clickhouse(&format!("DROP TABLE {table}_points"));
    }
}

#[test]
fn the_storage_bench_writes_measures_and_counts_what_it_wrote() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args([
            "bench",
            "storage",
            "--hosts",
            "10",
            "--metrics",
            "2",
            "--hours",
            "1",
        ])
        .args(["--rows", "2000", "--writers", "3", "--runs", "2", "--json"])
        .env("PG_URL", pg_url())
        .env("CLICKHOUSE_URL", clickhouse_url())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let runs: Vec<(String, u64, u64, u64)> = report["raw_throughput"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            (
                run["method"].as_str().unwrap().to_string(),
                run["batch_rows"].as_u64().unwrap(),
                run["writers"].as_u64().unwrap(),
                run["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, u64, u64)> = [
        ("sink", 100, 1),
        ("sink", 500, 1),
        ("sink", 1000, 1),
        ("sink", 5000, 1),
        ("sink", 5000, 3),
        ("insert", 1000, 1),
        ("psql copy", 0, 1),
    ]
    .into_iter()
    .map(|(method, batch, writers)| (method.to_string(), batch, writers, 2000))
    .collect();
    assert_eq!(runs, expected);
    // 20 series every 15 s for an hour; a window per series and minute.
    assert_eq!(report["raw_load"]["rows"], 20 * 240);
    assert_eq!(report["rollups"]["rows"], 20 * 60);
    assert!(report["raw_bytes_per_row"].as_f64().unwrap() > 0.0);
    assert_eq!(report["raw_queries"]["top_10_hosts_by_cpu_5m"]["runs"], 2);
    // The bench leaves nothing behind.
    assert_eq!(
        psql("SELECT to_regclass('pipe_bench_raw') IS NULL").trim(),
        "t"
    );
}
