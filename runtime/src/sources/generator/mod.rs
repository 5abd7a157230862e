//! The generator source: a simulated fleet, paced by the wall clock or as fast as the pipeline
//! takes it.
//!
//! Each worker simulates exactly the series it owns by the plan's placement (`Plan::placement`),
//! so the samples never cross threads. A tick's samples are emitted in timestamp order (each series
//! reports at its own offset within the interval), which the series stage relies on to skip
//! sorting.

mod fleet;

pub use fleet::{Fleet, NAMED_METRICS};

use pipe_dataflow::series::{SeriesId, owner};
use pipe_dataflow::{Sample, SourceRecord};
use pipe_dsl::Plan;
use pipe_dsl::plan::{GeneratorSource, Pace};

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
    host: u32,
    metric: u32,
    offset: u32,
    base: f64,
}

/// What a poll of a source did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Records were produced; the source's watermark is now `frontier`.
    Produced {
        /// The earliest event time the source may still produce.
        frontier: u64,
    },
    /// Nothing is due before this wall-clock time (milliseconds since the epoch).
    WaitUntil(u64),
    /// The source has produced everything it will: every sample before `end`.
    Finished {
        /// Where the source's event time ends.
        end: u64,
    },
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
}

impl Generator {
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
                let placed = labels.placement_hash(share.placement.as_deref());
                if owner(placed, share.peers) == share.worker {
                    let id = labels.series_id();
                    owned.push(OwnedSeries {
                        id,
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
        }
    }

    /// Series this worker simulates.
    pub fn series(&self) -> usize {
        self.owned.len()
    }

    /// Produces the next part of the current tick into `send` when the tick is due, after the
    /// labels of every series on the first poll. Records go out one by one, for the input to
    /// batch.
    pub fn poll(&mut self, now_ms: u64, mut send: impl FnMut(SourceRecord)) -> Poll {
        if !self.registered {
            self.registered = true;
            for series in &self.owned {
                send(SourceRecord::Series(
                    series.id,
                    self.fleet.labels(series.host as u64, series.metric as u64),
                ));
            }
        }
        let interval = self.fleet.interval;
        let tick_start = self.next_tick * interval;
        if self.stop_at.is_some_and(|stop| tick_start >= stop) {
            return Poll::Finished { end: tick_start };
        }
        if self.pace == Pace::Realtime && now_ms < tick_start + interval {
            return Poll::WaitUntil(tick_start + interval);
        }
        let tick = self.next_tick;
        let part = self.sent..(self.sent + CHUNK).min(self.owned.len());
        for series in &self.owned[part.clone()] {
            let host = series.host as u64;
            if self.fleet.silent(host, tick) {
                continue;
            }
            send(SourceRecord::Sample(Sample {
                series: series.id,
                ts: tick_start + series.offset as u64,
                value: self
                    .fleet
                    .value_from(series.base, host, series.metric as u64, tick),
            }));
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
        Poll::Produced {
            frontier: next.saturating_sub(self.lateness),
        }
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
            while let Poll::Produced { frontier } = generator.poll(0, |r| records.push(r)) {
                frontiers.push(frontier);
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
                    SourceRecord::Sample(s) => Some(*s),
                    SourceRecord::Series(..) => None,
                })
                .collect();
            assert!(samples.is_sorted_by_key(|s| s.ts));
            let placed: std::collections::HashMap<SeriesId, u64> = records
                .iter()
                .filter_map(|r| match r {
                    SourceRecord::Series(id, labels) => {
                        Some((*id, labels.placement_hash(Some(&placement))))
                    }
                    SourceRecord::Sample(_) => None,
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
            match generator.poll(now, |r| records.push(r)) {
                Poll::Produced { .. } => ticks += 1,
                other => break other,
            }
        };
        // History starts on the minute at or before ten minutes ago; every tick that has
        // ended since is produced at once.
        let start = (now - 600_000) - (now - 600_000) % 60_000;
        assert_eq!(ticks, (now - start) / 15_000);
        let Poll::WaitUntil(until) = waiting else {
            panic!("{waiting:?}")
        };
        assert!(until > now && until <= now + 15_000);
    }
}
