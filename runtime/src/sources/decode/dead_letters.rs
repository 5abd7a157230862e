//! Where a source's refused messages go: counted per reason for the whole process, sent with
//! their reason to the source's dead-letter destination, and without one, logged in summary at
//! most every ten seconds so that a flood of bad input cannot flood the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DeadLetterCounts, Reason};

/// How often refused messages without a destination are summarised in the log.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A place refused messages are written to, with their reason.
pub trait Destination {
    /// Writes one message as it arrived. `origin` says where it came from, such as
    /// `metrics-raw/3@1042` for a Kafka offset or `samples.jsonl:17` for a line.
    fn send(
        &mut self,
        reason: Reason,
        key: Option<&[u8]>,
        message: &[u8],
        origin: &str,
    ) -> anyhow::Result<()>;

    /// Makes every message sent so far durable, before the source commits past them.
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// The refused messages of one source on one worker.
pub struct DeadLetters {
    source: String,
    counts: Arc<DeadLetterCounts>,
    destination: Option<Box<dyn Destination>>,
    /// Refused messages not yet logged, by reason, when there is no destination.
    unlogged: [u64; Reason::ALL.len()],
    /// Messages the destination would not take since the last report, and its last error.
    unwritten: u64,
    last_error: Option<String>,
    logged_at: Instant,
}

impl DeadLetters {
    /// Refusals of `source`, counted into `counts`, written to `destination` when there is one.
    pub fn new(
        source: &str,
        counts: Arc<DeadLetterCounts>,
        destination: Option<Box<dyn Destination>>,
    ) -> Self {
        DeadLetters {
            source: source.to_string(),
            counts,
            destination,
            unlogged: [0; Reason::ALL.len()],
            unwritten: 0,
            last_error: None,
            logged_at: Instant::now(),
        }
    }

    /// Counts a refused message and writes it to the destination.
    pub fn refuse(&mut self, reason: Reason, key: Option<&[u8]>, message: &[u8], origin: &str) {
        self.counts.count(reason);
        match &mut self.destination {
            Some(destination) => {
                if let Err(error) = destination.send(reason, key, message, origin) {
                    self.unwritten += 1;
                    self.last_error = Some(format!("{error:#}"));
                }
            }
            None => self.unlogged[reason as usize] += 1,
        }
        self.log_now_and_then();
    }

    /// Makes the dead letters written so far durable.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.log_now_and_then();
        match &mut self.destination {
            Some(destination) => destination.flush(),
            None => Ok(()),
        }
    }

    fn log_now_and_then(&mut self) {
        let nothing = self.unlogged.iter().all(|&n| n == 0) && self.unwritten == 0;
        if self.logged_at.elapsed() < LOG_EVERY || nothing {
            return;
        }
        self.logged_at = Instant::now();
        if let Some(error) = self.last_error.take() {
            tracing::warn!(
                source = %self.source,
                "{} dead letters could not be written (counted all the same): {error}",
                std::mem::take(&mut self.unwritten)
            );
        }
        let counts: Vec<String> = Reason::ALL
            .iter()
            .zip(&mut self.unlogged)
            .filter(|(_, count)| **count > 0)
            .map(|(reason, count)| format!("{}: {}", reason.name(), std::mem::take(count)))
            .collect();
        if !counts.is_empty() {
            tracing::warn!(
                source = %self.source,
                "refused messages since the last report ({}); set `dead_letter` to keep them",
                counts.join(", ")
            );
        }
    }
}

impl Drop for DeadLetters {
    fn drop(&mut self) {
        self.logged_at = Instant::now() - LOG_EVERY;
        self.log_now_and_then();
    }
}
