//! `pipectl capacity`: both plans month by month as a table, JSON or CSV.

use std::path::{Path, PathBuf};

use pipe_dsl::diagnostics::Style;

use super::report;
use crate::capacity::figures::{self, DEFAULT_FIGURES, DEFAULT_MACHINES};
use crate::capacity::{Fleet, Report, plan};
use crate::status::thousands;

/// How to print the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A table for people.
    Table,
    /// One JSON object.
    Json,
    /// One line per month.
    Csv,
}

/// Plans the pipeline of `path`; false when an input is invalid.
pub fn run(
    path: &Path,
    fleet: &Fleet,
    figures_files: &[PathBuf],
    machines_file: Option<&PathBuf>,
    output: Output,
    chart: Option<&Path>,
    style: Style,
) -> bool {
    let Some(pipeline) = report::plan(path, style) else {
        return false;
    };
    let read = |file: Option<&PathBuf>, default: &str| -> anyhow::Result<(String, String)> {
        match file {
            Some(file) => Ok((
                std::fs::read_to_string(file).map_err(|error| {
                    anyhow::anyhow!("cannot read `{}`: {error}", file.display())
                })?,
                file.display().to_string(),
            )),
            None => Ok((default.to_string(), "the default".to_string())),
        }
    };
    let planned = (|| -> anyhow::Result<Report> {
        let mut figures = figures::figures(DEFAULT_FIGURES, "the default figures")?;
        for file in figures_files {
            let (text, name) = read(Some(file), "")?;
            figures = figures::with_runs(figures, &text, &name)?;
        }
        let (text, name) = read(machines_file, DEFAULT_MACHINES)?;
        let machines = figures::machines(&text, &name)?;
        plan(&pipeline, fleet, &figures, &machines)
    })();
    let report = match planned {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error:#}");
            return false;
        }
    };
    if let Some(chart) = chart {
        if let Err(error) = crate::capacity::chart::draw(&report, chart) {
            eprintln!("error: {error:#}");
            return false;
        }
        eprintln!("wrote {}", chart.display());
    }
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string(&report).expect("a report serialises")
        ),
        Output::Csv => print!("{}", csv(&report)),
        Output::Table => print!("{}", table(&report)),
    }
    true
}

const CSV_HEADER: &str = "month,servers,samples_per_second,raw_gb_per_day,raw_stored_gb,rollup_stored_gb,pipeline_nodes,kafka_partitions,kafka_nodes,postgres_nodes,clickhouse_nodes,monthly_usd,reference_kafka_nodes,reference_timescale_nodes,reference_clickhouse_nodes,reference_monthly_usd,difference_usd";

fn csv(report: &Report) -> String {
    let mut text = format!("{CSV_HEADER}\n");
    for month in &report.months {
        let (m, r) = (&month.measured, &month.reference);
        text.push_str(&format!(
            "{},{},{},{:.2},{:.1},{:.1},{},{},{},{},{},{:.0},{},{},{},{},{:.0}\n",
            month.month,
            m.servers,
            m.samples_per_second,
            m.raw_gb_per_day,
            m.raw_stored_gb,
            m.rollup_stored_gb,
            m.pipeline.nodes,
            m.kafka_partitions,
            m.kafka.nodes,
            m.postgres.nodes,
            m.clickhouse.nodes,
            m.monthly_usd,
            r.kafka_nodes,
            r.timescale_nodes,
            r.clickhouse_nodes,
            r.monthly_usd,
            month.difference_usd
        ));
    }
    text
}

fn table(report: &Report) -> String {
    let mut text = format!(
        "measured: figures from {}; {} machines at {:.0}% headroom\nreference: the reference design's planner (200 B/sample; Kafka 150 K/s, TimescaleDB 200 K/s, ClickHouse 50 K/s per node)\n\n",
        report.figures_from,
        report.machines.pipeline.name,
        report.fleet.headroom * 100.0
    );
    text.push_str(&format!(
        "{:>5} {:>9} {:>11} {:>9} | {:>4} {:>5} {:>3} {:>3} {:>9} | {:>5} {:>3} {:>3} {:>9} | {:>10}\n",
        "month", "servers", "samples/s", "raw GB/d", "pipe", "kafka", "pg", "ch", "$/month", "kafka", "ts", "ch", "$/month", "difference"
    ));
    text.push_str(&format!(
        "{:>37} | {:>31} | {:>25} |\n",
        "", "measured", "reference"
    ));
    for month in &report.months {
        let (m, r) = (&month.measured, &month.reference);
        text.push_str(&format!(
            "{:>5} {:>9} {:>11} {:>9.1} | {:>4} {:>5} {:>3} {:>3} {:>9} | {:>5} {:>3} {:>3} {:>9} | {:>10}\n",
            month.month,
            thousands(m.servers),
            thousands(m.samples_per_second),
            m.raw_gb_per_day,
            m.pipeline.nodes,
            m.kafka.nodes,
            m.postgres.nodes,
            m.clickhouse.nodes,
            thousands(m.monthly_usd.round() as u64),
            r.kafka_nodes,
            r.timescale_nodes,
            r.clickhouse_nodes,
            thousands(r.monthly_usd),
            signed(month.difference_usd),
        ));
    }
    text
}

fn signed(usd: f64) -> String {
    let magnitude = thousands(usd.abs().round() as u64);
    if usd < 0.0 {
        format!("-{magnitude}")
    } else {
        format!("+{magnitude}")
    }
}
