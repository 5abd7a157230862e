//! When step boundaries are due on one worker.

/// Which step boundaries are due on one worker: boundary `t` sees the samples in `(t − over, t]`
/// (as Prometheus evaluates), so it is due from the first at or after the first sample, once the
/// input frontier is past it. Once the input has ended, up to the boundary whose window holds the
/// end of the input: the last sample this worker saw, and the last frontier, which a
/// source that ends advances beyond its last sample first, so that every worker stops at the
/// same boundary whichever samples it held. Time does not run on further: a replay that stops
/// must not read as every host falling silent.
#[derive(Debug, Clone)]
pub struct StepClock {
    step: u64,
    next: Option<u64>,
    newest: Option<u64>,
    frontier: u64,
}

impl StepClock {
    /// A clock of `step` milliseconds.
    pub fn new(step: u64) -> Self {
        StepClock {
            step,
            next: None,
            newest: None,
            frontier: 0,
        }
    }

    /// Notes a sample's time.
    #[inline]
    pub fn saw(&mut self, ts: u64) {
        if self.next.is_none() {
            self.next = Some(self.boundary_of(ts));
        }
        if self.newest.is_none_or(|newest| ts > newest) {
            self.newest = Some(ts);
        }
    }

    /// The boundary whose window ends with time `ts`: the first at or after it.
    fn boundary_of(&self, ts: u64) -> u64 {
        ts.div_ceil(self.step).max(1) * self.step
    }

    /// The next boundary before the input `frontier` (every sample up to and including it has
    /// come), consumed; once the input has ended (`None`), the next up to the one whose window
    /// holds its end.
    pub fn next_due(&mut self, frontier: Option<u64>) -> Option<u64> {
        let next = self.next?;
        let due = match frontier {
            Some(frontier) => {
                self.frontier = self.frontier.max(frontier);
                next < frontier
            }
            None => {
                let end = self.newest?.max(self.frontier.saturating_sub(1));
                next <= self.boundary_of(end)
            }
        };
        due.then(|| {
            self.next = Some(next + self.step);
            next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_starts_after_the_first_sample_and_stops_after_the_last() {
        let mut clock = StepClock::new(10);
        assert_eq!(clock.next_due(Some(100)), None, "no sample yet");
        clock.saw(23);
        clock.saw(41);
        assert_eq!(clock.next_due(Some(35)), Some(30));
        assert_eq!(clock.next_due(Some(35)), None);
        assert_eq!(clock.next_due(None), Some(40));
        assert_eq!(clock.next_due(None), Some(50));
        assert_eq!(clock.next_due(None), None);
    }

    #[test]
    fn a_sample_on_a_boundary_is_seen_at_that_boundary() {
        let mut clock = StepClock::new(10);
        clock.saw(30);
        assert_eq!(clock.next_due(Some(30)), None, "30 may still have samples");
        assert_eq!(clock.next_due(Some(31)), Some(30));
        clock.saw(40);
        assert_eq!(clock.next_due(None), Some(40));
        assert_eq!(clock.next_due(None), None);
    }

    #[test]
    fn the_last_frontier_before_the_end_sets_the_last_boundary() {
        // Another worker held a sample at 67: the source advanced to 68 before it ended.
        let mut clock = StepClock::new(10);
        clock.saw(23);
        assert_eq!(clock.next_due(Some(68)), Some(30));
        let rest: Vec<u64> = std::iter::from_fn(|| clock.next_due(None)).collect();
        assert_eq!(rest, [40, 50, 60, 70]);
    }
}
