//! Exactly once through crashes and scale-out, with `unitrack run` as real processes:
//! SIGKILL in the middle of a stream of thousands of packages, restart; two instances in
//! one group, kill one. Every status change `unitrack replay` prescribes for the same
//! input is published exactly once (read_committed): none lost, none duplicated.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{
    Changes, consume_until, decode_changes, produce, published, replayed, stack, unique,
    unique_config,
};
use unitrack::config::Config;

/// GLS pull bodies: each package's history grows over four steps, and every record carries
/// the full history so far, as a polling adapter would send it.
fn workload(packages: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    const STEPS: [(&str, &str, &str); 4] = [
        ("INTIAL.PREADVICE", "PREADVICE", "2024-07-26T16:56:07+0200"),
        ("INTIAL.NORMAL", "INTRANSIT", "2024-07-28T18:00:52+0200"),
        ("OUTDEL.NORMAL", "INDELIVERY", "2024-07-29T06:52:37+0200"),
        (
            "DELIVD.PARCELSHOP",
            "DELIVEREDPS",
            "2024-07-29T10:02:00+0200",
        ),
    ];
    let mut records = Vec::with_capacity(packages * STEPS.len());
    for step in 0..STEPS.len() {
        for package in 0..packages {
            let number = format!("{:011}", 90_000_000_000u64 + package as u64);
            let events: Vec<serde_json::Value> = STEPS[..=step]
                .iter()
                .rev()
                .map(|(code, _, at)| serde_json::json!({"code": code, "country": "DE", "city": "Neuenstein", "eventDateTime": at}))
                .collect();
            let (_, status, at) = STEPS[step];
            let body = serde_json::json!({"parcels": [{
                "requested": number, "unitno": number, "status": status, "statusDateTime": at, "events": events
            }]});
            records.push((
                number.into_bytes(),
                serde_json::to_vec(&body).expect("serialises"),
            ));
        }
    }
    records
}

fn expected(records: &[(Vec<u8>, Vec<u8>)]) -> Changes {
    let bodies: Vec<Vec<u8>> = records.iter().map(|(_, body)| body.clone()).collect();
    replayed("gls", &bodies)
}

/// Produces `records` in small chunks over a few seconds, in the background.
fn produce_slowly(config: &Config, records: &[(Vec<u8>, Vec<u8>)]) -> tokio::task::JoinHandle<()> {
    let config = config.clone();
    let records = records.to_vec();
    tokio::spawn(async move {
        for chunk in records.chunks(100) {
            produce_all(&config, chunk).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

async fn produce_all(config: &Config, records: &[(Vec<u8>, Vec<u8>)]) {
    let keyed: Vec<_> = records
        .iter()
        .map(|(k, v)| (Some(k.clone()), v.clone()))
        .collect();
    for chunk in keyed.chunks(2000) {
        produce(
            &config.kafka.bootstrap_servers,
            &config.raw_topic("gls"),
            chunk,
        )
        .await;
    }
}

struct Instance {
    child: Child,
    log: PathBuf,
}

impl Instance {
    fn start(config: &Config, id: &str) -> Self {
        let log = std::env::temp_dir().join(format!("{}.log", unique(id)));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_unitrack"))
            .arg("run")
            .envs(support::config_env(config))
            .env("UNITRACK__PROCESSING__INSTANCE_ID", id)
            // Each process its own HTTP port: instances of one test share a configuration.
            .env(
                "UNITRACK__HTTP__LISTEN",
                format!("127.0.0.1:{}", support::free_port()),
            )
            .env("UNITRACK__LOG__FORMAT", "json")
            .env("UNITRACK__LOG__FILTER", "info,librdkafka=warn,rdkafka=warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("unitrack starts");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Partitions of `topic` this instance was assigned by the fold stage, per log line.
    fn fold_assignments(&self, topic: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|line| {
                line.contains("Partitions assigned and restored")
                    && line.contains("\"stage\":\"fold\"")
            })
            .filter(|line| line.contains(topic))
            .map(str::to_owned)
            .collect()
    }

    fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert_eq!(
                    status.code(),
                    Some(0),
                    "clean exit on SIGTERM; log:\n{}",
                    tail(&self.log)
                );
                return;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("no exit within 60 s of SIGTERM; log:\n{}", tail(&self.log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn committed_changes(config: &Config, at_least: usize, wait: Duration) -> usize {
    consume_until(
        &config.kafka.bootstrap_servers,
        &config.topics.status_changed,
        wait,
        |r| r.len() >= at_least,
    )
    .len()
}

async fn all_changes(config: &Config, count: usize) -> Changes {
    let records = consume_until(
        &config.kafka.bootstrap_servers,
        &config.topics.status_changed,
        Duration::from_secs(60),
        |r| r.len() >= count,
    );
    published(&decode_changes(&config.schema_registry.url, &records).await)
}

/// Waits until `count` changes are committed, or fails after `limit`.
fn wait_for(config: &Config, count: usize, limit: Duration) {
    let started = Instant::now();
    loop {
        let seen = committed_changes(config, count, Duration::from_secs(5));
        if seen >= count {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "only {seen} of {count} changes after {limit:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_a_stream_loses_and_duplicates_nothing() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let records = workload(2000);
    let expected = expected(&records);
    assert_eq!(expected.len(), 8000, "four changes per package");

    let (first, second) = records.split_at(records.len() / 2);
    let id = unique("crash");
    let mut instance = Instance::start(&config, &id);
    produce_all(&config, first).await;
    wait_for(&config, 1, Duration::from_secs(120));
    // Kill it while input keeps arriving, so that transactions are open.
    let producing = produce_slowly(&config, second);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    instance.kill();
    let before_restart = committed_changes(&config, 0, Duration::from_secs(2));
    assert!(
        before_restart < expected.len(),
        "killed in the middle, not after the end"
    );
    producing.await.expect("all input produced");

    // The same instance id restarts: its open transaction is fenced and aborted.
    eprintln!(
        "killed with {before_restart} of {} changes committed",
        expected.len()
    );
    let restarted = Instance::start(&config, &id);
    wait_for(&config, expected.len(), Duration::from_secs(180));
    let published = all_changes(&config, expected.len()).await;
    restarted.terminate();
    assert_eq!(
        published.len(),
        expected.len(),
        "none lost, none duplicated"
    );
    assert_eq!(published, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_partitions_and_one_takes_over_when_the_other_dies() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let records = workload(1000);
    let expected = expected(&records);
    let (first, second) = records.split_at(records.len() / 2);

    let mut a = Instance::start(&config, &unique("a"));
    let b = Instance::start(&config, &unique("b"));
    produce_all(&config, first).await;
    wait_for(&config, expected.len() / 4, Duration::from_secs(120));
    // Both hold fold partitions of shipment.events.
    let events = &config.topics.events;
    let started = Instant::now();
    while a.fold_assignments(events).is_empty() || b.fold_assignments(events).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the partitions were not split:\nA:\n{}\nB:\n{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b_before = b.fold_assignments(events).len();

    let producing = produce_slowly(&config, second);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    a.kill();
    producing.await.expect("all input produced");
    wait_for(&config, expected.len(), Duration::from_secs(180));
    assert!(
        b.fold_assignments(events).len() > b_before,
        "B took over A's partitions (restored from the changelog):\n{}",
        b.log()
    );
    let published = all_changes(&config, expected.len()).await;
    b.terminate();
    assert_eq!(published, expected, "exactly once across the takeover");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_fenced_by_a_newer_one_with_its_id_stops_with_exit_code_3() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let id = unique("twin");
    let mut old = Instance::start(&config, &id);
    produce_all(&config, &workload(50)).await;
    wait_for(&config, 1, Duration::from_secs(120));
    // A second process with the same instance id takes over its transactional ids.
    let new = Instance::start(&config, &id);
    let producing = produce_slowly(&config, &workload(300)[200..]);
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = old.child.try_wait() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the fenced instance did not stop:\n{}",
            tail(&old.log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    producing.await.expect("produced");
    assert_eq!(
        status.code(),
        Some(3),
        "fatal stage error exit code; log:\n{}",
        tail(&old.log)
    );
    assert!(
        old.log().contains("Stage stopped on a fatal error"),
        "{}",
        tail(&old.log)
    );
    new.terminate();
}
