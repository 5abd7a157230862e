//! `pipectl plan --against`, `deploy`, `status` and `rollback`: the client side of a running
//! pipeline's control API (`pipectl run --control`).

use std::path::Path;
use std::time::Duration;

use pipe_dsl::Plan;
use pipe_dsl::diagnostics::Style;
use pipe_dsl::plan::diff::{Change, Effect, diff};
use serde_json::Value;

use super::report;
use crate::status::thousands;
use crate::time::rfc3339;

/// Where a running pipeline's control API is, and the token it wants.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `http://host:port`.
    pub url: String,
    /// The bearer token.
    pub token: Option<String>,
}

impl Remote {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let url = format!("{}/api/v1/{path}", self.url.trim_end_matches('/'));
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a client without TLS builds");
        let request = client.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The JSON answer and whether it was a success; an error message when there was none.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(bool, Value), String> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .map_err(|error| format!("cannot reach the control API at {}: {error}", self.url))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(format!(
                "{} refused the request (401): set PIPE_TOKEN or --token-file to the token `pipectl run` was given",
                self.url
            ));
        }
        let text = response.text().unwrap_or_default();
        let value = serde_json::from_str(&text).map_err(|_| {
            format!(
                "{} answered {status} with something other than JSON: {text}",
                self.url
            )
        })?;
        Ok((status.is_success(), value))
    }
}

/// `pipectl plan FILE --against URL`: the changes from the running plan to the file, each
/// with how it can be made.
pub fn plan_against(path: &Path, remote: &Remote, style: Style) -> bool {
    let Some(plan) = report::plan(path, style) else {
        return false;
    };
    let running = match remote.call(reqwest::Method::GET, "plan", None) {
        Ok((true, answer)) => answer,
        Ok((false, answer)) => return failed(&answer),
        Err(error) => return fail(&error),
    };
    let Ok(running_plan) = serde_json::from_value::<Plan>(running["plan"].clone()) else {
        return fail(
            "the running pipeline sent a plan this pipectl cannot read: is it another version?",
        );
    };
    println!(
        "{} against version {} running at {} ({})",
        path.display(),
        running["version"]["number"],
        remote.url,
        running["version"]["hash"].as_str().unwrap_or_default()
    );
    let changes = diff(&running_plan, &plan);
    print_changes(&changes);
    true
}

/// `pipectl deploy FILE --to URL`: validates here, then has the running pipeline apply it.
pub fn deploy(path: &Path, remote: &Remote, dry_run: bool, replace: bool, style: Style) -> bool {
    let Some(source) = report::read(path) else {
        return false;
    };
    if report::plan(path, style).is_none() {
        eprintln!("error: nothing was deployed");
        return false;
    }
    let request = serde_json::json!({
        "file": path.display().to_string(),
        "source": source,
        "dry_run": dry_run,
        "replace": replace,
    });
    let verb = if dry_run { "checking" } else { "deploying" };
    eprintln!("{verb} {} to {}", path.display(), remote.url);
    match remote.call(reqwest::Method::POST, "deploy", Some(request)) {
        Ok((true, answer)) => {
            applied(&answer, dry_run);
            true
        }
        Ok((false, answer)) => failed(&answer),
        Err(error) => fail(&error),
    }
}

/// `pipectl rollback --to URL`: deploys the version before the running one again.
pub fn rollback(remote: &Remote) -> bool {
    match remote.call(reqwest::Method::POST, "rollback", None) {
        Ok((true, answer)) => {
            applied(&answer, false);
            true
        }
        Ok((false, answer)) => failed(&answer),
        Err(error) => fail(&error),
    }
}

/// `pipectl status --to URL`: the running version and the pipeline's figures.
pub fn status(remote: &Remote, json: bool) -> bool {
    let status = match remote.call(reqwest::Method::GET, "status", None) {
        Ok((true, answer)) => answer,
        Ok((false, answer)) => return failed(&answer),
        Err(error) => return fail(&error),
    };
    if json {
        println!("{status}");
        return true;
    }
    print!("{}", status_text(&status));
    true
}

fn status_text(status: &Value) -> String {
    let count = |value: &Value| thousands(value.as_u64().unwrap_or(0));
    let version = &status["version"];
    let mut text = format!(
        "version {} of {} ({})",
        version["number"],
        version["file"].as_str().unwrap_or_default(),
        version["hash"].as_str().unwrap_or_default()
    );
    if let Some(at) = version["applied_at"].as_u64() {
        text.push_str(&format!(", applied from event time {}", rfc3339(at)));
    }
    text.push('\n');
    text.push_str(&format!(
        "event time  {} ({:.1} s behind the clock)\n",
        rfc3339(status["event_time"].as_u64().unwrap_or(0)),
        status["event_time_behind_ms"].as_f64().unwrap_or(0.0) / 1000.0
    ));
    text.push_str(&format!(
        "samples     {}, {} series, {} open windows, {} windows written\n",
        count(&status["samples"]),
        count(&status["series"]),
        count(&status["open_windows"]),
        count(&status["windows"])
    ));
    text.push_str(&format!(
        "alerts      {} firing, {} transitions\n",
        count(&status["alerts"]["firing"]),
        count(&status["transitions"])
    ));
    for source in status["sources"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "source      {}: {} samples/s, {} behind\n",
            source["name"].as_str().unwrap_or_default(),
            count(&source["samples_per_second"]),
            lag_text(&source["lag"]),
        ));
    }
    for sink in status["sinks"].as_array().into_iter().flatten() {
        let durable = sink["durable_until"]
            .as_u64()
            .map_or("nothing yet".to_string(), rfc3339);
        text.push_str(&format!(
            "sink        {}: {} records/s, durable until {durable}{}\n",
            sink["name"].as_str().unwrap_or_default(),
            count(&sink["records_per_second"]),
            if sink["waiting"].as_bool() == Some(true) {
                ", WAITING for its store"
            } else {
                ""
            }
        ));
    }
    let refused: Vec<String> = status["dead_letters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, n)| n.as_u64() > Some(0))
        .map(|(reason, n)| format!("{} {reason}", count(n)))
        .collect();
    if !refused.is_empty() {
        text.push_str(&format!("dead letters {}\n", refused.join(", ")));
    }
    text
}

fn lag_text(lag: &Value) -> String {
    match lag.as_u64() {
        Some(messages) => format!("{} messages", thousands(messages)),
        None => "nothing".to_string(),
    }
}

fn print_changes(changes: &[Change]) {
    if changes.is_empty() {
        println!("no changes");
        return;
    }
    for change in changes {
        println!("  {change}");
    }
    let count = |effect| changes.iter().filter(|c| c.effect == effect).count();
    println!(
        "{} live, {} additive, {} replacing",
        count(Effect::Live),
        count(Effect::Additive),
        count(Effect::Replacing)
    );
    if count(Effect::Replacing) > 0 {
        println!(
            "replacing changes rebuild running state: `pipectl deploy` refuses them without --replace"
        );
    }
}

fn applied(answer: &Value, dry_run: bool) {
    let changes: Vec<Change> = answer["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(change_of)
        .collect();
    print_changes(&changes);
    match answer["applied_at"].as_u64() {
        Some(at) if answer["applied"] == true => {
            let restored = answer["restored"]
                .as_u64()
                .map(|v| format!(" (version {v} again)"))
                .unwrap_or_default();
            println!(
                "applied: version {}{restored}, in effect from event time {} ({at})",
                answer["version"],
                rfc3339(at)
            );
        }
        _ if dry_run => println!("dry run: nothing was changed"),
        _ => println!("nothing to apply: version {} stays", answer["version"]),
    }
}

/// A change as the API sends it back.
fn change_of(value: &Value) -> Option<Change> {
    let effect = match value["effect"].as_str()? {
        "live" => Effect::Live,
        "additive" => Effect::Additive,
        _ => Effect::Replacing,
    };
    Some(Change {
        effect,
        sign: value["sign"].as_str()?.chars().next()?,
        subject: value["subject"].as_str()?.to_string(),
        detail: value["detail"].as_str()?.to_string(),
    })
}

fn failed(answer: &Value) -> bool {
    if let Some(diagnostics) = answer["diagnostics"].as_str() {
        eprint!("{diagnostics}");
    }
    for change in answer["replacing"].as_array().into_iter().flatten() {
        eprintln!("  {}", change.as_str().unwrap_or_default());
    }
    fail(
        answer["error"]
            .as_str()
            .unwrap_or("the control API refused the request"),
    )
}

fn fail(message: &str) -> bool {
    eprintln!("error: {message}");
    false
}
