//! Topic checks at start: every topic unitrack uses must exist (or is created when
//! `topics.create_topics` is set), and `shipment.events` and the state changelog must have
//! the same partition count, because state partition N is restored from changelog
//! partition N.

use crate::config::Config;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::HashMap;
use std::time::Duration;

/// Why the topics are not usable.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// The brokers did not answer a metadata request.
    #[error("cannot reach Kafka at {bootstrap}: {source}")]
    Unreachable {
        /// The configured bootstrap servers.
        bootstrap: String,
        /// The client error.
        source: KafkaError,
    },
    /// Topics are missing and `create_topics` is off.
    #[error("missing topics: {} (create them, e.g. with `dev/stack up`, or set topics.create_topics = true)", .0.join(", "))]
    Missing(Vec<String>),
    /// Creating a topic failed.
    #[error("cannot create topic {topic}: {reason}")]
    Create {
        /// The topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
    /// Events and changelog differ in partition count.
    #[error(
        "topic {events} has {events_partitions} partitions but the state changelog {changelog} has {changelog_partitions}: they must be equal"
    )]
    PartitionMismatch {
        /// The events topic.
        events: String,
        /// Its partition count.
        events_partitions: usize,
        /// The changelog topic.
        changelog: String,
        /// Its partition count.
        changelog_partitions: usize,
    },
}

/// Partition counts of the topics unitrack uses, as found (or created).
pub type PartitionCounts = HashMap<String, usize>;

fn partition_counts(config: &Config) -> Result<PartitionCounts, TopicError> {
    let consumer: BaseConsumer = super::client_config(config)
        .create()
        .map_err(|source| unreachable(config, source))?;
    let timeout = Duration::from_millis(config.kafka.request_timeout_ms);
    let metadata = consumer
        .fetch_metadata(None, timeout)
        .map_err(|source| unreachable(config, source))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|topic| topic.error().is_none())
        .map(|topic| (topic.name().to_owned(), topic.partitions().len()))
        .collect())
}

fn unreachable(config: &Config, source: KafkaError) -> TopicError {
    TopicError::Unreachable {
        bootstrap: config.kafka.bootstrap_servers.clone(),
        source,
    }
}

/// Checks (and with `create_topics`, creates) the topics. Blocking: call it from a
/// blocking context.
pub fn ensure_topics(config: &Config) -> Result<PartitionCounts, TopicError> {
    let mut counts = partition_counts(config)?;
    let missing: Vec<String> = config
        .topic_names()
        .into_iter()
        .map(|(_, name)| name)
        .filter(|name| !counts.contains_key(name))
        .collect();
    if !missing.is_empty() {
        if !config.topics.create_topics {
            return Err(TopicError::Missing(missing));
        }
        create(config, &missing)?;
        counts = partition_counts(config)?;
    }
    let events = &config.topics.events;
    let changelog = &config.topics.state_changelog;
    let events_partitions = counts.get(events).copied().unwrap_or_default();
    let changelog_partitions = counts.get(changelog).copied().unwrap_or_default();
    if events_partitions != changelog_partitions {
        return Err(TopicError::PartitionMismatch {
            events: events.clone(),
            events_partitions,
            changelog: changelog.clone(),
            changelog_partitions,
        });
    }
    Ok(counts)
}

fn create(config: &Config, topics: &[String]) -> Result<(), TopicError> {
    let admin: AdminClient<DefaultClientContext> = super::client_config(config)
        .create()
        .map_err(|source| unreachable(config, source))?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| {
            let topic = NewTopic::new(
                name,
                config.topics.partitions,
                TopicReplication::Fixed(config.topics.replication_factor),
            );
            if *name == config.topics.state_changelog {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_millis(config.kafka.request_timeout_ms)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TopicError::Create {
            topic: topics.join(", "),
            reason: e.to_string(),
        })?;
    let results = runtime
        .block_on(admin.create_topics(&new_topics, &options))
        .map_err(|source| unreachable(config, source))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TopicError::Create {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}
