//! Merges the partial states of a rollup's windows from every worker into closed windows, on
//! the worker that owns each group.

use std::collections::BTreeMap;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, Inspect};

use crate::series::{GroupId, IdMap};
use crate::stage::WindowResult;
use crate::telemetry::WorkerGauges;
use crate::timed::BATCH;

/// The windows of one end time while their partials arrive. Every window closes at once for a
/// tumbling rollup, so these are many: they are kept in containers of [`BATCH`] that leave as
/// they are, moved. One vector grown to hold them all copied them at every doubling, into fresh
/// memory, and was a tenth of the time of two workers.
#[derive(Default)]
struct Closing {
    batches: Vec<Vec<WindowResult>>,
    by_group: IdMap<GroupId, u32>,
}

impl Closing {
    fn add(&mut self, partial: WindowResult) {
        match self.by_group.get(&partial.group) {
            Some(&at) => {
                let (batch, at) = (at as usize / BATCH, at as usize % BATCH);
                self.batches[batch][at].state.merge(&partial.state);
            }
            None => {
                if self.batches.last().is_none_or(|batch| batch.len() == BATCH) {
                    self.batches.push(Vec::with_capacity(BATCH));
                }
                let at = (self.batches.len() - 1) * BATCH;
                let batch = self
                    .batches
                    .last_mut()
                    .expect("a batch with room was added");
                self.by_group
                    .insert(partial.group, (at + batch.len()) as u32);
                batch.push(partial);
            }
        }
    }

    fn len(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }
}

/// Closes windows once every worker's partials for them have arrived. With one worker, each
/// partial is already its whole window and passes on as it is.
pub fn merge_windows<'s>(
    partials: Stream<'s, u64, Vec<WindowResult>>,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<WindowResult>> {
    if partials.scope().peers() == 1 {
        return partials.inspect_core(move |event| {
            if let Ok((_, windows)) = event {
                gauges.record_windows(windows.len());
            }
        });
    }
    partials.unary_frontier(
        Exchange::new(|p: &WindowResult| p.group.0),
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
                        closing.add(partial);
                    }
                });
                while let Some(entry) = open.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (capability, mut closing) = entry.remove();
                    gauges.record_windows(closing.len());
                    let mut session = output.session(&capability);
                    for mut batch in closing.batches.drain(..) {
                        session.give_container(&mut batch);
                    }
                    closing.by_group.clear();
                    spare.push(closing);
                }
            }
        },
    )
}
