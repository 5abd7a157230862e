//! Conditions in canonical form: one space around binary operators, none inside parentheses,
//! PromQL-style matchers.

use crate::syntax::ast::{Expr, Matcher};
use crate::syntax::literal::quote;

/// An alert condition.
pub fn condition(expr: &Expr, out: &mut String) {
    match expr {
        Expr::Number { text, .. } => out.push_str(text),
        Expr::Paren { inner, .. } => {
            out.push('(');
            condition(inner, out);
            out.push(')');
        }
        Expr::Binary { op, lhs, rhs, .. } => {
            condition(lhs, out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            condition(rhs, out);
        }
        Expr::Term(term) => {
            out.push_str(&term.function.name);
            out.push('(');
            out.push_str(&term.selector.metric.name);
            matchers(&term.selector.matchers, out);
            out.push_str(") over ");
            out.push_str(&term.over.0);
            for (index, label) in term.by.iter().enumerate() {
                out.push_str(if index == 0 { " by " } else { ", " });
                out.push_str(&label.name);
            }
        }
    }
}

/// `{label="value", other=~"regex"}`; nothing when there are no matchers.
pub fn matchers(matchers: &[Matcher], out: &mut String) {
    if matchers.is_empty() {
        return;
    }
    out.push('{');
    for (index, matcher) in matchers.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(&matcher.label.name);
        out.push_str(matcher.op.symbol());
        out.push_str(&quote(&matcher.value));
    }
    out.push('}');
}
