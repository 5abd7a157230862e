//! What every operator here does with time: read its frontier as a single event time, hold an
//! output capability at that frontier, and send records stamped with the times they belong to.

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilderSession;
use timely::progress::frontier::MutableAntichain;

use crate::timed::Timed;

/// The earliest time any input may still deliver, or `None` once all inputs have ended.
pub fn frontier(inputs: &[MutableAntichain<u64>]) -> Option<u64> {
    inputs
        .iter()
        .filter_map(|input| input.frontier().iter().min().copied())
        .min()
}

/// Sends `(time, record)` pairs, each at its time. Every time must be at or after `capability`.
pub fn send<T: 'static>(
    output: &mut OutputBuilderSession<'_, u64, CapacityContainerBuilder<Vec<T>>>,
    capability: &Capability<u64>,
    records: &mut Vec<(u64, T)>,
) {
    if !records.is_sorted_by_key(|(time, _)| *time) {
        records.sort_by_key(|(time, _)| *time);
    }
    let mut records = records.drain(..).peekable();
    while let Some(&(time, _)) = records.peek() {
        let stamp = capability.delayed(&time);
        let mut session = output.session(&stamp);
        while let Some((_, record)) = records.next_if(|(t, _)| *t == time) {
            session.give(record);
        }
    }
}

/// Sends each batch of `records` as one container at its time, moved rather than copied. Every
/// time must be at or after `capability`.
pub fn send_batches<T: 'static>(
    output: &mut OutputBuilderSession<'_, u64, CapacityContainerBuilder<Vec<T>>>,
    capability: &Capability<u64>,
    records: &mut Timed<T>,
) {
    for (time, mut batch) in records.drain() {
        let stamp = capability.delayed(&time);
        output.session(&stamp).give_container(&mut batch);
    }
}

/// Moves a held capability to `time`, or releases it when the inputs have ended.
pub fn hold_at(capability: &mut Option<Capability<u64>>, time: Option<u64>) {
    match (capability.as_mut(), time) {
        (Some(held), Some(time)) if time > *held.time() => held.downgrade(&time),
        (_, None) => *capability = None,
        _ => {}
    }
}
