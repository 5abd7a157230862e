//! One worker's connection to PostgreSQL, a [`Store`]: each batch is written with binary COPY
//! in one transaction. A lost connection, a server starting or shutting down, or one out of
//! resources is retried; any other error (a column that does not exist) stops the run.
//!
//! A replay after a crash sends rows the table may hold already: the COPY then fails on the
//! `(series_id, time)` key, and the batch is copied into a session's staging table instead and
//! inserted from there with `ON CONFLICT DO NOTHING`. Replays are rare; the common path is the
//! plain COPY.

use std::collections::BTreeSet;
use std::pin::pin;
use std::time::{Duration, Instant, UNIX_EPOCH};

use pipe_dataflow::series::Labels;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

use super::schema::{self, COLUMNS, Flavor, LABEL_COLUMNS, TableName};
use crate::sinks::store::{Store, StoreError};
use crate::time::now_millis;

/// One raw row.
#[derive(Debug, Clone)]
pub struct Row {
    /// The series.
    pub series: u64,
    /// The sample's time, in milliseconds.
    pub ts: u64,
    /// The sample's value.
    pub value: f64,
    /// The series' labels.
    pub labels: Labels,
}

/// Where a table is and how it is kept.
#[derive(Debug, Clone)]
pub struct Target {
    /// The connection settings (with the password: never logged).
    pub config: tokio_postgres::Config,
    /// The table.
    pub table: TableName,
    /// The table's settings in the plan.
    pub settings: pipe_dsl::plan::TimescaleSink,
    /// Whether this connection keeps the partitions (one worker of the cluster does).
    pub keeps_partitions: bool,
    /// For messages: `sink `hot``.
    pub what: String,
}

/// A table in PostgreSQL, written over one connection.
pub struct Postgres {
    target: Target,
    session: Option<Session>,
    kept_at: Option<Instant>,
}

impl Postgres {
    /// Connects when first written to.
    pub fn new(target: Target) -> Self {
        Postgres {
            target,
            session: None,
            kept_at: None,
        }
    }

    async fn session(&mut self) -> Result<&mut Session, tokio_postgres::Error> {
        if self.session.is_none() {
            self.session = Some(Session::open(&self.target).await?);
        }
        Ok(self.session.as_mut().expect("opened above"))
    }

    /// Keeps the error, and forgets the connection it came from.
    fn failed(&mut self, error: tokio_postgres::Error) -> StoreError {
        self.session = None;
        if retryable(&error) {
            StoreError::Retry(describe(&error))
        } else {
            StoreError::Refused(describe(&error))
        }
    }
}

impl Store for Postgres {
    type Row = Row;

    async fn write(&mut self, rows: &[Row]) -> Result<(), StoreError> {
        let target = self.target.clone();
        let result = match self.session().await {
            Ok(session) => session.write(&target, rows).await,
            Err(error) => Err(error),
        };
        result.map_err(|error| self.failed(error))
    }

    async fn maintain(&mut self) -> Result<(), StoreError> {
        let due = self
            .kept_at
            .is_none_or(|at| at.elapsed() >= maintenance_every(&self.target));
        if !self.target.keeps_partitions || !due {
            return Ok(());
        }
        let target = self.target.clone();
        let result = match self.session().await {
            Ok(session) if session.flavor == Flavor::Native => {
                session.keep_partitions(&target).await
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                self.kept_at = Some(Instant::now());
                Ok(())
            }
            Err(error) => Err(self.failed(error)),
        }
    }
}

/// How often the partitions are created ahead and dropped past retention.
fn maintenance_every(target: &Target) -> Duration {
    Duration::from_millis((target.settings.chunk.millis() / 4).clamp(1_000, 300_000))
}

/// Whether trying again may succeed: the connection failed, the server is starting or
/// shutting down, out of resources, or a transaction lost a race.
fn retryable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            ["08", "53", "57", "40"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "55P03"
        }
    }
}

/// The error with the server's detail or its cause, without the connection string.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// A connection with the table known to exist.
struct Session {
    client: Client,
    flavor: Flavor,
    /// Partition starts known to exist.
    partitions: BTreeSet<u64>,
    staging: bool,
    /// A row's labels as JSON, reused.
    labels: Vec<u8>,
}

impl Session {
    async fn open(target: &Target) -> Result<Self, tokio_postgres::Error> {
        let (client, connection) = target.config.connect(NoTls).await?;
        let what = target.what.clone();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("{what}: connection closed: {}", describe(&error));
            }
        });
        let flavor = detect(&client).await?;
        let mut session = Session {
            client,
            flavor,
            partitions: BTreeSet::new(),
            staging: false,
            labels: Vec::with_capacity(256),
        };
        session.create(target).await?;
        Ok(session)
    }

    /// Creates the table when missing, one connection at a time.
    async fn create(&mut self, target: &Target) -> Result<(), tokio_postgres::Error> {
        let transaction = self.client.transaction().await?;
        lock(&transaction, &target.table).await?;
        for statement in schema::create(&target.table, &target.settings, self.flavor) {
            transaction.batch_execute(&statement).await?;
        }
        transaction.commit().await
    }

    /// Creates the partitions of the next two chunks and drops those past retention.
    async fn keep_partitions(&mut self, target: &Target) -> Result<(), tokio_postgres::Error> {
        let chunk = target.settings.chunk.millis();
        let now = now_millis();
        let starts = (0..3).map(|ahead| now - now % chunk + ahead * chunk);
        self.ensure_partitions(target, starts).await?;
        let Some(retention) = target.settings.retention else {
            return Ok(());
        };
        let rows = self
            .client
            .query(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = $1::text::regclass",
                &[&target.table.to_string()],
            )
            .await?;
        let cutoff = now.saturating_sub(retention.millis());
        let mut dropped_until = None;
        for row in rows {
            let name: String = row.get(0);
            let Some(start) = target.table.partition_start(&name) else {
                continue;
            };
            if start + chunk <= cutoff {
                self.client
                    .batch_execute(&schema::drop_partition(&target.table, start))
                    .await?;
                self.partitions.remove(&start);
                dropped_until = dropped_until.max(Some(start + chunk));
                tracing::info!(
                    "{}: dropped partition {name}, past the retention of {}",
                    target.what,
                    retention
                );
            }
        }
        if let Some(until) = dropped_until {
            self.client
                .batch_execute(&schema::prune_hourly(&target.table, until))
                .await?;
        }
        Ok(())
    }

    async fn ensure_partitions(
        &mut self,
        target: &Target,
        starts: impl Iterator<Item = u64>,
    ) -> Result<(), tokio_postgres::Error> {
        let missing: BTreeSet<u64> = starts.filter(|s| !self.partitions.contains(s)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let chunk = target.settings.chunk.millis();
        let transaction = self.client.transaction().await?;
        lock(&transaction, &target.table).await?;
        for &start in &missing {
            transaction
                .batch_execute(&schema::create_partition(&target.table, start, chunk))
                .await?;
        }
        transaction.commit().await?;
        self.partitions.extend(missing);
        Ok(())
    }

    async fn write(&mut self, target: &Target, rows: &[Row]) -> Result<(), tokio_postgres::Error> {
        if self.flavor == Flavor::Native {
            let chunk = target.settings.chunk.millis();
            let mut starts = BTreeSet::new();
            let mut last = None;
            for row in rows {
                let start = row.ts - row.ts % chunk;
                if last != Some(start) {
                    starts.insert(start);
                    last = Some(start);
                }
            }
            self.ensure_partitions(target, starts.into_iter()).await?;
        }
        let copy = format!(
            "COPY {} ({COLUMNS}) FROM STDIN (FORMAT binary)",
            target.table
        );
        match self.copy(&copy, rows, target, false).await {
            Err(error) if error.code().is_some_and(|c| c.code() == "23505") => {
                if !self.staging {
                    self.client
                        .batch_execute(&schema::create_staging(&target.table))
                        .await?;
                    self.staging = true;
                }
                let staged = format!("COPY pipe_staging ({COLUMNS}) FROM STDIN (FORMAT binary)");
                self.copy(&staged, rows, target, true).await
            }
            other => other,
        }
    }

    /// Copies the rows in one transaction and adds them to the hourly sums in it; `staged`
    /// rows go into the table unless it holds them, and only those it inserts are added.
    async fn copy(
        &mut self,
        copy: &str,
        rows: &[Row],
        target: &Target,
        staged: bool,
    ) -> Result<(), tokio_postgres::Error> {
        let transaction = self.client.transaction().await?;
        let sink = transaction.copy_in(copy).await?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &TYPES));
        for row in rows {
            self.labels.clear();
            labels_json(&row.labels, &mut self.labels);
            let at = UNIX_EPOCH + Duration::from_millis(row.ts);
            let column = |name: &str| row.labels.get(name);
            writer
                .as_mut()
                .write(&[
                    &at,
                    &row.labels.get("metric_name").unwrap_or(""),
                    &row.value,
                    &Jsonb(&self.labels),
                    &column(LABEL_COLUMNS[0]),
                    &column(LABEL_COLUMNS[1]),
                    &column(LABEL_COLUMNS[2]),
                    &column(LABEL_COLUMNS[3]),
                    &(row.series as i64),
                ])
                .await?;
        }
        writer.finish().await?;
        if staged {
            transaction
                .batch_execute(&schema::insert_staged(&target.table))
                .await?;
        } else {
            let sums = HourlySums::of(rows);
            transaction
                .execute(
                    &schema::add_hourly(&target.table),
                    &[&sums.metrics, &sums.hours, &sums.counts, &sums.sums],
                )
                .await?;
        }
        transaction.commit().await
    }
}

/// A batch's count and sum per metric and hour, as the arrays the upsert unnests.
#[derive(Debug, Default)]
struct HourlySums<'r> {
    metrics: Vec<&'r str>,
    hours: Vec<std::time::SystemTime>,
    counts: Vec<i64>,
    sums: Vec<f64>,
}

impl<'r> HourlySums<'r> {
    fn of(rows: &'r [Row]) -> Self {
        let mut groups: std::collections::BTreeMap<(&str, u64), (i64, f64)> = Default::default();
        for row in rows {
            let metric = row.labels.get("metric_name").unwrap_or("");
            let group = groups
                .entry((metric, row.ts - row.ts % 3_600_000))
                .or_default();
            group.0 += 1;
            group.1 += row.value;
        }
        let mut sums = HourlySums::default();
        for ((metric, hour), (count, sum)) in groups {
            sums.metrics.push(metric);
            sums.hours.push(UNIX_EPOCH + Duration::from_millis(hour));
            sums.counts.push(count);
            sums.sums.push(sum);
        }
        sums
    }
}

/// The column types of [`COLUMNS`].
const TYPES: [Type; 9] = [
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::FLOAT8,
    Type::JSONB,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
];

/// Takes the table's lock for schema changes until the transaction ends: workers and
/// processes starting together create it once.
async fn lock(
    transaction: &tokio_postgres::Transaction<'_>,
    table: &TableName,
) -> Result<(), tokio_postgres::Error> {
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("pipe:{table}")],
        )
        .await
        .map(drop)
}

/// Whether the server has the TimescaleDB extension in this database.
pub async fn detect(client: &Client) -> Result<Flavor, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await?;
    Ok(if rows.is_empty() {
        Flavor::Native
    } else {
        Flavor::TimescaleDb
    })
}

/// The labels without a column of their own, as a JSON object.
pub fn labels_json(labels: &Labels, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    for (name, value) in labels.iter() {
        if name == "metric_name" || LABEL_COLUMNS.contains(&name) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        // Writing a string into a vector cannot fail.
        let _ = serde_json::to_writer(&mut *out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, value);
    }
    out.push(b'}');
}

/// JSON text sent as `jsonb` in binary form: a version byte, then the text.
#[derive(Debug)]
struct Jsonb<'a>(&'a [u8]);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_without_a_column_are_json() {
        let labels = Labels::new([
            ("metric_name", "cpu"),
            ("host", "web-1"),
            ("zone", "a\"1"),
            ("rack", "r7"),
        ]);
        let mut out = Vec::new();
        labels_json(&labels, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"rack":"r7","zone":"a\"1"}"#
        );
    }
}
