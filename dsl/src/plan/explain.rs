//! `pipectl plan`: the dataflow a plan becomes, as a tree from each source down to its sinks,
//! with the exchanges and the state each operator keeps.

use super::*;

/// One line of the tree, with its details and the operators that read its output.
struct Node {
    title: String,
    details: Vec<String>,
    children: Vec<Node>,
}

impl Node {
    fn new(title: String) -> Self {
        Node {
            title,
            details: Vec::new(),
            children: Vec::new(),
        }
    }

    fn detail(mut self, text: impl Into<String>) -> Self {
        self.details.push(text.into());
        self
    }
}

/// The plan as a tree, for people.
pub fn explain(plan: &Plan, title: &str) -> String {
    let mut root = Node::new(title.to_string());
    root.children
        .extend(plan.sources.iter().map(|source| source_node(plan, source)));
    if !plan.alerts.is_empty() || plan.sinks_of(ALERTS_STREAM).next().is_some() {
        let mut alerts = Node::new(format!("stream {ALERTS_STREAM}")).detail(format!(
            "transitions of {} rule(s): pending, firing, resolved",
            plan.alerts.len()
        ));
        alerts
            .children
            .extend(plan.sinks_of(ALERTS_STREAM).map(sink_node));
        root.children.push(alerts);
    }
    let mut out = String::new();
    out.push_str(&root.title);
    out.push('\n');
    render_children(&root.children, "", &mut out);
    out
}

fn render_children(children: &[Node], prefix: &str, out: &mut String) {
    for (index, child) in children.iter().enumerate() {
        let last = index + 1 == children.len();
        let (branch, continuation) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        out.push_str(&format!("{prefix}{branch}{}\n", child.title));
        let inner = format!("{prefix}{continuation}");
        let detail_bar = if child.children.is_empty() {
            "   "
        } else {
            "│  "
        };
        for detail in &child.details {
            out.push_str(&format!("{inner}{detail_bar}{detail}\n"));
        }
        render_children(&child.children, &inner, out);
    }
}

fn source_node(plan: &Plan, source: &Source) -> Node {
    let mut node = Node::new(format!("source {}", source.name));
    node = match &source.connector {
        SourceConnector::Generator(generator) => {
            let series = generator.hosts * generator.metrics;
            let per_second = series as f64 * 1000.0 / generator.interval.millis().max(1) as f64;
            let pace = match generator.pace {
                Pace::Realtime => format!(
                    "pace realtime, after replaying {} of history",
                    generator.history
                ),
                Pace::Max => "pace max: event time as fast as the pipeline consumes".to_string(),
            };
            node.detail(format!(
                "generator: {} hosts × {} metrics every {} = {series} series, {per_second:.0} samples/s",
                generator.hosts, generator.metrics, generator.interval
            ))
            .detail(format!("{pace}, seed {}", generator.seed))
        }
        SourceConnector::Kafka(kafka) => {
            let dead_letter = match &kafka.dead_letter {
                Some(topic) => {
                    format!("bad messages → dead-letter topic {topic}, counted by reason")
                }
                None => "bad messages are counted by reason and logged".to_string(),
            };
            node.detail(format!(
                "kafka: topic {} on {}, group {}, {} messages, starting from {}",
                kafka.topic,
                kafka.brokers,
                kafka.group,
                format_name(kafka.admission.format),
                start_name(kafka.start)
            ))
            .detail("partitions assigned statically to workers; offsets committed up to the durable frontier")
            .detail(dead_letter)
            .detail(format!("a partition read to its end stops holding event time after {} idle", kafka.idle_timeout))
        }
        SourceConnector::External => {
            node.detail("external: records from the program that runs the pipeline")
        }
        SourceConnector::File(file) => {
            let reading = if file.follow {
                "followed as it grows"
            } else {
                "read once"
            };
            node.detail(format!(
                "file: {} lines from {}, {reading}",
                format_name(file.admission.format),
                file.path
            ))
        }
    };
    let placed_by = match plan.placement(&source.name) {
        Some(labels) => format!("hash({})", labels.join(", ")),
        None => "series".to_string(),
    };
    node = if source.connector.places_series() {
        node.detail(format!(
            "each worker produces the series it owns, placed by {placed_by}: no exchange"
        ))
    } else {
        node.detail(format!("exchange by {placed_by}, once"))
    };
    node = node
        .detail("decode → (series id, timestamp, value); label strings interned once per series")
        .detail(format!(
            "watermark: newest event time − lateness {}",
            source.lateness
        ));
    if let Some(ttl) = source.series_ttl {
        node = node.detail(format!("series without samples for {ttl} are forgotten"));
    }
    node.children = readers(plan, &source.name);
    node
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Json => "JSON",
        Format::Influx => "line-protocol",
    }
}

fn start_name(start: Start) -> &'static str {
    match start {
        Start::Committed => "committed offsets",
        Start::Earliest => "the earliest offset",
        Start::Latest => "the latest offset",
    }
}

fn rollup_node(plan: &Plan, rollup: &Rollup) -> Node {
    let group = match &rollup.group {
        Grouping::Series => "series".to_string(),
        Grouping::Labels(labels) => format!("hash({})", labels.join(", ")),
    };
    let mut node = Node::new(format!("rollup {}  {}", rollup.name, rollup.window));
    if !rollup.matchers.is_empty() {
        let matchers: Vec<String> = rollup
            .matchers
            .iter()
            .map(|m| format!("{}{}{:?}", m.label, m.op.symbol(), m.value))
            .collect();
        node = node.detail(format!("filter: {{{}}}", matchers.join(", ")));
    }
    let exchange = if plan.closes_in_place(rollup) {
        format!("groups by {group}, each on the worker of its series: no exchange")
    } else {
        format!("exchange by {group}")
    };
    node = if rollup.cascade {
        let merged = plan
            .rollup(&rollup.input)
            .map(|input| rollup.window.size().millis() / input.window.size().millis().max(1))
            .unwrap_or(1);
        node.detail(format!(
            "merge closed windows of {} ({merged} per window) → {exchange} → window state",
            rollup.input
        ))
    } else {
        node.detail(format!(
            "pre-aggregate per worker → {exchange} → window state"
        ))
    };
    let windows_per_input = rollup.window.size().millis() / rollup.window.slide().millis().max(1);
    let input = if rollup.cascade {
        "input window"
    } else {
        "sample"
    };
    let state = rollup.state.kept().join(", ");
    node = node
        .detail(format!(
            "state per group and open window: {state}; each {input} updates {windows_per_input} window(s)"
        ))
        .detail(format!(
            "emits once per window when event time passes its end; writes {}",
            rollup.aggregates.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
        ));
    node.children = readers(plan, &rollup.name);
    node
}

fn readers(plan: &Plan, stream: &str) -> Vec<Node> {
    let mut children: Vec<Node> = plan
        .rollups
        .iter()
        .filter(|rollup| rollup.input == stream)
        .map(|rollup| rollup_node(plan, rollup))
        .collect();
    let rules: Vec<&AlertRule> = plan
        .alerts
        .iter()
        .filter(|rule| rule.input == stream)
        .collect();
    if let Some(first) = rules.first() {
        let horizon = rules
            .iter()
            .map(|rule| longest_window(&rule.condition))
            .max()
            .unwrap_or_default();
        let mut node = Node::new(format!("alert rules ({}), step {}", rules.len(), first.step))
            .detail(format!(
                "partial aggregates per series and step, kept for the longest window ({horizon})"
            ))
            .detail("rules are a differential collection joined with the step aggregates: a rule change re-evaluates only that rule")
            .detail(format!("transitions → {ALERTS_STREAM}"));
        node.children = rules.iter().map(|rule| rule_node(plan, rule)).collect();
        children.push(node);
    }
    children.extend(plan.sinks_of(stream).map(sink_node));
    children
}

fn longest_window(condition: &Condition) -> Duration {
    fn expr_window(expr: &Expr) -> Duration {
        match expr {
            Expr::Number(_) => Duration(0),
            Expr::Selection(selection) => selection.over,
            Expr::Arithmetic { lhs, rhs, .. } => expr_window(lhs).max(expr_window(rhs)),
        }
    }
    match condition {
        Condition::Compare { lhs, rhs, .. } => expr_window(lhs).max(expr_window(rhs)),
        Condition::Absent(selection) => selection.over,
        Condition::And(lhs, rhs) | Condition::Or(lhs, rhs) => {
            longest_window(lhs).max(longest_window(rhs))
        }
    }
}

/// Whether the condition has an `absent … by` term, which remembers groups for `lookback`.
fn remembers_groups(condition: &Condition) -> bool {
    match condition {
        Condition::Absent(selection) => !selection.by.is_empty(),
        Condition::Compare { .. } => false,
        Condition::And(lhs, rhs) | Condition::Or(lhs, rhs) => {
            remembers_groups(lhs) || remembers_groups(rhs)
        }
    }
}

fn rule_node(plan: &Plan, rule: &AlertRule) -> Node {
    let mut node =
        Node::new(format!("alert {}", rule.name)).detail(format!("when {}", rule.condition));
    node = node.detail(if plan.evaluates_in_place(rule) {
        "each group on the worker of its series: evaluated there, no exchange"
    } else {
        "groups merged from every worker on the worker that owns the rule"
    });
    let mut timing = Vec::new();
    if rule.for_.millis() > 0 {
        timing.push(format!("for {}", rule.for_));
    }
    if rule.keep_firing_for.millis() > 0 {
        timing.push(format!("keep firing for {}", rule.keep_firing_for));
    }
    if remembers_groups(&rule.condition) {
        timing.push(format!("silent groups remembered for {}", rule.lookback));
    }
    if !timing.is_empty() {
        node = node.detail(timing.join(", "));
    }
    if !rule.labels.is_empty() {
        let labels: Vec<String> = rule
            .labels
            .iter()
            .map(|(key, value)| format!("{key}={:?}", value.source()))
            .collect();
        node = node.detail(format!("labels: {}", labels.join(", ")));
    }
    node
}

fn sink_node(sink: &Sink) -> Node {
    let title = format!("sink {}", sink.name);
    match &sink.connector {
        SinkConnector::Console => Node::new(format!("{title} → console")),
        SinkConnector::File(file) => Node::new(format!("{title} → file {}", file.path))
            .detail("JSON lines, flushed as windows close"),
        SinkConnector::Timescale(timescale) => {
            let mut policy = vec![format!("chunks of {}", timescale.chunk)];
            if let Some(after) = timescale.compress_after {
                policy.push(format!("compressed after {after}"));
            }
            if let Some(retention) = timescale.retention {
                policy.push(format!("kept {retention}"));
            }
            Node::new(format!(
                "{title} → timescale table {} at {}",
                timescale.table, timescale.url
            ))
            .detail(format!("binary COPY in batches; {}", policy.join(", ")))
        }
        SinkConnector::ClickHouse(clickhouse) => {
            let ttl = clickhouse
                .ttl
                .map_or(String::new(), |ttl| format!(", rows kept {ttl}"));
            Node::new(format!(
                "{title} → clickhouse table {}.{} at {}",
                clickhouse.database, clickhouse.table, clickhouse.url
            ))
            .detail(format!(
                "ReplacingMergeTree keyed by (series, window): replays write nothing twice{ttl}"
            ))
        }
        SinkConnector::Alertmanager(alertmanager) => {
            Node::new(format!("{title} → alertmanager at {}", alertmanager.url))
                .detail("POST /api/v2/alerts with labels, annotations, startsAt and endsAt")
        }
        SinkConnector::Kafka(kafka) => Node::new(format!(
            "{title} → kafka topic {} on {}",
            kafka.topic, kafka.brokers
        )),
    }
}
