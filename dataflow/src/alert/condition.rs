//! Evaluates a rule's condition at one step from the values of its terms, matching groups by
//! labels as PromQL's one-to-one matching does (see `docs/language.md`, Alerts).

use pipe_dsl::plan::{BinaryOp, Condition, Expr};

use crate::series::{IdMap, Labels};

/// Values per group, keyed by the hash of the group's labels: matching groups compares ids,
/// and labels are looked up only for the alerts that change.
pub type Groups = IdMap<u64, f64>;

/// The labels of groups, by id.
pub type GroupLabels = IdMap<u64, Labels>;

/// Groups from labelled values.
pub fn groups(values: impl IntoIterator<Item = (Labels, f64)>) -> Groups {
    values
        .into_iter()
        .map(|(labels, value)| (labels.stable_hash(), value))
        .collect()
}

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
fn single(groups: &Groups) -> Option<f64> {
    match groups.iter().next() {
        Some((&id, &value)) if groups.len() == 1 && id == Labels::default().stable_hash() => {
            Some(value)
        }
        _ => None,
    }
}

/// The groups for which the condition holds, with their values (`{{ value }}`). Each term's
/// values are read once, so they are taken rather than copied.
pub fn evaluate(condition: &Condition, mut values: TermValues) -> Groups {
    let mut next_term = 0;
    holds(condition, &mut values, &mut next_term)
}

fn holds(condition: &Condition, values: &mut TermValues, next_term: &mut usize) -> Groups {
    match condition {
        Condition::Absent(_) => take_term(values, next_term),
        Condition::Compare { op, lhs, rhs } => {
            let left = expr(lhs, values, next_term);
            let right = expr(rhs, values, next_term);
            let compare = |a: f64, b: f64| compare(*op, a, b);
            match (left, right) {
                (Vector::Scalar(_), Vector::Scalar(_)) => Groups::default(),
                (Vector::Groups(mut groups), Vector::Scalar(b)) => {
                    groups.retain(|_, a| compare(*a, b));
                    groups
                }
                (Vector::Scalar(a), Vector::Groups(mut groups)) => {
                    groups.retain(|_, b| compare(a, *b));
                    groups
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
            for (id, group) in holds(rhs, values, next_term) {
                left.entry(id).or_insert(group);
            }
            left
        }
    }
}

fn take_term(values: &mut TermValues, next_term: &mut usize) -> Groups {
    let groups = values
        .terms
        .get_mut(*next_term)
        .map(std::mem::take)
        .unwrap_or_default();
    *next_term += 1;
    groups
}

fn expr(expr_node: &Expr, values: &mut TermValues, next_term: &mut usize) -> Vector {
    match expr_node {
        Expr::Number(value) => Vector::Scalar(*value),
        Expr::Selection(_) => Vector::Groups(take_term(values, next_term)),
        Expr::Arithmetic { op, lhs, rhs } => {
            let left = expr(lhs, values, next_term);
            let right = expr(rhs, values, next_term);
            let apply = |a: f64, b: f64| arithmetic(*op, a, b);
            match (left, right) {
                (Vector::Scalar(a), Vector::Scalar(b)) => Vector::Scalar(apply(a, b)),
                (Vector::Groups(mut groups), Vector::Scalar(b)) => {
                    groups.values_mut().for_each(|a| *a = apply(*a, b));
                    Vector::Groups(groups)
                }
                (Vector::Scalar(a), Vector::Groups(mut groups)) => {
                    groups.values_mut().for_each(|b| *b = apply(a, *b));
                    Vector::Groups(groups)
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
    let broadcast = |groups: Groups, value: f64, value_left: bool| -> Groups {
        groups
            .into_iter()
            .filter_map(|(id, other)| {
                let combined = if value_left {
                    combine(value, other)
                } else {
                    combine(other, value)
                };
                combined.map(|v| (id, v))
            })
            .collect()
    };
    match (single(&left), single(&right)) {
        (Some(l), None) if !right.is_empty() => broadcast(right, l, true),
        (_, Some(r)) => broadcast(left, r, false),
        _ => left
            .into_iter()
            .filter_map(|(id, l)| {
                let r = right.get(&id)?;
                combine(l, *r).map(|v| (id, v))
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
        groups(pairs.iter().map(|&(v, x)| (Labels::new([(label, v)]), x)))
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
        assert_eq!(evaluate(&c, values), by("service", &[("api", 0.1)]));
    }

    #[test]
    fn a_term_without_by_applies_to_every_group() {
        let c = condition("avg(cpu) over 1m by host > avg(cpu) over 1m * 2");
        let overall = groups([(Labels::default(), 10.0)]);
        let values = TermValues {
            terms: vec![by("host", &[("a", 25.0), ("b", 15.0)]), overall],
        };
        assert_eq!(evaluate(&c, values), by("host", &[("a", 25.0)]));
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
        assert_eq!(evaluate(&c, values), by("host", &[("x", 2.0), ("z", 3.0)]));
    }
}
