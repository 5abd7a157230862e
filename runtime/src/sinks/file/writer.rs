//! JSON lines appended to a file, one object per sample, closed window or alert transition.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::sinks::json;
use crate::sinks::records::Record;

/// A JSON-lines file, opened on first write.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// The file's length once everything written is flushed.
    bytes: u64,
    /// Cut the file to this length when it is opened.
    truncate_to: Option<u64>,
}

impl JsonLines {
    /// The file at `path`; nothing is opened until there is something to write.
    pub fn new(path: PathBuf) -> Self {
        JsonLines {
            path,
            out: None,
            bytes: 0,
            truncate_to: None,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cuts what follows `bytes` off when the file is opened: what a stopped run wrote after
    /// its last record of progress.
    pub fn truncate_to(&mut self, bytes: u64) {
        self.truncate_to = Some(bytes);
    }

    /// Appends records, without flushing.
    pub fn append(&mut self, records: &[Record]) -> std::io::Result<()> {
        if self.out.is_none() {
            let opened = self.open()?;
            self.out = Some(opened);
        }
        let out = self.out.as_mut().expect("opened above");
        let mut line = Vec::with_capacity(256);
        for record in records {
            line.clear();
            json::write(record, &mut line)?;
            line.push(b'\n');
            out.write_all(&line)?;
            self.bytes += line.len() as u64;
        }
        Ok(())
    }

    /// Flushes what was appended, to the operating system, and to the disk when `sync`.
    pub fn flush(&mut self, sync: bool) -> std::io::Result<()> {
        if let Some(out) = &mut self.out {
            out.flush()?;
            if sync {
                out.get_ref().sync_data()?;
            }
        }
        Ok(())
    }

    /// The file's length with everything appended.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn open(&mut self) -> std::io::Result<BufWriter<File>> {
        let file = crate::append::open(&self.path)?;
        let length = file.metadata()?.len();
        self.bytes = match self.truncate_to.take() {
            Some(bytes) if bytes < length => {
                file.set_len(bytes)?;
                bytes
            }
            _ => length,
        };
        Ok(BufWriter::with_capacity(1 << 16, file))
    }
}
