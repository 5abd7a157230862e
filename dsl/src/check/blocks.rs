//! The first pass: each block on its own. Is the block kind known, is the header shaped right,
//! does every property exist, have the right type and appear once, are required ones written?

use crate::diagnostics::{Code, Diagnostic};
use crate::schema::{self, ALERT, BlockKind, Default, KindSpec, ROLLUP, SINKS, SOURCES};
use crate::span::Span;
use crate::syntax::ast::Block;

use super::suggest::{did_you_mean, quoted_list};
use super::values::{EnvLookup, Settings, coerce};

/// A block whose kind is known, with its checked settings.
#[derive(Debug)]
pub struct Declared<'a> {
    /// The syntax.
    pub block: &'a Block,
    /// What kind of block it is.
    pub kind: BlockKind,
    /// Its schema, when its source or sink kind exists.
    pub spec: Option<&'static KindSpec>,
    /// Its properties.
    pub settings: Option<Settings>,
    /// Whether it had no errors of its own, so it can become part of a plan.
    pub valid: bool,
}

impl Declared<'_> {
    /// The block's name.
    pub fn name(&self) -> &str {
        &self.block.name.name
    }

    /// The header, from the keyword to the name, where block-wide problems are shown.
    pub fn header_span(&self) -> Span {
        self.block.kind.span.to(self.block.name.span)
    }
}

/// Checks each block on its own.
pub fn declare<'a>(
    blocks: impl IntoIterator<Item = &'a Block>,
    env: EnvLookup,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Declared<'a>> {
    blocks
        .into_iter()
        .filter_map(|block| declare_block(block, env, diagnostics))
        .collect()
}

fn declare_block<'a>(
    block: &'a Block,
    env: EnvLookup,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Declared<'a>> {
    let errors_before = diagnostics.len();
    let Some(kind) = BlockKind::from_keyword(&block.kind.name) else {
        let keywords = BlockKind::ALL.map(BlockKind::keyword);
        diagnostics.push(
            Diagnostic::new(
                Code::UnknownBlockKind,
                block.kind.span,
                format!("unknown block kind `{}`", block.kind.name),
            )
            .label("not a kind of block")
            .maybe_help(did_you_mean(&block.kind.name, keywords))
            .note(format!(
                "blocks are {}, and `test` for a pipeline's tests",
                quoted_list(keywords)
            )),
        );
        return None;
    };
    let spec = header(block, kind, diagnostics);
    let settings = spec.map(|spec| properties(block, spec, env, diagnostics));
    Some(Declared {
        block,
        kind,
        spec,
        settings,
        valid: diagnostics.len() == errors_before,
    })
}

/// Checks the `from`/`to` part of the header and finds the block's schema.
fn header(
    block: &Block,
    kind: BlockKind,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<&'static KindSpec> {
    let header_span = block.kind.span.to(block.name.span);
    let (connector, example, kinds): (Option<&str>, &str, &[KindSpec]) = match kind {
        BlockKind::Source => (Some("from"), "source NAME from KIND", SOURCES),
        BlockKind::Sink => (Some("to"), "sink NAME to KIND", SINKS),
        BlockKind::Rollup => (Some("from"), "rollup NAME from STREAM", &[]),
        BlockKind::Alert => (None, "alert NAME", &[]),
    };
    let bad_header = |span: Span, message: String| {
        Diagnostic::new(Code::BadHeader, span, message).help(format!("write `{example} {{ … }}`"))
    };
    match (&block.link, connector) {
        (None, Some(connector)) => {
            diagnostics.push(
                bad_header(
                    header_span,
                    format!("a {} needs `{connector} …`", kind.keyword()),
                )
                .label(format!("`{connector}` is missing")),
            );
            return None;
        }
        (Some(link), None) => {
            diagnostics.push(
                bad_header(
                    link.connector.span.to(link.target.span),
                    "an alert names its input inside the block, as `from = STREAM`".to_string(),
                )
                .label("not allowed here"),
            );
        }
        (Some(link), Some(connector)) => {
            if link.connector.name != connector {
                diagnostics.push(
                    bad_header(
                        link.connector.span,
                        format!(
                            "a {} uses `{connector}`, not `{}`",
                            kind.keyword(),
                            link.connector.name
                        ),
                    )
                    .label(format!("expected `{connector}`")),
                );
            }
            if let (Some(matchers), false) = (&link.matchers, kind == BlockKind::Rollup)
                && let (Some(first), Some(last)) = (matchers.first(), matchers.last())
            {
                diagnostics.push(
                    bad_header(
                        first.span.to(last.span),
                        "only rollups filter their input".to_string(),
                    )
                    .label("label matchers are not allowed here"),
                );
            }
        }
        (None, None) => {}
    }
    match kind {
        BlockKind::Rollup => Some(&ROLLUP),
        BlockKind::Alert => Some(&ALERT),
        BlockKind::Source | BlockKind::Sink => {
            let target = &block.link.as_ref()?.target;
            let spec = schema::connector(kind, &target.name);
            if spec.is_none() {
                let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
                diagnostics.push(
                    Diagnostic::new(
                        Code::UnknownKind,
                        target.span,
                        format!("unknown {} kind `{}`", kind.keyword(), target.name),
                    )
                    .label(format!("not a kind of {}", kind.keyword()))
                    .maybe_help(did_you_mean(&target.name, names.iter().copied()))
                    .note(format!(
                        "{} kinds are {}",
                        kind.keyword(),
                        quoted_list(names)
                    )),
                );
            }
            spec
        }
    }
}

/// Checks every property against the schema and collects the typed settings.
fn properties(
    block: &Block,
    spec: &'static KindSpec,
    env: EnvLookup,
    diagnostics: &mut Vec<Diagnostic>,
) -> Settings {
    let mut settings = Settings::new(spec);
    let what = describe_kind(spec);
    for entry in &block.body.entries {
        let Some(property) = spec.property(&entry.key.name) else {
            let names = spec.properties.iter().map(|p| p.name);
            diagnostics.push(
                Diagnostic::new(
                    Code::UnknownProperty,
                    entry.key.span,
                    format!("unknown property `{}` for {what}", entry.key.name),
                )
                .label(format!("not a property of {what}"))
                .maybe_help(did_you_mean(&entry.key.name, names.clone()))
                .note(format!("{what} have {}", quoted_list(names))),
            );
            continue;
        };
        if let Some(first) = settings.span(property.name) {
            diagnostics.push(
                Diagnostic::new(
                    Code::DuplicateProperty,
                    entry.key.span,
                    format!("`{}` is set twice", property.name),
                )
                .label("set again here")
                .also(first, "first set here")
                .help("remove one of them"),
            );
            continue;
        }
        if let Some(setting) = coerce(&entry.value, property.ty, env, diagnostics) {
            settings.insert(property.name, setting, entry.key.span, entry.value.span);
        }
    }
    let missing: Vec<&str> = spec
        .properties
        .iter()
        .filter(|p| p.default == Default::Required && settings.span(p.name).is_none())
        .filter(|p| !block.body.entries.iter().any(|e| e.key.name == p.name))
        .map(|p| p.name)
        .collect();
    if let Some(first) = missing.first() {
        let property = spec
            .property(first)
            .expect("missing names come from the spec");
        let example = if property.statement {
            format!("{first} …")
        } else {
            format!("{first} = …")
        };
        let noun = if missing.len() == 1 {
            "property"
        } else {
            "properties"
        };
        diagnostics.push(
            Diagnostic::new(
                Code::MissingProperty,
                block.kind.span.to(block.name.span),
                format!(
                    "{what} need {noun} {}",
                    quoted_list(missing.iter().copied())
                ),
            )
            .label(format!("missing {}", quoted_list(missing.iter().copied())))
            .help(format!("add `{example}` to the block")),
        );
    }
    settings
}

/// `generator sources`, `rollups`: how a kind is named in messages.
pub fn describe_kind(spec: &KindSpec) -> String {
    match spec.block {
        BlockKind::Source | BlockKind::Sink => format!("{} {}s", spec.name, spec.block.keyword()),
        BlockKind::Rollup | BlockKind::Alert => format!("{}s", spec.block.keyword()),
    }
}
