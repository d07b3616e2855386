//! Stage 2, stateful: unified events from `shipment.events` are folded per package (the
//! one pure transition function, `PackageState::apply`); every real change is published
//! to `shipment.status.changed`, keyed by package. Changed states go to the changelog in
//! the same transaction as the output and the input offsets.

use super::codec::Codec;
use super::dlq::{self, Poison};
use super::engine::{Output, Processor, Record, StageError};
use super::normalise::{MORE_IN_RECORD, send_event, send_outcome};
use super::state::{self, SharedPartitions};
use crate::avro::StatusChangedRecord;
use crate::config::Config;
use crate::domain::{
    CommandOutcome, Deciders, EventKind, Outcome, PackageKey, PackageState, ShipmentEvent, Source,
    Status, StatusChanged, Timers,
};
use crate::guard::catch_panic;
use crate::telemetry::metrics;
use chrono::Utc;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};
use tracing::{debug, error, info};

const STAGE: &str = "fold";

/// The fold has caught up when its last record is younger than this (or a poll finds none).
const CAUGHT_UP: Duration = Duration::from_secs(30);

/// The fold processor.
pub struct Fold {
    config: Config,
    codec: Arc<Codec>,
    partitions: SharedPartitions,
    deciders: Deciders,
    /// The general thresholds, and those of carriers with their own.
    timers: Timers,
    carrier_timers: Vec<(String, Timers)>,
    /// Whether any timer is on.
    timers_on: bool,
    /// How long a final package is kept after its last update (none: for good).
    retention_ms: Option<i64>,
    last_sweep: Instant,
    /// Broker timestamp of the last record processed (UTC millis).
    last_record_ms: Option<i64>,
}

impl Fold {
    /// A processor for `config`, writing with `codec`.
    pub fn new(config: &Config, codec: Arc<Codec>) -> Self {
        let timers = config.timers.thresholds();
        let carrier_timers: Vec<(String, Timers)> = config
            .timers
            .carriers
            .keys()
            .map(|carrier| (carrier.clone(), config.timers.thresholds_for(carrier)))
            .collect();
        let timers_on = timers != Timers::default()
            || carrier_timers.iter().any(|(_, t)| *t != Timers::default());
        Self {
            config: config.clone(),
            codec,
            partitions: SharedPartitions::default(),
            deciders: Deciders::default(),
            timers,
            carrier_timers,
            timers_on,
            retention_ms: config.state.retention_ms(),
            last_sweep: Instant::now(),
            last_record_ms: None,
        }
    }

    /// The partitions this processor holds, to share with package lookups.
    pub fn partitions(&self) -> SharedPartitions {
        self.partitions.clone()
    }

    /// The thresholds for the package with this key (`<carrier>:<number>`).
    fn timers_of(&self, key: &str) -> &Timers {
        let carrier = key.split_once(':').map_or(key, |(carrier, _)| carrier);
        self.carrier_timers
            .iter()
            .find(|(id, _)| id == carrier)
            .map_or(&self.timers, |(_, timers)| timers)
    }

    fn package_count(&self) -> usize {
        lock(&self.partitions)
            .values()
            .map(|p| p.packages.len())
            .sum()
    }

    /// The subscription: the unified events.
    pub fn topics(config: &Config) -> Vec<String> {
        vec![config.topics.events.clone()]
    }

    /// Fires the timers due at `now_ms`: each becomes a system event on `shipment.events`,
    /// keyed by its package and written to the partition whose state holds the package
    /// (where the package's events go anyway), so it comes back here and the fold applies
    /// it as any event. Nothing changes here; a timer fired again before its event is back
    /// is a duplicate there.
    fn fire_timers(&self, now_ms: i64, out: &mut Output<'_>) -> Result<(), StageError> {
        if !self.timers_on {
            return Ok(());
        }
        let due: Vec<(i32, ShipmentEvent)> = lock(&self.partitions)
            .iter()
            .flat_map(|(partition, state)| state.packages.iter().map(move |p| (*partition, p)))
            .filter_map(|(partition, (key, package))| {
                // One package whose timer panics is skipped (and counted), not the sweep.
                let timer = catch_panic(|| package.due_timer(now_ms, self.timers_of(key)))
                    .unwrap_or_else(|message| {
                        error!(package = %key, message, "A timer panicked; package skipped.");
                        metrics().panicked(STAGE, "timer");
                        None
                    })?;
                Some((partition, timer.event(PackageKey::parse(key).ok()?)?))
            })
            .take(self.config.timers.max_per_sweep)
            .collect();
        for (partition, event) in &due {
            let topic = &self.config.topics.events;
            send_event(&self.codec, topic, Some(*partition), event, false, out)?;
            if let EventKind::Status { status, .. } = event.kind {
                metrics().timer_fired(status.as_str());
            }
        }
        if !due.is_empty() {
            info!(fired = due.len(), "Timers fired.");
        }
        Ok(())
    }

    /// Drops the packages whose status has been final for the retention (see
    /// [`PackageState::retained_until`]): out of memory, and a tombstone deletes them from
    /// the changelog in this transaction (an abort brings them back with the rewind).
    fn drop_retired(&mut self, now_ms: i64, out: &mut Output<'_>) -> Result<(), StageError> {
        if self.retention_ms.is_none() {
            return Ok(());
        }
        let changelog = &self.config.topics.state_changelog;
        let mut dropped = 0;
        for (partition, state) in lock(&self.partitions).iter_mut() {
            let retired: Vec<Box<str>> = state
                .packages
                .iter()
                .filter(|(_, package)| {
                    package
                        .retained_until(self.retention_ms)
                        .is_some_and(|until| until <= now_ms)
                })
                .map(|(key, _)| key.clone())
                .take(self.config.timers.max_per_sweep - dropped)
                .collect();
            for key in retired {
                state.packages.remove(&key);
                state.dirty.remove(&key);
                out.delete(changelog, Some(*partition), key.as_bytes())?;
                dropped += 1;
            }
        }
        if dropped > 0 {
            metrics().packages_dropped(dropped);
            info!(
                dropped,
                "Final packages past their retention dropped from the state."
            );
        }
        Ok(())
    }

    /// Sets `unitrack_packages_by_status` from the packages held now.
    fn count_by_status(&self) {
        let mut counts: Vec<(Option<Status>, i64)> = Vec::new();
        for package in lock(&self.partitions)
            .values()
            .flat_map(|p| p.packages.values())
        {
            let status = package.status();
            match counts.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => counts.push((status, 1)),
            }
        }
        metrics().packages_by_status(&counts);
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
        self.last_record_ms = record.timestamp_ms;
        let event = match self.codec.decode_event(record.payload.unwrap_or_default()) {
            Ok(event) => event,
            Err(e) => return self.poison(record, out, "avro", e.to_string()),
        };
        let key = event.package.to_string();
        if record.key.is_some_and(|k| k != key.as_bytes()) {
            let reason = format!("record key does not match the event's package {key}");
            return self.poison(record, out, "key", reason);
        }
        let command_id = match &event.source {
            Source::Manual { command_id, .. } => Some(command_id.clone()),
            _ => None,
        };
        let mut partitions = lock(&self.partitions);
        let partition = partitions.entry(record.partition).or_default();
        if let Some(command_id) = &command_id
            && let Some((class, reason)) = rejection(partition.packages.get(key.as_str()), &event)
        {
            let outcome = CommandOutcome::rejected(command_id, &key, class, reason);
            return send_outcome(out, &self.config.topics.command_outcomes, &outcome);
        }
        let more = record
            .headers
            .iter()
            .any(|(name, value)| *name == MORE_IN_RECORD && *value == b"1");
        let outcome = partition.apply(&key, &event, more);
        debug!(package = %key, ?outcome, "Applied.");
        if outcome == Outcome::Held {
            // More of its record follow (never a command): nothing to publish yet.
            if let Some(package) = partition.packages.get(key.as_str()) {
                self.deciders.hold(package, Cow::Owned(event));
            }
            return Ok(());
        }
        let decider = if more {
            None
        } else {
            self.deciders.close(&event.package, &outcome)
        };
        if let Some(command_id) = &command_id {
            let duplicate = outcome == Outcome::Duplicate;
            let accepted = CommandOutcome::accepted(command_id, &key, duplicate);
            send_outcome(out, &self.config.topics.command_outcomes, &accepted)?;
        }
        if let Outcome::Changed(change) = outcome {
            let linkage = partition
                .packages
                .get(key.as_str())
                .and_then(PackageState::linkage);
            let details = decider.as_ref().unwrap_or(&event);
            let changed = StatusChanged::new(details, &change, linkage);
            let record = StatusChangedRecord::new(&changed, Utc::now());
            let topic = &self.config.topics.status_changed;
            out.send_encoded(topic, None, key.as_bytes(), None, |value| {
                self.codec
                    .encode_changed_into(&record, value)
                    .map_err(|e| StageError::Fatal(format!("encoding a status change: {e}")))
            })?;
            metrics().status_changed(&event.package.carrier, change.status.as_str());
        }
        Ok(())
    }

    /// Due every sweep interval (when a timer or the state retention is on), once the
    /// stage has caught up: idle, or the last record less than [`CAUGHT_UP`] old. A sweep
    /// behind a backlog would fire timers that the backlog's events then void (Flow would
    /// see `STALLED` and its undoing), or drop a package the backlog still updates.
    fn tick_due(&self, idle: bool) -> bool {
        // Asked after every record: the cheap tests first.
        let interval = Duration::from_millis(self.config.timers.sweep_interval_ms);
        let sweeping = self.timers_on || self.retention_ms.is_some();
        if !sweeping || self.last_sweep.elapsed() < interval {
            return false;
        }
        idle || self
            .last_record_ms
            .is_some_and(|at| Utc::now().timestamp_millis() - at < CAUGHT_UP.as_millis() as i64)
    }

    /// The sweep: fires the due timers, drops the packages whose retention has run out, and
    /// counts the packages by status for the metrics.
    fn tick(&mut self, out: &mut Output<'_>) -> Result<(), StageError> {
        self.last_sweep = Instant::now();
        let now_ms = Utc::now().timestamp_millis();
        self.fire_timers(now_ms, out)?;
        self.drop_retired(now_ms, out)?;
        self.count_by_status();
        Ok(())
    }

    fn before_commit(&mut self, out: &mut Output<'_>) -> Result<(), StageError> {
        metrics().packages(self.package_count());
        let changelog = &self.config.topics.state_changelog;
        for (partition, state) in lock(&self.partitions).iter_mut() {
            for key in state.dirty.drain() {
                if let Some(package) = state.packages.get(&key) {
                    out.send(
                        changelog,
                        Some(*partition),
                        key.as_bytes(),
                        &state::encode(package)?,
                        None,
                    )?;
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
        let started = std::time::Instant::now();
        let restored = state::restore(&self.config, &mine)?;
        metrics().restored(started.elapsed().as_secs_f64());
        lock(&self.partitions).extend(restored);
        metrics().packages(self.package_count());
        Ok(())
    }

    fn revoked(&mut self, partitions: &[(String, i32)]) {
        self.deciders.clear();
        {
            let mut held = lock(&self.partitions);
            for (_, partition) in partitions {
                held.remove(partition);
            }
        }
        metrics().packages(self.package_count());
    }
}

/// The held partitions, locked. A poisoned lock means a panicking lookup; the maps
/// themselves are consistent.
fn lock(partitions: &SharedPartitions) -> MutexGuard<'_, HashMap<i32, state::PartitionState>> {
    partitions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why the fold rejects a command for its meaning, if it does: `clear_lock` of an unknown
/// package or of a package without a lock; `set_status` while another command's lock holds
/// (clear it first). A re-sent command (same id) is never rejected: it is a duplicate.
fn rejection(
    package: Option<&PackageState>,
    event: &ShipmentEvent,
) -> Option<(&'static str, String)> {
    if package.is_some_and(|p| p.has_seen(event)) {
        return None;
    }
    let key = &event.package;
    let at = event.time.millis();
    let lock = package.and_then(PackageState::manual_lock);
    match &event.kind {
        EventKind::ClearLock if package.is_none() => {
            Some(("unknown_package", format!("unknown package {key}")))
        }
        EventKind::ClearLock if lock.is_none() => {
            Some(("no_lock", format!("{key} has no manual lock to clear")))
        }
        EventKind::Status { .. } => match lock {
            Some(until) if until.is_none_or(|until| until > at) => Some((
                "lock_conflict",
                format!("{key} is locked by an earlier manual status; send clear_lock first"),
            )),
            _ => None,
        },
        _ => None,
    }
}
