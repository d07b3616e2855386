//! `POST /push/{carrier}`: carriers' push APIs (DHL Shipment Tracking – Unified Push
//! first). The carrier sends the header and token its subscription was configured with;
//! the token is compared in constant time. The body must be one the carrier's mapper
//! reads; it is written verbatim to `tracking.raw.<carrier>` (acks=all, idempotent
//! producer), keyed by the first tracking number in it, and only then answered 202. The
//! pipeline treats it like any raw record.

use super::{HttpState, error};
use crate::carriers::{self, RawRecord};
use crate::config::Config;
use crate::telemetry::metrics;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The producer and the tokens of the push endpoints.
pub struct PushIngress {
    producer: FutureProducer,
    tokens: HashMap<String, Vec<u8>>,
}

impl PushIngress {
    /// A push ingress for the configured push carriers, with their tokens.
    pub fn new(config: &Config) -> Result<Self, rdkafka::error::KafkaError> {
        let producer = crate::kafka::client_config(config)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                config.http.push_kafka_timeout_ms.to_string(),
            )
            .create()?;
        let tokens = config
            .secrets
            .push_tokens
            .iter()
            .map(|(carrier, token)| (carrier.clone(), token.clone().into_bytes()))
            .collect();
        Ok(Self { producer, tokens })
    }
}

pub(super) async fn push(
    State(state): State<HttpState>,
    Path(carrier): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (outcome, response) = handle(&state, &carrier, &headers, body).await;
    metrics().push(
        if PUSH_LABELS.contains(&carrier.as_str()) {
            &carrier
        } else {
            "other"
        },
        outcome,
    );
    response
}

/// Carrier labels for metrics (bounded).
const PUSH_LABELS: &[&str] = super::PUSH_CARRIERS;

async fn handle(
    state: &HttpState,
    carrier: &str,
    headers: &HeaderMap,
    body: Body,
) -> (&'static str, Response) {
    let config = &state.config;
    let (Some(ingress), true) = (
        &state.push,
        config.http.push_carriers.iter().any(|c| c == carrier),
    ) else {
        let reason = format!("no push endpoint for `{carrier}` is configured");
        return (
            "not_found",
            error(StatusCode::NOT_FOUND, "unknown_push_carrier", reason),
        );
    };
    let Some(expected) = ingress.tokens.get(carrier) else {
        return (
            "not_found",
            error(
                StatusCode::NOT_FOUND,
                "unknown_push_carrier",
                "no token configured",
            ),
        );
    };
    let given = headers
        .get(config.http.push_header.as_str())
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(expected.as_slice())) {
        return (
            "unauthorized",
            error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong push token",
            ),
        );
    }
    let limit = config.http.push_max_body_bytes;
    let Ok(bytes) = to_bytes(body, limit).await else {
        let reason = format!("the body is larger than {limit} bytes");
        return (
            "too_large",
            error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", reason),
        );
    };
    let Some(mapper) = carriers::find(carrier) else {
        return (
            "not_found",
            error(
                StatusCode::NOT_FOUND,
                "unknown_push_carrier",
                carrier.to_owned(),
            ),
        );
    };
    let raw = RawRecord {
        topic: "",
        key: None,
        headers: &[],
        payload: &bytes,
        timestamp_ms: None,
    };
    // The same read the normalise stage will make (identities, the panic guard), so a
    // body accepted here is not dead-lettered there.
    let events = match carriers::map_record(mapper, &raw) {
        Ok(events) => events,
        Err(e) => {
            return (
                "malformed",
                error(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
            );
        }
    };
    let key = events
        .first()
        .map(|e| e.package.tracking_number.to_string())
        .unwrap_or_default();
    let topic = config.raw_topic(carrier);
    let record = FutureRecord::to(&topic).key(&key).payload(bytes.as_ref());
    let timeout = Duration::from_millis(config.http.push_kafka_timeout_ms);
    match ingress.producer.send(record, timeout).await {
        Ok(delivery) => {
            let body = json!({
                "status": "accepted",
                "topic": topic,
                "partition": delivery.partition,
                "offset": delivery.offset,
                "events": events.len(),
            });
            (
                "accepted",
                (StatusCode::ACCEPTED, axum::Json(body)).into_response(),
            )
        }
        Err((e, _)) => (
            "unavailable",
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "kafka_unavailable",
                format!("Kafka did not take the push: {e}"),
            ),
        ),
    }
}
