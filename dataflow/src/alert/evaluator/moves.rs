//! Rule changes that move a rule between evaluation in place (each worker for the groups it
//! holds) and evaluation on the worker that owns the rule: the state the workers kept for it
//! follows ([`Handoff`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Evaluator, Places, Presence};
use crate::alert::Handoff;
use crate::rules::{CompiledRule, rule_hash};
use crate::series::{Labels, owner};

impl Evaluator {
    /// Whether each rule is evaluated in place now, by name.
    pub(super) fn localities(&self) -> HashMap<Arc<str>, bool> {
        self.book
            .rules()
            .map(|rule| (Arc::clone(&rule.name), self.places.is_local(rule)))
            .collect()
    }

    /// After the rule changes of `time`: for each rule whose place of evaluation changed from
    /// `before`, hands what this worker kept of it to the workers that evaluate it now, and
    /// notes that steps from `time` wait for what others hand over.
    pub(super) fn move_rules(
        &mut self,
        time: u64,
        before: &HashMap<Arc<str>, bool>,
        hand: &mut impl FnMut(u64, crate::alert::Handoff),
    ) {
        let moved: Vec<(Arc<CompiledRule>, bool)> = self
            .book
            .rules()
            .filter_map(|rule| {
                let was = *before.get(&rule.name)?;
                let now = self.places.is_local(rule);
                (was != now).then(|| (Arc::clone(rule), now))
            })
            .collect();
        for (rule, now_local) in moved {
            self.moves.insert(time);
            let rule_owner = (rule_hash(&rule.name) % self.places.peers.max(1) as u64) as usize;
            let here = self.places.worker;
            let destination: Box<dyn Fn(&Labels) -> usize> = if now_local {
                // From the owner to the workers that hold each group.
                if here != rule_owner {
                    continue;
                }
                let (rule, places) = (Arc::clone(&rule), self.places.clone());
                Box::new(move |group| places.worker_of(&rule, group))
            } else {
                // From every worker to the owner; this one no longer evaluates the rule.
                if here == rule_owner {
                    continue;
                }
                self.clocks.remove(&rule.name);
                Box::new(move |_| rule_owner)
            };
            for handoff in self.hand_over(&rule.name, &*destination) {
                hand(time, handoff);
            }
        }
    }

    /// Removes what this worker keeps of rule `name` for the groups `destination` sends to
    /// another worker, as one handoff per worker.
    fn hand_over(
        &mut self,
        name: &Arc<str>,
        destination: &dyn Fn(&Labels) -> usize,
    ) -> Vec<Handoff> {
        let here = self.places.worker;
        let mut handoffs: BTreeMap<usize, Handoff> = BTreeMap::new();
        // Where each group goes, by id, from the labels the worker knows.
        let mut going: HashMap<u64, usize> = HashMap::new();
        if let Some(labels) = self.labels.get_mut(name) {
            labels.retain(|&id, group| {
                let worker = destination(group);
                if worker == here {
                    return true;
                }
                going.insert(id, worker);
                to(&mut handoffs, name, worker)
                    .labels
                    .push((id, group.clone()));
                false
            });
        }
        if let Some(machine) = self.machines.get_mut(name) {
            for (id, group, active) in machine.hand_over(|group| destination(group) != here) {
                to(&mut handoffs, name, destination(&group))
                    .alerts
                    .push((id, group, active));
            }
        }
        for ((rule, term), memory) in self.seen.iter_mut() {
            if rule != name {
                continue;
            }
            memory.retain(|id, last| match going.get(id) {
                Some(&worker) => {
                    to(&mut handoffs, name, worker)
                        .seen
                        .push((*term, *id, *last));
                    false
                }
                None => true,
            });
        }
        if let Some(presence) = self.presence.get_mut(name) {
            presence.last.retain(|id, last| match going.get(id) {
                Some(&worker) => {
                    to(&mut handoffs, name, worker).presence.push((*id, *last));
                    false
                }
                None => true,
            });
        }
        handoffs.into_values().collect()
    }

    /// Takes over the state handed over with stamps up to `stamp`.
    pub(super) fn adopt_handed(&mut self, stamp: u64) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.handed)
            .into_iter()
            .partition(|(at, _)| *at <= stamp);
        self.handed = later;
        for (_, handoff) in due {
            let name = &handoff.rule;
            self.machines
                .entry(Arc::clone(name))
                .or_default()
                .take_over(handoff.alerts);
            self.labels
                .entry(Arc::clone(name))
                .or_default()
                .extend(handoff.labels);
            for (term, id, last) in handoff.seen {
                let memory = self.seen.entry((Arc::clone(name), term)).or_default();
                let kept = memory.entry(id).or_insert(last);
                *kept = (*kept).max(last);
            }
            if !handoff.presence.is_empty() {
                let presence: &mut Presence = self.presence.entry(Arc::clone(name)).or_default();
                for (id, last) in handoff.presence {
                    let kept = presence.last.entry(id).or_insert(last);
                    *kept = (*kept).max(last);
                }
            }
        }
    }
}

/// The handoff of rule `name` to `worker`, made on first use.
fn to<'h>(
    handoffs: &'h mut BTreeMap<usize, Handoff>,
    name: &Arc<str>,
    worker: usize,
) -> &'h mut Handoff {
    handoffs
        .entry(worker)
        .or_insert_with(|| Handoff::new(name, worker))
}

impl Places {
    /// Whether the groups of `rule` are each on one worker, which evaluates them in place: the
    /// stage decides the same way ([`PartialStore`](crate::alert::PartialStore)).
    fn is_local(&self, rule: &CompiledRule) -> bool {
        self.placements
            .get(&rule.plan.input)
            .is_some_and(|placement| rule.plan.groups_within(placement))
    }

    /// The worker a group of `rule` is on when the rule is evaluated in place: where the
    /// group's series are placed, by its labels and the values its terms pin.
    fn worker_of(&self, rule: &CompiledRule, group: &Labels) -> usize {
        let Some(placement) = self.placements.get(&rule.plan.input) else {
            return self.worker;
        };
        let mut labels: Vec<(String, String)> = group
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        for label in placement {
            if group.get(label).is_none()
                && let Some(value) = rule.plan.pinned(label)
            {
                labels.push((label.clone(), value));
            }
        }
        owner(Labels::new(labels).place(Some(placement)), self.peers)
    }
}
