//! The naive batch oracle: the language's semantics computed over the whole input at once, with
//! plain loops. Cascades are recomputed from raw samples, not merged; every step boundary is
//! evaluated from scratch. Only the exact sum, the condition evaluator and the alert state
//! machine are shared with the dataflow (each has its own tests).

use std::collections::{BTreeMap, HashMap};

use pipe_dataflow::alert::{
    GroupLabels, Groups, Machine, TermValues, TransitionKind, evaluate, groups as labelled,
};
use pipe_dataflow::operators::WindowResult;
use pipe_dataflow::rules::{CompiledRule, Term};
use pipe_dataflow::series::Labels;
use pipe_dataflow::state::{ExactSum, counter_delta};
use pipe_dsl::Plan;
use pipe_dsl::plan::{Aggregate, Grouping, Rollup};

use pipe_dataflow::harness::{Run, Script};

/// A sample after admission, with its counter increase from its series' previous sample
/// (`None` for a series' first).
#[derive(Debug, Clone)]
struct Admitted {
    labels: Labels,
    ts: u64,
    value: f64,
    delta: Option<f64>,
}

/// The values a closed window must have.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowValues {
    /// Group labels.
    pub labels: Labels,
    /// Window start.
    pub start: u64,
    /// Window end.
    pub end: u64,
    /// Samples.
    pub count: u64,
    /// Sum.
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Latest value.
    pub last: f64,
    /// Counter increase.
    pub increase: f64,
    /// `(q, value)` for each quantile the rollup writes.
    pub quantiles: Vec<(f64, f64)>,
}

/// A transition as the oracle sees it.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct Expected {
    /// Step.
    pub at: u64,
    /// Rule name.
    pub rule: String,
    /// Group.
    pub group: Labels,
    /// Kind.
    pub kind: TransitionKind,
    /// Active since.
    pub since: u64,
    /// Value.
    pub value: f64,
}

fn admit(plan: &Plan, script: &Script) -> Vec<Admitted> {
    let lateness = plan.sources[0].lateness.millis();
    let mut newest: Option<u64> = None;
    let mut by_series: BTreeMap<Labels, Vec<(u64, f64)>> = BTreeMap::new();
    for (labels, ts, value) in &script.samples {
        if newest.is_some_and(|n| *ts < n.saturating_sub(lateness)) {
            continue;
        }
        newest = Some(newest.map_or(*ts, |n| n.max(*ts)));
        by_series
            .entry(labels.clone())
            .or_default()
            .push((*ts, *value));
    }
    let mut admitted = Vec::new();
    for (labels, mut samples) in by_series {
        samples.sort_by_key(|a| (a.0, a.1.to_bits()));
        let mut previous: Option<f64> = None;
        for (ts, value) in samples {
            let delta = previous.map(|p| counter_delta(p, value));
            previous = Some(value);
            admitted.push(Admitted {
                labels: labels.clone(),
                ts,
                value,
                delta,
            });
        }
    }
    admitted
}

/// The rollups from `rollup` up to the one that reads the source.
fn chain<'a>(plan: &'a Plan, rollup: &'a Rollup) -> Vec<&'a Rollup> {
    let mut chain = vec![rollup];
    while chain.last().unwrap().cascade {
        chain.push(plan.rollup(&chain.last().unwrap().input).unwrap());
    }
    chain
}

fn starts(size: u64, slide: u64, ts: u64) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut start = ts - ts % slide;
    loop {
        if start + size > ts {
            starts.push(start);
        }
        if start < slide {
            break;
        }
        start -= slide;
        if start + size <= ts {
            break;
        }
    }
    starts.reverse();
    starts
}

fn values_of(
    samples: &[&Admitted],
    labels: Labels,
    start: u64,
    end: u64,
    quantiles: &[f64],
) -> WindowValues {
    let mut sum = ExactSum::default();
    let mut increase = ExactSum::default();
    for s in samples {
        sum.add(s.value);
        increase.add(s.delta.unwrap_or(0.0));
    }
    let last = samples
        .iter()
        .max_by(|a, b| (a.ts, a.value).partial_cmp(&(b.ts, b.value)).unwrap())
        .unwrap();
    let mut sorted: Vec<f64> = samples.iter().map(|s| s.value).collect();
    sorted.sort_by(f64::total_cmp);
    WindowValues {
        labels,
        start,
        end,
        count: samples.len() as u64,
        sum: sum.value(),
        min: sorted[0],
        max: *sorted.last().unwrap(),
        last: last.value,
        increase: increase.value(),
        quantiles: quantiles
            .iter()
            .map(|&q| (q, sorted[(q * (sorted.len() - 1) as f64).floor() as usize]))
            .collect(),
    }
}

/// The closed windows every rollup must produce.
pub fn windows(plan: &Plan, script: &Script) -> BTreeMap<String, Vec<WindowValues>> {
    let admitted = admit(plan, script);
    let mut out = BTreeMap::new();
    for rollup in &plan.rollups {
        let chain = chain(plan, rollup);
        let matchers: Vec<_> = chain
            .iter()
            .flat_map(|r| pipe_dataflow::rules::compile_matchers(&r.matchers).unwrap())
            .collect();
        let grouping = chain.iter().find_map(|r| match &r.group {
            Grouping::Labels(by) => Some(by.clone()),
            Grouping::Series => None,
        });
        let (size, slide) = (
            rollup.window.size().millis(),
            rollup.window.slide().millis(),
        );
        let mut buckets: BTreeMap<(u64, Labels), Vec<&Admitted>> = BTreeMap::new();
        for sample in admitted
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
        {
            let group = match &grouping {
                Some(by) => sample.labels.project(by),
                None => sample.labels.clone(),
            };
            for start in starts(size, slide, sample.ts) {
                buckets
                    .entry((start, group.clone()))
                    .or_default()
                    .push(sample);
            }
        }
        let quantiles: Vec<f64> = rollup
            .aggregates
            .iter()
            .filter_map(|a| a.quantile())
            .collect();
        let windows = buckets
            .into_iter()
            .map(|((start, labels), samples)| {
                values_of(&samples, labels, start, start + size, &quantiles)
            })
            .collect();
        out.insert(rollup.name.clone(), windows);
    }
    out
}

/// A term's value: sums are added in `f64` per series and step in time order, then exactly
/// across steps and series (as alert step partials keep them). `rate` and `increase` count the
/// series with an increase in the window, and have no value without one.
fn term_value(aggregate: Aggregate, samples: &[&Admitted], over: u64, step: u64) -> Option<f64> {
    let counter = matches!(aggregate, Aggregate::Rate | Aggregate::Increase);
    if counter && samples.iter().all(|s| s.delta.is_none()) {
        return None;
    }
    let mut steps: BTreeMap<(&Labels, u64), Vec<&Admitted>> = BTreeMap::new();
    for s in samples {
        steps
            .entry((&s.labels, s.ts.saturating_sub(1) / step))
            .or_default()
            .push(s);
    }
    let mut sum = ExactSum::default();
    let mut increase = ExactSum::default();
    for in_step in steps.values_mut() {
        in_step.sort_by_key(|a| (a.ts, a.value.to_bits()));
        sum.add(in_step.iter().fold(0.0, |total, s| total + s.value));
        increase.add(
            in_step
                .iter()
                .fold(0.0, |total, s| total + s.delta.unwrap_or(0.0)),
        );
    }
    let mut sorted: Vec<f64> = samples.iter().map(|s| s.value).collect();
    sorted.sort_by(f64::total_cmp);
    Some(match aggregate {
        Aggregate::Count => samples.len() as f64,
        Aggregate::Sum => sum.value(),
        Aggregate::Min => sorted[0],
        Aggregate::Max => *sorted.last().unwrap(),
        Aggregate::Avg => sum.value() / samples.len() as f64,
        Aggregate::Last => {
            samples
                .iter()
                .max_by(|a, b| (a.ts, a.value).partial_cmp(&(b.ts, b.value)).unwrap())
                .unwrap()
                .value
        }
        Aggregate::Increase => increase.value(),
        Aggregate::Rate => increase.value() * 1000.0 / over as f64,
        quantile => {
            sorted[(quantile.quantile().unwrap() * (sorted.len() - 1) as f64).floor() as usize]
        }
    })
}

/// The transitions every rule must produce, rules fixed from the start.
pub fn transitions(plan: &Plan, script: &Script) -> Vec<Expected> {
    let admitted = admit(plan, script);
    let (Some(first), Some(newest)) = (
        admitted.iter().map(|s| s.ts).min(),
        admitted.iter().map(|s| s.ts).max(),
    ) else {
        return Vec::new();
    };
    let step = plan.sources[0].step.millis();
    let rules: Vec<CompiledRule> = plan
        .alerts
        .iter()
        .map(|r| CompiledRule::new(r.clone()).unwrap())
        .collect();
    let steps_of = |term: &Term| term.over.div_ceil(step).max(1) * step;
    let mut machines: HashMap<String, Machine> = HashMap::new();
    let mut names = GroupLabels::default();
    let mut seen: HashMap<(String, usize), BTreeMap<Labels, u64>> = HashMap::new();
    let mut out = Vec::new();
    // Boundary t sees (t − over, t]: from the first at or after the first sample to the one
    // holding the newest.
    let boundary_of = |ts: u64| ts.div_ceil(step).max(1) * step;
    let mut at = boundary_of(first);
    while at <= boundary_of(newest) {
        for rule in &rules {
            let mut values = TermValues::default();
            for (index, term) in rule.terms.iter().enumerate() {
                let from = at.saturating_sub(steps_of(term));
                let mut groups: BTreeMap<Labels, Vec<&Admitted>> = BTreeMap::new();
                for s in admitted
                    .iter()
                    .filter(|s| s.ts > from && s.ts <= at && term.selects(&s.labels))
                {
                    groups
                        .entry(s.labels.project(&term.by))
                        .or_default()
                        .push(s);
                }
                for group in groups.keys() {
                    names.insert(group.stable_hash(), group.clone());
                }
                let value: Groups = match term.aggregate {
                    Some(aggregate) => labelled(groups.iter().filter_map(|(g, samples)| {
                        Some((g.clone(), term_value(aggregate, samples, term.over, step)?))
                    })),
                    None if term.by.is_empty() => {
                        if groups.is_empty() {
                            labelled([(Labels::default(), 1.0)])
                        } else {
                            Groups::default()
                        }
                    }
                    None => {
                        let memory = seen.entry((rule.name.to_string(), index)).or_default();
                        for group in groups.keys() {
                            memory.insert(group.clone(), at);
                        }
                        memory.retain(|_, last| at - *last <= rule.plan.lookback.millis());
                        labelled(
                            memory
                                .iter()
                                .filter(|&(_, &last)| last < at)
                                .map(|(g, _)| (g.clone(), 1.0)),
                        )
                    }
                };
                values.terms.push(value);
            }
            let holding = evaluate(&rule.plan.condition, values);
            machines.entry(rule.name.to_string()).or_default().step(
                at,
                &holding,
                &names,
                rule.plan.for_.millis(),
                rule.plan.keep_firing_for.millis(),
                |group, change| {
                    out.push(Expected {
                        at,
                        rule: rule.name.to_string(),
                        group: group.clone(),
                        kind: change.kind,
                        since: change.since,
                        value: change.value,
                    })
                },
            );
        }
        at += step;
    }
    out.sort_by(|a, b| (a.at, &a.rule, &a.group, a.kind).cmp(&(b.at, &b.rule, &b.group, b.kind)));
    out
}

/// The values of a closed window the dataflow produced, for comparison with the oracle's.
pub fn values_of_result(result: &WindowResult, rollup: &Rollup) -> WindowValues {
    let state = &result.state;
    WindowValues {
        labels: result.labels.clone(),
        start: result.start,
        end: result.end,
        count: state.count,
        sum: state.sum.value(),
        min: state.min,
        max: state.max,
        last: state.last,
        increase: if rollup.state.counter {
            state.increase()
        } else {
            0.0
        },
        quantiles: rollup
            .aggregates
            .iter()
            .filter_map(|a| a.quantile())
            .map(|q| (q, state.sketch.quantile(q).unwrap_or(f64::NAN)))
            .collect(),
    }
}

/// Checks a run against the oracle: windows exactly (quantiles within the sketch's 1%), and
/// transitions exactly.
pub fn check(plan: &Plan, script: &Script, run: &Run) -> Result<(), String> {
    let expected = windows(plan, script);
    for rollup in &plan.rollups {
        let got: Vec<WindowValues> = run
            .windows
            .get(&rollup.name)
            .map(|results| {
                results
                    .iter()
                    .map(|r| values_of_result(r, rollup))
                    .collect()
            })
            .unwrap_or_default();
        let want = &expected[&rollup.name];
        if got.len() != want.len() {
            return Err(format!(
                "{}: {} windows, expected {}",
                rollup.name,
                got.len(),
                want.len()
            ));
        }
        for (g, w) in got.iter().zip(want) {
            let exact = (
                &g.labels,
                g.start,
                g.end,
                g.count,
                g.sum.to_bits(),
                g.min.to_bits(),
                g.max.to_bits(),
                g.last.to_bits(),
            );
            let wanted = (
                &w.labels,
                w.start,
                w.end,
                w.count,
                w.sum.to_bits(),
                w.min.to_bits(),
                w.max.to_bits(),
                w.last.to_bits(),
            );
            if exact != wanted {
                return Err(format!("{}: window\n{g:?}\nexpected\n{w:?}", rollup.name));
            }
            if rollup.state.counter && g.increase.to_bits() != w.increase.to_bits() {
                return Err(format!(
                    "{}: increase {} expected {}",
                    rollup.name, g.increase, w.increase
                ));
            }
            for ((q, gv), (_, wv)) in g.quantiles.iter().zip(&w.quantiles) {
                if (gv - wv).abs() > 0.01 * wv.abs() + 1e-9 {
                    return Err(format!("{}: p{q} {gv} vs exact {wv} in {w:?}", rollup.name));
                }
            }
        }
    }
    let got: Vec<Expected> = run
        .transitions
        .iter()
        .map(|t| Expected {
            at: t.at,
            rule: t.rule.to_string(),
            group: t.group.clone(),
            kind: t.kind,
            since: t.since,
            value: t.value,
        })
        .collect();
    let want = transitions(plan, script);
    if got != want {
        let first = got
            .iter()
            .zip(&want)
            .position(|(g, w)| g != w)
            .unwrap_or(got.len().min(want.len()));
        return Err(format!(
            "transitions differ at {first} (got {}, expected {}):\n got {:?}\nwant {:?}",
            got.len(),
            want.len(),
            got.get(first),
            want.get(first)
        ));
    }
    Ok(())
}
