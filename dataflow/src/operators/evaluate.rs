//! The evaluator as a timely operator: step records exchanged to the worker that owns each rule
//! (or kept on their worker, for rules whose groups are each on one), rule changes broadcast;
//! alert transitions out.

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::timing::{frontier, hold_at, send};
use crate::alert::{Evaluator, StepRecord, Transition};
use crate::rules::{RuleUpdate, rule_hash};
use crate::telemetry::WorkerGauges;

/// Evaluates every rule at every step boundary its input reached.
pub fn evaluate<'s>(
    steps: Stream<'s, u64, Vec<StepRecord>>,
    rules: Stream<'s, u64, Vec<RuleUpdate>>,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<Transition>> {
    let mut builder = OperatorBuilder::new("EvaluateAlerts".to_string(), steps.scope());
    // A rule's records go to the worker that owns the rule, but those of a rule whose groups
    // are each on one worker stay where they are: this worker's index routes to itself.
    let here = steps.scope().index() as u64;
    let owner = move |r: &StepRecord| if r.local { here } else { rule_hash(&r.rule) };
    let mut steps_in = builder.new_input(steps, Exchange::new(owner));
    let mut rules_in = builder.new_input(rules, Pipeline);
    let (out, transitions) = builder.new_output();
    let mut out = OutputBuilder::from(out);
    builder.build(move |mut capabilities| {
        let mut held = capabilities.pop();
        let mut evaluator = Evaluator::default();
        let mut emitted = Vec::new();
        move |frontiers| {
            steps_in.for_each(|capability, records| {
                if let Some(&time) = capability.least() {
                    evaluator.stash_steps(time, records.drain(..));
                }
            });
            rules_in.for_each(|_, updates| evaluator.stash_rules(updates.drain(..)));
            let until = frontier(frontiers);
            evaluator.advance(until, |time, transition| emitted.push((time, transition)));
            let count = emitted.len();
            if let (Some(cap), false) = (&held, emitted.is_empty()) {
                send(&mut out.activate(), cap, &mut emitted);
            }
            hold_at(&mut held, until);
            gauges.record_alerts(count, evaluator.firing());
        }
    });
    transitions
}
