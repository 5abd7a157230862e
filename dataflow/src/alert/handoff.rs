//! Alert state moving between workers. A rule whose groups are each on one worker is evaluated
//! where they are; another, on the worker that owns the rule. A rule change can move a rule
//! from one to the other: at the change's time, the workers that held its state hand it to
//! those that evaluate it from then on, so that its alerts keep their state (a firing alert stays
//! firing and is not notified again), as they do for changes that do not move it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::machine::Active;
use crate::series::Labels;

/// The state of one rule a worker hands to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// The worker that takes it over.
    pub to: usize,
    /// The rule.
    pub rule: Arc<str>,
    /// Its active alerts, by group id.
    pub alerts: Vec<(u64, Labels, Active)>,
    /// The labels of its groups, by id.
    pub labels: Vec<(u64, Labels)>,
    /// What its `absent` terms remember: term, group id, last step with samples.
    pub seen: Vec<(u16, u64, u64)>,
    /// When its groups last had samples, by id.
    pub presence: Vec<(u64, u64)>,
}

impl Handoff {
    /// An empty handoff of `rule` to worker `to`.
    pub fn new(rule: &Arc<str>, to: usize) -> Self {
        Handoff {
            to,
            rule: Arc::clone(rule),
            alerts: Vec::new(),
            labels: Vec::new(),
            seen: Vec::new(),
            presence: Vec::new(),
        }
    }
}
