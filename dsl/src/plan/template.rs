//! Alert label and annotation templates: text with `{{ field }}` holes, parsed once when the file
//! is checked so that a typo is a diagnostic, not an empty string in a page at 3 a.m.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text copied as is.
    Text(String),
    /// A hole filled in per alert.
    Field(Field),
}

/// What a `{{ … }}` hole names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A label of the alert's group: `{{ host }}` or `{{ $labels.host }}`.
    Label(String),
    /// The condition's value: `{{ value }}` or `{{ $value }}`.
    Value,
    /// The rule's name: `{{ alertname }}`.
    AlertName,
}

/// Why a template does not parse; `at` and `len` locate the problem in the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset in the template.
    pub at: usize,
    /// Length of the offending text.
    pub len: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `{{ field }}` holes out of `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let inner_start = open + 2;
            let Some(close) = rest[inner_start..].find("}}") else {
                return Err(TemplateError {
                    at: offset + open,
                    len: 2,
                    message: "`{{` is never closed with `}}`".to_string(),
                });
            };
            let inner = &rest[inner_start..inner_start + close];
            let name = inner.trim();
            let field = match name {
                "value" | "$value" => Field::Value,
                "alertname" | "$labels.alertname" => Field::AlertName,
                _ => {
                    let label = name.strip_prefix("$labels.").unwrap_or(name);
                    if !is_label_name(label) {
                        return Err(TemplateError {
                            at: offset + inner_start,
                            len: inner.len(),
                            message: format!(
                                "`{name}` is not a field: write a label name, `value` or `alertname`"
                            ),
                        });
                    }
                    Field::Label(label.to_string())
                }
            };
            parts.push(Part::Field(field));
            let consumed = inner_start + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The holes.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field(field) => Some(field),
            Part::Text(_) => None,
        })
    }

    /// Fills the holes. Unknown labels become empty, as in Prometheus; the checker rejects them
    /// before a pipeline runs.
    pub fn render<'a>(
        &self,
        label: impl Fn(&str) -> Option<&'a str>,
        value: f64,
        alertname: &str,
    ) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(Field::Label(name)) => out.push_str(label(name).unwrap_or_default()),
                Part::Field(Field::Value) => out.push_str(&format_value(value)),
                Part::Field(Field::AlertName) => out.push_str(alertname),
            }
        }
        out
    }
}

/// Whether `name` is a valid Prometheus label name.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value as people read it in a page: four significant digits, no trailing zeros, whole
/// numbers from 1000 up.
pub fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 1000.0 || value == value.trunc() {
        return format!("{}", value.round());
    }
    let digits = (3 - value.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{value:.digits$}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Template::parse(&text).map_err(|error| serde::de::Error::custom(error.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_labels_value_and_alertname_in_both_spellings() {
        let template = Template::parse(
            "{{ alertname }}: CPU on {{host}} is {{ $value }}% ({{ $labels.region }})",
        )
        .unwrap();
        let labels = |name: &str| match name {
            "host" => Some("web-1"),
            "region" => Some("eu"),
            _ => None,
        };
        assert_eq!(
            template.render(labels, 93.4567, "HighCpu"),
            "HighCpu: CPU on web-1 is 93.46% (eu)"
        );
    }

    #[test]
    fn reports_unclosed_and_invalid_holes_with_their_place() {
        assert_eq!(Template::parse("a {{ host").unwrap_err().at, 2);
        let error = Template::parse("x {{ 1host }}").unwrap_err();
        assert_eq!((error.at, error.len), (4, 7));
    }

    #[test]
    fn values_read_well() {
        assert_eq!(format_value(93.0), "93");
        assert_eq!(format_value(0.052341), "0.05234");
        assert_eq!(format_value(12345.6), "12346");
        assert_eq!(format_value(1.5), "1.5");
    }
}
