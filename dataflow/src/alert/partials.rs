//! Per-series partial aggregates per evaluation step, kept for the longest window the current
//! rules need. At each step boundary the windows of every rule term are merged from them and
//! grouped by the term's labels: a new or changed rule reads the history already here.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::rules::{RuleBook, Term};
use crate::series::{IdMap, Labels};
use crate::state::RollupState;

/// What the partial stage sends the evaluator for one rule at one step boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The rule.
    pub rule: Arc<str>,
    /// The boundary: terms cover `[at − over, at)`.
    pub at: u64,
    /// `None` marks that the boundary was reached; otherwise a term's window for one group.
    pub term: Option<TermWindow>,
}

/// A term's merged window state for one group, from the series one worker owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermWindow {
    /// Which term of the rule.
    pub index: u16,
    /// The group: the term's `by` labels.
    pub group: Labels,
    /// The merged window.
    pub state: RollupState,
}

/// A rule term that reads this store's input.
#[derive(Debug)]
struct ActiveTerm {
    rule: Arc<str>,
    index: u16,
    term: Term,
    over_steps: u64,
}

/// A series (or rollup group) and its ring of step partials.
#[derive(Debug)]
struct Entity {
    labels: Labels,
    /// The active terms it matches, with its group under each.
    matches: SmallVec<[(u32, Labels); 2]>,
    /// `ring` slots indexed by step number modulo the ring length; empty when no term reads it.
    slots: Box<[Slot]>,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    step: u64,
    state: RollupState,
}

/// The step partials of the entities one worker owns, for the rules that read one input.
#[derive(Debug)]
pub struct PartialStore {
    input: String,
    step: u64,
    ring: usize,
    terms: Vec<ActiveTerm>,
    rules: Vec<Arc<str>>,
    with_sketch: bool,
    with_counter: bool,
    entities: IdMap<u64, Entity>,
}

impl PartialStore {
    /// A store for the rules that read `input`, evaluated every `step` milliseconds.
    pub fn new(input: &str, step: u64) -> Self {
        PartialStore {
            input: input.to_string(),
            step,
            ring: 0,
            terms: Vec::new(),
            rules: Vec::new(),
            with_sketch: false,
            with_counter: false,
            entities: IdMap::default(),
        }
    }

    /// Whether any current rule reads this input.
    pub fn is_active(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The longest window of the current terms, in milliseconds.
    pub fn longest_window(&self) -> u64 {
        self.terms
            .iter()
            .map(|t| t.over_steps * self.step)
            .max()
            .unwrap_or(0)
    }

    /// Whether the current rules need counter increases.
    pub fn needs_counter(&self) -> bool {
        self.with_counter
    }

    /// Adopts the rule set: which terms read this input, how many steps to keep, which entities
    /// to track. Partials already kept are kept.
    pub fn reconfigure(&mut self, book: &RuleBook) {
        self.terms.clear();
        self.rules.clear();
        for rule in book.rules().filter(|rule| rule.plan.input == self.input) {
            self.rules.push(Arc::clone(&rule.name));
            for (index, term) in rule.terms.iter().enumerate() {
                self.terms.push(ActiveTerm {
                    rule: Arc::clone(&rule.name),
                    index: index as u16,
                    over_steps: term.over.div_ceil(self.step).max(1),
                    term: term.clone(),
                });
            }
        }
        self.with_sketch = self.terms.iter().any(|t| t.term.needs_sketch());
        self.with_counter = self.terms.iter().any(|t| t.term.needs_counter());
        let ring = self
            .terms
            .iter()
            .map(|t| t.over_steps as usize + 1)
            .max()
            .unwrap_or(0);
        let resized = ring != self.ring;
        self.ring = ring;
        let ids: Vec<u64> = self.entities.keys().copied().collect();
        for id in ids {
            let entity = self.entities.get_mut(&id).expect("id from the map");
            entity.matches = matches(&self.terms, &entity.labels);
            if entity.matches.is_empty() {
                entity.slots = Box::default();
            } else if resized || entity.slots.is_empty() {
                entity.slots = resize(std::mem::take(&mut entity.slots), ring);
            }
        }
    }

    /// Learns an entity's labels, once; it is tracked when a current term reads it.
    pub fn register(&mut self, id: u64, labels: Labels) {
        if self.entities.contains_key(&id) {
            return;
        }
        let matches = matches(&self.terms, &labels);
        let slots = if matches.is_empty() {
            Box::default()
        } else {
            vec![Slot::default(); self.ring].into_boxed_slice()
        };
        self.entities.insert(
            id,
            Entity {
                labels,
                matches,
                slots,
            },
        );
    }

    /// Adds a sample of a tracked entity.
    #[inline]
    pub fn insert(&mut self, id: u64, ts: u64, value: f64, delta: Option<f64>) {
        let Some(entity) = self.entities.get_mut(&id) else {
            return;
        };
        if entity.slots.is_empty() {
            return;
        }
        let step = ts / self.step;
        let slot = &mut entity.slots[(step % self.ring as u64) as usize];
        if slot.step != step || slot.state.count == 0 {
            slot.step = step;
            slot.state = RollupState::default();
        }
        slot.state.insert(ts, value, delta, self.with_sketch);
    }

    /// Adds a whole step's state of a tracked entity (a closed rollup window).
    pub fn merge_step(&mut self, id: u64, step: u64, state: &RollupState) {
        let Some(entity) = self.entities.get_mut(&id) else {
            return;
        };
        if entity.slots.is_empty() {
            return;
        }
        let slot = &mut entity.slots[(step % self.ring as u64) as usize];
        if slot.step != step || slot.state.count == 0 {
            slot.step = step;
            slot.state = RollupState::default();
        }
        slot.state.merge(state);
    }

    /// The records of boundary `at`: a marker per rule (that this worker reached the boundary),
    /// and each term's window per group.
    pub fn fire(&self, at: u64, out: &mut Vec<StepRecord>) {
        for rule in &self.rules {
            out.push(StepRecord {
                rule: Arc::clone(rule),
                at,
                term: None,
            });
        }
        let end = at / self.step;
        let mut groups: Vec<IdMap<u64, (Labels, RollupState)>> =
            (0..self.terms.len()).map(|_| IdMap::default()).collect();
        for entity in self.entities.values().filter(|e| !e.slots.is_empty()) {
            for (term_index, group) in &entity.matches {
                let term = &self.terms[*term_index as usize];
                let first = end.saturating_sub(term.over_steps);
                let mut window = RollupState::default();
                for slot in entity.slots.iter() {
                    if slot.step >= first && slot.step < end && slot.state.count > 0 {
                        window.merge(&slot.state);
                    }
                }
                if window.count == 0 {
                    continue;
                }
                groups[*term_index as usize]
                    .entry(group.stable_hash())
                    .or_insert_with(|| (group.clone(), RollupState::default()))
                    .1
                    .merge(&window);
            }
        }
        for (term, groups) in self.terms.iter().zip(groups) {
            for (_, (group, state)) in groups {
                out.push(StepRecord {
                    rule: Arc::clone(&term.rule),
                    at,
                    term: Some(TermWindow {
                        index: term.index,
                        group,
                        state,
                    }),
                });
            }
        }
    }

    /// Entities tracked for the current rules.
    pub fn tracked(&self) -> usize {
        self.entities
            .values()
            .filter(|e| !e.slots.is_empty())
            .count()
    }

    /// Approximate bytes of partial state.
    pub fn state_bytes(&self) -> usize {
        self.entities
            .values()
            .map(|e| {
                std::mem::size_of::<Entity>()
                    + e.slots.len() * std::mem::size_of::<Slot>()
                    + e.slots.iter().map(|s| s.state.heap_bytes()).sum::<usize>()
            })
            .sum()
    }
}

fn matches(terms: &[ActiveTerm], labels: &Labels) -> SmallVec<[(u32, Labels); 2]> {
    terms
        .iter()
        .enumerate()
        .filter(|(_, term)| term.term.selects(labels))
        .map(|(index, term)| (index as u32, labels.project(&term.term.by)))
        .collect()
}

/// A ring of a new length keeping the partials it can; their slots depend on the length.
fn resize(old: Box<[Slot]>, ring: usize) -> Box<[Slot]> {
    let mut slots = vec![Slot::default(); ring].into_boxed_slice();
    for slot in old.into_vec() {
        if slot.state.count > 0 {
            let at = (slot.step % ring as u64) as usize;
            if slots[at].state.count == 0 || slots[at].step < slot.step {
                slots[at] = slot;
            }
        }
    }
    slots
}

/// Which step boundaries are due on one worker: from the first after its first sample, every
/// step up to the input frontier; once the input has ended, until its longest window has
/// drained past its last sample, so that every boundary whose windows hold its samples fires.
#[derive(Debug, Clone)]
pub struct StepClock {
    step: u64,
    next: Option<u64>,
    newest: Option<u64>,
}

impl StepClock {
    /// A clock of `step` milliseconds.
    pub fn new(step: u64) -> Self {
        StepClock {
            step,
            next: None,
            newest: None,
        }
    }

    /// Notes a sample's time.
    #[inline]
    pub fn saw(&mut self, ts: u64) {
        if self.next.is_none() {
            self.next = Some(ts - ts % self.step + self.step);
        }
        if self.newest.is_none_or(|newest| ts > newest) {
            self.newest = Some(ts);
        }
    }

    /// The next boundary not after the input `frontier`, consumed. Once the input has ended
    /// (`None`), boundaries run until `drain` milliseconds after the first boundary past the
    /// last sample.
    pub fn next_due(&mut self, frontier: Option<u64>, drain: u64) -> Option<u64> {
        let next = self.next?;
        let limit = match frontier {
            Some(frontier) => frontier,
            None => {
                let newest = self.newest?;
                newest - newest % self.step + self.step + drain
            }
        };
        (next <= limit).then(|| {
            self.next = Some(next + self.step);
            next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_starts_after_the_first_sample_and_stops_after_the_last() {
        let mut clock = StepClock::new(10);
        assert_eq!(clock.next_due(Some(100), 0), None, "no sample yet");
        clock.saw(23);
        clock.saw(41);
        assert_eq!(clock.next_due(Some(35), 0), Some(30));
        assert_eq!(clock.next_due(Some(35), 0), None);
        assert_eq!(clock.next_due(None, 10), Some(40));
        assert_eq!(clock.next_due(None, 10), Some(50));
        assert_eq!(clock.next_due(None, 10), Some(60));
        assert_eq!(clock.next_due(None, 10), None);
    }
}
