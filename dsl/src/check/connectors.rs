//! Builds each source and sink kind's typed settings from the checked properties. The schema
//! (`crate::schema`) decides names, types and defaults; this only moves the values across, so a
//! property missing here is a bug that the tests of every kind catch.

use crate::plan::*;

use super::values::Settings;

const CHECKED: &str = "the checker validated this property against the schema";

/// The typed settings of a source kind.
pub fn source(kind: &str, s: &Settings) -> SourceConnector {
    match kind {
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
            format: Format::Json,
            dead_letter: s.text("dead_letter"),
            max_message_size: s.number("max_message_size").expect(CHECKED),
            options: options(s),
            idle_timeout: s.duration("idle_timeout").expect(CHECKED),
        }),
        _ => SourceConnector::File(FileSource {
            path: s.text("path").expect(CHECKED),
            format: Format::Json,
        }),
    }
}

/// The typed settings of a sink kind.
pub fn sink(kind: &str, s: &Settings) -> SinkConnector {
    match kind {
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
        }),
        _ => SinkConnector::Kafka(KafkaSink {
            brokers: s.text("brokers").expect(CHECKED),
            topic: s.text("topic").expect(CHECKED),
            options: options(s),
        }),
    }
}

fn options(s: &Settings) -> Vec<(String, Text)> {
    s.map("options")
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value, _)| (key.name, value))
        .collect()
}
