//! The baseline: a plain rdkafka passthrough (BaseConsumer → BaseProducer) copying the raw
//! records to another topic, with the consumer and producer settings unitrack's stages
//! use, batching (no per-record await), at-least-once: every second the producer is
//! flushed and the consumed positions are committed. No parsing, no state, no
//! transactions: the practical limit of any Kafka-to-Kafka processor on this machine.

use crate::kafka::{self, Deliveries};
use anyhow::Result;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the passthrough flushes and commits.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// Copies `inputs` to `output` as group `group` until `stop`; returns the records copied.
pub fn passthrough(
    bootstrap: &str,
    group: &str,
    inputs: &[String],
    output: &str,
    stop: &AtomicBool,
) -> Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("queued.max.messages.kbytes", "16384")
        .set("queued.min.messages", "10000")
        .create()?;
    let topics: Vec<&str> = inputs.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let producer = kafka::producer(bootstrap, 5)?;
    let mut copied = 0u64;
    let mut pending = false;
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(message)) => {
                let mut record =
                    BaseRecord::to(output).payload(message.payload().unwrap_or_default());
                if let Some(key) = message.key() {
                    record = record.key(key);
                }
                kafka::send(&producer, record)?;
                copied += 1;
                pending = true;
                if copied.is_multiple_of(64) {
                    producer.poll(Duration::ZERO);
                }
            }
            Some(Err(e)) => eprintln!("unitrack-bench: passthrough consumer: {e}"),
            None => {
                producer.poll(Duration::ZERO);
            }
        }
        if pending && last_commit.elapsed() >= COMMIT_EVERY {
            commit(&consumer, &producer)?;
            pending = false;
            last_commit = Instant::now();
        }
    }
    if pending {
        commit(&consumer, &producer)?;
    }
    consumer.unsubscribe();
    Ok(copied)
}

fn commit(consumer: &BaseConsumer, producer: &BaseProducer<Deliveries>) -> Result<()> {
    kafka::flush(producer)?;
    consumer.commit_consumer_state(CommitMode::Sync)?;
    Ok(())
}
