//! A source of your own: compile a pipeline from a string and run it over samples your program
//! makes, through the `Source` trait. `cargo run --example custom_source` prints ten-minute
//! windows of three rooms' temperatures and pages when a room runs warm.
//!
//! The pipeline declares the source as `external`; the program says how each worker opens it
//! (`RunOptions::sources`). A source that is not `placed` may send any series from any worker:
//! the dataflow exchanges its records once, by the place each carries.

use std::collections::BTreeMap;
use std::sync::Arc;

use pipe::dataflow::series::{Labels, Place};
use pipe::dataflow::telemetry::Telemetry;
use pipe::dataflow::{Sample, SourceRecord};
use pipe::runtime::pipeline::{self, Ending, Progress, RunOptions};
use pipe::runtime::sinks::Console;
use pipe::runtime::sources::{Context, Opener, Poll, Source};

const PIPELINE: &str = r#"
source rooms from external { step = 1m }

rollup per_room from rooms {
  window = tumble(10m)
  by     = [metric_name, room]
  aggs   = [count, min, max, avg]
}

alert TooWarm {
  when avg(temperature_celsius) over 10m by room > 24
  annotations { summary = "{{ room }} averages {{ value }} °C" }
}

sink windows to console { from = per_room }
sink pages to console { from = alerts }
"#;

/// 2026-01-01T08:00:00Z: the readings start then.
const START: u64 = 1_767_254_400_000;
const MINUTE: u64 = 60_000;
const READINGS: u64 = 120;

/// Three thermometers reading once a minute for two hours, all sent by worker 0.
struct Thermometers {
    rooms: Vec<(Labels, Place)>,
    minute: u64,
    worker: usize,
    /// Whether the rooms' labels go out before the next readings.
    announce: bool,
}

impl Thermometers {
    fn open(context: &Context) -> Self {
        let placement = context.placement();
        let rooms = ["kitchen", "office", "server-room"]
            .into_iter()
            .map(|room| {
                let labels = Labels::new([("metric_name", "temperature_celsius"), ("room", room)]);
                let place = labels.place(placement.as_deref());
                (labels, place)
            })
            .collect();
        Thermometers {
            rooms,
            minute: 0,
            worker: context.worker,
            announce: true,
        }
    }

    /// The server room warms up in the second hour.
    fn reading(room: usize, minute: u64) -> f64 {
        let warming = if room == 2 && minute >= 60 {
            (minute - 60) as f64 * 0.2
        } else {
            0.0
        };
        19.0 + room as f64 + (minute % 7) as f64 * 0.1 + warming
    }
}

impl Source for Thermometers {
    fn placed(&self) -> bool {
        false
    }

    fn announce_again(&mut self) {
        self.announce = true;
    }

    fn poll(&mut self, _now_ms: u64, out: &mut Vec<SourceRecord>) -> anyhow::Result<Poll> {
        let end = START + READINGS * MINUTE;
        if self.worker != 0 || self.minute == READINGS {
            return Ok(Poll::Finished { end });
        }
        if std::mem::take(&mut self.announce) {
            for (labels, place) in &self.rooms {
                out.push(SourceRecord::Series {
                    place: *place,
                    id: labels.series_id(),
                    labels: labels.clone(),
                });
            }
        }
        for (room, (labels, place)) in self.rooms.iter().enumerate() {
            out.push(SourceRecord::Sample {
                place: *place,
                sample: Sample {
                    series: labels.series_id(),
                    ts: START + self.minute * MINUTE,
                    value: Thermometers::reading(room, self.minute),
                },
            });
        }
        self.minute += 1;
        Ok(Poll::Ready {
            watermark: START + self.minute * MINUTE,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let compiled = pipe::dsl::compile(PIPELINE, &|_| None);
    let Some(plan) = compiled.plan else {
        anyhow::bail!("the pipeline is not valid: {:#?}", compiled.diagnostics);
    };
    let open: Opener = Arc::new(|context| Ok(Box::new(Thermometers::open(context))));
    let options = RunOptions {
        workers: 2,
        cluster: None,
        run_for: None,
        stop: Arc::default(),
        console: Console::stdout(None),
        observer: None,
        sources: BTreeMap::from([("rooms".to_string(), open)]),
        rule_links: Default::default(),
        deploys: None,
    };
    let telemetry = Telemetry::new();
    let ending = pipeline::run(
        plan,
        Arc::clone(&telemetry),
        Arc::new(Progress::default()),
        options,
    )?;
    let figures = telemetry.snapshot();
    anyhow::ensure!(ending == Ending::Finished, "the run did not finish");
    anyhow::ensure!(
        figures.samples == 3 * READINGS,
        "{} samples",
        figures.samples
    );
    anyhow::ensure!(
        figures.windows_emitted == 3 * 12,
        "{} windows",
        figures.windows_emitted
    );
    eprintln!(
        "{} readings, {} windows, {} alert transitions",
        figures.samples, figures.windows_emitted, figures.transitions
    );
    Ok(())
}
