//! Valid pipelines: the two normative examples and every source and sink kind.

mod support;

use pipe_dsl::diagnostics::Code;
use pipe_dsl::format::format;
use pipe_dsl::plan::*;
use support::compile_for_test;

fn pipeline(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn plan_of(source: &str) -> Plan {
    let compiled = compile_for_test(source);
    assert!(!compiled.has_errors(), "{:#?}", compiled.diagnostics);
    compiled.plan.unwrap()
}

#[test]
fn the_normative_examples_are_formatted_as_written() {
    for name in ["quickstart.pipe", "kafka.pipe", "metrics.pipe"] {
        let text = pipeline(name);
        assert_eq!(format(&text).unwrap(), text, "{name} changes under fmt");
    }
}

#[test]
fn quickstart_warns_only_that_the_hourly_rollup_is_unread() {
    let compiled = compile_for_test(&pipeline("quickstart.pipe"));
    let codes: Vec<Code> = compiled.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::UnreadStream]);
    assert!(compiled.diagnostics[0].message.contains("metrics_1h"));
}

#[test]
fn quickstart_plan_holds_what_the_file_says() {
    let plan = plan_of(&pipeline("quickstart.pipe"));
    let SourceConnector::Generator(generator) = &plan.sources[0].connector else {
        panic!("quickstart reads a generator");
    };
    assert_eq!(
        (
            generator.hosts,
            generator.metrics,
            generator.interval,
            generator.pace
        ),
        (1000, 50, Duration(15_000), Pace::Realtime)
    );
    assert_eq!(generator.history, Duration(600_000));
    assert_eq!(
        plan.sources[0].step,
        Duration(15_000),
        "a generator's step is its interval"
    );

    let [minute, hour] = plan.rollups.as_slice() else {
        panic!("two rollups");
    };
    assert_eq!(
        minute.window,
        Window::Tumble {
            size: Duration(60_000)
        }
    );
    assert_eq!(
        minute.group,
        Grouping::Labels(vec!["metric_name".into(), "host".into()])
    );
    assert!(!minute.cascade && minute.state.sketch && !minute.state.counter);
    assert!(hour.cascade, "metrics_1h merges metrics_1m");
    assert_eq!(hour.root_source, "metrics");
    assert_eq!(
        hour.group, minute.group,
        "a cascade keeps its input's grouping"
    );
    assert_eq!(hour.aggregates, minute.aggregates, "and its aggregates");

    let rule = |name: &str| plan.alerts.iter().find(|rule| rule.name == name).unwrap();
    let high_cpu = rule("HighCpu");
    assert_eq!(high_cpu.group_by, ["host"]);
    assert_eq!(
        (high_cpu.for_, high_cpu.keep_firing_for),
        (Duration(120_000), Duration(300_000))
    );
    assert_eq!(high_cpu.labels[0].0, "severity");
    assert_eq!(
        high_cpu.annotations[0].1.source(),
        "CPU on {{ host }} is {{ value }}%"
    );
    assert_eq!(
        high_cpu.condition.to_string(),
        "avg(cpu_usage_percent{environment=\"prod\"}) over 5m by host > 90"
    );
    let Condition::Compare {
        op: BinaryOp::Gt,
        lhs: Expr::Arithmetic {
            op: BinaryOp::Div, ..
        },
        rhs: Expr::Number(threshold),
    } = &rule("ErrorRatio").condition
    else {
        panic!("ErrorRatio compares a ratio");
    };
    assert_eq!(*threshold, 0.05);
    let Condition::Absent(silent) = &rule("HostSilent").condition else {
        panic!("HostSilent is an absence");
    };
    assert_eq!(
        (silent.metric.as_str(), silent.over, silent.by.as_slice()),
        ("heartbeat", Duration(60_000), &["host".to_string()][..])
    );
    assert!(plan.alerts.iter().all(|rule| rule.step == Duration(15_000)));
}

#[test]
fn production_plan_reads_kafka_and_writes_three_stores() {
    let plan = plan_of(&pipeline("metrics.pipe"));
    let SourceConnector::Kafka(kafka) = &plan.sources[0].connector else {
        panic!("metrics reads kafka");
    };
    assert_eq!(
        kafka.brokers,
        Text::Env {
            var: "KAFKA_BROKERS".into(),
            default: Some("127.0.0.1:9092".into())
        }
    );
    assert_eq!(kafka.dead_letter, Some(Text::Literal("metrics-dlq".into())));
    assert_eq!(plan.sources[0].lateness, Duration(30_000));
    assert_eq!(
        plan.sources[0].labels,
        LabelSet::Open,
        "kafka labels are open unless declared"
    );
    let kinds: Vec<(&str, &str)> = plan
        .sinks
        .iter()
        .map(|sink| (sink.name.as_str(), sink.from.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("hot", "metrics"),
            ("warm", "metrics_1m"),
            ("cold", "metrics_1h"),
            ("notify", "alerts")
        ]
    );
    let SinkConnector::Timescale(hot) = &plan.sinks[0].connector else {
        panic!()
    };
    assert_eq!(
        (hot.chunk, hot.compress_after, hot.retention),
        (
            Duration(3_600_000),
            Some(Duration(7_200_000)),
            Some(Duration(7 * 86_400_000))
        )
    );
    let SinkConnector::ClickHouse(cold) = &plan.sinks[2].connector else {
        panic!()
    };
    assert_eq!(
        (cold.ttl, &cold.database),
        (
            Some(Duration(365 * 86_400_000)),
            &Text::Literal("default".into())
        )
    );
}

#[test]
fn plans_round_trip_through_json() {
    for name in ["quickstart.pipe", "kafka.pipe", "metrics.pipe"] {
        let plan = plan_of(&pipeline(name));
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }
}

#[test]
fn plan_trees_are_as_snapshotted() {
    for name in ["quickstart.pipe", "kafka.pipe", "metrics.pipe"] {
        let plan = plan_of(&pipeline(name));
        insta::assert_snapshot!(name, explain(&plan, name));
    }
}

/// Every source and sink kind with only its required properties: the schema's defaults fill in
/// the rest, and each kind's typed settings are built.
#[test]
fn every_kind_builds_from_its_required_properties_and_defaults() {
    let source = r#"
source gen from generator {}
source topic from kafka { brokers = "b:9092", topic = "t", group = "g" }
source replay from file { path = "samples.jsonl" }
rollup gen_1m from gen { window = tumble(1m), by = [metric_name, host] }
rollup topic_1m from topic { window = hop(2m, 1m) }
rollup replay_1m from replay { window = tumble(1m) }
alert Rule { from = gen, when count(heartbeat) over 1m by host < 1 }
sink a to console { from = gen }
sink b to file { from = gen_1m, path = "out.jsonl" }
sink c to timescale { from = topic, url = "postgres://u:p@h/db", table = "raw" }
sink d to clickhouse { from = topic_1m, url = "http://h:8123", table = "t1m" }
sink e to alertmanager { from = alerts, url = env("PIPE_TEST_SET") }
sink f to kafka { from = replay_1m, brokers = "b:9092", topic = "out", kafka { "acks" = "all" } }
sink g to console { from = replay }
"#;
    let plan = plan_of(source);
    assert_eq!(
        (
            plan.sources.len(),
            plan.rollups.len(),
            plan.alerts.len(),
            plan.sinks.len()
        ),
        (3, 3, 1, 7)
    );
    let SourceConnector::Kafka(kafka) = &plan.sources[1].connector else {
        panic!()
    };
    assert_eq!(
        (kafka.admission.max_message_bytes, kafka.idle_timeout),
        (1 << 20, Duration(30_000))
    );
    assert_eq!(plan.sources[1].lateness, Duration(10_000));
    let SinkConnector::Kafka(out) = &plan.sinks[5].connector else {
        panic!()
    };
    assert_eq!(
        out.options,
        [("acks".to_string(), Text::Literal("all".into()))]
    );
    assert_eq!(
        plan.rollups[1].group,
        Grouping::Series,
        "a rollup of a source keeps series apart by default"
    );
    assert_eq!(
        plan.rollups[1].aggregates,
        [
            Aggregate::Count,
            Aggregate::Sum,
            Aggregate::Min,
            Aggregate::Max,
            Aggregate::Avg
        ]
    );
}
