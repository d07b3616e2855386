//! Stage 1, stateless: raw carrier bodies and ops commands become unified events on
//! `shipment.events`, one record per event, keyed by package key so that everything about
//! a package lands in one partition (murmur2, as Java clients partition). Poison goes to
//! the dead-letter topic with the reason.

use super::codec::Codec;
use super::dlq::{self, Poison};
use super::engine::{Output, Processor, Record, StageError};
use super::published::{PublishedWindow, body_digest};
use crate::avro::ShipmentEventRecord;
use crate::carriers::{self, RawRecord};
use crate::config::Config;
use crate::domain::{
    Command, CommandOutcome, EventKind, RawCode, ShipmentEvent, Status, with_more_follow,
};
use crate::telemetry::metrics;
use chrono::{DateTime, Utc};
use rdkafka::message::{Header, OwnedHeaders};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

const STAGE: &str = "normalise";

/// Header on a unified event that is followed by more events of the same raw record and
/// package (value `1`). The fold holds a change back until the record's last event of the
/// package, which carries no such header, and then publishes the net change. Events
/// without it (commands, older records) are each a record of their own.
pub const MORE_IN_RECORD: &str = "unitrack.record.more";

/// The normalise processor.
pub struct Normalise {
    codec: Arc<Codec>,
    raw_prefix: String,
    commands: String,
    outcomes: String,
    events: String,
    dlq: String,
    enabled: HashSet<String>,
    published: PublishedWindow,
    unknown: UnknownCodes,
}

impl Normalise {
    /// A processor for `config`, writing with `codec`.
    pub fn new(config: &Config, codec: Arc<Codec>) -> Self {
        Self {
            codec,
            raw_prefix: config.topics.raw_prefix.clone(),
            commands: config.topics.commands.clone(),
            outcomes: config.topics.command_outcomes.clone(),
            events: config.topics.events.clone(),
            dlq: config.topics.dlq.clone(),
            enabled: config.carriers.enabled.iter().cloned().collect(),
            published: PublishedWindow::new(config.processing.published_window),
            unknown: UnknownCodes::default(),
        }
    }

    /// The subscription: every raw topic (a regex on the prefix) and the command topic.
    pub fn topics(config: &Config) -> Vec<String> {
        vec![
            format!("^{}.+", regex_escape(&config.topics.raw_prefix)),
            config.topics.commands.clone(),
        ]
    }

    fn emit(
        &self,
        event: &ShipmentEvent,
        more_follow: bool,
        out: &mut Output<'_>,
    ) -> Result<(), StageError> {
        send_event(&self.codec, &self.events, None, event, more_follow, out)
    }

    fn command(&self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), StageError> {
        let received_at = record
            .timestamp_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_else(Utc::now);
        let known = |carrier: &str| self.enabled.contains(carrier);
        match Command::parse(record.payload.unwrap_or_default())
            .and_then(|c| c.into_event(known, received_at))
        {
            Ok(event) => self.emit(&event, false, out),
            Err(error) => {
                let payload = record.payload.unwrap_or_default();
                let outcome = CommandOutcome::malformed(payload, &error);
                tracing::warn!(
                    topic = record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    command_id = outcome.command_id.as_deref().unwrap_or(""),
                    reason = %error,
                    "Command rejected."
                );
                send_outcome(out, &self.outcomes, &outcome)
            }
        }
    }

    fn raw(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), StageError> {
        let carrier_id = record
            .topic
            .strip_prefix(self.raw_prefix.as_str())
            .unwrap_or_default();
        let carrier = carriers::find(carrier_id).filter(|c| self.enabled.contains(c.id()));
        let Some(carrier) = carrier else {
            let poison = Poison {
                stage: STAGE,
                class: "unknown_carrier",
                reason: format!(
                    "no enabled carrier `{carrier_id}` for topic {}",
                    record.topic
                ),
                carrier: carrier_id,
            };
            return dlq::send(out, &self.dlq, record, &poison);
        };
        let raw = RawRecord {
            topic: record.topic,
            key: record.key,
            headers: &record.headers,
            payload: record.payload.unwrap_or_default(),
            timestamp_ms: record.timestamp_ms,
        };
        let digest = body_digest(carrier.id(), record.key, raw.payload);
        if self.published.has_body(digest) {
            metrics().body_skipped(carrier.id());
            return Ok(());
        }
        match carriers::map_record(carrier, &raw) {
            Ok(events) => {
                let mut unknown = 0;
                for event in &events {
                    let EventKind::Status {
                        status: Status::Unknown,
                        ..
                    } = event.kind
                    else {
                        continue;
                    };
                    unknown += 1;
                    if self.unknown.first(carrier.id(), &event.codes) {
                        tracing::warn!(
                            carrier = carrier.id(),
                            package = %event.package,
                            codes = %codes_text(&event.codes),
                            text = event.text.as_deref().unwrap_or(""),
                            topic = record.topic,
                            partition = record.partition,
                            offset = record.offset,
                            "Unmapped carrier code, recorded as UNKNOWN (said once per code and process)."
                        );
                    }
                }
                metrics().mapped(carrier.id(), events.len(), unknown);
                let fresh: Vec<&ShipmentEvent> = events
                    .iter()
                    .filter(|event| self.published.is_new(event.id))
                    .collect();
                for (event, more) in with_more_follow(&fresh) {
                    self.emit(event, more, out)?;
                }
                let skipped = events.len() - fresh.len();
                if skipped > 0 {
                    metrics().skipped(carrier.id(), skipped);
                }
                self.published.body_done(digest);
                Ok(())
            }
            Err(error) => {
                let poison = Poison {
                    stage: STAGE,
                    class: error.class(),
                    reason: error.to_string(),
                    carrier: carrier.id(),
                };
                dlq::send(out, &self.dlq, record, &poison)
            }
        }
    }
}

impl Processor for Normalise {
    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), StageError> {
        if record.topic == self.commands {
            self.command(record, out)
        } else {
            self.raw(record, out)
        }
    }

    fn committed(&mut self) {
        self.published.commit();
    }

    fn aborted(&mut self) {
        self.published.abort();
    }
}

/// Publishes `event` to `topic` (`shipment.events`), keyed by its package, to `partition`
/// (none: the partitioner's, murmur2 of the key); `more_follow`:
/// more events of the same raw record and package come next (said by the
/// [`MORE_IN_RECORD`] header, so that the fold decides one net change per record).
pub fn send_event(
    codec: &Codec,
    topic: &str,
    partition: Option<i32>,
    event: &ShipmentEvent,
    more_follow: bool,
    out: &mut Output<'_>,
) -> Result<(), StageError> {
    let record = ShipmentEventRecord::from(event);
    let headers = more_follow.then(|| {
        OwnedHeaders::new_with_capacity(1).insert(Header {
            key: MORE_IN_RECORD,
            value: Some("1"),
        })
    });
    event.package.with_text(|key| {
        out.send_encoded(topic, partition, key.as_bytes(), headers, |value| {
            codec
                .encode_event_into(&record, value)
                .map_err(|e| StageError::Fatal(format!("encoding a unified event: {e}")))
        })
    })
}

/// Publishes a command's outcome, keyed by command id, in the stage's transaction.
pub fn send_outcome(
    out: &mut Output<'_>,
    topic: &str,
    outcome: &CommandOutcome,
) -> Result<(), StageError> {
    let json =
        serde_json::to_vec(outcome).map_err(|e| StageError::Fatal(format!("outcome JSON: {e}")))?;
    let key = outcome.command_id.as_deref().unwrap_or_default();
    metrics().command(outcome.outcome);
    out.send(topic, None, key.as_bytes(), &json, None)
}

/// Escapes regex metacharacters of a topic prefix (`tracking.raw.` → `tracking\.raw\.`).
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = matches!(
                c,
                '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' | '\\'
            );
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// The carrier codes that came unmapped, so that each is logged once per process and
/// carrier: `unitrack_unknown_codes_total` says how many, the log says which (codes are
/// unbounded, so no metric label). At most [`UnknownCodes::LIMIT`] remembered, then afresh.
/// Kept as hashes (a collision only leaves a code unsaid until the memory starts afresh).
#[derive(Default)]
struct UnknownCodes {
    hasher: RandomState,
    seen: HashSet<u64>,
}

impl UnknownCodes {
    const LIMIT: usize = 4096;

    /// Whether `codes` of `carrier` came unmapped for the first time.
    fn first(&mut self, carrier: &str, codes: &[RawCode]) -> bool {
        let key = self.hasher.hash_one((carrier, codes));
        if self.seen.contains(&key) {
            return false;
        }
        if self.seen.len() >= Self::LIMIT {
            self.seen.clear();
        }
        self.seen.insert(key)
    }
}

/// `name=value` pairs, as a log field.
fn codes_text(codes: &[RawCode]) -> String {
    codes
        .iter()
        .map(|code| format!("{}={}", code.name, code.value))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unknown_code_is_said_once_per_carrier() {
        let code = |name: &'static str, value: &str| RawCode {
            name: name.into(),
            value: value.to_owned(),
        };
        let pstch = [code("ice", "PSTCH"), code("ric", "NRQRD")];
        let mut unknown = UnknownCodes::default();
        assert!(unknown.first("dhl_parcel_de", &pstch));
        assert!(!unknown.first("dhl_parcel_de", &pstch));
        assert!(unknown.first("dhl_parcel_de", &pstch[..1]));
        assert!(unknown.first("dpd", &pstch));
        assert_eq!(codes_text(&pstch), "ice=PSTCH ric=NRQRD");
        // Bounded: past the limit it starts afresh and says a code again.
        for n in 0..UnknownCodes::LIMIT {
            unknown.first("ups", &[code("status", &n.to_string())]);
        }
        assert!(unknown.seen.len() <= UnknownCodes::LIMIT);
        assert!(unknown.first("dhl_parcel_de", &pstch));
    }

    #[test]
    fn the_raw_subscription_is_a_regex_on_the_escaped_prefix() {
        assert_eq!(regex_escape("tracking.raw."), "tracking\\.raw\\.");
        let config = Config::load_with_env(None, Vec::new()).expect("defaults");
        assert_eq!(
            Normalise::topics(&config),
            vec!["^tracking\\.raw\\..+", "shipment.commands"]
        );
    }
}
