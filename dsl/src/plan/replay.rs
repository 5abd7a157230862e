//! What a restart must read again. Outputs are stamped with the event time they close at (a
//! window at its end, an alert transition at its step); once every output before a time `D` is
//! durable, a source restarted from the time this module derives reproduces every output at or
//! after `D` whole, and nothing before it needs to be written again.

use super::{Plan, Window};

impl Plan {
    /// The event time from which source `source` must be read again so that every output at or
    /// after `durable` comes out whole: no earlier than the start of any window of its rollups
    /// that ends at or after `durable`, nor than the history an alert rule reading it looks back
    /// on at a step at or after `durable` (its windows, `for` and `keep_firing_for`). Every
    /// window that starts earlier ended before `durable`, so it is durable already.
    pub fn replay_from(&self, source: &str, durable: u64) -> u64 {
        let mut from = durable;
        for rollup in self.rollups.iter().filter(|r| r.root_source == source) {
            from = from.min(earliest_open_start(&rollup.window, durable));
        }
        for rule in &self.alerts {
            let (root, window) = match self.rollup(&rule.input) {
                Some(rollup) => (rollup.root_source.as_str(), rollup.window.size().millis()),
                None => (rule.input.as_str(), 0),
            };
            if root != source {
                continue;
            }
            let over = rule
                .condition
                .selections()
                .iter()
                .map(|term| term.over.millis())
                .max()
                .unwrap_or(0);
            let lookback = over + window + rule.for_.millis() + rule.keep_firing_for.millis();
            let step = rule.step.millis().max(1);
            let start = durable.saturating_sub(lookback);
            from = from.min(start - start % step);
        }
        from
    }
}

/// The start of the earliest window that ends at or after `durable`: windows start at multiples
/// of their slide, aligned to the epoch.
fn earliest_open_start(window: &Window, durable: u64) -> u64 {
    let (size, slide) = (window.size().millis(), window.slide().millis().max(1));
    durable.saturating_sub(size).div_ceil(slide) * slide
}

#[cfg(test)]
mod tests {
    fn plan(blocks: &str) -> crate::Plan {
        let text = format!("source m from generator {{ hosts = 2, metrics = 2 }}\n{blocks}");
        let compiled = crate::compile(&text, &|_| None);
        compiled
            .plan
            .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
    }

    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;

    #[test]
    fn a_restart_reads_from_the_start_of_the_earliest_window_not_yet_written() {
        let plan = plan(
            "rollup a from m { window = tumble(1m) }\n\
             rollup b from a { window = tumble(1h) }\n\
             sink out to console { from = b }",
        );
        // Minute windows up to 10:05 and the 09:00 hour are written: the 10:00 hour is not,
        // and it needs every sample from 10:00.
        assert_eq!(plan.replay_from("m", 10 * HOUR + 5 * MINUTE + 1), 10 * HOUR);
        // At exactly 11:00 the 10:00 hour (stamped 11:00) is not yet durable.
        assert_eq!(plan.replay_from("m", 11 * HOUR), 10 * HOUR);
        assert_eq!(plan.replay_from("m", 11 * HOUR + 1), 11 * HOUR);
    }

    #[test]
    fn hopping_windows_and_alert_history_reach_further_back() {
        let plan = plan(
            "rollup a from m { window = hop(5m, 1m) }\n\
             sink out to console { from = a }",
        );
        // Windows ending at or after 10:00 start at 09:55 or later.
        assert_eq!(plan.replay_from("m", 10 * HOUR), 10 * HOUR - 5 * MINUTE);
        let plan = plan_with_rule();
        assert_eq!(
            plan.replay_from("m", 10 * HOUR),
            10 * HOUR - 10 * MINUTE - 2 * MINUTE,
            "the rule's 10m window and its `for 2m`"
        );
        assert_eq!(plan.replay_from("other", 10 * HOUR), 10 * HOUR);
    }

    fn plan_with_rule() -> crate::Plan {
        plan(
            "alert A { when avg(cpu) over 10m by host > 1, for 2m }\n\
             sink out to console { from = alerts }",
        )
    }
}
