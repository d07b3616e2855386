//! Typed configuration. `config/default.toml` (compiled in) documents every option with
//! its default; `--config FILE` layers a file on top; environment variables with the
//! prefix `UNITRACK__` and `__` between levels override any key
//! (`UNITRACK__KAFKA__BOOTSTRAP_SERVERS`). Secrets come only from the environment.

use serde::Deserialize;
use std::path::Path;

/// The defaults, exactly the file shipped in `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Environment variable holding the SASL password (never read from files).
pub const SASL_PASSWORD_ENV: &str = "UNITRACK_KAFKA_SASL_PASSWORD";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Broker connection.
    pub kafka: KafkaConfig,
    /// Schema registry.
    pub schema_registry: SchemaRegistryConfig,
    /// Topic names and creation settings.
    pub topics: TopicsConfig,
    /// Processing stages and delivery guarantees.
    pub processing: ProcessingConfig,
    /// Which carriers to read.
    pub carriers: CarriersConfig,
    /// The `STALLED` and `EXPIRED` timers.
    pub timers: TimersConfig,
    /// The fold's per-package state.
    pub state: StateConfig,
    /// Logging.
    pub log: LogConfig,
    /// The HTTP server.
    pub http: HttpConfig,
    /// Secrets, read only from the environment, never from files and never logged.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// Secrets from the environment. `Debug` shows which are set, never their values.
#[derive(Clone, Default, PartialEq)]
pub struct Secrets {
    /// `UNITRACK_KAFKA_SASL_PASSWORD`.
    pub sasl_password: Option<String>,
    /// Push tokens by carrier (`UNITRACK_PUSH_TOKEN_<CARRIER>`).
    pub push_tokens: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field(
                "sasl_password",
                &self.sasl_password.as_ref().map(|_| "<redacted>"),
            )
            .field("push_tokens", &self.push_tokens.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// Carriers accepted at `POST /push/<carrier>`.
    pub push_carriers: Vec<String>,
    /// Header carrying the push token.
    pub push_header: String,
    /// Largest push body, in bytes.
    pub push_max_body_bytes: usize,
    /// How long a push waits for Kafka, in milliseconds.
    pub push_kafka_timeout_ms: u64,
    /// History entries returned by a package lookup.
    pub lookup_events: usize,
}

/// The environment variable holding a carrier's push token.
pub fn push_token_env(carrier: &str) -> String {
    format!("UNITRACK_PUSH_TOKEN_{}", carrier.to_ascii_uppercase())
}

/// Broker connection settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Client id sent to the brokers.
    pub client_id: String,
    /// Consumer group of all instances of one deployment.
    pub group_id: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// SASL mechanism for `sasl_*` protocols.
    pub sasl_mechanism: String,
    /// SASL user name.
    pub sasl_username: String,
    /// Timeout of metadata and admin requests, in milliseconds.
    pub request_timeout_ms: u64,
    /// Consumer group session timeout, in milliseconds: how long a dead instance keeps
    /// its partitions before the group moves them.
    pub session_timeout_ms: u64,
}

/// Schema registry settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// Base URL of the Confluent-compatible API; empty = no registry.
    pub url: String,
}

/// Topic names and creation settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// Raw topics are `<raw_prefix><carrier>`.
    pub raw_prefix: String,
    /// Manual commands.
    pub commands: String,
    /// Command outcomes.
    pub command_outcomes: String,
    /// Unified events, keyed by package.
    pub events: String,
    /// Real status changes.
    pub status_changed: String,
    /// Dead-letter topic.
    pub dlq: String,
    /// Compacted per-package state changelog.
    pub state_changelog: String,
    /// Partitions of topics created by unitrack or `dev/stack`.
    pub partitions: i32,
    /// Replication factor of created topics.
    pub replication_factor: i32,
    /// Create missing topics at start.
    pub create_topics: bool,
}

/// Processing stages and delivery guarantees.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingConfig {
    /// Which stages this process runs.
    pub stages: Stages,
    /// Exactly-once or at-least-once.
    pub guarantee: Guarantee,
    /// Commit at least this often, in milliseconds.
    pub commit_interval_ms: u64,
    /// Commit at the latest after this many input records.
    pub commit_max_records: usize,
    /// Stable identity of this instance; empty = the host name.
    pub instance_id: String,
    /// Kafka transaction timeout, in milliseconds.
    pub transaction_timeout_ms: u64,
    /// How many ids of published carrier events normalise remembers, so as not to publish
    /// them again; 0 = none.
    pub published_window: usize,
}

impl ProcessingConfig {
    /// The instance id, or the host name when none is configured.
    pub fn instance_id(&self) -> String {
        if !self.instance_id.is_empty() {
            return self.instance_id.clone();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unitrack".to_owned())
    }
}

/// The stages a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stages {
    /// Both stages.
    All,
    /// Raw topics and commands to unified events.
    Normalise,
    /// Unified events to status changes.
    Fold,
}

impl Stages {
    /// Whether the normalise stage runs.
    pub fn normalise(self) -> bool {
        matches!(self, Stages::All | Stages::Normalise)
    }

    /// Whether the fold stage runs.
    pub fn fold(self) -> bool {
        matches!(self, Stages::All | Stages::Fold)
    }
}

/// Delivery guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Kafka transactions: output, changelog and offsets commit atomically.
    ExactlyOnce,
    /// Flush, then commit offsets: a crash may repeat output, never lose it.
    AtLeastOnce,
}

/// The `STALLED` and `EXPIRED` timers (STATUS_MODEL rule 10), run by the fold stage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersConfig {
    /// Whether the fold fires timers at all.
    pub enabled: bool,
    /// How often the fold looks for due timers, in milliseconds.
    pub sweep_interval_ms: u64,
    /// At most this many timers fire per sweep; the rest in the next sweeps.
    pub max_per_sweep: usize,
    /// Days without an update before `PENDING`/`INFO_RECEIVED` → `STALLED.not_handed_over`.
    pub not_handed_over_days: u32,
    /// Days before other non-terminal statuses → `STALLED.no_progress`.
    pub no_progress_days: u32,
    /// The same abroad or in customs.
    pub no_progress_international_days: u32,
    /// Days at a pickup point before `STALLED.pickup_overdue`.
    pub pickup_overdue_days: u32,
    /// Days before any non-terminal status → `EXPIRED`.
    pub expired_days: u32,
    /// Thresholds of one carrier that differ from the ones above, by carrier id.
    #[serde(default)]
    pub carriers: std::collections::BTreeMap<String, CarrierTimers>,
}

/// A carrier's own timer thresholds, in days; unset = the general one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierTimers {
    /// See [`TimersConfig::not_handed_over_days`].
    pub not_handed_over_days: Option<u32>,
    /// See [`TimersConfig::no_progress_days`].
    pub no_progress_days: Option<u32>,
    /// See [`TimersConfig::no_progress_international_days`].
    pub no_progress_international_days: Option<u32>,
    /// See [`TimersConfig::pickup_overdue_days`].
    pub pickup_overdue_days: Option<u32>,
    /// See [`TimersConfig::expired_days`].
    pub expired_days: Option<u32>,
}

impl TimersConfig {
    /// The general thresholds for the fold (0 days = that timer off; all off when disabled).
    pub fn thresholds(&self) -> crate::domain::Timers {
        self.thresholds_for("")
    }

    /// The thresholds for packages of `carrier`: its own where configured, else the general
    /// ones.
    pub fn thresholds_for(&self, carrier: &str) -> crate::domain::Timers {
        let own = self.carriers.get(carrier).cloned().unwrap_or_default();
        let after = |own: Option<u32>, general: u32| {
            let days = own.unwrap_or(general);
            (self.enabled && days > 0).then(|| i64::from(days) * crate::domain::DAY_MS)
        };
        crate::domain::Timers {
            not_handed_over: after(own.not_handed_over_days, self.not_handed_over_days),
            no_progress: after(own.no_progress_days, self.no_progress_days),
            no_progress_international: after(
                own.no_progress_international_days,
                self.no_progress_international_days,
            ),
            pickup_overdue: after(own.pickup_overdue_days, self.pickup_overdue_days),
            expired: after(own.expired_days, self.expired_days),
        }
    }
}

/// The fold's per-package state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Days a package's state is kept after its last update once its status is final
    /// (terminal, `EXPIRED` included); then it is dropped from memory and the changelog.
    /// 0 keeps every package for good.
    pub retention_days: u32,
}

impl StateConfig {
    /// The retention in milliseconds, if packages are dropped at all.
    pub fn retention_ms(&self) -> Option<i64> {
        (self.retention_days > 0).then(|| i64::from(self.retention_days) * crate::domain::DAY_MS)
    }
}

/// Carrier selection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarriersConfig {
    /// Carrier ids whose raw topics are read.
    pub enabled: Vec<String>,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// tracing `EnvFilter` directives.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Configuration that cannot be used; lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

const SECTIONS: [&str; 9] = [
    "kafka",
    "schema_registry",
    "topics",
    "processing",
    "timers",
    "state",
    "carriers",
    "log",
    "http",
];

impl Config {
    /// Loads defaults, then `file` if given, then `UNITRACK__` environment variables, and
    /// validates the result, reporting every problem at once.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Config::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
        }
        let overrides: config::Map<String, String> = env
            .iter()
            .filter(|(name, _)| name.starts_with("UNITRACK__"))
            .cloned()
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("UNITRACK")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("carriers.enabled")
                .with_list_parse_key("http.push_carriers")
                .source(Some(overrides)),
        );
        let merged = builder.build().map_err(|e| ConfigError {
            problems: vec![e.to_string()],
        })?;
        let mut config = Self::from_merged(&merged)?;
        let secret = |name: &str| {
            env.iter()
                .find(|(key, value)| key == name && !value.is_empty())
                .map(|(_, value)| value.clone())
        };
        config.secrets.sasl_password = secret(SASL_PASSWORD_ENV);
        let mut problems = config.validate(config.secrets.sasl_password.as_deref());
        for carrier in &config.http.push_carriers {
            let name = push_token_env(carrier);
            match secret(&name) {
                Some(token) => {
                    config.secrets.push_tokens.insert(carrier.clone(), token);
                }
                None => problems.push(format!(
                    "http.push_carriers names {carrier}: set its token in {name}"
                )),
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Deserialises section by section, so that a problem in one section does not hide
    /// the problems of the others.
    fn from_merged(merged: &config::Config) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        if let Ok(table) = merged
            .clone()
            .try_deserialize::<config::Map<String, config::Value>>()
        {
            for key in table.keys().filter(|key| !SECTIONS.contains(&key.as_str())) {
                problems.push(format!("unknown section or key `{key}`"));
            }
        }
        fn section<T: serde::de::DeserializeOwned>(
            merged: &config::Config,
            name: &str,
            problems: &mut Vec<String>,
        ) -> Option<T> {
            merged
                .get::<T>(name)
                .map_err(|e| problems.push(format!("[{name}] {e}")))
                .ok()
        }
        let kafka = section(merged, "kafka", &mut problems);
        let schema_registry = section(merged, "schema_registry", &mut problems);
        let topics = section(merged, "topics", &mut problems);
        let processing = section(merged, "processing", &mut problems);
        let carriers = section(merged, "carriers", &mut problems);
        let timers = section(merged, "timers", &mut problems);
        let state = section(merged, "state", &mut problems);
        let log = section(merged, "log", &mut problems);
        let http = section(merged, "http", &mut problems);
        match (
            kafka,
            schema_registry,
            topics,
            processing,
            carriers,
            timers,
            state,
            log,
            http,
        ) {
            (
                Some(kafka),
                Some(schema_registry),
                Some(topics),
                Some(processing),
                Some(carriers),
                Some(timers),
                Some(state),
                Some(log),
                Some(http),
            ) if problems.is_empty() => Ok(Self {
                kafka,
                schema_registry,
                topics,
                processing,
                carriers,
                timers,
                state,
                log,
                http,
                secrets: Secrets::default(),
            }),
            _ => Err(ConfigError { problems }),
        }
    }

    /// Every problem with the values, as one line each.
    pub fn validate(&self, sasl_password: Option<&str>) -> Vec<String> {
        let mut problems = Vec::new();
        let kafka = &self.kafka;
        if kafka
            .bootstrap_servers
            .split(',')
            .any(|s| !s.trim().contains(':'))
        {
            problems.push(format!(
                "kafka.bootstrap_servers `{}` must be a comma-separated host:port list",
                kafka.bootstrap_servers
            ));
        }
        for (name, value) in [
            ("kafka.client_id", &kafka.client_id),
            ("kafka.group_id", &kafka.group_id),
        ] {
            if value.trim().is_empty() {
                problems.push(format!("{name} must not be empty"));
            }
        }
        match kafka.security_protocol.as_str() {
            "plaintext" | "ssl" => {}
            "sasl_plaintext" | "sasl_ssl" => {
                if !matches!(
                    kafka.sasl_mechanism.as_str(),
                    "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
                ) {
                    problems.push(format!(
                        "kafka.sasl_mechanism `{}` must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with {}",
                        kafka.sasl_mechanism, kafka.security_protocol
                    ));
                }
                if kafka.sasl_username.is_empty() {
                    problems.push("kafka.sasl_username must be set for SASL".to_owned());
                }
                if sasl_password.is_none_or(str::is_empty) {
                    problems.push(format!("environment variable {SASL_PASSWORD_ENV} must be set for SASL"));
                }
            }
            other => problems.push(format!(
                "kafka.security_protocol `{other}` must be plaintext, ssl, sasl_plaintext or sasl_ssl"
            )),
        }
        if kafka.request_timeout_ms == 0 {
            problems.push("kafka.request_timeout_ms must be positive".to_owned());
        }
        let url = &self.schema_registry.url;
        let http = url.starts_with("http://") || url.starts_with("https://");
        if !url.is_empty() && !http {
            problems.push(format!(
                "schema_registry.url `{url}` must start with http:// or https:// (or be empty)"
            ));
        }
        let topics = &self.topics;
        let names = self.topic_names();
        for (key, name) in &names {
            if name.is_empty() {
                problems.push(format!("topics.{key} must not be empty"));
            } else if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                problems.push(format!(
                    "topics.{key} `{name}` holds characters Kafka does not allow"
                ));
            }
        }
        for (i, (key, name)) in names.iter().enumerate() {
            if let Some((other, _)) = names[..i].iter().find(|(_, n)| n == name) {
                problems.push(format!(
                    "topics.{key} and topics.{other} are the same topic `{name}`"
                ));
            }
        }
        if topics.partitions < 1 {
            problems.push("topics.partitions must be at least 1".to_owned());
        }
        if topics.replication_factor < 1 {
            problems.push("topics.replication_factor must be at least 1".to_owned());
        }
        let processing = &self.processing;
        if processing.commit_interval_ms == 0 {
            problems.push("processing.commit_interval_ms must be positive".to_owned());
        }
        if processing.commit_max_records == 0 {
            problems.push("processing.commit_max_records must be positive".to_owned());
        }
        if processing.transaction_timeout_ms < 1000 {
            problems.push("processing.transaction_timeout_ms must be at least 1000".to_owned());
        }
        if processing.commit_interval_ms >= processing.transaction_timeout_ms {
            problems.push(
                "processing.commit_interval_ms must be shorter than processing.transaction_timeout_ms".to_owned(),
            );
        }
        if !processing
            .instance_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            problems.push(format!(
                "processing.instance_id `{}` may hold only letters, digits, '.', '_' and '-'",
                processing.instance_id
            ));
        }
        if self.timers.sweep_interval_ms == 0 {
            problems.push("timers.sweep_interval_ms must be positive".to_owned());
        }
        if self.timers.max_per_sweep == 0 {
            problems.push("timers.max_per_sweep must be positive".to_owned());
        }
        for carrier in self.timers.carriers.keys() {
            if crate::carriers::find(carrier).is_none() {
                problems.push(format!("timers.carriers: unknown carrier `{carrier}`"));
            }
        }
        if self.carriers.enabled.is_empty() {
            problems.push("carriers.enabled must name at least one carrier".to_owned());
        }
        for carrier in &self.carriers.enabled {
            if crate::carriers::find(carrier).is_none() {
                let known: Vec<_> = crate::carriers::registry().iter().map(|c| c.id()).collect();
                problems.push(format!(
                    "carriers.enabled: unknown carrier `{carrier}` (known: {})",
                    known.join(", ")
                ));
            }
        }
        for carrier in &self.http.push_carriers {
            if !crate::http::PUSH_CARRIERS.contains(&carrier.as_str()) {
                problems.push(format!(
                    "http.push_carriers: no push endpoint for `{carrier}` (known: {})",
                    crate::http::PUSH_CARRIERS.join(", ")
                ));
            }
        }
        if self.http.push_header.trim().is_empty() {
            problems.push("http.push_header must not be empty".to_owned());
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "http.listen `{}` must be an ip:port address",
                self.http.listen
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            problems.push(format!("log.filter `{}`: {e}", self.log.filter));
        }
        problems
    }

    /// The topics unitrack uses, by configuration key (raw topics as `raw.<carrier>`).
    pub fn topic_names(&self) -> Vec<(String, String)> {
        let t = &self.topics;
        let mut names: Vec<(String, String)> = self
            .carriers
            .enabled
            .iter()
            .map(|carrier| (format!("raw.{carrier}"), self.raw_topic(carrier)))
            .collect();
        for (key, name) in [
            ("commands", &t.commands),
            ("command_outcomes", &t.command_outcomes),
            ("events", &t.events),
            ("status_changed", &t.status_changed),
            ("dlq", &t.dlq),
            ("state_changelog", &t.state_changelog),
        ] {
            names.push((key.to_owned(), name.clone()));
        }
        names
    }

    /// The raw topic of a carrier.
    pub fn raw_topic(&self, carrier: &str) -> String {
        format!("{}{carrier}", self.topics.raw_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load_and_point_at_the_local_stack() {
        let config = Config::load_with_env(None, env(&[])).expect("defaults are valid");
        assert_eq!(config.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(
            config.schema_registry.url,
            "http://127.0.0.1:8081/apis/ccompat/v7"
        );
        assert_eq!(config.raw_topic("dhl"), "tracking.raw.dhl");
        assert_eq!(config.log.format, LogFormat::Text);
    }

    #[test]
    fn timers_are_on_by_default_in_days_and_a_zero_or_disabled_timer_is_off() {
        let day = crate::domain::DAY_MS;
        let config = Config::load_with_env(None, env(&[])).expect("defaults are valid");
        let timers = config.timers.thresholds();
        assert_eq!(timers.no_progress, Some(6 * day));
        assert_eq!(timers.expired, Some(30 * day));
        let config = Config::load_with_env(None, env(&[("UNITRACK__TIMERS__EXPIRED_DAYS", "0")]))
            .expect("valid");
        assert_eq!(config.timers.thresholds().expired, None);
        assert_eq!(config.timers.thresholds().no_progress, Some(6 * day));
        let config = Config::load_with_env(None, env(&[("UNITRACK__TIMERS__ENABLED", "false")]))
            .expect("valid");
        assert_eq!(config.timers.thresholds(), crate::domain::Timers::default());
        let config = Config::load_with_env(
            None,
            env(&[(
                "UNITRACK__TIMERS__CARRIERS__HERMES__PICKUP_OVERDUE_DAYS",
                "9",
            )]),
        )
        .expect("valid");
        assert_eq!(
            config.timers.thresholds_for("hermes").pickup_overdue,
            Some(9 * day)
        );
        assert_eq!(
            config.timers.thresholds_for("hermes").no_progress,
            Some(6 * day),
            "the general threshold where the carrier sets none"
        );
        assert_eq!(
            config.timers.thresholds_for("dpd").pickup_overdue,
            Some(8 * day)
        );
        let error = Config::load_with_env(
            None,
            env(&[("UNITRACK__TIMERS__CARRIERS__POSTMAN__EXPIRED_DAYS", "9")]),
        )
        .expect_err("an unknown carrier is refused");
        assert!(error.to_string().contains("postman"), "{error}");
        let error =
            Config::load_with_env(None, env(&[("UNITRACK__TIMERS__SWEEP_INTERVAL_MS", "0")]))
                .expect_err("a zero interval is refused");
        assert!(
            error.to_string().contains("timers.sweep_interval_ms"),
            "{error}"
        );
    }

    #[test]
    fn final_packages_are_kept_90_days_by_default_and_0_keeps_them_for_good() {
        let config = Config::load_with_env(None, env(&[])).expect("defaults are valid");
        assert_eq!(
            config.state.retention_ms(),
            Some(90 * crate::domain::DAY_MS)
        );
        let config = Config::load_with_env(None, env(&[("UNITRACK__STATE__RETENTION_DAYS", "0")]))
            .expect("valid");
        assert_eq!(config.state.retention_ms(), None);
    }

    #[test]
    fn environment_overrides_any_key() {
        let config = Config::load_with_env(
            None,
            env(&[
                ("UNITRACK__KAFKA__BOOTSTRAP_SERVERS", "broker:29092"),
                ("UNITRACK__TOPICS__PARTITIONS", "12"),
                ("UNITRACK__CARRIERS__ENABLED", "dhl,gls"),
                ("UNITRACK__LOG__FORMAT", "json"),
                (
                    "UNITRACK_KAFKA__GROUP_ID",
                    "ignored: wrong prefix separator",
                ),
            ]),
        )
        .expect("valid");
        assert_eq!(config.kafka.bootstrap_servers, "broker:29092");
        assert_eq!(config.topics.partitions, 12);
        assert_eq!(config.carriers.enabled, vec!["dhl", "gls"]);
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.kafka.group_id, "unitrack");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let error = Config::load_with_env(
            None,
            env(&[
                ("UNITRACK__KAFKA__BOOTSTRAP_SERVERS", "nohostport"),
                ("UNITRACK__KAFKA__SECURITY_PROTOCOL", "sasl_ssl"),
                ("UNITRACK__TOPICS__PARTITIONS", "0"),
                ("UNITRACK__TOPICS__DLQ", "shipment.events"),
                ("UNITRACK__CARRIERS__ENABLED", "dhl,pigeon"),
            ]),
        )
        .expect_err("invalid");
        let all = error.problems.join("\n");
        for needle in [
            "bootstrap_servers",
            "sasl_mechanism",
            SASL_PASSWORD_ENV,
            "partitions",
            "same topic",
            "pigeon",
        ] {
            assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_types_are_problems_in_every_section() {
        let error = Config::load_with_env(
            None,
            env(&[
                (
                    "UNITRACK__KAFKA__SASL_PASSWORD",
                    "secret-in-the-wrong-place",
                ),
                ("UNITRACK__TOPICS__PARTITIONS", "many"),
                ("UNITRACK__LOG__FORMAT", "xml"),
            ]),
        )
        .expect_err("invalid");
        let all = error.problems.join("\n");
        assert!(
            all.contains("[kafka]") && all.contains("sasl_password"),
            "{all}"
        );
        assert!(all.contains("[topics]"), "{all}");
        assert!(all.contains("[log]"), "{all}");
        assert!(
            !all.contains("secret-in-the-wrong-place"),
            "secrets must not be echoed: {all}"
        );
    }

    #[test]
    fn sasl_password_comes_from_the_environment() {
        let config = Config::load_with_env(
            None,
            env(&[
                ("UNITRACK__KAFKA__SECURITY_PROTOCOL", "sasl_ssl"),
                ("UNITRACK__KAFKA__SASL_MECHANISM", "SCRAM-SHA-512"),
                ("UNITRACK__KAFKA__SASL_USERNAME", "unitrack"),
                (SASL_PASSWORD_ENV, "s3cret"),
            ]),
        );
        assert!(config.is_ok(), "{config:?}");
    }
}
