//! unitrack's HTTP edge (axum): health, metrics, carrier push ingress, package lookup.
//!
//! | route | answers |
//! |---|---|
//! | `GET /healthz` | 200 while every stage's loop turns, else 503 |
//! | `GET /readyz` | 200 once every stage's producer is ready and its assigned partitions are restored, else 503 |
//! | `GET /metrics` | Prometheus text exposition |
//! | `POST /push/{carrier}` | 202 once the body is durably in `tracking.raw.<carrier>`; 401, 413, 400, 503 otherwise |
//! | `GET /packages/{carrier}/{tracking}` | the package's state; 404 unknown; 421 owned by another instance |

mod lookup;
mod push;

use crate::config::Config;
use crate::kafka::state::StateView;
use crate::telemetry::health::Health;
use crate::telemetry::metrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::future::Future;
use std::sync::Arc;

pub use push::PushIngress;

/// Carriers with a push endpoint. Adding one: its mapper validates the body, and this list.
pub const PUSH_CARRIERS: &[&str] = &["dhl"];

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    config: Arc<Config>,
    health: Arc<Health>,
    state: Option<StateView>,
    push: Option<Arc<PushIngress>>,
}

impl HttpState {
    /// The state of the HTTP edge: `state` when this process runs the fold stage, `push`
    /// when push carriers are configured.
    pub fn new(
        config: Arc<Config>,
        health: Arc<Health>,
        state: Option<StateView>,
        push: Option<Arc<PushIngress>>,
    ) -> Self {
        Self {
            config,
            health,
            state,
            push,
        }
    }
}

/// A JSON error body: `{"error": <kind>, "reason": <text>}`.
pub(crate) fn error(status: StatusCode, kind: &str, reason: impl Into<String>) -> Response {
    let body = json!({"error": kind, "reason": reason.into()});
    (status, axum::Json(body)).into_response()
}

/// The router of every route.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .route("/push/{carrier}", post(push::push))
        .route("/packages/{carrier}/{tracking}", get(lookup::lookup))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let report = state.health.report();
    let status = if report.alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    let report = state.health.report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

async fn render_metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics().render(),
    )
        .into_response()
}
