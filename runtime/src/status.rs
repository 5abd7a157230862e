//! What a running pipeline shows: a live status line on a terminal (samples per second, series,
//! open windows, alerts firing, event time, sinks waiting for their store), or a log line every
//! ten seconds otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use pipe_dataflow::telemetry::Telemetry;

use crate::pipeline::Progress;
use crate::time::clock_time;

/// The status display, until it is finished.
pub struct Status {
    bar: Option<ProgressBar>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Status {
    /// Starts showing the figures of `telemetry` and `progress`.
    pub fn start(telemetry: Arc<Telemetry>, progress: Arc<Progress>) -> Status {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
            );
            bar
        });
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let (bar, done) = (bar.clone(), Arc::clone(&done));
            std::thread::spawn(move || show(bar, done, &telemetry, &progress))
        };
        Status {
            bar,
            done,
            thread: Some(thread),
        }
    }

    /// The status line, for printing above it.
    pub fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    /// Stops the display and clears the status line.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn show(
    bar: Option<ProgressBar>,
    done: Arc<AtomicBool>,
    telemetry: &Telemetry,
    progress: &Progress,
) {
    let tick = if bar.is_some() {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(10)
    };
    let mut last = (Instant::now(), 0u64);
    let mut next = Instant::now() + tick;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if Instant::now() < next {
            continue;
        }
        next += tick;
        let figures = telemetry.snapshot();
        let elapsed = last.0.elapsed().as_secs_f64().max(1e-3);
        let rate = (figures.samples - last.1) as f64 / elapsed;
        last = (Instant::now(), figures.samples);
        let watermark = progress.watermark.load(Ordering::Relaxed);
        let mut message = format!(
            "{} samples/s · {} series · {} open windows · {} alerts firing · event time {}",
            thousands(rate as u64),
            thousands(figures.series),
            thousands(figures.open_windows),
            figures.firing,
            if watermark == 0 {
                "-".to_string()
            } else {
                clock_time(watermark)
            },
        );
        // A store that is down holds the pipeline back: say which, and why.
        if let Some(waiting) = progress.sinks.summary() {
            message.push_str(" · ");
            message.push_str(&waiting);
        }
        match &bar {
            Some(bar) => {
                bar.set_message(message);
                bar.tick();
            }
            None => tracing::info!("{message}"),
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(1_234_567), "1,234,567");
        assert_eq!(super::thousands(12), "12");
    }
}
