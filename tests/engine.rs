//! The stage engine against the real local stack, driving a processor of the test's own:
//! a processor that panics on one record does not stop its stage. The record goes to the
//! dead-letter topic with the panic's message and its provenance; the records around it are
//! published exactly once (read_committed), including those of the transaction the panic
//! aborted; a panic of the periodic work (`tick`) aborts and rewinds as well; the stage
//! keeps running and stops cleanly.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{Consumed, consume_until, create_topics, produce, stack, unique_config};
use unitrack::kafka::dlq::header;
use unitrack::kafka::engine::{Output, Processor, Record, StageError, StageSpec, run_stage};
use unitrack::telemetry::health::Health;

/// Forwards every record to `to` (same key and value) and then panics on a `boom`
/// payload, after its own output is sent: that output must never be seen committed.
/// Its periodic work panics once, the first time the stage is idle after `d`, while
/// `d`'s output is still uncommitted.
struct Echo {
    to: String,
    seen_d: bool,
    ticked: bool,
}

impl Processor for Echo {
    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), StageError> {
        let payload = record.payload.unwrap_or_default();
        out.send(
            &self.to,
            None,
            record.key.unwrap_or_default(),
            payload,
            None,
        )?;
        if payload.starts_with(b"boom") {
            panic!(
                "the test processor trips on {}",
                String::from_utf8_lossy(payload)
            );
        }
        self.seen_d |= payload == b"d";
        Ok(())
    }

    fn tick_due(&self, idle: bool) -> bool {
        idle && self.seen_d && !self.ticked
    }

    fn tick(&mut self, out: &mut Output<'_>) -> Result<(), StageError> {
        self.ticked = true;
        out.send(&self.to, None, b"k", b"tick", None)?;
        panic!("the test processor's tick trips");
    }
}

fn values(records: &[Consumed]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

fn header_text(record: &Consumed, name: &str) -> String {
    record
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| panic!("header {name} missing: {record:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_record_is_dead_lettered_and_the_records_around_it_are_published_once() {
    let stack = stack();
    let config = unique_config(&stack, false);
    let input = format!("{}input", config.topics.raw_prefix);
    let output = config.topics.status_changed.clone();
    let dlq = config.topics.dlq.clone();
    // One input partition: the records keep their order, and the panic aborts a
    // transaction that already holds the records before it.
    create_topics(
        &stack.bootstrap,
        &[(&input, 1, false), (&output, 1, false), (&dlq, 1, false)],
    )
    .await;
    let records: Vec<_> = ["a", "b", "boom 1", "c", "boom 2", "d"]
        .iter()
        .map(|v| (Some(b"k".to_vec()), v.as_bytes().to_vec()))
        .collect();
    produce(&stack.bootstrap, &input, &records).await;

    let stop = Arc::new(AtomicBool::new(false));
    let stage = {
        let (config, stop) = (config.clone(), stop.clone());
        let spec = StageSpec {
            stage: "echo",
            topics: vec![input.clone()],
            processor: Echo {
                to: output.clone(),
                seen_d: false,
                ticked: false,
            },
            health: Health::default().register("echo"),
        };
        std::thread::spawn(move || run_stage(&config, spec, &stop))
    };

    let bootstrap = stack.bootstrap.clone();
    let (out, dead) = tokio::task::spawn_blocking(move || {
        let wait = Duration::from_secs(60);
        let out = consume_until(&bootstrap, &output, wait, |r| r.len() >= 4);
        let dead = consume_until(&bootstrap, &dlq, wait, |r| r.len() >= 2);
        (out, dead)
    })
    .await
    .expect("consumers");

    assert_eq!(
        values(&out),
        ["a", "b", "c", "d"],
        "each once, in order, no boom"
    );
    assert_eq!(values(&dead), ["boom 1", "boom 2"]);
    for (record, offset) in dead.iter().zip(["2", "4"]) {
        assert_eq!(header_text(record, header::ERROR_CLASS), "panic");
        assert_eq!(header_text(record, header::STAGE), "echo");
        assert_eq!(header_text(record, header::SOURCE_TOPIC), input);
        assert_eq!(header_text(record, header::SOURCE_OFFSET), offset);
        let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
        let reason = header_text(record, header::ERROR_REASON);
        assert!(
            reason.contains(&format!("the test processor trips on {value}")),
            "{reason}"
        );
        assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
    }
    // The tick's panic happened (the test processor ticks once, when idle after `d`).
    let rendered = unitrack::telemetry::metrics::metrics().render();
    for line in [
        r#"unitrack_panics_total{at="record",stage="echo"} 2"#,
        r#"unitrack_panics_total{at="tick",stage="echo"} 1"#,
    ] {
        assert!(rendered.lines().any(|l| l == line), "{line} in\n{rendered}");
    }
    assert!(!stage.is_finished(), "the stage keeps running");
    stop.store(true, Ordering::Relaxed);
    let result = tokio::task::spawn_blocking(move || stage.join())
        .await
        .expect("joined");
    assert_eq!(result.expect("no panic escaped the stage"), Ok(()));
}
