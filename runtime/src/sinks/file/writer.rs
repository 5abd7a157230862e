//! The file sink: JSON lines appended to a file, flushed after each batch of closed windows or
//! transitions, so that what is in the file is whole.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::json::to_json;
use super::records::Record;

/// A JSON-lines file, opened on first write.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl JsonLines {
    /// The file at `path`; nothing is opened until there is something to write.
    pub fn new(path: PathBuf) -> Self {
        JsonLines { path, out: None }
    }

    /// Appends records and flushes.
    pub fn write(&mut self, records: &[Record]) -> std::io::Result<()> {
        if self.out.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.out = Some(BufWriter::new(file));
        }
        let out = self.out.as_mut().expect("opened above");
        for record in records {
            serde_json::to_writer(&mut *out, &to_json(record))?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}
