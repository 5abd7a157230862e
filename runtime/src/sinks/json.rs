//! Records as JSON objects: what the file sink writes, one per line, and the Kafka sink sends.
//!
//! Written straight to the output, keys in sorted order: building a `serde_json::Value` first
//! took a tenth of a worker's time when a minute's windows closed (a map and a string per field).

use std::collections::BTreeMap;
use std::fmt;

use pipe_dataflow::series::Labels;
use pipe_dsl::plan::Aggregate;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::records::{Record, aggregates};

/// A record, serialised as its JSON object.
pub struct Json<'r, 'a>(pub &'r Record<'a>);

/// One value of an object.
enum Field<'a> {
    Text(&'a str),
    Time(u64),
    Integer(u64),
    /// Non-finite or missing numbers are `null`.
    Number(Option<f64>),
    Labels(&'a Labels),
    Annotations(&'a [(String, String)]),
}

impl Serialize for Json<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields: Vec<(&str, Field<'_>)> = match self.0 {
            Record::Sample {
                stream,
                labels,
                ts,
                value,
                ..
            } => vec![
                ("stream", Field::Text(stream)),
                ("timestamp", Field::Time(*ts)),
                ("timestamp_ms", Field::Integer(*ts)),
                ("value", Field::Number(Some(*value))),
                ("labels", Field::Labels(labels)),
            ],
            Record::Window { rollup, window } => {
                let mut fields = vec![
                    ("stream", Field::Text(&rollup.name)),
                    ("start", Field::Time(window.start)),
                    ("end", Field::Time(window.end)),
                    ("start_ms", Field::Integer(window.start)),
                    ("labels", Field::Labels(&window.labels)),
                ];
                for (aggregate, value) in aggregates(rollup, window) {
                    fields.push((
                        aggregate.name(),
                        match aggregate {
                            Aggregate::Count => Field::Integer(window.state.count),
                            _ => Field::Number(value),
                        },
                    ));
                }
                fields
            }
            Record::Transition(t) => vec![
                ("stream", Field::Text("alerts")),
                ("rule", Field::Text(&t.rule)),
                ("state", Field::Text(t.kind.word())),
                ("at", Field::Time(t.at)),
                ("since", Field::Time(t.since)),
                ("value", Field::Number(Some(t.value))),
                ("labels", Field::Labels(&t.labels)),
                ("annotations", Field::Annotations(&t.annotations)),
            ],
        };
        // A key given twice keeps its last value, as a map would.
        fields.reverse();
        fields.sort_by_key(|(key, _)| *key);
        fields.dedup_by_key(|(key, _)| *key);
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, field) in &fields {
            map.serialize_entry(key, field)?;
        }
        map.end()
    }
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Text(text) => serializer.serialize_str(text),
            Field::Time(millis) => serializer.collect_str(&Rfc3339(*millis)),
            Field::Integer(value) => serializer.serialize_u64(*value),
            Field::Number(Some(value)) if value.is_finite() => serializer.serialize_f64(*value),
            Field::Number(_) => serializer.serialize_none(),
            Field::Labels(labels) => serializer.collect_map(labels.iter()),
            Field::Annotations(annotations) => {
                let sorted: BTreeMap<&str, &str> = annotations
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                serializer.collect_map(sorted)
            }
        }
    }
}

/// An event time as `2026-11-26T21:03:15.000Z`, written without a string of its own.
struct Rfc3339(u64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.0);
        humantime::format_rfc3339_millis(at).fmt(f)
    }
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
            serde_json::to_string(&Json(&record)).unwrap(),
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
            serde_json::to_string(&Json(&Record::Transition(&transition))).unwrap(),
            r#"{"annotations":{"runbook":"r","summary":"hot"},"at":"2026-01-01T00:00:15.000Z","labels":{"host":"web-1"},"rule":"HighCpu","since":"2026-01-01T00:00:00.000Z","state":"firing","stream":"alerts","value":97.5}"#
        );
    }
}
