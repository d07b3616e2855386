//! Hermes Germany: the Shipment Info API of the Hermes Shipping Interface (HSI), OpenAPI
//! version 2025-12-08, `GET /shipmentinfo?shipmentID=…` (up to 100 ids) or by client id and
//! client reference. One body is `{"shipmentinfo": [ShipmentInfo…]}`; each shipment carries
//! its whole `status[]` history with an ISO-8601 `timestamp` (offset included), a `code`,
//! a localised `description` and a `scanningUnit`.
//!
//! Codes follow the official "Hermes Germany Eventcodes" table (the 4-digit "2x2" codes;
//! reference §2.5, Karrio `modules/connectors/hermes/vendor/Hermes Germany Eventcodes.csv`).
//! Every documented code is an arm of [`meaning`]; anything else is `UNKNOWN`. The OpenAPI
//! describes `code` as "3 digits with leading '0'" with the example `0-0-0`: three groups of
//! three digits, i.e. the table's 9-digit "3x3" codes, which it maps to the 2x2 codes. No
//! real answer shows which form is sent, so both are read: a 3x3 code (`050001000` or
//! `050-001-000`) means the 2x2 code the table gives it ([`codes::THREE_BY_THREE`]); the
//! event keeps the code as sent.
//!
//! Decisions where the table and the status model need a ruling:
//! - 0600/0700/0800/0900 ("not yet arrived at the depot after 1/2/7/28 days") are carrier
//!   events, while `STALLED` is our own timer: they map to `EXCEPTION.delayed` with an
//!   unknown reason owner (shipper not handed over, or lost before the depot).
//! - Codes that carry no detail ("delivered", "on its way back to the client") have no
//!   sub-code, so the fold keeps the more specific sub-code of an earlier event of the
//!   same status (e.g. `RETURNING_TO_SENDER.refused` survives the following 1520).
//! - A shipment whose history holds a customer-return entry scan (3760/3761/4060–4062) is
//!   a customer return label: its events carry `direction = return`, and the codes meaning
//!   "travelling to / arrived at the client" (1520, 6080, 6089, 7500) are its normal way
//!   to the merchant, not a return to sender.
//! - Preference, note and measurement codes (9040/9041, 93xx) never change the status
//!   (reference §4.2 "package.info"): they are info events, not unknown codes.

mod codes;

use super::{Carrier, MapError, RawRecord};
use crate::domain::{
    CarrierEvent, Correction, Direction, EventTime, Location, ReasonOwner, Status, SubCode,
    TimeError, TrackingNumber, ZoneSource, parse_local_time, parse_offset_time,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// The zone Hermes Germany states its local times in (forecast slots are "CET or CEST").
const HERMES_ZONE: Tz = Tz::Europe__Berlin;

/// The codes of a customer return label's first scans (pick-up, take-away, ParcelShop).
const CUSTOMER_RETURN_CODES: [&str; 5] = ["3760", "3761", "4060", "4061", "4062"];

/// The `hermes` carrier: Hermes Germany Shipment Info API.
pub struct Hermes;

impl Carrier for Hermes {
    fn id(&self) -> &'static str {
        "hermes"
    }

    fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        let body: Body =
            serde_json::from_slice(raw.payload).map_err(|e| MapError::from_json(&e))?;
        let mut events = Vec::new();
        for shipment in &body.shipmentinfo {
            events.extend(map_shipment(shipment)?);
        }
        Ok(events)
    }
}

#[derive(Deserialize)]
struct Body {
    shipmentinfo: Vec<ShipmentInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentInfo {
    #[serde(rename = "shipmentID")]
    shipment_id: String,
    delivery_forecast: Option<DeliveryForecast>,
    /// Absent when `result` says there is no information (`e001`).
    #[serde(default)]
    status: Vec<ShipmentStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryForecast {
    date: Option<String>,
    time_slot: Option<TimeSlot>,
}

#[derive(Deserialize)]
struct TimeSlot {
    to: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentStatus {
    timestamp: String,
    code: String,
    description: Option<String>,
    scanning_unit: Option<ScanningUnit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanningUnit {
    city: Option<String>,
    /// ISO 3166-1 alpha-3, kept as sent.
    country_code: Option<String>,
}

/// One shipment's events, in the carrier's order; the forecast goes on the newest one.
fn map_shipment(shipment: &ShipmentInfo) -> Result<Vec<CarrierEvent>, MapError> {
    if shipment.status.is_empty() {
        return Ok(Vec::new());
    }
    let tracking = TrackingNumber::parse(&shipment.shipment_id)?;
    let direction = if shipment
        .status
        .iter()
        .any(|status| CUSTOMER_RETURN_CODES.contains(&two_by_two(&status.code)))
    {
        Direction::Return
    } else {
        Direction::Outbound
    };
    let times = shipment
        .status
        .iter()
        .map(|status| event_time(&status.timestamp))
        .collect::<Result<Vec<_>, _>>()?;
    let eta = match &shipment.delivery_forecast {
        Some(forecast) => estimated_delivery(forecast)?,
        None => None,
    };
    let newest = times
        .iter()
        .enumerate()
        .max_by_key(|(i, time)| (time.utc, *i))
        .map(|(i, _)| i);
    Ok(shipment
        .status
        .iter()
        .zip(times)
        .enumerate()
        .map(|(i, (status, time))| {
            map_status(&tracking, status, time, direction)
                .estimated_delivery(eta.filter(|_| Some(i) == newest))
        })
        .collect())
}

fn map_status(
    tracking: &TrackingNumber,
    status: &ShipmentStatus,
    time: EventTime,
    direction: Direction,
) -> CarrierEvent {
    let code = status.code.trim();
    let text = status.description.as_deref().unwrap_or_default();
    let event = match meaning(two_by_two(code), text, direction) {
        Meaning::Status(mapped) => mapped.event(tracking.clone(), time),
        Meaning::Correction(voids) => CarrierEvent::correction(tracking.clone(), time, voids),
        Meaning::Info => CarrierEvent::info(tracking.clone(), time),
        Meaning::Unmapped => CarrierEvent::new(tracking.clone(), time, Status::Unknown, None),
    };
    let unit = status.scanning_unit.as_ref();
    let mut event = event
        .code("code", code)
        .text(status.description.clone())
        .location(Location {
            city: unit.and_then(|unit| unit.city.clone()),
            postal_code: None,
            country: unit.and_then(|unit| unit.country_code.clone()),
        });
    if direction == Direction::Return {
        event = event.direction(Direction::Return);
    }
    event
}

/// The 2x2 code `code` stands for: itself, or for a 3x3 code (nine digits, bare or in
/// three dashed groups) the 2x2 code of the table; a 3x3 code the table lacks stays as it
/// is (and so `UNKNOWN`).
fn two_by_two(code: &str) -> &str {
    let code = code.trim();
    let bare = match *code.as_bytes() {
        [a, b, c, b'-', d, e, f, b'-', g, h, i] | [a, b, c, d, e, f, g, h, i] => {
            [a, b, c, d, e, f, g, h, i]
        }
        _ => return code,
    };
    let Ok(bare) = std::str::from_utf8(&bare) else {
        return code;
    };
    codes::THREE_BY_THREE
        .binary_search_by_key(&bare, |(three, _)| three)
        .map_or(code, |i| codes::THREE_BY_THREE[i].1)
}

/// Hermes sends `2020-12-04T07:58:24+01:00`; a time without offset is read in Hermes'
/// documented zone rather than rejected or stamped UTC.
fn event_time(value: &str) -> Result<EventTime, MapError> {
    if let Ok(at) = parse_offset_time(value) {
        return Ok(EventTime::with_offset(at));
    }
    let local = parse_local_time(
        value,
        "%Y-%m-%dT%H:%M:%S%.f",
        "ISO-8601 time (with UTC offset, or local to Europe/Berlin)",
    )?;
    Ok(EventTime::in_zone(
        local,
        HERMES_ZONE,
        ZoneSource::CarrierDefault,
    ))
}

/// The end of the forecast window: the slot's `to` on the forecast date (CET/CEST), or the
/// end of that day when there is no slot.
fn estimated_delivery(forecast: &DeliveryForecast) -> Result<Option<DateTime<Utc>>, MapError> {
    let Some(date) = forecast.date.as_deref().filter(|d| !d.trim().is_empty()) else {
        return Ok(None);
    };
    let bad_date = || TimeError {
        value: date.to_owned(),
        expected: "forecast date YYYY-MM-DD",
    };
    let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| bad_date())?;
    let slot_end = forecast
        .time_slot
        .as_ref()
        .and_then(|slot| slot.to.as_deref())
        .filter(|to| !to.trim().is_empty());
    let end = match slot_end {
        Some(to) => {
            let clock = NaiveTime::parse_from_str(to.trim(), "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(to.trim(), "%H:%M:%S"))
                .map_err(|_| TimeError {
                    value: to.to_owned(),
                    expected: "forecast time slot HH:MM",
                })?;
            day.and_time(clock)
        }
        None => day
            .succ_opt()
            .ok_or_else(bad_date)?
            .and_time(NaiveTime::MIN),
    };
    Ok(Some(
        EventTime::in_zone(end, HERMES_ZONE, ZoneSource::CarrierDefault).utc,
    ))
}

/// What one Hermes code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// Reports a unified status.
    Status(Mapped),
    /// Voids an earlier event (STATUS_MODEL rule 5).
    Correction(Correction),
    /// Documented, but never changes the status (preference chosen, note, measured).
    Info,
    /// Not in the code table.
    Unmapped,
}

/// A unified status with what the code says beyond the sub-code's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapped {
    status: Status,
    sub: Option<SubCode>,
    owner: Option<ReasonOwner>,
    action_required: bool,
    attempt: Option<u32>,
}

impl Mapped {
    fn event(self, tracking: TrackingNumber, time: EventTime) -> CarrierEvent {
        let mut event = CarrierEvent::new(tracking, time, self.status, self.sub);
        if let Some(owner) = self.owner {
            event = event.reason_owner(owner);
        }
        if self.action_required {
            event = event.action_required(true);
        }
        if let Some(attempt) = self.attempt {
            event = event.attempt(attempt);
        }
        event
    }
}

const fn status(status: Status, sub: Option<SubCode>) -> Meaning {
    Meaning::Status(Mapped {
        status,
        sub,
        owner: None,
        action_required: false,
        attempt: None,
    })
}

impl Meaning {
    /// Overrides the sub-code's default reason owner.
    const fn owner(self, owner: ReasonOwner) -> Self {
        match self {
            Meaning::Status(mapped) => Meaning::Status(Mapped {
                owner: Some(owner),
                ..mapped
            }),
            other => other,
        }
    }

    /// The carrier's text asks the shipper or recipient to act.
    const fn act(self) -> Self {
        match self {
            Meaning::Status(mapped) => Meaning::Status(Mapped {
                action_required: true,
                ..mapped
            }),
            other => other,
        }
    }

    /// The delivery attempt the code counts.
    const fn attempt(self, attempt: u32) -> Self {
        match self {
            Meaning::Status(mapped) => Meaning::Status(Mapped {
                attempt: Some(attempt),
                ..mapped
            }),
            other => other,
        }
    }
}

/// The code table. 37xx codes are scanned on the tour, 40xx back at the depot; both carry
/// the same reason. `text` decides between documented wordings that share a code (4072,
/// 4100); `direction` tells a customer return label from an outbound parcel.
fn meaning(code: &str, text: &str, direction: Direction) -> Meaning {
    use Status::*;
    use SubCode::*;
    let return_label = direction == Direction::Return;
    match code {
        // Announced, and Hermes' own reminders that it has not yet reached the depot.
        "0000" => status(InfoReceived, Some(LabelCreated)),
        "0600" | "0700" => status(Exception, Some(Delayed)).owner(ReasonOwner::Unknown),
        "0800" | "0900" => status(Exception, Some(Delayed))
            .owner(ReasonOwner::Unknown)
            .act(),
        // First scans and the network.
        "1000" | "1900" | "1910" => status(InTransit, Some(PickedUp)),
        "1901" | "2400" => status(InTransit, Some(DroppedOff)),
        "1510" | "2000" | "2300" | "3300" | "6090" => status(InTransit, Some(Processing)),
        "2100" => status(InTransit, Some(Processing)).owner(ReasonOwner::Shipper),
        "1610" => status(InTransit, Some(International)),
        "1710" => status(InTransit, Some(CustomsProcessing)),
        "1720" => status(InTransit, Some(CustomsReleased)),
        "1730" => status(Exception, Some(CustomsHold)),
        "1751" => status(Exception, Some(CustomsRejected)),
        "1810" | "1820" | "3430" => status(InTransit, Some(Transferred)),
        "6088" => status(InTransit, Some(Redirected)).owner(ReasonOwner::Recipient),
        // Delivery.
        "3000" | "3010" => status(OutForDelivery, Some(OnVehicle)),
        "3410" => status(AvailableForPickup, Some(ParcelShop)),
        "3500" | "3510" | "3520" => status(Delivered, None),
        "3511" => status(Delivered, Some(SafePlace)),
        "3530" => status(Delivered, Some(CollectedAtPickupPoint)),
        // Failed attempts.
        "3710" | "4010" => status(DeliveryFailed, Some(Refused)),
        "3715" | "4015" => {
            status(DeliveryFailed, Some(PaymentRequired)).owner(ReasonOwner::Recipient)
        }
        "3720" | "4020" => status(DeliveryFailed, Some(AddressIssue)),
        "3731" | "4031" => status(DeliveryFailed, Some(RecipientAbsent)).attempt(1),
        "3732" | "4032" => status(DeliveryFailed, Some(RecipientAbsent)).attempt(2),
        "3733" | "4033" => status(DeliveryFailed, Some(RecipientAbsent))
            .attempt(3)
            .act(),
        "3734" | "4034" => status(DeliveryFailed, Some(RecipientAbsent)).attempt(4),
        "3750" | "4050" => status(DeliveryFailed, Some(CarrierIssue)),
        "3751" | "4051" => status(DeliveryFailed, Some(AuthenticationFailed)).attempt(1),
        "3752" | "4052" => status(DeliveryFailed, Some(AuthenticationFailed)).attempt(2),
        "3753" | "4053" => status(DeliveryFailed, Some(AuthenticationFailed)).attempt(3),
        "3754" | "4054" => status(DeliveryFailed, Some(AuthenticationFailed)).attempt(4),
        "3782" | "3783" | "3784" | "3785" | "3786" | "3787" | "4081" | "4082" | "4083" | "4084"
        | "4085" | "4086" | "4087" => status(DeliveryFailed, Some(IdCheckFailed)),
        "4025" => status(DeliveryFailed, Some(BackAtDepot)),
        // Problems that are not a delivery attempt.
        "3740" | "4040" | "6085" => status(Exception, Some(Damaged)),
        "3780" | "4080" | "6086" | "6087" => status(Exception, Some(Misrouted)),
        "3795" | "4095" => status(Exception, Some(Held)).owner(ReasonOwner::Unknown),
        "4024" => status(Exception, Some(PickupPointRejected)),
        "4035" => status(Exception, Some(PickupMissed)),
        "4100" => status(Exception, Some(Delayed)).owner(stored_for(text)),
        "4500" => status(Exception, Some(Held)),
        "4610" | "4620" => status(Exception, Some(PickupFailed)),
        "4630" => status(Exception, Some(Investigation)).act(),
        // A customer return label's way to the merchant.
        "3760" | "3761" => status(InTransit, Some(PickedUp)),
        "4060" | "4061" => status(InTransit, Some(Processing)),
        "4062" => status(InTransit, Some(DroppedOff)),
        "1520" | "6080" | "6089" if return_label => status(InTransit, Some(Processing)),
        "7500" if return_label => status(Delivered, Some(Recipient)),
        // Return to sender.
        "1520" | "6080" | "6089" => status(ReturningToSender, None),
        "6081" => status(ReturningToSender, Some(Refused)),
        "6082" => status(ReturningToSender, Some(AddressIssue)).owner(ReasonOwner::Shipper),
        "6083" => status(ReturningToSender, Some(AddressIssue)),
        "6084" => status(ReturningToSender, Some(RecipientAbsent)),
        "6092" | "6098" => status(ReturningToSender, Some(IdCheckFailed)),
        "6093" => status(ReturningToSender, Some(NotCollected)),
        "6094" => status(ReturningToSender, Some(PaymentRequired)).owner(ReasonOwner::Recipient),
        "6096" => status(ReturningToSender, Some(Undeliverable)),
        "6099" => status(ReturningToSender, Some(Unspecified)),
        "7500" => status(ReturnedToSender, Some(Received)),
        // Cancellation.
        "9340" => status(Cancelled, None),
        "9341" => status(Cancelled, Some(ByShipper)),
        // Corrections.
        "4070" => Meaning::Correction(Correction::LatestWith(OutForDelivery)),
        "4072" => Meaning::Correction(corrected_by_4072(text)),
        "4690" => Meaning::Correction(Correction::Latest),
        "9399" => Meaning::Correction(Correction::LatestWith(Cancelled)),
        // Measured as bulky; recipient preferences and their cancellation; service notes.
        "9040" | "9041" | "9311" | "9315" | "9321" | "9322" | "9323" | "9324" | "9325" | "9327"
        | "9328" | "9381" | "9385" | "9391" | "9394" | "9395" => Meaning::Info,
        _ => Meaning::Unmapped,
    }
}

/// 4072 has two documented wordings: "Storno Rücklauf" ("the previous status was incorrect
/// and is being corrected") voids whatever came last; "Storno Rückversand" ("the return of
/// the shipment to the client has been cancelled"), the table's default, voids the return.
fn corrected_by_4072(text: &str) -> Correction {
    let text = text.to_lowercase();
    if text.contains("previous status") || text.contains("vorherige status") {
        Correction::Latest
    } else {
        Correction::LatestWith(Status::ReturningToSender)
    }
}

/// 4100 ("shipment stored") shares one code among several documented wordings; the text
/// says whose the delay is.
fn stored_for(text: &str) -> ReasonOwner {
    let text = text.to_lowercase();
    let says = |needles: &[&str]| needles.iter().any(|needle| text.contains(needle));
    if says(&["request of the recipient", "wunsch des empfängers"]) {
        ReasonOwner::Recipient
    } else if says(&[
        "request of the client",
        "wunsch des auftraggebers",
        "missing advice",
        "fehlende avis",
    ]) {
        ReasonOwner::Shipper
    } else if says(&["unable to deliver", "nicht wie geplant"]) {
        ReasonOwner::Carrier
    } else {
        ReasonOwner::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 2x2 code of the official Hermes event code table.
    const DOCUMENTED: &[&str] = &[
        "0000", "0600", "0700", "0800", "0900", "1000", "1510", "1520", "1610", "1710", "1720",
        "1730", "1751", "1810", "1820", "1900", "1901", "1910", "2000", "2100", "2300", "2400",
        "3000", "3010", "3300", "3410", "3430", "3500", "3510", "3511", "3520", "3530", "3710",
        "3715", "3720", "3731", "3732", "3733", "3734", "3740", "3750", "3751", "3752", "3753",
        "3754", "3760", "3761", "3780", "3782", "3783", "3784", "3785", "3786", "3787", "3795",
        "4010", "4015", "4020", "4024", "4025", "4031", "4032", "4033", "4034", "4035", "4040",
        "4050", "4051", "4052", "4053", "4054", "4060", "4061", "4062", "4070", "4072", "4080",
        "4081", "4082", "4083", "4084", "4085", "4086", "4087", "4095", "4100", "4500", "4610",
        "4620", "4630", "4690", "6080", "6081", "6082", "6083", "6084", "6085", "6086", "6087",
        "6088", "6089", "6090", "6092", "6093", "6094", "6096", "6098", "6099", "7500", "9040",
        "9041", "9311", "9315", "9321", "9322", "9323", "9324", "9325", "9327", "9328", "9340",
        "9341", "9381", "9385", "9391", "9394", "9395", "9399",
    ];

    fn outbound(code: &str) -> Meaning {
        meaning(code, "", Direction::Outbound)
    }

    /// The transcribed table against the documented 2x2 codes: sorted, nine digits each,
    /// every target documented and every documented code reached.
    #[test]
    fn the_three_by_three_table_covers_the_documented_codes() {
        let table = &codes::THREE_BY_THREE;
        assert!(table.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (three, two) in table {
            assert!(
                three.len() == 9 && three.bytes().all(|b| b.is_ascii_digit()),
                "{three}"
            );
            assert!(DOCUMENTED.contains(two), "{three} → {two}");
        }
        for code in DOCUMENTED {
            assert!(
                table.iter().any(|(_, two)| two == code),
                "{code} has no 3x3 code"
            );
        }
    }

    #[test]
    fn three_by_three_codes_mean_their_two_by_two_code() {
        // Rows of the vendor table.
        for (three, two) in [
            ("050001000", "3000"),
            ("060003004", "3731"),
            ("090003008", "3530"),
            ("065002008", "4062"),
            ("125001009", "7500"),
            ("390020301", "9399"),
        ] {
            assert_eq!(two_by_two(three), two, "{three}");
        }
        assert_eq!(two_by_two(" 050-001-000 "), "3000");
        for as_sent in [
            "3000",
            "0-0-0",
            "999999999",
            "05-0001000",
            "0500010000",
            "05000100x",
        ] {
            assert_eq!(two_by_two(as_sent), as_sent.trim());
        }
    }

    /// Every fixture with its 2x2 codes written as 3x3 codes (bare and dashed by turns)
    /// maps to the same statuses, corrections and info events; the events keep the codes
    /// as sent.
    #[test]
    fn a_body_in_three_by_three_codes_maps_as_in_two_by_two_codes() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/carriers/hermes"
        );
        let mut bodies = 0;
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            let name = path.to_string_lossy().into_owned();
            if !name.ends_with(".json") || name.ends_with(".expected.json") {
                continue;
            }
            let payload = std::fs::read_to_string(&path).expect("fixture");
            let Ok(expected) = map(&payload) else {
                continue;
            };
            let mut body: serde_json::Value = serde_json::from_str(&payload).expect("json");
            let mut turn = 0;
            let shipments = body["shipmentinfo"].as_array_mut().expect("shipments");
            for status in shipments.iter_mut().flat_map(|s| {
                s.get_mut("status")
                    .and_then(serde_json::Value::as_array_mut)
                    .into_iter()
                    .flatten()
            }) {
                let Some(two) = status["code"].as_str() else {
                    continue;
                };
                let Some((three, _)) = codes::THREE_BY_THREE.iter().find(|(_, t)| *t == two) else {
                    continue;
                };
                turn += 1;
                status["code"] = if turn % 2 == 0 {
                    format!("{}-{}-{}", &three[..3], &three[3..6], &three[6..]).into()
                } else {
                    (*three).into()
                };
            }
            let sent: Vec<String> = body["shipmentinfo"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["status"].as_array().into_iter().flatten())
                .filter_map(|status| status["code"].as_str())
                .map(|code| code.trim().to_owned())
                .collect();
            let rewritten = body.to_string();
            let actual = map(&rewritten).expect("maps as the 2x2 body does");
            let outcome = |events: &[CarrierEvent]| {
                events
                    .iter()
                    .map(|e| (e.status, e.sub_status, e.correction, e.info, e.direction))
                    .collect::<Vec<_>>()
            };
            assert_eq!(outcome(&actual), outcome(&expected), "{name}");
            let kept: Vec<&str> = actual.iter().map(|e| e.codes[0].value.as_ref()).collect();
            assert_eq!(kept, sent, "{name}: the codes as sent");
            bodies += 1;
        }
        assert!(bodies >= 15, "fixtures read: {bodies}");
    }

    fn mapped(code: &str) -> Mapped {
        match outbound(code) {
            Meaning::Status(mapped) => mapped,
            other => panic!("{code} reports no status: {other:?}"),
        }
    }

    fn body(statuses: &str) -> String {
        format!(r#"{{"shipmentinfo":[{{"shipmentID":"H1000","status":[{statuses}]}}]}}"#)
    }

    fn map(payload: &str) -> Result<Vec<CarrierEvent>, MapError> {
        Hermes.map(&RawRecord {
            payload: payload.as_bytes(),
            ..RawRecord::default()
        })
    }

    #[test]
    fn every_documented_code_is_mapped_with_a_sub_code_its_status_allows() {
        for direction in [Direction::Outbound, Direction::Return] {
            for code in DOCUMENTED {
                match meaning(code, "", direction) {
                    Meaning::Unmapped => panic!("{code} is documented but unmapped"),
                    Meaning::Status(Mapped {
                        status,
                        sub: Some(sub),
                        ..
                    }) => assert!(status.allows(sub), "{code}: {status}.{sub}"),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn codes_outside_the_table_are_unmapped_never_in_transit() {
        for code in [
            "5000",
            "6000",
            "7000",
            "000",
            "0-0-0",
            "090000000",
            "",
            "35OO",
        ] {
            assert_eq!(outbound(code), Meaning::Unmapped, "{code}");
        }
    }

    #[test]
    fn carrier_stall_reminders_are_delays_not_the_stalled_timer() {
        for code in ["0600", "0700", "0800", "0900"] {
            let m = mapped(code);
            assert_eq!(
                (m.status, m.sub),
                (Status::Exception, Some(SubCode::Delayed))
            );
            assert_eq!(m.owner, Some(ReasonOwner::Unknown));
        }
        assert!(!mapped("0700").action_required);
        assert!(mapped("0800").action_required && mapped("0900").action_required);
    }

    #[test]
    fn absent_and_tan_codes_count_attempts_on_tour_and_at_the_depot() {
        for (n, codes) in [
            (1, ["3731", "4031", "3751", "4051"]),
            (2, ["3732", "4032", "3752", "4052"]),
            (3, ["3733", "4033", "3753", "4053"]),
            (4, ["3734", "4034", "3754", "4054"]),
        ] {
            for code in codes {
                assert_eq!(mapped(code).attempt, Some(n), "{code}");
            }
        }
        assert_eq!(mapped("3733").sub, Some(SubCode::RecipientAbsent));
        assert!(
            mapped("3733").action_required,
            "text: please contact your customer"
        );
        assert_eq!(mapped("4052").sub, Some(SubCode::AuthenticationFailed));
    }

    #[test]
    fn generic_return_and_delivered_codes_carry_no_sub_code() {
        for code in ["1520", "6080", "6089"] {
            assert_eq!(
                (mapped(code).status, mapped(code).sub),
                (Status::ReturningToSender, None)
            );
        }
        assert_eq!(mapped("3500").sub, None);
        assert_eq!(mapped("7500").status, Status::ReturnedToSender);
    }

    #[test]
    fn customer_return_label_arrives_as_delivered_not_returned() {
        let arrive = meaning("7500", "", Direction::Return);
        assert_eq!(arrive, status(Status::Delivered, Some(SubCode::Recipient)));
        let sorted = meaning("1520", "", Direction::Return);
        assert_eq!(sorted, status(Status::InTransit, Some(SubCode::Processing)));
        let refused = meaning("6081", "", Direction::Return);
        assert_eq!(
            refused,
            status(Status::ReturningToSender, Some(SubCode::Refused))
        );
    }

    #[test]
    fn corrections_target_what_they_undo() {
        let voids = |code| match outbound(code) {
            Meaning::Correction(voids) => voids,
            other => panic!("{code}: {other:?}"),
        };
        assert_eq!(
            voids("4070"),
            Correction::LatestWith(Status::OutForDelivery)
        );
        assert_eq!(voids("4690"), Correction::Latest);
        assert_eq!(voids("9399"), Correction::LatestWith(Status::Cancelled));
        assert_eq!(
            voids("4072"),
            Correction::LatestWith(Status::ReturningToSender)
        );
    }

    #[test]
    fn correction_4072_wording_for_a_wrong_previous_status_voids_the_latest() {
        for text in [
            "The previous status was incorrect and is being corrected.",
            "Der vorherige Status war fehlerhaft und wird korrigiert.",
        ] {
            assert_eq!(corrected_by_4072(text), Correction::Latest, "{text}");
        }
        assert_eq!(
            corrected_by_4072(
                "The return of the shipment to the client has been cancelled (incorrect scan has been corrected)."
            ),
            Correction::LatestWith(Status::ReturningToSender)
        );
    }

    #[test]
    fn stored_shipment_owner_follows_the_text() {
        let cases = [
            (
                "At the request of the recipient, the shipment will be kept at the depot and delivered at a later date.",
                ReasonOwner::Recipient,
            ),
            (
                "Auf Wunsch des Empfängers wird die Sendung am Depot aufbewahrt.",
                ReasonOwner::Recipient,
            ),
            (
                "At the request of the client, the shipment will be kept at the depot.",
                ReasonOwner::Shipper,
            ),
            (
                "The shipment will be kept at the depot for one day to wait for the missing advice note.",
                ReasonOwner::Shipper,
            ),
            (
                "Unfortunately Hermes is unable to deliver the parcel as planned.",
                ReasonOwner::Carrier,
            ),
            (
                "Hermes kann die Sendung leider nicht wie geplant zustellen.",
                ReasonOwner::Carrier,
            ),
            (
                "The shipment is being kept at the depot.",
                ReasonOwner::Unknown,
            ),
        ];
        for (text, owner) in cases {
            let expected = status(Status::Exception, Some(SubCode::Delayed)).owner(owner);
            assert_eq!(
                meaning("4100", text, Direction::Outbound),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn info_codes_are_info_events_with_their_text_and_undocumented_codes_unknown() {
        let events = map(&body(
            r#"{"timestamp":"2024-01-18T08:30:00+01:00","code":"9324","description":"A PreferredDeliveryDate has been chosen for delivery."},
               {"timestamp":"2024-01-18T09:30:00+01:00","code":"5000"}"#,
        ))
        .expect("maps");
        assert!(events[0].info);
        assert_eq!(events[0].status, Status::Unknown);
        assert_eq!(events[0].codes[0].value, "9324");
        assert!(events[0].text.is_some());
        assert!(!events[1].info);
        assert_eq!(events[1].status, Status::Unknown);
    }

    #[test]
    fn a_customer_return_entry_scan_marks_every_event_of_the_shipment() {
        let events = map(&body(
            r#"{"timestamp":"2024-01-18T08:30:00+01:00","code":"4062"},
               {"timestamp":"2024-01-20T08:30:00+01:00","code":"7500"}"#,
        ))
        .expect("maps");
        assert!(
            events
                .iter()
                .all(|e| e.direction == Some(Direction::Return))
        );
        assert_eq!(events[1].status, Status::Delivered);
    }

    #[test]
    fn time_without_offset_is_read_in_berlin_not_utc() {
        let time = event_time("2024-07-15T09:30:00").expect("reads");
        assert_eq!(time.utc.to_rfc3339(), "2024-07-15T07:30:00+00:00");
        assert_eq!(time.zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(time.zone_source, ZoneSource::CarrierDefault);
        let time = event_time("2020-12-04T07:58:24+01:00").expect("reads");
        assert_eq!(time.utc.to_rfc3339(), "2020-12-04T06:58:24+00:00");
        assert_eq!(time.zone_source, ZoneSource::PayloadOffset);
    }

    #[test]
    fn unreadable_timestamp_is_poison() {
        let error =
            map(&body(r#"{"timestamp":"04.12.2020 07:58","code":"3500"}"#)).expect_err("poison");
        assert_eq!(error.class(), "time");
        assert!(error.to_string().contains("04.12.2020 07:58"));
    }

    #[test]
    fn forecast_goes_on_the_newest_event_as_the_end_of_its_window() {
        let payload = r#"{"shipmentinfo":[{"shipmentID":"H1000",
            "deliveryForecast":{"fixed":false,"date":"2024-07-20","timeSlot":{"from":"10:00","to":"14:00"}},
            "status":[{"timestamp":"2024-07-19T10:00:00+02:00","code":"2000"},
                      {"timestamp":"2024-07-18T10:00:00+02:00","code":"0000"}]}]}"#;
        let events = map(payload).expect("maps");
        let eta = events[0].estimated_delivery.expect("on the newest");
        assert_eq!(eta.to_rfc3339(), "2024-07-20T12:00:00+00:00");
        assert_eq!(events[1].estimated_delivery, None);

        let day_only = DeliveryForecast {
            date: Some("2024-01-20".to_owned()),
            time_slot: None,
        };
        let eta = estimated_delivery(&day_only).expect("reads").expect("some");
        assert_eq!(eta.to_rfc3339(), "2024-01-20T23:00:00+00:00");
    }

    #[test]
    fn unreadable_forecast_is_poison() {
        let forecast = DeliveryForecast {
            date: Some("20.01.2024".to_owned()),
            time_slot: None,
        };
        assert!(matches!(
            estimated_delivery(&forecast),
            Err(MapError::Time(_))
        ));
    }

    #[test]
    fn shipment_without_history_is_ignored_on_purpose() {
        let payload = r#"{"shipmentinfo":[{"shipmentID":"H1000",
            "result":{"code":"e001","message":"There is no information for the entered value."}}]}"#;
        assert_eq!(map(payload), Ok(vec![]));
        assert_eq!(map(r#"{"shipmentinfo":[]}"#), Ok(vec![]));
    }

    #[test]
    fn wrong_shapes_are_precise() {
        let missing_id = r#"{"shipmentinfo":[{"status":[]}]}"#;
        let error = map(missing_id).expect_err("shape");
        assert!(
            error.to_string().contains("missing field `shipmentID`"),
            "{error}"
        );
        let error = map(r#"{"listOfResultCodes":[{"code":"e902"}]}"#).expect_err("shape");
        assert!(
            error.to_string().contains("missing field `shipmentinfo`"),
            "{error}"
        );
        let numeric_code = body(r#"{"timestamp":"2024-01-18T08:30:00+01:00","code":3500}"#);
        assert_eq!(map(&numeric_code).expect_err("shape").class(), "shape");
        assert_eq!(
            map("{\"shipmentinfo\":[").expect_err("syntax").class(),
            "syntax"
        );
    }
}
