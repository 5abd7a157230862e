//! The control listener of a running pipeline (`pipectl run --control 127.0.0.1:7070`):
//! `/metrics` in Prometheus's exposition format, `/healthz`, and the API `pipectl plan
//! --against`, `deploy`, `status` and `rollback` use (`/api/v1/…`, JSON). A listener on anything
//! but loopback needs a bearer token (`PIPE_TOKEN` or `--token-file`); with a token every
//! request must carry it, and one without is refused with 401 and logged without what it sent.

mod deploy;
mod metrics;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pipe_dataflow::telemetry::Telemetry;

use crate::pipeline::Progress;
pub use deploy::{DeployRequest, History, Refusal, Version};
pub use metrics::Metrics;

/// What the handlers share.
struct Shared {
    metrics: Metrics,
    token: Option<String>,
    history: tokio::sync::Mutex<History>,
    telemetry: Arc<Telemetry>,
    progress: Arc<Progress>,
    rates: status::Rates,
}

/// The control listener, until the process ends.
pub struct Control {
    /// Where it listens (the port chosen when asked for port 0).
    pub address: SocketAddr,
    _thread: JoinHandle<()>,
}

impl Control {
    /// Listens on `address`; refuses an address other than loopback without a `token`.
    pub fn start(
        address: SocketAddr,
        token: Option<String>,
        telemetry: Arc<Telemetry>,
        progress: Arc<Progress>,
        history: History,
    ) -> anyhow::Result<Control> {
        check_address(address, token.as_deref())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(address))
            .with_context(|| format!("cannot listen on {address} for the control API"))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            metrics: Metrics::new(Arc::clone(&telemetry), Arc::clone(&progress)),
            token,
            history: tokio::sync::Mutex::new(history),
            telemetry,
            progress,
            rates: status::Rates::default(),
        });
        let reading = Arc::clone(&shared);
        let app = Router::new()
            .route("/metrics", get(metrics_text))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/api/v1/plan", get(running_plan))
            .route("/api/v1/versions", get(versions))
            .route("/api/v1/status", get(status_json))
            .route("/api/v1/deploy", post(deploy_plan))
            .route("/api/v1/rollback", post(rollback))
            .layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                authorize,
            ))
            .with_state(shared);
        let thread = std::thread::Builder::new()
            .name("control".to_string())
            .spawn(move || {
                runtime.spawn(read_rates(Arc::clone(&reading)));
                let serve = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                );
                let served = runtime.block_on(std::future::IntoFuture::into_future(serve));
                if let Err(error) = served {
                    tracing::error!("the control API stopped: {error}");
                }
            })?;
        tracing::info!("control API on http://{address} (/metrics, /healthz, /api/v1)");
        Ok(Control {
            address,
            _thread: thread,
        })
    }
}

/// Refuses an address other than loopback without a token.
pub fn check_address(address: SocketAddr, token: Option<&str>) -> anyhow::Result<()> {
    if !address.ip().is_loopback() && token.is_none() {
        bail!(
            "refusing to serve the control API on {address} without a token: anyone who can reach it could read and change the pipeline; set PIPE_TOKEN or --token-file, or listen on 127.0.0.1"
        );
    }
    Ok(())
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    let version = shared.history.lock().await.current().number;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(version),
    )
        .into_response()
}

/// Reads the rates `pipectl status` shows every few seconds.
async fn read_rates(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        let plan = shared.history.lock().await.plan().clone();
        shared.rates.read(&plan, &shared.progress);
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

fn answer(result: Result<serde_json::Value, Refusal>) -> Response {
    match result {
        Ok(body) => json(StatusCode::OK, &body),
        Err(refusal) => json(
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::CONFLICT),
            &refusal.body,
        ),
    }
}

async fn running_plan(State(shared): State<Arc<Shared>>) -> Response {
    let history = shared.history.lock().await;
    json(
        StatusCode::OK,
        &serde_json::json!({ "version": history.current(), "plan": history.plan() }),
    )
}

async fn versions(State(shared): State<Arc<Shared>>) -> Response {
    let history = shared.history.lock().await;
    json(StatusCode::OK, &serde_json::json!(history.versions()))
}

async fn status_json(State(shared): State<Arc<Shared>>) -> Response {
    let history = shared.history.lock().await;
    let body = status::report(
        history.current(),
        history.plan(),
        &shared.telemetry,
        &shared.progress,
        &shared.rates,
    );
    json(StatusCode::OK, &body)
}

async fn deploy_plan(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: DeployRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({ "error": format!("not a deploy request: {error}") }),
            );
        }
    };
    let mut history = shared.history.lock().await;
    answer(history.deploy(request).await)
}

async fn rollback(State(shared): State<Arc<Shared>>) -> Response {
    let mut history = shared.history.lock().await;
    answer(history.rollback().await)
}

/// Lets a request through when no token is set or it carries the token.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &shared.token else {
        return next.run(request).await;
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if sent.is_some_and(|sent| constant_time_eq(sent.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    tracing::warn!(
        "control API: refused {} {} from {peer}: {}",
        request.method(),
        request.uri().path(),
        if sent.is_some() {
            "wrong token"
        } else {
            "no token"
        }
    );
    (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response()
}

/// Compares without stopping at the first difference, so that timing does not tell how much
/// of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
