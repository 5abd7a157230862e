//! Alert rules as the dataflow sees them. Rules are a differential collection of
//! `(name, rule as JSON)`, so a running pipeline can add, change and remove them; each operator
//! that needs them keeps the rule set as of the event time it has reached.

use std::collections::BTreeMap;
use std::sync::Arc;

use pipe_dsl::plan::{Aggregate, AlertRule, LabelMatcher, MatchOp};
use regex::Regex;

use crate::series::Labels;

/// A rule as a record of the rules collection: its name and its plan as JSON.
pub type RuleRecord = (String, String);

/// A change to the rules collection, as differential's inner stream carries it.
pub type RuleUpdate = (RuleRecord, u64, isize);

/// The record of a plan's rule.
pub fn rule_record(rule: &AlertRule) -> RuleRecord {
    let json = serde_json::to_string(rule).expect("a plan's rule serialises to JSON");
    (rule.name.clone(), json)
}

/// A stable hash of a rule's name, which decides the worker that evaluates it when its groups
/// span workers.
pub fn rule_hash(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

/// A rule ready to evaluate: its plan and its terms, numbered in the order the condition
/// names them.
#[derive(Debug)]
pub struct CompiledRule {
    /// The rule's name.
    pub name: Arc<str>,
    /// The rule.
    pub plan: AlertRule,
    /// Its `AGG(selector) over W by L` terms, depth first, left before right.
    pub terms: Vec<Term>,
}

/// One term of a condition.
#[derive(Debug, Clone)]
pub struct Term {
    /// The metric name it selects.
    pub metric: String,
    /// Label filters.
    pub matchers: Vec<Matcher>,
    /// Window length in milliseconds.
    pub over: u64,
    /// Grouping labels.
    pub by: Vec<String>,
    /// The aggregate; `None` for `absent`.
    pub aggregate: Option<Aggregate>,
}

impl Term {
    /// Whether a series (or rollup group) with these labels is one the term reads.
    pub fn selects(&self, labels: &Labels) -> bool {
        labels.get(pipe_dsl::plan::METRIC_NAME) == Some(self.metric.as_str())
            && self.matchers.iter().all(|matcher| matcher.matches(labels))
    }

    /// Whether it needs a quantile sketch.
    pub fn needs_sketch(&self) -> bool {
        self.aggregate
            .is_some_and(|aggregate| aggregate.needs().sketch)
    }

    /// Whether it needs counter increases.
    pub fn needs_counter(&self) -> bool {
        self.aggregate
            .is_some_and(|aggregate| aggregate.needs().counter)
    }
}

/// A PromQL label matcher; regular expressions match the whole value, and a missing label
/// matches as the empty string.
#[derive(Debug, Clone)]
pub struct Matcher {
    label: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Compiles a plan's matcher; the checker has validated its regex.
    pub fn new(matcher: &LabelMatcher) -> Option<Matcher> {
        let regex = match matcher.op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?:{})$", matcher.value)).ok()?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Some(Matcher {
            label: matcher.label.clone(),
            op: matcher.op,
            value: matcher.value.clone(),
            regex,
        })
    }

    /// Whether the labels pass this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.label).unwrap_or_default();
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(value),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(value),
            (_, None) => false,
        }
    }
}

/// Compiles all matchers, or none when one is invalid.
pub fn compile_matchers(matchers: &[LabelMatcher]) -> Option<Vec<Matcher>> {
    matchers.iter().map(Matcher::new).collect()
}

impl CompiledRule {
    /// Compiles a rule from its plan.
    pub fn new(plan: AlertRule) -> Option<CompiledRule> {
        let terms = plan
            .condition
            .selections()
            .into_iter()
            .map(|selection| {
                Some(Term {
                    metric: selection.metric.clone(),
                    matchers: compile_matchers(&selection.matchers)?,
                    over: selection.over.millis(),
                    by: selection.by.clone(),
                    aggregate: selection.aggregate,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(CompiledRule {
            name: plan.name.as_str().into(),
            plan,
            terms,
        })
    }

    /// Compiles a rule from its record.
    pub fn from_json(json: &str) -> Option<CompiledRule> {
        CompiledRule::new(serde_json::from_str(json).ok()?)
    }
}

/// The rule set at each event time: updates wait until the operator's clock reaches their time.
#[derive(Debug, Default)]
pub struct RuleBook {
    current: BTreeMap<Arc<str>, (String, Arc<CompiledRule>)>,
    pending: BTreeMap<u64, Vec<(RuleRecord, isize)>>,
    /// Rules whose JSON did not compile; counted so that a bad deploy is visible.
    pub rejected: u64,
}

/// What applying updates changed.
#[derive(Debug, Default)]
pub struct RuleChanges {
    /// Whether any rule was added, changed or removed.
    pub changed: bool,
    /// Rules that no longer exist.
    pub removed: Vec<Arc<CompiledRule>>,
}

impl RuleBook {
    /// Holds updates until their time is reached.
    pub fn stash(&mut self, updates: impl IntoIterator<Item = RuleUpdate>) {
        for (record, time, diff) in updates {
            self.pending.entry(time).or_default().push((record, diff));
        }
    }

    /// The time of the earliest update not yet applied.
    pub fn next_update(&self) -> Option<u64> {
        self.pending.keys().next().copied()
    }

    /// Applies every update up to and including `time`: removals before additions at each time,
    /// so that a changed rule (one of each) ends up changed.
    pub fn apply_until(&mut self, time: u64) -> RuleChanges {
        let mut changes = RuleChanges::default();
        let before: Vec<Arc<CompiledRule>> = self
            .current
            .values()
            .map(|(_, rule)| Arc::clone(rule))
            .collect();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > time {
                break;
            }
            let mut updates = entry.remove();
            updates.sort_by_key(|(_, diff)| *diff);
            for ((name, json), diff) in updates {
                changes.changed = true;
                if diff < 0 {
                    if self
                        .current
                        .get(name.as_str())
                        .is_some_and(|(current, _)| *current == json)
                    {
                        self.current.remove(name.as_str());
                    }
                    continue;
                }
                match CompiledRule::from_json(&json) {
                    Some(rule) => {
                        self.current
                            .insert(name.as_str().into(), (json, Arc::new(rule)));
                    }
                    None => self.rejected += 1,
                }
            }
        }
        changes.removed = before
            .into_iter()
            .filter(|rule| !self.current.contains_key(&rule.name))
            .collect();
        changes
    }

    /// The rules in effect, by name.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<CompiledRule>> {
        self.current.values().map(|(_, rule)| rule)
    }

    /// The rule called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<CompiledRule>> {
        self.current.get(name).map(|(_, rule)| rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, threshold: &str) -> RuleRecord {
        let text = format!(
            "source m from generator {{}}\nalert {name} {{ when avg(cpu) over 1m by host > {threshold} }}\nsink s to console {{ from = alerts }}\n"
        );
        let plan = pipe_dsl::compile(&text, &|_| None).plan.unwrap();
        rule_record(&plan.alerts[0])
    }

    #[test]
    fn updates_apply_in_event_time_and_a_change_is_not_a_removal() {
        let mut book = RuleBook::default();
        let (old, new) = (record("High", "90"), record("High", "95"));
        book.stash([
            (old.clone(), 10, 1),
            (old, 20, -1),
            (new, 20, 1),
            (record("Low", "1"), 30, 1),
        ]);
        assert!(book.apply_until(5).removed.is_empty());
        assert_eq!(book.rules().count(), 0);
        book.apply_until(10);
        assert_eq!(
            book.get("High").unwrap().plan.condition.to_string(),
            "avg(cpu) over 1m by host > 90"
        );
        let changes = book.apply_until(25);
        assert!(changes.changed && changes.removed.is_empty());
        assert_eq!(
            book.get("High").unwrap().plan.condition.to_string(),
            "avg(cpu) over 1m by host > 95"
        );
        book.stash([(record("High", "95"), 40, -1)]);
        let changes = book.apply_until(40);
        assert_eq!(
            changes
                .removed
                .iter()
                .map(|r| r.name.as_ref())
                .collect::<Vec<_>>(),
            ["High"]
        );
        assert_eq!(
            book.rules().map(|r| r.name.as_ref()).collect::<Vec<_>>(),
            ["Low"]
        );
    }

    #[test]
    fn matchers_follow_promql() {
        let labels = Labels::new([("metric_name", "cpu"), ("host", "web-1")]);
        let matcher = |label: &str, op, value: &str| {
            Matcher::new(&LabelMatcher {
                label: label.into(),
                op,
                value: value.into(),
            })
            .unwrap()
        };
        assert!(matcher("host", MatchOp::Regex, "web-.*").matches(&labels));
        assert!(
            !matcher("host", MatchOp::Regex, "web").matches(&labels),
            "regexes are anchored"
        );
        assert!(
            matcher("region", MatchOp::Equal, "").matches(&labels),
            "missing is empty"
        );
        assert!(matcher("region", MatchOp::NotRegex, "eu.*").matches(&labels));
    }
}
