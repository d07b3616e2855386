//! Ops commands (JSON on `shipment.commands`): their shape, checked when normalising, and
//! the unified event each becomes. The meaning (lock conflicts, unknown packages) is
//! decided later by the fold.
//!
//! ```json
//! {"id": "c-17", "type": "set_status", "carrier": "dhl", "tracking_number": "00340434161094015902",
//!  "status": "RETURNED_TO_SENDER", "sub_status": "received", "reason": "parcel back in the warehouse",
//!  "actor": "ops@example.com", "lock": {"until": "2026-12-01T00:00:00Z"}}
//! ```

use super::event::{EventId, EventKind, Linkage, Lock, ShipmentEvent, Source};
use super::package::{PackageKey, TrackingNumber};
use super::status::{Direction, ReasonOwner, Status, SubCode};
use super::time::EventTime;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a command was rejected when its shape was checked. The message is the precise
/// reason given back to whoever sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Not JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// JSON of the wrong shape (missing field, unknown field, wrong type, unknown type).
    #[error("invalid command: {0}")]
    Invalid(String),
    /// A status name outside the vocabulary.
    #[error("unknown status `{0}`")]
    UnknownStatus(String),
    /// A sub-status that is not a sub-code of the status.
    #[error("sub_status `{sub}` is not a sub-code of {status}")]
    SubStatusMismatch {
        /// The status given.
        status: Status,
        /// The sub-status given.
        sub: String,
    },
    /// `UNKNOWN` cannot be set by hand.
    #[error("UNKNOWN cannot be set by a command")]
    UnknownNotSettable,
    /// The carrier is not one unitrack knows.
    #[error("unknown carrier `{0}`")]
    UnknownCarrier(String),
    /// The tracking number or carrier id is unusable.
    #[error("invalid package: {0}")]
    Package(String),
    /// A required text field is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
}

impl CommandError {
    /// A bounded label for metrics and headers.
    pub fn class(&self) -> &'static str {
        match self {
            CommandError::MalformedJson(_) => "malformed_json",
            CommandError::Invalid(_) => "invalid",
            CommandError::UnknownStatus(_) | CommandError::UnknownNotSettable => "unknown_status",
            CommandError::SubStatusMismatch { .. } => "sub_status_mismatch",
            CommandError::UnknownCarrier(_) => "unknown_carrier",
            CommandError::Package(_) => "invalid_package",
            CommandError::Empty(_) => "missing_field",
        }
    }
}

/// A lock as a command gives it: `{"until": "<RFC 3339>"}` or `{}` (until cleared).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockSpec {
    /// Until when; absent = until cleared by a `clear_lock` command.
    pub until: Option<DateTime<Utc>>,
}

/// One command, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Sets a status by hand (STATUS_MODEL rule 8).
    SetStatus {
        /// The command id; a re-sent id is a no-op.
        id: String,
        /// The carrier id.
        carrier: String,
        /// The tracking number.
        tracking_number: String,
        /// The status to set.
        status: String,
        /// The sub-code.
        sub_status: Option<String>,
        /// Why.
        reason: String,
        /// Who.
        actor: String,
        /// An optional lock.
        lock: Option<LockSpec>,
        /// When it takes effect; default: the record's timestamp.
        occurred_at: Option<DateTime<Utc>>,
    },
    /// Links a package to PlentyONE; the package starts as `PENDING`.
    Register {
        /// The command id.
        id: String,
        /// The carrier id.
        carrier: String,
        /// The tracking number.
        tracking_number: String,
        /// The PlentyONE tenant.
        tenant: Option<String>,
        /// The order id.
        order_id: Option<String>,
        /// The order's package id.
        package_id: Option<String>,
        /// `outbound` (default) or `return` for customer return labels.
        #[serde(default)]
        direction: Direction,
        /// Who.
        actor: String,
        /// When; default: the record's timestamp.
        occurred_at: Option<DateTime<Utc>>,
    },
    /// Clears a manual lock.
    ClearLock {
        /// The command id.
        id: String,
        /// The carrier id.
        carrier: String,
        /// The tracking number.
        tracking_number: String,
        /// Why.
        reason: Option<String>,
        /// Who.
        actor: String,
        /// When; default: the record's timestamp.
        occurred_at: Option<DateTime<Utc>>,
    },
}

impl Command {
    /// Parses and checks a command's JSON.
    pub fn parse(json: &[u8]) -> Result<Self, CommandError> {
        serde_json::from_slice(json).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => CommandError::Invalid(e.to_string()),
            _ => CommandError::MalformedJson(e.to_string()),
        })
    }

    /// The command id (for outcomes and idempotency).
    pub fn id(&self) -> &str {
        match self {
            Command::SetStatus { id, .. }
            | Command::Register { id, .. }
            | Command::ClearLock { id, .. } => id,
        }
    }

    /// The unified event of the command. `is_carrier` says whether a carrier id is
    /// known; `received_at` is the record's timestamp, used when the command gives no time.
    pub fn into_event(
        self,
        is_carrier: impl Fn(&str) -> bool,
        received_at: DateTime<Utc>,
    ) -> Result<ShipmentEvent, CommandError> {
        let (id, carrier, tracking_number, actor, reason, occurred_at, kind) = match self {
            Command::SetStatus {
                id,
                carrier,
                tracking_number,
                status,
                sub_status,
                reason,
                actor,
                lock,
                occurred_at,
            } => {
                let status: Status = status
                    .parse()
                    .map_err(|_| CommandError::UnknownStatus(status))?;
                if status == Status::Unknown {
                    return Err(CommandError::UnknownNotSettable);
                }
                let sub_status = sub_status
                    .map(|sub| match sub.parse::<SubCode>() {
                        Ok(code) if status.allows(code) => Ok(code),
                        _ => Err(CommandError::SubStatusMismatch { status, sub }),
                    })
                    .transpose()?;
                if reason.trim().is_empty() {
                    return Err(CommandError::Empty("reason"));
                }
                let kind = EventKind::Status {
                    status,
                    sub_status,
                    reason_owner: ReasonOwner::Unknown,
                    action_required: false,
                    attempt_no: None,
                    lock: lock.map(|lock| Lock { until: lock.until }),
                };
                (
                    id,
                    carrier,
                    tracking_number,
                    actor,
                    Some(reason),
                    occurred_at,
                    kind,
                )
            }
            Command::Register {
                id,
                carrier,
                tracking_number,
                tenant,
                order_id,
                package_id,
                direction,
                actor,
                occurred_at,
            } => {
                let kind = EventKind::Register(Linkage {
                    tenant,
                    order_id,
                    package_id,
                    direction,
                });
                (id, carrier, tracking_number, actor, None, occurred_at, kind)
            }
            Command::ClearLock {
                id,
                carrier,
                tracking_number,
                reason,
                actor,
                occurred_at,
            } => (
                id,
                carrier,
                tracking_number,
                actor,
                reason,
                occurred_at,
                EventKind::ClearLock,
            ),
        };
        if id.trim().is_empty() {
            return Err(CommandError::Empty("id"));
        }
        if actor.trim().is_empty() {
            return Err(CommandError::Empty("actor"));
        }
        if !is_carrier(&carrier) {
            return Err(CommandError::UnknownCarrier(carrier));
        }
        let tracking = TrackingNumber::parse(&tracking_number)
            .map_err(|e| CommandError::Package(e.to_string()))?;
        let package = PackageKey::new(&carrier, tracking)
            .map_err(|e| CommandError::Package(e.to_string()))?;
        Ok(ShipmentEvent {
            id: EventId::of(&["command", &id]),
            package,
            source: Source::Manual {
                command_id: id,
                actor,
                reason,
            },
            kind,
            time: EventTime::system(occurred_at.unwrap_or(received_at)),
            direction: None,
            codes: Vec::new(),
            text: None,
            location: None,
            estimated_delivery: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0)
            .single()
            .expect("valid")
    }

    fn event(json: &str) -> Result<ShipmentEvent, CommandError> {
        Command::parse(json.as_bytes())?.into_event(|c| c == "dhl" || c == "gls", now())
    }

    #[test]
    fn set_status_becomes_a_manual_event_with_lock() {
        let event = event(
            r#"{"id":"c-1","type":"set_status","carrier":"dhl","tracking_number":" 0034 0434 ",
                "status":"RETURNED_TO_SENDER","sub_status":"received","reason":"back in the warehouse",
                "actor":"ops@example.com","lock":{}}"#,
        )
        .expect("valid");
        assert_eq!(event.package.to_string(), "dhl:00340434");
        assert_eq!(event.id, EventId::of(&["command", "c-1"]));
        assert_eq!(event.time.utc, now());
        assert!(matches!(
            event.kind,
            EventKind::Status {
                status: Status::ReturnedToSender,
                sub_status: Some(SubCode::Received),
                lock: Some(Lock { until: None }),
                ..
            }
        ));
        assert!(
            matches!(event.source, Source::Manual { ref actor, .. } if actor == "ops@example.com")
        );
    }

    #[test]
    fn every_bad_shape_has_a_precise_reason() {
        let cases = [
            ("{not json", "malformed JSON"),
            (
                r#"{"id":"c","type":"set_status","carrier":"dhl","tracking_number":"1","status":"DELIVERED","actor":"a"}"#,
                "missing field `reason`",
            ),
            (
                r#"{"id":"c","type":"teleport","carrier":"dhl","tracking_number":"1"}"#,
                "unknown variant `teleport`",
            ),
            (
                r#"{"id":"c","type":"set_status","carrier":"dhl","tracking_number":"1","status":"BEAMED","reason":"r","actor":"a"}"#,
                "unknown status `BEAMED`",
            ),
            (
                r#"{"id":"c","type":"set_status","carrier":"dhl","tracking_number":"1","status":"UNKNOWN","reason":"r","actor":"a"}"#,
                "UNKNOWN cannot be set",
            ),
            (
                r#"{"id":"c","type":"set_status","carrier":"dhl","tracking_number":"1","status":"DELIVERED","sub_status":"locker","reason":"r","actor":"a"}"#,
                "not a sub-code of DELIVERED",
            ),
            (
                r#"{"id":"c","type":"set_status","carrier":"pigeon","tracking_number":"1","status":"DELIVERED","reason":"r","actor":"a"}"#,
                "unknown carrier `pigeon`",
            ),
            (
                r#"{"id":"c","type":"clear_lock","carrier":"dhl","tracking_number":"a/b","actor":"a"}"#,
                "invalid package",
            ),
            (
                r#"{"id":" ","type":"clear_lock","carrier":"dhl","tracking_number":"1","actor":"a"}"#,
                "`id` must not be empty",
            ),
            (
                r#"{"id":"c","type":"clear_lock","carrier":"dhl","tracking_number":"1","actor":"a","extra":1}"#,
                "unknown field `extra`",
            ),
        ];
        for (json, reason) in cases {
            let error = event(json).expect_err(json);
            assert!(
                error.to_string().contains(reason),
                "{json}: `{error}` lacks `{reason}`"
            );
        }
    }

    #[test]
    fn register_carries_the_link_and_direction() {
        let event = event(
            r#"{"id":"r-1","type":"register","carrier":"gls","tracking_number":"123","tenant":"t","order_id":"o",
                "package_id":"p","direction":"return","actor":"erp","occurred_at":"2024-04-30T10:00:00Z"}"#,
        )
        .expect("valid");
        let EventKind::Register(linkage) = event.kind else {
            panic!("register")
        };
        assert_eq!(linkage.direction, Direction::Return);
        assert_eq!(linkage.order_id.as_deref(), Some("o"));
        assert_eq!(event.time.utc.to_rfc3339(), "2024-04-30T10:00:00+00:00");
    }
}

/// The one outcome of a command, published on `shipment.commands.outcomes` keyed by the
/// command id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandOutcome {
    /// The command id (none when the JSON was too broken to hold one).
    pub command_id: Option<String>,
    /// `accepted` or `rejected`.
    pub outcome: &'static str,
    /// Why it was rejected, precisely; or a note (`duplicate`).
    pub reason: Option<String>,
    /// A bounded class of the rejection (`malformed_json`, `unknown_status`, `lock_conflict`...).
    pub class: Option<&'static str>,
    /// The package, when known.
    pub package: Option<String>,
    /// Whether the command id was seen before (a re-sent command is a no-op).
    pub duplicate: bool,
    /// The stage that decided: `normalise` (shape) or `fold` (meaning).
    pub decided_by: &'static str,
}

impl CommandOutcome {
    /// Accepted by the fold.
    pub fn accepted(command_id: &str, package: &str, duplicate: bool) -> Self {
        Self {
            command_id: Some(command_id.to_owned()),
            outcome: "accepted",
            reason: duplicate.then(|| "duplicate: this command id was applied before".to_owned()),
            class: None,
            package: Some(package.to_owned()),
            duplicate,
            decided_by: "fold",
        }
    }

    /// Rejected for its meaning by the fold.
    pub fn rejected(command_id: &str, package: &str, class: &'static str, reason: String) -> Self {
        Self {
            command_id: Some(command_id.to_owned()),
            outcome: "rejected",
            reason: Some(reason),
            class: Some(class),
            package: Some(package.to_owned()),
            duplicate: false,
            decided_by: "fold",
        }
    }

    /// Rejected for its shape when normalising; the id is read leniently from the JSON.
    pub fn malformed(json: &[u8], error: &CommandError) -> Self {
        let loose: Option<serde_json::Value> = serde_json::from_slice(json).ok();
        let field = |name: &str| {
            loose
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let package = match (field("carrier"), field("tracking_number")) {
            (Some(carrier), Some(number)) => Some(format!("{carrier}:{number}")),
            _ => None,
        };
        Self {
            command_id: field("id"),
            outcome: "rejected",
            reason: Some(error.to_string()),
            class: Some(error.class()),
            package,
            duplicate: false,
            decided_by: "normalise",
        }
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use std::collections::BTreeSet;

    fn schema(name: &str) -> serde_json::Value {
        let path = format!("{}/schemas/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("JSON")
    }

    fn strings(value: &serde_json::Value) -> BTreeSet<String> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The JSON Schema and the parser agree: every field the schema requires is required
    /// by the parser, every property it lists is accepted, and nothing else is.
    #[test]
    fn the_command_json_schema_matches_the_parser() {
        let schema = schema("Command.schema.json");
        let common = strings(&schema["required"]);
        let full = |kind: &str| -> serde_json::Value {
            match kind {
                "register" => {
                    serde_json::json!({"id":"c","type":"register","carrier":"dhl","tracking_number":"1",
                    "actor":"a","occurred_at":"2024-01-01T00:00:00Z","tenant":"t","order_id":"o","package_id":"p","direction":"return"})
                }
                "set_status" => {
                    serde_json::json!({"id":"c","type":"set_status","carrier":"dhl","tracking_number":"1",
                    "actor":"a","occurred_at":"2024-01-01T00:00:00Z","status":"DELIVERED","sub_status":"neighbour","reason":"r","lock":{"until":null}})
                }
                _ => {
                    serde_json::json!({"id":"c","type":"clear_lock","carrier":"dhl","tracking_number":"1",
                    "actor":"a","occurred_at":"2024-01-01T00:00:00Z","reason":"r"})
                }
            }
        };
        for variant in schema["oneOf"].as_array().expect("oneOf") {
            let kind = variant["properties"]["type"]["const"]
                .as_str()
                .expect("const type");
            let listed: BTreeSet<String> = variant["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .cloned()
                .collect();
            let example = full(kind);
            let given: BTreeSet<String> = example
                .as_object()
                .expect("object")
                .keys()
                .cloned()
                .collect();
            assert_eq!(
                listed, given,
                "{kind}: the schema lists exactly the fields the parser knows"
            );
            let parse = |value: &serde_json::Value| Command::parse(value.to_string().as_bytes());
            parse(&example).unwrap_or_else(|e| panic!("{kind}: the full example parses: {e}"));
            let required: BTreeSet<String> = common
                .union(&strings(&variant["required"]))
                .cloned()
                .collect();
            for field in &given {
                let mut without = example.clone();
                without.as_object_mut().expect("object").remove(field);
                let result = parse(&without);
                if required.contains(field) {
                    assert!(
                        result.is_err(),
                        "{kind}: `{field}` is required by the schema but not by the parser"
                    );
                } else {
                    assert!(
                        result.is_ok(),
                        "{kind}: `{field}` is optional in the schema but the parser requires it"
                    );
                }
            }
            let mut extra = example.clone();
            extra["surprise"] = serde_json::json!(1);
            assert!(
                parse(&extra).is_err(),
                "{kind}: unknown fields are rejected, as the schema says"
            );
        }
    }

    #[test]
    fn the_outcome_json_schema_lists_every_field_and_class() {
        let schema = schema("CommandOutcome.schema.json");
        let outcome = CommandOutcome::rejected("c", "dhl:1", "lock_conflict", "r".to_owned());
        let json = serde_json::to_value(&outcome).expect("serialises");
        let fields: BTreeSet<String> = json.as_object().expect("object").keys().cloned().collect();
        assert_eq!(fields, strings(&schema["required"]));
        let classes = strings(&schema["properties"]["class"]["enum"]);
        for error in [
            CommandError::MalformedJson(String::new()),
            CommandError::Invalid(String::new()),
            CommandError::UnknownStatus(String::new()),
            CommandError::SubStatusMismatch {
                status: Status::Delivered,
                sub: String::new(),
            },
            CommandError::UnknownCarrier(String::new()),
            CommandError::Package(String::new()),
            CommandError::Empty("id"),
        ] {
            assert!(
                classes.contains(error.class()),
                "{} missing from the outcome schema",
                error.class()
            );
        }
        for class in ["lock_conflict", "unknown_package", "no_lock"] {
            assert!(classes.contains(class));
        }
    }
}
