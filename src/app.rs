//! Wires unitrack together for `unitrack run`: checks the topics, registers the schemas,
//! runs the normalise and fold stages (each on its own thread) and the HTTP edge until
//! shutdown.

use crate::config::Config;
use crate::http::{HttpState, PushIngress};
use crate::kafka::codec::{Codec, CodecError};
use crate::kafka::engine::{StageError, StageSpec, run_stage};
use crate::kafka::fold::Fold;
use crate::kafka::normalise::Normalise;
use crate::kafka::state::StateView;
use crate::kafka::{TopicError, ensure_topics};
use crate::telemetry::health::Health;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::JoinSet;
use tracing::{error, info};

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Topics are missing, unreachable or inconsistent.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// The schema registry refused the schemas.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A stage stopped on a fatal error (e.g. fenced by a newer instance).
    #[error("stage {stage} stopped: {error}")]
    Stage {
        /// The stage.
        stage: &'static str,
        /// Why.
        error: StageError,
    },
    /// The HTTP server could not start.
    #[error("HTTP server on {listen}: {reason}")]
    Http {
        /// The configured address.
        listen: String,
        /// What went wrong.
        reason: String,
    },
    /// A start-up or stage task panicked or was cancelled.
    #[error("task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl AppError {
    /// The process exit code: 3 when a stage stopped on a fatal Kafka error (fenced,
    /// state unreadable), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Stage { .. } => 3,
            _ => 1,
        }
    }
}

/// Runs unitrack until `shutdown` completes or a stage fails.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let checked = config.clone();
    let counts = tokio::task::spawn_blocking(move || ensure_topics(&checked)).await??;
    info!(
        bootstrap = %config.kafka.bootstrap_servers,
        topics = config.topic_names().len(),
        events_partitions = counts.get(&config.topics.events).copied().unwrap_or_default(),
        "Connected to Kafka; all topics present."
    );
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .map_err(|e| AppError::Http {
            listen: config.http.listen.clone(),
            reason: e.to_string(),
        })?;
    let codec = Arc::new(Codec::connect(&config).await?);
    let health = Arc::new(Health::default());
    let mut view = None;
    let stop = Arc::new(AtomicBool::new(false));
    // If this future is dropped (cancelled), the stage threads must still stop.
    let _stop_on_drop = StopOnDrop(stop.clone());
    let mut stages: JoinSet<(&'static str, Result<(), StageError>)> = JoinSet::new();
    let stages_config = config.processing.stages;
    if stages_config.normalise() {
        let spec = StageSpec {
            stage: "normalise",
            topics: Normalise::topics(&config),
            processor: Normalise::new(&config, codec.clone()),
            health: health.register("normalise"),
        };
        spawn(&mut stages, &config, spec, &stop);
    }
    if stages_config.fold() {
        let processor = Fold::new(&config, codec.clone());
        let partitions = counts.get(&config.topics.events).copied().unwrap_or(1);
        view = Some(StateView::new(processor.partitions(), partitions));
        let spec = StageSpec {
            stage: "fold",
            topics: Fold::topics(&config),
            processor,
            health: health.register("fold"),
        };
        spawn(&mut stages, &config, spec, &stop);
    }
    let push = if config.http.push_carriers.is_empty() {
        None
    } else {
        let ingress = PushIngress::new(&config).map_err(|e| AppError::Http {
            listen: config.http.listen.clone(),
            reason: format!("push producer: {e}"),
        })?;
        Some(Arc::new(ingress))
    };
    let http_state = HttpState::new(Arc::new(config.clone()), health, view, push);
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(crate::http::serve(listener, http_state, async move {
        let _ = http_stopped.await;
    }));
    info!(
        stages = ?stages_config,
        guarantee = ?config.processing.guarantee,
        http = %config.http.listen,
        "unitrack is running."
    );

    let mut first_error = None;
    tokio::select! {
        () = shutdown => info!("Shutdown requested: finishing the open transactions."),
        Some(joined) = stages.join_next() => {
            let (stage, result) = joined?;
            if let Err(error) = result {
                error!(stage, reason = %error, "Stage stopped on a fatal error; shutting down.");
                first_error = Some(AppError::Stage { stage, error });
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = http_stop.send(());
    if let Ok(Err(e)) = http.await {
        error!(reason = %e, "HTTP server failed.");
    }
    while let Some(joined) = stages.join_next().await {
        let (stage, result) = joined?;
        if let Err(error) = result {
            error!(stage, reason = %error, "Stage stopped on a fatal error.");
            first_error.get_or_insert(AppError::Stage { stage, error });
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => {
            info!("Stopped cleanly.");
            Ok(())
        }
    }
}

/// Sets the stop flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn spawn<P: crate::kafka::engine::Processor>(
    stages: &mut JoinSet<(&'static str, Result<(), StageError>)>,
    config: &Config,
    spec: StageSpec<P>,
    stop: &Arc<AtomicBool>,
) {
    let config = config.clone();
    let stop = stop.clone();
    let name = spec.stage;
    stages.spawn_blocking(move || (name, run_stage(&config, spec, &stop)));
}
