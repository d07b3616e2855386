//! One harness for every carrier fixture: `tests/fixtures/carriers/<carrier>/<case>.<json|xml>`
//! is one raw record body (with an optional `<case>.key` holding the record key), and
//! `<case>.expected.json` says what must come out of it:
//!
//! ```json
//! { "events": [ { "tracking_number": "…", "status": "DELIVERED", "sub_status": "neighbour",
//!                 "time": { "utc": "…", "local": "…", "zone": "Europe/Berlin", "zone_source": "carrier_default" } } ],
//!   "final": { "<TRACKING>": "DELIVERED.neighbour" } }
//! ```
//! or `{ "error": { "class": "syntax", "contains": "…" } }` for poison.
//!
//! Each expected event lists only the fields that matter for the case; every listed field
//! must equal the mapper's output (objects compare field by field, recursively). `final`
//! replays the record (mappers and fold, as `unitrack replay`) into an empty state: each
//! listed package must reach that status by exactly one status change, the net change of
//! the record.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use unitrack::carriers::{self, RawRecord};
use unitrack::replay;

const MIN_CASES_PER_CARRIER: usize = 8;

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/carriers")
}

/// Checks that every field of `expected` is in `actual` with the same value.
fn check_subset(expected: &Value, actual: &Value, path: &str, errors: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (field, value) in want {
                let here = format!("{path}.{field}");
                match have.get(field) {
                    Some(actual) => check_subset(value, actual, &here, errors),
                    None => errors.push(format!("{here}: missing (expected {value})")),
                }
            }
        }
        (Value::Array(want), Value::Array(have)) => {
            if want.len() != have.len() {
                errors.push(format!(
                    "{path}: {} items, expected {}",
                    have.len(),
                    want.len()
                ));
            }
            for (i, (want, have)) in want.iter().zip(have).enumerate() {
                check_subset(want, have, &format!("{path}[{i}]"), errors);
            }
        }
        _ if expected == actual => {}
        _ => errors.push(format!("{path}: got {actual}, expected {expected}")),
    }
}

/// Replays the record as `unitrack replay` does (the mappers and the fold of `run`) into
/// an empty state: each listed package must end in its `final` status, reached by exactly
/// one status change. A record changes a package's status at most once (the net change
/// over its events), however its carrier orders them.
fn check_finals(
    carrier: &dyn carriers::Carrier,
    key: Option<&[u8]>,
    payload: &[u8],
    finals: &serde_json::Map<String, Value>,
    errors: &mut Vec<String>,
) {
    let key = key.map(|k| String::from_utf8_lossy(k).into_owned());
    let input = replay::Input {
        name: "fixture".to_owned(),
        payload: payload.to_vec(),
    };
    let mut out = Vec::new();
    if let Err(e) = replay::replay(carrier, key.as_deref(), &[], [input], &mut out) {
        errors.push(format!("replay failed: {e}"));
        return;
    }
    let mut changes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let line: Value = serde_json::from_str(line).unwrap_or_default();
        if line["kind"] != "status_changed" {
            continue;
        }
        let package = line["package"].as_str().unwrap_or_default();
        let tracking = package
            .split_once(':')
            .map_or(package, |(_, number)| number);
        let status = match line["sub_status"].as_str() {
            Some(sub) => format!("{}.{sub}", line["status"].as_str().unwrap_or_default()),
            None => line["status"].as_str().unwrap_or_default().to_owned(),
        };
        changes.entry(tracking.to_owned()).or_default().push(status);
    }
    for (tracking, want) in finals {
        let have = changes.remove(tracking).unwrap_or_default();
        if have.len() != 1 || have[0] != want.as_str().unwrap_or_default() {
            errors.push(format!(
                "final[{tracking}]: status changes {have:?}, expected one to {want}"
            ));
        }
    }
    for (tracking, have) in changes {
        if have.len() > 1 {
            errors.push(format!(
                "{tracking}: {} status changes from one record",
                have.len()
            ));
        }
    }
}

fn run_case(carrier: &dyn carriers::Carrier, input: &Path) -> Vec<String> {
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let dir = input.parent().unwrap_or(Path::new("."));
    let payload = fs::read(input).unwrap_or_default();
    let key = fs::read(dir.join(format!("{stem}.key"))).ok();
    let key = key.as_deref().map(|k| k.trim_ascii());
    let expected_path = dir.join(format!("{stem}.expected.json"));
    let expected: Value = match fs::read_to_string(&expected_path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(e) => return vec![format!("{}: not JSON: {e}", expected_path.display())],
        },
        Err(_) => return vec![format!("{}: missing", expected_path.display())],
    };
    let raw = RawRecord {
        topic: "",
        key,
        headers: &[],
        payload: &payload,
        timestamp_ms: None,
    };
    let mut errors = Vec::new();
    match (carrier.map(&raw), expected.get("error")) {
        (Ok(events), None) => {
            let actual = serde_json::to_value(&events).unwrap_or_default();
            let want = expected
                .get("events")
                .cloned()
                .unwrap_or(Value::Array(vec![]));
            check_subset(&want, &actual, "events", &mut errors);
            if let Some(Value::Object(finals)) = expected.get("final") {
                check_finals(carrier, key, &payload, finals, &mut errors);
            }
        }
        (Err(error), Some(want)) => {
            if let Some(class) = want.get("class").and_then(Value::as_str)
                && class != error.class()
            {
                errors.push(format!(
                    "error class {}, expected {class} ({error})",
                    error.class()
                ));
            }
            if let Some(part) = want.get("contains").and_then(Value::as_str)
                && !error.to_string().contains(part)
            {
                errors.push(format!("error `{error}` does not contain `{part}`"));
            }
        }
        (Ok(events), Some(_)) => {
            errors.push(format!("expected an error, got {} events", events.len()))
        }
        (Err(error), None) => errors.push(format!("unexpected error: {error}")),
    }
    errors
        .into_iter()
        .map(|e| format!("{}: {e}", input.display()))
        .collect()
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    cases.retain(|path| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        !name.ends_with(".expected.json") && (name.ends_with(".json") || name.ends_with(".xml"))
    });
    cases.sort();
    cases
}

#[test]
fn every_fixture_maps_as_expected() {
    let mut failures = Vec::new();
    let mut total = 0;
    for carrier in carriers::registry() {
        for input in cases(&fixtures_root().join(carrier.id())) {
            total += 1;
            failures.extend(run_case(*carrier, &input));
        }
    }
    assert!(
        total > 0,
        "no fixtures found under {}",
        fixtures_root().display()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_registered_carrier_has_fixtures_and_every_folder_names_a_carrier() {
    let mut problems = Vec::new();
    for carrier in carriers::registry() {
        let count = cases(&fixtures_root().join(carrier.id())).len();
        if count < MIN_CASES_PER_CARRIER {
            problems.push(format!(
                "{}: {count} fixture cases, want at least {MIN_CASES_PER_CARRIER}",
                carrier.id()
            ));
        }
    }
    for entry in fs::read_dir(fixtures_root())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && carriers::find(&name).is_none() {
            problems.push(format!(
                "fixture folder `{name}` names no registered carrier"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether `status` with `sub` (none: `-`) fits one of `patterns` (`STATUS.sub`, `STATUS.*`;
/// `INFO` for an info event, which `status` then names).
fn fits(status: &str, sub: &str, patterns: &[Value]) -> bool {
    patterns.iter().filter_map(Value::as_str).any(|pattern| {
        pattern == status
            || pattern.split_once('.').is_some_and(|(want, want_sub)| {
                want == status && (want_sub == "*" || want_sub == sub)
            })
    })
}

/// DHL texts captured from real responses, verbatim, each with its source
/// (`tests/fixtures/texts/dhl.json`): each one, as the one event of a body with the status
/// code (and parcel-de's `statusDetailed`) it came with, maps to an `expected` status (or an
/// `acceptable`, coarser one; `INFO` for an info event). An
/// event that came without a code may stay `UNKNOWN` where only a terminal status would be
/// right: a text alone never gives one.
#[test]
fn captured_dhl_texts_map_as_the_status_model_prescribes() {
    const TERMINAL: [&str; 5] = [
        "DELIVERED",
        "RETURNED_TO_SENDER",
        "FAILED",
        "CANCELLED",
        "EXPIRED",
    ];
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/texts/dhl.json");
    let corpus: Vec<Value> =
        serde_json::from_str(&fs::read_to_string(&path).expect("corpus")).expect("JSON");
    let dhl = carriers::find("dhl").expect("registered");
    let mut wrong = Vec::new();
    for (i, case) in corpus.iter().enumerate() {
        let mut event = serde_json::json!({ "timestamp": "2024-06-10T10:00:00" });
        for field in [
            "statusCode",
            "statusDetailed",
            "status",
            "description",
            "remark",
        ] {
            if let Some(value) = case.get(field) {
                event[field] = value.clone();
            }
        }
        let mut shipment = serde_json::json!({
            "id": "00340434161094042557",
            "service": case["service"],
            "events": [event],
        });
        if let Some(flag) = case.get("returnFlag") {
            shipment["returnFlag"] = flag.clone();
        }
        let body = serde_json::json!({ "shipments": [shipment] }).to_string();
        let raw = RawRecord {
            topic: "",
            key: None,
            headers: &[],
            payload: body.as_bytes(),
            timestamp_ms: None,
        };
        let events = serde_json::to_value(dhl.map(&raw).expect("maps")).unwrap_or_default();
        let status = match events[0]["info"].as_bool() {
            Some(true) => "INFO",
            _ => events[0]["status"].as_str().unwrap_or_default(),
        };
        let sub = events[0]["sub_status"].as_str().unwrap_or("-");
        let none = Vec::new();
        let expected = case["expected"].as_array().unwrap_or(&none);
        let acceptable = case["acceptable"].as_array().unwrap_or(&none);
        let only_terminal = expected.iter().filter_map(Value::as_str).all(|pattern| {
            TERMINAL.contains(
                &pattern
                    .split_once('.')
                    .map_or(pattern, |(status, _)| status),
            )
        });
        let without_code = case.get("statusCode").is_none();
        let ok = fits(status, sub, expected)
            || fits(status, sub, acceptable)
            || (without_code && status == "UNKNOWN" && only_terminal);
        if !ok {
            wrong.push(format!(
                "#{i} {}: {status}.{sub}, expected {expected:?} ({})",
                case.get("description")
                    .or(case.get("status"))
                    .unwrap_or(&Value::Null),
                case["source"]
            ));
        }
    }
    assert!(corpus.len() >= 100, "{} texts", corpus.len());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
