//! The values of a quantile term per group, one step at a time: each step, every series of the
//! group adds its newest step's values to the group's step, and the group's window slides by
//! that step in and the oldest out. A group of one series reads that series' steps instead.
//!
//! Windowing each series and merging the windows into its group at every boundary read every
//! value of the window again for each step: a group of a hundred series over five minutes of
//! 15-second steps counted two thousand values into buckets per step, where this counts a
//! hundred.

use smallvec::SmallVec;

use super::slots::Places;
use crate::state::{EXACT_LIMIT, Sketch};

/// One group's window of values for one quantile term, and, once it has several series, its
/// own ring of step values.
#[derive(Debug, Clone)]
pub(super) struct GroupValues {
    /// The group's id.
    pub id: u64,
    /// Its series, by tracked number.
    members: SmallVec<[u32; 1]>,
    /// Each place of the ring: the step it holds (`u64::MAX` for none) and the values of all the
    /// group's series in that step. `None` while the group has one series, whose own steps are
    /// read instead, or until the ring is gathered from its series' steps.
    ring: Option<Box<[(u64, Sketch)]>>,
    /// The values of steps `[through − over, through)`; `through` is `None` until first slid.
    window: Sketch,
    through: Option<u64>,
}

impl GroupValues {
    /// A group whose first series is `member`.
    pub fn new(id: u64, member: u32) -> Self {
        GroupValues {
            id,
            members: SmallVec::from_buf([member]),
            ring: None,
            window: Sketch::default(),
            through: None,
        }
    }

    /// Adds series `member` to the group.
    pub fn join(&mut self, member: u32) {
        self.members.push(member);
    }

    /// Whether the group has several series but not yet a ring of its own: the caller then
    /// [`gather`](Self::gather)s their steps.
    pub fn needs_gathering(&self) -> bool {
        self.members.len() > 1 && self.ring.is_none()
    }

    /// Whether the group has several series, and so a ring of its own.
    pub fn is_shared(&self) -> bool {
        self.ring.is_some()
    }

    /// Builds the group's ring of `ring` places from the steps of its series: `steps_of(series)`
    /// gives each of that series' steps, with its place and values.
    pub fn gather<'a, Steps>(&mut self, ring: usize, steps_of: impl Fn(u32) -> Steps)
    where
        Steps: Iterator<Item = (u64, usize, &'a Sketch)>,
    {
        let mut own = vec![(u64::MAX, Sketch::default()); ring].into_boxed_slice();
        for &member in &self.members {
            for (step, at, values) in steps_of(member) {
                add_to(&mut own, step, at, values);
            }
        }
        self.ring = Some(own);
        self.through = None;
    }

    /// Adds a series' values of `step`, at place `at` of the ring, when the group has a ring.
    pub fn add(&mut self, step: u64, at: usize, values: &Sketch) {
        if let Some(ring) = self.ring.as_deref_mut() {
            add_to(ring, step, at, values);
        }
    }

    /// The values of the window of `over` steps that ends where `places` end; `single` gives
    /// the values of a step of the group's one series, when it has no ring.
    pub fn slide_to<'a>(
        &'a mut self,
        places: Places,
        over: u64,
        single: impl Fn(u64) -> Option<&'a Sketch>,
    ) -> &'a Sketch {
        let GroupValues {
            ring,
            window,
            through,
            ..
        } = self;
        let ring = ring.as_deref();
        let held = |step: u64| match ring {
            Some(ring) => {
                let (held, values) = &ring[places.of(step)];
                (*held == step && values.count() > 0).then_some(values)
            }
            None => single(step),
        };
        let end = places.end();
        let mut exact = true;
        match *through {
            Some(through) if end >= through && end - through <= over => {
                for step in through..end {
                    if let Some(values) = held(step) {
                        window.merge(values);
                    }
                    if let Some(values) = step.checked_sub(over).and_then(held) {
                        exact &= window.remove(values);
                    }
                }
            }
            _ => exact = false,
        }
        *through = Some(end);
        // A bucketed window down to what an exact one holds is built again, exact: the same
        // sketch either way, so that quantiles do not depend on history.
        let small = matches!(window, Sketch::Buckets(_)) && window.count() <= EXACT_LIMIT as u64;
        if !exact || small {
            let mut fresh = Sketch::default();
            for values in (end.saturating_sub(over)..end).filter_map(held) {
                fresh.merge(values);
            }
            *window = fresh;
        }
        window
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let ring = self.ring.as_deref().unwrap_or_default();
        std::mem::size_of_val(ring)
            + ring.iter().map(|(_, s)| s.heap_bytes()).sum::<usize>()
            + self.window.heap_bytes()
            + if self.members.spilled() {
                self.members.capacity() * 4
            } else {
                0
            }
    }
}

/// Adds values of `step` at place `at` of `ring`, emptying the place first when it held an
/// older step.
fn add_to(ring: &mut [(u64, Sketch)], step: u64, at: usize, values: &Sketch) {
    let Some((held, sketch)) = ring.get_mut(at) else {
        return;
    };
    if *held != step {
        *held = step;
        sketch.clear();
    }
    sketch.merge(values);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps of 0 to 11 values of two series, some repeated, some not finite.
    fn values(step: u64, series: u64) -> Sketch {
        let mut values = Sketch::default();
        for i in 0..(step * 7 + series) % 12 {
            values.insert(match i {
                7 => f64::NAN,
                _ => ((step * 3 + i + series) % 9) as f64 - 2.0 + 1e-3,
            });
        }
        values
    }

    #[test]
    fn a_sliding_window_equals_the_window_merged_afresh() {
        // The window's values cross the exact limit both ways, and a value leaves while an equal
        // one stays.
        let mut shared = GroupValues::new(7, 0);
        shared.join(1);
        shared.gather(4, |_| std::iter::empty());
        let mut single = GroupValues::new(8, 0);
        let mut own = vec![(u64::MAX, Sketch::default()); 4];
        let mut bucketed = 0;
        for step in 0..60u64 {
            let at = (step % 4) as usize;
            own[at] = (step, values(step, 0));
            shared.add(step, at, &own[at].1);
            shared.add(step, at, &values(step, 1));
            let places = Places::new(4, step + 1);
            let mut fresh = shared.clone();
            fresh.through = None;
            let expected = fresh.slide_to(places, 3, |_| None).clone();
            let window = shared.slide_to(places, 3, |_| None);
            assert_eq!(window, &expected, "at step {step}");
            bucketed += usize::from(matches!(window, Sketch::Buckets(_)));
            assert_eq!(
                window.quantile(0.9).map(f64::to_bits),
                expected.quantile(0.9).map(f64::to_bits),
                "at step {step}"
            );
            let series = |s: u64| own.iter().find(|(held, _)| *held == s).map(|(_, v)| v);
            let mut alone = Sketch::default();
            (step.saturating_sub(2)..=step)
                .filter_map(series)
                .for_each(|v| alone.merge(v));
            assert_eq!(single.slide_to(places, 3, series), &alone, "at step {step}");
        }
        assert!((10..50).contains(&bucketed), "{bucketed} windows bucketed");
    }
}
