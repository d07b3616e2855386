//! The ops CLI: `unitrack command register | set-status | clear-lock` sends one command to
//! `shipment.commands` and waits for its outcome on `shipment.commands.outcomes`.

use crate::config::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// Why a command could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Kafka refused.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// No outcome arrived in time (is `unitrack run` running?).
    #[error("no outcome for command {0} within {1:?} (is unitrack running?)")]
    NoOutcome(String, Duration),
    /// The outcomes topic does not exist (yet).
    #[error("topic {0} does not exist")]
    MissingTopic(String),
    /// The outcome was not JSON.
    #[error("unreadable outcome: {0}")]
    Outcome(#[from] serde_json::Error),
}

/// The current end of every partition of the outcomes topic.
fn outcome_ends(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<TopicPartitionList, OpsError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    if metadata
        .topics()
        .iter()
        .all(|t| t.error().is_some() || t.partitions().is_empty())
    {
        return Err(OpsError::MissingTopic(topic.to_owned()));
    }
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (_, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        assignment.add_partition_offset(topic, partition.id(), Offset::Offset(high))?;
    }
    Ok(assignment)
}

/// Retries `step` for up to `limit` (a topic just created may not have leaders yet).
async fn retry<T>(
    limit: Duration,
    mut step: impl FnMut() -> Result<T, OpsError>,
) -> Result<T, OpsError> {
    let started = Instant::now();
    loop {
        match tokio::task::block_in_place(&mut step) {
            Ok(value) => return Ok(value),
            Err(e) if started.elapsed() >= limit => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// A fresh command id: time and process, unique enough for people typing commands.
pub fn new_command_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("cli-{nanos:x}-{:x}", std::process::id())
}

/// Sends `command` (JSON with an `id`), keyed by `key`, and waits up to `wait` for its
/// outcome, which it returns.
pub async fn send_and_wait(
    config: &Config,
    command: &serde_json::Value,
    key: &str,
    wait: Duration,
) -> Result<serde_json::Value, OpsError> {
    let id = command["id"].as_str().unwrap_or_default().to_owned();
    let topic = &config.topics.command_outcomes;
    // Start reading the outcomes at their current end, before sending, so none is missed.
    let consumer: BaseConsumer = crate::kafka::client_config(config)
        .set("group.id", format!("{}-cli-{id}", config.kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let timeout = Duration::from_millis(config.kafka.request_timeout_ms);
    let assignment = retry(timeout, || outcome_ends(&consumer, topic, timeout)).await?;
    consumer.assign(&assignment)?;

    let producer: FutureProducer = crate::kafka::client_config(config)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    let payload = serde_json::to_vec(command)?;
    producer
        .send(
            FutureRecord::to(&config.topics.commands)
                .key(key)
                .payload(&payload),
            timeout,
        )
        .await
        .map_err(|(e, _)| e)?;

    let started = Instant::now();
    while started.elapsed() < wait {
        let polled = tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(200)));
        if let Some(message) = polled {
            let message = message?;
            if message.key() == Some(id.as_bytes()) {
                return Ok(serde_json::from_slice(
                    message.payload().unwrap_or_default(),
                )?);
            }
        }
    }
    Err(OpsError::NoOutcome(id, wait))
}
