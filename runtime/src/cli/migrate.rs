//! `pipectl migrate`: the DDL the storage sinks of a file run on their first start, printed for
//! an operator to review, or applied. Each server is asked what it offers (TimescaleDB or not,
//! ClickHouse's version) unless the flags say, so that the DDL printed is the DDL the sink runs.

use std::io::Write as _;
use std::path::Path;

use ::clickhouse::Compression;
use anyhow::Context as _;
use pipe_dsl::diagnostics::Style;
use pipe_dsl::plan::SinkConnector;
use tokio_postgres::NoTls;

use super::report;
use crate::sinks::clickhouse::{self, schema as ch_schema};
use crate::sinks::timescale::{self, schema as pg_schema, writer as pg_writer};

/// What to assume instead of asking the servers.
#[derive(Debug, Clone, Default)]
pub struct Assume {
    /// `timescaledb` or `postgres`.
    pub postgres: Option<String>,
    /// A ClickHouse version such as `24.8`.
    pub clickhouse: Option<String>,
}

/// Prints, or applies, the DDL of every storage sink of `path`; false on any failure.
pub fn run(path: &Path, apply: bool, assume: &Assume, style: Style) -> bool {
    let Some(plan) = report::plan(path, style) else {
        return false;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return false;
        }
    };
    let mut ok = true;
    let mut any = false;
    for sink in &plan.sinks {
        let what = format!("sink `{}`", sink.name);
        let result = match &sink.connector {
            SinkConnector::Timescale(settings) => {
                any = true;
                runtime.block_on(postgres(&what, settings, apply, assume))
            }
            SinkConnector::ClickHouse(settings) => {
                any = true;
                runtime.block_on(clickhouse(&what, settings, apply, assume))
            }
            _ => continue,
        };
        if let Err(error) = result {
            eprintln!("error: {error:#}");
            ok = false;
        }
    }
    if !any {
        eprintln!(
            "{}: no timescale or clickhouse sink: nothing to migrate",
            path.display()
        );
    }
    ok
}

/// Prints the statements; a reader that went away (`| head`) is not an error.
fn print(what: &str, about: &str, statements: &[String], applied: bool) {
    let mut out = std::io::stdout().lock();
    let mut text = format!("-- {what}: {about}\n");
    for statement in statements {
        text.push_str(&format!("{statement};\n\n"));
    }
    if applied {
        text.push_str(&format!("-- {what}: applied\n\n"));
    }
    let _ = out.write_all(text.as_bytes());
}

async fn postgres(
    what: &str,
    settings: &pipe_dsl::plan::TimescaleSink,
    apply: bool,
    assume: &Assume,
) -> anyhow::Result<()> {
    let target = timescale::target(what, settings, true)?;
    let assumed = match assume.postgres.as_deref() {
        Some("timescaledb") => Some(pg_schema::Flavor::TimescaleDb),
        Some("postgres") => Some(pg_schema::Flavor::Native),
        Some(other) => anyhow::bail!("`--postgres {other}`: expected `timescaledb` or `postgres`"),
        None => None,
    };
    let client = match (assumed, apply) {
        (Some(_), false) => None,
        _ => {
            let (client, connection) = target.config.connect(NoTls).await.map_err(|error| {
                anyhow::anyhow!(
                    "{what}: cannot reach PostgreSQL ({}); start it, or say what it is with `--postgres timescaledb|postgres`",
                    pg_writer::describe(&error)
                )
            })?;
            tokio::spawn(connection);
            Some(client)
        }
    };
    let flavor = match (assumed, &client) {
        (Some(flavor), _) => flavor,
        (None, Some(client)) => pg_writer::detect(client)
            .await
            .map_err(|error| anyhow::anyhow!("{what}: {}", pg_writer::describe(&error)))?,
        (None, None) => unreachable!("a client is opened when nothing is assumed"),
    };
    let statements = pg_schema::create(&target.table, settings, flavor);
    if let (true, Some(client)) = (apply, &client) {
        for statement in &statements {
            client
                .batch_execute(statement)
                .await
                .map_err(|error| anyhow::anyhow!("{what}: {}", pg_writer::describe(&error)))
                .with_context(|| format!("while running: {statement}"))?;
        }
    }
    print(what, &flavor.to_string(), &statements, apply);
    Ok(())
}

async fn clickhouse(
    what: &str,
    settings: &pipe_dsl::plan::ClickHouseSink,
    apply: bool,
    assume: &Assume,
) -> anyhow::Result<()> {
    let target = clickhouse::target(what, settings, true)?;
    let client = target.client(Compression::None);
    let version = match (&assume.clickhouse, apply) {
        (Some(text), false) => ch_schema::Version::parse(text).with_context(|| {
            format!("`--clickhouse {text}`: expected a version such as `24.8`")
        })?,
        _ => clickhouse::writer::version(&client).await.map_err(|error| {
            anyhow::anyhow!(
                "{what}: cannot reach ClickHouse ({error}); start it, or say its version with `--clickhouse 24.8`"
            )
        })?,
    };
    let statements = ch_schema::create(&target.table, settings, version);
    if apply {
        for statement in &statements {
            client
                .query(statement)
                .execute()
                .await
                .with_context(|| format!("{what}: while running: {statement}"))?;
        }
    }
    let about = if version.is_modern() {
        format!("ClickHouse {version}: TTL and codecs")
    } else {
        format!("ClickHouse {version}: no TTL (the sink drops expired partitions) and no codecs")
    };
    print(what, &about, &statements, apply);
    Ok(())
}
