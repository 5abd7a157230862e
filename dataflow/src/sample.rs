//! What a source puts into the dataflow: samples, and the label strings of each series once.

use serde::{Deserialize, Serialize};

use crate::series::{Labels, SeriesId};

/// One measurement: 24 bytes that move through the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Which series.
    pub series: SeriesId,
    /// Event time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The value.
    pub value: f64,
}

/// A record of a source stream. A source sends `Series` before the first sample of each series it
/// sends; timely keeps the order between one sender and one receiver, so a receiver always knows a
/// series' labels by the time its samples arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SourceRecord {
    /// The labels of a series, `metric_name` included.
    Series(SeriesId, Labels),
    /// A sample.
    Sample(Sample),
}

impl SourceRecord {
    /// The series this record is about, which decides the worker it goes to.
    pub fn series(&self) -> SeriesId {
        match self {
            SourceRecord::Series(series, _) => *series,
            SourceRecord::Sample(sample) => sample.series,
        }
    }
}
