//! The `timescale` sink: raw samples into PostgreSQL, a TimescaleDB hypertable when the
//! extension is installed, a table partitioned by time otherwise (`schema.rs`). It runs on
//! every worker for the samples that worker holds, each worker with its own connection
//! (`writer.rs`); rows are gathered into batches of [`BATCH_ROWS`] (or what came within
//! [`LINGER`]) and a time's rows are durable once every batch holding them is committed.
//!
//! Rows wait in the sink while the connection's queue is full: the sink's durable frontier then
//! stays behind, and the pipeline's backpressure stops reading once too much is waiting. Nothing
//! is dropped, and the worker is never blocked (Ctrl-C and the status line keep working).

pub mod schema;
pub mod writer;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use pipe_dsl::plan::TimescaleSink as TimescaleSettings;

use super::{Record, Sink, SinkContext};
use schema::TableName;
use writer::{Row, Target, Writer};

/// Rows in one COPY.
pub const BATCH_ROWS: usize = 5_000;

/// How long rows wait for a batch to fill.
const LINGER: Duration = Duration::from_millis(100);

/// One worker's share of a `timescale` sink.
pub struct TimescaleSink {
    writer: Writer,
    what: String,
    /// Rows not yet queued, in the order they were written.
    waiting: VecDeque<Row>,
    /// When the oldest waiting row came.
    waiting_since: Option<Instant>,
    /// Batches queued and not yet committed: (number, earliest time).
    sent: VecDeque<(u64, u64)>,
    next_batch: u64,
}

impl TimescaleSink {
    /// Checks the settings and starts this worker's connection.
    pub fn open(
        name: &str,
        settings: &TimescaleSettings,
        context: &SinkContext,
    ) -> anyhow::Result<Self> {
        let what = format!("sink `{name}`");
        let target = target(&what, settings, context.worker == 0)?;
        Ok(TimescaleSink {
            writer: Writer::start(target)
                .with_context(|| format!("{what}: cannot start its connection"))?,
            what,
            waiting: VecDeque::new(),
            waiting_since: None,
            sent: VecDeque::new(),
            next_batch: 0,
        })
    }

    /// Queues full batches, and a partial one that waited [`LINGER`], while there is room.
    fn flush(&mut self) {
        while !self.waiting.is_empty() {
            let full = self.waiting.len() >= BATCH_ROWS;
            let lingered = self.waiting_since.is_some_and(|at| at.elapsed() >= LINGER);
            if !full && !lingered {
                return;
            }
            let take = self.waiting.len().min(BATCH_ROWS);
            let rows: Vec<Row> = self.waiting.drain(..take).collect();
            let earliest = rows[0].time;
            if let Err(rows) = self.writer.offer(rows) {
                for row in rows.into_iter().rev() {
                    self.waiting.push_front(row);
                }
                return;
            }
            self.sent.push_back((self.next_batch, earliest));
            self.next_batch += 1;
            if self.waiting.is_empty() {
                self.waiting_since = None;
            }
        }
    }
}

/// Where the settings say to write, checked.
pub fn target(
    what: &str,
    settings: &TimescaleSettings,
    keeps_partitions: bool,
) -> anyhow::Result<Target> {
    let url = settings
        .url
        .resolve_from_process()
        .with_context(|| format!("{what}: `url` reads an environment variable that is not set"))?;
    let table = settings.table.resolve_from_process().with_context(|| {
        format!("{what}: `table` reads an environment variable that is not set")
    })?;
    let table =
        TableName::parse(&table).map_err(|error| anyhow::anyhow!("{what}: `table`: {error}"))?;
    // The text may hold a password: only the parser's message is shown.
    let config = url.parse::<tokio_postgres::Config>().map_err(|error| {
        anyhow::anyhow!("{what}: `url` is not a PostgreSQL connection string: {error}")
    })?;
    Ok(Target {
        config,
        table,
        settings: settings.clone(),
        keeps_partitions,
        what: what.to_string(),
    })
}

impl Sink for TimescaleSink {
    fn write(&mut self, time: u64, records: &[Record<'_>]) -> anyhow::Result<()> {
        for record in records {
            if let Record::Sample {
                series,
                labels,
                ts,
                value,
                ..
            } = record
            {
                self.waiting.push_back(Row {
                    time,
                    series: series.0,
                    ts: *ts,
                    value: *value,
                    labels: (*labels).clone(),
                });
            }
        }
        if !self.waiting.is_empty() && self.waiting_since.is_none() {
            self.waiting_since = Some(Instant::now());
        }
        self.poll()
    }

    fn poll(&mut self) -> anyhow::Result<()> {
        let failure = self
            .writer
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(error) = failure {
            bail!("{}: PostgreSQL refused a batch: {error}", self.what);
        }
        let committed = self
            .writer
            .shared
            .committed
            .load(std::sync::atomic::Ordering::Acquire);
        while self
            .sent
            .front()
            .is_some_and(|&(batch, _)| batch < committed)
        {
            self.sent.pop_front();
        }
        self.flush();
        Ok(())
    }

    fn unacknowledged(&self) -> Option<u64> {
        let sent = self.sent.front().map(|&(_, time)| time);
        let waiting = self.waiting.front().map(|row| row.time);
        sent.into_iter().chain(waiting).min()
    }
}
