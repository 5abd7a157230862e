//! Random valid pipelines with random layout, drawn from a stream of choices so that proptest
//! can shrink a failing case to a small one.

/// Reads choices from bytes; when they run out every choice is the first option.
pub struct Choices<'a> {
    bytes: &'a [u8],
}

impl<'a> Choices<'a> {
    /// Choices from these bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes }
    }

    /// A number below `options`.
    pub fn below(&mut self, options: usize) -> usize {
        match self.bytes.split_first() {
            Some((first, rest)) => {
                self.bytes = rest;
                *first as usize % options
            }
            None => 0,
        }
    }

    /// True about one time in `one_in`.
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    /// One of the items.
    pub fn pick<'b, T: ?Sized>(&mut self, items: &[&'b T]) -> &'b T {
        items[self.below(items.len())]
    }
}

struct Property {
    key: &'static str,
    value: String,
    statement: bool,
}

fn property(key: &'static str, value: impl Into<String>) -> Property {
    Property {
        key,
        value: value.into(),
        statement: false,
    }
}

fn clause(key: &'static str, value: impl Into<String>) -> Property {
    Property {
        key,
        value: value.into(),
        statement: true,
    }
}

/// A valid pipeline: a generator, a rollup and its cascade, up to three rules, sinks.
pub fn pipeline(choices: &mut Choices) -> String {
    let mut blocks: Vec<(String, Vec<Property>)> = Vec::new();

    let mut source = Vec::new();
    if choices.chance(2) {
        source.push(property(
            "hosts",
            (1 + choices.below(200) * 500).to_string(),
        ));
    }
    if choices.chance(2) {
        source.push(property("metrics", (1 + choices.below(60)).to_string()));
    }
    source.push(property(
        "interval",
        choices.pick(&["5s", "15s", "30s", "1m"]),
    ));
    if choices.chance(2) {
        source.push(property("pace", choices.pick(&["realtime", "max"])));
    }
    if choices.chance(3) {
        source.push(property("seed", choices.below(1000).to_string()));
    }
    blocks.push(("source metrics from generator".into(), source));

    let matcher = choices.pick(&[
        "",
        "{environment=\"prod\"}",
        "{host=~\"web-.*\", region!=\"eu\"}",
    ]);
    let mut minute = vec![property("window", "tumble(1m)")];
    let labels = ["host", "region", "environment", "service"];
    let mut by = vec!["metric_name"];
    by.extend(labels.iter().filter(|_| choices.chance(2)));
    minute.push(property("by", format!("[{}]", by.join(", "))));
    let aggregates = [
        "count", "sum", "min", "max", "avg", "last", "p50", "p99", "rate", "increase",
    ];
    let mut aggs: Vec<&str> = aggregates
        .iter()
        .copied()
        .filter(|_| choices.chance(2))
        .collect();
    if aggs.is_empty() {
        aggs.push("count");
    }
    minute.push(property("aggs", format!("[{}]", aggs.join(", "))));
    blocks.push((format!("rollup metrics_1m from metrics{matcher}"), minute));
    blocks.push((
        "rollup metrics_1h from metrics_1m".into(),
        vec![property(
            "window",
            choices.pick(&["tumble(1h)", "tumble(2h)", "hop(2h, 1h)"]),
        )],
    ));

    let conditions = [
        "avg(cpu_usage_percent{environment=\"prod\"}) over 5m by host > 90",
        "sum(http_errors_total) over 5m by service / sum(http_requests_total) over 5m by service > 0.05",
        "absent(heartbeat) over 1m by host",
        "(max(a) over 1m by host > 1 or min(b) over 2m by host < 0) and count(c) over 1m by host >= 3",
        "rate(requests_total{service=~\"api|web\"}) over 2m by service * 60 >= 1000",
    ];
    for index in 0..choices.below(4) {
        let mut rule = vec![clause("when", choices.pick(&conditions))];
        if choices.chance(2) {
            rule.push(clause("for", choices.pick(&["0s", "1m", "2m30s"])));
        }
        if choices.chance(3) {
            rule.push(clause("keep_firing_for", "5m"));
        }
        if choices.chance(2) {
            rule.push(clause(
                "labels",
                "{ severity = \"page\", team = \"infra\" }",
            ));
        }
        if choices.chance(2) {
            rule.push(clause(
                "annotations",
                "{ summary = \"{{ alertname }} is {{ value }}\" }",
            ));
        }
        blocks.push((format!("alert Rule{index}"), rule));
    }

    blocks.push((
        "sink rollups to file".into(),
        vec![
            property("from", "metrics_1m"),
            property("path", "\"out/1m.jsonl\""),
        ],
    ));
    blocks.push((
        "sink hourly to console".into(),
        vec![property("from", "metrics_1h")],
    ));
    blocks.push((
        "sink pages to console".into(),
        vec![property("from", "alerts")],
    ));

    let mut text = String::new();
    for (header, mut properties) in blocks {
        shuffle(&mut properties, choices);
        layout_block(&mut text, &header, &properties, choices);
    }
    text
}

fn shuffle<T>(items: &mut [T], choices: &mut Choices) {
    for index in (1..items.len()).rev() {
        items.swap(index, choices.below(index + 1));
    }
}

fn layout_block(text: &mut String, header: &str, properties: &[Property], choices: &mut Choices) {
    for _ in 0..choices.below(3) {
        text.push('\n');
    }
    if choices.chance(4) {
        text.push_str("# about the next block\n");
    }
    text.push_str(&header.replace(' ', choices.pick(&[" ", "  ", "\t"])));
    text.push_str(choices.pick(&[" {", "{", "  {"]));
    let one_line = choices.chance(3);
    let indent = choices.pick(&["  ", "\t", "    ", ""]);
    if !one_line {
        text.push_str(if choices.chance(4) {
            " # opens\n"
        } else {
            "\n"
        });
    }
    for (index, property) in properties.iter().enumerate() {
        if !one_line {
            if choices.chance(6) {
                text.push_str(indent);
                text.push_str("# a comment line\n");
            }
            text.push_str(indent);
        } else {
            text.push(' ');
        }
        text.push_str(property.key);
        let equals = if property.statement && choices.chance(2) {
            " "
        } else {
            choices.pick(&[" = ", "=", "  =  ", " ="])
        };
        text.push_str(equals);
        text.push_str(&property.value);
        let last = index + 1 == properties.len();
        match (one_line, last) {
            (true, false) => text.push(','),
            (true, true) => text.push(' '),
            (false, _) => {
                let separator = if last {
                    choices.pick(&["", ","])
                } else {
                    choices.pick(&["", ",", ", "])
                };
                text.push_str(separator);
                if choices.chance(5) {
                    text.push_str("   # trailing");
                }
                text.push('\n');
                if choices.chance(8) {
                    text.push('\n');
                }
            }
        }
    }
    text.push('}');
    if choices.chance(6) {
        text.push_str(" # closes");
    }
    text.push('\n');
}
