//! The `unitrack` binary as people and CI use it.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn unitrack() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unitrack"));
    // Only what a test sets reaches the binary's configuration.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("UNITRACK")) {
        command.env_remove(name);
    }
    command
}

#[test]
fn check_config_accepts_the_defaults() {
    let output = unitrack().arg("check-config").output().expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("configuration is valid"));
}

#[test]
fn check_config_reports_every_problem_at_once_with_a_non_zero_exit() {
    let file = std::env::temp_dir().join(format!("{}.toml", support::unique("cfg")));
    std::fs::write(
        &file,
        "[topics]\npartitions = 0\n[carriers]\nenabled = [\"pigeon\"]\n",
    )
    .expect("written");
    let output = unitrack()
        .args([
            "--config",
            file.to_str().unwrap_or_default(),
            "check-config",
        ])
        .env("UNITRACK__KAFKA__SECURITY_PROTOCOL", "carrier-pigeon")
        .output()
        .expect("runs");
    let _ = std::fs::remove_file(&file);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in ["topics.partitions", "pigeon", "security_protocol"] {
        assert!(stderr.contains(needle), "missing `{needle}` in:\n{stderr}");
    }
}

#[test]
fn replay_rejects_an_unknown_carrier_as_a_usage_error() {
    let output = unitrack()
        .args(["replay", "--carrier", "pigeon"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown carrier `pigeon`"));
}

#[test]
fn run_checks_the_topics_and_exits_zero_on_sigterm() {
    let stack = support::stack();
    let config = support::unique_config(&stack, true);
    let mut child = unitrack()
        .arg("run")
        .envs(support::config_env(&config))
        .env("UNITRACK__LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = child.stderr.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) if line.contains("unitrack is running") => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "unitrack did not report ready in time; its log:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("waitable") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(0));
}

fn fixture(carrier: &str, case: &str) -> String {
    format!(
        "{}/tests/fixtures/carriers/{carrier}/{case}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The JSON lines of a run that must have succeeded (else its stderr is the failure).
fn succeeded(output: std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_lines(&output.stdout)
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

#[test]
fn replay_prints_events_and_the_status_changes_of_the_fold_and_goes_on_after_poison() {
    let output = unitrack()
        .args([
            "replay",
            "--carrier",
            "gls",
            &fixture("gls", "malformed_truncated.json"),
            &fixture("gls", "documented_delivered_to_parcel_shop.json"),
        ])
        .output()
        .expect("runs");
    let lines = succeeded(output);
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"rejected"));
    assert_eq!(lines[0]["class"], "syntax");
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not parseable")
    );
    assert_eq!(kinds.iter().filter(|k| **k == "event").count(), 4);
    // GLS lists newest first: the first event decides; the older ones change nothing.
    let changes: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["kind"] == "status_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{lines:#?}");
    let change = changes[0];
    assert_eq!(change["package"], "gls:42249028960");
    assert_eq!(change["status"], "AVAILABLE_FOR_PICKUP");
    assert_eq!(change["sub_status"], "parcel_shop");
    assert_eq!(change["previous_status"], serde_json::Value::Null);
    assert_eq!(change["transition_kind"], "progress");
    assert_eq!(change["occurred_at"], "2025-02-10T14:13:46Z");
}

/// `--now` fires the timers due by then, with the configured (here: DPD's own) thresholds:
/// the last scan was on 2024-05-21, so by 2024-05-25 DPD's 3 days have passed, by 2024-07
/// the 30 days of expiry.
#[test]
fn replay_now_fires_the_timers_due_by_then() {
    let key = std::fs::read_to_string(fixture("dpd", "step_not_reached_yet.key")).expect("key");
    let replay_at = |now: &str| {
        let output = unitrack()
            .env("UNITRACK__TIMERS__CARRIERS__DPD__NO_PROGRESS_DAYS", "3")
            .args([
                "replay",
                "--carrier",
                "dpd",
                "--key",
                key.trim(),
                "--now",
                now,
            ])
            .arg(fixture("dpd", "step_not_reached_yet.xml"))
            .output()
            .expect("runs");
        succeeded(output)
            .iter()
            .filter(|l| l["kind"] == "status_changed")
            .map(|l| {
                let text = |field: &str| l[field].as_str().unwrap_or_default().to_owned();
                (text("status"), text("sub_status"), text("occurred_at"))
            })
            .collect::<Vec<_>>()
    };
    let on_vehicle = (
        "OUT_FOR_DELIVERY".to_owned(),
        "on_vehicle".to_owned(),
        "2024-05-21T05:52:08Z".to_owned(),
    );
    assert_eq!(
        replay_at("2024-05-23T00:00:00Z"),
        std::slice::from_ref(&on_vehicle)
    );
    assert_eq!(
        replay_at("2024-05-25T00:00:00Z"),
        [
            on_vehicle.clone(),
            (
                "STALLED".to_owned(),
                "no_progress".to_owned(),
                "2024-05-24T05:52:08Z".to_owned()
            )
        ]
    );
    assert_eq!(
        replay_at("2024-07-01T00:00:00+02:00"),
        [
            on_vehicle,
            (
                "EXPIRED".to_owned(),
                "max_age_reached".to_owned(),
                "2024-06-20T05:52:08Z".to_owned()
            )
        ]
    );
    let bad = unitrack()
        .args(["replay", "--carrier", "dpd", "--now", "tomorrow"])
        .output()
        .expect("runs");
    assert!(
        !bad.status.success(),
        "an instant that is not RFC 3339 is a usage error"
    );
}

#[test]
fn replay_reads_stdin_and_takes_the_record_key_for_bodies_without_a_number() {
    let body = std::fs::read(fixture("dpd", "local_time_12_hour_berlin.xml")).expect("fixture");
    let key =
        std::fs::read_to_string(fixture("dpd", "local_time_12_hour_berlin.key")).expect("key");
    let mut child = unitrack()
        .args(["replay", "--carrier", "dpd", "--key", key.trim()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(&body).expect("written");
    }
    let output = child.wait_with_output().expect("exits");
    assert!(output.status.success());
    let lines = json_lines(&output.stdout);
    let events: Vec<&serde_json::Value> = lines.iter().filter(|l| l["kind"] == "event").collect();
    assert!(!events.is_empty(), "{lines:#?}");
    for event in events {
        assert_eq!(
            event["event"]["package"]["tracking_number"],
            key.trim().to_uppercase()
        );
        assert_eq!(event["event"]["time"]["zone"], "Europe/Berlin");
    }
    let output = unitrack()
        .args([
            "replay",
            "--carrier",
            "dpd",
            &fixture("dpd", "local_time_12_hour_berlin.xml"),
        ])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "a rejected record is output, not a usage error"
    );
    let lines = json_lines(&output.stdout);
    assert_eq!(lines[0]["kind"], "rejected");
    assert_eq!(lines[0]["class"], "missing_key");
}
