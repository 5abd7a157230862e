//! Reading pipeline files and showing their diagnostics on standard error.

use std::io::IsTerminal;
use std::path::Path;

use pipe_dsl::diagnostics::{Style, render, summary};
use pipe_dsl::{Diagnostic, Plan, compile_with_process_env};

use super::ColorChoice;

/// The diagnostic style for this terminal and choice.
pub fn style(choice: ColorChoice) -> Style {
    let colored = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    if colored {
        Style::Colored
    } else {
        Style::Plain
    }
}

/// The text of a pipeline file, or an error printed as pipectl prints all errors.
pub fn read(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) => {
            eprintln!("error: cannot read `{}`: {error}", path.display());
            None
        }
    }
}

/// The plan of a pipeline file, its diagnostics printed; `None` when it cannot be read or is not
/// valid. What `plan`, `run` and `bench` start from.
pub fn plan(path: &Path, style: Style) -> Option<Plan> {
    let source = read(path)?;
    let compiled = compile_with_process_env(&source);
    print(path, &source, &compiled.diagnostics, style);
    compiled.plan
}

/// Prints a file's diagnostics and the closing summary line.
pub fn print(path: &Path, source: &str, diagnostics: &[Diagnostic], style: Style) {
    if diagnostics.is_empty() {
        return;
    }
    let path = path.display().to_string();
    eprint!("{}", render(diagnostics, &path, source, style));
    eprintln!("{}", summary(diagnostics, &path));
}
