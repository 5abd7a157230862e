//! The Kafka sink: a stream to a topic as JSON messages, the objects the file sink writes.
//! Alert transitions are keyed by rule and group, windows by rollup and group, samples by
//! series, so that each key's messages stay in order on one partition. It runs on every worker
//! for the records that worker holds; a time's records are durable once the broker has
//! acknowledged every one of them (`acks=all`, idempotent producer).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, bail};
use pipe_dsl::plan::KafkaSink as KafkaSettings;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::json;
use super::{Record, Sink, SinkContext};
use crate::sources::kafka::config::{KafkaClient, Logged};

/// Acknowledgements the broker has still to send, by event time, and the first failure.
#[derive(Default)]
pub struct Acknowledgements {
    waiting: Mutex<BTreeMap<u64, usize>>,
    failure: Mutex<Option<String>>,
}

impl ClientContext for Acknowledgements {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        Logged.log(level, facility, message);
    }
}

impl ProducerContext for Acknowledgements {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, time: usize) {
        if let Err((error, _)) = result {
            let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            failure.get_or_insert_with(|| error.to_string());
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = waiting.get_mut(&(time as u64)) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&(time as u64));
            }
        }
    }
}

/// A topic written by one worker.
pub struct KafkaSink {
    topic: String,
    producer: ThreadedProducer<Acknowledgements>,
}

impl KafkaSink {
    /// The producer of `settings`.
    pub fn open(
        name: &str,
        settings: &KafkaSettings,
        context: &SinkContext,
    ) -> anyhow::Result<Self> {
        let what = format!("sink `{name}`");
        let client = KafkaClient::resolve(&what, &settings.brokers, &settings.options)?;
        let topic = settings.topic.resolve_from_process().with_context(|| {
            format!("{what}: `topic` reads an environment variable that is not set")
        })?;
        let config = client.config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("compression.type", "zstd"),
            ("linger.ms", "5"),
            ("client.id", &format!("pipe-{name}-{}", context.worker)),
        ]);
        let producer = config
            .create_with_context(Acknowledgements::default())
            .map_err(|error| {
                anyhow::anyhow!(
                    "{what}: cannot create the producer: {}",
                    client.redact(&error.to_string())
                )
            })?;
        Ok(KafkaSink { topic, producer })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, usize>> {
        self.producer
            .context()
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// The key of a record: what keeps its messages in order on one partition.
fn key(record: &Record) -> String {
    match record {
        Record::Transition(t) => format!("{}{}", t.rule, t.group),
        Record::Window { rollup, window } => format!("{}{}", rollup.name, window.labels),
        Record::Sample { labels, .. } => labels.to_string(),
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, time: u64, records: &[Record<'_>]) -> anyhow::Result<()> {
        *self.waiting().entry(time).or_default() += records.len();
        let mut payload = Vec::with_capacity(256);
        for record in records {
            payload.clear();
            json::write(record, &mut payload)?;
            let key = key(record);
            let mut message = BaseRecord::with_opaque_to(&self.topic, time as usize)
                .payload(&payload)
                .key(&key);
            // A full queue waits for the broker: a slow broker slows the pipeline.
            loop {
                match self.producer.send(message) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        message = returned;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((error, _)) => bail!("cannot send to `{}`: {error}", self.topic),
                }
            }
        }
        self.poll()
    }

    fn poll(&mut self) -> anyhow::Result<()> {
        let failure = self
            .producer
            .context()
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match failure {
            Some(error) => bail!(
                "the broker did not take a message for `{}`: {error}",
                self.topic
            ),
            None => Ok(()),
        }
    }

    fn unacknowledged(&self) -> Option<u64> {
        self.waiting().keys().next().copied()
    }
}
