//! The output decodes with an independent Avro implementation through the registry:
//! Confluent's Python client (`AvroDeserializer`, fastavro underneath), not only the Rust
//! code that wrote it. `dev/test` installs it into `.stack/venv` from
//! `tests/python/requirements.txt`; `UNITRACK_PYTHON` may name another interpreter.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::{Running, consume_until, decode_changes, produce, replayed, stack, unique_config};

fn python() -> PathBuf {
    std::env::var_os("UNITRACK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".stack/venv/bin/python"))
}

fn decode_with_python(
    bootstrap: &str,
    registry: &str,
    topic: &str,
    count: usize,
) -> Vec<serde_json::Value> {
    let python = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_topic.py");
    let output = Command::new(&python)
        .arg(&script)
        .args([
            "--bootstrap",
            bootstrap,
            "--registry",
            registry,
            "--topic",
            topic,
        ])
        .args(["--count", &count.to_string(), "--timeout", "60"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run the README's test command (dev/test), which installs \
                 tests/python/requirements.txt into .stack/venv, or set UNITRACK_PYTHON",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "the Python decoder failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluents_python_deserializer_reads_both_avro_topics() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);
    let bodies: Vec<Vec<u8>> = [
        "return_flag_returned_to_sender.json",
        "english_failed_attempt_locker_then_collected.json",
        "two_shipments_failure_reasons.json",
    ]
    .iter()
    .map(|case| {
        let path = format!(
            "{}/tests/fixtures/carriers/dhl/{case}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).expect("fixture")
    })
    .collect();
    let expected = replayed("dhl", &bodies).len();
    assert!(expected >= 3, "the fixtures make several changes");
    let records: Vec<_> = bodies
        .into_iter()
        .map(|body| (Some(b"k".to_vec()), body))
        .collect();
    produce(&stack.bootstrap, &config.raw_topic("dhl"), &records).await;

    let records = consume_until(
        &stack.bootstrap,
        &config.topics.status_changed,
        std::time::Duration::from_secs(45),
        |r| r.len() >= expected,
    );
    let ours = decode_changes(&stack.registry, &records).await;
    assert_eq!(ours.len(), expected, "{ours:?}");
    running.stop().await;

    let theirs = decode_with_python(
        &stack.bootstrap,
        &stack.registry,
        &config.topics.status_changed,
        ours.len(),
    );
    assert_eq!(theirs.len(), ours.len());
    for (python, rust) in theirs.iter().zip(&ours) {
        let value = &python["value"];
        assert_eq!(python["key"], rust.package_key.to_string());
        assert_eq!(value["package_key"], rust.package_key.to_string());
        assert_eq!(value["event_id"], rust.event_id.to_string());
        assert_eq!(value["status"], rust.status.as_str());
        assert_eq!(value["sub_status"].as_str(), rust.sub_status.as_deref());
        assert_eq!(
            value["previous_status"].as_str(),
            rust.previous_status.map(|s| s.as_str())
        );
        assert_eq!(value["seq"], rust.seq);
        // fastavro turns timestamp-millis into a datetime: the instant must agree.
        let occurred = chrono::DateTime::parse_from_str(
            value["occurred_at"].as_str().unwrap_or_default(),
            "%Y-%m-%d %H:%M:%S%:z",
        )
        .expect("a datetime");
        assert_eq!(occurred.timestamp_millis(), rust.occurred_at);
    }

    let events = decode_with_python(&stack.bootstrap, &stack.registry, &config.topics.events, 5);
    assert_eq!(events.len(), 5);
    for event in events {
        let value = &event["value"];
        assert_eq!(event["key"], value["package_key"]);
        assert_eq!(value["carrier"], "dhl");
        assert_eq!(value["source"], "carrier");
        assert_eq!(value["kind"], "status");
        assert!(value["status"].is_string(), "{value}");
        assert_eq!(value["event_id"].as_str().map(str::len), Some(32));
    }
}
