//! The same input gives the same output, bit for bit, whatever the number of workers: windows
//! (sums, sketches), and transitions (values, labels, annotations). Across processes this is
//! checked in `runtime/tests/processes.rs`.

mod support;

use pipe_dataflow::harness::{Feeding, Script, run, run_fed};
use proptest::prelude::*;
use support::inputs::random_input;
use support::plan;

const PIPELINE: &str = r#"
source metrics from generator { interval = 10s, lateness = 30s }

rollup by_host from metrics {
  window = tumble(1m), by = [metric_name, host]
  aggs = [count, sum, min, max, avg, last, p50, p95, p99, rate]
}
rollup by_region from metrics { window = hop(3m, 1m), by = [metric_name, region], aggs = [sum, p90, increase] }
rollup hourly from by_host { window = tumble(1h) }
rollup hosts_hourly from by_host { window = tumble(1h), by = [host], aggs = [count, sum, max] }

alert Hot {
  when avg(cpu) over 1m by host > 60
  for 20s
  labels { severity = "page", host_label = "{{ host }}" }
  annotations { summary = "{{ host }} at {{ value }}" }
}
alert Errors { when increase(requests_total) over 1m by region / count(requests_total) over 1m by region > 2 }
alert Gone { when absent(heartbeat) over 20s by host }
alert Tail { when p90(cpu) over 1m by host > 90 }

sink a to console { from = by_region }
sink b to console { from = hourly }
sink pages to console { from = alerts }
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Four workers twice: fed by one worker (records exchanged by series, windows merged
    /// across workers) and fed as the generator does (each worker its own series, placed by
    /// metric name here, each window closed where it was computed, but for `hosts_hourly`, whose
    /// groups span metric names and so workers).
    #[test]
    fn one_and_four_workers_give_identical_output(
        samples in random_input(10_000, 20 * 60_000, 40_000),
        batch in 1usize..64,
    ) {
        let plan = plan(PIPELINE);
        let script = Script { samples, rule_changes: Vec::new(), batch, until: None };
        let one = run(&plan, &script, 1);
        let four = run(&plan, &script, 4);
        let placed = run_fed(&plan, &script, 4, Feeding::Placed);
        prop_assert!(!one.windows["by_host"].is_empty());
        prop_assert_eq!(&one, &four);
        prop_assert_eq!(one, placed);
    }
}
