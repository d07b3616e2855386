//! GLS: Track And Trace API v1 (`/tracking/simple/trackids/{unitnos}` and
//! `/tracking/simple/references/{refs}`), as in the reference §2.4: the OpenAPI
//! `ecitrackandtrace.yaml` (Karrio `modules/connectors/gls/vendor/`) and its examples.
//!
//! One body is a `ParcelsResponseDTO`: `parcels[]`, each with its `unitno`, its current
//! `status` (a closed enum) at `statusDateTime`, and its `events[]` (newest first), each
//! with a `GROUP.DETAIL` code, a localized description, a place and an ISO-8601 time with
//! an offset without colon (`2024-10-07T10:46:14+0200`). A parcel the lookup did not find
//! (`errorCode`, e.g. `E_404_01`) carries no data and is left out on purpose.
//!
//! Every event is mapped by its code. Only the codes the reference documents are known;
//! the rest are [`Status::Unknown`]. The parcel's `status` is emitted as an event of its own
//! (code `status`, at `statusDateTime`) unless its events already report that status as the
//! current one (the newest event with a status, or one at or after `statusDateTime`): so a
//! parcel delivered under an undocumented event code, or fetched with `showEvents=false`,
//! still gets the carrier's own verdict. `FINAL` ("parcel history closed") says nothing
//! about where the parcel is: it is emitted as an info event.

mod pull;

use super::{Carrier, MapError, RawRecord};
use crate::domain::{
    CarrierEvent, EventTime, Location, Status, SubCode, TrackingNumber, parse_offset_time,
};
use serde::Deserialize;
use std::borrow::Cow;

/// The `gls` carrier: GLS Track And Trace API v1 responses.
pub struct Gls;

impl Carrier for Gls {
    fn id(&self) -> &'static str {
        "gls"
    }

    fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        let body = read(raw.payload)?;
        let mut events = Vec::new();
        for (index, parcel) in body.parcels.iter().enumerate() {
            if parcel.error_code.is_none() {
                parcel_events(index, parcel, &mut events)?;
            }
        }
        Ok(events)
    }
}

/// The body: a well-formed one through the [`pull`] reader, any other through serde_json,
/// which words the error. UTF-8 is checked once for the whole body rather than string by
/// string; a body that is not UTF-8 is read as bytes, so its error reads as before.
fn read(payload: &[u8]) -> Result<ParcelsResponse<'_>, MapError> {
    match std::str::from_utf8(payload) {
        Ok(text) => pull::read(text).map_or_else(|| serde_json::from_str(text), Ok),
        Err(_) => serde_json::from_slice(payload),
    }
    .map_err(|e| MapError::from_json(&e))
}

/// Appends the events of one found parcel: its status (when it adds something), then its
/// events.
fn parcel_events(
    index: usize,
    parcel: &Parcel<'_>,
    events: &mut Vec<CarrierEvent>,
) -> Result<(), MapError> {
    let missing = |name: &str| MapError::Shape(format!("parcels[{index}]: missing field `{name}`"));
    let unitno = parcel.unitno.as_deref().ok_or_else(|| missing("unitno"))?;
    let status_code = parcel.status.as_deref().ok_or_else(|| missing("status"))?;
    let status_time = parcel.status_date_time.as_deref();
    let status_time = status_time.ok_or_else(|| missing("statusDateTime"))?;
    let tracking = TrackingNumber::parse(unitno)?;

    let start = events.len();
    let parcel_events = parcel.events.as_deref().unwrap_or_default();
    // Room for the status event too.
    events.reserve_exact(parcel_events.len() + 1);
    for event in parcel_events {
        events.push(carrier_event(&tracking, event)?);
    }

    let ours = &events[start..];
    let time = || parse_offset_time(status_time).map(EventTime::with_offset);
    let at = || time().ok().map(|at| at.millis());
    let reported = |status| status != Status::Unknown && reported(ours, status, at);
    let own = match classify_status(status_code) {
        Some((status, _)) if reported(status) => None,
        Some((status, sub)) => Some(CarrierEvent::new(tracking, time()?, status, sub)),
        None => Some(CarrierEvent::info(tracking, time()?)),
    };
    if let Some(event) = own {
        events.insert(start, event.code("status", status_code));
    }
    Ok(())
}

/// Whether the parcel's events already report `status` as its current state: the newest
/// event with a status says so, or one at or after the parcel status's own time (`at`, in
/// UTC millis, read only when needed; unreadable, any event with the status will do). An
/// older event with that status does not: a parcel out for delivery again after a
/// ParcelShop, under an undocumented newest code, is still out for delivery.
fn reported(events: &[CarrierEvent], status: Status, at: impl Fn() -> Option<i64>) -> bool {
    let with_status = |e: &&CarrierEvent| e.status != Status::Unknown;
    let newest = events
        .iter()
        .filter(with_status)
        .max_by_key(|e| e.time.millis());
    if newest.is_some_and(|e| e.status == status) {
        return true;
    }
    // Without any event of that status (a status-only body) there is no time to compare:
    // the status time is read once, for its own event.
    if !events.iter().any(|e| e.status == status) {
        return false;
    }
    let at = at();
    events
        .iter()
        .any(|e| e.status == status && at.is_none_or(|at| e.time.millis() >= at))
}

/// One GLS event as a unified event.
fn carrier_event(tracking: &TrackingNumber, event: &Event<'_>) -> Result<CarrierEvent, MapError> {
    let time = EventTime::with_offset(parse_offset_time(&event.event_date_time)?);
    let (status, sub) = classify_event(&event.code);
    let part = |value: &Option<Cow<'_, str>>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    Ok(CarrierEvent::new(tracking.clone(), time, status, sub)
        .code("code", event.code.as_ref())
        .text(event.description.as_deref())
        .location(Location {
            city: part(&event.city),
            postal_code: part(&event.postal_code),
            country: part(&event.country),
        }))
}

/// A GLS event code (`GROUP.DETAIL`) to the unified status. Only the codes the reference
/// documents (§2.4) and GLS's `GET /tracking/events/codes` answer (as captured in public
/// code, see the fixture README) are mapped.
fn classify_event(code: &str) -> (Status, Option<SubCode>) {
    match code {
        // "The parcel data was entered into the GLS IT system; not yet handed over."
        "INTIAL.PREADVICE" => (Status::InfoReceived, Some(SubCode::LabelCreated)),
        // "The parcel was provided by the sender for collection by GLS."
        "INTIAL.E48_DATA" => (Status::InfoReceived, Some(SubCode::PickupScheduled)),
        // "The parcel was handed over to GLS."
        "INTIAL.NORMAL" => (Status::InTransit, Some(SubCode::PickedUp)),
        // Arrived at / left a depot.
        "INBOUD.NORMAL" | "OUTBOD.NORMAL" => (Status::InTransit, Some(SubCode::Processing)),
        "OUTDEL.NORMAL" => (Status::OutForDelivery, Some(SubCode::OnVehicle)),
        // codeNo 3.0, "The parcel has been delivered." (GLS's event code list).
        "DELIVD.NORMAL" => (Status::Delivered, None),
        // Delivered *to* the ParcelShop: waiting there for the recipient.
        "DELIVD.PARCELSHOP" => (Status::AvailableForPickup, Some(SubCode::ParcelShop)),
        // Handed out by the ParcelShop (via the app): the recipient has it.
        "DELIVD.DEL_BY_PSAPP" => (Status::Delivered, Some(SubCode::CollectedAtPickupPoint)),
        // "Change completed for - Delivery at new address" / "- ParcelLocker".
        "CHANGD.MONEWADDR" | "CHANGD.PARCELBOX" => (Status::InTransit, Some(SubCode::Redirected)),
        // "The parcel data have been deleted from the GLS IT system."
        "CANCEL.NORMAL" => (Status::Cancelled, None),
        _ => (Status::Unknown, None),
    }
}

/// A parcel `status` (the OpenAPI enum) to the unified status; `None` for `FINAL`, which
/// only closes the history and says nothing about where the parcel is (an info event).
fn classify_status(status: &str) -> Option<(Status, Option<SubCode>)> {
    let unified = match status {
        "PLANNEDPICKUP" | "INPICKUP" => (Status::InfoReceived, Some(SubCode::PickupScheduled)),
        "PREADVICE" => (Status::InfoReceived, Some(SubCode::LabelCreated)),
        "NOTPICKEDUP" => (Status::Exception, Some(SubCode::PickupFailed)),
        "INTRANSIT" | "INWAREHOUSE" => (Status::InTransit, None),
        "INDELIVERY" => (Status::OutForDelivery, Some(SubCode::OnVehicle)),
        // Delivered *to a parcel shop*, not to the recipient (Karrio gets it wrong).
        "DELIVEREDPS" => (Status::AvailableForPickup, Some(SubCode::ParcelShop)),
        "DELIVERED" => (Status::Delivered, None),
        "NOTDELIVERED" => (Status::DeliveryFailed, None),
        "CANCELED" => (Status::Cancelled, None),
        "FINAL" => return None,
        _ => (Status::Unknown, None),
    };
    Some(unified)
}

// The wire format (`ParcelsResponseDTO`, `ParcelDTO`, `EventDTO`). Parcel fields are
// optional because a not-found parcel carries only `requested` and `errorCode`; a found
// parcel without `unitno`, `status` or `statusDateTime` is a shape error.

// Texts borrow from the body where they can (no escapes): no allocation per field.

#[derive(Debug, PartialEq, Deserialize)]
struct ParcelsResponse<'a> {
    #[serde(borrow)]
    parcels: Vec<Parcel<'a>>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parcel<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    unitno: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    status_date_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    events: Option<Vec<Event<'a>>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    error_code: Option<Cow<'a, str>>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(borrow)]
    code: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    city: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    postal_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    country: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_date_time: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ZoneSource;

    fn map(body: &str) -> Result<Vec<CarrierEvent>, MapError> {
        Gls.map(&RawRecord {
            payload: body.as_bytes(),
            ..RawRecord::default()
        })
    }

    #[test]
    fn deliveredps_is_available_at_the_parcel_shop_not_delivered() {
        assert_eq!(
            classify_status("DELIVEREDPS"),
            Some((Status::AvailableForPickup, Some(SubCode::ParcelShop)))
        );
        assert_eq!(
            classify_event("DELIVD.PARCELSHOP"),
            (Status::AvailableForPickup, Some(SubCode::ParcelShop))
        );
    }

    #[test]
    fn handed_out_by_the_parcel_shop_is_delivered() {
        assert_eq!(
            classify_event("DELIVD.DEL_BY_PSAPP"),
            (Status::Delivered, Some(SubCode::CollectedAtPickupPoint))
        );
    }

    #[test]
    fn undocumented_codes_are_unknown_never_in_transit() {
        for code in [
            "DELIVD.NOTEXIST",
            "INBOUD",
            "inboud.normal",
            "RETURN.NORMAL",
            "",
        ] {
            assert_eq!(classify_event(code), (Status::Unknown, None), "{code}");
        }
        assert_eq!(classify_status("RETURNED"), Some((Status::Unknown, None)));
    }

    #[test]
    fn final_says_nothing_about_the_parcel() {
        assert_eq!(classify_status("FINAL"), None);
    }

    #[test]
    fn final_is_an_info_event_and_an_undocumented_status_unknown() {
        let body = r#"{"parcels":[{"unitno":"1","status":"FINAL",
            "statusDateTime":"2024-11-28T02:00:00+0100","events":[]},
            {"unitno":"2","status":"RETURNED","statusDateTime":"2024-11-28T02:00:00+0100"}]}"#;
        let events = map(body).expect("maps");
        assert_eq!(events.len(), 2);
        assert!(events[0].info);
        assert_eq!(events[0].codes[0].value, "FINAL");
        assert_eq!(events[0].time.utc.to_rfc3339(), "2024-11-28T01:00:00+00:00");
        assert!(!events[1].info);
        assert_eq!(events[1].status, Status::Unknown);
        assert_eq!(events[1].codes[0].value, "RETURNED");
    }

    #[test]
    fn status_is_emitted_only_when_no_event_reports_it() {
        let body = r#"{"parcels":[{"unitno":"11111111111","status":"DELIVERED",
            "statusDateTime":"2024-10-08T10:02:00+0200","events":[
            {"code":"DELIVD.NORMAL","country":"DE","description":"The parcel has been delivered.",
             "eventDateTime":"2024-10-08T10:02:00+0200"},
            {"code":"OUTDEL.NORMAL","country":"DE","eventDateTime":"2024-10-08T06:52:37+0200"}]},
            {"unitno":"22222222222","status":"INTRANSIT","statusDateTime":"2024-10-07T18:00:52+0200",
            "events":[{"code":"INTIAL.NORMAL","eventDateTime":"2024-10-07T18:00:52+0200"}]},
            {"unitno":"33333333333","status":"DELIVERED","statusDateTime":"2024-10-08T11:00:00+0200",
            "events":[{"code":"OUTDEL.NORMAL","eventDateTime":"2024-10-08T07:00:00+0200"}]}]}"#;
        let events = map(body).expect("maps");
        let summary: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.tracking_number.as_str(),
                    e.status,
                    e.codes[0].value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("11111111111", Status::Delivered, "DELIVD.NORMAL"),
                ("11111111111", Status::OutForDelivery, "OUTDEL.NORMAL"),
                ("22222222222", Status::InTransit, "INTIAL.NORMAL"),
                ("33333333333", Status::Delivered, "DELIVERED"),
                ("33333333333", Status::OutForDelivery, "OUTDEL.NORMAL"),
            ]
        );
    }

    #[test]
    fn offset_without_colon_is_kept_as_the_payload_offset() {
        let body = r#"{"parcels":[{"unitno":"1","status":"INTRANSIT",
            "statusDateTime":"2024-10-07T10:46:14+0200","events":[]}]}"#;
        let events = map(body).expect("maps");
        assert_eq!(events[0].time.utc.to_rfc3339(), "2024-10-07T08:46:14+00:00");
        assert_eq!(events[0].time.zone.as_deref(), Some("+02:00"));
        assert_eq!(events[0].time.zone_source, ZoneSource::PayloadOffset);
    }

    #[test]
    fn not_found_parcels_are_left_out() {
        let body = r#"{"parcels":[{"requested":"42249018928","errorCode":"E_404_01",
            "errorMessage":"Resource Not Found"}]}"#;
        assert_eq!(map(body), Ok(vec![]));
    }

    #[test]
    fn a_found_parcel_without_unitno_is_a_shape_error() {
        let body = r#"{"parcels":[{"requested":"1","status":"INTRANSIT",
            "statusDateTime":"2024-10-07T10:46:14+0200"}]}"#;
        let error = map(body).expect_err("poison");
        assert_eq!(error.class(), "shape");
        assert!(
            error
                .to_string()
                .contains("parcels[0]: missing field `unitno`")
        );
    }

    #[test]
    fn a_time_without_offset_is_a_time_error() {
        let body = r#"{"parcels":[{"unitno":"1","status":"INTRANSIT",
            "statusDateTime":"2024-10-07T10:46:14","events":[]}]}"#;
        assert_eq!(map(body).expect_err("poison").class(), "time");
    }

    #[test]
    fn empty_location_parts_are_dropped() {
        let body = r#"{"parcels":[{"unitno":"1","status":"INTRANSIT",
            "statusDateTime":"2024-10-07T10:46:14+0200","events":[{"code":"INTIAL.NORMAL",
            "city":"","postalCode":"","country":"IT","eventDateTime":"2024-10-07T10:46:14+0200"}]}]}"#;
        let events = map(body).expect("maps");
        let location = events[0].location.as_ref().expect("has a country");
        assert_eq!(location.city, None);
        assert_eq!(location.country.as_deref(), Some("IT"));
    }
}
