//! The checked pipeline: every name resolved, every type checked, every node carrying the span it
//! came from. It is the only thing that leaves this crate, what `pipectl plan` prints and what
//! `pipectl deploy` ships.

mod aggregate;
mod connectors;
pub mod diff;
mod display;
mod explain;
mod placement;
mod replay;
mod template;
mod values;

pub use aggregate::{Aggregate, StateSet};
pub use connectors::*;
pub use explain::explain;
pub use template::{Field, Template, TemplateError, format_value, is_label_name};
pub use values::{Duration, Text};

use serde::{Deserialize, Serialize};

use crate::span::Span;
pub use crate::syntax::ast::{BinaryOp, MatchOp};

/// A whole checked pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Where samples come from.
    pub sources: Vec<Source>,
    /// Windows over streams, inputs before the rollups that read them.
    pub rollups: Vec<Rollup>,
    /// Alert rules; their transitions form the `alerts` stream.
    pub alerts: Vec<AlertRule>,
    /// Where streams go.
    pub sinks: Vec<Sink>,
    /// The placement of each source's series, by source name, where it is fixed rather than
    /// derived from the rollups ([`Plan::placement`]): a running cluster keeps the placement it
    /// started with when a deploy adds rollups that group otherwise.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pinned_placement: std::collections::BTreeMap<String, Option<Vec<String>>>,
}

impl Plan {
    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|source| source.name == name)
    }

    /// The rollup called `name`.
    pub fn rollup(&self, name: &str) -> Option<&Rollup> {
        self.rollups.iter().find(|rollup| rollup.name == name)
    }

    /// The sinks that read the stream called `name`.
    pub fn sinks_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sink> + 'a {
        self.sinks.iter().filter(move |sink| sink.from == name)
    }
}

/// The name of the built-in stream of alert transitions.
pub const ALERTS_STREAM: &str = "alerts";

/// The label that holds a sample's metric name.
pub const METRIC_NAME: &str = "metric_name";

/// A source of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The stream's name.
    pub name: String,
    /// Where the samples come from.
    pub connector: SourceConnector,
    /// How late a sample may be and still count.
    pub lateness: Duration,
    /// The step of alert rules that read this source.
    pub step: Duration,
    /// How long a series without samples is remembered; `None` for ever (a generator's series
    /// are fixed).
    pub series_ttl: Option<Duration>,
    /// The labels its samples carry.
    pub labels: LabelSet,
    /// The block.
    pub span: Span,
}

/// The labels a stream's samples carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSet {
    /// Exactly these (always including `metric_name`).
    Known(Vec<String>),
    /// Not declared: any label may appear.
    Open,
}

impl LabelSet {
    /// Whether `label` may be used on this stream.
    pub fn has(&self, label: &str) -> bool {
        match self {
            LabelSet::Known(labels) => labels.iter().any(|known| known == label),
            LabelSet::Open => true,
        }
    }
}

/// A rollup: event-time windows over a source or over another rollup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// The stream's name.
    pub name: String,
    /// The stream it reads.
    pub input: String,
    /// Whether it reads another rollup's windows (merging states) rather than raw samples.
    pub cascade: bool,
    /// The source at the root of its inputs, whose lateness closes its windows.
    pub root_source: String,
    /// Only series matching all of these are read.
    pub matchers: Vec<LabelMatcher>,
    /// The windows.
    pub window: Window,
    /// What identifies a group.
    pub group: Grouping,
    /// The aggregates written.
    pub aggregates: Vec<Aggregate>,
    /// The state kept per group and window: what the aggregates need, and what cascades read.
    pub state: StateSet,
    /// The block.
    pub span: Span,
}

/// Event-time windows, aligned to the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// Back-to-back windows of one size.
    Tumble {
        /// Window length.
        size: Duration,
    },
    /// Windows of `size` starting every `slide`, so each sample falls in `size / slide` windows.
    Hop {
        /// Window length.
        size: Duration,
        /// Time between window starts.
        slide: Duration,
    },
}

impl Window {
    /// The window length.
    pub fn size(&self) -> Duration {
        match *self {
            Window::Tumble { size } | Window::Hop { size, .. } => size,
        }
    }

    /// The time between window starts (the size, for tumbling windows).
    pub fn slide(&self) -> Duration {
        match *self {
            Window::Tumble { size } => size,
            Window::Hop { slide, .. } => slide,
        }
    }

    /// Whether a sample falls in more than one window.
    pub fn overlaps(&self) -> bool {
        self.slide() != self.size()
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Window::Tumble { size } => write!(f, "tumble({size})"),
            Window::Hop { size, slide } => write!(f, "hop({size}, {slide})"),
        }
    }
}

/// What identifies a group in a rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// Each series (metric name and all labels) is its own group.
    Series,
    /// Series with equal values of these labels form one group.
    Labels(Vec<String>),
}

impl Grouping {
    /// Whether groups carry `label`, given the labels of the input stream.
    pub fn carries(&self, label: &str, input: &LabelSet) -> bool {
        match self {
            Grouping::Series => input.has(label),
            Grouping::Labels(labels) => labels.iter().any(|l| l == label),
        }
    }
}

/// `label OP "value"`: filters series as PromQL does; regexes match the whole value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMatcher {
    /// The label.
    pub label: String,
    /// How it is compared.
    pub op: MatchOp,
    /// The value or regex.
    pub value: String,
}

/// An alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// The rule's name, sent as the `alertname` label.
    pub name: String,
    /// The stream it reads.
    pub input: String,
    /// How often it is evaluated: the input's step.
    pub step: Duration,
    /// How long a group without samples is remembered: its source's `series_ttl`.
    pub forget_after: Option<Duration>,
    /// When it holds, per group.
    pub condition: Condition,
    /// The labels that identify a group of the condition.
    pub group_by: Vec<String>,
    /// How long the condition must hold before firing.
    pub for_: Duration,
    /// How long a firing alert keeps firing after the condition stops holding.
    pub keep_firing_for: Duration,
    /// How long its `absent … by` terms remember a group that stopped reporting.
    pub lookback: Duration,
    /// Labels added to every alert of the rule.
    pub labels: Vec<(String, Template)>,
    /// Annotations.
    pub annotations: Vec<(String, Template)>,
    /// The block.
    pub span: Span,
}

impl AlertRule {
    /// `lookback` when the rule does not say: what Prometheus rules of silent hosts usually
    /// look back over.
    pub const DEFAULT_LOOKBACK: Duration = Duration(3_600_000);
}

/// A condition that holds or not, per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// `lhs OP rhs` for a comparison operator.
    Compare {
        /// The comparison.
        op: BinaryOp,
        /// Left side.
        lhs: Expr,
        /// Right side.
        rhs: Expr,
    },
    /// Holds for a group that has had samples before but none in the last `over`.
    Absent(Selection),
    /// Both hold.
    And(Box<Condition>, Box<Condition>),
    /// Either holds.
    Or(Box<Condition>, Box<Condition>),
}

/// A number per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A constant.
    Number(f64),
    /// An aggregate over a window.
    Selection(Selection),
    /// `lhs OP rhs` for `+ - * /`.
    Arithmetic {
        /// The operator.
        op: BinaryOp,
        /// Left side.
        lhs: Box<Expr>,
        /// Right side.
        rhs: Box<Expr>,
    },
}

impl Condition {
    /// Its selections (the rule's terms), depth first, left before right: the order in which
    /// terms are numbered wherever a rule is evaluated.
    pub fn selections(&self) -> Vec<&Selection> {
        fn of_expr<'a>(expr: &'a Expr, out: &mut Vec<&'a Selection>) {
            match expr {
                Expr::Number(_) => {}
                Expr::Selection(selection) => out.push(selection),
                Expr::Arithmetic { lhs, rhs, .. } => {
                    of_expr(lhs, out);
                    of_expr(rhs, out);
                }
            }
        }
        fn of_condition<'a>(condition: &'a Condition, out: &mut Vec<&'a Selection>) {
            match condition {
                Condition::Compare { lhs, rhs, .. } => {
                    of_expr(lhs, out);
                    of_expr(rhs, out);
                }
                Condition::Absent(selection) => out.push(selection),
                Condition::And(lhs, rhs) | Condition::Or(lhs, rhs) => {
                    of_condition(lhs, out);
                    of_condition(rhs, out);
                }
            }
        }
        let mut selections = Vec::new();
        of_condition(self, &mut selections);
        selections
    }
}

/// `AGG(metric{matchers}) over DURATION by labels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The aggregate; `None` for `absent`.
    pub aggregate: Option<Aggregate>,
    /// The metric name.
    pub metric: String,
    /// Label filters.
    pub matchers: Vec<LabelMatcher>,
    /// The window length.
    pub over: Duration,
    /// The grouping labels.
    pub by: Vec<String>,
    /// The term in the source.
    pub span: Span,
}

/// A sink: where a stream goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sink {
    /// The sink's name.
    pub name: String,
    /// The stream it writes.
    pub from: String,
    /// Where it writes.
    pub connector: SinkConnector,
    /// The block.
    pub span: Span,
}
