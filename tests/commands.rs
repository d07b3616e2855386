//! Ops commands end to end: `unitrack command ...` sends a command and prints the outcome
//! it waited for; register, set_status, clear_lock, each accepted and rejected; the manual
//! lock holds against a carrier event until cleared.

mod support;

use std::process::{Command, Output};
use std::time::Duration;
use support::{Running, consume_until, decode_changes, produce, stack, unique_config};
use unitrack::config::Config;

fn unitrack_command(config: &Config, args: &[&str]) -> (Output, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_unitrack"))
        .arg("command")
        .args(args)
        .args(["--actor", "ops@example.com", "--wait", "60"])
        .envs(support::config_env(config))
        .output()
        .expect("runs");
    let outcome = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no outcome printed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_accepted_or_rejected_with_the_reason_and_the_lock_holds() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);
    support::wait_ready(&config).await;
    let package = ["--carrier", "dhl", "--tracking", "00340434161094015902"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args: Vec<&'static str> = Vec::new();
        args.extend_from_slice(extra);
        args.extend_from_slice(&package);
        args
    };

    let (output, outcome) = unitrack_command(&config, &with(&["clear-lock"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(outcome["class"], "unknown_package");

    let (output, outcome) =
        unitrack_command(&config, &with(&["register", "--direction", "sideways"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(outcome["class"], "invalid");
    let (output, outcome) = unitrack_command(
        &config,
        &with(&[
            "register",
            "--tenant",
            "plenty-42",
            "--order-id",
            "1001",
            "--package-id",
            "7",
        ]),
    );
    assert!(output.status.success(), "{outcome}");
    let (output, outcome) = unitrack_command(
        &config,
        &with(&["set-status", "--status", "BEAMED", "--reason", "r"]),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(outcome["class"], "unknown_status");
    assert_eq!(outcome["decided_by"], "normalise");

    let lock = with(&[
        "set-status",
        "--status",
        "EXCEPTION",
        "--sub-status",
        "held",
        "--reason",
        "customer asked to hold",
        "--lock",
    ]);
    let (output, outcome) = unitrack_command(&config, &lock);
    assert!(output.status.success(), "{outcome}");
    let (output, outcome) = unitrack_command(
        &config,
        &with(&["set-status", "--status", "DELIVERED", "--reason", "r"]),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(outcome["class"], "lock_conflict");

    // A carrier event (delivered) arrives while the lock holds: the status stays.
    let body = std::fs::read(format!(
        "{}/tests/fixtures/carriers/dhl/english_failed_attempt_locker_then_collected.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    produce(
        &stack.bootstrap,
        &config.raw_topic("dhl"),
        &[(None, body.clone())],
    )
    .await;
    let (output, _) = unitrack_command(&config, &with(&["clear-lock", "--reason", "released"]));
    assert!(output.status.success());
    let (output, outcome) = unitrack_command(&config, &with(&["clear-lock"]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(outcome["class"], "no_lock");

    let records = consume_until(
        &stack.bootstrap,
        &config.topics.status_changed,
        Duration::from_secs(30),
        |r| r.len() >= 2,
    );
    let changes = decode_changes(&stack.registry, &records).await;
    let statuses: Vec<&str> = changes.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["PENDING", "EXCEPTION"],
        "the lock held against the carrier's delivery"
    );
    assert_eq!(
        changes[1].transition_kind,
        unitrack::domain::TransitionKind::Manual
    );
    assert_eq!(
        changes[1].order_id.as_deref(),
        Some("1001"),
        "status changes carry the registration"
    );
    running.stop().await;
}
