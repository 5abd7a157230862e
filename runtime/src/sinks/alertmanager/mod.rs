//! The Alertmanager sink: alert transitions posted to Alertmanager's v2 API
//! (`POST /api/v2/alerts`), as Prometheus posts them. Firing alerts carry `startsAt` and an
//! `endsAt` four re-send intervals ahead, and are posted again every `resend` (1m) while they
//! fire, so that Alertmanager never expires one that still fires; a resolved alert is posted with its
//! `endsAt`. Pending and cancelled transitions stay inside pipe, as Prometheus keeps them.
//!
//! It runs on every worker for the alerts of the rules that worker evaluates, through the
//! stores' batching ([`super::store`]): a batch is durable once an Alertmanager accepted it, and
//! until then the pipeline's durable frontier waits. Several URLs (an HA pair) each get every
//! alert: see [`client`].

mod client;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use pipe_dataflow::alert::{Transition, TransitionKind};
use pipe_dsl::plan::AlertmanagerSink as AlertmanagerSettings;
use serde::Serialize;

use super::store::Batches;
use super::{Record, Sink, SinkContext};
use crate::time::rfc3339;

pub use client::Alertmanagers;

/// Alerts gathered into one request.
const BATCH: usize = 500;

/// How long alerts wait for others to share their request.
const LINGER: Duration = Duration::from_millis(50);

/// One alert as Alertmanager's API takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostableAlert {
    /// `alertname`, the group's labels and the rule's.
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations, filled in.
    pub annotations: BTreeMap<String, String>,
    /// When the alert became active.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// When it resolved; for a firing alert, set when it is posted.
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// Where its rule is written.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// A transition Alertmanager hears about.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The alert.
    pub alert: PostableAlert,
    /// Firing (posted again until it resolves), or resolved.
    pub firing: bool,
}

/// The alerts of one worker, on their way to Alertmanager.
pub struct AlertmanagerSink {
    batches: Batches<Notification>,
    rule_links: BTreeMap<String, String>,
}

impl AlertmanagerSink {
    /// Checks the URLs and starts the worker's connection.
    pub fn open(
        name: &str,
        settings: &AlertmanagerSettings,
        context: &SinkContext,
    ) -> anyhow::Result<Self> {
        let what = format!("sink `{name}`");
        let urls = settings.url.resolve_from_process().with_context(|| {
            format!("{what}: `url` reads an environment variable that is not set")
        })?;
        let resend = Duration::from_millis(settings.resend.millis().max(1));
        let alertmanagers = Alertmanagers::new(&what, &urls, resend)?;
        Ok(AlertmanagerSink {
            batches: Batches::start(
                &what,
                alertmanagers,
                BATCH,
                LINGER,
                std::sync::Arc::clone(context.health),
            )?,
            rule_links: context.rule_links.clone(),
        })
    }

    fn notification(&self, transition: &Transition) -> Option<Notification> {
        let firing = match transition.kind {
            TransitionKind::Firing => true,
            TransitionKind::Resolved => false,
            TransitionKind::Pending | TransitionKind::Cancelled => return None,
        };
        let alert = PostableAlert {
            labels: transition
                .labels
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            annotations: transition.annotations.iter().cloned().collect(),
            starts_at: rfc3339(transition.since),
            ends_at: (!firing).then(|| rfc3339(transition.at)),
            generator_url: self
                .rule_links
                .get(&*transition.rule)
                .cloned()
                .unwrap_or_default(),
        };
        Some(Notification { alert, firing })
    }
}

impl Sink for AlertmanagerSink {
    fn write(&mut self, time: u64, records: &[Record<'_>]) -> anyhow::Result<()> {
        for record in records {
            if let Record::Transition(transition) = record
                && let Some(notification) = self.notification(transition)
            {
                self.batches.push(time, notification);
            }
        }
        self.batches.poll()
    }

    fn poll(&mut self) -> anyhow::Result<()> {
        self.batches.poll()
    }

    fn unacknowledged(&self) -> Option<u64> {
        self.batches.unacknowledged()
    }
}
