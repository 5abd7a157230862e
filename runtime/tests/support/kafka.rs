//! What the tests against a real Kafka-protocol broker share: the broker's address, topics of
//! their own, `pipectl loadgen`, reading a topic back, an independent reading of the reference
//! message, and the windows the dataflow harness computes from the same samples.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pipe_dataflow::harness::{Script, run};
use pipe_dataflow::series::Labels;
use pipe_dsl::Plan;
use pipe_runtime::sinks::Record;
use pipe_runtime::sinks::json;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// The broker `scripts/services start kafka` started; a test fails, saying how to start one,
/// when there is none.
pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!(
            "KAFKA_BROKERS is not set: these tests need a Kafka-protocol broker. Start one with \
             `eval \"$(scripts/services start kafka)\"` (scripts/test does it), then run the tests again"
        )
    })
}

/// Tests against the broker run one at a time: each loads two cores on its own.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A name no other run uses.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Creates `topic` with `partitions`, so that a pipeline can start before loadgen sends.
pub fn create_topic(topic: &str, partitions: i32) {
    let client = pipe_runtime::sources::kafka::config::KafkaClient::plain(&brokers());
    pipe_runtime::sources::kafka::config::ensure_topic(&client, topic, partitions).unwrap();
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs `pipectl loadgen` to `topic` with `args`, and returns its JSON totals.
pub fn loadgen(topic: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .args([
            "loadgen",
            "--brokers",
            &brokers(),
            "--topic",
            topic,
            "--json",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("loadgen prints its totals")).unwrap()
}

/// A message read back.
pub struct Read {
    /// Its key.
    pub key: Vec<u8>,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its headers, by name.
    pub headers: HashMap<String, String>,
}

/// Every message of `topic`, partition by partition in offset order.
pub fn read_topic(topic: &str) -> Vec<Read> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut ended = std::collections::HashSet::new();
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (ended.len() as i32) < partitions {
        assert!(
            Instant::now() < deadline,
            "cannot read `{topic}` to its end"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let headers = message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|h| {
                                let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                                (h.key.to_string(), value.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                read.push(Read {
                    key: message.key().unwrap_or_default().to_vec(),
                    payload: message.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                ended.insert(partition);
            }
            _ => {}
        }
    }
    read
}

/// The sample a reference message states, read as a user would check it by hand: a JSON object
/// with a valid metric name, a whole millisecond timestamp within `span`, a finite number and
/// string labels, no larger than 1 MB. `None` for anything else.
pub fn reference_sample(payload: &[u8], span: std::ops::Range<u64>) -> Option<(Labels, u64, f64)> {
    if payload.len() > 1 << 20 {
        return None;
    }
    let message: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let metric = message["metric_name"].as_str()?;
    let valid = |name: &str| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let ts = message["timestamp"].as_u64()?;
    let value = message["value"].as_f64()?;
    if !valid(metric) || !span.contains(&ts) || !value.is_finite() {
        return None;
    }
    let mut labels = vec![("metric_name".to_string(), metric.to_string())];
    for (name, value) in message["labels"].as_object()? {
        labels.push((name.clone(), value.as_str()?.to_string()));
    }
    Some((Labels::new(labels), ts, value))
}

/// The event time loadgen covers when called at `called_ms` for `span_ms` (ending at the last
/// whole minute), with a minute's slack either side for a minute that turned meanwhile.
pub fn loadgen_span(called_ms: u64, span_ms: u64) -> std::ops::Range<u64> {
    let end = called_ms - called_ms % 60_000;
    (end - span_ms - 60_000)..(end + 60_000)
}

/// The windows the harness computes from `samples`, in time order, as the file sink writes
/// them: per rollup, the JSON lines of the windows that end at or before `until`.
pub fn harness_lines(
    plan: &Plan,
    mut samples: Vec<(Labels, u64, f64)>,
    until: u64,
) -> BTreeMap<String, Vec<String>> {
    samples.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let script = Script {
        samples,
        rule_changes: Vec::new(),
        batch: 256,
        until: None,
    };
    let windows = run(plan, &script, 1).windows;
    windows
        .into_iter()
        .map(|(name, windows)| {
            let rollup = plan.rollup(&name).unwrap();
            let lines = windows
                .iter()
                .filter(|window| window.end <= until)
                .map(|window| json::to_string(&Record::Window { rollup, window }).unwrap())
                .collect();
            (name, lines)
        })
        .collect()
}

/// The lines of a JSON-lines file whose window ends at or before `until`, parsed and printed
/// again so that they compare with [`harness_lines`], in the order the file has them.
pub fn file_lines(path: &Path, until: u64) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|window| window_end(window) <= until)
        .map(|window| window.to_string())
        .collect()
}

/// The end of a window object, in milliseconds.
pub fn window_end(window: &serde_json::Value) -> u64 {
    let end = window["end"].as_str().unwrap();
    let end = humantime::parse_rfc3339(end).unwrap();
    end.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Sorts lines by window end, then as text: both sides in one order.
pub fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort_by_cached_key(|line| {
        let window: serde_json::Value = serde_json::from_str(line).unwrap();
        (window_end(&window), line.clone())
    });
    lines
}

/// Asserts two sets of lines are equal, showing a few of the differences (not every line).
pub fn assert_same_lines(what: &str, written: Vec<String>, expected: Vec<String>) {
    let (written, expected) = (sorted(written), sorted(expected));
    if written == expected {
        return;
    }
    let twice: Vec<&String> = written
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    let missing: Vec<&String> = expected.iter().filter(|l| !written.contains(l)).collect();
    let extra: Vec<&String> = written.iter().filter(|l| !expected.contains(l)).collect();
    panic!(
        "{what}: {} lines written, {} expected; {} twice, such as\n{}\n{} missing, such as\n{}\n{} not expected, such as\n{}",
        written.len(),
        expected.len(),
        twice.len(),
        twice
            .iter()
            .take(2)
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        missing.len(),
        missing
            .iter()
            .take(3)
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        extra.len(),
        extra
            .iter()
            .take(3)
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}
