//! Builds each source and sink kind's typed settings from the checked properties. The schema
//! (`crate::schema`) decides names, types and defaults; this only moves the values across, so a
//! property missing here is a bug that the tests of every kind catch.

use crate::plan::*;

use super::values::Settings;

const CHECKED: &str = "the checker validated this property against the schema";

/// The typed settings of a source kind; `None` for a kind the schema does not declare.
pub fn source(kind: &str, s: &Settings) -> Option<SourceConnector> {
    Some(match kind {
        "generator" => SourceConnector::Generator(GeneratorSource {
            hosts: s.number("hosts").expect(CHECKED),
            metrics: s.number("metrics").expect(CHECKED),
            interval: s.duration("interval").expect(CHECKED),
            pace: match s.word("pace").as_deref() {
                Some("max") => Pace::Max,
                _ => Pace::Realtime,
            },
            history: s.duration("history").expect(CHECKED),
            seed: s.number("seed").expect(CHECKED),
        }),
        "kafka" => SourceConnector::Kafka(KafkaSource {
            brokers: s.text("brokers").expect(CHECKED),
            topic: s.text("topic").expect(CHECKED),
            group: s.text("group").expect(CHECKED),
            start: match s.word("start").as_deref() {
                Some("earliest") => Start::Earliest,
                Some("latest") => Start::Latest,
                _ => Start::Committed,
            },
            admission: admission(s),
            dead_letter: s.text("dead_letter"),
            options: options(s),
            idle_timeout: s.duration("idle_timeout").expect(CHECKED),
        }),
        "file" => SourceConnector::File(FileSource {
            path: s.text("path").expect(CHECKED),
            admission: admission(s),
            follow: s.boolean("follow").expect(CHECKED),
            dead_letter: s.text("dead_letter"),
            idle_timeout: s.duration("idle_timeout").expect(CHECKED),
        }),
        "external" => SourceConnector::External,
        _ => return None,
    })
}

/// The typed settings of a sink kind; `None` for a kind the schema does not declare.
pub fn sink(kind: &str, s: &Settings) -> Option<SinkConnector> {
    Some(match kind {
        "console" => SinkConnector::Console,
        "file" => SinkConnector::File(FileSink {
            path: s.text("path").expect(CHECKED),
        }),
        "timescale" => SinkConnector::Timescale(TimescaleSink {
            url: s.text("url").expect(CHECKED),
            table: s.text("table").expect(CHECKED),
            chunk: s.duration("chunk").expect(CHECKED),
            compress_after: s.duration("compress_after"),
            retention: s.duration("retention"),
        }),
        "clickhouse" => SinkConnector::ClickHouse(ClickHouseSink {
            url: s.text("url").expect(CHECKED),
            table: s.text("table").expect(CHECKED),
            database: s.text("database").expect(CHECKED),
            ttl: s.duration("ttl"),
        }),
        "alertmanager" => SinkConnector::Alertmanager(AlertmanagerSink {
            url: s.text("url").expect(CHECKED),
            resend: s.duration("resend").expect(CHECKED),
        }),
        "kafka" => SinkConnector::Kafka(KafkaSink {
            brokers: s.text("brokers").expect(CHECKED),
            topic: s.text("topic").expect(CHECKED),
            options: options(s),
        }),
        _ => return None,
    })
}

fn admission(s: &Settings) -> Admission {
    Admission {
        format: match s.word("format").as_deref() {
            Some("influx") => Format::Influx,
            _ => Format::Json,
        },
        max_message_bytes: s.number("max_message_bytes").expect(CHECKED),
        max_series: s.number("max_series"),
    }
}

fn options(s: &Settings) -> Vec<(String, Text)> {
    s.map("kafka")
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value, _)| (key.name, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::schema::{Default, KindSpec, PropType, SINKS, SOURCES};

    /// A block of `kind` with every required property written.
    fn block(keyword: &str, name: &str, kind: &KindSpec) -> String {
        let required: Vec<String> = kind
            .properties
            .iter()
            .filter(|p| p.default == Default::Required)
            .map(|p| {
                let value = match p.ty {
                    PropType::Stream => "m".to_string(),
                    PropType::Url => "\"http://127.0.0.1:1\"".to_string(),
                    _ => "\"x\"".to_string(),
                };
                format!("{} = {value}", p.name)
            })
            .collect();
        format!(
            "{keyword} {name} {} {} {{ {} }}\n",
            if keyword == "source" { "from" } else { "to" },
            kind.name,
            required.join(", ")
        )
    }

    #[test]
    fn every_kind_the_schema_declares_is_planned_as_itself() {
        let console = "sink out to console { from = m }\n";
        for kind in SOURCES {
            let plan = crate::compile(&(block("source", "m", kind) + console), &|_| None)
                .plan
                .unwrap_or_else(|| panic!("source kind `{}` does not plan", kind.name));
            let json = serde_json::to_value(&plan.sources[0].connector).unwrap();
            assert_eq!(json["kind"], kind.name);
        }
        let streams =
            block("source", "m", &SOURCES[0]) + "rollup r from m { window = tumble(1m) }\n";
        for kind in SINKS {
            let sink = block("sink", "s", kind);
            let plan = ["m", "r", "alerts"]
                .iter()
                .map(|from| streams.clone() + &sink.replace("from = m", &format!("from = {from}")))
                .find_map(|text| crate::compile(&text, &|_| None).plan)
                .unwrap_or_else(|| panic!("sink kind `{}` does not plan", kind.name));
            let json = serde_json::to_value(&plan.sinks[0].connector).unwrap();
            assert_eq!(json["kind"], kind.name);
        }
    }
}
