//! The one place where every block kind declares its properties: name, type, default and
//! documentation. The checker validates against it, the formatter prints by it, and
//! `docs/language.md` is generated from it (a test keeps the two equal).

mod kinds;
mod reference;

pub use kinds::{ALERT, ROLLUP, SINKS, SOURCES};
pub use reference::{aggregates_markdown, reference_markdown};

/// The four kinds of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `source NAME from KIND`: where samples come from.
    Source,
    /// `rollup NAME from STREAM`: windows over a stream.
    Rollup,
    /// `alert NAME`: a rule over a stream.
    Alert,
    /// `sink NAME to KIND`: where a stream goes.
    Sink,
}

impl BlockKind {
    /// Every block kind, in the order files usually list them.
    pub const ALL: [BlockKind; 4] = [
        BlockKind::Source,
        BlockKind::Rollup,
        BlockKind::Alert,
        BlockKind::Sink,
    ];

    /// The keyword that opens the block.
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Source => "source",
            BlockKind::Rollup => "rollup",
            BlockKind::Alert => "alert",
            BlockKind::Sink => "sink",
        }
    }

    /// The block kind a keyword opens.
    pub fn from_keyword(word: &str) -> Option<BlockKind> {
        BlockKind::ALL
            .into_iter()
            .find(|kind| kind.keyword() == word)
    }
}

/// What a property's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// A string, or `env("NAME", "default")`.
    Text,
    /// A URL string or `env()`; a password in it is never printed.
    Url,
    /// A whole number of at least 1.
    Count,
    /// A whole number of at least 0.
    Natural,
    /// A duration such as `15s`.
    Duration,
    /// A size such as `1MB`.
    Size,
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of words.
    Word(&'static [&'static str]),
    /// The name of a stream.
    Stream,
    /// A list of label names.
    Labels,
    /// A list of aggregate names.
    Aggregates,
    /// `tumble(SIZE)` or `hop(SIZE, SLIDE)`.
    Window,
    /// `{ key = "value" }`.
    Map,
    /// An alert condition.
    Condition,
}

impl PropType {
    /// How the type is named in messages and docs.
    pub fn describe(self) -> String {
        match self {
            PropType::Text => "string".to_string(),
            PropType::Url => "URL string".to_string(),
            PropType::Count => "whole number ≥ 1".to_string(),
            PropType::Natural => "whole number ≥ 0".to_string(),
            PropType::Duration => "duration".to_string(),
            PropType::Size => "size".to_string(),
            PropType::Bool => "boolean".to_string(),
            PropType::Word(words) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                format!("one of {}", quoted.join(", "))
            }
            PropType::Stream => "stream name".to_string(),
            PropType::Labels => "list of labels".to_string(),
            PropType::Aggregates => "list of aggregates".to_string(),
            PropType::Window => "window".to_string(),
            PropType::Map => "map of strings".to_string(),
            PropType::Condition => "condition".to_string(),
        }
    }
}

/// What happens when a property is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// It must be written.
    Required,
    /// It has no value.
    Absent,
    /// It takes this value, written in the language.
    Value(&'static str),
    /// It is worked out from elsewhere, as this sentence says.
    Derived(&'static str),
}

/// One property of one kind of block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// Its name.
    pub name: &'static str,
    /// What its value must be.
    pub ty: PropType,
    /// What it is when not written.
    pub default: Default,
    /// Written `name value` rather than `name = value` (alert clauses such as `for 2m`).
    pub statement: bool,
    /// What it does, for the documentation.
    pub doc: &'static str,
}

/// The shapes of streams: what flows in them decides which blocks can read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Raw samples from a source.
    Samples,
    /// Closed windows from a rollup.
    Rollups,
    /// Alert transitions from the built-in `alerts` stream.
    Alerts,
}

impl Shape {
    /// The shape's name in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::Samples => "raw samples",
            Shape::Rollups => "rollup windows",
            Shape::Alerts => "alert transitions",
        }
    }
}

/// One kind of block, or one kind of source or sink: its properties in canonical order.
#[derive(Debug)]
pub struct KindSpec {
    /// The block it belongs to.
    pub block: BlockKind,
    /// `generator`, `kafka`, … for sources and sinks; the keyword for rollups and alerts.
    pub name: &'static str,
    /// What it is for, for the documentation.
    pub doc: &'static str,
    /// Its properties, in the order the documentation lists them.
    pub properties: &'static [Property],
    /// For sinks: the stream shapes it accepts.
    pub accepts: &'static [Shape],
}

impl KindSpec {
    /// The property called `name`.
    pub fn property(&self, name: &str) -> Option<&'static Property> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// The spec of a source or sink kind.
pub fn connector(block: BlockKind, name: &str) -> Option<&'static KindSpec> {
    let kinds: &[KindSpec] = match block {
        BlockKind::Source => SOURCES,
        BlockKind::Sink => SINKS,
        BlockKind::Rollup | BlockKind::Alert => &[],
    };
    kinds.iter().find(|kind| kind.name == name)
}
