//! The consume → process → produce loop both stages share, with its delivery guarantee.
//!
//! Exactly-once: one transactional producer per stage and instance; records are produced
//! inside a transaction that also carries the consumed offsets
//! (`send_offsets_to_transaction`) and is committed every `commit_interval_ms` or
//! `commit_max_records`; consumers read `read_committed`. At-least-once: the producer is
//! flushed, then offsets are committed. On revoke the open transaction is committed, on a
//! lost assignment aborted; an abortable error aborts, seeks back to the committed
//! offsets and rebuilds the processor's state; a fatal error (fenced) stops the stage.
//!
//! A processor that panics on a record does not stop the stage: the panic is caught, the
//! record's position is kept in a quarantine, and the stage aborts and rewinds as for an
//! abortable error (what the processor had half-applied is rebuilt from the last commit).
//! When the record comes round again it goes to the dead-letter topic (class `panic`, the
//! panic's message as reason) instead of to the processor. Exactly-once, the records
//! before it in the aborted transaction are published once; at-least-once, they may be
//! published twice, as after any abort.
//!
//! The loop runs on its own thread: librdkafka's transaction calls block. Memory is
//! bounded by librdkafka's queues (`queued.max.messages.kbytes`,
//! `queue.buffering.max.kbytes`): the loop processes one record at a time and, when the
//! producer queue is full, waits for it before fetching more, so no unbounded buffer sits
//! between fetching and producing.

use super::dlq::{self, Poison};
use crate::config::{Config, Guarantee};
use crate::guard::catch_panic;
use crate::telemetry::health::StageHealth;
use crate::telemetry::metrics;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// How long blocking transaction and commit calls may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one poll waits for a record.
const POLL: Duration = Duration::from_millis(50);
/// How often a flush checks whether the records in flight are delivered.
const FLUSH_STEP: Duration = Duration::from_micros(500);

/// Why a stage stopped or a step failed, classified by what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// The stage cannot go on (fenced by a newer instance, misconfigured...).
    #[error("fatal: {0}")]
    Fatal(String),
    /// The open transaction must be aborted and the input re-read from the last commit.
    #[error("abortable: {0}")]
    Abortable(String),
}

impl StageError {
    fn from_kafka(context: &str, error: &KafkaError) -> Self {
        let message = format!("{context}: {error}");
        match error {
            KafkaError::Transaction(e) if e.is_fatal() => StageError::Fatal(message),
            KafkaError::Transaction(e) if e.txn_requires_abort() || e.is_retriable() => {
                StageError::Abortable(message)
            }
            _ if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fenced)
                || error.rdkafka_error_code() == Some(RDKafkaErrorCode::ProducerFenced) =>
            {
                StageError::Fatal(message)
            }
            _ => StageError::Abortable(message),
        }
    }
}

/// One consumed record, as processors see it.
#[derive(Debug)]
pub struct Record<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Value.
    pub payload: Option<&'a [u8]>,
    /// Record timestamp, milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Headers.
    pub headers: Vec<(&'a str, &'a [u8])>,
}

impl<'a> Record<'a> {
    fn of(message: &'a BorrowedMessage<'a>) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .filter_map(|h| h.value.map(|value| (h.key, value)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload(),
            timestamp_ms: message.timestamp().to_millis(),
            headers,
        }
    }
}

/// A stage's processing: stateless (normalise) or stateful (fold).
pub trait Processor: Send + 'static {
    /// Processes one record, producing through `out`. Poison is handled inside (sent to
    /// the dead-letter topic); an error here is about Kafka itself. A panic here is caught
    /// by the engine, which rewinds and then dead-letters the record (see the module
    /// documentation).
    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), StageError>;

    /// Whether [`tick`](Self::tick) has work now; asked on every turn of the loop (at
    /// least every poll timeout). `idle`: the last poll found no record (the stage has
    /// caught up with its partitions).
    fn tick_due(&self, _idle: bool) -> bool {
        false
    }

    /// Periodic work that produces inside the open transaction (the fold's timers).
    fn tick(&mut self, _out: &mut Output<'_>) -> Result<(), StageError> {
        Ok(())
    }

    /// Produces what must be in the same commit (the state changelog).
    fn before_commit(&mut self, _out: &mut Output<'_>) -> Result<(), StageError> {
        Ok(())
    }

    /// Partitions were assigned: rebuild their state before their records are processed.
    fn assigned(&mut self, _partitions: &[(String, i32)]) -> Result<(), StageError> {
        Ok(())
    }

    /// Partitions were revoked or lost: drop their state.
    fn revoked(&mut self, _partitions: &[(String, i32)]) {}

    /// What was produced since the last commit is committed (the transaction, or the
    /// flush and the offsets).
    fn committed(&mut self) {}

    /// What was produced since the last commit is dropped (the transaction aborted, or a
    /// delivery failed); the records are processed again.
    fn aborted(&mut self) {}
}

/// Counts failed deliveries, so that at-least-once never commits past a lost record.
#[derive(Default)]
pub struct DeliveryContext {
    failures: AtomicU64,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            warn!(topic = message.topic(), reason = %error, "Delivery failed.");
        }
    }
}

/// Where a processor's records go.
pub struct Output<'a> {
    producer: &'a ThreadedProducer<DeliveryContext>,
    /// The stage's buffer for encoded values, kept across records: rdkafka copies what it
    /// produces, so one allocation serves them all.
    scratch: &'a mut Vec<u8>,
}

impl Output<'_> {
    /// Produces one record whose value `encode` writes into the stage's buffer (which holds
    /// the last record's value: `encode` clears it first).
    pub fn send_encoded(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        headers: Option<OwnedHeaders>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), StageError>,
    ) -> Result<(), StageError> {
        let mut payload = std::mem::take(self.scratch);
        let sent =
            encode(&mut payload).and_then(|()| self.send(topic, partition, key, &payload, headers));
        *self.scratch = payload;
        sent
    }

    /// Produces one record (asynchronously: delivery is confirmed at commit). Waits while
    /// the producer queue is full; that wait is the stage's backpressure.
    pub fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<(), StageError> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        self.produce(record)
    }

    /// Produces a tombstone (a key without a value): on a compacted topic it deletes the
    /// key.
    pub fn delete(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
    ) -> Result<(), StageError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).key(key);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        self.produce(record)
    }

    fn produce(&mut self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), StageError> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => return Err(StageError::from_kafka("produce", &error)),
            }
        }
    }
}

/// Next offset to consume per partition, not yet committed. Looked up by `&str` so that
/// recording a record's position allocates only for a partition not seen since the last
/// commit.
#[derive(Default)]
struct Positions(HashMap<String, HashMap<i32, i64>>);

impl Positions {
    fn set(&mut self, topic: &str, partition: i32, next: i64) {
        match self.0.get_mut(topic) {
            Some(partitions) => {
                partitions.insert(partition, next);
            }
            None => {
                self.0
                    .insert(topic.to_owned(), HashMap::from([(partition, next)]));
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.0.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(partition, next)| (topic.as_str(), *partition, *next))
        })
    }

    fn clear(&mut self) {
        self.0.values_mut().for_each(HashMap::clear);
    }
}

struct Shared<P> {
    stage: &'static str,
    processor: P,
    producer: ThreadedProducer<DeliveryContext>,
    guarantee: Guarantee,
    transaction_open: bool,
    /// Next offset to consume per partition, not yet committed.
    offsets: Positions,
    uncommitted: usize,
    last_commit: Instant,
    /// An error met inside a rebalance callback, handled by the loop.
    failed: Option<StageError>,
    /// The dead-letter topic.
    dlq: String,
    /// Records the processor panicked on, dead-lettered when they come round again.
    quarantine: Quarantine,
    /// The encoding buffer lent to each [`Output`].
    scratch: Vec<u8>,
}

/// Records (topic, partition, offset) a processor panicked on, with the reason to
/// dead-letter them with. Nearly always empty.
#[derive(Default)]
struct Quarantine(Vec<(String, i32, i64, String)>);

impl Quarantine {
    fn add(&mut self, record: &Record<'_>, reason: String) {
        self.0.push((
            record.topic.to_owned(),
            record.partition,
            record.offset,
            reason,
        ));
    }

    /// The reason, if `record` is quarantined. It stays quarantined until a commit passes
    /// it: an abort before then brings it round once more.
    fn reason(&self, record: &Record<'_>) -> Option<String> {
        self.0
            .iter()
            .find(|(topic, partition, offset, _)| {
                topic == record.topic && *partition == record.partition && *offset == record.offset
            })
            .map(|(.., reason)| reason.clone())
    }

    /// Forgets the records a commit has passed (`committed`: next offsets).
    fn committed(&mut self, committed: &Positions) {
        if self.0.is_empty() {
            return;
        }
        self.0.retain(|(topic, partition, offset, _)| {
            !committed
                .iter()
                .any(|(t, p, next)| t == topic && p == *partition && *offset < next)
        });
    }

    /// Forgets the records of partitions this instance no longer holds: whoever gets them
    /// meets the panic itself.
    fn forget(&mut self, partitions: &[(String, i32)]) {
        self.0.retain(|(topic, partition, ..)| {
            !partitions.iter().any(|(t, p)| t == topic && p == partition)
        });
    }
}

impl<P: Processor> Shared<P> {
    fn begin(&mut self) -> Result<(), StageError> {
        if self.guarantee == Guarantee::ExactlyOnce && !self.transaction_open {
            self.producer
                .begin_transaction()
                .map_err(|e| StageError::from_kafka("begin transaction", &e))?;
        }
        self.transaction_open = true;
        Ok(())
    }

    fn commit(&mut self, consumer: &BaseConsumer<StageContext<P>>) -> Result<(), StageError> {
        if !self.transaction_open {
            return Ok(());
        }
        let mut out = Output {
            producer: &self.producer,
            scratch: &mut self.scratch,
        };
        self.processor.before_commit(&mut out)?;
        let mut offsets = TopicPartitionList::new();
        for (topic, partition, next) in self.offsets.iter() {
            offsets
                .add_partition_offset(topic, partition, Offset::Offset(next))
                .map_err(|e| StageError::Fatal(format!("offset list: {e}")))?;
        }
        match self.guarantee {
            Guarantee::ExactlyOnce => {
                if offsets.count() > 0 {
                    let metadata = consumer.group_metadata().ok_or_else(|| {
                        StageError::Fatal("consumer has no group metadata".to_owned())
                    })?;
                    self.producer
                        .send_offsets_to_transaction(&offsets, &metadata, CALL_TIMEOUT)
                        .map_err(|e| StageError::from_kafka("send offsets to transaction", &e))?;
                }
                // rdkafka's commit_transaction starts with the same slow flush.
                flush(&self.producer)?;
                self.producer
                    .commit_transaction(CALL_TIMEOUT)
                    .map_err(|e| StageError::from_kafka("commit transaction", &e))?;
            }
            Guarantee::AtLeastOnce => {
                flush(&self.producer)?;
                let failures = self.producer.context().failures.swap(0, Ordering::Relaxed);
                if failures > 0 {
                    return Err(StageError::Abortable(format!(
                        "{failures} records were not delivered"
                    )));
                }
                if offsets.count() > 0 {
                    consumer
                        .commit(&offsets, CommitMode::Sync)
                        .map_err(|e| StageError::from_kafka("commit offsets", &e))?;
                }
            }
        }
        debug!(records = self.uncommitted, "Committed.");
        metrics().committed(self.stage);
        self.processor.committed();
        self.quarantine.committed(&self.offsets);
        self.transaction_open = false;
        self.offsets.clear();
        self.uncommitted = 0;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// The processor's periodic work, when due, inside the open transaction (begun if
    /// none is open; the next commit commits it).
    fn tick(&mut self, idle: bool) -> Result<(), StageError> {
        if !self.processor.tick_due(idle) {
            return Ok(());
        }
        self.begin()?;
        let mut out = Output {
            producer: &self.producer,
            scratch: &mut self.scratch,
        };
        let processor = &mut self.processor;
        catch_panic(|| processor.tick(&mut out)).unwrap_or_else(|message| {
            error!(stage = self.stage, message, "The periodic work panicked.");
            metrics().panicked(self.stage, "tick");
            Err(StageError::Abortable(format!(
                "the {} stage's periodic work panicked: {message}",
                self.stage
            )))
        })
    }

    /// Drops what was not committed: aborts the transaction (exactly-once) and forgets
    /// the pending offsets. The caller rewinds the consumer.
    fn abort(&mut self) {
        if self.guarantee == Guarantee::ExactlyOnce
            && self.transaction_open
            && let Err(e) = self.producer.abort_transaction(CALL_TIMEOUT)
        {
            warn!(reason = %e, "Aborting the transaction failed.");
        }
        if self.transaction_open {
            metrics().aborted(self.stage);
        }
        self.processor.aborted();
        self.producer.context().failures.store(0, Ordering::Relaxed);
        self.transaction_open = false;
        self.offsets.clear();
        self.uncommitted = 0;
        self.last_commit = Instant::now();
    }
}

/// Waits until every produced record is delivered (or failed), for at most
/// `CALL_TIMEOUT`.
///
/// Not `Producer::flush(CALL_TIMEOUT)`: rdkafka's flush waits in `poll` for up to 100 ms at a
/// time, and with a `ThreadedProducer` the delivery reports that would end that wait are
/// taken by the producer's own polling thread, so every flush took about 100 ms (a profile
/// showed at-least-once stages blocked there half of the time). Instead: one non-blocking
/// flush call (it wakes the broker threads to send what lingers), then watch the count of
/// records in flight, which drops as the polling thread serves the delivery reports.
fn flush(producer: &ThreadedProducer<DeliveryContext>) -> Result<(), StageError> {
    let deadline = Instant::now() + CALL_TIMEOUT;
    // Returns at once: done, or "timed out" with records still in flight.
    let _ = producer.flush(Duration::ZERO);
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(StageError::Abortable(format!(
                "flush: {} records still in flight after {}s",
                producer.in_flight_count(),
                CALL_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(FLUSH_STEP);
    }
    Ok(())
}

/// The consumer context: owns the processor and the producer, so that the rebalance
/// callbacks (run inside `poll`) can commit, abort, drop and restore state.
pub struct StageContext<P> {
    stage: &'static str,
    health: Arc<StageHealth>,
    shared: Mutex<Shared<P>>,
}

impl<P> StageContext<P> {
    fn lock(&self) -> MutexGuard<'_, Shared<P>> {
        // A poisoned lock only means a panic elsewhere; the state is still consistent
        // enough to shut down.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl<P: Processor> ClientContext for StageContext<P> {
    /// librdkafka statistics (every `statistics.interval.ms`): the stage's consumer lag.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.iter())
            .filter(|(partition, _)| **partition >= 0)
            .map(|(_, partition)| partition.consumer_lag.max(0))
            .sum();
        metrics().lag(self.stage, lag);
    }
}

impl<P: Processor> ConsumerContext for StageContext<P> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let partitions = partitions_of(tpl);
        let lost = consumer.assignment_lost();
        metrics().rebalanced(self.stage, if lost { "lost" } else { "revoke" });
        let mut shared = self.lock();
        if lost {
            warn!(
                stage = self.stage,
                partitions = partitions.len(),
                "Assignment lost: aborting the open transaction."
            );
            shared.abort();
        } else if let Err(e) = shared.commit(consumer) {
            error!(stage = self.stage, reason = %e, "Commit on revoke failed; aborting.");
            shared.abort();
            if matches!(e, StageError::Fatal(_)) {
                shared.failed = Some(e);
            }
        }
        shared.processor.revoked(&partitions);
        shared.quarantine.forget(&partitions);
        info!(stage = self.stage, partitions = ?partitions, "Partitions revoked.");
        let remaining = consumer.assignment().map(|a| a.count()).unwrap_or_default();
        metrics().assigned(self.stage, remaining.saturating_sub(partitions.len()));
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else {
            return;
        };
        let partitions = partitions_of(tpl);
        if partitions.is_empty() {
            self.health.set_ready(true);
            return;
        }
        metrics().rebalanced(self.stage, "assign");
        self.health.set_ready(false);
        let mut shared = self.lock();
        let started = Instant::now();
        if let Err(e) = shared.processor.assigned(&partitions) {
            error!(stage = self.stage, reason = %e, "Restoring assigned partitions failed.");
            shared.failed = Some(StageError::Fatal(e.to_string()));
        }
        info!(
            stage = self.stage,
            partitions = ?partitions,
            restore_ms = started.elapsed().as_millis() as u64,
            "Partitions assigned and restored."
        );
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or_default();
        metrics().assigned(self.stage, assigned);
        self.health.set_ready(shared.failed.is_none());
    }
}

/// What a stage needs to run.
pub struct StageSpec<P> {
    /// `normalise` or `fold`: names the consumer group and the transactional id.
    pub stage: &'static str,
    /// Topics (a `^` prefix makes a regex subscription).
    pub topics: Vec<String>,
    /// The processor.
    pub processor: P,
    /// Where the stage reports liveness and readiness.
    pub health: Arc<StageHealth>,
}

/// Runs one stage until `stop` is set or a fatal error occurs. Blocking.
pub fn run_stage<P: Processor>(
    config: &Config,
    spec: StageSpec<P>,
    stop: &AtomicBool,
) -> Result<(), StageError> {
    let processing = &config.processing;
    let guarantee = processing.guarantee;
    let mut producer_config = super::client_config(config);
    producer_config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        // librdkafka retries AddOffsetsToTxn after CONCURRENT_TRANSACTIONS (the previous
        // transaction's markers are not all written yet) after this backoff; its default,
        // 100 ms, is a whole commit interval.
        .set("retry.backoff.ms", "20")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.kbytes", "65536")
        .set(
            "transaction.timeout.ms",
            processing.transaction_timeout_ms.to_string(),
        )
        .set(
            "message.timeout.ms",
            (processing.transaction_timeout_ms.saturating_sub(1000))
                .max(1000)
                .to_string(),
        );
    let transactional_id = format!(
        "{}-{}-{}",
        config.kafka.group_id,
        spec.stage,
        processing.instance_id()
    );
    if guarantee == Guarantee::ExactlyOnce {
        producer_config.set("transactional.id", &transactional_id);
    }
    let producer: ThreadedProducer<DeliveryContext> = producer_config
        .create_with_context(DeliveryContext::default())
        .map_err(|e| StageError::Fatal(format!("producer: {e}")))?;
    if guarantee == Guarantee::ExactlyOnce {
        producer.init_transactions(CALL_TIMEOUT).map_err(|e| {
            StageError::Fatal(format!("init transactions ({transactional_id}): {e}"))
        })?;
    }

    let group = format!("{}-{}", config.kafka.group_id, spec.stage);
    let health = spec.health.clone();
    let context = StageContext {
        stage: spec.stage,
        health: spec.health,
        shared: Mutex::new(Shared {
            stage: spec.stage,
            processor: spec.processor,
            producer,
            guarantee,
            transaction_open: false,
            offsets: Positions::default(),
            uncommitted: 0,
            last_commit: Instant::now(),
            failed: None,
            dlq: config.topics.dlq.clone(),
            quarantine: Quarantine::default(),
            scratch: Vec::new(),
        }),
    };
    let consumer: BaseConsumer<StageContext<P>> = super::client_config(config)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set(
            "session.timeout.ms",
            config.kafka.session_timeout_ms.to_string(),
        )
        .set("queued.max.messages.kbytes", "16384")
        .set("queued.min.messages", "10000")
        .set("statistics.interval.ms", "5000")
        .set("fetch.queue.backoff.ms", "20")
        .create_with_context(context)
        .map_err(|e| StageError::Fatal(format!("consumer: {e}")))?;
    let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| StageError::Fatal(format!("subscribe {topics:?}: {e}")))?;
    info!(stage = spec.stage, group, transactional_id, ?guarantee, topics = ?spec.topics, "Stage started.");

    let interval = Duration::from_millis(processing.commit_interval_ms);
    let result = run_loop(
        &consumer,
        interval,
        processing.commit_max_records,
        stop,
        &health,
    );
    health.set_ready(false);
    {
        let mut shared = consumer.context().lock();
        if result.is_ok() {
            if let Err(e) = shared.commit(&consumer) {
                warn!(stage = spec.stage, reason = %e, "Final commit failed; aborting.");
                shared.abort();
            }
        } else {
            shared.abort();
        }
    }
    consumer.unsubscribe();
    info!(stage = spec.stage, "Stage stopped.");
    result
}

fn run_loop<P: Processor>(
    consumer: &BaseConsumer<StageContext<P>>,
    interval: Duration,
    max_records: usize,
    stop: &AtomicBool,
    health: &StageHealth,
) -> Result<(), StageError> {
    while !stop.load(Ordering::Relaxed) {
        health.beat();
        let polled = consumer.poll(POLL);
        let idle = polled.is_none();
        let step = {
            let mut shared = consumer.context().lock();
            if let Some(error) = shared.failed.take() {
                return Err(error);
            }
            match polled {
                Some(Ok(message)) => process_one(&mut shared, &message),
                Some(Err(e)) => {
                    warn!(reason = %e, "Consumer error.");
                    Ok(())
                }
                None => Ok(()),
            }
            .and_then(|()| shared.tick(idle))
            .and_then(|()| {
                let due =
                    shared.uncommitted >= max_records || shared.last_commit.elapsed() >= interval;
                if due { shared.commit(consumer) } else { Ok(()) }
            })
        };
        match step {
            Ok(()) => {}
            Err(StageError::Abortable(reason)) => {
                warn!(
                    reason,
                    "Abortable error: aborting and rewinding to the last commit."
                );
                rewind(consumer)?;
            }
            Err(fatal) => return Err(fatal),
        }
    }
    Ok(())
}

fn process_one<P: Processor>(
    shared: &mut Shared<P>,
    message: &BorrowedMessage<'_>,
) -> Result<(), StageError> {
    shared.begin()?;
    metrics().consumed(shared.stage);
    let record = Record::of(message);
    let mut out = Output {
        producer: &shared.producer,
        scratch: &mut shared.scratch,
    };
    if let Some(reason) = shared.quarantine.reason(&record) {
        let poison = Poison {
            stage: shared.stage,
            class: "panic",
            reason,
            carrier: "",
        };
        dlq::send(&mut out, &shared.dlq, &record, &poison)?;
    } else {
        let processor = &mut shared.processor;
        match catch_panic(|| processor.process(&record, &mut out)) {
            Ok(processed) => processed?,
            Err(message) => {
                let stage = shared.stage;
                let reason = format!("the {stage} stage panicked on this record: {message}");
                error!(
                    stage,
                    topic = record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    message,
                    "Processing panicked: rewinding, then dead-lettering the record."
                );
                metrics().panicked(stage, "record");
                shared.quarantine.add(&record, reason.clone());
                return Err(StageError::Abortable(reason));
            }
        }
    }
    if let Some(at) = record.timestamp_ms {
        let now = chrono::Utc::now().timestamp_millis();
        metrics().latency(shared.stage, (now - at).max(0) as f64 / 1000.0);
    }
    shared
        .offsets
        .set(record.topic, record.partition, record.offset + 1);
    shared.uncommitted += 1;
    Ok(())
}

/// After an abortable error: abort, seek every assigned partition back to its committed
/// offset, and rebuild the processor's state of those partitions.
fn rewind<P: Processor>(consumer: &BaseConsumer<StageContext<P>>) -> Result<(), StageError> {
    let mut shared = consumer.context().lock();
    shared.abort();
    let committed = consumer
        .committed(CALL_TIMEOUT)
        .map_err(|e| StageError::from_kafka("read committed offsets", &e))?;
    let mut seek = TopicPartitionList::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(offset) => Offset::Offset(offset),
            _ => Offset::Beginning,
        };
        seek.add_partition_offset(element.topic(), element.partition(), offset)
            .map_err(|e| StageError::Fatal(format!("offset list: {e}")))?;
    }
    consumer
        .seek_partitions(seek, CALL_TIMEOUT)
        .map_err(|e| StageError::from_kafka("seek", &e))?;
    let partitions = partitions_of(&committed);
    shared.processor.revoked(&partitions);
    shared.processor.assigned(&partitions)?;
    Ok(())
}

/// A stop flag shared by the stages and the shutdown signal.
pub type StopFlag = Arc<AtomicBool>;
