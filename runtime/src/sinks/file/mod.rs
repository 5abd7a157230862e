//! The file sink: a stream as JSON lines appended to a file (`writer.rs`), one object per
//! sample, closed window or alert transition, each event time's records sorted.
//!
//! When the sources can resume after a restart (Kafka), the file's progress is recorded beside
//! it (`progress.rs`) at most every [`FLUSH_EVERY`], and a batch is acknowledged only once
//! recorded; a run continues the file from its recorded progress (even a run whose sources had
//! committed nothing yet, killed before its first commit), so that every record is in the file
//! exactly once across restarts. To start a file over, delete it with its `.progress`. Without
//! resumable sources each batch is flushed as it is written, as a log is.

mod progress;
mod writer;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pipe_dsl::plan::FileSink as FileSettings;

use self::progress::Progress;
use self::writer::JsonLines;
use super::{Record, Sink, SinkContext};

/// How often the progress of a resumable run is recorded.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A file sink.
pub struct FileSink {
    lines: JsonLines,
    /// Whether progress is recorded.
    resumable: bool,
    /// Records before this time are in the file already.
    skip_before: u64,
    /// The first time written since progress was last recorded, and the last one.
    unrecorded: Option<(u64, u64)>,
    recorded_at: Instant,
}

/// Opens the file sink of `settings`.
pub fn open(
    name: &str,
    settings: &FileSettings,
    context: &SinkContext,
) -> anyhow::Result<FileSink> {
    let path = settings.path.resolve_from_process().with_context(|| {
        format!("sink `{name}`: the environment variable of its path is not set")
    })?;
    let mut lines = JsonLines::new(PathBuf::from(path));
    let mut skip_before = 0;
    // Worker 0 writes the file (one writer); the other workers' instances never touch it.
    if context.resumable && context.worker == 0 {
        match Progress::read(lines.path()) {
            Some(progress) => {
                lines.truncate_to(progress.bytes);
                skip_before = progress.through;
            }
            // Recorded before anything is written: a run killed after its first write but
            // before recording it then cuts that write too.
            None => Progress::starting(lines.path()).with_context(|| {
                format!("sink `{name}`: cannot record the progress of its file")
            })?,
        }
    }
    Ok(FileSink {
        lines,
        resumable: context.resumable,
        skip_before,
        unrecorded: None,
        recorded_at: Instant::now(),
    })
}

impl FileSink {
    fn record_progress(&mut self) -> anyhow::Result<()> {
        let Some((_, last)) = self.unrecorded else {
            return Ok(());
        };
        self.lines.flush(true)?;
        let progress = Progress {
            through: last + 1,
            bytes: self.lines.bytes(),
        };
        progress.write(self.lines.path()).with_context(|| {
            format!(
                "cannot record the progress of `{}`",
                self.lines.path().display()
            )
        })?;
        self.unrecorded = None;
        self.recorded_at = Instant::now();
        Ok(())
    }
}

impl Sink for FileSink {
    fn write(&mut self, time: u64, records: &[Record<'_>]) -> anyhow::Result<()> {
        if time < self.skip_before {
            return Ok(());
        }
        let path = self.lines.path().display().to_string();
        self.lines
            .append(records)
            .with_context(|| format!("cannot write `{path}`"))?;
        if !self.resumable {
            return self
                .lines
                .flush(false)
                .with_context(|| format!("cannot write `{path}`"));
        }
        let first = self.unrecorded.map_or(time, |(first, _)| first);
        self.unrecorded = Some((first, time));
        self.poll()
    }

    fn poll(&mut self) -> anyhow::Result<()> {
        if self.unrecorded.is_some() && self.recorded_at.elapsed() >= FLUSH_EVERY {
            self.record_progress()?;
        }
        Ok(())
    }

    fn unacknowledged(&self) -> Option<u64> {
        self.unrecorded.map(|(first, _)| first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_dataflow::alert::{Transition, TransitionKind};
    use pipe_dataflow::series::Labels;

    fn transition(at: u64) -> Transition {
        Transition {
            rule: "R".into(),
            kind: TransitionKind::Firing,
            at,
            since: at,
            value: 1.0,
            group: Labels::default(),
            labels: Labels::default(),
            annotations: Vec::new(),
        }
    }

    fn sink(path: &std::path::Path, resumable: bool) -> FileSink {
        let settings = FileSettings {
            path: pipe_dsl::plan::Text::Literal(path.display().to_string()),
        };
        let console = crate::sinks::Console::stdout(None);
        let context = SinkContext {
            worker: 0,
            console: &console,
            resumable,
            resumed: None,
            rule_links: &Default::default(),
            health: &Default::default(),
            meters: &Default::default(),
        };
        open("out", &settings, &context).unwrap()
    }

    fn write(sink: &mut FileSink, at: u64) {
        let t = transition(at);
        sink.write(at, &[Record::Transition(&t)]).unwrap();
    }

    #[test]
    fn a_restart_cuts_what_was_not_recorded_and_writes_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/alerts.jsonl");
        let mut first = sink(&path, true);
        write(&mut first, 10);
        first.lines.flush(false).unwrap();
        drop(first);
        // Killed after its first write reached the file, before that write was recorded: the
        // next run cuts it and writes it again.
        let mut first = sink(&path, true);
        write(&mut first, 10);
        assert_eq!(first.unacknowledged(), Some(10), "not recorded yet");
        first.record_progress().unwrap();
        assert_eq!(first.unacknowledged(), None);
        write(&mut first, 20);
        first.lines.flush(false).unwrap();
        drop(first);
        let lines = |path: &std::path::Path| std::fs::read_to_string(path).unwrap().lines().count();
        assert_eq!(
            lines(&path),
            2,
            "time 20 reached the file, not its progress"
        );
        // The restart replays from before 10 (here from the start: killed before a commit): 10 is
        // skipped, 20 is cut and written again.
        let mut second = sink(&path, true);
        write(&mut second, 10);
        write(&mut second, 20);
        second.record_progress().unwrap();
        assert_eq!(lines(&path), 2);
        // A run that does not resume appends and records nothing.
        let mut third = sink(&path, false);
        write(&mut third, 10);
        assert_eq!(third.unacknowledged(), None);
        assert_eq!(lines(&path), 3);
    }
}
