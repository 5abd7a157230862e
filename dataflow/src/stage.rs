//! The first stage after a source: the series one worker owns, their samples in event-time order,
//! each rollup's partial windows (pre-aggregated per worker before any exchange by group, in
//! `crate::rollup`) and the step partials of the alert rules that read the source.
//!
//! Samples wait until the frontier passes them and are then taken in timestamp order, so that
//! counter increases are computed between truly consecutive samples even when a source delivers
//! them out of order within its lateness.

use smallvec::SmallVec;

use crate::alert::{PartialStore, StepClock, StepRecord};
use crate::rollup::{CLOSE_BUDGET, LocalRollup, NO_GROUP, WindowResult};
use crate::rules::{RuleBook, RuleUpdate};
use crate::sample::{Sample, SourceRecord};
use crate::series::{IdMap, Labels, SeriesId};
use crate::state::counter_delta;
use crate::timed::Timed;

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
        let with_counter = rollups.iter().any(LocalRollup::with_counter);
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
        for (rollup, &group) in self.rollups.iter_mut().zip(&slot.groups) {
            if group != NO_GROUP {
                rollup.insert(group, sample.ts, sample.value, delta);
            }
        }
        // A series' first sample has no increase for `rate` and `increase` to count.
        let counted = delta.filter(|_| slot.last.is_some());
        slot.last = Some((sample.ts, sample.value));
        self.alerts
            .insert(at as u32, sample.ts, sample.value, counted);
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
