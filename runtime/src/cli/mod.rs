//! The `pipectl` command line: what operators type, and what they read back.

mod bench;
mod capacity;
mod deploy;
mod fmt;
mod import;
mod loadgen;
mod migrate;
mod plan;
mod report;
mod run;
mod supervise;
mod test;
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
        /// `host:port` of every process of a cluster, in index order: separated by commas, or
        /// a file with one per line.
        #[arg(long, requires = "process")]
        addresses: Option<String>,
        /// Start this many processes on this machine as one cluster and supervise them: when
        /// one dies, all stop and start again, resuming from committed offsets.
        #[arg(long, conflicts_with = "process")]
        local_processes: Option<usize>,
        /// Print the final summary as one JSON object, the last line on standard output.
        #[arg(long)]
        json: bool,
        /// Where a supervised process writes its summary (used by `--local-processes`).
        #[arg(long, hide = true)]
        summary_to: Option<PathBuf>,
        /// Serve the control API on this address, such as `127.0.0.1:7070`: `/metrics`
        /// (Prometheus exposition format), `/healthz`, and what `pipectl deploy` and `status`
        /// use. In a cluster, process 0 serves it. Any address but loopback needs a token.
        #[arg(long, value_name = "ADDRESS")]
        control: Option<std::net::SocketAddr>,
        /// A file holding the bearer token the control API requires (else `PIPE_TOKEN`).
        #[arg(long, requires = "control")]
        token_file: Option<PathBuf>,
    },
    /// Send a simulated fleet's samples to a Kafka topic as the reference JSON message, with
    /// bad messages mixed in; report what the broker acknowledged, how fast, and the latency.
    Loadgen {
        /// Bootstrap servers.
        #[arg(long, env = "KAFKA_BROKERS")]
        brokers: String,
        /// The topic, created when missing.
        #[arg(long)]
        topic: String,
        /// Partitions of a new topic.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Simulated hosts.
        #[arg(long, default_value_t = 1000)]
        hosts: u64,
        /// Metrics per host.
        #[arg(long, default_value_t = 50)]
        metrics: u64,
        /// How often each series reports.
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        interval: u64,
        /// Event time to cover: ending at the last whole minute, or from now with
        /// `--rate realtime`.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        span: u64,
        /// `max` (as fast as the broker takes them), `realtime` (live: each message when
        /// the clock reaches its time) or messages per second.
        #[arg(long, default_value = "max", value_parser = loadgen::parse_rate)]
        rate: crate::loadgen::Rate,
        /// The share of messages replaced by a bad one, cycling through every reason a source
        /// refuses (late: an hour behind; future: an hour ahead; oversize: just over 1 MB).
        #[arg(long, default_value_t = 0.0)]
        bad_fraction: f64,
        /// The pipeline's `max_series`: bad messages then include new series beyond it.
        #[arg(long)]
        max_series: Option<u64>,
        /// The seed of the simulated values.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The producer's `compression.type`: what the totals' bytes per message measure.
        #[arg(long, default_value = "lz4", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
        compression: String,
        /// Print the totals as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run a pipeline with its generators at full speed and no sinks; report throughput,
    /// memory, state per series and alert delay. `pipectl bench storage` measures the storage
    /// tiers instead.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        /// `storage`: the storage tiers.
        #[command(subcommand)]
        what: Option<BenchCommand>,
        /// The `.pipe` file.
        #[arg(required = true)]
        file: Option<PathBuf>,
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
    /// Print the DDL the file's timescale and clickhouse sinks run on their first start (asking
    /// each server what it offers), or apply it with `--apply`.
    Migrate {
        /// The `.pipe` file.
        file: PathBuf,
        /// Run the DDL instead of only printing it.
        #[arg(long)]
        apply: bool,
        /// Do not ask PostgreSQL: `timescaledb` or `postgres` (printing only).
        #[arg(long, value_name = "KIND")]
        postgres: Option<String>,
        /// Do not ask ClickHouse: its version, such as `24.8` (printing only).
        #[arg(long, value_name = "VERSION")]
        clickhouse: Option<String>,
    },
    /// Run the tests of a pipeline's alert rules: its `test` blocks and those of `FILE.test`
    /// beside it. Exit 0 when every expectation holds, 1 otherwise.
    Test {
        /// The `.pipe` file.
        file: PathBuf,
    },
    /// Convert other tools' files to a `.pipe` file.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Print the dataflow a file compiles to; with `--against`, what deploying it to a running
    /// pipeline would change, each change live, additive or replacing.
    Plan {
        /// The `.pipe` file.
        file: PathBuf,
        /// `text` for a tree, `json` for the plan itself.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// The control API of a running pipeline, such as `http://127.0.0.1:7070`.
        #[arg(long, value_name = "URL")]
        against: Option<String>,
        /// A file holding the control API's bearer token (else `PIPE_TOKEN`).
        #[arg(long, requires = "against")]
        token_file: Option<PathBuf>,
    },
    /// Validate a file and apply it to a running pipeline without restarting it: rule changes
    /// at one event-time step on every worker, new rollups and sinks as new dataflows.
    Deploy {
        /// The `.pipe` file.
        file: PathBuf,
        /// The control API of the running pipeline, such as `http://127.0.0.1:7070`.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Allow changes that rebuild running state.
        #[arg(long)]
        replace: bool,
        /// A file holding the control API's bearer token (else `PIPE_TOKEN`).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Plan a fleet month by month from what pipe measured, beside the reference design's
    /// planner: samples/s, storage per tier, pipeline machines, Kafka, PostgreSQL and
    /// ClickHouse nodes, and monthly cost.
    Capacity {
        /// The `.pipe` file: its tiers, retention and rollups.
        file: PathBuf,
        /// Servers now.
        #[arg(long)]
        servers: f64,
        /// Metrics (series) per server.
        #[arg(long)]
        metrics_per_server: f64,
        /// How often each series reports.
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        interval: u64,
        /// Growth per month, such as `15%/month`.
        #[arg(long, default_value = "0%", value_parser = crate::capacity::parse_growth, allow_hyphen_values = true)]
        growth: f64,
        /// Months ahead.
        #[arg(long, default_value_t = 12)]
        months: u32,
        /// The share of every machine left free at peak, such as `50%`.
        #[arg(long, default_value = "50%", value_parser = crate::capacity::parse_growth)]
        headroom: f64,
        /// How long the metrics topic keeps messages (Kafka's `retention.ms`): the longest
        /// outage of the pipeline it can replay. Kafka's own default is 7 days (`168h`).
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        kafka_retention: u64,
        /// Your own figures, in order: a figures file (as the committed
        /// `capacity-figures.toml`), or the JSON that `pipectl run --json`, `pipectl bench
        /// --json`, `pipectl bench storage --json`, `pipectl loadgen --json` or
        /// `scripts/bench-kafka` print, each replacing what it measured.
        #[arg(long, num_args = 1..)]
        figures: Vec<PathBuf>,
        /// A machine catalogue (default: the committed `machines.toml`).
        #[arg(long)]
        machines: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV, one line per month.
        #[arg(long)]
        csv: bool,
        /// `both` side by side (the default), `reference` (the reference design's planner,
        /// exactly) or `measured`.
        #[arg(long, value_enum, default_value_t = CapacityModel::Both)]
        model: CapacityModel,
        /// Draw nodes and cost per month, both plans, into this SVG file.
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
    },
    /// Show a running pipeline's version, event time, sources, sinks and alerts.
    Status {
        /// The control API of the running pipeline.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print the status as one JSON object.
        #[arg(long)]
        json: bool,
        /// A file holding the control API's bearer token (else `PIPE_TOKEN`).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Deploy the version before the running one again.
    Rollback {
        /// The control API of the running pipeline.
        #[arg(long, value_name = "URL")]
        to: String,
        /// A file holding the control API's bearer token (else `PIPE_TOKEN`).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
}

/// What `pipectl bench` measures besides a pipeline.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The storage tiers on the servers `PG_URL` and `CLICKHOUSE_URL` name: rows per second
    /// through the sinks beside INSERT and psql's binary COPY, the raw tier's queries over a
    /// day of a fleet, ClickHouse's inserts and 24-hour query, bytes per row.
    Storage {
        /// Hosts of the day-long data set.
        #[arg(long, default_value_t = 1000)]
        hosts: u64,
        /// Metrics per host.
        #[arg(long, default_value_t = 5)]
        metrics: u64,
        /// Hours of data, ending now, every series every 15 s.
        #[arg(long, default_value_t = 24)]
        hours: u64,
        /// Rows of each throughput run.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Concurrent writers of the many-writer run and of the loads.
        #[arg(long, default_value_t = 10)]
        writers: usize,
        /// Timed runs of each query.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Leave the tables in place afterwards.
        #[arg(long)]
        keep: bool,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `pipectl import` converts.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Prometheus alerting rule files: the rules whose expressions pipe can evaluate with the
    /// same meaning, with `for`, `keep_firing_for`, labels and annotations; every other rule
    /// is listed with its line and the reason. The output validates.
    Prometheus {
        /// Rule files (`groups: [{ rules: [...] }]`).
        #[arg(required = true)]
        rules: Vec<PathBuf>,
        /// `promtool test rules` files whose alert tests become test blocks.
        #[arg(long = "tests", value_name = "FILE")]
        tests: Vec<PathBuf>,
        /// Write the pipeline here instead of to standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The evaluation step when no group sets `interval` (Prometheus's default
        /// `evaluation_interval`).
        #[arg(long, default_value = "1m", value_parser = parse_duration)]
        step: u64,
    },
}

/// Which plans `pipectl capacity` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CapacityModel {
    /// Both, side by side, with the difference.
    Both,
    /// The reference design's planner, exactly.
    Reference,
    /// From pipe's measured figures.
    Measured,
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
        Command::Plan {
            file,
            format,
            against,
            token_file,
        } => match against {
            None => plan::run(&file, format, style),
            Some(url) => remote(url, token_file.as_deref())
                .is_some_and(|remote| deploy::plan_against(&file, &remote, style)),
        },
        Command::Deploy {
            file,
            to,
            dry_run,
            replace,
            token_file,
        } => remote(to, token_file.as_deref())
            .is_some_and(|remote| deploy::deploy(&file, &remote, dry_run, replace, style)),
        Command::Status {
            to,
            json,
            token_file,
        } => remote(to, token_file.as_deref()).is_some_and(|remote| deploy::status(&remote, json)),
        Command::Capacity {
            file,
            servers,
            metrics_per_server,
            interval,
            growth,
            months,
            headroom,
            kafka_retention,
            figures,
            machines,
            json,
            csv,
            model,
            chart,
        } => {
            let fleet = crate::capacity::Fleet {
                servers,
                metrics_per_server,
                interval_seconds: interval as f64 / 1000.0,
                growth,
                months,
                headroom,
                kafka_retention_hours: kafka_retention as f64 / 3_600_000.0,
            };
            let output = match (json, csv) {
                (true, _) => capacity::Output::Json,
                (_, true) => capacity::Output::Csv,
                _ => capacity::Output::Table,
            };
            let printing = capacity::Printing {
                output,
                model: match model {
                    CapacityModel::Both => capacity::Model::Both,
                    CapacityModel::Reference => capacity::Model::Reference,
                    CapacityModel::Measured => capacity::Model::Measured,
                },
                chart,
            };
            capacity::run(&file, &fleet, &figures, machines.as_ref(), &printing, style)
        }
        Command::Rollback { to, token_file } => {
            remote(to, token_file.as_deref()).is_some_and(|remote| deploy::rollback(&remote))
        }
        Command::Test { file } => test::run(&file, style),
        Command::Import {
            what:
                ImportCommand::Prometheus {
                    rules,
                    tests,
                    output,
                    step,
                },
        } => import::run(&rules, &tests, output.as_deref(), step),
        Command::Migrate {
            file,
            apply,
            postgres,
            clickhouse,
        } => {
            init_logging();
            let assume = migrate::Assume {
                postgres,
                clickhouse,
            };
            migrate::run(&file, apply, &assume, style)
        }
        Command::Run {
            file,
            workers,
            run_for,
            process,
            addresses,
            local_processes,
            json,
            summary_to,
            control,
            token_file,
        } => {
            init_logging();
            let token = match read_token(token_file.as_deref()) {
                Ok(token) => token,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(address) = control
                && let Err(error) = crate::control::check_address(address, token.as_deref())
            {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
            let args = run::RunArgs {
                workers: workers.max(1),
                cluster: None,
                run_for,
                json,
                summary_to,
                control: control.map(|address| run::ControlArgs { address, token }),
            };
            match (local_processes, process, addresses) {
                (Some(processes), _, _) => supervise::run(&file, processes.max(1), &args),
                (None, Some(process), Some(addresses)) => match read_addresses(&addresses) {
                    Ok(addresses) => run::run(
                        &file,
                        run::RunArgs {
                            cluster: Some(crate::pipeline::Cluster { process, addresses }),
                            ..args
                        },
                        style,
                    ),
                    Err(error) => {
                        eprintln!("error: {error}");
                        false
                    }
                },
                _ => run::run(&file, args, style),
            }
        }
        Command::Loadgen {
            brokers,
            topic,
            partitions,
            hosts,
            metrics,
            interval,
            span,
            rate,
            bad_fraction,
            max_series,
            seed,
            compression,
            json,
        } => {
            init_logging();
            let options = crate::loadgen::Options {
                brokers,
                topic,
                partitions: partitions.max(1),
                fleet: crate::sources::generator::Fleet {
                    hosts,
                    metrics,
                    interval,
                    seed,
                },
                span,
                rate,
                bad_fraction: bad_fraction.clamp(0.0, 1.0),
                max_series,
                compression,
            };
            loadgen::run(&options, json)
        }
        Command::Bench {
            what:
                Some(BenchCommand::Storage {
                    hosts,
                    metrics,
                    hours,
                    rows,
                    writers,
                    runs,
                    keep,
                    json,
                }),
            ..
        } => {
            init_logging();
            let options = crate::storage_bench::Options {
                hosts: hosts.max(1),
                metrics: metrics.max(1),
                hours: hours.max(1),
                throughput_rows: rows.max(1),
                writers: writers.max(1),
                runs: runs.max(1),
                keep,
            };
            bench::storage(&options, json)
        }
        Command::Bench {
            file,
            workers,
            seconds,
            warmup,
            json,
            ..
        } => {
            init_logging();
            let args = bench::BenchArgs {
                workers: workers.max(1),
                seconds,
                warmup,
                json,
            };
            file.is_some_and(|file| bench::bench(&file, args, style))
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

/// The control API's token: the file's first line, else `PIPE_TOKEN`; `None` for neither.
fn read_token(file: Option<&std::path::Path>) -> Result<Option<String>, String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the token file `{}`: {error}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        None => std::env::var("PIPE_TOKEN").unwrap_or_default(),
    };
    Ok((!token.is_empty()).then_some(token))
}

/// A running pipeline's control API and its token; `None` after printing why not.
fn remote(url: String, token_file: Option<&std::path::Path>) -> Option<deploy::Remote> {
    match read_token(token_file) {
        Ok(token) => Some(deploy::Remote { url, token }),
        Err(error) => {
            eprintln!("error: {error}");
            None
        }
    }
}

/// `host:port` list: separated by commas, or a file with one per line (`#` comments).
fn read_addresses(text: &str) -> Result<Vec<String>, String> {
    let path = std::path::Path::new(text);
    let listed: Vec<String> = if path.is_file() {
        std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read `{text}`: {error}"))?
            .lines()
            .map(|line| {
                line.split('#')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .filter(|line| !line.is_empty())
            .collect()
    } else {
        text.split(',').map(|a| a.trim().to_string()).collect()
    };
    if listed.iter().any(|address| !address.contains(':')) {
        return Err(format!(
            "`--addresses {text}`: expected `host:port` of every process, separated by commas or one per line in a file"
        ));
    }
    Ok(listed)
}

/// Logs to standard error; `RUST_LOG` sets the level (`info` by default, without the notices
/// PostgreSQL sends for every `IF NOT EXISTS` that found its table).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_postgres=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
