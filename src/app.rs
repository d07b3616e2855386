//! Wires unitrack together for `unitrack run`.
//!
//! For now `run` connects to Kafka, checks the topics (or creates them with
//! `topics.create_topics`) and then waits for shutdown; the stream processor itself
//! arrives with the pipeline.

use crate::config::Config;
use crate::kafka::{TopicError, ensure_topics};
use std::future::Future;
use tracing::info;

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Topics are missing, unreachable or inconsistent.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// A blocking start-up task panicked or was cancelled.
    #[error("start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs unitrack until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let checked = config.clone();
    let counts = tokio::task::spawn_blocking(move || ensure_topics(&checked)).await??;
    info!(
        bootstrap = %config.kafka.bootstrap_servers,
        topics = config.topic_names().len(),
        events_partitions = counts.get(&config.topics.events).copied().unwrap_or_default(),
        "Connected to Kafka; all topics present."
    );
    shutdown.await;
    info!("Shutdown requested; stopped cleanly.");
    Ok(())
}
