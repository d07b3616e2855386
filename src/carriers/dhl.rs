//! DHL: Shipment Tracking – Unified (`GET https://api-eu.dhl.com/track/shipments`, the
//! `dpdhl_tracking-unified-api` 1.x schema) and its push twin, Shipment Tracking – Unified –
//! Push (v1.2.5), as in the reference §2.1: Karrio's `dhl_universal` sample response and the
//! DHL support articles 47001197243 (status codes), 47001251141 (mixed `status`),
//! 47001251142 and 47001251916 (`returnFlag`, with an example body).
//!
//! One body is `{"shipments": [...]}` (the response). The stored push documentation shows
//! the subscription, not the pushed body; it says the push "unifies the sources" without a
//! unified structure. So a body may also be one shipment object or a bare array of them.
//! An RFC 7807 problem body (`{"status": 401, "title": ...}`) is poison with its detail;
//! "404 No result found" has nothing to map (no events, not poison).
//!
//! DHL has only five status codes (`pre-transit`, `transit`, `delivered`, `failure`,
//! `unknown`), so the event text (`status`, `description`, `remark`; English or German) is
//! classified by the phrase table of [`dhl_text`](super::dhl_text) to find
//! out-for-delivery, pickup points and the failure reason. Each code admits only some statuses from the text (a `pre-transit` text never
//! makes a parcel delivered). `unknown` and unrecognised codes take a non-terminal status
//! from the text when it names one, else they are [`Status::Unknown`].
//!
//! parcel-de's events (DHL Paket) also carry DHL's own codes in `statusDetailed`,
//! `ICE_RIC_STD` (`DLVRD_SECPL_ZU`): those are read with the ICE/RIC table of the XML
//! tracking ([`dhl_parcel_de`](super::dhl_parcel_de)) and outrank code and text, so an event
//! maps the same through either API ([`detailed_codes`]). Their `status` is the standard event
//! code (`PO`), which speaks where the text names nothing ([`standard_code`]).
//!
//! `returnFlag: true` marks a return to sender (not a customer return label): a `delivered`
//! event is then `RETURNED_TO_SENDER.received`, and `transit`/`failure` events from the
//! turn of the return on (the first `failure` or return text) are `RETURNING_TO_SENDER`.
//! Without such a turn in the body, every `transit`/`failure` event is taken as returning.
//!
//! Event times mostly come without an offset (`2018-03-02T07:53:47`): they are read in the
//! zone of the event's country, else of the destination, else of the origin
//! ([`ZoneSource::Location`]), else in Europe/Berlin ([`ZoneSource::Assumed`]). An event in
//! a country of several zones (US, CA...) is read in the destination's (or origin's, or
//! Berlin's) zone as an assumption ([`ZoneSource::Assumed`]), never as its location's.

mod pull;

use super::dhl_parcel_de::{Mapping, by_standard_code, map_codes, on_return, reason_owner};
use super::dhl_text::{NON_TERMINAL, classify_text, sub_from_text};
use super::{Carrier, MapError, RawRecord, newest_uses};
use crate::domain::{
    CarrierEvent, Correction, EventId, EventTime, IdBitsState, IdHasher, Location, ReasonOwner,
    Status, SubCode, TimeError, TrackingNumber, ZoneSource, parse_iso_local, parse_local_time,
    parse_offset_time, zone_of_country,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

/// The `dhl` carrier: DHL Shipment Tracking – Unified responses and pushes.
pub struct Dhl;

impl Carrier for Dhl {
    fn id(&self) -> &'static str {
        "dhl"
    }

    fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        let shipments = shipments(raw.text()?)?;
        let mut uses = Vec::new();
        for shipment in &shipments {
            let mut events = Vec::new();
            shipment_events(shipment, raw, &mut events)?;
            if shipments.len() == 1 {
                return Ok(events);
            }
            uses.push(events);
        }
        // Several shipments may share a number: DHL recycles them ([`newest_uses`]).
        Ok(newest_uses(uses))
    }
}

/// One shipment as DHL sends it (only what the mapping reads). Texts borrow from the body
/// where they can (no escapes), saving an allocation per field.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shipment<'a> {
    #[serde(borrow)]
    id: Option<ShipmentId<'a>>,
    return_flag: Option<bool>,
    #[serde(borrow)]
    origin: Option<Place<'a>>,
    #[serde(borrow)]
    destination: Option<Place<'a>>,
    /// The latest event; used only when `events` is empty.
    #[serde(borrow)]
    status: Option<Event<'a>>,
    #[serde(borrow)]
    events: Option<Vec<Event<'a>>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    estimated_time_of_delivery: Option<Cow<'a, str>>,
}

/// DHL sends the id as a string; Karrio's sample has a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ShipmentId<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(serde_json::Number),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    location: Option<Place<'a>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    status_code: Option<Cow<'a, str>>,
    /// parcel-de: `ICE_RIC_STD`, DHL Paket's own event codes (see [`detailed_codes`]).
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    status_detailed: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    remark: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Place<'a> {
    #[serde(borrow)]
    address: Option<Address<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address<'a> {
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    country_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    postal_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::borrowed_text")]
    address_locality: Option<Cow<'a, str>>,
}

impl Place<'_> {
    fn country<'p>(place: Option<&'p Place<'_>>) -> Option<&'p str> {
        place?.address.as_ref()?.country_code.as_deref()
    }
}

/// The shipments of a response body, a push body, or a bare shipment list. Well-formed
/// bodies are read by the [`pull`] reader straight into the wire structs; any other body
/// (poison, a problem response, duplicate keys...) is read again through
/// [`shipments_from_value`], which decides and words the outcome as it always has.
fn shipments(body: &str) -> Result<Vec<Shipment<'_>>, MapError> {
    match pull::read(body) {
        Some(shipments) => Ok(shipments),
        None => shipments_from_value(body),
    }
}

/// The shipments of a body through `serde_json::Value`: the reference for every shape.
fn shipments_from_value(body: &str) -> Result<Vec<Shipment<'static>>, MapError> {
    let value: Value = serde_json::from_str(body).map_err(|e| MapError::from_json(&e))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("shipments") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(MapError::Shape("`shipments` is not an array".to_owned())),
            // "No result found" has nothing to map, on purpose (as UPS's and FedEx's
            // not-found answers): an adapter polling a fresh label gets it until DHL
            // scans the parcel, and it is no poison.
            None if object.get("status").and_then(Value::as_u64) == Some(404) => {
                return Ok(Vec::new());
            }
            None if object.get("status").is_some_and(Value::is_number) => {
                return Err(problem(&object));
            }
            None if ["id", "status", "events"]
                .iter()
                .any(|field| object.contains_key(*field)) =>
            {
                vec![Value::Object(object)]
            }
            None => {
                return Err(MapError::Shape(
                    "object has none of `shipments`, `id`, `status`, `events`".to_owned(),
                ));
            }
        },
        _ => {
            return Err(MapError::Shape(
                "body is neither a shipment, a list of shipments nor {\"shipments\": [...]}"
                    .to_owned(),
            ));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            // `from_value`, for a type that may borrow (from a `Value` it owns everything).
            Shipment::deserialize(item).map_err(|e| MapError::Shape(format!("shipments[{i}]: {e}")))
        })
        .collect()
}

/// An RFC 7807 problem body, as DHL answers "no shipment found" and other errors.
fn problem(object: &serde_json::Map<String, Value>) -> MapError {
    let field = |name| match object.get(name) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    MapError::Shape(format!(
        "DHL problem response {} {}: {}",
        field("status"),
        field("title"),
        field("detail")
    ))
}

/// The status code of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    PreTransit,
    Transit,
    Delivered,
    Failure,
    /// `unknown`, an unrecognised code, or none.
    Unknown,
}

impl Code {
    /// The code as DHL writes it (`unknown` for none or an unrecognised one).
    fn name(self) -> &'static str {
        match self {
            Code::PreTransit => "pre-transit",
            Code::Transit => "transit",
            Code::Delivered => "delivered",
            Code::Failure => "failure",
            Code::Unknown => "unknown",
        }
    }

    fn parse(code: Option<&str>) -> Self {
        let code = code.unwrap_or("").trim();
        [
            Code::PreTransit,
            Code::Transit,
            Code::Delivered,
            Code::Failure,
        ]
        .into_iter()
        .find(|known| code.eq_ignore_ascii_case(known.name()))
        .unwrap_or(Code::Unknown)
    }

    /// The statuses the event text may give under this code.
    fn admits(self) -> &'static [Status] {
        use Status::*;
        match self {
            Code::PreTransit => &[InfoReceived, Cancelled],
            // `ReturnedToSender` only where the text says so ("delivered at shipper").
            Code::Transit => &[
                InTransit,
                OutForDelivery,
                AvailableForPickup,
                DeliveryFailed,
                Exception,
                ReturningToSender,
                ReturnedToSender,
            ],
            // A return text under `delivered` means back at the sender (see `decide`).
            Code::Delivered => &[
                Delivered,
                AvailableForPickup,
                ReturningToSender,
                ReturnedToSender,
            ],
            Code::Failure => &[
                DeliveryFailed,
                Exception,
                ReturningToSender,
                ReturnedToSender,
                Failed,
            ],
            Code::Unknown => NON_TERMINAL,
        }
    }
}

/// What one DHL event says, before `returnFlag` is applied.
struct Reading<'a> {
    event: &'a Event<'a>,
    code: Code,
    time: EventTime,
    status: Status,
    sub: Option<SubCode>,
    /// From `statusDetailed`: an info event, a correction, or a reason owner.
    detailed: Detailed,
}

/// What a parcel-de `statusDetailed` adds to the status it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detailed {
    /// None, or one the ICE/RIC table does not know: the status code and text decide.
    Status,
    /// The status and sub-code come from the ICE/RIC table; the reason's owner too where
    /// the RIC tells it.
    Codes(Option<ReasonOwner>),
    /// A data-service notice or money transfer: says nothing about where the parcel is.
    Info,
    /// `STORN`: the driver deleted the previous event.
    Correction,
}

/// Appends the unified events of one shipment to `out`.
fn shipment_events(
    shipment: &Shipment<'_>,
    raw: &RawRecord<'_>,
    out: &mut Vec<CarrierEvent>,
) -> Result<(), MapError> {
    let tracking = match &shipment.id {
        Some(ShipmentId::Text(id)) => TrackingNumber::parse(id)?,
        Some(ShipmentId::Number(id)) => TrackingNumber::parse(&id.to_string())?,
        None => raw.key_tracking_number()?,
    };
    let events = match &shipment.events {
        Some(events) if !events.is_empty() => events.as_slice(),
        _ => shipment.status.as_slice(),
    };
    let fallback_zone = Place::country(shipment.destination.as_ref())
        .and_then(zone_of_country)
        .or_else(|| Place::country(shipment.origin.as_ref()).and_then(zone_of_country));
    // One buffer for the lower-cased texts of all events; allocated only when one is needed
    // (a remembered decision needs none).
    let mut text = String::new();
    let readings = events
        .iter()
        .map(|event| read(event, shipment.status.as_ref(), fallback_zone, &mut text))
        .collect::<Result<Vec<_>, MapError>>()?;

    let return_flag = shipment.return_flag == Some(true);
    let turn = readings
        .iter()
        .filter(|r| r.code == Code::Failure || r.status == Status::ReturningToSender)
        .map(|r| r.time.millis())
        .min();
    let latest = readings.iter().map(|r| r.time.millis()).max();
    let eta = shipment
        .estimated_time_of_delivery
        .as_deref()
        .and_then(|at| estimated_delivery(at, fallback_zone));

    out.reserve_exact(readings.len());
    // The number is cloned for all events but the last, which takes it.
    let numbers = std::iter::repeat_n(tracking, readings.len());
    out.extend(readings.into_iter().zip(numbers).map(|(r, tracking)| {
        let returning = return_flag && turn.is_none_or(|turn| r.time.millis() >= turn);
        let (status, sub) = match r.detailed {
            _ if !returning => (r.status, r.sub),
            Detailed::Status => {
                lower_text(r.event, &mut text);
                returned(r.code, r.status, r.sub, &text)
            }
            // By the status, as the XML tracking reads `ruecksendung`.
            Detailed::Codes(_) => {
                lower_text(r.event, &mut text);
                on_return(r.status, r.sub, &text)
            }
            Detailed::Info | Detailed::Correction => (r.status, r.sub),
        };
        let is_latest = Some(r.time.millis()) == latest;
        let mut event = match r.detailed {
            Detailed::Status | Detailed::Codes(_) => {
                CarrierEvent::new(tracking, r.time, status, sub)
            }
            Detailed::Info => CarrierEvent::info(tracking, r.time),
            Detailed::Correction => CarrierEvent::correction(tracking, r.time, Correction::Latest),
        };
        if let Detailed::Codes(Some(owner)) = r.detailed {
            event = event.reason_owner(owner);
        }
        if let Some(code) = &r.event.status_code {
            event = event.code("statusCode", code.clone());
        } else if let Some(text) = r.event.description.as_ref().or(r.event.status.as_ref()) {
            // Without a code (DHL Express) the text is the code: it is what tells apart two
            // events of one minute and place ("Shipment Accepted", "Shipment picked up"),
            // which would otherwise share their identity and one be dropped as a duplicate.
            event = event.code("text", text.clone());
        }
        if let Some(detailed) = &r.event.status_detailed {
            event = event.code("statusDetailed", detailed.clone());
        }
        event
            .text(
                r.event
                    .description
                    .clone()
                    .or_else(|| r.event.status.clone()),
            )
            .location(location(r.event.location.as_ref()))
            .estimated_delivery(eta.filter(|_| is_latest))
    }));
    Ok(())
}

/// Reads one event: its time and what its code and text say.
fn read<'a>(
    event: &'a Event<'a>,
    shipment_status: Option<&Event<'_>>,
    fallback_zone: Option<Tz>,
    text: &mut String,
) -> Result<Reading<'a>, MapError> {
    let fallback = fallback_zone.unwrap_or(Tz::Europe__Berlin);
    let zone = match Place::country(event.location.as_ref()) {
        Some(country) => match zone_of_country(country) {
            Some(zone) => (zone, ZoneSource::Location),
            // In a country of several zones (or one we do not know): the shipment's zone
            // is a guess for it, and said to be one.
            None => (fallback, ZoneSource::Assumed),
        },
        None if fallback_zone.is_some() => (fallback, ZoneSource::Location),
        None => (fallback, ZoneSource::Assumed),
    };
    let time = event_time(&event.timestamp, zone)?;
    let code = Code::parse(event.status_code.as_deref().or_else(|| {
        // DHL Express gives a code only to the shipment's `status`: it holds for the event
        // that `status` repeats (same time and text), and for no other.
        shipment_status
            .filter(|status| {
                status.timestamp == event.timestamp && status.description == event.description
            })
            .and_then(|status| status.status_code.as_deref())
    }));
    let detailed = event.status_detailed.as_deref().and_then(detailed_codes);
    let ((status, sub), detailed) = match detailed {
        Some((Mapping::To(status, sub), ric)) => {
            let sub = sub.or_else(|| {
                lower_text(event, text);
                sub_from_text(text, status)
            });
            ((status, sub), Detailed::Codes(reason_owner(ric)))
        }
        Some((Mapping::Info, _)) => ((Status::Unknown, None), Detailed::Info),
        Some((Mapping::Correction, _)) => ((Status::Unknown, None), Detailed::Correction),
        Some((Mapping::Unmapped, _)) | None => {
            (decide_remembered(code, event, text), Detailed::Status)
        }
    };
    Ok(Reading {
        event,
        code,
        time,
        status,
        sub,
        detailed,
    })
}

/// parcel-de's `statusDetailed`, `ICE_RIC_STD` (`DLVRD_SECPL_ZU`: delivered, to the drop-off
/// place, standard code `ZU`), as DHL Paket's events carry it (captured in real parcels'
/// events, joethei/ha-dhl; DHL's OpenAPI 1.4 documents the field as "detailed status"):
/// the ICE event code, its RIC reason and the standard event code of the DHL Parcel DE
/// tracking, read with that mapper's table. What it says, and the RIC; `None` for any other
/// form (the field is free text elsewhere).
fn detailed_codes(detailed: &str) -> Option<(Mapping, &str)> {
    let (ice, rest) = detailed.split_once('_')?;
    let (ric, standard) = rest.split_once('_')?;
    (is_code(ice, 5) && is_code(ric, 5) && is_code(standard, 2))
        .then(|| (map_codes(ice, ric, standard), ric))
}

/// The event's texts (`status | description | remark`), lower-cased, without HTML tags and
/// with `_` as a space, into `text`.
fn lower_text(event: &Event<'_>, text: &mut String) {
    text.clear();
    for (i, part) in [&event.status, &event.description, &event.remark]
        .into_iter()
        .flatten()
        .enumerate()
    {
        if i > 0 {
            text.push_str(" | ");
        }
        // Each part lower-cased on its own, as `to_lowercase` would (final sigma).
        let start = text.len();
        if part.is_ascii() {
            text.push_str(part);
            text[start..].make_ascii_lowercase();
        } else {
            text.push_str(&part.to_lowercase());
        }
        // parcel-de's German texts carry HTML (`<a href='…preferPackstation=true'>Filiale
        // 12</a>`): only what a reader sees is classified.
        if text[start..].contains('<') {
            let visible = without_tags(&text[start..]);
            text.truncate(start);
            text.push_str(&visible);
        }
        // parcel-nl's texts are codes (`OUT_FOR_DELIVERY`): read them as words.
        if text[start..].contains('_') {
            let words = text[start..].replace('_', " ");
            text.truncate(start);
            text.push_str(&words);
        }
    }
}

/// `text` without its HTML tags (`<…>`); a `<` that no `>` closes stays.
fn without_tags(text: &str) -> String {
    let mut visible = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        visible.push_str(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    visible.push_str(rest);
    visible
}

/// How many texts [`decide_remembered`] keeps per thread before it starts afresh: about
/// 40 bytes each. DHL words its events from a few hundred phrases.
const REMEMBERED_TEXTS: usize = 8192;

/// [`decide`] for an event's code and texts, remembered per thread by a hash of them (as
/// event identities are made): DHL words its events from a small set of phrases, so
/// nearly every event repeats texts seen before, and looking them up costs a fraction of
/// lower-casing and classifying them again. `text` is the buffer for the lower-cased texts
/// when they are new.
fn decide_remembered(
    code: Code,
    event: &Event<'_>,
    text: &mut String,
) -> (Status, Option<SubCode>) {
    thread_local! {
        static DECIDED: RefCell<HashMap<EventId, (Status, Option<SubCode>), IdBitsState>> =
            RefCell::new(HashMap::default());
    }
    let mut key = IdHasher::default();
    key.part(code.name());
    for part in [&event.status, &event.description, &event.remark] {
        // A missing text and an empty one are classified apart (`" | "` joins the texts).
        key.part(if part.is_some() { "+" } else { "-" });
        key.part(part.as_deref().unwrap_or_default());
    }
    let key = key.finish();
    DECIDED.with_borrow_mut(|decided| {
        if let Some(found) = decided.get(&key) {
            return *found;
        }
        lower_text(event, text);
        let found = decide(code, text, standard_code(event));
        if decided.len() >= REMEMBERED_TEXTS {
            decided.clear();
        }
        decided.insert(key, found);
        found
    })
}

/// parcel-de's `status` as DHL Paket sends it: the 2-letter standard event code (`PO`,
/// `ZU`...; captured beside `statusDetailed`, and alone in events without a description),
/// read with the XML tracking's table of standard codes; `None` for anything else.
fn standard_code(event: &Event<'_>) -> Option<Mapping> {
    let status = event.status.as_deref()?;
    is_code(status, 2).then(|| by_standard_code(status))
}

/// Whether `part` is one of DHL Paket's codes of `len` capital letters (ICE, RIC, standard).
fn is_code(part: &str, len: usize) -> bool {
    part.len() == len && part.bytes().all(|b| b.is_ascii_uppercase())
}

/// Status and sub-code of an event from its code, its (lower-cased) text and, where the text
/// names nothing the code admits, its standard event code ([`standard_code`]).
fn decide(code: Code, text: &str, standard: Option<Mapping>) -> (Status, Option<SubCode>) {
    let found = classify_text(text, code.admits()).or(match standard {
        Some(Mapping::To(status, sub)) if code.admits().contains(&status) => Some((status, sub)),
        _ => None,
    });
    match (code, found) {
        (Code::Delivered, Some((Status::ReturningToSender, _))) => {
            (Status::ReturnedToSender, Some(SubCode::Received))
        }
        (_, Some(found)) => found,
        (Code::PreTransit, None) => (Status::InfoReceived, None),
        (Code::Transit, None) => (Status::InTransit, None),
        (Code::Delivered, None) => (Status::Delivered, None),
        (Code::Failure, None) => (Status::DeliveryFailed, None),
        (Code::Unknown, None) => (Status::Unknown, None),
    }
}

/// An event of a shipment flagged `returnFlag`, from the turn of the return on.
fn returned(
    code: Code,
    status: Status,
    sub: Option<SubCode>,
    text: &str,
) -> (Status, Option<SubCode>) {
    let returning = Status::ReturningToSender;
    match code {
        Code::Delivered => (Status::ReturnedToSender, Some(SubCode::Received)),
        _ if status == Status::ReturnedToSender => (status, sub),
        Code::Transit | Code::Failure => (
            returning,
            sub.filter(|sub| returning.allows(*sub))
                .or_else(|| sub_from_text(text, returning)),
        ),
        Code::PreTransit | Code::Unknown => (status, sub),
    }
}

/// Reads a timestamp: with its offset when it has one, else in the given zone.
fn event_time(value: &str, (zone, source): (Tz, ZoneSource)) -> Result<EventTime, MapError> {
    // The usual DHL form first: a text it accepts has no offset, so the rest would read it
    // (with the first local format) to the same time.
    if let Some(local) = parse_iso_local(value) {
        return Ok(EventTime::in_zone(local, zone, source));
    }
    if let Ok(at) = parse_offset_time(value) {
        return Ok(EventTime::with_offset(at));
    }
    const EXPECTED: &str = "ISO-8601 date-time, with or without UTC offset";
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|format| parse_local_time(value, format, EXPECTED).ok())
    .ok_or_else(|| TimeError {
        value: value.to_owned(),
        expected: EXPECTED,
    })?;
    Ok(EventTime::in_zone(local, zone, source))
}

/// The estimated delivery; an unreadable one is left out (it is no event time).
fn estimated_delivery(value: &str, zone: Option<Tz>) -> Option<DateTime<Utc>> {
    let zone = (zone.unwrap_or(Tz::Europe__Berlin), ZoneSource::Assumed);
    event_time(value, zone).ok().map(|time| time.utc)
}

fn location(place: Option<&Place<'_>>) -> Location {
    let address = place.and_then(|place| place.address.as_ref());
    let owned = |part: Option<&Cow<'_, str>>| part.map(|text| text.to_string());
    Location {
        city: owned(address.and_then(|a| a.address_locality.as_ref())),
        postal_code: owned(address.and_then(|a| a.postal_code.as_ref())),
        country: owned(address.and_then(|a| a.country_code.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_text(code: &str, text: &str) -> (Status, Option<SubCode>) {
        decide(Code::parse(Some(code)), &text.to_lowercase(), None)
    }

    fn map(body: &str) -> Vec<CarrierEvent> {
        let raw = RawRecord {
            payload: body.as_bytes(),
            ..RawRecord::default()
        };
        Dhl.map(&raw).expect("maps")
    }

    /// DHL Express recycles waybill numbers and may answer with two shipments under one:
    /// the package is the newest, wherever it stands in the body.
    #[test]
    fn a_recycled_number_is_its_newest_shipment() {
        let shipment = |at: &str, code: &str, text: &str| {
            serde_json::json!({
                "id": "1234567890",
                "service": "express",
                "events": [{"timestamp": at, "statusCode": code, "description": text}],
            })
        };
        let old = shipment("2023-03-01T10:00:00+01:00", "delivered", "Delivered");
        let new = shipment("2024-06-10T08:00:00+02:00", "transit", "Shipment picked up");
        for shipments in [[&old, &new], [&new, &old]] {
            let events = map(&serde_json::json!({ "shipments": shipments }).to_string());
            let statuses: Vec<_> = events.iter().map(|e| (e.status, e.sub_status)).collect();
            assert_eq!(
                statuses,
                [(Status::InTransit, Some(SubCode::PickedUp))],
                "{shipments:?}"
            );
        }
    }

    /// The one event of a parcel-de shipment with a `statusDetailed`, as DHL Paket sends it.
    fn detailed(code: &str, detailed: &str, description: &str, flag: bool) -> CarrierEvent {
        let body = serde_json::json!({
            "id": "00340434161094042557",
            "service": "parcel-de",
            "returnFlag": flag,
            "events": [{
                "timestamp": "2026-10-06T15:37:00",
                "statusCode": code,
                "status": detailed.rsplit('_').next(),
                "statusDetailed": detailed,
                "description": description,
            }],
        });
        let mut events = map(&body.to_string());
        assert_eq!(events.len(), 1, "{detailed}");
        events.remove(0)
    }

    /// parcel-de's `statusDetailed` (`ICE_RIC_STD`) is read with DHL's ICE/RIC table, as
    /// the XML tracking's codes are: it says what the text does not.
    #[test]
    fn status_detailed_is_read_with_the_ice_ric_table() {
        use Status::*;
        use SubCode::*;
        let zugestellt = "Die Sendung wurde zugestellt.";
        let cases = [
            // SECPL and UNKNW captured (joethei/ha-dhl): the text says only "delivered".
            (
                "delivered",
                "DLVRD_SECPL_ZU",
                zugestellt,
                (Delivered, Some(SafePlace)),
            ),
            (
                "delivered",
                "DLVRD_NGHBR_ZU",
                zugestellt,
                (Delivered, Some(Neighbour)),
            ),
            ("delivered", "DLVRD_UNKNW_ZU", zugestellt, (Delivered, None)),
            // Captured: on the way to the locker is not in it yet.
            (
                "transit",
                "LDTMV_PCKST_PO",
                "Die Sendung befindet sich auf dem Weg zur Packstation.",
                (OutForDelivery, Some(OnVehicle)),
            ),
            (
                "transit",
                "HLDCC_LDPCK_LA",
                "Die Sendung liegt in der Packstation zur Abholung bereit.",
                (AvailableForPickup, Some(Locker)),
            ),
            // The reason from the RIC, where the text has none.
            (
                "failure",
                "NTDEL_NHOME_ZN",
                "Die Sendung konnte nicht zugestellt werden.",
                (DeliveryFailed, Some(RecipientAbsent)),
            ),
            // The sub-code from the text, where the RIC has none.
            (
                "delivered",
                "DLVRD_UNKNW_ZU",
                "Die Sendung wurde an einen Nachbarn zugestellt.",
                (Delivered, Some(Neighbour)),
            ),
            // Handed to customs under `delivered`: not at the recipient.
            (
                "delivered",
                "DLVRD_CUSTM_ZU",
                zugestellt,
                (InTransit, Some(CustomsProcessing)),
            ),
        ];
        for (code, codes, text, want) in cases {
            let event = detailed(code, codes, text, false);
            assert_eq!((event.status, event.sub_status), want, "{codes}");
            assert_eq!(
                event
                    .codes
                    .last()
                    .map(|c| (c.name.as_ref(), c.value.as_str())),
                Some(("statusDetailed", codes))
            );
        }
        // Stopped by the sender: its owner is the shipper, as the RIC says.
        let held = detailed(
            "transit",
            "ADVIS_STBSD_DD",
            "Die Sendung wurde gestoppt.",
            false,
        );
        assert_eq!(
            (held.status, held.sub_status),
            (Exception, Some(SubCode::Held))
        );
        assert_eq!(held.reason_owner, ReasonOwner::Shipper);
        // A data-service notice says nothing about where the parcel is.
        let notice = detailed(
            "transit",
            "ADVIS_PFLOC_DD",
            "Für diese Sendung wurde ein Ablageort als Empfangsoption vorgemerkt.",
            false,
        );
        assert!(notice.info && notice.status == Unknown, "{notice:?}");
        // The driver deleted the previous scan.
        let storno = detailed("transit", "STORN_NRQRD_AA", "Storno", false);
        assert_eq!(storno.correction, Some(Correction::Latest));
        // `returnFlag`: a delivery is back at the sender, progress is on the way back.
        let back = detailed("delivered", "DLVRD_ACCPT_ZU", zugestellt, true);
        assert_eq!(
            (back.status, back.sub_status),
            (ReturnedToSender, Some(Received))
        );
        let loaded = detailed("transit", "SRTED_NRQRD_PO", "Zustellfahrzeug", true);
        assert_eq!(loaded.status, ReturningToSender);
    }

    /// parcel-de's `status` is its 2-letter standard event code (joethei/ha-dhl's scans,
    /// modelled on a real shipment, often carry nothing else): it speaks where the text names
    /// nothing, within what the status code admits.
    #[test]
    fn a_standard_code_as_status_speaks_where_the_text_names_nothing() {
        use Status::*;
        let scan = |code: &str, status: &str, description: Option<&str>| {
            let body = serde_json::json!({
                "id": "00340434161094042557",
                "service": "parcel-de",
                "events": [{
                    "timestamp": "2026-09-23T08:24:00",
                    "statusCode": code,
                    "status": status,
                    "description": description,
                }],
            });
            let event = map(&body.to_string()).remove(0);
            (event.status, event.sub_status)
        };
        assert_eq!(scan("transit", "PO", None), (OutForDelivery, None));
        assert_eq!(
            scan("transit", "AA", None),
            (InTransit, Some(SubCode::Processing))
        );
        assert_eq!(scan("unknown", "PO", None), (OutForDelivery, None));
        assert_eq!(scan("delivered", "ZU", None), (Delivered, None));
        // The text first, where it names something.
        let region = Some("In der Region des Empfängers angekommen.");
        assert_eq!(
            scan("transit", "EE", region),
            (InTransit, Some(SubCode::AtDestinationDepot))
        );
        // Not what the status code admits, or not a standard code: as before.
        assert_eq!(scan("transit", "ZU", None), (InTransit, None));
        assert_eq!(scan("pre-transit", "PO", None), (InfoReceived, None));
        assert_eq!(scan("transit", "LA", None), (InTransit, None));
        assert_eq!(scan("transit", "Po", None), (InTransit, None));
        assert_eq!(scan("transit", "OK", None), (InTransit, None));
    }

    /// Any other `statusDetailed` (free text, another form, a code outside DHL's table)
    /// leaves the status code and text to decide; it is kept as a raw code.
    #[test]
    fn other_status_detailed_leaves_code_and_text_to_decide() {
        let loaded = "Die Sendung wurde in das Zustellfahrzeug geladen.";
        let want = (Status::OutForDelivery, Some(SubCode::OnVehicle));
        for other in [
            "Auf dem Weg zur Zustellbasis",
            "ZZZZZ_NRQRD_LA",
            "SRTED_NRQRD",
            "srted_nrqrd_po",
            "SRTED_NRQRD_PO_X",
            "SRTED__PO",
        ] {
            let event = detailed("transit", other, loaded, false);
            assert_eq!((event.status, event.sub_status), want, "{other}");
            assert_eq!(event.codes.last().map(|c| c.value.as_str()), Some(other));
        }
        // Under `pre-transit` the text could not make it out for delivery; nor can a code
        // the table does not know.
        let event = detailed("pre-transit", "ZZZZZ_NRQRD_LA", loaded, false);
        assert_eq!(event.status, Status::InfoReceived);
    }

    /// What the remembered decision gives, the first time and again, is what deciding
    /// afresh gives: for each code and text, a missing text and an empty one apart.
    #[test]
    fn remembered_decisions_are_the_decisions() {
        let text = |t: &str| Some(Cow::Owned(t.to_owned()));
        let texts = [
            (None, text("Delivered")),
            (text(""), text("Delivered")),
            (text("Delivered"), None),
            (
                text("transit"),
                text("The shipment has been returned to the sender"),
            ),
            (None, text("Zugestellt an Nachbar")),
            (None, text("The recipient was not at home")),
            (None, text("Out for delivery")),
            // parcel-de's standard codes as `status`.
            (text("PO"), None),
            (text("ZU"), text("Die Sendung wurde zugestellt.")),
        ];
        let codes = [
            Some("pre-transit"),
            Some("transit"),
            Some("delivered"),
            Some("failure"),
            None,
        ];
        for round in 0..2 {
            for (status, description) in &texts {
                for code in codes {
                    let event = Event {
                        timestamp: Cow::Borrowed("2024-06-10T07:03:00"),
                        location: None,
                        status_code: code.map(Cow::Borrowed),
                        status_detailed: None,
                        status: status.clone(),
                        description: description.clone(),
                        remark: None,
                    };
                    let code = Code::parse(code);
                    let mut fresh = String::new();
                    lower_text(&event, &mut fresh);
                    assert_eq!(
                        decide_remembered(code, &event, &mut String::new()),
                        decide(code, &fresh, standard_code(&event)),
                        "round {round}: {code:?} {status:?} {description:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn transit_text_finds_out_for_delivery_in_both_languages() {
        let want = (Status::OutForDelivery, Some(SubCode::OnVehicle));
        assert_eq!(
            decide_text(
                "transit",
                "The shipment has been loaded onto the delivery vehicle"
            ),
            want
        );
        assert_eq!(
            decide_text(
                "transit",
                "Die Sendung wurde in das Zustellfahrzeug geladen."
            ),
            want
        );
        assert_eq!(
            decide_text("transit", "Die Sendung ist in Zustellung."),
            want
        );
    }

    #[test]
    fn ready_for_pickup_takes_its_place_from_the_text() {
        assert_eq!(
            decide_text(
                "transit",
                "Die Sendung liegt in der PACKSTATION 157 in 53113 Bonn zur Abholung bereit."
            ),
            (Status::AvailableForPickup, Some(SubCode::Locker))
        );
        assert_eq!(
            decide_text(
                "transit",
                "The shipment is ready for pick-up at the retail outlet."
            ),
            (Status::AvailableForPickup, Some(SubCode::PostOffice))
        );
        assert_eq!(
            decide_text("transit", "Die Sendung ist abholbereit."),
            (Status::AvailableForPickup, None)
        );
    }

    #[test]
    fn failure_reasons_are_read_in_english_and_german() {
        let cases = [
            (
                "Der Empfänger wurde nicht angetroffen.",
                SubCode::RecipientAbsent,
            ),
            ("The recipient was not present.", SubCode::RecipientAbsent),
            (
                "Die Annahme der Sendung wurde verweigert.",
                SubCode::Refused,
            ),
            (
                "The recipient refused to accept the shipment.",
                SubCode::Refused,
            ),
            (
                "Adressfehler: Empfänger nicht zu ermitteln.",
                SubCode::AddressIssue,
            ),
            ("The address is incomplete.", SubCode::AddressIssue),
        ];
        for (text, sub) in cases {
            assert_eq!(
                decide_text("failure", text),
                (Status::DeliveryFailed, Some(sub)),
                "{text}"
            );
        }
        assert_eq!(
            decide_text("failure", "Die Sendung konnte nicht zugestellt werden."),
            (Status::DeliveryFailed, None)
        );
    }

    /// The wordings of DHL's `failure` definition ("could not be delivered … no name on
    /// doorbell; recipient moved; recipient not found … customs, expired (not picked up
    /// from service point), returned") and its short statuses (reference §2.1, §2.2).
    #[test]
    fn the_failure_definition_and_short_statuses_are_read() {
        use Status::*;
        let cases = [
            (
                "failure",
                "The shipment could not be delivered. No name on doorbell.",
                DeliveryFailed,
                Some(SubCode::AddressIssue),
            ),
            (
                "failure",
                "Die Sendung konnte nicht zugestellt werden, da der Name nicht am Briefkasten steht.",
                DeliveryFailed,
                Some(SubCode::AddressIssue),
            ),
            (
                "failure",
                "The shipment could not be delivered. Recipient not found.",
                DeliveryFailed,
                Some(SubCode::AddressIssue),
            ),
            (
                "failure",
                "Recipient moved",
                Exception,
                Some(SubCode::RecipientMoved),
            ),
            (
                "failure",
                "The shipment could not be delivered due to customs.",
                Exception,
                Some(SubCode::CustomsHold),
            ),
            (
                "failure",
                "Expired: the consignee did not pick up the shipment from the service point.",
                Exception,
                Some(SubCode::PickupMissed),
            ),
            (
                "failure",
                "The shipment was not picked up from the service point.",
                Exception,
                Some(SubCode::PickupMissed),
            ),
            (
                "failure",
                "Shipment will be returned to origin",
                ReturningToSender,
                None,
            ),
            ("transit", "Return to Origin", ReturningToSender, None),
            (
                "transit",
                "The shipment is being returned.",
                ReturningToSender,
                None,
            ),
            (
                "transit",
                "The storage period has expired. The shipment is being returned.",
                ReturningToSender,
                Some(SubCode::NotCollected),
            ),
            (
                "transit",
                "In delivery",
                OutForDelivery,
                Some(SubCode::OnVehicle),
            ),
            (
                "transit",
                "Posting at PACKSTATION",
                InTransit,
                Some(SubCode::DroppedOff),
            ),
            (
                "transit",
                "The shipment has been posted by sender at a PACKSTATION",
                InTransit,
                Some(SubCode::DroppedOff),
            ),
            (
                "delivered",
                "The return shipment has been delivered to the sender.",
                ReturnedToSender,
                Some(SubCode::Received),
            ),
        ];
        for (code, text, status, sub) in cases {
            assert_eq!(decide_text(code, text), (status, sub), "{code}: {text}");
        }
        // A sender's pickup that failed is not a missed collection by the recipient.
        assert_eq!(
            decide_text("failure", "The shipment could not be picked up."),
            (Exception, Some(SubCode::PickupFailed))
        );
    }

    #[test]
    fn not_picked_up_from_the_sender_is_not_a_missed_collection() {
        assert_eq!(
            decide_text("failure", "Die Sendung konnte nicht abgeholt werden."),
            (Status::Exception, Some(SubCode::PickupFailed))
        );
        assert_eq!(
            decide_text("failure", "Die Sendung wurde vom Empfänger nicht abgeholt."),
            (Status::Exception, Some(SubCode::PickupMissed))
        );
    }

    #[test]
    fn return_texts_take_the_reason_as_sub_code() {
        assert_eq!(
            decide_text(
                "transit",
                "Die Annahme wurde verweigert. Die Sendung wird an den Absender zurückgesandt."
            ),
            (Status::ReturningToSender, Some(SubCode::Refused))
        );
        assert_eq!(
            decide_text(
                "failure",
                "Die Sendung wurde innerhalb der Lagerfrist nicht abgeholt. Rücksendung an den Absender."
            ),
            (Status::ReturningToSender, Some(SubCode::NotCollected))
        );
        assert_eq!(
            decide_text(
                "failure",
                "The shipment was not collected within the storage period."
            ),
            (Status::Exception, Some(SubCode::PickupMissed))
        );
    }

    #[test]
    fn delivered_with_a_return_text_is_back_at_the_sender() {
        assert_eq!(
            decide_text(
                "delivered",
                "Die Rücksendung wurde an den Absender zugestellt."
            ),
            (Status::ReturnedToSender, Some(SubCode::Received))
        );
    }

    #[test]
    fn delivered_sub_codes_come_from_the_text() {
        assert_eq!(
            decide_text(
                "delivered",
                "Die Sendung wurde an einen Nachbarn zugestellt."
            ),
            (Status::Delivered, Some(SubCode::Neighbour))
        );
        assert_eq!(
            decide_text(
                "delivered",
                "Die Sendung wurde aus der PACKSTATION abgeholt."
            ),
            (Status::Delivered, Some(SubCode::CollectedAtPickupPoint))
        );
        assert_eq!(
            decide_text("delivered", "The shipment has been successfully delivered"),
            (Status::Delivered, None)
        );
    }

    #[test]
    fn a_code_limits_what_its_text_may_say() {
        // Karrio's sample: `pre-transit` with the word "DELIVERED" in its status.
        assert_eq!(
            decide_text("pre-transit", "DELIVERED | JESSICA"),
            (Status::InfoReceived, None)
        );
        // `transit` never becomes delivered from its text, `unknown` never terminal.
        assert_eq!(
            decide_text("transit", "Die Sendung wurde beim Nachbarn abgegeben."),
            (Status::InTransit, None)
        );
        assert_eq!(
            decide_text("unknown", "The shipment has been successfully delivered"),
            (Status::Unknown, None)
        );
    }

    #[test]
    fn unknown_and_unrecognised_codes_use_the_text_or_stay_unknown() {
        assert_eq!(
            decide_text("unknown", "Shipment is out with courier for delivery"),
            (Status::OutForDelivery, Some(SubCode::OnVehicle))
        );
        assert_eq!(
            decide_text("out-for-delivery", "Status 4711"),
            (Status::Unknown, None)
        );
        assert_eq!(decide_text("", "JESSICA"), (Status::Unknown, None));
    }

    #[test]
    fn failure_without_a_reason_is_a_failed_attempt_and_customs_an_exception() {
        assert_eq!(
            decide_text("failure", "Unerwartetes Ereignis"),
            (Status::DeliveryFailed, None)
        );
        assert_eq!(
            decide_text("failure", "The shipment is being held by customs."),
            (Status::Exception, Some(SubCode::CustomsHold))
        );
        assert_eq!(
            decide_text("transit", "Customs clearance status updated."),
            (Status::InTransit, Some(SubCode::CustomsProcessing))
        );
    }

    #[test]
    fn return_flag_applies_from_the_turn_of_the_return() {
        let body = r#"{"shipments":[{"id":"00340434292135100124","returnFlag":true,
            "destination":{"address":{"countryCode":"DE"}},
            "events":[
              {"timestamp":"2023-10-26T12:08:00","statusCode":"delivered","status":"The shipment has been successfully delivered"},
              {"timestamp":"2023-10-24T09:00:00","statusCode":"transit","status":"The shipment has been processed in the parcel center"},
              {"timestamp":"2023-10-23T10:00:00","statusCode":"failure","status":"The recipient refused to accept the shipment"},
              {"timestamp":"2023-10-22T07:00:00","statusCode":"transit","status":"The shipment has been loaded onto the delivery vehicle"}
            ]}]}"#;
        let statuses: Vec<_> = map(body).iter().map(|e| (e.status, e.sub_status)).collect();
        assert_eq!(
            statuses,
            [
                (Status::ReturnedToSender, Some(SubCode::Received)),
                (Status::ReturningToSender, None),
                (Status::ReturningToSender, Some(SubCode::Refused)),
                (Status::OutForDelivery, Some(SubCode::OnVehicle)),
            ]
        );
    }

    #[test]
    fn return_flag_without_a_turn_makes_every_transit_event_returning() {
        let body = r#"{"id":"JJD0001","returnFlag":true,
            "status":{"timestamp":"2024-05-02T10:00:00+02:00","statusCode":"transit","status":"In transit"}}"#;
        let events = map(body);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, Status::ReturningToSender);
    }

    #[test]
    fn local_times_take_the_zone_of_the_event_country_then_of_the_destination() {
        // Without an event country the destination's zone is the location's.
        let body = r#"{"id":"1","destination":{"address":{"countryCode":"AT"}},
            "events":[{"timestamp":"2024-07-01T10:00:00","statusCode":"transit"}]}"#;
        let time = &map(body)[0].time;
        assert_eq!(time.zone.as_deref(), Some("Europe/Vienna"));
        assert_eq!(time.zone_source, ZoneSource::Location);
        let body = r#"{"shipments":[{"id":"1","destination":{"address":{"countryCode":"GB"}},
            "events":[
              {"timestamp":"2024-07-01T10:00:00","statusCode":"transit","location":{"address":{"countryCode":"NL"}}},
              {"timestamp":"2024-07-01T09:00:00","statusCode":"transit","location":{"address":{"countryCode":"US"}}},
              {"timestamp":"2024-07-01T08:00:00+02:00","statusCode":"transit"}
            ]}]}"#;
        let events = map(body);
        let zones: Vec<_> = events
            .iter()
            .map(|e| (e.time.zone.as_deref(), e.time.zone_source))
            .collect();
        assert_eq!(
            zones,
            [
                (Some("Europe/Amsterdam"), ZoneSource::Location),
                // A US event: the destination's zone is only an assumption for it.
                (Some("Europe/London"), ZoneSource::Assumed),
                (Some("+02:00"), ZoneSource::PayloadOffset),
            ]
        );
        assert_eq!(events[0].time.utc.to_rfc3339(), "2024-07-01T08:00:00+00:00");
    }

    #[test]
    fn without_any_country_berlin_is_assumed() {
        let body =
            r#"{"id":"1","events":[{"timestamp":"2024-01-15T10:00:00","statusCode":"transit"}]}"#;
        let time = &map(body)[0].time;
        assert_eq!(time.zone_source, ZoneSource::Assumed);
        assert_eq!(time.utc.to_rfc3339(), "2024-01-15T09:00:00+00:00");
    }

    #[test]
    fn the_status_object_is_used_only_when_there_are_no_events() {
        let body = r#"{"shipments":[{"id":"1",
            "status":{"timestamp":"2018-03-02T07:53:47Z","statusCode":"transit"},
            "events":[{"timestamp":"2018-03-02T07:53:47","statusCode":"transit"}]}]}"#;
        assert_eq!(map(body).len(), 1);
    }

    #[test]
    fn not_found_is_nothing_to_map_and_other_problems_are_poison_with_their_detail() {
        let raw = RawRecord {
            payload: br#"{"title":"No result found","detail":"No shipment with given tracking number found.","status":404}"#,
            ..RawRecord::default()
        };
        assert_eq!(Dhl.map(&raw), Ok(Vec::new()));
        let raw = RawRecord {
            payload: br#"{"title":"Unauthorized","detail":"Invalid API key.","status":401}"#,
            ..RawRecord::default()
        };
        let error = Dhl.map(&raw).expect_err("poison");
        assert_eq!(error.class(), "shape");
        assert!(error.to_string().contains("401 Unauthorized"), "{error}");
    }

    #[test]
    fn an_object_that_is_no_shipment_is_poison() {
        let raw = RawRecord {
            payload: br#"{"hello":"world"}"#,
            ..RawRecord::default()
        };
        assert_eq!(Dhl.map(&raw).map_err(|e| e.class()), Err("shape"));
    }

    proptest::proptest! {
        /// The pull read gives what the `Value` read gives for edited fixtures too (most
        /// edits break the body, some leave odd but valid JSON).
        #[test]
        fn pull_read_equals_the_value_read_for_edited_fixtures(
            body in crate::carriers::mutated_fixture("dhl", "json")
        ) {
            if let Some(pulled) = pull::read(&body) {
                proptest::prop_assert_eq!(
                    format!("{:?}", Ok::<_, MapError>(pulled)),
                    format!("{:?}", shipments_from_value(&body)),
                    "{}", body
                );
            }
        }
    }

    /// The pull read gives what the `Value` read gives, for every fixture and odd shape.
    #[test]
    fn pull_read_equals_the_value_read() {
        let mut bodies: Vec<String> = crate::carriers::fixture_bodies("dhl", "json")
            .into_iter()
            .map(|(_, body)| body)
            .collect();
        let fixtures = bodies.len();
        assert!(fixtures >= 10);
        let event = r#"{"timestamp":"2024-05-02T10:00:00","statusCode":"transit"}"#;
        bodies.extend([
            r#"{"id":null,"returnFlag":true}"#.to_owned(),
            r#"{"status":null}"#.to_owned(),
            r#"{"events":null,"id":7}"#.to_owned(),
            r#"{"id":1.5e3,"events":[]}"#.to_owned(),
            r#"{"id":-12,"events":[]}"#.to_owned(),
            r#"{"id":18446744073709551616,"events":[]}"#.to_owned(),
            r#"{"shipments":null,"id":"1"}"#.to_owned(),
            r#"{"shipments":{},"id":"1"}"#.to_owned(),
            r#"{"shipments":[],"status":404}"#.to_owned(),
            r#"{"status":404,"title":"Not Found"}"#.to_owned(),
            r#"{"status":"delivered"}"#.to_owned(),
            r#"{"id":"1","id":"2"}"#.to_owned(),
            r#"{"shipments":[{"id":"1"}],"shipments":[{"id":"2"}]}"#.to_owned(),
            r#"{"other":1}"#.to_owned(),
            r#"[]"#.to_owned(),
            r#"[{"id":"1"},{"id":2}]"#.to_owned(),
            r#"[{"id":"1"},"x"]"#.to_owned(),
            r#"  {"id":"1"}  "#.to_owned(),
            r#"{"id":"1"} x"#.to_owned(),
            r#""text""#.to_owned(),
            String::new(),
            format!(r#"{{"id":"1","status":{event},"events":[{event},{event}]}}"#),
            format!(r#"{{"shipments":[{{"id":"1","events":[{event}]}}],"url":"/x"}}"#),
            // Escapes, in texts and keys; control characters; odd numbers and types.
            r#"{"id":"a\"b\u00fc\\","events":[{"timestamp":"2024-05-02T10:00:00","description":"Zugestellt an M\u00fcller \ud83d\udce6"}]}"#.to_owned(),
            r#"{"id":"1","events":[{"timestamp":"2024-05-02T10:00:00","st\u0061tusCode":"delivered"}]}"#.to_owned(),
            r#"{"\u0069d":"1","events":[]}"#.to_owned(),
            "{\"id\":\"1\u{1}\",\"events\":[]}".to_owned(),
            r#"{"id":"1\x","events":[]}"#.to_owned(),
            r#"{"id":"1\ud800","events":[]}"#.to_owned(),
            r#"{"id":true,"events":[]}"#.to_owned(),
            r#"{"id":01,"events":[]}"#.to_owned(),
            r#"{"id":-0,"events":[]}"#.to_owned(),
            r#"{"id":1E5,"events":[]}"#.to_owned(),
            r#"{"id":"1","returnFlag":"yes"}"#.to_owned(),
            r#"{"id":"1","returnFlag":null,"origin":null,"destination":{"address":null}}"#.to_owned(),
            r#"{"id":"1","destination":{"address":{"countryCode":"DE","countryCode":"AT"}}}"#.to_owned(),
            r#"{"id":"1","destination":{"address":{"countryCode":7}}}"#.to_owned(),
            r#"{"id":"1","events":[{"timestamp":null}]}"#.to_owned(),
            r#"{"id":"1","events":[{"statusCode":"transit"}]}"#.to_owned(),
            r#"{"id":"1","events":[{"timestamp":"2024-05-02T10:00:00","remark":"a","remark":"b"}]}"#.to_owned(),
            r#"{"id":"1","events":[{"timestamp":"2024-05-02T10:00:00","location":{"address":{"postalCode":"53113"},"x":[1,{"y":null}]}}]}"#.to_owned(),
            r#"{"id":"1","events":[{"timestamp":"2024-05-02T10:00:00"},]}"#.to_owned(),
            r#"{"id":"1","events":[{"timestamp":"2024-05-02T10:00:00"}]"#.to_owned(),
            r#"{"id":"1","events":[{"timestamp":"2024-05-02T10:00:00"}]}}"#.to_owned(),
            r#"{"id":"1","other":NaN}"#.to_owned(),
            r#"{"id":"1","status":{"timestamp":"2024-05-02T10:00:00"},"status":null}"#.to_owned(),
            r#"[{"id":"1","shipments":[{"id":"2"}]}]"#.to_owned(),
        ]);
        for (i, body) in bodies.iter().enumerate() {
            let reference = shipments_from_value(body);
            assert_eq!(
                format!("{:?}", shipments(body)),
                format!("{reference:?}"),
                "{body}"
            );
            // Every fixture with shipments takes the pull read (a not-found problem body
            // is left to the `Value` read).
            if i < fixtures && reference.as_ref().is_ok_and(|found| !found.is_empty()) {
                assert!(pull::read(body).is_some(), "{body}");
            }
        }
        // The one difference, as serde's typed read had it: a number beyond `f64` in a
        // field the mapping never reads is skipped, where a `Value` could not hold it.
        let body = r#"{"id":"1","other":[1e400]}"#;
        assert!(shipments_from_value(body).is_err());
        assert_eq!(shipments(body).map(|s| s.len()), Ok(1));
    }

    /// From a captured DHL Express response: two events without a code, same minute and
    /// place, are two events (their texts tell them apart), not one and its duplicate.
    #[test]
    fn events_without_a_code_are_told_apart_by_their_text() {
        let body = r#"{"shipments":[{"id":"9750874965","service":"express","events":[
            {"timestamp":"2021-05-05T19:29:00","location":{"address":{"addressLocality":"KARACHI - PAKISTAN"}},"description":"Shipment Accepted"},
            {"timestamp":"2021-05-05T19:29:00","location":{"address":{"addressLocality":"KARACHI - PAKISTAN"}},"description":"Shipment picked up"}]}]}"#;
        let ids: Vec<_> = map(body)
            .into_iter()
            .map(|event| {
                crate::domain::ShipmentEvent::from_carrier("dhl", event)
                    .expect("identity")
                    .id
            })
            .collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
    }

    /// parcel-de's German descriptions carry HTML links (captured: `joethei/ha-dhl`,
    /// `TA2k/ioBroker.parcel#22`): a link's address names no place for the classification.
    #[test]
    fn html_tags_are_not_read_as_text() {
        let body = |place: &str| {
            format!(
                r#"{{"shipments":[{{"id":"00340434161094042557","service":"parcel-de","events":[{{"timestamp":"2024-06-10T10:00:00","statusCode":"transit","description":"Die Sendung liegt in der <a href='https://www.dhl.de/de/privatkunden/dhl-standorte-finden.html?address=27472:205&preferPackstation=true' class='arrowLink' target='_blank'><span class='arrow'></span>{place}</a> zur Abholung bereit."}}]}}]}}"#
            )
        };
        let sub = |place: &str| map(&body(place))[0].sub_status;
        assert_eq!(sub("Filiale 512, Hauptstr. 3"), Some(SubCode::PostOffice));
        assert_eq!(sub("Packstation 205, Cuxhaven"), Some(SubCode::Locker));
        assert_eq!(without_tags("a <b>b</b> c < d"), "a b c < d");
    }
}
