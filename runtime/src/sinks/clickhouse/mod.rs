//! The `clickhouse` sink: closed rollup windows into a ReplacingMergeTree table keyed by
//! (series, window), so that a replay after a crash collapses into the rows written before. It
//! runs on every worker for the windows that worker holds, each worker with its own HTTP
//! client (`writer.rs`); the table's DDL follows the server's version (`schema.rs`).

pub mod schema;
pub mod writer;

use std::time::Duration;

use anyhow::Context as _;
use pipe_dsl::plan::{Aggregate, ClickHouseSink as ClickHouseSettings};

use super::records::aggregates;
use super::store::Batches;
use super::{Record, Sink, SinkContext};
use schema::{NULLABLE, Table};
use writer::{ClickHouse, Target, Window};

/// Windows in one `INSERT`: ClickHouse wants few, large inserts.
pub const BATCH_ROWS: usize = 20_000;

/// How long windows wait for a batch to fill.
const LINGER: Duration = Duration::from_millis(200);

/// One worker's share of a `clickhouse` sink.
pub struct ClickHouseSink {
    batches: Batches<Window>,
}

impl ClickHouseSink {
    /// Checks the settings and starts this worker's connection.
    pub fn open(
        name: &str,
        settings: &ClickHouseSettings,
        context: &SinkContext,
    ) -> anyhow::Result<Self> {
        let what = format!("sink `{name}`");
        let target = target(&what, settings, context.worker == 0)?;
        let batches = Batches::start(
            &what,
            ClickHouse::new(target),
            BATCH_ROWS,
            LINGER,
            std::sync::Arc::clone(context.health),
        )
        .with_context(|| format!("{what}: cannot start its connection"))?;
        Ok(ClickHouseSink { batches })
    }
}

/// Where the settings say to write, checked; user and password come out of the URL.
pub fn target(
    what: &str,
    settings: &ClickHouseSettings,
    keeps_retention: bool,
) -> anyhow::Result<Target> {
    let resolve = |text: &pipe_dsl::plan::Text, property: &str| {
        text.resolve_from_process().with_context(|| {
            format!("{what}: `{property}` reads an environment variable that is not set")
        })
    };
    let url = resolve(&settings.url, "url")?;
    let table = Table::parse(
        &resolve(&settings.database, "database")?,
        &resolve(&settings.table, "table")?,
    )
    .map_err(|error| anyhow::anyhow!("{what}: {error}"))?;
    let (url, user, password) = split_credentials(&url)
        .with_context(|| format!("{what}: `url` is not `http://[user[:password]@]host:port`"))?;
    Ok(Target {
        url,
        user,
        password,
        table,
        settings: settings.clone(),
        keeps_retention,
    })
}

type Credentials = (String, Option<String>, Option<String>);

/// `http://user:secret@host:8123` → (`http://host:8123`, user, secret).
fn split_credentials(url: &str) -> Option<Credentials> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return Some((url.to_string(), None, None));
    };
    let (user, password) = match rest[..at].split_once(':') {
        Some((user, password)) => (user.to_string(), Some(password.to_string())),
        None => (rest[..at].to_string(), None),
    };
    Some((
        format!("{scheme}://{}", &rest[at + 1..]),
        Some(user),
        password,
    ))
}

impl Sink for ClickHouseSink {
    fn write(&mut self, time: u64, records: &[Record<'_>]) -> anyhow::Result<()> {
        for record in records {
            let Record::Window { rollup, window } = record else {
                continue;
            };
            let mut values = [None; NULLABLE.len()];
            let mut quantiles = false;
            for (aggregate, value) in aggregates(rollup, window) {
                if let Some(at) = NULLABLE.iter().position(|name| *name == aggregate.name()) {
                    values[at] = value;
                }
                quantiles |= matches!(
                    aggregate,
                    Aggregate::P50
                        | Aggregate::P90
                        | Aggregate::P95
                        | Aggregate::P99
                        | Aggregate::P999
                );
            }
            let state = &window.state;
            let size = window.end - window.start;
            let row = Window {
                labels: window.labels.clone(),
                series: window.labels.series_id().0,
                start: window.start,
                end: window.end,
                count: state.count,
                sum: state.value(Aggregate::Sum, size).unwrap_or(0.0),
                min: state.min,
                max: state.max,
                values,
                points: if quantiles {
                    state.sketch.points()
                } else {
                    Vec::new()
                },
            };
            self.batches.push(time, row);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        assert_eq!(
            split_credentials("http://ops:s3cret@127.0.0.1:8123"),
            Some((
                "http://127.0.0.1:8123".into(),
                Some("ops".into()),
                Some("s3cret".into())
            ))
        );
        assert_eq!(
            split_credentials("https://ch.example:8443/"),
            Some(("https://ch.example:8443/".into(), None, None))
        );
        assert_eq!(split_credentials("tcp://x:9000"), None);
    }
}
