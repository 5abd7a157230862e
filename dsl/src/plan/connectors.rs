//! The settings of each source and sink kind, as the schema in `crate::schema` declares them.

use serde::{Deserialize, Serialize};

use super::{Duration, Text};

/// Where a source's samples come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SourceConnector {
    /// A simulated fleet.
    Generator(GeneratorSource),
    /// A Kafka topic.
    Kafka(KafkaSource),
    /// A file of samples, one message per line.
    File(FileSource),
    /// Samples the program running the pipeline provides.
    External,
}

/// A simulated fleet of `hosts` × `metrics` series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorSource {
    /// Simulated hosts.
    pub hosts: u64,
    /// Metrics per host.
    pub metrics: u64,
    /// How often each series reports.
    pub interval: Duration,
    /// Wall-clock or as fast as possible.
    pub pace: Pace,
    /// Event time replayed before following the clock.
    pub history: Duration,
    /// The same seed gives the same samples.
    pub seed: u64,
}

impl GeneratorSource {
    /// The labels of every generated sample.
    pub const LABELS: [&'static str; 5] =
        ["metric_name", "host", "region", "environment", "service"];
}

/// How fast a generator produces event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pace {
    /// Follow the wall clock.
    Realtime,
    /// As fast as the pipeline consumes.
    Max,
}

/// How messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"metric_name": …, "timestamp": MILLIS, "value": …, "labels": {…}}`.
    Json,
    /// InfluxDB line protocol: `measurement,tag=v field=1.5 TIMESTAMP_NS`.
    Influx,
}

/// Where a Kafka source starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// The group's committed offsets, or the earliest where a partition has none.
    Committed,
    /// The earliest offset, whatever was committed.
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// What every decoding source checks messages against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// Message encoding.
    pub format: Format,
    /// Larger messages are dead letters.
    pub max_message_bytes: u64,
    /// Live series at most; samples of further new series are dead letters.
    pub max_series: Option<u64>,
}

/// A Kafka topic of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaSource {
    /// Bootstrap servers.
    pub brokers: Text,
    /// The topic.
    pub topic: Text,
    /// The consumer group that stores offsets.
    pub group: Text,
    /// Where to start reading.
    pub start: Start,
    /// Encoding and limits.
    pub admission: Admission,
    /// The topic bad messages go to.
    pub dead_letter: Option<Text>,
    /// librdkafka settings.
    pub options: Vec<(String, Text)>,
    /// When a partition read to its end stops holding event time back.
    pub idle_timeout: Duration,
}

/// A file of samples, one message per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSource {
    /// The file.
    pub path: Text,
    /// Encoding and limits.
    pub admission: Admission,
    /// Whether to keep reading as the file grows.
    pub follow: bool,
    /// The file bad lines go to.
    pub dead_letter: Option<Text>,
    /// With `follow`, when a file that stopped growing stops holding event time back.
    pub idle_timeout: Duration,
}

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SinkConnector {
    /// Standard output.
    Console,
    /// A JSON-lines file.
    File(FileSink),
    /// PostgreSQL or TimescaleDB.
    Timescale(TimescaleSink),
    /// ClickHouse.
    #[serde(rename = "clickhouse")]
    ClickHouse(ClickHouseSink),
    /// Alertmanager.
    Alertmanager(AlertmanagerSink),
    /// A Kafka topic.
    Kafka(KafkaSink),
}

/// A JSON-lines file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSink {
    /// The file.
    pub path: Text,
}

/// Raw samples into PostgreSQL or TimescaleDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimescaleSink {
    /// Connection URL.
    pub url: Text,
    /// The table.
    pub table: Text,
    /// Time span of one chunk or partition.
    pub chunk: Duration,
    /// Compress chunks older than this.
    pub compress_after: Option<Duration>,
    /// Drop data older than this.
    pub retention: Option<Duration>,
}

/// Rollup windows into ClickHouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClickHouseSink {
    /// HTTP URL.
    pub url: Text,
    /// The table.
    pub table: Text,
    /// Its database.
    pub database: Text,
    /// Delete rows older than this.
    pub ttl: Option<Duration>,
}

/// Alert transitions into Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertmanagerSink {
    /// Base URLs, separated by commas.
    pub url: Text,
    /// How often firing alerts are posted again.
    pub resend: Duration,
}

/// A stream into a Kafka topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaSink {
    /// Bootstrap servers.
    pub brokers: Text,
    /// The topic.
    pub topic: Text,
    /// librdkafka settings.
    pub options: Vec<(String, Text)>,
}
