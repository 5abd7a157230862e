//! A rollup's open windows on one worker: each group's partial windows, filled by the series
//! stage (or, for a cascade, by the closed windows of the rollup it reads) and closed, in
//! event-time order, as the frontier passes their end.

use std::collections::BTreeMap;

use pipe_dsl::plan::{Grouping, Rollup};
use smallvec::SmallVec;

use super::WindowResult;
use crate::rules::{Matcher, compile_matchers};
use crate::series::{GroupId, IdMap, Labels};
use crate::state::RollupState;
use crate::timed::Timed;
use crate::window::{Assigner, Windows};

/// A group slot that is none: a series the rollup's matchers leave out, or a group forgotten.
pub(crate) const NO_GROUP: u32 = u32::MAX;

/// Windows closed per activation at most. At a minute boundary every group's window closes at
/// once; closing them in parts lets the alert evaluator and sinks, scheduled after the stage,
/// run in between.
pub const CLOSE_BUDGET: usize = 8_192;

/// A rollup's open windows on one worker.
#[derive(Debug)]
pub struct LocalRollup {
    index: u16,
    assigner: Assigner,
    grouping: Grouping,
    matchers: Vec<Matcher>,
    with_sketch: bool,
    with_counter: bool,
    groups: Vec<GroupSlot>,
    by_id: IdMap<GroupId, u32>,
    /// For cascades: each input group with its slot and the end of its last window, in the
    /// order first seen, so that labels are projected once; inputs arrive in the same order
    /// every window, so the next one is guessed before the map is asked.
    inputs: Vec<(GroupId, u32, u64)>,
    by_input: IdMap<GroupId, u32>,
    next_input: usize,
    /// Window ends, with the group slots that have a window ending there.
    closing: BTreeMap<u64, Vec<u32>>,
    /// Windows closed and not yet sent, each to be sent at its end.
    closed: Timed<WindowResult>,
}

#[derive(Debug)]
struct GroupSlot {
    id: GroupId,
    labels: Labels,
    open: SmallVec<[(u64, RollupState); 1]>,
}

impl GroupSlot {
    /// Takes the group's open window at place `at` out, closed, as rollup number `rollup`'s. A
    /// group holds one window at a time but for hopping windows, and popping the last moves its
    /// state once where `swap_remove` moved it three times.
    fn close(&mut self, rollup: u16, at: usize, size: u64) -> WindowResult {
        let (start, state) = if at + 1 == self.open.len() {
            self.open.pop().expect("the window is open")
        } else {
            self.open.swap_remove(at)
        };
        WindowResult {
            rollup,
            group: self.id,
            labels: self.labels.clone(),
            start,
            end: start + size,
            state,
        }
    }
}

impl LocalRollup {
    /// The open windows of rollup number `index` of a plan.
    pub fn new(index: u16, rollup: &Rollup) -> Option<Self> {
        Some(LocalRollup {
            index,
            assigner: Assigner::new(Windows::of(&rollup.window)),
            grouping: rollup.group.clone(),
            matchers: compile_matchers(&rollup.matchers)?,
            with_sketch: rollup.state.sketch,
            with_counter: rollup.state.counter,
            groups: Vec::new(),
            by_id: IdMap::default(),
            inputs: Vec::new(),
            by_input: IdMap::default(),
            next_input: 0,
            closing: BTreeMap::new(),
            closed: Timed::default(),
        })
    }

    /// Whether its windows need counter increases (`rate`, `increase`).
    pub(crate) fn with_counter(&self) -> bool {
        self.with_counter
    }

    /// The group slot of a series or input group with these labels, or `NO_GROUP`.
    pub(crate) fn slot_for(&mut self, labels: &Labels) -> u32 {
        if !self.matchers.iter().all(|m| m.matches(labels)) {
            return NO_GROUP;
        }
        let group_labels = match &self.grouping {
            Grouping::Series => labels.clone(),
            Grouping::Labels(names) => labels.project(names),
        };
        let id = group_labels.group_id();
        *self.by_id.entry(id).or_insert_with(|| {
            self.groups.push(GroupSlot {
                id,
                labels: group_labels,
                open: SmallVec::new(),
            });
            (self.groups.len() - 1) as u32
        })
    }

    /// The state of group slot `slot` in the window starting at `start`, opened when new.
    #[inline]
    fn window(&mut self, slot: u32, start: u64) -> &mut RollupState {
        let group = &mut self.groups[slot as usize];
        let at = match group.open.iter().position(|(s, _)| *s == start) {
            Some(at) => at,
            None => {
                group.open.push((start, RollupState::default()));
                self.closing
                    .entry(start + self.assigner.size())
                    .or_default()
                    .push(slot);
                group.open.len() - 1
            }
        };
        &mut group.open[at].1
    }

    /// Adds a sample to every window of its group.
    #[inline]
    pub(crate) fn insert(&mut self, slot: u32, ts: u64, value: f64, delta: Option<f64>) {
        let (with_sketch, delta) = (self.with_sketch, delta.filter(|_| self.with_counter));
        // Most samples fall in the one window their group has open.
        if let Some(start) = self.assigner.only_start(ts)
            && let [(open, state)] = self.groups[slot as usize].open.as_mut_slice()
            && *open == start
        {
            state.insert(ts, value, delta, with_sketch);
            return;
        }
        let size = self.assigner.size();
        if self.groups[slot as usize]
            .open
            .iter()
            .any(|(start, _)| start + size <= ts)
        {
            self.close_ended(slot, ts);
        }
        for start in self.assigner.starts(ts) {
            self.window(slot, start)
                .insert(ts, value, delta, with_sketch);
        }
    }

    /// Merges a closed window `[start, end)` of input group `input` into every window of this
    /// rollup covering it.
    pub fn merge(
        &mut self,
        input: GroupId,
        labels: &Labels,
        start: u64,
        end: u64,
        state: &RollupState,
    ) {
        let at = match self.inputs.get(self.next_input) {
            Some((id, _, _)) if *id == input => self.next_input,
            _ => match self.by_input.get(&input) {
                Some(&at) => at as usize,
                None => {
                    let slot = self.slot_for(labels);
                    self.by_input.insert(input, self.inputs.len() as u32);
                    self.inputs.push((input, slot, end));
                    self.inputs.len() - 1
                }
            },
        };
        self.next_input = at + 1;
        let (_, slot, last_end) = &mut self.inputs[at];
        *last_end = end;
        let slot = *slot;
        if slot == NO_GROUP {
            return;
        }
        // Most input windows fall in the one window their group has open.
        if let Some(window_start) = self.assigner.only_start(start)
            && window_start + self.assigner.size() >= end
            && let [(open, ours)] = self.groups[slot as usize].open.as_mut_slice()
            && *open == window_start
        {
            ours.merge(state);
            return;
        }
        for window_start in self.assigner.starts_covering(start, end) {
            self.window(slot, window_start).merge(state);
        }
    }

    /// Closes the windows that end at or before `until` (every window when `None`), at most
    /// `budget` of them, into [`closed`](Self::closed); the budget left is what was not spent.
    pub fn close(&mut self, until: Option<u64>, budget: &mut usize) {
        while let Some(mut entry) = self.closing.first_entry() {
            let end = *entry.key();
            if *budget == 0 || until.is_some_and(|until| end > until) {
                break;
            }
            let start = end - self.assigner.size();
            let slots = entry.get_mut();
            let take = slots.len().min(*budget);
            *budget -= take;
            for slot in slots.drain(slots.len() - take..) {
                let group = &mut self.groups[slot as usize];
                let Some(at) = group.open.iter().position(|(s, _)| *s == start) else {
                    continue;
                };
                self.closed
                    .push(end, group.close(self.index, at, self.assigner.size()));
            }
            if slots.is_empty() {
                entry.remove();
            }
        }
    }

    /// Emits the group's windows that end at or before `ts`, the time of a sample being taken:
    /// samples are taken in time order once the frontier has passed them, so those windows are
    /// complete. Closing them here, rather than when the budget reaches them, keeps a group
    /// from holding two windows at once.
    fn close_ended(&mut self, slot: u32, ts: u64) {
        let size = self.assigner.size();
        let group = &mut self.groups[slot as usize];
        let mut at = 0;
        while at < group.open.len() {
            let start = group.open[at].0;
            if start + size > ts {
                at += 1;
                continue;
            }
            self.closed
                .push(start + size, group.close(self.index, at, size));
        }
    }

    /// Forgets the groups `keep` does not keep and that have no window open; returns where
    /// each group slot is now (`NO_GROUP` for those forgotten).
    pub(crate) fn compact(&mut self, keep: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut remap = vec![NO_GROUP; self.groups.len()];
        let mut kept = Vec::with_capacity(self.groups.len());
        for (old, group) in std::mem::take(&mut self.groups).into_iter().enumerate() {
            if keep(old as u32) || !group.open.is_empty() {
                remap[old] = kept.len() as u32;
                kept.push(group);
            }
        }
        self.groups = kept;
        self.by_id = self
            .groups
            .iter()
            .enumerate()
            .map(|(at, group)| (group.id, at as u32))
            .collect();
        self.closing.retain(|_, slots| {
            slots.retain_mut(|slot| {
                *slot = remap[*slot as usize];
                *slot != NO_GROUP
            });
            !slots.is_empty()
        });
        self.inputs.retain_mut(|(_, slot, _)| {
            if *slot == NO_GROUP {
                return true;
            }
            *slot = remap[*slot as usize];
            *slot != NO_GROUP
        });
        self.by_input = self
            .inputs
            .iter()
            .enumerate()
            .map(|(at, (id, _, _))| (*id, at as u32))
            .collect();
        self.next_input = 0;
        remap
    }

    /// For cascades: forgets the input groups without a window ending after `horizon`, and
    /// the groups only they fed, once their windows are closed.
    pub fn forget_quiet(&mut self, horizon: u64) {
        self.inputs.retain(|(_, _, last_end)| *last_end > horizon);
        let mut fed = vec![false; self.groups.len()];
        for &(_, slot, _) in &self.inputs {
            if slot != NO_GROUP {
                fed[slot as usize] = true;
            }
        }
        self.compact(|slot| fed[slot as usize]);
    }

    /// Groups known.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// The windows closed and not yet sent, by end time.
    pub fn closed(&mut self) -> &mut Timed<WindowResult> {
        &mut self.closed
    }

    /// The end of the earliest window still open, which a budget left to close later.
    pub fn earliest_end(&self) -> Option<u64> {
        self.closing.keys().next().copied()
    }

    /// Windows open now.
    pub fn open_windows(&self) -> usize {
        self.closing.values().map(Vec::len).sum()
    }

    /// Approximate bytes of state.
    pub fn state_bytes(&self) -> usize {
        self.groups
            .iter()
            .map(|g| {
                std::mem::size_of::<GroupSlot>()
                    + std::mem::size_of::<(GroupId, u32, u64)>()
                    + g.open
                        .iter()
                        .map(|(_, s)| {
                            s.heap_bytes()
                                + if g.open.spilled() {
                                    std::mem::size_of::<(u64, RollupState)>()
                                } else {
                                    0
                                }
                        })
                        .sum::<usize>()
            })
            .sum::<usize>()
            + self
                .closing
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
    }
}
