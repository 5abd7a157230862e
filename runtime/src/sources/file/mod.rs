//! The file source: one message per line, through the same decoders, admission and dead-letter
//! accounting as Kafka. Read once to the end, or followed as it grows (`follow = true`, like
//! `tail -f`): replays, backfills and tests without a broker. Worker 0 reads the file; the
//! dataflow spreads its records by placement. It is not read again after a restart.

mod dead_letter;

use std::fs::File;
use std::io::{BufRead, BufReader};

use anyhow::Context as _;
use pipe_dataflow::SourceRecord;
use pipe_dsl::plan::FileSource as FileSettings;

use self::dead_letter::DeadLetterFile;
use super::decode::{DeadLetters, Decoder, Destination, Dictionary};
use super::partition::{Partition, watermark};
use super::{Context, Poll, Source};

/// Lines taken per poll at most, so that the dataflow runs between them.
const LINES_PER_POLL: usize = 8192;

/// How long to wait for a followed file to grow.
const WAIT_MS: u64 = 20;

/// One worker's share of a file: all of it on worker 0, nothing elsewhere.
pub struct FileSource {
    path: String,
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
    /// The file as one stream of messages, its line numbers as offsets.
    lines: Partition,
    number: i64,
    decoder: Decoder,
    dead_letters: DeadLetters,
    follow: bool,
    lateness: u64,
    idle_timeout: u64,
    watermark: u64,
    newest: Option<u64>,
}

impl FileSource {
    /// Opens the file on worker 0.
    pub fn open(settings: &FileSettings, context: &Context) -> anyhow::Result<Self> {
        let name = &context.source.name;
        let resolve = |text: &pipe_dsl::plan::Text, property: &str| {
            text.resolve_from_process().with_context(|| {
                format!(
                    "source `{name}`: `{property}` reads an environment variable that is not set"
                )
            })
        };
        let path = resolve(&settings.path, "path")?;
        let reader = if context.worker == 0 {
            let file = File::open(&path)
                .with_context(|| format!("source `{name}`: cannot open `{path}`"))?;
            Some(BufReader::with_capacity(1 << 20, file))
        } else {
            None
        };
        let destination = match (&settings.dead_letter, context.worker) {
            (Some(text), 0) => {
                let path = resolve(text, "dead_letter")?;
                Some(Box::new(DeadLetterFile::new(path.into())) as Box<dyn Destination>)
            }
            _ => None,
        };
        let dictionary = Dictionary::new(
            context.placement(),
            context.source.series_ttl.map(|ttl| ttl.millis()),
            context.series_limit(settings.admission.max_series),
        );
        Ok(FileSource {
            path,
            reader,
            line: Vec::new(),
            lines: Partition::new(0, Some(0), 0, context.now_ms),
            number: 0,
            decoder: Decoder::new(settings.admission.clone(), dictionary),
            dead_letters: DeadLetters::new(name, context.shared.dead_letters.clone(), destination),
            follow: settings.follow,
            lateness: context.source.lateness.millis(),
            idle_timeout: settings.idle_timeout.millis(),
            watermark: 0,
            newest: None,
        })
    }

    fn take_line(&mut self, now: u64, out: &mut Vec<SourceRecord>) {
        let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.number += 1;
        if text.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let (lines, number, lateness, input) =
            (&mut self.lines, self.number, self.lateness, self.watermark);
        lines.consumed(number, now);
        let newest = &mut self.newest;
        let decoded = self.decoder.decode(
            text,
            &mut |ts| {
                let admitted = lines.admit(ts, lateness, input, now);
                if admitted == Ok(true) {
                    lines.admitted(ts, number);
                    *newest = Some(newest.map_or(ts, |n: u64| n.max(ts)));
                }
                admitted
            },
            out,
        );
        if let Some(reason) = decoded.refused {
            let origin = format!("{}:{number}", self.path);
            self.dead_letters.refuse(reason, None, text, &origin);
        }
    }
}

impl Source for FileSource {
    fn placed(&self) -> bool {
        false
    }

    fn announce_again(&mut self) {
        self.decoder.dictionary().announce_again();
    }

    fn poll(&mut self, now: u64, out: &mut Vec<SourceRecord>) -> anyhow::Result<Poll> {
        let Some(mut reader) = self.reader.take() else {
            return Ok(Poll::Finished { end: 0 });
        };
        let mut taken = 0;
        let mut at_end = false;
        while taken < LINES_PER_POLL {
            let read = match reader.read_until(b'\n', &mut self.line) {
                Ok(read) => read,
                Err(error) => {
                    self.reader = Some(reader);
                    return Err(error).with_context(|| format!("cannot read `{}`", self.path));
                }
            };
            // A followed file's last line may still be being written: wait for its newline.
            let partial = !self.line.ends_with(b"\n");
            if read == 0 || (partial && self.follow) {
                at_end = true;
                break;
            }
            self.take_line(now, out);
            self.line.clear();
            taken += 1;
            if partial {
                at_end = true;
                break;
            }
        }
        self.reader = Some(reader);
        if at_end && !self.follow {
            self.dead_letters.flush()?;
            let end = self
                .newest
                .map_or(self.watermark, |n| n + 1)
                .max(self.watermark);
            return Ok(Poll::Finished { end });
        }
        if at_end {
            self.lines.reached_end();
        }
        let lines = std::slice::from_ref(&self.lines);
        self.watermark =
            watermark(lines, self.lateness, self.idle_timeout, now).max(self.watermark);
        self.decoder.dictionary().forget_quiet(self.watermark);
        Ok(if at_end {
            self.dead_letters.flush()?;
            Poll::Waiting {
                watermark: self.watermark,
                until: now + WAIT_MS,
            }
        } else {
            Poll::Ready {
                watermark: self.watermark,
            }
        })
    }
}
