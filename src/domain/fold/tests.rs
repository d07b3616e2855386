use super::*;
use crate::domain::event::{CarrierEvent, EventId, Lock};
use crate::domain::package::{PackageKey, TrackingNumber};
use crate::domain::time::EventTime;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

fn at(minute: i64) -> EventTime {
    let base = Utc
        .with_ymd_and_hms(2024, 5, 1, 8, 0, 0)
        .single()
        .expect("valid");
    EventTime::system(base + chrono::Duration::minutes(minute))
}

fn carrier(minute: i64, status: Status, sub: Option<SubCode>) -> ShipmentEvent {
    let event = CarrierEvent::new(
        TrackingNumber::parse("PKG1").expect("valid"),
        at(minute),
        status,
        sub,
    )
    .code("code", format!("{status}.{sub:?}"));
    ShipmentEvent::from_carrier("hermes", event).expect("valid")
}

fn correction(minute: i64, voids: Correction) -> ShipmentEvent {
    let event = CarrierEvent::correction(
        TrackingNumber::parse("PKG1").expect("valid"),
        at(minute),
        voids,
    )
    .code("code", "4690");
    ShipmentEvent::from_carrier("hermes", event).expect("valid")
}

fn command(minute: i64, kind: EventKind, id: &str) -> ShipmentEvent {
    ShipmentEvent {
        id: EventId::of(&["command", id]),
        package: PackageKey::parse("hermes:PKG1").expect("valid"),
        source: Source::Manual {
            command_id: id.to_owned(),
            actor: "ops@example.com".to_owned(),
            reason: Some("test".to_owned()),
        },
        kind,
        time: at(minute),
        direction: None,
        codes: Vec::new(),
        text: None,
        location: None,
        estimated_delivery: None,
    }
}

fn manual(minute: i64, status: Status, lock: Option<Lock>) -> ShipmentEvent {
    let id = format!("manual-{minute}-{status}-{}", lock.is_some());
    let kind = EventKind::Status {
        status,
        sub_status: None,
        reason_owner: Default::default(),
        action_required: false,
        attempt_no: None,
        lock,
    };
    command(minute, kind, &id)
}

fn system(minute: i64, status: Status, sub: Option<SubCode>) -> ShipmentEvent {
    let mut event = carrier(minute, status, sub);
    event.source = Source::System;
    event.id = EventId::of(&["system", &minute.to_string(), status.as_str()]);
    event
}

/// A timer event as the fold stage fires it: `STALLED` or `EXPIRED` at `minute`, counted
/// from an update at `since`.
fn timer(minute: i64, since: i64, expired: bool) -> ShipmentEvent {
    let (status, sub) = if expired {
        (Status::Expired, SubCode::MaxAgeReached)
    } else {
        (Status::Stalled, SubCode::NoProgress)
    };
    let due = DueTimer {
        status,
        sub,
        at_ms: at(minute).millis(),
        since_ms: at(since).millis(),
    };
    due.event(PackageKey::parse("hermes:PKG1").expect("valid"))
        .expect("a valid instant")
}

fn fold_all(events: &[ShipmentEvent]) -> PackageState {
    let mut state = PackageState::default();
    for event in events {
        state.apply(event);
    }
    state
}

fn summary(events: &[ShipmentEvent]) -> String {
    events
        .iter()
        .map(|e| {
            let who = match e.source {
                Source::Carrier => "C",
                Source::Manual { .. } => "M",
                Source::System => "S",
            };
            let what = match &e.kind {
                EventKind::Status {
                    status,
                    sub_status,
                    lock,
                    ..
                } => {
                    format!(
                        "{status}.{sub_status:?}{}",
                        if lock.is_some() { "+lock" } else { "" }
                    )
                }
                other => format!("{other:?}"),
            };
            format!(
                "{who}@{}:{what}#{:x}",
                e.time.utc.format("%M"),
                e.id.fingerprint() >> 48
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn pair(state: &PackageState) -> (Option<Status>, Option<SubCode>) {
    (state.status(), state.sub_status())
}

#[test]
fn first_event_is_a_progress_change_from_nothing() {
    let mut state = PackageState::default();
    let event = carrier(0, Status::InfoReceived, None);
    let Outcome::Changed(change) = state.apply(&event) else {
        panic!("expected a change");
    };
    assert_eq!(change.previous, None);
    assert_eq!(change.status, Status::InfoReceived);
    assert_eq!(change.kind, TransitionKind::Progress);
    assert_eq!(change.seq, 1);
    assert_eq!(change.decided_by, event.id.fingerprint());
    assert_eq!(change.trigger, event.id);
}

#[test]
fn a_first_or_refined_attention_status_is_an_attention_change() {
    // A package first seen failed (a first poll after the attempt) needs the same Flow
    // rule as one that was out for delivery before.
    let mut state = PackageState::default();
    let Outcome::Changed(first) = state.apply(&carrier(0, Status::DeliveryFailed, None)) else {
        panic!("expected a change");
    };
    assert_eq!(first.kind, TransitionKind::Attention);
    let refined = carrier(10, Status::DeliveryFailed, Some(SubCode::BackAtDepot));
    let Outcome::Changed(refined) = state.apply(&refined) else {
        panic!("expected a change");
    };
    assert_eq!(refined.kind, TransitionKind::Attention);
    // A first terminal status is progress.
    let mut state = PackageState::default();
    let Outcome::Changed(first) = state.apply(&carrier(0, Status::Delivered, None)) else {
        panic!("expected a change");
    };
    assert_eq!(first.kind, TransitionKind::Progress);
}

#[test]
fn late_in_transit_does_not_regress() {
    let mut state = fold_all(&[carrier(10, Status::OutForDelivery, None)]);
    assert_eq!(
        state.apply(&carrier(5, Status::InTransit, None)),
        Outcome::Stale
    );
    assert_eq!(state.status(), Some(Status::OutForDelivery));
}

#[test]
fn newer_lower_progress_is_ignored_unless_redirected() {
    let mut state = fold_all(&[carrier(10, Status::OutForDelivery, None)]);
    assert_eq!(
        state.apply(&carrier(20, Status::InTransit, Some(SubCode::Processing))),
        Outcome::Unchanged
    );
    let outcome = state.apply(&carrier(30, Status::InTransit, Some(SubCode::Redirected)));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            status: Status::InTransit,
            ..
        })
    ));
}

#[test]
fn duplicate_is_a_no_op() {
    let event = carrier(0, Status::InTransit, None);
    let mut state = fold_all(std::slice::from_ref(&event));
    assert_eq!(state.apply(&event), Outcome::Duplicate);
}

#[test]
fn progress_after_attention_is_a_resolution() {
    let mut state = fold_all(&[
        carrier(0, Status::InTransit, None),
        carrier(10, Status::Exception, Some(SubCode::Delayed)),
    ]);
    let Outcome::Changed(change) =
        state.apply(&carrier(20, Status::InTransit, Some(SubCode::Resolved)))
    else {
        panic!("expected a change");
    };
    assert_eq!(change.kind, TransitionKind::Resolution);
    assert_eq!(
        change.previous,
        Some((Status::Exception, Some(SubCode::Delayed)))
    );
}

#[test]
fn delivered_is_sticky_except_for_the_reopen_list() {
    let mut state = fold_all(&[carrier(0, Status::Delivered, None)]);
    assert_eq!(
        state.apply(&carrier(10, Status::InTransit, None)),
        Outcome::Unchanged
    );
    assert_eq!(
        state.apply(&carrier(11, Status::Exception, Some(SubCode::Damaged))),
        Outcome::Unchanged
    );
    let outcome = state.apply(&carrier(
        12,
        Status::Exception,
        Some(SubCode::Investigation),
    ));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            kind: TransitionKind::Reopen,
            ..
        })
    ));
}

#[test]
fn a_terminal_status_without_sub_code_is_refined_in_any_order() {
    let plain = carrier(10, Status::Delivered, None);
    let detailed = carrier(10, Status::Delivered, Some(SubCode::CollectedAtPickupPoint));
    for events in [[plain.clone(), detailed.clone()], [detailed, plain]] {
        let state = fold_all(&events);
        assert_eq!(
            pair(&state),
            (
                Some(Status::Delivered),
                Some(SubCode::CollectedAtPickupPoint)
            )
        );
    }
}

#[test]
fn returned_to_sender_is_final() {
    let mut state = fold_all(&[carrier(0, Status::ReturnedToSender, None)]);
    for (minute, status) in [
        (1, Status::InTransit),
        (2, Status::Delivered),
        (3, Status::Exception),
    ] {
        assert_eq!(
            state.apply(&carrier(minute, status, None)),
            Outcome::Unchanged
        );
    }
    assert_eq!(state.status(), Some(Status::ReturnedToSender));
}

#[test]
fn cancelled_and_lost_reopen() {
    let state = fold_all(&[
        carrier(0, Status::Cancelled, None),
        carrier(1, Status::InTransit, None),
    ]);
    assert_eq!(state.status(), Some(Status::InTransit));
    let state = fold_all(&[
        carrier(0, Status::Failed, Some(SubCode::Lost)),
        carrier(1, Status::Delivered, None),
    ]);
    assert_eq!(state.status(), Some(Status::Delivered));
    let state = fold_all(&[
        carrier(0, Status::Failed, Some(SubCode::Destroyed)),
        carrier(1, Status::Delivered, None),
    ]);
    assert_eq!(state.status(), Some(Status::Failed));
}

#[test]
fn delivered_on_the_return_leg_is_returned_to_sender() {
    let state = fold_all(&[
        carrier(0, Status::InTransit, None),
        carrier(1, Status::ReturningToSender, Some(SubCode::Refused)),
        carrier(2, Status::InTransit, Some(SubCode::Processing)),
        carrier(3, Status::Delivered, None),
    ]);
    assert_eq!(
        pair(&state),
        (Some(Status::ReturnedToSender), Some(SubCode::Received))
    );
}

#[test]
fn unknown_never_changes_the_status() {
    let mut state = fold_all(&[carrier(0, Status::InTransit, None)]);
    assert_eq!(
        state.apply(&carrier(5, Status::Unknown, None)),
        Outcome::Unchanged
    );
    let mut empty = PackageState::default();
    assert_eq!(
        empty.apply(&carrier(5, Status::Unknown, None)),
        Outcome::Unchanged
    );
    assert_eq!(empty.status(), None);
}

#[test]
fn info_events_never_change_the_status() {
    let mut state = fold_all(&[carrier(0, Status::InTransit, None)]);
    let event = CarrierEvent::info(TrackingNumber::parse("PKG1").expect("valid"), at(5))
        .code("code", "9040");
    let info = ShipmentEvent::from_carrier("hermes", event).expect("valid");
    assert_eq!(info.kind, EventKind::Info);
    assert_eq!(state.apply(&info), Outcome::Unchanged);
    assert_eq!(state.apply(&info), Outcome::Duplicate);
}

#[test]
fn correction_voids_the_latest_event_and_refolds() {
    let transit = carrier(0, Status::InTransit, None);
    let mut state = fold_all(&[
        transit.clone(),
        carrier(10, Status::ReturningToSender, Some(SubCode::Refused)),
    ]);
    let outcome = state.apply(&correction(
        20,
        Correction::LatestWith(Status::ReturningToSender),
    ));
    let Outcome::Changed(change) = outcome else {
        panic!("expected a change, got {outcome:?}");
    };
    assert_eq!(change.status, Status::InTransit);
    assert_eq!(change.decided_by, transit.id.fingerprint());
}

#[test]
fn a_correction_naming_a_status_voids_its_whole_latest_run() {
    // Hermes: refused, then returning (6081) and a generic return scan (1520) around an
    // unknown code; 4072 "return cancelled"; redelivered. It never went back to the sender.
    let events = [
        carrier(0, Status::OutForDelivery, None),
        carrier(10, Status::DeliveryFailed, Some(SubCode::Refused)),
        carrier(20, Status::ReturningToSender, Some(SubCode::Refused)),
        carrier(25, Status::Unknown, None),
        carrier(30, Status::ReturningToSender, None),
        correction(40, Correction::LatestWith(Status::ReturningToSender)),
    ];
    let mut state = fold_all(&events);
    assert_eq!(state.status(), Some(Status::DeliveryFailed));
    assert_eq!(state.sub_status(), Some(SubCode::Refused));
    state.apply(&carrier(50, Status::OutForDelivery, None));
    state.apply(&carrier(60, Status::Delivered, None));
    assert_eq!(state.status(), Some(Status::Delivered));
}

#[test]
fn a_run_ends_at_a_carrier_event_of_another_status() {
    // An earlier return, interrupted by a failed attempt, is not taken back by a correction
    // of the later one: the package is still on its way back, and "delivered" is back home.
    let state = fold_all(&[
        carrier(10, Status::ReturningToSender, None),
        carrier(20, Status::DeliveryFailed, Some(SubCode::RecipientAbsent)),
        carrier(30, Status::ReturningToSender, None),
        correction(40, Correction::LatestWith(Status::ReturningToSender)),
        carrier(50, Status::Delivered, None),
    ]);
    assert_eq!(state.status(), Some(Status::ReturnedToSender));
}

#[test]
fn un_cancel_by_correction_restores_the_previous_status() {
    let state = fold_all(&[
        carrier(0, Status::InfoReceived, None),
        carrier(10, Status::Cancelled, Some(SubCode::ByShipper)),
        carrier(15, Status::Cancelled, None),
        correction(20, Correction::LatestWith(Status::Cancelled)),
    ]);
    assert_eq!(state.status(), Some(Status::InfoReceived));
}

#[test]
fn manual_status_wins_over_older_carrier_events() {
    let mut state = fold_all(&[manual(10, Status::Exception, None)]);
    assert_eq!(
        state.apply(&carrier(5, Status::OutForDelivery, None)),
        Outcome::Stale
    );
    assert_eq!(state.status(), Some(Status::Exception));
}

#[test]
fn newer_carrier_event_overrides_an_unlocked_manual_status_only_if_higher_or_terminal() {
    let mut state = fold_all(&[
        carrier(0, Status::InTransit, None),
        manual(10, Status::OutForDelivery, None),
    ]);
    assert_eq!(
        state.apply(&carrier(20, Status::InTransit, None)),
        Outcome::Unchanged
    );
    let outcome = state.apply(&carrier(
        30,
        Status::AvailableForPickup,
        Some(SubCode::Locker),
    ));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            status: Status::AvailableForPickup,
            ..
        })
    ));
    let mut state = fold_all(&[manual(10, Status::OutForDelivery, None)]);
    let outcome = state.apply(&carrier(20, Status::Delivered, None));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            status: Status::Delivered,
            ..
        })
    ));
}

#[test]
fn lock_holds_until_it_expires() {
    let until = at(30).utc;
    let mut state = fold_all(&[manual(
        10,
        Status::Exception,
        Some(Lock { until: Some(until) }),
    )]);
    assert_eq!(state.manual_lock(), Some(Some(until.timestamp_millis())));
    assert_eq!(
        state.apply(&carrier(20, Status::Delivered, None)),
        Outcome::Unchanged
    );
    let outcome = state.apply(&carrier(40, Status::OutForDelivery, None));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            status: Status::OutForDelivery,
            ..
        })
    ));
}

#[test]
fn clear_lock_releases_the_manual_status() {
    let mut state = fold_all(&[manual(10, Status::Exception, Some(Lock { until: None }))]);
    assert_eq!(
        state.apply(&carrier(20, Status::Delivered, None)),
        Outcome::Unchanged
    );
    assert_eq!(
        state.apply(&command(30, EventKind::ClearLock, "clear-1")),
        Outcome::Unchanged
    );
    assert_eq!(state.manual_lock(), None);
    let outcome = state.apply(&carrier(40, Status::Delivered, Some(SubCode::Neighbour)));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            status: Status::Delivered,
            ..
        })
    ));
}

#[test]
fn stalled_is_cleared_by_the_next_carrier_event() {
    let mut state = fold_all(&[
        carrier(0, Status::InTransit, Some(SubCode::Processing)),
        system(100, Status::Stalled, Some(SubCode::NoProgress)),
    ]);
    assert_eq!(state.status(), Some(Status::Stalled));
    let outcome = state.apply(&carrier(200, Status::InTransit, Some(SubCode::Processing)));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            kind: TransitionKind::Resolution,
            ..
        })
    ));
}

#[test]
fn registration_starts_pending_and_keeps_the_link() {
    let linkage = Linkage {
        tenant: Some("t1".to_owned()),
        order_id: Some("o1".to_owned()),
        package_id: Some("p1".to_owned()),
        direction: Default::default(),
    };
    let mut state = PackageState::default();
    let outcome = state.apply(&command(0, EventKind::Register(linkage.clone()), "reg-1"));
    assert!(matches!(
        outcome,
        Outcome::Changed(Change {
            status: Status::Pending,
            ..
        })
    ));
    state.apply(&carrier(5, Status::InTransit, None));
    assert_eq!(state.linkage(), Some(&linkage));
    assert_eq!(state.status(), Some(Status::InTransit));
}

#[test]
fn history_is_bounded_and_older_events_become_stale() {
    let mut state = PackageState::default();
    for minute in 0..(MAX_HISTORY as i64 + 10) {
        state
            .apply(&carrier(minute, Status::InTransit, Some(SubCode::Processing)).tap_code(minute));
    }
    assert_eq!(state.history_len(), MAX_HISTORY);
    assert_eq!(
        state.apply(&carrier(1, Status::Delivered, None).tap_code(-1)),
        Outcome::Stale
    );
}

trait TapCode {
    fn tap_code(self, n: i64) -> Self;
}

impl TapCode for ShipmentEvent {
    fn tap_code(mut self, n: i64) -> Self {
        self.id = EventId::of(&["tap", &n.to_string()]);
        self
    }
}

fn any_status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

/// Manual commands never carry `UNKNOWN`: the command check rejects it.
fn any_manual_status() -> impl Strategy<Value = Status> {
    any_status().prop_filter("manual statuses are known", |s| *s != Status::Unknown)
}

fn any_carrier_event() -> impl Strategy<Value = ShipmentEvent> {
    (0i64..50, any_status(), any::<prop::sample::Index>()).prop_map(|(minute, status, index)| {
        let subs = status.sub_codes();
        let sub = (!subs.is_empty()).then(|| subs[index.index(subs.len())]);
        carrier(minute, status, sub)
    })
}

fn any_event() -> impl Strategy<Value = ShipmentEvent> {
    prop_oneof![
        6 => any_carrier_event(),
        1 => (0i64..50, any_manual_status(), any::<bool>()).prop_map(|(minute, status, locked)| {
            manual(minute, status, locked.then_some(Lock { until: None }))
        }),
        1 => (0i64..50).prop_map(|minute| correction(minute, Correction::Latest)),
        1 => (0i64..50).prop_map(|minute| command(minute, EventKind::ClearLock, &format!("clear-{minute}"))),
        1 => (0i64..50, 1i64..30, any::<bool>()).prop_map(|(minute, quiet, expired)| timer(minute, minute - quiet, expired)),
    ]
}

proptest! {
    #[test]
    fn any_arrival_order_gives_the_same_status(
        events in prop::collection::vec(any_event(), 1..30),
        seed in any::<u64>(),
    ) {
        let mut shuffled = events.clone();
        // A deterministic shuffle from the seed (Fisher-Yates with an LCG).
        let mut rng = seed;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let a = fold_all(&events);
        let b = fold_all(&shuffled);
        prop_assert_eq!(pair(&a), pair(&b), "{} vs {}", summary(&events), summary(&shuffled));
        prop_assert_eq!(a.manual_lock(), b.manual_lock(), "{} vs {}", summary(&events), summary(&shuffled));
    }

    #[test]
    fn a_duplicate_never_produces_a_change(
        events in prop::collection::vec(any_event(), 1..20),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut state = fold_all(&events);
        let again = &events[pick.index(events.len())];
        prop_assert_eq!(state.apply(again), Outcome::Duplicate);
    }

    #[test]
    fn unknown_never_changes_the_status_prop(
        events in prop::collection::vec(any_event(), 0..20),
        minute in 0i64..60,
    ) {
        let mut state = fold_all(&events);
        let before = pair(&state);
        let outcome = state.apply(&carrier(minute, Status::Unknown, None).tap_code(1000 + minute));
        prop_assert!(!matches!(outcome, Outcome::Changed(_)));
        prop_assert_eq!(pair(&state), before);
    }

    /// A raw record's events change the status at most once, from the pair before the
    /// record to the pair after it, and end where applying them one by one ends.
    #[test]
    fn a_record_changes_the_status_at_most_once_and_net(
        earlier in prop::collection::vec(any_event(), 0..10),
        record in prop::collection::vec(any_event(), 1..12),
    ) {
        let mut grouped = fold_all(&earlier);
        let mut single = grouped.clone();
        let before = pair(&grouped);
        let before_seq = grouped.seq();
        let mut changes = Vec::new();
        for (index, event) in record.iter().enumerate() {
            let more = index + 1 < record.len();
            match grouped.apply_part(event, more) {
                Outcome::Changed(change) => changes.push(change),
                Outcome::Held => prop_assert!(more, "only a record's last event decides"),
                _ => {}
            }
            single.apply(event);
        }
        prop_assert_eq!(pair(&grouped), pair(&single), "{}", summary(&record));
        let after = pair(&grouped);
        match changes.as_slice() {
            // No change, or a correction voided the only status (nothing to publish).
            [] => prop_assert!(after == before || after.0.is_none(), "{:?} -> {:?}", before, after),
            [change] => {
                prop_assert_ne!(after, before);
                prop_assert_eq!(change.previous.map_or((None, None), |(s, sub)| (Some(s), sub)), before);
                prop_assert_eq!((Some(change.status), change.sub_status), after);
                prop_assert_eq!(change.seq, before_seq + 1);
            }
            more => prop_assert!(false, "{} changes from one record", more.len()),
        }
    }

    #[test]
    fn a_manual_lock_holds_against_older_and_non_terminal_carrier_events(
        status in any_manual_status(),
        later in prop::collection::vec(any_carrier_event(), 1..20),
    ) {
        let mut state = fold_all(&[manual(25, status, Some(Lock { until: None }))]);
        let locked = pair(&state);
        for event in later {
            state.apply(&event);
        }
        prop_assert_eq!(pair(&state), locked);
    }
}

#[test]
fn a_state_with_corrections_locks_and_links_round_trips_through_postcard() {
    let linkage = Linkage {
        tenant: Some("t".to_owned()),
        order_id: None,
        package_id: None,
        direction: Default::default(),
    };
    let state = fold_all(&[
        command(0, EventKind::Register(linkage), "reg"),
        carrier(1, Status::InTransit, None),
        correction(2, Correction::Latest),
        correction(3, Correction::LatestWith(Status::Cancelled)),
        manual(4, Status::Exception, Some(Lock { until: None })),
        timer(5, 1, true),
    ]);
    assert!(
        state.recent(1)[0].source == "system",
        "the timer is in the history"
    );
    let bytes = postcard::to_allocvec(&state).expect("encodes");
    let back: PackageState = postcard::from_bytes(&bytes).expect("a changelog record reads back");
    assert_eq!(back, state);
}
