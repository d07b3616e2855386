//! librdkafka client settings shared by every producer, consumer and admin client.

use crate::config::Config;
use rdkafka::ClientConfig;

/// The common client settings: brokers, client id, security, timeouts. The SASL password
/// comes from the configuration's secrets (the environment), and is never logged.
pub fn client_config(config: &Config) -> ClientConfig {
    let kafka = &config.kafka;
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", &kafka.client_id)
        .set("security.protocol", &kafka.security_protocol)
        .set("socket.timeout.ms", kafka.request_timeout_ms.to_string());
    if kafka.security_protocol.starts_with("sasl") {
        client
            .set("sasl.mechanism", &kafka.sasl_mechanism)
            .set("sasl.username", &kafka.sasl_username)
            .set(
                "sasl.password",
                config.secrets.sasl_password.clone().unwrap_or_default(),
            );
    }
    client
}
