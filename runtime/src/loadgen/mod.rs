//! `pipectl loadgen`: produces the reference message for a simulated fleet to a Kafka topic,
//! with an idempotent, compressing, batching producer, mixing in bad messages of every kind a
//! source refuses, and measures what the broker acknowledged and how fast. It replaces the
//! reference design's load tester.

mod messages;

pub use messages::{AHEAD_BY_MS, LATE_BY_MS, Messages};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

use crate::sources::decode::Reason;
use crate::sources::generator::Fleet;
use crate::sources::kafka::config::{self, KafkaClient, Logged};
use crate::time::now_millis;

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as the broker takes them.
    Max,
    /// Live: event time starts now and each message is sent when the clock reaches it.
    Realtime,
    /// This many messages per second.
    PerSecond(f64),
}

/// What to send where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topic; created with `partitions` when missing.
    pub topic: String,
    /// Partitions of a new topic.
    pub partitions: i32,
    /// The fleet.
    pub fleet: Fleet,
    /// Event time covered, in milliseconds.
    pub span: u64,
    /// How fast.
    pub rate: Rate,
    /// The share of messages replaced by a bad one.
    pub bad_fraction: f64,
    /// The pipeline's `max_series`, to send new series beyond it as bad messages.
    pub max_series: Option<u64>,
    /// The producer's `compression.type`.
    pub compression: String,
}

/// Figures so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    /// Messages handed to the producer.
    pub produced: u64,
    /// Messages the broker acknowledged, bad ones included.
    pub sent: u64,
    /// Bad messages the broker acknowledged.
    pub bad: u64,
    /// Messages the broker did not take.
    pub errors: u64,
    /// Messages to send in all.
    pub total: u64,
}

/// What the broker acknowledged, as deliveries report it.
#[derive(Default)]
struct Deliveries {
    start: Option<Instant>,
    sent: AtomicU64,
    bad: AtomicU64,
    bad_by_reason: [AtomicU64; Reason::ALL.len()],
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    latency_us: Mutex<Option<Histogram<u64>>>,
    per_second: Mutex<Vec<u64>>,
    sizes: Mutex<Sizes>,
}

/// What librdkafka's statistics say the producer sent: bytes to the brokers (compressed batches
/// in the requests that carry them: about what a broker stores), message bytes before
/// compression, messages, and how many statistics reports came so far.
#[derive(Debug, Clone, Copy, Default)]
struct Sizes {
    wire_bytes: i64,
    message_bytes: i64,
    messages: i64,
    reports: u64,
}

/// How often librdkafka reports its statistics; the run waits for one more after the last
/// acknowledgement, so that the sizes cover every message.
const STATISTICS_EVERY: Duration = Duration::from_millis(500);

/// A message's opaque: when it was handed over (microseconds after the start) in the low bits,
/// and for a bad one, its reason's place in [`Reason::ALL`] plus one in the top byte.
const REASON_SHIFT: u32 = 56;

impl ClientContext for Deliveries {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        Logged.log(level, facility, message);
    }

    fn stats(&self, statistics: Statistics) {
        let mut sizes = self.sizes.lock().unwrap_or_else(|p| p.into_inner());
        *sizes = Sizes {
            wire_bytes: statistics.tx_bytes,
            message_bytes: statistics.txmsg_bytes,
            messages: statistics.txmsgs,
            reports: sizes.reports + 1,
        };
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let start = self.start.expect("set before any message is sent");
        let now = start.elapsed();
        if let Err((error, _)) = result {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| error.to_string());
            return;
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let reason = opaque >> REASON_SHIFT;
        if reason != 0 {
            self.bad.fetch_add(1, Ordering::Relaxed);
            self.bad_by_reason[reason - 1].fetch_add(1, Ordering::Relaxed);
        }
        let handed = Duration::from_micros((opaque & ((1 << REASON_SHIFT) - 1)) as u64);
        let latency = now.saturating_sub(handed).as_micros() as u64;
        if let Some(histogram) = self
            .latency_us
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            histogram.saturating_record(latency.max(1));
        }
        let second = now.as_secs() as usize;
        let mut per_second = self.per_second.lock().unwrap_or_else(|p| p.into_inner());
        if per_second.len() <= second {
            per_second.resize(second + 1, 0);
        }
        per_second[second] += 1;
    }
}

/// What a run sent, once it is over.
#[derive(Debug, Clone)]
pub struct Totals {
    /// The last figures.
    pub snapshot: Snapshot,
    /// Wall time from the first message to the last acknowledgement.
    pub elapsed: Duration,
    /// Acknowledgement latency percentiles and mean, in milliseconds.
    pub latency_ms: Latency,
    /// The most messages acknowledged in one second.
    pub peak_per_second: u64,
    /// The first error the broker reported.
    pub first_error: Option<String>,
    /// Bad messages acknowledged, by reason.
    pub bad_by_reason: Vec<(Reason, u64)>,
    /// Bytes per message as the producer sent them: compressed batches with their framing.
    pub wire_bytes_per_message: f64,
    /// Bytes per message before compression: key and payload.
    pub message_bytes_per_message: f64,
}

/// Acknowledgement latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Totals {
    /// Messages acknowledged per second over the run.
    pub fn mean_per_second(&self) -> f64 {
        self.snapshot.sent as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }

    /// The share of messages that failed.
    pub fn error_rate(&self) -> f64 {
        let attempted = self.snapshot.sent + self.snapshot.errors;
        self.snapshot.errors as f64 / attempted.max(1) as f64
    }
}

/// A uniform number in `[0, 1)` from a hash of `index` (splitmix64).
fn uniform(seed: u64, index: u64) -> f64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The ticks to send: `span` ending at the last whole minute (so that minute windows are
/// whole), or for live sending, starting at the next tick.
fn ticks(options: &Options, now: u64) -> std::ops::Range<u64> {
    let interval = options.fleet.interval;
    let (start, end) = match options.rate {
        Rate::Realtime => {
            let start = now.div_ceil(interval) * interval;
            (start, start + options.span)
        }
        _ => {
            let end = now - now % 60_000;
            (end.saturating_sub(options.span), end)
        }
    };
    start.div_ceil(interval)..end.div_ceil(interval)
}

/// Sends the messages of `options`, calling `progress` with the figures every so often.
pub fn run(options: &Options, mut progress: impl FnMut(Snapshot)) -> anyhow::Result<Totals> {
    let client = KafkaClient::plain(&options.brokers);
    config::ensure_topic(&client, &options.topic, options.partitions)?;
    let config = client.config(&[
        ("enable.idempotence", "true"),
        ("compression.type", &options.compression),
        ("linger.ms", "5"),
        ("batch.num.messages", "10000"),
        ("batch.size", "1000000"),
        ("queue.buffering.max.messages", "1000000"),
        ("message.max.bytes", "4000000"),
        (
            "statistics.interval.ms",
            &STATISTICS_EVERY.as_millis().to_string(),
        ),
    ]);
    let start = Instant::now();
    let context = Deliveries {
        start: Some(start),
        latency_us: Mutex::new(Some(
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        )),
        ..Deliveries::default()
    };
    let producer: ThreadedProducer<Deliveries> = config
        .create_with_context(context)
        .map_err(|error| anyhow::anyhow!("cannot create the producer: {error}"))?;
    let producer = Arc::new(producer);
    let now = now_millis();
    let ticks = ticks(options, now);
    let mut messages = Messages::new(options.fleet);
    let total = (ticks.end - ticks.start) * messages.series() as u64;
    let reasons: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|reason| *reason != Reason::MaxSeries || options.max_series.is_some())
        .collect();
    let mut snapshot = Snapshot {
        total,
        ..Snapshot::default()
    };
    let figures = |snapshot: &mut Snapshot| {
        let context = producer.context();
        snapshot.sent = context.sent.load(Ordering::Relaxed);
        snapshot.bad = context.bad.load(Ordering::Relaxed);
        snapshot.errors = context.errors.load(Ordering::Relaxed);
    };
    let mut buffer = Vec::with_capacity(512);
    let mut index: u64 = 0;
    let mut bad_sent: u64 = 0;
    let mut reported = Duration::ZERO;
    for tick in ticks {
        for at in 0..messages.series() {
            index += 1;
            let bad = !reasons.is_empty() && uniform(0x5eed, index) < options.bad_fraction;
            let mut tag = 0;
            let message = if bad {
                let reason = reasons[(bad_sent % reasons.len() as u64) as usize];
                bad_sent += 1;
                tag = (reason as usize + 1) << REASON_SHIFT;
                Some(messages.bad(reason, at, tick, now_millis(), &mut buffer))
            } else {
                messages.good(at, tick, &mut buffer)
            };
            let Some(message) = message else {
                continue;
            };
            let handed = pace(options.rate, start, snapshot.produced, message.ts);
            let opaque = handed.as_micros() as usize | tag;
            let mut record = BaseRecord::with_opaque_to(&options.topic, opaque)
                .key(message.key)
                .payload(message.payload);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = returned;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((error, _)) => bail!("cannot send to `{}`: {error}", options.topic),
                }
            }
            snapshot.produced += 1;
            if handed.saturating_sub(reported) >= Duration::from_millis(200) {
                reported = handed;
                figures(&mut snapshot);
                progress(snapshot);
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("the broker did not acknowledge every message within two minutes")?;
    let elapsed = start.elapsed();
    figures(&mut snapshot);
    progress(snapshot);
    let context = producer.context();
    let sizes = final_sizes(context);
    let latency_ms = context
        .latency_us
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|h| Latency {
            mean: h.mean() / 1000.0,
            p50: h.value_at_quantile(0.50) as f64 / 1000.0,
            p95: h.value_at_quantile(0.95) as f64 / 1000.0,
            p99: h.value_at_quantile(0.99) as f64 / 1000.0,
        })
        .unwrap_or_default();
    let peak_per_second = context
        .per_second
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    let first_error = context
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let bad_by_reason = Reason::ALL
        .into_iter()
        .zip(&context.bad_by_reason)
        .map(|(reason, count)| (reason, count.load(Ordering::Relaxed)))
        .collect();
    Ok(Totals {
        snapshot,
        elapsed,
        latency_ms,
        peak_per_second,
        first_error,
        bad_by_reason,
        wire_bytes_per_message: sizes.wire_bytes as f64 / sizes.messages.max(1) as f64,
        message_bytes_per_message: sizes.message_bytes as f64 / sizes.messages.max(1) as f64,
    })
}

/// The statistics of the first report after every message was acknowledged.
fn final_sizes(context: &Deliveries) -> Sizes {
    let sizes = || *context.sizes.lock().unwrap_or_else(|p| p.into_inner());
    let reports = sizes().reports;
    let waited = Instant::now();
    while sizes().reports == reports && waited.elapsed() < STATISTICS_EVERY * 4 {
        std::thread::sleep(Duration::from_millis(20));
    }
    sizes()
}

/// Waits until message number `produced` (at event time `ts`) is due, and says when that was
/// (since `start`): the clock is read once per message, where three reads took a tenth of
/// loadgen's time.
fn pace(rate: Rate, start: Instant, produced: u64, ts: u64) -> Duration {
    let now = start.elapsed();
    let wait = match rate {
        Rate::Max => Duration::ZERO,
        Rate::Realtime => Duration::from_millis(ts.saturating_sub(now_millis())),
        Rate::PerSecond(per_second) => {
            Duration::from_secs_f64(produced as f64 / per_second).saturating_sub(now)
        }
    };
    if wait > Duration::from_micros(200) {
        std::thread::sleep(wait);
        return start.elapsed();
    }
    now
}
