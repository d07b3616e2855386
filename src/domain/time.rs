//! Event time kept honestly (STATUS_MODEL rule 9): the UTC instant, the carrier's local
//! wall-clock time, the zone, and where the zone came from. Local times without an offset
//! are resolved in a named zone, never stamped as UTC.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

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
    /// IANA zone name or fixed offset (`+02:00`) the local time was read in.
    pub zone: Option<String>,
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
            zone: Some(at.offset().to_string()),
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
            zone: Some(zone.name().to_owned()),
            zone_source: source,
        }
    }

    /// A time set by unitrack itself (commands, timers), in UTC.
    pub fn system(utc: DateTime<Utc>) -> Self {
        Self {
            utc,
            local: None,
            zone: Some("UTC".to_owned()),
            zone_source: ZoneSource::System,
        }
    }

    /// Milliseconds since the epoch, the sort key of the fold.
    pub fn millis(&self) -> i64 {
        self.utc.timestamp_millis()
    }
}

/// Parses an ISO-8601 / RFC 3339 time with an offset; the offset may lack its colon
/// (`2024-10-07T10:46:14+0200`, as GLS sends it) and fractions of seconds are allowed.
pub fn parse_offset_time(value: &str) -> Result<DateTime<FixedOffset>, TimeError> {
    let value = value.trim();
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f%z"))
        .map_err(|_| TimeError {
            value: value.to_owned(),
            expected: "ISO-8601 time with UTC offset",
        })
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
    let zone = match iso2.to_ascii_uppercase().as_str() {
        "DE" => Tz::Europe__Berlin,
        "AT" => Tz::Europe__Vienna,
        "CH" => Tz::Europe__Zurich,
        "NL" => Tz::Europe__Amsterdam,
        "BE" => Tz::Europe__Brussels,
        "LU" => Tz::Europe__Luxembourg,
        "FR" => Tz::Europe__Paris,
        "IT" => Tz::Europe__Rome,
        "ES" => Tz::Europe__Madrid,
        "PL" => Tz::Europe__Warsaw,
        "CZ" => Tz::Europe__Prague,
        "DK" => Tz::Europe__Copenhagen,
        "SE" => Tz::Europe__Stockholm,
        "NO" => Tz::Europe__Oslo,
        "FI" => Tz::Europe__Helsinki,
        "GB" | "UK" => Tz::Europe__London,
        "IE" => Tz::Europe__Dublin,
        "HU" => Tz::Europe__Budapest,
        "SK" => Tz::Europe__Bratislava,
        "SI" => Tz::Europe__Ljubljana,
        "HR" => Tz::Europe__Zagreb,
        "GR" => Tz::Europe__Athens,
        "RO" => Tz::Europe__Bucharest,
        "BG" => Tz::Europe__Sofia,
        "CN" => Tz::Asia__Shanghai,
        "HK" => Tz::Asia__Hong_Kong,
        "JP" => Tz::Asia__Tokyo,
        "IN" => Tz::Asia__Kolkata,
        "SG" => Tz::Asia__Singapore,
        "TR" => Tz::Europe__Istanbul,
        _ => return None,
    };
    Some(zone)
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
}
