//! The aggregate functions and the window state each one needs.

use serde::{Deserialize, Serialize};

/// An aggregate over the samples of a group in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// Number of samples.
    Count,
    /// Sum of values.
    Sum,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Mean value.
    Avg,
    /// Value of the latest sample.
    Last,
    /// Median, from a sketch with 1% relative error.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Per-second increase of a counter, resets taken into account.
    Rate,
    /// Increase of a counter, resets taken into account.
    Increase,
}

impl Aggregate {
    /// Every aggregate, in documentation order.
    pub const ALL: [Aggregate; 13] = [
        Aggregate::Count,
        Aggregate::Sum,
        Aggregate::Min,
        Aggregate::Max,
        Aggregate::Avg,
        Aggregate::Last,
        Aggregate::P50,
        Aggregate::P90,
        Aggregate::P95,
        Aggregate::P99,
        Aggregate::P999,
        Aggregate::Rate,
        Aggregate::Increase,
    ];

    /// Its name in the language.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Avg => "avg",
            Aggregate::Last => "last",
            Aggregate::P50 => "p50",
            Aggregate::P90 => "p90",
            Aggregate::P95 => "p95",
            Aggregate::P99 => "p99",
            Aggregate::P999 => "p999",
            Aggregate::Rate => "rate",
            Aggregate::Increase => "increase",
        }
    }

    /// The aggregate called `name`.
    pub fn from_name(name: &str) -> Option<Aggregate> {
        Aggregate::ALL.into_iter().find(|agg| agg.name() == name)
    }

    /// The quantile it estimates, for `p50` … `p999`.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Aggregate::P50 => Some(0.5),
            Aggregate::P90 => Some(0.9),
            Aggregate::P95 => Some(0.95),
            Aggregate::P99 => Some(0.99),
            Aggregate::P999 => Some(0.999),
            _ => None,
        }
    }

    /// What it documents itself as.
    pub fn doc(self) -> &'static str {
        match self {
            Aggregate::Count => "number of samples",
            Aggregate::Sum => "sum of the values",
            Aggregate::Min => "smallest value",
            Aggregate::Max => "largest value",
            Aggregate::Avg => "mean value (sum / count)",
            Aggregate::Last => "value of the sample with the latest timestamp",
            Aggregate::P50 => "median, within 1% relative error",
            Aggregate::P90 => "90th percentile, within 1% relative error",
            Aggregate::P95 => "95th percentile, within 1% relative error",
            Aggregate::P99 => "99th percentile, within 1% relative error",
            Aggregate::P999 => "99.9th percentile, within 1% relative error",
            Aggregate::Rate => {
                "per-second increase of a counter over the window, resets taken into account"
            }
            Aggregate::Increase => {
                "increase of a counter over the window, resets taken into account"
            }
        }
    }

    /// The window state it is computed from.
    pub fn needs(self) -> StateSet {
        let mut state = StateSet::default();
        match self {
            Aggregate::Count => state.count = true,
            Aggregate::Sum => state.sum = true,
            Aggregate::Min => state.min = true,
            Aggregate::Max => state.max = true,
            Aggregate::Avg => {
                state.count = true;
                state.sum = true;
            }
            Aggregate::Last => state.last = true,
            Aggregate::P50 | Aggregate::P90 | Aggregate::P95 | Aggregate::P99 | Aggregate::P999 => {
                state.sketch = true
            }
            Aggregate::Rate | Aggregate::Increase => state.counter = true,
        }
        state
    }
}

impl std::fmt::Display for Aggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which parts of window state a rollup keeps per group and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateSet {
    /// Sample count.
    pub count: bool,
    /// Sum of values.
    pub sum: bool,
    /// Smallest value.
    pub min: bool,
    /// Largest value.
    pub max: bool,
    /// Latest value and its timestamp.
    pub last: bool,
    /// A quantile sketch.
    pub sketch: bool,
    /// First and last counter values and the sum of resets.
    pub counter: bool,
}

impl StateSet {
    /// The state that all of `aggregates` need.
    pub fn for_aggregates(aggregates: &[Aggregate]) -> StateSet {
        aggregates
            .iter()
            .fold(StateSet::default(), |state, agg| state.union(agg.needs()))
    }

    /// Both sets of state.
    pub fn union(self, other: StateSet) -> StateSet {
        StateSet {
            count: self.count || other.count,
            sum: self.sum || other.sum,
            min: self.min || other.min,
            max: self.max || other.max,
            last: self.last || other.last,
            sketch: self.sketch || other.sketch,
            counter: self.counter || other.counter,
        }
    }

    /// The parts of `needed` this set lacks, named for messages; empty when it has them all.
    pub fn missing(self, needed: StateSet) -> Vec<&'static str> {
        self.parts()
            .into_iter()
            .zip(needed.parts())
            .filter(|((have, _), (need, _))| *need && !*have)
            .map(|(_, (_, name))| name)
            .collect()
    }

    /// The names of the parts kept.
    pub fn kept(self) -> Vec<&'static str> {
        self.parts()
            .into_iter()
            .filter(|(have, _)| *have)
            .map(|(_, name)| name)
            .collect()
    }

    fn parts(self) -> [(bool, &'static str); 7] {
        [
            (self.count, "count"),
            (self.sum, "sum"),
            (self.min, "min"),
            (self.max, "max"),
            (self.last, "last value"),
            (self.sketch, "quantile sketch"),
            (self.counter, "counter increase"),
        ]
    }
}
