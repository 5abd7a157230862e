//! Which sinks are waiting for their store right now, so that the status line says so while
//! the pipeline is held back, not only the log.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// The sinks whose connections cannot write, shared by every worker of a process.
#[derive(Debug, Default)]
pub struct SinkHealth {
    waiting: Mutex<BTreeMap<String, Waiting>>,
}

#[derive(Debug)]
struct Waiting {
    since: Instant,
    connections: usize,
    error: String,
}

impl SinkHealth {
    /// A connection of sink `what` started failing with `error`.
    pub fn failing(&self, what: &str, error: &str) {
        let mut waiting = self.lock();
        let entry = waiting.entry(what.to_string()).or_insert_with(|| Waiting {
            since: Instant::now(),
            connections: 0,
            error: String::new(),
        });
        entry.connections += 1;
        entry.error = error.to_string();
    }

    /// A failing connection of sink `what` failed again.
    pub fn still_failing(&self, what: &str, error: &str) {
        if let Some(entry) = self.lock().get_mut(what) {
            entry.error = error.to_string();
        }
    }

    /// A failing connection of sink `what` wrote again.
    pub fn recovered(&self, what: &str) {
        let mut waiting = self.lock();
        if let Some(entry) = waiting.get_mut(what) {
            entry.connections = entry.connections.saturating_sub(1);
            if entry.connections == 0 {
                waiting.remove(what);
            }
        }
    }

    /// The sinks waiting now, by name (`sink `hot``).
    pub fn waiting(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// `sink `hot` waiting 12 s for its store (connection refused)`, for each waiting sink;
    /// `None` when every sink writes.
    pub fn summary(&self) -> Option<String> {
        let waiting = self.lock();
        let parts: Vec<String> = waiting
            .iter()
            .map(|(what, entry)| {
                format!(
                    "{what} waiting {} s for its store ({})",
                    entry.since.elapsed().as_secs(),
                    entry.error
                )
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_waits_until_every_failing_connection_recovered() {
        let health = SinkHealth::default();
        assert_eq!(health.summary(), None);
        health.failing("sink `hot`", "connection refused");
        health.failing("sink `hot`", "connection refused");
        health.still_failing("sink `hot`", "the database system is starting up");
        assert_eq!(
            health.summary().unwrap(),
            "sink `hot` waiting 0 s for its store (the database system is starting up)"
        );
        health.recovered("sink `hot`");
        assert!(health.summary().is_some(), "one connection still fails");
        health.recovered("sink `hot`");
        assert_eq!(health.summary(), None);
    }
}
