//! UPS Track API v1 (`GET /api/track/v1/details/{inquiryNumber}`): one JSON body
//! `trackResponse.shipment[].package[].activity[]`, as UPS's OpenAPI `Tracking.yaml` and its
//! code lists "Package Activity Types", "Status/Description Codes" and "Package Exceptions"
//! describe them (saved in karrio `modules/connectors/ups/vendors/`; reference §2.6).
//!
//! UPS reports three code layers per activity; each is read in its own table:
//! - `status.statusCode`, the 3-digit status/description code, decides the status;
//! - `status.type` (D, I, M, MV, X...) decides it only when UPS leaves `statusCode` out;
//! - `status.code`, the 2-character activity/exception code, refines the sub-code and
//!   carries the corrections: `8I` "incorrectly scanned as picked up" voids the pickup at
//!   the Access Point, that is the latest `DELIVERED`. The status codes 098/099 "Deliver
//!   to Original Address Requested/Confirmed" are corrections too: they take back a return
//!   to sender; so does 114 "Request Canceled" when the latest request before it was the
//!   return (033/118/119).
//!
//! Time: the local `date`/`time` plus `gmtDate`/`gmtTime`/`gmtOffset`. The instant comes
//! from the GMT fields, the local time from `date`/`time`, the zone from `gmtOffset`.
//! Without an offset the zone of the location's country is used; a country with several
//! zones and no offset is poison, never a guess. Activities come newest first and are
//! emitted in that order (the fold sorts by time).

use super::{ApiError, describe_errors, non_empty};
use super::{Carrier, MapError, RawRecord};
use crate::domain::{
    CarrierEvent, Correction, EventTime, Location, Status, SubCode, TimeError, TrackingNumber,
    ZoneSource, parse_local_time, zone_of_place,
};
use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use serde::Deserialize;
use std::borrow::Cow;

/// The `ups` carrier: UPS Track API v1 responses.
pub struct Ups;

impl Carrier for Ups {
    fn id(&self) -> &'static str {
        "ups"
    }

    fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        let body: Body = serde_json::from_str(raw.text()?).map_err(|e| MapError::from_json(&e))?;
        let track = match (body.track_response, body.response) {
            (Some(track), _) => track,
            (None, Some(error)) => {
                return Err(MapError::Shape(format!(
                    "UPS error response instead of tracking data: {}",
                    describe_errors(&error.errors)
                )));
            }
            (None, None) => {
                return Err(MapError::Shape("missing field `trackResponse`".to_owned()));
            }
        };
        let mut events = Vec::new();
        for (s, shipment) in track.shipment.iter().enumerate() {
            let Some(packages) = &shipment.package else {
                // "Tracking Information Not Found" comes as a shipment with warnings only:
                // nothing to map, on purpose.
                if shipment.warnings.is_empty() {
                    return Err(MapError::Shape(format!(
                        "trackResponse.shipment[{s}] has neither `package` nor `warnings`"
                    )));
                }
                continue;
            };
            for (p, package) in packages.iter().enumerate() {
                let tracking = tracking_number(raw, shipment, package, packages.len())?;
                let delivered_at = package
                    .delivery_information
                    .as_ref()
                    .and_then(|info| info.location.as_deref());
                for (a, activity) in package.activity.iter().enumerate() {
                    let path = || format!("trackResponse.shipment[{s}].package[{p}].activity[{a}]");
                    let older = &package.activity[a + 1..];
                    events.push(map_activity(
                        &tracking,
                        activity,
                        older,
                        delivered_at,
                        path,
                    )?);
                }
            }
        }
        Ok(events)
    }
}

// --- Wire format (Tracking.yaml, TrackApiResponse) -------------------------------------
// Texts are borrowed from the body where they hold no escapes (`super::borrowed_text`).

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    #[serde(borrow)]
    track_response: Option<TrackResponse<'a>>,
    /// The error envelope (`response.errors[]`) UPS sends instead of `trackResponse`.
    response: Option<ErrorResponse>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct TrackResponse<'a> {
    #[serde(borrow)]
    shipment: Vec<Shipment<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shipment<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    inquiry_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    package: Option<Vec<Package<'a>>>,
    #[serde(default)]
    warnings: Vec<ApiError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Package<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    tracking_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    activity: Vec<Activity<'a>>,
    #[serde(borrow)]
    delivery_information: Option<DeliveryInformation<'a>>,
}

#[derive(Deserialize)]
struct DeliveryInformation<'a> {
    /// Where the package was left, e.g. "Front Door".
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    location: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity<'a> {
    #[serde(borrow)]
    date: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    gmt_date: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    gmt_time: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    gmt_offset: Option<Cow<'a, str>>,
    #[serde(borrow)]
    location: Option<ActivityLocation<'a>>,
    #[serde(borrow)]
    status: ActivityStatus<'a>,
}

#[derive(Deserialize)]
struct ActivityLocation<'a> {
    #[serde(borrow)]
    address: Option<Address<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    city: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    postal_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    country_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    country: Option<Cow<'a, str>>,
    /// The state or province (`NJ`), for the zone in a country with several.
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    state_province: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityStatus<'a> {
    #[serde(
        rename = "type",
        default,
        borrow,
        deserialize_with = "super::borrowed_text"
    )]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    status_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    simplified_text_description: Option<Cow<'a, str>>,
}

// --- Mapping ----------------------------------------------------------------------------

fn map_activity(
    tracking: &TrackingNumber,
    activity: &Activity,
    older: &[Activity],
    delivered_at: Option<&str>,
    path: impl Fn() -> String,
) -> Result<CarrierEvent, MapError> {
    let status = &activity.status;
    let kind = non_empty(status.kind.as_deref());
    let code = non_empty(status.code.as_deref());
    let status_code = non_empty(status.status_code.as_deref());
    if kind.is_none() && status_code.is_none() {
        return Err(MapError::Shape(format!(
            "{}.status has neither `statusCode` nor `type`",
            path()
        )));
    }
    let address = activity
        .location
        .as_ref()
        .and_then(|location| location.address.as_ref());
    let country =
        address.and_then(|a| non_empty(a.country_code.as_deref().or(a.country.as_deref())));
    let region = address.and_then(|a| non_empty(a.state_province.as_deref()));
    let time = event_time(activity, country, region)?;
    let text = non_empty(status.description.as_deref())
        .or_else(|| non_empty(status.simplified_text_description.as_deref()));

    let outcome = match status_code {
        // 114 "Request Canceled" of a return to sender (the latest request before it, in
        // the newest-first history): the return is taken back, as by 098/099.
        Some("114") if latest_request(older).is_some_and(|code| matches!(code, 33 | 118 | 119)) => {
            Outcome::Correction(Correction::LatestWith(Status::ReturningToSender))
        }
        _ => classify(kind, code, status_code),
    };
    let mut event = match outcome {
        Outcome::Correction(voids) => CarrierEvent::correction(tracking.clone(), time, voids),
        Outcome::Info => CarrierEvent::info(tracking.clone(), time),
        Outcome::Status(mapped) => {
            let sub = match (mapped.status, mapped.sub) {
                (Status::Delivered, None) => delivered_sub(code, [delivered_at, text]),
                (_, sub) => sub,
            };
            let mut event = CarrierEvent::new(tracking.clone(), time, mapped.status, sub);
            if let Some(attempt) = mapped.attempt {
                event = event.attempt(attempt);
            }
            if mapped.action_required {
                event = event.action_required(true);
            }
            event
        }
    };
    for (name, value) in [("type", kind), ("code", code), ("statusCode", status_code)] {
        if let Some(value) = value {
            event = event.code(name, value);
        }
    }
    let event = event.text(text);
    Ok(match address {
        Some(address) => event.location(Location {
            city: address.city.as_deref().map(str::to_owned),
            postal_code: address.postal_code.as_deref().map(str::to_owned),
            country: country.map(str::to_owned),
        }),
        None => event,
    })
}

/// The tracking number of a package: its own, else the shipment's inquiry number when the
/// shipment holds only this package, else the record key.
fn tracking_number(
    raw: &RawRecord<'_>,
    shipment: &Shipment,
    package: &Package,
    packages: usize,
) -> Result<TrackingNumber, MapError> {
    if let Some(number) = non_empty(package.tracking_number.as_deref()) {
        return Ok(TrackingNumber::parse(number)?);
    }
    if packages > 1 {
        return Err(MapError::Shape(
            "a package of a multi-package shipment has no `trackingNumber`".to_owned(),
        ));
    }
    match non_empty(shipment.inquiry_number.as_deref()) {
        Some(number) => Ok(TrackingNumber::parse(number)?),
        None => raw.key_tracking_number(),
    }
}

/// What one activity means.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Status(Mapped),
    Correction(Correction),
    /// A documented code that says nothing about where the package is (ETA, photo, claim
    /// paperwork): recorded as an info event, never counted as unmapped.
    Info,
}

/// The status code of the latest request or confirmation among `older` activities (newest
/// first): 033 "Return to Sender Requested" and the delivery-change codes 095–122.
fn latest_request(older: &[Activity]) -> Option<u16> {
    older.iter().find_map(|activity| {
        let code = activity
            .status
            .status_code
            .as_deref()?
            .trim()
            .parse::<u16>()
            .ok()?;
        matches!(code, 33 | 95..=113 | 115..=122).then_some(code)
    })
}

/// A status with what the codes add to it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mapped {
    status: Status,
    sub: Option<SubCode>,
    attempt: Option<u32>,
    action_required: bool,
}

const fn to(status: Status, sub: SubCode) -> Mapped {
    Mapped {
        status,
        sub: Some(sub),
        attempt: None,
        action_required: false,
    }
}

const fn bare(status: Status) -> Mapped {
    Mapped {
        status,
        sub: None,
        attempt: None,
        action_required: false,
    }
}

/// Decides an activity from its three code layers.
fn classify(kind: Option<&str>, code: Option<&str>, status_code: Option<&str>) -> Outcome {
    let code = code.map(normalise_code);
    match code {
        // "The package was incorrectly scanned as picked up. UPS Access Point™ corrected the
        // status to available for pickup": the recipient's pickup, which we map to DELIVERED,
        // did not happen.
        Some("8I") => return Outcome::Correction(Correction::LatestWith(Status::Delivered)),
        // "After further review, your package may not have arrived on-schedule. Visit
        // ups.com/tariff for terms and conditions": the service guarantee was missed. It
        // does not say the package is missing, so it must not reopen DELIVERED.
        Some("8C" | "8E" | "8F") => {
            return Outcome::Status(to(Status::Exception, SubCode::Delayed));
        }
        _ => {}
    }
    let base = match status_code {
        Some(value) => value.parse::<u16>().ok().and_then(by_status_code),
        None => kind.and_then(by_activity_type),
    };
    match base {
        Some(Outcome::Status(base)) => {
            Outcome::Status(code.map_or(base, |code| refine(base, code)))
        }
        Some(other) => other,
        None => Outcome::Status(bare(Status::Unknown)),
    }
}

/// The "Status/Description Codes" table (`statusCode`, sent zero-padded as `"011"`);
/// `None` for codes the table does not document.
fn by_status_code(code: u16) -> Option<Outcome> {
    use Status::*;
    use SubCode::*;
    let mapped = match code {
        3 | 157 | 79 | 80 | 166 => to(InfoReceived, LabelCreated),
        44 | 45 => bare(InfoReceived),
        77 => to(InfoReceived, PickupScheduled),
        38 | 160 => to(InTransit, PickedUp),
        167..=169 => to(InTransit, DroppedOff),
        5 | 10 | 25 | 39 | 47 | 87 | 158 | 159 | 164 | 165 | 16 | 138 => to(InTransit, Processing),
        71 => to(InTransit, AtDestinationDepot),
        12 | 92 => to(InTransit, CustomsProcessing),
        14 | 84 | 134 => to(InTransit, CustomsReleased),
        73 | 74 | 137 => to(InTransit, Transferred),
        18 | 27 | 28 | 54 | 57 | 63 | 96 | 97 | 100..=103 | 106..=109 => to(InTransit, Redirected),
        // 098/099 "Deliver to Original Address Requested/Confirmed": the package goes to
        // the consignee after all, so a return to sender (033/118/119, or already under
        // way) is taken back; without one, nothing is voided. Left as a redirect, the
        // return would stand and the delivery would read as back at the sender.
        98 | 99 => {
            return Some(Outcome::Correction(Correction::LatestWith(
                ReturningToSender,
            )));
        }
        19 | 20 | 55 | 75 | 95 | 115 | 116 | 120 | 121 | 136 => to(InTransit, DeliveryScheduled),
        6 | 21 | 37 | 72 | 89 | 91 | 146 | 162 => to(OutForDelivery, OnVehicle),
        78 => to(OutForDelivery, ArrivingSoon),
        22 => attempt(None, 1),
        23 => attempt(None, 2),
        24 => attempt(Some(FinalAttempt), 3),
        60 | 66 | 69 | 145 => bare(DeliveryFailed),
        61 => to(DeliveryFailed, SignatureRequired),
        62 => to(DeliveryFailed, PaymentRequired),
        64 => to(DeliveryFailed, Refused),
        139 => to(DeliveryFailed, AccessRestricted),
        17 | 40 => to(AvailableForPickup, CarrierFacility),
        144 => to(AvailableForPickup, PostOffice),
        161 => to(AvailableForPickup, ParcelShop),
        13 | 30 | 76 => bare(Exception),
        29 => action(Exception, None),
        46 | 48 | 86 | 90 => to(Exception, Delayed),
        49 => action(Exception, Some(Delayed)),
        32 | 51..=53 => to(Exception, Weather),
        50 => to(Exception, AddressIssue),
        58 | 124 | 125 | 141 => to(Exception, CustomsDocuments),
        123 | 126 => to(Exception, CustomsHold),
        59 => to(Exception, Damaged),
        65 | 131 | 135 => to(Exception, PickupFailed),
        83 | 104 | 105 => to(Exception, Held),
        85 => to(Exception, PaymentRequired),
        132 => to(Exception, RegulatoryHold),
        68 | 129 | 130 => to(Exception, Investigation),
        // 11 "Delivered" and 26 "Delivered by Local Post Office": the sub-code comes from
        // the codes and texts (delivered_sub).
        11 | 26 => bare(Delivered),
        143 => to(Delivered, Agent),
        33 | 35 | 36 | 67 | 118 | 119 => bare(ReturningToSender),
        // "Returned - Damage Reported": the phase is not said; a later 034 or delivery to
        // the shipper completes the return.
        81 => to(ReturningToSender, Damaged),
        34 => to(ReturnedToSender, Received),
        147 => to(Failed, Seized),
        149 => to(Failed, Destroyed),
        7 | 43 => to(Cancelled, ByShipper),
        // Upgrades, refrigeration, requests cancelled, ETA updates, delivery photo,
        // instructions, Premier recovery, claims closed/cancelled/paid/voided, "Package
        // Information Unavailable", "Package not at UPS Access Point yet".
        41
        | 42
        | 56
        | 70
        | 82
        | 93
        | 94
        | 110..=114
        | 117
        | 122
        | 127
        | 128
        | 133
        | 140
        | 142
        | 148
        | 153..=156
        | 163 => return Some(Outcome::Info),
        // 0 "Status Not Available", 88 "Test" and anything UPS adds later.
        _ => return None,
    };
    Some(Outcome::Status(mapped))
}

/// The "Package Activity Types" table, used only when `statusCode` is missing.
fn by_activity_type(kind: &str) -> Option<Outcome> {
    let mapped = match kind {
        "D" => bare(Status::Delivered),
        "I" => bare(Status::InTransit),
        "M" => to(Status::InfoReceived, SubCode::LabelCreated),
        "MV" => to(Status::Cancelled, SubCode::ByShipper),
        "X" => bare(Status::Exception),
        // Legacy clients list a "P" (pickup) type; the current list does not.
        "P" => to(Status::InTransit, SubCode::PickedUp),
        // "Updates" (Track Alert API): ETA and delivery-option notices.
        "U" => return Some(Outcome::Info),
        // DO/DD/W are freight only, NA is "Not Available".
        _ => return None,
    };
    Some(Outcome::Status(mapped))
}

/// A delivery attempt UPS counts (022 first, 023 second, 024 final).
const fn attempt(sub: Option<SubCode>, n: u32) -> Mapped {
    let mut mapped = bare(Status::DeliveryFailed);
    mapped.sub = sub;
    mapped.attempt = Some(n);
    mapped
}

/// "Action Required" in the status text.
const fn action(status: Status, sub: Option<SubCode>) -> Mapped {
    let mut mapped = bare(status);
    mapped.sub = sub;
    mapped.action_required = true;
    mapped
}

/// What the 2-character activity code adds to a status: the reason of an exception, a
/// failed attempt or a return ("Package Exceptions"), and where captured histories show a
/// status code's general meaning to be too coarse.
fn refine(base: Mapped, code: &str) -> Mapped {
    use SubCode::*;
    match base.status {
        Status::Exception => match code {
            "1F" | "8D" | "BZ" | "NI" => to(Status::Failed, Destroyed),
            "IY" | "J0" => to(Status::Failed, Seized),
            _ => match exception_reason(code) {
                Some(sub) => Mapped {
                    sub: Some(sub),
                    ..base
                },
                None => base,
            },
        },
        Status::DeliveryFailed if base.sub.is_none() => match failure_reason(code) {
            Some(sub) => Mapped {
                sub: Some(sub),
                ..base
            },
            None => base,
        },
        Status::ReturningToSender if base.sub.is_none() => match return_reason(code) {
            Some(sub) => Mapped {
                sub: Some(sub),
                ..base
            },
            None => base,
        },
        // Captured histories send the first physical scan, "We have your package", as 005
        // with code OR or OC (origin scan): the pickup. "Import Scan" (IP) is abroad.
        Status::InTransit if base.sub == Some(Processing) => match code {
            "OR" | "OC" => to(Status::InTransit, PickedUp),
            "IP" => to(Status::InTransit, International),
            _ => base,
        },
        // ... and a destination scan (DS, "Processing at UPS Facility") as 021, hours before
        // the package is loaded: at the delivering facility, not on the vehicle yet.
        Status::OutForDelivery => match code {
            "DS" => to(Status::InTransit, AtDestinationDepot),
            _ => base,
        },
        _ => base,
    }
}

fn exception_reason(code: &str) -> Option<SubCode> {
    use SubCode::*;
    let sub = match code {
        "7W" | "7V" | "7X" | "2A" | "3D" | "6D" | "DJ" | "C5" | "1E" | "PZ" => Weather,
        "DF" | "DG" | "B1" | "Q0" | "H7" => ForceMajeure,
        "A7" | "C8" | "DW" => RecipientMoved,
        "A5" | "A6" | "A8" | "A9" | "AA" | "AB" | "AC" | "AD" | "AE" | "AF" | "AG" | "AK"
        | "AL" | "AV" | "AW" | "CW" | "CY" | "DS" | "E1" | "FA" | "H1" | "H2" | "H3" | "H4"
        | "H5" | "PH" => AddressIssue,
        "13" | "24" | "25" | "26" | "27" | "45" | "64" | "65" | "66" | "67" | "A1" | "A2"
        | "A3" | "A4" | "AJ" | "HD" | "HE" | "HR" => Damaged,
        "6" | "7" | "34" | "D1" | "8G" => Misrouted,
        "29" | "40" | "43" | "71" | "1W" | "2B" | "4T" | "7P" | "7T" | "7U" | "B5" | "B9"
        | "BA" | "BB" | "BD" | "BE" | "BG" | "BH" | "BJ" | "BK" | "BP" | "CX" | "CZ" | "D0"
        | "DN" | "DY" | "EU" | "EV" | "EW" | "FE" | "FF" | "GF" | "GZ" | "L2" | "L5" | "OQ"
        | "OT" | "R6" | "R7" | "RA" => CustomsDocuments,
        "5" | "1U" | "2N" | "2T" | "B4" | "B8" | "BW" | "BX" | "CE" | "CN" | "CP" | "CT" | "DE"
        | "E4" | "E8" | "E9" | "L3" | "LV" | "OB" | "OI" | "R1" | "R4" | "R5" | "RD" | "RE" => {
            CustomsHold
        }
        "ES" => CustomsRejected,
        "1C" | "7F" | "D9" | "EY" => PaymentRequired,
        "73" | "9F" | "C9" | "CA" | "CV" | "D2" | "DP" | "EX" | "HK" | "I2" => RejectedByCarrier,
        "1G" | "1H" | "7R" | "7S" | "G6" | "G9" | "H9" | "OR" | "OS" => RegulatoryHold,
        "4I" | "5T" | "72" | "LI" | "MF" => Held,
        "84" => PickupPointRejected,
        // 5G; 3N "not picked up at the Access Point" and 6C (its return under way) under a
        // generic exception: the recipient missed the collection (reference §3.4).
        "5G" | "3N" | "6C" => PickupMissed,
        "99" | "BQ" | "BR" | "BT" | "D7" | "DD" | "DT" | "KO" => ContactCarrier,
        _ => return None,
    };
    Some(sub)
}

fn failure_reason(code: &str) -> Option<SubCode> {
    use SubCode::*;
    let sub = match code {
        "48" | "49" | "7L" | "C4" | "KX" | "OH" => RecipientAbsent,
        "3J" | "55" | "AY" | "G3" | "L1" => BusinessClosed,
        "51" | "52" | "KZ" => PaymentRequired,
        "8H" | "AM" | "AN" | "AP" | "AQ" | "AS" | "KI" | "KQ" | "KR" | "KS" | "KT" => Refused,
        "FM" | "G7" | "G8" => SignatureRequired,
        "IQ" | "IR" => AuthenticationFailed,
        "PI" => IdCheckFailed,
        "95" => AccessRestricted,
        "HQ" => NoticeLeft,
        "A5" | "A6" | "A8" | "A9" | "AA" | "AB" | "AC" | "AD" | "AE" | "AF" | "AG" | "AK"
        | "AL" | "DS" | "E1" | "H5" => AddressIssue,
        _ => return None,
    };
    Some(sub)
}

fn return_reason(code: &str) -> Option<SubCode> {
    use SubCode::*;
    let sub = match code {
        "8H" | "AM" | "AN" | "AP" | "AQ" | "AS" | "KI" | "KQ" | "KR" | "KS" | "KT" => Refused,
        "3N" | "6C" => NotCollected,
        "CS" | "I1" => SenderRequest,
        "7H" | "90" | "O0" => CustomsRejected,
        "24" | "27" | "65" | "A1" => Damaged,
        "A7" | "C8" | "CY" | "DW" | "FA" => AddressIssue,
        _ => return None,
    };
    Some(sub)
}

/// How a delivery was made, from the 2-character code, the package's delivery location
/// ("Front Door") and the activity text; `None` when none of them says.
fn delivered_sub<const N: usize>(code: Option<&str>, texts: [Option<&str>; N]) -> Option<SubCode> {
    // FT "The receiver has picked up their package."
    if code.map(normalise_code) == Some("FT") {
        return Some(SubCode::CollectedAtPickupPoint);
    }
    texts.into_iter().flatten().find_map(delivery_place)
}

/// Classifies a delivery location text (English as UPS sends it, German as UPS DE shows it).
fn delivery_place(text: &str) -> Option<SubCode> {
    let text = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| text.contains(word));
    if has(&["neighbo", "nachbar"]) {
        Some(SubCode::Neighbour)
    } else if has(&["access point", "picked up", "abgeholt", "collected"]) {
        Some(SubCode::CollectedAtPickupPoint)
    } else if has(&[
        "front door",
        "back door",
        "side door",
        "porch",
        "garage",
        "mailbox",
        "letterbox",
        "briefkasten",
        "patio",
        "safe place",
        "abstellort",
    ]) {
        Some(SubCode::SafePlace)
    } else if has(&[
        "reception",
        "front desk",
        "mail room",
        "mailroom",
        "dock",
        "concierge",
        "guard",
        "agent",
    ]) {
        Some(SubCode::Agent)
    } else if has(&["receiver", "recipient", "residential", "empfänger"]) {
        Some(SubCode::Recipient)
    } else {
        None
    }
}

/// UPS lists single-digit exception codes as "6"; the API may send them as "06".
fn normalise_code(code: &str) -> &str {
    match code.strip_prefix('0') {
        Some(rest) if rest.len() == 1 => rest,
        _ => code,
    }
}

// --- Time -------------------------------------------------------------------------------

fn event_time(
    activity: &Activity,
    country: Option<&str>,
    region: Option<&str>,
) -> Result<EventTime, MapError> {
    let local = read_time(
        &activity.date,
        &activity.time,
        "UPS date yyyyMMdd + time HHmmss",
    )?;
    if let Some(offset) = non_empty(activity.gmt_offset.as_deref()) {
        let zone = parse_offset(offset).ok_or_else(|| TimeError {
            value: offset.to_owned(),
            expected: "UPS gmtOffset ±hh:mm",
        })?;
        let utc = match (
            non_empty(activity.gmt_date.as_deref()),
            non_empty(activity.gmt_time.as_deref()),
        ) {
            (Some(date), Some(time)) => {
                read_time(date, time, "UPS gmtDate yyyyMMdd + gmtTime HHmmss")?.and_utc()
            }
            _ => zone
                .from_local_datetime(&local)
                .single()
                .map(|at| at.with_timezone(&chrono::Utc))
                .ok_or_else(|| TimeError {
                    value: local.to_string(),
                    expected: "a local time valid at the UPS gmtOffset",
                })?,
        };
        return Ok(EventTime {
            utc,
            local: Some(local),
            zone: Some(Cow::Owned(zone.to_string())),
            zone_source: ZoneSource::PayloadOffset,
        });
    }
    // Without GMT fields (UPS's own examples): the zone of the country, or of the state in
    // a country with several (the OpenAPI example: Wayne, NJ).
    match country.and_then(|country| zone_of_place(country, region)) {
        Some((zone, source)) => Ok(EventTime::in_zone(local, zone, source)),
        None => Err(MapError::Time(TimeError {
            value: format!("{} {}", activity.date, activity.time),
            expected: "UPS local time with gmtOffset, or in a country or state with one time zone",
        })),
    }
}

/// Reads `yyyyMMdd` plus a time `HHmmss`; UPS also sends `74700` (no leading zero) and
/// `07:47:00`.
fn read_time(date: &str, time: &str, expected: &'static str) -> Result<NaiveDateTime, MapError> {
    let error = || {
        MapError::Time(TimeError {
            value: format!("{date} {time}"),
            expected,
        })
    };
    // The time's digits, left-padded to six (`74700` is 07:47:00).
    let mut digits = [b'0'; 6];
    let mut count = 0;
    for byte in time.trim().bytes().filter(|b| *b != b':') {
        count += 1;
        // An empty time must not become midnight.
        if count > 6 {
            return Err(error());
        }
        digits.rotate_left(1);
        digits[5] = byte;
    }
    if count < 5 {
        return Err(error());
    }
    if let Some(at) = read_digits(date.trim().as_bytes(), &digits) {
        return Ok(at);
    }
    // Anything but eight date digits and a valid time (a leap second...): as chrono reads it.
    let padded = format!(
        "{}{}",
        date.trim(),
        std::str::from_utf8(&digits).map_err(|_| error())?
    );
    parse_local_time(&padded, "%Y%m%d%H%M%S", expected).map_err(|_| error())
}

/// `yyyyMMdd` and `HHmmss` as digits, read by hand: chrono's format interpreter cost more
/// than the rest of an activity's mapping. `None` for anything else.
fn read_digits(date: &[u8], time: &[u8; 6]) -> Option<NaiveDateTime> {
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    let [y0, y1, y2, y3, m0, m1, d0, d1] = *date else {
        return None;
    };
    let year = i32::try_from(number(&[y0, y1, y2, y3])?).ok()?;
    chrono::NaiveDate::from_ymd_opt(year, number(&[m0, m1])?, number(&[d0, d1])?)?.and_hms_opt(
        number(&time[0..2])?,
        number(&time[2..4])?,
        number(&time[4..6])?,
    )
}

/// `-05:00`, `+0100` or `+1:00`.
fn parse_offset(value: &str) -> Option<FixedOffset> {
    let (sign, rest) = match value.trim().as_bytes().first()? {
        b'+' => (1, value.trim().get(1..)?),
        b'-' => (-1, value.trim().get(1..)?),
        _ => (1, value.trim()),
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((hours, minutes)) => (hours, minutes),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `read_time` read before it read digits by hand: chrono on the padded digits.
    fn read_with_chrono(date: &str, time: &str) -> Option<NaiveDateTime> {
        let digits: String = time.trim().chars().filter(|c| *c != ':').collect();
        if !(5..=6).contains(&digits.len()) {
            return None;
        }
        let padded = format!("{}{:0>6}", date.trim(), digits);
        NaiveDateTime::parse_from_str(&padded, "%Y%m%d%H%M%S").ok()
    }

    #[test]
    fn times_read_by_hand_are_read_as_chrono_reads_them() {
        let dates = [
            "20240311",
            " 20241231 ",
            "20240230",
            "20241301",
            "2024031",
            "2024-03-11",
            "202403111",
            "",
            "2O240311",
        ];
        let times = [
            "074700", "74700", "07:47:00", "235959", "240000", "235960", "7470", "0747000", "",
            "07470a", "12:3:45", "1234é",
        ];
        for date in dates {
            for time in times {
                assert_eq!(
                    read_time(date, time, "test").ok(),
                    read_with_chrono(date, time),
                    "{date:?} {time:?}"
                );
            }
        }
    }

    fn status(kind: &str, code: &str, status_code: &str) -> Mapped {
        match classify(Some(kind), Some(code), Some(status_code)) {
            Outcome::Status(mapped) => mapped,
            other => panic!("expected a status, got {other:?}"),
        }
    }

    #[test]
    fn status_code_decides_over_activity_type() {
        // An exception-type activity with "On the Way" keeps moving.
        assert_eq!(status("X", "77", "005").status, Status::InTransit);
        assert_eq!(
            status("I", "OT", "021"),
            to(Status::OutForDelivery, SubCode::OnVehicle)
        );
    }

    #[test]
    fn not_collected_at_the_access_point_is_a_missed_pickup_or_its_return() {
        for code in ["3N", "6C"] {
            assert_eq!(
                status("X", code, "013"),
                to(Status::Exception, SubCode::PickupMissed),
                "{code}"
            );
            assert_eq!(
                status("X", code, "035"),
                to(Status::ReturningToSender, SubCode::NotCollected),
                "{code}"
            );
        }
    }

    #[test]
    fn deliver_to_original_address_takes_back_a_return() {
        for status_code in ["098", "099"] {
            assert_eq!(
                classify(Some("I"), Some("ZZ"), Some(status_code)),
                Outcome::Correction(Correction::LatestWith(Status::ReturningToSender))
            );
        }
        assert_eq!(status("I", "ZZ", "096").sub, Some(SubCode::Redirected));
    }

    /// The events of one package whose activities (newest first) have these status codes.
    fn package_events(status_codes: &[&str]) -> Vec<CarrierEvent> {
        let activities: Vec<String> = status_codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let hour = 20 - i;
                format!(
                    r#"{{"status":{{"type":"I","code":"ZZ","statusCode":"{code}"}},
                    "date":"20240402","time":"{hour:02}0000","gmtDate":"20240402",
                    "gmtTime":"{hour:02}0000","gmtOffset":"+00:00"}}"#
                )
            })
            .collect();
        let body = format!(
            r#"{{"trackResponse":{{"shipment":[{{"package":[{{"trackingNumber":"1Z999",
            "activity":[{}]}}]}}]}}}}"#,
            activities.join(",")
        );
        let raw = RawRecord {
            payload: body.as_bytes(),
            ..RawRecord::default()
        };
        Ups.map(&raw).expect("maps")
    }

    #[test]
    fn a_cancelled_request_takes_back_a_return_only_if_it_was_the_return() {
        let events = package_events(&["114", "119", "005"]);
        assert_eq!(
            events[0].correction,
            Some(Correction::LatestWith(Status::ReturningToSender))
        );
        // The latest request was a hold for pickup: the cancellation is about that one.
        let events = package_events(&["114", "107", "033", "005"]);
        assert!(events[0].info && events[0].correction.is_none());
        // Nothing requested before it.
        assert!(package_events(&["114", "005"])[0].info);
    }

    #[test]
    fn activity_type_is_used_only_without_status_code() {
        let mapped = classify(Some("D"), Some("FS"), None);
        assert_eq!(mapped, Outcome::Status(bare(Status::Delivered)));
        let mapped = classify(Some("MV"), None, None);
        assert_eq!(
            mapped,
            Outcome::Status(to(Status::Cancelled, SubCode::ByShipper))
        );
    }

    #[test]
    fn unknown_status_codes_and_types_are_unknown_not_in_transit() {
        assert_eq!(status("I", "ZZ", "171").status, Status::Unknown);
        assert_eq!(status("I", "ZZ", "abc").status, Status::Unknown);
        assert_eq!(status("I", "ZZ", "000").status, Status::Unknown);
        assert_eq!(
            classify(Some("W"), None, None),
            Outcome::Status(bare(Status::Unknown))
        );
    }

    #[test]
    fn attempts_carry_their_number_and_the_final_one_says_so() {
        let first = status("X", "48", "022");
        assert_eq!(first.status, Status::DeliveryFailed);
        assert_eq!(first.sub, Some(SubCode::RecipientAbsent));
        assert_eq!(first.attempt, Some(1));
        assert_eq!(status("X", "G3", "023").sub, Some(SubCode::BusinessClosed));
        assert_eq!(status("X", "G3", "023").attempt, Some(2));
        let last = status("X", "49", "024");
        assert_eq!(last.sub, Some(SubCode::FinalAttempt));
        assert_eq!(last.attempt, Some(3));
    }

    #[test]
    fn returning_and_returned_are_split() {
        assert_eq!(status("X", "3N", "035").sub, Some(SubCode::NotCollected));
        assert_eq!(status("I", "RS", "036").status, Status::ReturningToSender);
        assert_eq!(
            status("D", "FS", "034"),
            to(Status::ReturnedToSender, SubCode::Received)
        );
    }

    #[test]
    fn eight_i_voids_the_pickup_at_the_access_point() {
        assert_eq!(
            classify(Some("X"), Some("8I"), Some("013")),
            Outcome::Correction(Correction::LatestWith(Status::Delivered))
        );
    }

    #[test]
    fn on_schedule_review_is_a_delay_that_does_not_reopen_delivered() {
        for code in ["8C", "8E", "8F"] {
            assert_eq!(
                status("X", code, "013"),
                to(Status::Exception, SubCode::Delayed)
            );
        }
    }

    #[test]
    fn exception_codes_refine_the_sub_code() {
        assert_eq!(status("X", "7W", "013").sub, Some(SubCode::Weather));
        assert_eq!(status("X", "06", "013").sub, Some(SubCode::Misrouted));
        assert_eq!(status("X", "A7", "013").sub, Some(SubCode::RecipientMoved));
        assert_eq!(
            status("X", "1F", "013"),
            to(Status::Failed, SubCode::Destroyed)
        );
        // A code with no refinement keeps the status code's sub-code.
        assert_eq!(status("X", "ZZ", "126").sub, Some(SubCode::CustomsHold));
    }

    #[test]
    fn investigation_opened_but_not_closed_is_an_exception() {
        assert_eq!(
            status("X", "ZZ", "129"),
            to(Status::Exception, SubCode::Investigation)
        );
        // Claim closed: paperwork, not a package that is missing again.
        assert_eq!(classify(Some("X"), Some("GN"), Some("127")), Outcome::Info);
    }

    #[test]
    fn information_only_codes_are_info_and_undocumented_codes_unknown() {
        // 153/154 ETA updates, 155 delivery photo, type `U` without a status code.
        for status_code in ["153", "154", "155"] {
            assert_eq!(
                classify(Some("I"), Some("UP"), Some(status_code)),
                Outcome::Info,
                "{status_code}"
            );
        }
        assert_eq!(classify(Some("U"), None, None), Outcome::Info);
        // 171 is in no UPS list: unmapped, counted, not info.
        assert_eq!(
            classify(Some("I"), Some("ZZ"), Some("171")),
            Outcome::Status(bare(Status::Unknown))
        );
    }

    #[test]
    fn an_info_activity_keeps_its_codes_text_and_place() {
        let activity: Activity = serde_json::from_str(
            r#"{"date":"20240502","time":"101500","gmtDate":"20240502","gmtTime":"081500",
                "gmtOffset":"+02:00","location":{"address":{"city":"Köln","countryCode":"DE"}},
                "status":{"type":"I","code":"UP","statusCode":"153","description":"Updated Delivery Time"}}"#,
        )
        .expect("activity");
        let tracking = TrackingNumber::parse("1Z999AA10123456784").expect("valid");
        let event = map_activity(&tracking, &activity, &[], None, || "a".to_owned()).expect("maps");
        assert!(event.info);
        assert_eq!(event.status, Status::Unknown);
        assert_eq!(event.codes.len(), 3);
        assert_eq!(event.text.as_deref(), Some("Updated Delivery Time"));
        assert!(event.location.is_some());
    }

    #[test]
    fn delivery_place_is_read_from_texts() {
        let sub = |text: &str| delivered_sub(Some("FS"), [Some(text)]);
        assert_eq!(sub("Neighbour"), Some(SubCode::Neighbour));
        assert_eq!(sub("Bei Nachbar abgegeben"), Some(SubCode::Neighbour));
        assert_eq!(sub("Front Door"), Some(SubCode::SafePlace));
        assert_eq!(sub("Receptionist"), Some(SubCode::Agent));
        assert_eq!(sub("DELIVERED"), None);
        assert_eq!(
            delivered_sub(Some("FT"), [Some("Delivered")]),
            Some(SubCode::CollectedAtPickupPoint)
        );
    }

    #[test]
    fn gmt_time_without_leading_zero_or_with_colons_is_read() {
        let expected = chrono::NaiveDate::from_ymd_opt(2021, 2, 10)
            .and_then(|d| d.and_hms_opt(7, 47, 0))
            .expect("valid");
        assert_eq!(
            read_time("20210210", "74700", "x").expect("reads"),
            expected
        );
        assert_eq!(
            read_time("20210210", "07:47:00", "x").expect("reads"),
            expected
        );
        assert!(read_time("2021-02-10", "074700", "x").is_err());
        assert!(read_time("20210210", "", "x").is_err());
    }

    #[test]
    fn offsets_with_and_without_colon_are_read() {
        assert_eq!(parse_offset("-05:00"), FixedOffset::west_opt(5 * 3600));
        assert_eq!(parse_offset("+0100"), FixedOffset::east_opt(3600));
        assert_eq!(
            parse_offset("+5:30"),
            FixedOffset::east_opt(5 * 3600 + 1800)
        );
        assert_eq!(parse_offset("GMT"), None);
    }
}
