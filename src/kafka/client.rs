//! librdkafka client settings shared by every producer, consumer and admin client.

use crate::config::{KafkaConfig, SASL_PASSWORD_ENV};
use rdkafka::ClientConfig;

/// The common client settings: brokers, client id, security, timeouts. The SASL password
/// is read from the environment here and nowhere else, and never logged.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", &kafka.client_id)
        .set("security.protocol", &kafka.security_protocol)
        .set("socket.timeout.ms", kafka.request_timeout_ms.to_string());
    if kafka.security_protocol.starts_with("sasl") {
        config
            .set("sasl.mechanism", &kafka.sasl_mechanism)
            .set("sasl.username", &kafka.sasl_username)
            .set(
                "sasl.password",
                std::env::var(SASL_PASSWORD_ENV).unwrap_or_default(),
            );
    }
    config
}
