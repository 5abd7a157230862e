//! Merges the partial states of a rollup's windows from every worker into closed windows, on
//! the worker that owns each group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

use crate::series::{GroupId, IdMap, Labels};
use crate::stage::RollupPartial;
use crate::state::RollupState;
use crate::telemetry::WorkerGauges;

/// A closed window of a rollup: what sinks write and cascades merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Which rollup of the plan.
    pub rollup: u16,
    /// The group.
    pub group: GroupId,
    /// The group's labels.
    pub labels: Labels,
    /// Window start.
    pub start: u64,
    /// Window end (exclusive).
    pub end: u64,
    /// The window's state; its aggregates are computed from it.
    pub state: RollupState,
}

/// The windows of one end time while their partials arrive. Every window closes at once for a
/// tumbling rollup, so these are large; they are kept and reused rather than reallocated.
#[derive(Default)]
struct Closing {
    windows: Vec<WindowResult>,
    by_group: IdMap<GroupId, u32>,
}

impl Closing {
    fn add(&mut self, partial: RollupPartial, end: u64, size: u64) {
        match self.by_group.get(&partial.group) {
            Some(&at) => self.windows[at as usize].state.merge(&partial.state),
            None => {
                self.by_group
                    .insert(partial.group, self.windows.len() as u32);
                self.windows.push(WindowResult {
                    rollup: partial.rollup,
                    group: partial.group,
                    labels: partial.labels,
                    start: end - size,
                    end,
                    state: partial.state,
                });
            }
        }
    }
}

impl WindowResult {
    /// The closed window of a partial that is already complete.
    fn whole(partial: RollupPartial, size: u64) -> Self {
        WindowResult {
            rollup: partial.rollup,
            group: partial.group,
            labels: partial.labels,
            start: partial.start,
            end: partial.start + size,
            state: partial.state,
        }
    }
}

/// Closes windows of `size` milliseconds once every worker's partials for them have arrived.
/// With one worker, each partial is already its whole window.
pub fn merge_windows<'s>(
    partials: Stream<'s, u64, Vec<RollupPartial>>,
    size: u64,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<WindowResult>> {
    if partials.scope().peers() == 1 {
        return partials.map(move |partial| {
            gauges.record_windows(1);
            WindowResult::whole(partial, size)
        });
    }
    partials.unary_frontier(
        Exchange::new(|p: &RollupPartial| p.group.0),
        "MergeWindows",
        move |_, _| {
            let mut open: BTreeMap<u64, (Capability<u64>, Closing)> = BTreeMap::new();
            let mut spare: Vec<Closing> = Vec::new();
            move |(input, frontier), output| {
                input.for_each(|capability, partials| {
                    let Some(capability) = capability.retain_least(output.output_index()) else {
                        return;
                    };
                    let end = *capability.time();
                    let (_, closing) = open
                        .entry(end)
                        .or_insert_with(|| (capability, spare.pop().unwrap_or_default()));
                    for partial in partials.drain(..) {
                        closing.add(partial, end, size);
                    }
                });
                while let Some(entry) = open.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (capability, mut closing) = entry.remove();
                    gauges.record_windows(closing.windows.len());
                    output
                        .session(&capability)
                        .give_iterator(closing.windows.drain(..));
                    closing.by_group.clear();
                    spare.push(closing);
                }
            }
        },
    )
}
