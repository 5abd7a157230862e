//! Event time at a source: the watermark is the newest timestamp seen minus the source's
//! lateness. A sample behind the watermark is late: sources count it and send it to their late
//! path instead of the dataflow, whose windows before the watermark may already be closed.

/// The watermark of one stream of samples (one Kafka partition, one generator, one file).
#[derive(Debug, Clone)]
pub struct Watermark {
    lateness: u64,
    newest: Option<u64>,
}

impl Watermark {
    /// A watermark trailing the newest timestamp by `lateness` milliseconds.
    pub fn new(lateness: u64) -> Self {
        Watermark {
            lateness,
            newest: None,
        }
    }

    /// Notes a sample's timestamp; `false` when the sample is late and must not enter the
    /// dataflow.
    #[inline]
    pub fn admit(&mut self, ts: u64) -> bool {
        if ts < self.frontier() {
            return false;
        }
        if self.newest.is_none_or(|newest| ts > newest) {
            self.newest = Some(ts);
        }
        true
    }

    /// The earliest timestamp still admitted: what the source's input may advance to.
    pub fn frontier(&self) -> u64 {
        self.newest
            .map_or(0, |newest| newest.saturating_sub(self.lateness))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_within_lateness_are_admitted_out_of_order_and_older_ones_are_late() {
        let mut watermark = Watermark::new(10);
        assert!(watermark.admit(100));
        assert!(watermark.admit(95), "within lateness");
        assert_eq!(watermark.frontier(), 90);
        assert!(watermark.admit(90));
        assert!(!watermark.admit(89), "behind the watermark");
        assert!(watermark.admit(200));
        assert!(!watermark.admit(150));
    }
}
