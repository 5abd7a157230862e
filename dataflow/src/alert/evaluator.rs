//! Evaluates the rules one worker owns: merges the term windows every worker sent for a step,
//! evaluates the condition, steps the alert states and renders what leaves the pipeline.

mod moves;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use pipe_dsl::plan::Aggregate;
use serde::{Deserialize, Serialize};

use super::condition::{GroupLabels, Groups, TermValues, evaluate, groups};
use super::handoff::Handoff;
use super::machine::{Change, Machine, TransitionKind};
use super::records::{StepRecord, TermBatch, TermGroup};
use crate::rules::{CompiledRule, RuleBook, RuleUpdate};
use crate::series::{IdMap, Labels};

/// A rule and the number of one of its terms.
type TermKey = (Arc<str>, u16);

/// Groups an `absent` term has seen, by id, with the last step at which each had samples.
type AbsentMemory = IdMap<u64, u64>;

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
    /// Per rule: the labels of every group its terms have had, as the workers announced them.
    /// Like the series the workers track, they are kept for as long as the rule is.
    labels: HashMap<Arc<str>, GroupLabels>,
    /// Per rule and `absent` term: each group, by id, and the last step at which it had samples.
    seen: HashMap<TermKey, AbsentMemory>,
    /// Per rule whose input forgets quiet series: when each group last had samples in any
    /// term, so that groups gone for the input's `series_ttl` are forgotten too.
    presence: HashMap<Arc<str>, Presence>,
    /// What every worker sent for each step not yet evaluated.
    steps: BTreeMap<u64, Step>,
    /// Where rules may be evaluated in place, and which worker this is.
    places: Places,
    /// The times of rule changes that moved a rule between workers: steps from then on wait
    /// for the state handed over.
    moves: BTreeSet<u64>,
    /// State other workers handed over, by the time it was stamped with, until its move.
    handed: Vec<(u64, Handoff)>,
}

/// Which worker this is, and the labels each input's series are placed on workers by, for
/// inputs that place them: a rule whose groups keep to them is evaluated where its groups are.
#[derive(Debug, Clone, Default)]
struct Places {
    placements: BTreeMap<String, Vec<String>>,
    worker: usize,
    peers: usize,
}

/// When the groups of one rule last had samples, and when quiet ones were last forgotten.
#[derive(Debug, Default)]
struct Presence {
    last: IdMap<u64, u64>,
    swept_at: u64,
}

/// One step's records: which rules a worker reached the boundary of, and each term's batches
/// from every worker.
#[derive(Debug, Default)]
struct Step {
    reached: Vec<Arc<str>>,
    terms: Vec<(TermKey, Vec<TermBatch>)>,
}

impl Step {
    fn take(&mut self, record: StepRecord) {
        let Some(batch) = record.term else {
            self.reached.push(record.rule);
            return;
        };
        let key = (record.rule, batch.index);
        match self.terms.iter_mut().find(|(k, _)| *k == key) {
            Some((_, batches)) => batches.push(batch),
            None => self.terms.push((key, vec![batch])),
        }
    }

    /// A term's groups, merged over the workers that sent some, with their values; the labels
    /// announced with them go to `labels`.
    fn values(
        &mut self,
        rule: &Arc<str>,
        index: u16,
        aggregate: Aggregate,
        over: u64,
        labels: &mut GroupLabels,
    ) -> Groups {
        let Some((_, batches)) = self
            .terms
            .iter_mut()
            .find(|(key, _)| key.0 == *rule && key.1 == index)
        else {
            return Groups::default();
        };
        for batch in batches.iter_mut() {
            for (id, announced) in batch.labels.drain(..) {
                labels.entry(id).or_insert(announced);
            }
        }
        let value = |group: TermGroup| Some((group.id, group.state.value(aggregate, over)?));
        // Maps are sized for every group at once: grown from empty, they rehashed several times
        // per term at every step.
        let total = batches.iter().map(|batch| batch.groups.len()).sum();
        let mut values = Groups::with_capacity_and_hasher(total, Default::default());
        if batches.len() == 1 {
            let groups = batches.pop().into_iter().flat_map(|batch| batch.groups);
            values.extend(groups.filter_map(value));
            return values;
        }
        let mut merged: IdMap<u64, TermGroup> =
            IdMap::with_capacity_and_hasher(total, Default::default());
        for group in batches.drain(..).flat_map(|batch| batch.groups) {
            match merged.get_mut(&group.id) {
                Some(existing) => existing.state.merge(&group.state),
                None => {
                    merged.insert(group.id, group);
                }
            }
        }
        values.extend(merged.into_values().filter_map(value));
        values
    }
}

impl Evaluator {
    /// The evaluator of worker `worker` of `peers`, whose inputs place their series by
    /// `placements` (by input name): a rule change that moves a rule between evaluation in place
    /// and on its owner moves its state with it.
    pub fn placed(placements: BTreeMap<String, Vec<String>>, worker: usize, peers: usize) -> Self {
        Evaluator {
            places: Places {
                placements,
                worker,
                peers,
            },
            ..Evaluator::default()
        }
    }

    /// Holds state another worker handed over, stamped with `time`.
    pub fn take_handoffs(&mut self, time: u64, handoffs: impl IntoIterator<Item = Handoff>) {
        self.handed
            .extend(handoffs.into_iter().map(|handoff| (time, handoff)));
    }

    /// The earliest time this worker may still hand state over: that of the earliest rule
    /// change not applied yet, given `rules`, the frontier of rule changes still to come.
    pub fn next_handoff(&self, rules: Option<u64>) -> Option<u64> {
        [rules, self.book.next_update()].into_iter().flatten().min()
    }

    /// Holds rule changes until their time.
    pub fn stash_rules(&mut self, updates: impl IntoIterator<Item = RuleUpdate>) {
        self.book.stash(updates);
    }

    /// Holds the records of a step until every worker's have arrived.
    pub fn stash_steps(&mut self, time: u64, records: impl IntoIterator<Item = StepRecord>) {
        let step = self.steps.entry(time).or_default();
        for record in records {
            step.take(record);
        }
    }

    /// Evaluates every step before `frontier` (to the last one reached when `None`), in time
    /// order, applying rule changes as their time comes. State a change hands to other workers
    /// goes to `hand`, stamped with the change's time; steps after a change that moved a rule
    /// wait until `handed`, the frontier of state handed over (stamped one later), has passed
    /// it. Returns the time it waits at, if it does.
    pub fn advance(
        &mut self,
        frontier: Option<u64>,
        handed: Option<u64>,
        mut emit: impl FnMut(u64, Transition),
        mut hand: impl FnMut(u64, Handoff),
    ) -> Option<u64> {
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
            let time = candidates.into_iter().flatten().min()?;
            if frontier.is_some_and(|frontier| time >= frontier) {
                return None;
            }
            let before = self.localities();
            let changes = self.book.apply_until(time);
            if changes.changed {
                self.move_rules(time, &before, &mut hand);
            }
            for removed in changes.removed {
                self.clocks.remove(&removed.name);
                if self.book.get(&removed.name).is_none() {
                    self.labels.remove(&removed.name);
                    self.presence.remove(&removed.name);
                }
                if let Some(mut machine) = self.machines.remove(&removed.name) {
                    machine
                        .end_all(|group, change| emit(time, render(&removed, group, change, time)));
                }
            }
            // Every move up to this time must have its state handed over.
            if let Some(&moved) = self.moves.range(..=time).next_back() {
                if handed.is_some_and(|handed| handed <= moved + 1) {
                    return Some(time);
                }
                self.moves.retain(|&at| at > time);
                self.adopt_handed(time + 1);
            }
            let mut step = self.steps.remove(&time).unwrap_or_default();
            self.evaluate(time, &mut step, &mut emit);
        }
    }

    fn evaluate(&mut self, at: u64, step: &mut Step, emit: &mut impl FnMut(u64, Transition)) {
        for rule in step.reached.drain(..) {
            let every = self.book.get(&rule).map_or(1, |r| r.plan.step.millis());
            self.clocks
                .entry(rule)
                .and_modify(|clock| clock.last_reached = clock.last_reached.max(at))
                .or_insert(RuleClock {
                    next: at,
                    last_reached: at,
                    step: every,
                });
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
            let labels = self.labels.entry(Arc::clone(&rule.name)).or_default();
            let mut presence = rule
                .plan
                .forget_after
                .map(|_| self.presence.entry(Arc::clone(&rule.name)).or_default());
            for (index, term) in rule.terms.iter().enumerate() {
                let aggregate = term.aggregate.unwrap_or(Aggregate::Count);
                let present = step.values(&rule.name, index as u16, aggregate, term.over, labels);
                if let Some(presence) = presence.as_mut() {
                    presence.last.extend(present.keys().map(|&id| (id, at)));
                }
                let groups = match term.aggregate {
                    Some(_) => present,
                    None => {
                        let seen = self
                            .seen
                            .entry((Arc::clone(&rule.name), index as u16))
                            .or_default();
                        absent(
                            seen,
                            present,
                            at,
                            term.by.is_empty(),
                            rule.plan.lookback.millis(),
                        )
                    }
                };
                values.terms.push(groups);
            }
            if let (Some(presence), Some(ttl)) = (presence, rule.plan.forget_after) {
                let ttl = ttl.millis();
                if at >= presence.swept_at + ttl / 4 {
                    presence.swept_at = at;
                    forget_quiet(
                        presence,
                        labels,
                        &mut self.seen,
                        &rule.name,
                        at.saturating_sub(ttl),
                    );
                }
            }
            let holding = evaluate(&rule.plan.condition, values);
            let machine = self.machines.entry(Arc::clone(&rule.name)).or_default();
            machine.step(
                at,
                &holding,
                labels,
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

/// Forgets a rule's groups without samples since `horizon`: their labels and what its `absent`
/// terms remember of them. Alerts of such groups still active end as their condition stops
/// holding.
fn forget_quiet(
    presence: &mut Presence,
    labels: &mut GroupLabels,
    seen: &mut HashMap<TermKey, AbsentMemory>,
    rule: &Arc<str>,
    horizon: u64,
) {
    presence.last.retain(|_, last| *last >= horizon);
    labels.retain(|id, _| presence.last.contains_key(id));
    for ((name, _), memory) in seen.iter_mut() {
        if name == rule {
            memory.retain(|id, _| presence.last.contains_key(id));
        }
    }
}

/// The groups for which an `absent` term holds: remembered groups without samples now, or for a
/// term without `by`, the single group when nothing matched.
fn absent(
    seen: &mut AbsentMemory,
    present: Groups,
    at: u64,
    ungrouped: bool,
    lookback: u64,
) -> Groups {
    if ungrouped {
        return if present.is_empty() {
            groups([(Labels::default(), 1.0)])
        } else {
            Groups::default()
        };
    }
    for id in present.into_keys() {
        seen.insert(id, at);
    }
    seen.retain(|_, last| at.saturating_sub(*last) <= lookback);
    seen.iter()
        .filter(|&(_, &last)| last < at)
        .map(|(&id, _)| (id, 1.0))
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
