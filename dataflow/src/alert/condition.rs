//! Evaluates a rule's condition at one step from the values of its terms, matching groups by
//! labels as PromQL's one-to-one matching does (see `docs/language.md`, Alerts).

use std::collections::BTreeMap;

use pipe_dsl::plan::{BinaryOp, Condition, Expr};

use crate::series::Labels;

/// Values per group.
pub type Groups = BTreeMap<Labels, f64>;

/// What each term yields at one step, in term order.
#[derive(Debug, Default)]
pub struct TermValues {
    /// For aggregate terms: the value per group with samples in the window. For `absent` terms:
    /// the groups where the metric is absent, with value 1.
    pub terms: Vec<Groups>,
}

enum Vector {
    Scalar(f64),
    Groups(Groups),
}

/// A term with no `by` yields one group with no labels, applied to every group of the other side.
fn single(groups: &Groups) -> Option<Option<f64>> {
    match groups.len() {
        0 => None,
        1 => groups.get(&Labels::default()).map(|&v| Some(v)),
        _ => None,
    }
}

/// The groups for which the condition holds, with their values (`{{ value }}`).
pub fn evaluate(condition: &Condition, values: &TermValues) -> Groups {
    let mut next_term = 0;
    holds(condition, values, &mut next_term)
}

fn holds(condition: &Condition, values: &TermValues, next_term: &mut usize) -> Groups {
    match condition {
        Condition::Absent(_) => take_term(values, next_term),
        Condition::Compare { op, lhs, rhs } => {
            let left = expr(lhs, values, next_term);
            let right = expr(rhs, values, next_term);
            let compare = |a: f64, b: f64| compare(*op, a, b);
            match (left, right) {
                (Vector::Scalar(_), Vector::Scalar(_)) => Groups::new(),
                (Vector::Groups(groups), Vector::Scalar(b)) => {
                    groups.into_iter().filter(|&(_, a)| compare(a, b)).collect()
                }
                (Vector::Scalar(a), Vector::Groups(groups)) => {
                    groups.into_iter().filter(|&(_, b)| compare(a, b)).collect()
                }
                (Vector::Groups(a), Vector::Groups(b)) => {
                    matched(a, b, |x, y| compare(x, y).then_some(x))
                }
            }
        }
        Condition::And(lhs, rhs) => {
            let left = holds(lhs, values, next_term);
            let right = holds(rhs, values, next_term);
            matched(left, right, |x, _| Some(x))
        }
        Condition::Or(lhs, rhs) => {
            let mut left = holds(lhs, values, next_term);
            for (group, value) in holds(rhs, values, next_term) {
                left.entry(group).or_insert(value);
            }
            left
        }
    }
}

fn take_term(values: &TermValues, next_term: &mut usize) -> Groups {
    let groups = values.terms.get(*next_term).cloned().unwrap_or_default();
    *next_term += 1;
    groups
}

fn expr(expr_node: &Expr, values: &TermValues, next_term: &mut usize) -> Vector {
    match expr_node {
        Expr::Number(value) => Vector::Scalar(*value),
        Expr::Selection(_) => Vector::Groups(take_term(values, next_term)),
        Expr::Arithmetic { op, lhs, rhs } => {
            let left = expr(lhs, values, next_term);
            let right = expr(rhs, values, next_term);
            let apply = |a: f64, b: f64| arithmetic(*op, a, b);
            match (left, right) {
                (Vector::Scalar(a), Vector::Scalar(b)) => Vector::Scalar(apply(a, b)),
                (Vector::Groups(groups), Vector::Scalar(b)) => {
                    Vector::Groups(groups.into_iter().map(|(g, a)| (g, apply(a, b))).collect())
                }
                (Vector::Scalar(a), Vector::Groups(groups)) => {
                    Vector::Groups(groups.into_iter().map(|(g, b)| (g, apply(a, b))).collect())
                }
                (Vector::Groups(a), Vector::Groups(b)) => {
                    Vector::Groups(matched(a, b, |x, y| Some(apply(x, y))))
                }
            }
        }
    }
}

/// Joins two sides on their groups: one-to-one on equal labels, or a side without `by` applied
/// to every group of the other. `combine(left, right)` gives the result, or drops the group.
fn matched(left: Groups, right: Groups, combine: impl Fn(f64, f64) -> Option<f64>) -> Groups {
    match (single(&left), single(&right)) {
        (Some(Some(l)), _) if right.keys().any(|g| !g.is_empty()) => right
            .into_iter()
            .filter_map(|(group, r)| combine(l, r).map(|v| (group, v)))
            .collect(),
        (_, Some(Some(r))) => left
            .into_iter()
            .filter_map(|(group, l)| combine(l, r).map(|v| (group, v)))
            .collect(),
        _ => left
            .into_iter()
            .filter_map(|(group, l)| {
                let r = *right.get(&group)?;
                combine(l, r).map(|v| (group, v))
            })
            .collect(),
    }
}

fn compare(op: BinaryOp, a: f64, b: f64) -> bool {
    match op {
        BinaryOp::Gt => a > b,
        BinaryOp::Ge => a >= b,
        BinaryOp::Lt => a < b,
        BinaryOp::Le => a <= b,
        BinaryOp::Eq => a == b,
        BinaryOp::Ne => a != b,
        _ => false,
    }
}

fn arithmetic(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(text: &str) -> Condition {
        let file = format!(
            "source m from generator {{}}\nalert A {{ when {text} }}\nsink s to console {{ from = alerts }}\n"
        );
        pipe_dsl::compile(&file, &|_| None)
            .plan
            .unwrap()
            .alerts
            .remove(0)
            .condition
    }

    fn by(label: &str, pairs: &[(&str, f64)]) -> Groups {
        pairs
            .iter()
            .map(|&(v, x)| (Labels::new([(label, v)]), x))
            .collect()
    }

    #[test]
    fn ratios_match_groups_one_to_one() {
        let c =
            condition("sum(errors) over 1m by service / sum(requests) over 1m by service > 0.05");
        let values = TermValues {
            terms: vec![
                by("service", &[("api", 10.0), ("web", 1.0), ("db", 5.0)]),
                by("service", &[("api", 100.0), ("web", 100.0)]),
            ],
        };
        assert_eq!(evaluate(&c, &values), by("service", &[("api", 0.1)]));
    }

    #[test]
    fn a_term_without_by_applies_to_every_group() {
        let c = condition("avg(cpu) over 1m by host > avg(cpu) over 1m * 2");
        let mut overall = Groups::new();
        overall.insert(Labels::default(), 10.0);
        let values = TermValues {
            terms: vec![by("host", &[("a", 25.0), ("b", 15.0)]), overall],
        };
        assert_eq!(evaluate(&c, &values), by("host", &[("a", 25.0)]));
    }

    #[test]
    fn and_intersects_or_unites_and_values_come_from_the_left() {
        let c = condition(
            "max(a) over 1m by host > 1 and min(b) over 1m by host < 5 or count(c) over 1m by host >= 3",
        );
        let values = TermValues {
            terms: vec![
                by("host", &[("x", 2.0), ("y", 3.0)]),
                by("host", &[("x", 4.0), ("y", 9.0)]),
                by("host", &[("z", 3.0)]),
            ],
        };
        assert_eq!(evaluate(&c, &values), by("host", &[("x", 2.0), ("z", 3.0)]));
    }
}
