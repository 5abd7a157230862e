//! A rollup table's DDL for the server's version: TTL and column codecs where the server has
//! them (19.6 and later), plain columns and partitions the sink drops itself where it has not
//! (Debian's 18.16). Pure text: `pipectl migrate` prints it, the sink runs it, and a test runs the
//! modern DDL on a current engine (chDB).
//!
//! Every table has the same columns, whatever its rollup: the series key, the window, the
//! aggregates every window has (`count`, `sum`, `min`, `max`), one nullable column for each
//! other aggregate (`NULL` where the rollup does not compute it), and the quantile state: the
//! sketch's points, ascending values (`sketch_values`) with how many samples each stands for
//! (`sketch_counts`). A quantile over any set of windows is the weighted quantile of their
//! points, within the sketch's 1% relative error: the view `<table>_points` lays them out for
//! `quantileExactWeighted(q)(value, weight)`.

use std::fmt;

use pipe_dsl::plan::ClickHouseSink as ClickHouseSettings;

use crate::sinks::timescale::schema::plain_identifier;

/// Aggregates with a nullable column, in column order.
pub const NULLABLE: [&str; 9] = [
    "avg", "last", "p50", "p90", "p95", "p99", "p999", "rate", "increase",
];

/// A ClickHouse server's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl Version {
    /// From `SELECT version()`: `18.16.1` or `24.8.4.13`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        Some(Version {
            major: parts.next()?.parse().ok()?,
            minor: parts.next()?.parse().ok()?,
        })
    }

    /// Whether the server has table TTL and column codecs (both came by 19.6).
    pub fn is_modern(self) -> bool {
        self >= Version {
            major: 19,
            minor: 6,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A table: database and name, each a checked identifier, quoted with backquotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The database.
    pub database: String,
    /// The table.
    pub name: String,
}

impl Table {
    /// Both names, when each is a plain identifier.
    pub fn parse(database: &str, name: &str) -> Result<Self, String> {
        plain_identifier(database)?;
        plain_identifier(name)?;
        Ok(Table {
            database: database.to_string(),
            name: name.to_string(),
        })
    }

    /// The view that lays the table's sketch points out for `quantileExactWeighted`.
    pub fn points(&self) -> String {
        format!("`{}`.`{}_points`", self.database, self.name)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`.`{}`", self.database, self.name)
    }
}

/// Partitions by day when rows are kept up to two months, by month otherwise: a few hundred
/// partitions at most, each dropped whole when it passes the TTL.
fn partition(settings: &ClickHouseSettings) -> &'static str {
    match settings.ttl {
        Some(ttl) if ttl.millis() <= 60 * 86_400_000 => "toYYYYMMDD(window_start)",
        _ => "toYYYYMM(window_start)",
    }
}

/// The statements that create the table and its points view; each is idempotent.
pub fn create(table: &Table, settings: &ClickHouseSettings, version: Version) -> Vec<String> {
    let modern = version.is_modern();
    let codec = |codec: &str| {
        if modern {
            format!(" CODEC({codec})")
        } else {
            String::new()
        }
    };
    let key = if modern {
        "LowCardinality(String)"
    } else {
        "String"
    };
    let mut columns = vec![
        format!("metric_name {key}"),
        format!("host {key}"),
        format!("region {key}"),
        format!("environment {key}"),
        format!("service {key}"),
        format!("labels String{}", codec("ZSTD(3)")),
        "series_id UInt64".to_string(),
        format!("window_start DateTime{}", codec("Delta, ZSTD")),
        format!("window_end DateTime{}", codec("Delta, ZSTD")),
        format!("count UInt64{}", codec("T64, ZSTD")),
    ];
    for aggregate in ["sum", "min", "max"] {
        columns.push(format!("{aggregate} Float64{}", codec("Gorilla, ZSTD")));
    }
    for aggregate in NULLABLE {
        columns.push(format!("{aggregate} Nullable(Float64){}", codec("ZSTD")));
    }
    columns.push(format!("sketch_values Array(Float64){}", codec("ZSTD")));
    columns.push(format!("sketch_counts Array(UInt64){}", codec("ZSTD")));
    let ttl = match settings.ttl {
        Some(ttl) if modern => format!(
            "\nTTL window_start + toIntervalSecond({})",
            ttl.millis() / 1000
        ),
        _ => String::new(),
    };
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n  {}\n)\n\
             ENGINE = ReplacingMergeTree\n\
             PARTITION BY {}\n\
             ORDER BY (metric_name, host, series_id, window_start){ttl}",
            columns.join(",\n  "),
            partition(settings)
        ),
        format!(
            "CREATE VIEW IF NOT EXISTS {} AS\n\
             SELECT metric_name, host, region, environment, service, labels, series_id, \
             window_start, window_end, value, weight\n\
             FROM {table} FINAL\n\
             ARRAY JOIN sketch_values AS value, sketch_counts AS weight",
            table.points()
        ),
    ]
}

/// The partitions to drop on a server without TTL: those whose last day is past `ttl`.
pub fn expired_partitions(
    partitions: &[String],
    settings: &ClickHouseSettings,
    now_ms: u64,
) -> Vec<String> {
    let Some(ttl) = settings.ttl else {
        return Vec::new();
    };
    let cutoff = crate::time::rfc3339(now_ms.saturating_sub(ttl.millis()));
    // `2026-11-04T…` as the partition keys are written: 20261104 or 202611.
    let day: String = cutoff[..10].chars().filter(char::is_ascii_digit).collect();
    partitions
        .iter()
        .filter(|partition| match partition.len() {
            8 => partition.as_str() < day.as_str(),
            6 => partition.as_str() < &day[..6],
            _ => false,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_dsl::plan::{Duration, Text};

    fn settings(days: u64) -> ClickHouseSettings {
        ClickHouseSettings {
            url: Text::Literal("http://127.0.0.1:8123".into()),
            table: Text::Literal("metrics_1m".into()),
            database: Text::Literal("default".into()),
            ttl: Some(Duration(days * 86_400_000)),
        }
    }

    #[test]
    fn versions_are_read_and_compared() {
        assert_eq!(
            Version::parse("18.16.1"),
            Some(Version {
                major: 18,
                minor: 16
            })
        );
        assert!(!Version::parse("18.16.1").unwrap().is_modern());
        assert!(Version::parse("24.8.4.13").unwrap().is_modern());
        assert!(Version::parse("19.6").unwrap().is_modern());
        assert_eq!(Version::parse("x"), None);
    }

    #[test]
    fn names_are_plain_identifiers() {
        assert_eq!(
            Table::parse("default", "metrics_1m").unwrap().to_string(),
            "`default`.`metrics_1m`"
        );
        assert!(Table::parse("default", "m`; DROP TABLE x").is_err());
        assert!(Table::parse("a b", "m").is_err());
    }

    #[test]
    fn a_modern_server_gets_ttl_and_codecs() {
        let table = Table::parse("default", "metrics_1m").unwrap();
        let version = Version::parse("24.8").unwrap();
        insta::assert_snapshot!(create(&table, &settings(30), version).join(";\n"));
    }

    #[test]
    fn an_old_server_gets_plain_columns_and_no_ttl() {
        let table = Table::parse("default", "metrics_1h").unwrap();
        let version = Version::parse("18.16.1").unwrap();
        insta::assert_snapshot!(create(&table, &settings(365), version).join(";\n"));
    }

    #[test]
    fn partitions_past_the_ttl_are_dropped() {
        let now = 1_767_225_600_000; // 2026-01-01
        let days = ["20251201", "20251202", "20251203", "20251231"].map(String::from);
        assert_eq!(expired_partitions(&days, &settings(30), now), ["20251201"]);
        let months = ["202411", "202412", "202501"].map(String::from);
        assert_eq!(
            expired_partitions(&months, &settings(365), now),
            ["202411", "202412"]
        );
    }
}
