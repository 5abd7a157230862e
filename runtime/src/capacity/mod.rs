//! `pipectl capacity`: a fleet's needs month by month, planned from what pipe measured for the
//! pipeline an operator wrote ([`measured`]), beside the reference design's planner
//! ([`reference`]) so that the difference shows.

pub mod chart;
pub mod figures;
pub mod measured;
pub mod reference;

use anyhow::bail;
use pipe_dsl::Plan;
use serde::Serialize;

use figures::{Figures, Machines};
use measured::{MeasuredMonth, Tiers};
use reference::ReferenceMonth;

/// What to plan for.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// Servers now.
    pub servers: f64,
    /// Series per server.
    pub metrics_per_server: f64,
    /// Seconds between a series' samples.
    pub interval_seconds: f64,
    /// Growth per month: 0.15 for 15 %.
    pub growth: f64,
    /// Months ahead; the plan has one more (month 0 is now).
    pub months: u32,
    /// The share of every machine left free at peak: 0.5 for half.
    pub headroom: f64,
    /// Hours the metrics topic keeps its messages: how long an outage of the pipeline it can
    /// absorb and replay.
    pub kafka_retention_hours: f64,
}

impl Fleet {
    /// Refuses what cannot be planned.
    pub fn check(&self) -> anyhow::Result<()> {
        if [self.servers, self.metrics_per_server]
            .iter()
            .any(|n| n.is_nan() || *n <= 0.0)
        {
            bail!("--servers and --metrics-per-server must be above 0");
        }
        if self.interval_seconds.is_nan() || self.interval_seconds <= 0.0 {
            bail!("--interval must be above 0: a series reports every so often");
        }
        if !self.growth.is_finite() || self.growth <= -1.0 {
            bail!(
                "--growth must be above -100%/month: a fleet cannot shrink by more than all of it"
            );
        }
        if !(0.0..1.0).contains(&self.headroom) {
            bail!("--headroom must be at least 0% and below 100%");
        }
        if self.kafka_retention_hours.is_nan() || self.kafka_retention_hours <= 0.0 {
            bail!(
                "--kafka-retention must be above 0: the pipeline reads the topic after it is written"
            );
        }
        Ok(())
    }

    /// Servers in month `month`.
    pub fn servers_in(&self, month: u32) -> f64 {
        self.servers * (1.0 + self.growth).powi(month as i32)
    }
}

/// One month of both plans.
#[derive(Debug, Clone, Serialize)]
pub struct Month {
    /// 0 for now.
    pub month: u32,
    /// From pipe's figures.
    pub measured: MeasuredMonth,
    /// The reference design's planner.
    pub reference: ReferenceMonth,
    /// Measured minus reference, dollars a month.
    pub difference_usd: f64,
}

/// Both plans, month by month.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The inputs.
    pub fleet: Fleet,
    /// What the pipeline stores.
    pub tiers: Tiers,
    /// Where the figures were measured, and when.
    pub figures_from: String,
    /// The machines priced.
    pub machines: Machines,
    /// Month 0 to `months`.
    pub months: Vec<Month>,
}

/// Plans `fleet` for `plan` with `figures` on `machines`.
pub fn plan(
    plan: &Plan,
    fleet: &Fleet,
    figures: &Figures,
    machines: &Machines,
) -> anyhow::Result<Report> {
    fleet.check()?;
    let tiers = Tiers::of(plan);
    let months = (0..=fleet.months)
        .map(|month| {
            let measured =
                measured::month(&tiers, figures, machines, fleet, fleet.servers_in(month));
            let reference = reference::month(
                fleet.servers,
                fleet.metrics_per_server,
                fleet.interval_seconds,
                fleet.growth,
                month,
            );
            let difference_usd = measured.monthly_usd - reference.monthly_usd as f64;
            Month {
                month,
                measured,
                reference,
                difference_usd,
            }
        })
        .collect();
    Ok(Report {
        fleet: fleet.clone(),
        tiers,
        figures_from: format!("{}, {}", figures.machine, figures.date),
        machines: machines.clone(),
        months,
    })
}

/// `15%/month`, `15%` or `0.15` as 0.15.
pub fn parse_growth(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches("/month");
    let value = match number.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => number.parse::<f64>(),
    };
    match value {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(format!("`{text}` is not a growth such as `15%/month`")),
    }
}

#[cfg(test)]
mod tests {
    use super::figures::{DEFAULT_FIGURES, DEFAULT_MACHINES};
    use super::*;

    fn compile(text: &str) -> Plan {
        let compiled = pipe_dsl::compile(text, &|_| None);
        compiled
            .plan
            .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
    }

    fn production() -> Plan {
        compile(include_str!("../../../pipelines/metrics.pipe"))
    }

    fn fleet(servers: f64) -> Fleet {
        Fleet {
            servers,
            metrics_per_server: 50.0,
            interval_seconds: 15.0,
            growth: 0.15,
            months: 12,
            headroom: 0.5,
            kafka_retention_hours: 24.0,
        }
    }

    fn report(plan: &Plan, fleet: &Fleet) -> Report {
        let figures = figures::figures(DEFAULT_FIGURES, "default").unwrap();
        let machines = figures::machines(DEFAULT_MACHINES, "default").unwrap();
        super::plan(plan, fleet, &figures, &machines).unwrap()
    }

    /// The reference planner's figures for month `m`, computed here from its description
    /// (servers × 1.15^m, truncated; nodes = max(minimum, int(rate / per node) + 1)).
    fn by_hand(m: i32) -> (u64, u64, u64, u64) {
        let servers = 100_000.0 * 1.15f64.powi(m);
        let rate = servers * 50.0 / 15.0;
        let nodes = |per: f64, min: u64| min.max((rate / per).floor() as u64 + 1);
        let cost =
            nodes(150_000.0, 3) * 800 + nodes(200_000.0, 2) * 1_200 + nodes(50_000.0, 3) * 2_000;
        (
            servers.floor() as u64,
            rate.floor() as u64,
            nodes(50_000.0, 3),
            cost,
        )
    }

    #[test]
    fn the_reference_model_gives_the_reference_figures() {
        let months = report(&production(), &fleet(100_000.0)).months;
        assert_eq!(months.len(), 13);
        let zero = &months[0].reference;
        assert_eq!(zero.samples_per_second, 333_333);
        assert_eq!(format!("{:.2}", zero.raw_gb_per_day), "5364.42");
        assert_eq!(
            (
                zero.kafka_nodes,
                zero.timescale_nodes,
                zero.clickhouse_nodes,
                zero.monthly_usd
            ),
            (3, 2, 7, 18_800)
        );
        assert_eq!(
            (months[1].reference.servers, months[1].reference.monthly_usd),
            (114_999, 20_800)
        );
        let last = &months[12].reference;
        assert_eq!(
            (last.servers, last.samples_per_second, last.monthly_usd),
            (535_025, 1_783_416, 92_400)
        );
        for (m, month) in months.iter().enumerate() {
            let (servers, rate, clickhouse, cost) = by_hand(m as i32);
            let r = &month.reference;
            assert_eq!(
                (
                    r.servers,
                    r.samples_per_second,
                    r.clickhouse_nodes,
                    r.monthly_usd
                ),
                (servers, rate, clickhouse, cost),
                "month {m}"
            );
        }
    }

    #[test]
    fn doubling_servers_doubles_load_and_never_lowers_a_node_count() {
        let plan = production();
        let (one, two) = (
            report(&plan, &fleet(50_000.0)),
            report(&plan, &fleet(100_000.0)),
        );
        for (a, b) in one.months.iter().zip(&two.months) {
            let (a, b) = (&a.measured, &b.measured);
            let ratio = b.samples_per_second as f64 / a.samples_per_second as f64;
            assert!((ratio - 2.0).abs() < 1e-5, "{ratio}");
            assert!((b.raw_stored_gb / a.raw_stored_gb - 2.0).abs() < 1e-9);
            assert!((b.raw_gb_per_day / a.raw_gb_per_day - 2.0).abs() < 1e-9);
            for (x, y) in [
                (&a.pipeline, &b.pipeline),
                (&a.kafka, &b.kafka),
                (&a.postgres, &b.postgres),
                (&a.clickhouse, &b.clickhouse),
            ] {
                assert!(y.nodes >= x.nodes, "{x:?} → {y:?}");
            }
            assert!(b.monthly_usd >= a.monthly_usd);
        }
    }

    #[test]
    fn kafka_holds_the_topic_for_its_retention_on_every_replica() {
        let plan = production();
        let day = report(&plan, &fleet(100_000.0));
        let week = report(
            &plan,
            &Fleet {
                kafka_retention_hours: 168.0,
                ..fleet(100_000.0)
            },
        );
        let figures = figures::figures(DEFAULT_FIGURES, "default").unwrap();
        let (a, b) = (&day.months[0].measured, &week.months[0].measured);
        let by_hand = 100_000.0 * 50.0 / 15.0
            * figures.kafka.bytes_per_message
            * 86_400.0
            * figures.kafka.replication as f64
            / (1u64 << 30) as f64;
        assert!((a.kafka_stored_gb / by_hand - 1.0).abs() < 1e-9);
        assert!((b.kafka_stored_gb / a.kafka_stored_gb - 7.0).abs() < 1e-9);
        assert_eq!(b.kafka.bound_by, "disk");
        assert!(
            b.kafka.nodes > a.kafka.nodes,
            "{:?} → {:?}",
            a.kafka,
            b.kafka
        );
        let mut zero = fleet(1.0);
        zero.kafka_retention_hours = 0.0;
        let machines = figures::machines(DEFAULT_MACHINES, "default").unwrap();
        let error = super::plan(&plan, &zero, &figures, &machines).unwrap_err();
        assert!(error.to_string().contains("--kafka-retention"), "{error}");
    }

    #[test]
    fn a_pipeline_without_a_raw_tier_plans_no_postgres() {
        let text = include_str!("../../../pipelines/metrics.pipe");
        let start = text.find("sink hot to timescale").unwrap();
        let end = start + text[start..].find("}\n").unwrap() + 2;
        let plan = compile(&format!("{}{}", &text[..start], &text[end..]));
        let months = report(&plan, &fleet(100_000.0)).months;
        assert!(months.iter().all(|m| m.measured.postgres.nodes == 0));
        assert!(months.iter().all(|m| m.measured.raw_gb_per_day == 0.0));
        assert!(months.iter().all(|m| m.measured.clickhouse.nodes > 0));
    }

    #[test]
    fn bad_inputs_get_clear_errors() {
        let plan = production();
        let figures = figures::figures(DEFAULT_FIGURES, "default").unwrap();
        let machines = figures::machines(DEFAULT_MACHINES, "default").unwrap();
        let error = |fleet: Fleet| {
            super::plan(&plan, &fleet, &figures, &machines)
                .unwrap_err()
                .to_string()
        };
        assert!(
            error(Fleet {
                growth: -1.5,
                ..fleet(1.0)
            })
            .contains("above -100%/month")
        );
        assert!(
            error(Fleet {
                interval_seconds: 0.0,
                ..fleet(1.0)
            })
            .contains("--interval")
        );
        let other = DEFAULT_FIGURES.replace("version = 1", "version = 2");
        let message = figures::figures(&other, "old.toml")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`old.toml` is a figures file of version 2"),
            "{message}"
        );
        assert_eq!(parse_growth("15%/month"), Ok(0.15));
        assert!(parse_growth("fast").is_err());
    }

    #[test]
    fn the_json_of_a_users_own_benches_replaces_what_they_measured() {
        let defaults = figures::figures(DEFAULT_FIGURES, "default").unwrap();
        let bench = r#"{"samples_per_second_per_worker": 2000000.0, "peak_rss_bytes": 500000000, "series": 100000}"#;
        let figures = figures::with_runs(defaults.clone(), bench, "bench.json").unwrap();
        assert_eq!(figures.pipeline.samples_per_second_per_core, 2e6);
        assert_eq!(figures.pipeline.resident_bytes_per_series, 5000.0);
        assert_eq!(
            figures.postgres.bytes_per_row,
            defaults.postgres.bytes_per_row
        );
        let storage = r#"{"raw_bytes_per_row": 40.0, "raw_load": {"rows_per_server_cpu_second": 120000.0},
            "rollups": {"bytes_per_row": 20.0, "hourly_bytes_per_row": 300.0, "insert": {"rows_per_server_cpu_second": 400000.0}}}"#;
        let figures = figures::with_runs(figures, storage, "storage.json").unwrap();
        assert_eq!(
            (
                figures.postgres.bytes_per_row,
                figures.postgres.rows_per_second_per_core,
                figures.clickhouse.bytes_per_window,
                figures.clickhouse.bytes_per_cascade_window,
                figures.clickhouse.rows_per_second_per_core
            ),
            (40.0, 120_000.0, 20.0, 300.0, 400_000.0)
        );
        assert!(figures.machine.ends_with("with storage.json"));
        let run = r#"{"samples": 3000000, "cpu_seconds": 10.0, "series": 1000, "peak_rss_bytes": 4000000}"#;
        let figures = figures::with_runs(figures, run, "run.json").unwrap();
        assert_eq!(
            (
                figures.pipeline.samples_per_second_per_core,
                figures.pipeline.resident_bytes_per_series
            ),
            (300_000.0, 4_000.0)
        );
        let loadgen = r#"{"sent": 10, "wire_bytes_per_message": 60.5, "mean_per_second": 9.0}"#;
        let figures = figures::with_runs(figures, loadgen, "loadgen.json").unwrap();
        assert_eq!(figures.kafka.bytes_per_message, 60.5);
        assert_eq!(figures.pipeline.samples_per_second_per_core, 300_000.0);
        let kafka = r#"{"pipeline_samples_per_cpu_second": 500000, "series": 100000, "peak_rss_bytes": 200000000,
            "wire_bytes_per_message": 58.1, "broker_messages_per_cpu_second": 310000}"#;
        let figures = figures::with_runs(figures, kafka, "kafka.json").unwrap();
        assert_eq!(
            (
                figures.pipeline.samples_per_second_per_core,
                figures.pipeline.resident_bytes_per_series,
                figures.kafka.bytes_per_message,
                figures.kafka.messages_per_second_per_core
            ),
            (500_000.0, 2_000.0, 58.1, 310_000.0)
        );
        let error = figures::with_runs(defaults, r#"{"sent": 1}"#, "other.json").unwrap_err();
        assert!(
            error.to_string().contains("neither a figures file"),
            "{error}"
        );
    }
}
