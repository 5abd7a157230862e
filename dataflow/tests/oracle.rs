//! The dataflow equals the naive batch oracle on random inputs: out-of-order arrival within
//! lateness, late samples, gaps and counter resets; windows exact (quantiles within 1%) and alert
//! transitions exact, with one worker and with several.

mod support;

use pipe_dataflow::harness::{Script, run};
use proptest::prelude::*;
use support::inputs::random_input;
use support::{oracle, plan};

/// Every window shape and aggregate, a cascade, matchers, and every kind of condition.
pub const PIPELINE: &str = r#"
source metrics from generator {
  interval = 10s
  lateness = 20s
}

rollup by_host from metrics {
  window = tumble(1m)
  by     = [metric_name, host]
  aggs   = [count, sum, min, max, avg, last, p50, p99, rate, increase]
}

rollup by_service from metrics{metric_name!="heartbeat"} {
  window = hop(2m, 1m)
  by     = [metric_name, service]
  aggs   = [count, sum, min, max, last, increase]
}

rollup by_metric from by_host {
  window = tumble(5m)
  by     = [metric_name]
}

rollup series from metrics{host=~"a|c"} { window = tumble(1m) }

alert HighCpu {
  when avg(cpu{region="eu"}) over 1m by host > 50
  for 30s
  keep_firing_for 20s
}

alert Busy { when rate(requests_total) over 2m by service > 0.3 }

alert Silent { when absent(heartbeat) over 30s by host }

alert Ratio { when sum(cpu) over 1m by service / count(cpu) over 1m by service > 40 or max(cpu) over 30s > 80 }

alert Extremes { when min(cpu) over 1m by host > 30 or last(cpu) over 50s by host < 10 }

alert Tail { when p90(cpu) over 1m by region > 70 }

sink a to console { from = by_service }
sink b to console { from = by_metric }
sink c to console { from = series }
sink pages to console { from = alerts }
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn one_and_three_workers_equal_the_oracle(
        samples in random_input(10_000, 15 * 60_000, 45_000),
        batch in 1usize..48,
    ) {
        let plan = plan(PIPELINE);
        let script = Script { samples, rule_changes: Vec::new(), batch, until: None };
        for workers in [1, 3] {
            let result = oracle::check(&plan, &script, &run(&plan, &script, workers));
            prop_assert!(result.is_ok(), "{} worker(s): {}", workers, result.unwrap_err());
        }
    }
}

/// The comparison is not vacuous: a wrong count, a wrong quantile beyond 1% or a missing
/// transition are all noticed.
#[test]
fn the_check_notices_wrong_results() {
    use proptest::strategy::ValueTree;
    let plan = plan(PIPELINE);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let samples = random_input(10_000, 10 * 60_000, 30_000)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let script = Script {
        samples,
        rule_changes: Vec::new(),
        batch: 5,
        until: None,
    };
    let good = run(&plan, &script, 1);
    assert_eq!(oracle::check(&plan, &script, &good), Ok(()));
    assert!(!good.transitions.is_empty() && good.windows["by_host"].len() > 50);
    for rule in ["HighCpu", "Ratio", "Extremes", "Tail"] {
        assert!(
            good.transitions.iter().any(|t| &*t.rule == rule),
            "{rule} never changes state on this input"
        );
    }

    let mut wrong_count = good.clone();
    wrong_count.windows.get_mut("series").unwrap()[3]
        .state
        .count += 1;
    assert!(oracle::check(&plan, &script, &wrong_count).is_err());

    let mut wrong_quantile = good.clone();
    let window = &mut wrong_quantile.windows.get_mut("by_metric").unwrap()[0];
    let mut skewed = pipe_dataflow::state::Sketch::default();
    (0..window.state.count).for_each(|_| skewed.insert(1e9));
    window.state.sketch = skewed;
    assert!(oracle::check(&plan, &script, &wrong_quantile).is_err());

    let mut missing = good.clone();
    missing.transitions.pop();
    assert!(oracle::check(&plan, &script, &missing).is_err());
}
