//! The `pipectl` command line: what operators type, and what they read back.

mod fmt;
mod plan;
mod report;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "pipectl",
    version,
    about = "Fleet monitoring pipelines: check, format, plan and run .pipe files"
)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

/// Whether diagnostics are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When standard error is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check files; exit 0 when all are valid, 1 otherwise.
    Validate {
        /// The `.pipe` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Rewrite files in the canonical layout (`-` reads standard input and writes standard output).
    Fmt {
        /// The `.pipe` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; show what would change and exit 1 if anything would.
        #[arg(long)]
        check: bool,
    },
    /// Print the dataflow a file compiles to.
    Plan {
        /// The `.pipe` file.
        file: PathBuf,
        /// `text` for a tree, `json` for the plan itself.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
}

/// How `pipectl plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A tree for people.
    Text,
    /// The serialised plan.
    Json,
}

/// Runs `pipectl` with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let style = report::style(cli.color);
    let success = match cli.command {
        Command::Validate {
            files,
            deny_warnings,
        } => validate::run(&files, deny_warnings, style),
        Command::Fmt { files, check } => fmt::run(&files, check, style),
        Command::Plan { file, format } => plan::run(&file, format, style),
    };
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
