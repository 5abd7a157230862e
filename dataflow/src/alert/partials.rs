//! Per-series partial aggregates per evaluation step, kept for the longest window the current
//! rules need, for every series of a metric they read (whatever their matchers): a new or
//! changed rule reads the history already here, so that it can fire at its first step. At each
//! step boundary the windows of every rule term are grouped by the term's labels.
//!
//! Boundaries come every step, for every tracked series, so the work per boundary must not grow
//! with the window: each series keeps a running window per distinct window length whose count,
//! sum and increase slide by adding the newest step and subtracting the oldest, exactly. Only
//! terms that need extremes, the latest value or quantiles read the steps one by one.

use std::sync::Arc;

use pipe_dsl::plan::{Aggregate, StateSet};
use smallvec::SmallVec;

use super::group_values::GroupValues;
use super::records::{StepRecord, TermBatch, TermGroup};
use super::running::{Running, term_state};
use super::slots::{Places, Slot, SlotTable};
use super::term_state::TermState;
use crate::rules::{CompiledRule, RuleBook, Term};
use crate::series::{IdMap, Labels};
use crate::state::{RollupState, Sketch};

/// A rule term that reads this store's input.
#[derive(Debug)]
struct ActiveTerm {
    rule: Arc<str>,
    local: bool,
    index: u16,
    term: Term,
    needs: StateSet,
    over_steps: u64,
}

/// A term a series is read by, with the series' group under it (whose labels are kept apart,
/// in [`PartialStore::match_groups`]: they are read once).
#[derive(Debug, Clone)]
struct Match {
    term: u32,
    /// The group's number among the term's groups.
    number: u32,
    group_id: u64,
    /// Which of the series' running windows has the term's length.
    window: u32,
    /// Whether the group's labels went out with a step record.
    announced: bool,
}

/// The step samples of one time fall in, and its place in the rings: samples come in time
/// order, so most fall in the step of the one before.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    /// The step holds timestamps `[from, to)`, that is `(from − 1, to − 1]`.
    from: u64,
    to: u64,
    step: u64,
    at: usize,
}

/// How many entities ahead of the one firing its slots are asked for.
const PREFETCH_AHEAD: usize = 16;

/// A tracked series (or rollup group): where the terms that read it and its running windows
/// are in the store's lists. Kept in lists of all entities, in entity order, they are read by a
/// boundary as sequential streams, where vectors of each entity's own sent it to the heap for
/// every series read by more than two terms or by windows of more than one length.
#[derive(Debug, Clone, Copy)]
struct Entity {
    /// Its matches, `[start, end)` of [`PartialStore::matches`].
    matches: (u32, u32),
    /// Its running windows, `[start, end)` of [`PartialStore::windows`].
    windows: (u32, u32),
}

/// An entity's ring of step values for quantile terms, indexed like its slots (empty when no
/// quantile term reads the entity).
type Values = Box<[Sketch]>;

const UNTRACKED: u32 = u32::MAX;

const NOT_YET: u32 = u32::MAX;

/// The step partials of the entities one worker owns, for the rules that read one input.
#[derive(Debug)]
pub struct PartialStore {
    input: String,
    step: u64,
    ring: usize,
    terms: Vec<ActiveTerm>,
    /// The rules reading the input, each with whether its groups are local
    /// ([`StepRecord::local`]).
    rules: Vec<(Arc<str>, bool)>,
    /// What the terms were built from: each rule's name, locality and terms as written. A rule
    /// change that leaves it as it was (a new threshold, `for`, labels) needs no rebuild.
    shape: Vec<(Arc<str>, bool, Vec<String>)>,
    /// The labels the input's series are placed on workers by, when the input places them.
    placement: Option<Vec<String>>,
    with_counter: bool,
    /// The metric names the current terms read: every series of them is tracked.
    metrics: Vec<String>,
    /// The entities tracked: those of a metric a current term reads.
    entities: Vec<Entity>,
    /// Every entity's matches, and each match's group labels, in entity order.
    matches: Vec<Match>,
    match_groups: Vec<Labels>,
    /// Every entity's running windows, in entity order.
    windows: Vec<Running>,
    /// Their rings of step partials, `ring` slots each: a slot is found by step number modulo
    /// the ring length. Apart from the entities, so that adding a sample reads one cache line to
    /// find its slot, not an entity's few hundred.
    slots: SlotTable,
    /// Their rings of step values, indexed alike.
    values: Vec<Values>,
    /// For each entity of the caller (in the caller's dense numbering), its tracked entity, or
    /// `UNTRACKED`: one lookup in a small array on the hot path.
    tracked: Vec<u32>,
    /// Each term's groups, by id, numbered densely as entities reading them are tracked.
    groups: Vec<IdMap<u64, u32>>,
    /// For each quantile term (empty for others), the values of each of its groups, by group
    /// number.
    quantiles: Vec<Vec<GroupValues>>,
    /// Each term's group positions in the batch of the boundary being fired, by group number
    /// (`NOT_YET` for groups not in it yet): an array, where a hash map per group per step was
    /// a tenth of the cost of firing.
    positions: Vec<Vec<u32>>,
    /// The step of the last sample inserted.
    cursor: Cursor,
    /// Each term's number of groups at the last boundary: the next batch is allocated at that
    /// size at once rather than grown (and copied) group by group.
    batch_sizes: Vec<usize>,
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
            shape: Vec::new(),
            placement: None,
            with_counter: false,
            metrics: Vec::new(),
            entities: Vec::new(),
            matches: Vec::new(),
            match_groups: Vec::new(),
            windows: Vec::new(),
            slots: SlotTable::default(),
            values: Vec::new(),
            tracked: Vec::new(),
            groups: Vec::new(),
            quantiles: Vec::new(),
            positions: Vec::new(),
            batch_sizes: Vec::new(),
            cursor: Cursor::default(),
        }
    }

    /// The store of an input whose series are on the workers its `placement` labels decide
    /// ([`Plan::placement`](pipe_dsl::Plan::placement)), so that rules whose groups keep to
    /// those labels are evaluated where their groups are.
    pub fn placed_by(mut self, placement: Vec<String>) -> Self {
        self.placement = Some(placement);
        self
    }

    /// Whether any current rule reads this input.
    pub fn is_active(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Whether the current rules need counter increases.
    pub fn needs_counter(&self) -> bool {
        self.with_counter
    }

    /// Adopts the rule set: which terms read this input, how many steps to keep, which entities
    /// to track, given the labels of every entity in the caller's numbering. Partials already
    /// kept are kept.
    pub fn reconfigure<'a>(&mut self, book: &RuleBook, labels: impl Iterator<Item = &'a Labels>) {
        let shape = self.shape_of(book);
        if shape != self.shape {
            self.rebuild(book, labels.enumerate());
            self.shape = shape;
        }
    }

    /// Each rule reading the input: its name, whether its groups are local, and its terms.
    fn shape_of(&self, book: &RuleBook) -> Vec<(Arc<str>, bool, Vec<String>)> {
        book.rules()
            .filter(|rule| rule.plan.input == self.input)
            .map(|rule| {
                let terms = rule.plan.condition.selections();
                let terms = terms.iter().map(|term| term.to_string()).collect();
                (Arc::clone(&rule.name), self.is_local(rule), terms)
            })
            .collect()
    }

    fn is_local(&self, rule: &CompiledRule) -> bool {
        self.placement
            .as_ref()
            .is_some_and(|placement| rule.plan.groups_within(placement))
    }

    /// Renumbers the entities after the caller forgot some: `kept` gives each remaining
    /// entity, in the new numbering, with its number before. Their partials are kept; every
    /// group's labels go out again with its next step, so that an evaluator that forgot a
    /// quiet group learns it again when it returns.
    pub fn retain<'a>(&mut self, book: &RuleBook, kept: impl Iterator<Item = (usize, &'a Labels)>) {
        self.rebuild(book, kept);
        self.shape = self.shape_of(book);
    }

    fn rebuild<'a>(
        &mut self,
        book: &RuleBook,
        entities: impl Iterator<Item = (usize, &'a Labels)>,
    ) {
        self.terms.clear();
        self.rules.clear();
        for rule in book.rules().filter(|rule| rule.plan.input == self.input) {
            let local = self.is_local(rule);
            self.rules.push((Arc::clone(&rule.name), local));
            for (index, term) in rule.terms.iter().enumerate() {
                self.terms.push(ActiveTerm {
                    rule: Arc::clone(&rule.name),
                    local,
                    index: index as u16,
                    needs: term.aggregate.map_or(StateSet::default(), |a| a.needs()),
                    over_steps: term.over.div_ceil(self.step).max(1),
                    term: term.clone(),
                });
            }
        }
        // Steps kept without counter increases cannot serve a term that needs them: a rate
        // over them would count only the increases since.
        let history_serves = self.with_counter || !self.terms.iter().any(|t| t.needs.counter);
        self.with_counter = self.terms.iter().any(|t| t.needs.counter);
        self.metrics = self.terms.iter().map(|t| t.term.metric.clone()).collect();
        self.metrics.sort();
        self.metrics.dedup();
        self.cursor = Cursor::default();
        self.groups.clear();
        self.groups.resize_with(self.terms.len(), IdMap::default);
        self.quantiles.clear();
        self.quantiles.resize_with(self.terms.len(), Vec::new);
        self.ring = self
            .terms
            .iter()
            .map(|t| t.over_steps as usize + 1)
            .max()
            .unwrap_or(0);
        self.entities.clear();
        self.matches.clear();
        self.match_groups.clear();
        self.windows.clear();
        let old_slots = std::mem::replace(&mut self.slots, SlotTable::new(self.ring));
        let mut old_values: Vec<Option<Values>> = std::mem::take(&mut self.values)
            .into_iter()
            .map(Some)
            .collect();
        let previous = std::mem::take(&mut self.tracked);
        for (index, labels) in entities {
            let kept = previous
                .get(index)
                .filter(|&&at| at != UNTRACKED && history_serves)
                .and_then(|&at| {
                    let at = at as usize;
                    let slots: Vec<Slot> = old_slots.ring(at).iter().cloned().collect();
                    Some((slots, old_values[at].take()?))
                });
            self.track(labels, kept);
        }
    }

    /// Learns the next entity of the caller's numbering; it is tracked when it is of a metric a
    /// current term reads.
    pub fn register(&mut self, labels: &Labels) {
        self.track(labels, None);
    }

    /// Tracks the next entity of the caller's numbering when it is of a metric a current term
    /// reads, with the rings it had under the previous rules.
    fn track(&mut self, labels: &Labels, kept: Option<(Vec<Slot>, Values)>) {
        let (first_match, first_window) = (self.matches.len(), self.windows.len());
        let with_sketch = self.add_matches(labels);
        let metric = labels.get(pipe_dsl::plan::METRIC_NAME).unwrap_or_default();
        if self.matches.len() == first_match
            && self
                .metrics
                .binary_search_by(|m| m.as_str().cmp(metric))
                .is_err()
        {
            self.tracked.push(UNTRACKED);
            return;
        }
        self.tracked.push(self.entities.len() as u32);
        let entity = self.entities.len() as u32;
        for matched in &self.matches[first_match..] {
            if self.terms[matched.term as usize].needs.sketch {
                let groups = &mut self.quantiles[matched.term as usize];
                match groups.get_mut(matched.number as usize) {
                    Some(group) => group.join(entity),
                    None => groups.push(GroupValues::new(matched.group_id, entity)),
                }
            }
        }
        self.entities.push(Entity {
            matches: (first_match as u32, self.matches.len() as u32),
            windows: (first_window as u32, self.windows.len() as u32),
        });
        let (slots, values) = kept.unwrap_or_default();
        let (slots, values) = carry(&slots, values, self.ring, with_sketch);
        self.slots.push(&slots);
        self.values.push(values);
    }

    /// The slot of step `step` of the entity with this index, emptied when it held an older
    /// step, with its sketch when a quantile term reads the entity.
    #[inline]
    fn slot(
        &mut self,
        index: u32,
        step: u64,
        at: usize,
    ) -> Option<(&mut Slot, Option<&mut Sketch>)> {
        let entity = *self.tracked.get(index as usize)?;
        if entity == UNTRACKED {
            return None;
        }
        let entity = entity as usize;
        let slot = self.slots.get_mut(entity, at);
        let mut sketch = self.values[entity].get_mut(at);
        if slot.step != step {
            *slot = Slot::empty(step);
            if let Some(sketch) = sketch.as_deref_mut() {
                sketch.clear();
            }
        }
        Some((slot, sketch))
    }

    /// Adds a sample of the entity with this index, when it is tracked.
    #[inline]
    pub fn insert(&mut self, index: u32, ts: u64, value: f64, delta: Option<f64>) {
        if !(self.cursor.from..self.cursor.to).contains(&ts) && self.ring > 0 {
            // Step k holds (k·step, (k + 1)·step]: a sample stamped on a boundary is seen there.
            let step = ts.saturating_sub(1) / self.step;
            self.cursor = Cursor {
                from: step * self.step + 1,
                to: (step + 1) * self.step + 1,
                step,
                at: (step % self.ring as u64) as usize,
            };
        }
        let Cursor { step, at, .. } = self.cursor;
        if let Some((slot, sketch)) = self.slot(index, step, at) {
            slot.insert(ts, value, delta);
            if let Some(sketch) = sketch {
                sketch.insert(value);
            }
        }
    }

    /// Adds a whole step's state (a closed rollup window) of the entity with this index.
    pub fn merge_step(&mut self, index: u32, step: u64, state: &RollupState) {
        let at = step.checked_rem(self.ring as u64).unwrap_or(0) as usize;
        if let Some((slot, sketch)) = self.slot(index, step, at) {
            slot.merge(state);
            if let Some(sketch) = sketch {
                sketch.merge(&state.sketch);
            }
        }
    }

    /// The records of boundary `at`, stamped with it: a marker per rule (that this worker
    /// reached the boundary), and each term's window per group.
    pub fn fire(&mut self, at: u64, out: &mut Vec<(u64, StepRecord)>) {
        for (rule, local) in &self.rules {
            let marker = StepRecord {
                rule: Arc::clone(rule),
                at,
                term: None,
                local: *local,
            };
            out.push((at, marker));
        }
        let end = at / self.step;
        let places = Places::new(self.ring, end);
        let newest = end.checked_sub(1).map(|step| (step, places.of(step)));
        let mut batches = self.start_batches();
        self.gather_groups(newest.map_or(0, |(step, _)| step));
        self.window_entities(places, newest, &mut batches);
        self.window_shared_groups(places, &mut batches);
        for ((term, batch), size) in self
            .terms
            .iter()
            .zip(batches)
            .zip(self.batch_sizes.iter_mut())
        {
            *size = batch.groups.len();
            if !batch.groups.is_empty() {
                let record = StepRecord {
                    rule: Arc::clone(&term.rule),
                    at,
                    term: Some(batch),
                    local: term.local,
                };
                out.push((at, record));
            }
        }
    }

    /// An empty batch per term, allocated at the size of its last, and no group placed in one.
    fn start_batches(&mut self) -> Vec<TermBatch> {
        self.batch_sizes.resize(self.terms.len(), 0);
        self.positions.resize_with(self.terms.len(), Vec::new);
        for (positions, groups) in self.positions.iter_mut().zip(&self.groups) {
            positions.clear();
            positions.resize(groups.len(), NOT_YET);
        }
        self.terms
            .iter()
            .zip(&self.batch_sizes)
            .map(|(term, &size)| TermBatch {
                index: term.index,
                groups: Vec::with_capacity(size),
                labels: Vec::new(),
            })
            .collect()
    }

    /// The places a boundary reads in every ring: the newest step, and the step leaving each
    /// window length. Asked for a few series ahead, they are there when needed.
    fn places_read(&self, places: Places, newest: Option<(u64, usize)>) -> SmallVec<[usize; 8]> {
        let mut read: SmallVec<[usize; 8]> = SmallVec::new();
        if let Some((newest, at)) = newest {
            read.push(at);
            for term in &self.terms {
                if let Some(step) = newest.checked_sub(term.over_steps) {
                    let at = places.of(step);
                    if !read.contains(&at) {
                        read.push(at);
                    }
                }
            }
        }
        read
    }

    /// Slides every entity's windows to the boundary and adds each term's window of it to the
    /// term's batch, merged into its group's.
    fn window_entities(
        &mut self,
        places: Places,
        newest: Option<(u64, usize)>,
        batches: &mut [TermBatch],
    ) {
        let read = self.places_read(places, newest);
        for (number, (entity, sketches)) in self.entities.iter().zip(&self.values).enumerate() {
            for &at in &read {
                self.slots.prefetch(number + PREFETCH_AHEAD, at);
            }
            let slots = self.slots.ring(number);
            let windows = &mut self.windows[entity.windows.0 as usize..entity.windows.1 as usize];
            for window in windows.iter_mut() {
                window.slide_to(places, slots);
            }
            for at_match in entity.matches.0 as usize..entity.matches.1 as usize {
                let matched = &mut self.matches[at_match];
                let running = &mut windows[matched.window as usize];
                // A quantile group of several series takes this one's newest step, and is
                // windowed after them all; a group of one is windowed here, from its steps.
                let (mut single, mut shared) = (None, false);
                if let Some(group) =
                    self.quantiles[matched.term as usize].get_mut(matched.number as usize)
                {
                    shared = group.is_shared();
                    if !shared {
                        single = Some(group);
                    } else if let Some((step, at)) = newest
                        && slots[at].holds(step)
                        && let Some(values) = sketches.get(at)
                    {
                        group.add(step, at, values);
                    }
                }
                if running.is_empty() {
                    continue;
                }
                let term = &self.terms[matched.term as usize];
                let state = match single {
                    Some(group) => {
                        let own = |step| sketches.get(places.held(step, slots)?);
                        let values = group.slide_to(places, term.over_steps, own);
                        single_series_quantile(term, values)
                    }
                    None => term_state(term.term.aggregate, running, places, slots),
                };
                // A group's labels go out once, with the first batch that holds it (a shared
                // quantile group's window joins the batch after every series).
                if state.is_none() && !shared {
                    continue;
                }
                let batch = &mut batches[matched.term as usize];
                if !std::mem::replace(&mut matched.announced, true) {
                    let group = self.match_groups[at_match].clone();
                    batch.labels.push((matched.group_id, group));
                }
                if let Some(state) = state {
                    let positions = &mut self.positions[matched.term as usize];
                    add_to_batch(
                        batch,
                        &mut positions[matched.number as usize],
                        matched,
                        state,
                    );
                }
            }
        }
    }

    /// Adds the window of each quantile group of several series, whose steps its series added.
    fn window_shared_groups(&mut self, places: Places, batches: &mut [TermBatch]) {
        for ((term, batch), groups) in self.terms.iter().zip(batches).zip(&mut self.quantiles) {
            for group in groups.iter_mut().filter(|group| group.is_shared()) {
                let id = group.id;
                let values = group.slide_to(places, term.over_steps, |_| None);
                if values.count() > 0 {
                    batch.groups.push(TermGroup {
                        id,
                        state: TermState::Quantile(values.clone()),
                    });
                }
            }
        }
    }

    /// Gives each quantile group that has come to have several series a ring of its own, with
    /// their steps before `newest` (the step being fired adds its own).
    fn gather_groups(&mut self, newest: u64) {
        for group in self.quantiles.iter_mut().flatten() {
            if !group.needs_gathering() {
                continue;
            }
            let (slots, values) = (&self.slots, &self.values);
            group.gather(self.ring, |member| {
                let member = member as usize;
                slots
                    .ring(member)
                    .iter()
                    .zip(values[member].iter())
                    .enumerate()
                    .filter(|(_, (slot, _))| slot.count > 0 && slot.step < newest)
                    .map(|(at, (slot, values))| (slot.step, at, values))
            });
        }
    }

    /// Adds the terms that read an entity with these labels and its running windows (one per
    /// distinct length) to the lists; returns whether a quantile term reads it.
    fn add_matches(&mut self, labels: &Labels) -> bool {
        let first_window = self.windows.len();
        let mut with_sketch = false;
        for (index, term) in self
            .terms
            .iter()
            .enumerate()
            .filter(|(_, t)| t.term.selects(labels))
        {
            let windows = &mut self.windows[first_window..];
            let window = match windows
                .iter()
                .position(|w| w.over_steps() == term.over_steps)
            {
                Some(at) => at,
                None => {
                    self.windows.push(Running::unread(term.over_steps));
                    self.windows.len() - 1 - first_window
                }
            };
            self.windows[first_window + window].keep(term.needs.sum, term.needs.counter);
            let group = labels.project(&term.term.by);
            let group_id = group.stable_hash();
            let numbers = &mut self.groups[index];
            let next = numbers.len() as u32;
            with_sketch |= term.needs.sketch;
            self.matches.push(Match {
                term: index as u32,
                number: *numbers.entry(group_id).or_insert(next),
                group_id,
                window: window as u32,
                announced: false,
            });
            self.match_groups.push(group);
        }
        with_sketch
    }

    /// Entities tracked for the current rules.
    pub fn tracked(&self) -> usize {
        self.entities.len()
    }

    /// Approximate bytes of partial state.
    pub fn state_bytes(&self) -> usize {
        self.tracked.len() * std::mem::size_of::<u32>()
            + self.slots.heap_bytes()
            + self.entities.len() * (std::mem::size_of::<Entity>() + std::mem::size_of::<Values>())
            + self.matches.len() * (std::mem::size_of::<Match>() + std::mem::size_of::<Labels>())
            + self.windows.len() * std::mem::size_of::<Running>()
            + self
                .values
                .iter()
                .flat_map(|sketches| sketches.iter())
                .map(|s| std::mem::size_of::<Sketch>() + s.heap_bytes())
                .sum::<usize>()
            + self
                .quantiles
                .iter()
                .flatten()
                .map(|group| std::mem::size_of::<GroupValues>() + group.heap_bytes())
                .sum::<usize>()
    }
}

/// The state of a quantile term over a group of one series: the quantile itself when the rule
/// is evaluated here (its values need not travel), else the window's values; `None` when the
/// window is empty.
fn single_series_quantile(term: &ActiveTerm, values: &Sketch) -> Option<TermState> {
    if values.count() == 0 {
        return None;
    }
    match term.term.aggregate.and_then(Aggregate::quantile) {
        Some(q) if term.local => values.quantile(q).map(TermState::Value),
        _ => Some(TermState::Quantile(values.clone())),
    }
}

/// Adds a series' window to its group's in the term's batch: the group's first takes a place,
/// later ones merge into it.
fn add_to_batch(batch: &mut TermBatch, position: &mut u32, matched: &Match, state: TermState) {
    if *position == NOT_YET {
        *position = batch.groups.len() as u32;
        batch.groups.push(TermGroup {
            id: matched.group_id,
            state,
        });
    } else {
        batch.groups[*position as usize].state.merge(&state);
    }
}

/// A ring of `ring` slots keeping the partials of `slots`, a ring of another length, that it can
/// (their places depend on the length), and the values ring to go with it, with sketches when
/// `with_sketch`.
fn carry(slots: &[Slot], sketches: Values, ring: usize, with_sketch: bool) -> (Vec<Slot>, Values) {
    let sketch_ring = if with_sketch { ring } else { 0 };
    if slots.len() == ring && sketches.len() == sketch_ring {
        return (slots.to_vec(), sketches);
    }
    let mut new_slots = vec![Slot::default(); ring];
    let mut new_sketches = vec![Sketch::default(); sketch_ring].into_boxed_slice();
    let mut sketches = sketches.into_vec().into_iter();
    for slot in slots {
        let sketch = sketches.next();
        if slot.count > 0 {
            let at = (slot.step % ring as u64) as usize;
            if new_slots[at].count == 0 || new_slots[at].step < slot.step {
                new_slots[at] = slot.clone();
                if let Some(place) = new_sketches.get_mut(at) {
                    *place = sketch.unwrap_or_default();
                }
            }
        }
    }
    (new_slots, new_sketches)
}
