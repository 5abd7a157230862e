//! The running plan's versions and the deploys that change it: `GET /api/v1/plan`,
//! `POST /api/v1/deploy`, `POST /api/v1/rollback`. A deploy is compiled here, with this
//! process's environment, compared with the running plan, refused when a change would replace
//! state, and otherwise handed to the workers, which apply all of it at one event time; the
//! answer comes once every worker has passed that time. One deploy at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pipe_dataflow::rules::{RuleRecord, rule_record};
use pipe_dsl::Plan;
use pipe_dsl::diagnostics::{Style, render};
use pipe_dsl::plan::diff::{Change, Effect, additions, changed_rules, diff};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::pipeline::{Deploy, Deploys};
use crate::time::now_millis;

/// How long a deploy may wait for the workers before the caller is told it timed out (it may
/// still take effect: the workers have it).
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One version of the running plan.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// 1 for the plan the run started with, then one more per deploy.
    pub number: u64,
    /// The file it was read from, as the deployer named it.
    pub file: String,
    /// `sha256:` and the hex digest of the file's text: `sha256sum FILE` shows the same.
    pub hash: String,
    /// The event time from which it applies; `None` for the first version.
    pub applied_at: Option<u64>,
    /// The wall-clock time it was deployed, in milliseconds since the epoch.
    pub deployed_at: u64,
    /// What changed from the version before.
    pub changes: Vec<Change>,
    #[serde(skip)]
    source: String,
    #[serde(skip)]
    plan: Plan,
    /// The records of its rules in the rules collection, by rule name: a later change
    /// removes exactly the record that was added.
    #[serde(skip)]
    rules: BTreeMap<String, RuleRecord>,
}

/// What a deploy asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The file's name, for messages and `status`.
    pub file: String,
    /// Its text.
    pub source: String,
    /// Show the changes; apply nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Allow replacing changes.
    #[serde(default)]
    pub replace: bool,
}

/// A refusal: the HTTP status and what to tell the deployer.
#[derive(Debug)]
pub struct Refusal {
    /// 409 for a refused change, 422 for an invalid file, 504 for a timeout.
    pub status: u16,
    /// The answer's body.
    pub body: serde_json::Value,
}

fn refuse(status: u16, error: impl Into<String>, extra: serde_json::Value) -> Refusal {
    let mut body = serde_json::json!({ "error": error.into() });
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    Refusal { status, body }
}

/// The versions of the running plan and the way to the workers.
pub struct History {
    versions: Vec<Version>,
    deploys: Arc<Deploys>,
}

impl History {
    /// The history of a run started from `file`.
    pub fn new(file: &str, source: String, plan: Plan, deploys: Arc<Deploys>) -> Self {
        let rules = plan
            .alerts
            .iter()
            .map(|rule| (rule.name.clone(), rule_record(rule)))
            .collect();
        let first = Version {
            number: 1,
            file: file.to_string(),
            hash: hash(&source),
            applied_at: None,
            deployed_at: now_millis(),
            changes: Vec::new(),
            source,
            plan,
            rules,
        };
        History {
            versions: vec![first],
            deploys,
        }
    }

    /// The version running now.
    pub fn current(&self) -> &Version {
        self.versions
            .last()
            .expect("a history starts with a version")
    }

    /// The plan running now.
    pub fn plan(&self) -> &Plan {
        &self.current().plan
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// Compiles, compares and, unless it is a dry run, applies a new file.
    pub async fn deploy(&mut self, request: DeployRequest) -> Result<serde_json::Value, Refusal> {
        let compiled = pipe_dsl::compile_with_process_env(&request.source);
        let Some(plan) = compiled.plan else {
            let rendered = render(
                &compiled.diagnostics,
                &request.file,
                &request.source,
                Style::Plain,
            );
            return Err(refuse(
                422,
                format!("`{}` is not valid: nothing was changed", request.file),
                serde_json::json!({ "diagnostics": rendered }),
            ));
        };
        let running = self.plan().clone();
        let changes = diff(&running, &plan);
        let replacing: Vec<String> = changes
            .iter()
            .filter(|change| change.effect == Effect::Replacing)
            .map(ToString::to_string)
            .collect();
        if request.dry_run {
            return Ok(serde_json::json!({
                "applied": false,
                "version": self.current().number,
                "changes": changes,
            }));
        }
        if !replacing.is_empty() {
            let error = if request.replace {
                "--replace cannot rebuild running state in this version: nothing was changed; restart `pipectl run` with the new file (it resumes from committed offsets)"
            } else {
                "these changes replace running state: nothing was changed; deploy with --replace to rebuild it"
            };
            return Err(refuse(
                409,
                error,
                serde_json::json!({ "replacing": replacing, "changes": changes }),
            ));
        }
        if changes.is_empty() {
            return Ok(serde_json::json!({
                "applied": false,
                "version": self.current().number,
                "changes": changes,
            }));
        }
        let mut plan = plan;
        // The running cluster keeps its series where they are.
        plan.pinned_placement = running
            .sources
            .iter()
            .map(|source| (source.name.clone(), running.placement(&source.name)))
            .collect();
        let mut rules = self.current().rules.clone();
        let mut updates = Vec::new();
        let (changed, removed) = changed_rules(&running, &plan);
        for name in removed {
            if let Some(record) = rules.remove(&name) {
                updates.push((record, -1));
            }
        }
        for rule in changed {
            let record = rule_record(rule);
            if let Some(old) = rules.insert(rule.name.clone(), record.clone()) {
                updates.push((old, -1));
            }
            updates.push((record, 1));
        }
        let (reply, applied) = tokio::sync::oneshot::channel();
        self.deploys.submit(Deploy {
            rules: updates,
            additions: additions(&running, &plan),
            reply,
        });
        let at = match tokio::time::timeout(APPLY_TIMEOUT, applied).await {
            Ok(Ok(at)) => at,
            Ok(Err(_)) => {
                return Err(refuse(
                    503,
                    "the pipeline is stopping: the deploy was not applied",
                    serde_json::Value::Null,
                ));
            }
            Err(_) => {
                return Err(refuse(
                    504,
                    format!(
                        "the workers did not confirm within {} s; the deploy is queued and applies when they reach it",
                        APPLY_TIMEOUT.as_secs()
                    ),
                    serde_json::Value::Null,
                ));
            }
        };
        let version = Version {
            number: self.current().number + 1,
            file: request.file,
            hash: hash(&request.source),
            applied_at: Some(at),
            deployed_at: now_millis(),
            changes: changes.clone(),
            source: request.source,
            plan,
            rules,
        };
        tracing::info!(
            version = version.number,
            changes = changes.len(),
            "deployed {} ({})",
            version.file,
            version.hash
        );
        self.versions.push(version);
        Ok(serde_json::json!({
            "applied": true,
            "version": self.current().number,
            "applied_at": at,
            "changes": changes,
        }))
    }

    /// Deploys the version before the running one again, as a new version.
    pub async fn rollback(&mut self) -> Result<serde_json::Value, Refusal> {
        let Some(previous) = self
            .versions
            .len()
            .checked_sub(2)
            .map(|at| &self.versions[at])
        else {
            return Err(refuse(
                409,
                "nothing to roll back to: the running plan is the first version",
                serde_json::Value::Null,
            ));
        };
        let request = DeployRequest {
            file: previous.file.clone(),
            source: previous.source.clone(),
            dry_run: false,
            replace: false,
        };
        let restored = previous.number;
        let mut answer = self.deploy(request).await?;
        answer["restored"] = restored.into();
        Ok(answer)
    }
}

/// `sha256:` and the hex digest of a file's text.
fn hash(source: &str) -> String {
    let digest = sha2::Sha256::digest(source.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}
