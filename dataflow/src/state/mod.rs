//! The mergeable state of a group in a window: what every aggregate is computed from. Windows
//! are built from samples, cascades and alert windows from merged states, never from re-read
//! samples.

mod exact_sum;
mod sketch;

pub use exact_sum::ExactSum;
pub use sketch::{EXACT_LIMIT, INLINE, RELATIVE_ACCURACY, Sketch};

use pipe_dsl::plan::Aggregate;
use serde::{Deserialize, Serialize};

/// Count, sum, extremes, the latest value, counter increase and a quantile sketch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollupState {
    /// Samples seen.
    pub count: u64,
    /// Their sum, exact, so that merging in any order gives the same bits.
    pub sum: ExactSum,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Timestamp of the latest.
    pub last_ts: u64,
    /// Value of the latest (the larger on equal timestamps).
    pub last: f64,
    /// Counter increase: rises between consecutive samples of each series, resets counted as
    /// restarts from zero. Exact, like `sum`; boxed, because only `rate` and `increase` need it.
    pub increase: Option<Box<ExactSum>>,
    /// Quantiles, when a quantile aggregate needs them.
    pub sketch: Sketch,
}

impl Default for RollupState {
    fn default() -> Self {
        RollupState {
            count: 0,
            sum: ExactSum::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last_ts: 0,
            last: f64::NAN,
            increase: None,
            sketch: Sketch::default(),
        }
    }
}

impl PartialEq for RollupState {
    /// Equal when they summarise the same samples: all empty states are equal, and values
    /// compare by their bits.
    fn eq(&self, other: &Self) -> bool {
        if self.count == 0 || other.count == 0 {
            return self.count == other.count;
        }
        self.count == other.count
            && self.sum == other.sum
            && self.min.to_bits() == other.min.to_bits()
            && self.max.to_bits() == other.max.to_bits()
            && (self.last_ts, self.last.to_bits()) == (other.last_ts, other.last.to_bits())
            && self.increase.as_deref().cloned().unwrap_or_default()
                == other.increase.as_deref().cloned().unwrap_or_default()
            && self.sketch == other.sketch
    }
}

/// The increase of a counter from `previous` to `value`: a fall means the counter restarted from
/// zero, so the whole new value is the increase.
pub fn counter_delta(previous: f64, value: f64) -> f64 {
    if value >= previous {
        value - previous
    } else {
        value
    }
}

impl RollupState {
    /// Adds one sample. `delta` is the counter increase into it from its series' previous sample
    /// (`None` when nothing needs counters); the sketch is fed only when `with_sketch`.
    #[inline]
    pub fn insert(&mut self, ts: u64, value: f64, delta: Option<f64>, with_sketch: bool) {
        if self.count == 0 || ts > self.last_ts || (ts == self.last_ts && value > self.last) {
            self.last_ts = ts;
            self.last = value;
        }
        self.count += 1;
        self.sum.add(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if let Some(delta) = delta {
            self.increase.get_or_insert_with(Box::default).add(delta);
        }
        if with_sketch {
            self.sketch.insert(value);
        }
    }

    /// Adds everything another state holds.
    pub fn merge(&mut self, other: &RollupState) {
        if other.count == 0 {
            return;
        }
        if self.count == 0
            || other.last_ts > self.last_ts
            || (other.last_ts == self.last_ts && other.last > self.last)
        {
            self.last_ts = other.last_ts;
            self.last = other.last;
        }
        self.count += other.count;
        self.sum.merge(&other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if let Some(increase) = &other.increase {
            self.increase
                .get_or_insert_with(Box::default)
                .merge(increase);
        }
        self.sketch.merge(&other.sketch);
    }

    /// The value of an aggregate over a window of `window_ms`; `None` when the state is empty
    /// (except `count`, `increase` and `rate`, which are zero).
    pub fn value(&self, aggregate: Aggregate, window_ms: u64) -> Option<f64> {
        if self.count == 0 {
            return match aggregate {
                Aggregate::Count | Aggregate::Increase | Aggregate::Rate => Some(0.0),
                _ => None,
            };
        }
        Some(match aggregate {
            Aggregate::Count => self.count as f64,
            Aggregate::Sum => self.sum.value(),
            Aggregate::Min => self.min,
            Aggregate::Max => self.max,
            Aggregate::Avg => self.sum.value() / self.count as f64,
            Aggregate::Last => self.last,
            Aggregate::Increase => self.increase(),
            Aggregate::Rate => self.increase() * 1000.0 / window_ms as f64,
            quantile => return self.sketch.quantile(quantile.quantile().unwrap_or(0.5)),
        })
    }

    /// Heap bytes beyond the struct itself.
    pub fn heap_bytes(&self) -> usize {
        self.sketch.heap_bytes()
            + self.sum.heap_bytes()
            + self
                .increase
                .as_ref()
                .map_or(0, |i| std::mem::size_of::<ExactSum>() + i.heap_bytes())
    }

    /// Whether a counter increase was added: the window held a sample of a series after its
    /// first.
    pub fn has_increase(&self) -> bool {
        self.increase.is_some()
    }

    /// The counter increase (zero when no counter increase was added).
    pub fn increase(&self) -> f64 {
        self.increase
            .as_ref()
            .map_or(0.0, |increase| increase.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_equals_inserting_everything() {
        let samples = [
            (1, 5.0, None),
            (2, 3.0, Some(0.0)),
            (3, 9.0, Some(6.0)),
            (4, 1.0, Some(1.0)),
        ];
        let mut whole = RollupState::default();
        let (mut a, mut b) = (RollupState::default(), RollupState::default());
        for (i, &(ts, v, d)) in samples.iter().enumerate() {
            whole.insert(ts, v, d, true);
            if i < 2 {
                a.insert(ts, v, d, true)
            } else {
                b.insert(ts, v, d, true)
            }
        }
        b.merge(&a);
        assert_eq!(b.count, whole.count);
        assert_eq!(b, whole);
        assert_eq!(b.value(Aggregate::P50, 1), Some(3.0));
        assert_eq!(b.value(Aggregate::Last, 1), Some(1.0));
        assert_eq!(b.value(Aggregate::Rate, 2000), Some(3.5));
    }

    #[test]
    fn counter_resets_count_as_restarts_from_zero() {
        assert_eq!(counter_delta(10.0, 15.0), 5.0);
        assert_eq!(counter_delta(10.0, 3.0), 3.0);
    }

    #[test]
    fn an_empty_window_has_no_average_but_a_zero_count() {
        let empty = RollupState::default();
        assert_eq!(empty.value(Aggregate::Avg, 60_000), None);
        assert_eq!(empty.value(Aggregate::Count, 60_000), Some(0.0));
    }
}
