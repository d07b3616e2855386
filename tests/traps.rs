//! The traps of STATUS_MODEL.md ("Traps that the anchors fall into"), one test each. Every
//! test replays documented fixture bodies from `tests/fixtures/carriers/` through the real
//! mappers and the real fold — through `unitrack::replay::replay` (the JSON lines of
//! `unitrack replay`) or through `carriers::map_record` and `PackageState::apply` — and
//! checks the status the model prescribes, where the anchors (Karrio, AfterShip...) go wrong.

use chrono::Timelike;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use unitrack::carriers::{self, Carrier, RawRecord};
use unitrack::domain::{
    Direction, EventKind, Outcome, PackageState, ShipmentEvent, Status, SubCode, ZoneSource,
};
use unitrack::replay::{self, Input};

// --- Fixtures ---------------------------------------------------------------------------

fn folder(carrier: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/carriers")
        .join(carrier)
}

/// The raw body of `<carrier>/<case>.json` or `.xml`.
fn body(carrier: &str, case: &str) -> Vec<u8> {
    ["json", "xml"]
        .iter()
        .find_map(|ext| fs::read(folder(carrier).join(format!("{case}.{ext}"))).ok())
        .unwrap_or_else(|| panic!("no fixture body {carrier}/{case}.json|xml"))
}

/// The record key of a case (`<case>.key`), for bodies without a tracking number (DPD).
fn key(carrier: &str, case: &str) -> Option<String> {
    fs::read_to_string(folder(carrier).join(format!("{case}.key")))
        .ok()
        .map(|key| key.trim().to_owned())
}

/// Every input body of a carrier's fixture folder, as (case, body).
fn all_cases(carrier: &str) -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, Vec<u8>)> = fs::read_dir(folder(carrier))
        .expect("fixture folder")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let case = name
                .strip_suffix(".xml")
                .or_else(|| name.strip_suffix(".json"))
                .filter(|case| !case.ends_with(".expected"))?
                .to_owned();
            Some((case, fs::read(entry.path()).ok()?))
        })
        .collect();
    cases.sort();
    cases
}

fn carrier(id: &str) -> &'static dyn Carrier {
    carriers::find(id).unwrap_or_else(|| panic!("carrier `{id}` is registered"))
}

// --- Running them -----------------------------------------------------------------------

/// The unified events of one body, as the processor publishes them.
fn map(carrier_id: &str, case: &str, payload: &[u8]) -> Result<Vec<ShipmentEvent>, String> {
    let key = key(carrier_id, case);
    let raw = RawRecord {
        key: key.as_deref().map(str::as_bytes),
        payload,
        ..RawRecord::default()
    };
    carriers::map_record(carrier(carrier_id), &raw).map_err(|e| e.to_string())
}

/// The unified events of one fixture.
fn events(carrier_id: &str, case: &str) -> Vec<ShipmentEvent> {
    map(carrier_id, case, &body(carrier_id, case))
        .unwrap_or_else(|e| panic!("{carrier_id}/{case} maps: {e}"))
}

/// The JSON lines `unitrack replay` writes for one fixture.
fn replay_lines(carrier_id: &str, case: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let input = Input {
        name: format!("{carrier_id}/{case}"),
        payload: body(carrier_id, case),
    };
    let key = key(carrier_id, case);
    let rejected = replay::replay(carrier(carrier_id), key.as_deref(), &[], [input], &mut out)
        .expect("replay writes to memory");
    assert_eq!(rejected, 0, "{carrier_id}/{case} was rejected");
    String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

/// The `status_changed` lines of one package (`<carrier>:<TRACKING>`), in order.
fn changes<'a>(lines: &'a [Value], package: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| line["kind"] == "status_changed" && line["package"] == package)
        .collect()
}

/// `STATUS.sub` (or `STATUS`) of a `status_changed` line.
fn pair_of(line: &Value) -> String {
    match line["sub_status"].as_str() {
        Some(sub) => format!("{}.{sub}", line["status"].as_str().unwrap_or("?")),
        None => line["status"].as_str().unwrap_or("?").to_owned(),
    }
}

/// The status a replay leaves a package in.
fn final_status(lines: &[Value], package: &str) -> String {
    changes(lines, package)
        .last()
        .map_or_else(|| "none".to_owned(), |line| pair_of(line))
}

/// `STATUS.sub`, `STATUS`, or `none` for a package without a status.
fn label(state: &PackageState) -> String {
    match (state.status(), state.sub_status()) {
        (Some(status), Some(sub)) => format!("{status}.{sub}"),
        (Some(status), None) => status.to_string(),
        (None, _) => "none".to_owned(),
    }
}

/// The status of one package after each of its events, applied in event-time order (the
/// carriers send newest first), with repeats collapsed: its history as Flow would see it.
fn statuses_over_time(events: &[ShipmentEvent], tracking: &str) -> Vec<String> {
    let mut own: Vec<&ShipmentEvent> = events
        .iter()
        .filter(|event| event.package.tracking_number.as_str() == tracking)
        .collect();
    own.sort_by_key(|event| event.time.millis());
    let mut state = PackageState::default();
    let mut seen: Vec<String> = Vec::new();
    for event in own {
        state.apply(event);
        let now = label(&state);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
    }
    seen
}

// --- The traps --------------------------------------------------------------------------

/// DHL Unified reports a completed return as `delivered` plus `returnFlag: true`.
#[test]
fn dhl_delivered_with_return_flag_is_returned_to_sender_not_delivered() {
    let raw: Value = serde_json::from_slice(&body("dhl", "return_flag_returned_to_sender"))
        .expect("fixture is JSON");
    let shipment = &raw["shipments"][0];
    assert_eq!(shipment["returnFlag"], true, "the fixture shows the trap");
    assert_eq!(shipment["events"][0]["statusCode"], "delivered");

    let lines = replay_lines("dhl", "return_flag_returned_to_sender");
    let package = "dhl:00123456789765432101";
    assert_eq!(final_status(&lines, package), "RETURNED_TO_SENDER.received");
    assert!(
        changes(&lines, package)
            .iter()
            .all(|line| line["status"] != "DELIVERED"),
        "never DELIVERED on the way"
    );
}

/// DHL Unified has five status codes; out-for-delivery, pickup and the failure reason are
/// only in its (English or German) text.
#[test]
fn dhl_text_finds_out_for_delivery_pickup_and_the_failure_reason() {
    let english = events("dhl", "english_failed_attempt_locker_then_collected");
    let german = events("dhl", "two_shipments_failure_reasons");
    let five = ["pre-transit", "transit", "delivered", "failure", "unknown"];
    for event in english.iter().chain(&german) {
        assert!(
            event
                .codes
                .iter()
                .all(|code| five.contains(&code.value.as_str())),
            "only DHL's five codes: {:?}",
            event.codes
        );
    }
    assert_eq!(
        statuses_over_time(&english, "00340434161094015902"),
        [
            "OUT_FOR_DELIVERY.on_vehicle",
            "DELIVERY_FAILED.recipient_absent",
            "AVAILABLE_FOR_PICKUP.locker",
            "DELIVERED.collected_at_pickup_point",
        ]
    );
    assert_eq!(
        statuses_over_time(&german, "00340434161094042557"),
        [
            "OUT_FOR_DELIVERY.on_vehicle",
            "DELIVERY_FAILED.recipient_absent"
        ]
    );
}

/// GLS `DELIVEREDPS` is delivered *to a parcel shop*, where the recipient still has to
/// collect it (Karrio maps it to delivered).
#[test]
fn gls_deliveredps_is_available_at_the_parcel_shop_not_delivered() {
    for (case, package) in [
        ("documented_delivered_to_parcel_shop", "gls:42249028960"),
        ("deliveredps_status_only", "gls:62006256336"),
    ] {
        let raw = String::from_utf8(body("gls", case)).expect("UTF-8");
        assert!(raw.contains("\"DELIVEREDPS\""), "{case} shows the trap");
        let lines = replay_lines("gls", case);
        assert_eq!(
            final_status(&lines, package),
            "AVAILABLE_FOR_PICKUP.parcel_shop",
            "{case}"
        );
        assert!(
            changes(&lines, package)
                .iter()
                .all(|line| line["status"] != "DELIVERED"),
            "{case}: never DELIVERED"
        );
    }
}

/// DPD `ReturningFromDelivery` is back at the depot after a failed attempt (Karrio maps it
/// to out for delivery).
#[test]
fn dpd_returning_from_delivery_is_back_at_the_depot_not_out_for_delivery() {
    let case = "documented_sample_returning_from_delivery";
    let events = events("dpd", case);
    let returning: Vec<&ShipmentEvent> = events
        .iter()
        .filter(|event| {
            event
                .codes
                .iter()
                .any(|code| code.value == "ReturningFromDelivery")
        })
        .collect();
    assert_eq!(returning.len(), 1, "the documented sample holds the trap");
    assert!(
        matches!(
            returning[0].kind,
            EventKind::Status {
                status: Status::DeliveryFailed,
                sub_status: Some(SubCode::BackAtDepot),
                ..
            }
        ),
        "{:?}",
        returning[0].kind
    );
    let lines = replay_lines("dpd", case);
    assert_eq!(
        final_status(&lines, "dpd:05308801410058"),
        "DELIVERY_FAILED.back_at_depot"
    );
}

/// Unknown codes are `UNKNOWN`, never `IN_TRANSIT`: alone they give a package no status, and
/// they never change an existing one. Checked for every registered carrier, each with an
/// undocumented code of its fixtures.
#[test]
fn unknown_codes_never_become_in_transit_nor_change_a_status() {
    let cases = [
        ("dhl", "unknown_and_unrecognised_status_codes", "unknown"),
        ("dhl_parcel_de", "unknown_codes_and_notices", "PSTCH"),
        ("dpd", "unknown_code", "Predict"),
        ("gls", "unknown_code", "INWARE.NORMAL"),
        ("hermes", "unknown_code", "5000"),
        ("ups", "unknown_code", "171"),
        ("fedex", "unknown_code", "ZZ"),
    ];
    for registered in carriers::registry() {
        assert!(
            cases.iter().any(|(id, ..)| *id == registered.id()),
            "no unknown-code case for `{}`",
            registered.id()
        );
    }
    for (carrier_id, case, code) in cases {
        let events = events(carrier_id, case);
        let has_code = |event: &ShipmentEvent| event.codes.iter().any(|c| c.value == code);
        let unknown = events
            .iter()
            .find(|event| has_code(event))
            .unwrap_or_else(|| panic!("{carrier_id}/{case} has code {code}"));
        assert_eq!(
            unknown.status(),
            Some(Status::Unknown),
            "{carrier_id}/{case}: {code} must be UNKNOWN, not a guess"
        );

        // Alone: recorded, no status.
        let mut alone = PackageState::default();
        alone.apply(unknown);
        assert_eq!(alone.status(), None, "{carrier_id}/{case}: {code} alone");

        // After the package's other events: the status stays what they made it.
        let mut state = PackageState::default();
        for other in events
            .iter()
            .filter(|e| e.package == unknown.package && !has_code(e))
        {
            state.apply(other);
        }
        let before = label(&state);
        assert_ne!(before, "none", "{carrier_id}/{case} has a known status too");
        let outcome = state.apply(unknown);
        assert!(
            !matches!(outcome, Outcome::Changed(_)),
            "{carrier_id}/{case}: {code} changed the status ({outcome:?})"
        );
        assert_eq!(label(&state), before, "{carrier_id}/{case}");
    }
}

/// A customer return label is its own package travelling to the merchant
/// (`direction = return`); its arrival is a delivery, not a return to sender.
#[test]
fn customer_return_labels_travel_as_returns_not_returned_to_sender() {
    let label_events = events("hermes", "customer_return_label");
    assert!(
        label_events
            .iter()
            .all(|event| event.direction == Some(Direction::Return)),
        "every event of a return label carries direction = return"
    );
    let lines = replay_lines("hermes", "customer_return_label");
    let package = "hermes:H1003770551234561818";
    assert_eq!(final_status(&lines, package), "DELIVERED.recipient");
    for line in changes(&lines, package) {
        assert_eq!(line["direction"], "return");
        assert!(
            !["RETURNING_TO_SENDER", "RETURNED_TO_SENDER"]
                .contains(&line["status"].as_str().unwrap_or("")),
            "{line}"
        );
    }

    // The same arrival code (7500) on an outbound parcel is a return to sender.
    let lines = replay_lines("hermes", "returned_to_sender");
    let package = "hermes:H1003770551234560505";
    assert_eq!(final_status(&lines, package), "RETURNED_TO_SENDER.received");
    assert!(
        changes(&lines, package)
            .iter()
            .all(|line| line["direction"] == "outbound")
    );
}

/// DPD writes local times on a 12-hour clock (`8/19/2021 3:57:33 PM`); Karrio reads PM
/// times as morning.
#[test]
fn dpd_twelve_hour_pm_times_are_read_as_afternoon() {
    let mut pm = 0;
    for case in [
        "documented_sample_returning_from_delivery",
        "local_time_12_hour_berlin",
    ] {
        let raw = String::from_utf8(body("dpd", case)).expect("UTF-8");
        for event in events("dpd", case) {
            let local = event.time.local.expect("DPD sends a local time");
            // The local time, written back on DPD's 12-hour clock, is what DPD sent.
            let written = local.format("%-m/%-d/%Y %-I:%M:%S %p").to_string();
            assert!(
                raw.contains(&written),
                "{case}: {written} is not in the body"
            );
            if written.ends_with("PM") {
                pm += 1;
                assert!(local.hour() >= 12, "{written} read as {local}");
            }
        }
    }
    assert!(pm >= 5, "the fixtures hold afternoon times ({pm})");
    // Karrio's sample: 3:57:33 PM is 15:57:33 in Berlin, 13:57:33 UTC (not 03:57).
    let picked_up = events("dpd", "documented_sample_returning_from_delivery")
        .into_iter()
        .find(|event| event.codes.iter().any(|code| code.value == "PickedUp"))
        .expect("the sample's late PickedUp");
    assert_eq!(
        picked_up.time.local.map(|t| t.to_string()).as_deref(),
        Some("2021-08-19 15:57:33")
    );
    assert_eq!(picked_up.time.utc.to_rfc3339(), "2021-08-19T13:57:33+00:00");
}

/// DHL Parcel DE (`dd.MM.yyyy HH:mm`), DPD (`M/d/yyyy h:mm:ss tt`) and DHL Unified without
/// offset send local times; they are read in a zone, never stamped as UTC: Berlin's, or for
/// DPD the zone of the scan's country (the fixtures' Belgian and Swiss depots).
#[test]
fn local_times_without_offset_are_never_stamped_utc() {
    let mut checked = 0;
    for carrier_id in ["dhl_parcel_de", "dpd"] {
        for (case, payload) in all_cases(carrier_id) {
            // Poison cases (malformed, login failed...) have no times to check.
            let Ok(events) = map(carrier_id, &case, &payload) else {
                continue;
            };
            for event in events {
                let time = &event.time;
                assert_ne!(
                    time.zone_source,
                    ZoneSource::PayloadOffset,
                    "{carrier_id}/{case}"
                );
                let country = event.location.as_ref().and_then(|l| l.country.as_deref());
                let zone = match (carrier_id, country) {
                    ("dpd", Some("BE")) => "Europe/Brussels",
                    ("dpd", Some("CH")) => "Europe/Zurich",
                    _ => "Europe/Berlin",
                };
                assert_eq!(time.zone.as_deref(), Some(zone), "{carrier_id}/{case}");
                let local = time.local.expect("a local time is kept");
                assert_ne!(
                    local,
                    time.utc.naive_utc(),
                    "{carrier_id}/{case}: stamped UTC"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "only {checked} events checked");

    // DHL Unified without any offset or country: Berlin is assumed, and said so.
    let express = events("dhl", "express_status_only_assumed_zone");
    let time = &express[0].time;
    assert_eq!(time.zone_source, ZoneSource::Assumed);
    assert_ne!(time.local.expect("local"), time.utc.naive_utc());
}
