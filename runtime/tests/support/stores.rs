//! What the tests against the storage servers share: their addresses (from
//! `scripts/services start postgres clickhouse`) and a way to ask each a question in SQL.

use std::process::Command;

/// The PostgreSQL `scripts/services start postgres` started; a test fails, saying how to
/// start one, when there is none.
pub fn pg_url() -> String {
    std::env::var("PG_URL").unwrap_or_else(|_| {
        panic!(
            "PG_URL is not set: these tests need PostgreSQL. Start it with \
             `eval \"$(scripts/services start postgres)\"` (scripts/test does it), then run the tests again"
        )
    })
}

/// The ClickHouse `scripts/services start clickhouse` started; a test fails, saying how to
/// start one, when there is none.
pub fn clickhouse_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| {
        panic!(
            "CLICKHOUSE_URL is not set: these tests need ClickHouse. Start it with \
             `eval \"$(scripts/services start clickhouse)\"` (scripts/test does it), then run the tests again"
        )
    })
}

/// The rows PostgreSQL answers `sql` with, tab-separated, one per line.
pub fn psql(sql: &str) -> String {
    let output = Command::new("psql")
        .args([&pg_url(), "-X", "-q", "-t", "-A", "-F", "\t", "-c", sql])
        .output()
        .expect("psql runs (scripts/services installs it with PostgreSQL)");
    assert!(
        output.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// What ClickHouse answers `sql` with (tab-separated by default).
pub fn clickhouse(sql: &str) -> String {
    let output = Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            &clickhouse_url(),
            "--data-binary",
            sql,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{sql}: {text}");
    text
}

/// A table name no other run uses (an identifier).
pub fn unique_table(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}_{}_{nanos}", std::process::id())
}

/// Checks the sink's hourly sums against the rows of `table`: per metric and hour the same count
/// and (within rounding) the same sum, and the table's every hour there.
pub fn assert_hourly_sums_match(table: &str) {
    let disagreeing = psql(&format!(
        "SELECT count(*) FROM (SELECT metric_name, hour, sum(count) AS n, sum(sum) AS total \
         FROM {table}_hourly GROUP BY 1, 2) s FULL JOIN (SELECT metric_name, \
         date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, \
         count(*) AS n, sum(value) AS total FROM {table} GROUP BY 1, 2) r \
         USING (metric_name, hour) WHERE s.n IS DISTINCT FROM r.n \
         OR abs(s.total - r.total) > 1e-9 * greatest(abs(r.total), 1)"
    ));
    assert_eq!(
        disagreeing.trim(),
        "0",
        "hours whose sums disagree with the rows"
    );
    let hours = psql(&format!("SELECT count(*) FROM {table}_hourly"));
    assert!(hours.trim().parse::<u64>().unwrap() > 0, "no hourly sums");
}

/// One test of a binary at a time, where one of them stops a server.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `scripts/services` with `arguments` (such as `stop postgres`).
pub fn services(arguments: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services");
    let status = Command::new(script)
        .args(arguments)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "scripts/services {arguments:?}");
}
