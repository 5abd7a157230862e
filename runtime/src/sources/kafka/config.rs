//! librdkafka clients from a pipeline's settings: the brokers, the settings passed through, and
//! the values read from the environment, which are secrets: never printed, and cut out of any
//! error librdkafka reports.

use anyhow::{Context as _, anyhow, bail};
use pipe_dsl::plan::Text;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// How to reach a Kafka cluster.
#[derive(Clone)]
pub struct KafkaClient {
    brokers: String,
    options: Vec<(String, String)>,
    secrets: Vec<String>,
}

impl KafkaClient {
    /// The client of `brokers` with librdkafka `options`, resolved from the environment now.
    pub fn resolve(what: &str, brokers: &Text, options: &[(String, Text)]) -> anyhow::Result<Self> {
        let resolve = |text: &Text, name: &str| {
            text.resolve_from_process().with_context(|| {
                format!("{what}: `{name}` reads an environment variable that is not set")
            })
        };
        let mut secrets = Vec::new();
        let mut resolved = Vec::new();
        for (key, value) in options {
            let text = resolve(value, key)?;
            if matches!(value, Text::Env { .. }) || looks_secret(key) {
                secrets.push(text.clone());
            }
            resolved.push((key.clone(), text));
        }
        Ok(KafkaClient {
            brokers: resolve(brokers, "brokers")?,
            options: resolved,
            secrets,
        })
    }

    /// A client of `brokers` with no other settings, for tools.
    pub fn plain(brokers: &str) -> Self {
        KafkaClient {
            brokers: brokers.to_string(),
            options: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// A librdkafka configuration with `defaults` under the user's own settings.
    pub fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }

    /// A client of type `T` from `config`, its errors free of secrets.
    pub fn create<T>(&self, config: &ClientConfig, what: &str) -> anyhow::Result<T>
    where
        T: rdkafka::config::FromClientConfigAndContext<Logged>,
    {
        config
            .create_with_context(Logged)
            .map_err(|error| anyhow!("{what}: {}", self.redact(&error.to_string())))
    }

    /// [`create`](Self::create) with a context of the caller's.
    pub fn create_with<C, T>(
        &self,
        config: &ClientConfig,
        context: C,
        what: &str,
    ) -> anyhow::Result<T>
    where
        C: rdkafka::ClientContext,
        T: rdkafka::config::FromClientConfigAndContext<C>,
    {
        config
            .create_with_context(context)
            .map_err(|error| anyhow!("{what}: {}", self.redact(&error.to_string())))
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|secret| !secret.is_empty())
            .fold(text.to_string(), |text, secret| {
                text.replace(secret.as_str(), "***")
            })
    }
}

/// Creates `topic` with `partitions` unless it exists, replicated as the brokers' default.
pub fn ensure_topic(client: &KafkaClient, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<Logged> =
        client.create(&client.config(&[]), "cannot create a Kafka admin client")?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
    let created = futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()))
        .with_context(|| format!("cannot create topic `{topic}`"))?;
    for result in created {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic `{name}`: {code}"),
        }
    }
    Ok(())
}

/// Settings whose values are secrets even when written in the file.
fn looks_secret(key: &str) -> bool {
    ["password", "secret", "token", "key"]
        .iter()
        .any(|word| key.contains(word))
}

/// Sends librdkafka's log to `tracing`: errors as warnings, the rest as debug.
#[derive(Clone, Copy, Default)]
pub struct Logged;

impl ClientContext for Logged {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::warn!("kafka {facility}: {message}"),
            _ => tracing::debug!("kafka {facility}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // The end of a partition is news for the source, which reads it from the poll.
        if !matches!(error, KafkaError::PartitionEOF(_))
            && error.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        {
            tracing::warn!("kafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for Logged {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_the_environment_are_redacted_and_unset_ones_named() {
        // SAFETY-free: the variable is unique to this test.
        let options = vec![
            (
                "sasl.password".to_string(),
                Text::Env {
                    var: "PIPE_TEST_KAFKA_SECRET_UNSET".into(),
                    default: Some("hunter2".into()),
                },
            ),
            ("acks".to_string(), Text::Literal("all".into())),
        ];
        let client =
            KafkaClient::resolve("source `m`", &Text::Literal("b:9092".into()), &options).unwrap();
        assert_eq!(
            client.redact("bad value hunter2 for all"),
            "bad value *** for all"
        );
        let missing = vec![(
            "sasl.password".to_string(),
            Text::Env {
                var: "PIPE_TEST_KAFKA_SECRET_UNSET".into(),
                default: None,
            },
        )];
        let error = KafkaClient::resolve("source `m`", &Text::Literal("b".into()), &missing)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("`sasl.password`") && !error.contains("hunter2"),
            "{error}"
        );
    }
}
