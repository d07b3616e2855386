//! Event time kept honestly (STATUS_MODEL rule 9): the UTC instant, the carrier's local
//! wall-clock time, the zone, and where the zone came from. Local times without an offset
//! are resolved in a named zone, never stamped as UTC.

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Where the zone of an event time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// The payload carried an explicit UTC offset.
    PayloadOffset,
    /// The carrier documents the zone of its local times (e.g. Europe/Berlin).
    CarrierDefault,
    /// Derived from the event's location (e.g. its country).
    Location,
    /// Nothing said; a zone was assumed.
    Assumed,
    /// Set by unitrack itself (manual commands, timers): UTC by construction.
    System,
}

/// The time of one event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventTime {
    /// The instant, in UTC.
    pub utc: DateTime<Utc>,
    /// The carrier's local wall-clock time, as it was sent.
    pub local: Option<NaiveDateTime>,
    /// IANA zone name or fixed offset (`+02:00`) the local time was read in (borrowed for
    /// zone names and whole-hour offsets, which saves an allocation per event).
    pub zone: Option<Cow<'static, str>>,
    /// Where the zone came from.
    pub zone_source: ZoneSource,
}

/// A timestamp that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read time `{value}` as {expected}")]
pub struct TimeError {
    /// The text that was given.
    pub value: String,
    /// What was expected, in words.
    pub expected: &'static str,
}

impl EventTime {
    /// A time that carried its own UTC offset.
    pub fn with_offset(at: DateTime<FixedOffset>) -> Self {
        Self {
            utc: at.with_timezone(&Utc),
            local: Some(at.naive_local()),
            zone: Some(offset_name(*at.offset())),
            zone_source: ZoneSource::PayloadOffset,
        }
    }

    /// A local time read in `zone`. In the autumn overlap the earlier instant is taken; a
    /// time in the spring gap is read with the offset before the gap (as the carrier's
    /// clock would still show it).
    pub fn in_zone(local: NaiveDateTime, zone: Tz, source: ZoneSource) -> Self {
        let utc = match zone.from_local_datetime(&local) {
            LocalResult::Single(at) => at.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
            LocalResult::None => {
                let before = zone.offset_from_utc_datetime(&(local - chrono::Duration::hours(3)));
                let offset = chrono::Offset::fix(&before);
                (local - chrono::Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
            }
        };
        Self {
            utc,
            local: Some(local),
            zone: Some(Cow::Borrowed(zone.name())),
            zone_source: source,
        }
    }

    /// A time set by unitrack itself (commands, timers), in UTC.
    pub fn system(utc: DateTime<Utc>) -> Self {
        Self {
            utc,
            local: None,
            zone: Some(Cow::Borrowed("UTC")),
            zone_source: ZoneSource::System,
        }
    }

    /// Milliseconds since the epoch, the sort key of the fold.
    pub fn millis(&self) -> i64 {
        self.utc.timestamp_millis()
    }
}

/// Whole-hour offsets from -12:00 to +14:00, as `FixedOffset` displays them.
#[rustfmt::skip]
const HOUR_OFFSETS: [&str; 27] = [
    "-12:00", "-11:00", "-10:00", "-09:00", "-08:00", "-07:00", "-06:00", "-05:00", "-04:00",
    "-03:00", "-02:00", "-01:00", "+00:00", "+01:00", "+02:00", "+03:00", "+04:00", "+05:00",
    "+06:00", "+07:00", "+08:00", "+09:00", "+10:00", "+11:00", "+12:00", "+13:00", "+14:00",
];

/// `offset.to_string()`, borrowed for whole hours (nearly every offset a carrier sends).
fn offset_name(offset: FixedOffset) -> Cow<'static, str> {
    let seconds = offset.local_minus_utc();
    let index = usize::try_from(seconds / 3600 + 12).ok();
    match index.and_then(|i| HOUR_OFFSETS.get(i)) {
        Some(name) if seconds % 3600 == 0 => Cow::Borrowed(name),
        _ => Cow::Owned(offset.to_string()),
    }
}

/// Parses an ISO-8601 / RFC 3339 time with an offset; the offset may lack its colon
/// (`2024-10-07T10:46:14+0200`, as GLS sends it) and fractions of seconds are allowed.
pub fn parse_offset_time(value: &str) -> Result<DateTime<FixedOffset>, TimeError> {
    let value = value.trim();
    if let Some(at) = iso_with_offset(value) {
        return Ok(at);
    }
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f%z"))
        .map_err(|_| TimeError {
            value: value.to_owned(),
            expected: "ISO-8601 time with UTC offset",
        })
}

/// Parses the local form most carriers send, `YYYY-MM-DDTHH:MM:SS` with an optional
/// fraction of one to nine digits and nothing after it, to the value chrono's
/// `%Y-%m-%dT%H:%M:%S%.f` gives, at a fraction of the cost (chrono interprets its format
/// string anew on every call). `None` for any other text, which the caller then reads
/// with chrono.
pub fn parse_iso_local(value: &str) -> Option<NaiveDateTime> {
    match iso_prefix(value.trim())? {
        (local, "") => Some(local),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]` with a `Z`, `±HH:MM` or `±HHMM` offset, read by hand.
/// `None` for any other text (other forms, leap seconds, out-of-range parts): the caller
/// then reads it with chrono, which gives the same value for every text accepted here.
fn iso_with_offset(text: &str) -> Option<DateTime<FixedOffset>> {
    let (local, rest) = iso_prefix(text)?;
    let east = match rest.as_bytes() {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let (hours, minutes) = (two_digits(*h1, *h2)?, two_digits(*m1, *m2)?);
            if minutes > 59 {
                return None;
            }
            let seconds = i32::try_from(hours * 3600 + minutes * 60).ok()?;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    FixedOffset::east_opt(east)?
        .from_local_datetime(&local)
        .single()
}

fn two_digits(tens: u8, ones: u8) -> Option<u32> {
    (tens.is_ascii_digit() && ones.is_ascii_digit())
        .then(|| u32::from(tens - b'0') * 10 + u32::from(ones - b'0'))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]` at the start of `text`, and the rest of the text.
fn iso_prefix(text: &str) -> Option<(NaiveDateTime, &str)> {
    let bytes = text.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let pair = |i: usize| two_digits(at(i)?, at(i + 1)?);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| at(i) != Some(c)) {
        return None;
    }
    let year = i32::try_from(pair(0)? * 100 + pair(2)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, pair(5)?, pair(8)?)?;
    let (hour, minute, second) = (pair(11)?, pair(14)?, pair(17)?);
    if second > 59 {
        return None;
    }
    // Bytes 0..19 are ASCII, so 19 is a character boundary.
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&len) {
            return None;
        }
        let value: u32 = fraction[..len].parse().ok()?;
        nanos = value * 10u32.pow(9 - u32::try_from(len).ok()?);
        rest = &fraction[len..];
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some((date.and_time(time), rest))
}

/// Parses a local time without offset with the given chrono format.
pub fn parse_local_time(
    value: &str,
    format: &str,
    expected: &'static str,
) -> Result<NaiveDateTime, TimeError> {
    NaiveDateTime::parse_from_str(value.trim(), format).map_err(|_| TimeError {
        value: value.to_owned(),
        expected,
    })
}

/// The zone of a country when the whole country keeps one zone; `None` for countries with
/// several (US, CA, RU, AU, BR...) or not listed.
pub fn zone_of_country(iso2: &str) -> Option<Tz> {
    // Every listed code has two letters; upper-cased on the stack (this runs per event).
    let &[a, b] = iso2.as_bytes() else {
        return None;
    };
    let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
    let zone = match &upper {
        b"DE" => Tz::Europe__Berlin,
        b"AT" => Tz::Europe__Vienna,
        b"CH" => Tz::Europe__Zurich,
        b"NL" => Tz::Europe__Amsterdam,
        b"BE" => Tz::Europe__Brussels,
        b"LU" => Tz::Europe__Luxembourg,
        b"FR" => Tz::Europe__Paris,
        b"IT" => Tz::Europe__Rome,
        b"ES" => Tz::Europe__Madrid,
        b"PL" => Tz::Europe__Warsaw,
        b"CZ" => Tz::Europe__Prague,
        b"DK" => Tz::Europe__Copenhagen,
        b"SE" => Tz::Europe__Stockholm,
        b"NO" => Tz::Europe__Oslo,
        b"FI" => Tz::Europe__Helsinki,
        b"GB" | b"UK" => Tz::Europe__London,
        b"IE" => Tz::Europe__Dublin,
        b"HU" => Tz::Europe__Budapest,
        b"SK" => Tz::Europe__Bratislava,
        b"SI" => Tz::Europe__Ljubljana,
        b"HR" => Tz::Europe__Zagreb,
        b"GR" => Tz::Europe__Athens,
        b"RO" => Tz::Europe__Bucharest,
        b"BG" => Tz::Europe__Sofia,
        b"CN" => Tz::Asia__Shanghai,
        b"HK" => Tz::Asia__Hong_Kong,
        b"JP" => Tz::Asia__Tokyo,
        b"IN" => Tz::Asia__Kolkata,
        b"SG" => Tz::Asia__Singapore,
        b"TR" => Tz::Europe__Istanbul,
        _ => return None,
    };
    Some(zone)
}

/// The zone of a place given by its country and, where the country keeps several zones,
/// its state or province: [`zone_of_country`] (`Location`), else [`zone_of_region`].
pub fn zone_of_place(country: &str, region: Option<&str>) -> Option<(Tz, ZoneSource)> {
    zone_of_country(country)
        .map(|zone| (zone, ZoneSource::Location))
        .or_else(|| region.and_then(|region| zone_of_region(country, region)))
}

/// The zone of a state or province of a country that keeps several (US, CA, AU), by its
/// postal abbreviation (`NJ`, `ON`, `NSW`): the zone and whether the whole region keeps it
/// (`Location`) or only most of it (`Assumed`: Texas's El Paso, Florida's panhandle, the
/// other side of a split state are an hour off). `None` when the region is not known.
pub fn zone_of_region(country: &str, region: &str) -> Option<(Tz, ZoneSource)> {
    use Tz::*;
    let country = country.trim().to_ascii_uppercase();
    let region = region.trim().to_ascii_uppercase();
    let (zone, whole) = match (country.as_str(), region.as_str()) {
        ("US", "CT" | "DE" | "DC" | "GA" | "ME" | "MD" | "MA" | "NH" | "NJ" | "NY" | "NC")
        | ("US", "OH" | "PA" | "RI" | "SC" | "VT" | "VA" | "WV") => (America__New_York, true),
        ("US", "FL" | "KY") => (America__New_York, false),
        ("US", "MI") => (America__Detroit, false),
        ("US", "IN") => (America__Indiana__Indianapolis, false),
        ("US", "AL" | "AR" | "IL" | "IA" | "LA" | "MN" | "MS" | "MO" | "OK" | "WI") => {
            (America__Chicago, true)
        }
        ("US", "KS" | "NE" | "ND" | "SD" | "TN" | "TX") => (America__Chicago, false),
        ("US", "CO" | "MT" | "NM" | "UT" | "WY") => (America__Denver, true),
        ("US", "ID") => (America__Boise, false),
        ("US", "AZ") => (America__Phoenix, true),
        ("US", "CA" | "WA") => (America__Los_Angeles, true),
        ("US", "NV" | "OR") => (America__Los_Angeles, false),
        ("US", "AK") => (America__Anchorage, false),
        ("US", "HI") => (Pacific__Honolulu, true),
        ("US", "PR") => (America__Puerto_Rico, true),
        ("CA", "ON" | "QC") => (America__Toronto, false),
        ("CA", "NS" | "PE") => (America__Halifax, true),
        ("CA", "NB") => (America__Moncton, true),
        ("CA", "NL") => (America__St_Johns, false),
        ("CA", "MB") => (America__Winnipeg, true),
        ("CA", "SK") => (America__Regina, false),
        ("CA", "AB") => (America__Edmonton, true),
        ("CA", "BC") => (America__Vancouver, false),
        ("CA", "YT") => (America__Whitehorse, true),
        ("CA", "NT") => (America__Yellowknife, true),
        ("CA", "NU") => (America__Iqaluit, false),
        ("AU", "NSW") => (Australia__Sydney, false),
        ("AU", "ACT") => (Australia__Sydney, true),
        ("AU", "VIC") => (Australia__Melbourne, true),
        ("AU", "QLD") => (Australia__Brisbane, true),
        ("AU", "SA") => (Australia__Adelaide, true),
        ("AU", "WA") => (Australia__Perth, true),
        ("AU", "TAS") => (Australia__Hobart, true),
        ("AU", "NT") => (Australia__Darwin, true),
        _ => return None,
    };
    let source = if whole {
        ZoneSource::Location
    } else {
        ZoneSource::Assumed
    };
    Some((zone, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, min, 0))
            .expect("valid date")
    }

    #[test]
    fn offset_names_are_what_fixed_offset_displays() {
        for seconds in (-15 * 3600..=15 * 3600).step_by(900).chain([1, -59, 3601]) {
            let offset = FixedOffset::east_opt(seconds).expect("in range");
            assert_eq!(offset_name(offset), offset.to_string(), "{seconds}");
        }
    }

    #[test]
    fn offset_without_colon_is_read() {
        let at = parse_offset_time("2024-10-07T10:46:14+0200").expect("parses");
        let time = EventTime::with_offset(at);
        assert_eq!(time.utc.to_rfc3339(), "2024-10-07T08:46:14+00:00");
        assert_eq!(time.zone.as_deref(), Some("+02:00"));
        assert_eq!(time.zone_source, ZoneSource::PayloadOffset);
    }

    #[test]
    fn berlin_local_time_is_not_utc() {
        let time = EventTime::in_zone(
            local(2016, 3, 17, 11, 44),
            Tz::Europe__Berlin,
            ZoneSource::CarrierDefault,
        );
        assert_eq!(time.utc.to_rfc3339(), "2016-03-17T10:44:00+00:00");
        assert_eq!(time.local, Some(local(2016, 3, 17, 11, 44)));
    }

    #[test]
    fn autumn_overlap_takes_the_earlier_instant() {
        let time = EventTime::in_zone(
            local(2024, 10, 27, 2, 30),
            Tz::Europe__Berlin,
            ZoneSource::CarrierDefault,
        );
        assert_eq!(time.utc.to_rfc3339(), "2024-10-27T00:30:00+00:00");
    }

    #[test]
    fn spring_gap_is_read_with_the_offset_before_it() {
        let time = EventTime::in_zone(
            local(2024, 3, 31, 2, 30),
            Tz::Europe__Berlin,
            ZoneSource::CarrierDefault,
        );
        assert_eq!(time.utc.to_rfc3339(), "2024-03-31T01:30:00+00:00");
    }

    #[test]
    fn hand_read_offset_times_equal_chrono() {
        for text in [
            "2024-10-07T10:46:14+0200",
            "2024-10-07T10:46:14+02:00",
            "2024-10-07T10:46:14Z",
            "2024-10-07T10:46:14.5-05:30",
            "2024-10-07T10:46:14.123456789+00:00",
            "2024-02-29T23:59:59-0000",
            "0001-01-01T00:00:00Z",
        ] {
            let hand = iso_with_offset(text).expect(text);
            let chrono = DateTime::parse_from_rfc3339(text)
                .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
                .expect(text);
            assert_eq!(hand, chrono, "{text}");
            assert_eq!(hand.offset(), chrono.offset(), "{text}");
            assert_eq!(parse_offset_time(text), Ok(chrono), "{text}");
        }
    }

    #[test]
    fn other_offset_times_are_left_to_chrono() {
        for text in [
            "2024-10-07T10:46:60Z",
            "2024-13-07T10:46:14Z",
            "2023-02-29T10:46:14Z",
            "2024-10-07T24:00:00Z",
            "2024-10-07 10:46:14Z",
            "2024-10-07t10:46:14z",
            "2024-10-07T10:46:14.Z",
            "2024-10-07T10:46:14.1234567891Z",
            "2024-10-07T10:46:14+02",
            "2024-10-07T10:46:14+02:60",
            "2024-10-07T10:46:14+24:00",
            "2024-10-07T10:46:14",
            "2024-1-07T10:46:14Z",
        ] {
            assert_eq!(iso_with_offset(text), None, "{text}");
        }
        // chrono still reads what it always read.
        let at = parse_offset_time("2024-10-07 10:46:14+02:00").expect("parses");
        assert_eq!(at.to_rfc3339(), "2024-10-07T10:46:14+02:00");
        let at = parse_offset_time("2024-10-07T10:46:14.1234567891Z").expect("parses");
        assert_eq!(at.timestamp_subsec_nanos(), 123_456_789);
    }

    #[test]
    fn hand_read_local_times_equal_chrono() {
        let chrono = |text| parse_local_time(text, "%Y-%m-%dT%H:%M:%S%.f", "").ok();
        for text in [
            "2024-06-10T07:03:00",
            "2024-06-10T07:03:00.25",
            " 2024-06-10T07:03:00.000000001 ",
        ] {
            assert_eq!(parse_iso_local(text), chrono(text), "{text}");
            assert!(parse_iso_local(text).is_some(), "{text}");
        }
        for text in [
            "2024-06-10T07:03:00+02:00",
            "2024-06-10T07:03",
            "2024-06-10 07:03:00",
            "2024-06-10T07:03:00.",
            "2024-06-31T07:03:00",
        ] {
            assert_eq!(parse_iso_local(text), None, "{text}");
        }
    }

    #[test]
    fn twelve_hour_clock_reads_pm_as_afternoon() {
        let at = parse_local_time(
            "8/17/2021 7:11:26 PM",
            "%m/%d/%Y %I:%M:%S %p",
            "M/d/yyyy h:mm:ss tt",
        )
        .expect("parses");
        assert_eq!(
            at,
            NaiveDate::from_ymd_opt(2021, 8, 17)
                .and_then(|d| d.and_hms_opt(19, 11, 26))
                .expect("valid")
        );
    }

    #[test]
    fn a_region_of_a_country_with_several_zones_has_its_zone() {
        assert_eq!(
            zone_of_region("US", "nj"),
            Some((Tz::America__New_York, ZoneSource::Location))
        );
        assert_eq!(
            zone_of_region("US", "MN"),
            Some((Tz::America__Chicago, ZoneSource::Location))
        );
        // Texas keeps Central time but El Paso Mountain: most of it, assumed.
        assert_eq!(
            zone_of_region("US", "TX"),
            Some((Tz::America__Chicago, ZoneSource::Assumed))
        );
        assert_eq!(
            zone_of_region("CA", "AB"),
            Some((Tz::America__Edmonton, ZoneSource::Location))
        );
        assert_eq!(
            zone_of_region("AU", "NSW"),
            Some((Tz::Australia__Sydney, ZoneSource::Assumed))
        );
        assert_eq!(zone_of_region("US", "XX"), None);
        assert_eq!(zone_of_region("DE", "BY"), None);
    }
}
