//! The data set the storage bench writes: a simulated fleet (the generator's hosts, metrics and
//! values) reporting every 15 s over the hours before now, as raw rows for PostgreSQL and as
//! 1-minute windows for ClickHouse, produced in time order without holding the whole set.

use pipe_dataflow::series::Labels;

use crate::sinks::clickhouse::schema::NULLABLE;
use crate::sinks::clickhouse::writer::Window;
use crate::sinks::timescale::writer::Row;
use crate::sources::generator::Fleet;

/// Milliseconds between a series' samples.
pub const INTERVAL: u64 = 15_000;

/// The fleet and the time it covers.
pub struct DataSet {
    fleet: Fleet,
    /// Every series' labels, by `host * metrics + metric`.
    labels: Vec<Labels>,
    /// The first sample's time, in milliseconds: a whole hour.
    pub start: u64,
    /// Samples per series.
    pub ticks: u64,
}

impl DataSet {
    /// `hours` of `hosts × metrics` series ending at the whole minute before `now`.
    pub fn new(hosts: u64, metrics: u64, hours: u64, now: u64) -> Self {
        let fleet = Fleet {
            hosts,
            metrics,
            interval: INTERVAL,
            seed: 1,
        };
        let labels = (0..hosts)
            .flat_map(|host| (0..metrics).map(move |metric| (host, metric)))
            .map(|(host, metric)| fleet.labels(host, metric))
            .collect();
        let ticks = hours * 3_600_000 / INTERVAL;
        let end = now - now % 60_000;
        DataSet {
            fleet,
            labels,
            start: end - ticks * INTERVAL,
            ticks,
        }
    }

    /// Series in the set.
    pub fn series(&self) -> u64 {
        self.labels.len() as u64
    }

    /// The end of the set (exclusive): the whole minute before it was made.
    pub fn end(&self) -> u64 {
        self.start + self.ticks * INTERVAL
    }

    /// Hosts in the set.
    pub fn hosts(&self) -> u64 {
        self.fleet.hosts
    }

    /// Raw rows in the set.
    pub fn rows(&self) -> u64 {
        self.series() * self.ticks
    }

    /// The rows of `ticks`, every series at each tick in turn.
    pub fn raw_rows(&self, ticks: std::ops::Range<u64>) -> impl Iterator<Item = Row> + '_ {
        ticks.flat_map(move |tick| {
            (0..self.series()).map(move |series| Row {
                series,
                ts: self.start + tick * INTERVAL,
                value: self.value(series, tick),
                labels: self.labels[series as usize].clone(),
            })
        })
    }

    /// Whole windows of `minutes` minutes in the set.
    pub fn windows_of(&self, minutes: u64) -> u64 {
        self.ticks * INTERVAL / (minutes * 60_000)
    }

    /// The windows of `minutes` minutes numbered `numbers` (the first starting with the set),
    /// every series in each window in turn, with the aggregates of `pipelines/metrics.pipe`'s
    /// rollups and the sketch's points.
    pub fn windows(
        &self,
        minutes: u64,
        numbers: std::ops::Range<u64>,
    ) -> impl Iterator<Item = Window> + '_ {
        let ticks = minutes * 60_000 / INTERVAL;
        numbers.flat_map(move |number| {
            (0..self.series()).map(move |series| {
                let mut values: Vec<f64> = (0..ticks)
                    .map(|at| self.value(series, number * ticks + at))
                    .collect();
                values.sort_by(f64::total_cmp);
                let sum: f64 = values.iter().sum();
                let at_rank = |q: f64| values[(q * (values.len() - 1) as f64).floor() as usize];
                let mut aggregates = [None; NULLABLE.len()];
                for (name, value) in [
                    ("avg", sum / values.len() as f64),
                    ("p50", at_rank(0.5)),
                    ("p95", at_rank(0.95)),
                    ("p99", at_rank(0.99)),
                ] {
                    if let Some(at) = NULLABLE.iter().position(|n| *n == name) {
                        aggregates[at] = Some(value);
                    }
                }
                let start = self.start + number * minutes * 60_000;
                Window {
                    labels: self.labels[series as usize].clone(),
                    series,
                    start,
                    end: start + minutes * 60_000,
                    count: values.len() as u64,
                    sum,
                    min: values[0],
                    max: values[values.len() - 1],
                    values: aggregates,
                    points: values.iter().map(|&value| (value, 1)).collect(),
                }
            })
        })
    }

    fn value(&self, series: u64, tick: u64) -> f64 {
        let metrics = self.fleet.metrics;
        self.fleet.value(series / metrics, series % metrics, tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_of_windows_aggregates_the_rows_of_that_minute() {
        let set = DataSet::new(3, 2, 1, 7_200_000 + 59_999);
        assert_eq!(
            (set.start, set.end(), set.ticks, set.rows()),
            (3_600_000, 7_200_000, 240, 1_440)
        );
        let rows: Vec<Row> = set.raw_rows(4..8).collect();
        let windows: Vec<Window> = set.windows(1, 1..2).collect();
        assert_eq!(windows.len(), 6);
        for window in &windows {
            let values: Vec<f64> = rows
                .iter()
                .filter(|row| row.series == window.series)
                .map(|row| row.value)
                .collect();
            assert_eq!(window.count, 4);
            let sum: f64 = values.iter().sum();
            assert!((window.sum - sum).abs() <= 1e-9 * sum.abs());
            assert_eq!(window.max, values.iter().copied().fold(f64::MIN, f64::max));
            assert_eq!(window.start, 3_660_000);
        }
    }

    #[test]
    fn an_hour_holds_what_its_minutes_hold() {
        let set = DataSet::new(2, 3, 1, 7_200_000);
        let minutes: Vec<Window> = set.windows(1, 0..set.windows_of(1)).collect();
        let hours: Vec<Window> = set.windows(60, 0..set.windows_of(60)).collect();
        assert_eq!((minutes.len(), hours.len()), (6 * 60, 6));
        for hour in &hours {
            let mine = minutes.iter().filter(|m| m.series == hour.series);
            let (count, sum) = mine.fold((0, 0.0), |(c, s), m| (c + m.count, s + m.sum));
            assert_eq!(hour.count, count);
            assert!((hour.sum - sum).abs() <= 1e-9 * sum.abs());
            assert_eq!(hour.points.len(), 240);
        }
    }
}
