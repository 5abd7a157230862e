//! A file of refused lines: one JSON object per line, `{"reason": …, "origin": "path:line",
//! "message": …}`, the message as it was (invalid UTF-8 replaced).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::sources::decode::{Destination, Reason};

/// Refused lines appended to a file, opened on the first one.
pub struct DeadLetterFile {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl DeadLetterFile {
    /// The file at `path`.
    pub fn new(path: PathBuf) -> Self {
        DeadLetterFile { path, out: None }
    }
}

impl Destination for DeadLetterFile {
    fn send(
        &mut self,
        reason: Reason,
        _key: Option<&[u8]>,
        message: &[u8],
        origin: &str,
    ) -> anyhow::Result<()> {
        if self.out.is_none() {
            self.out = Some(BufWriter::new(crate::append::open(&self.path)?));
        }
        let out = self.out.as_mut().expect("opened above");
        let line = serde_json::json!({
            "reason": reason.name(),
            "origin": origin,
            "message": String::from_utf8_lossy(message),
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(out) = &mut self.out {
            out.flush()?;
        }
        Ok(())
    }
}
