//! Runs a sink as a timely operator: collects each event time's records (on worker 0 for one
//! writer, where they are on every worker otherwise), hands them to the sink once the frontier
//! has passed that time, and holds its output's capability at the earliest time not yet
//! durable. The output carries nothing: its progress is the sink's durable frontier.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use timely::ExchangeData;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use std::sync::Arc;

use super::{Failure, Sink, SinkMeter, Writers, fail};

/// How soon a sink with output not yet acknowledged is run again.
const RECHECK: Duration = Duration::from_millis(5);

/// A sink to attach.
pub struct Run<'a> {
    /// The sink's name, for the operator and errors.
    pub name: &'a str,
    /// Which workers run it.
    pub writers: Writers,
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// Where a write error goes.
    pub failure: Failure,
    /// Where what it writes and makes durable is counted.
    pub meter: Arc<SinkMeter>,
    /// This worker.
    pub worker: usize,
}

impl Run<'_> {
    /// Attaches the sink to `stream`: `deliver` turns each time's batch into the sink's
    /// records; records of times before `resumed` were durable before a restart and are not
    /// written again.
    pub fn attach<'s, D: ExchangeData>(
        self,
        stream: Stream<'s, u64, Vec<D>>,
        order: fn(&D, &D) -> Ordering,
        resumed: Option<u64>,
        deliver: impl FnMut(&mut dyn Sink, u64, Vec<D>) -> anyhow::Result<()> + 'static,
    ) -> Stream<'s, u64, Vec<()>> {
        match self.writers {
            Writers::One => {
                let pact = Exchange::new(|_: &D| 0);
                self.build(stream, pact, Some(order), resumed, deliver)
            }
            Writers::Every => self.build(stream, Pipeline, None, resumed, deliver),
        }
    }

    fn build<'s, D: ExchangeData, P>(
        self,
        stream: Stream<'s, u64, Vec<D>>,
        pact: P,
        order: Option<fn(&D, &D) -> Ordering>,
        resumed: Option<u64>,
        mut deliver: impl FnMut(&mut dyn Sink, u64, Vec<D>) -> anyhow::Result<()> + 'static,
    ) -> Stream<'s, u64, Vec<()>>
    where
        P: ParallelizationContract<u64, Vec<D>>,
    {
        let Run {
            name,
            mut sink,
            failure,
            meter,
            worker,
            ..
        } = self;
        let label = format!("Sink({name})");
        let name = name.to_string();
        let scope = stream.scope();
        stream.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
            pact,
            &label,
            move |capability, info| {
                let activator = scope.activator_for(info.address);
                let mut held: Option<Capability<u64>> = Some(capability);
                let mut pending: BTreeMap<u64, Vec<D>> = BTreeMap::new();
                move |(input, frontier), _output| {
                    input.for_each(|capability, batch| {
                        if let Some(&time) = capability.least() {
                            pending.entry(time).or_default().append(batch);
                        }
                    });
                    let mut result = sink.poll();
                    while let Some(entry) = pending.first_entry() {
                        if frontier.less_equal(entry.key()) || result.is_err() {
                            break;
                        }
                        let time = *entry.key();
                        let mut batch = entry.remove();
                        if resumed.is_some_and(|resumed| time < resumed) {
                            continue;
                        }
                        if let Some(order) = order {
                            batch.sort_by(order);
                        }
                        meter.records.inc_by(batch.len() as u64);
                        result = deliver(&mut *sink, time, batch);
                    }
                    if let Err(error) = result {
                        fail(&failure, format!("sink `{name}` failed: {error:#}"));
                    }
                    let waiting = sink.unacknowledged();
                    let hold = [
                        frontier.frontier().iter().min().copied(),
                        pending.keys().next().copied(),
                        waiting,
                    ]
                    .into_iter()
                    .flatten()
                    .min();
                    match (held.as_mut(), hold) {
                        (Some(capability), Some(time)) if time > *capability.time() => {
                            capability.downgrade(&time);
                            meter.durable_before(worker, Some(time));
                        }
                        (Some(_), None) => {
                            held = None;
                            meter.durable_before(worker, None);
                        }
                        _ => {}
                    }
                    if waiting.is_some() {
                        activator.activate_after(RECHECK);
                    }
                }
            },
        )
    }
}
