//! Which worker owns a series. A source that places its series on workers itself (the generator
//! simulates on each worker the series that worker owns) places them by the labels every rollup
//! reading it groups by: all series of a group are then on one worker, so each of the group's
//! windows closes complete on the worker that computed it, and no worker sends windows to
//! another to be merged. Sending every closed window to its group's owner and merging it there
//! was a quarter of the time of two workers. Sources that cannot place series themselves (Kafka
//! partitions carry whatever producers put in them) are exchanged once by the same placement, so
//! that their rollups and rules evaluate in place too.

use super::{AlertRule, Grouping, METRIC_NAME, MatchOp, Plan, Rollup, Selection, SourceConnector};

impl SourceConnector {
    /// Whether the source gives each worker exactly the series it owns, by
    /// [`Plan::placement`], so that its records need no exchange.
    pub fn places_series(&self) -> bool {
        matches!(self, SourceConnector::Generator(_))
    }
}

impl Plan {
    /// The labels that place the series of source `source` on workers: those every rollup of
    /// the source groups by, unless the plan pins them. `None` places series by their whole
    /// identity.
    pub fn placement(&self, source: &str) -> Option<Vec<String>> {
        if let Some(pinned) = self.pinned_placement.get(source) {
            return pinned.clone();
        }
        let mut common: Option<Vec<String>> = None;
        for rollup in self
            .rollups
            .iter()
            .filter(|r| !r.cascade && r.input == source)
        {
            if let Grouping::Labels(by) = &rollup.group {
                common = Some(match common {
                    None => by.clone(),
                    Some(common) => common.into_iter().filter(|l| by.contains(l)).collect(),
                });
            }
        }
        common.filter(|labels| !labels.is_empty())
    }

    /// Whether every group of `rollup` is computed on one worker when its source places series
    /// by [`placement`](Self::placement): its windows then close where they were computed.
    pub fn closes_in_place(&self, rollup: &Rollup) -> bool {
        let placement = self.placement(&rollup.root_source);
        let placed_within = |by: &[String]| {
            placement
                .as_ref()
                .is_some_and(|labels| labels.iter().all(|l| by.contains(l)))
        };
        let input_in_place = !rollup.cascade
            || self
                .rollup(&rollup.input)
                .is_some_and(|input| self.closes_in_place(input));
        input_in_place
            && match &rollup.group {
                Grouping::Series => true,
                Grouping::Labels(by) => placed_within(by),
            }
    }
}

impl AlertRule {
    /// Whether each group of the rule has all its series on one worker when series are placed
    /// by `placement`: every placement label is one all terms group by, or one they all pin to
    /// the same value (the metric name, or `label="value"`). Each worker then evaluates the rule
    /// for the groups it holds, and no term's windows travel to another worker. A term without
    /// `by` has its single group (or, for `absent`, its absence) everywhere, so it never is.
    pub fn groups_within(&self, placement: &[String]) -> bool {
        let terms = self.condition.selections();
        !placement.is_empty()
            && terms.iter().all(|term| !term.by.is_empty())
            && placement.iter().all(|label| {
                terms.iter().all(|term| term.by.contains(label)) || self.pinned(label).is_some()
            })
    }

    /// The value every term pins `label` to (the metric name, or `label="value"`), when they
    /// all pin it to the same one: with the group's own labels, where its series are placed.
    pub fn pinned(&self, label: &str) -> Option<String> {
        let pinned = |term: &Selection| -> Option<String> {
            if label == METRIC_NAME {
                return Some(term.metric.clone());
            }
            term.matchers
                .iter()
                .find(|m| m.label == label && m.op == MatchOp::Equal)
                .map(|m| m.value.clone())
        };
        let terms = self.condition.selections();
        let first = terms.first().and_then(|term| pinned(term))?;
        terms
            .iter()
            .all(|term| pinned(term).as_ref() == Some(&first))
            .then_some(first)
    }
}

impl Plan {
    /// Whether every worker evaluates `rule` for the groups it holds, rather than one worker for
    /// all: it reads a source, and [`AlertRule::groups_within`] the source's placement.
    pub fn evaluates_in_place(&self, rule: &AlertRule) -> bool {
        self.source(&rule.input).is_some()
            && self
                .placement(&rule.input)
                .is_some_and(|placement| rule.groups_within(&placement))
    }
}

#[cfg(test)]
mod tests {
    fn plan(rollups: &str) -> crate::Plan {
        let text = format!(
            "source m from generator {{ hosts = 2, metrics = 2 }}\n{rollups}\n\
             sink out to console {{ from = m }}"
        );
        let compiled = crate::compile(&text, &|_| None);
        compiled
            .plan
            .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
    }

    #[test]
    fn series_are_placed_by_the_labels_all_rollups_group_by() {
        let plan = plan(
            "rollup a from m { window = tumble(1m), by = [metric_name, host], aggs = [avg] }\n\
             rollup b from m { window = tumble(1m), by = [host, service], aggs = [avg] }\n\
             rollup c from a { window = tumble(1h) }\n\
             rollup d from b { window = tumble(1h), by = [service], aggs = [avg] }",
        );
        assert_eq!(plan.placement("m"), Some(vec!["host".to_string()]));
        let in_place: Vec<bool> = plan
            .rollups
            .iter()
            .map(|r| plan.closes_in_place(r))
            .collect();
        assert_eq!(in_place, [true, true, true, false]);
    }

    #[test]
    fn without_a_common_label_series_are_placed_by_identity() {
        let plan = plan(
            "rollup a from m { window = tumble(1m), by = [host], aggs = [avg] }\n\
             rollup b from m { window = tumble(1m), by = [service], aggs = [avg] }\n\
             rollup c from m { window = tumble(1m), aggs = [avg] }",
        );
        assert_eq!(plan.placement("m"), None);
        let in_place: Vec<bool> = plan
            .rollups
            .iter()
            .map(|r| plan.closes_in_place(r))
            .collect();
        assert_eq!(in_place, [false, false, true]);
    }

    #[test]
    fn rules_whose_groups_share_the_placement_are_evaluated_in_place() {
        let plan = plan(
            "rollup a from m { window = tumble(1m), by = [metric_name, host], aggs = [avg] }\n\
             alert ByHost { when avg(cpu) over 1m by host > 1 }\n\
             alert SameMetric { when max(cpu) over 1m by host - min(cpu) over 1m by host > 1 }\n\
             alert TwoMetrics { when avg(cpu) over 1m by host > 1 and avg(load) over 1m by host > 1 }\n\
             alert BothGroup { when avg(cpu) over 1m by host, metric_name > 1 and avg(load) over 1m by host, metric_name > 1 }\n\
             alert ByService { when avg(cpu) over 1m by service > 1 }\n\
             alert PinnedHost { when avg(cpu{host=\"h1\"}) over 1m by service > 1 }\n\
             alert Ungrouped { when absent(cpu{host=\"h1\"}) over 1m }\n\
             alert SilentHost { when absent(heartbeat) over 1m by host }",
        );
        let in_place: Vec<(&str, bool)> = plan
            .alerts
            .iter()
            .map(|rule| (rule.name.as_str(), plan.evaluates_in_place(rule)))
            .collect();
        assert_eq!(
            in_place,
            [
                ("ByHost", true),
                ("SameMetric", true),
                ("TwoMetrics", false),
                ("BothGroup", true),
                ("ByService", false),
                ("PinnedHost", true),
                ("Ungrouped", false),
                ("SilentHost", true),
            ]
        );
    }
}
