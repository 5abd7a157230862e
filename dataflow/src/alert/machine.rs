//! The life of an alert: each (rule, group) is inactive, pending or firing, and only changes
//! leave the pipeline.

use serde::{Deserialize, Serialize};

use super::condition::{GroupLabels, Groups};
use crate::series::{IdMap, Labels};

/// A change of an alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    /// Inactive to pending: the condition holds, `for` has not elapsed.
    Pending,
    /// To firing.
    Firing,
    /// Firing to inactive.
    Resolved,
    /// Pending to inactive, without having fired.
    Cancelled,
}

impl TransitionKind {
    /// The word shown to people.
    pub fn word(self) -> &'static str {
        match self {
            TransitionKind::Pending => "pending",
            TransitionKind::Firing => "firing",
            TransitionKind::Resolved => "resolved",
            TransitionKind::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Phase {
    Pending,
    /// Firing; `cleared` is the first step at which the condition stopped holding, while
    /// `keep_firing_for` keeps it firing.
    Firing {
        cleared: Option<u64>,
    },
}

/// The state of one active alert, as it moves between workers
/// ([`Machine::hand_over`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Active {
    phase: Phase,
    /// When it became pending (or firing, with `for 0s`): Alertmanager's `startsAt`.
    since: u64,
    /// The latest value of the condition for the group.
    value: f64,
}

/// A transition of one group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// What happened.
    pub kind: TransitionKind,
    /// When the alert became active.
    pub since: u64,
    /// The condition's value (the last one seen, for resolved and cancelled).
    pub value: f64,
}

/// The alert states of one rule's groups.
#[derive(Debug, Default)]
pub struct Machine {
    active: IdMap<u64, (Labels, Active)>,
}

impl Machine {
    /// Advances every group to step `at`, given the groups for which the condition holds and
    /// the labels of groups (a group without labels, of terms without `by`, has none).
    pub fn step(
        &mut self,
        at: u64,
        holding: &Groups,
        labels: &GroupLabels,
        for_: u64,
        keep_firing_for: u64,
        mut emit: impl FnMut(&Labels, Change),
    ) {
        let mut finished = Vec::new();
        for (id, (group, active)) in self.active.iter_mut() {
            match (holding.get(id), active.phase) {
                (Some(&value), Phase::Pending) => {
                    active.value = value;
                    if at - active.since >= for_ {
                        active.phase = Phase::Firing { cleared: None };
                        emit(group, change(TransitionKind::Firing, active));
                    }
                }
                (Some(&value), Phase::Firing { .. }) => {
                    active.value = value;
                    active.phase = Phase::Firing { cleared: None };
                }
                (None, Phase::Pending) => {
                    emit(group, change(TransitionKind::Cancelled, active));
                    finished.push(*id);
                }
                (None, Phase::Firing { cleared }) => {
                    let cleared = cleared.unwrap_or(at);
                    if at - cleared >= keep_firing_for {
                        emit(group, change(TransitionKind::Resolved, active));
                        finished.push(*id);
                    } else {
                        active.phase = Phase::Firing {
                            cleared: Some(cleared),
                        };
                    }
                }
            }
        }
        for id in finished {
            self.active.remove(&id);
        }
        for (id, value) in holding {
            if self.active.contains_key(id) {
                continue;
            }
            let group = labels.get(id).cloned().unwrap_or_default();
            let (phase, kind) = if for_ == 0 {
                (Phase::Firing { cleared: None }, TransitionKind::Firing)
            } else {
                (Phase::Pending, TransitionKind::Pending)
            };
            let active = Active {
                phase,
                since: at,
                value: *value,
            };
            emit(&group, change(kind, &active));
            self.active.insert(*id, (group, active));
        }
    }

    /// Ends every active alert, when its rule is removed.
    pub fn end_all(&mut self, mut emit: impl FnMut(&Labels, Change)) {
        for (_, (group, active)) in std::mem::take(&mut self.active) {
            let kind = match active.phase {
                Phase::Pending => TransitionKind::Cancelled,
                Phase::Firing { .. } => TransitionKind::Resolved,
            };
            emit(&group, change(kind, &active));
        }
    }

    /// Removes the active alerts of the groups `moving` picks, to be taken over by another
    /// worker's machine of the same rule ([`take_over`](Self::take_over)).
    pub fn hand_over(
        &mut self,
        mut moving: impl FnMut(&Labels) -> bool,
    ) -> Vec<(u64, Labels, Active)> {
        let ids: Vec<u64> = self
            .active
            .iter()
            .filter(|(_, (group, _))| moving(group))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| {
                let (group, active) = self.active.remove(&id)?;
                Some((id, group, active))
            })
            .collect()
    }

    /// Adopts alerts another worker's machine of the same rule handed over, as they were.
    pub fn take_over(&mut self, alerts: impl IntoIterator<Item = (u64, Labels, Active)>) {
        for (id, group, active) in alerts {
            self.active.insert(id, (group, active));
        }
    }

    /// How many groups are firing.
    pub fn firing(&self) -> usize {
        self.active
            .values()
            .filter(|(_, active)| matches!(active.phase, Phase::Firing { .. }))
            .count()
    }
}

fn change(kind: TransitionKind, active: &Active) -> Change {
    Change {
        kind,
        since: active.since,
        value: active.value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the machine over steps of 1, holding where `pattern` has `#`, and lists the changes.
    fn run(pattern: &str, for_: u64, keep: u64) -> Vec<(u64, TransitionKind)> {
        let mut machine = Machine::default();
        let group = Labels::new([("host", "a")]);
        let mut changes = Vec::new();
        for (at, c) in pattern.chars().enumerate() {
            let labels = GroupLabels::from_iter([(group.stable_hash(), group.clone())]);
            let mut holding = Groups::default();
            if c == '#' {
                holding.insert(group.stable_hash(), 1.0);
            }
            machine.step(at as u64, &holding, &labels, for_, keep, |_, change| {
                changes.push((at as u64, change.kind))
            });
        }
        changes
    }

    use TransitionKind::*;

    #[test]
    fn for_delays_firing_and_a_short_blip_never_fires() {
        assert_eq!(
            run("..####..", 2, 0),
            [(2, Pending), (4, Firing), (6, Resolved)]
        );
        assert_eq!(run("..##....", 2, 0), [(2, Pending), (4, Cancelled)]);
    }

    #[test]
    fn zero_for_fires_at_once() {
        assert_eq!(run(".#.", 0, 0), [(1, Firing), (2, Resolved)]);
    }

    #[test]
    fn keep_firing_for_holds_a_flapping_alert() {
        assert_eq!(run("#.#.#....", 0, 2), [(0, Firing), (7, Resolved)]);
        assert_eq!(
            run("#.#.#....", 0, 0),
            [
                (0, Firing),
                (1, Resolved),
                (2, Firing),
                (3, Resolved),
                (4, Firing),
                (5, Resolved)
            ]
        );
    }
}
