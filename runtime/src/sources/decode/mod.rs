//! Messages to records, for every source that reads messages (Kafka, files): the JSON and
//! line-protocol decoders, the dictionary that turns label sets into series ids once, and the
//! reasons a message is refused, counted per reason for the whole process.
//!
//! The hot path allocates nothing: a known series is found by a 128-bit hash of its metric name
//! and the raw bytes of its labels as the message wrote them, without parsing the labels; only a
//! series seen for the first time has its labels parsed, checked, sorted and interned.

mod dead_letters;
mod dictionary;
mod influx;
mod json;
mod json_fast;

pub use dead_letters::{DeadLetters, Destination};
pub use dictionary::{Dictionary, SeriesLimit};

use std::sync::atomic::{AtomicU64, Ordering};

use pipe_dataflow::SourceRecord;
use pipe_dsl::plan::{Admission, Format};

/// Why a message did not enter the pipeline. Each one is counted, and sent to the source's
/// dead-letter destination with its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Not JSON, or not line protocol.
    Malformed,
    /// A field of the wrong type, such as a string timestamp or a numeric label.
    WrongType,
    /// `metric_name`, `timestamp` or `value` is missing.
    MissingField,
    /// The value is NaN or infinite.
    NonFinite,
    /// A metric or label name Prometheus would not accept, or a label given twice.
    InvalidName,
    /// Behind the watermark: the windows it belongs to may have closed.
    Late,
    /// More than ten minutes ahead of the wall clock.
    Future,
    /// Larger than `max_message_bytes`.
    Oversize,
    /// A new series over the source's `max_series`.
    MaxSeries,
}

impl Reason {
    /// Every reason, in the order figures list them.
    pub const ALL: [Reason; 9] = [
        Reason::Malformed,
        Reason::WrongType,
        Reason::MissingField,
        Reason::NonFinite,
        Reason::InvalidName,
        Reason::Late,
        Reason::Future,
        Reason::Oversize,
        Reason::MaxSeries,
    ];

    /// The name in headers, logs and figures.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::WrongType => "wrong_type",
            Reason::MissingField => "missing_field",
            Reason::NonFinite => "non_finite",
            Reason::InvalidName => "invalid_name",
            Reason::Late => "late",
            Reason::Future => "future",
            Reason::Oversize => "oversize",
            Reason::MaxSeries => "max_series",
        }
    }

    /// The reason called `name`.
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|reason| reason.name() == name)
    }
}

/// How far ahead of the wall clock a timestamp may be.
pub const MAX_AHEAD_MS: u64 = 10 * 60_000;

/// Bad messages of one process, by reason.
#[derive(Debug, Default)]
pub struct DeadLetterCounts {
    counts: [AtomicU64; Reason::ALL.len()],
}

impl DeadLetterCounts {
    /// Counts one message.
    pub fn count(&self, reason: Reason) {
        self.counts[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages refused for `reason` so far.
    pub fn get(&self, reason: Reason) -> u64 {
        self.counts[reason as usize].load(Ordering::Relaxed)
    }

    /// Every reason with its count.
    pub fn all(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL
            .into_iter()
            .map(|reason| (reason, self.get(reason)))
    }

    /// Every reason's count as a JSON object by the reason's name: what run summaries and
    /// `pipectl status` show.
    pub fn by_name(&self) -> serde_json::Map<String, serde_json::Value> {
        self.all()
            .map(|(reason, count)| (reason.name().to_string(), count.into()))
            .collect()
    }

    /// Messages refused in all.
    pub fn total(&self) -> u64 {
        self.all().map(|(_, count)| count).sum()
    }
}

/// A sample as a message states it, before its series is looked up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Milliseconds since the epoch.
    pub ts: u64,
    /// A finite value.
    pub value: f64,
}

/// Decodes messages of one format into records, through a dictionary of the series seen.
pub struct Decoder {
    admission: Admission,
    dictionary: Dictionary,
    influx: influx::Lines,
}

impl Decoder {
    /// A decoder for messages admitted by `admission`, into `dictionary`.
    pub fn new(admission: Admission, dictionary: Dictionary) -> Self {
        Decoder {
            admission,
            dictionary,
            influx: influx::Lines::default(),
        }
    }

    /// The series dictionary, to forget series by.
    pub fn dictionary(&mut self) -> &mut Dictionary {
        &mut self.dictionary
    }

    /// Decodes one message into `out`, each sample's time first offered to `admit`, which
    /// refuses late and far-future samples and passes over (`Ok(false)`) those a restart has
    /// written already. A message that cannot be read is refused whole; one whose samples
    /// `admit` refused in part is taken with the rest, and the first reason is returned with
    /// it so that the message still reaches the dead letters.
    pub fn decode(
        &mut self,
        message: &[u8],
        admit: &mut impl FnMut(u64) -> Result<bool, Reason>,
        out: &mut Vec<SourceRecord>,
    ) -> Decoded {
        if message.len() as u64 > self.admission.max_message_bytes {
            return Decoded::refused(Reason::Oversize);
        }
        match self.admission.format {
            Format::Json => {
                let sent = json::read(message).and_then(|(key, reading)| {
                    if !admit(reading.ts)? {
                        return Ok(0);
                    }
                    let entry = self
                        .dictionary
                        .find(key, reading.ts, || json::labels(message))?;
                    entry.send(reading, out);
                    Ok(1)
                });
                match sent {
                    Ok(samples) => Decoded {
                        samples,
                        refused: None,
                    },
                    Err(reason) => Decoded::refused(reason),
                }
            }
            Format::Influx => {
                if let Err(reason) = self.influx.read(message) {
                    return Decoded::refused(reason);
                }
                let mut decoded = Decoded::default();
                for (at, reading) in self.influx.readings() {
                    let key = self.influx.key(message, at);
                    let sent = admit(reading.ts).and_then(|admitted| {
                        let labels = || self.influx.labels(message, at);
                        let entry = self.dictionary.find(key, reading.ts, labels)?;
                        Ok(admitted.then_some(entry))
                    });
                    match sent {
                        Ok(Some(entry)) => {
                            entry.send(reading, out);
                            decoded.samples += 1;
                        }
                        Ok(None) => {}
                        Err(reason) => {
                            decoded.refused.get_or_insert(reason);
                        }
                    }
                }
                decoded
            }
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Samples sent.
    pub samples: usize,
    /// Why the message, or some of its samples, were refused.
    pub refused: Option<Reason>,
}

impl Decoded {
    fn refused(reason: Reason) -> Self {
        Decoded {
            samples: 0,
            refused: Some(reason),
        }
    }
}

/// Labels as a message states them, before they are checked: `(name, value)`, `metric_name`
/// first.
pub type StatedLabels = Vec<(String, String)>;

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`, as Prometheus has it).
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
