//! The events of one raw record, as the fold applies them: one carrier body (a poll answer,
//! a push) may report a package's whole history, and the fold decides one net change per
//! record and package ([`PackageState::apply_part`]). These helpers say which events are
//! followed by more of the same record and package, and keep the event that decided a
//! change, so that the change carries its codes, text and place.

use super::event::ShipmentEvent;
use super::fold::{Outcome, PackageState};
use super::package::PackageKey;
use std::borrow::{Borrow, Cow};

/// A record's events (in the order they are applied), each with whether a later one of the
/// same package follows. Carriers list a package's events together, so this looks at the
/// next event first and scans the rest only at the end of a package's run: no allocation.
pub fn with_more_follow<E: Borrow<ShipmentEvent>>(
    events: &[E],
) -> impl Iterator<Item = (&ShipmentEvent, bool)> {
    events.iter().enumerate().map(|(index, event)| {
        let event = event.borrow();
        let more = events[index + 1..]
            .iter()
            .any(|later| later.borrow().package == event.package);
        (event, more)
    })
}

/// Per package with an open record: the event of it that decides the status so far. The
/// events of a record arrive one at a time (one Kafka record each); when the record's last
/// event completes a change that an earlier one decided, that earlier one is handed back.
/// Kept in memory only: after a restart in the middle of a record the change is still
/// decided once, and carries the applied event's details instead.
#[derive(Debug, Default)]
pub struct Deciders {
    /// At most one per package; few at any time (records close as they end), so a list.
    kept: Vec<ShipmentEvent>,
}

impl Deciders {
    /// Notes that `event` was applied to `state` with `outcome`, `more_follow` as given to
    /// [`PackageState::apply_part`]. For a change, returns the kept event of the same record
    /// that decided it, if another event than `event` did. Clones a held event that
    /// decides; a caller that owns its events can [`hold`](Self::hold) them instead.
    pub fn applied(
        &mut self,
        state: &PackageState,
        event: &ShipmentEvent,
        outcome: &Outcome,
        more_follow: bool,
    ) -> Option<ShipmentEvent> {
        match outcome {
            Outcome::Held => {
                self.hold(state, Cow::Borrowed(event));
                None
            }
            _ if more_follow => None,
            _ => self.close(&event.package, outcome),
        }
    }

    /// `event` was [`Outcome::Held`]: kept if it decides the status so far.
    pub fn hold(&mut self, state: &PackageState, event: Cow<'_, ShipmentEvent>) {
        if state.is_decided_by(&event) {
            let event = event.into_owned();
            match self
                .kept
                .iter_mut()
                .find(|kept| kept.package == event.package)
            {
                Some(kept) => *kept = event,
                None => self.kept.push(event),
            }
        }
    }

    /// The record of `package` closed with `outcome` (its last event was applied): the
    /// kept event that decided the change, if the outcome is one and a kept event did.
    pub fn close(&mut self, package: &PackageKey, outcome: &Outcome) -> Option<ShipmentEvent> {
        let index = self.kept.iter().position(|kept| kept.package == *package)?;
        let kept = self.kept.swap_remove(index);
        match outcome {
            Outcome::Changed(change) if change.decided_by == kept.id.fingerprint() => Some(kept),
            _ => None,
        }
    }

    /// Forgets every kept event (the state they belong to was dropped or rewound).
    pub fn clear(&mut self) {
        self.kept.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CarrierEvent, EventTime, Status, SubCode, TrackingNumber};
    use chrono::{TimeZone, Utc};

    fn event(number: &str, minute: i64, status: Status, sub: Option<SubCode>) -> ShipmentEvent {
        let start = Utc.with_ymd_and_hms(2024, 6, 6, 8, 0, 0).single();
        let at = EventTime::system(start.expect("valid") + chrono::Duration::minutes(minute));
        let number = TrackingNumber::parse(number).expect("valid");
        let event = CarrierEvent::new(number, at, status, sub).code("code", minute.to_string());
        ShipmentEvent::from_carrier("ups", event).expect("valid")
    }

    #[test]
    fn only_the_last_event_of_each_package_closes_the_record() {
        let events = [
            event("A", 3, Status::Delivered, None),
            event("B", 2, Status::InTransit, None),
            event("A", 1, Status::OutForDelivery, None),
            event("B", 0, Status::InfoReceived, None),
            event("C", 0, Status::InfoReceived, None),
        ];
        let more: Vec<bool> = with_more_follow(&events).map(|(_, more)| more).collect();
        assert_eq!(more, [true, true, false, false, false]);
        assert_eq!(with_more_follow::<ShipmentEvent>(&[]).count(), 0);
    }

    /// UPS lists newest first: a "not on schedule" notice after the delivery, then the
    /// delivery, then out for delivery. The notice alone reads as a delay.
    #[test]
    fn the_change_of_a_record_carries_the_event_that_decided_it() {
        let mut state = PackageState::default();
        state.apply(&event("A", 0, Status::OutForDelivery, None));
        let record = [
            event("A", 30, Status::Exception, Some(SubCode::Delayed)),
            event("A", 20, Status::Delivered, Some(SubCode::Agent)),
            event("A", 10, Status::InTransit, None),
        ];
        let mut deciders = Deciders::default();
        let mut changes = Vec::new();
        for (event, more) in with_more_follow(&record) {
            let outcome = state.apply_part(event, more);
            let decider = deciders.applied(&state, event, &outcome, more);
            if let Outcome::Changed(change) = outcome {
                changes.push((change, decider));
            }
        }
        let [(change, decider)] = changes.as_slice() else {
            panic!("one change per record, got {changes:?}");
        };
        assert_eq!(change.previous, Some((Status::OutForDelivery, None)));
        assert_eq!(
            (change.status, change.sub_status),
            (Status::Delivered, Some(SubCode::Agent))
        );
        assert_eq!(change.trigger, record[2].id);
        assert_eq!(decider.as_ref().map(|e| e.id), Some(record[1].id));
        assert!(deciders.kept.is_empty());
    }

    #[test]
    fn a_record_that_ends_where_it_started_changes_nothing() {
        let mut state = PackageState::default();
        state.apply(&event("A", 0, Status::Delivered, None));
        let mut deciders = Deciders::default();
        // A reopen by an investigation, taken back by a newer delivery, in one record.
        let record = [
            event("A", 20, Status::Delivered, None),
            event("A", 10, Status::Exception, Some(SubCode::Investigation)),
        ];
        for (event, more) in with_more_follow(&record) {
            let outcome = state.apply_part(event, more);
            deciders.applied(&state, event, &outcome, more);
            assert!(!matches!(outcome, Outcome::Changed(_)), "{outcome:?}");
        }
        assert!(deciders.kept.is_empty());
    }
}
