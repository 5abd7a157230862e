//! The records the partial stage sends the evaluator: per rule and step boundary, a marker that
//! the worker reached it and each term's windows per group. They cross workers, so they are
//! kept small (see [`TermGroup`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::term_state::TermState;
use crate::series::Labels;

/// What the partial stage sends the evaluator for one rule at one step boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The rule.
    pub rule: Arc<str>,
    /// The boundary: terms cover `(at − over, at]`.
    pub at: u64,
    /// `None` marks that the boundary was reached; otherwise one term's groups.
    pub term: Option<TermBatch>,
    /// Whether every group of the rule is wholly on the worker that sent this
    /// ([`AlertRule::groups_within`](pipe_dsl::plan::AlertRule::groups_within)): that worker
    /// then evaluates the rule for those groups itself, without sending them to another.
    pub local: bool,
}

/// A term's window per group, from the series one worker owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermBatch {
    /// Which term of the rule.
    pub index: u16,
    /// The groups with samples in the window.
    pub groups: Vec<TermGroup>,
    /// The labels (the term's `by` labels) of groups this worker sends for the first time for
    /// the current rules, by id; the evaluator remembers them. Cloning shared labels for every
    /// group at every step was a fifth of the cost of firing, and carrying a place for them in
    /// every group a quarter of its size.
    pub labels: Vec<(u64, Labels)>,
}

/// One group of a term: 64 bytes, written for every group at every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermGroup {
    /// The hash of the group's labels.
    pub id: u64,
    /// What the term needs of the window.
    pub state: TermState,
}
