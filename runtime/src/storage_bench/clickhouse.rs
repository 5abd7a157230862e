//! The rollup tier on ClickHouse: how fast the `clickhouse` sink writes a day of 1-minute
//! windows, how fast a dashboard's 24-hour view of one host and a metric's hourly average over
//! the fleet answer, and how many bytes a window takes.

use std::time::{Duration, Instant};

use ::clickhouse::{Client, Compression};
use anyhow::bail;
use serde::Serialize;

use super::data::DataSet;
use super::postgres::Throughput;
use super::server_cpu::{self, ServerCpu};
use super::{Timings, drain, progress};
use crate::sinks::clickhouse::BATCH_ROWS;
use crate::sinks::clickhouse::writer::{ClickHouse, Target};
use crate::sinks::store::Batches;

/// Windows written between two waits for every writer to catch up, in batches' worth.
const LOAD_BATCHES: u64 = 20;

/// The rollup tier's figures.
#[derive(Debug, Serialize)]
pub struct Rollups {
    /// Writing every 1-minute window of the set.
    pub insert: Throughput,
    /// Every metric of one host over the last 24 hours, from the 1-minute table (`FINAL`).
    pub host_24h: Timings,
    /// The hourly average of one metric over the fleet, over 24 hours, from the 1-hour table
    /// (`FINAL`): the raw tier's slowest question, answered where the architecture answers it.
    pub hourly_average_of_a_metric_24h: Timings,
    /// 1-minute windows in the table.
    pub rows: u64,
    /// Bytes on disk per 1-minute window.
    pub bytes_per_row: f64,
    /// Bytes on disk per 1-hour window.
    pub hourly_bytes_per_row: f64,
}

/// Writes every 1-minute and 1-hour window of `set` through `writers` of the sink's
/// connections, then times a dashboard's queries of them.
pub async fn run(
    minutes: &Target,
    hours: &Target,
    set: &DataSet,
    writers: usize,
    host: &str,
    runs: usize,
) -> anyhow::Result<Rollups> {
    let cpu = ServerCpu::start(server_cpu::CLICKHOUSE);
    let insert = load(minutes, set, 1, writers)?.with_server_cpu(cpu);
    load(hours, set, 60, writers)?;
    let client = minutes.client(Compression::None);
    for target in [minutes, hours] {
        client
            .query(&format!("OPTIMIZE TABLE {} FINAL", target.table))
            .execute()
            .await?;
    }
    // The set's last day, the times written out as a dashboard sends them.
    let since = set.end().saturating_sub(86_400_000) / 1000;
    let metrics = set.series() / set.hosts();
    let host_24h = timed(
        &client,
        &format!(
            "SELECT metric_name, window_start, avg, max, p95 FROM {} FINAL \
             WHERE host = '{host}' AND window_start >= toDateTime({since}) \
             ORDER BY metric_name, window_start",
            minutes.table
        ),
        metrics * set.windows_of(1).min(1_440),
        runs,
    )
    .await?;
    let hourly_average_of_a_metric_24h = timed(
        &client,
        &format!(
            "SELECT toStartOfHour(window_start) AS hour, sum(sum) / sum(count) FROM {} FINAL \
             WHERE metric_name = 'cpu_usage_percent' AND window_start >= toDateTime({since}) \
             GROUP BY hour ORDER BY hour",
            hours.table
        ),
        set.windows_of(60).min(24),
        runs,
    )
    .await?;
    let (rows, bytes) = size(&client, minutes).await?;
    let (hourly_rows, hourly_bytes) = size(&client, hours).await?;
    for (rows, target, minutes) in [(rows, minutes, 1), (hourly_rows, hours, 60)] {
        let written = set.series() * set.windows_of(minutes);
        if rows != written {
            bail!(
                "{} holds {rows} windows after OPTIMIZE FINAL, {written} written",
                target.table
            );
        }
    }
    Ok(Rollups {
        insert,
        host_24h,
        hourly_average_of_a_metric_24h,
        rows,
        bytes_per_row: bytes as f64 / rows.max(1) as f64,
        hourly_bytes_per_row: hourly_bytes as f64 / hourly_rows.max(1) as f64,
    })
}

/// Runs `query` once to warm up, then `runs` times timed; each answer must have `lines` rows.
async fn timed(client: &Client, query: &str, lines: u64, runs: usize) -> anyhow::Result<Timings> {
    Timings::measure(
        runs,
        async || {
            Ok(client
                .query(query)
                .fetch_bytes("TabSeparated")?
                .collect()
                .await?)
        },
        |answer| {
            let answered = answer.iter().filter(|&&byte| byte == b'\n').count() as u64;
            if answered != lines {
                bail!("`{query}` returned {answered} rows, {lines} expected");
            }
            Ok(())
        },
    )
    .await
}

/// Writes the set's windows of `minutes` minutes.
fn load(
    target: &Target,
    set: &DataSet,
    minutes: u64,
    writers: usize,
) -> anyhow::Result<Throughput> {
    let mut sinks = (0..writers)
        .map(|_| {
            Batches::start(
                "bench clickhouse",
                ClickHouse::new(target.clone()),
                BATCH_ROWS,
                Duration::from_millis(200),
                Default::default(),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let count = set.windows_of(minutes);
    let windows = set.series() * count;
    let bar = progress(
        windows,
        &format!("{minutes}-minute windows into ClickHouse"),
    );
    let step = (LOAD_BATCHES * BATCH_ROWS as u64 / set.series()).max(1);
    let started = Instant::now();
    let mut number = 0;
    while number < count {
        let until = (number + step).min(count);
        for window in set.windows(minutes, number..until) {
            sinks[(window.series % writers as u64) as usize].push(window.start, window);
        }
        drain(&mut sinks)?;
        bar.inc((until - number) * set.series());
        number = until;
    }
    bar.finish_and_clear();
    Ok(Throughput::new(
        "sink",
        BATCH_ROWS,
        writers,
        windows,
        started.elapsed(),
    ))
}

/// Rows in the table's active parts, and their bytes on disk.
async fn size(client: &Client, target: &Target) -> anyhow::Result<(u64, u64)> {
    let (rows, bytes): (u64, u64) = client
        .query(
            "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts \
             WHERE active AND database = ? AND table = ?",
        )
        .bind(&target.table.database)
        .bind(&target.table.name)
        .fetch_one()
        .await?;
    Ok((rows, bytes))
}

/// Drops a table and its view.
pub async fn drop(target: &Target) -> anyhow::Result<()> {
    let client = target.client(Compression::None);
    for statement in [
        format!("DROP TABLE IF EXISTS {}", target.table),
        format!("DROP TABLE IF EXISTS {}", target.table.points()),
    ] {
        client.query(&statement).execute().await?;
    }
    Ok(())
}
