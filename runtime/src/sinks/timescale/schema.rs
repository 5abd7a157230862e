//! The raw table's DDL, for TimescaleDB (a hypertable with compression and retention
//! policies) or plain PostgreSQL (a table partitioned by time range, partitions created ahead
//! and dropped past retention by the sink). Pure text: `pipectl migrate` prints it, the sink
//! runs it, tests read it.

use std::fmt;

use pipe_dsl::plan::TimescaleSink as TimescaleSettings;

/// Labels with a column of their own; every other label goes into `labels` (jsonb).
pub const LABEL_COLUMNS: [&str; 4] = ["host", "region", "environment", "service"];

/// The columns binary COPY writes, in order.
pub const COLUMNS: &str =
    "time, metric_name, value, labels, host, region, environment, service, series_id";

/// What the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The `timescaledb` extension is installed or can be.
    TimescaleDb,
    /// PostgreSQL without it: native range partitioning.
    Native,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::TimescaleDb => "TimescaleDB: a hypertable with compression and retention",
            Flavor::Native => {
                "PostgreSQL without TimescaleDB: native time partitions, dropped at retention by the sink"
            }
        })
    }
}

/// Accepts letters, digits and `_`, not starting with a digit: a name from a `.pipe` file that
/// can be quoted safely, and the same in every database.
pub fn plain_identifier(part: &str) -> Result<(), String> {
    let plain = part
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        Ok(())
    } else {
        Err(format!(
            "`{part}` is not a plain identifier (letters, digits and `_`, not starting with a digit)"
        ))
    }
}

/// A table name from a `.pipe` file, checked and quoted: `table` or `schema.table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

/// Partition names append `_p` and ten digits to the table's name; PostgreSQL keeps 63 bytes.
const MAX_TABLE_NAME: usize = 48;

impl TableName {
    /// The name, when every part is a plain identifier (letters, digits and `_`, not starting
    /// with a digit): nothing from a file is ever put into SQL unchecked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split('.');
        let (schema, name) = match (parts.next(), parts.next(), parts.next()) {
            (Some(name), None, _) => (None, name),
            (Some(schema), Some(name), None) => (Some(schema), name),
            _ => return Err(format!("`{text}` is not `table` or `schema.table`")),
        };
        for part in schema.iter().chain([&name]) {
            plain_identifier(part)?;
        }
        if name.len() > MAX_TABLE_NAME {
            return Err(format!(
                "`{name}` is longer than {MAX_TABLE_NAME} characters"
            ));
        }
        Ok(TableName {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        })
    }

    /// The name of the partition that starts at `start_ms`.
    pub fn partition(&self, start_ms: u64) -> TableName {
        TableName {
            schema: self.schema.clone(),
            name: format!("{}_p{}", self.name, start_ms / 1000),
        }
    }

    /// The start of a partition of this table, from its name.
    pub fn partition_start(&self, partition: &str) -> Option<u64> {
        let digits = partition.strip_prefix(&self.name)?.strip_prefix("_p")?;
        digits.parse::<u64>().ok().map(|seconds| seconds * 1000)
    }

    /// The bare name, unquoted (for catalog lookups).
    pub fn bare(&self) -> &str {
        &self.name
    }

    /// The schema, unquoted; `None` for the search path's.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table of hourly sums beside it: `metrics_hot_hourly`.
    pub fn hourly(&self) -> TableName {
        TableName {
            schema: self.schema.clone(),
            name: format!("{}_hourly", self.name),
        }
    }

    /// A name derived from this one (an index), quoted, without schema.
    fn derived(&self, suffix: &str) -> String {
        format!("\"{}_{suffix}\"", self.name)
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "\"{schema}\".\"{}\"", self.name),
            None => write!(f, "\"{}\"", self.name),
        }
    }
}

/// An interval literal of whole seconds.
fn interval(millis: u64) -> String {
    format!("INTERVAL '{} seconds'", millis / 1000)
}

/// The statements that create the table, its indexes and its policies; each is idempotent.
pub fn create(table: &TableName, settings: &TimescaleSettings, flavor: Flavor) -> Vec<String> {
    let partitioned = match flavor {
        Flavor::TimescaleDb => "",
        Flavor::Native => " PARTITION BY RANGE (time)",
    };
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n  \
             time timestamptz NOT NULL,\n  \
             metric_name text NOT NULL,\n  \
             value double precision NOT NULL,\n  \
             labels jsonb NOT NULL,\n  \
             host text,\n  \
             region text,\n  \
             environment text,\n  \
             service text,\n  \
             series_id bigint NOT NULL\n)\
             {partitioned}"
    )];
    if flavor == Flavor::TimescaleDb {
        statements.push(format!(
            "SELECT create_hypertable('{table}', 'time', chunk_time_interval => {}, if_not_exists => TRUE)",
            interval(settings.chunk.millis())
        ));
    }
    // One series over a time range, and the key a replay is deduplicated on.
    statements.push(format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {table} (series_id, time)",
        table.derived("series_time")
    ));
    // One metric over a time range, grouped by time or by host.
    statements.push(format!(
        "CREATE INDEX IF NOT EXISTS {} ON {table} (metric_name, time DESC) INCLUDE (host, value)",
        table.derived("metric_time")
    ));
    // Each metric's count and sum per hour, added to by every connection in the transaction
    // that writes the rows (a row per connection, so that writers never wait for each other):
    // a fleet-wide average over a day reads a few rows per hour, not a day of samples.
    statements.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  \
             metric_name text NOT NULL,\n  \
             hour timestamptz NOT NULL,\n  \
             writer integer NOT NULL,\n  \
             count bigint NOT NULL,\n  \
             sum double precision NOT NULL,\n  \
             PRIMARY KEY (metric_name, hour, writer)\n)",
        table.hourly()
    ));
    if flavor == Flavor::TimescaleDb {
        if let Some(after) = settings.compress_after {
            statements.push(format!(
                "ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'time DESC')"
            ));
            statements.push(format!(
                "SELECT add_compression_policy('{table}', {}, if_not_exists => TRUE)",
                interval(after.millis())
            ));
        }
        if let Some(retention) = settings.retention {
            statements.push(format!(
                "SELECT add_retention_policy('{table}', {}, if_not_exists => TRUE)",
                interval(retention.millis())
            ));
        }
    }
    statements
}

/// The partition of a natively partitioned table covering `[start_ms, start_ms + chunk_ms)`.
pub fn create_partition(table: &TableName, start_ms: u64, chunk_ms: u64) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {table} FOR VALUES FROM ({}) TO ({})",
        table.partition(start_ms),
        timestamp(start_ms),
        timestamp(start_ms + chunk_ms)
    )
}

/// Drops a partition past retention.
pub fn drop_partition(table: &TableName, start_ms: u64) -> String {
    format!("DROP TABLE IF EXISTS {}", table.partition(start_ms))
}

fn timestamp(millis: u64) -> String {
    format!("'{}'", crate::time::rfc3339(millis))
}

/// The session's staging table for a replay: rows copied into it are inserted into the table
/// unless the table has them already.
pub fn create_staging(table: &TableName) -> String {
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS pipe_staging (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
}

/// Inserts the staged rows the table does not hold yet, and adds those it inserted to the
/// hourly sums.
pub fn insert_staged(table: &TableName) -> String {
    format!(
        "WITH inserted AS (INSERT INTO {table} ({COLUMNS}) SELECT {COLUMNS} FROM pipe_staging \
         ON CONFLICT (series_id, time) DO NOTHING RETURNING metric_name, time, value) \
         INSERT INTO {hourly} AS s (metric_name, hour, writer, count, sum) \
         SELECT metric_name, date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', \
         pg_backend_pid(), count(*), sum(value) FROM inserted GROUP BY 1, 2 {ADD_TO_HOURLY}",
        hourly = table.hourly()
    )
}

/// Adds a batch's counts and sums per metric and hour (`$1` metric names, `$2` hours, `$3`
/// counts, `$4` sums) to the hourly sums.
pub fn add_hourly(table: &TableName) -> String {
    format!(
        "INSERT INTO {} AS s (metric_name, hour, writer, count, sum) \
         SELECT m, h, pg_backend_pid(), c, v \
         FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::float8[]) AS u(m, h, c, v) \
         {ADD_TO_HOURLY}",
        table.hourly()
    )
}

const ADD_TO_HOURLY: &str = "ON CONFLICT (metric_name, hour, writer) DO UPDATE \
     SET count = s.count + excluded.count, sum = s.sum + excluded.sum";

/// Drops the hourly sums of the hours before `until_ms`, whose rows are gone.
pub fn prune_hourly(table: &TableName, until_ms: u64) -> String {
    format!(
        "DELETE FROM {} WHERE hour < {}",
        table.hourly(),
        timestamp(until_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_dsl::plan::{Duration, Text};

    fn settings() -> TimescaleSettings {
        TimescaleSettings {
            url: Text::Literal("postgres://127.0.0.1/metrics".into()),
            table: Text::Literal("metrics_hot".into()),
            chunk: Duration(3_600_000),
            compress_after: Some(Duration(7_200_000)),
            retention: Some(Duration(7 * 86_400_000)),
        }
    }

    #[test]
    fn table_names_are_plain_identifiers_and_quoted() {
        let table = TableName::parse("metrics_hot").unwrap();
        assert_eq!(table.to_string(), "\"metrics_hot\"");
        let qualified = TableName::parse("ops.raw_1").unwrap();
        assert_eq!(qualified.to_string(), "\"ops\".\"raw_1\"");
        for bad in [
            "x; DROP TABLE y",
            "a\"b",
            "1abc",
            "",
            "a.b.c",
            "a-b",
            "ü",
            &"x".repeat(49),
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partitions_are_named_by_their_start_and_found_again() {
        let table = TableName::parse("ops.raw").unwrap();
        let partition = table.partition(1_767_225_600_000);
        assert_eq!(partition.to_string(), "\"ops\".\"raw_p1767225600\"");
        assert_eq!(
            table.partition_start(partition.bare()),
            Some(1_767_225_600_000)
        );
        assert_eq!(table.partition_start("raw_2"), None);
        assert_eq!(
            create_partition(&table, 1_767_225_600_000, 3_600_000),
            "CREATE TABLE IF NOT EXISTS \"ops\".\"raw_p1767225600\" PARTITION OF \"ops\".\"raw\" \
             FOR VALUES FROM ('2026-01-01T00:00:00.000Z') TO ('2026-01-01T01:00:00.000Z')"
        );
    }

    #[test]
    fn timescaledb_gets_a_hypertable_with_compression_and_retention() {
        let table = TableName::parse("metrics_hot").unwrap();
        insta::assert_snapshot!(create(&table, &settings(), Flavor::TimescaleDb).join(";\n"));
    }

    #[test]
    fn plain_postgresql_gets_a_partitioned_table() {
        let table = TableName::parse("metrics_hot").unwrap();
        insta::assert_snapshot!(create(&table, &settings(), Flavor::Native).join(";\n"));
    }
}
