//! Per-package state of the fold stage, kept per assigned `shipment.events` partition and
//! mirrored to the compacted changelog topic (same partition number). Restored from the
//! changelog before a newly assigned partition is processed. No external database.

use super::engine::StageError;
use crate::config::Config;
use crate::domain::{Outcome, PackageState, PackageStateV1, ShipmentEvent};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Version byte in front of every changelog value, so the format can evolve. Version 1
/// had no open raw record; version 2 appends it.
const FORMAT_V1: u8 = 1;
const FORMAT_V2: u8 = 2;

/// How long a restore may go without receiving anything before it fails.
const RESTORE_STALL: Duration = Duration::from_secs(60);

/// The packages of one partition. Keys are hashed with foldhash (seeded per process)
/// rather than the standard library's SipHash, which made the two lookups per event about
/// 3 % of the pure path (benches/README.md, seventh round).
#[derive(Debug, Default)]
pub struct PartitionState {
    /// Package key → state.
    pub packages: foldhash::HashMap<Box<str>, PackageState>,
    /// Keys changed since the last commit (written to the changelog at commit).
    pub dirty: foldhash::HashSet<Box<str>>,
}

impl PartitionState {
    /// Applies `event` to package `key` (new packages start empty; `more_follow` as for
    /// [`PackageState::apply_part`]) and, unless it was a duplicate, marks the package for
    /// the changelog. Allocates only for a package or a changelog entry seen for the first
    /// time.
    pub fn apply(&mut self, key: &str, event: &ShipmentEvent, more_follow: bool) -> Outcome {
        let outcome = match self.packages.get_mut(key) {
            Some(package) => package.apply_part(event, more_follow),
            None => {
                let mut package = PackageState::default();
                let outcome = package.apply_part(event, more_follow);
                self.packages.insert(key.into(), package);
                outcome
            }
        };
        if outcome != Outcome::Duplicate && !self.dirty.contains(key) {
            self.dirty.insert(key.into());
        }
        outcome
    }
}

/// Encodes a package state for the changelog.
pub fn encode(state: &PackageState) -> Result<Vec<u8>, StageError> {
    let mut bytes = Vec::new();
    encode_into(state, &mut bytes)?;
    Ok(bytes)
}

/// Encodes a package state for the changelog into `out` (cleared first).
pub fn encode_into(state: &PackageState, out: &mut Vec<u8>) -> Result<(), StageError> {
    out.clear();
    out.push(FORMAT_V2);
    let bytes = std::mem::take(out);
    *out = postcard::to_extend(state, bytes)
        .map_err(|e| StageError::Fatal(format!("encoding state: {e}")))?;
    Ok(())
}

/// Decodes a changelog value.
pub fn decode(bytes: &[u8]) -> Result<PackageState, String> {
    match bytes.split_first() {
        Some((&FORMAT_V2, rest)) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
        Some((&FORMAT_V1, rest)) => postcard::from_bytes(rest)
            .map(|PackageStateV1(state)| state)
            .map_err(|e| e.to_string()),
        Some((version, _)) => Err(format!("unknown state format version {version}")),
        None => Err("empty state".to_owned()),
    }
}

/// The restore consumer's context: reaching the end of a partition is how a restore ends,
/// not an error worth a log line.
struct RestoreContext;

impl rdkafka::ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(rdkafka::error::RDKafkaErrorCode::PartitionEOF) {
            tracing::warn!(reason, error = %error, "Restore consumer error.");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for RestoreContext {}

/// Reads changelog partitions from the beginning to their end (read_committed), folding
/// the values into one state per partition.
pub fn restore(
    config: &Config,
    partitions: &[i32],
) -> Result<HashMap<i32, PartitionState>, StageError> {
    let mut restored: HashMap<i32, PartitionState> = partitions
        .iter()
        .map(|p| (*p, PartitionState::default()))
        .collect();
    if partitions.is_empty() {
        return Ok(restored);
    }
    let topic = &config.topics.state_changelog;
    let consumer: BaseConsumer<RestoreContext> = super::client_config(config)
        .set("group.id", format!("{}-restore", config.kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("fetch.min.bytes", "1")
        // At the end of a partition the broker holds a fetch this long before it answers
        // "no more" (the default is 500 ms).
        .set("fetch.wait.max.ms", "10")
        .set("max.partition.fetch.bytes", "4194304")
        .set("queued.max.messages.kbytes", "65536")
        // librdkafka's default (1000 ms) would idle a restore whose queue filled up.
        .set("fetch.queue.backoff.ms", "20")
        .create_with_context(RestoreContext)
        .map_err(|e| StageError::Fatal(format!("restore consumer: {e}")))?;
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        assignment
            .add_partition_offset(topic, *partition, Offset::Beginning)
            .map_err(|e| StageError::Fatal(format!("restore assignment: {e}")))?;
    }
    // With the partition leaders still unknown at assign, librdkafka waits a fixed 500 ms
    // before it resolves "from the beginning"; known leaders let it start at once. A failure
    // here only costs that wait.
    let _ = consumer.fetch_metadata(
        Some(topic),
        Duration::from_millis(config.kafka.request_timeout_ms),
    );
    consumer
        .assign(&assignment)
        .map_err(|e| StageError::Fatal(format!("restore assign: {e}")))?;
    let mut open: HashSet<i32> = partitions.iter().copied().collect();
    let mut last_progress = Instant::now();
    while !open.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                last_progress = Instant::now();
                let Some(state) = restored.get_mut(&message.partition()) else {
                    continue;
                };
                let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                    continue;
                };
                match message.payload() {
                    None => {
                        state.packages.remove(key);
                    }
                    Some(bytes) => match decode(bytes) {
                        Ok(package) => {
                            state.packages.insert(key.into(), package);
                        }
                        Err(reason) => {
                            return Err(StageError::Fatal(format!(
                                "changelog {topic} partition {} offset {}: {reason}",
                                message.partition(),
                                message.offset()
                            )));
                        }
                    },
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                last_progress = Instant::now();
                open.remove(&partition);
            }
            Some(Err(e)) => return Err(StageError::Abortable(format!("restoring {topic}: {e}"))),
            None if last_progress.elapsed() > RESTORE_STALL => {
                return Err(StageError::Fatal(format!(
                    "restoring {topic} partitions {open:?}: no progress for {}s",
                    RESTORE_STALL.as_secs()
                )));
            }
            None => {}
        }
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_tells_found_unknown_and_owned_elsewhere_apart() {
        let key = "dhl:ABC1";
        let mine = crate::kafka::partitioner::partition_of(key.as_bytes(), 3);
        let mut held = HashMap::new();
        let mut state = PartitionState::default();
        state.packages.insert(key.into(), PackageState::default());
        held.insert(mine, state);
        let view = StateView::new(std::sync::Arc::new(std::sync::Mutex::new(held)), 3);
        assert!(matches!(view.lookup(key), Lookup::Found(_)));
        let other = (0..100)
            .map(|n| format!("dhl:P{n}"))
            .find(|k| crate::kafka::partitioner::partition_of(k.as_bytes(), 3) != mine)
            .expect("a key of another partition");
        assert!(matches!(view.lookup(&other), Lookup::Elsewhere { .. }));
        let unknown = (0..100)
            .map(|n| format!("dhl:Q{n}"))
            .find(|k| crate::kafka::partitioner::partition_of(k.as_bytes(), 3) == mine)
            .expect("a key of the same partition");
        assert!(matches!(view.lookup(&unknown), Lookup::Unknown));
    }

    #[test]
    fn state_round_trips_through_the_changelog_format() {
        let state = PackageState::default();
        let bytes = encode(&state).expect("encodes");
        assert_eq!(bytes[0], FORMAT_V2);
        assert_eq!(decode(&bytes), Ok(state));
        assert!(decode(&[9, 1, 2]).is_err());
        assert!(decode(&[]).is_err());
    }

    /// A Hermes carrier event of package PKG1, `minute` minutes after 2024-05-01 08:00 UTC.
    fn carrier(
        minute: i64,
        status: crate::domain::Status,
        sub: Option<crate::domain::SubCode>,
    ) -> ShipmentEvent {
        use crate::domain::{CarrierEvent, EventTime, TrackingNumber};
        use chrono::{TimeZone, Utc};
        let start = Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).single();
        let at = EventTime::system(start.expect("valid") + chrono::Duration::minutes(minute));
        let number = TrackingNumber::parse("PKG1").expect("valid");
        let event = CarrierEvent::new(number, at, status, sub).code("code", minute.to_string());
        ShipmentEvent::from_carrier("hermes", event).expect("valid")
    }

    /// A package with every kind of history entry, a manual lock, a link to PlentyONE,
    /// and more than `MAX_HISTORY` events (so that the oldest are folded into the base).
    fn rich_state() -> PackageState {
        use crate::domain::{
            CarrierEvent, Command, Correction, EventTime, Status, SubCode, TrackingNumber,
        };
        use chrono::{DateTime, TimeZone, Utc};
        let start = Utc
            .with_ymd_and_hms(2024, 5, 1, 8, 0, 0)
            .single()
            .expect("valid");
        let command = |json: serde_json::Value| {
            Command::parse(json.to_string().as_bytes())
                .and_then(|c| c.into_event(|_| true, DateTime::<Utc>::UNIX_EPOCH))
                .expect("valid command")
        };
        let mut state = PackageState::default();
        for minute in 0..70 {
            state.apply(&carrier(minute, Status::InTransit, None));
        }
        state.apply(&command(
            serde_json::json!({"type": "register", "id": "r-1",
            "carrier": "hermes", "tracking_number": "PKG1", "tenant": "41234",
            "order_id": "3001", "package_id": "9001", "direction": "outbound",
            "actor": "plentyone", "occurred_at": "2024-05-01T08:00:30Z"}),
        ));
        state.apply(&carrier(
            80,
            Status::DeliveryFailed,
            Some(SubCode::RecipientAbsent),
        ));
        let mut correction = CarrierEvent::correction(
            TrackingNumber::parse("PKG1").expect("valid"),
            EventTime::system(start + chrono::Duration::minutes(81)),
            Correction::Latest,
        );
        correction = correction.code("code", "4690");
        state.apply(&ShipmentEvent::from_carrier("hermes", correction).expect("valid"));
        state.apply(&command(
            serde_json::json!({"type": "set_status", "id": "c-1",
            "carrier": "hermes", "tracking_number": "PKG1", "status": "EXCEPTION",
            "sub_status": "damaged", "reason": "photo", "actor": "ops@example.com",
            "lock": {"until": "2024-06-01T00:00:00Z"}, "occurred_at": "2024-05-01T09:30:00Z"}),
        ));
        state.apply(&command(
            serde_json::json!({"type": "clear_lock", "id": "c-2",
            "carrier": "hermes", "tracking_number": "PKG1", "actor": "ops@example.com",
            "reason": "checked", "occurred_at": "2024-05-01T09:40:00Z"}),
        ));
        state.apply(&carrier(95, Status::Delivered, Some(SubCode::Neighbour)));
        state
    }

    /// The changelog bytes of [`rich_state`], as written before the in-memory layout of
    /// `PackageState` was compacted: the format on the changelog must not change with it.
    const RICH_STATE_V1: &str = concat!(
        "0140c0d8a7b3e6638797e1bd9e8ef8eba90100020000008082afb3e66389b58cde88a0c1a2aa010002000000",
        "c0abb6b3e663ea8689aaeaaf8fc5a601000200000080d5bdb3e663a6f0a8a8fbba85ce190002000000c0fec4",
        "b3e663c3fda096a8d5eeb454000200000080a8ccb3e663d98fc9d3f8f4d6e292010002000000c0d1d3b3e663",
        "8db1f6f3b9a9e6f7b901000200000080fbdab3e663c49deea994a6d8facd010002000000c0a4e2b3e663ddf6",
        "a8c4acb6b3bd1d000200000080cee9b3e663e199a8dbf3d4d2f3580002000000c0f7f0b3e663cef1adeeb8ad",
        "cb8566000200000080a1f8b3e66394baad8b96baadae500002000000c0caffb3e663cce880ece49fbbbc0800",
        "0200000080f486b4e6638de39db5cfefafab83010002000000c09d8eb4e663fda88882a3cb95aa5700020000",
        "0080c795b4e66383df9dc3a5aca096a2010002000000c0f09cb4e663cdfbe8ea93e6e7ba510002000000809a",
        "a4b4e6639e82e29492a089cf0d0002000000c0c3abb4e663a1a397c7eafacab632000200000080edb2b4e663",
        "afe3dfd5f0f49c856a0002000000c096bab4e66385c6f9ecc78fce99e201000200000080c0c1b4e663dbc0a7",
        "ddaec39298fc010002000000c0e9c8b4e663b1cc83f1f5dfd0ddd30100020000008093d0b4e6639789f8cba8",
        "acf9bd95010002000000c0bcd7b4e663a591c2dac7d7d9b8e101000200000080e6deb4e663e3a3ecf9c9d8f4",
        "8b480002000000c08fe6b4e663c398aca59fafabe9f901000200000080b9edb4e663c2aad6feb2f292d82a00",
        "02000000c0e2f4b4e663d8958992f2fcc3f1370002000000808cfcb4e663cbaafbb8bd92f8a6560002000000",
        "c0b583b5e663dafdde9486d3bdeb8201000200000080df8ab5e663c8e49ab78f80a5c3780002000000c08892",
        "b5e66394f2c8a1df96bdc505000200000080b299b5e663c6c8e4eff39393cfbf010002000000c0dba0b5e663",
        "a68adbc7eab8c9d3c30100020000008085a8b5e663e2a997c9acdbfcf5df010002000000c0aeafb5e66390bc",
        "acaf809daad1e901000200000080d8b6b5e663c8c9ff88cafbdb93fe010002000000c081beb5e663a1b6998d",
        "e6f1e7962a000200000080abc5b5e663f88dd1c7b2e193d21b0002000000c0d4ccb5e66383e1ade8e1a7ecb7",
        "14000200000080fed3b5e663f1dbcaeddaa8ce8a6f0002000000c0a7dbb5e66391bbc7d6ecd0c3ce0b000200",
        "000080d1e2b5e663f3ac96c8dbffe1c2c3010002000000c0fae9b5e663848fc9d0feb9afd2fa010002000000",
        "80a4f1b5e663d7beddffd4b6e08f80010002000000c0cdf8b5e663efaee388a2a9fdbac101000200000080f7",
        "ffb5e66391b0a4b5e8d2ebb02b0002000000c0a087b6e663ac93acd1f1acf7fcab01000200000080ca8eb6e6",
        "63b085dd8b9d89fd88770002000000c0f395b6e663f6e5e6f0e091e8871c0002000000809d9db6e663dea79d",
        "f88cf2c9d44d0002000000c0c6a4b6e663f8a0b4dae4ead48064000200000080f0abb6e663bd96eceae8cbe6",
        "bca1010002000000c099b3b6e663c487a69d9fc68eb7d801000200000080c3bab6e663cabad693b3ea94910d",
        "0002000000c0ecc1b6e663d497c2d4e38da9eaf30100020000008096c9b6e663f6c2e0fa9f80eaba4a000200",
        "0000c0bfd0b6e663e98e938e9c87ace52e00020000008088a1b7e663cda5c2c9cd91c1a2de01000401150000",
        "c0b1a8b7e663bb9c8eeef6d7aad18f01010080a7eab7e66398f2aeaac8a3fd96d9010006012f010180d0c491",
        "fa63c0f68eb8e663e5c4aad9bde6ffda8e010008013e000080c6b3b8e663bf89f2edbecfd1d8020301020001",
        "001400008090d7b2e663d9fab7fae28ece85f1010180afa0b3e6630106012f0104140001140080a7eab7e663",
        "98f2aeaac8a3fd96d901000004",
    );

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// Version 2 is version 1's bytes with the open record (none: `00`) appended.
    #[test]
    fn the_changelog_format_does_not_change() {
        let state = rich_state();
        let bytes = encode(&state).expect("encodes");
        assert_eq!(hex(&bytes), format!("02{}00", &RICH_STATE_V1[2..]));
        assert_eq!(decode(&bytes), Ok(state));
    }

    #[test]
    fn version_1_records_read_back() {
        assert_eq!(decode(&unhex(RICH_STATE_V1)), Ok(rich_state()));
    }

    #[test]
    fn an_open_record_survives_the_changelog() {
        use crate::domain::Status;
        let mut state = rich_state();
        let before = state.status().map(|status| (status, state.sub_status()));
        let closing = carrier(100, Status::InTransit, None);
        let returning = carrier(101, Status::ReturningToSender, None);
        assert_eq!(state.apply_part(&returning, true), Outcome::Held);
        let mut restored = decode(&encode(&state).expect("encodes")).expect("decodes");
        assert_eq!(restored, state);
        let Outcome::Changed(change) = restored.apply_part(&closing, false) else {
            panic!("the record's change is decided when it closes");
        };
        assert_eq!(change.previous, before);
        assert_eq!(change.status, Status::ReturningToSender);
    }
}

/// The fold stage's partitions, shared between the stage thread and package lookups.
pub type SharedPartitions = std::sync::Arc<std::sync::Mutex<HashMap<i32, PartitionState>>>;

/// A read-only view of this instance's state, for `GET /packages/{carrier}/{tracking}`.
#[derive(Clone)]
pub struct StateView {
    partitions: SharedPartitions,
    events_partitions: usize,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// This instance owns the package.
    Found(Box<PackageState>),
    /// This instance owns the package's partition but has never seen the package.
    Unknown,
    /// Another instance owns the package's partition.
    Elsewhere {
        /// The partition of `shipment.events` the package belongs to.
        partition: i32,
    },
}

impl StateView {
    /// A view of `partitions`; `events_partitions` is the partition count of
    /// `shipment.events` (to tell which partition a package belongs to).
    pub fn new(partitions: SharedPartitions, events_partitions: usize) -> Self {
        Self {
            partitions,
            events_partitions,
        }
    }

    /// Looks a package key up.
    pub fn lookup(&self, key: &str) -> Lookup {
        let partition = super::partitioner::partition_of(key.as_bytes(), self.events_partitions);
        let Ok(partitions) = self.partitions.lock() else {
            return Lookup::Elsewhere { partition };
        };
        match partitions.get(&partition) {
            None => Lookup::Elsewhere { partition },
            Some(state) => match state.packages.get(key) {
                Some(package) => Lookup::Found(Box::new(package.clone())),
                None => Lookup::Unknown,
            },
        }
    }
}
