//! The messages `pipectl loadgen` sends: the reference message for every series of a simulated
//! fleet at every tick, and, in their place now and then, a bad message of each kind a source
//! refuses.

use std::io::Write;

use pipe_dataflow::series::Labels;

use crate::sources::decode::Reason;
use crate::sources::generator::Fleet;

/// One series, with where the bytes of its message that do not change from tick to tick are.
struct Series {
    host: u64,
    metric: u64,
    base: f64,
    offset: u64,
    /// Its key, head and tail, one after another in `Messages::text` from here.
    at: usize,
    key: u16,
    head: u16,
    tail: u16,
}

/// A series' key, head (`{"metric_name":"…","timestamp":`) and tail (`,"labels":{…}}`).
struct Parts<'a> {
    key: &'a [u8],
    head: &'a [u8],
    tail: &'a [u8],
}

/// How far behind its tick a late message is.
pub const LATE_BY_MS: u64 = 3_600_000;

/// How far ahead of the wall clock a far-future message is.
pub const AHEAD_BY_MS: u64 = 3_600_000;

/// The size of an oversize message: just over the default `max_message_bytes` of 1 MB.
pub const OVERSIZE_BYTES: usize = (1 << 20) + 1024;

/// The messages of a fleet, tick by tick.
pub struct Messages {
    fleet: Fleet,
    /// In the order they are sent.
    series: Vec<Series>,
    /// Every series' key, head and tail, in the order of `series`: read front to back as
    /// messages are made, where a string of each series' own, scattered over the heap, missed
    /// the cache on most messages (a fifth of loadgen's time).
    text: Vec<u8>,
    overflow: u64,
}

/// A message to send.
pub struct Message<'a> {
    /// The key: `metric_name:host`.
    pub key: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
    /// Its event time, for pacing.
    pub ts: u64,
}

impl Messages {
    /// The messages of `fleet`, in the order the generator source produces its samples.
    pub fn new(fleet: Fleet) -> Self {
        let mut order: Vec<(u64, u64, u64)> = (0..fleet.hosts)
            .flat_map(|host| (0..fleet.metrics).map(move |metric| (host, metric)))
            .map(|(host, metric)| (fleet.offset(host, metric), host, metric))
            .collect();
        order.sort_unstable();
        let mut text = Vec::new();
        let push = |text: &mut Vec<u8>, part: String| {
            text.extend_from_slice(part.as_bytes());
            u16::try_from(part.len()).expect("a series' labels fit in 64 KiB")
        };
        let series = order
            .into_iter()
            .map(|(offset, host, metric)| {
                let name = fleet.metric_name(metric);
                let host_name = Fleet::host_name(host);
                let labels = labels_json(&fleet.labels(host, metric));
                let at = text.len();
                let key = push(&mut text, format!("{name}:{host_name}"));
                let head = push(
                    &mut text,
                    format!("{{\"metric_name\":{},\"timestamp\":", json_string(&name)),
                );
                let tail = push(&mut text, format!(",\"labels\":{labels}}}"));
                Series {
                    host,
                    metric,
                    base: fleet.base(host, metric),
                    offset,
                    at,
                    key,
                    head,
                    tail,
                }
            })
            .collect();
        Messages {
            fleet,
            series,
            text,
            overflow: 0,
        }
    }

    fn parts(&self, series: &Series) -> Parts<'_> {
        let key_end = series.at + usize::from(series.key);
        let head_end = key_end + usize::from(series.head);
        Parts {
            key: &self.text[series.at..key_end],
            head: &self.text[key_end..head_end],
            tail: &self.text[head_end..head_end + usize::from(series.tail)],
        }
    }

    /// Series in the fleet.
    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// Series `at`'s message for tick `tick` into `buffer`, or `None` when its host is silent
    /// then.
    pub fn good<'a>(
        &'a self,
        at: usize,
        tick: u64,
        buffer: &'a mut Vec<u8>,
    ) -> Option<Message<'a>> {
        let series = &self.series[at];
        if self.fleet.silent(series.host, tick) {
            return None;
        }
        let ts = tick * self.fleet.interval + series.offset;
        let value = self
            .fleet
            .value_from(series.base, series.host, series.metric, tick);
        let parts = self.parts(series);
        buffer.clear();
        buffer.extend_from_slice(parts.head);
        write!(buffer, "{ts},\"value\":{value}").expect("writing to a vector");
        buffer.extend_from_slice(parts.tail);
        Some(Message {
            key: parts.key,
            payload: buffer,
            ts,
        })
    }

    /// A bad message for `reason` in the place of series `at`'s at tick `tick`.
    pub fn bad<'a>(
        &'a mut self,
        reason: Reason,
        at: usize,
        tick: u64,
        now_ms: u64,
        buffer: &'a mut Vec<u8>,
    ) -> Message<'a> {
        if reason == Reason::MaxSeries {
            self.overflow += 1;
        }
        let series = &self.series[at];
        let ts = tick * self.fleet.interval + series.offset;
        let parts = self.parts(series);
        let stamp = |buffer: &mut Vec<u8>, ts: u64, value: &str| {
            buffer.clear();
            buffer.extend_from_slice(parts.head);
            write!(buffer, "{ts},\"value\":{value}").expect("writing to a vector");
            buffer.extend_from_slice(parts.tail);
        };
        buffer.clear();
        match reason {
            Reason::Malformed => buffer.extend_from_slice(parts.head),
            Reason::WrongType => {
                buffer.extend_from_slice(parts.head);
                write!(buffer, "\"{ts}\",\"value\":1").expect("writing to a vector");
                buffer.extend_from_slice(parts.tail);
            }
            Reason::MissingField => {
                buffer.extend_from_slice(parts.head);
                write!(buffer, "{ts}").expect("writing to a vector");
                buffer.extend_from_slice(parts.tail);
            }
            Reason::NonFinite => stamp(buffer, ts, "\"NaN\""),
            Reason::InvalidName => {
                write!(
                    buffer,
                    "{{\"metric_name\":\"9 bad name\",\"timestamp\":{ts},\"value\":1}}"
                )
                .expect("writing to a vector");
            }
            Reason::Late => stamp(buffer, ts.saturating_sub(LATE_BY_MS), "1"),
            Reason::Future => stamp(buffer, now_ms + AHEAD_BY_MS, "1"),
            Reason::Oversize => {
                stamp(buffer, ts, "1");
                buffer.pop();
                write!(buffer, ",\"padding\":\"").expect("writing to a vector");
                buffer.resize(OVERSIZE_BYTES, b'x');
                buffer.extend_from_slice(b"\"}");
            }
            Reason::MaxSeries => {
                write!(
                    buffer,
                    "{{\"metric_name\":\"overflow\",\"timestamp\":{ts},\"value\":1,\"labels\":{{\"series\":\"{}\"}}}}",
                    self.overflow
                )
                .expect("writing to a vector");
            }
        }
        Message {
            key: parts.key,
            payload: buffer,
            ts,
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

fn labels_json(labels: &Labels) -> String {
    let object: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .filter(|(name, _)| *name != pipe_dsl::plan::METRIC_NAME)
        .map(|(name, value)| {
            (
                name.to_string(),
                serde_json::Value::String(value.to_string()),
            )
        })
        .collect();
    serde_json::to_string(&object).expect("labels serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::decode::{Decoder, Dictionary};
    use pipe_dsl::plan::{Admission, Format};

    fn fleet() -> Fleet {
        Fleet {
            hosts: 3,
            metrics: 2,
            interval: 15_000,
            seed: 1,
        }
    }

    fn decode(payload: &[u8]) -> Option<Reason> {
        let admission = Admission {
            format: Format::Json,
            max_message_bytes: 1 << 20,
            max_series: Some(6),
        };
        let mut decoder = Decoder::new(admission.clone(), Dictionary::new(None, None, None));
        let mut out = Vec::new();
        let now = 1_800_000_000_000;
        let mut admit = |ts: u64| {
            if ts > now + 600_000 {
                Err(Reason::Future)
            } else if ts < now - 600_000 {
                Err(Reason::Late)
            } else {
                Ok(true)
            }
        };
        decoder.decode(payload, &mut admit, &mut out).refused
    }

    #[test]
    fn good_messages_decode_to_the_generator_samples_and_bad_ones_to_their_reason() {
        let mut messages = Messages::new(fleet());
        let tick = 1_800_000_000_000 / 15_000;
        let mut buffer = Vec::new();
        let message = messages.good(0, tick, &mut buffer).unwrap();
        assert_eq!(decode(message.payload), None);
        let text = String::from_utf8(message.payload.to_vec()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            parsed["labels"]["host"]
                .as_str()
                .unwrap()
                .starts_with("host-")
        );
        for reason in Reason::ALL {
            let message = messages.bad(reason, 1, tick, 1_800_000_000_000, &mut buffer);
            let payload = message.payload.to_vec();
            let refused = if reason == Reason::MaxSeries {
                // The dictionary limit is exercised by the source tests; here it is a new
                // series of valid shape.
                assert!(String::from_utf8_lossy(&payload).contains("overflow"));
                continue;
            } else {
                decode(&payload)
            };
            assert_eq!(
                refused,
                Some(reason),
                "{}",
                String::from_utf8_lossy(&payload[..payload.len().min(200)])
            );
        }
    }
}
