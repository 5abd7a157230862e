//! Quantiles within 1% relative error: a DDSketch (Masson, Rim and Lee, VLDB 2019) with sparse
//! buckets, which holds small windows exactly.
//!
//! A 1-minute window of a 15-second series has four values; a general-purpose sketch allocates
//! and takes a logarithm for each of them. Here up to [`EXACT_LIMIT`] values are kept as they
//! are (the first [`INLINE`] without allocating), and only a window that grows past that turns
//! into log-spaced buckets, stored sparsely so that a series whose values stay in a narrow band
//! costs a few words.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Relative accuracy of every quantile the sketch returns.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// How many values are kept exactly before switching to buckets.
pub const EXACT_LIMIT: usize = 32;

/// How many exact values are kept without allocating: a minute of a 15-second series.
pub const INLINE: usize = 4;

/// The widest range of buckets a store keeps; beyond, the lowest buckets are merged (losing
/// accuracy only for the lowest quantiles of values spanning tens of orders of magnitude).
const MAX_BUCKETS: usize = 4096;

/// Room left on each side when a store grows, so that a drifting series grows it rarely.
const MARGIN: i32 = 8;

/// Magnitudes below this count as zero.
const MIN_MAGNITUDE: f64 = 1e-9;

/// A mergeable summary of a multiset of values that answers quantiles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Sketch {
    /// Up to [`EXACT_LIMIT`] values, exactly.
    Exact(SmallVec<[f64; INLINE]>),
    /// Log-spaced buckets.
    Buckets(Box<Buckets>),
}

impl PartialEq for Sketch {
    /// Equal when they hold the same multiset (exact values arrive in any order).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Sketch::Exact(a), Sketch::Exact(b)) => {
                let (mut a, mut b) = (a.clone(), b.clone());
                a.sort_by(f64::total_cmp);
                b.sort_by(f64::total_cmp);
                a.iter()
                    .map(|v| v.to_bits())
                    .eq(b.iter().map(|v| v.to_bits()))
            }
            (Sketch::Buckets(a), Sketch::Buckets(b)) => a == b,
            _ => false,
        }
    }
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Exact(SmallVec::new())
    }
}

/// How many values a bucketed sketch holds before counting them in their buckets.
const PENDING: usize = 32;

/// Where a value is counted: `None` for the zeros, or whether it is among the positive values
/// and its bucket there.
type Bucket = Option<(bool, i32)>;

fn bucket_of_value(value: f64) -> Bucket {
    if value.abs() < MIN_MAGNITUDE {
        None
    } else {
        Some((value > 0.0, bucket_of(value.abs())))
    }
}

/// A [`Bucket`] in 16 bits, so that a value waiting to be counted takes a quarter of the room
/// of the value itself. Buckets of magnitudes beyond 1e±140 do not fit, and are counted at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Place(i16);

impl Place {
    const ZERO: Place = Place(i16::MIN);

    fn pack(bucket: Bucket) -> Option<Place> {
        match bucket {
            None => Some(Place::ZERO),
            Some((positive, index)) => {
                let packed = i16::try_from(index.checked_mul(2)?).ok()?;
                (packed != i16::MIN).then_some(Place(packed | i16::from(!positive)))
            }
        }
    }

    fn unpack(self) -> Bucket {
        (self != Place::ZERO).then_some((self.0 & 1 == 0, i32::from(self.0 >> 1)))
    }
}

/// Bucket counts for negative values, zeros and positive values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Buckets {
    negative: Store,
    zeros: u64,
    positive: Store,
    /// Values held, pending ones included.
    count: u64,
    /// Values added but not counted in their buckets yet, by where they will be. A 1-hour window
    /// takes the values of a 1-minute window at a time, a minute after the last, when its
    /// buckets have long left the cache: counting 32 at once touches each line of buckets once
    /// instead of per value.
    pending: [Place; PENDING],
    pending_len: u8,
}

impl PartialEq for Buckets {
    /// Equal when they count the same values, pending or not.
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.flush();
        b.flush();
        (a.count, a.zeros, &a.positive, &a.negative) == (b.count, b.zeros, &b.positive, &b.negative)
    }
}

/// Counts of consecutive buckets from `offset`: values of a series drift within a band, so a
/// dense run of buckets is both small and O(1) to update.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Store {
    offset: i32,
    counts: Vec<u32>,
}

impl PartialEq for Store {
    /// Equal when they count the same buckets, whatever room each has around them.
    fn eq(&self, other: &Self) -> bool {
        self.occupied().eq(other.occupied())
    }
}

impl Store {
    fn occupied(&self) -> impl Iterator<Item = (i32, u32)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(at, &count)| (self.offset + at as i32, count))
    }

    #[inline(always)]
    fn add(&mut self, index: i32, count: u32) {
        if self.counts.is_empty() {
            self.offset = index - MARGIN;
            self.counts.resize(2 * MARGIN as usize + 1, 0);
        }
        if index < self.offset || index >= self.offset + self.counts.len() as i32 {
            self.grow(index);
        }
        let at = (index.max(self.offset) - self.offset) as usize;
        self.counts[at] += count;
    }

    /// Makes room for `index`, with a margin, merging the lowest buckets if the range would
    /// exceed [`MAX_BUCKETS`].
    fn grow(&mut self, index: i32) {
        let low = self.offset.min(index - MARGIN);
        let high = (self.offset + self.counts.len() as i32).max(index + MARGIN + 1);
        let mut counts = vec![0u32; (high - low) as usize];
        let shift = (self.offset - low) as usize;
        counts[shift..shift + self.counts.len()].copy_from_slice(&self.counts);
        self.counts = counts;
        self.offset = low;
        if self.counts.len() > MAX_BUCKETS {
            let excess = self.counts.len() - MAX_BUCKETS;
            let merged: u32 = self.counts.drain(..excess).sum();
            self.counts[0] += merged;
            self.offset += excess as i32;
        }
    }

    fn merge(&mut self, other: &Store) {
        for (index, count) in other.occupied() {
            self.add(index, count);
        }
    }

    /// Takes `count` out of bucket `index`, which was counted here; buckets merged below the
    /// lowest kept are found where they were merged.
    fn remove(&mut self, index: i32, count: u32) {
        if let Some(held) = usize::try_from(index.max(self.offset) - self.offset)
            .ok()
            .and_then(|at| self.counts.get_mut(at))
        {
            *held = held.saturating_sub(count);
        }
    }
}

/// Buckets per power of two: the most for which a bucket's upper bound, `2^(1/35)` ≈ 1.0200
/// times its lower, stays within `γ` ≈ 1.0202. With a whole number per power of two, a value's
/// bucket follows from its exponent and the leading bits of its mantissa, read from a table:
/// no logarithm, no polynomial, no float to integer conversion per value.
const BUCKETS_PER_OCTAVE: i32 = 35;

/// The leading mantissa bits that pick a cell of [`CELLS`]. A cell, 1/128 of the range of
/// mantissas, is narrower than any bucket (the narrowest, the first of an octave, spans 2% of
/// it), so at most one bucket starts inside it.
const CELL_BITS: u32 = 7;

/// Where each bucket of an octave starts: the mantissa fraction (52 bits) of `2^(j/35)`.
const STARTS: [u64; BUCKETS_PER_OCTAVE as usize] = bucket_starts();

/// For each cell: the bucket of the octave it starts in, and the fraction where the next
/// bucket starts inside it (`u64::MAX` when none does).
const CELLS: [(u32, u64); 1 << CELL_BITS] = cells();

/// The fractions of [`STARTS`]: `x = 2^(j/35)` by Newton's method on `x^35 = 2^j`, which
/// compile-time evaluation can do (it has no `exp2`). Any bounds that rise with `j` and lie
/// within a few ulps of the exact ones keep the accuracy; the tests check every bucket.
const fn bucket_starts() -> [u64; BUCKETS_PER_OCTAVE as usize] {
    const fn power(x: f64, n: i32) -> f64 {
        let mut result = 1.0;
        let mut i = 0;
        while i < n {
            result *= x;
            i += 1;
        }
        result
    }
    let n = BUCKETS_PER_OCTAVE;
    let mut starts = [0u64; BUCKETS_PER_OCTAVE as usize];
    let mut j = 1;
    while j < n {
        let target = (1u64 << j) as f64;
        let mut x = 1.0 + j as f64 / n as f64;
        let mut round = 0;
        while round < 64 {
            x -= (power(x, n) - target) / (n as f64 * power(x, n - 1));
            round += 1;
        }
        starts[j as usize] = ((x - 1.0) * (1u64 << 52) as f64) as u64;
        j += 1;
    }
    starts
}

const fn cells() -> [(u32, u64); 1 << CELL_BITS] {
    let mut cells = [(0u32, u64::MAX); 1 << CELL_BITS];
    let mut cell = 0;
    while cell < cells.len() {
        let (from, to) = (
            (cell as u64) << (52 - CELL_BITS),
            (cell as u64 + 1) << (52 - CELL_BITS),
        );
        let mut bucket = 0;
        while bucket + 1 < STARTS.len() && STARTS[bucket + 1] <= from {
            bucket += 1;
        }
        let next = if bucket + 1 < STARTS.len() && STARTS[bucket + 1] < to {
            STARTS[bucket + 1]
        } else {
            u64::MAX
        };
        cells[cell] = (bucket as u32, next);
        cell += 1;
    }
    cells
}

/// The bucket of a positive, normal magnitude.
#[inline]
fn bucket_of(magnitude: f64) -> i32 {
    let bits = magnitude.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let fraction = bits & ((1 << 52) - 1);
    let (bucket, next) = CELLS[(fraction >> (52 - CELL_BITS)) as usize];
    exponent * BUCKETS_PER_OCTAVE + bucket as i32 + i32::from(fraction >= next)
}

/// The magnitude where bucket `index` starts.
fn bucket_start(index: i32) -> f64 {
    let exponent = index.div_euclid(BUCKETS_PER_OCTAVE);
    let start = STARTS[index.rem_euclid(BUCKETS_PER_OCTAVE) as usize];
    (1.0 + start as f64 / (1u64 << 52) as f64) * f64::from(exponent).exp2()
}

/// The value that represents bucket `index`: within the relative accuracy of every value in it,
/// which lies between its start and at most `γ` times that.
fn value_of(index: i32) -> f64 {
    bucket_start(index) * (1.0 + RELATIVE_ACCURACY)
}

impl Buckets {
    /// Adds a finite value.
    #[inline]
    fn insert(&mut self, value: f64) {
        self.count += 1;
        let bucket = bucket_of_value(value);
        let Some(place) = Place::pack(bucket) else {
            self.count_at(bucket);
            return;
        };
        self.pending[self.pending_len as usize] = place;
        self.pending_len += 1;
        if self.pending_len as usize == PENDING {
            self.flush();
        }
    }

    /// Counts the pending values in their buckets.
    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending_len) as usize;
        crate::prefetch::prefetch_slice(&self.positive.counts);
        for at in 0..pending {
            self.count_at(self.pending[at].unpack());
        }
    }

    /// Counts a value in its bucket (`count` already includes it).
    #[inline(always)]
    fn count_at(&mut self, bucket: Bucket) {
        match bucket {
            None => self.zeros += 1,
            Some((true, index)) => self.positive.add(index, 1),
            Some((false, index)) => self.negative.add(index, 1),
        }
    }

    /// Takes out a value counted in `bucket`.
    fn uncount_at(&mut self, bucket: Bucket) {
        self.count = self.count.saturating_sub(1);
        match bucket {
            None => self.zeros = self.zeros.saturating_sub(1),
            Some((true, index)) => self.positive.remove(index, 1),
            Some((false, index)) => self.negative.remove(index, 1),
        }
    }

    /// Takes out one value of `bucket` added before, pending or counted.
    fn remove_from(&mut self, bucket: Bucket) {
        let pending = &mut self.pending[..self.pending_len as usize];
        let place = Place::pack(bucket);
        match pending.iter().position(|p| Some(*p) == place) {
            Some(at) => {
                pending.swap(at, pending.len() - 1);
                self.pending_len -= 1;
                self.count = self.count.saturating_sub(1);
            }
            None => self.uncount_at(bucket),
        }
    }

    /// Takes out everything `other` holds, which was merged in before: its counted values are
    /// counted here, its pending ones pending or counted.
    fn remove(&mut self, other: &Buckets) {
        let pending = &other.pending[..other.pending_len as usize];
        self.count = self
            .count
            .saturating_sub(other.count - pending.len() as u64);
        self.zeros = self.zeros.saturating_sub(other.zeros);
        for (index, count) in other.positive.occupied() {
            self.positive.remove(index, count);
        }
        for (index, count) in other.negative.occupied() {
            self.negative.remove(index, count);
        }
        for &place in pending {
            self.remove_from(place.unpack());
        }
    }

    fn merge(&mut self, other: &Buckets) {
        self.count += other.count;
        self.zeros += other.zeros;
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        for &place in &other.pending[..other.pending_len as usize] {
            self.count_at(place.unpack());
        }
    }

    /// The value of rank `rank` (0-based) in ascending order; pending values must be flushed.
    fn at_rank(&self, rank: u64) -> f64 {
        debug_assert_eq!(self.pending_len, 0);
        let mut seen = 0;
        for (index, count) in self
            .negative
            .occupied()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            seen += count as u64;
            if seen > rank {
                return -value_of(index);
            }
        }
        seen += self.zeros;
        if seen > rank {
            return 0.0;
        }
        let mut highest = 0.0;
        for (index, count) in self.positive.occupied() {
            seen += count as u64;
            highest = value_of(index);
            if seen > rank {
                return highest;
            }
        }
        highest
    }
}

impl Sketch {
    /// Adds a value. Non-finite values are left out: they have no place on a log scale.
    pub fn insert(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        match self {
            Sketch::Exact(values) if values.len() < EXACT_LIMIT => values.push(value),
            Sketch::Exact(values) => {
                let mut buckets = Buckets::default();
                for &v in values.iter() {
                    buckets.insert(v);
                }
                buckets.insert(value);
                *self = Sketch::Buckets(Box::new(buckets));
            }
            Sketch::Buckets(buckets) => buckets.insert(value),
        }
    }

    /// An empty sketch with room for `values` exact values, so that filling it allocates once.
    pub fn with_capacity(values: usize) -> Self {
        if values <= INLINE || values > EXACT_LIMIT {
            Sketch::default()
        } else {
            Sketch::Exact(SmallVec::with_capacity(values))
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &Sketch) {
        match other {
            Sketch::Exact(values) => match self {
                Sketch::Buckets(buckets) => values
                    .iter()
                    .filter(|v| v.is_finite())
                    .for_each(|&v| buckets.insert(v)),
                Sketch::Exact(_) => values.iter().for_each(|&v| self.insert(v)),
            },
            Sketch::Buckets(theirs) => match self {
                Sketch::Buckets(ours) => ours.merge(theirs),
                Sketch::Exact(values) => {
                    let mut merged = theirs.as_ref().clone();
                    for &v in values.iter() {
                        merged.insert(v);
                    }
                    *self = Sketch::Buckets(Box::new(merged));
                }
            },
        }
    }

    /// Takes out everything `other` holds, which must have been merged into this sketch: a
    /// window sliding past a step takes that step's values out. A bucketed sketch stays
    /// bucketed however few values are left. Returns false when it cannot take them out
    /// (bucketed values out of an exact sketch, exact values it does not hold): what it holds
    /// then is undefined, and the caller must build it again.
    pub fn remove(&mut self, other: &Sketch) -> bool {
        match (self, other) {
            (Sketch::Exact(values), Sketch::Exact(gone)) => {
                gone.iter().filter(|v| v.is_finite()).all(|value| {
                    let at = values.iter().position(|v| v.to_bits() == value.to_bits());
                    at.map(|at| values.swap_remove(at)).is_some()
                })
            }
            (Sketch::Buckets(buckets), Sketch::Exact(gone)) => {
                gone.iter()
                    .filter(|v| v.is_finite())
                    .for_each(|&v| buckets.remove_from(bucket_of_value(v)));
                true
            }
            (Sketch::Buckets(buckets), Sketch::Buckets(gone)) => {
                buckets.remove(gone);
                true
            }
            (Sketch::Exact(_), Sketch::Buckets(_)) => false,
        }
    }

    /// Empties it, keeping the room its exact values had: a ring of step sketches is refilled
    /// every step.
    pub fn clear(&mut self) {
        match self {
            Sketch::Exact(values) => values.clear(),
            Sketch::Buckets(_) => *self = Sketch::default(),
        }
    }

    /// How many values it holds.
    pub fn count(&self) -> u64 {
        match self {
            Sketch::Exact(values) => values.len() as u64,
            Sketch::Buckets(buckets) => buckets.count,
        }
    }

    /// The `q`-quantile: the value of rank `⌊q·(n−1)⌋` in ascending order, exact for small
    /// windows and within 1% relative error otherwise. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (count - 1) as f64).floor() as u64;
        Some(match self {
            Sketch::Exact(values) => {
                let mut sorted: SmallVec<[f64; EXACT_LIMIT]> = values.iter().copied().collect();
                *sorted
                    .select_nth_unstable_by(rank as usize, f64::total_cmp)
                    .1
            }
            Sketch::Buckets(buckets) if buckets.pending_len > 0 => {
                let mut flushed = buckets.as_ref().clone();
                flushed.flush();
                flushed.at_rank(rank)
            }
            Sketch::Buckets(buckets) => buckets.at_rank(rank),
        })
    }

    /// The values the sketch answers from, ascending, each with how many values it stands for:
    /// the exact values, or each occupied bucket's value (within the sketch's relative error of
    /// every value counted in it). Stores write this, so that a quantile over any set of
    /// windows is a weighted quantile of their points (ClickHouse's `quantileExactWeighted`).
    pub fn points(&self) -> Vec<(f64, u64)> {
        let mut points: Vec<(f64, u64)> = match self {
            Sketch::Exact(values) => values.iter().map(|&v| (v, 1)).collect(),
            Sketch::Buckets(buckets) => {
                let mut flushed = buckets.as_ref().clone();
                flushed.flush();
                let negative = flushed
                    .negative
                    .occupied()
                    .map(|(index, count)| (-value_of(index), count as u64));
                let zeros = (flushed.zeros > 0).then_some((0.0, flushed.zeros));
                let positive = flushed
                    .positive
                    .occupied()
                    .map(|(index, count)| (value_of(index), count as u64));
                negative.chain(zeros).chain(positive).collect()
            }
        };
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
            }
            same
        });
        points
    }

    /// Heap bytes used, for the state-size figures of `pipectl bench`.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Sketch::Exact(values) if values.spilled() => values.capacity() * 8,
            Sketch::Exact(_) => 0,
            Sketch::Buckets(buckets) => {
                std::mem::size_of::<Buckets>()
                    + (buckets.negative.counts.capacity() + buckets.positive.counts.capacity()) * 4
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_weigh_to_the_same_quantiles_as_the_sketch() {
        let mut exact = Sketch::default();
        for v in [3.0, 1.0, 3.0, 2.0] {
            exact.insert(v);
        }
        assert_eq!(exact.points(), [(1.0, 1), (2.0, 1), (3.0, 2)]);
        let mut buckets = Sketch::default();
        for i in 0..1_000 {
            buckets.insert(f64::from(i % 100) - 20.0);
        }
        let points = buckets.points();
        assert_eq!(points.iter().map(|p| p.1).sum::<u64>(), 1_000);
        for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
            let rank = (q * 999.0_f64).floor() as u64;
            let mut seen = 0;
            let weighted = points
                .iter()
                .find(|p| {
                    seen += p.1;
                    seen > rank
                })
                .unwrap()
                .0;
            assert_eq!(Some(weighted), buckets.quantile(q), "q = {q}");
        }
    }

    fn exact_quantile(values: &mut [f64], q: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        values[(q * (values.len() - 1) as f64).floor() as usize]
    }

    #[test]
    fn every_value_is_within_one_percent_of_its_bucket_and_buckets_are_in_order() {
        // Magnitudes from 1e-9 to 1e12 a thousand per power of two, and every bucket start.
        let mut previous = i32::MIN;
        for step in 0..70_000 {
            let magnitude = 1e-9 * (f64::from(step) / 1000.0).exp2();
            let bucket = bucket_of(magnitude);
            assert!(
                bucket >= previous,
                "{magnitude}: bucket {bucket} after {previous}"
            );
            previous = bucket;
            let value = value_of(bucket);
            assert!(
                (value - magnitude).abs() <= RELATIVE_ACCURACY * magnitude * (1.0 + 1e-9),
                "{magnitude} in bucket {bucket} shown as {value}"
            );
            let start = bucket_start(bucket);
            assert!(
                start <= magnitude * (1.0 + 1e-12),
                "{magnitude} below {start}"
            );
            assert!(
                bucket_of(start * (1.0 + 1e-12)) == bucket,
                "bucket {bucket} starts at {start}"
            );
        }
    }

    #[test]
    fn buckets_are_narrow_enough_for_the_bound_and_each_cell_holds_one_boundary_at_most() {
        // γ: a bucket whose upper bound is at most γ times its lower keeps 1% relative error.
        let gamma = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
        for index in -200..200 {
            let ratio = bucket_start(index + 1) / bucket_start(index);
            assert!(ratio > 1.0 && ratio <= gamma, "bucket {index}: {ratio}");
        }
        let cell = 1u64 << (52 - CELL_BITS);
        for pair in STARTS.windows(2) {
            assert!(pair[1] - pair[0] > cell, "{pair:?}");
        }
    }

    #[test]
    fn values_spanning_hundreds_of_orders_of_magnitude_keep_the_upper_quantiles() {
        // 4096 buckets cover 35 orders of magnitude; the lower ones are merged.
        let mut values: Vec<f64> = (-9..300).map(|k| 10f64.powi(k)).collect();
        let mut sketch = Sketch::default();
        values.iter().for_each(|&v| sketch.insert(v));
        for q in [0.9, 0.99, 1.0] {
            let exact = exact_quantile(&mut values, q);
            let estimate = sketch.quantile(q).unwrap();
            assert!(
                (estimate - exact).abs() <= RELATIVE_ACCURACY * exact,
                "q={q}: {estimate} vs {exact}"
            );
        }
        assert_eq!(sketch.count(), values.len() as u64);
    }

    #[test]
    fn values_waiting_to_be_counted_are_counted_alike_whichever_way_they_came() {
        // 101 values: some are still pending in each sketch when they are merged or compared.
        let values: Vec<f64> = (0..101).map(|i| (i as f64 * 0.37).sin() * 50.0).collect();
        let mut whole = Sketch::default();
        values.iter().for_each(|&v| whole.insert(v));
        let (mut left, mut right) = (Sketch::default(), Sketch::default());
        values[..45].iter().for_each(|&v| left.insert(v));
        values[45..].iter().for_each(|&v| right.insert(v));
        left.merge(&right);
        assert_eq!(left, whole);
        assert_eq!(left.count(), 101);
        assert_eq!(left.quantile(0.5), whole.quantile(0.5));
    }

    #[test]
    fn taking_out_what_was_merged_leaves_the_rest() {
        let values: Vec<f64> = (0..120).map(|i| (i as f64 * 0.71).cos() * 30.0).collect();
        let sketch_of = |values: &[f64]| {
            let mut sketch = Sketch::default();
            values.iter().for_each(|&v| sketch.insert(v));
            sketch
        };
        let mut window = Sketch::default();
        let parts: Vec<Sketch> = values.chunks(3).map(sketch_of).collect();
        let bucketed = sketch_of(&values[..40]);
        // Values still waiting in a sketch wait in the one it is merged into.
        window.merge(&bucketed);
        assert!(window.remove(&bucketed));
        assert_eq!(window.count(), 0);
        assert_eq!(window.quantile(0.5), None);
        window.merge(&bucketed);
        parts[14..].iter().for_each(|part| window.merge(part));
        assert!(window.remove(&bucketed));
        parts[14..20]
            .iter()
            .for_each(|part| assert!(window.remove(part)));
        assert_eq!(window, sketch_of(&values[60..]));
        assert_eq!(window.count(), 60);
        assert_eq!(window.quantile(0.3), sketch_of(&values[60..]).quantile(0.3));
        let mut exact = sketch_of(&[1.0, 2.0]);
        assert!(!exact.remove(&sketch_of(&[3.0])), "3 was never added");
    }

    #[test]
    fn small_windows_are_exact() {
        let mut sketch = Sketch::default();
        for v in [3.0, 1.0, 2.0] {
            sketch.insert(v);
        }
        assert_eq!(sketch.quantile(0.5), Some(2.0));
        assert_eq!(sketch.quantile(1.0), Some(3.0));
        assert_eq!(Sketch::default().quantile(0.5), None);
    }

    #[test]
    fn large_windows_are_within_one_percent_including_negatives_and_zeros() {
        let mut values: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 10007) as f64 - 3000.0)
            .collect();
        let mut sketch = Sketch::default();
        let mut halves = (Sketch::default(), Sketch::default());
        for (i, &v) in values.iter().enumerate() {
            sketch.insert(v);
            if i % 2 == 0 {
                halves.0.insert(v)
            } else {
                halves.1.insert(v)
            }
        }
        halves.0.merge(&halves.1);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let exact = exact_quantile(&mut values, q);
            for estimate in [sketch.quantile(q).unwrap(), halves.0.quantile(q).unwrap()] {
                assert!(
                    (estimate - exact).abs() <= RELATIVE_ACCURACY * exact.abs() + 1e-9,
                    "q={q}: {estimate} vs {exact}"
                );
            }
        }
    }
}
