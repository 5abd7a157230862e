//! Hosts replaced every quarter of an hour, twelve generations over three hours, with a short
//! `series_ttl`: the series, groups and partials of hosts gone are forgotten, so the state kept
//! follows the hosts alive, not all the hosts ever seen; and forgetting changes no result, also
//! for a host that falls silent longer than the ttl and comes back.

mod support;

use pipe_dataflow::harness::{Feeding, Script, run_measured};
use pipe_dataflow::series::Labels;
use support::{oracle, plan};

const PIPELINE: &str = r#"
source metrics from file { path = "unused", series_ttl = 10m }
rollup by_host from metrics { window = tumble(1m), by = [metric_name, host], aggs = [count, avg, max] }
rollup hourly from by_host { window = tumble(1h) }
alert Hot { when avg(cpu) over 2m by host > 80 }
alert HotRegion { when max(cpu) over 1m by region > 95 }
sink a to console { from = hourly }
sink pages to console { from = alerts }
"#;

const T0: u64 = 1_700_002_800_000;
const GENERATIONS: u64 = 12;
const HOSTS: u64 = 20;
const LIFETIME: u64 = 15 * 60_000;

fn churning_fleet() -> Vec<(Labels, u64, f64)> {
    let mut samples = Vec::new();
    for ts in (0..GENERATIONS * LIFETIME).step_by(15_000) {
        let generation = ts / LIFETIME;
        for host in 0..HOSTS {
            let name = format!("g{generation}-h{host}");
            let region = ["eu", "us"][(host % 2) as usize];
            for metric in ["cpu", "mem"] {
                let labels = Labels::new([
                    ("metric_name", metric),
                    ("host", name.as_str()),
                    ("region", region),
                ]);
                let value = ((ts / 15_000 + host * 7) % 100) as f64;
                samples.push((labels, T0 + ts + host * 100, value));
            }
        }
        // Half an hour on, half an hour silent: longer than the ttl.
        if (ts / (2 * LIFETIME)).is_multiple_of(2) {
            let labels = Labels::new([
                ("metric_name", "cpu"),
                ("host", "returning"),
                ("region", "eu"),
            ]);
            samples.push((
                labels,
                T0 + ts + HOSTS * 100,
                90.0 + (ts / 15_000 % 7) as f64,
            ));
        }
    }
    samples
}

#[test]
fn state_follows_the_hosts_alive_and_results_equal_the_oracle() {
    let plan = plan(PIPELINE);
    let script = Script {
        samples: churning_fleet(),
        rule_changes: Vec::new(),
        batch: 64,
        until: None,
    };
    let alive = HOSTS * 2 + 1;
    let ever = GENERATIONS * HOSTS * 2 + 1;
    for (workers, feeding) in [
        (1, Feeding::FromOneWorker),
        (3, Feeding::FromOneWorker),
        (2, Feeding::Placed),
    ] {
        let (run, figures) = run_measured(&plan, &script, workers, feeding);
        oracle::check(&plan, &script, &run)
            .unwrap_or_else(|error| panic!("{workers} workers: {error}"));
        assert!(!run.transitions.is_empty(), "the rules fire");
        // The last quarter's hosts, and at most the quarter before, still within ten minutes.
        assert!(
            figures.series <= 2 * alive,
            "{workers} workers remember {} of {ever} series, {alive} alive",
            figures.series
        );
    }
    let mut remembering = plan.clone();
    remembering.sources[0].series_ttl = None;
    let (_, figures) = run_measured(&remembering, &script, 1, Feeding::FromOneWorker);
    assert_eq!(
        figures.series,
        GENERATIONS * HOSTS * 2 + 1,
        "without series_ttl every series is kept"
    );
}
