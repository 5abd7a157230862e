//! `pipectl fmt`: rewrites files in the canonical layout, or with `--check` shows the changes.

use std::io::Read;
use std::path::{Path, PathBuf};

use pipe_dsl::diagnostics::Style;
use pipe_dsl::format::format;
use similar::TextDiff;

use super::report;

/// Formats each file; true when nothing failed (and, with `check`, nothing would change).
pub fn run(files: &[PathBuf], check: bool, style: Style) -> bool {
    let mut success = true;
    for path in files {
        success &= if path == Path::new("-") {
            stdin_to_stdout(style)
        } else {
            file(path, check, style)
        };
    }
    success
}

fn file(path: &Path, check: bool, style: Style) -> bool {
    let Some(source) = report::read(path) else {
        return false;
    };
    let formatted = match format(&source) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            report::print(path, &source, &diagnostics, style);
            return false;
        }
    };
    if formatted == source {
        return true;
    }
    if check {
        let name = path.display().to_string();
        print!(
            "{}",
            TextDiff::from_lines(&source, &formatted)
                .unified_diff()
                .header(&name, &format!("{name} (formatted)"))
        );
        return false;
    }
    match write_atomically(path, &formatted) {
        Ok(()) => {
            eprintln!("formatted {}", path.display());
            true
        }
        Err(error) => {
            eprintln!("error: cannot write `{}`: {error}", path.display());
            false
        }
    }
}

fn stdin_to_stdout(style: Style) -> bool {
    let mut source = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut source) {
        eprintln!("error: cannot read standard input: {error}");
        return false;
    }
    match format(&source) {
        Ok(formatted) => {
            print!("{formatted}");
            true
        }
        Err(diagnostics) => {
            report::print(Path::new("<stdin>"), &source, &diagnostics, style);
            false
        }
    }
}

/// Writes beside the file and renames over it, so an interrupted run never leaves half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".pipectl-fmt");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}
