//! Decoding the reference Kafka message, per worker: `pipectl loadgen`'s messages for 20,000
//! series (400 hosts x 50 metrics), the series already known, as a running source decodes them.
//! Beside it, the bare serde_json decode of the same bytes into borrowed fields, which does
//! no more than read them: the floor a decoder that also finds series cannot go below.

use std::collections::BTreeMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pipe::dsl::plan::{Admission, Format};
use pipe::runtime::loadgen::Messages;
use pipe::runtime::sources::decode::{Decoder, Dictionary, Reason};
use pipe::runtime::sources::generator::Fleet;
use serde::Deserialize;

const HOSTS: u64 = 400;
const METRICS: u64 = 50;
const TICKS: u64 = 10;

/// The messages of `TICKS` ticks of the fleet, each with its bytes.
fn messages() -> Vec<Vec<u8>> {
    let fleet = Fleet {
        hosts: HOSTS,
        metrics: METRICS,
        interval: 15_000,
        seed: 1,
    };
    let messages = Messages::new(fleet);
    let first = 1_767_225_600_000 / 15_000;
    let mut all = Vec::new();
    let mut buffer = Vec::new();
    for tick in first..first + TICKS {
        for at in 0..messages.series() {
            if let Some(message) = messages.good(at, tick, &mut buffer) {
                all.push(message.payload.to_vec());
            }
        }
    }
    all
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Borrowed<'a> {
    metric_name: &'a str,
    timestamp: u64,
    value: f64,
    #[serde(borrow)]
    labels: BTreeMap<&'a str, &'a str>,
}

fn decode(c: &mut Criterion) {
    let messages = messages();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.sample_size(20);
    eprintln!(
        "{} messages of {} bytes on average",
        messages.len(),
        bytes / messages.len()
    );
    let admission = Admission {
        format: Format::Json,
        max_message_bytes: 1 << 20,
        max_series: None,
    };
    let mut decoder = Decoder::new(
        admission,
        Dictionary::new(Some(vec!["host".into()]), Some(3_600_000), None),
    );
    let mut out = Vec::with_capacity(messages.len() * 2);
    let mut admit = |_: u64| Ok::<bool, Reason>(true);
    for message in &messages {
        decoder.decode(message, &mut admit, &mut out);
    }
    group.bench_function("reference message to records, series known", |b| {
        b.iter(|| {
            out.clear();
            for message in &messages {
                decoder.decode(message, &mut admit, &mut out);
            }
            out.len()
        })
    });
    group.bench_function("bare serde_json borrowed decode", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| serde_json::from_slice::<Borrowed>(m).map_or(0, |d| d.labels.len()))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
