//! Liveness and readiness of the stages, for `/healthz` and `/readyz`.

use serde::Serialize;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// A stage whose loop has not turned for this long is not alive.
const STALL_MS: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One stage's health, updated by its loop without locks.
#[derive(Debug)]
pub struct StageHealth {
    name: &'static str,
    ready: AtomicBool,
    last_beat_ms: AtomicI64,
}

impl StageHealth {
    /// The loop turned.
    pub fn beat(&self) {
        self.last_beat_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Ready = producer initialised and assigned partitions restored.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// The health of every stage of this process.
#[derive(Debug, Default)]
pub struct Health {
    stages: Mutex<Vec<Arc<StageHealth>>>,
}

/// What `/healthz` and `/readyz` report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Every stage's loop turned recently.
    pub alive: bool,
    /// Every stage is ready.
    pub ready: bool,
    /// Per stage.
    pub stages: Vec<StageReport>,
}

/// One stage in a [`Report`].
#[derive(Debug, Serialize)]
pub struct StageReport {
    /// Stage name.
    pub stage: &'static str,
    /// Ready.
    pub ready: bool,
    /// Milliseconds since its loop last turned.
    pub since_last_loop_ms: i64,
}

impl Health {
    /// Registers a stage (not ready yet).
    pub fn register(&self, name: &'static str) -> Arc<StageHealth> {
        let stage = Arc::new(StageHealth {
            name,
            ready: AtomicBool::new(false),
            last_beat_ms: AtomicI64::new(now_ms()),
        });
        if let Ok(mut stages) = self.stages.lock() {
            stages.push(stage.clone());
        }
        stage
    }

    /// The current report.
    pub fn report(&self) -> Report {
        let now = now_ms();
        let stages: Vec<StageReport> = self
            .stages
            .lock()
            .map(|stages| {
                stages
                    .iter()
                    .map(|s| StageReport {
                        stage: s.name,
                        ready: s.ready.load(Ordering::Relaxed),
                        since_last_loop_ms: now - s.last_beat_ms.load(Ordering::Relaxed),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Report {
            alive: stages.iter().all(|s| s.since_last_loop_ms < STALL_MS),
            ready: !stages.is_empty() && stages.iter().all(|s| s.ready),
            stages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_stage_is() {
        let health = Health::default();
        assert!(!health.report().ready, "no stage yet");
        let a = health.register("normalise");
        let b = health.register("fold");
        a.set_ready(true);
        assert!(!health.report().ready);
        b.set_ready(true);
        b.beat();
        let report = health.report();
        assert!(report.ready && report.alive);
    }
}
