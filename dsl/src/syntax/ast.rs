//! The syntax tree of a `.pipe` file: what was written, where, and how it was laid out.
//!
//! Nothing here is checked yet: a block kind may be unknown and a property may have the wrong
//! type. The checker turns this tree into a [`crate::Plan`]; the formatter prints it back.

use crate::span::Span;

/// A name as written, with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it stands in the file.
    pub span: Span,
}

/// One parsed file: its top-level blocks in order, plus every comment for the formatter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// Blocks in the order they appear.
    pub blocks: Vec<Block>,
    /// Every comment in the file, in order.
    pub comments: Vec<Comment>,
    /// The names of blocks that failed to parse.
    pub unparsed: Vec<Ident>,
}

/// A `# …` comment; kept so that formatting never loses one.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The text from `#` to the end of the line, trailing spaces removed.
    pub text: String,
    /// Where it stands.
    pub span: Span,
}

/// `KIND NAME [from|to TARGET[{matchers}]] { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// `source`, `rollup`, `alert` or `sink` when valid.
    pub kind: Ident,
    /// The block's name.
    pub name: Ident,
    /// The `from …` or `to …` part of the header.
    pub link: Option<Link>,
    /// The properties.
    pub body: Body,
    /// The whole block.
    pub span: Span,
}

/// The `from`/`to` part of a block header.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// `from` or `to`.
    pub connector: Ident,
    /// A source or sink kind, or a stream name for rollups.
    pub target: Ident,
    /// Label matchers that filter the input stream, as in `from metrics{host="a"}`.
    pub matchers: Option<Vec<Matcher>>,
}

/// `{ entries }`: a block body or a map value.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// The entries in order.
    pub entries: Vec<Entry>,
    /// How entry `i` is separated from entry `i + 1` (one fewer than entries, or as many when the
    /// last entry has a separator of its own before `}`).
    pub separators: Vec<Separator>,
    /// Whether the body is written over several lines.
    pub multiline: bool,
    /// From `{` to `}`.
    pub span: Span,
}

/// What stands between two entries; the formatter keeps the user's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separator {
    /// A comma was written.
    pub comma: bool,
    /// Newlines written (0 on the same line; 2 or more means a blank line).
    pub newlines: u32,
}

/// `key = value` or the statement form `key value` (as in `for 2m`).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The property name; quoted keys keep their text without quotes.
    pub key: Ident,
    /// Whether the key was written in quotes.
    pub quoted_key: bool,
    /// The label matchers of a key written as a series, `metric{label="value"}`: how a test
    /// block names its input series.
    pub series: Option<Vec<Matcher>>,
    /// The value.
    pub value: Value,
    /// From key to the end of the value.
    pub span: Span,
}

/// A property value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What kind of value it is.
    pub kind: ValueKind,
    /// Where it stands.
    pub span: Span,
}

/// The kinds of values the language has.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// `"text"`, escapes resolved.
    String(String),
    /// A number as written (kept for the formatter) and its value.
    Number {
        /// The text, such as `100_000`.
        text: String,
        /// Its value.
        value: f64,
    },
    /// A duration in milliseconds, with its text (`1h30m`).
    Duration {
        /// The text as written.
        text: String,
        /// Milliseconds.
        millis: u64,
    },
    /// A size in bytes, with its text (`64MB`).
    Size {
        /// The text as written.
        text: String,
        /// Bytes.
        bytes: u64,
    },
    /// `true` or `false`.
    Bool(bool),
    /// A bare word: a stream, label, aggregate or enum name.
    Ident(String),
    /// `[a, b]`.
    List(Vec<Value>),
    /// `{ key = value }`.
    Map(Body),
    /// `name(args)`.
    Call {
        /// The function.
        name: Ident,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// An alert condition (`when …`).
    Condition(Expr),
}

/// An alert condition expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Number {
        /// As written.
        text: String,
        /// Its value.
        value: f64,
        /// Where.
        span: Span,
    },
    /// `AGG(selector) over D [by labels]`.
    Term(Term),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Where the operator stands.
        op_span: Span,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `( expr )`, kept so the formatter prints the parentheses the user wrote.
    Paren {
        /// The inner expression.
        inner: Box<Expr>,
        /// From `(` to `)`.
        span: Span,
    },
}

impl Expr {
    /// The span of the whole expression.
    pub fn span(&self) -> Span {
        match self {
            Expr::Number { span, .. } | Expr::Paren { span, .. } => *span,
            Expr::Term(term) => term.span,
            Expr::Binary { lhs, rhs, .. } => lhs.span().to(rhs.span()),
        }
    }
}

/// `AGG(metric{matchers}) over DURATION [by label, …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The aggregate (or `absent`).
    pub function: Ident,
    /// What it reads.
    pub selector: Selector,
    /// The window length in milliseconds, with its text.
    pub over: (String, u64),
    /// Where the `over` duration stands.
    pub over_span: Span,
    /// Grouping labels.
    pub by: Vec<Ident>,
    /// The whole term.
    pub span: Span,
}

/// `metric{matchers}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The metric name.
    pub metric: Ident,
    /// Label matchers.
    pub matchers: Vec<Matcher>,
}

/// `label OP "value"`, as in PromQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// The label.
    pub label: Ident,
    /// The operator.
    pub op: MatchOp,
    /// The value or regex.
    pub value: String,
    /// Where the value stands.
    pub value_span: Span,
    /// The whole matcher.
    pub span: Span,
}

/// PromQL's matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`, a fully anchored regex.
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// Binary operators of conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }

    /// Whether the operator compares two numbers.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Eq | BinaryOp::Ne
        )
    }

    /// Whether the operator combines two conditions.
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }
}
