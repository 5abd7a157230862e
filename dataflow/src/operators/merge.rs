//! Merges the partial states of a rollup's windows from every worker into closed windows, on
//! the worker that owns each group.

use std::collections::BTreeMap;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, Inspect};

use crate::rollup::WindowResult;
use crate::series::{GroupId, IdMap};
use crate::telemetry::WorkerGauges;

/// The windows of one end time while their partials arrive. Every window closes at once for a
/// tumbling rollup, so these are many: each group's first partial stays in the container it
/// came in, later ones are merged into it, and the containers leave as they are, moved.
/// Copying every partial into one vector, grown to hold them all, was a tenth of the time of
/// two workers.
#[derive(Default)]
struct Closing {
    batches: Vec<Vec<WindowResult>>,
    /// Where each group's window is: its batch and its place there.
    by_group: IdMap<GroupId, (u32, u32)>,
    /// The partials merged into another, by batch and place, in the order they came.
    merged: Vec<(u32, u32)>,
}

impl Closing {
    fn add(&mut self, mut batch: Vec<WindowResult>) {
        let number = self.batches.len() as u32;
        for at in 0..batch.len() {
            let (group, here) = (batch[at].group, (number, at as u32));
            let (first, place) = *self.by_group.entry(group).or_insert(here);
            if (first, place) == here {
                continue;
            }
            let state = std::mem::take(&mut batch[at].state);
            let window = match self.batches.get_mut(first as usize) {
                Some(earlier) => &mut earlier[place as usize],
                None => &mut batch[place as usize],
            };
            window.state.merge(&state);
            self.merged.push(here);
        }
        self.batches.push(batch);
    }

    /// The closed windows, in containers, without the partials merged into others.
    fn windows(&mut self) -> impl Iterator<Item = Vec<WindowResult>> + '_ {
        let mut merged = self.merged.drain(..).peekable();
        self.batches
            .drain(..)
            .enumerate()
            .map(move |(number, mut batch)| {
                let mut place = 0;
                batch.retain(|_| {
                    let here = (number as u32, place);
                    place += 1;
                    merged.next_if_eq(&here).is_none()
                });
                batch
            })
            .filter(|batch| !batch.is_empty())
    }
}

/// Closes windows once every worker's partials for them have arrived. With one worker, or when
/// every group's series are on one worker (`in_place`, see `Plan::closes_in_place`), each
/// partial is already its whole window and passes on as it is.
pub fn merge_windows<'s>(
    partials: Stream<'s, u64, Vec<WindowResult>>,
    in_place: bool,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<WindowResult>> {
    if in_place || partials.scope().peers() == 1 {
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
                    closing.add(std::mem::take(partials));
                });
                while let Some(entry) = open.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (capability, mut closing) = entry.remove();
                    let mut session = output.session(&capability);
                    for mut batch in closing.windows() {
                        gauges.record_windows(batch.len());
                        session.give_container(&mut batch);
                    }
                    closing.by_group.clear();
                    spare.push(closing);
                }
            }
        },
    )
}
