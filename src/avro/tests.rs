use super::*;
use crate::domain::{
    CarrierEvent, Change, ChangeSource, Correction, Direction, EventId, EventKind, EventTime,
    Linkage, Location, Lock, PackageKey, ReasonOwner, ShipmentEvent, Source, Status, StatusChanged,
    StatusClass, SubCode, TrackingNumber, TransitionKind, ZoneSource,
};
use apache_avro::types::Value;
use chrono::{NaiveDate, TimeZone, Utc};
use std::borrow::Cow;

fn carrier_event() -> ShipmentEvent {
    let local = NaiveDate::from_ymd_opt(2016, 3, 17)
        .and_then(|d| d.and_hms_opt(11, 44, 0))
        .expect("valid");
    let time = EventTime::in_zone(
        local,
        chrono_tz::Tz::Europe__Berlin,
        ZoneSource::CarrierDefault,
    );
    let event = CarrierEvent::new(
        TrackingNumber::parse("00340434161094015902").expect("valid"),
        time,
        Status::DeliveryFailed,
        Some(SubCode::RecipientAbsent),
    )
    .code("ice", "DLVRY")
    .code("ric", "NRQRD")
    .text(Some("Der Empfänger wurde nicht angetroffen."))
    .location(Location {
        city: Some("Bonn".to_owned()),
        postal_code: Some("53113".to_owned()),
        country: Some("DE".to_owned()),
    })
    .attempt(2)
    .estimated_delivery(Utc.with_ymd_and_hms(2016, 3, 18, 12, 0, 0).single());
    ShipmentEvent::from_carrier("dhl_parcel_de", event).expect("valid")
}

fn command(kind: EventKind) -> ShipmentEvent {
    ShipmentEvent {
        id: EventId::of(&["command", "c-1"]),
        package: PackageKey::parse("dhl:ABC123").expect("valid"),
        source: Source::Manual {
            command_id: "c-1".to_owned(),
            actor: "ops@example.com".to_owned(),
            reason: Some("customer called".to_owned()),
        },
        kind,
        time: EventTime::system(
            Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0)
                .single()
                .expect("valid"),
        ),
        direction: None,
        codes: Vec::new(),
        text: None,
        location: None,
        estimated_delivery: None,
    }
}

fn all_event_shapes() -> Vec<ShipmentEvent> {
    let until = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).single();
    let mut correction = carrier_event();
    correction.kind = EventKind::Correction(Correction::LatestWith(Status::Cancelled));
    let mut latest = carrier_event();
    latest.kind = EventKind::Correction(Correction::Latest);
    let mut info = carrier_event();
    info.kind = EventKind::Info;
    let mut system = carrier_event();
    system.source = Source::System;
    vec![
        carrier_event(),
        correction,
        latest,
        system,
        command(EventKind::Status {
            status: Status::ReturnedToSender,
            sub_status: Some(SubCode::Received),
            reason_owner: Default::default(),
            action_required: true,
            attempt_no: None,
            lock: Some(Lock { until }),
        }),
        command(EventKind::Status {
            status: Status::Exception,
            sub_status: None,
            reason_owner: Default::default(),
            action_required: false,
            attempt_no: None,
            lock: Some(Lock { until: None }),
        }),
        command(EventKind::Register(Linkage {
            tenant: Some("plenty-42".to_owned()),
            order_id: Some("1001".to_owned()),
            package_id: Some("7".to_owned()),
            direction: Direction::Return,
        })),
        command(EventKind::ClearLock),
        info,
    ]
}

#[test]
fn schemas_parse_and_name_every_status() {
    let schema: serde_json::Value = serde_json::from_str(SHIPMENT_EVENT_AVSC).expect("JSON");
    let symbols = schema["fields"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["name"] == "status"))
        .map(|field| field["type"][1]["symbols"].clone())
        .expect("status field");
    let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(symbols, serde_json::json!(names));
    shipment_event_schema();
    status_changed_schema();
}

#[test]
fn shipment_events_round_trip_through_confluent_framing() {
    for event in all_event_shapes() {
        let record = ShipmentEventRecord::from(&event);
        let bytes = confluent_frame(42, shipment_event_schema(), &record).expect("encodes");
        let (id, datum) = confluent_unframe(&bytes).expect("framed");
        assert_eq!(id, 42);
        let back: ShipmentEventRecord =
            read_datum(shipment_event_schema(), shipment_event_schema(), datum).expect("decodes");
        assert_eq!(back, record);
        assert_eq!(ShipmentEvent::try_from(back).expect("valid"), event);
    }
}

#[test]
fn shipment_events_round_trip_through_single_object_encoding() {
    let event = carrier_event();
    let record = ShipmentEventRecord::from(&event);
    let bytes = single_object(shipment_event_schema(), &record).expect("encodes");
    let (print, datum) = single_object_unframe(&bytes).expect("framed");
    assert_eq!(print, fingerprint(shipment_event_schema()));
    let back: ShipmentEventRecord =
        read_datum(shipment_event_schema(), shipment_event_schema(), datum).expect("decodes");
    assert_eq!(ShipmentEvent::try_from(back).expect("valid"), event);
}

#[test]
fn status_changed_round_trips_and_the_generic_reader_sees_the_schema_fields() {
    let event = carrier_event();
    let change = Change {
        previous: Some((Status::OutForDelivery, Some(SubCode::OnVehicle))),
        status: Status::DeliveryFailed,
        sub_status: Some(SubCode::RecipientAbsent),
        kind: TransitionKind::Attention,
        seq: 3,
        decided_at_ms: event.time.millis(),
        decided_by: event.id.fingerprint(),
        trigger: event.id,
    };
    let linkage = Linkage {
        tenant: Some("plenty-42".to_owned()),
        order_id: Some("1001".to_owned()),
        package_id: None,
        direction: Direction::Outbound,
    };
    let changed = StatusChanged::new(&event, &change, Some(&linkage));
    let processed = Utc
        .with_ymd_and_hms(2024, 5, 1, 8, 0, 1)
        .single()
        .expect("valid");
    let record = StatusChangedRecord::new(&changed, processed);
    let bytes = confluent_frame(7, status_changed_schema(), &record).expect("encodes");
    let (_, datum) = confluent_unframe(&bytes).expect("framed");
    let back: StatusChangedRecord =
        read_datum(status_changed_schema(), status_changed_schema(), datum).expect("decodes");
    assert_eq!(back, record);

    let mut reader = datum;
    let value = GenericDatumReader::builder(status_changed_schema())
        .build()
        .and_then(|generic| generic.read_value(&mut reader))
        .expect("generic");
    let Value::Record(fields) = value else {
        panic!("a record")
    };
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        get("status"),
        Some(Value::Enum(4, "DELIVERY_FAILED".to_owned()))
    );
    assert_eq!(
        get("previous_status"),
        Some(Value::Union(
            1,
            Box::new(Value::Enum(3, "OUT_FOR_DELIVERY".to_owned()))
        ))
    );
    assert_eq!(
        get("sub_status"),
        Some(Value::Union(
            1,
            Box::new(Value::String("recipient_absent".to_owned()))
        ))
    );
    assert_eq!(
        get("tenant"),
        Some(Value::Union(
            1,
            Box::new(Value::String("plenty-42".to_owned()))
        ))
    );
    assert_eq!(
        get("occurred_at"),
        Some(Value::TimestampMillis(event.time.millis()))
    );
    assert_eq!(get("seq"), Some(Value::Long(3)));
}

#[test]
fn a_datum_of_an_older_schema_is_read_with_the_defaults_of_the_new_one() {
    // An older writer schema without the optional fields added since.
    let mut older: serde_json::Value = serde_json::from_str(SHIPMENT_EVENT_AVSC).expect("JSON");
    if let Some(fields) = older["fields"].as_array_mut() {
        fields.retain(|f| {
            !matches!(
                f["name"].as_str(),
                Some("estimated_delivery" | "linkage" | "lock")
            )
        });
    }
    let older = Schema::parse_str(&older.to_string()).expect("older schema parses");
    let event = carrier_event();
    let record = ShipmentEventRecord::from(&event);
    // Write through the generic Value path of the older schema.
    let mut value = apache_avro::to_value(&record).expect("to value");
    if let Value::Record(fields) = &mut value {
        fields.retain(|(n, _)| !matches!(n.as_str(), "estimated_delivery" | "linkage" | "lock"));
    }
    let value = value.resolve(&older).expect("fits the older schema");
    let bytes = GenericDatumWriter::builder(&older)
        .build()
        .and_then(|writer| writer.write_value_to_vec(value))
        .expect("encodes");
    let back: ShipmentEventRecord =
        read_datum(&older, shipment_event_schema(), &bytes).expect("resolves");
    assert_eq!(back.estimated_delivery, None);
    assert_eq!(back.tracking_number, record.tracking_number);
    assert_eq!(back.status, Some(Status::DeliveryFailed));
}

#[test]
fn framing_errors_are_precise() {
    assert!(matches!(
        confluent_unframe(&[1, 0, 0]),
        Err(AvroError::Framing { .. })
    ));
    assert!(matches!(
        single_object_unframe(&[0xC3]),
        Err(AvroError::Framing { .. })
    ));
}

/// apache-avro's bytes for a record: the reference for the direct writer.
fn reference<R: AvroRecord>(record: &R) -> Vec<u8> {
    let mut out = Vec::new();
    write_datum(R::schema(), record, &mut out).expect("apache-avro encodes");
    out
}

fn direct<R: AvroRecord>(record: &R) -> Vec<u8> {
    let mut out = Vec::new();
    record.write_datum(&mut out).expect("encodes");
    out
}

/// The event, change and linkage of a status change (it borrows from them).
fn status_change() -> (ShipmentEvent, Change, Linkage) {
    let event = carrier_event();
    let change = Change {
        previous: Some((Status::OutForDelivery, Some(SubCode::OnVehicle))),
        status: Status::DeliveryFailed,
        sub_status: Some(SubCode::RecipientAbsent),
        kind: TransitionKind::Attention,
        seq: 3,
        decided_at_ms: event.time.millis(),
        decided_by: event.id.fingerprint(),
        trigger: event.id,
    };
    let linkage = Linkage {
        tenant: Some("plenty-42".to_owned()),
        order_id: None,
        package_id: Some("7".to_owned()),
        direction: Direction::Return,
    };
    (event, change, linkage)
}

fn processed() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 1)
        .single()
        .expect("valid")
}

const ZONE_SOURCES: [ZoneSource; 5] = [
    ZoneSource::PayloadOffset,
    ZoneSource::CarrierDefault,
    ZoneSource::Location,
    ZoneSource::Assumed,
    ZoneSource::System,
];
const REASON_OWNERS: [ReasonOwner; 6] = [
    ReasonOwner::Carrier,
    ReasonOwner::Shipper,
    ReasonOwner::Recipient,
    ReasonOwner::Customs,
    ReasonOwner::ForceMajeure,
    ReasonOwner::Unknown,
];

/// Strings and numbers at the edges of the variable-length encoding.
fn edge_texts() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(63),
        "x".repeat(64),
        "Straße ΟΔΟΣ 東京 ".repeat(40),
    ]
}
const EDGE_LONGS: [i64; 7] = [0, -1, 1, -64, 64, i64::MIN, i64::MAX];

/// Every event record shape: each event kind, every enum symbol, edge numbers and texts.
fn event_records() -> Vec<ShipmentEventRecord<'static>> {
    let shapes = all_event_shapes();
    let mut records: Vec<ShipmentEventRecord> =
        shapes.iter().map(ShipmentEventRecord::from).collect();
    let event = carrier_event();
    let base = ShipmentEventRecord::from(&event);
    let with = |change: &dyn Fn(&mut ShipmentEventRecord)| {
        let mut record = base.clone();
        change(&mut record);
        record
    };
    for status in Status::ALL {
        records.push(with(&|r| r.status = Some(status)));
        records.push(with(&|r| r.voids_status = Some(status)));
    }
    for owner in REASON_OWNERS {
        records.push(with(&|r| r.reason_owner = owner));
    }
    for zone_source in ZONE_SOURCES {
        records.push(with(&|r| r.zone_source = zone_source));
    }
    for source in [
        records::EventSourceSymbol::Carrier,
        records::EventSourceSymbol::Manual,
        records::EventSourceSymbol::System,
    ] {
        records.push(with(&|r| r.source = source));
    }
    for kind in [
        records::EventKindSymbol::Status,
        records::EventKindSymbol::Correction,
        records::EventKindSymbol::Register,
        records::EventKindSymbol::ClearLock,
        records::EventKindSymbol::Info,
    ] {
        records.push(with(&|r| r.kind = kind));
    }
    for direction in [None, Some(Direction::Outbound), Some(Direction::Return)] {
        records.push(with(&|r| r.direction = direction));
    }
    for n in EDGE_LONGS {
        records.push(with(&|r| {
            r.occurred_at = n;
            r.occurred_at_local = Some(n);
            r.estimated_delivery = Some(n);
            r.attempt_no = i32::try_from(n).ok();
            r.lock = Some(records::LockRecord { until: Some(n) });
        }));
    }
    for text in edge_texts() {
        records.push(with(&|r| {
            r.text = Some(text.clone().into());
            r.codes = Cow::Owned(vec![
                crate::domain::RawCode {
                    name: text.clone().into(),
                    value: String::new(),
                };
                3
            ]);
            r.location = Some(records::LocationRecord {
                city: Some(text.clone().into()),
                postal_code: None,
                country: Some(text.clone().into()),
            });
        }));
    }
    records.push(with(&|r| {
        r.codes = Cow::Borrowed(&[]);
        r.location = None;
        r.zone = None;
        r.sub_status = None;
    }));
    records.into_iter().map(owned_event).collect()
}

fn owned_event(record: ShipmentEventRecord<'_>) -> ShipmentEventRecord<'static> {
    let bytes = direct(&record);
    read_datum(shipment_event_schema(), shipment_event_schema(), &bytes).expect("decodes")
}

#[test]
fn the_direct_writer_writes_what_apache_avro_writes_for_every_event() {
    for record in &event_records() {
        assert_eq!(direct(record), reference(record), "{record:?}");
    }
}

/// Every status change record shape, as [`event_records`].
fn status_change_records() -> Vec<StatusChangedRecord<'static>> {
    let (event, change, linkage) = status_change();
    let changed = StatusChanged::new(&event, &change, Some(&linkage));
    let base = StatusChangedRecord::new(&changed, processed());
    let with = |change: &dyn Fn(&mut StatusChangedRecord)| {
        let mut record = base.clone();
        change(&mut record);
        record
    };
    let mut records = vec![base.clone()];
    for status in Status::ALL {
        records.push(with(&|r| {
            r.status = status;
            r.previous_status = Some(status);
        }));
    }
    for kind in [
        TransitionKind::Progress,
        TransitionKind::Attention,
        TransitionKind::Resolution,
        TransitionKind::Reopen,
        TransitionKind::Manual,
        TransitionKind::System,
    ] {
        records.push(with(&|r| r.transition_kind = kind));
    }
    for class in [
        StatusClass::Progress,
        StatusClass::Attention,
        StatusClass::Terminal,
        StatusClass::None,
    ] {
        records.push(with(&|r| r.status_class = class));
    }
    for owner in REASON_OWNERS {
        records.push(with(&|r| r.reason_owner = owner));
    }
    for zone_source in ZONE_SOURCES.map(Some).into_iter().chain([None]) {
        records.push(with(&|r| r.zone_source = zone_source));
    }
    for source in [
        ChangeSource::Carrier,
        ChangeSource::Manual,
        ChangeSource::System,
    ] {
        records.push(with(&|r| r.source = source));
    }
    for direction in [Direction::Outbound, Direction::Return] {
        records.push(with(&|r| r.direction = direction));
    }
    for n in EDGE_LONGS {
        records.push(with(&|r| {
            r.seq = n;
            r.processed_at = n;
            r.attempt_no = i32::try_from(n).ok();
        }));
    }
    for text in edge_texts() {
        records.push(with(&|r| {
            r.actor = Some(text.clone().into());
            r.previous_status = None;
            r.codes = Cow::Borrowed(&[]);
        }));
    }
    records
        .into_iter()
        .map(|record| {
            let bytes = direct(&record);
            read_datum(status_changed_schema(), status_changed_schema(), &bytes).expect("decodes")
        })
        .collect()
}

#[test]
fn the_direct_writer_writes_what_apache_avro_writes_for_every_status_change() {
    for record in &status_change_records() {
        assert_eq!(direct(record), reference(record), "{record:?}");
    }
}

#[test]
fn the_own_schema_reader_reads_what_apache_avro_reads() {
    for record in event_records() {
        let bytes = reference(&record);
        let read: ShipmentEventRecord = read_record(&bytes).expect("reads");
        assert_eq!(read, record);
    }
    for record in status_change_records() {
        let bytes = reference(&record);
        let read: StatusChangedRecord = read_record(&bytes).expect("reads");
        assert_eq!(read, record);
    }
}

#[test]
fn the_own_schema_reader_refuses_truncated_and_foreign_bytes() {
    let record = &event_records()[0];
    let bytes = reference(record);
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            read_record::<ShipmentEventRecord>(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    // A status change is not an event.
    let change = reference(&status_change_records()[0]);
    assert!(read_record::<ShipmentEventRecord>(&change).is_err());
}

#[test]
fn records_framed_directly_match_the_generic_framing_and_read_back() {
    let domain = carrier_event();
    let event = ShipmentEventRecord::from(&domain);
    let bytes = confluent_record(42, &event).expect("encodes");
    assert_eq!(
        bytes,
        confluent_frame(42, shipment_event_schema(), &event).expect("encodes")
    );
    let (_, datum) = confluent_unframe(&bytes).expect("framed");
    let back: ShipmentEventRecord =
        read_datum(shipment_event_schema(), shipment_event_schema(), datum).expect("decodes");
    assert_eq!(back, event);

    let (event, change, linkage) = status_change();
    let change = StatusChanged::new(&event, &change, Some(&linkage));
    let changed = StatusChangedRecord::new(&change, processed());
    let bytes = single_object_record(&changed).expect("encodes");
    assert_eq!(
        bytes,
        single_object(status_changed_schema(), &changed).expect("encodes")
    );
    let (print, datum) = single_object_unframe(&bytes).expect("framed");
    assert_eq!(print, compute_fingerprint(status_changed_schema()));
    let back: StatusChangedRecord =
        read_datum(status_changed_schema(), status_changed_schema(), datum).expect("decodes");
    assert_eq!(back, changed);
}

/// The string field `name` of a datum, as apache-avro's generic reader sees it.
fn written_string(schema: &Schema, mut datum: &[u8], name: &str) -> Option<String> {
    let value = GenericDatumReader::builder(schema)
        .build()
        .and_then(|generic| generic.read_value(&mut datum))
        .expect("generic");
    let Value::Record(fields) = value else {
        panic!("a record")
    };
    fields.into_iter().find_map(|(n, v)| match v {
        Value::String(text) if n == name => Some(text),
        _ => None,
    })
}

#[test]
fn record_ids_and_keys_are_written_in_their_display_forms() {
    let event = carrier_event();
    let datum = direct(&ShipmentEventRecord::from(&event));
    let schema = shipment_event_schema();
    assert_eq!(
        written_string(schema, &datum, "event_id"),
        Some(event.id.to_string())
    );
    assert_eq!(
        written_string(schema, &datum, "package_key"),
        Some("dhl_parcel_de:00340434161094015902".to_owned())
    );
    let (event, change, linkage) = status_change();
    let changed = StatusChanged::new(&event, &change, Some(&linkage));
    let datum = direct(&StatusChangedRecord::new(&changed, processed()));
    let schema = status_changed_schema();
    assert_eq!(
        written_string(schema, &datum, "event_id"),
        Some(changed.event_id.to_string())
    );
    assert_eq!(
        written_string(schema, &datum, "package_key"),
        Some(changed.package.to_string())
    );
}

#[test]
fn a_datum_with_a_malformed_id_or_key_is_refused_with_the_field() {
    let event = carrier_event();
    let record = ShipmentEventRecord::from(&event);
    let datum = direct(&record);
    let id = event.id.to_string();
    for (good, bad, field) in [
        (id.as_str(), "0123456789abcdef0123456789abcdeg", "event id"),
        ("dhl_parcel_de:", "DHL_PARCEL_DE:", "package_key"),
    ] {
        // Same lengths: the datum stays well-formed, only the text is wrong.
        let at = datum
            .windows(good.len())
            .position(|w| w == good.as_bytes())
            .expect("written");
        let mut edited = datum.clone();
        edited[at..at + good.len()].copy_from_slice(bad.as_bytes());
        let error =
            read_datum::<ShipmentEventRecord>(schema_of(&record), schema_of(&record), &edited)
                .expect_err("refused");
        assert!(error.to_string().contains(field), "{field}: {error}");
    }
}

fn schema_of<R: AvroRecord>(_: &R) -> &'static Schema {
    R::schema()
}

proptest::proptest! {
    /// What the fold stage reads from `shipment.events` may come from any producer: an
    /// edited datum (a byte replaced, inserted or removed, or cut short) is read or
    /// refused, and a read one is converted or refused, never a panic.
    #[test]
    fn edited_event_datums_are_read_or_refused_never_a_panic(
        which in proptest::prelude::any::<proptest::sample::Index>(),
        at in proptest::prelude::any::<proptest::sample::Index>(),
        edit in 0..4_u8,
        byte in proptest::num::u8::ANY,
    ) {
        let records = event_records();
        let mut bytes = direct(&records[which.index(records.len())]);
        let at = at.index(bytes.len());
        match edit {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 => drop(bytes.remove(at)),
            _ => bytes.truncate(at),
        }
        if let Ok(record) = read_record::<ShipmentEventRecord>(&bytes) {
            let _ = ShipmentEvent::try_from(record);
        }
    }
}
