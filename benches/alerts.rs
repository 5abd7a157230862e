//! Alert evaluation in isolation, on the samples `pipectl bench` generates and the 20 rules of
//! `pipelines/bench.pipe`: the per-worker term windows the series stage keeps and fires at each
//! step, and the evaluator that merges them, evaluates the conditions and steps the alerts.

mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pipe::dataflow::alert::{Evaluator, StepRecord};
use pipe::dataflow::rules::{RuleUpdate, rule_record};
use pipe::dataflow::stage::{SeriesStage, StageOutput};
use pipe::dsl::Plan;

use common::{Recorded, bench_plan, record};

/// 200 hosts x 50 metrics = 10,000 series; 40 ticks of 15 s = 10 minutes, 400,000 samples.
const HOSTS: u64 = 200;
const TICKS: u64 = 40;

fn rules(plan: &Plan) -> Vec<RuleUpdate> {
    plan.alerts
        .iter()
        .map(|rule| (rule_record(rule), 0, 1))
        .collect()
}

/// The series stage with the plan's rules and no rollups; its step records.
fn run_stage(plan: &Plan, recorded: Recorded) -> Vec<(u64, StepRecord)> {
    let mut stage = SeriesStage::new("metrics", plan.sources[0].step.millis(), Vec::new());
    stage.rules(rules(plan));
    recorded.series.into_iter().for_each(|r| stage.push(r));
    let mut out = StageOutput::default();
    for (records, frontier) in recorded.parts {
        records.into_iter().for_each(|r| stage.push(r));
        stage.advance(Some(frontier), &mut out);
    }
    stage.advance(None, &mut out);
    out.steps
}

/// The evaluator over step records, one step at a time; the number of transitions.
fn run_evaluator(plan: &Plan, steps: Vec<(u64, StepRecord)>) -> usize {
    let mut evaluator = Evaluator::default();
    evaluator.stash_rules(rules(plan));
    let mut transitions = 0;
    let mut steps = steps.into_iter().peekable();
    while let Some(&(time, _)) = steps.peek() {
        let records = std::iter::from_fn(|| steps.next_if(|(t, _)| *t == time).map(|(_, r)| r));
        evaluator.stash_steps(time, records);
        evaluator.advance(Some(time + 1), None, |_, _| transitions += 1, |_, _| {});
    }
    evaluator.advance(None, None, |_, _| transitions += 1, |_, _| {});
    transitions
}

fn alerts(c: &mut Criterion) {
    let plan = bench_plan(HOSTS);
    let recorded = record(&plan, TICKS);
    let input = || Recorded {
        series: recorded.series.clone(),
        parts: recorded.parts.clone(),
        samples: recorded.samples,
    };
    let steps = run_stage(&plan, input());
    let boundaries = steps
        .iter()
        .filter(|(_, record)| record.term.is_none())
        .count() as u64;
    assert!(
        run_evaluator(&plan, steps.clone()) > 0,
        "the rules fire on the benchmark's fleet"
    );

    let mut group = c.benchmark_group("alerts");
    group.sample_size(10);
    group.throughput(Throughput::Elements(recorded.samples));
    group.bench_function("term_windows_20_rules", |b| {
        b.iter_batched(input, |r| run_stage(&plan, r), BatchSize::LargeInput)
    });
    // Throughput here is rule evaluations: one rule at one step boundary.
    group.throughput(Throughput::Elements(boundaries));
    group.bench_function("evaluator_20_rules", |b| {
        b.iter_batched(
            || steps.clone(),
            |s| run_evaluator(&plan, s),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, alerts);
criterion_main!(benches);
