//! Offline replay: raw record bodies through the same mappers and the same fold that
//! `unitrack run` uses, without Kafka. Each input is one raw record; all inputs form one
//! stream, in the given order. Output is JSON lines, each with a `kind`:
//! `event` (each unified event), `status_changed` (each real change) and `rejected`
//! (a poison input, with the reason; processing continues). As in `run`, a record's
//! events change a package's status at most once: the net change over the record.

use crate::carriers::{self, Carrier, RawRecord};
use crate::domain::{
    Deciders, Outcome, PackageKey, PackageState, ShipmentEvent, StatusChanged, Timers,
    with_more_follow,
};
use serde_json::json;
use std::collections::HashMap;
use std::io::{self, Write};

/// One raw record given to replay.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where it came from (a file name, or `-` for stdin), echoed in `rejected` lines.
    pub name: String,
    /// The raw body.
    pub payload: Vec<u8>,
}

/// Replays `inputs` for `carrier` with the record `key` and `headers`, writing JSON lines
/// to `out`. Returns how many inputs were rejected.
pub fn replay(
    carrier: &dyn Carrier,
    key: Option<&str>,
    headers: &[(&str, &[u8])],
    inputs: impl IntoIterator<Item = Input>,
    out: &mut impl Write,
) -> io::Result<usize> {
    replay_until(carrier, key, headers, inputs, None, out)
}

/// The clock of a replay that fires timers: the instant to fire them at (UTC millis) and
/// the thresholds.
#[derive(Debug, Clone, Copy)]
pub struct TimerClock {
    /// Fire every timer due at this instant, after the last input.
    pub now_ms: i64,
    /// The thresholds (the carrier's, as `unitrack run` would use them).
    pub timers: Timers,
}

/// As [`replay`]; with a `clock`, after the last input the timer due at `clock.now_ms`
/// fires for each package (in key order), as the fold stage's sweep would have fired it
/// by then, with its `event` and `status_changed` lines.
pub fn replay_until(
    carrier: &dyn Carrier,
    key: Option<&str>,
    headers: &[(&str, &[u8])],
    inputs: impl IntoIterator<Item = Input>,
    clock: Option<TimerClock>,
    out: &mut impl Write,
) -> io::Result<usize> {
    let mut fold = Fold::default();
    let mut rejected = 0;
    for input in inputs {
        let raw = RawRecord {
            topic: "",
            key: key.map(str::as_bytes),
            headers,
            payload: &input.payload,
            timestamp_ms: None,
        };
        let events = match carriers::map_record(carrier, &raw) {
            Ok(events) => events,
            Err(error) => {
                rejected += 1;
                let line = json!({
                    "kind": "rejected",
                    "input": input.name,
                    "class": error.class(),
                    "reason": error.to_string(),
                });
                writeln!(out, "{line}")?;
                continue;
            }
        };
        for (event, more) in with_more_follow(&events) {
            fold.event(event, more, out)?;
        }
    }
    if let Some(clock) = clock {
        let mut packages: Vec<&PackageKey> = fold.states.keys().collect();
        packages.sort_by_key(|package| package.to_string());
        // What the fold stage's sweep fires by then: one timer per package, the latest due
        // (an `EXPIRED` due makes a `STALLED` before it moot).
        let fired: Vec<ShipmentEvent> = packages
            .into_iter()
            .filter_map(|package| {
                let timer = fold.states[package].due_timer(clock.now_ms, &clock.timers)?;
                timer.event(package.clone())
            })
            .collect();
        for event in &fired {
            fold.event(event, false, out)?;
        }
    }
    Ok(rejected)
}

/// The fold of a replay: per-package states and the deciders of open records.
#[derive(Default)]
struct Fold {
    states: HashMap<PackageKey, PackageState>,
    deciders: Deciders,
}

impl Fold {
    /// Writes `event`'s line, folds it (`more_follow` as for
    /// [`PackageState::apply_part`]) and writes the change it completes, if it does.
    fn event(
        &mut self,
        event: &ShipmentEvent,
        more_follow: bool,
        out: &mut impl Write,
    ) -> io::Result<()> {
        writeln!(out, "{}", json!({ "kind": "event", "event": event }))?;
        let state = self.states.entry(event.package.clone()).or_default();
        let outcome = state.apply_part(event, more_follow);
        let decider = self.deciders.applied(state, event, &outcome, more_follow);
        if let Outcome::Changed(change) = outcome {
            let details = decider.as_ref().unwrap_or(event);
            let changed = StatusChanged::new(details, &change, state.linkage());
            writeln!(out, "{}", status_changed_line(&changed))?;
        }
        Ok(())
    }
}

/// The `status_changed` JSON line: the package key flattened, the rest as published.
fn status_changed_line(changed: &StatusChanged) -> serde_json::Value {
    let mut line = serde_json::to_value(changed).unwrap_or_default();
    if let Some(fields) = line.as_object_mut() {
        fields.insert("kind".to_owned(), json!("status_changed"));
        fields.insert("package".to_owned(), json!(changed.package.to_string()));
    }
    line
}
