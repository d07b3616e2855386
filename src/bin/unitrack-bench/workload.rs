//! The benchmark workload: raw records of all seven carriers, made from the documented
//! fixture bodies in `tests/fixtures/carriers/` by substituting tracking numbers and
//! shifting dates, with several polls per package over time, re-sent histories
//! (duplicates) and older events that arrive after newer ones (late events).
//!
//! Deterministic: the same arguments give the same records, byte for byte.

use chrono::{Days, NaiveDate};
use serde_json::Value;
use std::sync::OnceLock;

/// One raw record: the carrier's topic suffix, the key and the body.
pub struct RawRecord {
    /// Carrier id (the raw topic is `<raw_prefix><carrier>`).
    pub carrier: &'static str,
    /// Record key: the tracking number (DPD: the parcel number its body lacks).
    pub key: Vec<u8>,
    /// The body, as the carrier's API returns it.
    pub body: Vec<u8>,
}

impl RawRecord {
    /// The unified events its carrier's mapper makes of it, as the normalise stage would.
    pub fn map(&self) -> anyhow::Result<Vec<unitrack::domain::ShipmentEvent>> {
        let carrier = unitrack::carriers::find(self.carrier)
            .ok_or_else(|| anyhow::anyhow!("no registered carrier {}", self.carrier))?;
        let raw = unitrack::carriers::RawRecord {
            key: Some(&self.key),
            payload: &self.body,
            ..unitrack::carriers::RawRecord::default()
        };
        unitrack::carriers::map_record(carrier, &raw)
            .map_err(|e| anyhow::anyhow!("{} body does not map: {e}", self.carrier))
    }
}

/// How a template's events are laid out.
enum Layout {
    /// A JSON body whose events are the array at this JSON pointer.
    Json { events: &'static str },
    /// An XML body whose events are consecutive elements from `open` to `close`.
    Xml {
        open: &'static str,
        close: &'static str,
    },
}

/// A fixture file: its path under `tests/fixtures/carriers/` and its text.
struct Fixture {
    path: &'static str,
    body: &'static str,
}

/// One documented fixture body used as a template.
struct Template {
    carrier: &'static str,
    fixture: Fixture,
    /// A part of the tracking number that is unique in the body; replaced by a serial of
    /// the same length.
    serial: &'static str,
    /// The record key when the body carries no tracking number (DPD).
    key_prefix: Option<&'static str>,
    layout: Layout,
    /// Whether the body lists events newest first.
    newest_first: bool,
}

const FIXTURES: &str = "tests/fixtures/carriers";

macro_rules! fixture {
    ($path:literal) => {
        Fixture {
            path: $path,
            body: include_str!(concat!("../../../tests/fixtures/carriers/", $path)),
        }
    };
}

static TEMPLATES: [Template; 7] = [
    Template {
        carrier: "dhl",
        fixture: fixture!("dhl/english_failed_attempt_locker_then_collected.json"),
        serial: "161094015902",
        key_prefix: None,
        layout: Layout::Json {
            events: "/shipments/0/events",
        },
        newest_first: true,
    },
    Template {
        carrier: "dhl_parcel_de",
        fixture: fixture!("dhl_parcel_de/packstation_ready_then_collected.xml"),
        serial: "161094015902",
        key_prefix: None,
        layout: Layout::Xml {
            open: "<data name=\"piece-event\" ",
            close: "/>",
        },
        newest_first: false,
    },
    Template {
        carrier: "dpd",
        fixture: fixture!("dpd/delivered.xml"),
        serial: "",
        key_prefix: Some("0150"),
        layout: Layout::Xml {
            open: "<statusInfo>",
            close: "</statusInfo>",
        },
        newest_first: false,
    },
    Template {
        carrier: "gls",
        fixture: fixture!("gls/delivered.json"),
        serial: "569979615",
        key_prefix: None,
        layout: Layout::Json {
            events: "/parcels/0/events",
        },
        newest_first: true,
    },
    Template {
        carrier: "hermes",
        fixture: fixture!("hermes/delivered.json"),
        serial: "567890123456789",
        key_prefix: None,
        layout: Layout::Json {
            events: "/shipmentinfo/0/status",
        },
        newest_first: false,
    },
    Template {
        carrier: "ups",
        fixture: fixture!("ups/delivered.json"),
        serial: "676831722495",
        key_prefix: None,
        layout: Layout::Json {
            events: "/trackResponse/shipment/0/package/0/activity",
        },
        newest_first: true,
    },
    Template {
        carrier: "fedex",
        fixture: fixture!("fedex/delivered.json"),
        serial: "612358801",
        key_prefix: None,
        layout: Layout::Json {
            events: "/output/completeTrackResults/0/trackResults/0/scanEvents",
        },
        newest_first: true,
    },
];

/// The carrier ids of the workload, in template order.
pub fn carriers() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|t| t.carrier)
}

/// Where the templates come from, for the report.
pub fn sources() -> String {
    let files: Vec<String> = TEMPLATES
        .iter()
        .map(|t| format!("`{FIXTURES}/{}`", t.fixture.path))
        .collect();
    files.join(", ")
}

/// A small deterministic mixer (splitmix64), so the workload needs no randomness crate.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A template, parsed once: its events split out.
struct Prepared {
    template: &'static Template,
    body: Body,
    /// Events in time order, as indices into the body's event list.
    by_time: Vec<usize>,
}

enum Body {
    Json {
        value: Value,
        events: &'static str,
    },
    Xml {
        head: String,
        events: Vec<String>,
        tail: String,
    },
}

fn prepared() -> &'static [Prepared] {
    static CELL: OnceLock<Vec<Prepared>> = OnceLock::new();
    CELL.get_or_init(|| TEMPLATES.iter().map(Prepared::new).collect())
}

impl Prepared {
    fn new(template: &'static Template) -> Self {
        let (body, count) = match template.layout {
            Layout::Json { events } => {
                // Start-up invariant: the fixture templates are valid JSON with an event
                // array at the pointer (checked by this module's tests).
                #[allow(clippy::expect_used)]
                let value: Value =
                    serde_json::from_str(template.fixture.body).expect("template is JSON");
                let count = value
                    .pointer(events)
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                (Body::Json { value, events }, count)
            }
            Layout::Xml { open, close } => {
                let (head, events, tail) = split_xml(template.fixture.body, open, close);
                let count = events.len();
                (Body::Xml { head, events, tail }, count)
            }
        };
        let by_time = if template.newest_first {
            (0..count).rev().collect()
        } else {
            (0..count).collect()
        };
        Self {
            template,
            body,
            by_time,
        }
    }

    /// The record key of package `serial`: its tracking number (DPD: its parcel number).
    fn key(&self, serial: u64) -> Vec<u8> {
        match self.template.key_prefix {
            Some(prefix) => format!("{prefix}{}", digits(serial, 10)).into_bytes(),
            None => number_of(self.template, serial).into_bytes(),
        }
    }

    /// The body of package `serial`, dates shifted by `days`, with only the events at
    /// these positions (in the body's own order).
    fn body(&self, serial: u64, days: u64, keep: &[bool]) -> Vec<u8> {
        let text = match &self.body {
            Body::Json { value, events } => {
                let mut value = value.clone();
                if let Some(Value::Array(list)) = value.pointer_mut(events) {
                    let mut index = 0;
                    list.retain(|_| {
                        index += 1;
                        keep.get(index - 1).copied().unwrap_or(false)
                    });
                }
                if self.template.carrier == "gls" {
                    gls_current_status(&mut value);
                }
                serde_json::to_string(&value).unwrap_or_default()
            }
            Body::Xml { head, events, tail } => {
                let mut out = head.clone();
                for (event, _) in events.iter().zip(keep).filter(|(_, keep)| **keep) {
                    out.push_str(event);
                    out.push('\n');
                }
                out.push_str(tail);
                out
            }
        };
        let serial_part = self.template.serial;
        let text = if serial_part.is_empty() {
            text
        } else {
            text.replace(serial_part, &digits(serial, serial_part.len()))
        };
        shift_dates(&text, days).into_bytes()
    }
}

/// The last `width` decimal digits of `serial`, zero-padded.
fn digits(serial: u64, width: usize) -> String {
    let modulus = 10u64.checked_pow(width as u32).unwrap_or(u64::MAX);
    format!("{:0width$}", serial % modulus)
}

/// The tracking number of package `serial` of a template (the record key).
fn number_of(template: &Template, serial: u64) -> String {
    let original = match template.carrier {
        "dhl" | "dhl_parcel_de" => "00340434161094015902",
        "gls" => "21569979615",
        "hermes" => "H1234567890123456789",
        "ups" => "1ZA82D676831722495",
        _ => "794612358801",
    };
    original.replace(template.serial, &digits(serial, template.serial.len()))
}

/// GLS sends the parcel's current status beside its events; it must match the newest
/// event kept, or the mapper adds it as an event of its own.
fn gls_current_status(value: &mut Value) {
    let Some(parcel) = value.pointer_mut("/parcels/0") else {
        return;
    };
    let newest = parcel
        .pointer("/events/0")
        .map(|e| (e["code"].as_str().unwrap_or(""), e["eventDateTime"].clone()));
    let Some((code, at)) = newest else {
        return;
    };
    let status = match code.split('.').next().unwrap_or("") {
        "DELIVD" => "DELIVERED",
        "OUTDEL" => "INDELIVERY",
        _ if code == "INTIAL.PREADVICE" => "PREADVICE",
        _ => "INTRANSIT",
    };
    parcel["status"] = Value::from(status);
    parcel["statusDateTime"] = at;
}

/// Splits an XML body into the text before the first event, the events, and the rest.
fn split_xml(text: &str, open: &str, close: &str) -> (String, Vec<String>, String) {
    let mut events = Vec::new();
    let mut first = None;
    let mut end = 0;
    let mut rest = 0;
    while let Some(start) = text[rest..].find(open).map(|i| rest + i) {
        let Some(stop) = text[start..].find(close).map(|i| start + i + close.len()) else {
            break;
        };
        first.get_or_insert(start);
        events.push(text[start..stop].to_owned());
        end = stop;
        rest = stop;
    }
    let first = first.unwrap_or(text.len());
    (
        text[..first].to_owned(),
        events,
        text[end.max(first)..].to_owned(),
    )
}

/// Shifts every date in the body by `days`: ISO dates (`2024-07-29T…`, `2024-01-20`), UPS's
/// `20240314`, DHL Parcel DE's `08.02.2024 17:31` and DPD's `3/12/2024 1:08:44 PM`. Times
/// of day and offsets stay as they are.
fn shift_dates(text: &str, days: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Dates sit in JSON strings, XML attribute values and element texts: after `"` or `>`.
    while let Some(i) = rest.find(['"', '>']) {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        if let Some((shifted, used)) = shift_date_at(rest, days) {
            out.push_str(&shifted);
            rest = &rest[used..];
        }
    }
    out.push_str(rest);
    out
}

/// The shifted date at the start of `text` and how many bytes it replaces.
fn shift_date_at(text: &str, days: u64) -> Option<(String, usize)> {
    let token: &str = text.split(['"', '<', ' ', 'T']).next()?;
    let shift = |date: NaiveDate| date.checked_add_days(Days::new(days));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = token.split(['-', '.', '/']).collect();
    let sane = |date: &NaiveDate| (2000..2100).contains(&chrono::Datelike::year(date));
    let date = match parts.as_slice() {
        [y, m, d] if token.contains('-') && y.len() == 4 && digits(y) && digits(m) && digits(d) => {
            let date = NaiveDate::parse_from_str(token, "%Y-%m-%d").ok()?;
            shift(date)?.format("%Y-%m-%d").to_string()
        }
        [d, m, y] if token.contains('.') && y.len() == 4 && digits(d) && digits(m) => {
            let date = NaiveDate::parse_from_str(token, "%d.%m.%Y").ok()?;
            shift(date)?.format("%d.%m.%Y").to_string()
        }
        [m, d, y] if token.contains('/') && y.len() == 4 && digits(m) && digits(d) => {
            let date = NaiveDate::parse_from_str(token, "%m/%d/%Y").ok()?;
            let date = shift(date)?;
            format!(
                "{}/{}/{}",
                chrono::Datelike::month(&date),
                chrono::Datelike::day(&date),
                chrono::Datelike::year(&date)
            )
        }
        [ymd] if ymd.len() == 8 && digits(ymd) => {
            let date = NaiveDate::parse_from_str(token, "%Y%m%d").ok()?;
            if !sane(&date) {
                return None;
            }
            shift(date)?.format("%Y%m%d").to_string()
        }
        _ => return None,
    };
    Some((date, token.len()))
}

/// What package `p` shows in its poll `r` of `polls`: its history is revealed over the
/// polls; some polls re-send the previous body unchanged (duplicates); in a quarter of the
/// packages one older event is revealed only after the next newer one (a late event).
/// Returns the template, and which of its events (body positions) the poll holds.
fn poll_events(p: u64, polls: u64, r: u64) -> (&'static Prepared, Vec<bool>) {
    let all = prepared();
    let prepared = &all[(p % all.len() as u64) as usize];
    let n = prepared.by_time.len();
    let mut reveal = prepared.by_time.clone();
    let h = mix(p ^ 0xA5A5);
    if n >= 3 && h.is_multiple_of(4) {
        let j = (h >> 8) as usize % (n - 1);
        reveal.swap(j, j + 1);
    }
    let duplicate = |r: u64| r > 0 && polls > 2 && mix(h ^ r).is_multiple_of(6);
    let fresh = (0..polls).filter(|r| !duplicate(*r)).count().max(1);
    // A duplicate shows what the last fresh poll before it showed.
    let seen = (0..=r).filter(|r| !duplicate(*r)).count().max(1);
    let shown = (n * seen).div_ceil(fresh).clamp(1.min(n), n);
    let mut keep = vec![false; n];
    for &i in &reveal[..shown] {
        keep[i] = true;
    }
    (prepared, keep)
}

/// Poll `r` of package `p` (of `polls`), as a raw record.
fn poll(p: u64, polls: u64, r: u64) -> RawRecord {
    let (prepared, keep) = poll_events(p, polls, r);
    RawRecord {
        carrier: prepared.template.carrier,
        key: prepared.key(p),
        body: prepared.body(p, mix(p) % 300, &keep),
    }
}

/// The shape of a workload.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Raw records in total.
    pub records: u64,
    /// Packages they are about.
    pub packages: u64,
}

/// The records of the workload in arrival order: round after round, each package's next
/// poll, packages in a scrambled order so that carriers and partitions interleave.
pub fn records(shape: Shape) -> impl Iterator<Item = RawRecord> {
    let packages = shape.packages.max(1);
    let base = shape.records / packages;
    let extra = shape.records % packages;
    let polls = move |p: u64| base + u64::from(p < extra);
    let rounds = base + u64::from(extra > 0);
    // A stride coprime with the package count scrambles the order within a round.
    let stride = (1..)
        .map(|k| packages / 2 + k)
        .find(|s| gcd(*s, packages) == 1)
        .unwrap_or(1);
    (0..rounds).flat_map(move |round| {
        (0..packages).filter_map(move |i| {
            let p = (i * stride) % packages;
            let polls = polls(p);
            (round < polls).then(|| poll(p, polls, round))
        })
    })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Package `p`'s whole history in one record, for the memory probe.
pub fn full_history(p: u64) -> RawRecord {
    let all = prepared();
    let prepared = &all[(p % all.len() as u64) as usize];
    let keep = vec![true; prepared.by_time.len()];
    RawRecord {
        carrier: prepared.template.carrier,
        key: prepared.key(p),
        body: prepared.body(p, mix(p) % 300, &keep),
    }
}

/// A probe: a new package (serial `serial`, outside the workload's) whose only record
/// reveals its first event, so it causes exactly one status change.
pub fn probe(serial: u64) -> RawRecord {
    let all = prepared();
    let prepared = &all[(serial % all.len() as u64) as usize];
    let mut keep = vec![false; prepared.by_time.len()];
    if let Some(&first) = prepared.by_time.first() {
        keep[first] = true;
    }
    RawRecord {
        carrier: prepared.template.carrier,
        key: prepared.key(serial),
        body: prepared.body(serial, 0, &keep),
    }
}

/// The package key (`<carrier>:<NUMBER>`) a raw record is about.
pub fn package_key(record: &RawRecord) -> String {
    format!(
        "{}:{}",
        record.carrier,
        String::from_utf8_lossy(&record.key).to_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use unitrack::domain::{Outcome, PackageState, with_more_follow};

    fn map(record: &RawRecord) -> Vec<unitrack::domain::ShipmentEvent> {
        record
            .map()
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&record.body)))
    }

    #[test]
    fn every_carrier_body_maps_to_events_of_its_package() {
        for p in 0..14 {
            for record in (0..5).map(|r| poll(p + 1234, 5, r)) {
                let events = map(&record);
                assert!(!events.is_empty(), "{}", record.carrier);
                let key = package_key(&record);
                assert!(events.iter().all(|e| e.package.to_string() == key), "{key}");
            }
        }
    }

    #[test]
    fn the_full_history_has_all_template_events() {
        for p in 0..7 {
            let template = &TEMPLATES[p as usize];
            let events = map(&full_history(p));
            let all = match template.layout {
                Layout::Json { events } => {
                    let v: Value = serde_json::from_str(template.fixture.body).expect("json");
                    v.pointer(events)
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                }
                Layout::Xml { open, close } => {
                    split_xml(template.fixture.body, open, close).1.len()
                }
            };
            assert!(
                events.len() >= all,
                "{}: {} < {all}",
                template.carrier,
                events.len()
            );
        }
    }

    #[test]
    fn dates_shift_in_every_format() {
        let text = r#"{"a":"2024-07-29T10:02:00+0200","b":"20240314","c":"113200"}<x d="08.02.2024 17:31"/><content>3/12/2024 1:08:44 PM</content>"#;
        let shifted = shift_dates(text, 20);
        assert_eq!(
            shifted,
            r#"{"a":"2024-08-18T10:02:00+0200","b":"20240403","c":"113200"}<x d="28.02.2024 17:31"/><content>4/1/2024 1:08:44 PM</content>"#
        );
    }

    #[test]
    fn packages_get_distinct_numbers() {
        let keys: std::collections::HashSet<String> =
            (0..700).map(|p| package_key(&poll(p, 1, 0))).collect();
        assert_eq!(keys.len(), 700);
    }

    #[test]
    fn each_probe_changes_a_status() {
        for serial in 10_000_000..10_000_014 {
            let record = probe(serial);
            let mut state = PackageState::default();
            let changed = map(&record)
                .iter()
                .any(|e| matches!(state.apply(e), Outcome::Changed(_)));
            assert!(changed, "{}", record.carrier);
        }
    }

    #[test]
    fn the_workload_has_the_asked_size_with_duplicates() {
        let shape = Shape {
            records: 1000,
            packages: 210,
        };
        let records: Vec<RawRecord> = records(shape).collect();
        assert_eq!(records.len(), 1000);
        let distinct: std::collections::HashSet<&[u8]> =
            records.iter().map(|r| r.body.as_slice()).collect();
        assert!(distinct.len() < 1000, "some bodies are re-sent");
    }

    #[test]
    fn the_workload_holds_duplicates_late_events_and_changes() {
        let shape = Shape {
            records: 3500,
            packages: 700,
        };
        let mut states: std::collections::HashMap<String, PackageState> = Default::default();
        let (mut duplicate, mut stale, mut changed, mut events) = (0, 0, 0, 0);
        for record in records(shape) {
            let mapped = map(&record);
            for (event, more) in with_more_follow(&mapped) {
                events += 1;
                match states
                    .entry(event.package.to_string())
                    .or_default()
                    .apply_part(event, more)
                {
                    Outcome::Duplicate => duplicate += 1,
                    Outcome::Stale => stale += 1,
                    Outcome::Changed(_) => changed += 1,
                    Outcome::Unchanged | Outcome::Held => {}
                }
            }
        }
        eprintln!("{events} events: {duplicate} duplicates, {stale} stale, {changed} changes");
        assert_eq!(states.len(), 700);
        assert!(duplicate > events / 3, "re-sent histories");
        assert!(stale > 0, "late events");
        assert!(changed > 700, "status changes beyond the first");
    }
}
