//! What a source puts into the dataflow: samples, and the label strings of each series once,
//! each with the place that decides the worker its series belongs to.

use serde::{Deserialize, Serialize};

use crate::series::{Labels, Place, SeriesId};

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
///
/// Both carry their series' [`Place`], so that a source that cannot send each series to its
/// worker itself (a Kafka partition holds whatever producers put in it) is exchanged by it once,
/// with no lookup: the place fits in the padding beside the enum's tag, and a record stays 32
/// bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SourceRecord {
    /// The labels of a series, `metric_name` included.
    Series {
        /// Where the series belongs.
        place: Place,
        /// The series.
        id: SeriesId,
        /// Its labels.
        labels: Labels,
    },
    /// A sample.
    Sample {
        /// Where its series belongs.
        place: Place,
        /// The sample.
        sample: Sample,
    },
}

impl SourceRecord {
    /// The series this record is about.
    pub fn series(&self) -> SeriesId {
        match self {
            SourceRecord::Series { id, .. } => *id,
            SourceRecord::Sample { sample, .. } => sample.series,
        }
    }

    /// Where its series belongs, which decides the worker it goes to.
    pub fn place(&self) -> Place {
        match self {
            SourceRecord::Series { place, .. } | SourceRecord::Sample { place, .. } => *place,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_is_as_small_as_a_sample_with_its_tag() {
        assert_eq!(std::mem::size_of::<super::SourceRecord>(), 32);
    }
}
