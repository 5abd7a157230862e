//! Checks each property value against the type its schema declares and turns it into a typed
//! setting; defaults are read from the schema the same way.

use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{Aggregate, Duration, Text, Window};
use crate::schema::{Default, KindSpec, PropType, Property};
use crate::span::Span;
use crate::syntax::ast::{Expr, Ident, Value, ValueKind};
use crate::syntax::{literal, parse_value};

use super::suggest::{did_you_mean, quoted_list};

/// Reads an environment variable; the process environment outside tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A checked property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// A string or `env()`.
    Text(Text),
    /// A whole number.
    Number(u64),
    /// A duration.
    Duration(Duration),
    /// A size in bytes.
    Size(u64),
    /// A boolean.
    Bool(bool),
    /// One of a fixed set of words.
    Word(String),
    /// A stream name.
    Stream(Ident),
    /// Label names.
    Labels(Vec<Ident>),
    /// Aggregates, with where each was written.
    Aggregates(Vec<(Aggregate, Span)>),
    /// A window.
    Window(Window),
    /// String pairs, with where each value was written.
    Map(Vec<(Ident, Text, Span)>),
    /// An alert condition, typed later.
    Condition(Expr),
}

/// The properties of one block: those written, and the schema's defaults for the rest.
#[derive(Debug, Clone)]
pub struct Settings {
    spec: &'static KindSpec,
    written: Vec<Written>,
}

/// A property as written: its value and where its key and value stand.
#[derive(Debug, Clone)]
struct Written {
    name: &'static str,
    setting: Setting,
    key_span: Span,
    value_span: Span,
}

impl Settings {
    /// No properties written yet.
    pub fn new(spec: &'static KindSpec) -> Self {
        Settings {
            spec,
            written: Vec::new(),
        }
    }

    /// Records a written property.
    pub fn insert(
        &mut self,
        name: &'static str,
        setting: Setting,
        key_span: Span,
        value_span: Span,
    ) {
        self.written.push(Written {
            name,
            setting,
            key_span,
            value_span,
        });
    }

    fn written(&self, name: &str) -> Option<&Written> {
        self.written.iter().find(|written| written.name == name)
    }

    /// Where a property's key was written.
    pub fn span(&self, name: &str) -> Option<Span> {
        self.written(name).map(|written| written.key_span)
    }

    /// Where a property's value was written.
    pub fn value_span(&self, name: &str) -> Option<Span> {
        self.written(name).map(|written| written.value_span)
    }

    /// The written value, or else the schema's default value.
    pub fn get(&self, name: &str) -> Option<Setting> {
        match self.written(name) {
            Some(written) => Some(written.setting.clone()),
            None => self.spec.property(name).and_then(default_setting),
        }
    }

    /// A string property.
    pub fn text(&self, name: &str) -> Option<Text> {
        match self.get(name)? {
            Setting::Text(text) => Some(text),
            _ => None,
        }
    }

    /// A number property.
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Setting::Number(number) | Setting::Size(number) => Some(number),
            _ => None,
        }
    }

    /// A duration property.
    pub fn duration(&self, name: &str) -> Option<Duration> {
        match self.get(name)? {
            Setting::Duration(duration) => Some(duration),
            _ => None,
        }
    }

    /// A boolean property.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Setting::Bool(value) => Some(value),
            _ => None,
        }
    }

    /// A word property.
    pub fn word(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Setting::Word(word) => Some(word),
            _ => None,
        }
    }

    /// A stream property.
    pub fn stream(&self, name: &str) -> Option<Ident> {
        match self.get(name)? {
            Setting::Stream(stream) => Some(stream),
            _ => None,
        }
    }

    /// A label-list property.
    pub fn labels(&self, name: &str) -> Option<Vec<Ident>> {
        match self.get(name)? {
            Setting::Labels(labels) => Some(labels),
            _ => None,
        }
    }

    /// An aggregate-list property.
    pub fn aggregates(&self, name: &str) -> Option<Vec<(Aggregate, Span)>> {
        match self.get(name)? {
            Setting::Aggregates(aggregates) => Some(aggregates),
            _ => None,
        }
    }

    /// A window property.
    pub fn window(&self, name: &str) -> Option<Window> {
        match self.get(name)? {
            Setting::Window(window) => Some(window),
            _ => None,
        }
    }

    /// A map property.
    pub fn map(&self, name: &str) -> Option<Vec<(Ident, Text, Span)>> {
        match self.get(name)? {
            Setting::Map(map) => Some(map),
            _ => None,
        }
    }

    /// A condition property.
    pub fn condition(&self, name: &str) -> Option<Expr> {
        match self.get(name)? {
            Setting::Condition(expr) => Some(expr),
            _ => None,
        }
    }
}

/// The schema's default for a property, when it has a written one.
pub fn default_setting(property: &Property) -> Option<Setting> {
    let Default::Value(text) = property.default else {
        return None;
    };
    let value = parse_value(text)?;
    coerce(&value, property.ty, &|_| None, &mut Vec::new())
}

/// Checks `value` against `ty`; reports why not into `diagnostics`.
pub fn coerce(
    value: &Value,
    ty: PropType,
    env: EnvLookup,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Setting> {
    let mut coercion = Coercion { env, diagnostics };
    coercion.value(value, ty)
}

struct Coercion<'a, 'b> {
    env: EnvLookup<'a>,
    diagnostics: &'b mut Vec<Diagnostic>,
}

impl Coercion<'_, '_> {
    fn value(&mut self, value: &Value, ty: PropType) -> Option<Setting> {
        match (ty, &value.kind) {
            (PropType::Text | PropType::Url, _) => self.text(value, ty).map(Setting::Text),
            (PropType::Count | PropType::Natural, ValueKind::Number { value: n, .. }) => {
                self.whole_number(value.span, *n, ty == PropType::Count)
            }
            (PropType::Duration, ValueKind::Duration { millis, .. }) => {
                Some(Setting::Duration(Duration(*millis)))
            }
            (PropType::Size, ValueKind::Size { bytes, .. }) => Some(Setting::Size(*bytes)),
            (PropType::Bool, ValueKind::Bool(b)) => Some(Setting::Bool(*b)),
            (PropType::Word(words), ValueKind::Ident(word)) => {
                if words.contains(&word.as_str()) {
                    Some(Setting::Word(word.clone()))
                } else {
                    self.invalid(
                        Diagnostic::new(
                            Code::InvalidValue,
                            value.span,
                            format!("`{word}` is not allowed here"),
                        )
                        .label(format!("expected {}", ty.describe()))
                        .maybe_help(did_you_mean(word, words.iter().copied())),
                    )
                }
            }
            (PropType::Stream, ValueKind::Ident(name)) => Some(Setting::Stream(Ident {
                name: name.clone(),
                span: value.span,
            })),
            (PropType::Labels, ValueKind::Ident(_) | ValueKind::List(_)) => self.labels(value),
            (PropType::Aggregates, ValueKind::Ident(_) | ValueKind::List(_)) => {
                self.aggregates(value)
            }
            (PropType::Window, ValueKind::Call { name, args }) => self.window(value, name, args),
            (PropType::Map, ValueKind::Map(body)) => {
                let mut pairs: Vec<(Ident, Text, Span)> = Vec::new();
                for entry in &body.entries {
                    if let Some(first) = pairs.iter().find(|(key, ..)| key.name == entry.key.name) {
                        self.diagnostics.push(
                            Diagnostic::new(
                                Code::DuplicateProperty,
                                entry.key.span,
                                format!("`{}` is set twice", entry.key.name),
                            )
                            .label("set again here")
                            .also(first.0.span, "first set here"),
                        );
                        continue;
                    }
                    if let Some(text) = self.text(&entry.value, PropType::Text) {
                        pairs.push((entry.key.clone(), text, entry.value.span));
                    }
                }
                Some(Setting::Map(pairs))
            }
            (PropType::Condition, ValueKind::Condition(expr)) => Some(Setting::Condition(expr.clone())),
            (PropType::Condition, _) => self.invalid(
                Diagnostic::new(Code::ConditionType, value.span, "`when` needs a condition")
                    .label(format!("this is {}", describe(&value.kind)))
                    .help("write a comparison, such as `when avg(cpu_usage_percent) over 5m by host > 90`"),
            ),
            _ => self.wrong_type(value, ty),
        }
    }

    fn text(&mut self, value: &Value, ty: PropType) -> Option<Text> {
        let text = match &value.kind {
            ValueKind::String(text) => Text::Literal(text.clone()),
            ValueKind::Call { name, args } if name.name == "env" => self.env_call(value, args)?,
            _ => return self.wrong_type(value, ty),
        };
        if let (PropType::Url, Text::Literal(url)) = (ty, &text)
            && !url.contains("://")
        {
            return self.invalid(
                Diagnostic::new(Code::InvalidValue, value.span, "this is not a URL")
                    .label("expected `scheme://host:port/…`")
                    .help(format!("such as `\"http://{url}\"`")),
            );
        }
        Some(text)
    }

    fn env_call(&mut self, value: &Value, args: &[Value]) -> Option<Text> {
        let strings: Option<Vec<&String>> = args
            .iter()
            .map(|arg| match &arg.kind {
                ValueKind::String(text) => Some(text),
                _ => None,
            })
            .collect();
        let (var, default) = match strings.as_deref() {
            Some([var]) => ((*var).clone(), None),
            Some([var, default]) => ((*var).clone(), Some((*default).clone())),
            _ => {
                return self.invalid(
                    Diagnostic::new(
                        Code::WrongType,
                        value.span,
                        "`env()` takes one or two strings",
                    )
                    .label("expected `env(\"NAME\")` or `env(\"NAME\", \"default\")`"),
                );
            }
        };
        if default.is_none() && (self.env)(&var).is_none() {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MissingEnv,
                    value.span,
                    format!("environment variable `{var}` is not set"),
                )
                .label("no default given")
                .help(format!(
                    "set `{var}`, or give a default: `env({}, \"…\")`",
                    literal::quote(&var)
                )),
            );
        }
        Some(Text::Env { var, default })
    }

    fn whole_number(&mut self, span: Span, number: f64, positive: bool) -> Option<Setting> {
        let minimum = if positive { 1.0 } else { 0.0 };
        if number.fract() != 0.0 || number < minimum || number > u64::MAX as f64 {
            let expected = if positive {
                "a whole number of at least 1"
            } else {
                "a whole number of at least 0"
            };
            return self.invalid(
                Diagnostic::new(Code::InvalidValue, span, format!("expected {expected}"))
                    .label("not allowed here"),
            );
        }
        Some(Setting::Number(number as u64))
    }

    fn labels(&mut self, value: &Value) -> Option<Setting> {
        let mut labels: Vec<Ident> = Vec::new();
        for item in list_items(value) {
            let ValueKind::Ident(name) = &item.kind else {
                self.wrong_type::<Setting>(item, PropType::Labels);
                continue;
            };
            if let Some(first) = labels.iter().find(|label| &label.name == name) {
                self.diagnostics
                    .push(listed_twice(name, item.span, first.span));
                continue;
            }
            labels.push(Ident {
                name: name.clone(),
                span: item.span,
            });
        }
        Some(Setting::Labels(labels))
    }

    fn aggregates(&mut self, value: &Value) -> Option<Setting> {
        let items = list_items(value);
        if items.is_empty() {
            return self.invalid(
                Diagnostic::new(
                    Code::InvalidValue,
                    value.span,
                    "a rollup needs at least one aggregate",
                )
                .label("empty list")
                .help("such as `aggs = [count, sum, min, max, avg]`"),
            );
        }
        let mut aggregates: Vec<(Aggregate, Span)> = Vec::new();
        for item in items {
            let ValueKind::Ident(name) = &item.kind else {
                self.wrong_type::<Setting>(item, PropType::Aggregates);
                continue;
            };
            let Some(aggregate) = Aggregate::from_name(name) else {
                self.diagnostics.push(unknown_aggregate(name, item.span));
                continue;
            };
            if let Some((_, first)) = aggregates.iter().find(|(known, _)| *known == aggregate) {
                self.diagnostics.push(listed_twice(name, item.span, *first));
                continue;
            }
            aggregates.push((aggregate, item.span));
        }
        Some(Setting::Aggregates(aggregates))
    }

    fn window(&mut self, value: &Value, name: &Ident, args: &[Value]) -> Option<Setting> {
        let durations: Option<Vec<u64>> = args
            .iter()
            .map(|arg| match arg.kind {
                ValueKind::Duration { millis, .. } => Some(millis),
                _ => None,
            })
            .collect();
        let window = match (name.name.as_str(), durations.as_deref()) {
            ("tumble", Some(&[size])) => Window::Tumble {
                size: Duration(size),
            },
            ("hop", Some(&[size, slide])) => Window::Hop {
                size: Duration(size),
                slide: Duration(slide),
            },
            ("tumble" | "hop", _) => {
                let form = if name.name == "tumble" {
                    "tumble(SIZE)"
                } else {
                    "hop(SIZE, SLIDE)"
                };
                return self.invalid(
                    Diagnostic::new(Code::WrongType, value.span, format!("expected `{form}`"))
                        .label("wrong arguments")
                        .help("sizes are durations, such as `tumble(1m)` or `hop(5m, 1m)`"),
                );
            }
            (other, _) => {
                return self.invalid(
                    Diagnostic::new(
                        Code::InvalidValue,
                        name.span,
                        format!("unknown window `{other}`"),
                    )
                    .label("expected `tumble` or `hop`")
                    .maybe_help(did_you_mean(other, ["tumble", "hop"])),
                );
            }
        };
        if window.size().millis() == 0 || window.slide().millis() == 0 {
            return self.invalid(
                Diagnostic::new(Code::InvalidValue, value.span, "a window cannot be empty")
                    .label("size and slide must be longer than 0s"),
            );
        }
        if window.size().millis() % window.slide().millis() != 0 {
            let help = format!(
                "choose a slide that divides {}, such as {}",
                window.size(),
                Duration(gcd(window.size().millis(), window.slide().millis()))
            );
            return self.invalid(
                Diagnostic::new(
                    Code::HopSlide,
                    args[1].span,
                    format!(
                        "the slide {} does not divide the size {}",
                        window.slide(),
                        window.size()
                    ),
                )
                .label("windows would not line up")
                .help(help),
            );
        }
        Some(Setting::Window(window))
    }

    fn wrong_type<T>(&mut self, value: &Value, ty: PropType) -> Option<T> {
        let help = match (&value.kind, ty) {
            (ValueKind::String(text), _)
                if ty != PropType::Text && parse_value(text).is_some_and(|v| coerces(&v, ty)) =>
            {
                Some(format!("write it without quotes: `{text}`"))
            }
            (ValueKind::Number { text, .. }, PropType::Duration) => Some(format!(
                "durations need a unit, such as `{text}s` or `{text}m`"
            )),
            (ValueKind::Number { text, .. }, PropType::Size) => {
                Some(format!("sizes need a unit, such as `{text}MB`"))
            }
            (ValueKind::Ident(word), PropType::Text | PropType::Url) => {
                Some(format!("strings are quoted: `\"{word}\"`"))
            }
            (ValueKind::Call { name, .. }, _) if name.name == "env" => {
                Some("`env()` gives a string, and this property is not a string".to_string())
            }
            _ => None,
        };
        self.invalid(
            Diagnostic::new(
                Code::WrongType,
                value.span,
                format!(
                    "expected {}, found {}",
                    ty.describe(),
                    describe(&value.kind)
                ),
            )
            .label(format!("expected {}", ty.describe()))
            .maybe_help(help),
        )
    }

    fn invalid<T>(&mut self, diagnostic: Diagnostic) -> Option<T> {
        self.diagnostics.push(diagnostic);
        None
    }
}

/// The diagnostic for a name written twice in one list.
pub fn listed_twice(name: &str, again: Span, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::InvalidValue,
        again,
        format!("`{name}` is listed twice"),
    )
    .label("listed again here")
    .also(first, "first listed here")
}

/// The diagnostic for an aggregate name that does not exist.
pub fn unknown_aggregate(name: &str, span: Span) -> Diagnostic {
    let names = Aggregate::ALL.map(Aggregate::name);
    Diagnostic::new(
        Code::UnknownAggregate,
        span,
        format!("unknown aggregate `{name}`"),
    )
    .label("not an aggregate")
    .maybe_help(did_you_mean(name, names.iter().copied()))
    .note(format!("the aggregates are {}", quoted_list(names)))
}

fn coerces(value: &Value, ty: PropType) -> bool {
    coerce(value, ty, &|_| Some(String::new()), &mut Vec::new()).is_some()
}

fn list_items(value: &Value) -> &[Value] {
    match &value.kind {
        ValueKind::List(items) => items,
        _ => std::slice::from_ref(value),
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// How a value is named in "expected …, found …".
pub fn describe(kind: &ValueKind) -> String {
    match kind {
        ValueKind::String(text) => format!("string {}", literal::quote(text)),
        ValueKind::Number { text, .. } => format!("number `{text}`"),
        ValueKind::Duration { text, .. } => format!("duration `{text}`"),
        ValueKind::Size { text, .. } => format!("size `{text}`"),
        ValueKind::Bool(value) => format!("`{value}`"),
        ValueKind::Ident(name) => format!("name `{name}`"),
        ValueKind::List(_) => "a list".to_string(),
        ValueKind::Map(_) => "a map".to_string(),
        ValueKind::Call { name, .. } => format!("`{}(…)`", name.name),
        ValueKind::Condition(_) => "a condition".to_string(),
    }
}
