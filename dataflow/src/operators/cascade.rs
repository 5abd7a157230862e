//! A cascaded rollup: merges the closed windows of its input rollup into its own, larger
//! windows on the worker where they closed (pre-aggregation), and sends each closed window's
//! partial state on to its group's owner.

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::merge::WindowResult;
use super::timing::{frontier, hold_at, send};
use crate::stage::{LocalRollup, RollupPartial};
use crate::telemetry::WorkerGauges;

/// Runs `rollup` over the closed windows of its input.
pub fn cascade<'s>(
    input: Stream<'s, u64, Vec<WindowResult>>,
    mut rollup: LocalRollup,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<RollupPartial>> {
    input.unary_frontier(Pipeline, "Cascade", move |capability, _| {
        let mut held = Some(capability);
        let mut closed = Vec::new();
        let mut measured = std::time::Instant::now();
        move |(input, frontiers), output| {
            input.for_each(|_, windows| {
                for window in windows.drain(..) {
                    rollup.merge(
                        window.group,
                        &window.labels,
                        window.start,
                        window.end,
                        &window.state,
                    );
                }
            });
            // Input windows arrive at their end; a window of ours ending at `end` is complete
            // once the frontier has passed `end`.
            let until = frontier(std::slice::from_ref(frontiers));
            rollup.close(until.map(|time| time.saturating_sub(1)), |time, partial| {
                closed.push((time, partial))
            });
            if let (Some(held), false) = (&held, closed.is_empty()) {
                send(&mut *output, held, &mut closed);
            }
            hold_at(&mut held, until);
            if measured.elapsed() >= std::time::Duration::from_secs(1) || until.is_none() {
                measured = std::time::Instant::now();
                gauges.record_cascade(rollup.open_windows(), rollup.state_bytes());
            }
        }
    })
}
