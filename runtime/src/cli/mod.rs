//! The `pipectl` command line: what operators type, and what they read back.

mod bench;
mod fmt;
mod plan;
mod report;
mod run;
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
    /// Run a pipeline until its sources end or Ctrl-C, with a live status line.
    Run {
        /// The `.pipe` file.
        file: PathBuf,
        /// Worker threads in this process.
        #[arg(short, long, default_value_t = 1)]
        workers: usize,
        /// Stop the sources after this much event time (such as `2h`), then finish every window.
        #[arg(long = "for", value_parser = parse_duration)]
        run_for: Option<u64>,
        /// This process's index in a cluster (with `--addresses`).
        #[arg(long, requires = "addresses")]
        process: Option<usize>,
        /// `host:port` of every process of a cluster, in index order, separated by commas.
        #[arg(long, value_delimiter = ',', requires = "process")]
        addresses: Vec<String>,
    },
    /// Run a pipeline with its generators at full speed and no sinks; report throughput,
    /// memory, state per series and alert delay.
    Bench {
        /// The `.pipe` file.
        file: PathBuf,
        /// Worker threads.
        #[arg(short, long, default_value_t = 1)]
        workers: usize,
        /// Seconds to measure.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Seconds to run before measuring.
        #[arg(long, default_value_t = 5)]
        warmup: u64,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
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
        Command::Run {
            file,
            workers,
            run_for,
            process,
            addresses,
        } => {
            init_logging();
            let cluster = process.map(|process| crate::pipeline::Cluster { process, addresses });
            run::run(
                &file,
                run::RunArgs {
                    workers: workers.max(1),
                    cluster,
                    run_for,
                },
                style,
            )
        }
        Command::Bench {
            file,
            workers,
            seconds,
            warmup,
            json,
        } => {
            init_logging();
            let args = bench::BenchArgs {
                workers: workers.max(1),
                seconds,
                warmup,
                json,
            };
            bench::bench(&file, args, style)
        }
    };
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A duration as the language writes it, such as `90s` or `1h30m`.
fn parse_duration(text: &str) -> Result<u64, String> {
    match pipe_dsl::syntax::parse_value(text).map(|value| value.kind) {
        Some(pipe_dsl::syntax::ast::ValueKind::Duration { millis, .. }) if millis > 0 => Ok(millis),
        _ => Err(format!("`{text}` is not a duration such as `15m` or `2h`")),
    }
}

/// Logs to standard error; `RUST_LOG` sets the level (`info` by default).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
