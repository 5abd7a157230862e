//! The series stage as a timely operator: source records exchanged by series, rule changes
//! broadcast; closed-window partials and alert step records out.

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::timing::{frontier, hold_at, send};
use crate::alert::StepRecord;
use crate::rules::RuleUpdate;
use crate::sample::SourceRecord;
use crate::stage::{RollupPartial, SeriesStage, StageOutput};
use crate::telemetry::WorkerGauges;

/// Runs `stage` over the records of one source.
pub fn series_stage<'s>(
    records: Stream<'s, u64, Vec<SourceRecord>>,
    rules: Stream<'s, u64, Vec<RuleUpdate>>,
    mut stage: SeriesStage,
    gauges: WorkerGauges,
) -> (
    Stream<'s, u64, Vec<RollupPartial>>,
    Stream<'s, u64, Vec<StepRecord>>,
) {
    let mut builder = OperatorBuilder::new("SeriesStage".to_string(), records.scope());
    let mut records_in = builder.new_input(records, Exchange::new(|r: &SourceRecord| r.series().0));
    let mut rules_in = builder.new_input(rules, Pipeline);
    let (partials_out, partials) = builder.new_output();
    let (steps_out, steps) = builder.new_output();
    let mut partials_out = OutputBuilder::from(partials_out);
    let mut steps_out = OutputBuilder::from(steps_out);
    builder.build(move |mut capabilities| {
        let mut steps_cap = capabilities.pop();
        let mut partials_cap = capabilities.pop();
        let mut output = StageOutput::default();
        move |frontiers| {
            records_in.for_each(|_, records| records.drain(..).for_each(|r| stage.push(r)));
            rules_in.for_each(|_, updates| stage.rules(updates.drain(..)));
            let until = frontier(frontiers);
            let samples_before = stage.samples;
            stage.advance(until, &mut output);
            if let (Some(cap), false) = (&partials_cap, output.partials.is_empty()) {
                send(&mut partials_out.activate(), cap, &mut output.partials);
            }
            if let (Some(cap), false) = (&steps_cap, output.steps.is_empty()) {
                send(&mut steps_out.activate(), cap, &mut output.steps);
            }
            // Everything at or before the frontier has been sent: hold one past it.
            let next = until.map(|time| time + 1);
            hold_at(&mut partials_cap, next);
            hold_at(&mut steps_cap, next);
            gauges.record_stage(
                stage.samples - samples_before,
                stage.series_count(),
                stage.open_windows(),
                stage.rollup_state_bytes(),
                stage.alert_state_bytes(),
            );
        }
    });
    (partials, steps)
}
