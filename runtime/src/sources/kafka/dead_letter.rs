//! The dead-letter topic: each refused message as it arrived (key and value), with headers
//! `pipe-reason` (why) and `pipe-origin` (topic, partition and offset it came from). The topic
//! is created when missing. A dead letter the broker refuses (one larger than it takes, say) is
//! logged and counted, and does not hold back commits: it is already counted by reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::ClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::config::{KafkaClient, Logged};
use crate::sources::decode::{Destination, Reason};

/// How long a flush before a commit may wait for the broker.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Counts dead letters the broker did not take, logging the first of each run of failures.
#[derive(Default)]
pub struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        Logged.log(level, facility, message);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result
            && self.failed.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!("a dead letter was refused: {error}");
        }
    }
}

/// A producer of dead letters to one topic, shared by a worker's source and its committer.
#[derive(Clone)]
pub struct DeadLetterTopic {
    topic: String,
    producer: Arc<ThreadedProducer<Deliveries>>,
}

impl DeadLetterTopic {
    /// A producer to `topic`, created with `partitions` when missing.
    pub fn new(client: &KafkaClient, topic: &str, partitions: i32) -> anyhow::Result<Self> {
        super::config::ensure_topic(client, topic, partitions)?;
        let config = client.config(&[
            ("enable.idempotence", "true"),
            ("compression.type", "zstd"),
            ("linger.ms", "20"),
            // Oversize messages are dead letters too: the broker decides what it takes.
            ("message.max.bytes", "1000000000"),
        ]);
        let producer: ThreadedProducer<Deliveries> = config
            .create_with_context(Deliveries::default())
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot create the dead-letter producer: {}",
                    client.redact(&error.to_string())
                )
            })?;
        Ok(DeadLetterTopic {
            topic: topic.to_string(),
            producer: Arc::new(producer),
        })
    }

    /// Waits until the broker has answered for every dead letter sent.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.producer
            .flush(FLUSH_TIMEOUT)
            .with_context(|| format!("dead letters to `{}` are not acknowledged", self.topic))?;
        let failed = self.producer.context().failed.swap(0, Ordering::Relaxed);
        if failed > 0 {
            tracing::warn!(
                "{failed} dead letters were refused by the broker for `{}`",
                self.topic
            );
        }
        Ok(())
    }
}

impl Destination for DeadLetterTopic {
    fn send(
        &mut self,
        reason: Reason,
        key: Option<&[u8]>,
        message: &[u8],
        origin: &str,
    ) -> anyhow::Result<()> {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "pipe-reason",
                value: Some(reason.name()),
            })
            .insert(Header {
                key: "pipe-origin",
                value: Some(origin),
            });
        let mut record = BaseRecord::to(&self.topic)
            .payload(message)
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    returned,
                )) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        DeadLetterTopic::flush(self)
    }
}
