//! Records an operator produces, grouped by the time they are sent at.
//!
//! A minute boundary closes a window for every group at once: a hundred thousand records of a
//! few hundred bytes each. Handed to timely one by one they were copied into its buffers and
//! again by every operator that passed them on; grouped here, they leave in a few containers
//! that timely moves from operator to operator.

/// Records per batch at most. A minute's windows in one batch took tens of megabytes of fresh
/// memory every minute, zeroed by the kernel page by page; batches of this size are freed by the
/// operator downstream as it goes, and their memory is reused for the next ones.
const BATCH: usize = 1024;

/// Records in batches of equal time, in the order they were produced.
#[derive(Debug)]
pub struct Timed<T> {
    batches: Vec<(u64, Vec<T>)>,
    /// The size of the last batch begun: the next one is allocated at that size at once.
    expected: usize,
}

impl<T> Default for Timed<T> {
    fn default() -> Self {
        Timed {
            batches: Vec::new(),
            expected: 16,
        }
    }
}

impl<T> Timed<T> {
    /// Adds a record to be sent at `time`.
    #[inline]
    pub fn push(&mut self, time: u64, record: T) {
        match self.batches.last_mut() {
            Some((last, batch)) if *last == time && batch.len() < BATCH => batch.push(record),
            _ => {
                self.remember_last_size();
                let mut batch = Vec::with_capacity(self.expected);
                batch.push(record);
                self.batches.push((time, batch));
            }
        }
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Takes every batch, with its time.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (u64, Vec<T>)> {
        self.remember_last_size();
        self.batches.drain(..)
    }

    fn remember_last_size(&mut self) {
        if let Some((_, batch)) = self.batches.last() {
            self.expected = batch.len().clamp(16, BATCH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_one_time_travel_together_in_order() {
        let mut timed = Timed::default();
        for (time, record) in [(5, 'a'), (5, 'b'), (7, 'c'), (5, 'd')] {
            timed.push(time, record);
        }
        let batches: Vec<_> = timed.drain().collect();
        assert_eq!(
            batches.iter().map(|(_, batch)| batch.len()).sum::<usize>(),
            4
        );
        assert_eq!(
            batches,
            [(5, vec!['a', 'b']), (7, vec!['c']), (5, vec!['d'])]
        );
        assert!(timed.is_empty());
    }

    #[test]
    fn a_large_time_leaves_in_bounded_batches_in_order() {
        let mut timed = Timed::default();
        (0..BATCH * 2 + 1).for_each(|record| timed.push(9, record));
        let batches: Vec<_> = timed.drain().collect();
        assert_eq!(
            batches.iter().map(|(_, b)| b.len()).collect::<Vec<_>>(),
            [BATCH, BATCH, 1]
        );
        assert!(batches.iter().all(|(time, _)| *time == 9));
        let records: Vec<usize> = batches.into_iter().flat_map(|(_, b)| b).collect();
        assert_eq!(records, (0..BATCH * 2 + 1).collect::<Vec<_>>());
    }
}
