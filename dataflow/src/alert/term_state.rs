//! What a term needs of a group's window, and nothing more: the count and sum for `avg`, the
//! extreme for `max`, a sketch for quantiles. Step records carry these, so they stay small.

use pipe_dsl::plan::Aggregate;
use serde::{Deserialize, Serialize};

use crate::state::{ExactSum, Sketch};

/// A term's mergeable state for one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TermState {
    /// For `count`.
    Count(u64),
    /// For `sum`.
    Sum(ExactSum),
    /// For `avg`.
    Mean {
        /// Samples.
        count: u64,
        /// Their sum.
        sum: ExactSum,
    },
    /// For `min`.
    Min(f64),
    /// For `max`.
    Max(f64),
    /// For `last`.
    Last {
        /// Timestamp of the latest sample.
        ts: u64,
        /// Its value.
        value: f64,
    },
    /// For `increase` and `rate`.
    Increase(ExactSum),
    /// For quantiles.
    Quantile(Sketch),
    /// A group's value, final where it was computed because all the group's series are there:
    /// the quantile of a single series' window, whose values would otherwise be copied only to
    /// be read once.
    Value(f64),
    /// For `absent`: the group had samples.
    Present,
}

impl TermState {
    /// Merges another group window of the same term.
    pub fn merge(&mut self, other: &TermState) {
        match (self, other) {
            (TermState::Count(a), TermState::Count(b)) => *a += b,
            (TermState::Sum(a), TermState::Sum(b))
            | (TermState::Increase(a), TermState::Increase(b)) => a.merge(b),
            (TermState::Mean { count, sum }, TermState::Mean { count: c, sum: s }) => {
                *count += c;
                sum.merge(s);
            }
            (TermState::Min(a), TermState::Min(b)) => *a = a.min(*b),
            (TermState::Max(a), TermState::Max(b)) => *a = a.max(*b),
            (TermState::Last { ts, value }, TermState::Last { ts: t, value: v })
                if (*t, *v) > (*ts, *value) =>
            {
                (*ts, *value) = (*t, *v);
            }
            (TermState::Quantile(a), TermState::Quantile(b)) => a.merge(b),
            _ => {}
        }
    }

    /// The term's value for the group over a window of `over` milliseconds.
    pub fn value(&self, aggregate: Aggregate, over: u64) -> Option<f64> {
        Some(match self {
            TermState::Count(count) => *count as f64,
            TermState::Sum(sum) => sum.value(),
            TermState::Mean { count, sum } => sum.value() / *count as f64,
            TermState::Min(value) | TermState::Max(value) => *value,
            TermState::Last { value, .. } => *value,
            TermState::Increase(increase) if aggregate == Aggregate::Rate => {
                increase.value() * 1000.0 / over as f64
            }
            TermState::Increase(increase) => increase.value(),
            TermState::Quantile(sketch) => sketch.quantile(aggregate.quantile()?)?,
            TermState::Value(value) => *value,
            TermState::Present => 1.0,
        })
    }
}
