//! Test blocks: input series and the alerts expected of the file's rules, in the spirit of
//! `promtool test rules`. They are read here, beside the pipeline; `pipectl test` runs them
//! through the same dataflow as production.
//!
//! ```text
//! test high_cpu {
//!   interval = 15s
//!   input {
//!     cpu_usage_percent{host="web-1", environment="prod"} = "50x19 99x39"
//!   }
//!   expect {
//!     5m  { HighCpu = none }
//!     7m  { HighCpu { host = "web-1", severity = "critical", state = pending } }
//!   }
//! }
//! ```

mod check;
pub mod notation;

use std::collections::BTreeMap;

pub use check::check;

use crate::span::Span;

/// The keyword that opens a test block.
pub const TEST_KEYWORD: &str = "test";

/// One test block, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// The block's name.
    pub name: String,
    /// The time between two samples of a series, in milliseconds; `None` for the step of the
    /// source the rules read.
    pub interval: Option<u64>,
    /// The input series.
    pub input: Vec<InputSeries>,
    /// What is expected, in the order written.
    pub expectations: Vec<Expectation>,
    /// The block.
    pub span: Span,
}

/// One input series: its samples at 0, one interval, two intervals… after the test's start.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSeries {
    /// `metric_name` and the labels written in braces.
    pub labels: Vec<(String, String)>,
    /// One value per interval; `None` where no sample was taken.
    pub values: Vec<Option<f64>>,
    /// The entry.
    pub span: Span,
}

/// The alerts of one rule at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// Milliseconds after the test's start.
    pub at: u64,
    /// The time as written (`7m`).
    pub at_text: String,
    /// The rule.
    pub rule: String,
    /// Exactly the alerts of the rule that are active then; empty for `none`.
    pub alerts: Vec<ExpectedAlert>,
    /// The entry, where a failure is shown.
    pub span: Span,
}

/// One active alert.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedAlert {
    /// Pending or firing.
    pub state: AlertState,
    /// Its labels other than `alertname`: the group's and the rule's.
    pub labels: BTreeMap<String, String>,
    /// Its annotations, filled in; `None` when the test does not check them.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The states in which an alert is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// The condition holds; `for` has not elapsed.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    /// The word used in test blocks and reports.
    pub fn word(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}
