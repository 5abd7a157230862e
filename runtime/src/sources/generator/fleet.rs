//! A simulated fleet: which series exist and what each reports at each tick. Every value is a
//! function of the seed, the host, the metric and the tick alone, so a run is the same whatever
//! the workers and wherever it starts.
//!
//! What it shows, so that the quickstart's rules find something: CPU drifts around a per-host
//! base, and every fiftieth host (all in production) has 25-minute episodes above 90% each hour,
//! spread so that some host is in one at any time; counters grow at per-host rates and reset
//! when their host restarts; the `billing` service has error bursts; every hundredth host goes
//! silent for five minutes every half hour.

use pipe_dataflow::series::Labels;

/// Metrics with names and behaviour; metrics beyond these are generic gauges `gauge_NNN`.
pub const NAMED_METRICS: [&str; 10] = [
    "cpu_usage_percent",
    "memory_used_bytes",
    "http_requests_total",
    "http_errors_total",
    "heartbeat",
    "disk_used_percent",
    "load1",
    "network_rx_bytes_total",
    "network_tx_bytes_total",
    "request_latency_seconds",
];

const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"];
const SERVICES: [&str; 8] = [
    "api", "web", "checkout", "billing", "search", "auth", "cache", "queue",
];

/// Ticks per simulated hour at a 15 s interval; cycles are defined in ticks of the interval.
const HOUR: u64 = 240;

/// The shape of the simulated fleet.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    /// Hosts.
    pub hosts: u64,
    /// Metrics per host.
    pub metrics: u64,
    /// Milliseconds between a series' samples.
    pub interval: u64,
    /// The seed all values derive from.
    pub seed: u64,
}

/// A uniform number in `[0, 1)` from a hash of its inputs (splitmix64).
#[inline]
fn noise(seed: u64, a: u64, b: u64, c: u64) -> f64 {
    let mut z = seed
        ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
        ^ c.wrapping_mul(0x1656_67b1_9e37_79f9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A triangle wave in `[-1, 1]` with the given period, in ticks.
#[inline]
fn wave(tick: u64, period: u64, phase: u64) -> f64 {
    let x = ((tick + phase) % period) as f64 / period as f64;
    (x * 4.0 - 2.0).abs() - 1.0
}

impl Fleet {
    /// The metric's name.
    pub fn metric_name(&self, metric: u64) -> String {
        match NAMED_METRICS.get(metric as usize) {
            Some(name) => name.to_string(),
            None => format!("gauge_{metric:03}"),
        }
    }

    /// The host's name.
    pub fn host_name(host: u64) -> String {
        format!("host-{host:05}")
    }

    /// The environment: seven hosts in ten are in production.
    fn environment(host: u64) -> &'static str {
        match host % 10 {
            0..=6 => "prod",
            7 | 8 => "staging",
            _ => "dev",
        }
    }

    fn service(host: u64) -> &'static str {
        SERVICES[((host / 3) % 8) as usize]
    }

    /// The labels of one series.
    pub fn labels(&self, host: u64, metric: u64) -> Labels {
        Labels::new([
            ("metric_name".to_string(), self.metric_name(metric)),
            ("host".to_string(), Fleet::host_name(host)),
            (
                "region".to_string(),
                REGIONS[(host % 4) as usize].to_string(),
            ),
            (
                "environment".to_string(),
                Fleet::environment(host).to_string(),
            ),
            ("service".to_string(), Fleet::service(host).to_string()),
        ])
    }

    /// Where in its interval a series reports, so that a fleet does not report all at once.
    pub fn offset(&self, host: u64, metric: u64) -> u64 {
        (noise(self.seed, host, metric, u64::MAX) * self.interval as f64) as u64
    }

    fn ticks(&self, minutes: u64) -> u64 {
        (minutes * 60_000 / self.interval).max(1)
    }

    /// Whether the host is silent at this tick: every hundredth host, five minutes in thirty.
    #[inline]
    pub fn silent(&self, host: u64, tick: u64) -> bool {
        host % 100 == 42 && (tick + host * 7) % self.ticks(30) < self.ticks(5)
    }

    /// Whether the host is a CPU-spike host in an episode at this tick.
    fn cpu_episode(&self, host: u64, tick: u64) -> bool {
        if host % 50 != 3 {
            return false;
        }
        let spike_hosts = self.hosts.div_ceil(50).max(1);
        let cycle = self.ticks(60);
        let phase = (host / 50) * cycle / spike_hosts;
        (tick + phase) % cycle < self.ticks(25)
    }

    /// The value a series reports at a tick.
    pub fn value(&self, host: u64, metric: u64, tick: u64) -> f64 {
        self.value_from(self.base(host, metric), host, metric, tick)
    }

    /// Where a series sits in its metric's range, the same at every tick: a generator keeps it
    /// beside the series rather than drawing it again for every sample.
    pub fn base(&self, host: u64, metric: u64) -> f64 {
        noise(self.seed, host, metric, 0)
    }

    /// [`value`](Self::value), given the series' [`base`](Self::base).
    #[inline]
    pub fn value_from(&self, host_base: f64, host: u64, metric: u64, tick: u64) -> f64 {
        let n = noise(self.seed, host, metric, tick);
        match metric {
            0 if self.cpu_episode(host, tick) => 93.0 + 2.0 * wave(tick, 37, host) + 4.0 * n,
            0 => 15.0 + 40.0 * host_base + 10.0 * wave(tick, 40, host * 13) + 6.0 * n,
            1 => {
                (4.0 + 28.0 * host_base)
                    * (1u64 << 30) as f64
                    * (1.0 + 0.05 * wave(tick, HOUR, host) + 0.01 * n)
            }
            2 => self.counter(host, tick, 50.0 + 450.0 * host_base, n),
            3 => self.errors(host, tick, 50.0 + 450.0 * noise(self.seed, host, 2, 0)),
            4 => 1.0,
            5 => 20.0 + 60.0 * host_base + 5.0 * wave(tick, 24 * HOUR, host),
            6 => (0.5 + 7.0 * host_base) * (1.0 + 0.3 * wave(tick, 40, host)) + 0.3 * n,
            7 | 8 => self.counter(host, tick, 1e5 + 1e7 * host_base, n),
            9 => 0.01 + 0.2 * host_base + 0.05 * n * n,
            _ => 100.0 * host_base + 10.0 * wave(tick, 40 + metric, host) + 5.0 * n,
        }
    }

    /// Ticks since the host's last restart: hosts restart every six hours, at staggered times.
    fn since_restart(&self, host: u64, tick: u64) -> u64 {
        (tick + host * 97) % self.ticks(360)
    }

    /// A counter of `per_second` on average: monotone between restarts, zero after one.
    fn counter(&self, host: u64, tick: u64, per_second: f64, n: f64) -> f64 {
        let seconds = self.interval as f64 / 1000.0;
        let per_tick = per_second * seconds;
        // A jitter below half a tick's increase keeps the counter monotone.
        self.since_restart(host, tick) as f64 * per_tick + 0.45 * per_tick * n
    }

    /// Errors: 1% of requests, and for `billing` 9% more during a 20-minute burst every two hours.
    fn errors(&self, host: u64, tick: u64, requests_per_second: f64) -> f64 {
        let per_tick = requests_per_second * self.interval as f64 / 1000.0;
        let age = self.since_restart(host, tick);
        let base = 0.01 * per_tick * age as f64;
        if Fleet::service(host) != "billing" {
            return base.floor();
        }
        let cycle = self.ticks(120);
        let burst = self.ticks(20);
        let bursting_ticks = |until: u64| (until / cycle) * burst + (until % cycle).min(burst);
        let restart = tick.saturating_sub(age);
        let extra = 0.09 * per_tick * (bursting_ticks(tick) - bursting_ticks(restart)) as f64;
        (base + extra).floor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet {
            hosts: 1000,
            metrics: 50,
            interval: 15_000,
            seed: 1,
        }
    }

    #[test]
    fn counters_never_fall_except_at_restarts() {
        let fleet = fleet();
        for metric in [2, 3, 7] {
            for host in [0, 5, 123] {
                for tick in 1..5000 {
                    let (before, now) = (
                        fleet.value(host, metric, tick - 1),
                        fleet.value(host, metric, tick),
                    );
                    if now < before {
                        assert_eq!(
                            fleet.since_restart(host, tick),
                            0,
                            "metric {metric} host {host} fell at tick {tick}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn at_any_time_some_production_host_has_been_spiking_for_seven_minutes() {
        let fleet = fleet();
        let seven_minutes = fleet.ticks(7);
        for tick in (seven_minutes..2000).step_by(7) {
            let spiking = (0..fleet.hosts).any(|host| {
                Fleet::environment(host) == "prod"
                    && (tick - seven_minutes..=tick).all(|t| fleet.value(host, 0, t) > 90.0)
            });
            assert!(spiking, "no host has spiked for 7 minutes at tick {tick}");
        }
    }

    #[test]
    fn billing_has_error_bursts_and_others_do_not() {
        let fleet = fleet();
        let ratio = |host: u64, tick: u64| {
            let errors = fleet.value(host, 3, tick) - fleet.value(host, 3, tick - 20);
            let requests = fleet.value(host, 2, tick) - fleet.value(host, 2, tick - 20);
            errors / requests
        };
        let billing = (0..fleet.hosts)
            .find(|&h| Fleet::service(h) == "billing")
            .unwrap();
        let api = (0..fleet.hosts)
            .find(|&h| Fleet::service(h) == "api")
            .unwrap();
        let bursting = (100..2000)
            .filter(|&t| fleet.since_restart(billing, t) > 20)
            .any(|t| ratio(billing, t) > 0.05);
        assert!(bursting);
        assert!(
            (100..2000)
                .filter(|&t| fleet.since_restart(api, t) > 20)
                .all(|t| ratio(api, t) < 0.02)
        );
    }

    #[test]
    fn values_depend_on_nothing_but_their_coordinates() {
        let fleet = fleet();
        assert_eq!(
            fleet.value(7, 0, 1234).to_bits(),
            fleet.value(7, 0, 1234).to_bits()
        );
        assert_ne!(
            fleet.value(7, 0, 1234),
            Fleet { seed: 2, ..fleet }.value(7, 0, 1234)
        );
        let half_hour = fleet.ticks(30);
        assert_eq!(
            (0..half_hour).filter(|&t| fleet.silent(42, t)).count() as u64,
            fleet.ticks(5)
        );
        assert!((0..half_hour).all(|t| !fleet.silent(41, t)));
    }
}
