//! `GET /packages/{carrier}/{tracking}`: a package's state, from the state this instance
//! owns. A package belongs to one partition of `shipment.events` (murmur2 of its key);
//! when another instance owns that partition the answer is 421 Misdirected Request with
//! the partition, so a caller can ask the instances in turn (or route by partition).

use super::{HttpState, error};
use crate::domain::{PackageKey, TrackingNumber};
use crate::kafka::state::Lookup;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use serde_json::json;

fn millis_to_rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|at| at.to_rfc3339())
}

pub(super) async fn lookup(
    State(state): State<HttpState>,
    Path((carrier, tracking)): Path<(String, String)>,
) -> Response {
    let Some(view) = &state.state else {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "not_a_fold_instance",
            "this instance does not run the fold stage; ask one that does",
        );
    };
    let key = match TrackingNumber::parse(&tracking)
        .and_then(|number| PackageKey::new(&carrier, number))
    {
        Ok(key) => key,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_package", e.to_string()),
    };
    if crate::carriers::find(&carrier).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_carrier",
            format!("unknown carrier `{carrier}`"),
        );
    }
    let key = key.to_string();
    match view.lookup(&key) {
        Lookup::Found(package) => {
            let events: Vec<_> = package
                .recent(state.config.http.lookup_events)
                .into_iter()
                .map(|item| {
                    json!({
                        "occurred_at": millis_to_rfc3339(item.occurred_at_ms),
                        "kind": item.kind,
                        "status": item.status,
                        "sub_status": item.sub_status,
                        "source": item.source,
                        "voided": item.voided,
                    })
                })
                .collect();
            let lock = package
                .manual_lock()
                .map(|until| json!({"until": until.and_then(millis_to_rfc3339)}));
            let next_timer = package
                .next_timer(&state.config.timers.thresholds_for(&carrier))
                .map(|timer| {
                    json!({
                        "status": timer.status,
                        "sub_status": timer.sub,
                        "due_at": millis_to_rfc3339(timer.at_ms),
                        "quiet_since": millis_to_rfc3339(timer.since_ms),
                    })
                });
            let body = json!({
                "package": key,
                "status": package.status(),
                "sub_status": package.sub_status(),
                "linkage": package.linkage(),
                "manual_lock": lock,
                "changes": package.seq(),
                "next_timer": next_timer,
                "retained_until": package
                    .retained_until(state.config.state.retention_ms())
                    .and_then(millis_to_rfc3339),
                "events": events,
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Lookup::Unknown => error(
            StatusCode::NOT_FOUND,
            "unknown_package",
            format!("no events for {key}"),
        ),
        Lookup::Elsewhere { partition } => {
            let body = json!({
                "error": "owned_elsewhere",
                "reason": format!("{key} belongs to partition {partition} of shipment.events, which another instance owns"),
                "partition": partition,
            });
            (StatusCode::MISDIRECTED_REQUEST, axum::Json(body)).into_response()
        }
    }
}
