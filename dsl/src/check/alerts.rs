//! Alert rules: the input stream, the condition's types and groupings, each term's window
//! against the step, and the templates of labels and annotations.

use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{
    self, Aggregate, AlertRule, Condition, Duration, Field, METRIC_NAME, Selection, Template,
    is_label_name,
};
use crate::schema::{BlockKind, Shape};
use crate::span::Span;
use crate::syntax::ast::{self, BinaryOp, Ident, Term};

use super::blocks::Declared;
use super::graph::{Graph, Resolved, StreamInfo};
use super::suggest::{did_you_mean, quoted_list};
use super::values::{listed_twice, unknown_aggregate};
use super::{labels, streams};

/// Checks every alert rule and returns the valid ones.
pub fn rules(graph: &mut Graph, diagnostics: &mut Vec<Diagnostic>) -> Vec<AlertRule> {
    let mut planned = Vec::new();
    for declared in graph.of_kind(BlockKind::Alert) {
        if let (Some(rule), true) = (rule(graph, declared, diagnostics), declared.valid) {
            planned.push(rule);
        }
    }
    planned
}

fn rule(
    graph: &mut Graph,
    declared: &Declared,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<AlertRule> {
    let settings = declared.settings.as_ref()?;
    let input = match settings.stream("from") {
        Some(input) => Some(input),
        None => only_source(graph, declared, diagnostics),
    };
    let info = input
        .as_ref()
        .and_then(|input| input_info(graph, input, diagnostics));
    let expr = settings.condition("when")?;
    let mut typer = Typer {
        info: info.as_ref(),
        stream: input.as_ref().map_or("", |input| input.name.as_str()),
        diagnostics,
    };
    let typed = typer.expr(&expr)?;
    let (condition, group_by) = match typed {
        Typed::Condition(condition, groups) => (condition, groups.unwrap_or_default()),
        Typed::Number(..) => {
            diagnostics.push(
                Diagnostic::new(
                    Code::ConditionType,
                    expr.span(),
                    "`when` needs a condition, not a number",
                )
                .label("this is a number")
                .help("compare it with a threshold, such as `… > 90`"),
            );
            return None;
        }
    };
    let labels = templates(settings.map("labels"), &group_by, true, diagnostics)?;
    let annotations = templates(settings.map("annotations"), &group_by, false, diagnostics)?;
    let (input, info) = (input?, info?);
    Some(AlertRule {
        name: declared.name().to_string(),
        input: input.name,
        step: info.step,
        forget_after: None,
        condition,
        group_by,
        for_: settings.duration("for").unwrap_or_default(),
        keep_firing_for: settings.duration("keep_firing_for").unwrap_or_default(),
        lookback: settings
            .duration("lookback")
            .unwrap_or(AlertRule::DEFAULT_LOOKBACK),
        labels,
        annotations,
        span: declared.block.span,
    })
}

/// What a rule's input carries, when it is a stream a rule can read.
fn input_info(
    graph: &Graph,
    input: &Ident,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<StreamInfo> {
    match graph.resolve(input, diagnostics) {
        Resolved::Stream(Some(info)) => match info.window.filter(|window| window.overlaps()) {
            Some(window) => {
                diagnostics.push(streams::overlapping(input.span, &input.name, window));
                None
            }
            None => Some(info),
        },
        Resolved::Stream(None) | Resolved::Missing => None,
        Resolved::Alerts => {
            diagnostics.push(
                Diagnostic::new(
                    Code::WrongShape,
                    input.span,
                    "an alert rule cannot read `alerts`",
                )
                .label("alert transitions, not samples")
                .help("rules read a source or a tumbling rollup"),
            );
            None
        }
    }
}

/// The input of a rule without `from`: the file's only source.
fn only_source(
    graph: &Graph,
    declared: &Declared,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Ident> {
    let sources = graph.of_kind(BlockKind::Source);
    if let [source] = sources.as_slice() {
        return Some(Ident {
            name: source.name().to_string(),
            span: declared.header_span(),
        });
    }
    let names: Vec<&str> = sources.iter().map(|source| source.name()).collect();
    if names.is_empty() && graph.has_unparsed_blocks() {
        return None;
    }
    let message = if names.is_empty() {
        "this alert has no source to read".to_string()
    } else {
        format!("this alert could read any of {} sources", names.len())
    };
    diagnostics.push(
        Diagnostic::new(Code::AmbiguousInput, declared.header_span(), message)
            .label("no `from`")
            .help(match names.first() {
                Some(first) => format!("say which stream it reads, such as `from = {first}`"),
                None => {
                    "add a source, or say which stream the rule reads with `from = …`".to_string()
                }
            }),
    );
    None
}

/// The labels that identify groups; `None` for a constant, which fits any grouping.
type Groups = Option<Vec<String>>;

enum Typed {
    Number(plan::Expr, Groups),
    Condition(Condition, Groups),
}

/// Types a condition; with the input's info it also checks labels, steps and state, and without
/// it (the input is broken) only what the condition says on its own.
struct Typer<'a, 'd> {
    info: Option<&'a StreamInfo>,
    stream: &'a str,
    diagnostics: &'d mut Vec<Diagnostic>,
}

impl Typer<'_, '_> {
    fn expr(&mut self, expr: &ast::Expr) -> Option<Typed> {
        match expr {
            ast::Expr::Number { value, .. } => {
                Some(Typed::Number(plan::Expr::Number(*value), None))
            }
            ast::Expr::Paren { inner, .. } => self.expr(inner),
            ast::Expr::Term(term) => self.term(term),
            ast::Expr::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let left = self.expr(lhs);
                let right = self.expr(rhs);
                self.binary(*op, *op_span, (left?, lhs), (right?, rhs))
            }
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        (left, lhs): (Typed, &ast::Expr),
        (right, rhs): (Typed, &ast::Expr),
    ) -> Option<Typed> {
        if op.is_logical() {
            return match (left, right) {
                (Typed::Condition(l, lg), Typed::Condition(r, rg)) => {
                    let groups = self.merge(op, op_span, (&lg, lhs), (&rg, rhs))?;
                    let (l, r) = (Box::new(l), Box::new(r));
                    let condition = if op == BinaryOp::And {
                        Condition::And(l, r)
                    } else {
                        Condition::Or(l, r)
                    };
                    Some(Typed::Condition(condition, groups))
                }
                (Typed::Number(..), _) => self.not_a_condition(op, lhs),
                (_, Typed::Number(..)) => self.not_a_condition(op, rhs),
            };
        }
        let (l, lg, r, rg) = match (left, right) {
            (Typed::Number(l, lg), Typed::Number(r, rg)) => (l, lg, r, rg),
            (Typed::Condition(..), _) => return self.not_a_number(op, lhs),
            (_, Typed::Condition(..)) => return self.not_a_number(op, rhs),
        };
        let groups = self.merge(op, op_span, (&lg, lhs), (&rg, rhs))?;
        if !op.is_comparison() {
            let expr = plan::Expr::Arithmetic {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            };
            return Some(Typed::Number(expr, groups));
        }
        if groups.is_none() {
            return self.fail(
                Diagnostic::new(
                    Code::ConditionType,
                    lhs.span().to(rhs.span()),
                    "this compares two constants",
                )
                .label("never changes")
                .help("compare an aggregate, such as `avg(cpu_usage_percent) over 5m > 90`"),
            );
        }
        Some(Typed::Condition(
            Condition::Compare { op, lhs: l, rhs: r },
            groups,
        ))
    }

    fn not_a_condition(&mut self, op: BinaryOp, side: &ast::Expr) -> Option<Typed> {
        self.fail(
            Diagnostic::new(
                Code::ConditionType,
                side.span(),
                format!("`{}` joins conditions, and this is a number", op.symbol()),
            )
            .label("a number")
            .help("compare it with a threshold, such as `… > 0`"),
        )
    }

    fn not_a_number(&mut self, op: BinaryOp, side: &ast::Expr) -> Option<Typed> {
        let chained = matches!(side, ast::Expr::Binary { op, .. } if op.is_comparison());
        let diagnostic = Diagnostic::new(
            Code::ConditionType,
            side.span(),
            format!(
                "`{}` needs a number here, and this is a condition",
                op.symbol()
            ),
        )
        .label("a condition");
        let diagnostic = if chained {
            diagnostic.help("comparisons cannot be chained: join them with `and`")
        } else {
            diagnostic.help("conditions are joined with `and` and `or`")
        };
        self.fail(diagnostic)
    }

    fn merge(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        (lg, lhs): (&Groups, &ast::Expr),
        (rg, rhs): (&Groups, &ast::Expr),
    ) -> Option<Groups> {
        match (lg, rg) {
            (None, other) | (other, None) => Some(other.clone()),
            (Some(l), Some(r)) if same_labels(l, r) || r.is_empty() => Some(Some(l.clone())),
            (Some(l), Some(r)) if l.is_empty() => Some(Some(r.clone())),
            (Some(l), Some(r)) => {
                let describe = |labels: &[String]| {
                    format!(
                        "grouped by {}",
                        quoted_list(labels.iter().map(String::as_str))
                    )
                };
                self.fail(
                    Diagnostic::new(
                        Code::GroupingMismatch,
                        op_span,
                        format!(
                            "the two sides of `{}` are grouped by different labels",
                            op.symbol()
                        ),
                    )
                    .label("cannot match groups")
                    .also(lhs.span(), describe(l))
                    .also(rhs.span(), describe(r))
                    .help("group both sides by the same labels, or one side by none"),
                )
            }
        }
    }

    fn term(&mut self, term: &Term) -> Option<Typed> {
        let function = &term.function.name;
        let aggregate = if function == "absent" {
            None
        } else {
            match Aggregate::from_name(function) {
                Some(aggregate) => Some(aggregate),
                None => {
                    let mut diagnostic = unknown_aggregate(function, term.function.span);
                    if diagnostic.help.is_none() {
                        diagnostic = diagnostic.maybe_help(did_you_mean(function, ["absent"]));
                    }
                    return self.fail(diagnostic.note(format!(
                        "conditions use an aggregate ({}) or `absent`",
                        quoted_list(Aggregate::ALL.map(Aggregate::name))
                    )));
                }
            }
        };
        let mut sound = self.over(term);
        sound &= self.metric_name(&term.selector.metric);
        let matchers = labels::matchers(
            &term.selector.matchers,
            self.info,
            self.stream,
            self.diagnostics,
        );
        let mut by: Vec<&Ident> = Vec::new();
        for label in &term.by {
            if let Some(first) = by.iter().find(|seen| seen.name == label.name) {
                self.diagnostics
                    .push(listed_twice(&label.name, label.span, first.span));
                sound = false;
                continue;
            }
            if let Some(info) = self.info {
                sound &= labels::require(label, info, self.stream, self.diagnostics);
            }
            by.push(label);
        }
        let by: Vec<String> = by.into_iter().map(|label| label.name.clone()).collect();
        if let (Some(aggregate), Some(info)) = (aggregate, self.info)
            && info.shape == Shape::Rollups
        {
            sound &= streams::state_available(
                aggregate,
                term.function.span,
                info,
                self.stream,
                self.diagnostics,
            );
        }
        let matchers = matchers?;
        if !sound {
            return None;
        }
        let selection = Selection {
            aggregate,
            metric: term.selector.metric.name.clone(),
            matchers,
            over: Duration(term.over.1),
            by: by.clone(),
            span: term.span,
        };
        Some(match aggregate {
            Some(_) => Typed::Number(plan::Expr::Selection(selection), Some(by)),
            None => Typed::Condition(Condition::Absent(selection), Some(by)),
        })
    }

    /// `over` must cover whole steps of the input.
    fn over(&mut self, term: &Term) -> bool {
        let Some(info) = self.info else {
            return true;
        };
        let step = info.step.millis();
        let over = term.over.1;
        if over >= step && over.is_multiple_of(step) {
            return true;
        }
        let suggestion = Duration(over.div_ceil(step).max(1) * step);
        let message = if over < step {
            format!(
                "`over {}` is shorter than the step of `{}`, {}",
                term.over.0, self.stream, info.step
            )
        } else {
            format!(
                "`over {}` is not a whole number of steps of `{}` ({})",
                term.over.0, self.stream, info.step
            )
        };
        self.diagnostics.push(
            Diagnostic::new(Code::OverTooShort, term.over_span, message)
                .label(format!("not a multiple of {}", info.step))
                .help(format!(
                    "rules see `{}` in steps of {}: use {suggestion}",
                    self.stream, info.step
                )),
        );
        false
    }

    fn metric_name(&mut self, metric: &Ident) -> bool {
        if self
            .info
            .is_none_or(|info| info.grouping.carries(METRIC_NAME, &info.labels))
        {
            return true;
        }
        self.diagnostics.push(
            Diagnostic::new(
                Code::MissingLabel,
                metric.span,
                format!(
                    "`{}` does not keep `metric_name`, so a metric cannot be selected from it",
                    self.stream
                ),
            )
            .label("needs `metric_name`")
            .help(format!(
                "add `metric_name` to the `by` of `{}`",
                self.stream
            )),
        );
        false
    }

    fn fail<T>(&mut self, diagnostic: Diagnostic) -> Option<T> {
        self.diagnostics.push(diagnostic);
        None
    }
}

fn same_labels(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|label| b.contains(label))
}

/// Parses label or annotation templates and checks the fields they name.
fn templates(
    map: Option<Vec<(Ident, plan::Text, Span)>>,
    group_by: &[String],
    keys_are_labels: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, Template)>> {
    let mut parsed = Vec::new();
    let mut sound = true;
    for (key, text, span) in map.unwrap_or_default() {
        if keys_are_labels && !is_label_name(&key.name) {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    key.span,
                    format!("`{}` is not a valid label name", key.name),
                )
                .label("labels are letters, digits and `_`, not starting with a digit"),
            );
            sound = false;
        }
        let plan::Text::Literal(text) = text else {
            diagnostics.push(
                Diagnostic::new(
                    Code::WrongType,
                    span,
                    "alert labels and annotations cannot use `env()`",
                )
                .label("expected a string")
                .help("write the text; it may hold templates such as `{{ host }}`"),
            );
            sound = false;
            continue;
        };
        // A string without escapes maps template offsets one-to-one to the file.
        let exact = span.end - span.start == text.len() + 2;
        let locate = |at: usize, len: usize| {
            if exact {
                Span::new(span.start + 1 + at, span.start + 1 + at + len)
            } else {
                span
            }
        };
        match Template::parse(&text) {
            Ok(template) => {
                for field in template.fields() {
                    let Field::Label(label) = field else { continue };
                    if group_by.contains(label) {
                        continue;
                    }
                    let at = text.find(label.as_str()).unwrap_or(0);
                    let mut known: Vec<&str> = group_by.iter().map(String::as_str).collect();
                    known.extend(["value", "alertname"]);
                    diagnostics.push(
                        Diagnostic::new(
                            Code::UnknownTemplateField,
                            locate(at, label.len()),
                            format!("alerts of this rule have no label `{label}`"),
                        )
                        .label("unknown field")
                        .maybe_help(did_you_mean(label, known.iter().copied()))
                        .note(format!(
                            "templates can use {}",
                            quoted_list(known.iter().copied())
                        )),
                    );
                    sound = false;
                }
                parsed.push((key.name, template));
            }
            Err(error) => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::UnknownTemplateField,
                        locate(error.at, error.len),
                        error.message,
                    )
                    .label("invalid template"),
                );
                sound = false;
            }
        }
    }
    sound.then_some(parsed)
}
