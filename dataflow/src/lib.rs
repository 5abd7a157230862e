//! Plans to timely dataflows: event-time windows, rollups and alert evaluation. It does no IO, so
//! all of its semantics are tested deterministically in-process against a naive batch oracle.
//!
//! A source stream carries [`SourceRecord`]s at its watermark. [`build`] turns a plan into
//! operators: per source a series stage (samples in event-time order, per-worker partial windows,
//! alert step partials), per rollup a merge of partials from every worker (and for cascades a
//! stage that merges closed input windows), and one evaluator for the alert rules, which are a
//! differential collection so that they can change while the pipeline runs.

pub mod alert;
mod build;
pub mod harness;
pub mod operators;
mod prefetch;
pub mod rollup;
pub mod rules;
pub mod sample;
pub mod series;
pub mod stage;
pub mod state;
pub mod telemetry;
pub mod timed;
pub mod watermark;
pub mod window;

pub use build::{BuildError, Outputs, SourceStream, build};
pub use sample::{Sample, SourceRecord};

/// The handle through which a source sends its records into a dataflow.
pub type SourceInput = timely::dataflow::InputHandle<
    u64,
    timely::container::CapacityContainerBuilder<Vec<SourceRecord>>,
>;
