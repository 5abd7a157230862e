//! The series stage as a timely operator: source records exchanged by series, rule changes
//! broadcast; closed-window partials and alert step records out.

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::timing::{frontier, hold_at, send, send_batches};
use crate::alert::StepRecord;
use crate::rollup::WindowResult;
use crate::rules::RuleUpdate;
use crate::sample::SourceRecord;
use crate::stage::{SeriesStage, StageOutput};
use crate::telemetry::WorkerGauges;

/// What a series stage produces.
pub struct StageStreams<'s> {
    /// Closed-window partials, one stream per rollup of the stage.
    pub partials: Vec<Stream<'s, u64, Vec<WindowResult>>>,
    /// Alert step records.
    pub steps: Stream<'s, u64, Vec<StepRecord>>,
}

/// Runs `stage` over the records of one source, already on the workers that own their series.
pub fn series_stage<'s>(
    records: Stream<'s, u64, Vec<SourceRecord>>,
    rules: Stream<'s, u64, Vec<RuleUpdate>>,
    mut stage: SeriesStage,
    gauges: WorkerGauges,
) -> StageStreams<'s> {
    let scope = records.scope();
    let mut builder = OperatorBuilder::new("SeriesStage".to_string(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let mut records_in = builder.new_input(records, Pipeline);
    let mut rules_in = builder.new_input(rules, Pipeline);
    let mut partial_outputs = Vec::new();
    let mut partial_streams = Vec::new();
    for _ in 0..stage.rollup_count() {
        let (output, stream) = builder.new_output();
        partial_outputs.push(OutputBuilder::from(output));
        partial_streams.push(stream);
    }
    let (steps_out, steps) = builder.new_output();
    let mut steps_out = OutputBuilder::from(steps_out);
    builder.build(move |mut capabilities| {
        let mut steps_cap = capabilities.pop();
        let mut partial_caps: Vec<_> = capabilities.into_iter().map(Some).collect();
        let mut output = StageOutput::default();
        let mut measured = std::time::Instant::now();
        move |frontiers| {
            records_in.for_each(|_, records| records.drain(..).for_each(|r| stage.push(r)));
            rules_in.for_each(|_, updates| stage.rules(updates.drain(..)));
            let until = frontier(frontiers);
            let samples_before = stage.samples;
            stage.advance(until, &mut output);
            for ((out, cap), closed) in partial_outputs
                .iter_mut()
                .zip(&partial_caps)
                .zip(stage.closed())
            {
                if let (Some(cap), false) = (cap, closed.is_empty()) {
                    send_batches(&mut out.activate(), cap, closed);
                }
            }
            if let (Some(cap), false) = (&steps_cap, output.steps.is_empty()) {
                send(&mut steps_out.activate(), cap, &mut output.steps);
            }
            // Everything at or before the frontier has been sent, but for windows the close
            // budget left open: hold one past the frontier, or at the first of those. Step
            // boundaries are due only once the frontier is past them: hold at the frontier.
            for (cap, hold) in partial_caps.iter_mut().zip(stage.holds(until)) {
                hold_at(cap, hold);
            }
            if stage.closing_behind(until) {
                activator.activate();
            }
            hold_at(&mut steps_cap, until);
            gauges.record_samples(stage.samples - samples_before);
            // Sizes take a walk over every series: once a second is enough for a gauge.
            if measured.elapsed() >= std::time::Duration::from_secs(1) || until.is_none() {
                measured = std::time::Instant::now();
                gauges.record_stage(
                    stage.series_count(),
                    stage.open_windows(),
                    stage.rollup_state_bytes(),
                    stage.alert_state_bytes(),
                );
            }
        }
    });
    StageStreams {
        partials: partial_streams,
        steps,
    }
}
