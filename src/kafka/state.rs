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

/// The packages of one partition.
#[derive(Debug, Default)]
pub struct PartitionState {
    /// Package key → state.
    pub packages: HashMap<Box<str>, PackageState>,
    /// Keys changed since the last commit (written to the changelog at commit).
    pub dirty: HashSet<Box<str>>,
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
        "0140c0d8a7b3e663c0b0cff5db80c5903200020000008082afb3e663e897f7bd9a9193c8fd010002000000c0",
        "abb6b3e663c6ead3afb6aa81b428000200000080d5bdb3e663ff8082cda2b5e2a3370002000000c0fec4b3e6",
        "63a9e3c0b5b0b0d0b630000200000080a8ccb3e663caf78fcab58090d70e0002000000c0d1d3b3e663bbabb3",
        "f9abb5f1cee901000200000080fbdab3e663ce86ba9297bf9f951a0002000000c0a4e2b3e663c2b5bcf598f7",
        "bdfe9101000200000080cee9b3e663efd7d7db88eaa6cebe010002000000c0f7f0b3e663fdb992e485faccd6",
        "6d000200000080a1f8b3e663a880b4998ba4f1ce450002000000c0caffb3e66398d2dc9082c2ea81e1010002",
        "00000080f486b4e663d8e0ef98bce7b0c2da010002000000c09d8eb4e663b1a3def0fcbda3fe830100020000",
        "0080c795b4e663a4bdbcd6f492c9acc2010002000000c0f09cb4e66386ddc38688bffff95f0002000000809a",
        "a4b4e663c5b8eec290edaabea4010002000000c0c3abb4e663cbd1abd7b38d9d9abf01000200000080edb2b4",
        "e663e496dccfe7adb8d23c0002000000c096bab4e663a4b1a2fae6efe1fd18000200000080c0c1b4e663c6dc",
        "fefef3daa6c84b0002000000c0e9c8b4e663decdbc8eb6dacfc24a00020000008093d0b4e663a69bb78e90f3",
        "d6c7780002000000c0bcd7b4e663cdaffe859ee6aec158000200000080e6deb4e663f483c4ba83e0a8be2300",
        "02000000c08fe6b4e663c8befbc18b89eeb1ee01000200000080b9edb4e663e487a8e0d6e1eedc0700020000",
        "00c0e2f4b4e663eed9da86b6d7ced8f1010002000000808cfcb4e663e5f3dfad8bd4a5a31f0002000000c0b5",
        "83b5e663feb4bda6ccf9dbeeff01000200000080df8ab5e663b4ef82dbcec2f5ecef010002000000c08892b5",
        "e663d69bcaadbbdf88f33b000200000080b299b5e66399e2f78ee8f7a5b5090002000000c0dba0b5e6638dfd",
        "e191fff1d2fba50100020000008085a8b5e663dcb988ee93d1cac95a0002000000c0aeafb5e6639f9b83a789",
        "8fbbfc07000200000080d8b6b5e663a8c9acca80e2a1b094010002000000c081beb5e6638489dcf2befee2c6",
        "c001000200000080abc5b5e663d1c8d0dff08cbd871b0002000000c0d4ccb5e663e7d3cdd9b3b582960c0002",
        "00000080fed3b5e663849bdad8c2f4e4dfd7010002000000c0a7dbb5e6638debe7b483cfb989430002000000",
        "80d1e2b5e663ddc6deabc1df94b37a0002000000c0fae9b5e663f081c6d683e5eeebf501000200000080a4f1",
        "b5e663c7b0cd8ae4bbae96fb010002000000c0cdf8b5e663aca5fda2a8dad29704000200000080f7ffb5e663",
        "caeae9c7aade96c11b0002000000c0a087b6e6639ebee6d2ced5f9b466000200000080ca8eb6e6639290ac94",
        "bef9e6ccd9010002000000c0f395b6e663ddd2f890d3eeccd4c8010002000000809d9db6e663ccfdcd8bafaa",
        "ceb9650002000000c0c6a4b6e663dae6bdaba0a4f0b8e301000200000080f0abb6e6638fe5fcda88e8a6da78",
        "0002000000c099b3b6e663b38bd9e3aa9082f8c801000200000080c3bab6e663b991d29b80f69aa61b000200",
        "0000c0ecc1b6e663a3dca984eef9aac32d00020000008096c9b6e66399d5e889f6fcaff8060002000000c0bf",
        "d0b6e6638b8a98efbbd9b6eead0100020000008088a1b7e663b2c0dafe9ce9868a12000401150000c0b1a8b7",
        "e663caabffeb9aa6bab88e01010080a7eab7e663d096c3afe7a1b7c2aa010006012f010180d0c491fa63c0f6",
        "8eb8e66384b5bd9af2e5db9a8f010008013e000080c6b3b8e6639edea299abcbf1e6f6010301020001001400",
        "008090d7b2e663bce8dffcde9cc2b086010180afa0b3e6630106012f0104140001140080a7eab7e663d096c3",
        "afe7a1b7c2aa01000004",
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
