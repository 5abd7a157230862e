//! Random source inputs with what real sources do: out-of-order arrival within lateness, late
//! samples beyond it, gaps, and counters that reset.

use pipe_dataflow::series::Labels;
use proptest::prelude::*;

/// An hour boundary, so that windows of every size line up with the start.
pub const T0: u64 = 1_700_002_800_000;

/// Labels of a test series.
pub fn series(metric: &str, host: &str) -> Labels {
    let (region, service) = match host {
        "a" => ("eu", "api"),
        "b" => ("eu", "web"),
        "c" => ("us", "api"),
        _ => ("us", "web"),
    };
    Labels::new([
        ("metric_name", metric),
        ("host", host),
        ("region", region),
        ("service", service),
        ("environment", "prod"),
    ])
}

/// One series' samples before arrival: `(timestamp, value)` every `interval` with jitter, gaps,
/// and for counters, resets.
fn series_samples(kind: usize, seed: &[u8], interval: u64, span: u64) -> Vec<(u64, f64)> {
    let mut samples = Vec::new();
    let mut counter = 0.0;
    let mut gap = 0;
    for (step, byte) in (0..span / interval).zip(seed.iter().cycle()) {
        if gap > 0 {
            gap -= 1;
            continue;
        }
        if byte % 23 == 0 {
            gap = (byte % 7) as u64 + 2;
        }
        let ts = T0 + step * interval + (*byte as u64 * 37) % (interval / 2);
        let value = match kind {
            0 => 30.0 + (*byte as f64) * 0.3 + (step % 9) as f64,
            1 => {
                counter = if byte % 17 == 0 {
                    (*byte % 5) as f64
                } else {
                    counter + 1.0 + (*byte % 4) as f64
                };
                counter
            }
            _ => 1.0,
        };
        samples.push((ts, value));
    }
    samples
}

/// A random input: `cpu` (gauge), `requests_total` (counter) and `heartbeat` for hosts a–d over
/// `span` milliseconds, arriving with delays up to `max_delay`.
pub fn random_input(
    interval: u64,
    span: u64,
    max_delay: u64,
) -> impl Strategy<Value = Vec<(Labels, u64, f64)>> {
    let seeds = prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 12);
    let delays = prop::collection::vec(0..max_delay.max(1), 1..512);
    (seeds, delays).prop_map(move |(seeds, delays)| {
        let mut arrivals = Vec::new();
        for (index, seed) in seeds.iter().enumerate() {
            let metric = ["cpu", "requests_total", "heartbeat"][index % 3];
            let host = ["a", "b", "c", "d"][index / 3];
            let labels = series(metric, host);
            for (ts, value) in series_samples(index % 3, seed, interval, span) {
                let delay = delays[arrivals.len() % delays.len()];
                arrivals.push((ts + delay, labels.clone(), ts, value));
            }
        }
        arrivals.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        arrivals
            .into_iter()
            .map(|(_, labels, ts, value)| (labels, ts, value))
            .collect()
    })
}
