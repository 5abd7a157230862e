//! Merges the partial states of a rollup's windows from every worker into closed windows, on
//! the worker that owns each group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

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

/// Closes windows of `size` milliseconds once every worker's partials for them have arrived.
pub fn merge_windows<'s>(
    partials: Stream<'s, u64, Vec<RollupPartial>>,
    size: u64,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<WindowResult>> {
    partials.unary_frontier(
        Exchange::new(|p: &RollupPartial| p.group.0),
        "MergeWindows",
        move |_, _| {
            let mut open: BTreeMap<u64, (Capability<u64>, IdMap<GroupId, WindowResult>)> =
                BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|capability, partials| {
                    let Some(capability) = capability.retain_least(output.output_index()) else {
                        return;
                    };
                    let end = *capability.time();
                    let entry = open
                        .entry(end)
                        .or_insert_with(|| (capability, IdMap::default()));
                    for partial in partials.drain(..) {
                        entry
                            .1
                            .entry(partial.group)
                            .and_modify(|result| result.state.merge(&partial.state))
                            .or_insert(WindowResult {
                                rollup: partial.rollup,
                                group: partial.group,
                                labels: partial.labels,
                                start: end - size,
                                end,
                                state: partial.state,
                            });
                    }
                });
                while let Some(entry) = open.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (capability, windows) = entry.remove();
                    gauges.record_windows(windows.len());
                    output
                        .session(&capability)
                        .give_iterator(windows.into_values());
                }
            }
        },
    )
}
