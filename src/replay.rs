//! Offline replay: raw record bodies through the same mappers and the same fold that
//! `unitrack run` uses, without Kafka. Each input is one raw record; all inputs form one
//! stream, in the given order. Output is JSON lines, each with a `kind`:
//! `event` (each unified event), `status_changed` (each real change) and `rejected`
//! (a poison input, with the reason; processing continues). As in `run`, a record's
//! events change a package's status at most once: the net change over the record.

use crate::carriers::{self, Carrier, RawRecord};
use crate::domain::{Deciders, Outcome, PackageKey, PackageState, StatusChanged, with_more_follow};
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
    let mut states: HashMap<PackageKey, PackageState> = HashMap::new();
    let mut deciders = Deciders::default();
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
            writeln!(out, "{}", json!({ "kind": "event", "event": event }))?;
            let state = states.entry(event.package.clone()).or_default();
            let outcome = state.apply_part(event, more);
            let decider = deciders.applied(state, event, &outcome, more);
            if let Outcome::Changed(change) = outcome {
                let details = decider.as_ref().unwrap_or(event);
                let changed = StatusChanged::new(details, &change, state.linkage());
                writeln!(out, "{}", status_changed_line(&changed))?;
            }
        }
    }
    Ok(rejected)
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
