//! FedEx Track API v1 (`POST /track/v1/trackingnumbers`): one JSON body
//! `output.completeTrackResults[].trackResults[].scanEvents[]`, several tracking numbers per
//! body, as FedEx's OpenAPI `track.json` and its "Tracking Status Codes" page describe them
//! (saved in karrio `modules/connectors/fedex/vendor/`; reference §2.7).
//!
//! A scan event carries three code layers, and the same two letters mean different things in
//! each, so every layer is read in its own table:
//! - `eventType` (the official event code list) decides the status. `EA` is both "Enroute to
//!   Airport" and "Export Approved" there; the text tells which. `CA`, `RC`, `SP` are also
//!   possession codes (carrier, recipient...), which are never event types.
//! - `derivedStatusCode` is FedEx's coarse roll-up. It is recorded but never decides: real
//!   responses derive `IT` for "Ready for recipient pickup" and `DL` for "Returning package to
//!   shipper".
//! - `exceptionCode` appears on plain movement scans too ("Tendered at FedEx Facility"); only
//!   for exception event types does its description refine the sub-code.
//!
//! Times are ISO-8601 with an offset. Unknown event types map to `UNKNOWN`.

use super::{ApiError, describe_errors, non_empty};
use super::{Carrier, MapError, RawRecord};
use crate::domain::{
    CarrierEvent, Direction, EventTime, Location, Status, SubCode, TrackingNumber, parse_iso_local,
    parse_offset_time, zone_of_place,
};
use serde::Deserialize;
use std::borrow::Cow;

/// The `fedex` carrier: FedEx Track API v1 responses.
pub struct Fedex;

impl Carrier for Fedex {
    fn id(&self) -> &'static str {
        "fedex"
    }

    fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        let body: Body = serde_json::from_str(raw.text()?).map_err(|e| MapError::from_json(&e))?;
        let Some(output) = body.output else {
            return Err(MapError::Shape(match body.errors {
                Some(errors) => format!(
                    "FedEx error response instead of tracking data: {}",
                    describe_errors(&errors)
                ),
                None => "missing field `output`".to_owned(),
            }));
        };
        let mut events = Vec::new();
        for (c, complete) in output.complete_track_results.iter().enumerate() {
            for (t, result) in complete.track_results.iter().enumerate() {
                let path = || format!("output.completeTrackResults[{c}].trackResults[{t}]");
                let Some(scans) = &result.scan_events else {
                    // A number FedEx cannot find comes with an error and no scans: nothing to
                    // map, on purpose.
                    if result.error.as_ref().is_some_and(|e| e.code.is_some()) {
                        continue;
                    }
                    return Err(MapError::Shape(format!(
                        "{} has neither `scanEvents` nor `error`",
                        path()
                    )));
                };
                let tracking = tracking_number(complete, result, path)?;
                // The return-label lifecycle (link emailed, cancelled, expiring, expired) is
                // scanned on the return label's own number: a customer return, not a return
                // to sender (STATUS_MODEL traps; reference §3.4).
                let return_label = scans
                    .iter()
                    .any(|scan| matches!(scan.event_type.trim(), "RP" | "LP" | "RG" | "RD"));
                for scan in scans {
                    let event = map_scan(&tracking, scan, result.delivery_details.as_ref())?;
                    events.push(if return_label {
                        event.direction(Direction::Return)
                    } else {
                        event
                    });
                }
            }
        }
        Ok(events)
    }
}

// --- Wire format (track.json, TrackingNumbersResponse) ----------------------------------
// Texts are borrowed from the body where they hold no escapes (`super::borrowed_text`).

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    output: Option<Output<'a>>,
    /// The error envelope FedEx sends instead of `output`.
    errors: Option<Vec<ApiError>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Output<'a> {
    #[serde(borrow)]
    complete_track_results: Vec<CompleteTrackResult<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompleteTrackResult<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    tracking_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    track_results: Vec<TrackResult<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrackResult<'a> {
    #[serde(borrow)]
    tracking_number_info: Option<TrackingNumberInfo<'a>>,
    #[serde(borrow)]
    scan_events: Option<Vec<ScanEvent<'a>>>,
    error: Option<ApiError>,
    #[serde(borrow)]
    delivery_details: Option<DeliveryDetails<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrackingNumberInfo<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    tracking_number: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryDetails<'a> {
    /// `TrackDeliveryLocationType`: RESIDENCE, FEDEX_LOCATION, MAILROOM...
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    location_type: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    location_description: Option<Cow<'a, str>>,
    /// Who took the parcel ("Signed for by"), when FedEx has a name.
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    received_by_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanEvent<'a> {
    #[serde(borrow)]
    date: Cow<'a, str>,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    event_description: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    derived_status_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    exception_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    exception_description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    scan_location: Option<ScanLocation<'a>>,
    #[serde(borrow)]
    delay_detail: Option<DelayDetail<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanLocation<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    city: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    postal_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    country_code: Option<Cow<'a, str>>,
    /// The state or province (`MN`), for the zone of a time without offset.
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    state_or_province_code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct DelayDetail<'a> {
    /// WEATHER, CLEARANCE, OPERATIONAL, LOCAL, GENERAL.
    #[serde(
        rename = "type",
        default,
        borrow,
        deserialize_with = "super::borrowed_text"
    )]
    kind: Option<Cow<'a, str>>,
}

// --- Mapping ----------------------------------------------------------------------------

fn tracking_number(
    complete: &CompleteTrackResult,
    result: &TrackResult,
    path: impl Fn() -> String,
) -> Result<TrackingNumber, MapError> {
    let number = result
        .tracking_number_info
        .as_ref()
        .and_then(|info| non_empty(info.tracking_number.as_deref()))
        .or_else(|| non_empty(complete.tracking_number.as_deref()))
        .ok_or_else(|| {
            MapError::Shape(format!(
                "{} has no `trackingNumberInfo.trackingNumber` and its complete result no `trackingNumber`",
                path()
            ))
        })?;
    Ok(TrackingNumber::parse(number)?)
}

fn map_scan(
    tracking: &TrackingNumber,
    scan: &ScanEvent,
    delivery: Option<&DeliveryDetails>,
) -> Result<CarrierEvent, MapError> {
    let time = scan_time(scan)?;
    let description = non_empty(scan.event_description.as_deref());
    let exception = non_empty(scan.exception_description.as_deref());
    let mut event = match classify(scan, delivery) {
        Meaning::Status(status, sub) => CarrierEvent::new(tracking.clone(), time, status, sub),
        Meaning::Info => CarrierEvent::info(tracking.clone(), time),
    };
    for (name, value) in [
        ("eventType", Some(scan.event_type.as_ref())),
        ("derivedStatusCode", scan.derived_status_code.as_deref()),
        ("exceptionCode", scan.exception_code.as_deref()),
    ] {
        if let Some(value) = non_empty(value) {
            event = event.code(name, value);
        }
    }
    let text = match (description, exception) {
        (Some(description), Some(exception)) => Some(format!("{description}: {exception}")),
        (description, exception) => description.or(exception).map(str::to_owned),
    };
    let event = event.text(text);
    Ok(match &scan.scan_location {
        Some(place) => event.location(Location {
            city: place.city.as_deref().map(str::to_owned),
            postal_code: place.postal_code.as_deref().map(str::to_owned),
            country: place.country_code.as_deref().map(str::to_owned),
        }),
        None => event,
    })
}

/// A scan's time: with its offset, as FedEx documents it. A captured FedEx Ground answer
/// has one scan without (`2024-08-15T00:00:00`, a pickup known by its day): that one is
/// read in the zone of its place (country, or state in a country with several), and only
/// without a known zone is it poison.
fn scan_time(scan: &ScanEvent) -> Result<EventTime, MapError> {
    let with_offset = match parse_offset_time(&scan.date) {
        Ok(at) => return Ok(EventTime::with_offset(at)),
        Err(error) => error,
    };
    let place = scan.scan_location.as_ref();
    let country = place.and_then(|p| non_empty(p.country_code.as_deref()));
    let region = place.and_then(|p| non_empty(p.state_or_province_code.as_deref()));
    let zone = country.and_then(|country| zone_of_place(country, region));
    match (parse_iso_local(&scan.date), zone) {
        (Some(local), Some((zone, source))) => Ok(EventTime::in_zone(local, zone, source)),
        _ => Err(MapError::Time(with_offset)),
    }
}

/// What one scan event means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// A status (`UNKNOWN` for event types outside the official list).
    Status(Status, Option<SubCode>),
    /// A documented event type that says nothing about where the package is.
    Info,
}

/// The event code table ("Tracking Status Codes"), keyed by `eventType` alone; texts and
/// details only pick the sub-code.
fn classify(scan: &ScanEvent, delivery: Option<&DeliveryDetails>) -> Meaning {
    use Status::*;
    use SubCode::*;
    let reason = non_empty(scan.exception_description.as_deref())
        .or(non_empty(scan.event_description.as_deref()))
        .unwrap_or("")
        .to_lowercase();
    // What the event itself says, for the collisions: an exception description ("Tendered
    // at FedEx Facility") may stand beside any event.
    let said = |word: &str| {
        non_empty(scan.event_description.as_deref())
            .is_some_and(|text| text.to_lowercase().contains(word))
    };
    let (status, sub) = match scan.event_type.trim() {
        "OC" => (InfoReceived, Some(LabelCreated)),
        "EP" | "DS" => (InfoReceived, Some(PickupScheduled)),
        "PU" | "PX" | "AP" | "OF" => (InTransit, Some(PickedUp)),
        "AA" | "AF" | "AR" | "DP" | "EO" | "IT" | "IX" | "LO" | "Ow" | "OW" | "PF" | "PL"
        | "PM" | "SF" | "TR" => (InTransit, Some(Processing)),
        // "Enroute to Airport" (movement) or "Export Approved" (regulatory).
        "EA" if said("export") => (InTransit, Some(CustomsReleased)),
        "EA" => (InTransit, Some(Processing)),
        "FD" => (InTransit, Some(AtDestinationDepot)),
        "AC" | "AX" | "OX" => (InTransit, Some(Transferred)),
        "CH" => (InTransit, Some(Redirected)),
        "CP" => (InTransit, Some(CustomsProcessing)),
        "CC" => (InTransit, Some(CustomsReleased)),
        "CD" => (Exception, Some(CustomsHold)),
        "OD" | "ED" => (OutForDelivery, Some(OnVehicle)),
        "AD" => (OutForDelivery, Some(ArrivingSoon)),
        "HL" | "HP" if said("locker") => (AvailableForPickup, Some(Locker)),
        "HL" | "HP" => (AvailableForPickup, Some(CarrierFacility)),
        "DL" => (Delivered, delivered_sub(&reason, delivery)),
        "DE" => (DeliveryFailed, failure_reason(&reason)),
        "SE" => (Exception, exception_reason(&reason)),
        "DD" | "DY" | "PD" => (Exception, Some(delay_reason(scan, &reason))),
        "RS" => (ReturningToSender, return_reason(&reason)),
        "CA" => (Cancelled, None),
        // Documented, but they say nothing about where the package is: "arriving on time",
        // "vehicle furnished but not used", customer delivery option requested/modified/
        // cancelled (RC here is "CDO Cancelled", not the possession code "Recipient"),
        // return-label link emailed/cancelled/expiring/expired, "split status". And `AE`,
        // "Shipment arriving early", `AO`'s sibling: not in the official list, but in most
        // real FedEx Ground answers (2 of the 3 captured production bodies); as `UNKNOWN` it
        // would raise the unmapped-code alert for nearly every Ground parcel.
        "AO" | "AE" | "DR" | "RR" | "RM" | "RC" | "RP" | "LP" | "RG" | "RD" | "SP" => {
            return Meaning::Info;
        }
        _ => (Unknown, None),
    };
    Meaning::Status(status, sub)
}

/// How a delivery was made: from the track result's `deliveryDetails` location type (they
/// describe the delivery of that result), else from what the DL scan `said` (its exception
/// or event text), the details' place text, or a signer's name; `None` when none says.
fn delivered_sub(said: &str, delivery: Option<&DeliveryDetails>) -> Option<SubCode> {
    use SubCode::*;
    let location_type = delivery.and_then(|d| non_empty(d.location_type.as_deref()));
    match location_type {
        Some("RESIDENCE") => Some(Recipient),
        Some("FEDEX_LOCATION") => Some(CollectedAtPickupPoint),
        Some(
            "APARTMENT_OFFICE"
            | "GATE_HOUSE"
            | "GUARD_OR_SECURITY_STATION"
            | "IN_BOND_OR_CAGE"
            | "LEASING_OFFICE"
            | "MAILROOM"
            | "MAIN_OFFICE"
            | "MANAGER_OFFICE"
            | "PHARMACY"
            | "RECEPTIONIST_OR_FRONT_DESK"
            | "RENTAL_OFFICE"
            | "SHIPPING_RECEIVING",
        ) => Some(Agent),
        // Else where the scan says it was left (captured: exception 014 "Left at front
        // door. Signature Service not requested." on the DL scan), the delivery's place, or
        // a signer's name.
        _ => delivery_place(said)
            .or_else(|| {
                delivery
                    .and_then(|d| non_empty(d.location_description.as_deref()))
                    .and_then(delivery_place)
            })
            .or_else(|| {
                delivery
                    .and_then(|d| non_empty(d.received_by_name.as_deref()))
                    .map(|_| Signed)
            }),
    }
}

/// The first sub-code whose words occur in `text`.
fn first_match(text: &str, table: &[(&[&str], SubCode)]) -> Option<SubCode> {
    table
        .iter()
        .find(|(words, _)| words.iter().any(|word| text.contains(word)))
        .map(|(_, sub)| *sub)
}

/// Classifies a free-text delivery place ("Front door", "Neighbor").
fn delivery_place(text: &str) -> Option<SubCode> {
    use SubCode::*;
    first_match(
        &text.to_lowercase(),
        &[
            (&["neighbo"], Neighbour),
            (
                &[
                    "front door",
                    "back door",
                    "side door",
                    "porch",
                    "garage",
                    "mailbox",
                    "patio",
                ],
                SafePlace,
            ),
            (
                &["reception", "front desk", "mailroom", "shipping/receiving"],
                Agent,
            ),
            (&["residence", "recipient"], Recipient),
        ],
    )
}

/// Why a delivery attempt (`DE`) failed, from its (lower-case) exception description.
/// "Customer not available or business closed" names both; absence is listed first.
fn failure_reason(reason: &str) -> Option<SubCode> {
    use SubCode::*;
    first_match(
        reason,
        &[
            (&["refused", "rejected by recipient"], Refused),
            (
                &["not available", "not in", "no one", "nobody", "not home"],
                RecipientAbsent,
            ),
            (&["closed"], BusinessClosed),
            (&["address"], AddressIssue),
            (&["signature"], SignatureRequired),
            (&["payment", "c.o.d", "duties", "funds"], PaymentRequired),
            (&["access", "gate", "security"], AccessRestricted),
            (&["door tag", "notice left"], NoticeLeft),
        ],
    )
}

/// What a shipment exception (`SE`) is about, from its (lower-case) exception description.
fn exception_reason(reason: &str) -> Option<SubCode> {
    use SubCode::*;
    first_match(
        reason,
        &[
            (&["damage"], Damaged),
            (&["weather"], Weather),
            (&["customs", "clearance", "import", "export"], CustomsHold),
            (&["address"], AddressIssue),
            (&["missort", "misrout", "incorrectly sorted"], Misrouted),
            (&["unable to locate", "lost", "missing"], Investigation),
            (&["hold", "held"], Held),
        ],
    )
}

/// Why a package is late (`DD`, `DY`, `PD`), from `delayDetail.type` or the text.
fn delay_reason(scan: &ScanEvent, reason: &str) -> SubCode {
    let kind = scan
        .delay_detail
        .as_ref()
        .and_then(|detail| non_empty(detail.kind.as_deref()));
    match kind {
        Some("WEATHER") => SubCode::Weather,
        Some("CLEARANCE") => SubCode::CustomsHold,
        _ if reason.contains("weather") => SubCode::Weather,
        _ => SubCode::Delayed,
    }
}

/// Why a package goes back to the shipper (`RS`), from its (lower-case) exception
/// description.
fn return_reason(reason: &str) -> Option<SubCode> {
    use SubCode::*;
    first_match(
        reason,
        &[
            (&["refused"], Refused),
            (&["shipper request", "sender request"], SenderRequest),
            (&["address"], AddressIssue),
            (&["not claimed", "unclaimed", "not picked up"], NotCollected),
            (&["damage"], Damaged),
            (&["unable to deliver", "undeliverable"], Undeliverable),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan<'a>(
        event_type: &'a str,
        derived: &'a str,
        description: &'a str,
        exception: &'a str,
    ) -> ScanEvent<'a> {
        ScanEvent {
            date: "2024-04-25T11:26:00-07:00".into(),
            event_type: event_type.into(),
            event_description: Some(description.into()),
            derived_status_code: Some(derived.into()),
            exception_code: None,
            exception_description: Some(exception.into()),
            scan_location: None,
            delay_detail: None,
        }
    }

    fn pair(meaning: Meaning) -> (Status, Option<SubCode>) {
        match meaning {
            Meaning::Status(status, sub) => (status, sub),
            Meaning::Info => panic!("expected a status, got info"),
        }
    }

    fn mapped(event_type: &str, derived: &str, description: &str) -> (Status, Option<SubCode>) {
        pair(classify(&scan(event_type, derived, description, ""), None))
    }

    #[test]
    fn event_type_decides_not_the_derived_status() {
        // Real FedEx responses: "Ready for recipient pickup" derived as in transit, and
        // "Returning package to shipper" derived as delivered.
        assert_eq!(
            mapped("HP", "IT", "Ready for recipient pickup"),
            (Status::AvailableForPickup, Some(SubCode::CarrierFacility))
        );
        assert_eq!(
            mapped("RS", "DL", "Returning package to shipper").0,
            Status::ReturningToSender
        );
        assert_eq!(
            mapped("OD", "IT", "On FedEx vehicle for delivery"),
            (Status::OutForDelivery, Some(SubCode::OnVehicle))
        );
    }

    #[test]
    fn ea_is_told_apart_by_its_text() {
        assert_eq!(
            mapped("EA", "IT", "Export approved"),
            (Status::InTransit, Some(SubCode::CustomsReleased))
        );
        assert_eq!(
            mapped("EA", "IT", "Enroute to airport"),
            (Status::InTransit, Some(SubCode::Processing))
        );
        // The exception description of a plain scan does not hide the event's own text.
        let tendered = "Tendered at FedEx Facility";
        assert_eq!(
            pair(classify(
                &scan("EA", "IT", "Export approved", tendered),
                None
            )),
            (Status::InTransit, Some(SubCode::CustomsReleased))
        );
        assert_eq!(
            pair(classify(
                &scan("HL", "IT", "At FedEx locker", tendered),
                None
            )),
            (Status::AvailableForPickup, Some(SubCode::Locker))
        );
    }

    #[test]
    fn cdo_cancelled_is_information_not_the_recipient() {
        assert_eq!(
            classify(&scan("RC", "IT", "Delivery option cancelled", ""), None),
            Meaning::Info
        );
        assert_eq!(
            mapped("CA", "CA", "Shipment cancelled").0,
            Status::Cancelled
        );
    }

    #[test]
    fn information_only_event_types_are_info() {
        for event_type in [
            "AO", "AE", "DR", "RR", "RM", "RC", "RP", "LP", "RG", "RD", "SP",
        ] {
            assert_eq!(
                classify(&scan(event_type, "IT", "Notice", ""), None),
                Meaning::Info,
                "{event_type}"
            );
        }
    }

    #[test]
    fn an_info_scan_keeps_its_codes_and_text() {
        let mut hold = scan("RR", "IT", "Delivery option requested", "");
        hold.exception_code = Some("A12".into());
        let tracking = TrackingNumber::parse("843119172384577").expect("valid");
        let event = map_scan(&tracking, &hold, None).expect("maps");
        assert!(event.info);
        assert_eq!(event.status, Status::Unknown);
        let codes: Vec<_> = event.codes.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(codes, ["RR", "IT", "A12"]);
        assert_eq!(event.text.as_deref(), Some("Delivery option requested"));
    }

    #[test]
    fn unknown_event_types_are_unknown_whatever_the_derived_status() {
        // Outside the table (a new code, as FedEx may add one): unmapped, counted.
        assert_eq!(
            mapped("ZZ", "IT", "Shipment information updated"),
            (Status::Unknown, None)
        );
        assert_eq!(mapped("ZZ", "DL", "Something new"), (Status::Unknown, None));
    }

    #[test]
    fn delivery_exceptions_read_their_reason() {
        let failed = |text: &str| {
            pair(classify(
                &scan("DE", "DE", "Delivery exception", text),
                None,
            ))
        };
        assert_eq!(
            failed("Customer not available or business closed").1,
            Some(SubCode::RecipientAbsent)
        );
        assert_eq!(failed("Business closed").1, Some(SubCode::BusinessClosed));
        assert_eq!(
            failed("Recipient refused package").1,
            Some(SubCode::Refused)
        );
        assert_eq!(failed("Incorrect address").1, Some(SubCode::AddressIssue));
        assert_eq!(failed("Redirecting to FedEx Office").1, None);
    }

    #[test]
    fn exception_code_on_a_movement_scan_changes_nothing() {
        let tendered = scan(
            "AF",
            "IT",
            "At local FedEx facility",
            "Tendered at FedEx Facility",
        );
        assert_eq!(
            pair(classify(&tendered, None)),
            (Status::InTransit, Some(SubCode::Processing))
        );
    }

    #[test]
    fn delays_use_the_delay_detail_type() {
        let mut delay = scan("DY", "DY", "Delay", "Package delayed");
        assert_eq!(pair(classify(&delay, None)).1, Some(SubCode::Delayed));
        delay.delay_detail = Some(DelayDetail {
            kind: Some("WEATHER".into()),
        });
        assert_eq!(
            pair(classify(&delay, None)),
            (Status::Exception, Some(SubCode::Weather))
        );
    }

    #[test]
    fn returns_read_their_reason() {
        let returning = scan(
            "RS",
            "DL",
            "Returning package to shipper",
            "Shipper requested shipment to be returned - Unable to deliver shipment - Returning to shipper",
        );
        assert_eq!(
            pair(classify(&returning, None)),
            (Status::ReturningToSender, Some(SubCode::SenderRequest))
        );
        assert_eq!(return_reason("recipient refused"), Some(SubCode::Refused));
        assert_eq!(
            return_reason("unable to deliver"),
            Some(SubCode::Undeliverable)
        );
    }

    #[test]
    fn delivery_place_comes_from_delivery_details() {
        let details = |kind: &'static str, text: &'static str| DeliveryDetails {
            location_type: Some(kind.into()),
            location_description: Some(text.into()),
            received_by_name: None,
        };
        let delivered =
            |d: DeliveryDetails| pair(classify(&scan("DL", "DL", "Delivered", ""), Some(&d)));
        assert_eq!(
            delivered(details("FEDEX_LOCATION", "FedEx location")).1,
            Some(SubCode::CollectedAtPickupPoint)
        );
        assert_eq!(
            delivered(details("SHIPPING_RECEIVING", "Shipping/Receiving")).1,
            Some(SubCode::Agent)
        );
        assert_eq!(
            delivered(details("RESIDENCE", "Residence")).1,
            Some(SubCode::Recipient)
        );
        assert_eq!(
            delivered(details("OTHER", "Front door")).1,
            Some(SubCode::SafePlace)
        );
        // Captured: the place in the DL scan's exception text, a signer in the details.
        assert_eq!(
            pair(classify(
                &scan(
                    "DL",
                    "DL",
                    "Delivered",
                    "Left at front door. Signature Service not requested."
                ),
                None
            ))
            .1,
            Some(SubCode::SafePlace)
        );
        let signed = DeliveryDetails {
            location_type: None,
            location_description: None,
            received_by_name: Some("CREILLY".into()),
        };
        assert_eq!(delivered(signed).1, Some(SubCode::Signed));
        assert_eq!(
            pair(classify(&scan("DL", "DL", "Delivered", ""), None)).1,
            None
        );
    }
}
