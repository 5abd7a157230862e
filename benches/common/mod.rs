//! What the benchmarks share: the plan of `pipelines/bench.pipe` for a fleet of a chosen size,
//! and that fleet's samples as the generator of `pipectl bench` produces them, made before
//! the clock starts.

use pipe::dataflow::SourceRecord;
use pipe::dsl::Plan;
use pipe::dsl::plan::SourceConnector;
use pipe::runtime::sources::generator::{Generator, Share};
use pipe::runtime::sources::{Poll, Source};

/// The benchmark pipeline with `hosts` hosts instead of 2,000.
pub fn bench_plan(hosts: u64) -> Plan {
    let text = include_str!("../../pipelines/bench.pipe")
        .replace("hosts    = 2000", &format!("hosts    = {hosts}"));
    let compiled = pipe::dsl::compile(&text, &|_| None);
    compiled.plan.expect("pipelines/bench.pipe compiles")
}

/// One worker's input: every series' labels, then parts of ticks, each with the watermark the
/// source advances to after it.
pub struct Recorded {
    /// The labels of every series.
    pub series: Vec<SourceRecord>,
    /// Samples and the frontier after them.
    pub parts: Vec<(Vec<SourceRecord>, u64)>,
    /// Samples in `parts`.
    pub samples: u64,
}

/// `ticks` ticks of the plan's generator source, as the only worker.
pub fn record(plan: &Plan, ticks: u64) -> Recorded {
    let source = &plan.sources[0];
    let SourceConnector::Generator(config) = &source.connector else {
        panic!("the benchmarks read a generator source");
    };
    let span = ticks * config.interval.millis();
    let share = Share::whole();
    let mut generator = Generator::new(config, source.lateness.millis(), &share, 0, Some(span));
    let mut recorded = Recorded {
        series: Vec::new(),
        parts: Vec::new(),
        samples: 0,
    };
    loop {
        let mut part = Vec::new();
        match generator
            .poll(0, &mut part)
            .expect("a generator does not fail")
        {
            Poll::Ready { watermark } => {
                let (series, samples): (Vec<_>, Vec<_>) = part
                    .into_iter()
                    .partition(|record| matches!(record, SourceRecord::Series { .. }));
                recorded.series.extend(series);
                recorded.samples += samples.len() as u64;
                recorded.parts.push((samples, watermark));
            }
            Poll::Finished { .. } => return recorded,
            Poll::Waiting { .. } => unreachable!("pace = max never waits"),
        }
    }
}
