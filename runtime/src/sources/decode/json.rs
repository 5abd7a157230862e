//! The reference message: `{"metric_name": "cpu", "timestamp": 1700000000000, "value": 42.5,
//! "labels": {"host": "h1", …}}`, the timestamp in milliseconds. Fields are taken as the raw
//! bytes the message holds and read without allocating; other fields are ignored.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::dictionary::StatedKey;
use super::{Reading, Reason, StatedLabels};

/// The fields of a message, as raw JSON.
#[derive(Default)]
struct Fields<'m> {
    metric: Option<&'m RawValue>,
    timestamp: Option<&'m RawValue>,
    value: Option<&'m RawValue>,
    labels: Option<&'m RawValue>,
}

enum Key {
    Metric,
    Timestamp,
    Value,
    Labels,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "metric_name" => Key::Metric,
                    "timestamp" => Key::Timestamp,
                    "value" => Key::Value,
                    "labels" => Key::Labels,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Metric => fields.metric = Some(map.next_value()?),
                Key::Timestamp => fields.timestamp = Some(map.next_value()?),
                Key::Value => fields.value = Some(map.next_value()?),
                Key::Labels => fields.labels = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

fn fields(message: &[u8]) -> Result<Fields<'_>, Reason> {
    let mut deserializer = serde_json::Deserializer::from_slice(message);
    let fields = deserializer
        .deserialize_map(FieldsVisitor)
        .map_err(|error| match error.classify() {
            serde_json::error::Category::Data => Reason::WrongType,
            _ => Reason::Malformed,
        })?;
    deserializer.end().map_err(|_| Reason::Malformed)?;
    Ok(fields)
}

/// The series key and the reading of a message.
#[inline]
pub fn read(message: &[u8]) -> Result<(StatedKey, Reading), Reason> {
    if let Some(common) = super::json_fast::read(message) {
        let key = StatedKey::of(&[&message[common.metric], &message[common.labels]]);
        return Ok((key, common.reading));
    }
    read_any(message)
}

/// [`read`] for a message of any shape, saying what is wrong with a bad one.
fn read_any(message: &[u8]) -> Result<(StatedKey, Reading), Reason> {
    let fields = fields(message)?;
    let (Some(metric), Some(timestamp), Some(value)) =
        (fields.metric, fields.timestamp, fields.value)
    else {
        return Err(Reason::MissingField);
    };
    if !metric.get().starts_with('"') {
        return Err(Reason::WrongType);
    }
    let labels = fields.labels.map_or("", RawValue::get);
    if !(labels.is_empty() || labels.starts_with('{')) {
        return Err(Reason::WrongType);
    }
    let reading = Reading {
        ts: timestamp_millis(timestamp.get())?,
        value: number(value.get())?,
    };
    let key = StatedKey::of(&[metric.get().as_bytes(), labels.as_bytes()]);
    Ok((key, reading))
}

/// The metric name and labels of a message, checked to be strings (`metric_name` first).
pub fn labels(message: &[u8]) -> Result<StatedLabels, Reason> {
    let fields = fields(message)?;
    let metric: String = fields
        .metric
        .map(|raw| serde_json::from_str(raw.get()).map_err(|_| Reason::WrongType))
        .ok_or(Reason::MissingField)??;
    let mut stated = vec![(pipe_dsl::plan::METRIC_NAME.to_string(), metric)];
    if let Some(labels) = fields.labels {
        let labels: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(labels.get()).map_err(|_| Reason::WrongType)?;
        for (name, value) in labels {
            match value {
                serde_json::Value::String(value) => stated.push((name, value)),
                _ => return Err(Reason::WrongType),
            }
        }
    }
    Ok(stated)
}

/// Milliseconds: a whole number, or a number with no fraction.
fn timestamp_millis(text: &str) -> Result<u64, Reason> {
    if !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text
            .bytes()
            .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0')));
    }
    match text.parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms >= 0.0 && ms.fract() == 0.0 && ms < 1.8e19 => Ok(ms as u64),
        _ => Err(Reason::WrongType),
    }
}

/// A finite value; the strings Prometheus writes for non-finite ones are recognised as such.
fn number(text: &str) -> Result<f64, Reason> {
    if let Some(quoted) = text.strip_prefix('"') {
        return match quoted.trim_end_matches('"') {
            "NaN" | "Inf" | "+Inf" | "-Inf" | "Infinity" | "+Infinity" | "-Infinity" => {
                Err(Reason::NonFinite)
            }
            _ => Err(Reason::WrongType),
        };
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(Reason::NonFinite),
        Err(_) => Err(Reason::WrongType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"metric_name":"cpu_usage_percent","timestamp":1700000000000,"value":42.5,"labels":{"host":"h1","region":"eu"}}"#;

    #[test]
    fn the_reference_message_is_read_and_its_labels_parsed_on_demand() {
        let (key, reading) = read(GOOD.as_bytes()).unwrap();
        assert_eq!(
            reading,
            Reading {
                ts: 1_700_000_000_000,
                value: 42.5
            }
        );
        let spaced = r#"{ "labels": {"host":"h1","region":"eu"}, "value": 7, "timestamp": 1700000000015, "metric_name": "cpu_usage_percent", "extra": [1, {"a": null}] }"#;
        let (same, later) = read(spaced.as_bytes()).unwrap();
        assert_eq!(key, same, "the same metric and label bytes");
        assert_eq!(later.value, 7.0);
        assert_eq!(
            labels(GOOD.as_bytes()).unwrap(),
            [
                ("metric_name".to_string(), "cpu_usage_percent".to_string()),
                ("host".to_string(), "h1".to_string()),
                ("region".to_string(), "eu".to_string())
            ]
        );
    }

    #[test]
    fn every_kind_of_bad_message_has_its_reason() {
        let cases = [
            ("{\"metric_name\":", Reason::Malformed),
            ("not json", Reason::Malformed),
            (
                r#"{"metric_name":"a","timestamp":1,"value":1} trailing"#,
                Reason::Malformed,
            ),
            ("[1, 2]", Reason::WrongType),
            (
                r#"{"metric_name":"a","timestamp":"1","value":1}"#,
                Reason::WrongType,
            ),
            (
                r#"{"metric_name":"a","timestamp":-5,"value":1}"#,
                Reason::WrongType,
            ),
            (
                r#"{"metric_name":"a","timestamp":1.5,"value":1}"#,
                Reason::WrongType,
            ),
            (
                r#"{"metric_name":7,"timestamp":1,"value":1}"#,
                Reason::WrongType,
            ),
            (
                r#"{"metric_name":"a","timestamp":1,"value":"x"}"#,
                Reason::WrongType,
            ),
            (
                r#"{"metric_name":"a","timestamp":1,"value":1,"labels":[]}"#,
                Reason::WrongType,
            ),
            (r#"{"metric_name":"a","value":1}"#, Reason::MissingField),
            (r#"{"timestamp":1,"value":1}"#, Reason::MissingField),
            (
                r#"{"metric_name":"a","timestamp":1,"value":"NaN"}"#,
                Reason::NonFinite,
            ),
            (
                r#"{"metric_name":"a","timestamp":1,"value":"-Inf"}"#,
                Reason::NonFinite,
            ),
            (
                r#"{"metric_name":"a","timestamp":1,"value":1e999}"#,
                Reason::NonFinite,
            ),
        ];
        for (message, reason) in cases {
            assert_eq!(read(message.as_bytes()).err(), Some(reason), "{message}");
        }
        assert_eq!(
            labels(br#"{"metric_name":"a","timestamp":1,"value":1,"labels":{"n":5}}"#).err(),
            Some(Reason::WrongType)
        );
        assert_eq!(
            read(br#"{"metric_name":"a","timestamp":1.7e12,"value":1}"#)
                .unwrap()
                .1
                .ts,
            1_700_000_000_000
        );
    }

    /// Pieces of messages: good ones in various layouts, and every way to spoil them.
    fn message() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop::sample::select(vec!["cpu", "mem_used", "9bad", "a\\u0062", "é", "x y"]);
        let ts = prop::sample::select(vec!["1700000000000", "1.7e12", "-5", "\"1\"", "0", "1e400"]);
        let value = prop::sample::select(vec![
            "42.5", "-0", "1e999", "\"NaN\"", "01", "7", "1.", "2E-3",
        ]);
        let labels = prop::sample::select(vec![
            r#"{"host":"h1","region":"eu"}"#,
            r#"{}"#,
            r#"{ "host" : "h\"1" }"#,
            r#"{"n":5}"#,
            r#"[]"#,
            r#"{"host":"h1",}"#,
        ]);
        let space = prop::sample::select(vec!["", " ", "\n\t"]);
        let order = prop::sample::select(vec![0usize, 1, 2, 3]);
        let spoil = prop::sample::select(vec!["", "trailing", "cut", "dup", "extra", "nolabels"]);
        (name, ts, value, labels, space, order, spoil).prop_map(
            |(name, ts, value, labels, space, order, spoil)| {
                let mut fields = vec![
                    format!("\"metric_name\":{space}\"{name}\""),
                    format!("\"timestamp\"{space}:{ts}"),
                    format!("\"value\":{value}"),
                    format!("\"labels\":{labels}"),
                ];
                fields.rotate_left(order);
                match spoil {
                    "dup" => fields.push("\"value\":1".into()),
                    "extra" => fields.push("\"extra\":[1,{\"a\":null}]".into()),
                    "nolabels" => fields.retain(|f| !f.starts_with("\"labels")),
                    _ => {}
                }
                let mut text = format!("{space}{{{}}}{space}", fields.join(&format!(",{space}")));
                match spoil {
                    "trailing" => text.push_str(" x"),
                    "cut" => {
                        let half = (0..=text.len() / 2)
                            .rev()
                            .find(|&at| text.is_char_boundary(at));
                        text.truncate(half.unwrap_or(0));
                    }
                    _ => {}
                }
                text
            },
        )
    }

    proptest::proptest! {
        /// The one-pass reader answers only for messages the general reader reads alike.
        #[test]
        fn the_fast_path_agrees_with_the_general_reader(text in message()) {
            if let Some(common) = crate::sources::decode::json_fast::read(text.as_bytes()) {
                let bytes = text.as_bytes();
                let key = StatedKey::of(&[&bytes[common.metric], &bytes[common.labels]]);
                proptest::prop_assert_eq!(read_any(bytes), Ok((key, common.reading)), "{}", text);
            }
        }
    }

    #[test]
    fn the_common_shape_takes_the_fast_path() {
        for text in [
            GOOD,
            r#" { "value" : 1 , "labels" : { } , "metric_name" : "a" , "timestamp" : 5 } "#,
            r#"{"metric_name":"a","timestamp":5,"value":-1.5e-3}"#,
        ] {
            assert!(
                crate::sources::decode::json_fast::read(text.as_bytes()).is_some(),
                "{text}"
            );
        }
    }
}
