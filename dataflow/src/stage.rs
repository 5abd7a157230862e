//! The first stage after a source: the series one worker owns, their samples in event-time order,
//! each rollup's partial windows (pre-aggregated per worker before any exchange by group) and the
//! step partials of the alert rules that read the source.
//!
//! Samples wait until the frontier passes them and are then taken in timestamp order, so that
//! counter increases are computed between truly consecutive samples even when a source delivers
//! them out of order within its lateness.

use std::collections::BTreeMap;

use pipe_dsl::plan::{Grouping, Rollup};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::alert::{PartialStore, StepClock, StepRecord};
use crate::rules::{Matcher, RuleBook, RuleUpdate, compile_matchers};
use crate::sample::{Sample, SourceRecord};
use crate::series::{GroupId, IdMap, Labels, SeriesId};
use crate::state::{RollupState, counter_delta};
use crate::timed::Timed;
use crate::window::{Assigner, Windows};

/// A group's window of a rollup: what one worker saw of it, sent to the group's owner when the
/// window closes there, and after the owner merged every worker's, the closed window that sinks
/// write and cascades merge. One type for both, so that with one worker the partial is the
/// closed window and passes on as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Which rollup of the plan.
    pub rollup: u16,
    /// The group.
    pub group: GroupId,
    /// The group's labels.
    pub labels: Labels,
    /// Window start.
    pub start: u64,
    /// Window end (exclusive).
    pub end: u64,
    /// The window's state; its aggregates are computed from it.
    pub state: RollupState,
}

/// A series one worker owns.
#[derive(Debug)]
struct SeriesSlot {
    id: SeriesId,
    /// Its labels, for matching rules that arrive later.
    labels: Labels,
    /// Its previous sample, for counter increases.
    last: Option<(u64, f64)>,
    /// Whether its source announced it since quiet series were last forgotten: a source does
    /// so before its first sample and before the first after a quiet spell, so the series is
    /// kept for that sample.
    announced: bool,
    /// Its group slot in each rollup, or `NO_GROUP` when the rollup's matchers leave it out.
    groups: SmallVec<[u32; 2]>,
}

impl SeriesSlot {
    /// The time of its newest sample taken.
    fn seen(&self) -> u64 {
        self.last.map_or(0, |(ts, _)| ts)
    }
}

const NO_GROUP: u32 = u32::MAX;

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

    /// The group slot of a series or input group with these labels, or `NO_GROUP`.
    fn slot_for(&mut self, labels: &Labels) -> u32 {
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
    fn insert(&mut self, slot: u32, ts: u64, value: f64, delta: Option<f64>) {
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
    fn compact(&mut self, keep: impl Fn(u32) -> bool) -> Vec<u32> {
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

/// The first stage of one source on one worker.
#[derive(Debug)]
pub struct SeriesStage {
    rollups: Vec<LocalRollup>,
    alerts: PartialStore,
    clock: StepClock,
    book: RuleBook,
    /// The time of the next rule change held in `book`, `u64::MAX` when none: asked at every
    /// sample.
    rules_due: u64,
    /// The series, in the order they were registered, and where each id is.
    series: Vec<SeriesSlot>,
    index: IdMap<SeriesId, u32>,
    /// Where the next sample's series probably is: sources tend to send series in the same
    /// order every time, so this spares most hash lookups.
    guess: usize,
    pending: Vec<Sample>,
    /// The samples taken by one `advance`, kept to reuse its allocation.
    ready: Vec<Sample>,
    with_counter: bool,
    /// Series without samples for this long are forgotten.
    ttl: Option<u64>,
    /// The frontier at which quiet series were last forgotten.
    swept_at: u64,
    /// Samples taken, for the status line and benchmarks.
    pub samples: u64,
}

/// The alert step records the stage produced, each with the time to send it at; its closed
/// windows are with its rollups ([`SeriesStage::closed`]).
#[derive(Debug, Default)]
pub struct StageOutput {
    /// Alert step records.
    pub steps: Vec<(u64, StepRecord)>,
}

impl SeriesStage {
    /// The stage of source `source` (alert step `step`) with the rollups that read it.
    pub fn new(source: &str, step: u64, rollups: Vec<LocalRollup>) -> Self {
        let with_counter = rollups.iter().any(|r| r.with_counter);
        SeriesStage {
            rollups,
            alerts: PartialStore::new(source, step),
            clock: StepClock::new(step),
            book: RuleBook::default(),
            rules_due: u64::MAX,
            series: Vec::new(),
            index: IdMap::default(),
            guess: 0,
            pending: Vec::new(),
            ready: Vec::new(),
            with_counter,
            ttl: None,
            swept_at: 0,
            samples: 0,
        }
    }

    /// The stage of a source whose series are forgotten after `ttl` milliseconds of event time
    /// without samples, with their rollup groups and alert partials.
    pub fn forgetting_after(mut self, ttl: Option<u64>) -> Self {
        self.ttl = ttl;
        self
    }

    /// The stage of a source that places its series on workers by `placement`
    /// ([`PartialStore::placed_by`]).
    pub fn placed_by(mut self, placement: Vec<String>) -> Self {
        self.alerts = self.alerts.placed_by(placement);
        self
    }

    /// Takes a record of the source.
    #[inline]
    pub fn push(&mut self, record: SourceRecord) {
        match record {
            SourceRecord::Sample { sample, .. } => self.pending.push(sample),
            SourceRecord::Series { id, labels, .. } => self.register(id, labels),
        }
    }

    fn register(&mut self, id: SeriesId, labels: Labels) {
        if let Some(&at) = self.index.get(&id) {
            self.series[at as usize].announced = true;
            return;
        }
        let groups = self
            .rollups
            .iter_mut()
            .map(|r| r.slot_for(&labels))
            .collect();
        self.alerts.register(&labels);
        self.index.insert(id, self.series.len() as u32);
        self.series.push(SeriesSlot {
            id,
            labels,
            last: None,
            announced: true,
            groups,
        });
    }

    /// Takes rule changes.
    pub fn rules(&mut self, updates: impl IntoIterator<Item = RuleUpdate>) {
        self.book.stash(updates);
        self.rules_due = self.book.next_update().unwrap_or(u64::MAX);
    }

    /// Processes every sample before `frontier` (all when `None`, the input having ended), fires
    /// the step boundaries passed and closes the windows that ended.
    pub fn advance(&mut self, frontier: Option<u64>, out: &mut StageOutput) {
        let mut ready = std::mem::take(&mut self.ready);
        match frontier {
            // Sources mostly deliver in time order: the samples to take are then a prefix.
            Some(frontier) if self.pending.is_sorted_by_key(|s| s.ts) => {
                let take = self.pending.partition_point(|s| s.ts < frontier);
                if take == self.pending.len() {
                    std::mem::swap(&mut ready, &mut self.pending);
                } else {
                    ready.extend(self.pending.drain(..take));
                }
            }
            Some(frontier) => {
                self.pending.retain(|s| {
                    let take = s.ts < frontier;
                    if take {
                        ready.push(*s);
                    }
                    !take
                });
            }
            None => std::mem::swap(&mut ready, &mut self.pending),
        }
        if !ready.is_sorted_by_key(|s| s.ts) {
            ready.sort_unstable_by(|a, b| {
                (a.ts, a.series, a.value.to_bits()).cmp(&(b.ts, b.series, b.value.to_bits()))
            });
        }
        for &sample in &ready {
            self.clock.saw(sample.ts);
            while let Some(boundary) = self.clock.next_due(Some(sample.ts)) {
                self.fire(boundary, out);
            }
            self.adopt_rules(sample.ts);
            self.take(sample);
        }
        ready.clear();
        self.ready = ready;
        while let Some(boundary) = self.clock.next_due(frontier) {
            self.fire(boundary, out);
        }
        let mut budget = CLOSE_BUDGET;
        for rollup in &mut self.rollups {
            rollup.close(frontier, &mut budget);
        }
        if let (Some(frontier), Some(ttl)) = (frontier, self.ttl)
            && frontier >= self.swept_at + ttl / 4
        {
            self.swept_at = frontier;
            self.forget_quiet(frontier.saturating_sub(ttl));
        }
    }

    /// Forgets the series without a sample since `horizon`, unless announced since the last
    /// time or with samples waiting; the rollup groups no series left feeds, once their
    /// windows close; and their alert partials. Series are renumbered; the alert store learns
    /// the new numbers.
    fn forget_quiet(&mut self, horizon: u64) {
        let waiting: std::collections::HashSet<SeriesId> =
            self.pending.iter().map(|sample| sample.series).collect();
        let mut before = Vec::with_capacity(self.series.len());
        let mut kept = Vec::with_capacity(self.series.len());
        for (at, mut slot) in std::mem::take(&mut self.series).into_iter().enumerate() {
            if slot.announced || slot.seen() >= horizon || waiting.contains(&slot.id) {
                slot.announced = false;
                before.push(at);
                kept.push(slot);
            }
        }
        self.series = kept;
        self.index = self
            .series
            .iter()
            .enumerate()
            .map(|(at, slot)| (slot.id, at as u32))
            .collect();
        self.guess = 0;
        for (number, rollup) in self.rollups.iter_mut().enumerate() {
            let mut fed = vec![false; rollup.groups()];
            for slot in &self.series {
                if let Some(&group) = slot.groups.get(number).filter(|&&g| g != NO_GROUP) {
                    fed[group as usize] = true;
                }
            }
            let remap = rollup.compact(|group| fed[group as usize]);
            for slot in &mut self.series {
                let group = &mut slot.groups[number];
                if *group != NO_GROUP {
                    *group = remap[*group as usize];
                }
            }
        }
        let labels = before
            .into_iter()
            .zip(self.series.iter().map(|slot| &slot.labels));
        self.alerts.retain(&self.book, labels);
    }

    /// Each rollup's closed windows not yet sent, in the order of the stage's outputs.
    pub fn closed(&mut self) -> impl Iterator<Item = &mut Timed<WindowResult>> {
        self.rollups.iter_mut().map(LocalRollup::closed)
    }

    /// Where each rollup's output must be held: at the end of its earliest open window, or one
    /// past `frontier` when that is earlier; `None` when it has no window open and the input
    /// has ended.
    pub fn holds(&self, frontier: Option<u64>) -> impl Iterator<Item = Option<u64>> + '_ {
        self.rollups
            .iter()
            .map(move |rollup| match (rollup.earliest_end(), frontier) {
                (Some(end), Some(frontier)) => Some(end.min(frontier + 1)),
                (end, None) => end,
                (None, Some(frontier)) => Some(frontier + 1),
            })
    }

    /// Whether windows the frontier has passed are still open, left by the close budget.
    pub fn closing_behind(&self, frontier: Option<u64>) -> bool {
        self.rollups.iter().any(|rollup| {
            rollup
                .earliest_end()
                .is_some_and(|end| frontier.is_none_or(|frontier| end <= frontier))
        })
    }

    #[inline]
    fn take(&mut self, sample: Sample) {
        let at = match self.series.get(self.guess) {
            Some(slot) if slot.id == sample.series => self.guess,
            _ => match self.index.get(&sample.series) {
                Some(&at) => at as usize,
                None => return,
            },
        };
        self.guess = at + 1;
        let slot = &mut self.series[at];
        self.samples += 1;
        let needs_delta = self.with_counter || self.alerts.needs_counter();
        let delta = match slot.last {
            Some((_, previous)) if needs_delta => Some(counter_delta(previous, sample.value)),
            None if needs_delta => Some(0.0),
            _ => None,
        };
        slot.last = Some((sample.ts, sample.value));
        for (rollup, &group) in self.rollups.iter_mut().zip(&slot.groups) {
            if group != NO_GROUP {
                rollup.insert(group, sample.ts, sample.value, delta);
            }
        }
        self.alerts
            .insert(at as u32, sample.ts, sample.value, delta);
    }

    /// Applies the rule changes made up to `time`.
    #[inline]
    fn adopt_rules(&mut self, time: u64) {
        if self.rules_due > time {
            return;
        }
        let changed = self.book.apply_until(time).changed;
        self.rules_due = self.book.next_update().unwrap_or(u64::MAX);
        if changed {
            let labels = self.series.iter().map(|slot| &slot.labels);
            self.alerts.reconfigure(&self.book, labels);
        }
    }

    fn fire(&mut self, boundary: u64, out: &mut StageOutput) {
        self.adopt_rules(boundary);
        if self.alerts.is_active() {
            self.alerts.fire(boundary, &mut out.steps);
        }
    }

    /// The rollups this stage computes, in the order its outputs follow.
    pub fn rollup_count(&self) -> usize {
        self.rollups.len()
    }

    /// Series this worker owns.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Windows open now, over all rollups.
    pub fn open_windows(&self) -> usize {
        self.rollups.iter().map(LocalRollup::open_windows).sum()
    }

    /// Approximate bytes of rollup state (series slots and open windows).
    pub fn rollup_state_bytes(&self) -> usize {
        self.series.len()
            * (std::mem::size_of::<SeriesSlot>() + std::mem::size_of::<(SeriesId, u32)>() + 8)
            + self
                .rollups
                .iter()
                .map(LocalRollup::state_bytes)
                .sum::<usize>()
    }

    /// Approximate bytes of alert state.
    pub fn alert_state_bytes(&self) -> usize {
        self.alerts.state_bytes()
    }
}
