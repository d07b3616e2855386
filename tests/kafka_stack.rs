//! The foundation against the real local stack: the broker carries records, the registry
//! speaks the Confluent API with Confluent framing, and `unitrack run` checks its topics.

mod support;

use apache_avro::types::Value;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use std::time::Duration;
use support::{create_topics, http_get_json, stack, unique, unique_config};
use unitrack::kafka::TopicError;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn produce_and_consume_on_a_unique_topic() {
    let stack = stack();
    let topic = unique("roundtrip");
    create_topics(&stack.bootstrap, &[(&topic, 1, false)]).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let sent: Vec<String> = (0..5)
        .map(|i| format!("payload-{i}-{}", unique("v")))
        .collect();
    for value in &sent {
        producer
            .send(
                FutureRecord::to(&topic).key("dhl:ABC").payload(value),
                Timeout::After(WAIT),
            )
            .await
            .expect("delivered");
    }

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("group.id", unique("g"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribed");
    let mut received = Vec::new();
    while received.len() < sent.len() {
        let message = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .expect("a record arrives in time")
            .expect("no consumer error");
        assert_eq!(message.key(), Some(&b"dhl:ABC"[..]));
        received.push(
            String::from_utf8(message.payload().unwrap_or_default().to_vec()).expect("utf-8"),
        );
    }
    assert_eq!(received, sent);
}

#[tokio::test]
async fn avro_through_the_registry_uses_confluent_framing() {
    let stack = stack();
    let topic = unique("avro");
    let schema = r#"{"type":"record","name":"Probe","namespace":"unitrack.test",
        "fields":[{"name":"package","type":"string"},{"name":"attempt","type":"int"}]}"#;
    let settings = SrSettings::new(stack.registry.clone());
    let encoder = AvroEncoder::new(settings.clone());
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.clone(),
        false,
        SuppliedSchema::new(
            Some("unitrack.test.Probe".to_owned()),
            SchemaType::Avro,
            schema.to_owned(),
        ),
    );
    #[derive(serde::Serialize)]
    struct Probe {
        package: String,
        attempt: i32,
    }
    let bytes = encoder
        .encode_struct(
            Probe {
                package: "dhl:ABC".to_owned(),
                attempt: 2,
            },
            &strategy,
        )
        .await
        .expect("schema registered and record encoded");

    assert_eq!(bytes[0], 0, "magic byte");
    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    // The registry knows the id the framing names, under the topic's value subject.
    let registered: serde_json::Value =
        http_get_json(&format!("{}/schemas/ids/{id}", stack.registry)).await;
    assert!(
        registered["schema"]
            .as_str()
            .unwrap_or_default()
            .contains("Probe"),
        "{registered}"
    );
    let subjects: serde_json::Value = http_get_json(&format!("{}/subjects", stack.registry)).await;
    assert!(
        subjects.as_array().is_some_and(|s| s
            .iter()
            .any(|s| s == &serde_json::json!(format!("{topic}-value")))),
        "{subjects}"
    );
    // The datum after the 5-byte header is plain Avro binary: string "dhl:ABC", int 2.
    assert_eq!(
        &bytes[5..],
        &[14, b'd', b'h', b'l', b':', b'A', b'B', b'C', 4]
    );

    let decoded = AvroDecoder::new(settings)
        .decode(Some(&bytes))
        .await
        .expect("decoded");
    assert_eq!(
        decoded.value,
        Value::Record(vec![
            ("package".to_owned(), Value::String("dhl:ABC".to_owned())),
            ("attempt".to_owned(), Value::Int(2)),
        ])
    );
}

#[tokio::test]
async fn run_creates_missing_topics_when_asked_and_stops_on_shutdown() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(unitrack::app::run(config.clone(), async move {
        let _ = stopped.await;
    }));
    // Once the topics exist, the processor is up; then ask it to stop.
    let mut checked = config.clone();
    checked.topics.create_topics = false;
    let counts = tokio::time::timeout(WAIT, async {
        loop {
            let check = checked.clone();
            if let Ok(Ok(counts)) =
                tokio::task::spawn_blocking(move || unitrack::kafka::ensure_topics(&check)).await
            {
                break counts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("topics created in time");
    assert_eq!(counts.get(&config.topics.events), Some(&3));
    assert_eq!(counts.get(&config.topics.state_changelog), Some(&3));
    stop.send(()).expect("run is waiting");
    tokio::time::timeout(WAIT, run)
        .await
        .expect("stops in time")
        .expect("no panic")
        .expect("clean exit");
}

#[tokio::test]
async fn run_refuses_missing_topics_by_name() {
    let stack = stack();
    let config = unique_config(&stack, false);
    let error = unitrack::app::run(config.clone(), std::future::pending())
        .await
        .expect_err("topics are missing");
    let message = error.to_string();
    assert!(message.contains(&config.topics.events), "{message}");
    assert!(message.contains(&config.raw_topic("dhl")), "{message}");
}

#[tokio::test]
async fn run_refuses_events_and_changelog_with_different_partition_counts() {
    let stack = stack();
    let mut config = unique_config(&stack, false);
    let names: Vec<String> = config
        .topic_names()
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    let specs: Vec<(&str, i32, bool)> = names
        .iter()
        .map(|name| {
            let partitions = if *name == config.topics.state_changelog {
                2
            } else {
                3
            };
            (
                name.as_str(),
                partitions,
                *name == config.topics.state_changelog,
            )
        })
        .collect();
    create_topics(&stack.bootstrap, &specs).await;
    config.topics.create_topics = false;
    let check = config.clone();
    let error = tokio::task::spawn_blocking(move || unitrack::kafka::ensure_topics(&check))
        .await
        .expect("no panic")
        .expect_err("partition counts differ");
    assert!(matches!(
        error,
        TopicError::PartitionMismatch {
            events_partitions: 3,
            changelog_partitions: 2,
            ..
        }
    ));
}
