//! DHL Paket Germany: "DHL Parcel DE Tracking (Post & Parcel Germany)", the XML tracking
//! API (`request="d-get-piece-detail"`, also `d-get-piece` and
//! `d-get-piece-events`), as in the reference §2.2:
//! Karrio's `dpdhl`/`dhl_parcel_de` sample response, and DHL's ICE/RIC/event-code table
//! `parcel_de_ice_event_ric_combinations_July_2024.csv` (Karrio
//! `modules/connectors/dhl_parcel_de/vendors/`) for the codes beyond the reference's sample.
//!
//! One body is a `<data name="piece-shipment-list">` of `<data name="piece-shipment">`
//! elements, each with a `piece-event-list` of `<data name="piece-event">` elements. All
//! values are attributes. A list `code` other than `0` is an error answer: "no data" (100,
//! 200) has nothing to report, others (log-in failed...) are poison. A piece with an
//! `error-status`/`piece-status` other than `0` is left out. A piece without events (the
//! `d-get-piece` answer) reports its current status as one event. DHL reuses piece codes: a
//! code given twice in one answer is the package of its newest use only.
//!
//! Each event is mapped by its ICE event code, refined by its RIC reason code and the TTPRO
//! `standard-event-code` ([`map_codes`]); an ICE not in DHL's table falls back to the
//! documented standard event code alone. Data-service notices (standard code `DD`) and money
//! transfers (`GT`) say nothing about where the parcel is: they are info events; `STORN`
//! (the driver deleted the previous event) is a correction. Anything else undocumented takes a
//! non-terminal status from its text when the text names one ([`dhl_text`](super::dhl_text)), else
//! it is [`Status::Unknown`].
//!
//! `ruecksendung="true"` marks an event of a return to sender: a delivery is then
//! `RETURNED_TO_SENDER.received` and progress on the way `RETURNING_TO_SENDER`. A delivery
//! (`DLVRD`/`ACCPT` or `OTHER`) takes its sub-code from the piece's `recipient-id-text`
//! ("Nachbar" → neighbour, "Bevollmächtigter" → agent, "Empfänger (orig.)" → recipient),
//! else ACCPT is `recipient` and OTHER ("another person") `agent`.
//!
//! The `get-status-for-public-user` answer (`piece-status-public-list` of
//! `piece-status-public`, its events direct children, `last-event-timestamp`) reads the same,
//! and so does the `d-get-piece-events` answer (the events of one piece as the root
//! `piece-event-list`, with the list's `code`; its number is the record key's).
//!
//! Times are `dd.MM.yyyy HH:mm`, German local time without offset: read in Europe/Berlin
//! ([`ZoneSource::CarrierDefault`]).

use super::dhl_text::{NON_TERMINAL, classify_text, sub_from_text};
use super::{Carrier, MapError, RawRecord, newest_uses};
use crate::domain::{
    CarrierEvent, Correction, EventTime, Location, ReasonOwner, Status, SubCode, TimeError,
    TrackingNumber, ZoneSource, parse_local_time,
};
use chrono_tz::Tz;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// The `dhl_parcel_de` carrier: DHL Parcel DE (Post & Parcel Germany) XML tracking.
pub struct DhlParcelDe;

impl Carrier for DhlParcelDe {
    fn id(&self) -> &'static str {
        "dhl_parcel_de"
    }

    fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        let root = Data::read(raw.text()?)?;
        let mut lists = Vec::new();
        root.find("piece-shipment-list", &mut lists);
        root.find("piece-status-public-list", &mut lists);
        // `d-get-piece-events` answers with the events of one piece as the root list.
        let events_only = root.name == "piece-event-list";
        if events_only {
            lists.push(&root);
        }
        for list in &lists {
            match list.code.as_deref().map(str::trim) {
                None | Some("0") => {}
                Some("100" | "200") => return Ok(Vec::new()),
                Some(code) => {
                    return Err(MapError::Shape(format!(
                        "DHL Parcel DE answered code {code}: {}",
                        list.error.as_deref().unwrap_or("no error text")
                    )));
                }
            }
        }
        let mut pieces = Vec::new();
        root.find("piece-shipment", &mut pieces);
        root.find("piece-status-public", &mut pieces);
        if lists.is_empty() && pieces.is_empty() {
            return Err(MapError::Shape(
                "no `data` element named `piece-shipment-list`, `piece-shipment`, \
                 `piece-status-public-list`, `piece-status-public` or `piece-event-list`"
                    .to_owned(),
            ));
        }
        if events_only {
            // Its `piece-identifier` lacks the piece code's leading `00`: the number is the
            // record key's.
            return piece_events(&root, raw.key_tracking_number()?);
        }
        // DHL reuses piece codes (captured: a 2010 and a 2011 shipment in one answer).
        let mut uses = Vec::with_capacity(pieces.len());
        for piece in pieces.into_iter().filter(|piece| piece.is_found()) {
            let tracking = match value(&piece.piece_code).or(value(&piece.piece_identifier)) {
                Some(number) => TrackingNumber::parse(number)?,
                None => raw.key_tracking_number()?,
            };
            uses.push(piece_events(piece, tracking)?);
        }
        Ok(newest_uses(uses))
    }
}

/// Every element of the answer is a `<data name="...">` with attributes; one struct reads
/// them all (only the attributes the mapping uses).
#[derive(Debug, Default)]
struct Data {
    name: String,
    code: Option<String>,
    error: Option<String>,
    error_status: Option<String>,
    piece_status: Option<String>,
    piece_code: Option<String>,
    piece_identifier: Option<String>,
    status_timestamp: Option<String>,
    /// The public-user answer's name for it.
    last_event_timestamp: Option<String>,
    status: Option<String>,
    short_status: Option<String>,
    delivery_event_flag: Option<String>,
    /// Who took the piece ("Nachbar", "different person present"): its current delivery.
    recipient_id_text: Option<String>,
    event_timestamp: Option<String>,
    event_status: Option<String>,
    event_text: Option<String>,
    event_short_status: Option<String>,
    event_location: Option<String>,
    event_country: Option<String>,
    ice: Option<String>,
    ric: Option<String>,
    standard_event_code: Option<String>,
    ruecksendung: Option<String>,
    /// The child elements named `data`.
    children: Vec<Data>,
}

/// A finished element goes to its parent, or is the root.
fn close(data: Data, open: &mut [Data], root: &mut Option<Data>) {
    match open.last_mut() {
        Some(parent) => parent.children.push(data),
        None => *root = Some(data),
    }
}

/// An attribute the mapping reads, given twice in one element.
fn repeated(attribute: &quick_xml::events::attributes::Attribute<'_>) -> MapError {
    MapError::Syntax(format!(
        "attribute `{}` is repeated",
        String::from_utf8_lossy(attribute.key.as_ref())
    ))
}

/// Malformed XML (quick-xml's reader, attribute and escape errors).
fn syntax(error: impl std::fmt::Display) -> MapError {
    MapError::Syntax(error.to_string())
}

impl Data {
    /// Reads the document's root element (whatever its name) and its `data` descendants;
    /// other elements are skipped with everything inside them, text is ignored. A pull
    /// parser: quick-xml's serde deserializer did the same at about four times the cost
    /// (namespace resolution, a map of attribute names per element).
    fn read(text: &str) -> Result<Self, MapError> {
        let mut reader = Reader::from_str(text);
        let mut open: Vec<Data> = Vec::new();
        let mut root = None;
        // Depth inside an element that is not read.
        let mut skipped = 0usize;
        loop {
            let (element, empty) = match reader.read_event().map_err(syntax)? {
                Event::Start(element) => (element, false),
                Event::Empty(element) => (element, true),
                Event::End(_) => {
                    if skipped > 0 {
                        skipped -= 1;
                    } else if let Some(done) = open.pop() {
                        close(done, &mut open, &mut root);
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let read = skipped == 0
                && root.is_none()
                && (open.is_empty() || element.local_name().as_ref() == b"data");
            if !read {
                skipped += usize::from(!empty);
                continue;
            }
            let data = Self::of_element(&element)?;
            if empty {
                close(data, &mut open, &mut root);
            } else {
                open.push(data);
            }
        }
        match root {
            Some(root) if open.is_empty() && skipped == 0 => Ok(root),
            _ => Err(MapError::Syntax(
                "the document ends before its root element does".to_owned(),
            )),
        }
    }

    /// An element's attributes (the element itself: its children come later).
    fn of_element(element: &BytesStart<'_>) -> Result<Self, MapError> {
        let mut data = Self::default();
        let mut named = false;
        // quick-xml's own check for repeated attribute names compares every pair (a quarter
        // of the reading time for DHL's 25 attributes per element); a repeated attribute the
        // mapping reads is refused below, the others do not matter.
        for attribute in element.attributes().with_checks(false) {
            let attribute = attribute.map_err(syntax)?;
            let slot = match attribute.key.as_ref() {
                b"name" if named => return Err(repeated(&attribute)),
                b"name" => {
                    named = true;
                    data.name = attribute.unescape_value().map_err(syntax)?.into_owned();
                    continue;
                }
                b"code" => &mut data.code,
                b"error" => &mut data.error,
                b"error-status" => &mut data.error_status,
                b"piece-status" => &mut data.piece_status,
                b"piece-code" => &mut data.piece_code,
                b"piece-identifier" => &mut data.piece_identifier,
                b"status-timestamp" => &mut data.status_timestamp,
                b"last-event-timestamp" => &mut data.last_event_timestamp,
                b"status" => &mut data.status,
                b"short-status" => &mut data.short_status,
                b"delivery-event-flag" => &mut data.delivery_event_flag,
                b"recipient-id-text" => &mut data.recipient_id_text,
                b"event-timestamp" => &mut data.event_timestamp,
                b"event-status" => &mut data.event_status,
                b"event-text" => &mut data.event_text,
                b"event-short-status" => &mut data.event_short_status,
                b"event-location" => &mut data.event_location,
                b"event-country" => &mut data.event_country,
                b"ice" => &mut data.ice,
                b"ric" => &mut data.ric,
                b"standard-event-code" => &mut data.standard_event_code,
                b"ruecksendung" => &mut data.ruecksendung,
                _ => continue,
            };
            if slot.is_some() {
                return Err(repeated(&attribute));
            }
            *slot = Some(attribute.unescape_value().map_err(syntax)?.into_owned());
        }
        Ok(data)
    }

    /// Collects this element and its descendants named `name`.
    fn find<'a>(&'a self, name: &str, found: &mut Vec<&'a Data>) {
        if self.name == name {
            found.push(self);
        }
        for child in &self.children {
            child.find(name, found);
        }
    }

    /// Whether a piece was found (no error status).
    fn is_found(&self) -> bool {
        let ok = |status: &Option<String>| status.as_deref().is_none_or(|s| s.trim() == "0");
        ok(&self.error_status) && ok(&self.piece_status)
    }
}

/// A non-empty, trimmed attribute value.
fn value(attribute: &Option<String>) -> Option<&str> {
    attribute
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// One event's attributes, from a `piece-event` or from the piece itself.
struct Fields<'a> {
    timestamp: Option<&'a str>,
    texts: [Option<&'a str>; 3],
    ice: Option<&'a str>,
    ric: Option<&'a str>,
    standard: Option<&'a str>,
    city: Option<&'a str>,
    country: Option<&'a str>,
    ruecksendung: Option<bool>,
}

impl<'a> Fields<'a> {
    fn of_event(event: &'a Data) -> Self {
        Self {
            timestamp: value(&event.event_timestamp),
            texts: [
                value(&event.event_text),
                value(&event.event_status),
                value(&event.event_short_status),
            ],
            ice: value(&event.ice),
            ric: value(&event.ric),
            standard: value(&event.standard_event_code),
            city: value(&event.event_location),
            country: value(&event.event_country),
            ruecksendung: value(&event.ruecksendung).map(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    fn of_piece(piece: &'a Data) -> Self {
        Self {
            timestamp: value(&piece.status_timestamp).or(value(&piece.last_event_timestamp)),
            texts: [value(&piece.status), value(&piece.short_status), None],
            ..Self::of_event(piece)
        }
    }

    /// An event with a time but neither codes nor text (DHL sends some) says nothing.
    fn is_skeletal(&self) -> bool {
        self.ice.is_none()
            && self.ric.is_none()
            && self.standard.is_none()
            && self.texts.iter().all(Option::is_none)
    }
}

/// The unified events of one found piece (or of a `d-get-piece-events` answer).
fn piece_events(piece: &Data, tracking: TrackingNumber) -> Result<Vec<CarrierEvent>, MapError> {
    let mut events = Vec::new();
    piece.find("piece-event", &mut events);
    let status_only = events.is_empty();
    let fields: Vec<Fields<'_>> = if status_only {
        let own = Fields::of_piece(piece);
        if own.timestamp.is_none() {
            return Ok(Vec::new());
        }
        vec![own]
    } else {
        events.into_iter().map(Fields::of_event).collect()
    };
    let piece = Piece {
        delivered_flag: status_only && value(&piece.delivery_event_flag) == Some("1"),
        recipient: value(&piece.recipient_id_text).map(str::to_lowercase),
    };
    let mut mapped = Vec::new();
    for fields in fields.iter().filter(|fields| !fields.is_skeletal()) {
        mapped.push(piece_event(&tracking, fields, &piece)?);
    }
    Ok(mapped)
}

/// What the piece says about its current status, for its events.
struct Piece {
    /// `delivery-event-flag` describes the piece's current status, i.e. its own event.
    delivered_flag: bool,
    /// `recipient-id-text`, lower-cased: who took the piece ("Nachbar").
    recipient: Option<String>,
}

/// One event as a unified event.
fn piece_event(
    tracking: &TrackingNumber,
    fields: &Fields<'_>,
    piece: &Piece,
) -> Result<CarrierEvent, MapError> {
    let timestamp = fields.timestamp.ok_or_else(|| {
        MapError::Shape(format!(
            "piece {tracking}: `piece-event` without `event-timestamp`"
        ))
    })?;
    let time = berlin_time(timestamp)?;
    let code = |code: Option<&str>| code.unwrap_or("").to_ascii_uppercase();
    let (ice, ric, standard) = (code(fields.ice), code(fields.ric), code(fields.standard));
    let text = fields
        .texts
        .iter()
        .flatten()
        .map(|text| text.to_lowercase())
        .collect::<Vec<_>>()
        .join(" | ");
    let (status, sub) = match map_codes(&ice, &ric, &standard) {
        Mapping::Info => {
            let event = CarrierEvent::info(tracking.clone(), time);
            return Ok(described(event, fields));
        }
        Mapping::Correction => {
            let event = CarrierEvent::correction(tracking.clone(), time, Correction::Latest);
            return Ok(described(event, fields));
        }
        Mapping::To(status, sub) => (status, sub.or_else(|| sub_from_text(&text, status))),
        Mapping::Unmapped if piece.delivered_flag => (Status::Delivered, None),
        Mapping::Unmapped => classify_text(&text, NON_TERMINAL).unwrap_or((Status::Unknown, None)),
    };
    let (status, sub) = match fields.ruecksendung {
        Some(true) => on_return(status, sub, &text),
        _ => (status, sub),
    };
    // The piece's `recipient-id-text` says who took its delivery (reference §2.2): a
    // neighbour, a representative (captured: "Bevollmächtigter" with ACCPT), the addressee
    // (captured: "Empfänger (orig.)" with OTHER). Else ACCPT stays `recipient`, OTHER `agent`.
    let sub = match (status, ric.as_str(), piece.recipient.as_deref()) {
        (Status::Delivered, "ACCPT" | "OTHER", Some(who)) => recipient_sub(who).or(sub),
        _ => sub,
    };
    let mut event = CarrierEvent::new(tracking.clone(), time, status, sub);
    if let Some(owner) = reason_owner(&ric) {
        event = event.reason_owner(owner);
    }
    Ok(described(event, fields))
}

/// Who owns the reason, for the RIC reasons whose owner the sub-code alone does not tell.
pub(super) fn reason_owner(ric: &str) -> Option<ReasonOwner> {
    match ric {
        "STBSD" | "HLDSR" => Some(ReasonOwner::Shipper),
        "FRMJR" => Some(ReasonOwner::ForceMajeure),
        _ => None,
    }
}

/// Who took a delivery, from DHL's `recipient-id-text` values, lower-cased as the piece
/// keeps them ("empfänger (orig.)", "ehegatte", "bevollmächtigter", "nachbar", "andere
/// anwesende person"...).
fn recipient_sub(who: &str) -> Option<SubCode> {
    if who.starts_with("empfänger") || who.starts_with("recipient") {
        return Some(SubCode::Recipient);
    }
    if ["ehegatte", "haushalt", "spouse", "household"]
        .iter()
        .any(|word| who.contains(word))
    {
        return Some(SubCode::Agent);
    }
    sub_from_text(who, Status::Delivered)
}

/// Adds the raw codes (in a stable order: they make the identity), text and place.
fn described(mut event: CarrierEvent, fields: &Fields<'_>) -> CarrierEvent {
    let codes = [
        ("ice", fields.ice),
        ("ric", fields.ric),
        ("standard-event-code", fields.standard),
    ];
    for (name, code) in codes {
        if let Some(code) = code {
            event = event.code(name, code);
        }
    }
    event
        .text(fields.texts.iter().flatten().next().copied())
        .location(Location {
            city: fields.city.map(str::to_owned),
            postal_code: None,
            country: fields.country.map(str::to_owned),
        })
}

/// Reads `dd.MM.yyyy HH:mm` (seconds tolerated) as Berlin local time.
fn berlin_time(value: &str) -> Result<EventTime, MapError> {
    const EXPECTED: &str = "dd.MM.yyyy HH:mm (German local time)";
    let local = ["%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"]
        .iter()
        .find_map(|format| parse_local_time(value, format, EXPECTED).ok())
        .ok_or_else(|| TimeError {
            value: value.to_owned(),
            expected: EXPECTED,
        })?;
    Ok(EventTime::in_zone(
        local,
        Tz::Europe__Berlin,
        ZoneSource::CarrierDefault,
    ))
}

/// An event marked `ruecksendung="true"`: part of a return to sender.
pub(super) fn on_return(
    status: Status,
    sub: Option<SubCode>,
    text: &str,
) -> (Status, Option<SubCode>) {
    let returning = Status::ReturningToSender;
    match status {
        Status::Delivered => (Status::ReturnedToSender, Some(SubCode::Received)),
        Status::InTransit
        | Status::OutForDelivery
        | Status::AvailableForPickup
        | Status::DeliveryFailed => (
            returning,
            sub.filter(|sub| returning.allows(*sub))
                .or_else(|| sub_from_text(text, returning)),
        ),
        _ => (status, sub),
    }
}

/// What an ICE/RIC/standard-event-code triple means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mapping {
    To(Status, Option<SubCode>),
    /// Voids the previous event (`STORN`).
    Correction,
    /// Says nothing about where the parcel is (data service, money transfer).
    Info,
    /// Not in DHL's table.
    Unmapped,
}

/// DHL's ICE event codes (with the RIC reason and the standard event code where they
/// change the meaning), from DHL's ICE/RIC table of July 2024. The `dhl` mapper reads
/// parcel-de's `statusDetailed` (`ICE_RIC_STD`) with it too.
pub(super) fn map_codes(ice: &str, ric: &str, standard: &str) -> Mapping {
    use Mapping::{Correction, Info, To};
    use Status::*;
    use SubCode::*;
    if matches!(standard, "DD" | "GT") && !matches!((ice, ric), ("ADVIS", "STBSD") | ("STORN", _)) {
        return Info;
    }
    match ice {
        "PARCV" => To(InfoReceived, Some(LabelCreated)),
        "PURCR" if standard == "BV" => To(Exception, Some(PickupFailed)),
        "PURCR" => To(InfoReceived, Some(PickupScheduled)),
        "ADVIS" if ric == "STBSD" => To(Exception, Some(Held)), // stopped by the sender
        "ALERT" if ric == "BDADD" => To(Exception, Some(AddressIssue)),
        "CANCL" => To(Cancelled, Some(ByShipper)),
        "SHRCU" => To(InTransit, Some(DroppedOff)),
        "PCKDU" => To(InTransit, Some(PickedUp)),
        "NTPUP" => To(Exception, Some(PickupFailed)),
        "LDTMV" => match standard {
            "PO" => To(OutForDelivery, Some(OnVehicle)),
            "ZN" => To(DeliveryFailed, None),
            "ES" => To(InTransit, Some(DroppedOff)),
            _ if ric == "FWEXH" => To(InTransit, Some(International)),
            _ => To(InTransit, Some(Processing)),
        },
        "SRTED" => match (standard, ric) {
            ("PO", _) => To(OutForDelivery, Some(OnVehicle)),
            ("AE", _) => To(InTransit, Some(PickedUp)),
            (_, "FWEXH" | "FWAPS") => To(InTransit, Some(International)),
            _ => To(InTransit, Some(Processing)),
        },
        "ULFMV" if ric == "OARRV" => To(InTransit, Some(CustomsReleased)),
        "ULFMV" => To(InTransit, Some(AtDestinationDepot)),
        "MVARR" if standard == "PO" => To(InTransit, Some(AtDestinationDepot)),
        "ASMVT" | "CHECK" | "LDTHU" | "MVARR" | "MVDPT" | "RELBL" => {
            To(InTransit, Some(Processing))
        }
        "SECHK" if ric == "INSPT" => To(Exception, Some(Investigation)),
        "SECHK" => To(InTransit, Some(Processing)),
        "TRBCR" | "HNDDE" => To(InTransit, Some(Transferred)),
        "HNDND" if ric == "CUSTM" => To(InTransit, Some(CustomsProcessing)),
        "HNDND" => To(InTransit, Some(Transferred)),
        "ICPRC" | "ITBAR" => To(InTransit, Some(CustomsProcessing)),
        "RSDCP" => To(InTransit, Some(CustomsReleased)),
        "HLDCP" | "HLDCU" => To(Exception, Some(CustomsHold)),
        "FWDCF" | "ROUCR" => To(InTransit, Some(Redirected)),
        "OFWRD" => match ric {
            "RTSCR" => To(ReturningToSender, Some(SenderRequest)),
            "RTSSA" => To(ReturningToSender, None),
            "CRRFN" => To(Exception, Some(Misrouted)),
            _ => To(InTransit, Some(Redirected)),
        },
        "INFCL" => match ric {
            "CSREQ" | "DLVDT" | "HNDCA" | "HLDAY" => To(InTransit, Some(DeliveryScheduled)),
            "HLDSR" | "INCSH" | "CTCST" => To(Exception, Some(Held)),
            "FWEXH" => To(InTransit, Some(International)),
            "OARRV" => To(InTransit, Some(CustomsReleased)),
            "SERPT" => To(AvailableForPickup, Some(PostOffice)),
            _ => To(InTransit, Some(Processing)),
        },
        "CNRFC" | "HLDCC" => match ric {
            "PCKST" | "LDPCK" => To(AvailableForPickup, Some(Locker)),
            "SERPT" => To(AvailableForPickup, Some(PostOffice)),
            "HDFCT" => To(AvailableForPickup, Some(CarrierFacility)),
            "NTCCN" => To(Exception, Some(PickupMissed)),
            _ if standard == "ZF" => To(AvailableForPickup, Some(PostOffice)),
            _ => To(AvailableForPickup, None),
        },
        "DLVRD" => match ric {
            "ACCPT" => To(Delivered, Some(Recipient)),
            "NGHBR" => To(Delivered, Some(Neighbour)),
            "AGENT" | "FAMLY" | "SPOUS" | "OTHER" | "PCKAD" => To(Delivered, Some(Agent)),
            "PKBOX" | "POBOX" | "SECPL" => To(Delivered, Some(SafePlace)),
            "ACCPK" | "SERPT" => To(Delivered, Some(CollectedAtPickupPoint)),
            "CODRP" => To(Delivered, Some(CodCollected)),
            // Handed to customs or to another carrier: not at the recipient yet.
            "CUSTM" => To(InTransit, Some(CustomsProcessing)),
            "HNDTC" => To(InTransit, Some(Transferred)),
            _ => To(Delivered, None),
        },
        "NTDEL" | "NDELV" => not_delivered(ric),
        "DLVRF" if ric == "TRPMT" => To(DeliveryFailed, Some(PaymentRequired)),
        // Captured: "Die Sendung wurde beschädigt und wird zur Nachverpackung in das
        // Paketzentrum zurückgesandt." Nobody refused it: DHL damaged it.
        "DLVRF" if ric == "DMGED" => To(Exception, Some(Damaged)),
        "DLVRF" => To(DeliveryFailed, Some(Refused)),
        "RETRN" => To(ReturningToSender, returning_reason(ric)),
        "EXPHD" => exception_hold(ric),
        "DMGDS" => To(Exception, Some(Damaged)),
        "REPCK" => match ric {
            "DMGPC" | "LDMGD" => To(Exception, Some(Damaged)),
            "RDRDO" => To(InTransit, Some(Redirected)),
            "WRGRI" => To(Exception, Some(AddressIssue)),
            _ => To(InTransit, Some(Processing)),
        },
        "MSRTD" => To(Exception, Some(Misrouted)),
        "LDEXC" if ric == "BDADD" => To(Exception, Some(AddressIssue)),
        "LDEXC" | "NTADT" => To(Exception, Some(Delayed)),
        "MVDEX" | "MVTEX" if ric == "FRMJR" => To(Exception, Some(ForceMajeure)),
        "MVDEX" | "MVTEX" => To(Exception, Some(Delayed)),
        "CNFSC" => To(Exception, Some(RegulatoryHold)),
        "DTNPC" => To(Exception, Some(Investigation)),
        "PBNDT" => To(Exception, Some(Held)),
        "RCCLS" if ric == "LOSTX" => To(Failed, Some(Lost)),
        "RCCLS" => To(Exception, Some(Investigation)),
        "DSPSD" => To(Failed, Some(Destroyed)),
        "STORN" => Correction,
        _ => by_standard_code(standard),
    }
}

/// `NTDEL` (not delivered) by its reason.
fn not_delivered(ric: &str) -> Mapping {
    use Status::*;
    use SubCode::*;
    let failed = |sub| Mapping::To(DeliveryFailed, sub);
    match ric {
        "CNCNR" | "NHOME" => failed(Some(RecipientAbsent)),
        "RFUSD" => failed(Some(Refused)),
        "BDADD" | "CPUNK" | "MOVED" | "WRGPN" | "WRGRI" => failed(Some(AddressIssue)),
        "AGNEG" | "CTCNI" | "IDDMG" | "IDNEG" => failed(Some(IdCheckFailed)),
        "CLOSD" | "HLDAY" => failed(Some(BusinessClosed)),
        "TRPMT" => failed(Some(PaymentRequired)),
        "CAPEX" | "CRROT" | "DRCRU" | "DMGED" | "FRMJR" | "NTIHU" | "PCKST" | "TCHBD" | "WRGTR" => {
            failed(Some(CarrierIssue))
        }
        "NTCCN" => Mapping::To(Exception, Some(PickupMissed)),
        "NAGTB" | "RSEXW" => Mapping::To(ReturningToSender, Some(Undeliverable)),
        _ => failed(None),
    }
}

/// The reason of a `RETRN` (will be returned to origin).
fn returning_reason(ric: &str) -> Option<SubCode> {
    use SubCode::*;
    match ric {
        "BDADD" | "MOVED" => Some(AddressIssue),
        "CLREF" | "INSPF" => Some(CustomsRejected),
        "CNCNR" | "NHOME" => Some(RecipientAbsent),
        "CSREQ" | "NTORD" | "RFUSD" => Some(Refused),
        "DMGED" | "DMGPC" => Some(Damaged),
        "FSCCH" | "GDNMS" | "NAGTB" | "UDFPC" => Some(Undeliverable),
        "NTCCN" => Some(NotCollected),
        "RTSCR" => Some(SenderRequest),
        "WRGDT" | "WRGID" => Some(IdCheckFailed),
        _ => None,
    }
}

/// `EXPHD` (exception hold) by its reason.
fn exception_hold(ric: &str) -> Mapping {
    use Status::*;
    use SubCode::*;
    let exception = |sub| Mapping::To(Exception, Some(sub));
    match ric {
        "BDADD" | "WRGRI" => exception(AddressIssue),
        "CAPEX" | "EQUBF" | "STPRB" => exception(Delayed),
        "CLREF" => exception(CustomsRejected),
        "DMGED" | "DMGPC" | "DMPHD" => exception(Damaged),
        "FFTCH" | "GDNMS" => exception(RejectedByCarrier),
        "FRMJR" => exception(ForceMajeure),
        "INCSH" | "MSLBL" | "MSSDT" | "STBSD" => exception(Held),
        "INSPT" | "UDFPC" => exception(Investigation),
        "MSDOC" | "PWMFD" => exception(CustomsDocuments),
        "TRPMT" => exception(PaymentRequired),
        "LOSTX" => Mapping::To(Failed, Some(Lost)),
        "RTTSP" => Mapping::To(ReturningToSender, None),
        _ => exception(Unspecified),
    }
}

/// The TTPRO standard event code alone, for ICE codes outside DHL's table (and for the `dhl`
/// mapper's parcel-de events whose `status` is that code).
pub(super) fn by_standard_code(standard: &str) -> Mapping {
    use Mapping::To;
    use Status::*;
    use SubCode::*;
    match standard {
        "VA" => To(InfoReceived, None),
        "ES" => To(InTransit, Some(DroppedOff)),
        "AE" => To(InTransit, Some(PickedUp)),
        "AA" | "EE" | "NB" => To(InTransit, Some(Processing)),
        "ZO" => To(InTransit, Some(CustomsProcessing)),
        "PO" => To(OutForDelivery, None),
        "ZF" => To(AvailableForPickup, Some(PostOffice)),
        "ZU" => To(Delivered, None),
        "ZN" => To(DeliveryFailed, None),
        "BV" => To(Exception, Some(Unspecified)),
        "AN" => To(Exception, Some(PickupFailed)),
        "DD" | "GT" => Mapping::Info,
        // `LA` (in storage) alone does not say where or why.
        _ => Mapping::Unmapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(body: &str) -> Result<Vec<CarrierEvent>, MapError> {
        let raw = RawRecord {
            payload: body.as_bytes(),
            ..RawRecord::default()
        };
        DhlParcelDe.map(&raw)
    }

    fn one_event(attributes: &str) -> CarrierEvent {
        let body = format!(
            r#"<data name="piece-shipment-list" code="0"><data name="piece-shipment" piece-code="00340434161094042557"><data name="piece-event-list"><data name="piece-event" event-timestamp="18.03.2016 10:02" {attributes}/></data></data></data>"#
        );
        let mut events = map(&body).expect("maps");
        assert_eq!(events.len(), 1, "{attributes}");
        events.remove(0)
    }

    fn status_of(attributes: &str) -> (Status, Option<SubCode>) {
        let event = one_event(attributes);
        (event.status, event.sub_status)
    }

    #[test]
    fn the_reader_takes_data_elements_and_refuses_what_is_not_xml() {
        let piece = |inner: &str| {
            format!(
                r#"<?xml version="1.0"?><data name="piece-shipment-list" code="0"><!-- c --><data name="piece-shipment" piece-code="00340434161094042557">{inner}</data></data>"#
            )
        };
        let event = r#"<data name="piece-event-list"><data name="piece-event" event-timestamp="18.03.2016 10:02" event-text="Zugestellt &amp; quittiert" ice="DLVRD" ric="ACCPK"/></data>"#;
        let events = map(&piece(event)).expect("maps");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].text.as_deref(), Some("Zugestellt & quittiert"));
        // Elements that are not `data` are skipped with all they hold.
        let hidden = format!("<other>{event}</other>");
        assert!(map(&piece(&hidden)).expect("maps").is_empty());
        for broken in [
            piece(&event.replace(r#"ice="DLVRD""#, r#"ice="DLVRD" ice="PCKDU""#)),
            piece(&event.replace(r#"ice="DLVRD""#, "ice=DLVRD")),
            piece(event).replace("</data></data>", "</data>"),
            piece(event).replace("&amp;", "&bogus;"),
            String::new(),
        ] {
            let error = map(&broken).expect_err("poison");
            assert_eq!(error.class(), "syntax", "{broken}: {error}");
        }
        // A repeated attribute the mapping does not read is no reason to refuse the body.
        let extra = event.replace(r#"ice="DLVRD""#, r#"ice="DLVRD" x="1" x="2""#);
        assert_eq!(map(&piece(&extra)).expect("maps").len(), 1);
    }

    #[test]
    fn the_reference_sample_codes_map_as_the_reference_says() {
        let cases = [
            (
                r#"ice="SHRCU" ric="PCKST" standard-event-code="ES""#,
                Status::InTransit,
                Some(SubCode::DroppedOff),
            ),
            (
                r#"ice="PCKDU" ric="PUBCR" standard-event-code="AE""#,
                Status::InTransit,
                Some(SubCode::PickedUp),
            ),
            (
                r#"ice="LDTMV" ric="MVMTV" standard-event-code="AA""#,
                Status::InTransit,
                Some(SubCode::Processing),
            ),
            (
                r#"ice="ULFMV" ric="UNLDD" standard-event-code="EE""#,
                Status::InTransit,
                Some(SubCode::AtDestinationDepot),
            ),
            (
                r#"ice="SRTED" ric="NRQRD" standard-event-code="PO""#,
                Status::OutForDelivery,
                Some(SubCode::OnVehicle),
            ),
            (
                r#"ice="DLVRD" ric="NGHBR" standard-event-code="ZU""#,
                Status::Delivered,
                Some(SubCode::Neighbour),
            ),
        ];
        for (attributes, status, sub) in cases {
            assert_eq!(status_of(attributes), (status, sub), "{attributes}");
        }
    }

    #[test]
    fn not_delivered_takes_its_reason_from_the_ric() {
        assert_eq!(
            status_of(r#"ice="NTDEL" ric="NHOME" standard-event-code="ZN""#),
            (Status::DeliveryFailed, Some(SubCode::RecipientAbsent))
        );
        assert_eq!(
            status_of(r#"ice="NTDEL" ric="AGNEG" standard-event-code="ZN""#),
            (Status::DeliveryFailed, Some(SubCode::IdCheckFailed))
        );
        assert_eq!(
            status_of(r#"ice="NTDEL" ric="NTCCN" standard-event-code="ZN""#),
            (Status::Exception, Some(SubCode::PickupMissed))
        );
    }

    #[test]
    fn delivered_to_customs_or_another_carrier_is_not_delivered() {
        assert_eq!(
            status_of(r#"ice="DLVRD" ric="CUSTM" standard-event-code="ZU""#),
            (Status::InTransit, Some(SubCode::CustomsProcessing))
        );
        assert_eq!(
            status_of(r#"ice="DLVRD" ric="HNDTC" standard-event-code="ZU""#),
            (Status::InTransit, Some(SubCode::Transferred))
        );
    }

    #[test]
    fn ruecksendung_turns_progress_into_a_return() {
        assert_eq!(
            status_of(r#"ice="DLVRD" ric="ACCPT" standard-event-code="ZU" ruecksendung="true""#),
            (Status::ReturnedToSender, Some(SubCode::Received))
        );
        assert_eq!(
            status_of(r#"ice="LDTMV" ric="MVMTV" standard-event-code="AA" ruecksendung="true""#),
            (Status::ReturningToSender, None)
        );
        assert_eq!(
            status_of(r#"ice="DMGDS" ric="DMGPC" standard-event-code="BV" ruecksendung="true""#),
            (Status::Exception, Some(SubCode::Damaged))
        );
    }

    #[test]
    fn unknown_ice_falls_back_to_the_standard_code_then_the_text_then_unknown() {
        assert_eq!(
            status_of(r#"ice="ZZZZZ" ric="NRQRD" standard-event-code="ZN""#),
            (Status::DeliveryFailed, None)
        );
        assert_eq!(
            status_of(
                r#"ice="ZZZZZ" event-text="Die Sendung liegt in der Filiale zur Abholung bereit.""#
            ),
            (Status::AvailableForPickup, Some(SubCode::PostOffice))
        );
        let unknown = one_event(r#"ice="ZZZZZ" ric="QQQQQ" event-text="Statusmeldung 17""#);
        assert_eq!(unknown.status, Status::Unknown);
        assert_eq!(unknown.codes.len(), 2);
    }

    #[test]
    fn a_text_never_makes_an_undocumented_code_delivered() {
        assert_eq!(
            status_of(r#"ice="ZZZZZ" event-text="Die Sendung wurde erfolgreich zugestellt.""#),
            (Status::Unknown, None)
        );
    }

    #[test]
    fn storno_is_a_correction_data_service_notices_are_info_and_empty_events_left_out() {
        let body = r#"<data name="piece-shipment-list" code="0"><data name="piece-shipment" piece-code="1"><data name="piece-event-list">
            <data name="piece-event" event-timestamp="18.03.2016 09:00" ice="ADVIS" ric="MSGST" standard-event-code="DD"/>
            <data name="piece-event" event-timestamp="18.03.2016 10:00" ice="STORN" ric="NRQRD" standard-event-code="DD"/>
            <data name="piece-event" event-timestamp="18.03.2016 11:00"/>
        </data></data></data>"#;
        let events = map(body).expect("maps");
        assert_eq!(events.len(), 2);
        assert!(events[0].info);
        assert_eq!(events[0].correction, None);
        assert_eq!(events[1].correction, Some(Correction::Latest));
        assert!(!events[1].info);
    }

    #[test]
    fn data_service_and_money_transfer_codes_are_info_and_undocumented_codes_unknown() {
        for attributes in [
            r#"ice="ADVIS" ric="DLVDT" standard-event-code="DD" event-text="Der Empfänger hat einen Wunschtag gewählt.""#,
            r#"ice="ZZZZZ" ric="QQQQQ" standard-event-code="GT""#,
        ] {
            let event = one_event(attributes);
            assert!(event.info, "{attributes}");
            assert_eq!(event.status, Status::Unknown);
            assert_eq!(event.codes.len(), 3);
        }
        // Stopped by the sender is a data-service code that does change the status.
        assert_eq!(
            status_of(r#"ice="ADVIS" ric="STBSD" standard-event-code="DD""#),
            (Status::Exception, Some(SubCode::Held))
        );
        let unknown = one_event(r#"ice="ZZZZZ" ric="QQQQQ" event-text="Statusmeldung 17""#);
        assert!(!unknown.info);
        assert_eq!(unknown.status, Status::Unknown);
    }

    #[test]
    fn times_are_read_as_berlin_local_time() {
        let summer = one_event(r#"ice="PCKDU" ric="PUBCR" standard-event-code="AE""#);
        assert_eq!(summer.time.utc.to_rfc3339(), "2016-03-18T09:02:00+00:00");
        assert_eq!(summer.time.zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(summer.time.zone_source, ZoneSource::CarrierDefault);
    }

    #[test]
    fn error_answers_are_poison_but_no_data_is_nothing() {
        let login = r#"<data name="piece-shipment-list" code="5" error="Log-in failed"><data name="piece-shipment" piece-status="5"/></data>"#;
        let error = map(login).expect_err("poison");
        assert_eq!(error.class(), "shape");
        assert!(error.to_string().contains("Log-in failed"));
        let none = r#"<data name="piece-shipment-list" code="100" error="No data found"/>"#;
        assert_eq!(map(none).expect("ok"), []);
        // A `d-get-piece-events` answer: its code is checked as a list's, and its number
        // is the record key's.
        let events = r#"<data name="piece-event-list" code="0" piece-identifier="340434161094032954"><data name="piece-event" event-timestamp="18.03.2016 10:02" ice="DLVRD" ric="ACCPT" standard-event-code="ZU"/></data>"#;
        assert_eq!(map(events).expect_err("no key"), MapError::MissingKey);
        let raw = RawRecord {
            key: Some(b"00340434161094032954"),
            payload: events.as_bytes(),
            ..RawRecord::default()
        };
        let [delivered] = DhlParcelDe
            .map(&raw)
            .expect("maps")
            .try_into()
            .expect("one");
        assert_eq!(delivered.tracking_number.as_str(), "00340434161094032954");
        assert_eq!(delivered.status, Status::Delivered);
        let failed = events.replace(r#"code="0""#, r#"code="5" error="Log-in failed""#);
        assert!(
            map(&failed)
                .expect_err("poison")
                .to_string()
                .contains("Log-in failed")
        );
        let none = events.replace(r#"code="0""#, r#"code="100""#);
        assert_eq!(map(&none).expect("ok"), []);
    }

    /// A piece code given twice in one answer (DHL reuses them) is the package of its
    /// newest use, wherever that stands; other pieces are kept.
    #[test]
    fn a_reused_piece_code_is_its_newest_use() {
        let piece = |code: &str, at: &str, ice: &str| {
            format!(
                r#"<data name="piece-shipment" piece-code="{code}"><data name="piece-event-list"><data name="piece-event" event-timestamp="{at}" ice="{ice}" ric="NRQRD" standard-event-code="AA"/></data></data>"#
            )
        };
        let old = piece("00340433957654312359", "10.09.2010 13:44", "DLVRD");
        let new = piece("00340433957654312359", "17.05.2011 15:48", "PARCV");
        let other = piece("00340434161094015902", "01.01.2009 10:00", "DLVRD");
        for pieces in [[&old, &new, &other], [&new, &other, &old]] {
            let body = format!(
                r#"<data name="piece-shipment-list" code="0">{}</data>"#,
                pieces.map(String::as_str).concat()
            );
            let events = map(&body).expect("maps");
            let statuses: Vec<_> = events
                .iter()
                .map(|e| (e.tracking_number.as_str(), e.status))
                .collect();
            assert_eq!(statuses.len(), 2, "{statuses:?}");
            assert!(statuses.contains(&("00340433957654312359", Status::InfoReceived)));
            assert!(statuses.contains(&("00340434161094015902", Status::Delivered)));
        }
    }

    #[test]
    fn malformed_xml_is_a_syntax_error() {
        let error = map(r#"<data name="piece-shipment-list"><data name="x"></oops></data>"#)
            .expect_err("poison");
        assert_eq!(error.class(), "syntax");
    }

    /// The piece's `recipient-id-text` names who took its delivery, whatever the RIC
    /// (captured: "Bevollmächtigter" with ACCPT, "Empfänger (orig.)" with OTHER).
    #[test]
    fn the_recipient_text_says_who_took_the_delivery() {
        let delivered = |ric: &str, who: &str| {
            let body = format!(
                r#"<data name="piece-shipment-list" code="0"><data name="piece-shipment" piece-code="00340434161094042557" recipient-id-text="{who}"><data name="piece-event-list"><data name="piece-event" event-timestamp="18.03.2016 10:02" event-text="Die Sendung wurde erfolgreich zugestellt." ice="DLVRD" ric="{ric}" standard-event-code="ZU"/></data></data></data>"#
            );
            map(&body).expect("maps")[0].sub_status
        };
        assert_eq!(delivered("ACCPT", "Bevollmächtigter"), Some(SubCode::Agent));
        assert_eq!(delivered("ACCPT", "Ehegatte"), Some(SubCode::Agent));
        assert_eq!(
            delivered("ACCPT", "Empfänger (orig.)"),
            Some(SubCode::Recipient)
        );
        assert_eq!(
            delivered("OTHER", "Empfänger (orig.)"),
            Some(SubCode::Recipient)
        );
        assert_eq!(delivered("OTHER", "Nachbar"), Some(SubCode::Neighbour));
        assert_eq!(delivered("OTHER", ""), Some(SubCode::Agent));
        assert_eq!(delivered("ACCPT", ""), Some(SubCode::Recipient));
    }
}
