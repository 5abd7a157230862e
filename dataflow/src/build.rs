//! A checked plan to operators: for each source a series stage, for each rollup a merge (and for
//! cascades a cascade stage), for rules reading rollups an alert stage, and an evaluator for the
//! rules that read sources and one for those that read rollups.

use std::collections::BTreeMap;

use pipe_dsl::Plan;
use timely::dataflow::Stream;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Concatenate, Exchange};

use crate::alert::{StepRecord, Transition};
use crate::operators::{
    StageStreams, WindowResult, cascade, evaluate, merge_windows, rollup_alerts, series_stage,
};
use crate::rollup::LocalRollup;
use crate::rules::RuleUpdate;
use crate::sample::SourceRecord;
use crate::stage::SeriesStage;
use crate::telemetry::{Telemetry, WorkerGauges};

/// What a built plan produces.
pub struct Outputs<'s> {
    /// Closed windows of each rollup, by name.
    pub rollups: BTreeMap<String, Stream<'s, u64, Vec<WindowResult>>>,
    /// Alert transitions of every rule.
    pub alerts: Stream<'s, u64, Vec<Transition>>,
}

/// The records of one source, and whether the source already sends each series to the worker
/// that owns it (a generator does; Kafka partitions do not), which spares an exchange.
pub struct SourceStream<'s> {
    /// The records.
    pub records: Stream<'s, u64, Vec<SourceRecord>>,
    /// Whether each worker already holds exactly the series it owns by the plan's placement
    /// ([`Plan::placement`], [`Labels::place`](crate::series::Labels::place)). Records of
    /// other sources are exchanged by their place once; either way, rollups whose groups stay
    /// on one worker then close in place and rules whose groups do are evaluated in place.
    pub placed: bool,
}

/// Why a plan could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// Builds the plan over `sources` (by name) and the rules collection's updates, publishing
/// figures to `telemetry`.
pub fn build<'s>(
    plan: &Plan,
    sources: &BTreeMap<String, SourceStream<'s>>,
    rules: Stream<'s, u64, Vec<RuleUpdate>>,
    telemetry: &Telemetry,
) -> Result<Outputs<'s>, BuildError> {
    let scope = rules.scope();
    let rules = rules.broadcast();
    let local = |index: usize| {
        LocalRollup::new(index as u16, &plan.rollups[index]).ok_or_else(|| {
            BuildError(format!(
                "rollup `{}` has an invalid matcher",
                plan.rollups[index].name
            ))
        })
    };
    // How long the groups of a rollup are remembered without windows: its source's series_ttl.
    let ttl_of = |rollup: &pipe_dsl::plan::Rollup| {
        plan.source(&rollup.root_source)
            .and_then(|source| source.series_ttl)
            .map(|ttl| ttl.millis())
    };
    let mut results: BTreeMap<String, Stream<'s, u64, Vec<WindowResult>>> = BTreeMap::new();
    let mut steps: Vec<Stream<'s, u64, Vec<StepRecord>>> = Vec::new();
    let mut stage_partials = Vec::new();

    for source in &plan.sources {
        let input = sources
            .get(&source.name)
            .ok_or_else(|| BuildError(format!("no stream for source `{}`", source.name)))?;
        let records = if input.placed {
            input.records.clone()
        } else {
            input
                .records
                .clone()
                .exchange(|r: &SourceRecord| u64::from(r.place().0))
        };
        let readers: Vec<usize> = (0..plan.rollups.len())
            .filter(|&i| !plan.rollups[i].cascade && plan.rollups[i].input == source.name)
            .collect();
        let locals = readers
            .iter()
            .map(|&i| local(i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut stage = SeriesStage::new(&source.name, source.step.millis(), locals)
            .forgetting_after(source.series_ttl.map(|ttl| ttl.millis()));
        if let Some(placement) = plan.placement(&source.name) {
            stage = stage.placed_by(placement);
        }
        let StageStreams {
            partials,
            steps: source_steps,
        } = series_stage(
            records.clone(),
            rules.clone(),
            stage,
            WorkerGauges::new(telemetry),
        );
        steps.push(source_steps);
        stage_partials.extend(readers.into_iter().zip(partials));
    }

    // Operators run in the order they are built. The evaluator of the rules that read sources
    // comes before the rollups' merges and cascades, so that a step's alerts do not wait behind
    // the windows that close with it.
    // Rules over sources whose series are placed may be evaluated in place.
    let placements = plan
        .sources
        .iter()
        .filter_map(|source| Some((source.name.clone(), plan.placement(&source.name)?)))
        .collect();
    let mut alerts = vec![evaluate(
        scope.concatenate(std::mem::take(&mut steps)),
        rules.clone(),
        placements,
        WorkerGauges::new(telemetry),
    )];

    for (index, part) in stage_partials {
        let rollup = &plan.rollups[index];
        let merged = merge_windows(
            part,
            plan.closes_in_place(rollup),
            WorkerGauges::new(telemetry),
        );
        results.insert(rollup.name.clone(), merged);
    }

    for (index, rollup) in plan.rollups.iter().enumerate().filter(|(_, r)| r.cascade) {
        let input = results
            .get(&rollup.input)
            .ok_or_else(|| {
                BuildError(format!(
                    "rollup `{}` reads `{}`, built later",
                    rollup.name, rollup.input
                ))
            })?
            .clone();
        let partials = cascade(
            input,
            local(index)?,
            ttl_of(rollup),
            WorkerGauges::new(telemetry),
        );
        let merged = merge_windows(
            partials,
            plan.closes_in_place(rollup),
            WorkerGauges::new(telemetry),
        );
        results.insert(rollup.name.clone(), merged);
    }

    for rollup in plan
        .rollups
        .iter()
        .filter(|r| plan.alerts.iter().any(|rule| rule.input == r.name))
    {
        let windows = results[&rollup.name].clone();
        steps.push(rollup_alerts(
            windows,
            rules.clone(),
            &rollup.name,
            rollup.window.size().millis(),
            ttl_of(rollup),
        ));
    }

    if !steps.is_empty() {
        alerts.push(evaluate(
            scope.concatenate(steps),
            rules,
            BTreeMap::new(),
            WorkerGauges::new(telemetry),
        ));
    }
    Ok(Outputs {
        rollups: results,
        alerts: scope.concatenate(alerts),
    })
}
