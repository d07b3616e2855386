//! The flat Avro records of `schemas/*.avsc` and their conversions to and from the domain.
//! Field order and names follow the schemas exactly; a round-trip test keeps them in step.

use super::{AvroRecord, shipment_event_schema, status_changed_schema};
use crate::domain::{
    ChangeSource, Correction, Direction, EventId, EventKind, EventTime, Linkage, Location, Lock,
    PackageKey, RawCode, ReasonOwner, ShipmentEvent, Source, Status, StatusChanged, StatusClass,
    SubCode, TrackingNumber, TransitionKind, ZoneSource, check_carrier_id,
};
use apache_avro::Schema;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::OnceLock;

/// An Avro record that does not make a valid domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {record} record: {reason}")]
pub struct RecordError {
    /// Which record.
    pub record: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn invalid(reason: impl Into<String>) -> RecordError {
    RecordError {
        record: "ShipmentEvent",
        reason: reason.into(),
    }
}

/// `EventSource` in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[serde(rename = "EventSource")]
pub enum EventSourceSymbol {
    /// A carrier.
    Carrier,
    /// A person.
    Manual,
    /// unitrack's timers.
    System,
}

/// `EventKind` in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[serde(rename = "EventKind")]
pub enum EventKindSymbol {
    /// Reports a status.
    Status,
    /// Voids an earlier carrier event.
    Correction,
    /// Links to PlentyONE.
    Register,
    /// Clears a manual lock.
    ClearLock,
    /// Never changes the status.
    Info,
}

/// `Location` in the schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Location")]
pub struct LocationRecord<'a> {
    /// City.
    pub city: Option<Cow<'a, str>>,
    /// Postal code.
    pub postal_code: Option<Cow<'a, str>>,
    /// Country.
    pub country: Option<Cow<'a, str>>,
}

/// `Lock` in the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Lock")]
pub struct LockRecord {
    /// Until (UTC millis), or until cleared.
    pub until: Option<i64>,
}

/// `Linkage` in the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Linkage")]
pub struct LinkageRecord<'a> {
    /// Tenant.
    pub tenant: Option<Cow<'a, str>>,
    /// Order id.
    pub order_id: Option<Cow<'a, str>>,
    /// Package id.
    pub package_id: Option<Cow<'a, str>>,
    /// Direction.
    pub direction: Direction,
}

/// `schemas/ShipmentEvent.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
#[serde(rename = "ShipmentEvent")]
pub struct ShipmentEventRecord<'a> {
    /// Written as its 32 hex digits.
    pub event_id: EventId,
    /// Written as its text, `<carrier>:<TRACKING_NUMBER>`.
    #[serde(with = "key_text")]
    pub package_key: Cow<'a, PackageKey>,
    pub carrier: Cow<'a, str>,
    pub tracking_number: Cow<'a, str>,
    pub source: EventSourceSymbol,
    pub kind: EventKindSymbol,
    pub status: Option<Status>,
    pub sub_status: Option<Cow<'a, str>>,
    pub reason_owner: ReasonOwner,
    pub action_required: bool,
    pub attempt_no: Option<i32>,
    pub direction: Option<Direction>,
    pub occurred_at: i64,
    pub occurred_at_local: Option<i64>,
    pub zone: Option<Cow<'a, str>>,
    pub zone_source: ZoneSource,
    /// `RawCode` in the schema has the domain's fields (`name`, `value`): the codes are
    /// written straight from the event, without a copy.
    pub codes: Cow<'a, [RawCode]>,
    pub text: Option<Cow<'a, str>>,
    pub location: Option<LocationRecord<'a>>,
    pub estimated_delivery: Option<i64>,
    pub voids_status: Option<Status>,
    pub command_id: Option<Cow<'a, str>>,
    pub actor: Option<Cow<'a, str>>,
    pub reason: Option<Cow<'a, str>>,
    pub lock: Option<LockRecord>,
    pub linkage: Option<LinkageRecord<'a>>,
}

/// `schemas/ShipmentStatusChanged.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
#[serde(rename = "ShipmentStatusChanged")]
pub struct StatusChangedRecord<'a> {
    /// Written as its 32 hex digits.
    pub event_id: EventId,
    /// Written as its text, `<carrier>:<TRACKING_NUMBER>`.
    #[serde(with = "key_text")]
    pub package_key: Cow<'a, PackageKey>,
    pub carrier: Cow<'a, str>,
    pub tracking_number: Cow<'a, str>,
    pub tenant: Option<Cow<'a, str>>,
    pub order_id: Option<Cow<'a, str>>,
    pub package_id: Option<Cow<'a, str>>,
    pub status: Status,
    pub sub_status: Option<Cow<'a, str>>,
    pub previous_status: Option<Status>,
    pub previous_sub_status: Option<Cow<'a, str>>,
    pub transition_kind: TransitionKind,
    pub status_class: StatusClass,
    pub reason_owner: ReasonOwner,
    pub action_required: bool,
    pub direction: Direction,
    pub attempt_no: Option<i32>,
    pub occurred_at: i64,
    pub occurred_at_local: Option<i64>,
    pub zone: Option<Cow<'a, str>>,
    pub zone_source: Option<ZoneSource>,
    pub processed_at: i64,
    pub source: ChangeSource,
    pub actor: Option<Cow<'a, str>>,
    pub reason: Option<Cow<'a, str>>,
    /// As in [`ShipmentEventRecord::codes`].
    pub codes: Cow<'a, [RawCode]>,
    pub text: Option<Cow<'a, str>>,
    pub location: Option<LocationRecord<'a>>,
    pub estimated_delivery: Option<i64>,
    pub seq: i64,
}

impl AvroRecord for ShipmentEventRecord<'_> {
    fn schema() -> &'static Schema {
        shipment_event_schema()
    }

    fn fast_schema() -> &'static serde_avro_fast::Schema {
        static CELL: OnceLock<serde_avro_fast::Schema> = OnceLock::new();
        super::parse_fast(super::SHIPMENT_EVENT_AVSC, &CELL)
    }
}

impl AvroRecord for StatusChangedRecord<'_> {
    fn schema() -> &'static Schema {
        status_changed_schema()
    }

    fn fast_schema() -> &'static serde_avro_fast::Schema {
        static CELL: OnceLock<serde_avro_fast::Schema> = OnceLock::new();
        super::parse_fast(super::STATUS_CHANGED_AVSC, &CELL)
    }
}

fn local_millis(local: &NaiveDateTime) -> i64 {
    local.and_utc().timestamp_millis()
}

fn local_from_millis(millis: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_millis(millis).map(|at| at.naive_utc())
}

fn utc_from_millis(millis: i64, field: &str) -> Result<DateTime<Utc>, RecordError> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| invalid(format!("{field} {millis} is out of range")))
}

fn location_record(location: Option<&Location>) -> Option<LocationRecord<'_>> {
    location.map(|l| LocationRecord {
        city: borrowed(&l.city),
        postal_code: borrowed(&l.postal_code),
        country: borrowed(&l.country),
    })
}

/// A package key as the schemas' `package_key` string: written from the stack
/// ([`PackageKey::with_text`]), read back checked ([`PackageKey::parse`]).
mod key_text {
    use crate::domain::PackageKey;
    use serde::{Deserialize, Deserializer, Serializer, de};
    use std::borrow::Cow;

    pub(super) fn serialize<S: Serializer>(
        key: &PackageKey,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        key.with_text(|text| serializer.serialize_str(text))
    }

    pub(super) fn deserialize<'de, 'a, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Cow<'a, PackageKey>, D::Error> {
        let text = String::deserialize(deserializer)?;
        PackageKey::parse(&text)
            .map(Cow::Owned)
            .map_err(|e| de::Error::custom(format!("package_key `{text}`: {e}")))
    }
}

fn borrowed(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(Cow::Borrowed)
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

fn attempt_record(attempt: Option<u32>) -> Option<i32> {
    attempt.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

impl<'a> From<&'a ShipmentEvent> for ShipmentEventRecord<'a> {
    fn from(event: &'a ShipmentEvent) -> Self {
        let (source, command_id, actor, reason) = match &event.source {
            Source::Carrier => (EventSourceSymbol::Carrier, None, None, None),
            Source::Manual {
                command_id,
                actor,
                reason,
            } => (
                EventSourceSymbol::Manual,
                Some(Cow::Borrowed(command_id.as_str())),
                Some(Cow::Borrowed(actor.as_str())),
                borrowed(reason),
            ),
            Source::System => (EventSourceSymbol::System, None, None, None),
        };
        let mut record = Self {
            event_id: event.id,
            package_key: Cow::Borrowed(&event.package),
            carrier: Cow::Borrowed(&event.package.carrier),
            tracking_number: Cow::Borrowed(event.package.tracking_number.as_str()),
            source,
            kind: EventKindSymbol::Status,
            status: None,
            sub_status: None,
            reason_owner: ReasonOwner::Unknown,
            action_required: false,
            attempt_no: None,
            direction: event.direction,
            occurred_at: event.time.millis(),
            occurred_at_local: event.time.local.as_ref().map(local_millis),
            zone: event.time.zone.as_deref().map(Cow::Borrowed),
            zone_source: event.time.zone_source,
            codes: Cow::Borrowed(&event.codes),
            text: borrowed(&event.text),
            location: location_record(event.location.as_ref()),
            estimated_delivery: event.estimated_delivery.map(|at| at.timestamp_millis()),
            voids_status: None,
            command_id,
            actor,
            reason,
            lock: None,
            linkage: None,
        };
        match &event.kind {
            EventKind::Status {
                status,
                sub_status,
                reason_owner,
                action_required,
                attempt_no,
                lock,
            } => {
                record.status = Some(*status);
                record.sub_status = sub_status.map(|sub| Cow::Borrowed(sub.as_str()));
                record.reason_owner = *reason_owner;
                record.action_required = *action_required;
                record.attempt_no = attempt_record(*attempt_no);
                record.lock = lock.map(|lock| LockRecord {
                    until: lock.until.map(|at| at.timestamp_millis()),
                });
            }
            EventKind::Correction(correction) => {
                record.kind = EventKindSymbol::Correction;
                record.voids_status = match correction {
                    Correction::Latest => None,
                    Correction::LatestWith(status) => Some(*status),
                };
            }
            EventKind::Register(linkage) => {
                record.kind = EventKindSymbol::Register;
                record.linkage = Some(LinkageRecord {
                    tenant: borrowed(&linkage.tenant),
                    order_id: borrowed(&linkage.order_id),
                    package_id: borrowed(&linkage.package_id),
                    direction: linkage.direction,
                });
            }
            EventKind::ClearLock => record.kind = EventKindSymbol::ClearLock,
            EventKind::Info => record.kind = EventKindSymbol::Info,
        }
        record
    }
}

impl TryFrom<ShipmentEventRecord<'_>> for ShipmentEvent {
    type Error = RecordError;

    fn try_from(record: ShipmentEventRecord<'_>) -> Result<Self, Self::Error> {
        let id = record.event_id;
        let tracking =
            TrackingNumber::parse(&record.tracking_number).map_err(|e| invalid(e.to_string()))?;
        check_carrier_id(&record.carrier).map_err(|e| invalid(e.to_string()))?;
        // The key was parsed and checked when the datum was read: it is the package.
        let package = record.package_key.into_owned();
        if package.carrier != record.carrier || package.tracking_number != tracking {
            return Err(invalid(format!(
                "package_key `{package}` does not match carrier and tracking number"
            )));
        }
        let source = match record.source {
            EventSourceSymbol::Carrier => Source::Carrier,
            EventSourceSymbol::System => Source::System,
            EventSourceSymbol::Manual => Source::Manual {
                command_id: record
                    .command_id
                    .ok_or_else(|| invalid("manual event without command_id"))?
                    .into_owned(),
                actor: record
                    .actor
                    .ok_or_else(|| invalid("manual event without actor"))?
                    .into_owned(),
                reason: owned(record.reason),
            },
        };
        let kind = match record.kind {
            EventKindSymbol::Status => {
                let status = record
                    .status
                    .ok_or_else(|| invalid("status event without status"))?;
                let sub_status = record
                    .sub_status
                    .map(|sub| sub.parse::<SubCode>().map_err(|e| invalid(e.to_string())))
                    .transpose()?;
                let lock = record
                    .lock
                    .map(|lock| {
                        Ok::<_, RecordError>(Lock {
                            until: lock
                                .until
                                .map(|ms| utc_from_millis(ms, "lock.until"))
                                .transpose()?,
                        })
                    })
                    .transpose()?;
                EventKind::Status {
                    status,
                    sub_status,
                    reason_owner: record.reason_owner,
                    action_required: record.action_required,
                    attempt_no: record.attempt_no.and_then(|n| u32::try_from(n).ok()),
                    lock,
                }
            }
            EventKindSymbol::Correction => EventKind::Correction(match record.voids_status {
                None => Correction::Latest,
                Some(status) => Correction::LatestWith(status),
            }),
            EventKindSymbol::Register => {
                let linkage = record
                    .linkage
                    .ok_or_else(|| invalid("register event without linkage"))?;
                EventKind::Register(Linkage {
                    tenant: owned(linkage.tenant),
                    order_id: owned(linkage.order_id),
                    package_id: owned(linkage.package_id),
                    direction: linkage.direction,
                })
            }
            EventKindSymbol::ClearLock => EventKind::ClearLock,
            EventKindSymbol::Info => EventKind::Info,
        };
        Ok(Self {
            id,
            package,
            source,
            kind,
            time: EventTime {
                utc: utc_from_millis(record.occurred_at, "occurred_at")?,
                local: record.occurred_at_local.and_then(local_from_millis),
                zone: record.zone.map(|zone| Cow::Owned(zone.into_owned())),
                zone_source: record.zone_source,
            },
            direction: record.direction,
            codes: record.codes.into_owned(),
            text: owned(record.text),
            location: record.location.map(|l| Location {
                city: owned(l.city),
                postal_code: owned(l.postal_code),
                country: owned(l.country),
            }),
            estimated_delivery: record
                .estimated_delivery
                .map(|ms| utc_from_millis(ms, "estimated_delivery"))
                .transpose()?,
        })
    }
}

impl<'a> StatusChangedRecord<'a> {
    /// The record of a change, decided at `processed_at`.
    pub fn new(changed: &StatusChanged<'a>, processed_at: DateTime<Utc>) -> Self {
        let linkage = changed.linkage;
        Self {
            event_id: changed.event_id,
            package_key: Cow::Borrowed(changed.package),
            carrier: Cow::Borrowed(&changed.package.carrier),
            tracking_number: Cow::Borrowed(changed.package.tracking_number.as_str()),
            tenant: linkage.and_then(|l| borrowed(&l.tenant)),
            order_id: linkage.and_then(|l| borrowed(&l.order_id)),
            package_id: linkage.and_then(|l| borrowed(&l.package_id)),
            status: changed.status,
            sub_status: changed.sub_status.map(|s| Cow::Borrowed(s.as_str())),
            previous_status: changed.previous_status,
            previous_sub_status: changed
                .previous_sub_status
                .map(|s| Cow::Borrowed(s.as_str())),
            transition_kind: changed.transition_kind,
            status_class: changed.status_class,
            reason_owner: changed.reason_owner,
            action_required: changed.action_required,
            direction: changed.direction,
            attempt_no: attempt_record(changed.attempt_no),
            occurred_at: changed.occurred_at.timestamp_millis(),
            occurred_at_local: changed.occurred_at_local.as_ref().map(local_millis),
            zone: changed.zone.map(Cow::Borrowed),
            zone_source: changed.zone_source,
            processed_at: processed_at.timestamp_millis(),
            source: changed.source,
            actor: changed.actor.map(Cow::Borrowed),
            reason: changed.reason.map(Cow::Borrowed),
            codes: Cow::Borrowed(changed.codes),
            text: changed.text.map(Cow::Borrowed),
            location: location_record(changed.location),
            estimated_delivery: changed.estimated_delivery.map(|at| at.timestamp_millis()),
            seq: i64::try_from(changed.seq).unwrap_or(i64::MAX),
        }
    }
}
