//! The plan from what pipe measured, for the pipeline an operator wrote: its tiers and their
//! retention from the `.pipe` file, per-core and per-row figures from [`Figures`], machines from
//! the catalogue, each role sized for throughput, memory and disk with the headroom asked for.

use pipe_dsl::Plan;
use pipe_dsl::plan::SinkConnector;
use serde::Serialize;

use super::Fleet;
use super::figures::{Figures, Machine, Machines};

const GIB: f64 = (1u64 << 30) as f64;
const DAY_SECONDS: f64 = 86_400.0;
/// How long a sink keeps rows when it sets no retention: the plan holds a year of them.
const UNBOUNDED_DAYS: f64 = 365.0;

/// What a pipeline stores: its raw tier, if any, and each rollup tier.
#[derive(Debug, Clone, Serialize)]
pub struct Tiers {
    /// Days the raw tier keeps, when the pipeline writes raw samples to PostgreSQL.
    pub raw_days: Option<f64>,
    /// Each rollup written to ClickHouse: name, window seconds, days kept, whether a cascade.
    pub rollups: Vec<RollupTier>,
}

/// A rollup tier.
#[derive(Debug, Clone, Serialize)]
pub struct RollupTier {
    /// The rollup.
    pub name: String,
    /// Its window, seconds.
    pub window_seconds: f64,
    /// Days its sink keeps.
    pub days: f64,
    /// Whether it merges another rollup's windows (bigger sketches).
    pub cascade: bool,
}

impl Tiers {
    /// The tiers of `plan`.
    pub fn of(plan: &Plan) -> Tiers {
        let days = |duration: Option<pipe_dsl::plan::Duration>| {
            duration.map_or(UNBOUNDED_DAYS, |d| d.millis() as f64 / 1000.0 / DAY_SECONDS)
        };
        let mut raw_days: Option<f64> = None;
        let mut rollups = Vec::new();
        for sink in &plan.sinks {
            match &sink.connector {
                SinkConnector::Timescale(settings) if plan.source(&sink.from).is_some() => {
                    let kept = days(settings.retention);
                    raw_days = Some(raw_days.map_or(kept, |d| d.max(kept)));
                }
                SinkConnector::ClickHouse(settings) => {
                    if let Some(rollup) = plan.rollup(&sink.from) {
                        rollups.push(RollupTier {
                            name: rollup.name.clone(),
                            window_seconds: rollup.window.slide().millis() as f64 / 1000.0,
                            days: days(settings.ttl),
                            cascade: rollup.cascade,
                        });
                    }
                }
                _ => {}
            }
        }
        Tiers { raw_days, rollups }
    }
}

/// Nodes of one role and what decided their number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Role {
    /// Machines.
    pub nodes: u64,
    /// `throughput`, `memory`, `disk` or `minimum`.
    pub bound_by: &'static str,
}

/// One month of the measured plan.
#[derive(Debug, Clone, Serialize)]
pub struct MeasuredMonth {
    /// Servers.
    pub servers: u64,
    /// Samples per second.
    pub samples_per_second: u64,
    /// Raw rows written per day, GiB (0 without a raw tier).
    pub raw_gb_per_day: f64,
    /// Raw tier held at its retention, GiB.
    pub raw_stored_gb: f64,
    /// Rollup tiers held at their retention, GiB.
    pub rollup_stored_gb: f64,
    /// The topic held at Kafka's retention, every replica, GiB.
    pub kafka_stored_gb: f64,
    /// Pipeline cores and memory (GiB) at the headroom asked for.
    pub pipeline_cores: f64,
    /// Pipeline memory, GiB, at the headroom asked for.
    pub pipeline_memory_gb: f64,
    /// Pipeline machines.
    pub pipeline: Role,
    /// Kafka partitions: one per pipeline worker.
    pub kafka_partitions: u64,
    /// Kafka brokers.
    pub kafka: Role,
    /// PostgreSQL/TimescaleDB servers (0 without a raw tier).
    pub postgres: Role,
    /// ClickHouse servers (0 without rollup tiers).
    pub clickhouse: Role,
    /// Dollars a month.
    pub monthly_usd: f64,
}

/// The measured plan for `servers` servers of `fleet`, leaving its headroom of every machine
/// free.
pub fn month(
    tiers: &Tiers,
    figures: &Figures,
    machines: &Machines,
    fleet: &Fleet,
    servers: f64,
) -> MeasuredMonth {
    let usable = 1.0 - fleet.headroom;
    let series = servers * fleet.metrics_per_server;
    let rate = series / fleet.interval_seconds;
    let raw_gb_per_day = if tiers.raw_days.is_some() {
        rate * DAY_SECONDS * figures.postgres.bytes_per_row / GIB
    } else {
        0.0
    };
    let raw_stored_gb = raw_gb_per_day * tiers.raw_days.unwrap_or(0.0);
    let mut rollup_rows = 0.0;
    let mut rollup_stored_gb = 0.0;
    for tier in &tiers.rollups {
        let rows = series / tier.window_seconds;
        let bytes = if tier.cascade {
            figures.clickhouse.bytes_per_cascade_window
        } else {
            figures.clickhouse.bytes_per_window
        };
        rollup_rows += rows;
        rollup_stored_gb += rows * DAY_SECONDS * tier.days * bytes / GIB;
    }
    let pipeline_cores = rate / figures.pipeline.samples_per_second_per_core / usable;
    let pipeline_memory_gb = series * figures.pipeline.resident_bytes_per_series / GIB / usable;
    let pipeline = sized(
        &machines.pipeline,
        1,
        pipeline_cores,
        pipeline_memory_gb,
        0.0,
    );
    let replication = figures.kafka.replication as f64;
    let kafka_cores = rate / figures.kafka.messages_per_second_per_core / usable * replication;
    let kafka_stored_gb =
        rate * figures.kafka.bytes_per_message * fleet.kafka_retention_hours * 3600.0 * replication
            / GIB;
    let kafka = sized(
        &machines.kafka,
        figures.kafka.replication,
        kafka_cores,
        0.0,
        kafka_stored_gb / usable,
    );
    let postgres = if tiers.raw_days.is_some() {
        let cores = rate / figures.postgres.rows_per_second_per_core / usable;
        sized(&machines.postgres, 1, cores, 0.0, raw_stored_gb / usable)
    } else {
        Role {
            nodes: 0,
            bound_by: "no raw tier",
        }
    };
    let clickhouse = if tiers.rollups.is_empty() {
        Role {
            nodes: 0,
            bound_by: "no rollup tier",
        }
    } else {
        let cores = rollup_rows / figures.clickhouse.rows_per_second_per_core / usable;
        sized(
            &machines.clickhouse,
            1,
            cores,
            0.0,
            rollup_stored_gb / usable,
        )
    };
    let monthly_usd = pipeline.nodes as f64 * machines.pipeline.monthly_usd
        + kafka.nodes as f64 * machines.kafka.monthly_usd
        + postgres.nodes as f64 * machines.postgres.monthly_usd
        + clickhouse.nodes as f64 * machines.clickhouse.monthly_usd;
    MeasuredMonth {
        servers: servers as u64,
        samples_per_second: rate as u64,
        raw_gb_per_day,
        raw_stored_gb,
        rollup_stored_gb,
        kafka_stored_gb,
        pipeline_cores,
        pipeline_memory_gb,
        kafka_partitions: (pipeline.nodes as f64 * machines.pipeline.cores) as u64,
        pipeline,
        kafka,
        postgres,
        clickhouse,
        monthly_usd,
    }
}

/// Machines of `machine` for `cores`, `memory` and `disk` (GiB), at least `minimum`.
fn sized(machine: &Machine, minimum: u64, cores: f64, memory: f64, disk: f64) -> Role {
    let needs = [
        ((cores / machine.cores).ceil() as u64, "throughput"),
        ((memory / machine.memory_gib).ceil() as u64, "memory"),
        ((disk / machine.disk_gib).ceil() as u64, "disk"),
    ];
    let (nodes, bound_by) = needs
        .into_iter()
        .max_by_key(|(nodes, _)| *nodes)
        .expect("three needs");
    if nodes < minimum {
        return Role {
            nodes: minimum,
            bound_by: "minimum",
        };
    }
    Role { nodes, bound_by }
}
