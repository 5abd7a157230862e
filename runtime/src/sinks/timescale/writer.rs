//! One worker's connection to PostgreSQL: a thread of its own with a single-threaded tokio
//! runtime, taking batches from a bounded queue and writing each with binary COPY in one
//! transaction. A lost connection or a server that is down is retried with backoff, the batch
//! kept, so that a database that is down slows the pipeline and loses nothing; an error the
//! server will give again (a column that does not exist) stops the run with its message.
//!
//! A replay after a crash sends rows the table may hold already: the COPY then fails on the
//! `(series_id, time)` key, and the batch is copied into a session's staging table instead and
//! inserted from there with `ON CONFLICT DO NOTHING`. Replays are rare; the common path is the
//! plain COPY.

use std::collections::BTreeSet;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use pipe_dataflow::series::Labels;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

use super::schema::{self, COLUMNS, Flavor, LABEL_COLUMNS, TableName};
use crate::time::now_millis;

/// Batches a worker's sink may have queued for its connection.
pub const QUEUE: usize = 2;

/// The longest wait between two attempts to reach the database.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One raw row.
#[derive(Debug, Clone)]
pub struct Row {
    /// The event time of the dataflow it was written at: what its acknowledgement releases.
    pub time: u64,
    /// The series.
    pub series: u64,
    /// The sample's time, in milliseconds.
    pub ts: u64,
    /// The sample's value.
    pub value: f64,
    /// The series' labels.
    pub labels: Labels,
}

/// What the sink and its connection share.
#[derive(Default)]
pub struct Shared {
    /// Batches committed so far, in the order they were queued.
    pub committed: AtomicU64,
    /// Batches queued and not yet taken by the connection.
    pub queued: AtomicUsize,
    /// An error retrying will not cure.
    pub failure: Mutex<Option<String>>,
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

/// The sink's end of the connection.
pub struct Writer {
    queue: SyncSender<Vec<Row>>,
    /// Shared with the connection's thread.
    pub shared: Arc<Shared>,
}

impl Writer {
    /// Starts the connection's thread; it connects when the first batch comes.
    pub fn start(target: Target) -> anyhow::Result<Self> {
        let (queue, batches) = sync_channel(QUEUE);
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("pg:{}", target.table.bare()))
            .spawn(move || connection(target, batches, thread_shared))?;
        Ok(Writer { queue, shared })
    }

    /// Queues a batch when the queue has room; gives it back otherwise.
    pub fn offer(&self, rows: Vec<Row>) -> Result<(), Vec<Row>> {
        if self.shared.queued.load(Ordering::Acquire) >= QUEUE {
            return Err(rows);
        }
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        // The thread only ends when the queue is dropped, or on a failure the sink reports.
        self.queue.send(rows).map_err(|returned| returned.0)
    }
}

fn connection(target: Target, batches: Receiver<Vec<Row>>, shared: Arc<Shared>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            *shared.failure.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("cannot start its runtime: {error}"));
            return;
        }
    };
    runtime.block_on(async move {
        let mut session: Option<Session> = None;
        let mut kept_at: Option<Instant> = None;
        let mut backoff = Backoff::default();
        loop {
            let rows = match batches.recv_timeout(Duration::from_secs(1)) {
                Ok(rows) => {
                    shared.queued.fetch_sub(1, Ordering::AcqRel);
                    Some(rows)
                }
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            loop {
                let attempt = async {
                    if session.is_none() {
                        session = Some(Session::open(&target).await?);
                    }
                    let open = session.as_mut().expect("opened above");
                    if target.keeps_partitions
                        && open.flavor == Flavor::Native
                        && kept_at.is_none_or(|at| at.elapsed() >= maintenance_every(&target))
                    {
                        open.keep_partitions(&target).await?;
                        kept_at = Some(Instant::now());
                    }
                    if let Some(rows) = &rows {
                        open.write(&target, rows).await?;
                    }
                    Ok::<_, tokio_postgres::Error>(())
                };
                match attempt.await {
                    Ok(()) => {
                        if backoff.failing() {
                            tracing::info!("{}: PostgreSQL reachable again", target.what);
                        }
                        backoff = Backoff::default();
                        if rows.is_some() {
                            shared.committed.fetch_add(1, Ordering::AcqRel);
                        }
                        break;
                    }
                    Err(error) if retryable(&error) => {
                        session = None;
                        let wait = backoff.next();
                        tracing::warn!(
                            "{}: cannot write to PostgreSQL ({}); retrying in {:.1} s, the batch kept",
                            target.what,
                            describe(&error),
                            wait.as_secs_f64()
                        );
                        tokio::time::sleep(wait).await;
                    }
                    Err(error) => {
                        *shared.failure.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(describe(&error));
                        return;
                    }
                }
            }
        }
    });
}

/// How often the partitions are created ahead and dropped past retention.
fn maintenance_every(target: &Target) -> Duration {
    Duration::from_millis((target.settings.chunk.millis() / 4).clamp(1_000, 300_000))
}

/// Waits that double from 100 ms up to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff {
    attempts: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.attempts += 1;
        (Duration::from_millis(100) * 2u32.pow(self.attempts.min(7) - 1)).min(MAX_BACKOFF)
    }

    fn failing(&self) -> bool {
        self.attempts > 0
    }
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
                tracing::info!(
                    "{}: dropped partition {name}, past the retention of {}",
                    target.what,
                    retention
                );
            }
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
        match self.copy(&copy, rows, None).await {
            Err(error) if error.code().is_some_and(|c| c.code() == "23505") => {
                if !self.staging {
                    self.client
                        .batch_execute(&schema::create_staging(&target.table))
                        .await?;
                    self.staging = true;
                }
                let staged = format!("COPY pipe_staging ({COLUMNS}) FROM STDIN (FORMAT binary)");
                self.copy(&staged, rows, Some(&schema::insert_staged(&target.table)))
                    .await
            }
            other => other,
        }
    }

    /// Copies the rows in one transaction, then runs `then` in it.
    async fn copy(
        &mut self,
        copy: &str,
        rows: &[Row],
        then: Option<&str>,
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
        if let Some(then) = then {
            transaction.batch_execute(then).await?;
        }
        transaction.commit().await
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
fn labels_json(labels: &Labels, out: &mut Vec<u8>) {
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

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
