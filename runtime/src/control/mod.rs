//! The control listener of a running pipeline (`pipectl run --control 127.0.0.1:7070`):
//! `/metrics` in Prometheus's exposition format and `/healthz`. A listener on anything but
//! loopback needs a bearer token (`PIPE_TOKEN` or `--token-file`); with a token every request
//! must carry it, and one without is refused with 401 and logged without what it sent.

mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pipe_dataflow::telemetry::Telemetry;

use crate::pipeline::Progress;
pub use metrics::Metrics;

/// What the handlers share.
struct Shared {
    metrics: Metrics,
    token: Option<String>,
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
    ) -> anyhow::Result<Control> {
        if !address.ip().is_loopback() && token.is_none() {
            bail!(
                "refusing to serve the control API on {address} without a token: anyone who can reach it could read and change the pipeline; set PIPE_TOKEN or --token-file, or listen on 127.0.0.1"
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(address))
            .with_context(|| format!("cannot listen on {address} for the control API"))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            metrics: Metrics::new(telemetry, progress),
            token,
        });
        let app = Router::new()
            .route("/metrics", get(metrics_text))
            .route("/healthz", get(|| async { "ok\n" }))
            .layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                authorize,
            ))
            .with_state(shared);
        let thread = std::thread::Builder::new()
            .name("control".to_string())
            .spawn(move || {
                let serve = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                );
                let served = runtime.block_on(std::future::IntoFuture::into_future(serve));
                if let Err(error) = served {
                    tracing::error!("the control API stopped: {error}");
                }
            })?;
        tracing::info!("control API on http://{address} (/metrics, /healthz)");
        Ok(Control {
            address,
            _thread: thread,
        })
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
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
