//! Per-package state of the fold stage, kept per assigned `shipment.events` partition and
//! mirrored to the compacted changelog topic (same partition number). Restored from the
//! changelog before a newly assigned partition is processed. No external database.

use super::engine::StageError;
use crate::config::Config;
use crate::domain::{Outcome, PackageState, ShipmentEvent};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
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

/// The restore consumer's context: the end of a partition is how a restore knows it is
/// done, not an error to log (librdkafka reports it to the error callback too).
struct RestoreContext;

impl ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(reason, "librdkafka: {error}");
        }
    }
}

impl ConsumerContext for RestoreContext {}

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
    let consumer: BaseConsumer<RestoreContext> = super::client_config(&config.kafka)
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
    fn state_round_trips_through_the_changelog_format() {
        let state = PackageState::default();
        let bytes = encode(&state).expect("encodes");
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode(&bytes), Ok(state));
        assert!(decode(&[9, 1, 2]).is_err());
        assert!(decode(&[]).is_err());
    }
}
