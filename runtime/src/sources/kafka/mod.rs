//! The Kafka source: reads samples from a topic with librdkafka.
//!
//! Partitions are assigned statically: partition `p` belongs to worker `p mod W` of the `W`
//! workers of all processes, so there are no group rebalances; the consumer group only stores
//! committed offsets. Each worker decodes its partitions' messages (`../decode`), sends its
//! records for the dataflow to exchange once by placement, and keeps a watermark per partition
//! (`../partition.rs`).
//!
//! What goes over the wire: fetches of the worker's partitions; produce requests of refused
//! messages to the dead-letter topic; offset commits from a thread of the worker's own
//! (`committer.rs`), only up to what every sink has made durable, so that a restart reads again
//! exactly what is not yet written, and sinks leave out what was.

mod committer;
pub mod config;
mod dead_letter;
pub mod lag;

pub use committer::FRONTIER_GROUP_SUFFIX;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use pipe_dataflow::SourceRecord;
use pipe_dsl::plan::{KafkaSource as KafkaSettings, Start};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use self::committer::Committer;
use self::config::{KafkaClient, Logged};
use self::dead_letter::DeadLetterTopic;
use super::decode::{DeadLetters, Decoder, Destination, Dictionary};
use super::partition::{Partition, watermark};
use super::{Context, Durable, Poll, Source};
use lag::Measured;

/// Messages taken per poll at most, so that the dataflow runs between them.
const MESSAGES_PER_POLL: usize = 8192;

/// How long broker metadata requests may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// How often positions are committed at most.
const COMMIT_EVERY: Duration = Duration::from_millis(250);

/// How long to wait for more messages when none were ready.
const WAIT_MS: u64 = 5;

/// One worker's partitions of a Kafka topic.
pub struct KafkaSource {
    name: String,
    consumer: BaseConsumer<Measured>,
    intake: Intake,
    idle_timeout: u64,
    committer: Option<Committer>,
    committed_at: Instant,
    /// The positions last handed to the committer, and those not yet handed.
    committed: Vec<(i32, u64, i64)>,
    uncommitted: Option<Vec<(i32, u64, i64)>>,
    resumed: Option<u64>,
    /// A consumer error, logged once until messages flow again.
    failing: bool,
}

impl KafkaSource {
    /// This worker's partitions of the topic, read from where `settings.start` says.
    pub fn open(settings: &KafkaSettings, context: &Context) -> anyhow::Result<Self> {
        let name = &context.source.name;
        let what = format!("source `{name}`");
        let client = KafkaClient::resolve(&what, &settings.brokers, &settings.options)?;
        let resolve = |text: &pipe_dsl::plan::Text, property: &str| {
            text.resolve_from_process().with_context(|| {
                format!("{what}: `{property}` reads an environment variable that is not set")
            })
        };
        let topic = resolve(&settings.topic, "topic")?;
        let group = resolve(&settings.group, "group")?;
        let consumer_config = client.config(&[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("client.id", &format!("pipe-{name}-{}", context.worker)),
            ("queued.max.messages.kbytes", "65536"),
            ("enable.partition.eof", "true"),
            ("statistics.interval.ms", lag::STATISTICS_INTERVAL_MS),
        ]);
        let measured = Measured {
            source: name.clone(),
            lag: std::sync::Arc::clone(&context.shared.lag),
        };
        let consumer: BaseConsumer<Measured> = client.create_with(
            &consumer_config,
            measured,
            &format!("{what}: cannot create the Kafka consumer"),
        )?;
        let count = partition_count(&consumer, &topic, client.brokers())
            .with_context(|| format!("{what}: cannot read topic `{topic}`"))?;
        let mine: Vec<i32> = (0..count)
            .filter(|p| *p as usize % context.peers == context.worker)
            .collect();
        let now = crate::time::now_millis();
        let (starts, resumed) = match settings.start {
            Start::Committed => committed_starts(&client, &consumer, &group, &topic, count, &what)?,
            Start::Earliest | Start::Latest => (HashMap::new(), None),
        };
        let mut assignment = TopicPartitionList::new();
        let mut partitions = Vec::new();
        for &id in &mine {
            let (low, high) = consumer
                .fetch_watermarks(&topic, id, METADATA_TIMEOUT)
                .with_context(|| format!("{what}: cannot read the offsets of `{topic}`/{id}"))?;
            let (offset, skip_before) = match (settings.start, starts.get(&id)) {
                (Start::Latest, _) => (high, 0),
                (Start::Committed, Some(&(offset, frontier))) => (
                    offset.clamp(low, high),
                    frontier.map_or(0, |d| context.plan.replay_from(name, d)),
                ),
                _ => (low, 0),
            };
            assignment.add_partition_offset(&topic, id, Offset::Offset(offset))?;
            partitions.push(Partition::new(id, Some(offset), skip_before, now));
        }
        consumer.assign(&assignment)?;
        let dead_letter_topic = settings
            .dead_letter
            .as_ref()
            .map(|text| resolve(text, "dead_letter"))
            .transpose()?
            .map(|topic| DeadLetterTopic::new(&client, &topic, count))
            .transpose()?;
        let committer = if partitions.is_empty() {
            None
        } else {
            let flush_topic = dead_letter_topic.clone();
            let flush = Box::new(move || match &flush_topic {
                Some(topic) => topic.flush(),
                None => Ok(()),
            });
            Some(Committer::start(&client, &group, &topic, flush)?)
        };
        let destination = dead_letter_topic.map(|t| Box::new(t) as Box<dyn Destination>);
        let dictionary = Dictionary::new(
            context.placement(),
            context.source.series_ttl.map(|ttl| ttl.millis()),
            context.series_limit(settings.admission.max_series),
        );
        tracing::info!(
            source = %name,
            worker = context.worker,
            "reading `{topic}` partitions {mine:?} of {count} from {}",
            match (settings.start, resumed) {
                (Start::Committed, Some(_)) => "committed offsets",
                (Start::Latest, _) => "the latest offsets",
                _ => "the earliest offsets",
            }
        );
        Ok(KafkaSource {
            name: name.clone(),
            consumer,
            intake: Intake {
                index: partitions
                    .iter()
                    .enumerate()
                    .map(|(at, p)| (p.id, at))
                    .collect(),
                partitions,
                topic,
                decoder: Decoder::new(settings.admission.clone(), dictionary),
                dead_letters: DeadLetters::new(
                    name,
                    context.shared.dead_letters.clone(),
                    destination,
                ),
                lateness: context.source.lateness.millis(),
                watermark: 0,
            },
            idle_timeout: settings.idle_timeout.millis(),
            committer,
            committed_at: Instant::now(),
            committed: Vec::new(),
            uncommitted: None,
            resumed,
            failing: false,
        })
    }
}

/// What a worker does with the messages of its partitions.
struct Intake {
    topic: String,
    partitions: Vec<Partition>,
    /// Where each partition number is in `partitions`.
    index: HashMap<i32, usize>,
    decoder: Decoder,
    dead_letters: DeadLetters,
    lateness: u64,
    /// The worker's watermark: samples behind it are late.
    watermark: u64,
}

impl Intake {
    /// Takes one message.
    fn take(
        &mut self,
        message: &rdkafka::message::BorrowedMessage<'_>,
        now: u64,
        out: &mut Vec<SourceRecord>,
    ) {
        let Some(&at) = self.index.get(&message.partition()) else {
            return;
        };
        let offset = message.offset();
        let partition = &mut self.partitions[at];
        partition.consumed(offset, now);
        let payload = message.payload().unwrap_or_default();
        let (lateness, input) = (self.lateness, self.watermark);
        let decoded = self.decoder.decode(
            payload,
            &mut |ts| {
                let admitted = partition.admit(ts, lateness, input, now);
                if admitted == Ok(true) {
                    partition.admitted(ts, offset);
                }
                admitted
            },
            out,
        );
        if let Some(reason) = decoded.refused {
            let origin = format!("{}/{}@{offset}", self.topic, message.partition());
            self.dead_letters
                .refuse(reason, message.key(), payload, &origin);
        }
    }
}

impl Source for KafkaSource {
    fn placed(&self) -> bool {
        false
    }

    fn announce_again(&mut self) {
        self.intake.decoder.dictionary().announce_again();
    }

    fn poll(&mut self, now: u64, out: &mut Vec<SourceRecord>) -> anyhow::Result<Poll> {
        let mut messages = 0;
        while messages < MESSAGES_PER_POLL {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(message)) => {
                    messages += 1;
                    self.intake.take(&message, now, out);
                }
                // Reported once each time a read reaches the end of a partition.
                Some(Err(KafkaError::PartitionEOF(id))) => {
                    if let Some(&at) = self.intake.index.get(&id) {
                        self.intake.partitions[at].reached_end();
                    }
                }
                Some(Err(error)) => {
                    if !std::mem::replace(&mut self.failing, true) {
                        tracing::warn!(source = %self.name, "kafka: {error}");
                    }
                    break;
                }
            }
        }
        if messages > 0 {
            self.failing = false;
        }
        let intake = &mut self.intake;
        intake.watermark = watermark(&intake.partitions, intake.lateness, self.idle_timeout, now)
            .max(intake.watermark);
        intake.decoder.dictionary().forget_quiet(intake.watermark);
        let watermark = intake.watermark;
        Ok(if messages > 0 {
            Poll::Ready { watermark }
        } else {
            Poll::Waiting {
                watermark,
                until: now + WAIT_MS,
            }
        })
    }

    fn commit(&mut self, durable: Durable) -> anyhow::Result<()> {
        if self.committer.is_none() {
            return Ok(());
        }
        let positions: Vec<(i32, u64, i64)> = self
            .intake
            .partitions
            .iter_mut()
            .map(|p| {
                (
                    p.id,
                    durable.outputs_before,
                    p.commit_offset(durable.replay_from),
                )
            })
            .collect();
        if positions == self.committed {
            return Ok(());
        }
        if self.committed_at.elapsed() < COMMIT_EVERY {
            self.uncommitted = Some(positions);
            return Ok(());
        }
        if let Some(committer) = &self.committer {
            committer.commit(positions.clone());
        }
        self.committed = positions;
        self.uncommitted = None;
        self.committed_at = Instant::now();
        Ok(())
    }

    fn resumable(&self) -> bool {
        true
    }

    fn resumed(&self) -> Option<u64> {
        self.resumed
    }
}

impl Drop for KafkaSource {
    /// Commits the last positions before the run ends, and waits for them.
    fn drop(&mut self) {
        if let (Some(committer), Some(positions)) = (&self.committer, self.uncommitted.take()) {
            committer.commit_and_wait(positions);
        }
        self.committer.take();
    }
}

/// The number of partitions of `topic`; an error naming the brokers when it does not exist.
fn partition_count(
    consumer: &BaseConsumer<Measured>,
    topic: &str,
    brokers: &str,
) -> anyhow::Result<i32> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!("the brokers {brokers} do not know it");
    };
    if let Some(error) = found.error() {
        bail!(
            "{} from {brokers}",
            rdkafka::types::RDKafkaErrorCode::from(error)
        );
    }
    if found.partitions().is_empty() {
        bail!("it does not exist on {brokers} (create it first, or start `pipectl loadgen`)");
    }
    Ok(found.partitions().len() as i32)
}

/// Per partition, the committed offset and durable frontier, and the newest frontier of all:
/// outputs before it were durable when the pipeline stopped.
type Starts = (HashMap<i32, (i64, Option<u64>)>, Option<u64>);

fn committed_starts(
    client: &KafkaClient,
    consumer: &BaseConsumer<Measured>,
    group: &str,
    topic: &str,
    count: i32,
    what: &str,
) -> anyhow::Result<Starts> {
    let mut all = TopicPartitionList::new();
    for id in 0..count {
        all.add_partition(topic, id);
    }
    let offsets = consumer
        .committed_offsets(all.clone(), METADATA_TIMEOUT)
        .with_context(|| format!("{what}: cannot read the committed offsets of `{group}`"))?;
    let frontier_group = format!("{group}{FRONTIER_GROUP_SUFFIX}");
    let config = client.config(&[
        ("group.id", &frontier_group),
        ("enable.auto.commit", "false"),
    ]);
    let frontier_reader: BaseConsumer<Logged> = client.create(
        &config,
        &format!("{what}: cannot create the Kafka consumer"),
    )?;
    let frontiers = frontier_reader
        .committed_offsets(all, METADATA_TIMEOUT)
        .with_context(|| format!("{what}: cannot read the durable frontiers of `{group}`"))?;
    let position =
        |list: &TopicPartitionList, id: i32| match list.find_partition(topic, id)?.offset() {
            Offset::Offset(offset) if offset >= 0 => Some(offset),
            _ => None,
        };
    let mut starts = HashMap::new();
    let mut resumed: Option<u64> = None;
    for id in 0..count {
        let frontier = position(&frontiers, id).map(|d| d as u64);
        if let Some(offset) = position(&offsets, id) {
            starts.insert(id, (offset, frontier));
        }
        if let Some(frontier) = frontier {
            resumed = Some(resumed.map_or(frontier, |r| r.max(frontier)));
        }
    }
    Ok((starts, resumed))
}
