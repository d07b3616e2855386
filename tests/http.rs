//! The HTTP edge of `unitrack run` against the real stack: health and readiness, the
//! Prometheus page moving with the work, DHL push (credentials, limits, malformed bodies,
//! and a push that ends as a status change), and package lookup.

mod support;

use std::time::Duration;
use support::{Running, consume_until, decode_changes, produce, stack, unique_config};
use unitrack::config::Config;

const TOKEN: &str = "test-push-token-0123456789";

fn url(config: &Config, path: &str) -> String {
    format!("http://{}{path}", config.http.listen)
}

/// Parses the Prometheus text exposition strictly enough to fail on a malformed page:
/// every line is a comment (`# HELP`/`# TYPE`) or `name{labels} value`.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
                return None;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {line}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name in {line}"
            );
            if name_end < series.len() {
                assert!(series.ends_with('}'), "unclosed labels in {line}");
            }
            Some((series.to_owned(), value))
        })
        .collect()
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or(0.0)
}

fn total(samples: &[(String, f64)], prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(s, _)| s.starts_with(prefix))
        .map(|(_, v)| *v)
        .sum()
}

async fn metrics(client: &reqwest::Client, config: &Config) -> Vec<(String, f64)> {
    let response = client
        .get(url(config, "/metrics"))
        .send()
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").cloned();
    assert!(
        content_type.is_some_and(|t| t.to_str().unwrap_or_default().starts_with("text/plain")),
        "Prometheus text format"
    );
    parse_metrics(&response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_that_move_with_the_work() {
    let stack = stack();
    let config = unique_config(&stack, true);
    let running = Running::start(&config);
    let client = reqwest::Client::new();
    support::wait_ready(&config).await;
    let health = client
        .get(url(&config, "/healthz"))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.expect("JSON");
    assert_eq!(body["alive"], true);
    assert_eq!(body["stages"].as_array().map(Vec::len), Some(2));

    let before = metrics(&client, &config).await;
    let body = std::fs::read(format!(
        "{}/tests/fixtures/carriers/dhl/return_flag_returned_to_sender.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let malformed = b"{ not json".to_vec();
    produce(
        &stack.bootstrap,
        &config.raw_topic("dhl"),
        &[(None, body), (None, malformed)],
    )
    .await;
    consume_until(
        &stack.bootstrap,
        &config.topics.status_changed,
        Duration::from_secs(45),
        |r| !r.is_empty(),
    );
    consume_until(
        &stack.bootstrap,
        &config.topics.dlq,
        Duration::from_secs(45),
        |r| !r.is_empty(),
    );
    let after = metrics(&client, &config).await;

    let consumed = "unitrack_records_consumed_total{stage=\"normalise\"}";
    assert!(sample(&after, consumed) >= sample(&before, consumed) + 2.0);
    let changed = "unitrack_status_changes_total{carrier=\"dhl\",status=\"RETURNED_TO_SENDER\"}";
    assert!(sample(&after, changed) >= sample(&before, changed) + 1.0);
    let dead = "unitrack_dead_letter_total{reason=\"syntax\",stage=\"normalise\"}";
    assert!(sample(&after, dead) >= sample(&before, dead) + 1.0);
    assert!(total(&after, "unitrack_commits_total") > total(&before, "unitrack_commits_total"));
    assert!(
        sample(
            &after,
            "unitrack_processing_latency_seconds_count{stage=\"fold\"}"
        ) >= 1.0
    );
    assert!(
        total(&after, "unitrack_events_mapped_total")
            > total(&before, "unitrack_events_mapped_total")
    );
    // Gauges are per process; other tests in this process move them too: only check presence.
    assert!(
        after
            .iter()
            .any(|(s, _)| s == "unitrack_assigned_partitions{stage=\"fold\"}")
    );
    assert!(after.iter().any(|(s, _)| s == "unitrack_packages_in_state"));
    running.stop().await;
}

fn push_config(stack: &support::Stack) -> Config {
    let base = unique_config(stack, true);
    let mut env = support::config_env(&base);
    env.push(("UNITRACK__HTTP__PUSH_CARRIERS".to_owned(), "dhl".to_owned()));
    env.push((
        "UNITRACK__HTTP__PUSH_MAX_BODY_BYTES".to_owned(),
        "8192".to_owned(),
    ));
    env.push(("UNITRACK_PUSH_TOKEN_DHL".to_owned(), TOKEN.to_owned()));
    Config::load_with_env(None, env).expect("valid push configuration")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhl_push_checks_credentials_size_and_shape_and_ends_as_a_status_change() {
    let stack = stack();
    let mut config = push_config(&stack);
    // Timers on, for the lookup's next timer, but no sweep during the test (the body's
    // 2024 date would expire the package).
    config.timers.enabled = true;
    config.timers.sweep_interval_ms = 3_600_000;
    let running = Running::start(&config);
    let client = reqwest::Client::new();
    support::wait_ready(&config).await;
    let push = url(&config, "/push/dhl");
    let header = config.http.push_header.clone();
    let body = std::fs::read(format!(
        "{}/tests/fixtures/carriers/dhl/push_single_shipment_damaged.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");

    let missing = client
        .post(&push)
        .body(body.clone())
        .send()
        .await
        .expect("answers");
    assert_eq!(missing.status(), 401);
    let wrong = client
        .post(&push)
        .header(&header, "nope")
        .body(body.clone())
        .send()
        .await
        .expect("answers");
    assert_eq!(wrong.status(), 401);
    let error: serde_json::Value = wrong.json().await.expect("JSON error body");
    assert_eq!(error["error"], "unauthorized");

    let oversize = vec![b' '; 9000];
    let too_large = client
        .post(&push)
        .header(&header, TOKEN)
        .body(oversize)
        .send()
        .await
        .expect("answers");
    assert_eq!(too_large.status(), 413);
    let malformed = client
        .post(&push)
        .header(&header, TOKEN)
        .body("{\"shipments\": [")
        .send()
        .await
        .expect("answers");
    assert_eq!(malformed.status(), 400);
    let error: serde_json::Value = malformed.json().await.expect("JSON error body");
    assert_eq!(error["error"], "malformed");
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not parseable")
    );
    let other = client
        .post(url(&config, "/push/gls"))
        .header(&header, TOKEN)
        .body("{}")
        .send()
        .await
        .expect("answers");
    assert_eq!(other.status(), 404);

    let accepted = client
        .post(&push)
        .header(&header, TOKEN)
        .body(body.clone())
        .send()
        .await
        .expect("answers");
    assert_eq!(accepted.status(), 202);
    let receipt: serde_json::Value = accepted.json().await.expect("JSON");
    assert_eq!(receipt["topic"], config.raw_topic("dhl"));

    // Durable before 202: the raw record is there, verbatim, keyed by tracking number.
    let raw = consume_until(
        &stack.bootstrap,
        &config.raw_topic("dhl"),
        Duration::from_secs(30),
        |r| !r.is_empty(),
    );
    assert_eq!(raw.len(), 1, "only the accepted push was written");
    assert_eq!(raw[0].value.as_deref(), Some(body.as_slice()));
    let changes = consume_until(
        &stack.bootstrap,
        &config.topics.status_changed,
        Duration::from_secs(45),
        |r| !r.is_empty(),
    );
    let changes = decode_changes(&stack.registry, &changes).await;
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert_eq!(
        raw[0].key.as_deref(),
        Some(change.tracking_number.as_bytes())
    );
    assert_eq!(change.status.as_str(), "EXCEPTION");
    assert_eq!(change.sub_status.as_deref(), Some("damaged"));

    // Lookup of the pushed package, an unknown one and a bad one.
    let lookup = client
        .get(url(
            &config,
            &format!("/packages/dhl/{}", change.tracking_number),
        ))
        .send()
        .await
        .expect("answers");
    assert_eq!(lookup.status(), 200);
    let package: serde_json::Value = lookup.json().await.expect("JSON");
    assert_eq!(package["package"], change.package_key.to_string());
    assert_eq!(package["status"], "EXCEPTION");
    assert_eq!(package["sub_status"], "damaged");
    assert_eq!(package["changes"], 1);
    // Nothing came since the damage scan: it stalls 6 days after it, if nothing comes.
    let stalls_at = chrono::DateTime::from_timestamp_millis(change.occurred_at + 6 * 86_400_000)
        .expect("valid")
        .to_rfc3339();
    assert_eq!(
        package["next_timer"],
        serde_json::json!({
            "status": "STALLED",
            "sub_status": "no_progress",
            "due_at": stalls_at,
            "quiet_since": chrono::DateTime::from_timestamp_millis(change.occurred_at)
                .expect("valid")
                .to_rfc3339(),
        })
    );
    assert!(
        !package["events"]
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or(true)
    );
    let unknown = client
        .get(url(&config, "/packages/dhl/NOSUCHPACKAGE1"))
        .send()
        .await
        .expect("answers");
    assert_eq!(unknown.status(), 404);
    let bad = client
        .get(url(&config, "/packages/dhl/a%2Fb"))
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status(), 400);
    running.stop().await;
}
