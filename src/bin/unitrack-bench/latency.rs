//! End-to-end latency: while a system runs on an otherwise idle input, probes (raw records
//! of new packages, one status change each) are produced at a steady rate, each with its
//! send time as record timestamp; a read_committed consumer of the output topic notes when
//! each probe's output becomes visible. Latency = visible − sent, on the same clock.

use crate::kafka::{self, now_ms};
use crate::workload::{self, RawRecord};
use anyhow::{Result, anyhow, bail};
use rdkafka::producer::BaseRecord;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long the first probe may take (group join, state restore).
const WARM_UP: Duration = Duration::from_secs(180);

/// Latency figures of one system.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Probes sent.
    pub probes: usize,
    /// Probes whose output was seen.
    pub seen: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
}

/// How a probe's output is recognised: by its output record's key.
pub type KeyOf = fn(&RawRecord) -> Vec<u8>;

/// Sends `rate` probes a second for `seconds` to the raw topics under `raw_prefix` and
/// measures when each shows up on `output`. Probe serials start at `serial_base`.
pub fn measure(
    bootstrap: &str,
    raw_prefix: &str,
    output: &str,
    key_of: KeyOf,
    serial_base: u64,
    rate: u64,
    seconds: u64,
) -> Result<Latency> {
    let consumer = kafka::tail(bootstrap, output)?;
    let producer = kafka::producer(bootstrap, 0)?;
    let prefix = raw_prefix.to_owned();
    let topic = move |probe: &RawRecord| format!("{prefix}{}", probe.carrier);

    let warm = workload::probe(serial_base);
    let warm_topic = topic(&warm);
    kafka::send(
        &producer,
        BaseRecord::to(&warm_topic)
            .key(warm.key.as_slice())
            .payload(warm.body.as_slice()),
    )?;
    kafka::flush(&producer)?;
    let wanted = HashSet::from([key_of(&warm)]);
    if kafka::watch_keys(&consumer, &wanted, WARM_UP)?.is_empty() {
        bail!(
            "the warm-up probe did not come out of {output} within {}s",
            WARM_UP.as_secs()
        );
    }

    let probes: Vec<RawRecord> = (1..=rate * seconds)
        .map(|i| workload::probe(serial_base + i))
        .collect();
    let wanted: HashSet<Vec<u8>> = probes.iter().map(key_of).collect();
    let count = probes.len();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let topic_of = topic.clone();
    let sender = std::thread::spawn(move || -> Result<HashMap<Vec<u8>, f64>> {
        let mut sent = HashMap::with_capacity(probes.len());
        let started = Instant::now();
        for (i, probe) in probes.iter().enumerate() {
            let due = started + interval * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let topic = topic_of(probe);
            let at = now_ms();
            let record = BaseRecord::to(&topic)
                .key(probe.key.as_slice())
                .payload(probe.body.as_slice())
                .timestamp(at as i64);
            kafka::send(&producer, record)?;
            producer.poll(Duration::ZERO);
            sent.insert(key_of(probe), at);
        }
        kafka::flush(&producer)?;
        Ok(sent)
    });
    let seen = kafka::watch_keys(&consumer, &wanted, Duration::from_secs(seconds + 60))?;
    let sent = sender
        .join()
        .map_err(|_| anyhow!("the probe sender panicked"))??;
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(key, at)| seen.get(key).map(|seen| seen - at))
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(Latency {
        probes: count,
        seen: latencies.len(),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or_default(),
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Output keys of unitrack: the package key.
pub fn package_key(probe: &RawRecord) -> Vec<u8> {
    workload::package_key(probe).into_bytes()
}

/// Output keys of the passthrough: the raw record's key.
pub fn raw_key(probe: &RawRecord) -> Vec<u8> {
    probe.key.clone()
}
