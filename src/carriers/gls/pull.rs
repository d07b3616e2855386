//! The fast path for well-formed GLS bodies: the [`Json`] pull reader fills the wire
//! structs field by field, as the DHL reader does. It reads `{"parcels": [...]}` with the
//! types the structs declare; for anything else (a missing or repeated field, a field of
//! another type, malformed JSON...) it answers `None`, and serde_json reads the body again
//! and words the error.

use super::{Event, Parcel, ParcelsResponse};
use crate::carriers::json::{Json, Seen};

/// The body, if it is well-formed; `None` for anything else.
pub(super) fn read(body: &str) -> Option<ParcelsResponse<'_>> {
    let mut json = Json::new(body);
    let (mut parcels, mut seen) = (None, Seen::default());
    json.each_field(|json, key| {
        if key != "parcels" {
            return json.skip();
        }
        seen.first(0)?;
        parcels = Some(json.list(parcel)?);
        Some(())
    })?;
    json.finish()?;
    Some(ParcelsResponse { parcels: parcels? })
}

fn parcel<'a>(json: &mut Json<'a>) -> Option<Parcel<'a>> {
    let (mut parcel, mut seen) = (Parcel::default(), Seen::default());
    json.each_field(|json, key| {
        let (bit, text) = match key {
            "unitno" => (0, &mut parcel.unitno),
            "status" => (1, &mut parcel.status),
            "statusDateTime" => (2, &mut parcel.status_date_time),
            "errorCode" => (3, &mut parcel.error_code),
            "events" => {
                seen.first(4)?;
                parcel.events = json.or_null(|json| json.list(event))?;
                return Some(());
            }
            _ => return json.skip(),
        };
        seen.first(bit)?;
        *text = json.str_or_null()?;
        Some(())
    })?;
    Some(parcel)
}

fn event<'a>(json: &mut Json<'a>) -> Option<Event<'a>> {
    let (mut code, mut event_date_time) = (None, None);
    let (mut city, mut postal_code, mut country, mut description) = (None, None, None, None);
    let mut seen = Seen::default();
    json.each_field(|json, key| {
        let (bit, text) = match key {
            "code" => (0, &mut code),
            "eventDateTime" => (1, &mut event_date_time),
            "city" => (2, &mut city),
            "postalCode" => (3, &mut postal_code),
            "country" => (4, &mut country),
            "description" => (5, &mut description),
            _ => return json.skip(),
        };
        seen.first(bit)?;
        *text = json.str_or_null()?;
        Some(())
    })?;
    Some(Event {
        // Missing or `null`: left to serde, which rejects both.
        code: code?,
        city,
        postal_code,
        country,
        description,
        event_date_time: event_date_time?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The same for edited fixtures (most edits break the body, some leave odd but
        /// valid JSON).
        #[test]
        fn the_pull_reader_reads_edited_fixtures_as_serde_does(
            body in crate::carriers::mutated_fixture("gls", "json")
        ) {
            if let Some(pulled) = read(&body) {
                let reference = serde_json::from_str::<ParcelsResponse>(&body).ok();
                proptest::prop_assert_eq!(Some(pulled), reference, "{}", body);
            }
        }
    }

    /// What the pull reader reads, serde_json reads the same; every well-formed fixture
    /// takes the pull read.
    #[test]
    fn the_pull_reader_reads_what_serde_reads_or_leaves_it_to_serde() {
        let fixtures = crate::carriers::fixture_bodies("gls", "json");
        assert!(fixtures.len() >= 8);
        let event = r#"{"code":"INTIAL.NORMAL","eventDateTime":"2024-10-07T10:46:14+0200"}"#;
        let odd = [
            r#"{"parcels":[]}"#.to_owned(),
            r#"{"parcels":null}"#.to_owned(),
            r#"{}"#.to_owned(),
            r#"[]"#.to_owned(),
            r#"{"parcels":[],"parcels":[]}"#.to_owned(),
            r#"{"parcels":[{"requested":"1","errorCode":"E_404_01"}],"x":[1,{"y":null}]}"#
                .to_owned(),
            r#"{"parcels":[{"unitno":"1","unitno":"2"}]}"#.to_owned(),
            r#"{"parcels":[{"unitno":null,"status":null,"events":null}]}"#.to_owned(),
            r#"{"parcels":[{"unitno":7}]}"#.to_owned(),
            format!(r#"{{"parcels":[{{"unitno":"1","events":[{event},{event}]}}]}}"#),
            r#"{"parcels":[{"events":[{"code":null,"eventDateTime":"x"}]}]}"#.to_owned(),
            r#"{"parcels":[{"events":[{"eventDateTime":"x"}]}]}"#.to_owned(),
            r#"{"parcels":[{"events":[{"code":"A","eventDateTime":null}]}]}"#.to_owned(),
            r#"{"parcels":[{"events":[{"code":"A","eventDateTime":"x","city":null}]}]}"#.to_owned(),
            r#"{"parcels":[{"events":[{"code":"A","eventDateTime":"x","code":"B"}]}]}"#.to_owned(),
            r#"{"parcels":[{"events":[{"code":"A\u00dc\n","eventDateTime":"x"}]}]}"#.to_owned(),
            r#"{"parcels":[{"events":[{"code":"A","eventDateTime":"x"}],}]}"#.to_owned(),
            r#"{"parcels":[{"unitno":"1"}]} x"#.to_owned(),
            r#"{"p\u0061rcels":[]}"#.to_owned(),
            String::new(),
        ];
        let bodies = fixtures.iter().map(|(_, body)| body.clone()).chain(odd);
        for (i, body) in bodies.enumerate() {
            let reference = serde_json::from_str::<ParcelsResponse>(&body).ok();
            match read(&body) {
                Some(pulled) => assert_eq!(Some(pulled), reference, "{body}"),
                None if i < fixtures.len() => {
                    assert!(reference.is_none(), "fixture left to serde: {body}")
                }
                None => {}
            }
        }
    }
}
