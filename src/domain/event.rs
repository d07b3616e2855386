//! Unified events: what a carrier mapper produces ([`CarrierEvent`]) and what travels on
//! `shipment.events` ([`ShipmentEvent`]): a carrier event, a manual command or a system
//! timer event, each with an identity for de-duplication (STATUS_MODEL rule 6).

use super::package::{PackageKey, TrackingNumber};
use super::status::{Direction, ReasonOwner, Status, SubCode};
use super::time::EventTime;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

/// Where an event was seen: free-form parts as the carrier sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// City or facility name.
    pub city: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code (or what the carrier sent).
    pub country: Option<String>,
}

impl Location {
    /// `None` when every part is empty.
    pub fn non_empty(self) -> Option<Self> {
        let empty = |part: &Option<String>| part.as_deref().is_none_or(|s| s.trim().is_empty());
        if empty(&self.city) && empty(&self.postal_code) && empty(&self.country) {
            None
        } else {
            Some(self)
        }
    }

    /// The form used in event identities: each part trimmed, lower-cased, inner
    /// whitespace collapsed, joined by `|`.
    pub fn normalised(&self) -> String {
        let mut out = String::new();
        self.normalise_into(&mut out);
        out
    }

    /// [`Location::normalised`], appended to `out`.
    pub fn normalise_into(&self, out: &mut String) {
        for (i, part) in [&self.city, &self.postal_code, &self.country]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push('|');
            }
            // Each part on its own: `to_lowercase` looks at its neighbours (final sigma).
            let start = out.len();
            for (j, word) in part.as_deref().unwrap_or("").split_whitespace().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
            if out[start..].is_ascii() {
                out[start..].make_ascii_lowercase();
            } else {
                let lower = out[start..].to_lowercase();
                out.truncate(start);
                out.push_str(&lower);
            }
        }
    }

    /// [`Location::normalised`] into `out` when every part is ASCII and the result fits;
    /// `None` otherwise. The usual case, without allocating.
    fn normalise_ascii<'b>(&self, out: &'b mut [u8]) -> Option<&'b str> {
        // The ASCII characters `char::is_whitespace` (and so `split_whitespace`) knows.
        let space = |b: &u8| matches!(b, b'\t'..=b'\r' | b' ');
        let mut len = 0;
        for (i, part) in [&self.city, &self.postal_code, &self.country]
            .into_iter()
            .enumerate()
        {
            let part = part.as_deref().unwrap_or("");
            if !part.is_ascii() {
                return None;
            }
            let words = part.as_bytes().split(space).filter(|word| !word.is_empty());
            for (j, word) in words.enumerate() {
                if j > 0 {
                    *out.get_mut(len)? = b' ';
                    len += 1;
                }
                let to = out.get_mut(len..len + word.len())?;
                for (to, from) in to.iter_mut().zip(word) {
                    *to = from.to_ascii_lowercase();
                }
                len += word.len();
            }
            if i < 2 {
                *out.get_mut(len)? = b'|';
                len += 1;
            }
        }
        std::str::from_utf8(&out[..len]).ok()
    }
}

/// One raw carrier code, named as the carrier names it (`statusCode`, `ice`, `type`...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawCode {
    /// The carrier's name of the field (a mapper's names are literals, kept without a copy).
    pub name: Cow<'static, str>,
    /// The value as sent.
    pub value: String,
}

/// What a correction voids (STATUS_MODEL rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "voids", content = "status")]
pub enum Correction {
    /// The latest earlier carrier event, whatever its status (Hermes 4690).
    Latest,
    /// The latest earlier run of carrier events with this status: the newest one and those
    /// before it back to a carrier event of another status (UPS 8I voids a pickup scan,
    /// Hermes 4072 a return however many scans reported it).
    LatestWith(Status),
}

/// One event as a carrier mapper reports it, before it gets its package key and identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CarrierEvent {
    /// The package's tracking number (from the body, or the record key).
    pub tracking_number: TrackingNumber,
    /// The unified status; `UNKNOWN` for unmapped codes.
    pub status: Status,
    /// The sub-code, if the carrier says enough.
    pub sub_status: Option<SubCode>,
    /// Who the reason belongs to.
    pub reason_owner: ReasonOwner,
    /// Whether the shipper or recipient has to act.
    pub action_required: bool,
    /// The delivery attempt, where the carrier counts them.
    pub attempt_no: Option<u32>,
    /// Set only where the carrier marks customer return labels itself.
    pub direction: Option<Direction>,
    /// When it happened.
    pub time: EventTime,
    /// The carrier's raw codes, in the carrier's order.
    pub codes: Vec<RawCode>,
    /// The carrier's text.
    pub text: Option<String>,
    /// Where it happened.
    pub location: Option<Location>,
    /// Set when the event voids an earlier one instead of reporting a status.
    pub correction: Option<Correction>,
    /// Set for documented events that never change a status (preferences, notes,
    /// "tracking closed"): recorded and published, neither mapped nor unknown.
    pub info: bool,
    /// The carrier's estimated delivery, when it sends one.
    pub estimated_delivery: Option<DateTime<Utc>>,
}

// The builders are `#[inline]`: each takes and returns the whole event (about 250 bytes),
// which costs a copy per call where they are not inlined into the mapper.
impl CarrierEvent {
    /// An event with the given status and the defaults its sub-code implies for
    /// `reason_owner` and `action_required`.
    #[inline]
    pub fn new(
        tracking_number: TrackingNumber,
        time: EventTime,
        status: Status,
        sub_status: Option<SubCode>,
    ) -> Self {
        let sub = sub_status.filter(|sub| status.allows(*sub));
        Self {
            tracking_number,
            status,
            sub_status: sub,
            reason_owner: sub.map(SubCode::default_reason_owner).unwrap_or_default(),
            action_required: sub.is_some_and(|sub| sub.default_action_required(status)),
            attempt_no: None,
            direction: None,
            time,
            codes: Vec::new(),
            text: None,
            location: None,
            correction: None,
            info: false,
            estimated_delivery: None,
        }
    }

    /// A correction: it voids an earlier event and reports no status of its own.
    pub fn correction(tracking_number: TrackingNumber, time: EventTime, voids: Correction) -> Self {
        let mut event = Self::new(tracking_number, time, Status::Unknown, None);
        event.correction = Some(voids);
        event
    }

    /// A documented event that never changes the status (not an unknown code).
    pub fn info(tracking_number: TrackingNumber, time: EventTime) -> Self {
        let mut event = Self::new(tracking_number, time, Status::Unknown, None);
        event.info = true;
        event
    }

    /// Sets the direction, where the carrier marks customer return labels itself.
    #[inline]
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// Adds a raw code.
    #[inline]
    pub fn code(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.codes.push(RawCode {
            name: Cow::Borrowed(name),
            value: value.into(),
        });
        self
    }

    /// Sets the carrier's text (empty text is dropped).
    #[inline]
    pub fn text(mut self, text: Option<impl Into<String>>) -> Self {
        self.text = text
            .map(Into::into)
            .filter(|t: &String| !t.trim().is_empty());
        self
    }

    /// Sets the location (an all-empty location is dropped).
    #[inline]
    pub fn location(mut self, location: Location) -> Self {
        self.location = location.non_empty();
        self
    }

    /// Overrides who owns the reason.
    #[inline]
    pub fn reason_owner(mut self, owner: ReasonOwner) -> Self {
        self.reason_owner = owner;
        self
    }

    /// Overrides whether someone has to act.
    #[inline]
    pub fn action_required(mut self, required: bool) -> Self {
        self.action_required = required;
        self
    }

    /// Sets the delivery attempt number.
    #[inline]
    pub fn attempt(mut self, attempt_no: u32) -> Self {
        self.attempt_no = Some(attempt_no);
        self
    }

    /// Sets the estimated delivery.
    #[inline]
    pub fn estimated_delivery(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.estimated_delivery = at;
        self
    }
}

impl SubCode {
    /// Who usually owns the reason behind this sub-code.
    pub fn default_reason_owner(self) -> ReasonOwner {
        use SubCode::*;
        match self {
            RecipientAbsent | Refused | NotCollected | PickupMissed | RecipientMoved
            | AuthenticationFailed | IdCheckFailed | BusinessClosed | AccessRestricted => {
                ReasonOwner::Recipient
            }
            ShipperDataIssue | AwaitingInformation | ByShipper | SenderRequest
            | RejectedByCarrier => ReasonOwner::Shipper,
            CustomsHold | CustomsDocuments | CustomsRejected | CustomsProcessing
            | RegulatoryHold => ReasonOwner::Customs,
            Weather | ForceMajeure => ReasonOwner::ForceMajeure,
            CarrierIssue | Damaged | Misrouted | Lost | Destroyed | Delayed | Held
            | PickupFailed | ByCarrier | Investigation => ReasonOwner::Carrier,
            _ => ReasonOwner::Unknown,
        }
    }

    /// Whether this sub-code under `status` usually needs someone to act.
    pub fn default_action_required(self, status: Status) -> bool {
        use SubCode::*;
        match status {
            Status::Exception => matches!(
                self,
                CustomsDocuments
                    | PaymentRequired
                    | AddressIssue
                    | RecipientMoved
                    | Damaged
                    | PickupMissed
                    | ContactCarrier
                    | RejectedByCarrier
            ),
            Status::DeliveryFailed => matches!(
                self,
                AddressIssue
                    | PaymentRequired
                    | IdCheckFailed
                    | AuthenticationFailed
                    | FinalAttempt
            ),
            Status::InfoReceived => matches!(self, ShipperDataIssue | AwaitingInformation),
            Status::AvailableForPickup => true,
            _ => false,
        }
    }
}

/// The identity of an event: XXH3-128 over what makes it the same event (each part
/// prefixed with its length). Not a cryptographic hash: it tells apart events of one
/// package, which nobody forges, in about an eighth of SHA-256's time (benches/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventId(pub [u8; 16]);

impl Hash for EventId {
    /// As one `u128` (which [`IdBits`] takes as it is).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_be_bytes(self.0));
    }
}

/// The hasher of maps and sets keyed by [`EventId`]s or their `u128` form: an id is
/// XXH3-128 output, already uniform, so its low 64 bits are the hash (SipHash would hash
/// it again, at several times the cost of the lookup).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdBits(u64);

/// [`IdBits`] for `HashMap::with_hasher` / `HashSet::with_hasher` and `Default`.
pub type IdBitsState = BuildHasherDefault<IdBits>;

impl Hasher for IdBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only ids are hashed (`write_u128`); this keeps the trait's contract for anything
        // else.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

impl EventId {
    /// Hashes the parts, separated so that `("ab","c")` and `("a","bc")` differ.
    pub fn of(parts: &[&str]) -> Self {
        let mut hasher = IdHasher::default();
        for part in parts {
            hasher.part(part);
        }
        hasher.finish()
    }

    /// The first 64 bits, the fingerprint kept in per-package state.
    pub fn fingerprint(self) -> u64 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(head)
    }

    /// Parses the 32-digit hex form.
    pub fn parse_hex(hex: &str) -> Option<Self> {
        if hex.len() != 32 {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(id))
    }
}

impl EventId {
    /// The 32 lower-case hex digits, written into `buffer` (its `Display` form).
    pub fn hex(self, buffer: &mut [u8; 32]) -> &str {
        /// The two digits of every byte.
        const PAIRS: [[u8; 2]; 256] = {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut pairs = [[0; 2]; 256];
            let mut byte = 0;
            while byte < 256 {
                pairs[byte] = [HEX[byte >> 4], HEX[byte & 0x0f]];
                byte += 1;
            }
            pairs
        };
        for (pair, byte) in buffer.as_chunks_mut::<2>().0.iter_mut().zip(self.0) {
            *pair = PAIRS[usize::from(byte)];
        }
        // Only ASCII hex digits were written.
        std::str::from_utf8(buffer).unwrap_or_default()
    }
}

impl fmt::Display for EventId {
    /// 32 lower-case hex digits (written at once: a `write!` per byte costs ten times more).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex(&mut [0; 32]))
    }
}

impl Serialize for EventId {
    /// The hex form, written from the stack (`collect_str` would build a `String` in most
    /// serializers).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.hex(&mut [0; 32]))
    }
}

impl<'de> Deserialize<'de> for EventId {
    /// From the hex form.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        Self::parse_hex(&hex).ok_or_else(|| {
            serde::de::Error::custom(format!("event id `{hex}` is not 32 hex digits"))
        })
    }
}

/// [`EventId::of`] one part at a time, for callers that would otherwise collect the parts.
/// The input is gathered in a buffer and hashed in one piece (XXH3-128); an input longer
/// than the buffer goes on through XXH3's streaming form, which gives the same hash.
pub(crate) struct IdHasher {
    buffer: [u8; 256],
    len: usize,
    /// Where the input went once it outgrew the buffer.
    stream: Option<Box<Xxh3>>,
}

impl Default for IdHasher {
    #[inline]
    fn default() -> Self {
        Self {
            buffer: [0; 256],
            len: 0,
            stream: None,
        }
    }
}

impl IdHasher {
    #[inline]
    fn bytes(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buffer.len() {
            let stream = self.stream.get_or_insert_with(Box::default);
            stream.update(&self.buffer[..self.len]);
            self.len = 0;
            if bytes.len() > self.buffer.len() {
                stream.update(bytes);
                return;
            }
        }
        self.buffer[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Adds one part.
    #[inline]
    pub(crate) fn part(&mut self, part: &str) {
        let (len, part) = ((part.len() as u64).to_le_bytes(), part.as_bytes());
        // Both at once while they fit (the usual case: one check, two copies).
        if let Some(free) = self.buffer.get_mut(self.len..self.len + 8 + part.len()) {
            let (head, tail) = free.split_at_mut(8);
            head.copy_from_slice(&len);
            tail.copy_from_slice(part);
            self.len += 8 + part.len();
            return;
        }
        self.bytes(&len);
        self.bytes(part);
    }

    /// Adds one part made of `pieces` (hashed as their concatenation).
    pub(super) fn part_of(&mut self, pieces: &[&str]) {
        let len: usize = pieces.iter().map(|piece| piece.len()).sum();
        self.bytes(&(len as u64).to_le_bytes());
        for piece in pieces {
            self.bytes(piece.as_bytes());
        }
    }

    /// Adds the normalised form of `location` as one part.
    pub(super) fn location(&mut self, location: &Location) {
        match location.normalise_ascii(&mut [0; 128]) {
            Some(normalised) => self.part(normalised),
            None => self.part(&location.normalised()),
        }
    }

    #[inline]
    pub(crate) fn finish(self) -> EventId {
        let hash = match self.stream {
            None => xxh3_128(&self.buffer[..self.len]),
            Some(mut stream) => {
                stream.update(&self.buffer[..self.len]);
                stream.digest128()
            }
        };
        EventId(hash.to_be_bytes())
    }
}

/// Links a package to PlentyONE (set by a `register` command).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Linkage {
    /// The PlentyONE tenant (plenty id).
    pub tenant: Option<String>,
    /// The order id.
    pub order_id: Option<String>,
    /// The order's package id.
    pub package_id: Option<String>,
    /// Outbound parcel or customer return label.
    pub direction: Direction,
}

/// A manual lock: carrier events do not override the manual status while it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lock {
    /// Until when (exclusive); `None` = until cleared by command.
    pub until: Option<DateTime<Utc>>,
}

/// Who or what produced an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum Source {
    /// A carrier, through an adapter or a push.
    Carrier,
    /// A person, through a command.
    Manual {
        /// The command's id.
        command_id: String,
        /// Who gave the command.
        actor: String,
        /// Why.
        reason: Option<String>,
    },
    /// unitrack's own timers.
    System,
}

/// What an event does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EventKind {
    /// Reports a status.
    Status {
        /// The unified status (`UNKNOWN` for unmapped codes).
        status: Status,
        /// The sub-code.
        sub_status: Option<SubCode>,
        /// Who owns the reason.
        reason_owner: ReasonOwner,
        /// Whether someone has to act.
        action_required: bool,
        /// The delivery attempt.
        attempt_no: Option<u32>,
        /// A manual lock set with a manual status.
        lock: Option<Lock>,
    },
    /// Voids an earlier carrier event.
    Correction(Correction),
    /// Links the package to PlentyONE.
    Register(Linkage),
    /// Clears a manual lock.
    ClearLock,
    /// A documented carrier event that never changes the status.
    Info,
}

/// One unified event, as it travels on `shipment.events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipmentEvent {
    /// The identity (rule 6).
    pub id: EventId,
    /// The package.
    pub package: PackageKey,
    /// Who produced it.
    pub source: Source,
    /// What it does.
    pub kind: EventKind,
    /// When it happened.
    pub time: EventTime,
    /// Set where the carrier marks customer return labels itself.
    pub direction: Option<Direction>,
    /// The carrier's raw codes.
    pub codes: Vec<RawCode>,
    /// The carrier's text.
    pub text: Option<String>,
    /// Where.
    pub location: Option<Location>,
    /// The carrier's estimated delivery.
    pub estimated_delivery: Option<DateTime<Utc>>,
}

impl ShipmentEvent {
    /// The unified event of a carrier event, with its identity: carrier, tracking number,
    /// raw codes, UTC time and normalised location; never the text or a delivery id.
    // Inlined into `map_record`, the 408-byte event is built where it is stored rather
    // than copied out of a `Result` and into the `Vec`.
    #[inline]
    pub fn from_carrier(
        carrier: &'static str,
        event: CarrierEvent,
    ) -> Result<Self, super::package::IdentityError> {
        let package = PackageKey::of_carrier(carrier, event.tracking_number)?;
        // The parts, in this order: "carrier", carrier, tracking number, each code's name
        // and value, UTC millis, normalised location.
        let mut id = IdHasher::default();
        id.part("carrier");
        id.part(carrier);
        id.part(package.tracking_number.as_str());
        for code in &event.codes {
            id.part(&code.name);
            id.part(&code.value);
        }
        id.part(itoa::Buffer::new().format(event.time.millis()));
        match &event.location {
            Some(place) => id.location(place),
            None => id.part(""),
        }
        let id = id.finish();
        let kind = match event.correction {
            Some(correction) => EventKind::Correction(correction),
            None if event.info => EventKind::Info,
            None => EventKind::Status {
                status: event.status,
                sub_status: event.sub_status,
                reason_owner: event.reason_owner,
                action_required: event.action_required,
                attempt_no: event.attempt_no,
                lock: None,
            },
        };
        Ok(Self {
            id,
            package,
            source: Source::Carrier,
            kind,
            time: event.time,
            direction: event.direction,
            codes: event.codes,
            text: event.text,
            location: event.location,
            estimated_delivery: event.estimated_delivery,
        })
    }

    /// The status this event reports, if it reports one.
    pub fn status(&self) -> Option<Status> {
        match &self.kind {
            EventKind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::EventTime;
    use chrono::TimeZone;

    fn event(code: &str, city: &str, text: &str) -> CarrierEvent {
        let at = Utc
            .with_ymd_and_hms(2024, 5, 1, 10, 0, 0)
            .single()
            .expect("valid");
        CarrierEvent::new(
            TrackingNumber::parse("ABC123").expect("valid"),
            EventTime::system(at),
            Status::InTransit,
            Some(SubCode::Processing),
        )
        .code("statusCode", code)
        .text(Some(text))
        .location(Location {
            city: Some(city.to_owned()),
            ..Location::default()
        })
    }

    #[test]
    fn ids_hash_to_their_own_low_bits() {
        use std::hash::BuildHasher;
        for parts in [&["a"][..], &["dhl", "2024-05-02T10:00:00Z", "delivered"]] {
            let id = EventId::of(parts);
            let low = u64::from_be_bytes(id.0[8..].try_into().expect("8 bytes"));
            assert_eq!(IdBitsState::default().hash_one(id), low, "{parts:?}");
        }
    }

    #[test]
    fn identity_ignores_text_and_location_spelling() {
        let a = ShipmentEvent::from_carrier("dhl", event("transit", "Leipzig ", "Sorted"))
            .expect("valid");
        let b = ShipmentEvent::from_carrier("dhl", event("transit", " leipzig", "Sortiert"))
            .expect("valid");
        assert_eq!(a.id, b.id);
    }

    #[test]
    fn identity_depends_on_codes_place_and_carrier() {
        let a =
            ShipmentEvent::from_carrier("dhl", event("transit", "Leipzig", "x")).expect("valid");
        let b =
            ShipmentEvent::from_carrier("dhl", event("delivered", "Leipzig", "x")).expect("valid");
        let c = ShipmentEvent::from_carrier("dhl", event("transit", "Halle", "x")).expect("valid");
        let d =
            ShipmentEvent::from_carrier("gls", event("transit", "Leipzig", "x")).expect("valid");
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_ne!(a.id, d.id);
    }

    /// Identities are persisted (de-duplication across versions): these values must never
    /// change once unitrack runs in production. They were computed apart from this code
    /// (Python's `xxhash.xxh3_128_hexdigest` over the length-prefixed parts), when the hash
    /// went from SHA-256 to XXH3-128 before the first deployment.
    #[test]
    fn identities_are_stable_across_versions() {
        let plain = ShipmentEvent::from_carrier("dhl", event("transit", "Leipzig ", "Sorted"))
            .expect("valid");
        assert_eq!(plain.id.to_string(), "e201f7bfe060586aa75c0d14418ced14");
        let mut odd = event("transit", "x", "y").code("ice", "DLVRY");
        odd.time = EventTime::system(
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 58)
                .single()
                .expect("valid"),
        );
        odd.location = Some(Location {
            city: Some("  Straße  am\tSEE ".to_owned()),
            postal_code: Some("ΟΔΟΣ".to_owned()),
            country: None,
        });
        let odd = ShipmentEvent::from_carrier("dhl_parcel_de", odd).expect("valid");
        assert_eq!(odd.id.to_string(), "8ac85ee7e92359e85c67f41c0d4d9add");
        let mut nowhere = event("", "x", "y");
        nowhere.location = None;
        nowhere.codes.clear();
        let nowhere = ShipmentEvent::from_carrier("gls", nowhere).expect("valid");
        assert_eq!(nowhere.id.to_string(), "3e467b232367e267de828bf0466f3d98");
    }

    #[test]
    fn normalised_location_joins_words_and_lower_cases_each_part() {
        // The first implementation, kept as the reference.
        let reference = |l: &Location| {
            let norm = |part: &Option<String>| {
                part.as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            format!(
                "{}|{}|{}",
                norm(&l.city),
                norm(&l.postal_code),
                norm(&l.country)
            )
        };
        let part = |s: &str| Some(s.to_owned());
        for location in [
            Location::default(),
            Location {
                city: part(" Bad  Homburg\u{a0}v.d.H. "),
                postal_code: part("61348"),
                country: part("DE"),
            },
            Location {
                city: part("ΣΑΣ"),
                postal_code: part("Σ"),
                country: part("İSTANBUL ΟΔΟΣ"),
            },
            Location {
                city: None,
                postal_code: part("\t"),
                country: part("ÆØÅ"),
            },
        ] {
            assert_eq!(location.normalised(), reference(&location), "{location:?}");
        }
    }

    #[test]
    fn ascii_locations_are_normalised_without_allocating_as_ever() {
        let part = |s: &str| Some(s.to_owned());
        let every_ascii: String = (0u8..128).map(char::from).collect();
        let mut locations = vec![
            Location::default(),
            Location {
                city: part(" Bad  Homburg\tv.d.H. "),
                postal_code: part("61348"),
                country: part("DE"),
            },
            Location {
                city: part(&every_ascii),
                postal_code: part("\x0b\x0c\x1c\x1d\x1e\x1fA"),
                country: None,
            },
        ];
        for c in (0u8..128).map(char::from) {
            locations.push(Location {
                city: Some(format!("a{c}B{c}{c}c")),
                postal_code: Some(format!("{c}")),
                country: Some(format!("{c}X")),
            });
        }
        for location in &locations {
            let fast = location.normalise_ascii(&mut [0; 512]).map(str::to_owned);
            assert_eq!(fast, Some(location.normalised()), "{location:?}");
        }
        let long = Location {
            city: part(&"x".repeat(200)),
            ..Location::default()
        };
        assert_eq!(long.normalise_ascii(&mut [0; 128]), None);
        let greek = Location {
            city: part("ΟΔΟΣ"),
            ..Location::default()
        };
        assert_eq!(greek.normalise_ascii(&mut [0; 128]), None);
    }

    #[test]
    fn identities_of_long_and_non_ascii_parts_are_the_plain_hash() {
        let long = "Ü".repeat(300);
        let mut hasher = IdHasher::default();
        for part in ["a", &long, "b"] {
            hasher.part(part);
        }
        let mut plain = Vec::new();
        for part in ["a", &long, "b"] {
            plain.extend((part.len() as u64).to_le_bytes());
            plain.extend(part.as_bytes());
        }
        assert_eq!(hasher.finish().0, xxh3_128(&plain).to_be_bytes());
    }

    #[test]
    fn event_id_is_lower_case_hex() {
        let id = EventId([
            0x00, 0x0f, 0xa0, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ]);
        assert_eq!(id.to_string(), "000fa0ff0102030405060708090a0b0c");
    }

    #[test]
    fn event_id_hex_round_trips() {
        let id = EventId::of(&["a", "b"]);
        assert_eq!(EventId::parse_hex(&id.to_string()), Some(id));
        assert_eq!(EventId::parse_hex("zz"), None);
    }

    #[test]
    fn a_sub_code_of_another_status_is_dropped() {
        let at = Utc
            .with_ymd_and_hms(2024, 5, 1, 10, 0, 0)
            .single()
            .expect("valid");
        let event = CarrierEvent::new(
            TrackingNumber::parse("A1").expect("valid"),
            EventTime::system(at),
            Status::Delivered,
            Some(SubCode::Locker),
        );
        assert_eq!(event.sub_status, None);
    }
}
