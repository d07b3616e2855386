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
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("configuration is valid"));
}

#[test]
fn check_config_reports_every_problem_at_once_with_a_non_zero_exit() {
    let file = std::env::temp_dir().join(format!("{}.toml", support::unique("cfg")));
    std::fs::write(&file, "[topics]\npartitions = 0\n[carriers]\nenabled = [\"pigeon\"]\n").expect("written");
    let output = unitrack()
        .args(["--config", file.to_str().unwrap_or_default(), "check-config"])
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
    let output = unitrack().args(["replay", "--carrier", "pigeon"]).output().expect("runs");
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
            Ok(line) if line.contains("all topics present") => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("unitrack did not report ready in time; its log:\n{}", seen.join("\n"));
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
        assert!(started.elapsed() < Duration::from_secs(30), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(0));
}
