//! The reference design's capacity planner, exactly: 200 bytes per stored sample; one Kafka
//! node per 150 K samples/s (at least 3), one TimescaleDB node per 200 K/s (at least 2), one
//! ClickHouse node per 50 K/s (at least 3), at $800, $1,200 and $2,000 a month; nodes =
//! max(minimum, int(rate / per node) + 1). Kept so that an operator sees what the measured plan
//! saves or costs beside it.

use serde::Serialize;

/// Bytes the reference design stores per sample.
const BYTES_PER_SAMPLE: f64 = 200.0;

/// A node kind of the reference design: samples/s per node, the fewest nodes, monthly price.
struct NodeKind {
    per_node: f64,
    minimum: u64,
    monthly_usd: u64,
}

const KAFKA: NodeKind = NodeKind {
    per_node: 150_000.0,
    minimum: 3,
    monthly_usd: 800,
};
const TIMESCALE: NodeKind = NodeKind {
    per_node: 200_000.0,
    minimum: 2,
    monthly_usd: 1_200,
};
const CLICKHOUSE: NodeKind = NodeKind {
    per_node: 50_000.0,
    minimum: 3,
    monthly_usd: 2_000,
};

impl NodeKind {
    fn nodes(&self, rate: f64) -> u64 {
        self.minimum.max((rate / self.per_node) as u64 + 1)
    }
}

/// One month of the reference plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceMonth {
    /// Servers, as the reference computes them (truncated).
    pub servers: u64,
    /// Samples per second (truncated).
    pub samples_per_second: u64,
    /// Stored bytes per day, in GiB, as the reference's "GB".
    pub raw_gb_per_day: f64,
    /// Kafka nodes.
    pub kafka_nodes: u64,
    /// TimescaleDB nodes.
    pub timescale_nodes: u64,
    /// ClickHouse nodes.
    pub clickhouse_nodes: u64,
    /// Dollars a month.
    pub monthly_usd: u64,
}

/// Month `month` of the reference plan for `servers` growing by `growth` (0.15 for 15 %) a
/// month, each reporting `metrics` every `interval_seconds`.
pub fn month(
    servers: f64,
    metrics: f64,
    interval_seconds: f64,
    growth: f64,
    month: u32,
) -> ReferenceMonth {
    let servers = servers * (1.0 + growth).powi(month as i32);
    let rate = servers * metrics / interval_seconds;
    let (kafka, timescale, clickhouse) = (
        KAFKA.nodes(rate),
        TIMESCALE.nodes(rate),
        CLICKHOUSE.nodes(rate),
    );
    ReferenceMonth {
        servers: servers as u64,
        samples_per_second: rate as u64,
        raw_gb_per_day: rate * 86_400.0 * BYTES_PER_SAMPLE / (1u64 << 30) as f64,
        kafka_nodes: kafka,
        timescale_nodes: timescale,
        clickhouse_nodes: clickhouse,
        monthly_usd: kafka * KAFKA.monthly_usd
            + timescale * TIMESCALE.monthly_usd
            + clickhouse * CLICKHOUSE.monthly_usd,
    }
}
