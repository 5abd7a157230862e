//! Value types of the plan that print and serialise the way the language writes them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::syntax::literal;

/// A length of time in milliseconds, serialised as the language writes it (`"1h30m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    /// Milliseconds.
    pub fn millis(self) -> u64 {
        self.0
    }

    /// The same length as a standard duration.
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&literal::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        literal::duration_millis(&text)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

/// A string setting: written in the file, or read from the environment when the pipeline starts.
/// Environment values are not stored in the plan, so a plan never carries a secret from the
/// environment; a password written in a URL is hidden whenever the text is displayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Text {
    /// Written in the file.
    Literal(String),
    /// `env("VAR", "default")`.
    Env {
        /// The variable.
        var: String,
        /// Used when the variable is not set.
        default: Option<String>,
    },
}

impl Text {
    /// The value, reading the environment through `lookup`; `None` when an `env()` variable is
    /// unset and has no default.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
        match self {
            Text::Literal(text) => Some(text.clone()),
            Text::Env { var, default } => lookup(var).or_else(|| default.clone()),
        }
    }

    /// The value from the process environment.
    pub fn resolve_from_process(&self) -> Option<String> {
        self.resolve(|var| std::env::var(var).ok())
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Text::Literal(text) => f.write_str(&literal::quote(&redact_password(text))),
            Text::Env { var, default: None } => write!(f, "env({})", literal::quote(var)),
            Text::Env {
                var,
                default: Some(default),
            } => write!(
                f,
                "env({}, {})",
                literal::quote(var),
                literal::quote(&redact_password(default))
            ),
        }
    }
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`; other text is unchanged.
pub fn redact_password(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_end = text[authority_start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |end| authority_start + end);
    let authority = &text[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return text.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return text.to_string();
    };
    format!(
        "{}{}:***{}",
        &text[..authority_start],
        &authority[..colon],
        &text[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            redact_password("postgres://app:s3cret@db:5432/metrics"),
            "postgres://app:***@db:5432/metrics"
        );
        assert_eq!(
            redact_password("postgres://app@db/metrics"),
            "postgres://app@db/metrics"
        );
        assert_eq!(redact_password("127.0.0.1:9092"), "127.0.0.1:9092");
        let text = Text::Literal("http://u:p@h:8123".into());
        assert_eq!(text.to_string(), "\"http://u:***@h:8123\"");
    }

    #[test]
    fn durations_serialise_as_the_language_writes_them() {
        let json = serde_json::to_string(&Duration(90_000)).unwrap();
        assert_eq!(json, "\"1m30s\"");
        assert_eq!(
            serde_json::from_str::<Duration>(&json).unwrap(),
            Duration(90_000)
        );
    }
}
