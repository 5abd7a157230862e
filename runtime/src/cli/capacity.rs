//! `pipectl capacity`: both plans month by month as a table, JSON or CSV.

use std::path::{Path, PathBuf};

use pipe_dsl::diagnostics::Style;

use super::report;
use crate::capacity::figures::{self, DEFAULT_FIGURES, DEFAULT_MACHINES};
use crate::capacity::measured::Role;
use crate::capacity::{Fleet, Month, Report, plan};
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

/// What to print, and where to draw.
#[derive(Debug, Clone)]
pub struct Printing {
    /// Table, JSON or CSV.
    pub output: Output,
    /// Which plans.
    pub model: Model,
    /// An SVG file to draw both plans into.
    pub chart: Option<PathBuf>,
}

/// Plans the pipeline of `path`; false when an input is invalid.
pub fn run(
    path: &Path,
    fleet: &Fleet,
    figures_files: &[PathBuf],
    machines_file: Option<&PathBuf>,
    printing: &Printing,
    style: Style,
) -> bool {
    let Some(pipeline) = report::plan(path, style) else {
        return false;
    };
    let read = |file: &PathBuf| -> anyhow::Result<(String, String)> {
        let text = std::fs::read_to_string(file)
            .map_err(|error| anyhow::anyhow!("cannot read `{}`: {error}", file.display()))?;
        Ok((text, file.display().to_string()))
    };
    let planned = (|| -> anyhow::Result<Report> {
        let mut figures = figures::figures(DEFAULT_FIGURES, "the default figures")?;
        for file in figures_files {
            let (text, name) = read(file)?;
            figures = figures::with_runs(figures, &text, &name)?;
        }
        let machines = match machines_file {
            Some(file) => {
                let (text, name) = read(file)?;
                figures::machines(&text, &name)?
            }
            None => figures::machines(DEFAULT_MACHINES, "the default machines")?,
        };
        plan(&pipeline, fleet, &figures, &machines)
    })();
    let report = match planned {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error:#}");
            return false;
        }
    };
    let Printing {
        output,
        model,
        chart,
    } = printing;
    let (output, model) = (*output, *model);
    if let Some(chart) = chart {
        if let Err(error) = crate::capacity::chart::draw(&report, chart) {
            eprintln!("error: {error:#}");
            return false;
        }
        eprintln!("wrote {}", chart.display());
    }
    match output {
        Output::Json => println!("{}", json(&report, model)),
        Output::Csv => print!("{}", csv(&report, model)),
        Output::Table => print!("{}", table(&report, model)),
    }
    true
}

/// Which plans to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Both, side by side, with the difference.
    Both,
    /// The reference design's planner only.
    Reference,
    /// pipe's measured plan only.
    Measured,
}

impl Model {
    fn measured(self) -> bool {
        self != Model::Reference
    }

    fn reference(self) -> bool {
        self != Model::Measured
    }
}

/// The months as JSON, with only the plans `model` asks for.
fn json(report: &Report, model: Model) -> serde_json::Value {
    let mut value = serde_json::to_value(report).expect("a report serialises");
    for month in value["months"].as_array_mut().into_iter().flatten() {
        if let Some(month) = month.as_object_mut() {
            if !model.measured() {
                month.remove("measured");
            }
            if !model.reference() {
                month.remove("reference");
            }
            if model != Model::Both {
                month.remove("difference_usd");
            }
        }
    }
    value
}

fn csv(report: &Report, model: Model) -> String {
    let mut header = vec!["month", "servers", "samples_per_second"];
    if model.measured() {
        header.extend([
            "raw_gb_per_day",
            "raw_stored_gb",
            "rollup_stored_gb",
            "kafka_stored_gb",
            "pipeline_cores",
            "pipeline_memory_gb",
            "pipeline_nodes",
            "kafka_partitions",
            "kafka_nodes",
            "postgres_nodes",
            "clickhouse_nodes",
            "monthly_usd",
        ]);
    }
    if model.reference() {
        header.extend([
            "reference_raw_gb_per_day",
            "reference_kafka_nodes",
            "reference_timescale_nodes",
            "reference_clickhouse_nodes",
            "reference_monthly_usd",
        ]);
    }
    if model == Model::Both {
        header.push("difference_usd");
    }
    let mut text = header.join(",") + "\n";
    for month in &report.months {
        let (m, r) = (&month.measured, &month.reference);
        let mut fields = vec![
            month.month.to_string(),
            r.servers.to_string(),
            r.samples_per_second.to_string(),
        ];
        if model.measured() {
            fields.extend([
                format!("{:.2}", m.raw_gb_per_day),
                format!("{:.1}", m.raw_stored_gb),
                format!("{:.1}", m.rollup_stored_gb),
                format!("{:.1}", m.kafka_stored_gb),
                format!("{:.2}", m.pipeline_cores),
                format!("{:.1}", m.pipeline_memory_gb),
                m.pipeline.nodes.to_string(),
                m.kafka_partitions.to_string(),
                m.kafka.nodes.to_string(),
                m.postgres.nodes.to_string(),
                m.clickhouse.nodes.to_string(),
                format!("{:.0}", m.monthly_usd),
            ]);
        }
        if model.reference() {
            fields.extend([
                format!("{:.2}", r.raw_gb_per_day),
                r.kafka_nodes.to_string(),
                r.timescale_nodes.to_string(),
                r.clickhouse_nodes.to_string(),
                r.monthly_usd.to_string(),
            ]);
        }
        if model == Model::Both {
            fields.push(format!("{:.0}", month.difference_usd));
        }
        text.push_str(&(fields.join(",") + "\n"));
    }
    text
}

fn table(report: &Report, model: Model) -> String {
    let mut text = String::new();
    if model.measured() {
        let machines = &report.machines;
        text.push_str(&format!(
            "measured: figures from {}; {:.0}% headroom; Kafka keeps {}\n\
             \x20 machines: pipeline {}, kafka {}, postgres {}, clickhouse {}\n",
            report.figures_from,
            report.fleet.headroom * 100.0,
            hours(report.fleet.kafka_retention_hours),
            machines.pipeline.name,
            machines.kafka.name,
            machines.postgres.name,
            machines.clickhouse.name,
        ));
    }
    if model.reference() {
        text.push_str("reference: the reference design's planner (200 B/sample; Kafka 150 K/s, TimescaleDB 200 K/s, ClickHouse 50 K/s per node)\n");
    }
    text.push('\n');
    let mut head = format!("{:>5} {:>9} {:>11}", "month", "servers", "samples/s");
    let mut over = format!("{:>27}", "");
    if model.measured() {
        head.push_str(&format!(
            " | {:>9} {:>4} {:>5} {:>3} {:>3} {:>9}",
            "raw GB/d", "pipe", "kafka", "pg", "ch", "$/month"
        ));
        over.push_str(&format!(" | {:>41}", "measured"));
    }
    if model.reference() {
        head.push_str(&format!(
            " | {:>9} {:>5} {:>3} {:>3} {:>9}",
            "raw GB/d", "kafka", "ts", "ch", "$/month"
        ));
        over.push_str(&format!(" | {:>35}", "reference"));
    }
    if model == Model::Both {
        head.push_str(&format!(" | {:>10}", "difference"));
        over.push_str(" |");
    }
    text.push_str(&format!("{head}\n{over}\n"));
    for month in &report.months {
        let (m, r) = (&month.measured, &month.reference);
        let mut line = format!(
            "{:>5} {:>9} {:>11}",
            month.month,
            thousands(r.servers),
            thousands(r.samples_per_second)
        );
        if model.measured() {
            line.push_str(&format!(
                " | {:>9.1} {:>4} {:>5} {:>3} {:>3} {:>9}",
                m.raw_gb_per_day,
                m.pipeline.nodes,
                m.kafka.nodes,
                m.postgres.nodes,
                m.clickhouse.nodes,
                thousands(m.monthly_usd.round() as u64)
            ));
        }
        if model.reference() {
            line.push_str(&format!(
                " | {:>9.1} {:>5} {:>3} {:>3} {:>9}",
                r.raw_gb_per_day,
                r.kafka_nodes,
                r.timescale_nodes,
                r.clickhouse_nodes,
                thousands(r.monthly_usd)
            ));
        }
        if model == Model::Both {
            line.push_str(&format!(" | {:>10}", signed(month.difference_usd)));
        }
        text.push_str(&(line + "\n"));
    }
    if model.measured() {
        let months = &report.months;
        for month in [months.first(), months.last()].into_iter().flatten() {
            text.push_str(&bounds(month));
        }
    }
    text
}

/// What decided each role's nodes in `month`, and what it holds.
fn bounds(month: &Month) -> String {
    let m = &month.measured;
    let role = |name: &str, role: &Role, what: String| {
        format!(
            "  {name:<10} {:>4} nodes, by {:<10} {what}\n",
            role.nodes, role.bound_by
        )
    };
    [
        format!("\nmonth {}, measured:\n", month.month),
        role(
            "pipeline",
            &m.pipeline,
            format!(
                "{:.1} cores, {:.1} GiB with headroom",
                m.pipeline_cores, m.pipeline_memory_gb
            ),
        ),
        role(
            "kafka",
            &m.kafka,
            format!(
                "{} partitions, {} GiB held (every replica)",
                m.kafka_partitions,
                thousands(m.kafka_stored_gb.round() as u64)
            ),
        ),
        role(
            "postgres",
            &m.postgres,
            format!(
                "{} GiB of raw rows held",
                thousands(m.raw_stored_gb.round() as u64)
            ),
        ),
        role(
            "clickhouse",
            &m.clickhouse,
            format!(
                "{} GiB of windows held",
                thousands(m.rollup_stored_gb.round() as u64)
            ),
        ),
    ]
    .concat()
}

/// `24h`, or `7d` for whole days.
fn hours(hours: f64) -> String {
    if hours >= 24.0 && hours % 24.0 == 0.0 {
        format!("{}d", hours / 24.0)
    } else {
        format!("{hours}h")
    }
}

fn signed(usd: f64) -> String {
    let magnitude = thousands(usd.abs().round() as u64);
    if usd < 0.0 {
        format!("-{magnitude}")
    } else {
        format!("+{magnitude}")
    }
}
