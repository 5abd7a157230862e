//! A cascaded rollup: merges the closed windows of its input rollup into its own, larger
//! windows on the worker where they closed (pre-aggregation), and sends each closed window's
//! partial state on to its group's owner.

use std::collections::VecDeque;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::timing::{frontier, hold_at, send_batches};
use crate::rollup::{CLOSE_BUDGET, LocalRollup, WindowResult};
use crate::telemetry::WorkerGauges;

/// Input windows merged per activation. A minute boundary closes a window for every group of
/// the input at once; merging them all in one go would hold up every operator scheduled after
/// this one — the alert sinks among them — for tens of milliseconds.
const FUEL: usize = 8192;

/// Runs `rollup` over the closed windows of its input; input groups without a window for `ttl`
/// milliseconds are forgotten.
pub fn cascade<'s>(
    input: Stream<'s, u64, Vec<WindowResult>>,
    mut rollup: LocalRollup,
    ttl: Option<u64>,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<WindowResult>> {
    let scope = input.scope();
    input.unary_frontier(Pipeline, "Cascade", move |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut held = Some(capability);
        let mut pending: VecDeque<(u64, Vec<WindowResult>)> = VecDeque::new();
        // Windows of the front batch merged already: a batch is read in place, in parts, and
        // dropped whole; draining its front moved every window left behind at each part.
        let mut merged = 0;
        let mut measured = std::time::Instant::now();
        let mut swept_at = 0;
        move |(input, frontiers), output| {
            input.for_each(|capability, windows| {
                if let Some(&time) = capability.least() {
                    pending.push_back((time, std::mem::take(windows)));
                }
            });
            let mut fuel = FUEL;
            while let Some((_, windows)) = pending.front() {
                let take = (windows.len() - merged).min(fuel);
                for window in &windows[merged..merged + take] {
                    rollup.merge(
                        window.group,
                        &window.labels,
                        window.start,
                        window.end,
                        &window.state,
                    );
                }
                merged += take;
                fuel -= take;
                if merged == windows.len() {
                    pending.pop_front();
                    merged = 0;
                }
                if fuel == 0 {
                    break;
                }
            }
            if !pending.is_empty() {
                activator.activate();
            }
            // Input windows arrive at their end; a window of ours ending at `end` is complete
            // once the frontier has passed `end` and no window before it waits to be merged.
            let waiting = pending.iter().map(|(time, _)| *time).min();
            let until = match (frontier(std::slice::from_ref(frontiers)), waiting) {
                (Some(frontier), Some(waiting)) => Some(frontier.min(waiting)),
                (frontier, waiting) => frontier.or(waiting),
            };
            let mut budget = CLOSE_BUDGET;
            let due = until.map(|time| time.saturating_sub(1));
            rollup.close(due, &mut budget);
            if let (Some(held), false) = (&held, rollup.closed().is_empty()) {
                send_batches(&mut *output, held, rollup.closed());
            }
            // Windows the budget left open are closed at the next activation.
            let earliest = rollup.earliest_end();
            if earliest.is_some_and(|end| due.is_none_or(|due| end <= due)) {
                activator.activate();
            }
            let hold = match (until, earliest) {
                (Some(until), Some(end)) => Some(until.min(end)),
                (until, end) => until.or(end),
            };
            hold_at(&mut held, hold);
            if let (Some(ttl), Some(until)) = (ttl, until)
                && until >= swept_at + ttl / 4
            {
                swept_at = until;
                rollup.forget_quiet(until.saturating_sub(ttl));
            }
            if measured.elapsed() >= std::time::Duration::from_secs(1) || until.is_none() {
                measured = std::time::Instant::now();
                gauges.record_cascade(rollup.open_windows(), rollup.state_bytes());
            }
        }
    })
}
