//! Alert semantics through the whole dataflow: `for`, `keep_firing_for`, `absent`, templates,
//! and rule changes through the rules collection.

mod support;

use pipe_dataflow::alert::{Transition, TransitionKind};
use pipe_dataflow::harness::{Script, run};
use pipe_dataflow::rules::rule_record;
use pipe_dataflow::series::Labels;
use support::inputs::{T0, series};
use support::plan;

use TransitionKind::*;

const STEP: u64 = 10_000;

/// Samples of `metric` every 10 s for `steps` steps; `value(host, step)` is `None` for silence.
fn samples(
    metric: &str,
    hosts: &[&str],
    steps: u64,
    value: impl Fn(&str, u64) -> Option<f64>,
) -> Vec<(Labels, u64, f64)> {
    let mut out = Vec::new();
    for step in 0..steps {
        for host in hosts {
            if let Some(v) = value(host, step) {
                out.push((series(metric, host), T0 + step * STEP + 1, v));
            }
        }
    }
    out
}

fn pipeline(rules: &str) -> String {
    format!(
        "source metrics from generator {{ interval = 10s }}\n{rules}\nsink pages to console {{ from = alerts }}\n"
    )
}

/// `(step after T0, kind, host)` of each transition.
fn summary(transitions: &[Transition]) -> Vec<(u64, TransitionKind, String)> {
    transitions
        .iter()
        .map(|t| {
            (
                (t.at - T0) / STEP,
                t.kind,
                t.group.get("host").unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn script(samples: Vec<(Labels, u64, f64)>) -> Script {
    Script {
        samples,
        rule_changes: Vec::new(),
        batch: 2,
        until: None,
    }
}

#[test]
fn for_delays_firing_and_templates_are_filled_in() {
    let plan = plan(&pipeline(
        "alert Hot { when avg(cpu) over 10s by host > 50\n for 30s\n labels { severity = \"page\" }\n annotations { summary = \"{{ host }} is at {{ value }}%\" } }",
    ));
    let transitions = run(
        &plan,
        &script(samples("cpu", &["a"], 8, |_, _| Some(91.25))),
        1,
    )
    .transitions;
    // Boundary 1 sees step 0: pending; 30 s later it fires. The input ending is not the
    // condition clearing: nothing resolves.
    assert_eq!(
        summary(&transitions),
        [(1, Pending, "a".into()), (4, Firing, "a".into())]
    );
    let firing = &transitions[1];
    assert_eq!(firing.since, T0 + STEP, "active since it became pending");
    assert_eq!(firing.value, 91.25);
    assert_eq!(firing.labels.get("alertname"), Some("Hot"));
    assert_eq!(firing.labels.get("severity"), Some("page"));
    assert_eq!(firing.labels.get("host"), Some("a"));
    assert_eq!(
        firing.annotations,
        [("summary".to_string(), "a is at 91.25%".to_string())]
    );
}

#[test]
fn a_condition_that_clears_before_for_never_fires() {
    let plan = plan(&pipeline(
        "alert Hot { when avg(cpu) over 10s by host > 50\n for 30s }",
    ));
    let input = samples("cpu", &["a"], 8, |_, step| {
        Some(if step < 2 { 90.0 } else { 10.0 })
    });
    let transitions = run(&plan, &script(input), 1).transitions;
    assert_eq!(
        summary(&transitions),
        [(1, Pending, "a".into()), (3, Cancelled, "a".into())]
    );
}

#[test]
fn keep_firing_for_holds_a_flapping_alert() {
    // Hot on even steps up to 8, then cold.
    let flapping = |_: &str, step: u64| {
        Some(if step < 9 && step.is_multiple_of(2) {
            90.0
        } else {
            10.0
        })
    };
    let held = plan(&pipeline(
        "alert Hot { when max(cpu) over 10s by host > 50\n keep_firing_for 30s }",
    ));
    let transitions = run(&held, &script(samples("cpu", &["a"], 16, flapping)), 1).transitions;
    // Fires once at the first hot step; the last hot step, 8, is seen at boundary 9, so the
    // condition stops holding at boundary 10 and the alert resolves 30 s later.
    assert_eq!(
        summary(&transitions),
        [(1, Firing, "a".into()), (13, Resolved, "a".into())]
    );

    let unheld = plan(&pipeline(
        "alert Hot { when max(cpu) over 10s by host > 50 }",
    ));
    let transitions = run(&unheld, &script(samples("cpu", &["a"], 16, flapping)), 1).transitions;
    assert_eq!(
        transitions.iter().filter(|t| t.kind == Firing).count(),
        5,
        "without it, every flap notifies"
    );
}

#[test]
fn absent_fires_for_a_silent_host_and_resolves_when_it_returns() {
    let plan = plan(&pipeline(
        "alert Silent { when absent(heartbeat) over 20s by host }",
    ));
    let input = samples("heartbeat", &["a", "b"], 16, |host, step| {
        (host == "a" || !(6..11).contains(&step)).then_some(1.0)
    });
    let transitions = run(&plan, &script(input), 1).transitions;
    // b's last sample before the gap is step 5; the window [8, 10) at boundary 10 has none of
    // its samples. It reports again at step 11, seen at boundary 12.
    let b: Vec<_> = summary(&transitions)
        .into_iter()
        .filter(|(_, _, host)| host == "b")
        .collect();
    assert_eq!(
        b[..2],
        [(8, Firing, "b".into()), (12, Resolved, "b".into())]
    );
}

#[test]
fn rule_changes_emit_only_the_transitions_whose_truth_changed() {
    let rules = "alert Hot { when avg(cpu) over 10s by host > 50 }";
    let plan_before = plan(&pipeline(rules));
    let raised = plan(&pipeline(
        "alert Hot { when avg(cpu) over 10s by host > 70 }",
    ));
    let added = plan(&pipeline(
        "alert Cool { when avg(cpu) over 10s by host < 70 }",
    ));
    let change_at = T0 + 10 * STEP;
    let mut script = script(samples("cpu", &["a", "b"], 20, |host, _| {
        Some(if host == "a" { 60.0 } else { 80.0 })
    }));
    script.rule_changes = vec![
        (
            change_at,
            vec![
                (rule_record(&plan_before.alerts[0]), -1),
                (rule_record(&raised.alerts[0]), 1),
                (rule_record(&added.alerts[0]), 1),
            ],
        ),
        (T0 + 15 * STEP, vec![(rule_record(&raised.alerts[0]), -1)]),
    ];
    let transitions = run(&plan_before, &script, 1).transitions;
    let described: Vec<_> = transitions
        .iter()
        .map(|t| {
            (
                t.rule.to_string(),
                (t.at - T0) / STEP,
                t.kind,
                t.group.get("host").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("Hot".to_string(), 1, Firing, "a".to_string()),
            ("Hot".to_string(), 1, Firing, "b".to_string()),
            // The threshold rises: a (60) stops holding, b (80) holds still and is not notified.
            ("Cool".to_string(), 10, Firing, "a".to_string()),
            ("Hot".to_string(), 10, Resolved, "a".to_string()),
            // Removing the rule resolves what it had firing.
            ("Hot".to_string(), 15, Resolved, "b".to_string()),
        ]
    );
}

#[test]
fn a_rule_change_keeps_the_history_of_quantiles_over_several_series() {
    let tail = "alert Tail { when p90(cpu) over 40s by region > 70 }";
    let plan_before = plan(&pipeline(tail));
    let added = plan(&pipeline(
        "alert Cool { when avg(cpu) over 10s by host < 0 }",
    ));
    let samples = samples("cpu", &["a", "b", "c"], 30, |host, step| {
        let wave = [0.0, 30.0, 10.0, 45.0, 5.0, 20.0, 40.0][(step % 7) as usize];
        Some(match host {
            "a" => 40.0 + wave,
            "b" => 55.0 + wave / 2.0,
            _ => 90.0 - wave,
        })
    });
    let unchanged = run(&plan_before, &script(samples.clone()), 1).transitions;
    let mut changed = script(samples);
    // Adding a rule rebuilds which series each term reads: Tail's windows must come through.
    changed.rule_changes = vec![(T0 + 12 * STEP, vec![(rule_record(&added.alerts[0]), 1)])];
    let after_change: Vec<Transition> = run(&plan_before, &changed, 1)
        .transitions
        .into_iter()
        .filter(|t| &*t.rule == "Tail")
        .collect();
    assert!(
        unchanged.iter().filter(|t| t.at > T0 + 12 * STEP).count() >= 2,
        "Tail changes state after the rule change: {unchanged:?}"
    );
    assert_eq!(after_change, unchanged);
}

#[test]
fn a_nan_or_an_infinity_leaves_the_window_with_its_step() {
    let plan = plan(&pipeline(
        "alert Hot { when avg(cpu) over 20s by host > 90 }",
    ));
    let input = samples("cpu", &["a"], 20, |_, step| {
        Some(match step {
            5 => f64::NAN,
            12 => f64::NEG_INFINITY,
            _ => 99.0,
        })
    });
    let transitions = run(&plan, &script(input), 1).transitions;
    // Boundary k sees steps k − 2 and k − 1: the NaN of step 5 at boundaries 6 and 7, −∞ of
    // step 12 at 13 and 14; once either has left, the average is 99 again and the alert fires.
    assert_eq!(
        summary(&transitions),
        [
            (1, Firing, "a".into()),
            (6, Resolved, "a".into()),
            (8, Firing, "a".into()),
            (13, Resolved, "a".into()),
            (15, Firing, "a".into()),
        ]
    );
}

#[test]
fn absent_forgets_a_silent_group_after_the_rules_lookback() {
    let input = || {
        samples("heartbeat", &["a", "b"], 20, |host, step| {
            (host == "a" || step < 6).then_some(1.0)
        })
    };
    let of_b = |transitions: &[Transition]| -> Vec<_> {
        summary(transitions)
            .into_iter()
            .filter(|(_, _, host)| host == "b")
            .collect()
    };
    // b's last sample is at 51 s (step 5); the last window holding it is boundary 7's. Remembered
    // for 60 s after that, it is forgotten at boundary 14 (140 s − 70 s > 60 s), and its alert
    // ends there.
    let remembered_a_minute = plan(&pipeline(
        "alert Silent { when absent(heartbeat) over 20s by host\n lookback = 60s }",
    ));
    assert_eq!(
        of_b(&run(&remembered_a_minute, &script(input()), 1).transitions),
        [(8, Firing, "b".into()), (14, Resolved, "b".into())]
    );
    // By default a group is remembered for an hour: b fires until the input ends.
    let by_default = plan(&pipeline(
        "alert Silent { when absent(heartbeat) over 20s by host }",
    ));
    assert_eq!(
        of_b(&run(&by_default, &script(input()), 1).transitions),
        [(8, Firing, "b".into())]
    );
}

#[test]
fn a_sample_stamped_on_a_boundary_is_seen_at_that_boundary() {
    // As Prometheus evaluates `(t − over, t]`: the sample stamped exactly at step 3's boundary
    // counts there, not one step later.
    let plan = plan(&pipeline(
        "alert Hot { when max(cpu) over 10s by host > 50 }",
    ));
    let input = (0..8)
        .map(|step| {
            let value = if step == 3 { 99.0 } else { 10.0 };
            (series("cpu", "a"), T0 + step * STEP, value)
        })
        .collect();
    let transitions = run(&plan, &script(input), 1).transitions;
    assert_eq!(
        summary(&transitions),
        [(3, Firing, "a".into()), (4, Resolved, "a".into())]
    );
}

#[test]
fn a_new_series_has_no_rate_until_it_has_an_increase() {
    // As in PromQL, one sample of a counter is no rate: `rate(…) < 1` does not fire for a
    // series at its first sample, as if the counter were at rest.
    let plan = plan(&pipeline(
        "alert Idle { when rate(requests_total) over 30s by host < 1 }",
    ));
    let counter = |host: &str, step: u64| match host {
        "a" => Some(step as f64 * 100.0),
        _ => (step >= 3).then_some(step as f64),
    };
    let transitions = run(
        &plan,
        &script(samples("requests_total", &["a", "b"], 8, counter)),
        1,
    )
    .transitions;
    // b's first sample is at step 3 (boundary 4); its first increase at step 4 (boundary 5),
    // where its rate is 1/30 per second.
    assert_eq!(summary(&transitions), [(5, Firing, "b".into())]);
}

#[test]
fn adding_a_rule_does_not_change_another_rules_alerts() {
    // A NaN in Hot's window; at step 10 a rule with a longer window is added, which makes the
    // store keep more steps and rebuild its windows. Hot's alerts are those of a run without it.
    let plan = plan(&pipeline(
        "alert Hot { when avg(cpu) over 20s by host > 90 }",
    ));
    let other = self::plan(&pipeline(
        "alert Other { when max(cpu) over 1m by host > 1000 }",
    ));
    let input = samples("cpu", &["a", "b"], 30, |host, step| {
        Some(match (host, step) {
            ("a", 5) => f64::NAN,
            ("b", 9) => f64::INFINITY,
            _ => 99.0,
        })
    });
    let alone = run(&plan, &script(input.clone()), 1).transitions;
    let mut changed = script(input);
    changed.rule_changes = vec![(T0 + 10 * STEP, vec![(rule_record(&other.alerts[0]), 1)])];
    let with_change = run(&plan, &changed, 2).transitions;
    let hot = |transitions: &[Transition]| {
        summary(
            &transitions
                .iter()
                .filter(|t| &*t.rule == "Hot")
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(hot(&with_change), hot(&alone));
    assert!(hot(&alone).len() >= 4, "the NaN and the infinity move Hot");
}

#[test]
fn a_rule_added_later_reads_the_history_of_series_no_rule_read() {
    // Hot reads host a's cpu over a minute; at step 10 Counted is added, over every host's cpu.
    // The store kept a minute of steps of every cpu series, not only a's, so Counted sees a
    // whole minute of b at once, as of a. (Had Hot's window been 10 s, a minute would not be
    // kept: both would fire at step 14.)
    let plan = plan(&pipeline(
        "alert Hot { when avg(cpu{host=\"a\"}) over 1m by host > 1000 }",
    ));
    let counted = self::plan(&pipeline(
        "alert Counted { when count(cpu) over 1m by host >= 6 }",
    ));
    let input = samples("cpu", &["a", "b"], 20, |_, _| Some(50.0));
    let mut changed = script(input);
    changed.rule_changes = vec![(T0 + 10 * STEP, vec![(rule_record(&counted.alerts[0]), 1)])];
    for workers in [1, 2] {
        let transitions = run(&plan, &changed, workers).transitions;
        assert_eq!(
            summary(&transitions),
            [(10, Firing, "a".to_string()), (10, Firing, "b".to_string())],
            "{workers} workers"
        );
    }
}

#[test]
fn a_change_that_moves_a_rule_between_workers_moves_its_alerts_with_it() {
    // Series are placed by metric and service. `{service="api"}` pins the service, so each
    // worker evaluates Hot for the groups it holds; `{service=~"api"}` does not, so Hot moves to
    // the worker that owns it, and at step 12 back. Its alerts keep firing throughout: no
    // transition but the first firing.
    let rules = |matcher: &str| {
        plan(&format!(
            "source metrics from generator {{ interval = 10s }}\n\
             rollup placed from metrics {{ window = tumble(1m), by = [metric_name, service], aggs = [avg] }}\n\
             alert Hot {{ when avg(cpu{{service{matcher}\"api\"}}) over 30s by host > 50 }}\n\
             sink pages to console {{ from = alerts }}\n"
        ))
    };
    let (pinned, unpinned) = (rules("="), rules("=~"));
    let input = samples("cpu", &["a", "b", "c", "d"], 20, |_, _| Some(99.0));
    let mut moving = script(input.clone());
    moving.rule_changes = vec![
        (
            T0 + 6 * STEP,
            vec![
                (rule_record(&pinned.alerts[0]), -1),
                (rule_record(&unpinned.alerts[0]), 1),
            ],
        ),
        (
            T0 + 12 * STEP,
            vec![
                (rule_record(&unpinned.alerts[0]), -1),
                (rule_record(&pinned.alerts[0]), 1),
            ],
        ),
    ];
    let still = summary(&run(&pinned, &script(input), 1).transitions);
    assert_eq!(
        still,
        [(1, Firing, "a".to_string()), (1, Firing, "c".to_string())]
    );
    for workers in 1..=4 {
        let moved = summary(&run(&pinned, &moving, workers).transitions);
        assert_eq!(moved, still, "{workers} workers");
    }
}
