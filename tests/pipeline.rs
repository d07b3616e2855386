//! `unitrack run` as a stream processor, in-process against the real local stack: raw
//! carrier bodies in, status changes out, as `unitrack replay` of the same input says.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;
use support::{
    Consumed, Running, WithHeaders, consume_until, decode_changes, produce, produce_with_headers,
    published, replayed, replayed_event_ids, stack, unique_config, wait_ready,
};
use unitrack::config::Config;

const WAIT: Duration = Duration::from_secs(45);

fn fixture(carrier: &str, case: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/carriers/{carrier}/{case}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn raw(config: &Config, carrier: &str) -> String {
    config.raw_topic(carrier)
}

async fn changes_until(
    config: &Config,
    count: usize,
) -> Vec<unitrack::avro::StatusChangedRecord<'static>> {
    let records = consume_until(
        &config.kafka.bootstrap_servers,
        &config.topics.status_changed,
        WAIT,
        |r| r.len() >= count,
    );
    decode_changes(&config.schema_registry.url, &records).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bodies_become_the_status_changes_replay_prescribes() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);

    let dhl = vec![
        fixture("dhl", "return_flag_returned_to_sender.json"),
        fixture("dhl", "english_failed_attempt_locker_then_collected.json"),
    ];
    let gls = vec![fixture("gls", "documented_two_parcels.json")];
    let dhl_records: Vec<_> = dhl
        .iter()
        .map(|b| (Some(b"any-key".to_vec()), b.clone()))
        .collect();
    produce(&stack.bootstrap, &raw(&config, "dhl"), &dhl_records).await;
    produce(
        &stack.bootstrap,
        &raw(&config, "gls"),
        &[(None, gls[0].clone())],
    )
    .await;

    let mut expected = replayed("dhl", &dhl);
    expected.extend(replayed("gls", &gls));
    assert!(
        expected.len() >= 4,
        "the fixtures make several changes: {expected:?}"
    );
    let changes = changes_until(&config, expected.len()).await;
    assert_eq!(published(&changes), expected);

    // The fields Flow reads.
    let returned = changes
        .iter()
        .find(|c| c.status.as_str() == "RETURNED_TO_SENDER")
        .expect("the returnFlag body ends returned to sender");
    assert_eq!(returned.carrier, "dhl");
    assert_eq!(
        returned.package_key.to_string(),
        format!("dhl:{}", returned.tracking_number)
    );
    assert_eq!(returned.source, unitrack::domain::ChangeSource::Carrier);
    assert!(returned.processed_at >= returned.occurred_at);

    // One raw body with two parcels: two packages, each in exactly one partition of
    // shipment.events, keyed by package.
    let events = consume_until(
        &stack.bootstrap,
        &config.topics.events,
        Duration::from_secs(3),
        |_| false,
    );
    let mut partitions: HashMap<Vec<u8>, HashSet<i32>> = HashMap::new();
    for record in &events {
        let key = record.key.as_deref().unwrap_or_default();
        assert_eq!(
            record.partition,
            unitrack::kafka::partitioner::partition_of(key, 3),
            "partitioned by murmur2 of the package key, as Java clients do"
        );
        partitions
            .entry(record.key.clone().expect("keyed"))
            .or_default()
            .insert(record.partition);
    }
    let gls_packages: Vec<_> = partitions
        .keys()
        .filter(|k| k.starts_with(b"gls:"))
        .collect();
    assert_eq!(gls_packages.len(), 2, "{partitions:?}");
    assert!(partitions.values().all(|p| p.len() == 1), "{partitions:?}");
    running.stop().await;
}

/// UPS lists a package's activity newest first. In the first poll the newest scan is a
/// "may not have arrived on schedule" notice after the delivery: applied alone it reads as
/// a delay. In the second the delivery comes first and five older scans follow. A record's
/// events travel on `shipment.events` one record each, all but the package's last marked
/// as followed by more; the fold publishes one change per package, the net one, with the
/// codes and text of the scan that decided it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_publishes_one_net_change_per_package_with_the_deciding_scan() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);
    let bodies = vec![
        fixture("ups", "on_schedule_notice_keeps_delivered.json"),
        fixture("ups", "delivered.json"),
    ];
    let records: Vec<_> = bodies.iter().map(|b| (None, b.clone())).collect();
    produce(&stack.bootstrap, &raw(&config, "ups"), &records).await;

    let changes = changes_until(&config, 2).await;
    // Nothing else comes: the intermediate pairs are not published.
    let all = consume_until(
        &stack.bootstrap,
        &config.topics.status_changed,
        Duration::from_secs(3),
        |_| false,
    );
    assert_eq!(all.len(), 2, "one change per package and record");
    assert_eq!(published(&changes), replayed("ups", &bodies));

    let change = |number: &str| {
        changes
            .iter()
            .find(|c| c.tracking_number == number)
            .unwrap_or_else(|| panic!("{number} changed"))
    };
    let codes = |c: &unitrack::avro::StatusChangedRecord<'_>| -> Vec<String> {
        c.codes.iter().map(|code| code.value.to_string()).collect()
    };
    let notice = change("1Z9F3W206809201148");
    assert_eq!(
        (notice.status.as_str(), notice.sub_status.as_deref()),
        ("DELIVERED", Some("agent"))
    );
    assert_eq!(notice.previous_status, None);
    assert_eq!(
        codes(notice),
        ["D", "FS", "011"],
        "the delivery scan's codes"
    );
    let delivered = change("1ZA82D676831722495");
    assert_eq!(
        (delivered.status.as_str(), delivered.sub_status.as_deref()),
        ("DELIVERED", Some("safe_place"))
    );
    // Decided by the first of six events; completed by the last (the label).
    assert_eq!(codes(delivered), ["D", "FS", "011"]);
    assert_eq!(delivered.text.as_deref(), Some("DELIVERED"));
    assert!(delivered.occurred_at_local.is_some());

    let events = consume_until(
        &stack.bootstrap,
        &config.topics.events,
        Duration::from_secs(3),
        |_| false,
    );
    let marks = |key: &str| -> Vec<bool> {
        events
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
            .map(|r| {
                r.headers
                    .iter()
                    .any(|(name, value)| name == "unitrack.record.more" && value == b"1")
            })
            .collect()
    };
    assert_eq!(marks("ups:1Z9F3W206809201148"), [true, false]);
    assert_eq!(
        marks("ups:1ZA82D676831722495"),
        [true, true, true, true, true, false]
    );
    running.stop().await;
}

/// A restart between two events of one raw record (the fold committed the first half, as
/// a commit interval or a rebalance may): the record's change is still published once,
/// from the status before the record. Its events are written to `shipment.events` here as
/// normalise writes them, so that the restart falls exactly inside the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_split_by_a_restart_publishes_its_change_once() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let body = fixture("ups", "delivered.json");
    let raw_record = unitrack::carriers::RawRecord {
        topic: "",
        key: None,
        headers: &[],
        payload: &body,
        timestamp_ms: None,
    };
    let ups = unitrack::carriers::find("ups").expect("registered");
    let events = unitrack::carriers::map_record(ups, &raw_record).expect("maps");
    assert_eq!(
        events.len(),
        6,
        "newest first, from the delivery to the label"
    );
    let codec = unitrack::kafka::codec::Codec::connect(&config)
        .await
        .expect("the registry answers");
    let records: Vec<WithHeaders> = unitrack::domain::with_more_follow(&events)
        .map(|(event, more)| {
            let record = unitrack::avro::ShipmentEventRecord::from(event);
            let value = codec.encode_event(&record).expect("encodes");
            let headers = if more {
                vec![("unitrack.record.more", b"1".to_vec())]
            } else {
                Vec::new()
            };
            (Some(event.package.to_string().into_bytes()), value, headers)
        })
        .collect();

    let running = Running::start(&config);
    wait_ready(&config).await;
    produce_with_headers(&stack.bootstrap, &config.topics.events, &records[..3]).await;
    // Folded and committed: the package's state (with the open record) is on the changelog.
    let changelog = consume_until(
        &stack.bootstrap,
        &config.topics.state_changelog,
        WAIT,
        |r| !r.is_empty(),
    );
    let key = events[0].package.to_string().into_bytes();
    assert!(changelog.iter().all(|r| r.key.as_ref() == Some(&key)));
    running.stop().await;
    let held = consume_until(
        &stack.bootstrap,
        &config.topics.status_changed,
        Duration::from_secs(2),
        |_| false,
    );
    assert!(
        held.is_empty(),
        "nothing is published before the record's end"
    );

    let running = Running::start(&config);
    wait_ready(&config).await;
    produce_with_headers(&stack.bootstrap, &config.topics.events, &records[3..]).await;
    let changes = changes_until(&config, 1).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(
        (change.status.as_str(), change.sub_status.as_deref()),
        ("DELIVERED", Some("safe_place"))
    );
    assert_eq!(change.previous_status, None, "the status before the record");
    assert_eq!(change.seq, 1);
    running.stop().await;
}

/// A Hermes body for shipment `number` with one event per (time, code).
fn hermes_body(number: &str, events: &[(chrono::DateTime<chrono::Utc>, &str)]) -> Vec<u8> {
    let status: Vec<_> = events
        .iter()
        .map(|(at, code)| serde_json::json!({"timestamp": at.to_rfc3339(), "code": code, "description": "scan"}))
        .collect();
    serde_json::json!({"shipmentinfo": [{"shipmentID": number, "status": status}]})
        .to_string()
        .into_bytes()
}

/// The carrier goes quiet: a parcel in transit for 7 days becomes `STALLED.no_progress`
/// (after 4 days, Hermes's own threshold here), one quiet for 40 days `EXPIRED`, one scanned
/// yesterday stays; the next scan of the stalled one resolves it. Each timer fires once, as
/// a system change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_carrier_stalls_and_expires_packages_and_the_next_scan_clears_stalled() {
    use chrono::{Duration as Days, Utc};
    let stack = stack();
    let mut config = unique_config(&stack, true);
    config.timers.enabled = true;
    config.timers.sweep_interval_ms = 200;
    // Hermes's own threshold (the general one is 6 days).
    let hermes = unitrack::config::CarrierTimers {
        no_progress_days: Some(4),
        ..Default::default()
    };
    config.timers.carriers.insert("hermes".to_owned(), hermes);
    let running = Running::start(&config);
    let now = Utc::now();
    let (stalled, expired, fresh) = (
        "H1234567890123450001",
        "H1234567890123450002",
        "H1234567890123450003",
    );
    let scanned = now - Days::days(7);
    let bodies = [
        hermes_body(stalled, &[(scanned, "2000")]),
        hermes_body(expired, &[(now - Days::days(40), "0000")]),
        hermes_body(fresh, &[(now - Days::days(1), "2000")]),
    ];
    let records: Vec<_> = bodies.iter().map(|b| (None, b.clone())).collect();
    produce(&stack.bootstrap, &raw(&config, "hermes"), &records).await;
    let changes = changes_until(&config, 5).await;
    let of = |number: &str| -> Vec<_> {
        changes
            .iter()
            .filter(|c| c.tracking_number == number)
            .map(|c| {
                let kind = serde_json::to_value(c.transition_kind).unwrap_or_default();
                (
                    c.status.as_str().to_owned(),
                    c.sub_status.as_deref().unwrap_or_default().to_owned(),
                    kind.as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let change = |status: &str, sub: &str, kind: &str| (status.into(), sub.into(), kind.into());
    assert_eq!(
        of(stalled),
        [
            change("IN_TRANSIT", "processing", "progress"),
            change("STALLED", "no_progress", "system")
        ]
    );
    assert_eq!(
        of(expired),
        [
            change("INFO_RECEIVED", "label_created", "progress"),
            change("EXPIRED", "max_age_reached", "system")
        ]
    );
    assert_eq!(of(fresh), [change("IN_TRANSIT", "processing", "progress")]);
    let timer = changes
        .iter()
        .find(|c| c.status.as_str() == "STALLED")
        .expect("stalled");
    assert_eq!(timer.source, unitrack::domain::ChangeSource::System);
    assert_eq!(
        timer.seq, 2,
        "folded into the package's own state, after its scan"
    );
    assert_eq!(
        timer.occurred_at,
        (scanned + Days::days(4)).timestamp_millis(),
        "the timer's instant: the last scan plus Hermes's threshold"
    );

    // The next scan clears STALLED; no timer fires twice.
    let next = hermes_body(stalled, &[(scanned, "2000"), (now, "3000")]);
    produce(&stack.bootstrap, &raw(&config, "hermes"), &[(None, next)]).await;
    let changes = changes_until(&config, 6).await;
    assert_eq!(changes.len(), 6, "{:?}", published(&changes));
    let last = changes
        .iter()
        .filter(|c| c.tracking_number == stalled)
        .max_by_key(|c| c.seq)
        .expect("changes");
    assert_eq!(
        (
            last.status.as_str(),
            last.previous_status.map(|s| s.as_str())
        ),
        ("OUT_FOR_DELIVERY", Some("STALLED"))
    );
    running.stop().await;
}

/// HTTP status of the package lookup (`/packages/<carrier>/<number>`).
async fn lookup_status(config: &Config, carrier: &str, number: &str) -> u16 {
    let url = format!("http://{}/packages/{carrier}/{number}", config.http.listen);
    reqwest::get(&url)
        .await
        .expect("lookup answers")
        .status()
        .as_u16()
}

/// A package final for longer than the retention leaves the state: out of memory (the lookup
/// no longer knows it) and out of the changelog (a tombstone; a restart does not bring it
/// back). A package final for less long, and one that is old but not final, stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_packages_past_their_retention_leave_the_state_and_the_changelog() {
    use chrono::{Duration as Days, Utc};
    let stack = stack();
    let mut config = unique_config(&stack, true);
    config.state.retention_days = 30;
    config.timers.sweep_interval_ms = 200; // the timers themselves stay off
    let running = Running::start(&config);
    let now = Utc::now();
    let (retired, recent, moving) = (
        "H1234567890123460001",
        "H1234567890123460002",
        "H1234567890123460003",
    );
    let bodies = [
        hermes_body(retired, &[(now - Days::days(31), "3500")]),
        hermes_body(recent, &[(now - Days::days(29), "3500")]),
        hermes_body(moving, &[(now - Days::days(60), "2000")]),
    ];
    let records: Vec<_> = bodies.iter().map(|b| (None, b.clone())).collect();
    produce(&stack.bootstrap, &raw(&config, "hermes"), &records).await;
    assert_eq!(changes_until(&config, 3).await.len(), 3);
    wait_ready(&config).await;
    let started = std::time::Instant::now();
    while lookup_status(&config, "hermes", retired).await != 404 {
        assert!(started.elapsed() < WAIT, "{retired} still in the state");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(lookup_status(&config, "hermes", moving).await, 200);
    let url = format!("http://{}/packages/hermes/{recent}", config.http.listen);
    let package = support::http_get_json(&url).await;
    let time = |value: &serde_json::Value| {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("a time: {package}"));
        chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339")
    };
    assert_eq!(
        time(&package["retained_until"]),
        time(&package["events"][0]["occurred_at"]) + Days::days(30),
        "kept 30 days after its delivery"
    );
    running.stop().await;

    let key = format!("hermes:{retired}");
    let changelog = consume_until(
        &stack.bootstrap,
        &config.topics.state_changelog,
        WAIT,
        |records| {
            records
                .iter()
                .any(|r| r.key.as_deref() == Some(key.as_bytes()) && r.value.is_none())
        },
    );
    let of_retired: Vec<bool> = changelog
        .iter()
        .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
        .map(|r| r.value.is_some())
        .collect();
    // Its state may or may not have been committed before the sweep dropped it.
    assert_eq!(
        of_retired.last(),
        Some(&false),
        "its last record is a tombstone"
    );

    // Restarted without a retention: the restore reads the tombstone.
    config.state.retention_days = 0;
    let running = Running::start(&config);
    wait_ready(&config).await;
    assert_eq!(lookup_status(&config, "hermes", retired).await, 404);
    assert_eq!(lookup_status(&config, "hermes", recent).await, 200);
    assert_eq!(lookup_status(&config, "hermes", moving).await, 200);
    running.stop().await;
}

/// A body of the same shipment with one new event, a minute after its oldest one: a late
/// event, older than the status it would have to change.
fn late_event(body: &[u8]) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(body).expect("JSON fixture");
    let events = json["shipments"][0]["events"]
        .as_array_mut()
        .expect("events");
    let mut oldest = events.last().cloned().expect("an event");
    let at = chrono::NaiveDateTime::parse_from_str(
        oldest["timestamp"].as_str().expect("time"),
        "%Y-%m-%dT%H:%M:%S",
    )
    .expect("DHL local time");
    oldest["timestamp"] = serde_json::json!(
        (at + chrono::Duration::minutes(1))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    );
    oldest["statusCode"] = serde_json::json!("transit");
    oldest["description"] = serde_json::json!("The shipment has arrived at the delivery base");
    oldest["status"] = oldest["description"].clone();
    *events = vec![oldest];
    serde_json::to_vec(&json).expect("serialises")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_late_events_and_poison_change_nothing_and_stop_nothing() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);
    let body = fixture("dhl", "english_failed_attempt_locker_then_collected.json");
    let first = replayed("dhl", std::slice::from_ref(&body));
    produce(
        &stack.bootstrap,
        &raw(&config, "dhl"),
        &[(Some(b"k".to_vec()), body.clone())],
    )
    .await;
    let changes = changes_until(&config, first.len()).await;
    assert_eq!(published(&changes), first);

    // The same body again (a duplicate), a late older event, a malformed body, then
    // another package.
    let malformed = fixture("dhl", "malformed_json.json");
    let sentinel = fixture("gls", "delivered.json");
    let late = late_event(&body);
    let with_late = replayed("dhl", &[body.clone(), late.clone()]);
    assert_eq!(
        with_late, first,
        "replay agrees: the late event changes nothing"
    );
    produce(
        &stack.bootstrap,
        &raw(&config, "dhl"),
        &[
            (Some(b"k".to_vec()), body.clone()),
            (Some(b"k".to_vec()), late),
            (Some(b"k".to_vec()), malformed.clone()),
            (Some(b"k".to_vec()), malformed.clone()),
        ],
    )
    .await;
    produce(
        &stack.bootstrap,
        &raw(&config, "gls"),
        &[(None, sentinel.clone())],
    )
    .await;
    let after = replayed("gls", std::slice::from_ref(&sentinel));
    let changes = changes_until(&config, first.len() + after.len()).await;
    let mut expected = first.clone();
    expected.extend(after);
    assert_eq!(
        published(&changes),
        expected,
        "the duplicate and the late event published nothing"
    );

    // shipment.events carries each of the package's events once: the re-sent body's events
    // were published with the first one and are not published again.
    let mapped = replayed_event_ids("dhl", &[body.clone(), body.clone(), late_event(&body)]);
    let distinct: HashSet<&String> = mapped.iter().collect();
    assert!(distinct.len() < mapped.len(), "the input repeats events");
    let events = consume_until(
        &stack.bootstrap,
        &config.topics.events,
        Duration::from_secs(3),
        |_| false,
    );
    let dhl_events = events
        .iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with(b"dhl:")))
        .count();
    assert_eq!(dhl_events, distinct.len());

    // The poison record is in the DLQ with its key, value and provenance.
    // Each copy of it: a poison body is not remembered as seen.
    let dlq = consume_until(&stack.bootstrap, &config.topics.dlq, WAIT, |r| r.len() >= 2);
    assert_eq!(dlq.len(), 2);
    let poison: &Consumed = &dlq[0];
    assert_eq!(poison.value.as_deref(), Some(malformed.as_slice()));
    assert_eq!(poison.key.as_deref(), Some(&b"k"[..]));
    let header = |name: &str| {
        poison
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| panic!("header {name} missing: {:?}", poison.headers))
    };
    assert_eq!(header("unitrack.error.class"), "syntax");
    assert!(header("unitrack.error.reason").contains("not parseable"));
    assert_eq!(header("unitrack.source.topic"), raw(&config, "dhl"));
    assert_eq!(header("unitrack.source.offset"), "3");
    assert!(header("unitrack.source.partition").parse::<i32>().is_ok());
    assert_eq!(header("unitrack.carrier"), "dhl");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_without_publishing_anything_again() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);
    let body = fixture("dhl", "english_failed_attempt_locker_then_collected.json");
    let first = replayed("dhl", std::slice::from_ref(&body));
    produce(
        &stack.bootstrap,
        &raw(&config, "dhl"),
        &[(None, body.clone())],
    )
    .await;
    assert_eq!(published(&changes_until(&config, first.len()).await), first);
    running.stop().await;

    // Restarted: the same body arrives again (a carrier re-sends its history) and a new one.
    let running = Running::start(&config);
    let sentinel = fixture("gls", "delivered.json");
    produce(&stack.bootstrap, &raw(&config, "dhl"), &[(None, body)]).await;
    produce(
        &stack.bootstrap,
        &raw(&config, "gls"),
        &[(None, sentinel.clone())],
    )
    .await;
    let mut expected = first;
    expected.extend(replayed("gls", &[sentinel]));
    let changes = changes_until(&config, expected.len()).await;
    assert_eq!(
        published(&changes),
        expected,
        "state was restored: nothing published twice"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_status_command_is_published_as_manual_and_every_command_gets_one_outcome() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);
    let good = br#"{"id":"cmd-1","type":"set_status","carrier":"dhl","tracking_number":"00340434161094038871",
        "status":"RETURNED_TO_SENDER","sub_status":"received","reason":"back in the warehouse","actor":"ops@example.com"}"#;
    let bad = br#"{"id":"cmd-2","type":"set_status","carrier":"dhl","tracking_number":"1","status":"BEAMED","reason":"r","actor":"a"}"#;
    produce(
        &stack.bootstrap,
        &config.topics.commands,
        &[
            (Some(b"dhl:00340434161094038871".to_vec()), bad.to_vec()),
            (None, good.to_vec()),
            (None, good.to_vec()),
        ],
    )
    .await;
    let changes = changes_until(&config, 1).await;
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert_eq!(change.package_key.to_string(), "dhl:00340434161094038871");
    assert_eq!(change.status.as_str(), "RETURNED_TO_SENDER");
    assert_eq!(change.source, unitrack::domain::ChangeSource::Manual);
    assert_eq!(change.actor.as_deref(), Some("ops@example.com"));
    assert_eq!(change.reason.as_deref(), Some("back in the warehouse"));
    // Three commands, three outcomes: the bad one rejected with the reason when its shape
    // was checked, the good one accepted, its re-sent copy accepted as a duplicate.
    let outcomes = consume_until(
        &stack.bootstrap,
        &config.topics.command_outcomes,
        WAIT,
        |r| r.len() >= 3,
    );
    let outcomes: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|r| {
            serde_json::from_slice(r.value.as_deref().unwrap_or_default()).expect("JSON outcome")
        })
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:#?}");
    let rejected: Vec<_> = outcomes
        .iter()
        .filter(|o| o["outcome"] == "rejected")
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["command_id"], "cmd-2");
    assert_eq!(rejected[0]["class"], "unknown_status");
    assert_eq!(rejected[0]["decided_by"], "normalise");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("BEAMED")
    );
    let accepted: Vec<_> = outcomes
        .iter()
        .filter(|o| o["command_id"] == "cmd-1")
        .collect();
    assert_eq!(accepted.len(), 2);
    assert!(accepted.iter().all(|o| o["outcome"] == "accepted"));
    assert_eq!(
        accepted.iter().filter(|o| o["duplicate"] == true).count(),
        1
    );
    let dlq = consume_until(
        &stack.bootstrap,
        &config.topics.dlq,
        Duration::from_secs(2),
        |_| false,
    );
    assert!(
        dlq.is_empty(),
        "commands are answered on the outcomes topic, not dead-lettered"
    );
    // The re-sent command id was a no-op: still one change after more traffic.
    let sentinel = fixture("gls", "delivered.json");
    let after = replayed("gls", std::slice::from_ref(&sentinel));
    produce(&stack.bootstrap, &raw(&config, "gls"), &[(None, sentinel)]).await;
    assert_eq!(
        changes_until(&config, 1 + after.len()).await.len(),
        1 + after.len()
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_publishes_the_same_changes() {
    let stack = stack();
    let mut config = unique_config(&stack, true);
    config.processing.guarantee = unitrack::config::Guarantee::AtLeastOnce;
    let running = Running::start(&config);
    let bodies = vec![
        fixture("dhl", "two_shipments_failure_reasons.json"),
        fixture("dhl", "return_flag_returning_refused.json"),
    ];
    let expected = replayed("dhl", &bodies);
    let records: Vec<_> = bodies.into_iter().map(|b| (None, b)).collect();
    produce(&stack.bootstrap, &raw(&config, "dhl"), &records).await;
    assert_eq!(
        published(&changes_until(&config, expected.len()).await),
        expected
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_registry_records_use_avro_single_object_encoding() {
    let stack = stack();
    let mut config = unique_config(&stack, true);
    config.schema_registry.url = String::new();
    let running = Running::start(&config);
    let body = fixture("gls", "delivered.json");
    let expected = replayed("gls", std::slice::from_ref(&body));
    produce(&stack.bootstrap, &raw(&config, "gls"), &[(None, body)]).await;
    let records = consume_until(&stack.bootstrap, &config.topics.status_changed, WAIT, |r| {
        r.len() >= expected.len()
    });
    running.stop().await;
    let schema = unitrack::avro::status_changed_schema();
    let changes: Vec<unitrack::avro::StatusChangedRecord<'static>> = records
        .iter()
        .map(|record| {
            let bytes = record.value.as_deref().expect("a value");
            let (fingerprint, datum) =
                unitrack::avro::single_object_unframe(bytes).expect("C3 01 header");
            assert_eq!(fingerprint, unitrack::avro::fingerprint(schema));
            unitrack::avro::read_datum(schema, schema, datum).expect("decodes")
        })
        .collect();
    assert_eq!(published(&changes), expected);
}
