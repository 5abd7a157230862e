//! One worker's connection to ClickHouse, a [`Store`]: each batch is one `INSERT` in
//! RowBinary through the `clickhouse` crate, durable once the server answered it. The server's
//! version decides the DDL; on a server without TTL, the first worker drops expired
//! partitions itself. Network errors and an overloaded server are retried; any other answer
//! stops the run with the server's message.

use std::time::{Duration, Instant};

use clickhouse::inserter::Inserter;
use clickhouse::{Client, Compression};
use pipe_dataflow::series::Labels;
use serde::Serialize;

use super::schema::{self, Table, Version};
use crate::sinks::store::{Store, StoreError};
use crate::sinks::timescale::schema::LABEL_COLUMNS;
use crate::sinks::timescale::writer::labels_json;
use crate::time::now_millis;

/// How often a server without TTL is asked for its partitions.
const RETENTION_EVERY: Duration = Duration::from_secs(300);

/// One closed window, owned, on its way to the connection's thread.
#[derive(Debug, Clone)]
pub struct Window {
    /// The group's labels.
    pub labels: Labels,
    /// The group's id.
    pub series: u64,
    /// Window start and end, in milliseconds.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// Samples in the window.
    pub count: u64,
    /// `sum`, `min`, `max`.
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The values of [`schema::NULLABLE`], `None` where the rollup does not compute one.
    pub values: [Option<f64>; 9],
    /// The sketch's points (empty when the rollup has no quantile).
    pub points: Vec<(f64, u64)>,
}

/// The row as the table has it.
#[derive(clickhouse::Row, Serialize)]
struct WindowRow<'a> {
    metric_name: &'a str,
    host: &'a str,
    region: &'a str,
    environment: &'a str,
    service: &'a str,
    labels: &'a str,
    series_id: u64,
    window_start: u32,
    window_end: u32,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    avg: Option<f64>,
    last: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    p999: Option<f64>,
    rate: Option<f64>,
    increase: Option<f64>,
    sketch_values: Vec<f64>,
    sketch_counts: Vec<u64>,
}

/// Where a table is and how it is kept.
#[derive(Clone)]
pub struct Target {
    /// The HTTP interface, without credentials.
    pub url: String,
    /// From the URL's user information.
    pub user: Option<String>,
    /// From the URL's user information (never logged).
    pub password: Option<String>,
    /// The table.
    pub table: Table,
    /// The table's settings in the plan.
    pub settings: pipe_dsl::plan::ClickHouseSink,
    /// Whether this connection drops expired partitions (one worker of the cluster does).
    pub keeps_retention: bool,
}

impl Target {
    /// A client for the server, validation off (old servers lack the header format it needs).
    pub fn client(&self, compression: Compression) -> Client {
        let mut client = Client::default()
            .with_url(&self.url)
            .with_database(&self.table.database)
            .with_validation(false)
            .with_compression(compression);
        if let Some(user) = &self.user {
            client = client.with_user(user);
        }
        if let Some(password) = &self.password {
            client = client.with_password(password);
        }
        client
    }
}

/// The server's version, from `SELECT version()`.
pub async fn version(client: &Client) -> Result<Version, clickhouse::error::Error> {
    let text: String = client.query("SELECT version()").fetch_one().await?;
    Version::parse(&text).ok_or_else(|| {
        clickhouse::error::Error::Custom(format!("cannot read the server version `{text}`"))
    })
}

/// A rollup table in ClickHouse.
pub struct ClickHouse {
    target: Target,
    client: Option<(Client, Version)>,
    /// The crate's inserter on the current client: one `INSERT` a batch, ended before the batch
    /// is acknowledged.
    inserter: Option<Inserter<WindowRow<'static>>>,
    retention_at: Option<Instant>,
    /// A row's other labels as JSON, reused.
    labels: Vec<u8>,
}

impl ClickHouse {
    /// Connects when first written to.
    pub fn new(target: Target) -> Self {
        ClickHouse {
            target,
            client: None,
            inserter: None,
            retention_at: None,
            labels: Vec::new(),
        }
    }

    /// The client, the table created the first time.
    async fn client(&mut self) -> Result<(Client, Version), clickhouse::error::Error> {
        if let Some(ready) = &self.client {
            return Ok(ready.clone());
        }
        let probe = self.target.client(Compression::None);
        let version = version(&probe).await?;
        for statement in schema::create(&self.target.table, &self.target.settings, version) {
            probe.query(&statement).execute().await?;
        }
        // LZ4 request bodies need a server that reads them; old ones get plain RowBinary.
        let compression = if version.is_modern() {
            Compression::Lz4
        } else {
            Compression::None
        };
        let ready = (self.target.client(compression), version);
        self.client = Some(ready.clone());
        Ok(ready)
    }

    fn failed(&mut self, error: clickhouse::error::Error) -> StoreError {
        self.client = None;
        // An inserter that failed cannot be written to again.
        self.inserter = None;
        classify(error)
    }

    async fn insert(&mut self, client: &Client, rows: &[Window]) -> clickhouse::error::Result<()> {
        let table = &self.target.table.name;
        let insert = self
            .inserter
            .get_or_insert_with(|| client.inserter::<WindowRow<'static>>(table));
        for window in rows {
            self.labels.clear();
            labels_json(&window.labels, &mut self.labels);
            let label = |name: &str| window.labels.get(name).unwrap_or("");
            let [avg, last, p50, p90, p95, p99, p999, rate, increase] = window.values;
            let row = WindowRow {
                metric_name: label("metric_name"),
                host: label(LABEL_COLUMNS[0]),
                region: label(LABEL_COLUMNS[1]),
                environment: label(LABEL_COLUMNS[2]),
                service: label(LABEL_COLUMNS[3]),
                labels: std::str::from_utf8(&self.labels).unwrap_or("{}"),
                series_id: window.series,
                window_start: (window.start / 1000) as u32,
                window_end: (window.end / 1000) as u32,
                count: window.count,
                sum: window.sum,
                min: window.min,
                max: window.max,
                avg,
                last,
                p50,
                p90,
                p95,
                p99,
                p999,
                rate,
                increase,
                sketch_values: window.points.iter().map(|p| p.0).collect(),
                sketch_counts: window.points.iter().map(|p| p.1).collect(),
            };
            insert.write(&row).await?;
        }
        insert.force_commit().await.map(drop)
    }
}

impl Store for ClickHouse {
    type Row = Window;

    async fn write(&mut self, rows: &[Window]) -> Result<(), StoreError> {
        let result = match self.client().await {
            Ok((client, _)) => self.insert(&client, rows).await,
            Err(error) => Err(error),
        };
        result.map_err(|error| self.failed(error))
    }

    async fn maintain(&mut self) -> Result<(), StoreError> {
        let due = self
            .retention_at
            .is_none_or(|at| at.elapsed() >= RETENTION_EVERY);
        if !self.target.keeps_retention || self.target.settings.ttl.is_none() || !due {
            return Ok(());
        }
        let result = async {
            let (client, version) = self.client().await?;
            if version.is_modern() {
                return Ok(());
            }
            let partitions: Vec<String> = client
                .query(
                    "SELECT DISTINCT partition FROM system.parts \
                     WHERE active AND database = ? AND table = ?",
                )
                .bind(&self.target.table.database)
                .bind(&self.target.table.name)
                .fetch_all()
                .await?;
            for partition in
                schema::expired_partitions(&partitions, &self.target.settings, now_millis())
            {
                client
                    .query(&format!(
                        "ALTER TABLE {} DROP PARTITION {partition}",
                        self.target.table
                    ))
                    .execute()
                    .await?;
                tracing::info!(
                    "ClickHouse table {}: dropped partition {partition}, past its ttl",
                    self.target.table
                );
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                self.retention_at = Some(Instant::now());
                Ok(())
            }
            Err(error) => Err(self.failed(error)),
        }
    }
}

/// Network failures and an overloaded server are worth retrying; other answers are not.
fn classify(error: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error;
    let message = error.to_string();
    match error {
        Error::Network(_) | Error::TimedOut => StoreError::Retry(message),
        Error::BadResponse(ref text)
            if [
                "TOO_MANY_PARTS",
                "Too many parts",
                "TOO_MANY_SIMULTANEOUS_QUERIES",
                "MEMORY_LIMIT_EXCEEDED",
                "Memory limit",
            ]
            .iter()
            .any(|sign| text.contains(sign)) =>
        {
            StoreError::Retry(message)
        }
        _ => StoreError::Refused(message),
    }
}
