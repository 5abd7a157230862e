//! One step of one series' partials, and where the steps of every tracked series are kept.
//!
//! A boundary reads, for every series in turn, the newest step and the step leaving each of its
//! windows: the same places of every ring. So the table keeps a place's slots of neighbouring
//! series side by side (a block of series at a time, place after place): a boundary reads a few
//! sequential streams the processor fetches ahead, where one ring after another read each slot
//! from a different page; and the slots one step's samples write lie together.

use std::ops::Index;

use crate::state::RollupState;

/// One step of one series: its samples' aggregates, added in time order. One cache line; the
/// values for quantiles are kept beside it, so that only series read by a quantile term pay
/// for them.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// The step held, `u64::MAX` for none.
    pub step: u64,
    /// Samples.
    pub count: u32,
    /// Samples with a counter increase: those after their series' first, which `rate` and
    /// `increase` count from.
    pub increases: u32,
    /// Their sum.
    pub sum: f64,
    /// Their counter increase.
    pub increase: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Timestamp of the latest.
    pub last_ts: u64,
    /// Value of the latest (the larger on equal timestamps).
    pub last: f64,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            step: u64::MAX,
            count: 0,
            increases: 0,
            sum: 0.0,
            increase: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last_ts: 0,
            last: f64::NAN,
        }
    }
}

impl Slot {
    /// An empty slot for `step`.
    pub fn empty(step: u64) -> Self {
        Slot {
            step,
            ..Slot::default()
        }
    }

    /// Whether the slot holds samples of `step`.
    pub fn holds(&self, step: u64) -> bool {
        self.step == step && self.count > 0
    }

    /// Adds a sample; `delta` is its counter increase, when a term needs one and the series
    /// had a sample before.
    #[inline]
    pub fn insert(&mut self, ts: u64, value: f64, delta: Option<f64>) {
        if self.count == 0 || ts > self.last_ts || (ts == self.last_ts && value > self.last) {
            self.last_ts = ts;
            self.last = value;
        }
        self.count += 1;
        self.sum += value;
        if let Some(delta) = delta {
            self.increases += 1;
            self.increase += delta;
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds a closed rollup window of the step.
    pub fn merge(&mut self, state: &RollupState) {
        if self.count == 0
            || state.last_ts > self.last_ts
            || (state.last_ts == self.last_ts && state.last > self.last)
        {
            self.last_ts = state.last_ts;
            self.last = state.last;
        }
        self.count += state.count as u32;
        self.sum += state.sum.value();
        self.increases += u32::from(state.has_increase());
        self.increase += state.increase();
        self.min = self.min.min(state.min);
        self.max = self.max.max(state.max);
    }
}

/// Series per block: a place's slots of a block are 64 KiB, long enough for the processor to
/// stream, and a table grows by one block's rings at a time.
const BLOCK: usize = 1024;

/// The rings of step slots of every tracked series, `ring` places each, found by series number
/// and place.
#[derive(Debug, Default)]
pub(super) struct SlotTable {
    slots: Vec<Slot>,
    ring: usize,
    len: usize,
}

impl SlotTable {
    /// An empty table of rings of `ring` places.
    pub fn new(ring: usize) -> Self {
        SlotTable {
            slots: Vec::new(),
            ring,
            len: 0,
        }
    }

    /// Appends a series whose ring is `slots` (`ring` long).
    pub fn push(&mut self, slots: &[Slot]) {
        debug_assert_eq!(slots.len(), self.ring);
        if self.len.is_multiple_of(BLOCK) {
            self.slots
                .resize(self.slots.len() + self.ring * BLOCK, Slot::default());
        }
        let series = self.len;
        self.len += 1;
        for (at, slot) in slots.iter().enumerate() {
            *self.get_mut(series, at) = slot.clone();
        }
    }

    /// The slot at place `at` of the series numbered `series`.
    #[inline]
    pub fn get_mut(&mut self, series: usize, at: usize) -> &mut Slot {
        let place = self.place(series, at);
        &mut self.slots[place]
    }

    /// Where the slot at place `at` of series `series` is kept.
    #[inline]
    fn place(&self, series: usize, at: usize) -> usize {
        (series / BLOCK) * self.ring * BLOCK + at * BLOCK + series % BLOCK
    }

    /// The ring of the series numbered `series`.
    #[inline]
    pub fn ring(&self, series: usize) -> Ring<'_> {
        let block = self.ring * BLOCK;
        let start = (series / BLOCK) * block;
        Ring {
            slots: &self.slots[start..start + block],
            stride: BLOCK,
            offset: series % BLOCK,
            len: self.ring,
        }
    }

    /// Starts loading the slot at place `at` of series `series`, if it exists.
    #[inline]
    pub fn prefetch(&self, series: usize, at: usize) {
        if let Some(slot) = self.slots.get(self.place(series, at)) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// Bytes held, with the unused end of the last block.
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }
}

/// Where steps are in the rings while the boundary at step `end` is fired. Firing reads only the
/// steps just before it, and places them without a division: a division per slot read was most
/// of the time spent firing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Places {
    ring: u64,
    end: u64,
    end_at: u64,
}

impl Places {
    /// The places of rings of `ring` slots while the boundary at step `end` is fired.
    pub fn new(ring: usize, end: u64) -> Self {
        let ring = ring as u64;
        Places {
            ring,
            end,
            end_at: end.checked_rem(ring).unwrap_or(0),
        }
    }

    /// The step the boundary ends: the window of `over` steps covers `[end − over, end)`.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The place of `step` in a ring, when its slot holds it.
    #[inline]
    pub fn held(&self, step: u64, slots: Ring<'_>) -> Option<usize> {
        let at = self.of(step);
        slots[at].holds(step).then_some(at)
    }

    /// The places of the steps held in the window of `over` steps that ends at `end`, oldest
    /// first.
    pub fn window<'a>(
        self,
        over: u64,
        slots: Ring<'a>,
    ) -> impl DoubleEndedIterator<Item = usize> + 'a {
        (self.end.saturating_sub(over)..self.end).filter_map(move |step| self.held(step, slots))
    }

    /// The place of `step` in a ring.
    #[inline]
    pub fn of(&self, step: u64) -> usize {
        let back = self.end.wrapping_sub(step);
        if (1..=self.ring).contains(&back) {
            let at = self.end_at + self.ring - back;
            (if at >= self.ring { at - self.ring } else { at }) as usize
        } else {
            (step % self.ring) as usize
        }
    }
}

/// One series' ring of slots, wherever the table keeps them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ring<'a> {
    slots: &'a [Slot],
    stride: usize,
    offset: usize,
    len: usize,
}

impl<'a> Ring<'a> {
    /// A ring kept as one slice.
    #[cfg(test)]
    pub fn contiguous(slots: &'a [Slot]) -> Self {
        Ring {
            slots,
            stride: 1,
            offset: 0,
            len: slots.len(),
        }
    }

    /// Its slots, by place.
    pub fn iter(self) -> impl Iterator<Item = &'a Slot> {
        (0..self.len).map(move |at| &self.slots[at * self.stride + self.offset])
    }
}

impl Index<usize> for Ring<'_> {
    type Output = Slot;

    #[inline]
    fn index(&self, at: usize) -> &Slot {
        &self.slots[at * self.stride + self.offset]
    }
}
