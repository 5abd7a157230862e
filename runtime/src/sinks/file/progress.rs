//! How far a file sink has written, recorded beside the file (`PATH.progress`), for runs whose
//! sources resume after a restart: the first event time not yet written and the file's length
//! then. On restart the file is cut back to that length (a partial write is gone) and nothing
//! before that time is written again, so that each record is in the file once however the run
//! stopped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file sink's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Every record of an event time before this is in the file.
    pub through: u64,
    /// The file's length when it was.
    pub bytes: u64,
}

/// Where the progress of the file at `path` is kept.
pub fn path_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".progress");
    PathBuf::from(name)
}

impl Progress {
    /// The progress recorded for the file at `path`, when there is one.
    pub fn read(path: &Path) -> Option<Progress> {
        let text = std::fs::read_to_string(path_of(path)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Records that nothing is written yet beyond what the file at `path` holds now (nothing,
    /// when it does not exist).
    pub fn starting(path: &Path) -> std::io::Result<()> {
        crate::append::create_parent(path)?;
        let bytes = std::fs::metadata(path).map_or(0, |file| file.len());
        Progress { through: 0, bytes }.write(path)
    }

    /// Records this progress of the file at `path`: written aside, then renamed over the
    /// last, so that it is never half written.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let target = path_of(path);
        let mut temporary = target.as_os_str().to_os_string();
        temporary.push(".tmp");
        std::fs::write(&temporary, serde_json::to_vec(self)?)?;
        std::fs::rename(&temporary, &target)
    }
}
