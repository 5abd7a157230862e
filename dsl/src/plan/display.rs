//! Conditions printed back in the language, with only the parentheses precedence needs.

use std::fmt::{self, Display, Formatter};

use super::{Condition, Expr, Selection};
use crate::syntax::ast::BinaryOp;
use crate::syntax::literal::quote;

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div => 5,
        _ => 3,
    }
}

fn condition_precedence(condition: &Condition) -> u8 {
    match condition {
        Condition::Or(..) => 1,
        Condition::And(..) => 2,
        Condition::Compare { .. } => 3,
        Condition::Absent(_) => 6,
    }
}

fn expr_precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Arithmetic { op, .. } => precedence(*op),
        Expr::Number(_) | Expr::Selection(_) => 6,
    }
}

/// Writes `inner`, in parentheses when it binds less tightly than its place requires.
fn operand(
    f: &mut Formatter<'_>,
    inner: &dyn Display,
    inner_precedence: u8,
    needed: u8,
) -> fmt::Result {
    if inner_precedence < needed {
        write!(f, "({inner})")
    } else {
        write!(f, "{inner}")
    }
}

fn binary(
    f: &mut Formatter<'_>,
    op: BinaryOp,
    lhs: (&dyn Display, u8),
    rhs: (&dyn Display, u8),
) -> fmt::Result {
    let own = precedence(op);
    operand(f, lhs.0, lhs.1, own)?;
    write!(f, " {} ", op.symbol())?;
    operand(f, rhs.0, rhs.1, own + 1)
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Compare { op, lhs, rhs } => binary(
                f,
                *op,
                (lhs, expr_precedence(lhs)),
                (rhs, expr_precedence(rhs)),
            ),
            Condition::Absent(selection) => write!(f, "{selection}"),
            Condition::And(lhs, rhs) | Condition::Or(lhs, rhs) => {
                let op = if matches!(self, Condition::And(..)) {
                    BinaryOp::And
                } else {
                    BinaryOp::Or
                };
                binary(
                    f,
                    op,
                    (lhs, condition_precedence(lhs)),
                    (rhs, condition_precedence(rhs)),
                )
            }
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(value) => write!(f, "{value}"),
            Expr::Selection(selection) => write!(f, "{selection}"),
            Expr::Arithmetic { op, lhs, rhs } => binary(
                f,
                *op,
                (lhs, expr_precedence(lhs)),
                (rhs, expr_precedence(rhs)),
            ),
        }
    }
}

impl Display for Selection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let function = self
            .aggregate
            .map_or("absent", |aggregate| aggregate.name());
        write!(f, "{function}({}", self.metric)?;
        if !self.matchers.is_empty() {
            let matchers: Vec<String> = self
                .matchers
                .iter()
                .map(|m| format!("{}{}{}", m.label, m.op.symbol(), quote(&m.value)))
                .collect();
            write!(f, "{{{}}}", matchers.join(", "))?;
        }
        write!(f, ") over {}", self.over)?;
        if !self.by.is_empty() {
            write!(f, " by {}", self.by.join(", "))?;
        }
        Ok(())
    }
}
