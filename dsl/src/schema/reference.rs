//! The property reference of `docs/language.md`, written from the schema so that the docs list
//! exactly what the checker accepts.

use super::{ALERT, Default, KindSpec, ROLLUP, SINKS, SOURCES};
use crate::plan::Aggregate;

/// The markdown table of aggregates, for rollups and alert conditions alike.
pub fn aggregates_markdown() -> String {
    let mut out =
        String::from("| aggregate | what it is | window state it needs |\n|---|---|---|\n");
    for aggregate in Aggregate::ALL {
        out.push_str(&format!(
            "| `{aggregate}` | {} | {} |\n",
            aggregate.doc(),
            aggregate.needs().kept().join(", ")
        ));
    }
    out
}

/// The markdown of every block kind's properties.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str("### Sources\n\n");
    for kind in SOURCES {
        kind_section(&mut out, &format!("`source NAME from {}`", kind.name), kind);
    }
    out.push_str("### Rollups\n\n");
    kind_section(&mut out, "`rollup NAME from STREAM`", &ROLLUP);
    out.push_str("### Alerts\n\n");
    kind_section(&mut out, "`alert NAME`", &ALERT);
    out.push_str("### Sinks\n\n");
    for kind in SINKS {
        let title = format!("`sink NAME to {}`", kind.name);
        kind_section(&mut out, &title, kind);
        let shapes: Vec<&str> = kind.accepts.iter().map(|shape| shape.describe()).collect();
        out.push_str(&format!("Reads: {}.\n\n", shapes.join(", ")));
    }
    out
}

fn kind_section(out: &mut String, title: &str, kind: &KindSpec) {
    out.push_str(&format!("#### {title}\n\n{}\n\n", kind.doc));
    out.push_str("| property | type | default | meaning |\n|---|---|---|---|\n");
    for property in kind.properties {
        let name = if property.statement {
            format!("`{} …`", property.name)
        } else {
            format!("`{} = …`", property.name)
        };
        let default = match property.default {
            Default::Required => "required".to_string(),
            Default::Absent => "none".to_string(),
            Default::Value(text) => format!("`{text}`"),
            Default::Derived(text) => text.to_string(),
        };
        out.push_str(&format!(
            "| {name} | {} | {default} | {} |\n",
            property.ty.describe(),
            property.doc.replace('|', "\\|")
        ));
    }
    out.push('\n');
}
