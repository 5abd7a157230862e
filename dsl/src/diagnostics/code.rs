//! Every diagnostic the language can report, with a stable code that users can look up in
//! `docs/language.md` (a test keeps that list complete).

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is not valid; nothing runs.
    Error,
    /// The file is valid but probably not what was meant.
    Warning,
}

macro_rules! codes {
    ($($variant:ident = $id:literal, $severity:ident, $title:literal;)*) => {
        /// A diagnostic's identity: stable across releases, documented in `docs/language.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum Code {
            $(#[doc = $title] $variant,)*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable identifier, such as `E0104`.
            pub fn id(self) -> &'static str {
                match self { $(Code::$variant => $id,)* }
            }

            /// Whether this code is an error or a warning.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            /// A one-line description for the documentation.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
        }
    };
}

codes! {
    Syntax = "E0001", Error, "the text does not follow the grammar";
    UnknownBlockKind = "E0101", Error, "a block is not `source`, `rollup`, `alert`, `sink` or `test`";
    BadHeader = "E0102", Error, "a block header has the wrong shape for its kind";
    UnknownKind = "E0103", Error, "a source or sink kind does not exist";
    UnknownProperty = "E0104", Error, "a property does not exist for this block";
    MissingProperty = "E0105", Error, "a required property is missing";
    DuplicateProperty = "E0106", Error, "a property is set twice in one block";
    WrongType = "E0107", Error, "a value has the wrong type for its property";
    InvalidValue = "E0108", Error, "a value has the right type but is not allowed";
    DuplicateName = "E0109", Error, "two blocks have the same name";
    ReservedName = "E0110", Error, "a block uses a name the language reserves";
    MissingEnv = "E0111", Error, "`env()` names a variable that is not set and gives no default";
    UndefinedStream = "E0201", Error, "a stream is referenced but never defined";
    Cycle = "E0202", Error, "rollups read each other in a cycle";
    WrongShape = "E0203", Error, "a block reads a stream of a shape it cannot take";
    WindowNotMultiple = "E0204", Error, "a cascaded window is not a multiple of its input's window";
    HopSlide = "E0205", Error, "a `hop` window's slide does not divide its size";
    MissingLabel = "E0206", Error, "a label is used that the input stream does not carry";
    MissingState = "E0207", Error, "an aggregate needs state that the input rollup does not keep";
    UnknownAggregate = "E0208", Error, "an aggregate function does not exist";
    OverlappingInput = "E0209", Error, "a rollup or alert reads a stream of overlapping windows";
    OverTooShort = "E0301", Error, "an alert's `over` is shorter than, or not a multiple of, its input's step";
    InvalidRegex = "E0302", Error, "a `=~` or `!~` matcher holds an invalid regular expression";
    AmbiguousInput = "E0303", Error, "an alert could read several sources and does not say which";
    ConditionType = "E0304", Error, "a condition mixes numbers and conditions wrongly";
    GroupingMismatch = "E0305", Error, "two sides of an operator are grouped by different labels";
    UnknownTemplateField = "E0306", Error, "an annotation or label template names an unknown field";
    BadTest = "E0401", Error, "a test block is not shaped as `test NAME { interval, input, expect }`";
    InvalidSeries = "E0402", Error, "a test's input series is not in promtool's expanding notation";
    UnknownRule = "E0403", Error, "a test expects alerts of a rule the pipeline does not have";
    ExpectationFailed = "E0404", Error, "`pipectl test`: the alerts a rule produced differ from those a test expects";
    UnreadStream = "W0001", Warning, "a source or rollup is read by nothing";
    AlertsUnread = "W0002", Warning, "the file has alert rules but no sink reads `alerts`";
}
