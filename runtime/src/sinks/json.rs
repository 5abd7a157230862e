//! Records as JSON objects: what the file sink writes, one per line, and the Kafka sink sends.
//!
//! Written straight to a byte buffer, keys in sorted order, strings escaped and numbers formatted
//! as serde_json does (the tests hold it to serde_json's output). Through serde's map machinery,
//! with a window's keys sorted per window and times formatted through `fmt`, the file sinks took
//! a quarter of a worker's time when a minute's windows closed at 200,000 samples/s.

use std::collections::BTreeMap;
use std::io;
use std::sync::LazyLock;

use pipe_dataflow::series::Labels;
use pipe_dsl::plan::Aggregate;
use serde_json::ser::{CompactFormatter, Formatter};

use super::records::{Record, aggregates};

/// Appends `record`'s JSON object to `out`.
pub fn write(record: &Record<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    match record {
        Record::Sample {
            stream,
            labels,
            ts,
            value,
            ..
        } => object(
            out,
            [
                ("labels", Field::Labels(labels)),
                ("stream", Field::Text(stream)),
                ("timestamp", Field::Time(*ts)),
                ("timestamp_ms", Field::Integer(*ts)),
                ("value", Field::Number(Some(*value))),
            ],
        ),
        Record::Window { rollup, window } => {
            let keys = &*WINDOW_KEYS;
            let mut slots = [None; WINDOW_FIELDS];
            slots[keys.stream] = Some(Field::Text(&rollup.name));
            slots[keys.start] = Some(Field::Time(window.start));
            slots[keys.end] = Some(Field::Time(window.end));
            slots[keys.start_ms] = Some(Field::Integer(window.start));
            slots[keys.labels] = Some(Field::Labels(&window.labels));
            for (aggregate, value) in aggregates(rollup, window) {
                slots[keys.aggregates[aggregate as usize]] = Some(match aggregate {
                    Aggregate::Count => Field::Integer(window.state.count),
                    _ => Field::Number(value),
                });
            }
            let fields = keys.names.iter().zip(slots);
            object(out, fields.filter_map(|(key, field)| Some((*key, field?))))
        }
        Record::Transition(t) => object(
            out,
            [
                ("annotations", Field::Annotations(&t.annotations)),
                ("at", Field::Time(t.at)),
                ("labels", Field::Labels(&t.labels)),
                ("rule", Field::Text(&t.rule)),
                ("since", Field::Time(t.since)),
                ("state", Field::Text(t.kind.word())),
                ("stream", Field::Text("alerts")),
                ("value", Field::Number(Some(t.value))),
            ],
        ),
    }
}

/// `record`'s JSON object as text: a line of a file sink, for comparisons.
pub fn to_string(record: &Record<'_>) -> io::Result<String> {
    let mut out = Vec::with_capacity(256);
    write(record, &mut out)?;
    Ok(String::from_utf8(out).expect("JSON written from strings is UTF-8"))
}

/// The keys a window's object can have: its own five and every aggregate's name.
const WINDOW_FIELDS: usize = 5 + Aggregate::ALL.len();

/// Where each key of a window's object goes among them all, sorted: worked out once instead of
/// sorting every window's keys.
struct WindowKeys {
    names: [&'static str; WINDOW_FIELDS],
    /// By `Aggregate as usize`.
    aggregates: [usize; Aggregate::ALL.len()],
    stream: usize,
    start: usize,
    end: usize,
    start_ms: usize,
    labels: usize,
}

static WINDOW_KEYS: LazyLock<WindowKeys> = LazyLock::new(|| {
    let own = ["stream", "start", "end", "start_ms", "labels"];
    let mut names = [""; WINDOW_FIELDS];
    let every = own.into_iter().chain(Aggregate::ALL.map(Aggregate::name));
    for (slot, name) in names.iter_mut().zip(every) {
        *slot = name;
    }
    names.sort_unstable();
    let at = |name: &str| {
        names
            .binary_search(&name)
            .expect("every key is among the names")
    };
    let mut aggregates = [0; Aggregate::ALL.len()];
    for aggregate in Aggregate::ALL {
        aggregates[aggregate as usize] = at(aggregate.name());
    }
    WindowKeys {
        aggregates,
        stream: at("stream"),
        start: at("start"),
        end: at("end"),
        start_ms: at("start_ms"),
        labels: at("labels"),
        names,
    }
});

/// One value of an object.
#[derive(Clone, Copy)]
enum Field<'a> {
    Text(&'a str),
    Time(u64),
    Integer(u64),
    /// Non-finite or missing numbers are `null`.
    Number(Option<f64>),
    Labels(&'a Labels),
    Annotations(&'a [(String, String)]),
}

/// An object of fields whose keys come in sorted order and need no escaping.
fn object<'a>(
    out: &mut Vec<u8>,
    fields: impl IntoIterator<Item = (&'static str, Field<'a>)>,
) -> io::Result<()> {
    out.push(b'{');
    for (at, (key, field)) in fields.into_iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        field.write(out)?;
    }
    out.push(b'}');
    Ok(())
}

impl Field<'_> {
    fn write(&self, out: &mut Vec<u8>) -> io::Result<()> {
        match *self {
            Field::Text(text) => string(out, text),
            Field::Time(millis) => time(out, millis)?,
            Field::Integer(value) => CompactFormatter.write_u64(out, value)?,
            Field::Number(Some(value)) if value.is_finite() => {
                CompactFormatter.write_f64(out, value)?
            }
            Field::Number(_) => out.extend_from_slice(b"null"),
            Field::Labels(labels) => strings(out, labels.iter()),
            Field::Annotations(annotations) => {
                let sorted: BTreeMap<&str, &str> = annotations
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                strings(out, sorted.into_iter());
            }
        }
        Ok(())
    }
}

/// An object of strings, in the order given.
fn strings<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push(b'{');
    for (at, (key, value)) in entries.enumerate() {
        if at > 0 {
            out.push(b',');
        }
        string(out, key);
        out.push(b':');
        string(out, value);
    }
    out.push(b'}');
}

/// A JSON string: copied as it is when nothing in it needs escaping (label values nearly always),
/// else escaped by serde_json.
fn string(out: &mut Vec<u8>, text: &str) {
    if plain(text.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, text).expect("a string serialises into a vector");
    }
}

/// Whether no byte is one JSON escapes (a control character, `"` or `\\`), eight bytes at a
/// time.
fn plain(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte of `x` is below `n` (n <= 0x80).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
        if below(x, 0x20)
            || below(x ^ (ONES * u64::from(b'"')), 1)
            || below(x ^ (ONES * u64::from(b'\\')), 1)
        {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&byte| byte >= 0x20 && byte != b'"' && byte != b'\\')
}

/// An event time as `"2026-11-26T21:03:15.000Z"`, as `humantime::format_rfc3339_millis` writes
/// it, without going through `fmt`; like it, an error past the year 9999.
fn time(out: &mut Vec<u8>, millis: u64) -> io::Result<()> {
    const LAST: u64 = 253_402_300_800_000;
    if millis >= LAST {
        return Err(io::Error::other(format!(
            "the time {millis} ms is past the year 9999"
        )));
    }
    let (days, millis_of_day) = (millis / 86_400_000, millis % 86_400_000);
    // Days to the civil date: Howard Hinnant's `civil_from_days`, for days since 1970.
    let z = days + 719_468;
    let (era, day_of_era) = (z / 146_097, z % 146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    let mut text = *b"\"0000-00-00T00:00:00.000Z\"";
    let mut digits = |at: usize, width: usize, value: u64| {
        let mut value = value;
        for place in (at..at + width).rev() {
            text[place] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(1, 4, year);
    digits(6, 2, month);
    digits(9, 2, day);
    digits(12, 2, millis_of_day / 3_600_000);
    digits(15, 2, millis_of_day / 60_000 % 60);
    digits(18, 2, millis_of_day / 1000 % 60);
    digits(21, 3, millis_of_day % 1000);
    out.extend_from_slice(&text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_dataflow::alert::{Transition, TransitionKind};
    use std::sync::Arc;

    #[test]
    fn a_sample_is_an_object_with_sorted_keys() {
        let labels = Labels::new([("metric_name", "cpu"), ("host", "a\"b")]);
        let record = Record::Sample {
            stream: "metrics",
            series: pipe_dataflow::series::SeriesId(7),
            labels: &labels,
            ts: 1_767_225_600_000,
            value: f64::NAN,
        };
        assert_eq!(
            to_string(&record).unwrap(),
            r#"{"labels":{"host":"a\"b","metric_name":"cpu"},"stream":"metrics","timestamp":"2026-01-01T00:00:00.000Z","timestamp_ms":1767225600000,"value":null}"#
        );
    }

    #[test]
    fn a_transition_sorts_its_annotations() {
        let transition = Transition {
            rule: Arc::from("HighCpu"),
            kind: TransitionKind::Firing,
            at: 1_767_225_615_000,
            since: 1_767_225_600_000,
            value: 97.5,
            group: Labels::new([("host", "web-1")]),
            labels: Labels::new([("host", "web-1")]),
            annotations: vec![
                ("summary".into(), "hot".into()),
                ("runbook".into(), "r".into()),
            ],
        };
        assert_eq!(
            to_string(&Record::Transition(&transition)).unwrap(),
            r#"{"annotations":{"runbook":"r","summary":"hot"},"at":"2026-01-01T00:00:15.000Z","labels":{"host":"web-1"},"rule":"HighCpu","since":"2026-01-01T00:00:00.000Z","state":"firing","stream":"alerts","value":97.5}"#
        );
    }

    proptest::proptest! {
        /// Escaping, numbers, `null` and times are serde_json's: the object equals the one
        /// serde_json makes of the same fields.
        #[test]
        fn a_sample_is_what_serde_json_makes_of_it(
            labels in proptest::collection::btree_map("\\PC{0,20}|[\\x00-\\x7f]{0,20}", "\\PC{0,20}|[\\x00-\\x7f]{0,20}", 0..5),
            value in proptest::num::f64::ANY,
            ts in 0u64..253_402_300_800_000,
        ) {
            let names = Labels::new(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let record = Record::Sample {
                stream: "metrics",
                series: pipe_dataflow::series::SeriesId(1),
                labels: &names,
                ts,
                value,
            };
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ts);
            let expected = serde_json::json!({
                "stream": "metrics",
                "timestamp": humantime::format_rfc3339_millis(at).to_string(),
                "timestamp_ms": ts,
                "value": value.is_finite().then_some(value),
                "labels": names.iter().collect::<BTreeMap<_, _>>(),
            });
            proptest::prop_assert_eq!(to_string(&record).unwrap(), expected.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn times_are_humantime_s(millis in 0u64..253_402_300_800_000) {
            let mut out = Vec::new();
            time(&mut out, millis).unwrap();
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
            let expected = format!("\"{}\"", humantime::format_rfc3339_millis(at));
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn a_time_past_the_year_9999_is_an_error_not_a_wrong_date() {
        assert_eq!(
            to_string(&Record::Sample {
                stream: "metrics",
                series: pipe_dataflow::series::SeriesId(1),
                labels: &Labels::new([("metric_name", "cpu")]),
                ts: 253_402_300_800_000,
                value: 1.0,
            })
            .unwrap_err()
            .to_string(),
            "the time 253402300800000 ms is past the year 9999"
        );
    }

    /// Every aggregate, in the order the rollup lists them, lands under its name among the
    /// window's keys, sorted, as serde_json would write the same map.
    #[test]
    fn a_window_with_every_aggregate_is_what_serde_json_makes_of_it() {
        let every = Aggregate::ALL.map(Aggregate::name).join(", ");
        let text = format!(
            "source m from generator {{ hosts = 1 }}\n\
             rollup r from m {{ window = tumble(1m), by = [host], aggs = [{every}] }}\n\
             sink s to console {{ from = r }}\n"
        );
        let compiled = pipe_dsl::compile(&text, &|_| None);
        let plan = compiled
            .plan
            .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics));
        let rollup = plan.rollup("r").unwrap();
        let mut state = pipe_dataflow::state::RollupState::default();
        for (ts, value) in [(1_000, 3.5), (16_000, 1.25), (31_000, 7.0)] {
            state.insert(ts, value, Some(1.0), true);
        }
        let window = pipe_dataflow::rollup::WindowResult {
            rollup: 0,
            group: pipe_dataflow::series::GroupId(9),
            labels: Labels::new([("host", "web \"1\"")]),
            start: 0,
            end: 60_000,
            state,
        };
        let mut expected = serde_json::json!({
            "stream": "r",
            "start": "1970-01-01T00:00:00.000Z",
            "end": "1970-01-01T00:01:00.000Z",
            "start_ms": 0,
            "labels": { "host": "web \"1\"" },
            "count": 3,
        });
        for aggregate in Aggregate::ALL
            .into_iter()
            .filter(|a| *a != Aggregate::Count)
        {
            expected[aggregate.name()] = serde_json::json!(window.state.value(aggregate, 60_000));
        }
        assert_eq!(
            to_string(&Record::Window {
                rollup,
                window: &window
            })
            .unwrap(),
            expected.to_string()
        );
    }
}
