//! Files that outputs are appended to: the file sink's, dead letters of file sources.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Creates the directory `path` is in when it is missing.
pub fn create_parent(path: &Path) -> std::io::Result<()> {
    match path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
}

/// The file at `path`, opened to append to and created (with its directory) when missing.
pub fn open(path: &Path) -> std::io::Result<File> {
    create_parent(path)?;
    OpenOptions::new().create(true).append(true).open(path)
}
