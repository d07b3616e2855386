//! Per-package state of the fold stage, kept per assigned `shipment.events` partition and
//! mirrored to the compacted changelog topic (same partition number). Restored from the
//! changelog before a newly assigned partition is processed. No external database.

use super::engine::StageError;
use crate::config::Config;
use crate::domain::{Outcome, PackageState, ShipmentEvent};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Version byte in front of every changelog value, so the format can evolve.
const FORMAT_V1: u8 = 1;

/// How long a restore may go without receiving anything before it fails.
const RESTORE_STALL: Duration = Duration::from_secs(60);

/// The packages of one partition.
#[derive(Debug, Default)]
pub struct PartitionState {
    /// Package key → state.
    pub packages: HashMap<String, PackageState>,
    /// Keys changed since the last commit (written to the changelog at commit).
    pub dirty: HashSet<String>,
}

impl PartitionState {
    /// Applies `event` to package `key` (new packages start empty) and, unless it was a
    /// duplicate, marks the package for the changelog. Allocates only for a package or a
    /// changelog entry seen for the first time.
    pub fn apply(&mut self, key: &str, event: &ShipmentEvent) -> Outcome {
        let outcome = match self.packages.get_mut(key) {
            Some(package) => package.apply(event),
            None => {
                let mut package = PackageState::default();
                let outcome = package.apply(event);
                self.packages.insert(key.to_owned(), package);
                outcome
            }
        };
        if outcome != Outcome::Duplicate && !self.dirty.contains(key) {
            self.dirty.insert(key.to_owned());
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
    out.push(FORMAT_V1);
    let bytes = std::mem::take(out);
    *out = postcard::to_extend(state, bytes)
        .map_err(|e| StageError::Fatal(format!("encoding state: {e}")))?;
    Ok(())
}

/// Decodes a changelog value.
pub fn decode(bytes: &[u8]) -> Result<PackageState, String> {
    match bytes.split_first() {
        Some((&FORMAT_V1, rest)) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
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
        .set("queued.max.messages.kbytes", "65536")
        .create_with_context(RestoreContext)
        .map_err(|e| StageError::Fatal(format!("restore consumer: {e}")))?;
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        assignment
            .add_partition_offset(topic, *partition, Offset::Beginning)
            .map_err(|e| StageError::Fatal(format!("restore assignment: {e}")))?;
    }
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
                            state.packages.insert(key.to_owned(), package);
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
        state
            .packages
            .insert(key.to_owned(), PackageState::default());
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
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode(&bytes), Ok(state));
        assert!(decode(&[9, 1, 2]).is_err());
        assert!(decode(&[]).is_err());
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
