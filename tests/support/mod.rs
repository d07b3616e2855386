//! Shared test support: the real local stack (started by `dev/stack up`), unique names.
//! Tests that need the stack fail loudly when it is missing; they never skip.

#![allow(dead_code)]

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use unitrack::config::Config;

/// Where the local stack listens (`dev/stack status` prints the same).
pub struct Stack {
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// Confluent-compatible schema registry API.
    pub registry: String,
}

/// The local stack, checked to answer; panics with instructions when it does not.
pub fn stack() -> Stack {
    let stack = Stack {
        bootstrap: std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned()),
        registry: std::env::var("SCHEMA_REGISTRY_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:8081/apis/ccompat/v7".to_owned()),
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .create()
        .expect("a Kafka client can be created");
    if let Err(error) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "Kafka is not reachable at {} ({error}). These tests run against the real local stack: \
             start it with `dev/stack up` (or run the README's test command, which does).",
            stack.bootstrap
        );
    }
    if let Err(error) = http_get_blocking(&format!("{}/subjects", stack.registry)) {
        panic!(
            "The schema registry is not answering at {} ({error}). These tests run against the real \
             local stack: start it with `dev/stack up` (or run the README's test command, which does).",
            stack.registry
        );
    }
    stack
}

/// A blocking GET that only checks for a 200 answer.
fn http_get_blocking(url: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("not an http URL")?;
    let (host, path) = rest.split_once('/').ok_or("URL without a path")?;
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&head).into_owned())
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates topics on the local broker (compacted where asked).
pub async fn create_topics(bootstrap: &str, topics: &[(&str, i32, bool)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
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
    for result in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .expect("create topics request")
    {
        result.expect("topic created");
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// A configuration whose topics, group and HTTP port are unique to one test.
pub fn unique_config(stack: &Stack, create_topics: bool) -> Config {
    let id = unique("t");
    let env = [
        (
            "UNITRACK__KAFKA__BOOTSTRAP_SERVERS",
            stack.bootstrap.clone(),
        ),
        ("UNITRACK__KAFKA__GROUP_ID", format!("group-{id}")),
        ("UNITRACK__SCHEMA_REGISTRY__URL", stack.registry.clone()),
        ("UNITRACK__TOPICS__RAW_PREFIX", format!("{id}.raw.")),
        ("UNITRACK__TOPICS__COMMANDS", format!("{id}.commands")),
        (
            "UNITRACK__TOPICS__COMMAND_OUTCOMES",
            format!("{id}.outcomes"),
        ),
        ("UNITRACK__TOPICS__EVENTS", format!("{id}.events")),
        ("UNITRACK__TOPICS__STATUS_CHANGED", format!("{id}.changed")),
        ("UNITRACK__TOPICS__DLQ", format!("{id}.dlq")),
        (
            "UNITRACK__TOPICS__STATE_CHANGELOG",
            format!("{id}.changelog"),
        ),
        ("UNITRACK__TOPICS__PARTITIONS", "3".to_owned()),
        ("UNITRACK__TOPICS__CREATE_TOPICS", create_topics.to_string()),
        (
            "UNITRACK__HTTP__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        ),
        // The fixtures carry 2024 dates: timers would expire every package and the state
        // retention drop it. The timer and retention tests switch them on.
        ("UNITRACK__TIMERS__ENABLED", "false".to_owned()),
        ("UNITRACK__STATE__RETENTION_DAYS", "0".to_owned()),
    ];
    Config::load_with_env(None, env.into_iter().map(|(k, v)| (k.to_owned(), v)))
        .expect("test configuration is valid")
}

/// The environment of [`unique_config`], for the binary under test.
pub fn config_env(config: &Config) -> Vec<(String, String)> {
    let t = &config.topics;
    [
        (
            "UNITRACK__KAFKA__BOOTSTRAP_SERVERS",
            config.kafka.bootstrap_servers.clone(),
        ),
        ("UNITRACK__KAFKA__GROUP_ID", config.kafka.group_id.clone()),
        (
            "UNITRACK__SCHEMA_REGISTRY__URL",
            config.schema_registry.url.clone(),
        ),
        ("UNITRACK__TOPICS__RAW_PREFIX", t.raw_prefix.clone()),
        ("UNITRACK__TOPICS__COMMANDS", t.commands.clone()),
        (
            "UNITRACK__TOPICS__COMMAND_OUTCOMES",
            t.command_outcomes.clone(),
        ),
        ("UNITRACK__TOPICS__EVENTS", t.events.clone()),
        ("UNITRACK__TOPICS__STATUS_CHANGED", t.status_changed.clone()),
        ("UNITRACK__TOPICS__DLQ", t.dlq.clone()),
        (
            "UNITRACK__TOPICS__STATE_CHANGELOG",
            t.state_changelog.clone(),
        ),
        ("UNITRACK__TOPICS__PARTITIONS", t.partitions.to_string()),
        (
            "UNITRACK__TOPICS__CREATE_TOPICS",
            t.create_topics.to_string(),
        ),
        ("UNITRACK__HTTP__LISTEN", config.http.listen.clone()),
        (
            "UNITRACK__TIMERS__ENABLED",
            config.timers.enabled.to_string(),
        ),
        (
            "UNITRACK__STATE__RETENTION_DAYS",
            config.state.retention_days.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A GET through a plain HTTP/1.1 request on a TCP socket: the registry answers the
/// Confluent API itself, independent of the converter under test.
pub async fn http_get_json(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("URL with a path");
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .expect("registry reachable");
    let request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("response read");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    serde_json::from_str(&body).expect("JSON body")
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

/// A unitrack running in-process, stopped by [`Running::stop`].
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), unitrack::app::AppError>>,
}

impl Running {
    /// Starts `unitrack::app::run` with `config`.
    pub fn start(config: &Config) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(unitrack::app::run(config.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            handle,
        }
    }

    /// Asks it to stop and waits for a clean exit.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(60), self.handle)
            .await
            .expect("unitrack stops in time")
            .expect("no panic")
            .expect("clean exit");
    }
}

/// Produces records (key, value) to a topic and waits for their delivery.
pub async fn produce(bootstrap: &str, topic: &str, records: &[(Option<Vec<u8>>, Vec<u8>)]) {
    let records: Vec<_> = records
        .iter()
        .map(|(key, value)| (key.clone(), value.clone(), Vec::new()))
        .collect();
    produce_with_headers(bootstrap, topic, &records).await;
}

/// A record to produce: key, value and headers (name, value).
pub type WithHeaders = (Option<Vec<u8>>, Vec<u8>, Vec<(&'static str, Vec<u8>)>);

/// Produces records with headers to a topic and waits for their delivery.
pub async fn produce_with_headers(bootstrap: &str, topic: &str, records: &[WithHeaders]) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut pending = Vec::with_capacity(records.len());
    for (key, value, headers) in records {
        let mut record = FutureRecord::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if !headers.is_empty() {
            let owned = headers
                .iter()
                .fold(OwnedHeaders::new(), |owned, (name, value)| {
                    owned.insert(Header {
                        key: name,
                        value: Some(value),
                    })
                });
            record = record.headers(owned);
        }
        pending.push(producer.send_result(record).expect("queued"));
    }
    for delivery in pending {
        delivery.await.expect("not cancelled").expect("delivered");
    }
}

/// One consumed record.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Partition.
    pub partition: i32,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads a topic from the beginning (read_committed) until `done` says enough (and then 3 s
/// more, to see anything that should not be there) or `wait` passes without a new record.
pub fn consume_until(
    bootstrap: &str,
    topic: &str,
    wait: Duration,
    done: impl Fn(&[Consumed]) -> bool,
) -> Vec<Consumed> {
    use rdkafka::message::{Headers, Message};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let mut records = Vec::new();
    let mut last = std::time::Instant::now();
    // Once `done`, keep reading a little longer: whatever should not be there shows up.
    let settle = Duration::from_secs(3);
    let mut done_at: Option<std::time::Instant> = None;
    while last.elapsed() < wait && done_at.is_none_or(|at| at.elapsed() < settle) {
        if done_at.is_none() && done(&records) {
            done_at = Some(std::time::Instant::now());
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                last = std::time::Instant::now();
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Consumed {
                    partition: message.partition(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
            Some(Err(e)) => panic!("consumer error on {topic}: {e}"),
            None => {}
        }
    }
    records
}

/// Decodes Confluent-framed status changes through the registry with
/// schema_registry_converter (not unitrack's codec).
pub async fn decode_changes(
    registry: &str,
    records: &[Consumed],
) -> Vec<unitrack::avro::StatusChangedRecord<'static>> {
    use schema_registry_converter::async_impl::avro::AvroDecoder;
    use schema_registry_converter::async_impl::schema_registry::SrSettings;
    let decoder = AvroDecoder::new(SrSettings::new(registry.to_owned()));
    let mut changes = Vec::with_capacity(records.len());
    for record in records {
        let decoded = decoder
            .decode(record.value.as_deref())
            .await
            .expect("decodes through the registry");
        changes.push(apache_avro::from_value(&decoded.value).expect("a ShipmentStatusChanged"));
    }
    changes
}

/// What identifies a status change: (package key, per-package sequence number).
pub type ChangeId = (String, i64);

/// What a status change says: status, sub-status, previous status, transition kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFacts {
    /// Status.
    pub status: String,
    /// Sub-status.
    pub sub_status: Option<String>,
    /// Previous status.
    pub previous_status: Option<String>,
    /// Transition kind.
    pub transition_kind: String,
}

/// Status changes by identity.
pub type Changes = std::collections::BTreeMap<ChangeId, ChangeFacts>;

/// The ids of the unified events `unitrack replay` maps from `bodies`, in order, repeats
/// included.
pub fn replayed_event_ids(carrier: &str, bodies: &[Vec<u8>]) -> Vec<String> {
    replay_lines(carrier, bodies)
        .into_iter()
        .filter(|line| line["kind"] == "event")
        .map(|line| line["event"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn replay_lines(carrier: &str, bodies: &[Vec<u8>]) -> Vec<serde_json::Value> {
    let mapper = unitrack::carriers::find(carrier).expect("registered carrier");
    let inputs = bodies
        .iter()
        .enumerate()
        .map(|(i, payload)| unitrack::replay::Input {
            name: i.to_string(),
            payload: payload.clone(),
        });
    let mut out = Vec::new();
    unitrack::replay::replay(mapper, None, &[], inputs, &mut out).expect("replays");
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .collect()
}

/// The status changes `unitrack replay` prescribes for these bodies of one carrier.
pub fn replayed(carrier: &str, bodies: &[Vec<u8>]) -> Changes {
    replay_lines(carrier, bodies)
        .into_iter()
        .filter(|line| line["kind"] == "status_changed")
        .map(|line| {
            let text = |field: &str| line[field].as_str().map(str::to_owned);
            (
                (
                    text("package").unwrap_or_default(),
                    line["seq"].as_i64().unwrap_or_default(),
                ),
                ChangeFacts {
                    status: text("status").unwrap_or_default(),
                    sub_status: text("sub_status"),
                    previous_status: text("previous_status"),
                    transition_kind: text("transition_kind").unwrap_or_default(),
                },
            )
        })
        .collect()
}

/// The published status changes, in the same form; a change published twice fails.
pub fn published(changes: &[unitrack::avro::StatusChangedRecord<'_>]) -> Changes {
    let label = |value: serde_json::Value| value.as_str().map(str::to_owned).unwrap_or_default();
    let mut published = Changes::new();
    for c in changes {
        let facts = ChangeFacts {
            status: c.status.as_str().to_owned(),
            sub_status: c.sub_status.as_deref().map(str::to_owned),
            previous_status: c.previous_status.map(|s| s.as_str().to_owned()),
            transition_kind: label(serde_json::to_value(c.transition_kind).unwrap_or_default()),
        };
        let id = (c.package_key.to_string(), c.seq);
        assert!(
            published.insert(id.clone(), facts).is_none(),
            "status change {id:?} published twice"
        );
    }
    published
}

/// Waits until unitrack's `/readyz` answers 200 (stages started, partitions restored).
pub async fn wait_ready(config: &Config) {
    let client = reqwest::Client::new();
    let url = format!("http://{}/readyz", config.http.listen);
    let started = std::time::Instant::now();
    loop {
        if let Ok(response) = client.get(&url).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
