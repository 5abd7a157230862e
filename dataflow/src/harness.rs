//! Runs a plan in timely with `workers` workers over a scripted input, as a source would feed it,
//! and collects every closed window and alert transition: the reference the dataflow tests
//! compare against an oracle and worker counts, and that connector tests compare real sources
//! against.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use differential_dataflow::input::Input as _;
use pipe_dsl::Plan;
use timely::dataflow::operators::{Input, Inspect, Probe};

use crate::alert::Transition;
use crate::operators::WindowResult;
use crate::rules::{RuleRecord, rule_record};
use crate::series::{Labels, Place, SeriesId, owner};
use crate::telemetry::{Snapshot, Telemetry};
use crate::watermark::Watermark;
use crate::{Sample, SourceInput, SourceRecord, SourceStream, build};

/// What arrives at the source, in arrival order, and rule changes at event times.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// `(labels, timestamp, value)` in the order the source receives them.
    pub samples: Vec<(Labels, u64, f64)>,
    /// Rule changes: at an event time, records added (+1) or removed (−1).
    pub rule_changes: Vec<(u64, Vec<(RuleRecord, isize)>)>,
    /// How many samples the source sends before advancing its watermark.
    pub batch: usize,
    /// An event time the source's frontier reaches before the input closes, as a source's
    /// watermark follows the wall clock once its input stops: rules are evaluated up to it.
    pub until: Option<u64>,
}

/// Everything a run produced, sorted so that runs can be compared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    /// Closed windows by rollup name, sorted by start and labels.
    pub windows: BTreeMap<String, Vec<WindowResult>>,
    /// Transitions, sorted by time, rule, group and kind.
    pub transitions: Vec<Transition>,
}

/// How the source's records reach the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feeding {
    /// Worker 0 sends every record, and the dataflow routes them to their owners.
    FromOneWorker,
    /// Each worker sends the series it owns by the plan's placement, as the generator does.
    Placed,
}

/// Runs the plan's first source over the script, with the plan's rules inserted at time 0.
pub fn run(plan: &Plan, script: &Script, workers: usize) -> Run {
    run_fed(plan, script, workers, Feeding::FromOneWorker)
}

/// [`run`], with the source's records reaching the workers as `feeding` says.
pub fn run_fed(plan: &Plan, script: &Script, workers: usize, feeding: Feeding) -> Run {
    run_measured(plan, script, workers, feeding).0
}

/// [`run_fed`], with the figures the operators of every worker published at the end: the
/// state they keep, such as the series they remember.
pub fn run_measured(
    plan: &Plan,
    script: &Script,
    workers: usize,
    feeding: Feeding,
) -> (Run, Snapshot) {
    let telemetry = Telemetry::new();
    let shared = Arc::clone(&telemetry);
    let plan = Arc::new(plan.clone());
    let script = Arc::new(script.clone());
    let windows: Arc<Mutex<BTreeMap<String, Vec<WindowResult>>>> = Arc::default();
    let transitions: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let (windows_out, transitions_out) = (Arc::clone(&windows), Arc::clone(&transitions));
    timely::execute(timely::Config::process(workers), move |worker| {
        let telemetry = Arc::clone(&shared);
        let source = plan.sources[0].name.clone();
        let (mut input, rules, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, records) = scope.new_input::<Vec<SourceRecord>>();
            let (rules_input, rules) = scope.new_collection::<RuleRecord, isize>();
            let sources = BTreeMap::from([(
                source.clone(),
                SourceStream {
                    records,
                    placed: feeding == Feeding::Placed,
                },
            )]);
            let outputs = build(&plan, &sources, rules.inner, &telemetry).expect("plan builds");
            let mut streams = Vec::new();
            for (name, stream) in outputs.rollups {
                let windows = Arc::clone(&windows_out);
                streams.push(stream.inspect(move |w: &WindowResult| {
                    windows
                        .lock()
                        .unwrap()
                        .entry(name.clone())
                        .or_default()
                        .push(w.clone());
                }));
            }
            let transitions = Arc::clone(&transitions_out);
            let (probe, _) = outputs
                .alerts
                .inspect(move |t: &Transition| transitions.lock().unwrap().push(t.clone()))
                .probe();
            for stream in streams {
                stream.probe_with(&probe);
            }
            (input, rules_input, probe)
        });
        // Worker 0 holds the rules; the others close their input of them at once.
        let mut rules = (worker.index() == 0).then_some(rules);
        for rules in rules.iter_mut() {
            for rule in &plan.alerts {
                rules.insert(rule_record(rule));
            }
        }
        let (index, peers) = (worker.index(), worker.peers());
        let owns = |place: Place| match feeding {
            Feeding::FromOneWorker => index == 0,
            Feeding::Placed => owner(place, peers) == index,
        };
        if feeding == Feeding::Placed || index == 0 {
            feed(
                &plan,
                &script,
                owns,
                &mut input,
                rules.as_mut(),
                worker,
                &probe,
            );
        }
        drop(input);
        drop(rules);
        while !probe.done() {
            worker.step();
        }
    })
    .expect("timely runs");
    let mut windows = Arc::try_unwrap(windows).unwrap().into_inner().unwrap();
    for list in windows.values_mut() {
        list.sort_by(|a, b| (a.start, &a.labels).cmp(&(b.start, &b.labels)));
    }
    let mut transitions = Arc::try_unwrap(transitions).unwrap().into_inner().unwrap();
    transitions
        .sort_by(|a, b| (a.at, &a.rule, &a.group, a.kind).cmp(&(b.at, &b.rule, &b.group, b.kind)));
    let run = Run {
        windows,
        transitions,
    };
    (run, telemetry.snapshot())
}

/// Feeds the series `owns` of the script as a source does: late samples left out, each series'
/// labels before its first sample, the watermark (over every sample) advanced after each batch,
/// and, given `rules`, rule changes at their times.
fn feed(
    plan: &Plan,
    script: &Script,
    owns: impl Fn(Place) -> bool,
    input: &mut SourceInput,
    mut rules: Option<&mut differential_dataflow::input::InputSession<u64, RuleRecord, isize>>,
    worker: &mut timely::worker::Worker,
    probe: &timely::dataflow::ProbeHandle<u64>,
) {
    let mut watermark = Watermark::new(plan.sources[0].lateness.millis());
    let placement = plan.placement(&plan.sources[0].name);
    let ttl = plan.sources[0].series_ttl.map(|ttl| ttl.millis());
    // Each series' newest time, as a source's dictionary keeps it: a series quiet for half
    // its time to live is announced again, for the stage that may have forgotten it.
    let mut known: HashMap<SeriesId, u64> = HashMap::new();
    let mut changes = script.rule_changes.clone();
    changes.sort_by_key(|(time, _)| *time);
    let mut changes = changes.into_iter().peekable();
    for batch in script.samples.chunks(script.batch.max(1)) {
        for (labels, ts, value) in batch {
            let place = labels.place(placement.as_deref());
            if !watermark.admit(*ts) || !owns(place) {
                continue;
            }
            let series = labels.series_id();
            let newest = known.get(&series).copied();
            known.insert(series, newest.map_or(*ts, |n| n.max(*ts)));
            let quiet = |newest: u64| ttl.is_some_and(|ttl| *ts > newest + ttl / 2);
            if newest.is_none_or(quiet) {
                input.send(SourceRecord::Series {
                    place,
                    id: series,
                    labels: labels.clone(),
                });
            }
            input.send(SourceRecord::Sample {
                place,
                sample: Sample {
                    series,
                    ts: *ts,
                    value: *value,
                },
            });
        }
        let frontier = watermark.frontier().max(*input.time());
        if let Some(rules) = rules.as_deref_mut() {
            while let Some((time, _)) = changes.peek().filter(|(time, _)| *time <= frontier) {
                rules.advance_to((*time).max(*rules.time()));
                for (record, diff) in changes.next().expect("peeked").1 {
                    rules.update(record, diff);
                }
            }
            rules.advance_to(frontier);
            rules.flush();
        }
        input.advance_to(frontier);
        worker.step_while(|| probe.less_than(input.time()));
    }
    // As a source that ends does: the frontier passes its last sample before the input closes,
    // so that every worker knows where the input ended.
    let end = script
        .samples
        .iter()
        .map(|(_, ts, _)| *ts + 1)
        .chain(script.until)
        .max();
    if let Some(end) = end {
        input.advance_to(end.max(*input.time()));
    }
    if let Some(rules) = rules {
        for (time, updates) in changes {
            rules.advance_to(time.max(*rules.time()));
            for (record, diff) in updates {
                rules.update(record, diff);
            }
        }
        if let Some(end) = end {
            rules.advance_to(end.max(*rules.time()));
        }
        rules.flush();
    }
    worker.step_while(|| probe.less_than(input.time()));
}
