//! The `timescale` sink: raw samples into PostgreSQL, a TimescaleDB hypertable when the
//! extension is installed, a table partitioned by time otherwise (`schema.rs`). It runs on
//! every worker for the samples that worker holds, each worker with its own connection
//! (`writer.rs`); rows are gathered into batches of [`BATCH_ROWS`] (or what came within
//! [`LINGER`]) and a time's rows are durable once every batch holding them is committed
//! (`../store.rs`).

pub mod schema;
pub mod writer;

use std::time::Duration;

use anyhow::Context as _;
use pipe_dsl::plan::TimescaleSink as TimescaleSettings;

use super::store::Batches;
use super::{Record, Sink, SinkContext};
use schema::TableName;
use writer::{Postgres, Row, Target};

/// Rows in one COPY.
pub const BATCH_ROWS: usize = 5_000;

/// How long rows wait for a batch to fill.
const LINGER: Duration = Duration::from_millis(100);

/// One worker's share of a `timescale` sink.
pub struct TimescaleSink {
    batches: Batches<Row>,
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
        let batches = Batches::start(
            &what,
            Postgres::new(target),
            BATCH_ROWS,
            LINGER,
            std::sync::Arc::clone(context.health),
        )
        .with_context(|| format!("{what}: cannot start its connection"))?;
        Ok(TimescaleSink { batches })
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
                let row = Row {
                    series: series.0,
                    ts: *ts,
                    value: *value,
                    labels: (*labels).clone(),
                };
                self.batches.push(time, row);
            }
        }
        self.batches.poll()
    }

    fn poll(&mut self) -> anyhow::Result<()> {
        self.batches.poll()
    }

    fn unacknowledged(&self) -> Option<u64> {
        self.batches.unacknowledged()
    }
}
