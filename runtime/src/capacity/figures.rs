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
/// a run or a bench prints replaces what that run measured (see [`Run::of`]).
pub fn with_runs(mut figures: Figures, text: &str, name: &str) -> anyhow::Result<Figures> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return self::figures(text, name);
    };
    let number = |key: &str| {
        json.pointer(key)
            .and_then(serde_json::Value::as_f64)
            .filter(|n| n.is_finite() && *n > 0.0)
    };
    let per_series = || Some(number("/peak_rss_bytes")? / number("/series")?);
    let Some(run) = Run::of(&json) else {
        bail!(
            "`{name}` is neither a figures file nor the JSON of `pipectl run`, `pipectl bench`, `pipectl bench storage`, `pipectl loadgen` or `scripts/bench-kafka`"
        );
    };
    let pipeline = &mut figures.pipeline;
    let kafka = &mut figures.kafka;
    let set = |figure: &mut f64, value: Option<f64>| {
        if let Some(value) = value {
            *figure = value;
        }
    };
    match run {
        Run::Bench => {
            set(
                &mut pipeline.samples_per_second_per_core,
                number("/samples_per_second_per_worker"),
            );
            set(&mut pipeline.resident_bytes_per_series, per_series());
        }
        Run::Pipeline => {
            let per_cpu_second = number("/samples")
                .zip(number("/cpu_seconds"))
                .map(|(samples, cpu)| samples / cpu);
            set(&mut pipeline.samples_per_second_per_core, per_cpu_second);
            set(&mut pipeline.resident_bytes_per_series, per_series());
        }
        Run::BenchKafka => {
            set(
                &mut pipeline.samples_per_second_per_core,
                number("/pipeline_samples_per_cpu_second"),
            );
            set(&mut pipeline.resident_bytes_per_series, per_series());
            set(
                &mut kafka.bytes_per_message,
                number("/wire_bytes_per_message"),
            );
            set(
                &mut kafka.messages_per_second_per_core,
                number("/broker_messages_per_cpu_second"),
            );
        }
        Run::Loadgen => set(
            &mut kafka.bytes_per_message,
            number("/wire_bytes_per_message"),
        ),
        Run::Storage => {
            let postgres = &mut figures.postgres;
            set(&mut postgres.bytes_per_row, number("/raw_bytes_per_row"));
            set(
                &mut postgres.rows_per_second_per_core,
                number("/raw_load/rows_per_server_cpu_second"),
            );
            let clickhouse = &mut figures.clickhouse;
            set(
                &mut clickhouse.bytes_per_window,
                number("/rollups/bytes_per_row"),
            );
            set(
                &mut clickhouse.bytes_per_cascade_window,
                number("/rollups/hourly_bytes_per_row"),
            );
            set(
                &mut clickhouse.rows_per_second_per_core,
                number("/rollups/insert/rows_per_server_cpu_second"),
            );
        }
    }
    figures.machine = format!("{}; with {name}", figures.machine);
    Ok(figures)
}

/// Which run printed a JSON object, known by a key only it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// `pipectl bench --json`: the engine alone, per worker.
    Bench,
    /// `pipectl run --json`: a pipeline on its own input, CPU time and memory included.
    Pipeline,
    /// `scripts/bench-kafka`: broker, loadgen and pipeline together.
    BenchKafka,
    /// `pipectl loadgen --json`: what a message costs on the wire.
    Loadgen,
    /// `pipectl bench storage --json`: bytes per row on disk.
    Storage,
}

impl Run {
    fn of(json: &serde_json::Value) -> Option<Run> {
        let has = |key: &str| !json[key].is_null();
        [
            ("samples_per_second_per_worker", Run::Bench),
            ("broker_messages_per_cpu_second", Run::BenchKafka),
            ("cpu_seconds", Run::Pipeline),
            ("wire_bytes_per_message", Run::Loadgen),
            ("raw_bytes_per_row", Run::Storage),
        ]
        .into_iter()
        .find_map(|(key, run)| has(key).then_some(run))
    }
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
