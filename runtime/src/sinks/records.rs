//! The records sinks receive, whatever stream they read, and their order in output.

use pipe_dataflow::SourceRecord;
use pipe_dataflow::alert::Transition;
use pipe_dataflow::operators::WindowResult;
use pipe_dataflow::series::{IdMap, Labels, SeriesId};
use pipe_dsl::plan::{Aggregate, Rollup};

/// One thing for a sink to write.
#[derive(Debug, Clone)]
pub enum Record<'a> {
    /// A raw sample with its series' labels.
    Sample {
        /// The source's name.
        stream: &'a str,
        /// The series, which stores key raw rows by.
        series: SeriesId,
        /// Labels, `metric_name` included.
        labels: &'a Labels,
        /// Event time.
        ts: u64,
        /// Value.
        value: f64,
    },
    /// A closed rollup window.
    Window {
        /// The rollup.
        rollup: &'a Rollup,
        /// The window.
        window: &'a WindowResult,
    },
    /// An alert transition.
    Transition(&'a Transition),
}

/// The aggregates of a closed window, in the rollup's order; `None` for an empty aggregate.
pub fn aggregates<'w>(
    rollup: &'w Rollup,
    window: &'w WindowResult,
) -> impl Iterator<Item = (Aggregate, Option<f64>)> + 'w {
    let size = window.end - window.start;
    rollup
        .aggregates
        .iter()
        .map(move |&aggregate| (aggregate, window.state.value(aggregate, size)))
}

/// The labels of the series a sample sink has seen, from the `Series` records of its stream.
#[derive(Debug, Default)]
pub struct SeriesNames {
    names: IdMap<SeriesId, Labels>,
}

impl SeriesNames {
    /// Learns a series, or returns the sample of a record.
    pub fn learn(&mut self, record: SourceRecord) -> Option<pipe_dataflow::Sample> {
        match record {
            SourceRecord::Series { id, labels, .. } => {
                self.names.insert(id, labels);
                None
            }
            SourceRecord::Sample { sample, .. } => Some(sample),
        }
    }

    /// The labels of a series.
    pub fn get(&self, id: SeriesId) -> Option<&Labels> {
        self.names.get(&id)
    }
}
