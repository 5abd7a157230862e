//! Delivery to one Alertmanager or several (an HA pair, which gossip to each other): every
//! alert is posted to each. A batch is durable once one of them accepted it; one that could not
//! be reached keeps what it missed, bounded, and gets it when it is back; what overflows is
//! counted and logged, never dropped in silence. While every one is down, the batch waits and
//! the pipeline's durable frontier with it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::{Notification, PostableAlert};
use crate::sinks::store::{Store, StoreError};
use crate::time::{now_millis, rfc3339};

/// How far ahead of a post a firing alert's `endsAt` is set, in re-send intervals: Alertmanager
/// resolves it then unless it is posted again, as with Prometheus.
const LIFETIME_RESENDS: u32 = 4;

/// Alerts an unreachable Alertmanager may miss before the oldest are given up.
const MAX_BEHIND: usize = 10_000;

/// The longest wait between two attempts to reach an Alertmanager that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Every Alertmanager of a sink, from one worker's connection thread.
pub struct Alertmanagers {
    what: String,
    client: reqwest::Client,
    targets: Vec<Target>,
    /// Alerts firing now, by labels: posted again every `resend`.
    firing: BTreeMap<BTreeMap<String, String>, PostableAlert>,
    resend: Duration,
    last_resend: Instant,
}

/// One Alertmanager.
struct Target {
    /// `…/api/v2/alerts`.
    endpoint: String,
    /// The URL without a password, for messages.
    shown: String,
    /// Alerts it has not received, oldest first.
    behind: VecDeque<PostableAlert>,
    /// Alerts it will never receive: more than [`MAX_BEHIND`] waited.
    lost: u64,
    failures: u32,
    retry_at: Instant,
}

impl Alertmanagers {
    /// The Alertmanagers of `urls` (one base URL, or several separated by commas), with
    /// firing alerts posted again every `resend`.
    pub fn new(what: &str, urls: &str, resend: Duration) -> anyhow::Result<Self> {
        let mut targets = Vec::new();
        for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let Ok(mut parsed) = reqwest::Url::parse(url) else {
                bail!("{what}: `{url}` is not a URL such as http://127.0.0.1:9093");
            };
            if parsed.scheme() != "http" {
                bail!(
                    "{what}: `{}` uses {}; this version of pipectl reaches Alertmanager over http only",
                    parsed.host_str().unwrap_or_default(),
                    parsed.scheme()
                );
            }
            let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
            let _ = parsed.set_password(None);
            targets.push(Target {
                endpoint,
                shown: parsed.to_string(),
                behind: VecDeque::new(),
                lost: 0,
                failures: 0,
                retry_at: Instant::now(),
            });
        }
        if targets.is_empty() {
            bail!("{what}: `url` names no Alertmanager");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Alertmanagers {
            what: what.to_string(),
            client,
            targets,
            firing: BTreeMap::new(),
            resend,
            last_resend: Instant::now(),
        })
    }

    /// Posts `alerts`, setting the `endsAt` of firing ones `lifetime` ahead.
    async fn post(
        client: &reqwest::Client,
        endpoint: &str,
        alerts: &[PostableAlert],
        lifetime: Duration,
    ) -> Result<(), Failure> {
        let ends_at = rfc3339(now_millis() + lifetime.as_millis() as u64);
        let body: Vec<PostableAlert> = alerts
            .iter()
            .map(|alert| PostableAlert {
                ends_at: Some(alert.ends_at.clone().unwrap_or_else(|| ends_at.clone())),
                ..alert.clone()
            })
            .collect();
        let response = client
            .post(endpoint)
            .json(&body)
            .send()
            .await
            .map_err(|error| Failure::Unreachable(without_url(&error)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let message = format!("{status}: {}", text.trim());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(Failure::Unreachable(message))
        } else {
            Err(Failure::Refused(message))
        }
    }

    /// How far ahead of a post a firing alert's `endsAt` is set.
    fn lifetime(&self) -> Duration {
        self.resend * LIFETIME_RESENDS
    }

    /// Posts what a target missed once its backoff has passed.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        let lifetime = self.lifetime();
        for target in &mut self.targets {
            if target.behind.is_empty() || Instant::now() < target.retry_at {
                continue;
            }
            let alerts: Vec<PostableAlert> = target.behind.iter().cloned().collect();
            match Self::post(&self.client, &target.endpoint, &alerts, lifetime).await {
                Ok(()) => {
                    tracing::info!(
                        "{}: {} is reachable again; sent the {} alerts it missed",
                        self.what,
                        target.shown,
                        alerts.len()
                    );
                    target.behind.clear();
                    target.failures = 0;
                }
                Err(Failure::Unreachable(error)) => target.failed(&self.what, &error),
                Err(Failure::Refused(error)) => return Err(refused(target, &error)),
            }
        }
        Ok(())
    }

    /// Posts every firing alert again, so that none expires while it fires.
    async fn resend(&mut self) -> Result<(), StoreError> {
        if self.last_resend.elapsed() < self.resend || self.firing.is_empty() {
            return Ok(());
        }
        let lifetime = self.lifetime();
        self.last_resend = Instant::now();
        let alerts: Vec<PostableAlert> = self.firing.values().cloned().collect();
        for target in &mut self.targets {
            if !target.behind.is_empty() {
                continue;
            }
            match Self::post(&self.client, &target.endpoint, &alerts, lifetime).await {
                Ok(()) => {}
                Err(Failure::Unreachable(error)) => target.failed(&self.what, &error),
                Err(Failure::Refused(error)) => return Err(refused(target, &error)),
            }
        }
        Ok(())
    }
}

impl Store for Alertmanagers {
    type Row = Notification;

    async fn write(&mut self, rows: &[Notification]) -> Result<(), StoreError> {
        for row in rows {
            if row.firing {
                self.firing
                    .insert(row.alert.labels.clone(), row.alert.clone());
            } else {
                self.firing.remove(&row.alert.labels);
            }
        }
        let alerts: Vec<PostableAlert> = rows.iter().map(|row| row.alert.clone()).collect();
        let lifetime = self.lifetime();
        let mut missed = Vec::with_capacity(self.targets.len());
        let mut errors = Vec::new();
        for target in &mut self.targets {
            // One catching up gets these after what it missed, in order.
            if !target.behind.is_empty() {
                missed.push(true);
                continue;
            }
            match Self::post(&self.client, &target.endpoint, &alerts, lifetime).await {
                Ok(()) => missed.push(false),
                Err(Failure::Unreachable(error)) => {
                    errors.push(format!("{}: {error}", target.shown));
                    missed.push(true);
                }
                Err(Failure::Refused(error)) => return Err(refused(target, &error)),
            }
        }
        if missed.iter().all(|&m| m) {
            // Nobody has the batch: it is tried again as a whole, and the frontier waits.
            return Err(StoreError::Retry(errors.join("; ")));
        }
        for (target, missed) in self.targets.iter_mut().zip(missed) {
            if missed {
                target.fell_behind(&self.what, &alerts);
            }
        }
        Ok(())
    }

    async fn maintain(&mut self) -> Result<(), StoreError> {
        self.catch_up().await?;
        self.resend().await
    }
}

impl Target {
    fn failed(&mut self, what: &str, error: &str) {
        self.failures += 1;
        let wait =
            (Duration::from_millis(500) * 2u32.pow(self.failures.min(7) - 1)).min(MAX_BACKOFF);
        self.retry_at = Instant::now() + wait;
        tracing::warn!(
            "{what}: cannot reach {} ({error}); {} alerts wait for it, retrying in {:.1} s",
            self.shown,
            self.behind.len(),
            wait.as_secs_f64()
        );
    }

    /// Keeps what it missed while another Alertmanager took it, within [`MAX_BEHIND`].
    fn fell_behind(&mut self, what: &str, alerts: &[PostableAlert]) {
        self.behind.extend(alerts.iter().cloned());
        let over = self.behind.len().saturating_sub(MAX_BEHIND);
        if over > 0 {
            self.behind.drain(..over);
            self.lost += over as u64;
            tracing::error!(
                "{what}: {} has been unreachable too long: {over} alerts it will never get ({} in all); the other Alertmanagers have them",
                self.shown,
                self.lost
            );
        }
        if self.retry_at <= Instant::now() {
            self.failed(what, "it did not take the last alerts");
        }
    }
}

enum Failure {
    /// Down, overloaded or not answering: try again later.
    Unreachable(String),
    /// It answered that it will not take these alerts.
    Refused(String),
}

fn refused(target: &Target, error: &str) -> StoreError {
    StoreError::Refused(format!("{} refused the alerts: {error}", target.shown))
}

/// A request error's text without its URL, which may hold a password.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection refused or unreachable"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}
