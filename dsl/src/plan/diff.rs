//! What changes between the plan a cluster runs and a new one, and how each change can be made
//! without stopping it: what `pipectl plan --against` shows and `pipectl deploy` applies.
//!
//! - **live**: alert rules (conditions, thresholds, `for`, labels, annotations, added or
//!   removed rules) are data in the running dataflow; a change takes effect at one step.
//! - **additive**: new rollups and sinks are new dataflows in the running workers, fed by the
//!   sources already read; the rollups they write start with the first whole window.
//! - **replacing**: anything that changes state already kept (a rollup's window, keys or
//!   aggregates, a source, a sink already writing) or removes it.
//!
//! Positions in the file are not part of what is compared: moving a block changes nothing.

use serde::Serialize;

use super::{ALERTS_STREAM, AlertRule, Plan, Rollup, Sink, Source};

/// How a change can be made to a running cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// In the running dataflow, at one event-time step.
    Live,
    /// As a new dataflow beside the running ones.
    Additive,
    /// Only by rebuilding state the cluster keeps.
    Replacing,
}

impl Effect {
    /// The word `pipectl plan` prints.
    pub fn word(self) -> &'static str {
        match self {
            Effect::Live => "live",
            Effect::Additive => "additive",
            Effect::Replacing => "replacing",
        }
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// How it can be made.
    pub effect: Effect,
    /// `+` added, `-` removed, `~` changed.
    pub sign: char,
    /// What changes: `alert HighCpu`, `rollup metrics_5m`, `sink pages`.
    pub subject: String,
    /// What about it changes, or why it is replacing.
    pub detail: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:<9} {}",
            self.sign,
            self.effect.word(),
            self.subject
        )?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Every change between two plans, alert rules first, then rollups, sinks and sources.
pub fn diff(running: &Plan, next: &Plan) -> Vec<Change> {
    let mut changes = Vec::new();
    alerts(running, next, &mut changes);
    rollups(running, next, &mut changes);
    sinks(running, next, &mut changes);
    sources(running, next, &mut changes);
    changes
}

/// The rules of `next` that differ from those of `running` (ignoring positions), and the names
/// of rules `running` has that `next` does not.
pub fn changed_rules<'a>(running: &Plan, next: &'a Plan) -> (Vec<&'a AlertRule>, Vec<String>) {
    let changed = next
        .alerts
        .iter()
        .filter(|rule| {
            running
                .alerts
                .iter()
                .find(|old| old.name == rule.name)
                .is_none_or(|old| !same(old, *rule))
        })
        .collect();
    let removed = running
        .alerts
        .iter()
        .filter(|old| !next.alerts.iter().any(|rule| rule.name == old.name))
        .map(|old| old.name.clone())
        .collect();
    (changed, removed)
}

/// What a running cluster builds for the additive changes of `next`: the new sinks, the new
/// rollups and the rollups they read, and the sources those read. `None` when there are none.
/// Series stay on the workers the running plan placed them on.
pub fn additions(running: &Plan, next: &Plan) -> Option<Plan> {
    let new_sinks: Vec<Sink> = next
        .sinks
        .iter()
        .filter(|sink| !running.sinks.iter().any(|old| old.name == sink.name))
        .cloned()
        .collect();
    let new_rollups = next
        .rollups
        .iter()
        .filter(|rollup| running.rollup(&rollup.name).is_none());
    let mut needed: Vec<&str> = new_rollups.map(|rollup| rollup.name.as_str()).collect();
    needed.extend(new_sinks.iter().map(|sink| sink.from.as_str()));
    if needed.is_empty() {
        return None;
    }
    // Each rollup needed brings the rollup it reads.
    let mut index = 0;
    while index < needed.len() {
        if let Some(rollup) = next.rollup(needed[index])
            && !needed.contains(&rollup.input.as_str())
        {
            needed.push(rollup.input.as_str());
        }
        index += 1;
    }
    let rollups: Vec<Rollup> = next
        .rollups
        .iter()
        .filter(|rollup| needed.contains(&rollup.name.as_str()))
        .cloned()
        .collect();
    let sources: Vec<Source> = next
        .sources
        .iter()
        .filter(|source| {
            needed.contains(&source.name.as_str())
                || rollups.iter().any(|r| r.root_source == source.name)
        })
        .cloned()
        .collect();
    let pinned = sources
        .iter()
        .map(|source| (source.name.clone(), running.placement(&source.name)))
        .collect();
    Some(Plan {
        sources,
        rollups,
        alerts: Vec::new(),
        sinks: new_sinks,
        pinned_placement: pinned,
    })
}

fn alerts(running: &Plan, next: &Plan, changes: &mut Vec<Change>) {
    for rule in &next.alerts {
        let old = running.alerts.iter().find(|old| old.name == rule.name);
        let (sign, detail) = match old {
            None => ('+', format!("when {}", rule.condition)),
            Some(old) if !same(old, rule) => ('~', rule_changes(old, rule)),
            Some(_) => continue,
        };
        let readable = running.source(&rule.input).is_some()
            || running
                .rollup(&rule.input)
                .is_some_and(|r| same_rollup(r, next));
        let (effect, detail) = if readable {
            (Effect::Live, detail)
        } else {
            (
                Effect::Replacing,
                format!(
                    "reads `{}`, which the running plan does not compute: deploy the rollup first, or restart",
                    rule.input
                ),
            )
        };
        changes.push(Change {
            effect,
            sign,
            subject: format!("alert {}", rule.name),
            detail,
        });
    }
    for old in &running.alerts {
        if !next.alerts.iter().any(|rule| rule.name == old.name) {
            changes.push(Change {
                effect: Effect::Live,
                sign: '-',
                subject: format!("alert {}", old.name),
                detail: "its active alerts resolve".to_string(),
            });
        }
    }
}

fn rule_changes(old: &AlertRule, new: &AlertRule) -> String {
    let mut parts = Vec::new();
    let (was, now) = (old.condition.to_string(), new.condition.to_string());
    if was != now {
        parts.push(format!("when {was} → {now}"));
    }
    if old.for_ != new.for_ {
        parts.push(format!("for {} → {}", old.for_, new.for_));
    }
    if old.keep_firing_for != new.keep_firing_for {
        parts.push(format!(
            "keep_firing_for {} → {}",
            old.keep_firing_for, new.keep_firing_for
        ));
    }
    if old.lookback != new.lookback {
        parts.push(format!("lookback {} → {}", old.lookback, new.lookback));
    }
    if !same(&old.labels, &new.labels) {
        parts.push("labels".to_string());
    }
    if !same(&old.annotations, &new.annotations) {
        parts.push("annotations".to_string());
    }
    if parts.is_empty() {
        parts.push("its input's settings".to_string());
    }
    parts.join(", ")
}

/// Whether `next` defines the running rollup the same way.
fn same_rollup(running: &Rollup, next: &Plan) -> bool {
    next.rollup(&running.name).is_some_and(|r| same(running, r))
}

fn rollups(running: &Plan, next: &Plan, changes: &mut Vec<Change>) {
    for rollup in &next.rollups {
        let change = match running.rollup(&rollup.name) {
            None => Change {
                effect: Effect::Additive,
                sign: '+',
                subject: format!("rollup {}", rollup.name),
                detail: format!(
                    "{} of {}, from its first whole window",
                    rollup.window, rollup.input
                ),
            },
            Some(old) if !same(old, rollup) => Change {
                effect: Effect::Replacing,
                sign: '~',
                subject: format!("rollup {}", rollup.name),
                detail: rollup_changes(old, rollup),
            },
            Some(_) => continue,
        };
        changes.push(change);
    }
    for old in &running.rollups {
        if next.rollup(&old.name).is_none() {
            changes.push(Change {
                effect: Effect::Replacing,
                sign: '-',
                subject: format!("rollup {}", old.name),
                detail: "its windows stop".to_string(),
            });
        }
    }
}

fn rollup_changes(old: &Rollup, new: &Rollup) -> String {
    let mut parts = Vec::new();
    if old.window != new.window {
        parts.push(format!("window {} → {}", old.window, new.window));
    }
    if old.group != new.group {
        parts.push("keys (by)".to_string());
    }
    if old.aggregates != new.aggregates {
        parts.push("aggregates".to_string());
    }
    if old.input != new.input || !same(&old.matchers, &new.matchers) {
        parts.push("input".to_string());
    }
    if parts.is_empty() {
        parts.push("its input's settings".to_string());
    }
    format!("{}: its open windows would be rebuilt", parts.join(", "))
}

fn sinks(running: &Plan, next: &Plan, changes: &mut Vec<Change>) {
    for sink in &next.sinks {
        let change = match running.sinks.iter().find(|old| old.name == sink.name) {
            None if sink.from == ALERTS_STREAM => Change {
                effect: Effect::Replacing,
                sign: '+',
                subject: format!("sink {}", sink.name),
                detail: "a new sink of `alerts` needs a restart in this version".to_string(),
            },
            None => Change {
                effect: Effect::Additive,
                sign: '+',
                subject: format!("sink {}", sink.name),
                detail: format!("writes {}", sink.from),
            },
            Some(old) if !same(old, sink) => Change {
                effect: Effect::Replacing,
                sign: '~',
                subject: format!("sink {}", sink.name),
                detail: "changing a sink that is writing".to_string(),
            },
            Some(_) => continue,
        };
        changes.push(change);
    }
    for old in &running.sinks {
        if !next.sinks.iter().any(|sink| sink.name == old.name) {
            changes.push(Change {
                effect: Effect::Replacing,
                sign: '-',
                subject: format!("sink {}", old.name),
                detail: "removing a sink that is writing".to_string(),
            });
        }
    }
}

fn sources(running: &Plan, next: &Plan, changes: &mut Vec<Change>) {
    for source in &next.sources {
        let (sign, detail) = match running.source(&source.name) {
            None => ('+', "a new source"),
            Some(old) if !same(old, source) => ('~', "a source's settings"),
            Some(_) => continue,
        };
        changes.push(Change {
            effect: Effect::Replacing,
            sign,
            subject: format!("source {}", source.name),
            detail: format!("{detail} need a restart in this version"),
        });
    }
    for old in &running.sources {
        if next.source(&old.name).is_none() {
            changes.push(Change {
                effect: Effect::Replacing,
                sign: '-',
                subject: format!("source {}", old.name),
                detail: "removing a source".to_string(),
            });
        }
    }
}

/// Whether two parts of plans are the same but for their positions in the file.
fn same<T: Serialize>(a: &T, b: &T) -> bool {
    fn unplaced(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => map
                .into_iter()
                .filter(|(key, _)| key != "span")
                .map(|(key, value)| (key, unplaced(value)))
                .collect(),
            serde_json::Value::Array(items) => items.into_iter().map(unplaced).collect(),
            other => other,
        }
    }
    let json = |value: &T| unplaced(serde_json::to_value(value).expect("plans serialise"));
    json(a) == json(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
source m from generator { hosts = 2, metrics = 2 }
rollup m_1m from m { window = tumble(1m), by = [metric_name, host], aggs = [avg] }
alert High { when avg(cpu) over 5m by host > 90, for 2m }
alert Gone { when absent(heartbeat) over 1m by host }
sink out to file { from = m_1m, path = "out.jsonl" }
sink pages to console { from = alerts }
"#;

    fn plan(text: &str) -> Plan {
        let compiled = crate::compile(text, &|_| None);
        compiled
            .plan
            .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
    }

    fn lines(running: &str, next: &str) -> Vec<String> {
        diff(&plan(running), &plan(next))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn moving_blocks_changes_nothing() {
        let moved = format!("\n\n# a comment\n{}", BASE.replace("for 2m", "for   2m"));
        assert_eq!(lines(BASE, &moved), Vec::<String>::new());
    }

    #[test]
    fn rule_changes_are_live() {
        let next = BASE.replace("> 90, for 2m", "> 95, for 5m").replace(
            "alert Gone { when absent(heartbeat) over 1m by host }\n",
            "",
        ) + "alert Low { when avg(cpu) over 1m by host < 5 }\n";
        assert_eq!(
            lines(BASE, &next),
            [
                "~ live      alert High: when avg(cpu) over 5m by host > 90 → avg(cpu) over 5m by host > 95, for 2m → 5m",
                "+ live      alert Low: when avg(cpu) over 1m by host < 5",
                "- live      alert Gone: its active alerts resolve",
            ]
        );
        let next = plan(&next);
        let (changed, removed) = changed_rules(&plan(BASE), &next);
        let changed: Vec<&str> = changed.iter().map(|rule| rule.name.as_str()).collect();
        assert_eq!(
            (changed, removed),
            (vec!["High", "Low"], vec!["Gone".to_string()])
        );
    }

    #[test]
    fn new_rollups_and_sinks_are_additive_and_keep_the_running_placement() {
        let next = format!(
            "{BASE}rollup by_service from m {{ window = tumble(5m), by = [service], aggs = [sum] }}\n\
             rollup m_1h from m_1m {{ window = tumble(1h) }}\n\
             sink hourly to file {{ from = m_1h, path = \"h.jsonl\" }}\n"
        );
        assert_eq!(
            lines(BASE, &next),
            [
                "+ additive  rollup by_service: tumble(5m) of m, from its first whole window",
                "+ additive  rollup m_1h: tumble(1h) of m_1m, from its first whole window",
                "+ additive  sink hourly: writes m_1h",
            ]
        );
        let running = plan(BASE);
        let added = additions(&running, &plan(&next)).unwrap();
        let names: Vec<&str> = added.rollups.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["m_1m", "by_service", "m_1h"]);
        assert_eq!(added.sinks.len(), 1);
        assert_eq!(added.placement("m"), running.placement("m"));
        assert_eq!(
            plan(&next).placement("m"),
            None,
            "the new plan alone would move series"
        );
        assert!(additions(&running, &running).is_none());
    }

    #[test]
    fn changes_to_kept_state_are_replacing() {
        let next = BASE
            .replace(
                "tumble(1m), by = [metric_name, host]",
                "tumble(5m), by = [host]",
            )
            .replace("hosts = 2", "hosts = 3")
            .replace("sink pages to console { from = alerts }\n", "")
            + "sink more to console { from = alerts }\n";
        assert_eq!(
            lines(BASE, &next),
            [
                "~ replacing rollup m_1m: window tumble(1m) → tumble(5m), keys (by): its open windows would be rebuilt",
                "+ replacing sink more: a new sink of `alerts` needs a restart in this version",
                "- replacing sink pages: removing a sink that is writing",
                "~ replacing source m: a source's settings need a restart in this version",
            ]
        );
    }
}
