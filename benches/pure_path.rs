//! The pure path per event, without Kafka: parse + map (`map_record`) → fold
//! (`PackageState::apply`) → Avro encode with Confluent framing, on a ~600-byte raw body
//! holding one event. Run with `cargo bench --bench pure_path`; figures in
//! `benches/README.md`.
//!
//! The inputs are pre-generated in setup: [`PACKAGES`] packages, each going through the
//! same [`STEPS`] (one body per step, times moving forward), interleaved so that
//! consecutive bodies belong to different packages. One per-package state map is kept
//! across iterations, as the processor keeps it, so the fold sees new packages, status
//! changes and unchanged statuses, never only duplicates. When the inputs run out the
//! map is cleared and they start again (that clearing is inside the measured time,
//! spread over `PACKAGES × STEPS` events).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group};
use rustix::time::{ClockId, clock_gettime};
use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;
use unitrack::avro::{ShipmentEventRecord, StatusChangedRecord, confluent_record_into};
use unitrack::carriers::{self, Carrier, RawRecord};
use unitrack::domain::{
    Change, Deciders, Outcome, PackageKey, PackageState, ShipmentEvent, StatusChanged,
    with_more_follow,
};

/// The allocator the `unitrack` binary runs on (`src/main.rs`): the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Packages in the generated input; each gets one body per step.
const PACKAGES: usize = 1_000;
/// Steps per package (see [`DHL_STEPS`] and [`GLS_HISTORY`]).
const STEPS: usize = 5;
/// Schema registry ids, as the processor would have them from the registry.
const EVENT_SCHEMA_ID: u32 = 1;
const CHANGED_SCHEMA_ID: u32 = 2;

/// One DHL event per step: status code, status text, description, place (postal code,
/// city), hours after the first event. Step 2 repeats step 1's status and sub-code at
/// another place: recorded, unchanged. The others change the status.
#[rustfmt::skip]
const DHL_STEPS: [(&str, &str, &str, &str, &str, i64); STEPS] = [
    ("pre-transit", "Electronic notification", "The shipment data have been provided electronically", "04109", "Leipzig", 0),
    ("transit", "Processed", "The shipment has been processed in the parcel center of origin", "04435", "Radefeld", 9),
    ("transit", "Processed", "The shipment has been processed in the parcel center", "50259", "Pulheim", 16),
    ("transit", "Out for delivery", "The shipment has been loaded onto the delivery vehicle", "53113", "Bonn", 22),
    ("delivered", "Delivered", "The shipment has been successfully delivered", "53113", "Bonn", 26),
];

/// A DHL Shipment Tracking – Unified push body: one shipment object (as in
/// `tests/fixtures/carriers/dhl/push_single_shipment_damaged.json`) whose `status` repeats
/// its only event, local times without offset (as `parcel-de` sends them). 619 to 660
/// bytes; the last step's body, for package 0:
///
/// ```json
/// {"id":"00340434292135100000","service":"parcel-de","origin":{"address":{"countryCode":"DE"}},"destination":{"address":{"countryCode":"DE","postalCode":"53113","addressLocality":"Bonn"}},"status":{"timestamp":"2024-06-11T09:03:00","statusCode":"delivered","status":"Delivered"},"estimatedTimeOfDelivery":"2024-06-11T13:03:00","details":{"product":{"productName":"DHL PAKET"}},"events":[{"timestamp":"2024-06-11T09:03:00","location":{"address":{"countryCode":"DE","postalCode":"53113","addressLocality":"Bonn"}},"statusCode":"delivered","status":"Delivered","description":"The shipment has been successfully delivered"}]}
/// ```
fn dhl_body(tracking: &str, step: usize, at: &str, eta: &str) -> String {
    let (code, status, description, postal, city, _) = DHL_STEPS[step];
    format!(
        r#"{{"id":"{tracking}","service":"parcel-de","origin":{{"address":{{"countryCode":"DE"}}}},"destination":{{"address":{{"countryCode":"DE","postalCode":"53113","addressLocality":"Bonn"}}}},"status":{{"timestamp":"{at}","statusCode":"{code}","status":"{status}"}},"estimatedTimeOfDelivery":"{eta}","details":{{"product":{{"productName":"DHL PAKET"}}}},"events":[{{"timestamp":"{at}","location":{{"address":{{"countryCode":"DE","postalCode":"{postal}","addressLocality":"{city}"}}}},"statusCode":"{code}","status":"{status}","description":"{description}"}}]}}"#
    )
}

/// A GLS parcel's history: parcel status, event code, postal code, city, description,
/// hours after the first event. Body `k` (1 to [`STEPS`]) holds events `k` and `k - 1`.
#[rustfmt::skip]
const GLS_HISTORY: [(&str, &str, &str, &str, &str, i64); STEPS + 1] = [
    ("PREADVICE", "INTIAL.PREADVICE", "", "", "The parcel data was entered into the GLS IT system; the parcel was not yet handed over to GLS.", 0),
    ("INTRANSIT", "INTIAL.NORMAL", "36286", "Neuenstein", "The parcel was handed over to GLS.", 9),
    ("INTRANSIT", "INBOUD.NORMAL", "36286", "Neuenstein", "The parcel has reached the parcel center.", 10),
    ("INTRANSIT", "OUTBOD.NORMAL", "36286", "Neuenstein", "The parcel has left the parcel center.", 14),
    ("INTRANSIT", "INBOUD.NORMAL", "33719", "Bielefeld", "The parcel has reached the parcel center.", 19),
    ("INDELIVERY", "OUTDEL.NORMAL", "33719", "Bielefeld", "The parcel is expected to be delivered during the day.", 22),
];

/// GLS events per body: a poll answers with the history, newest first; here its newest two.
const GLS_EVENTS_PER_BODY: usize = 2;

/// A GLS Track And Trace v1 body (`ParcelsResponseDTO`) with one parcel and the two newest
/// events of its history (the older one is a duplicate for the fold, except in the first
/// body), as in `tests/fixtures/carriers/gls/documented_delivered_to_parcel_shop.json`.
/// 627 to 668 bytes.
fn gls_body(tracking: &str, k: usize, times: &[String]) -> String {
    let event = |i: usize| {
        let (_, code, postal, city, description, _) = GLS_HISTORY[i];
        let at = &times[i];
        format!(
            r#"{{"code":"{code}","city":"{city}","postalCode":"{postal}","country":"DE","description":"{description}","eventDateTime":"{at}"}}"#
        )
    };
    let (status, at) = (GLS_HISTORY[k].0, &times[k]);
    let (newest, older) = (event(k), event(k - 1));
    format!(
        r#"{{"parcels":[{{"requested":"{tracking}","unitno":"{tracking}","status":"{status}","statusDateTime":"{at}","_links":{{"deliveryInfo":{{"href":"/tracking/deliveryinfo/parcelid/{tracking}?{{originaldestinationpostalcode}}","templated":true}}}},"events":[{newest},{older}]}}]}}"#
    )
}

/// Generated raw bodies, in processing order.
struct Input {
    carrier: &'static dyn Carrier,
    topic: &'static str,
    events_per_body: usize,
    bodies: Vec<String>,
}

fn start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 6, 10)
        .and_then(|day| day.and_hms_opt(7, 3, 0))
        .expect("valid date")
}

fn dhl_input() -> Input {
    let mut bodies = Vec::with_capacity(PACKAGES * STEPS);
    for (step, (.., hours)) in DHL_STEPS.iter().enumerate() {
        for package in 0..PACKAGES {
            let tracking = format!("00340434{:012}", 292_135_100_000 + package);
            let first = start() + TimeDelta::minutes(package as i64);
            let at = first + TimeDelta::hours(*hours);
            let eta = first + TimeDelta::hours(30);
            let fmt = "%Y-%m-%dT%H:%M:%S";
            let body = dhl_body(
                &tracking,
                step,
                &at.format(fmt).to_string(),
                &eta.format(fmt).to_string(),
            );
            bodies.push(body);
        }
    }
    Input {
        carrier: carriers::find("dhl").expect("registered"),
        topic: "tracking.raw.dhl",
        events_per_body: 1,
        bodies,
    }
}

fn gls_input() -> Input {
    let mut bodies = Vec::with_capacity(PACKAGES * STEPS);
    for k in 1..=STEPS {
        for package in 0..PACKAGES {
            let tracking = format!("{}", 21_569_900_000_u64 + package as u64);
            let first = start() + TimeDelta::minutes(package as i64);
            let times: Vec<String> = GLS_HISTORY
                .iter()
                .map(|(.., hours)| {
                    let at = first + TimeDelta::hours(*hours);
                    at.format("%Y-%m-%dT%H:%M:%S+0200").to_string()
                })
                .collect();
            bodies.push(gls_body(&tracking, k, &times));
        }
    }
    Input {
        carrier: carriers::find("gls").expect("registered"),
        topic: "tracking.raw.gls",
        events_per_body: GLS_EVENTS_PER_BODY,
        bodies,
    }
}

impl Input {
    fn raw(&self, i: usize) -> RawRecord<'_> {
        RawRecord {
            topic: self.topic,
            key: None,
            headers: &[],
            payload: self.bodies[i].as_bytes(),
            timestamp_ms: Some(1_718_000_000_000),
        }
    }

    /// All events, in order; checks the body sizes and the events per body.
    fn events(&self) -> Vec<ShipmentEvent> {
        let sizes = self.bodies.iter().map(String::len);
        let (min, max) = (sizes.clone().min(), sizes.max());
        println!("{} bodies: {min:?}..={max:?} bytes", self.carrier.id());
        assert!(self.bodies.iter().all(|b| (500..=700).contains(&b.len())));
        (0..self.bodies.len())
            .flat_map(|i| {
                let events = carriers::map_record(self.carrier, &self.raw(i)).expect("maps");
                assert_eq!(events.len(), self.events_per_body, "events in body {i}");
                events
            })
            .collect()
    }
}

/// The per-package state map, as the processor keeps it (`kafka::state::PartitionState`):
/// foldhash, and two lookups for a known package (there: its state, and the changelog's
/// set of changed packages).
#[derive(Default)]
struct States(foldhash::HashMap<PackageKey, PackageState>);

impl States {
    fn get(&mut self, package: &PackageKey) -> &mut PackageState {
        if !self.0.contains_key(package) {
            self.0.insert(package.clone(), PackageState::default());
        }
        self.0.get_mut(package).expect("just inserted")
    }
}

/// Walks the inputs round and round.
struct Cursor {
    at: usize,
    len: usize,
}

impl Cursor {
    fn over(len: usize) -> Self {
        Self { at: 0, len }
    }

    /// The next index, and whether the inputs start again (so the states must go).
    fn next(&mut self) -> (usize, bool) {
        let again = self.at == self.len;
        if again {
            self.at = 0;
        }
        self.at += 1;
        (self.at - 1, again)
    }
}

/// The time the fold stage stamps as `processed_at` (fixed: the path stays pure).
fn processed_at() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_718_200_000_000).expect("valid")
}

/// The normalise stage's output for one event, into `value` (the stage's buffer, kept
/// across records as `kafka::engine::Output` keeps it).
fn encode_event(event: &ShipmentEvent, value: &mut Vec<u8>) {
    let record = ShipmentEventRecord::from(event);
    confluent_record_into(EVENT_SCHEMA_ID, &record, value).expect("encodes");
}

/// The fold stage's output for one change, into `value` (as [`encode_event`]).
fn encode_change(
    event: &ShipmentEvent,
    change: &Change,
    state: &PackageState,
    value: &mut Vec<u8>,
) {
    let changed = StatusChanged::new(event, change, state.linkage());
    let record = StatusChangedRecord::new(&changed, processed_at());
    confluent_record_into(CHANGED_SCHEMA_ID, &record, value).expect("encodes");
}

/// What the two stages keep across records: the package states and open records of the
/// fold, and each stage's buffer for the values it produces.
#[derive(Default)]
struct Stages {
    states: States,
    deciders: Deciders,
    event_value: Vec<u8>,
    change_value: Vec<u8>,
}

/// map → encode the event → fold (one net change per body and package, as the stages
/// decide it) → encode the change, for one raw body.
fn full_path(carrier: &dyn Carrier, raw: &RawRecord<'_>, stages: &mut Stages) {
    let events = carriers::map_record(carrier, raw).expect("maps");
    // The fold stage owns each event it decodes: a held one is moved, not cloned.
    let more: Vec<bool> = with_more_follow(&events).map(|(_, more)| more).collect();
    for (event, more) in events.into_iter().zip(more) {
        encode_event(&event, &mut stages.event_value);
        black_box(&stages.event_value);
        let state = stages.states.get(&event.package);
        let outcome = state.apply_part(&event, more);
        if outcome == Outcome::Held {
            stages.deciders.hold(state, Cow::Owned(event));
            continue;
        }
        let decider = if more {
            None
        } else {
            stages.deciders.close(&event.package, &outcome)
        };
        if let Outcome::Changed(change) = outcome {
            let details = decider.as_ref().unwrap_or(&event);
            encode_change(details, &change, state, &mut stages.change_value);
            black_box(&stages.change_value);
        }
    }
}

fn bench_carrier<M: Measurement>(c: &mut Criterion<M>, input: &Input) {
    let id = input.carrier.id();
    let events = input.events();
    let (bodies, n) = (input.bodies.len(), events.len());
    let mut group = c.benchmark_group("pure_path");
    // Per body: criterion's time is per body, its throughput per event.
    group.throughput(Throughput::Elements(input.events_per_body as u64));

    group.bench_function(format!("full/{id}"), |b| {
        let (mut cursor, mut stages) = (Cursor::over(bodies), Stages::default());
        b.iter(|| {
            let (i, again) = cursor.next();
            if again {
                stages.states.0.clear();
            }
            full_path(input.carrier, &input.raw(i), &mut stages)
        });
    });
    group.bench_function(format!("map/{id}"), |b| {
        let mut cursor = Cursor::over(bodies);
        b.iter(|| {
            let (i, _) = cursor.next();
            black_box(carriers::map_record(input.carrier, &input.raw(i)).expect("maps"))
        });
    });
    // Per event.
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("fold/{id}"), |b| {
        let (mut cursor, mut states) = (Cursor::over(n), States::default());
        b.iter(|| {
            let (i, again) = cursor.next();
            if again {
                states.0.clear();
            }
            let event = &events[i];
            black_box(states.get(&event.package).apply(event))
        });
    });
    group.bench_function(format!("encode_event/{id}"), |b| {
        let mut cursor = Cursor::over(n);
        let mut value = Vec::new();
        b.iter(|| {
            encode_event(&events[cursor.next().0], &mut value);
            black_box(&value);
        });
    });

    // The changes, as the fold decides them in order (about 4 in 5 events).
    let mut states = States::default();
    let changes: Vec<(&ShipmentEvent, Change, PackageState)> = events
        .iter()
        .filter_map(|event| {
            let state = states.get(&event.package);
            match state.apply(event) {
                Outcome::Changed(change) => Some((event, change, state.clone())),
                _ => None,
            }
        })
        .collect();
    println!("{id}: {} changes in {n} events", changes.len());
    group.bench_function(format!("encode_change/{id}"), |b| {
        let (mut cursor, mut value) = (Cursor::over(changes.len()), Vec::new());
        b.iter(|| {
            let (event, change, state) = &changes[cursor.next().0];
            encode_change(event, change, state, &mut value);
            black_box(&value);
        });
    });
    group.finish();
}

/// One documented body per carrier: the templates of `unitrack-bench`'s workload
/// (`src/bin/unitrack-bench/workload.rs`), each a whole poll answer with its history.
const BODIES: [(&str, &str); 7] = [
    ("dhl", "english_failed_attempt_locker_then_collected.json"),
    ("dhl_parcel_de", "packstation_ready_then_collected.xml"),
    ("dpd", "delivered.xml"),
    ("gls", "delivered.json"),
    ("hermes", "delivered.json"),
    ("ups", "delivered.json"),
    ("fedex", "delivered.json"),
];

/// One of [`BODIES`]: its carrier, the body, and its record key (trimmed) where it has one.
struct Template {
    mapper: &'static dyn Carrier,
    body: String,
    key: Option<String>,
}

impl Template {
    /// Read from the carrier's fixtures; it must map.
    fn read(carrier: &str, file: &str) -> Self {
        let dir = format!(
            "{}/tests/fixtures/carriers/{carrier}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read_to_string(format!("{dir}/{file}")).expect("fixture body");
        let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
        let key = std::fs::read_to_string(format!("{dir}/{stem}.key")).ok();
        let template = Self {
            mapper: carriers::find(carrier).expect("registered carrier"),
            body,
            key: key.map(|key| key.trim().to_owned()),
        };
        carriers::map_record(template.mapper, &template.raw()).expect("the template maps");
        template
    }

    fn raw(&self) -> RawRecord<'_> {
        RawRecord {
            key: self.key.as_deref().map(str::as_bytes),
            payload: self.body.as_bytes(),
            ..RawRecord::default()
        }
    }
}

/// `map_body/<carrier>`: `map_record` (parse, map, identities) of one whole body, as the
/// normalise stage runs it per raw record.
fn bench_bodies<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("map_body");
    for (carrier, file) in BODIES {
        let template = Template::read(carrier, file);
        let (mapper, raw) = (template.mapper, template.raw());
        group.throughput(Throughput::Bytes(template.body.len() as u64));
        group.bench_function(carrier, |b| {
            b.iter(|| carriers::map_record(mapper, black_box(&raw)))
        });
    }
    group.finish();
}

/// `full_body/<carrier>`: the full path ([`full_path`]) of each carrier's whole documented
/// body, per event, on first sight: 1,000 copies under distinct tracking numbers, so every
/// event is new to the fold (a poll that re-reveals known events costs less: normalise
/// skips a body it has published whole, and the events it has published).
fn bench_full_bodies<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("full_body");
    for (carrier, file) in BODIES {
        let template = Template::read(carrier, file);
        let events = carriers::map_record(template.mapper, &template.raw()).expect("maps");
        let Template { mapper, body, key } = template;
        let number = events[0].package.tracking_number.as_str().to_owned();
        let copy = |i: usize| format!("{}{i:04}", &number[..number.len() - 4]);
        let input = Input {
            carrier: mapper,
            topic: "tracking.raw",
            events_per_body: events.len(),
            bodies: (0..PACKAGES)
                .map(|i| body.replace(&number, &copy(i)))
                .collect(),
        };
        let keys: Vec<Option<String>> = (0..PACKAGES)
            .map(|i| key.as_ref().map(|k| k.replace(&number, &copy(i))))
            .collect();
        let raw = |i: usize| RawRecord {
            key: keys[i].as_deref().map(str::as_bytes),
            ..input.raw(i)
        };
        for i in [0, PACKAGES - 1] {
            let copied = carriers::map_record(mapper, &raw(i)).expect("a copy maps");
            assert_eq!(copied.len(), events.len(), "{carrier}: events of copy {i}");
            assert!(
                copied
                    .iter()
                    .all(|e| e.package.tracking_number.as_str() == copy(i))
            );
        }
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(carrier, |b| {
            let (mut cursor, mut stages) = (Cursor::over(PACKAGES), Stages::default());
            b.iter(|| {
                let (i, again) = cursor.next();
                if again {
                    stages.states.0.clear();
                }
                full_path(mapper, &raw(i), &mut stages)
            });
        });
    }
    group.finish();
}

/// `map_unseen_texts/dhl`: `map` of DHL bodies whose texts the mapper has not seen (each
/// description numbered), more of them than it remembers: every text is classified afresh,
/// the worst case of its remembered decisions (`decide_remembered`).
fn bench_unseen_texts<M: Measurement>(c: &mut Criterion<M>, input: &Input) {
    const ROUNDS: usize = 4;
    let mut bodies = Vec::with_capacity(input.bodies.len() * ROUNDS);
    for round in 0..ROUNDS {
        for (i, body) in input.bodies.iter().enumerate() {
            let (_, _, description, ..) = DHL_STEPS[i / PACKAGES];
            let numbered = format!("{description} (no. {round}-{i})");
            bodies.push(body.replace(description, &numbered));
        }
    }
    let unseen = Input { bodies, ..*input };
    let mut group = c.benchmark_group("pure_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("map_unseen_texts/dhl", |b| {
        let mut cursor = Cursor::over(unseen.bodies.len());
        b.iter(|| {
            let (i, _) = cursor.next();
            black_box(carriers::map_record(unseen.carrier, &unseen.raw(i)).expect("maps"))
        });
    });
    group.finish();
}

fn pure_path<M: Measurement>(c: &mut Criterion<M>) {
    let dhl = dhl_input();
    bench_unseen_texts(c, &dhl);
    bench_carrier(c, &dhl);
    bench_carrier(c, &gls_input());
    bench_bodies(c);
    bench_full_bodies(c);
}

/// The CPU time of the benchmark thread, criterion's clock here by default. This 2-core
/// machine runs other builds at the same time: wall time also counts the time the thread
/// waits for a core, CPU time does not (it still pays for caches shared with them). On a
/// quiet machine both give the same figures. `PURE_PATH_CLOCK=wall` measures wall time.
struct ThreadCpuTime(WallTime);

impl ThreadCpuTime {
    fn now() -> Duration {
        let now = clock_gettime(ClockId::ThreadCPUTime);
        let secs = u64::try_from(now.tv_sec).unwrap_or(0);
        let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
        Duration::new(secs, nanos)
    }
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        Self::now()
    }

    fn end(&self, start: Duration) -> Duration {
        Self::now().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn pure_path_cpu(c: &mut Criterion<ThreadCpuTime>) {
    pure_path(c);
}

criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = pure_path_cpu
}
criterion_group!(wall_time, pure_path);

fn main() {
    if std::env::var("PURE_PATH_CLOCK").is_ok_and(|clock| clock == "wall") {
        wall_time();
    } else {
        cpu_time();
    }
    Criterion::default().configure_from_args().final_summary();
}
