//! PromQL alert expressions to `.pipe` conditions, for the forms that mean the same in both
//! (or differ only where `docs/language.md` says pipe differs on purpose, which is noted).
//! Anything else is refused with the reason, never approximated silently.

use promql_parser::label::{MatchOp, Matchers};
use promql_parser::parser::{self, AggregateExpr, Call, Expr, LabelModifier, MatrixSelector};

use crate::syntax::literal::{format_duration, quote};

/// A PromQL expression as a pipe condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The condition, as written after `when`.
    pub condition: String,
    /// The rule's `lookback`, for the silent-group idiom (`… unless …`).
    pub lookback: Option<u64>,
    /// Labels the alert carries in Prometheus beyond its groups': `absent(m{job="api"})`
    /// alerts with `job="api"`, from the selector's equality matchers.
    pub labels: Vec<(String, String)>,
    /// Where the converted rule may differ from Prometheus, on purpose.
    pub notes: Vec<String>,
}

/// Lookback Prometheus applies to an instant selector, such as the one `absent(m)` reads.
const LOOKBACK_DELTA_MS: u64 = 300_000;

/// Converts an alerting rule's `expr`.
pub fn condition(expr: &str) -> Result<Converted, String> {
    let parsed = parser::parse(expr).map_err(|error| format!("PromQL does not parse: {error}"))?;
    let mut converter = Converter::default();
    match converter.expr(&parsed)? {
        Piece::Condition(condition) => {
            let mut notes = converter.notes;
            let mut seen = std::collections::HashSet::new();
            notes.retain(|note| seen.insert(note.clone()));
            Ok(Converted {
                condition,
                lookback: converter.lookback,
                labels: converter.labels,
                notes,
            })
        }
        Piece::Number { .. } => Err(
            "the expression has no comparison: pipe alerts on a condition such as `… > 0`"
                .to_string(),
        ),
    }
}

/// What a part of an expression became.
enum Piece {
    /// A condition: a comparison, `absent`, `and`, `or`.
    Condition(String),
    /// A number per group, and how tightly its operator binds (for parentheses).
    Number { text: String, precedence: u8 },
}

#[derive(Default)]
struct Converter {
    lookback: Option<u64>,
    labels: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Converter {
    fn expr(&mut self, expr: &Expr) -> Result<Piece, String> {
        match expr {
            Expr::Paren(paren) => Ok(match self.expr(&paren.expr)? {
                Piece::Condition(text) => Piece::Condition(format!("({text})")),
                Piece::Number { text, .. } => Piece::Number {
                    text: format!("({text})"),
                    precedence: ATOM,
                },
            }),
            Expr::NumberLiteral(number) => Ok(Piece::Number {
                text: number_text(number.val)?,
                precedence: ATOM,
            }),
            Expr::Binary(binary) => {
                if binary.return_bool() {
                    return Err("comparisons with `bool` have no pipe equivalent".to_string());
                }
                let matching = binary.modifier.as_ref().and_then(|m| m.matching.as_ref());
                if matching.is_some_and(|m| !m.labels().labels.is_empty())
                    || binary.modifier.as_ref().is_some_and(|m| m.card.labels().is_some())
                {
                    return Err("vector matching (`on`, `ignoring`, `group_left`) has no pipe equivalent: both sides of an operator are grouped by the same labels".to_string());
                }
                self.binary(&binary.op.to_string(), &binary.lhs, &binary.rhs)
            }
            Expr::Aggregate(aggregate) => self.aggregate(aggregate),
            Expr::Call(call) => self.call(call),
            Expr::Unary(_) => Err("unary minus has no pipe equivalent".to_string()),
            Expr::VectorSelector(_) | Expr::MatrixSelector(_) => Err(
                "a bare selector keeps every label of each series; pipe reads a window of samples per group: write `max by (…) (max_over_time(…[5m]))` or another aggregation".to_string(),
            ),
            Expr::Subquery(_) => Err("subqueries have no pipe equivalent".to_string()),
            Expr::StringLiteral(_) | Expr::Extension(_) => {
                Err("the expression is not a number or a condition".to_string())
            }
        }
    }

    fn binary(&mut self, op: &str, lhs: &Expr, rhs: &Expr) -> Result<Piece, String> {
        if op == "unless" {
            return self.silent_groups(lhs, rhs);
        }
        let (lhs, rhs) = (self.expr(lhs)?, self.expr(rhs)?);
        match (op, lhs, rhs) {
            ("and" | "or", Piece::Condition(l), Piece::Condition(r)) => {
                Ok(Piece::Condition(format!("{l} {op} {r}")))
            }
            ("and" | "or", ..) => Err(format!(
                "`{op}` between numbers filters series in PromQL; pipe's `{op}` joins two conditions"
            )),
            (
                ">" | ">=" | "<" | "<=" | "==" | "!=",
                Piece::Number { text: l, .. },
                Piece::Number { text: r, .. },
            ) => Ok(Piece::Condition(format!("{l} {op} {r}"))),
            (
                "+" | "-" | "*" | "/",
                Piece::Number {
                    text: l,
                    precedence: lp,
                },
                Piece::Number {
                    text: r,
                    precedence: rp,
                },
            ) => {
                let precedence = if matches!(op, "+" | "-") {
                    SUM
                } else {
                    PRODUCT
                };
                // Left-associative: the right operand needs parentheses at equal precedence.
                let l = if lp < precedence { format!("({l})") } else { l };
                let r = if rp <= precedence && rp != ATOM {
                    format!("({r})")
                } else {
                    r
                };
                Ok(Piece::Number {
                    text: format!("{l} {op} {r}"),
                    precedence,
                })
            }
            ("%" | "^" | "atan2", ..) => Err(format!("`{op}` has no pipe equivalent")),
            _ => Err(format!("`{op}` does not combine a condition with a number")),
        }
    }

    /// `AGG by (L) (X_over_time(m[LONG])) unless AGG by (L) (Y_over_time(m[SHORT]))`: groups
    /// seen in the last LONG that sent nothing in the last SHORT, which is pipe's `absent(m) over
    /// SHORT by L` with `lookback LONG`.
    fn silent_groups(&mut self, lhs: &Expr, rhs: &Expr) -> Result<Piece, String> {
        let refuse = || {
            "`unless` converts only as the silent-group idiom `group by (host) (max_over_time(m[1h])) unless group by (host) (count_over_time(m[5m]))`".to_string()
        };
        let (Expr::Aggregate(seen), Expr::Aggregate(recent)) = (lhs, rhs) else {
            return Err(refuse());
        };
        let (seen_by, seen_range) = grouped_range(seen).ok_or_else(refuse)?;
        let (recent_by, recent_range) = grouped_range(recent).ok_or_else(refuse)?;
        if seen_by != recent_by
            || seen_range.vs.name != recent_range.vs.name
            || selector_text(seen_range)? != selector_text(recent_range)?
        {
            return Err(refuse());
        }
        self.lookback = Some(millis(seen_range.range));
        Ok(Piece::Condition(format!(
            "absent({}) over {}{}",
            selector_text(recent_range)?,
            format_duration(millis(recent_range.range)),
            by_text(&recent_by)
        )))
    }

    fn aggregate(&mut self, aggregate: &AggregateExpr) -> Result<Piece, String> {
        let outer = aggregate.op.to_string();
        let by = match &aggregate.modifier {
            None => Vec::new(),
            Some(LabelModifier::Include(labels)) => labels.labels.clone(),
            Some(LabelModifier::Exclude(_)) => {
                return Err("`without (…)` keeps labels pipe cannot name: group `by (…)` the labels the alert needs".to_string());
            }
        };
        let Expr::Call(call) = &*aggregate.expr else {
            return Err(format!(
                "`{outer}` converts over a range function such as `avg_over_time(m[5m])`, `rate(m[5m])` or `quantile_over_time(0.95, m[5m])`"
            ));
        };
        let function = call.func.name;
        let range = matrix_argument(call)?;
        let pooled = || {
            format!(
                "`{outer} by (…) ({function}(…))` of several series per group: pipe's window pools the samples of the group's series (the same for one series per group)"
            )
        };
        let aggregate = match (outer.as_str(), function) {
            ("max", "max_over_time") => "max".to_string(),
            ("min", "min_over_time") => "min".to_string(),
            ("sum", "sum_over_time") => "sum".to_string(),
            ("sum", "count_over_time") => "count".to_string(),
            ("sum", "rate") => "rate".to_string(),
            ("sum", "increase") => "increase".to_string(),
            ("avg", "avg_over_time") => {
                self.notes.push(pooled());
                "avg".to_string()
            }
            ("max" | "min" | "avg" | "sum", "last_over_time") => {
                self.notes.push(pooled());
                "last".to_string()
            }
            ("max" | "min" | "avg", "quantile_over_time") => {
                self.notes.push(pooled());
                self.notes.push("pipe's quantile is a sample of the window (within 1%), where PromQL interpolates between two".to_string());
                quantile_aggregate(call)?
            }
            _ => {
                return Err(format!(
                    "`{outer} by (…) ({function}(…))` has no pipe equivalent: pipe has max of max_over_time, min of min_over_time, sum of sum_over_time, count_over_time, rate and increase, avg of avg_over_time, and quantile_over_time"
                ));
            }
        };
        if matches!(function, "rate" | "increase") {
            self.notes.push(format!(
                "pipe's `{function}` counts exactly from the sample before the window, where PromQL extrapolates within it"
            ));
        }
        Ok(Piece::Number {
            text: format!(
                "{aggregate}({}) over {}{}",
                selector_text(range)?,
                format_duration(millis(range.range)),
                by_text(&by)
            ),
            precedence: ATOM,
        })
    }

    /// PromQL's `absent` returns the labels its selector fixes with `=`.
    fn absent_labels(&mut self, range: &MatrixSelector) {
        for matcher in &range.vs.matchers.matchers {
            if matcher.name != "__name__" && matches!(matcher.op, MatchOp::Equal) {
                self.labels
                    .push((matcher.name.clone(), matcher.value.clone()));
            }
        }
    }

    fn call(&mut self, call: &Call) -> Result<Piece, String> {
        match call.func.name {
            "absent" => {
                let Some(Expr::VectorSelector(selector)) = call.args.args.first().map(|a| &**a)
                else {
                    return Err(
                        "`absent` converts over a selector such as `absent(up{job=\"api\"})`"
                            .to_string(),
                    );
                };
                let range = MatrixSelector {
                    vs: selector.clone(),
                    range: std::time::Duration::from_millis(LOOKBACK_DELTA_MS),
                };
                self.absent_labels(&range);
                Ok(Piece::Condition(format!(
                    "absent({}) over {}",
                    selector_text(&range)?,
                    format_duration(LOOKBACK_DELTA_MS)
                )))
            }
            "absent_over_time" => {
                let range = matrix_argument(call)?;
                self.absent_labels(range);
                Ok(Piece::Condition(format!(
                    "absent({}) over {}",
                    selector_text(range)?,
                    format_duration(millis(range.range))
                )))
            }
            name => Err(format!(
                "`{name}(…)` without an aggregation keeps every label of each series; pipe groups by the labels it names: wrap it in `sum by (…) (…)` or another aggregation"
            )),
        }
    }
}

const SUM: u8 = 1;
const PRODUCT: u8 = 2;
const ATOM: u8 = 3;

/// The labels and the range of `AGG by (L) (F(m[D]))`.
fn grouped_range(aggregate: &AggregateExpr) -> Option<(Vec<String>, &MatrixSelector)> {
    let by = match &aggregate.modifier {
        Some(LabelModifier::Include(labels)) => labels.labels.clone(),
        _ => return None,
    };
    let Expr::Call(call) = &*aggregate.expr else {
        return None;
    };
    matrix_argument(call).ok().map(|range| (by, range))
}

fn matrix_argument(call: &Call) -> Result<&MatrixSelector, String> {
    call.args
        .args
        .iter()
        .find_map(|arg| match &**arg {
            Expr::MatrixSelector(range) => Some(range),
            _ => None,
        })
        .ok_or_else(|| format!("`{}` needs a range such as `m[5m]`", call.func.name))
}

fn quantile_aggregate(call: &Call) -> Result<String, String> {
    let quantile = match call.args.args.first().map(|a| &**a) {
        Some(Expr::NumberLiteral(number)) => number.val,
        _ => return Err("`quantile_over_time` needs a constant quantile".to_string()),
    };
    let name = [
        (0.5, "p50"),
        (0.9, "p90"),
        (0.95, "p95"),
        (0.99, "p99"),
        (0.999, "p999"),
    ]
    .into_iter()
    .find(|(q, _)| (q - quantile).abs() < 1e-9)
    .map(|(_, name)| name.to_string());
    name.ok_or_else(|| {
        format!("pipe has the quantiles 0.5, 0.9, 0.95, 0.99 and 0.999, not {quantile}")
    })
}

/// `metric{label="value", …}` in pipe's spelling.
fn selector_text(range: &MatrixSelector) -> Result<String, String> {
    let selector = &range.vs;
    if selector.offset.is_some() || selector.at.is_some() {
        return Err("`offset` and `@` have no pipe equivalent".to_string());
    }
    let name = selector
        .name
        .clone()
        .or_else(|| metric_name_matcher(&selector.matchers))
        .ok_or("pipe reads one metric: the selector needs a metric name")?;
    if !selector.matchers.or_matchers.is_empty() {
        return Err("`or` inside a selector has no pipe equivalent".to_string());
    }
    let matchers: Vec<String> = selector
        .matchers
        .matchers
        .iter()
        .filter(|matcher| matcher.name != "__name__")
        .map(|matcher| {
            let op = match &matcher.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Re(_) => "=~",
                MatchOp::NotRe(_) => "!~",
            };
            format!("{}{op}{}", matcher.name, quote(&matcher.value))
        })
        .collect();
    Ok(if matchers.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", matchers.join(", "))
    })
}

fn metric_name_matcher(matchers: &Matchers) -> Option<String> {
    matchers
        .matchers
        .iter()
        .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
        .map(|m| m.value.clone())
}

fn by_text(labels: &[String]) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!(" by {}", labels.join(", "))
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    duration.as_millis() as u64
}

/// A number as the language writes it.
fn number_text(value: f64) -> Result<String, String> {
    if !value.is_finite() {
        return Err(format!("the constant {value} has no pipe spelling"));
    }
    Ok(format!("{value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(expr: &str) -> String {
        condition(expr).unwrap().condition
    }

    fn refused(expr: &str) -> String {
        condition(expr).unwrap_err()
    }

    #[test]
    fn the_convertible_forms_become_pipe_conditions() {
        assert_eq!(
            when("avg by (host) (avg_over_time(cpu_usage_percent{environment=\"prod\"}[5m])) > 90"),
            "avg(cpu_usage_percent{environment=\"prod\"}) over 5m by host > 90"
        );
        assert_eq!(
            when(
                "sum by (service) (rate(http_errors_total[5m])) / sum by (service) (rate(http_requests_total[5m])) > 0.05"
            ),
            "rate(http_errors_total) over 5m by service / rate(http_requests_total) over 5m by service > 0.05"
        );
        assert_eq!(
            when(
                "max by (host, mount) (max_over_time(disk_used{fs=~\"ext.*\"}[1h])) >= 90 and sum by (host, mount) (increase(disk_errors[1h])) > 0"
            ),
            "max(disk_used{fs=~\"ext.*\"}) over 1h by host, mount >= 90 and increase(disk_errors) over 1h by host, mount > 0"
        );
        assert_eq!(
            when("max by (route) (quantile_over_time(0.99, latency_seconds[10m])) * 1000 > 250"),
            "p99(latency_seconds) over 10m by route * 1000 > 250"
        );
        assert_eq!(
            when(
                "(sum by (host) (sum_over_time(a[1m])) + sum by (host) (sum_over_time(b[1m]))) / 2 > 1"
            ),
            "(sum(a) over 1m by host + sum(b) over 1m by host) / 2 > 1"
        );
        let absent = condition("absent(heartbeat{job=\"api\", env=~\"p.*\"})").unwrap();
        assert_eq!(
            absent.condition,
            "absent(heartbeat{job=\"api\", env=~\"p.*\"}) over 5m"
        );
        assert_eq!(absent.labels, [("job".to_string(), "api".to_string())]);
        assert_eq!(
            when("absent_over_time(heartbeat[2m])"),
            "absent(heartbeat) over 2m"
        );
        let silent = condition(
            "group by (host) (max_over_time(heartbeat[1h])) unless group by (host) (count_over_time(heartbeat[1m]))",
        )
        .unwrap();
        assert_eq!(silent.condition, "absent(heartbeat) over 1m by host");
        assert_eq!(silent.lookback, Some(3_600_000));
    }

    #[test]
    fn deliberate_differences_are_noted() {
        let converted = condition("avg by (host) (avg_over_time(cpu[5m])) > 90").unwrap();
        assert!(converted.notes[0].contains("pools the samples"));
        let converted = condition("sum by (job) (rate(x[5m])) > 1").unwrap();
        assert!(converted.notes[0].contains("extrapolates"));
    }

    #[test]
    fn other_forms_are_refused_with_a_reason() {
        assert!(refused("rate(x[5m]) > 1").contains("without an aggregation"));
        assert!(refused("up == 0").contains("bare selector"));
        assert!(refused("max by (host) (rate(x[5m])) > 1").contains("no pipe equivalent"));
        assert!(refused("sum without (pod) (rate(x[5m])) > 1").contains("without"));
        assert!(refused("a / on (host) b > 1").contains("vector matching"));
        assert!(refused("sum by (h) (sum_over_time(x[5m] offset 1h)) > 1").contains("offset"));
        assert!(refused("sum by (h) (sum_over_time(x[5m]))").contains("no comparison"));
        assert!(refused("max by (h) (quantile_over_time(0.75, x[5m])) > 1").contains("0.75"));
        assert!(refused("avg by (host) (").starts_with("PromQL does not parse"));
    }
}
