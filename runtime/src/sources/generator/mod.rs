//! The generator source: a simulated fleet, paced by the wall clock or as fast as the pipeline
//! takes it.
//!
//! Each worker simulates exactly the series it owns by the plan's placement (`Plan::placement`),
//! so the samples never cross threads: it is the one source whose records are already placed. A tick's samples are emitted in timestamp order (each series
//! reports at its own offset within the interval), which the series stage relies on to skip
//! sorting.

mod fleet;

pub use fleet::{Fleet, NAMED_METRICS};

use pipe_dataflow::series::{Place, SeriesId, owner};
use pipe_dataflow::{Sample, SourceRecord};
use pipe_dsl::Plan;
use pipe_dsl::plan::{GeneratorSource, Pace};

use super::{Context, Poll, Source};

/// Where `pace = max` starts, so that runs are reproducible: 2026-01-01T00:00:00Z.
pub const MAX_PACE_START_MS: u64 = 1_767_225_600_000;

/// Samples per poll: a tick of a large fleet is sent in parts, the watermark advancing after
/// each, so that the dataflow works on one part while the next is made and a step's alerts do
/// not wait for a whole tick. Callers size their buffers by it.
pub const CHUNK: usize = 8192;

/// The part of the fleet one worker simulates: the series it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The worker.
    pub worker: usize,
    /// Of how many.
    pub peers: usize,
    /// The labels that place series on workers; `None` for their whole identity.
    pub placement: Option<Vec<String>>,
}

impl Share {
    /// The share of worker `worker` of `peers` of source `source` of `plan`.
    pub fn of(plan: &Plan, source: &str, worker: usize, peers: usize) -> Self {
        Share {
            worker,
            peers,
            placement: plan.placement(source),
        }
    }

    /// The whole fleet, for one worker.
    pub fn whole() -> Self {
        Share {
            worker: 0,
            peers: 1,
            placement: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct OwnedSeries {
    id: SeriesId,
    place: Place,
    host: u32,
    metric: u32,
    offset: u32,
    base: f64,
}

/// One worker's share of a generator source.
#[derive(Debug)]
pub struct Generator {
    fleet: Fleet,
    owned: Vec<OwnedSeries>,
    pace: Pace,
    next_tick: u64,
    /// How many of the tick's series have been sent.
    sent: usize,
    lateness: u64,
    stop_at: Option<u64>,
    registered: bool,
    watermark: u64,
}

impl Generator {
    /// This worker's share of a generator source of a plan.
    pub fn open(config: &GeneratorSource, context: &Context) -> Self {
        Generator::new(
            config,
            context.source.lateness.millis(),
            &Share::of(
                context.plan,
                &context.source.name,
                context.worker,
                context.peers,
            ),
            context.now_ms,
            context.run_for,
        )
    }

    /// A worker's share of the fleet. `now_ms` is the wall clock; `run_for`, when given, stops
    /// the source after that much event time.
    pub fn new(
        config: &GeneratorSource,
        lateness: u64,
        share: &Share,
        now_ms: u64,
        run_for: Option<u64>,
    ) -> Self {
        let fleet = Fleet {
            hosts: config.hosts,
            metrics: config.metrics,
            interval: config.interval.millis(),
            seed: config.seed,
        };
        let mut owned = Vec::new();
        for host in 0..config.hosts {
            for metric in 0..config.metrics {
                let labels = fleet.labels(host, metric);
                let place = labels.place(share.placement.as_deref());
                if owner(place, share.peers) == share.worker {
                    let id = labels.series_id();
                    owned.push(OwnedSeries {
                        id,
                        place,
                        host: host as u32,
                        metric: metric as u32,
                        offset: fleet.offset(host, metric) as u32,
                        base: fleet.base(host, metric),
                    });
                }
            }
        }
        owned.sort_by_key(|series| (series.offset, series.id));
        // History starts on a minute, so that the first minute windows are whole.
        let start = match config.pace {
            Pace::Max => MAX_PACE_START_MS,
            Pace::Realtime => {
                let start = now_ms.saturating_sub(config.history.millis());
                start - start % 60_000
            }
        };
        let first_tick = start / fleet.interval;
        Generator {
            fleet,
            owned,
            pace: config.pace,
            next_tick: first_tick,
            sent: 0,
            lateness,
            stop_at: run_for.map(|span| first_tick * fleet.interval + span),
            registered: false,
            watermark: 0,
        }
    }

    /// Series this worker simulates.
    pub fn series(&self) -> usize {
        self.owned.len()
    }

    /// Produces the next part of the current tick into `out` when the tick is due, after the
    /// labels of every series on the first poll.
    fn produce(&mut self, now_ms: u64, out: &mut Vec<SourceRecord>) -> Poll {
        if !self.registered {
            self.registered = true;
            out.extend(self.owned.iter().map(|series| SourceRecord::Series {
                place: series.place,
                id: series.id,
                labels: self.fleet.labels(series.host as u64, series.metric as u64),
            }));
        }
        let interval = self.fleet.interval;
        let tick_start = self.next_tick * interval;
        if self.stop_at.is_some_and(|stop| tick_start >= stop) {
            return Poll::Finished { end: tick_start };
        }
        if self.pace == Pace::Realtime && now_ms < tick_start + interval {
            return Poll::Waiting {
                watermark: self.watermark,
                until: tick_start + interval,
            };
        }
        // Timely keeps the container it is sent and leaves an empty one: sized at once for a
        // whole part, it is not grown (and copied) a dozen times per poll.
        out.reserve(CHUNK);
        let tick = self.next_tick;
        let part = self.sent..(self.sent + CHUNK).min(self.owned.len());
        for series in &self.owned[part.clone()] {
            let host = series.host as u64;
            if self.fleet.silent(host, tick) {
                continue;
            }
            out.push(SourceRecord::Sample {
                place: series.place,
                sample: Sample {
                    series: series.id,
                    ts: tick_start + series.offset as u64,
                    value: self
                        .fleet
                        .value_from(series.base, host, series.metric as u64, tick),
                },
            });
        }
        // Series report in offset order: nothing sent later is earlier than the next one.
        let next = match self.owned.get(part.end) {
            Some(series) => {
                self.sent = part.end;
                tick_start + series.offset as u64
            }
            None => {
                self.sent = 0;
                self.next_tick += 1;
                self.next_tick * interval
            }
        };
        self.watermark = next.saturating_sub(self.lateness);
        Poll::Ready {
            watermark: self.watermark,
        }
    }
}

impl Source for Generator {
    fn placed(&self) -> bool {
        true
    }

    fn announce_again(&mut self) {
        self.registered = false;
    }

    fn poll(&mut self, now_ms: u64, out: &mut Vec<SourceRecord>) -> anyhow::Result<Poll> {
        Ok(self.produce(now_ms, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_dsl::plan::Duration;

    fn config(pace: Pace) -> GeneratorSource {
        GeneratorSource {
            hosts: 20,
            metrics: 5,
            interval: Duration(15_000),
            pace,
            history: Duration(600_000),
            seed: 1,
        }
    }

    #[test]
    fn workers_share_the_fleet_without_overlap_and_ticks_are_in_time_order() {
        let mut all = Vec::new();
        let placement = vec!["host".to_string()];
        for worker in 0..3 {
            let share = Share {
                worker,
                peers: 3,
                placement: Some(placement.clone()),
            };
            let mut generator = Generator::new(&config(Pace::Max), 0, &share, 0, Some(60_000));
            let mut records = Vec::new();
            let mut frontiers = Vec::new();
            while let Poll::Ready { watermark } = generator.produce(0, &mut records) {
                frontiers.push(watermark);
            }
            assert!(frontiers.is_sorted(), "the watermark never goes back");
            assert_eq!(
                *frontiers.last().unwrap(),
                MAX_PACE_START_MS + 60_000,
                "one minute of ticks"
            );
            let samples: Vec<Sample> = records
                .iter()
                .filter_map(|r| match r {
                    SourceRecord::Sample { sample, .. } => Some(*sample),
                    SourceRecord::Series { .. } => None,
                })
                .collect();
            assert!(samples.is_sorted_by_key(|s| s.ts));
            let placed: std::collections::HashMap<SeriesId, Place> = records
                .iter()
                .filter_map(|r| match r {
                    SourceRecord::Series { id, labels, .. } => {
                        Some((*id, labels.place(Some(&placement))))
                    }
                    SourceRecord::Sample { .. } => None,
                })
                .collect();
            assert!(
                samples
                    .iter()
                    .all(|s| owner(placed[&s.series], 3) == worker)
            );
            all.extend(samples);
        }
        let series: std::collections::BTreeSet<_> = all.iter().map(|s| s.series).collect();
        assert_eq!(series.len(), 100);
    }

    #[test]
    fn realtime_replays_history_then_waits_for_the_clock() {
        let now = MAX_PACE_START_MS + 1_000_000;
        let mut generator = Generator::new(&config(Pace::Realtime), 0, &Share::whole(), now, None);
        let mut records = Vec::new();
        let mut ticks = 0;
        let waiting = loop {
            match generator.produce(now, &mut records) {
                Poll::Ready { .. } => ticks += 1,
                other => break other,
            }
        };
        // History starts on the minute at or before ten minutes ago; every tick that has
        // ended since is produced at once.
        let start = (now - 600_000) - (now - 600_000) % 60_000;
        assert_eq!(ticks, (now - start) / 15_000);
        let Poll::Waiting { until, .. } = waiting else {
            panic!("{waiting:?}")
        };
        assert!(until > now && until <= now + 15_000);
    }
}
