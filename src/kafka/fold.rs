//! Stage 2, stateful: unified events from `shipment.events` are folded per package (the
//! one pure transition function, `PackageState::apply`); every real change is published
//! to `shipment.status.changed`, keyed by package. Changed states go to the changelog in
//! the same transaction as the output and the input offsets.

use super::codec::Codec;
use super::dlq::{self, Poison};
use super::engine::{Output, Processor, Record, StageError};
use super::state::{self, PartitionState};
use crate::avro::StatusChangedRecord;
use crate::config::Config;
use crate::domain::{Outcome, StatusChanged};
use chrono::Utc;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use tracing::debug;

const STAGE: &str = "fold";

/// The fold processor.
pub struct Fold {
    config: Config,
    codec: Arc<Codec>,
    partitions: HashMap<i32, PartitionState>,
    /// The package key of the record in hand (reused: no allocation per record).
    key: String,
    /// Encoding buffer (reused).
    buf: Vec<u8>,
}

impl Fold {
    /// A processor for `config`, writing with `codec`.
    pub fn new(config: &Config, codec: Arc<Codec>) -> Self {
        Self {
            config: config.clone(),
            codec,
            partitions: HashMap::new(),
            key: String::new(),
            buf: Vec::new(),
        }
    }

    /// The subscription: the unified events.
    pub fn topics(config: &Config) -> Vec<String> {
        vec![config.topics.events.clone()]
    }

    fn poison(
        &self,
        record: &Record<'_>,
        out: &mut Output<'_>,
        class: &str,
        reason: String,
    ) -> Result<(), StageError> {
        let poison = Poison {
            stage: STAGE,
            class,
            reason,
            carrier: "",
        };
        dlq::send(out, &self.config.topics.dlq, record, &poison)
    }
}

impl Processor for Fold {
    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), StageError> {
        let event = match self.codec.decode_event(record.payload.unwrap_or_default()) {
            Ok(event) => event,
            Err(e) => return self.poison(record, out, "avro", e.to_string()),
        };
        self.key.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.key, "{}", event.package);
        let key = self.key.as_str();
        if record.key.is_some_and(|k| k != key.as_bytes()) {
            let reason = format!("record key does not match the event's package {key}");
            return self.poison(record, out, "key", reason);
        }
        let partition = self.partitions.entry(record.partition).or_default();
        let outcome = partition.apply(key, &event);
        debug!(package = key, ?outcome, "Applied.");
        if let Outcome::Changed(change) = outcome {
            let linkage = partition.packages.get(key).and_then(|p| p.linkage());
            let changed = StatusChanged::new(&event, &change, linkage);
            self.codec
                .encode_changed(
                    &StatusChangedRecord::new(&changed, Utc::now()),
                    &mut self.buf,
                )
                .map_err(|e| StageError::Fatal(format!("encoding a status change: {e}")))?;
            out.send(
                &self.config.topics.status_changed,
                None,
                key.as_bytes(),
                &self.buf,
                None,
            )?;
        }
        Ok(())
    }

    fn before_commit(&mut self, out: &mut Output<'_>) -> Result<(), StageError> {
        let changelog = &self.config.topics.state_changelog;
        for (partition, state) in &mut self.partitions {
            for key in state.dirty.drain() {
                if let Some(package) = state.packages.get(&key) {
                    state::encode_into(package, &mut self.buf)?;
                    out.send(changelog, Some(*partition), key.as_bytes(), &self.buf, None)?;
                }
            }
        }
        Ok(())
    }

    fn assigned(&mut self, partitions: &[(String, i32)]) -> Result<(), StageError> {
        let mine: Vec<i32> = partitions
            .iter()
            .filter(|(topic, _)| *topic == self.config.topics.events)
            .map(|(_, partition)| *partition)
            .collect();
        let restored = state::restore(&self.config, &mine)?;
        self.partitions.extend(restored);
        Ok(())
    }

    fn revoked(&mut self, partitions: &[(String, i32)]) {
        for (_, partition) in partitions {
            self.partitions.remove(partition);
        }
    }
}
