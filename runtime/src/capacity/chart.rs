//! `pipectl capacity --chart out.svg`: nodes and monthly cost per month, both plans, as SVG.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use super::Report;
use crate::status::thousands;

/// A line of a chart: (month, value) points.
type Line = Vec<(u32, f64)>;

const MEASURED: RGBColor = RGBColor(31, 119, 180);
const REFERENCE: RGBColor = RGBColor(214, 39, 40);

/// Draws `report` into the SVG file `path`.
pub fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    let failed =
        |error: &dyn std::fmt::Display| anyhow!("cannot draw `{}`: {error}", path.display());
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let (top, bottom) = root.split_vertically(360);
    let months = report.months.len() as u32;
    let nodes = |m: &super::Month| {
        let x = &m.measured;
        (x.pipeline.nodes + x.kafka.nodes + x.postgres.nodes + x.clickhouse.nodes) as f64
    };
    let reference_nodes = |m: &super::Month| {
        (m.reference.kafka_nodes + m.reference.timescale_nodes + m.reference.clickhouse_nodes)
            as f64
    };
    let series: [(&str, &str, Line, Line); 2] = [
        (
            "Nodes (pipeline, Kafka, PostgreSQL, ClickHouse)",
            "",
            report.months.iter().map(|m| (m.month, nodes(m))).collect(),
            report
                .months
                .iter()
                .map(|m| (m.month, reference_nodes(m)))
                .collect(),
        ),
        (
            "Cost, dollars a month",
            "$",
            report
                .months
                .iter()
                .map(|m| (m.month, m.measured.monthly_usd))
                .collect(),
            report
                .months
                .iter()
                .map(|m| (m.month, m.reference.monthly_usd as f64))
                .collect(),
        ),
    ];
    for (area, (title, unit, measured, reference)) in [top, bottom].iter().zip(series) {
        let highest = measured
            .iter()
            .chain(&reference)
            .map(|(_, y)| *y)
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0..months.saturating_sub(1).max(1), 0.0..highest * 1.1)
            .map_err(|e| failed(&e))?;
        chart
            .configure_mesh()
            .x_desc("month")
            .y_label_formatter(&|y| format!("{unit}{}", thousands(y.round() as u64)))
            .draw()
            .map_err(|e| failed(&e))?;
        chart
            .draw_series(LineSeries::new(measured, MEASURED.stroke_width(2)))
            .map_err(|e| failed(&e))?
            .label("measured (pipe's figures)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MEASURED));
        chart
            .draw_series(LineSeries::new(reference, REFERENCE.stroke_width(2)))
            .map_err(|e| failed(&e))?
            .label("reference design's planner")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], REFERENCE));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| failed(&e))?;
    }
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}
