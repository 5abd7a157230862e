//! The tables: every source, sink, rollup and alert property.

use super::{BlockKind, Default, KindSpec, PropType, Property, Shape};

const fn property(
    name: &'static str,
    ty: PropType,
    default: Default,
    doc: &'static str,
) -> Property {
    Property {
        name,
        ty,
        default,
        statement: false,
        doc,
    }
}

const fn statement(
    name: &'static str,
    ty: PropType,
    default: Default,
    doc: &'static str,
) -> Property {
    Property {
        name,
        ty,
        default,
        statement: true,
        doc,
    }
}

const fn lateness(default: &'static str) -> Property {
    property(
        "lateness",
        PropType::Duration,
        Default::Value(default),
        "How far behind the newest event time a sample may arrive and still count. Later samples are counted and sent to the late path, never dropped silently.",
    )
}

const STEP: Property = property(
    "step",
    PropType::Duration,
    Default::Value("15s"),
    "The evaluation step of alert rules that read this source: rules are evaluated each time event time passes a multiple of it.",
);

const LABELS: Property = property(
    "labels",
    PropType::Labels,
    Default::Absent,
    "The labels messages carry besides `metric_name`. When given, rollups and alerts may only use these; when absent, any label is accepted.",
);

const FORMAT: Property = property(
    "format",
    PropType::Word(&["json", "influx"]),
    Default::Value("json"),
    "Message encoding: `json` is `{\"metric_name\": …, \"timestamp\": MILLIS, \"value\": …, \"labels\": {…}}`; `influx` is InfluxDB line protocol (nanosecond timestamps), one sample per field, named `MEASUREMENT_FIELD` (`MEASUREMENT` for a field called `value`).",
);

const FROM: Property = property(
    "from",
    PropType::Stream,
    Default::Required,
    "The stream this sink writes: a source, a rollup, or `alerts`.",
);

const KAFKA_OPTIONS: Property = statement(
    "kafka",
    PropType::Map,
    Default::Absent,
    "librdkafka settings passed through, such as `kafka { \"security.protocol\" = \"SASL_SSL\", \"sasl.password\" = env(\"KAFKA_PASSWORD\") }`. Values read from the environment are never printed or logged.",
);

const BROKERS: Property = property(
    "brokers",
    PropType::Text,
    Default::Required,
    "Bootstrap servers, `host:port` separated by commas.",
);

const MAX_SERIES: Property = property(
    "max_series",
    PropType::Count,
    Default::Absent,
    "A cardinality limit: samples of a new series beyond this many live series are dead letters (reason `max_series`). Each process admits its share, by its number of workers.",
);

const SERIES_TTL: Property = property(
    "series_ttl",
    PropType::Duration,
    Default::Value("1h"),
    "A series without samples for this long (in event time) is forgotten, with its rollup groups and its alert groups, so that memory stays flat while hosts come and go. `absent` stops firing for a group forgotten this way.",
);

const MAX_MESSAGE_BYTES: Property = property(
    "max_message_bytes",
    PropType::Size,
    Default::Value("1MB"),
    "Larger messages are dead letters (reason `oversize`).",
);

/// The kinds of `source` blocks.
pub static SOURCES: &[KindSpec] = &[
    KindSpec {
        block: BlockKind::Source,
        name: "generator",
        doc: "Simulates a fleet: `hosts` × `metrics` series reporting every `interval`, with labels `host`, `region`, `environment` and `service`. CPU drifts and spikes on a few hosts, counters grow and sometimes reset, and a few hosts go silent, so that alerts have something to find. Needs no external service.",
        properties: &[
            property(
                "hosts",
                PropType::Count,
                Default::Value("1000"),
                "Simulated hosts.",
            ),
            property(
                "metrics",
                PropType::Count,
                Default::Value("50"),
                "Metrics per host. The first ones are named (`cpu_usage_percent`, `memory_used_bytes`, `http_requests_total`, `http_errors_total`, `heartbeat`, …); the rest are generic gauges.",
            ),
            property(
                "interval",
                PropType::Duration,
                Default::Value("15s"),
                "How often each series reports.",
            ),
            property(
                "pace",
                PropType::Word(&["realtime", "max"]),
                Default::Value("realtime"),
                "`realtime` follows the wall clock; `max` produces event time as fast as the pipeline consumes it.",
            ),
            property(
                "history",
                PropType::Duration,
                Default::Value("10m"),
                "With `pace = realtime`, the event time replayed at full speed before following the clock, so that windows close and alerts fire at once.",
            ),
            property(
                "seed",
                PropType::Natural,
                Default::Value("1"),
                "The same seed gives the same samples.",
            ),
            lateness("0s"),
            property(
                "step",
                PropType::Duration,
                Default::Derived("the source's `interval`"),
                STEP.doc,
            ),
        ],
        accepts: &[],
    },
    KindSpec {
        block: BlockKind::Source,
        name: "kafka",
        doc: "Reads samples from a Kafka topic. Partitions are assigned statically to the workers of every process; the consumer group stores offsets, committed only up to what every sink has made durable, so that a restart replays exactly what is not yet written. Malformed, late, far-future and oversize messages, and new series over `max_series`, go to the dead-letter topic with the reason in a header, and are counted per reason.",
        properties: &[
            BROKERS,
            property(
                "topic",
                PropType::Text,
                Default::Required,
                "The topic to read.",
            ),
            property(
                "group",
                PropType::Text,
                Default::Required,
                "The consumer group that stores committed offsets.",
            ),
            FORMAT,
            property(
                "start",
                PropType::Word(&["committed", "earliest", "latest"]),
                Default::Value("committed"),
                "Where to start: `committed` resumes from the group's committed offsets (the earliest offset of a partition without one), `earliest` and `latest` ignore them and read from the beginning or only new messages.",
            ),
            property(
                "dead_letter",
                PropType::Text,
                Default::Absent,
                "A topic that receives bad messages: the original bytes, with a `pipe-reason` header. Without it they are counted and logged.",
            ),
            MAX_MESSAGE_BYTES,
            MAX_SERIES,
            SERIES_TTL,
            KAFKA_OPTIONS,
            LABELS,
            lateness("10s"),
            property(
                "idle_timeout",
                PropType::Duration,
                Default::Value("30s"),
                "A partition read to its end that has had no message for this long stops holding event time back; when every partition is idle, event time follows the wall clock (minus `lateness`), so that windows close, `absent` fires and alerts resolve when input stops.",
            ),
            STEP,
        ],
        accepts: &[],
    },
    KindSpec {
        block: BlockKind::Source,
        name: "file",
        doc: "Reads samples from a file, one message per line, through the same decoders and dead-letter accounting as Kafka: once to its end, or followed as it grows (`follow = true`, like `tail -f`). For replays, backfills and tests without a broker.",
        properties: &[
            property(
                "path",
                PropType::Text,
                Default::Required,
                "The file to read.",
            ),
            FORMAT,
            property(
                "follow",
                PropType::Bool,
                Default::Value("false"),
                "Keep reading as the file grows, until stopped, instead of ending at its end.",
            ),
            property(
                "dead_letter",
                PropType::Text,
                Default::Absent,
                "A file that receives bad lines as JSON lines, `{\"reason\": …, \"message\": …}`. Without it they are counted and logged.",
            ),
            MAX_MESSAGE_BYTES,
            MAX_SERIES,
            SERIES_TTL,
            LABELS,
            lateness("0s"),
            property(
                "idle_timeout",
                PropType::Duration,
                Default::Value("30s"),
                "With `follow = true`: once the file has not grown for this long, event time follows the wall clock (minus `lateness`).",
            ),
            STEP,
        ],
        accepts: &[],
    },
    KindSpec {
        block: BlockKind::Source,
        name: "external",
        doc: "Samples a program that runs the pipeline itself provides, through the `Source` trait of `pipe_runtime` (see `examples/custom_source.rs`). `pipectl` cannot run it.",
        properties: &[SERIES_TTL, LABELS, lateness("0s"), STEP],
        accepts: &[],
    },
];

/// The kinds of `sink` blocks.
pub static SINKS: &[KindSpec] = &[
    KindSpec {
        block: BlockKind::Sink,
        name: "console",
        doc: "Prints a stream to standard output, one line per sample, window or alert transition.",
        properties: &[FROM],
        accepts: &[Shape::Samples, Shape::Rollups, Shape::Alerts],
    },
    KindSpec {
        block: BlockKind::Sink,
        name: "file",
        doc: "Appends a stream to a file as JSON lines, one object per sample, closed window or alert transition, flushed as windows close.",
        properties: &[
            FROM,
            property(
                "path",
                PropType::Text,
                Default::Required,
                "The file to append to; its directory is created.",
            ),
        ],
        accepts: &[Shape::Samples, Shape::Rollups, Shape::Alerts],
    },
    KindSpec {
        block: BlockKind::Sink,
        name: "timescale",
        doc: "Writes raw samples to PostgreSQL with binary COPY from every worker: a TimescaleDB hypertable with compression and retention policies when the extension is installed, otherwise native time partitions created ahead and dropped at retention by the sink. A replay after a crash adds no row twice (unique on series and time). Beside the table, `TABLE_hourly` keeps each metric's count and sum per hour, added to in the transaction that writes the rows (only rows actually inserted count), so that a fleet-wide average over days reads a few rows per hour. `pipectl migrate` prints the DDL.",
        properties: &[
            FROM,
            property(
                "url",
                PropType::Url,
                Default::Required,
                "`postgres://user:password@host:port/database`; the password is never printed.",
            ),
            property(
                "table",
                PropType::Text,
                Default::Required,
                "The table, created when missing.",
            ),
            property(
                "chunk",
                PropType::Duration,
                Default::Value("1h"),
                "The time span of one chunk or partition.",
            ),
            property(
                "compress_after",
                PropType::Duration,
                Default::Absent,
                "Compress chunks older than this (TimescaleDB only).",
            ),
            property(
                "retention",
                PropType::Duration,
                Default::Absent,
                "Drop data older than this.",
            ),
        ],
        accepts: &[Shape::Samples],
    },
    KindSpec {
        block: BlockKind::Sink,
        name: "clickhouse",
        doc: "Writes closed rollup windows from every worker to a ClickHouse ReplacingMergeTree table keyed by series and window, so that a replay after a crash collapses into what was written (read with `FINAL` for exact sums); quantiles merge across windows through the `<table>_points` view. `pipectl migrate` prints the DDL.",
        properties: &[
            FROM,
            property(
                "url",
                PropType::Url,
                Default::Required,
                "The HTTP interface, such as `http://127.0.0.1:8123`; a password is never printed.",
            ),
            property(
                "table",
                PropType::Text,
                Default::Required,
                "The table, created when missing.",
            ),
            property(
                "database",
                PropType::Text,
                Default::Value("\"default\""),
                "The database of the table.",
            ),
            property(
                "ttl",
                PropType::Duration,
                Default::Absent,
                "Delete rows older than this: the table's TTL (ClickHouse 19.6 and later), or whole day or month partitions the sink drops once past it (older servers).",
            ),
        ],
        accepts: &[Shape::Rollups],
    },
    KindSpec {
        block: BlockKind::Sink,
        name: "alertmanager",
        doc: "Posts alerts to Alertmanager's v2 API (`POST /api/v2/alerts`) as Prometheus does: firing ones with `startsAt`, an `endsAt` four `resend` intervals ahead and a `generatorURL` naming the rule's file and line, posted again every `resend` while they fire; resolved ones with their `endsAt`. Pending and cancelled transitions are not sent. Runs on every worker for the rules it evaluates; a batch is durable once an Alertmanager accepted it: while none can be reached it is retried with backoff and the pipeline waits.",
        properties: &[
            FROM,
            property(
                "url",
                PropType::Url,
                Default::Required,
                "Alertmanager's base URL, such as `http://127.0.0.1:9093`, or several separated by commas (an HA pair): each gets every alert, and one that is down gets what it missed when it is back (up to 10,000 alerts; more are counted and logged). http only in this version.",
            ),
            property(
                "resend",
                PropType::Duration,
                Default::Value("1m"),
                "How often firing alerts are posted again (Prometheus's `--rules.alert.resend-delay`); each post sets `endsAt` four of these ahead, so Alertmanager keeps a firing alert while pipe runs and resolves it on its own within four if pipe stops.",
            ),
        ],
        accepts: &[Shape::Alerts],
    },
    KindSpec {
        block: BlockKind::Sink,
        name: "kafka",
        doc: "Writes a stream to a Kafka topic as JSON messages, the objects the `file` sink writes: alert transitions keyed by rule and group, windows by rollup and group, samples by series. Runs on every worker for the records it holds; a batch is durable once the broker has acknowledged it.",
        properties: &[
            FROM,
            BROKERS,
            property(
                "topic",
                PropType::Text,
                Default::Required,
                "The topic to write.",
            ),
            KAFKA_OPTIONS,
        ],
        accepts: &[Shape::Samples, Shape::Rollups, Shape::Alerts],
    },
];

/// `rollup NAME from STREAM[{matchers}] { … }`.
pub static ROLLUP: KindSpec = KindSpec {
    block: BlockKind::Rollup,
    name: "rollup",
    doc: "Aggregates a stream into event-time windows. A rollup of a source reads raw samples; a rollup of another rollup (a cascade) merges its closed windows, never re-reading raw samples. Matchers after the input, as in `from metrics{environment=\"prod\"}`, keep only matching series.",
    properties: &[
        property(
            "window",
            PropType::Window,
            Default::Required,
            "`tumble(SIZE)` or `hop(SIZE, SLIDE)`, aligned to the Unix epoch. A window closes, once, when event time passes its end plus the source's `lateness`.",
        ),
        property(
            "by",
            PropType::Labels,
            Default::Derived(
                "a cascade keeps its input's labels; a rollup of a source keeps every series apart",
            ),
            "The labels that identify a group; series with equal values of these labels are aggregated together. `metric_name` is a label.",
        ),
        property(
            "aggs",
            PropType::Aggregates,
            Default::Derived(
                "a cascade keeps its input's aggregates; a rollup of a source computes `[count, sum, min, max, avg]`",
            ),
            "The aggregates written for each group and window.",
        ),
    ],
    accepts: &[Shape::Samples, Shape::Rollups],
};

/// `alert NAME { when … }`.
pub static ALERT: KindSpec = KindSpec {
    block: BlockKind::Alert,
    name: "alert",
    doc: "A rule evaluated at every step of its input. Each group of the condition is inactive, pending, firing or resolved; only changes leave the pipeline, on the built-in `alerts` stream.",
    properties: &[
        statement(
            "when",
            PropType::Condition,
            Default::Required,
            "The condition, such as `avg(cpu_usage_percent) over 5m by host > 90`.",
        ),
        statement(
            "for",
            PropType::Duration,
            Default::Value("0s"),
            "How long the condition must hold before the alert fires; until then it is pending.",
        ),
        statement(
            "keep_firing_for",
            PropType::Duration,
            Default::Value("0s"),
            "How long a firing alert keeps firing after the condition stops holding, so that a flapping condition does not notify again and again.",
        ),
        statement(
            "lookback",
            PropType::Duration,
            Default::Value("1h"),
            "How long an `absent(…) by …` term remembers a group that stopped reporting: the term holds for the group once a window of `over` has none of its samples, until `lookback` after the last window that had one, and then forgets the group, resolving its alert (a Prometheus rule writes this as the range of `max_over_time(up[1h]) unless up`).",
        ),
        statement(
            "labels",
            PropType::Map,
            Default::Absent,
            "Labels added to the alert, such as `{ severity = \"critical\" }`. Values may use templates.",
        ),
        statement(
            "annotations",
            PropType::Map,
            Default::Absent,
            "Annotations, such as `{ summary = \"CPU on {{ host }} is {{ value }}%\" }`. Templates may name the group's labels, `value` and `alertname`; `{{ $labels.host }}` and `{{ $value }}` work too.",
        ),
        property(
            "from",
            PropType::Stream,
            Default::Derived("the file's only source"),
            "The stream the rule reads: a source, or a tumbling rollup that keeps the aggregates the rule needs.",
        ),
    ],
    accepts: &[Shape::Samples, Shape::Rollups],
};
