//! The evaluator as a timely operator: step records exchanged to the worker that owns each rule
//! (or kept on their worker, for rules whose groups are each on one), rule changes broadcast;
//! alert transitions out. A rule change that moves a rule between the two hands its state to the
//! workers that evaluate it from then on, through a loop back into the operator one
//! millisecond later; only steps after such a change wait for it.

use std::collections::BTreeMap;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{ConnectLoop, Feedback};

use super::timing::{frontier, hold_at, send};
use crate::alert::{Evaluator, Handoff, StepRecord, Transition};
use crate::rules::{RuleUpdate, rule_hash};
use crate::telemetry::WorkerGauges;

/// Evaluates every rule at every step boundary its input reached. `placements` gives, by input
/// name, the labels its series are placed on workers by, for inputs that place them.
pub fn evaluate<'s>(
    steps: Stream<'s, u64, Vec<StepRecord>>,
    rules: Stream<'s, u64, Vec<RuleUpdate>>,
    placements: BTreeMap<String, Vec<String>>,
    gauges: WorkerGauges,
) -> Stream<'s, u64, Vec<Transition>> {
    let scope = steps.scope();
    let (worker, peers) = (scope.index(), scope.peers());
    let (handle, handed) = scope.feedback::<Vec<Handoff>>(1);
    let mut builder = OperatorBuilder::new("EvaluateAlerts".to_string(), scope);
    // A rule's records go to the worker that owns the rule, but those of a rule whose groups
    // are each on one worker stay where they are: this worker's index routes to itself.
    let here = worker as u64;
    let owner = move |r: &StepRecord| if r.local { here } else { rule_hash(&r.rule) };
    let mut steps_in = builder.new_input(steps, Exchange::new(owner));
    let mut rules_in = builder.new_input(rules, Pipeline);
    let mut handed_in = builder.new_input(handed, Exchange::new(|h: &Handoff| h.to as u64));
    let (out, transitions) = builder.new_output();
    let mut out = OutputBuilder::from(out);
    let (hand_out, handoffs) = builder.new_output();
    let mut hand_out = OutputBuilder::from(hand_out);
    builder.build(move |mut capabilities| {
        let mut handing = capabilities.pop();
        let mut held = capabilities.pop();
        let mut evaluator = Evaluator::placed(placements, worker, peers);
        let (mut emitted, mut handed_over) = (Vec::new(), Vec::new());
        move |frontiers| {
            steps_in.for_each(|capability, records| {
                if let Some(&time) = capability.least() {
                    evaluator.stash_steps(time, records.drain(..));
                }
            });
            rules_in.for_each(|_, updates| evaluator.stash_rules(updates.drain(..)));
            handed_in.for_each(|capability, handoffs| {
                if let Some(&time) = capability.least() {
                    evaluator.take_handoffs(time, handoffs.drain(..));
                }
            });
            let until = frontier(&frontiers[..2]);
            let handed = frontier(&frontiers[2..]);
            let waiting = evaluator.advance(
                until,
                handed,
                |time, transition| emitted.push((time, transition)),
                |time, handoff| handed_over.push((time, handoff)),
            );
            let count = emitted.len();
            if let (Some(cap), false) = (&held, emitted.is_empty()) {
                send(&mut out.activate(), cap, &mut emitted);
            }
            if let (Some(cap), false) = (&handing, handed_over.is_empty()) {
                send(&mut hand_out.activate(), cap, &mut handed_over);
            }
            hold_at(&mut held, waiting.or(until));
            hold_at(
                &mut handing,
                evaluator.next_handoff(frontier(&frontiers[1..2])),
            );
            gauges.record_alerts(count, evaluator.firing());
        }
    });
    handoffs.connect_loop(handle);
    transitions
}
