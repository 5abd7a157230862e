//! `pipectl bench storage`: the storage tiers measured on the servers a user runs, with the
//! sinks' own code. The raw tier: rows per second through the `timescale` sink at several
//! batch sizes and writers, beside a multi-row `INSERT` and beside `psql` copying the same rows
//! in binary into the same table; the three queries of a raw tier over a day of a fleet
//! (28.8 M rows by default); bytes per row on disk. The rollup tier: windows per second through
//! the `clickhouse` sink, a 24-hour query of one host, bytes per window. The capacity planner
//! reads these figures (`--json`).

mod clickhouse;
mod data;
mod postgres;
mod server_cpu;

use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipe_dsl::plan::SinkConnector;
use serde::Serialize;

use crate::sinks::store::Batches;
use crate::sinks::timescale::writer::Target as RawTarget;
use crate::time::now_millis;
use data::DataSet;
use postgres::Throughput;
use server_cpu::ServerCpu;

/// What to measure, and how much.
#[derive(Debug, Clone)]
pub struct Options {
    /// Hosts of the day-long data set.
    pub hosts: u64,
    /// Metrics per host.
    pub metrics: u64,
    /// Hours of the data set, ending now.
    pub hours: u64,
    /// Rows of each throughput run.
    pub throughput_rows: usize,
    /// Concurrent writers of the many-writer runs and of the loads.
    pub writers: usize,
    /// Timed runs of each query (after one that warms the caches).
    pub runs: usize,
    /// Leave the tables for a look afterwards.
    pub keep: bool,
}

/// Batch sizes the sink is measured at, one writer each.
const BATCH_SIZES: [usize; 4] = [100, 500, 1_000, 5_000];

/// The tables, as a pipeline would declare them; `url`s come from the environment as
/// `scripts/services start postgres clickhouse` prints them.
const PIPELINE: &str = r#"
source metrics from generator { hosts = 1, metrics = 1 }
sink throughput to timescale { from = metrics, url = env("PG_URL"), table = "pipe_bench_throughput", chunk = 1h, retention = 7d }
sink raw to timescale { from = metrics, url = env("PG_URL"), table = "pipe_bench_raw", chunk = 1h, retention = 7d }
rollup metrics_1m from metrics {
  window = tumble(1m), by = [metric_name, host, region, environment, service]
  aggs = [count, sum, min, max, avg, p50, p95, p99]
}
rollup metrics_1h from metrics_1m { window = tumble(1h) }
sink minutes to clickhouse { from = metrics_1m, url = env("CLICKHOUSE_URL"), table = "pipe_bench_1m", ttl = 30d }
sink hours to clickhouse { from = metrics_1h, url = env("CLICKHOUSE_URL"), table = "pipe_bench_1h", ttl = 365d }
"#;

/// Mean and 95th percentile of a query's runs.
#[derive(Debug, Serialize)]
pub struct Timings {
    /// Timed runs.
    pub runs: usize,
    /// Mean, in milliseconds.
    pub mean_ms: f64,
    /// The 95th percentile (nearest rank: of 10 runs, the slowest), in milliseconds.
    pub p95_ms: f64,
}

impl Timings {
    /// Runs `query` once to warm the caches, then `runs` times timed; `check` refuses an
    /// answer that is not the one expected (not timed).
    async fn measure<R>(
        runs: usize,
        mut query: impl AsyncFnMut() -> anyhow::Result<R>,
        check: impl Fn(&R) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let mut took = Vec::with_capacity(runs);
        for run in 0..=runs {
            let started = std::time::Instant::now();
            let answer = query().await?;
            let elapsed = started.elapsed();
            check(&answer)?;
            if run > 0 {
                took.push(elapsed);
            }
        }
        Ok(Timings::of(&took))
    }

    fn of(took: &[Duration]) -> Self {
        let mut ms: Vec<f64> = took.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = ((0.95 * ms.len() as f64).ceil() as usize).clamp(1, ms.len().max(1));
        Timings {
            runs: ms.len(),
            mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
            p95_ms: ms.get(rank - 1).copied().unwrap_or(0.0),
        }
    }
}

/// Every figure of a run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `SHOW server_version`.
    pub postgres_version: String,
    /// ClickHouse's `version()`.
    pub clickhouse_version: String,
    /// Hosts × metrics of the day-long set.
    pub series: u64,
    /// Hours of it.
    pub hours: u64,
    /// The throughput runs, in order.
    pub raw_throughput: Vec<Throughput>,
    /// The sink's best single-writer rate over psql's binary COPY.
    pub sink_over_psql_copy: f64,
    /// Loading the day-long set.
    pub raw_load: Throughput,
    /// Bytes on disk per raw row, indexes included.
    pub raw_bytes_per_row: f64,
    /// The raw tier's queries.
    pub raw_queries: postgres::Queries,
    /// The rollup tier.
    pub rollups: clickhouse::Rollups,
}

/// Runs the bench against `PG_URL` and `CLICKHOUSE_URL`.
pub fn run(options: &Options) -> anyhow::Result<Report> {
    for var in ["PG_URL", "CLICKHOUSE_URL"] {
        if std::env::var_os(var).is_none() {
            bail!(
                "{var} is not set: start the servers with `export $(scripts/services start postgres clickhouse)`"
            );
        }
    }
    let compiled = pipe_dsl::compile_with_process_env(PIPELINE);
    let plan = compiled.plan.context("the bench's own pipeline is valid")?;
    let sink = |name: &str| {
        plan.sinks
            .iter()
            .find(|sink| sink.name == name)
            .map(|sink| &sink.connector)
    };
    let raw_target = |name: &str| match sink(name) {
        Some(SinkConnector::Timescale(settings)) => {
            crate::sinks::timescale::target(&format!("bench `{name}`"), settings, false)
        }
        _ => bail!("the bench's pipeline has a timescale sink `{name}`"),
    };
    let throughput = raw_target("throughput")?;
    let raw = raw_target("raw")?;
    let rollup_target = |name: &str| match sink(name) {
        Some(SinkConnector::ClickHouse(settings)) => {
            crate::sinks::clickhouse::target(&format!("bench `{name}`"), settings, false)
        }
        _ => bail!("the bench's pipeline has a clickhouse sink `{name}`"),
    };
    let (minutes, hours) = (rollup_target("minutes")?, rollup_target("hours")?);
    let url = std::env::var("PG_URL").unwrap_or_default();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = postgres::connect(&raw).await?;
        let drop_tables = || async {
            for target in [&throughput, &raw] {
                client
                    .batch_execute(&format!(
                        "DROP TABLE IF EXISTS {}, {}",
                        target.table,
                        target.table.hourly()
                    ))
                    .await?;
            }
            for target in [&minutes, &hours] {
                clickhouse::drop(target).await?;
            }
            anyhow::Ok(())
        };
        // What an interrupted run left, then this run's tables.
        drop_tables().await?;
        let postgres_version: String = client
            .query_one("SHOW server_version", &[])
            .await?
            .get(0);
        let clickhouse_version: String = minutes
            .client(::clickhouse::Compression::None)
            .query("SELECT version()")
            .fetch_one()
            .await?;

        let set = DataSet::new(options.hosts, options.metrics, options.hours, now_millis());
        let rows: Vec<_> = set
            .raw_rows(0..set.ticks)
            .take(options.throughput_rows)
            .collect();
        tracing::info!(
            "raw rows: {} rows through the sink at batches of {BATCH_SIZES:?}, then {} writers, then INSERT and psql COPY",
            rows.len(),
            options.writers
        );
        let mut raw_throughput = Vec::new();
        let runs = BATCH_SIZES
            .iter()
            .map(|&batch| (batch, 1))
            .chain([(crate::sinks::timescale::BATCH_ROWS, options.writers)]);
        for (batch, writers) in runs {
            raw_throughput.push(postgres::through_sink(&throughput, &rows, batch, writers)?);
            truncate(&client, &throughput).await?;
        }
        raw_throughput.push(postgres::through_insert(&client, &throughput, &rows).await?);
        raw_throughput.push(postgres::through_psql(&url, &throughput, rows.len() as u64)?);
        let (copied, _) = postgres::size(&client, &throughput).await?;
        if copied != rows.len() as u64 {
            bail!("psql copied {copied} rows of {}", rows.len());
        }
        let best_sink = raw_throughput
            .iter()
            .filter(|run| run.method == "sink" && run.writers == 1)
            .map(|run| run.rows_per_second)
            .fold(0.0, f64::max);
        let psql = raw_throughput.last().map_or(1.0, |run| run.rows_per_second);

        tracing::info!(
            "raw rows: loading {} rows ({} series, {} h) for the queries",
            set.rows(),
            set.series(),
            options.hours
        );
        let cpu = ServerCpu::start(server_cpu::POSTGRES);
        let raw_load = postgres::load(&raw, &set, options.writers)?.with_server_cpu(cpu);
        client
            .batch_execute(&format!(
                "VACUUM ANALYZE {}, {}",
                raw.table,
                raw.table.hourly()
            ))
            .await?;
        // The load's pages written out now rather than by a checkpoint during the queries.
        if let Err(error) = client.batch_execute("CHECKPOINT").await {
            tracing::warn!(
                "CHECKPOINT refused ({}): a checkpoint may run during the queries",
                crate::sinks::timescale::writer::describe(&error)
            );
        }
        let (loaded, bytes) = postgres::size(&client, &raw).await?;
        if loaded != set.rows() {
            bail!("{} holds {loaded} rows, {} written", raw.table, set.rows());
        }
        let host = crate::sources::generator::Fleet::host_name(7.min(options.hosts - 1));
        let texts = postgres::query_texts(&raw, &set, "cpu_usage_percent", &host);
        postgres::check_hourly_sums(&client, &texts).await?;
        let raw_queries = postgres::queries(&client, &texts, options.runs).await?;

        tracing::info!(
            "rollups: {} 1-minute and {} 1-hour windows into ClickHouse",
            set.series() * set.windows_of(1),
            set.series() * set.windows_of(60)
        );
        let writers = options.writers.min(2);
        let rollup_figures =
            clickhouse::run(&minutes, &hours, &set, writers, &host, options.runs).await?;

        if !options.keep {
            drop_tables().await?;
        }
        Ok(Report {
            postgres_version,
            clickhouse_version,
            series: set.series(),
            hours: options.hours,
            raw_throughput,
            sink_over_psql_copy: best_sink / psql,
            raw_load,
            raw_bytes_per_row: bytes as f64 / loaded.max(1) as f64,
            raw_queries,
            rollups: rollup_figures,
        })
    })
}

async fn truncate(client: &tokio_postgres::Client, target: &RawTarget) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "TRUNCATE {}, {}",
            target.table,
            target.table.hourly()
        ))
        .await?;
    Ok(())
}

/// Polls every writer until each has committed everything pushed to it.
fn drain<R: Send + 'static>(writers: &mut [Batches<R>]) -> anyhow::Result<()> {
    loop {
        for writer in writers.iter_mut() {
            writer.poll()?;
        }
        if writers
            .iter()
            .all(|writer| writer.unacknowledged().is_none())
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A bar on a terminal, nothing elsewhere.
fn progress(length: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {percent:>3}% {msg} ({elapsed}, {per_sec:.0})")
            .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

impl Report {
    /// The figures for people.
    pub fn text(&self) -> String {
        let mut out = format!(
            "PostgreSQL {}, ClickHouse {}; {} series × {} h\n\nraw rows (PostgreSQL)\n",
            self.postgres_version, self.clickhouse_version, self.series, self.hours
        );
        for run in &self.raw_throughput {
            let batch = match run.batch_rows {
                0 => "all".to_string(),
                rows => rows.to_string(),
            };
            out.push_str(&format!(
                "  {:<10} batch {:>5}  writers {:>2}  {:>9.0} rows/s  ({} rows in {:.2} s)\n",
                run.method, batch, run.writers, run.rows_per_second, run.rows, run.seconds
            ));
        }
        out.push_str(&format!(
            "  the sink (best, one writer) reaches {:.0}% of psql's binary COPY\n",
            self.sink_over_psql_copy * 100.0
        ));
        out.push_str(&format!(
            "  load of {} rows: {:.0} rows/s with {} writers{}; {:.1} bytes per row on disk with indexes\n\nqueries (mean / p95 of {} runs)\n",
            self.raw_load.rows,
            self.raw_load.rows_per_second,
            self.raw_load.writers,
            per_server_core(&self.raw_load),
            self.raw_bytes_per_row,
            self.raw_queries.one_series_last_hour.runs
        ));
        let q = &self.raw_queries;
        for (name, timings) in [
            ("one series, last hour", &q.one_series_last_hour),
            (
                "hourly average of a metric, 24 h",
                &q.hourly_average_of_a_metric_24h,
            ),
            ("top 10 hosts by CPU, 5 min", &q.top_10_hosts_by_cpu_5m),
            (
                "  the hourly average from rows",
                &q.hourly_average_from_rows_24h,
            ),
            ("ClickHouse: one host, 24 h of 1m", &self.rollups.host_24h),
            (
                "ClickHouse: hourly average, from 1h",
                &self.rollups.hourly_average_of_a_metric_24h,
            ),
        ] {
            out.push_str(&format!(
                "  {name:<34} {:>8.1} ms  {:>8.1} ms\n",
                timings.mean_ms, timings.p95_ms
            ));
        }
        let r = &self.rollups;
        out.push_str(&format!(
            "\nrollups (ClickHouse)\n  {} 1-minute windows: {:.0} windows/s with {} writers{}; {:.1} bytes per window on disk ({:.1} per 1-hour window)\n",
            r.rows,
            r.insert.rows_per_second,
            r.insert.writers,
            per_server_core(&r.insert),
            r.bytes_per_row,
            r.hourly_bytes_per_row
        ));
        out
    }
}

/// How many rows a CPU-second of the server took, when its CPU time was measured.
fn per_server_core(run: &Throughput) -> String {
    run.rows_per_server_cpu_second
        .map(|rows| format!(", {rows:.0} per CPU-second of the server"))
        .unwrap_or_default()
}
