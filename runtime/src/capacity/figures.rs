//! What pipe measured, as `pipectl capacity` plans from it: a figures file (`--figures`; the
//! default is `capacity-figures.toml`, committed beside BENCHMARKS.md with the machine and date
//! it came from) and a machine catalogue (`--machines`; `machines.toml`).

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// The figures file's version this pipectl reads.
pub const FIGURES_VERSION: u32 = 1;

/// The default figures, measured on the machine BENCHMARKS.md names.
pub const DEFAULT_FIGURES: &str = include_str!("../../../capacity-figures.toml");

/// The default machine catalogue.
pub const DEFAULT_MACHINES: &str = include_str!("../../../machines.toml");

/// Measured figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figures {
    /// [`FIGURES_VERSION`].
    pub version: u32,
    /// Where they were measured.
    pub machine: String,
    /// When.
    pub date: String,
    /// `pipectl bench`.
    pub pipeline: PipelineFigures,
    /// `pipectl bench storage`: the raw tier.
    pub postgres: StoreFigures,
    /// `pipectl bench storage`: the rollup tiers.
    pub clickhouse: RollupStoreFigures,
    /// `scripts/bench-kafka` and `pipectl loadgen`.
    pub kafka: BrokerFigures,
}

/// The pipeline's figures per core and per series.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFigures {
    /// Samples per second one worker (one core) takes.
    pub samples_per_second_per_core: f64,
    /// Resident memory per series, state and everything else.
    pub resident_bytes_per_series: f64,
}

/// A store of raw rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFigures {
    /// Bytes on disk per row, indexes included.
    pub bytes_per_row: f64,
    /// Rows inserted per second per core of the server.
    pub rows_per_second_per_core: f64,
}

/// A store of rollup windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupStoreFigures {
    /// Bytes on disk per window of a rollup of raw samples.
    pub bytes_per_window: f64,
    /// Bytes on disk per window of a cascade (its sketches hold more points).
    pub bytes_per_cascade_window: f64,
    /// Windows inserted per second per core of the server.
    pub rows_per_second_per_core: f64,
}

/// The broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerFigures {
    /// Bytes per message as produced (compressed).
    pub bytes_per_message: f64,
    /// Messages per second per core of a broker.
    pub messages_per_second_per_core: f64,
    /// Copies of each partition.
    pub replication: u64,
}

/// A machine of the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// Its name at the provider.
    pub name: String,
    /// Cores.
    pub cores: f64,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Disk, GiB.
    pub disk_gib: f64,
    /// Dollars a month.
    pub monthly_usd: f64,
    /// Where the price came from.
    pub source: String,
}

/// The machine each role runs on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machines {
    /// pipe's processes.
    pub pipeline: Machine,
    /// Kafka brokers.
    pub kafka: Machine,
    /// PostgreSQL/TimescaleDB servers.
    pub postgres: Machine,
    /// ClickHouse servers.
    pub clickhouse: Machine,
}

/// Reads a figures file, refusing one of another version.
pub fn figures(text: &str, name: &str) -> anyhow::Result<Figures> {
    #[derive(Deserialize)]
    struct Versioned {
        version: Option<u32>,
    }
    let versioned: Versioned =
        toml::from_str(text).with_context(|| format!("`{name}` is not a figures file"))?;
    match versioned.version {
        Some(FIGURES_VERSION) => {}
        Some(other) => bail!(
            "`{name}` is a figures file of version {other}; this pipectl reads version {FIGURES_VERSION}: measure again with this version's `pipectl bench`"
        ),
        None => bail!("`{name}` has no `version`: is it a figures file?"),
    }
    let figures: Figures =
        toml::from_str(text).with_context(|| format!("`{name}` is not a figures file"))?;
    let positive = [
        figures.pipeline.samples_per_second_per_core,
        figures.pipeline.resident_bytes_per_series,
        figures.postgres.bytes_per_row,
        figures.postgres.rows_per_second_per_core,
        figures.clickhouse.bytes_per_window,
        figures.clickhouse.bytes_per_cascade_window,
        figures.clickhouse.rows_per_second_per_core,
        figures.kafka.bytes_per_message,
        figures.kafka.messages_per_second_per_core,
    ];
    if positive
        .iter()
        .any(|figure| !(figure.is_finite() && *figure > 0.0))
    {
        bail!("`{name}`: every figure must be a positive number");
    }
    Ok(figures)
}

/// Figures with those of the user's own runs: a figures file replaces them whole; the JSON that
/// `pipectl bench --json` prints replaces the pipeline's, that of `pipectl bench storage
/// --json` the bytes per row of both stores.
pub fn with_runs(mut figures: Figures, text: &str, name: &str) -> anyhow::Result<Figures> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return self::figures(text, name);
    };
    let number = |value: &serde_json::Value| value.as_f64().filter(|n| n.is_finite() && *n > 0.0);
    if let Some(rate) = number(&json["samples_per_second_per_worker"]) {
        figures.pipeline.samples_per_second_per_core = rate;
        if let (Some(rss), Some(series)) =
            (number(&json["peak_rss_bytes"]), number(&json["series"]))
        {
            figures.pipeline.resident_bytes_per_series = rss / series;
        }
    } else if let Some(raw) = number(&json["raw_bytes_per_row"]) {
        figures.postgres.bytes_per_row = raw;
        if let Some(minute) = number(&json["rollups"]["bytes_per_row"]) {
            figures.clickhouse.bytes_per_window = minute;
        }
        if let Some(hour) = number(&json["rollups"]["hourly_bytes_per_row"]) {
            figures.clickhouse.bytes_per_cascade_window = hour;
        }
    } else {
        bail!(
            "`{name}` is neither a figures file nor what `pipectl bench --json` or `pipectl bench storage --json` prints"
        );
    }
    figures.machine = format!("{}; with {name}", figures.machine);
    Ok(figures)
}

/// Reads a machine catalogue.
pub fn machines(text: &str, name: &str) -> anyhow::Result<Machines> {
    let machines: Machines =
        toml::from_str(text).with_context(|| format!("`{name}` is not a machine catalogue"))?;
    for machine in [
        &machines.pipeline,
        &machines.kafka,
        &machines.postgres,
        &machines.clickhouse,
    ] {
        if [machine.cores, machine.memory_gib, machine.disk_gib]
            .iter()
            .any(|size| !(size.is_finite() && *size > 0.0))
        {
            bail!(
                "`{name}`: machine `{}` needs cores, memory and disk above 0",
                machine.name
            );
        }
    }
    Ok(machines)
}
