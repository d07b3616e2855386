//! Package identity: a carrier id plus the carrier's tracking number, normalised once, and
//! the Kafka key `<carrier>:<TRACKING_NUMBER>` of everything about the package.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Why a package identity could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The tracking number is empty after normalisation.
    #[error("tracking number is empty")]
    EmptyTrackingNumber,
    /// The tracking number holds characters no carrier uses.
    #[error("tracking number `{0}` holds characters other than letters, digits, '-' and '_'")]
    InvalidTrackingNumber(String),
    /// The carrier id is not snake_case.
    #[error("carrier id `{0}` is not a snake_case id")]
    InvalidCarrier(String),
    /// A package key without the `<carrier>:<tracking>` shape.
    #[error("package key `{0}` is not of the form <carrier>:<TRACKING_NUMBER>")]
    InvalidKey(String),
}

/// A tracking number, normalised: trimmed, upper-case, no inner whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingNumber(String);

impl TrackingNumber {
    /// Normalises `raw` and checks that something sensible remains.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let normalised = if raw.is_ascii() && !raw.bytes().any(|b| char::from(b).is_whitespace()) {
            // The usual case, upper-cased in one pass (an ASCII letter's upper case is ASCII).
            raw.to_ascii_uppercase()
        } else {
            normalised(raw)
        };
        if normalised.is_empty() {
            return Err(IdentityError::EmptyTrackingNumber);
        }
        if !normalised
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(IdentityError::InvalidTrackingNumber(normalised));
        }
        Ok(Self(normalised))
    }

    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `raw` without whitespace, upper-cased by Unicode's rules.
fn normalised(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

impl TryFrom<String> for TrackingNumber {
    type Error = IdentityError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<TrackingNumber> for String {
    fn from(number: TrackingNumber) -> Self {
        number.0
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that `id` is a carrier id: lower snake_case ASCII, starting with a letter.
pub fn check_carrier_id(id: &str) -> Result<(), IdentityError> {
    let mut chars = id.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if starts_with_letter && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(())
    } else {
        Err(IdentityError::InvalidCarrier(id.to_owned()))
    }
}

/// One tracked parcel: carrier plus tracking number. Its display form is the Kafka key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PackageKey {
    /// The carrier id, e.g. `dhl` (borrowed when it is a registered carrier's id).
    pub carrier: Cow<'static, str>,
    /// The normalised tracking number.
    pub tracking_number: TrackingNumber,
}

impl PackageKey {
    /// Builds the key of a package, checking the carrier id.
    pub fn new(carrier: &str, tracking_number: TrackingNumber) -> Result<Self, IdentityError> {
        check_carrier_id(carrier)?;
        Ok(Self {
            carrier: Cow::Owned(carrier.to_owned()),
            tracking_number,
        })
    }

    /// [`PackageKey::new`] for a carrier id that lives for ever (a registered carrier's),
    /// kept without copying it.
    pub fn of_carrier(
        carrier: &'static str,
        tracking_number: TrackingNumber,
    ) -> Result<Self, IdentityError> {
        check_carrier_id(carrier)?;
        Ok(Self {
            carrier: Cow::Borrowed(carrier),
            tracking_number,
        })
    }

    /// Parses a Kafka key of the form `<carrier>:<TRACKING_NUMBER>`.
    pub fn parse(key: &str) -> Result<Self, IdentityError> {
        let (carrier, tracking) = key
            .split_once(':')
            .ok_or_else(|| IdentityError::InvalidKey(key.to_owned()))?;
        let tracking_number = TrackingNumber::parse(tracking)?;
        if tracking_number.as_str() != tracking {
            return Err(IdentityError::InvalidKey(key.to_owned()));
        }
        Self::new(carrier, tracking_number)
    }

    /// Calls `f` with the key's text, `<carrier>:<TRACKING_NUMBER>` (its display form),
    /// joined on the stack: the Kafka key and the Avro field of every event and change,
    /// without a `String` each.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let (carrier, number) = (self.carrier.as_bytes(), self.tracking_number.0.as_bytes());
        let mut buffer = [0u8; 128];
        if let Some(text) = buffer.get_mut(..carrier.len() + 1 + number.len()) {
            let (head, tail) = text.split_at_mut(carrier.len());
            head.copy_from_slice(carrier);
            tail[0] = b':';
            tail[1..].copy_from_slice(number);
            // Joined from two `str`s and an ASCII colon: always UTF-8.
            if let Ok(text) = std::str::from_utf8(text) {
                return f(text);
            }
        }
        f(&self.to_string())
    }
}

impl fmt::Display for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.carrier, self.tracking_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_numbers_are_trimmed_upper_cased_and_joined() {
        let number = TrackingNumber::parse(" 1z 999aa1\t0123456784 ").expect("valid");
        assert_eq!(number.as_str(), "1Z999AA10123456784");
    }

    #[test]
    fn non_ascii_tracking_numbers_are_upper_cased_by_unicode_rules() {
        // The no-break space is whitespace; "ß" upper-cases to "SS".
        let number = TrackingNumber::parse("\u{a0}12\u{a0}3ß").expect("valid");
        assert_eq!(number.as_str(), "123SS");
        assert!(TrackingNumber::parse("12é").is_err());
        let number = TrackingNumber::parse("ab\u{b}c").expect("vertical tab is whitespace");
        assert_eq!(number.as_str(), "ABC");
    }

    proptest::proptest! {
        /// ASCII numbers take a shortcut to the same result as any text.
        #[test]
        fn ascii_numbers_normalise_as_any_text(raw in "[ -~\t\n\x0b\x0c\r\x1c-\x1f]{0,24}") {
            let general = normalised(&raw);
            let expected = if general.is_empty() {
                Err(IdentityError::EmptyTrackingNumber)
            } else if general.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                Ok(TrackingNumber(general))
            } else {
                Err(IdentityError::InvalidTrackingNumber(general))
            };
            proptest::prop_assert_eq!(TrackingNumber::parse(&raw), expected);
        }
    }

    #[test]
    fn empty_and_odd_tracking_numbers_are_rejected() {
        assert_eq!(
            TrackingNumber::parse("  "),
            Err(IdentityError::EmptyTrackingNumber)
        );
        assert!(matches!(
            TrackingNumber::parse("12/34"),
            Err(IdentityError::InvalidTrackingNumber(_))
        ));
    }

    #[test]
    fn key_round_trips_through_its_display_form() {
        let key = PackageKey::new(
            "dhl_parcel_de",
            TrackingNumber::parse("00340434161094015902").expect("valid"),
        )
        .expect("valid carrier");
        assert_eq!(key.to_string(), "dhl_parcel_de:00340434161094015902");
        assert_eq!(PackageKey::parse(&key.to_string()), Ok(key));
    }

    #[test]
    fn the_key_text_is_the_display_form_however_long() {
        for len in [1, 20, 118, 119, 200] {
            let number = TrackingNumber::parse(&"7".repeat(len)).expect("valid");
            let key = PackageKey::new("dhl_parcel_de", number).expect("valid carrier");
            assert_eq!(
                key.with_text(str::to_owned),
                key.to_string(),
                "{len} digits"
            );
        }
    }

    #[test]
    fn keys_must_be_normalised_and_name_a_carrier() {
        assert!(PackageKey::parse("dhl:abc").is_err());
        assert!(PackageKey::parse("DHL:ABC").is_err());
        assert!(PackageKey::parse("ABC").is_err());
    }
}
