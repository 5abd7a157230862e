//! Evaluates the rules one worker owns: merges the term windows every worker sent for a step,
//! evaluates the condition, steps the alert states and renders what leaves the pipeline.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::condition::{Groups, TermValues, evaluate};
use super::machine::{Change, Machine, TransitionKind};
use super::partials::StepRecord;
use crate::rules::{CompiledRule, RuleBook, RuleUpdate};
use crate::series::Labels;
use crate::state::RollupState;

/// How long `absent(…) by …` remembers a group that has stopped reporting.
pub const ABSENT_MEMORY_MS: u64 = 24 * 3_600_000;

/// A change of one alert, with everything a receiver needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The rule.
    pub rule: Arc<str>,
    /// What happened.
    pub kind: TransitionKind,
    /// The step at which it happened.
    pub at: u64,
    /// When the alert became active.
    pub since: u64,
    /// The condition's value for the group.
    pub value: f64,
    /// The group: the condition's grouping labels.
    pub group: Labels,
    /// `alertname`, the group's labels and the rule's labels.
    pub labels: Labels,
    /// The rule's annotations, filled in.
    pub annotations: Vec<(String, String)>,
}

/// When a rule is evaluated: at every step from the first boundary any worker reached for it,
/// whether or not a worker had samples for it, so that the steps evaluated do not depend on how
/// series are spread over workers; after the input ends, until the last boundary reached.
#[derive(Debug, Clone, Copy)]
struct RuleClock {
    next: u64,
    last_reached: u64,
    step: u64,
}

/// The evaluation state of the rules one worker owns.
#[derive(Debug, Default)]
pub struct Evaluator {
    book: RuleBook,
    clocks: HashMap<Arc<str>, RuleClock>,
    machines: HashMap<Arc<str>, Machine>,
    /// Per rule and `absent` term: the last step at which each group had samples.
    seen: HashMap<(Arc<str>, u16), BTreeMap<Labels, u64>>,
    steps: BTreeMap<u64, Vec<StepRecord>>,
}

impl Evaluator {
    /// Holds rule changes until their time.
    pub fn stash_rules(&mut self, updates: impl IntoIterator<Item = RuleUpdate>) {
        self.book.stash(updates);
    }

    /// Holds the records of a step until every worker's have arrived.
    pub fn stash_steps(&mut self, time: u64, records: impl IntoIterator<Item = StepRecord>) {
        self.steps.entry(time).or_default().extend(records);
    }

    /// Evaluates every step before `frontier` (to the last one reached when `None`), in time
    /// order, applying rule changes as their time comes.
    pub fn advance(&mut self, frontier: Option<u64>, mut emit: impl FnMut(u64, Transition)) {
        loop {
            let due_clock = self
                .clocks
                .values()
                .filter(|clock| frontier.is_some() || clock.next <= clock.last_reached)
                .map(|clock| clock.next)
                .min();
            let candidates = [
                self.steps.keys().next().copied(),
                self.book.next_update(),
                due_clock,
            ];
            let Some(time) = candidates.into_iter().flatten().min() else {
                return;
            };
            if frontier.is_some_and(|frontier| time >= frontier) {
                return;
            }
            for removed in self.book.apply_until(time).removed {
                self.clocks.remove(&removed.name);
                if let Some(mut machine) = self.machines.remove(&removed.name) {
                    machine
                        .end_all(|group, change| emit(time, render(&removed, group, change, time)));
                }
            }
            let records = self.steps.remove(&time).unwrap_or_default();
            self.evaluate(time, records, &mut emit);
        }
    }

    fn evaluate(
        &mut self,
        at: u64,
        records: Vec<StepRecord>,
        emit: &mut impl FnMut(u64, Transition),
    ) {
        let mut windows: HashMap<(Arc<str>, u16), HashMap<Labels, RollupState>> = HashMap::new();
        for record in records {
            match record.term {
                None => {
                    let step = self
                        .book
                        .get(&record.rule)
                        .map_or(1, |rule| rule.plan.step.millis());
                    self.clocks
                        .entry(record.rule)
                        .and_modify(|clock| clock.last_reached = clock.last_reached.max(at))
                        .or_insert(RuleClock {
                            next: at,
                            last_reached: at,
                            step,
                        });
                }
                Some(term) => windows
                    .entry((record.rule, term.index))
                    .or_default()
                    .entry(term.group)
                    .or_default()
                    .merge(&term.state),
            }
        }
        let mut due: Vec<Arc<str>> = self
            .clocks
            .iter()
            .filter(|(_, clock)| clock.next == at)
            .map(|(name, _)| Arc::clone(name))
            .collect();
        due.sort();
        for name in due {
            if let Some(clock) = self.clocks.get_mut(&name) {
                clock.next += clock.step.max(1);
            }
            let Some(rule) = self.book.get(&name).cloned() else {
                continue;
            };
            let mut values = TermValues::default();
            for (index, term) in rule.terms.iter().enumerate() {
                let key = (Arc::clone(&rule.name), index as u16);
                let present = windows.remove(&key).unwrap_or_default();
                let groups = match term.aggregate {
                    Some(aggregate) => present
                        .into_iter()
                        .filter_map(|(group, state)| {
                            Some((group, state.value(aggregate, term.over)?))
                        })
                        .collect(),
                    None => absent(
                        self.seen.entry(key).or_default(),
                        present,
                        at,
                        term.by.is_empty(),
                    ),
                };
                values.terms.push(groups);
            }
            let holding = evaluate(&rule.plan.condition, &values);
            let machine = self.machines.entry(Arc::clone(&rule.name)).or_default();
            machine.step(
                at,
                &holding,
                rule.plan.for_.millis(),
                rule.plan.keep_firing_for.millis(),
                |group, change| emit(at, render(&rule, group, change, at)),
            );
        }
    }

    /// Alerts firing now, over the rules this worker owns.
    pub fn firing(&self) -> usize {
        self.machines.values().map(Machine::firing).sum()
    }
}

/// The groups for which an `absent` term holds: remembered groups without samples now, or for a
/// term without `by`, the single group when nothing matched.
fn absent(
    seen: &mut BTreeMap<Labels, u64>,
    present: HashMap<Labels, RollupState>,
    at: u64,
    ungrouped: bool,
) -> Groups {
    if ungrouped {
        return if present.values().any(|state| state.count > 0) {
            Groups::new()
        } else {
            Groups::from([(Labels::default(), 1.0)])
        };
    }
    for (group, state) in present {
        if state.count > 0 {
            seen.insert(group, at);
        }
    }
    seen.retain(|_, last| at.saturating_sub(*last) <= ABSENT_MEMORY_MS);
    seen.iter()
        .filter(|&(_, &last)| last < at)
        .map(|(group, _)| (group.clone(), 1.0))
        .collect()
}

fn render(rule: &CompiledRule, group: &Labels, change: Change, at: u64) -> Transition {
    let lookup = |name: &str| group.get(name);
    let name = rule.name.as_ref();
    let mut labels: Vec<(String, String)> = vec![("alertname".to_string(), name.to_string())];
    labels.extend(group.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    labels.extend(
        rule.plan
            .labels
            .iter()
            .map(|(key, template)| (key.clone(), template.render(lookup, change.value, name))),
    );
    Transition {
        rule: Arc::clone(&rule.name),
        kind: change.kind,
        at,
        since: change.since,
        value: change.value,
        group: group.clone(),
        labels: Labels::new(labels),
        annotations: rule
            .plan
            .annotations
            .iter()
            .map(|(key, template)| (key.clone(), template.render(lookup, change.value, name)))
            .collect(),
    }
}
