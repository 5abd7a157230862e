//! Alert step partials for rules that read a rollup: each closed window of the rollup is one
//! step of one group.

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::timing::{frontier, hold_at, send};
use crate::alert::{PartialStore, StepClock, StepRecord};
use crate::rollup::WindowResult;
use crate::rules::{RuleBook, RuleUpdate};
use crate::series::{GroupId, IdMap, Labels};

/// The rules reading one rollup, on one worker.
struct RollupAlertStage {
    store: PartialStore,
    /// The rollup's groups seen here, numbered for the store, with their labels and the start
    /// of their last window.
    groups: Vec<(GroupId, Labels, u64)>,
    numbers: IdMap<GroupId, u32>,
    /// Groups without a window for this long are forgotten.
    ttl: Option<u64>,
    swept_at: u64,
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
            self.store
                .reconfigure(&self.book, self.groups.iter().map(|(_, labels, _)| labels));
        }
    }

    /// Fires every boundary before `limit` (up to the end of the input when `None`).
    fn fire_until(&mut self, limit: Option<u64>) {
        while let Some(boundary) = self.clock.next_due(limit) {
            self.adopt_rules(boundary);
            self.store.fire(boundary, &mut self.fired);
        }
    }

    /// A window is seen by the boundary at its end, after those before it have fired.
    fn take(&mut self, window: WindowResult) {
        self.fire_until(Some(window.end));
        self.clock.saw(window.end);
        self.adopt_rules(window.start);
        let index = match self.numbers.get(&window.group) {
            Some(&index) => index,
            None => {
                let index = self.groups.len() as u32;
                self.store.register(&window.labels);
                self.groups
                    .push((window.group, window.labels.clone(), window.start));
                self.numbers.insert(window.group, index);
                index
            }
        };
        self.groups[index as usize].2 = window.start;
        self.store
            .merge_step(index, window.start / self.step, &window.state);
        if let Some(ttl) = self.ttl
            && window.start >= self.swept_at + ttl / 4
        {
            self.swept_at = window.start;
            self.forget_quiet(window.start.saturating_sub(ttl));
        }
    }

    /// Forgets the groups without a window since `horizon`, renumbering the rest.
    fn forget_quiet(&mut self, horizon: u64) {
        let mut before = Vec::with_capacity(self.groups.len());
        let mut kept = Vec::with_capacity(self.groups.len());
        for (at, group) in std::mem::take(&mut self.groups).into_iter().enumerate() {
            if group.2 >= horizon {
                before.push(at);
                kept.push(group);
            }
        }
        self.groups = kept;
        self.numbers = self
            .groups
            .iter()
            .enumerate()
            .map(|(at, (id, _, _))| (*id, at as u32))
            .collect();
        let labels = before
            .into_iter()
            .zip(self.groups.iter().map(|(_, labels, _)| labels));
        self.store.retain(&self.book, labels);
    }
}

/// Keeps the closed windows of rollup `input` (of `step` milliseconds) as alert step partials;
/// groups without a window for `ttl` milliseconds are forgotten.
pub fn rollup_alerts<'s>(
    windows: Stream<'s, u64, Vec<WindowResult>>,
    rules: Stream<'s, u64, Vec<RuleUpdate>>,
    input: &str,
    step: u64,
    ttl: Option<u64>,
) -> Stream<'s, u64, Vec<StepRecord>> {
    let mut stage = RollupAlertStage {
        store: PartialStore::new(input, step),
        groups: Vec::new(),
        numbers: IdMap::default(),
        ttl,
        swept_at: 0,
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
            stage.fire_until(until);
            if let (Some(cap), false) = (&held, stage.fired.is_empty()) {
                send(&mut out.activate(), cap, &mut stage.fired);
            }
            hold_at(&mut held, until);
        }
    });
    records
}
