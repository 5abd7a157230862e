//! Consumer lag per partition: how many messages the broker holds past what the pipeline has
//! read, from librdkafka's statistics every few seconds, for `/metrics` and `pipectl status`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;

use super::config::Logged;

/// How often librdkafka reports statistics, in milliseconds.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// Where one partition is read from.
pub type PartitionKey = (String, String, i32);

/// The newest lag of every partition the workers of this process read, by source, topic and
/// partition.
#[derive(Debug, Default)]
pub struct ConsumerLag {
    partitions: Mutex<BTreeMap<PartitionKey, i64>>,
}

impl ConsumerLag {
    /// Every partition's lag, in messages.
    pub fn all(&self) -> Vec<(PartitionKey, i64)> {
        let partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        partitions
            .iter()
            .map(|(key, lag)| (key.clone(), *lag))
            .collect()
    }
}

/// A source's consumer context: librdkafka's log as [`Logged`] sends it, and its statistics
/// into [`ConsumerLag`].
pub struct Measured {
    /// The source's name.
    pub source: String,
    /// Where the lag goes.
    pub lag: Arc<ConsumerLag>,
}

impl ClientContext for Measured {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        Logged.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        Logged.error(error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        let mut partitions = self
            .lag
            .partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (topic, figures) in &statistics.topics {
            // Partition −1 is librdkafka's own; offsets below zero are not known yet.
            for partition in figures.partitions.values() {
                if partition.partition < 0 || partition.hi_offset < 0 || partition.app_offset < 0 {
                    continue;
                }
                let key = (self.source.clone(), topic.clone(), partition.partition);
                partitions.insert(key, (partition.hi_offset - partition.app_offset).max(0));
            }
        }
    }
}

impl ConsumerContext for Measured {}
