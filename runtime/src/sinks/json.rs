//! Records as JSON objects: what the file sink writes, one per line.

use pipe_dsl::plan::Aggregate;
use serde_json::{Map, Value, json};

use super::records::{Record, aggregates};
use crate::time::rfc3339;

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn labels(labels: &pipe_dataflow::series::Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// The JSON object of a record.
pub fn to_json(record: &Record) -> Value {
    match record {
        Record::Sample {
            stream,
            labels: l,
            ts,
            value,
        } => json!({
            "stream": stream,
            "timestamp": rfc3339(*ts),
            "timestamp_ms": ts,
            "value": number(*value),
            "labels": labels(l),
        }),
        Record::Window { rollup, window } => {
            let mut object = Map::new();
            object.insert("stream".into(), json!(rollup.name));
            object.insert("start".into(), json!(rfc3339(window.start)));
            object.insert("end".into(), json!(rfc3339(window.end)));
            object.insert("start_ms".into(), json!(window.start));
            object.insert("labels".into(), labels(&window.labels));
            for (aggregate, value) in aggregates(rollup, window) {
                let value = match aggregate {
                    Aggregate::Count => json!(window.state.count),
                    _ => value.map_or(Value::Null, number),
                };
                object.insert(aggregate.name().into(), value);
            }
            Value::Object(object)
        }
        Record::Transition(t) => json!({
            "stream": "alerts",
            "rule": t.rule.as_ref(),
            "state": t.kind.word(),
            "at": rfc3339(t.at),
            "since": rfc3339(t.since),
            "value": number(t.value),
            "labels": labels(&t.labels),
            "annotations": Value::Object(t.annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
        }),
    }
}
