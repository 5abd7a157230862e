//! The running windows of one series: a window per length over the series' steps, slid one
//! step at a time by adding the step entering and taking out the step leaving, exactly, so that
//! the work per boundary does not grow with the window.

use pipe_dsl::plan::Aggregate;

use super::slots::{Places, Ring, Slot};
use super::term_state::TermState;
use crate::state::ExactSum;

/// A window of one length over one series' steps, slid one step at a time.
#[derive(Debug, Clone)]
pub(super) struct Running {
    over_steps: u64,
    /// The window covers steps `[through − over_steps, through)`; `None` until first used.
    through: Option<u64>,
    count: u64,
    /// Samples in the window with a counter increase ([`Slot::increases`]).
    increases: u64,
    sum: ExactSum,
    increase: ExactSum,
    /// Whether a term reads `sum` (`avg`, `sum`) and `increase` (`rate`, `increase`): what no
    /// term reads is not kept, sparing two exact additions per step entering or leaving.
    with_sum: bool,
    with_increase: bool,
    /// The extremes of the window, valid unless `stale`: a step leaving the window that held
    /// one of them makes them stale, and only then are the steps read again, when a term needs
    /// them. Reading every step of every window at every boundary missed the cache for each.
    min: f64,
    max: f64,
    stale: bool,
}

impl Running {
    /// A window of `over_steps` steps that keeps no sum and no increase until a term needs
    /// them ([`Running::keep`]).
    pub(super) fn unread(over_steps: u64) -> Self {
        Running {
            with_sum: false,
            with_increase: false,
            ..Running::new(over_steps)
        }
    }

    /// Keeps the sum (for `sum` and `avg`) and the increase (for `rate` and `increase`) too,
    /// when a term reads them.
    pub(super) fn keep(&mut self, sum: bool, increase: bool) {
        self.with_sum |= sum;
        self.with_increase |= increase;
    }

    /// Its length in steps.
    pub(super) fn over_steps(&self) -> u64 {
        self.over_steps
    }

    /// Whether no sample is in the window.
    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn new(over_steps: u64) -> Self {
        Running {
            over_steps,
            through: None,
            count: 0,
            increases: 0,
            sum: ExactSum::default(),
            increase: ExactSum::default(),
            with_sum: true,
            with_increase: true,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            stale: false,
        }
    }

    fn apply(&mut self, slot: &Slot, sign: f64) {
        if sign > 0.0 {
            self.count += slot.count as u64;
            self.increases += slot.increases as u64;
            self.min = self.min.min(slot.min);
            self.max = self.max.max(slot.max);
        } else {
            self.count -= slot.count as u64;
            self.increases -= slot.increases as u64;
            self.stale |= !(slot.min > self.min && slot.max < self.max);
        }
        // A step leaving takes out what it brought, NaN and infinities included.
        let entering = sign > 0.0;
        if self.with_sum {
            if entering {
                self.sum.add(slot.sum);
            } else {
                self.sum.remove(slot.sum);
            }
        }
        if self.with_increase {
            if entering {
                self.increase.add(slot.increase);
            } else {
                self.increase.remove(slot.increase);
            }
        }
    }

    /// The window's smallest and largest values, read again from the steps when stale.
    fn extremes(&mut self, places: Places, slots: Ring<'_>) -> (f64, f64) {
        if self.stale {
            let held = places.window(self.over_steps, slots).map(|at| &slots[at]);
            (self.min, self.max) = held.fold((f64::INFINITY, f64::NEG_INFINITY), |acc, s| {
                (acc.0.min(s.min), acc.1.max(s.max))
            });
            self.stale = false;
        }
        (self.min, self.max)
    }

    /// Slides the window to end at the step `places` end at.
    pub(super) fn slide_to(&mut self, places: Places, slots: Ring<'_>) {
        let end = places.end();
        let held = |step: u64| Some(&slots[places.held(step, slots)?]);
        match self.through {
            Some(through) if end >= through && end - through <= self.over_steps => {
                for step in through..end {
                    if let Some(slot) = held(step) {
                        self.apply(slot, 1.0);
                    }
                    if let Some(slot) = step.checked_sub(self.over_steps).and_then(held) {
                        self.apply(slot, -1.0);
                    }
                }
            }
            _ => {
                *self = Running {
                    with_sum: self.with_sum,
                    with_increase: self.with_increase,
                    ..Running::new(self.over_steps)
                };
                for step in end.saturating_sub(self.over_steps)..end {
                    if let Some(slot) = held(step) {
                        self.apply(slot, 1.0);
                    }
                }
            }
        }
        self.through = Some(end);
    }
}

/// What a term needs of one series' window ending at step `end`: count, sum and increase from
/// the running window; extremes and the latest value read from the steps. `None` for quantiles,
/// whose windows are kept per group ([`GroupValues`]).
pub(super) fn term_state(
    aggregate: Option<Aggregate>,
    running: &mut Running,
    places: Places,
    slots: Ring<'_>,
) -> Option<TermState> {
    Some(match aggregate {
        None => TermState::Present,
        Some(Aggregate::Count) => TermState::Count(running.count),
        Some(Aggregate::Sum) => TermState::Sum(running.sum.clone()),
        Some(Aggregate::Avg) => TermState::Mean {
            count: running.count,
            sum: running.sum.clone(),
        },
        // A series with no sample after its first in the window has no rate yet, as in
        // PromQL: a new series does not read as a counter at rest.
        Some(Aggregate::Rate | Aggregate::Increase) if running.increases == 0 => return None,
        Some(Aggregate::Rate | Aggregate::Increase) => {
            TermState::Increase(running.increase.clone())
        }
        Some(Aggregate::Min) => TermState::Min(running.extremes(places, slots).0),
        Some(Aggregate::Max) => TermState::Max(running.extremes(places, slots).1),
        Some(Aggregate::Last) => {
            // Steps hold samples in time order: the latest is in the newest step held.
            let newest = places.window(running.over_steps, slots).next_back();
            let newest = newest.map(|at| &slots[at]);
            let (ts, value) = newest.map_or((0, f64::NAN), |s| (s.last_ts, s.last));
            TermState::Last { ts, value }
        }
        Some(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sliding_window_equals_a_window_summed_afresh() {
        // Steps of 0 to 22 values, some steps empty, some with a NaN or an infinity that
        // must leave the window with their step.
        let mut slots = vec![Slot::default(); 4];
        let mut sliding = Running::new(3);
        let mut finite_after_non_finite = false;
        for step in 0..60u64 {
            let at = (step % 4) as usize;
            slots[at] = Slot::empty(step);
            for i in 0..(step * 7) % 23 {
                let value = match (step % 13, i) {
                    (2, 1) => f64::NAN,
                    (6, 0) => f64::INFINITY,
                    (7, 3) => f64::NEG_INFINITY,
                    _ => ((step * 3 + i) % 9) as f64 - 2.0 + 1e-3,
                };
                slots[at].insert(step * 10, value, Some(0.5));
            }
            let places = Places::new(4, step + 1);
            let ring = Ring::contiguous(&slots);
            sliding.slide_to(places, ring);
            let mut fresh = Running::new(3);
            fresh.slide_to(places, ring);
            assert_eq!(
                (sliding.count, &sliding.sum, &sliding.increase),
                (fresh.count, &fresh.sum, &fresh.increase),
                "at step {step}"
            );
            assert_eq!(
                sliding.sum.value().to_bits(),
                fresh.sum.value().to_bits(),
                "at step {step}"
            );
            finite_after_non_finite |= sliding.sum.value().is_finite() && step > 20;
            let (extremes, expected) =
                (sliding.extremes(places, ring), fresh.extremes(places, ring));
            assert_eq!(
                (extremes.0.to_bits(), extremes.1.to_bits()),
                (expected.0.to_bits(), expected.1.to_bits()),
                "at step {step}"
            );
        }
        assert!(
            finite_after_non_finite,
            "windows are finite again once NaN and infinities have left"
        );
    }
}
