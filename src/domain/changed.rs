//! The status-changed record: what Flow receives for every real change (STATUS_MODEL
//! rule 7), built from the event that was applied and the change the fold decided.

use super::event::{
    EventId, EventKind, IdHasher, Linkage, Location, RawCode, ShipmentEvent, Source,
};
use super::fold::{Change, TransitionKind};
use super::package::PackageKey;
use super::status::{Direction, ReasonOwner, Status, StatusClass, SubCode};
use super::time::ZoneSource;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who made the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    /// A carrier event.
    Carrier,
    /// A person, by command.
    Manual,
    /// unitrack's timers.
    System,
}

/// One real status change of one package. It borrows the texts, codes, place and package
/// of the event that caused it (and the package's linkage): it lives only as long as it
/// takes to write it out, and copying them cost a third of building and encoding it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusChanged<'a> {
    /// Deterministic id: the same change always gets the same id, so a consumer can
    /// de-duplicate even across re-processing.
    pub event_id: EventId,
    /// The package.
    pub package: &'a PackageKey,
    /// The PlentyONE link, if registered.
    pub linkage: Option<&'a Linkage>,
    /// The new status.
    pub status: Status,
    /// The new sub-status.
    pub sub_status: Option<SubCode>,
    /// The status before (none for a new package).
    pub previous_status: Option<Status>,
    /// The sub-status before.
    pub previous_sub_status: Option<SubCode>,
    /// Why it changed.
    pub transition_kind: TransitionKind,
    /// The class of the new status.
    pub status_class: StatusClass,
    /// Who owns the reason.
    pub reason_owner: ReasonOwner,
    /// Whether someone has to act.
    pub action_required: bool,
    /// Outbound or customer return.
    pub direction: Direction,
    /// Delivery attempt, where known.
    pub attempt_no: Option<u32>,
    /// When the deciding event happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// The carrier's local time of it, where the applied event decided it.
    pub occurred_at_local: Option<NaiveDateTime>,
    /// The zone of the local time.
    pub zone: Option<&'a str>,
    /// Where the zone came from.
    pub zone_source: Option<ZoneSource>,
    /// Carrier, manual or system.
    pub source: ChangeSource,
    /// Who, for manual changes.
    pub actor: Option<&'a str>,
    /// Why, for manual changes.
    pub reason: Option<&'a str>,
    /// The carrier's raw codes of the applied event.
    pub codes: &'a [RawCode],
    /// The carrier's text of the applied event.
    pub text: Option<&'a str>,
    /// Where.
    pub location: Option<&'a Location>,
    /// The carrier's estimated delivery.
    pub estimated_delivery: Option<DateTime<Utc>>,
    /// Per-package sequence number of changes, from 1.
    pub seq: u64,
}

impl<'a> StatusChanged<'a> {
    /// Builds the record for `change` of a package linked as `linkage`. `event` is the
    /// event that decided it where the caller has it (another event of the raw record
    /// that completed the change), else the applied event: its codes, text and place are
    /// carried, and its time details, reason owner and attempt when it decided the new
    /// status. The id is derived from the applied event ([`Change::trigger`]).
    pub fn new(event: &'a ShipmentEvent, change: &Change, linkage: Option<&'a Linkage>) -> Self {
        // The parts: "status_changed", package key, seq, the trigger's id (hex); hashed
        // without building their strings.
        let mut id = IdHasher::default();
        id.part("status_changed");
        let package = &event.package;
        id.part_of(&[&package.carrier, ":", package.tracking_number.as_str()]);
        id.part(itoa::Buffer::new().format(change.seq));
        id.part(change.trigger.hex(&mut [0; 32]));
        let event_id = id.finish();
        let own = change.decided_by == event.id.fingerprint();
        let (reason_owner, action_required, attempt_no) = match &event.kind {
            EventKind::Status {
                reason_owner,
                action_required,
                attempt_no,
                ..
            } if own => (*reason_owner, *action_required, *attempt_no),
            _ => (ReasonOwner::Unknown, false, None),
        };
        let (source, actor, reason) = match &event.source {
            Source::Carrier => (ChangeSource::Carrier, None, None),
            Source::Manual { actor, reason, .. } => (
                ChangeSource::Manual,
                Some(actor.as_str()),
                reason.as_deref(),
            ),
            Source::System => (ChangeSource::System, None, None),
        };
        let occurred_at =
            DateTime::from_timestamp_millis(change.decided_at_ms).unwrap_or(event.time.utc);
        let direction = linkage
            .map(|link| link.direction)
            .or(event.direction)
            .unwrap_or_default();
        Self {
            event_id,
            package: &event.package,
            linkage,
            status: change.status,
            sub_status: change.sub_status,
            previous_status: change.previous.map(|(status, _)| status),
            previous_sub_status: change.previous.and_then(|(_, sub)| sub),
            transition_kind: change.kind,
            status_class: change.status.class(),
            reason_owner,
            action_required,
            direction,
            attempt_no,
            occurred_at,
            occurred_at_local: own.then_some(event.time.local).flatten(),
            zone: own.then_some(event.time.zone.as_deref()).flatten(),
            zone_source: own.then_some(event.time.zone_source),
            source,
            actor,
            reason,
            codes: &event.codes,
            text: event.text.as_deref(),
            location: event.location.as_ref(),
            estimated_delivery: event.estimated_delivery,
            seq: change.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CarrierEvent, EventTime, TrackingNumber};
    use chrono::TimeZone;

    /// The id is persisted by consumers (de-duplication): its parts never change. The
    /// first implementation built them as strings; it is the reference here.
    #[test]
    fn change_ids_hash_the_same_parts_as_ever() {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).single();
        let event = CarrierEvent::new(
            TrackingNumber::parse("00340434161094015902").expect("valid"),
            EventTime::system(at.expect("valid")),
            Status::Delivered,
            None,
        );
        let event = ShipmentEvent::from_carrier("dhl_parcel_de", event).expect("valid");
        for seq in [1, 42, u64::MAX] {
            let change = Change {
                previous: None,
                status: Status::Delivered,
                sub_status: None,
                kind: TransitionKind::Progress,
                seq,
                decided_at_ms: 0,
                decided_by: event.id.fingerprint(),
                trigger: event.id,
            };
            let reference = EventId::of(&[
                "status_changed",
                &event.package.to_string(),
                &seq.to_string(),
                &event.id.to_string(),
            ]);
            assert_eq!(
                StatusChanged::new(&event, &change, None).event_id,
                reference
            );
        }
    }
}
