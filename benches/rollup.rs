//! The rollup path in isolation, on the samples `pipectl bench` generates: the series stage
//! alone (per-worker windows), the whole timely graph of `pipelines/bench.pipe` on one worker,
//! and differential's `reduce` computing the same 1-minute and 1-hour aggregates as the naive
//! baseline.

mod common;

use std::collections::BTreeMap;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use differential_dataflow::input::Input as _;
use pipe::dataflow::rollup::LocalRollup;
use pipe::dataflow::rules::{RuleRecord, rule_record};
use pipe::dataflow::stage::{SeriesStage, StageOutput};
use pipe::dataflow::telemetry::Telemetry;
use pipe::dataflow::{Sample, SourceRecord, SourceStream, build};
use pipe::dsl::Plan;
use timely::dataflow::operators::{Input, Probe};

use common::{Recorded, bench_plan, record};

/// 200 hosts x 50 metrics = 10,000 series; 40 ticks of 15 s = 10 minutes, 400,000 samples.
const HOSTS: u64 = 200;
const TICKS: u64 = 40;

/// The series stage of the bench pipeline's source with its 1-minute rollup and no rules.
fn run_stage(plan: &Plan, recorded: Recorded) -> usize {
    let rollups = vec![LocalRollup::new(0, &plan.rollups[0]).expect("valid rollup")];
    let mut stage = SeriesStage::new("metrics", plan.sources[0].step.millis(), rollups);
    recorded.series.into_iter().for_each(|r| stage.push(r));
    let mut out = StageOutput::default();
    let mut closed = 0;
    let take = |stage: &mut SeriesStage| {
        stage
            .closed()
            .map(|windows| windows.drain().map(|(_, batch)| batch.len()).sum::<usize>())
            .sum::<usize>()
    };
    for (records, frontier) in recorded.parts {
        records.into_iter().for_each(|r| stage.push(r));
        stage.advance(Some(frontier), &mut out);
        closed += take(&mut stage);
        out.steps.clear();
    }
    stage.advance(None, &mut out);
    closed + take(&mut stage)
}

/// The plan's whole graph on one timely worker, fed as `pipectl run` feeds it.
fn run_dataflow(plan: Plan, recorded: Recorded) {
    timely::execute_directly(move |worker| {
        let telemetry = Telemetry::new();
        let (mut input, mut rules, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, records) = scope.new_input::<Vec<SourceRecord>>();
            let (rules_input, rules) = scope.new_collection::<RuleRecord, isize>();
            let sources = BTreeMap::from([(
                "metrics".to_string(),
                SourceStream {
                    records,
                    placed: true,
                },
            )]);
            let outputs = build(&plan, &sources, rules.inner, &telemetry).expect("plan builds");
            // As `pipectl` does: progress is watched where nothing else reads.
            let (probe, _) = outputs.alerts.probe();
            for (name, stream) in outputs.rollups {
                if !plan.rollups.iter().any(|r| r.input == name) {
                    stream.probe_with(&probe);
                }
            }
            (input, rules_input, probe)
        });
        plan.alerts
            .iter()
            .for_each(|rule| rules.insert(rule_record(rule)));
        rules.flush();
        input.send_batch(&mut recorded.series.clone());
        for (mut records, frontier) in recorded.parts {
            input.send_batch(&mut records);
            input.advance_to(frontier);
            rules.advance_to(frontier);
            rules.flush();
            worker.step_while(|| probe.less_than(input.time()));
        }
    });
}

/// A float as a key that sorts as the float does.
fn ordered(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn unordered(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// The eight aggregates of sorted values, as float bits so that they are data.
fn aggregates(values: &[(&u64, isize)]) -> [u64; 8] {
    let sorted: Vec<f64> = values
        .iter()
        .flat_map(|(key, count)| std::iter::repeat_n(unordered(**key), *count as usize))
        .collect();
    let count = sorted.len() as f64;
    let sum: f64 = sorted.iter().sum();
    let quantile = |q: f64| sorted[((q * count).ceil() as usize).clamp(1, sorted.len()) - 1];
    [
        count,
        sum,
        sorted[0],
        sorted[sorted.len() - 1],
        sum / count,
        quantile(0.5),
        quantile(0.95),
        quantile(0.99),
    ]
    .map(f64::to_bits)
}

/// Differential's `reduce` over `(series, window)` keys, for the minute and the hour.
fn run_differential(recorded: Recorded) {
    timely::execute_directly(move |worker| {
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, samples) = scope.new_collection::<(u64, u64, u64), isize>();
            let minute = samples
                .clone()
                .map(|(series, ts, value)| ((series, ts - ts % 60_000), value))
                .reduce(|_key, values, out| out.push((aggregates(values), 1)));
            let hour = samples
                .map(|(series, ts, value)| ((series, ts - ts % 3_600_000), value))
                .reduce(|_key, values, out| out.push((aggregates(values), 1)));
            let (probe, _) = minute.inner.probe();
            hour.inner.probe_with(&probe);
            (input, probe)
        });
        for (records, frontier) in recorded.parts {
            for record in records {
                if let SourceRecord::Sample {
                    sample: Sample { series, ts, value },
                    ..
                } = record
                {
                    input.insert((series.0, ts, ordered(value)));
                }
            }
            input.advance_to(frontier);
            input.flush();
            worker.step_while(|| probe.less_than(input.time()));
        }
    });
}

fn rollup(c: &mut Criterion) {
    let plan = bench_plan(HOSTS);
    let recorded = record(&plan, TICKS);
    let mut group = c.benchmark_group("rollup");
    group.sample_size(10);
    group.throughput(Throughput::Elements(recorded.samples));
    let input = || Recorded {
        series: recorded.series.clone(),
        parts: recorded.parts.clone(),
        samples: recorded.samples,
    };
    let rollups_only = Plan {
        alerts: Vec::new(),
        ..plan.clone()
    };
    group.bench_function("series_stage_1m_8_aggregates", |b| {
        b.iter_batched(input, |r| run_stage(&plan, r), BatchSize::LargeInput)
    });
    group.bench_function("dataflow_1m_1h", |b| {
        b.iter_batched(
            input,
            |r| run_dataflow(rollups_only.clone(), r),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("dataflow_bench_pipe", |b| {
        b.iter_batched(
            input,
            |r| run_dataflow(plan.clone(), r),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("differential_reduce_1m_1h", |b| {
        b.iter_batched(input, run_differential, BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, rollup);
criterion_main!(benches);
