//! Builds the syntax tree from pest's parse of each top-level block.

use pest::Parser as _;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest_derive::Parser;

use super::ast::*;
use super::chunk::comments;
use super::literal;
use super::syntax_error::syntax_error;
use crate::diagnostics::{Code, Diagnostic};
use crate::span::Span;

#[derive(Parser)]
#[grammar = "syntax/grammar.pest"]
struct Grammar;

/// Parses one top-level block that starts at byte `offset` of the file.
pub fn parse_item(text: &str, offset: usize) -> Result<Block, Vec<Diagnostic>> {
    let mut pairs = Grammar::parse(Rule::item, text)
        .map_err(|error| vec![syntax_error(&error, text, offset)])?;
    let item = pairs.next().expect("the item rule always yields one pair");
    let block = item
        .into_inner()
        .find(|pair| pair.as_rule() == Rule::block)
        .expect("an item holds a block");
    let mut builder = Builder {
        text,
        offset,
        errors: Vec::new(),
    };
    let block = builder.block(block);
    if builder.errors.is_empty() {
        Ok(block)
    } else {
        Err(builder.errors)
    }
}

/// Parses a lone value, such as a default written in the schema.
pub fn parse_value(text: &str) -> Option<Value> {
    let pair = Grammar::parse(Rule::value_only, text).ok()?.next()?;
    let value = pair.into_inner().next()?;
    let mut builder = Builder {
        text,
        offset: 0,
        errors: Vec::new(),
    };
    let value = builder.value(value);
    builder.errors.is_empty().then_some(value)
}

/// Turns pairs into nodes, shifting spans to file offsets and collecting literal errors (such as
/// a duration too large to represent).
struct Builder<'t> {
    text: &'t str,
    offset: usize,
    errors: Vec<Diagnostic>,
}

impl Builder<'_> {
    /// Where a node stands. Pest's implicit skip before a trailing optional part is kept even
    /// when the part is absent, so a pair can end in spaces and a comment: those are cut off.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let span = pair.as_span();
        let end = span.start() + code_len(&self.text[span.start()..span.end()]);
        Span::new(span.start(), end).shift(self.offset)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn block(&mut self, pair: Pair<Rule>) -> Block {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let kind = self.ident(inner.next().expect("block kind"));
        let name = self.ident(inner.next().expect("block name"));
        let mut link = None;
        let mut body = None;
        for part in inner {
            match part.as_rule() {
                Rule::link => link = Some(self.link(part)),
                Rule::body => body = Some(self.body(part)),
                rule => unreachable!("unexpected {rule:?} in a block"),
            }
        }
        Block {
            kind,
            name,
            link,
            body: body.expect("a block has a body"),
            span,
        }
    }

    fn link(&mut self, pair: Pair<Rule>) -> Link {
        let mut inner = pair.into_inner();
        let connector = self.ident(inner.next().expect("connector"));
        let target = self.ident(inner.next().expect("link target"));
        let matchers = inner.next().map(|pair| self.matchers(pair));
        Link {
            connector,
            target,
            matchers,
        }
    }

    fn body(&mut self, pair: Pair<Rule>) -> Body {
        let span = self.span(&pair);
        let text = pair.as_str();
        let mut entries = Vec::new();
        let mut separators = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::entry => entries.push(self.entry(part)),
                Rule::sep => separators.push(Separator {
                    comma: part
                        .clone()
                        .into_inner()
                        .any(|p| p.as_rule() == Rule::comma),
                    newlines: part.as_str().matches('\n').count() as u32,
                }),
                rule => unreachable!("unexpected {rule:?} in a body"),
            }
        }
        Body {
            entries,
            separators,
            multiline: text.contains('\n'),
            span,
        }
    }

    fn entry(&mut self, pair: Pair<Rule>) -> Entry {
        let pair = pair.into_inner().next().expect("entry holds one rule");
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::condition => {
                let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::equals);
                let key = self.ident(inner.next().expect("when"));
                let expr = self.expr(inner.next().expect("condition expression"));
                Entry {
                    key,
                    quoted_key: false,
                    series: None,
                    value: Value {
                        span: expr.span(),
                        kind: ValueKind::Condition(expr),
                    },
                    span,
                }
            }
            Rule::property => {
                let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::equals);
                let key_rule = inner.next().expect("property key");
                let is_series = key_rule.as_rule() == Rule::series_key;
                let mut key_parts = key_rule.into_inner();
                let key_pair = key_parts.next().expect("key holds a name");
                let series =
                    is_series.then(|| self.matchers(key_parts.next().expect("series matchers")));
                let quoted_key = key_pair.as_rule() == Rule::string;
                let key = if quoted_key {
                    Ident {
                        name: literal::unescape(string_inner(&key_pair)),
                        span: self.span(&key_pair),
                    }
                } else {
                    self.ident(key_pair)
                };
                let value = self.value(inner.next().expect("property value"));
                Entry {
                    key,
                    quoted_key,
                    series,
                    value,
                    span,
                }
            }
            rule => unreachable!("unexpected {rule:?} in an entry"),
        }
    }

    fn value(&mut self, pair: Pair<Rule>) -> Value {
        let pair = pair.into_inner().next().expect("value holds one rule");
        let span = self.span(&pair);
        let text = pair.as_str();
        let kind = match pair.as_rule() {
            Rule::string => ValueKind::String(literal::unescape(string_inner(&pair))),
            Rule::number => ValueKind::Number {
                text: text.to_string(),
                value: literal::number(text),
            },
            Rule::duration => ValueKind::Duration {
                text: text.to_string(),
                millis: self.literal(literal::duration_millis(text), span),
            },
            Rule::size => ValueKind::Size {
                text: text.to_string(),
                bytes: self.literal(literal::size_bytes(text), span),
            },
            Rule::boolean => ValueKind::Bool(text == "true"),
            Rule::ident => ValueKind::Ident(text.to_string()),
            Rule::list => ValueKind::List(pair.into_inner().map(|p| self.value(p)).collect()),
            Rule::body => ValueKind::Map(self.body(pair)),
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = self.ident(inner.next().expect("call name"));
                let args = inner.map(|p| self.value(p)).collect();
                ValueKind::Call { name, args }
            }
            rule => unreachable!("unexpected {rule:?} as a value"),
        };
        Value { kind, span }
    }

    /// Keeps a literal's value, or records why it has none.
    fn literal(&mut self, parsed: Result<u64, String>, span: Span) -> u64 {
        parsed.unwrap_or_else(|message| {
            self.errors
                .push(Diagnostic::new(Code::InvalidValue, span, message).label("too large"));
            0
        })
    }

    fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        let pratt = PrattParser::new()
            .op(Op::infix(Rule::or_op, Assoc::Left))
            .op(Op::infix(Rule::and_op, Assoc::Left))
            .op(Op::infix(Rule::cmp_op, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left));
        let offset = self.offset;
        pratt
            .map_primary(|primary| self.primary(primary))
            .map_infix(|lhs, op, rhs| Expr::Binary {
                op: binary_op(op.as_str()),
                op_span: Span::new(
                    op.as_span().start(),
                    op.as_span().start() + code_len(op.as_str()),
                )
                .shift(offset),
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            })
            .parse(pair.into_inner())
    }

    fn primary(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::number => Expr::Number {
                text: pair.as_str().to_string(),
                value: literal::number(pair.as_str()),
                span,
            },
            Rule::paren => Expr::Paren {
                inner: Box::new(self.expr(pair.into_inner().next().expect("inner expr"))),
                span,
            },
            Rule::term => Expr::Term(self.term(pair)),
            rule => unreachable!("unexpected {rule:?} as an operand"),
        }
    }

    fn term(&mut self, pair: Pair<Rule>) -> Term {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let function = self.ident(inner.next().expect("function"));
        let mut selector_parts = inner.next().expect("selector").into_inner();
        let metric = self.ident(selector_parts.next().expect("metric"));
        let matchers = selector_parts
            .next()
            .map(|p| self.matchers(p))
            .unwrap_or_default();
        let over_pair = inner
            .next()
            .expect("over clause")
            .into_inner()
            .nth(1)
            .expect("over duration");
        let over_span = self.span(&over_pair);
        let over_text = over_pair.as_str().to_string();
        let over_millis = self.literal(literal::duration_millis(&over_text), over_span);
        let by = inner
            .next()
            .map(|by| {
                by.into_inner()
                    .filter(|p| p.as_rule() == Rule::label)
                    .map(|p| self.ident(p))
                    .collect()
            })
            .unwrap_or_default();
        Term {
            function,
            selector: Selector { metric, matchers },
            over: (over_text, over_millis),
            over_span,
            by,
            span,
        }
    }

    fn matchers(&mut self, pair: Pair<Rule>) -> Vec<Matcher> {
        pair.into_inner()
            .map(|matcher| {
                let span = self.span(&matcher);
                let mut inner = matcher.into_inner();
                let label = self.ident(inner.next().expect("matcher label"));
                let op = match inner.next().expect("matcher op").as_str() {
                    "=" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    "=~" => MatchOp::Regex,
                    _ => MatchOp::NotRegex,
                };
                let value = inner.next().expect("matcher value");
                Matcher {
                    label,
                    op,
                    value: literal::unescape(string_inner(&value)),
                    value_span: self.span(&value),
                    span,
                }
            })
            .collect()
    }
}

/// The length of `text` without trailing whitespace and comments.
fn code_len(text: &str) -> usize {
    let mut code = text.trim_end();
    loop {
        let line_start = code.rfind('\n').map_or(0, |at| at + 1);
        match comments(&code[line_start..]).first() {
            Some(comment) => code = code[..line_start + comment.start].trim_end(),
            None => return code.len(),
        }
    }
}

fn string_inner<'a>(pair: &Pair<'a, Rule>) -> &'a str {
    pair.clone()
        .into_inner()
        .next()
        .map_or("", |inner| inner.as_str())
}

fn binary_op(text: &str) -> BinaryOp {
    match text {
        "or" => BinaryOp::Or,
        "and" => BinaryOp::And,
        ">" => BinaryOp::Gt,
        ">=" => BinaryOp::Ge,
        "<" => BinaryOp::Lt,
        "<=" => BinaryOp::Le,
        "==" => BinaryOp::Eq,
        "!=" => BinaryOp::Ne,
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        _ => BinaryOp::Div,
    }
}
