//! Backpressure: a worker stops reading its sources while its outputs trail its input both by
//! more than two steps of event time and by more than a bounded number of records.
//!
//! Either bound alone is wrong for some input. Steps alone stall a replay: at twenty times real
//! time two steps are a second and a half of wall time, less than a broker may take to
//! acknowledge a sink's writes, so reading stopped while almost nothing was pending. Records
//! alone let a slow stream's outputs trail for hours. Together they bound what waits for the
//! sinks (the records read since the durable frontier, and the windows made from them) and let
//! a sink's ordinary latency pass without stopping the input.

use std::collections::VecDeque;

/// Records a worker may have read past its durable frontier once that trails by two steps:
/// 64 MB of records, six seconds of the reference design's full load on one worker.
const RECORDS_IN_FLIGHT: u64 = 2_000_000;

/// What one worker has read that its outputs have not yet made durable.
pub struct Backpressure {
    /// How far, in event time, the durable frontier may trail the input.
    lag_limit: u64,
    /// Records sent to the dataflow so far.
    sent: u64,
    /// Where the input advanced: (time, records sent before it). The records sent at input
    /// time `t` are durable once the frontier passes `t`.
    marks: VecDeque<(u64, u64)>,
}

impl Backpressure {
    /// Bounds for sources whose longest step is `step` milliseconds.
    pub fn new(step: u64) -> Self {
        Backpressure {
            lag_limit: step * 2,
            sent: 0,
            marks: VecDeque::new(),
        }
    }

    /// `records` were sent to the dataflow.
    pub fn sent(&mut self, records: usize) {
        self.sent += records as u64;
    }

    /// The input advanced to `time`: what is sent from now on is at that time or later.
    pub fn advanced(&mut self, time: u64) {
        if self.marks.back().is_none_or(|&(last, _)| last < time) {
            self.marks.push_back((time, self.sent));
        }
    }

    /// Whether the worker should process what it holds before reading more, given its slowest
    /// input time and its durable frontier.
    pub fn holds_back(&mut self, input: u64, durable: u64) -> bool {
        while self.marks.len() > 1 && self.marks[1].0 <= durable {
            self.marks.pop_front();
        }
        let durable_before = match self.marks.front() {
            Some(&(time, sent)) if time <= durable => sent,
            _ => 0,
        };
        durable < input.saturating_sub(self.lag_limit)
            && self.sent - durable_before > RECORDS_IN_FLIGHT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: u64 = 15_000;

    #[test]
    fn a_frontier_two_steps_behind_holds_back_only_past_the_record_bound() {
        let mut backpressure = Backpressure::new(STEP);
        backpressure.advanced(0);
        backpressure.sent(1_000);
        backpressure.advanced(100 * STEP);
        assert!(!backpressure.holds_back(100 * STEP, 0));
        backpressure.sent(RECORDS_IN_FLIGHT as usize);
        assert!(backpressure.holds_back(100 * STEP, 0));
    }

    #[test]
    fn many_records_within_two_steps_do_not_hold_back() {
        let mut backpressure = Backpressure::new(STEP);
        backpressure.advanced(10 * STEP);
        backpressure.sent(10 * RECORDS_IN_FLIGHT as usize);
        backpressure.advanced(12 * STEP);
        assert!(!backpressure.holds_back(12 * STEP, 10 * STEP));
        assert!(backpressure.holds_back(12 * STEP + 1, 10 * STEP));
    }

    #[test]
    fn records_before_the_durable_frontier_no_longer_count() {
        let mut backpressure = Backpressure::new(STEP);
        backpressure.advanced(0);
        backpressure.sent(3 * RECORDS_IN_FLIGHT as usize);
        backpressure.advanced(STEP);
        backpressure.sent(10);
        backpressure.advanced(10 * STEP);
        assert!(backpressure.holds_back(10 * STEP, 0));
        assert!(!backpressure.holds_back(10 * STEP, STEP));
        assert!(!backpressure.holds_back(10 * STEP, 5 * STEP));
    }
}
