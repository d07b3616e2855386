//! The benchmark's own Kafka plumbing: topics, producing the workload, where a consumer
//! group's committed offsets stand, and reading output topics.

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one broker request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Next offset per partition: what a consumer group must have committed to be done.
pub type Offsets = BTreeMap<(String, i32), i64>;

/// Milliseconds since the epoch, as a float (sub-millisecond precision).
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

/// Creates topics `(name, partitions, compacted)`.
pub fn create_topics(
    runtime: &tokio::runtime::Runtime,
    bootstrap: &str,
    topics: &[(String, i32, bool)],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions, compacted)| {
            let topic = NewTopic::new(name, *partitions, TopicReplication::Fixed(1));
            if *compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    for result in runtime.block_on(admin.create_topics(&new, &AdminOptions::new()))? {
        if let Err((topic, code)) = result {
            bail!("creating topic {topic}: {code}");
        }
    }
    Ok(())
}

/// Deletes topics; missing ones are fine.
pub fn delete_topics(
    runtime: &tokio::runtime::Runtime,
    bootstrap: &str,
    topics: &[String],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create()?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    for result in runtime.block_on(admin.delete_topics(&names, &AdminOptions::new()))? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => eprintln!("unitrack-bench: deleting {topic}: {code}"),
        }
    }
    Ok(())
}

/// Counts failed deliveries.
#[derive(Default)]
pub struct Deliveries {
    failed: AtomicU64,
}

impl rdkafka::ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A producer with the settings unitrack's stages use (idempotent, lz4, murmur2), with
/// `linger_ms` of batching.
pub fn producer(bootstrap: &str, linger_ms: u32) -> Result<BaseProducer<Deliveries>> {
    Ok(client(bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", linger_ms.to_string())
        .set("compression.type", "lz4")
        .set("queue.buffering.max.kbytes", "65536")
        .create_with_context(Deliveries::default())?)
}

/// Sends one record, waiting while the producer queue is full (never per-record awaits).
pub fn send(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((error, _)) => return Err(error.into()),
        }
    }
}

/// Waits for every record in flight; fails when any was not delivered.
pub fn flush(producer: &BaseProducer<Deliveries>) -> Result<()> {
    producer.flush(TIMEOUT)?;
    let failed = producer.context().failed.swap(0, Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} records were not delivered");
    }
    Ok(())
}

/// A consumer that never joins a group; `group` names whose offsets it may read.
pub fn reader(bootstrap: &str, group: &str) -> Result<BaseConsumer> {
    Ok(client(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()?)
}

/// The partitions of a topic.
pub fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let topic = metadata
        .topics()
        .first()
        .with_context(|| format!("no metadata for {topic}"))?;
    Ok(topic.partitions().iter().map(|p| p.id()).collect())
}

/// For each partition of `topics`, the offset after its last committed data record: a
/// group that processed everything has committed exactly this (transaction markers take
/// offsets too, so the high watermark can be higher).
pub fn ends(bootstrap: &str, topics: &[String]) -> Result<Offsets> {
    let consumer = reader(bootstrap, "unitrack-bench-ends")?;
    let mut ends = Offsets::new();
    for topic in topics {
        for partition in partitions(&consumer, topic)? {
            let (low, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
            let mut tail = 64;
            let end = loop {
                let from = (high - tail).max(low);
                if let Some(last) = last_offset(&consumer, topic, partition, from)? {
                    break last + 1;
                }
                if from == low {
                    break low;
                }
                tail *= 8;
            };
            ends.insert((topic.clone(), partition), end);
        }
    }
    Ok(ends)
}

/// The offset of the last record a read_committed reader sees from `from` on.
fn last_offset(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    from: i64,
) -> Result<Option<i64>> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))?;
    consumer.assign(&tpl)?;
    let mut last = None;
    let started = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => last = Some(message.offset()),
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(e.into()),
            None if started.elapsed() > TIMEOUT => bail!("reading the end of {topic}/{partition}"),
            None => {}
        }
    }
    consumer.unassign()?;
    Ok(last)
}

/// Whether group `group` has committed at least `targets` (empty partitions count as done).
pub struct Progress {
    consumer: BaseConsumer,
    targets: Offsets,
    list: TopicPartitionList,
}

impl Progress {
    /// Watches `group` against `targets`.
    pub fn new(bootstrap: &str, group: &str, targets: Offsets) -> Result<Self> {
        let mut list = TopicPartitionList::new();
        for (topic, partition) in targets.keys() {
            list.add_partition(topic, *partition);
        }
        Ok(Self {
            consumer: reader(bootstrap, group)?,
            targets,
            list,
        })
    }

    /// Records still to commit (a lag, 0 when done).
    pub fn lag(&self) -> Result<i64> {
        let committed = self
            .consumer
            .committed_offsets(self.list.clone(), TIMEOUT)?;
        let mut lag = 0;
        for element in committed.elements() {
            let target = self
                .targets
                .get(&(element.topic().to_owned(), element.partition()))
                .copied()
                .unwrap_or_default();
            let at = match element.offset() {
                Offset::Offset(offset) => offset,
                _ => 0,
            };
            lag += (target - at).max(0);
        }
        Ok(lag)
    }

    /// Waits until the lag is 0; returns the wall time (ms since the epoch) it was seen.
    pub fn wait(&self, timeout: Duration, what: &str) -> Result<f64> {
        let started = Instant::now();
        let mut last_report = Instant::now();
        loop {
            let lag = self.lag()?;
            if lag == 0 {
                return Ok(now_ms());
            }
            if started.elapsed() > timeout {
                bail!(
                    "{what}: still {lag} records behind after {}s",
                    timeout.as_secs()
                );
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                eprintln!("unitrack-bench:   {what}: {lag} records to go");
                last_report = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What a read_committed reader finds in a topic: records, and the earliest timestamp.
pub struct Contents {
    /// Records.
    pub records: u64,
    /// The smallest record timestamp (ms since the epoch).
    pub first_ms: Option<i64>,
}

/// Reads a whole topic (read_committed) to count it and find its first timestamp.
pub fn contents(bootstrap: &str, topic: &str) -> Result<Contents> {
    let consumer = client(bootstrap)
        .set("group.id", "unitrack-bench-count")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create::<BaseConsumer>()?;
    let parts = partitions(&consumer, topic)?;
    let mut tpl = TopicPartitionList::new();
    for partition in &parts {
        tpl.add_partition_offset(topic, *partition, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut open = parts.len();
    let mut records = 0;
    let mut first_ms: Option<i64> = None;
    let mut last = Instant::now();
    while open > 0 {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                if let Some(ms) = message.timestamp().to_millis() {
                    first_ms = Some(first_ms.map_or(ms, |f| f.min(ms)));
                }
                last = Instant::now();
            }
            Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => return Err(e.into()),
            None if last.elapsed() > TIMEOUT => bail!("reading {topic} stalled"),
            None => {}
        }
    }
    Ok(Contents { records, first_ms })
}

/// A consumer of an output topic from its current end, seeing what becomes visible
/// (read_committed) as soon as it does.
pub fn tail(bootstrap: &str, topic: &str) -> Result<BaseConsumer> {
    let consumer = client(bootstrap)
        .set("group.id", "unitrack-bench-latency")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "5")
        .create::<BaseConsumer>()?;
    let mut tpl = TopicPartitionList::new();
    for partition in partitions(&consumer, topic)? {
        let (_, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        tpl.add_partition_offset(topic, partition, Offset::Offset(high))?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Notes the wall time (ms) at which each of the `wanted` keys is first seen by
/// `consumer`, until all were seen or `timeout` passed.
pub fn watch_keys(
    consumer: &BaseConsumer,
    wanted: &HashSet<Vec<u8>>,
    timeout: Duration,
) -> Result<HashMap<Vec<u8>, f64>> {
    let mut seen = HashMap::with_capacity(wanted.len());
    let started = Instant::now();
    while seen.len() < wanted.len() && started.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(5)) {
            Some(Ok(message)) => {
                let at = now_ms();
                if let Some(key) = message.key()
                    && wanted.contains(key)
                {
                    seen.entry(key.to_vec()).or_insert(at);
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(seen)
}
