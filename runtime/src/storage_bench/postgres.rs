//! The raw tier on PostgreSQL: how fast the `timescale` sink writes rows, beside a plain
//! multi-row `INSERT` and beside `psql` copying the same rows in binary; how fast the three
//! queries a raw tier serves answer over a day of a fleet; and how many bytes a row takes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::data::DataSet;
use super::server_cpu::ServerCpu;
use super::{Timings, drain, progress};
use crate::sinks::store::Batches;
use crate::sinks::timescale::schema::{COLUMNS, LABEL_COLUMNS};
use crate::sinks::timescale::writer::{Postgres, Row, Target, describe, labels_json};

/// Rows in one multi-row `INSERT`: 9 parameters each, under PostgreSQL's 65,535.
const INSERT_ROWS: usize = 1_000;

/// Ticks written between two waits for every writer to catch up (bounds what is in memory).
const LOAD_TICKS: u64 = 40;

/// One way of writing the throughput set.
#[derive(Debug, Serialize)]
pub struct Throughput {
    /// `sink`, `insert` or `psql copy`.
    pub method: String,
    /// Rows per statement or batch (0: one COPY of every row).
    pub batch_rows: usize,
    /// Connections writing at once.
    pub writers: usize,
    /// Rows written.
    pub rows: u64,
    /// Seconds from the first row to the last commit.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_second: f64,
    /// CPU seconds the server spent on them, when it runs on this machine.
    pub server_cpu_seconds: Option<f64>,
    /// Rows per CPU-second of the server: rows per second one of its cores takes.
    pub rows_per_server_cpu_second: Option<f64>,
}

impl Throughput {
    pub(super) fn new(
        method: &str,
        batch_rows: usize,
        writers: usize,
        rows: u64,
        took: Duration,
    ) -> Self {
        Throughput {
            method: method.to_string(),
            batch_rows,
            writers,
            rows,
            seconds: took.as_secs_f64(),
            rows_per_second: rows as f64 / took.as_secs_f64(),
            server_cpu_seconds: None,
            rows_per_server_cpu_second: None,
        }
    }

    /// With what the server spent on the rows, measured from `cpu`'s start.
    pub(super) fn with_server_cpu(mut self, cpu: Option<ServerCpu>) -> Self {
        self.server_cpu_seconds = cpu.and_then(|cpu| cpu.seconds());
        self.rows_per_server_cpu_second = self
            .server_cpu_seconds
            .filter(|seconds| *seconds > 0.0)
            .map(|seconds| self.rows as f64 / seconds);
        self
    }
}

/// A connection for the bench's own statements.
pub async fn connect(target: &Target) -> anyhow::Result<Client> {
    let (client, connection) = target
        .config
        .connect(NoTls)
        .await
        .map_err(|error| anyhow::anyhow!("cannot reach PostgreSQL: {}", describe(&error)))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Writes `rows` through `writers` of the sink's connections in batches of `batch_rows`.
pub fn through_sink(
    target: &Target,
    rows: &[Row],
    batch_rows: usize,
    writers: usize,
) -> anyhow::Result<Throughput> {
    let mut sinks = open_writers(target, batch_rows, writers)?;
    let started = Instant::now();
    for (at, row) in rows.iter().enumerate() {
        sinks[at % writers].push(row.ts, row.clone());
    }
    drain(&mut sinks)?;
    Ok(Throughput::new(
        "sink",
        batch_rows,
        writers,
        rows.len() as u64,
        started.elapsed(),
    ))
}

/// The sink's writers, each on its own connection, the table created by the first.
fn open_writers(
    target: &Target,
    batch_rows: usize,
    writers: usize,
) -> anyhow::Result<Vec<Batches<Row>>> {
    (0..writers)
        .map(|_| {
            Batches::start(
                &target.what,
                Postgres::new(target.clone()),
                batch_rows,
                Duration::from_millis(100),
                Default::default(),
            )
        })
        .collect()
}

/// Writes `rows` with multi-row `INSERT … VALUES` statements of [`INSERT_ROWS`] rows.
pub async fn through_insert(
    client: &Client,
    target: &Target,
    rows: &[Row],
) -> anyhow::Result<Throughput> {
    let values: Vec<String> = (0..INSERT_ROWS)
        .map(|row| {
            let at = |column: usize| format!("${}", row * 9 + column + 1);
            format!(
                "({}, {}, {}, {}::text::jsonb, {}, {}, {}, {}, {})",
                at(0),
                at(1),
                at(2),
                at(3),
                at(4),
                at(5),
                at(6),
                at(7),
                at(8)
            )
        })
        .collect();
    let statement = client
        .prepare(&format!(
            "INSERT INTO {} ({COLUMNS}) VALUES {}",
            target.table,
            values.join(", ")
        ))
        .await?;
    let started = Instant::now();
    for chunk in rows.chunks(INSERT_ROWS) {
        let owned: Vec<InsertRow> = chunk.iter().map(InsertRow::from).collect();
        let mut parameters: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(INSERT_ROWS * 9);
        for row in &owned {
            parameters.extend(row.parameters());
        }
        if chunk.len() == INSERT_ROWS {
            client.execute(&statement, &parameters).await?;
        } else {
            let tail = &values[..chunk.len()];
            let sql = format!(
                "INSERT INTO {} ({COLUMNS}) VALUES {}",
                target.table,
                tail.join(", ")
            );
            client.execute(&sql, &parameters).await?;
        }
    }
    Ok(Throughput::new(
        "insert",
        INSERT_ROWS,
        1,
        rows.len() as u64,
        started.elapsed(),
    ))
}

/// A row's values as `INSERT` parameters.
struct InsertRow {
    time: std::time::SystemTime,
    metric_name: String,
    value: f64,
    labels: String,
    columns: [Option<String>; 4],
    series: i64,
}

impl From<&Row> for InsertRow {
    fn from(row: &Row) -> Self {
        let mut labels = Vec::new();
        labels_json(&row.labels, &mut labels);
        InsertRow {
            time: std::time::UNIX_EPOCH + Duration::from_millis(row.ts),
            metric_name: row.labels.get("metric_name").unwrap_or("").to_string(),
            value: row.value,
            labels: String::from_utf8(labels).unwrap_or_default(),
            columns: LABEL_COLUMNS.map(|name| row.labels.get(name).map(str::to_string)),
            series: row.series as i64,
        }
    }
}

impl InsertRow {
    fn parameters(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.time,
            &self.metric_name,
            &self.value,
            &self.labels,
            &self.columns[0],
            &self.columns[1],
            &self.columns[2],
            &self.columns[3],
            &self.series,
        ]
    }
}

/// Copies the table's rows out in binary, empties it, and times `psql` copying them back in
/// with `COPY … FROM STDIN (FORMAT binary)`.
pub fn through_psql(url: &str, target: &Target, rows: u64) -> anyhow::Result<Throughput> {
    let file = tempfile::NamedTempFile::new()?;
    let out = file.reopen()?;
    psql(
        url,
        &format!(
            "COPY (SELECT {COLUMNS} FROM {}) TO STDOUT (FORMAT binary)",
            target.table
        ),
        Stdio::null(),
        Stdio::from(out),
    )?;
    psql(
        url,
        &format!("TRUNCATE {}", target.table),
        Stdio::null(),
        Stdio::null(),
    )?;
    let started = Instant::now();
    psql(
        url,
        &format!(
            "COPY {} ({COLUMNS}) FROM STDIN (FORMAT binary)",
            target.table
        ),
        Stdio::from(file.reopen()?),
        Stdio::null(),
    )?;
    Ok(Throughput::new("psql copy", 0, 1, rows, started.elapsed()))
}

fn psql(url: &str, sql: &str, input: Stdio, output: Stdio) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(input)
        .stdout(output)
        .status()
        .context("cannot run psql (Debian: apt-get install postgresql-client)")?;
    if !status.success() {
        bail!("psql failed on `{sql}`");
    }
    Ok(())
}

/// Loads the whole set through `writers` of the sink's connections, a share of ticks at a time.
pub fn load(target: &Target, set: &DataSet, writers: usize) -> anyhow::Result<Throughput> {
    let mut sinks = open_writers(target, crate::sinks::timescale::BATCH_ROWS, writers)?;
    let bar = progress(set.rows(), "raw rows into PostgreSQL");
    let started = Instant::now();
    let mut tick = 0;
    while tick < set.ticks {
        let until = (tick + LOAD_TICKS).min(set.ticks);
        for row in set.raw_rows(tick..until) {
            sinks[(row.series % writers as u64) as usize].push(row.ts, row);
        }
        drain(&mut sinks)?;
        bar.inc((until - tick) * set.series());
        tick = until;
    }
    bar.finish_and_clear();
    Ok(Throughput::new(
        "sink",
        crate::sinks::timescale::BATCH_ROWS,
        writers,
        set.rows(),
        started.elapsed(),
    ))
}

/// The three queries of the raw tier, each run once to warm up, then timed `runs` times, and
/// the hourly average from the rows alone.
#[derive(Debug, Serialize)]
pub struct Queries {
    /// One series (a metric of a host) over the last hour.
    pub one_series_last_hour: Timings,
    /// The hourly average of one metric over the fleet, over the last 24 hours.
    pub hourly_average_of_a_metric_24h: Timings,
    /// The ten hosts with the highest average CPU over the last 5 minutes.
    pub top_10_hosts_by_cpu_5m: Timings,
    /// The same hourly average, scanning the day's rows of the metric.
    pub hourly_average_from_rows_24h: Timings,
}

/// The queries, as a dashboard sends them: over the set's last hour, day and five minutes,
/// with the times written out (as Grafana's time filter does). The hourly average reads the
/// sink's hourly sums for the whole hours and the rows of the first, partial hour; the last
/// query is the same average from the rows alone, for comparison.
pub fn query_texts(target: &Target, set: &DataSet, metric: &str, host: &str) -> [String; 4] {
    let table = &target.table;
    let hourly = table.hourly();
    let end = set.end();
    let at = |millis: u64| format!("'{}'", crate::time::rfc3339(millis));
    let since = |millis: u64| at(end.saturating_sub(millis));
    let (hour, day, five_minutes) = (since(3_600_000), since(86_400_000), since(300_000));
    let day_start = end.saturating_sub(86_400_000);
    let first_whole_hour = at(day_start.div_ceil(3_600_000) * 3_600_000);
    let utc_hour = "date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
    [
        format!(
            "SELECT time, value FROM {table} WHERE metric_name = '{metric}' AND host = '{host}' \
             AND time >= {hour} ORDER BY time"
        ),
        format!(
            "SELECT hour, sum(total) / sum(n) AS average FROM ( \
             SELECT hour, sum AS total, count AS n FROM {hourly} \
             WHERE metric_name = '{metric}' AND hour >= {first_whole_hour} \
             UNION ALL \
             SELECT {utc_hour}, sum(value), count(*) FROM {table} \
             WHERE metric_name = '{metric}' AND time >= {day} AND time < {first_whole_hour} \
             GROUP BY 1) AS parts GROUP BY hour ORDER BY hour"
        ),
        format!(
            "SELECT host, avg(value) AS average FROM {table} \
             WHERE metric_name = '{metric}' AND time >= {five_minutes} \
             GROUP BY host ORDER BY average DESC LIMIT 10"
        ),
        format!(
            "SELECT {utc_hour} AS hour, avg(value) FROM {table} \
             WHERE metric_name = '{metric}' AND time >= {day} \
             GROUP BY hour ORDER BY hour"
        ),
    ]
}

/// Checks that the hourly averages from the hourly sums equal those from the rows.
pub async fn check_hourly_sums(client: &Client, texts: &[String; 4]) -> anyhow::Result<()> {
    let read = async |text: &str| -> anyhow::Result<Vec<(String, f64)>> {
        Ok(client
            .simple_query(text)
            .await?
            .into_iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some((
                    row.get(0).unwrap_or_default().to_string(),
                    row.get(1).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
                )),
                _ => None,
            })
            .collect())
    };
    let (from_sums, from_rows) = (read(&texts[1]).await?, read(&texts[3]).await?);
    let same = from_sums.len() == from_rows.len()
        && from_sums
            .iter()
            .zip(&from_rows)
            .all(|((h1, a), (h2, b))| h1 == h2 && (a - b).abs() <= 1e-9 * b.abs().max(1.0));
    if !same {
        bail!("the hourly sums disagree with the rows: {from_sums:?} against {from_rows:?}");
    }
    Ok(())
}

/// Times the three queries; each must return rows.
pub async fn queries(client: &Client, texts: &[String; 4], runs: usize) -> anyhow::Result<Queries> {
    let mut timings = Vec::new();
    for text in texts {
        let measured = Timings::measure(
            runs,
            async || Ok(client.simple_query(text).await?),
            |rows| {
                if !rows.iter().any(|m| matches!(m, SimpleQueryMessage::Row(_))) {
                    bail!("`{text}` returned no rows: the data set is not where the query looks");
                }
                Ok(())
            },
        )
        .await?;
        timings.push(measured);
    }
    let [
        one_series_last_hour,
        hourly_average_of_a_metric_24h,
        top_10_hosts_by_cpu_5m,
        hourly_average_from_rows_24h,
    ] = <[Timings; 4]>::try_from(timings).map_err(|_| anyhow::anyhow!("four queries"))?;
    Ok(Queries {
        one_series_last_hour,
        hourly_average_of_a_metric_24h,
        top_10_hosts_by_cpu_5m,
        hourly_average_from_rows_24h,
    })
}

/// Rows in the table, and its bytes on disk with its indexes (every partition's).
pub async fn size(client: &Client, target: &Target) -> anyhow::Result<(u64, u64)> {
    let table = target.table.to_string();
    let row = client
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {table}), \
                 coalesce((SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits \
                 WHERE inhparent = $1::text::regclass), 0)::bigint \
                 + pg_total_relation_size($1::text::regclass)"
            ),
            &[&table],
        )
        .await?;
    let rows: i64 = row.get(0);
    let bytes: i64 = row.get(1);
    Ok((rows as u64, bytes as u64))
}
