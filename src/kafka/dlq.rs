//! Dead-letter records: the original key and value, with headers saying why and where
//! from. The source offset still advances: the stream never stalls on one record.

use super::engine::{Output, Record, StageError};
use crate::telemetry::metrics;
use rdkafka::message::{Header, OwnedHeaders};
use tracing::warn;

/// Header names of dead-letter records.
pub mod header {
    /// A bounded error class (`syntax`, `shape`, `time`, `unknown_carrier`, `command`...).
    pub const ERROR_CLASS: &str = "unitrack.error.class";
    /// The precise reason, for people.
    pub const ERROR_REASON: &str = "unitrack.error.reason";
    /// The stage that gave up on the record.
    pub const STAGE: &str = "unitrack.stage";
    /// Source topic.
    pub const SOURCE_TOPIC: &str = "unitrack.source.topic";
    /// Source partition (decimal).
    pub const SOURCE_PARTITION: &str = "unitrack.source.partition";
    /// Source offset (decimal).
    pub const SOURCE_OFFSET: &str = "unitrack.source.offset";
    /// The carrier, when known (empty otherwise).
    pub const CARRIER: &str = "unitrack.carrier";
}

/// Why a record goes to the dead-letter topic.
pub struct Poison<'a> {
    /// The stage.
    pub stage: &'static str,
    /// Bounded class.
    pub class: &'a str,
    /// Precise reason.
    pub reason: String,
    /// The carrier, if known.
    pub carrier: &'a str,
}

/// Sends `record` to `dlq` with the provenance headers.
pub fn send(
    out: &mut Output<'_>,
    dlq: &str,
    record: &Record<'_>,
    poison: &Poison<'_>,
) -> Result<(), StageError> {
    warn!(
        stage = poison.stage,
        carrier = poison.carrier,
        topic = record.topic,
        partition = record.partition,
        offset = record.offset,
        class = poison.class,
        reason = %poison.reason,
        "Record sent to dead-letter topic."
    );
    metrics().dead_lettered(poison.stage, poison.class);
    let partition = record.partition.to_string();
    let offset = record.offset.to_string();
    let headers = OwnedHeaders::new_with_capacity(7)
        .insert(Header {
            key: header::ERROR_CLASS,
            value: Some(poison.class),
        })
        .insert(Header {
            key: header::ERROR_REASON,
            value: Some(poison.reason.as_str()),
        })
        .insert(Header {
            key: header::STAGE,
            value: Some(poison.stage),
        })
        .insert(Header {
            key: header::SOURCE_TOPIC,
            value: Some(record.topic),
        })
        .insert(Header {
            key: header::SOURCE_PARTITION,
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: header::SOURCE_OFFSET,
            value: Some(offset.as_str()),
        })
        .insert(Header {
            key: header::CARRIER,
            value: Some(poison.carrier),
        });
    out.send(
        dlq,
        None,
        record.key.unwrap_or_default(),
        record.payload.unwrap_or_default(),
        Some(headers),
    )
}
