//! Alert step partials for rules that read a rollup: each closed window of the rollup is one
//! step of one group.

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::timing::{frontier, hold_at, send};
use crate::alert::{PartialStore, StepClock, StepRecord};
use crate::rules::{RuleBook, RuleUpdate};
use crate::series::{GroupId, IdMap, Labels};
use crate::stage::WindowResult;

/// The rules reading one rollup, on one worker.
struct RollupAlertStage {
    store: PartialStore,
    /// The rollup's groups seen here, numbered for the store, with their labels.
    groups: Vec<Labels>,
    numbers: IdMap<GroupId, u32>,
    clock: StepClock,
    book: RuleBook,
    step: u64,
    fired: Vec<(u64, StepRecord)>,
}

impl RollupAlertStage {
    fn adopt_rules(&mut self, time: u64) {
        if self.book.next_update().is_some_and(|update| update <= time)
            && self.book.apply_until(time).changed
        {
            self.store.reconfigure(&self.book, self.groups.iter());
        }
    }

    /// Fires every boundary up to `limit` (the end of the input when `None`).
    fn fire_until(&mut self, limit: Option<u64>) {
        while let Some(boundary) = self.clock.next_due(limit) {
            self.adopt_rules(boundary);
            self.store.fire(boundary, &mut self.fired);
        }
    }

    fn take(&mut self, window: WindowResult) {
        self.fire_until(Some(window.start));
        self.clock.saw(window.start);
        self.adopt_rules(window.start);
        let index = match self.numbers.get(&window.group) {
            Some(&index) => index,
            None => {
                let index = self.groups.len() as u32;
                self.store.register(&window.labels);
                self.groups.push(window.labels.clone());
                self.numbers.insert(window.group, index);
                index
            }
        };
        self.store
            .merge_step(index, window.start / self.step, &window.state);
    }
}

/// Keeps the closed windows of rollup `input` (of `step` milliseconds) as alert step partials.
pub fn rollup_alerts<'s>(
    windows: Stream<'s, u64, Vec<WindowResult>>,
    rules: Stream<'s, u64, Vec<RuleUpdate>>,
    input: &str,
    step: u64,
) -> Stream<'s, u64, Vec<StepRecord>> {
    let mut stage = RollupAlertStage {
        store: PartialStore::new(input, step),
        groups: Vec::new(),
        numbers: IdMap::default(),
        clock: StepClock::new(step),
        book: RuleBook::default(),
        step,
        fired: Vec::new(),
    };
    let mut builder = OperatorBuilder::new("RollupAlerts".to_string(), windows.scope());
    let mut windows_in = builder.new_input(windows, Pipeline);
    let mut rules_in = builder.new_input(rules, Pipeline);
    let (out, records) = builder.new_output();
    let mut out = OutputBuilder::from(out);
    builder.build(move |mut capabilities| {
        let mut held = capabilities.pop();
        let mut pending: Vec<WindowResult> = Vec::new();
        move |frontiers| {
            windows_in.for_each(|_, windows| pending.append(windows));
            rules_in.for_each(|_, updates| stage.book.stash(updates.drain(..)));
            let until = frontier(frontiers);
            // Windows arrive at their end: those ending before the frontier are complete.
            let complete = until.map(|time| time.saturating_sub(1));
            pending.sort_by_key(|window| window.end);
            let ready = pending.partition_point(|w| complete.is_none_or(|c| w.end <= c));
            for window in pending.drain(..ready) {
                stage.take(window);
            }
            stage.fire_until(complete);
            if let (Some(cap), false) = (&held, stage.fired.is_empty()) {
                send(&mut out.activate(), cap, &mut stage.fired);
            }
            hold_at(&mut held, until);
        }
    });
    records
}
