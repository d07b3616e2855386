//! Timers (STATUS_MODEL rule 10): a package the carrier has gone quiet on becomes `STALLED`,
//! and after longer `EXPIRED`. Which timer is due is decided here, purely, from the state
//! and a clock reading; the timer itself becomes a `source = system` event at an instant
//! derived from the history (the last update plus the threshold), with an identity derived
//! from that instant, so that a replay of `shipment.events` gives the same statuses and a
//! timer fired twice is a duplicate. The same clock decides when a package's state has been
//! final long enough to be dropped ([`PackageState::retained_until`]).

use super::PackageState;
use crate::domain::event::{EventId, EventKind, RawCode, ShipmentEvent, Source};
use crate::domain::package::PackageKey;
use crate::domain::status::{ReasonOwner, Status, StatusClass, SubCode};
use crate::domain::time::EventTime;
use chrono::DateTime;
use std::borrow::Cow;

/// How long a package may stay without an update before a timer fires, in milliseconds
/// (calendar time); none = that timer is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timers {
    /// `PENDING` or `INFO_RECEIVED` (a label, no scan) → `STALLED.not_handed_over`.
    pub not_handed_over: Option<i64>,
    /// Any other non-terminal status → `STALLED.no_progress`.
    pub no_progress: Option<i64>,
    /// The same while the package is abroad or in customs (`IN_TRANSIT.international`,
    /// `IN_TRANSIT.customs_processing`, `EXCEPTION.customs_hold`).
    pub no_progress_international: Option<i64>,
    /// `AVAILABLE_FOR_PICKUP` → `STALLED.pickup_overdue` (set it below the pickup point's
    /// holding period, to remind the recipient in time).
    pub pickup_overdue: Option<i64>,
    /// Any non-terminal status, `STALLED` included → `EXPIRED` (tracking closed).
    pub expired: Option<i64>,
}

/// A timer that is due for one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimer {
    /// `STALLED` or `EXPIRED`.
    pub status: Status,
    /// Its sub-code.
    pub sub: SubCode,
    /// When it fell due (UTC millis): the last update plus the threshold.
    pub at_ms: i64,
    /// The last update it counts from (UTC millis).
    pub since_ms: i64,
}

impl DueTimer {
    /// The system event that fires this timer for `package`.
    pub fn event(&self, package: PackageKey) -> Option<ShipmentEvent> {
        let at = DateTime::from_timestamp_millis(self.at_ms)?;
        let since = DateTime::from_timestamp_millis(self.since_ms)?;
        let id = EventId::of(&[
            "system",
            &package.to_string(),
            self.status.as_str(),
            self.sub.as_str(),
            &self.at_ms.to_string(),
            &self.since_ms.to_string(),
        ]);
        let reason_owner = match self.sub {
            SubCode::NotHandedOver => ReasonOwner::Shipper,
            SubCode::PickupOverdue => ReasonOwner::Recipient,
            SubCode::NoProgress => ReasonOwner::Carrier,
            _ => ReasonOwner::Unknown,
        };
        Some(ShipmentEvent {
            id,
            package,
            source: Source::System,
            kind: EventKind::Status {
                status: self.status,
                sub_status: Some(self.sub),
                reason_owner,
                action_required: true,
                attempt_no: None,
                lock: None,
            },
            time: EventTime::system(at),
            direction: None,
            codes: vec![
                RawCode {
                    name: Cow::Borrowed(TIMER_CODE),
                    value: self.sub.as_str().to_owned(),
                },
                RawCode {
                    name: Cow::Borrowed(QUIET_SINCE_CODE),
                    value: self.since_ms.to_string(),
                },
            ],
            text: Some(format!(
                "no update since {} ({} days)",
                since.format("%Y-%m-%d %H:%M UTC"),
                (self.at_ms - self.since_ms) / DAY_MS
            )),
            location: None,
            estimated_delivery: None,
        })
    }
}

/// The code naming a timer event's timer (its sub-code).
pub const TIMER_CODE: &str = "timer";

/// The code holding the instant a timer counted from (UTC millis): the fold voids the timer
/// when an update after it turns up late.
pub const QUIET_SINCE_CODE: &str = "quiet_since";

/// The instant a system event's timer counted from, if it is a timer.
pub(super) fn quiet_since(event: &ShipmentEvent) -> Option<i64> {
    event
        .codes
        .iter()
        .find(|code| code.name == QUIET_SINCE_CODE)
        .and_then(|code| code.value.parse().ok())
}

/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl PackageState {
    /// The timer due at `now_ms` (UTC millis), if one is: `EXPIRED` once the package has had
    /// no update for `timers.expired`, else `STALLED` (by status, see [`Timers`]) unless it
    /// is stalled already. An update is any history entry but a system one. None for a
    /// terminal status, for a timer already in the history (fired, whether or not it
    /// changed the status), and where a manual status holds: `STALLED` never overrides one,
    /// `EXPIRED` not while its lock holds.
    pub fn due_timer(&self, now_ms: i64, timers: &Timers) -> Option<DueTimer> {
        let (stall, expiry) = self.timers_ahead(timers);
        let due = |timer: &DueTimer| timer.at_ms <= now_ms;
        let timer = expiry.filter(due).or(stall.filter(due))?;
        (!self.fired(&timer)).then_some(timer)
    }

    /// The next timer that will fall due if nothing happens before (for people looking a
    /// package up), whether or not it is due already.
    pub fn next_timer(&self, timers: &Timers) -> Option<DueTimer> {
        let (stall, expiry) = self.timers_ahead(timers);
        [stall, expiry]
            .into_iter()
            .flatten()
            .filter(|timer| !self.fired(timer))
            .min_by_key(|timer| timer.at_ms)
    }

    /// The package's `STALLED` and `EXPIRED` timers, whenever they fall due.
    fn timers_ahead(&self, timers: &Timers) -> (Option<DueTimer>, Option<DueTimer>) {
        // Most packages of a sweep are delivered: nothing to look at in their history.
        let Some(status) = self
            .current
            .status
            .filter(|status| status.class() != StatusClass::Terminal)
        else {
            return (None, None);
        };
        let Some(since_ms) = self.last_update() else {
            return (None, None);
        };
        let hold = self.current.hold;
        let at = |after: Option<i64>, status: Status, sub: SubCode, not_before: i64| {
            let at_ms = since_ms.checked_add(after?)?.max(not_before);
            (at_ms != i64::MAX).then_some(DueTimer {
                status,
                sub,
                at_ms,
                since_ms,
            })
        };
        let expiry_sub = if status == Status::Pending {
            SubCode::NoCarrierData
        } else {
            SubCode::MaxAgeReached
        };
        // A lock holds off expiry until it ends (one until cleared: for good).
        let lock_end = hold.and_then(|hold| hold.lock).unwrap_or(i64::MIN);
        let expiry = at(timers.expired, Status::Expired, expiry_sub, lock_end);
        if status == Status::Stalled || hold.is_some() {
            return (None, expiry);
        }
        let international = matches!(
            self.current.sub,
            Some(SubCode::International | SubCode::CustomsProcessing | SubCode::CustomsHold)
        );
        let (after, sub) = match status {
            Status::Pending | Status::InfoReceived => {
                (timers.not_handed_over, SubCode::NotHandedOver)
            }
            Status::AvailableForPickup => (timers.pickup_overdue, SubCode::PickupOverdue),
            _ if international => (timers.no_progress_international, SubCode::NoProgress),
            _ => (timers.no_progress, SubCode::NoProgress),
        };
        (at(after, Status::Stalled, sub, i64::MIN), expiry)
    }

    /// From when (UTC millis) the package's state may be dropped: `retention_ms` after its
    /// last update, or after its manual lock ends, once its status is final (terminal,
    /// `EXPIRED` included). None while it is not final, while a raw record of it is open,
    /// while a lock without end holds, or without `retention_ms`. A carrier event that turns
    /// up after that starts the package afresh.
    pub fn retained_until(&self, retention_ms: Option<i64>) -> Option<i64> {
        let status = self.current.status?;
        if status.class() != StatusClass::Terminal || self.open.is_some() {
            return None;
        }
        let since = match self.manual_lock() {
            Some(None) => return None,
            Some(Some(until)) => self.last_update()?.max(until),
            None => self.last_update()?,
        };
        since.checked_add(retention_ms?)
    }

    /// Whether `timer` is in the history already (fired).
    fn fired(&self, timer: &DueTimer) -> bool {
        self.history
            .iter()
            .any(|entry| entry.at == timer.at_ms && !entry.effect.is_update())
    }

    /// Event time of the newest entry that is not a system event (UTC millis).
    fn last_update(&self) -> Option<i64> {
        self.history
            .iter()
            .rev()
            .find(|entry| entry.effect.is_update())
            .map(|entry| entry.at)
            .or_else(|| self.floor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Outcome;
    use crate::domain::event::{CarrierEvent, Lock};
    use crate::domain::package::TrackingNumber;
    use chrono::{TimeZone, Utc};

    const DAY: i64 = DAY_MS;

    fn start() -> i64 {
        Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0)
            .single()
            .expect("valid")
            .timestamp_millis()
    }

    fn carrier(day: i64, status: Status, sub: Option<SubCode>) -> ShipmentEvent {
        let at = DateTime::from_timestamp_millis(start() + day * DAY).expect("valid");
        let event = CarrierEvent::new(
            TrackingNumber::parse("PKG1").expect("valid"),
            EventTime::system(at),
            status,
            sub,
        )
        .code("code", format!("{status}.{day}"));
        ShipmentEvent::from_carrier("hermes", event).expect("valid")
    }

    fn timers() -> Timers {
        Timers {
            not_handed_over: Some(5 * DAY),
            no_progress: Some(6 * DAY),
            no_progress_international: Some(14 * DAY),
            pickup_overdue: Some(8 * DAY),
            expired: Some(30 * DAY),
        }
    }

    fn state_with(events: &[ShipmentEvent]) -> PackageState {
        let mut state = PackageState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    fn due(state: &PackageState, day: i64) -> Option<(Status, SubCode, i64)> {
        state
            .due_timer(start() + day * DAY, &timers())
            .map(|t| (t.status, t.sub, (t.at_ms - start()) / DAY))
    }

    #[test]
    fn each_status_stalls_after_its_threshold_from_the_last_update() {
        let cases = [
            (Status::InfoReceived, None, SubCode::NotHandedOver, 5),
            (
                Status::InTransit,
                Some(SubCode::Processing),
                SubCode::NoProgress,
                6,
            ),
            (
                Status::InTransit,
                Some(SubCode::International),
                SubCode::NoProgress,
                14,
            ),
            (
                Status::Exception,
                Some(SubCode::CustomsHold),
                SubCode::NoProgress,
                14,
            ),
            (Status::DeliveryFailed, None, SubCode::NoProgress, 6),
            (Status::AvailableForPickup, None, SubCode::PickupOverdue, 8),
            (Status::ReturningToSender, None, SubCode::NoProgress, 6),
        ];
        for (status, sub, stalled, after) in cases {
            let state = state_with(&[
                carrier(0, Status::InfoReceived, None),
                carrier(2, status, sub),
            ]);
            assert_eq!(due(&state, 2 + after - 1), None, "{status} {sub:?}");
            assert_eq!(
                due(&state, 2 + after),
                Some((Status::Stalled, stalled, 2 + after)),
                "{status} {sub:?}"
            );
        }
    }

    #[test]
    fn a_terminal_status_has_no_timer() {
        let state = state_with(&[carrier(0, Status::Delivered, None)]);
        assert_eq!(due(&state, 400), None);
    }

    #[test]
    fn a_long_silence_expires_the_package_at_the_expiry_instant() {
        let state = state_with(&[carrier(0, Status::InTransit, None)]);
        assert_eq!(
            due(&state, 400),
            Some((Status::Expired, SubCode::MaxAgeReached, 30))
        );
    }

    #[test]
    fn a_fired_timer_is_not_due_again_and_stalled_waits_for_expiry() {
        let mut state = state_with(&[carrier(0, Status::InTransit, None)]);
        let timer = state
            .due_timer(start() + 7 * DAY, &timers())
            .expect("stalled");
        let event = timer.event(PackageKey::parse("hermes:PKG1").expect("valid"));
        let event = event.expect("a valid instant");
        assert!(matches!(state.apply(&event), Outcome::Changed(_)));
        assert_eq!(state.status(), Some(Status::Stalled));
        assert_eq!(due(&state, 7), None);
        assert_eq!(due(&state, 29), None);
        assert_eq!(
            due(&state, 30),
            Some((Status::Expired, SubCode::MaxAgeReached, 30))
        );
        // Firing twice is a duplicate.
        assert_eq!(state.apply(&event), Outcome::Duplicate);
        // The next carrier event clears STALLED and restarts the clock.
        state.apply(&carrier(9, Status::OutForDelivery, None));
        assert_eq!(state.status(), Some(Status::OutForDelivery));
        assert_eq!(due(&state, 14), None);
        assert_eq!(
            due(&state, 15),
            Some((Status::Stalled, SubCode::NoProgress, 15))
        );
    }

    /// A scan made before the timer fell due but known only after it fired: the package was
    /// not quiet, the timer is void, and the status is what the scans say.
    #[test]
    fn a_late_update_voids_a_timer_that_fired() {
        let mut state = state_with(&[carrier(0, Status::InTransit, None)]);
        let timer = state.due_timer(start() + 7 * DAY, &timers()).expect("due");
        let key = PackageKey::parse("hermes:PKG1").expect("valid");
        state.apply(&timer.event(key).expect("valid"));
        assert_eq!(state.status(), Some(Status::Stalled));
        let outcome = state.apply(&carrier(3, Status::OutForDelivery, None));
        let Outcome::Changed(change) = outcome else {
            panic!("the late scan voids the timer: {outcome:?}");
        };
        assert_eq!(
            change.previous,
            Some((Status::Stalled, Some(SubCode::NoProgress)))
        );
        assert_eq!(change.status, Status::OutForDelivery);
        // Not due again from the old scan; due from the late one.
        assert_eq!(due(&state, 8), None);
        assert_eq!(
            due(&state, 9),
            Some((Status::Stalled, SubCode::NoProgress, 9))
        );
        // In the other order (the late scan, then the timer event) the same status.
        let mut other = state_with(&[carrier(0, Status::InTransit, None)]);
        let key = PackageKey::parse("hermes:PKG1").expect("valid");
        other.apply(&carrier(3, Status::OutForDelivery, None));
        other.apply(&timer.event(key).expect("valid"));
        assert_eq!(other.status(), Some(Status::OutForDelivery));
    }

    #[test]
    fn a_registered_package_without_carrier_data_expires_as_such() {
        let mut state = PackageState::default();
        let mut register = carrier(0, Status::Pending, Some(SubCode::Registered));
        register.kind = EventKind::Register(Default::default());
        state.apply(&register);
        assert_eq!(state.status(), Some(Status::Pending));
        assert_eq!(
            due(&state, 5),
            Some((Status::Stalled, SubCode::NotHandedOver, 5))
        );
        assert_eq!(
            due(&state, 31),
            Some((Status::Expired, SubCode::NoCarrierData, 30))
        );
    }

    #[test]
    fn a_manual_status_holds_off_stalled_and_its_lock_holds_off_expired() {
        let mut manual = carrier(1, Status::Exception, Some(SubCode::Damaged));
        manual.source = Source::Manual {
            command_id: "c-1".to_owned(),
            actor: "ops".to_owned(),
            reason: None,
        };
        let lock_until = DateTime::from_timestamp_millis(start() + 60 * DAY);
        if let EventKind::Status { lock, .. } = &mut manual.kind {
            *lock = Some(Lock { until: lock_until });
        }
        let state = state_with(&[carrier(0, Status::InTransit, None), manual]);
        assert_eq!(due(&state, 20), None);
        assert_eq!(due(&state, 40), None, "the lock holds until day 60");
        assert_eq!(
            due(&state, 70),
            Some((Status::Expired, SubCode::MaxAgeReached, 60))
        );
    }

    #[test]
    fn the_next_timer_is_the_earliest_not_fired() {
        let next = |state: &PackageState| {
            state
                .next_timer(&timers())
                .map(|t| (t.status, t.sub, (t.at_ms - start()) / DAY))
        };
        let mut state = state_with(&[carrier(0, Status::InTransit, None)]);
        assert_eq!(
            next(&state),
            Some((Status::Stalled, SubCode::NoProgress, 6))
        );
        let timer = state.due_timer(start() + 7 * DAY, &timers()).expect("due");
        state.apply(
            &timer
                .event(PackageKey::parse("hermes:PKG1").expect("valid"))
                .expect("valid"),
        );
        assert_eq!(
            next(&state),
            Some((Status::Expired, SubCode::MaxAgeReached, 30))
        );
        let delivered = state_with(&[carrier(0, Status::Delivered, None)]);
        assert_eq!(next(&delivered), None);
    }

    #[test]
    fn a_timer_that_is_off_never_fires() {
        let state = state_with(&[carrier(0, Status::InTransit, None)]);
        assert_eq!(
            state.due_timer(start() + 400 * DAY, &Timers::default()),
            None
        );
    }

    #[test]
    fn a_final_package_is_retained_for_the_retention_after_its_last_update() {
        let retention = Some(90 * DAY);
        let delivered = state_with(&[
            carrier(0, Status::InTransit, None),
            carrier(2, Status::Delivered, None),
        ]);
        assert_eq!(
            delivered.retained_until(retention),
            Some(start() + 92 * DAY)
        );
        assert_eq!(delivered.retained_until(None), None, "retention off");
        let moving = state_with(&[carrier(0, Status::InTransit, None)]);
        assert_eq!(moving.retained_until(retention), None, "not final");
        // Expired by its timer: final, counted from the last carrier update, not the timer.
        let mut expired = state_with(&[carrier(0, Status::InTransit, None)]);
        let timer = expired
            .due_timer(start() + 40 * DAY, &timers())
            .expect("due");
        assert_eq!(timer.status, Status::Expired);
        let key = PackageKey::parse("hermes:PKG1").expect("valid");
        expired.apply(&timer.event(key).expect("event"));
        assert_eq!(expired.status(), Some(Status::Expired));
        assert_eq!(expired.retained_until(retention), Some(start() + 90 * DAY));
        // A manual lock holds the state until it ends, one without end for good.
        let mut manual = carrier(3, Status::Delivered, None);
        manual.source = Source::Manual {
            command_id: "c-2".to_owned(),
            actor: "ops".to_owned(),
            reason: None,
        };
        let locked = |until: Option<i64>| {
            let mut manual = manual.clone();
            if let EventKind::Status { lock, .. } = &mut manual.kind {
                *lock = Some(Lock {
                    until: until.and_then(DateTime::from_timestamp_millis),
                });
            }
            state_with(&[carrier(0, Status::InTransit, None), manual])
        };
        assert_eq!(
            locked(Some(start() + 200 * DAY)).retained_until(retention),
            Some(start() + 290 * DAY)
        );
        assert_eq!(locked(None).retained_until(retention), None);
        // A raw record still open (more of it to come) holds the state.
        let mut open = state_with(&[carrier(0, Status::InTransit, None)]);
        let outcome = open.apply_part(&carrier(1, Status::Delivered, None), true);
        assert_eq!(outcome, Outcome::Held);
        assert_eq!(open.retained_until(retention), None);
    }
}
