//! `docker-compose.yml` and the Dockerfile cannot run here (no Docker engine), so these tests
//! parse them and check that the services, ports and unitrack's environment agree with
//! `config/`, and that the image is built as `dev/pgo` builds.

use serde_yaml::Value;
use std::path::Path;
use unitrack::config::Config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml"))
        .expect("docker-compose.yml exists");
    serde_yaml::from_str(&text).expect("docker-compose.yml is YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose
        .get("services")
        .and_then(|services| services.get(name))
        .unwrap_or_else(|| panic!("service `{name}` is missing"))
}

/// The `host:container` port mappings of a service.
fn ports(service: &Value) -> Vec<(u16, u16)> {
    service
        .get("ports")
        .and_then(Value::as_sequence)
        .map(|ports| {
            ports
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|mapping| {
                    let (host, container) = mapping.split_once(':')?;
                    Some((host.parse().ok()?, container.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit(':')
        .next()
        .and_then(|port| {
            port.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no port in `{address}`"))
}

fn defaults() -> Config {
    Config::load_with_env(None, Vec::new()).expect("defaults are valid")
}

#[test]
fn compose_has_kafka_a_registry_unitrack_and_prometheus() {
    let compose = compose();
    let kafka = service(&compose, "kafka");
    assert!(
        kafka["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("apache/kafka:")
    );
    let registry = service(&compose, "schema-registry");
    let image = registry["image"].as_str().unwrap_or_default();
    assert!(
        image.starts_with("apicurio/") || image.starts_with("confluentinc/"),
        "{image}"
    );
    assert!(
        service(&compose, "unitrack").get("build").is_some(),
        "unitrack is built from the Dockerfile"
    );
    assert!(root().join("Dockerfile").exists());
    service(&compose, "prometheus");
}

#[test]
fn host_ports_match_the_default_configuration() {
    let compose = compose();
    let config = defaults();
    let kafka_port = port_of(&config.kafka.bootstrap_servers);
    assert!(
        ports(service(&compose, "kafka"))
            .iter()
            .any(|(host, _)| *host == kafka_port)
    );
    let registry_port = port_of(
        config
            .schema_registry
            .url
            .trim_end_matches("/apis/ccompat/v7"),
    );
    assert!(
        ports(service(&compose, "schema-registry"))
            .iter()
            .any(|(host, _)| *host == registry_port)
    );
    let http_port = port_of(&config.http.listen);
    assert!(
        ports(service(&compose, "unitrack"))
            .iter()
            .any(|(host, _)| *host == http_port)
    );
}

#[test]
fn unitrack_environment_is_valid_configuration_pointing_at_the_compose_services() {
    let compose = compose();
    let unitrack = service(&compose, "unitrack");
    let env: Vec<(String, String)> = unitrack["environment"]
        .as_mapping()
        .expect("environment is a mapping")
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            };
            (k.as_str().unwrap_or_default().to_owned(), value)
        })
        .collect();
    assert!(
        env.iter().all(|(k, _)| k.starts_with("UNITRACK__")),
        "{env:?}"
    );
    let config =
        Config::load_with_env(None, env).expect("compose environment is valid configuration");

    let (kafka_host, kafka_port) = config
        .kafka
        .bootstrap_servers
        .split_once(':')
        .expect("host:port");
    assert_eq!(kafka_host, "kafka");
    let kafka = service(&compose, "kafka");
    let listeners = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap_or_default();
    assert!(
        listeners.contains(&format!("kafka:{kafka_port}")),
        "{listeners}"
    );

    let registry = config.schema_registry.url.trim_start_matches("http://");
    let (registry_host, rest) = registry.split_once(':').expect("host:port");
    assert_eq!(registry_host, "schema-registry");
    let registry_port = port_of(rest.split('/').next().unwrap_or_default());
    assert!(
        ports(service(&compose, "schema-registry"))
            .iter()
            .any(|(_, inside)| *inside == registry_port)
    );
    assert!(config.schema_registry.url.ends_with("/apis/ccompat/v7"));

    let http_port = port_of(&config.http.listen);
    assert!(
        ports(unitrack)
            .iter()
            .any(|(_, inside)| *inside == http_port)
    );
    let prometheus =
        std::fs::read_to_string(root().join("dev/prometheus.yml")).expect("prometheus config");
    assert!(
        prometheus.contains(&format!("unitrack:{http_port}")),
        "Prometheus scrapes unitrack's port"
    );
}

#[test]
fn compose_creates_every_topic_unitrack_uses_with_the_configured_partitions() {
    let compose = compose();
    let topics = serde_yaml::to_string(service(&compose, "topics")).expect("serialisable");
    let config = defaults();
    for (key, name) in config.topic_names() {
        assert!(
            topics.contains(&name),
            "topic {key} `{name}` is not created by compose"
        );
    }
    assert!(topics.contains(&format!("--partitions {}", config.topics.partitions)));
    assert!(topics.contains("cleanup.policy=compact"));
}

/// The alert rules Prometheus loads (`dev/alerts.yml`, mounted by the compose file) name only
/// metrics unitrack exports: each one, with every metric touched once, is in `/metrics`.
#[test]
fn alert_rules_name_only_metrics_unitrack_exports() {
    let text = std::fs::read_to_string(root().join("dev/alerts.yml")).expect("alert rules");
    let rules: Value = serde_yaml::from_str(&text).expect("alert rules are YAML");
    let prometheus =
        std::fs::read_to_string(root().join("dev/prometheus.yml")).expect("prometheus config");
    assert!(
        prometheus.contains("/etc/prometheus/alerts.yml"),
        "rule file loaded"
    );
    let mounts = service(&compose(), "prometheus")["volumes"].clone();
    assert!(
        serde_yaml::to_string(&mounts)
            .unwrap_or_default()
            .contains("./dev/alerts.yml:/etc/prometheus/alerts.yml"),
        "{mounts:?}"
    );
    let m = unitrack::telemetry::metrics::metrics();
    m.consumed("s");
    m.mapped("c", 1, 1);
    m.skipped("c", 1);
    m.body_skipped("c");
    m.dead_lettered("s", "r");
    m.status_changed("c", "DELIVERED");
    m.timer_fired("STALLED");
    m.panicked("s", "record");
    m.command("accepted");
    m.push("c", "accepted");
    m.latency("s", 0.1);
    m.committed("s");
    m.aborted("s");
    m.rebalanced("s", "assign");
    m.assigned("s", 1);
    m.packages(1);
    m.packages_dropped(1);
    m.restored(0.1);
    m.lag("s", 1);
    let exported = m.render();
    let mut checked = 0;
    for rule in rules["groups"][0]["rules"].as_sequence().expect("rules") {
        let expr = rule["expr"].as_str().expect("expr");
        let names = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("unitrack_"));
        for name in names {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            assert!(
                exported.contains(&format!("# TYPE {family} ")),
                "alert {} names {name}, which unitrack does not export",
                rule["alert"].as_str().unwrap_or_default()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} metric names checked");
}

#[test]
fn the_image_is_the_profile_guided_build_with_what_it_trains_on() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let pgo = std::fs::read_to_string(root().join("dev/pgo")).expect("dev/pgo");
    assert!(dockerfile.contains("RUN dev/pgo build"), "{dockerfile}");
    // Where dev/pgo leaves the binary is where the image takes it from.
    assert!(pgo.contains(r#"dir="$ROOT/target/pgo""#), "{pgo}");
    assert!(pgo.contains(r#"--target-dir "$dir/use""#), "{pgo}");
    assert!(
        dockerfile.contains("COPY --from=build /src/target/pgo/use/release/unitrack "),
        "{dockerfile}"
    );
    // The build stage has what the training run reads: the benchmark and its fixtures.
    for copied in ["dev/pgo", "benches", "tests/fixtures", "src", "Cargo.lock"] {
        assert!(
            dockerfile
                .lines()
                .any(|line| line.starts_with("COPY ") && line.contains(copied)),
            "the Dockerfile does not copy {copied}"
        );
    }
}
