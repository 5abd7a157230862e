//! Runs a test block through the pipeline's dataflow, as production runs it (the harness feeds
//! the series to the plan's source; there is no second evaluator), and compares the alerts
//! active at each expected time with those the test expects.

use std::collections::BTreeMap;

use pipe_dataflow::alert::{Transition, TransitionKind};
use pipe_dataflow::harness::{Script, run};
use pipe_dataflow::series::Labels;
use pipe_dsl::Plan;
use pipe_dsl::testing::{AlertState, Expectation, ExpectedAlert, TestCase};

/// Where a test's time 0 falls: a midnight, so that every step and window lines up with it.
pub const TEST_START: u64 = 1_767_225_600_000;

/// An alert as a test compares it: state, labels without `alertname`, annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// Pending or firing.
    pub state: AlertState,
    /// The group's and the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations, filled in when it last changed state.
    pub annotations: BTreeMap<String, String>,
}

/// An expectation that did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch<'t> {
    /// What was expected.
    pub expectation: &'t Expectation,
    /// What the rule had active at that time (firing only, unless the test expects a
    /// pending alert).
    pub actual: Vec<ActiveAlert>,
}

/// Runs `case` over `plan` and returns every expectation that did not hold.
pub fn run_case<'t>(plan: &Plan, case: &'t TestCase) -> Vec<Mismatch<'t>> {
    let transitions = run(plan, &script(plan, case), 1).transitions;
    case.expectations
        .iter()
        .filter_map(|expectation| {
            let mut actual =
                active_at(&transitions, &expectation.rule, TEST_START + expectation.at);
            // As promtool does, pending alerts are compared only where the test names one.
            if !expectation
                .alerts
                .iter()
                .any(|alert| alert.state == AlertState::Pending)
            {
                actual.retain(|alert| alert.state == AlertState::Firing);
            }
            (!matches(&expectation.alerts, &actual)).then_some(Mismatch {
                expectation,
                actual,
            })
        })
        .collect()
}

/// The alerts each rule of `plan` has firing at every `step` from the test's start to its
/// last expected time: what a comparison with another evaluator (promtool) checks step by step.
pub fn firing_timeline(
    plan: &Plan,
    case: &TestCase,
    step: u64,
) -> Vec<(u64, String, Vec<ActiveAlert>)> {
    let transitions = run(plan, &script(plan, case), 1).transitions;
    let until = case.expectations.iter().map(|e| e.at).max().unwrap_or(0);
    let mut timeline = Vec::new();
    for at in (0..=until).step_by(step.max(1) as usize) {
        for rule in &plan.alerts {
            let mut alerts = active_at(&transitions, &rule.name, TEST_START + at);
            alerts.retain(|alert| alert.state == AlertState::Firing);
            timeline.push((at, rule.name.clone(), alerts));
        }
    }
    timeline
}

/// The test's series as a source would receive them, in time order, and the time up to which
/// the rules are evaluated: the last expectation's.
fn script(plan: &Plan, case: &TestCase) -> Script {
    let interval = case
        .interval
        .unwrap_or_else(|| plan.sources.first().map_or(60_000, |s| s.step.millis()));
    let mut samples = Vec::new();
    for series in &case.input {
        let labels = Labels::new(
            series
                .labels
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        for (index, value) in series.values.iter().enumerate() {
            if let Some(value) = value {
                samples.push((labels.clone(), TEST_START + index as u64 * interval, *value));
            }
        }
    }
    samples.sort_by_key(|(_, ts, _)| *ts);
    let until = case.expectations.iter().map(|e| e.at).max().unwrap_or(0);
    Script {
        samples,
        rule_changes: Vec::new(),
        batch: case.input.len(),
        until: Some(TEST_START + until + 1),
    }
}

/// The alerts of `rule` active at `at`: each alert's last transition up to then.
fn active_at(transitions: &[Transition], rule: &str, at: u64) -> Vec<ActiveAlert> {
    let mut latest: BTreeMap<&Labels, &Transition> = BTreeMap::new();
    for transition in transitions
        .iter()
        .filter(|t| &*t.rule == rule && t.at <= at)
    {
        latest.insert(&transition.labels, transition);
    }
    latest
        .into_values()
        .filter_map(|transition| {
            let state = match transition.kind {
                TransitionKind::Pending => AlertState::Pending,
                TransitionKind::Firing => AlertState::Firing,
                TransitionKind::Resolved | TransitionKind::Cancelled => return None,
            };
            Some(ActiveAlert {
                state,
                labels: transition
                    .labels
                    .iter()
                    .filter(|(name, _)| *name != "alertname")
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect(),
                annotations: transition.annotations.iter().cloned().collect(),
            })
        })
        .collect()
}

/// Whether the active alerts are exactly the expected ones: the same number, and each expected
/// alert matched by one with its labels, its state and, where the test names them, its
/// annotations.
fn matches(expected: &[ExpectedAlert], actual: &[ActiveAlert]) -> bool {
    expected.len() == actual.len()
        && expected.iter().all(|expected| {
            actual.iter().any(|actual| {
                actual.labels == expected.labels
                    && actual.state == expected.state
                    && expected
                        .annotations
                        .as_ref()
                        .is_none_or(|annotations| *annotations == actual.annotations)
            })
        })
}

/// `firing {host="a", severity="page"}`, with annotations after it when `annotations`.
pub fn describe(
    state: AlertState,
    labels: &BTreeMap<String, String>,
    annotations: Option<&BTreeMap<String, String>>,
) -> String {
    let pairs = |map: &BTreeMap<String, String>| {
        map.iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!("{} {{{}}}", state.word(), pairs(labels));
    if let Some(annotations) = annotations.filter(|a| !a.is_empty()) {
        text.push_str(&format!(" annotations {{{}}}", pairs(annotations)));
    }
    text
}
