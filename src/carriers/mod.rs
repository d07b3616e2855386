//! Carrier mappers: one file per carrier behind one trait, one registry line each.
//!
//! A mapper turns one raw record (one carrier body, as an adapter or a push delivered it)
//! into unified [`CarrierEvent`]s. Three outcomes stay distinct: ignored on purpose
//! (`Ok(vec![])`), mapped, or poison (`Err`, sent to the dead-letter topic with the reason).
//! Unknown codes map to [`Status::Unknown`](crate::domain::Status::Unknown), never to a
//! guess; documented codes that never change a status (notices, ETA updates, "history
//! closed") are info events ([`CarrierEvent::info`]), which are not unknown codes. Mappers
//! are deterministic: no clock, no randomness, no logging, no I/O.

mod dhl;
mod dhl_parcel_de;
mod dhl_text;
mod dpd;
mod fedex;
mod gls;
mod hermes;
mod json;
mod ups;

use crate::domain::{CarrierEvent, IdentityError, ShipmentEvent, TimeError, TrackingNumber};
use std::borrow::Cow;

/// Our own view of one raw record; never an rdkafka type.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawRecord<'a> {
    /// The topic it came from (empty offline).
    pub topic: &'a str,
    /// The record key, if any (adapters usually key by tracking number).
    pub key: Option<&'a [u8]>,
    /// The record headers.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The carrier body, verbatim.
    pub payload: &'a [u8],
    /// The broker timestamp, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

impl RawRecord<'_> {
    /// The record key as a tracking number, for bodies that carry none (DPD).
    pub fn key_tracking_number(&self) -> Result<TrackingNumber, MapError> {
        let key = self.key.ok_or(MapError::MissingKey)?;
        let key = std::str::from_utf8(key)
            .map_err(|_| MapError::Shape("record key is not UTF-8".to_owned()))?;
        // Adapters may key by package key (`dpd:0123`) or by the bare number.
        let number = key.rsplit_once(':').map_or(key, |(_, number)| number);
        Ok(TrackingNumber::parse(number)?)
    }

    /// The payload as UTF-8 text.
    pub fn text(&self) -> Result<&str, MapError> {
        // simdutf8 checks with SIMD instructions chosen at run time, several times faster
        // than the standard library on carrier bodies; the standard library words the error.
        simdutf8::basic::from_utf8(self.payload).or_else(|_| {
            std::str::from_utf8(self.payload)
                .map_err(|e| MapError::Syntax(format!("body is not UTF-8: {e}")))
        })
    }
}

/// Why a raw record is poison. The message is the precise reason sent to the dead-letter
/// topic; [`MapError::class`] is the bounded label for metrics and headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The body does not parse as the carrier's format (JSON, XML).
    #[error("not parseable: {0}")]
    Syntax(String),
    /// The body parses but has the wrong shape (a required field missing or mistyped).
    #[error("wrong shape: {0}")]
    Shape(String),
    /// A timestamp cannot be read.
    #[error("bad time: {0}")]
    Time(#[from] TimeError),
    /// A tracking number or carrier id is unusable.
    #[error("bad identity: {0}")]
    Identity(#[from] IdentityError),
    /// The body has no tracking number and the record has no key.
    #[error("the body carries no tracking number and the record has no key")]
    MissingKey,
    /// The mapper panicked on this body: a bug in unitrack, not necessarily in the body.
    /// The record is dead-lettered like poison (replay it once the mapper is fixed)
    /// instead of stopping the stage at it, for every carrier, on every restart.
    #[error("the {carrier} mapper panicked on this body (a unitrack bug): {message}")]
    Panic {
        /// The carrier whose mapper panicked.
        carrier: &'static str,
        /// The panic's message.
        message: String,
    },
}

impl MapError {
    /// A bounded label: `syntax`, `shape`, `time`, `identity`, `missing_key`, `panic`.
    pub fn class(&self) -> &'static str {
        match self {
            MapError::Syntax(_) => "syntax",
            MapError::Shape(_) => "shape",
            MapError::Time(_) => "time",
            MapError::Identity(_) => "identity",
            MapError::MissingKey => "missing_key",
            MapError::Panic { .. } => "panic",
        }
    }

    /// A JSON parse error, told apart from a JSON shape error as serde_json classifies it.
    pub fn from_json(error: &serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => MapError::Shape(error.to_string()),
            _ => MapError::Syntax(error.to_string()),
        }
    }
}

/// One entry of a carrier API's error list (`{"code": "...", "message": "..."}`), as UPS
/// and FedEx send them.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ApiError {
    code: Option<String>,
    message: Option<String>,
}

/// The reason of a carrier's error body: each `code message`, joined by `; `.
pub(crate) fn describe_errors(errors: &[ApiError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = e.code.as_deref().unwrap_or("?");
            format!("{code} {}", e.message.as_deref().unwrap_or(""))
                .trim()
                .to_owned()
        })
        .collect();
    if parts.is_empty() {
        "no errors listed".to_owned()
    } else {
        parts.join("; ")
    }
}

/// An optional text, borrowed from the body where it can be (no escapes in it). serde
/// borrows into a `Cow<str>` field only when the field is the `Cow` itself: under an
/// `Option`, `#[serde(borrow)]` alone still copies every text into a `String`. Use with
/// `#[serde(default, borrow, deserialize_with = "super::borrowed_text")]`.
pub(crate) fn borrowed_text<'de: 'a, 'a, D>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    let text: Option<Text<'a>> = serde::Deserialize::deserialize(deserializer)?;
    Ok(text.map(|text| text.0))
}

/// Trimmed text, or `None` when it is missing or blank.
pub(crate) fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The events of the shipments (or pieces) of one body, one list per shipment, flattened;
/// where a tracking number stands for several, only its newest use (the one with the latest
/// event; the first of equals) is kept. DHL reuses numbers: one answer may hold a parcel of
/// years ago under the same number (captured for DHL Paket; DHL Express says it recycles
/// waybill numbers and may show two shipments under one), and the older one, long
/// delivered, would hold its terminal status against every event of the newer one.
pub(crate) fn newest_uses(uses: Vec<Vec<CarrierEvent>>) -> Vec<CarrierEvent> {
    let newest = |events: &[CarrierEvent]| events.iter().map(|e| e.time.utc).max();
    let mut kept: Vec<Vec<CarrierEvent>> = Vec::with_capacity(uses.len());
    for events in uses {
        let Some(number) = events.first().map(|e| &e.tracking_number) else {
            continue;
        };
        match kept
            .iter_mut()
            .find(|other| other.first().is_some_and(|e| e.tracking_number == *number))
        {
            Some(other) if newest(&events) > newest(other) => *other = events,
            Some(_) => {}
            None => kept.push(events),
        }
    }
    kept.into_iter().flatten().collect()
}

/// A carrier mapper. Object-safe, synchronous and pure.
pub trait Carrier: Send + Sync {
    /// The carrier id (`dhl`, `dpd`...), also the suffix of its raw topic.
    fn id(&self) -> &'static str;

    /// Maps one raw record into unified events, in the carrier's order.
    fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError>;
}

/// Every carrier unitrack knows, one line each.
static REGISTRY: &[&dyn Carrier] = &[
    &dhl::Dhl,
    &dhl_parcel_de::DhlParcelDe,
    &dpd::Dpd,
    &gls::Gls,
    &hermes::Hermes,
    &ups::Ups,
    &fedex::Fedex,
];

/// Every registered carrier.
pub fn registry() -> &'static [&'static dyn Carrier] {
    REGISTRY
}

/// The carrier with this id.
pub fn find(id: &str) -> Option<&'static dyn Carrier> {
    REGISTRY.iter().copied().find(|carrier| carrier.id() == id)
}

/// Maps a raw record and gives each event its package key and identity. A panic of the
/// mapper is caught here and answered with [`MapError::Panic`] (release builds unwind:
/// see `Cargo.toml`), so one body that trips a bug is dead-lettered, not a poison pill.
pub fn map_record(
    carrier: &dyn Carrier,
    raw: &RawRecord<'_>,
) -> Result<Vec<ShipmentEvent>, MapError> {
    // Unwind safety: mappers are pure (no state a panic could leave half-written).
    crate::guard::catch_panic(|| map_events(carrier, raw)).unwrap_or_else(|message| {
        Err(MapError::Panic {
            carrier: carrier.id(),
            message,
        })
    })
}

fn map_events(carrier: &dyn Carrier, raw: &RawRecord<'_>) -> Result<Vec<ShipmentEvent>, MapError> {
    let events = carrier.map(raw)?;
    // Sized up front: collecting through `Result` would start at four events, and four
    // `ShipmentEvent`s are a large allocation for the allocator (slower to find and free).
    let mut mapped = Vec::with_capacity(events.len());
    for event in events {
        mapped.push(ShipmentEvent::from_carrier(carrier.id(), event)?);
    }
    Ok(mapped)
}

/// The input bodies of a carrier's fixtures (`tests/fixtures/carriers/<carrier>/*.<ext>`,
/// not the expected outputs), with their paths, in path order.
#[cfg(test)]
pub(crate) fn fixture_bodies(carrier: &str, ext: &str) -> Vec<(String, String)> {
    let dir = format!(
        "{}/tests/fixtures/carriers/{carrier}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut bodies: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture folder")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.to_string_lossy();
            let input = path.extension()? == ext && !name.ends_with(".expected.json");
            input.then(|| {
                let text = std::fs::read_to_string(&path).expect("UTF-8 fixture");
                (path.display().to_string(), text)
            })
        })
        .collect();
    bodies.sort();
    bodies
}

/// Texts [`mutated_fixture`] inserts: multi-byte characters (a byte index into them is
/// no char boundary), numbers and dates no type holds, escapes and entities, markup.
#[cfg(test)]
const ODD_TEXTS: &[&str] = &[
    "ß",
    "€",
    "\u{1F4E6}",
    "\u{0}",
    "99999999999999999999",
    "-1",
    "1e400",
    "2024-02-30T25:61:61",
    "13/45/2024 13:61:61 PM",
    "31.02.2024 24:00",
    "+99:99",
    "T",
    "Z",
    " AM",
    "\\u00e4",
    "\\ud800",
    "&amp;",
    "&#0;",
    "<![CDATA[ß]]>",
    "null",
    "[]",
    "{}",
];

/// A carrier's fixture body with one random edit (a byte removed, inserted or replaced
/// from JSON's and XML's syntax characters, a span repeated, or one of [`ODD_TEXTS`]
/// inserted), for tests of the fast readers against serde's reading and of the mappers
/// against panics: most edits break the body, some keep it readable but odd. Bodies
/// that are no longer UTF-8 are left out.
#[cfg(test)]
pub(crate) fn mutated_fixture(
    carrier: &'static str,
    ext: &'static str,
) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    use proptest::sample::{Index, select};
    let bodies = fixture_bodies(carrier, ext);
    let syntax = b"{}[],:\"\\ 0-9.eEntf\n<>/=&;'u".to_vec();
    (
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
        0..5_u8,
        select(syntax),
        select(ODD_TEXTS),
    )
        .prop_filter_map("still UTF-8", move |(body, at, len, edit, byte, odd)| {
            let mut bytes = bodies[body.index(bodies.len())].1.clone().into_bytes();
            let at = at.index(bytes.len());
            match edit {
                0 => drop(bytes.remove(at)),
                1 => bytes.insert(at, byte),
                2 => bytes[at] = byte,
                3 => drop(bytes.splice(at..at, odd.bytes())),
                _ => {
                    let span = bytes[at..]
                        .iter()
                        .take(len.index(40) + 1)
                        .copied()
                        .collect::<Vec<_>>();
                    bytes.splice(at..at, span);
                }
            }
            String::from_utf8(bytes).ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_text_when_it_is_utf8_and_poison_with_the_place_when_not() {
        let text = "{\"city\":\"Köln – Mülheim 📦\"}".repeat(8);
        let raw = |payload| RawRecord {
            payload,
            ..RawRecord::default()
        };
        assert_eq!(raw(text.as_bytes()).text(), Ok(text.as_str()));
        let mut broken = text.clone().into_bytes();
        broken[100] = 0xff;
        assert_eq!(
            raw(&broken).text(),
            Err(MapError::Syntax(
                "body is not UTF-8: invalid utf-8 sequence of 1 bytes from index 100".to_owned()
            ))
        );
    }

    #[test]
    fn carrier_ids_are_unique_snake_case() {
        let mut ids: Vec<_> = registry().iter().map(|c| c.id()).collect();
        for id in &ids {
            crate::domain::check_carrier_id(id).expect("snake_case id");
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), registry().len());
    }

    /// Every carrier's edited fixtures (JSON and XML alike).
    fn edited_fixture_of_any_carrier() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            mutated_fixture("dhl", "json"),
            mutated_fixture("dhl_parcel_de", "xml"),
            mutated_fixture("dpd", "xml"),
            mutated_fixture("gls", "json"),
            mutated_fixture("hermes", "json"),
            mutated_fixture("ups", "json"),
            mutated_fixture("fedex", "json"),
        ]
    }

    proptest::proptest! {
        /// Poison is an error, never a panic: no edited body, given to any mapper with or
        /// without an odd record key, makes it panic (a panic would stop the normalise
        /// stage at that record for every carrier).
        #[test]
        fn no_edited_body_makes_a_mapper_panic(
            body in edited_fixture_of_any_carrier(),
            key in proptest::option::of("[0-9A-Za-z:ß €-]{0,30}"),
        ) {
            for carrier in registry() {
                let raw = RawRecord {
                    key: key.as_deref().map(str::as_bytes),
                    payload: body.as_bytes(),
                    ..RawRecord::default()
                };
                // Events or poison; a caught panic fails the test.
                let result = map_record(*carrier, &raw);
                proptest::prop_assert!(
                    !matches!(result, Err(MapError::Panic { .. })),
                    "{result:?}\n{body}"
                );
            }
        }
    }

    /// A mapper with a bug: it panics on a body that reads `boom`.
    struct Buggy;

    impl Carrier for Buggy {
        fn id(&self) -> &'static str {
            "buggy"
        }

        fn map(&self, raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
            let text = raw.text()?;
            assert_ne!(text, "boom", "the body says boom");
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_panicking_mapper_gives_a_panic_error_with_its_message() {
        let raw = |body: &'static str| RawRecord {
            payload: body.as_bytes(),
            ..RawRecord::default()
        };
        assert_eq!(map_record(&Buggy, &raw("fine")), Ok(Vec::new()));
        let error = map_record(&Buggy, &raw("boom")).expect_err("a panic is an error");
        assert_eq!(error.class(), "panic");
        let reason = error.to_string();
        assert!(
            reason.starts_with("the buggy mapper panicked on this body (a unitrack bug): ")
                && reason.contains("the body says boom"),
            "{reason}"
        );
        // The mapper still works for the next body.
        assert_eq!(map_record(&Buggy, &raw("fine again")), Ok(Vec::new()));
    }

    #[test]
    fn key_may_be_a_package_key_or_a_bare_number() {
        let raw = RawRecord {
            key: Some(b"dpd:0150 1234"),
            ..RawRecord::default()
        };
        assert_eq!(
            raw.key_tracking_number().expect("valid").as_str(),
            "01501234"
        );
        let raw = RawRecord {
            key: Some(b"09981122"),
            ..RawRecord::default()
        };
        assert_eq!(
            raw.key_tracking_number().expect("valid").as_str(),
            "09981122"
        );
        assert_eq!(
            RawRecord::default().key_tracking_number(),
            Err(MapError::MissingKey)
        );
    }
}
