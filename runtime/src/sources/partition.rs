//! What a worker knows of each ordered stream of messages it reads (a Kafka partition, a file):
//! how far its event time has come, which samples it admits, whether it is idle, and from which
//! offset it would have to be read again to reproduce what is not yet durable. No IO here: the
//! connectors feed it.

use std::collections::BTreeMap;

use crate::sources::decode::{MAX_AHEAD_MS, Reason};

/// Event time is remembered per bucket of this many milliseconds to find replay offsets: the
/// smaller, the less a restart reads again; the larger, the fewer entries per partition.
const BUCKET_MS: u64 = 10_000;

/// One stream of messages a worker reads, with offsets (Kafka offsets, line numbers).
#[derive(Debug, Clone)]
pub struct Partition {
    /// The partition number.
    pub id: i32,
    /// The newest event time admitted.
    newest: Option<u64>,
    /// Samples before this were written before a restart and are passed over.
    skip_before: u64,
    /// Wall clock of the last message, or of the start.
    heard_at: u64,
    /// Whether the last read reached the end of the partition.
    drained: bool,
    /// Per bucket of event time, the smallest offset of a sample admitted in it.
    first_offsets: BTreeMap<u64, i64>,
    /// The offset of the next message to read.
    next_offset: i64,
}

impl Partition {
    /// Partition `id`, read from `offset` (`None` before the first message is known), passing
    /// over samples before `skip_before`. `now` is the wall clock.
    pub fn new(id: i32, offset: Option<i64>, skip_before: u64, now: u64) -> Self {
        Partition {
            id,
            newest: None,
            skip_before,
            heard_at: now,
            drained: false,
            first_offsets: BTreeMap::new(),
            next_offset: offset.unwrap_or(0),
        }
    }

    /// Notes a message at `offset`, read at wall-clock `now`.
    #[inline]
    pub fn consumed(&mut self, offset: i64, now: u64) {
        self.next_offset = offset + 1;
        self.heard_at = now;
        self.drained = false;
    }

    /// Whether a sample at `ts` enters the pipeline (`Ok(false)`: passed over, written before
    /// a restart), given the worker's watermark `input` and the wall clock `now`.
    #[inline]
    pub fn admit(&self, ts: u64, lateness: u64, input: u64, now: u64) -> Result<bool, Reason> {
        if ts > now + MAX_AHEAD_MS {
            return Err(Reason::Future);
        }
        if ts < self.skip_before {
            return Ok(false);
        }
        if ts < self.watermark(lateness).max(input) {
            return Err(Reason::Late);
        }
        Ok(true)
    }

    /// Notes an admitted sample at `ts` from the message at `offset`.
    #[inline]
    pub fn admitted(&mut self, ts: u64, offset: i64) {
        if self.newest.is_none_or(|newest| ts > newest) {
            self.newest = Some(ts);
        }
        let first = self.first_offsets.entry(ts / BUCKET_MS).or_insert(offset);
        *first = (*first).min(offset);
    }

    /// The earliest event time this partition may still send: its newest minus `lateness`.
    pub fn watermark(&self, lateness: u64) -> u64 {
        self.newest
            .map_or(0, |newest| newest.saturating_sub(lateness))
            .max(self.skip_before)
    }

    /// Notes that a read reached the end of the partition: until the next message, it has
    /// nothing waiting.
    pub fn reached_end(&mut self) {
        self.drained = true;
    }

    /// Whether it no longer holds event time back: read to its end and quiet for
    /// `idle_timeout`.
    pub fn idle(&self, now: u64, idle_timeout: u64) -> bool {
        self.drained && now.saturating_sub(self.heard_at) >= idle_timeout
    }

    /// The offset to commit when every sample from `replay_from` on must be read again: the
    /// first offset of a sample that late or later, or the next to read. Offsets of buckets
    /// before it are forgotten: what must be read again only moves forward.
    pub fn commit_offset(&mut self, replay_from: u64) -> i64 {
        let bucket = replay_from / BUCKET_MS;
        self.first_offsets = self.first_offsets.split_off(&bucket);
        self.first_offsets
            .values()
            .copied()
            .min()
            .unwrap_or(self.next_offset)
            .min(self.next_offset)
    }
}

/// The watermark of a worker's partitions: the least of those not idle, or, when all are idle
/// (or the worker has none), the wall clock minus `lateness`.
pub fn watermark(partitions: &[Partition], lateness: u64, idle_timeout: u64, now: u64) -> u64 {
    partitions
        .iter()
        .filter(|p| !p.idle(now, idle_timeout))
        .map(|p| p.watermark(lateness))
        .min()
        .unwrap_or_else(|| now.saturating_sub(lateness))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn the_watermark_is_the_least_of_the_busy_partitions_then_follows_the_clock() {
        let mut a = Partition::new(0, Some(0), 0, NOW);
        let mut b = Partition::new(1, Some(0), 0, NOW);
        a.consumed(0, NOW);
        a.admitted(NOW - 60_000, 0);
        b.consumed(0, NOW);
        b.admitted(NOW - 30_000, 0);
        let lateness = 10_000;
        assert_eq!(
            watermark(&[a.clone(), b.clone()], lateness, 2_000, NOW),
            NOW - 70_000
        );
        // `a` is quiet, but not read to its end: it still holds event time back.
        let later = NOW + 5_000;
        let both = |a: &Partition, b: &Partition| {
            watermark(&[a.clone(), b.clone()], lateness, 2_000, later)
        };
        assert_eq!(both(&a, &b), NOW - 70_000);
        // Read to its end, it stops holding; when both are, the clock leads.
        a.reached_end();
        assert_eq!(both(&a, &b), NOW - 40_000);
        b.reached_end();
        assert_eq!(both(&a, &b), later - lateness);
        // A new message: busy again.
        a.consumed(1, later);
        assert_eq!(both(&a, &b), NOW - 70_000);
        assert_eq!(watermark(&[], lateness, 2_000, later), later - lateness);
    }

    #[test]
    fn samples_are_admitted_passed_over_or_refused_by_time() {
        let mut p = Partition::new(0, Some(0), NOW - 100_000, NOW);
        p.admitted(NOW - 50_000, 3);
        let admit = |ts| p.admit(ts, 10_000, 0, NOW);
        assert_eq!(admit(NOW - 55_000), Ok(true), "within lateness");
        assert_eq!(admit(NOW - 61_000), Err(Reason::Late));
        assert_eq!(
            admit(NOW - 200_000),
            Ok(false),
            "written before the restart"
        );
        assert_eq!(admit(NOW + MAX_AHEAD_MS + 1), Err(Reason::Future));
        assert_eq!(
            p.admit(NOW - 55_000, 10_000, NOW - 52_000, NOW),
            Err(Reason::Late)
        );
    }

    #[test]
    fn the_commit_offset_is_the_first_message_of_what_must_be_read_again() {
        let mut p = Partition::new(0, Some(100), 0, NOW);
        for (offset, ts) in [
            (100, 0),
            (101, 15_000),
            (102, 31_000),
            (103, 29_000),
            (104, 45_000),
        ] {
            p.consumed(offset, NOW);
            p.admitted(ts, offset);
        }
        assert_eq!(p.commit_offset(0), 100);
        assert_eq!(p.commit_offset(20_000), 102, "29 s came after 31 s");
        assert_eq!(p.commit_offset(40_000), 104);
        assert_eq!(p.commit_offset(60_000), 105, "everything: the next offset");
        assert_eq!(
            p.commit_offset(20_000),
            105,
            "what is forgotten is not read again"
        );
    }
}
