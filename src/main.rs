//! The `unitrack` command line: parse, load configuration, start logging, dispatch.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use unitrack::config::{Config, Stages};
use unitrack::replay::{self, Input};

/// mimalloc rather than glibc's malloc: the stage threads allocate and free per record
/// (bodies, events, Avro buffers), and with glibc that was about a fifth of their CPU time;
/// with mimalloc the end-to-end benchmark spends 20–22 instead of 23–24 µs of process CPU per
/// raw record (`benches/README.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One unified shipment status across all carriers.
#[derive(Debug, Parser)]
#[command(name = "unitrack", version, about)]
struct Cli {
    /// A TOML file layered over config/default.toml (environment variables win over both).
    #[arg(long, global = true, value_name = "FILE", env = "UNITRACK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Run the stream processor until SIGTERM or SIGINT.
    Run {
        /// Run only one stage (overrides processing.stages).
        #[arg(long, value_enum)]
        stage: Option<StageArg>,
    },
    /// Load and validate the configuration; report every problem.
    CheckConfig,
    /// Send an ops command and print the outcome it waited for.
    #[command(subcommand)]
    Command(OpsCommand),
    /// Map raw carrier bodies and fold them offline, without Kafka (JSON lines out).
    Replay {
        /// The carrier id whose mapper reads the bodies.
        #[arg(long)]
        carrier: String,
        /// The record key, for bodies without a tracking number (DPD).
        #[arg(long)]
        key: Option<String>,
        /// A record header, `name=value` (repeatable).
        #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_header)]
        headers: Vec<(String, String)>,
        /// After the last body, fire the STALLED/EXPIRED timers due at this instant
        /// (RFC 3339), with the configured thresholds, as `run` would have by then.
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// Raw bodies, one record each, processed in order (stdin when none).
        files: Vec<PathBuf>,
    },
}

/// The package a command is about.
#[derive(Debug, clap::Args)]
struct PackageArgs {
    /// Carrier id (dhl, dpd, gls, hermes, ups, fedex, dhl_parcel_de).
    #[arg(long)]
    carrier: String,
    /// Tracking number.
    #[arg(long)]
    tracking: String,
    /// Who sends the command.
    #[arg(long, env = "USER")]
    actor: String,
    /// Command id (default: a fresh one); re-sending an id is a no-op.
    #[arg(long)]
    id: Option<String>,
    /// Seconds to wait for the outcome.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

#[derive(Debug, Subcommand)]
enum OpsCommand {
    /// Link a package to a PlentyONE order; it starts as PENDING.
    Register {
        #[command(flatten)]
        package: PackageArgs,
        /// PlentyONE tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Order id.
        #[arg(long)]
        order_id: Option<String>,
        /// Order package id.
        #[arg(long)]
        package_id: Option<String>,
        /// outbound or return (a customer return label).
        #[arg(long, default_value = "outbound")]
        direction: String,
    },
    /// Set a status by hand (STATUS_MODEL rule 8).
    SetStatus {
        #[command(flatten)]
        package: PackageArgs,
        /// The status, e.g. RETURNED_TO_SENDER.
        #[arg(long)]
        status: String,
        /// The sub-code, e.g. received.
        #[arg(long)]
        sub_status: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Lock the status until cleared.
        #[arg(long, conflicts_with = "lock_until")]
        lock: bool,
        /// Lock the status until this time (RFC 3339).
        #[arg(long)]
        lock_until: Option<String>,
    },
    /// Clear a manual lock.
    ClearLock {
        #[command(flatten)]
        package: PackageArgs,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
}

impl OpsCommand {
    /// The command JSON, the record key and how long to wait.
    fn into_json(self) -> (serde_json::Value, String, u64) {
        let (package, mut json) = match self {
            OpsCommand::Register {
                package,
                tenant,
                order_id,
                package_id,
                direction,
            } => {
                let json = serde_json::json!({"type": "register", "tenant": tenant, "order_id": order_id,
                    "package_id": package_id, "direction": direction});
                (package, json)
            }
            OpsCommand::SetStatus {
                package,
                status,
                sub_status,
                reason,
                lock,
                lock_until,
            } => {
                let mut json =
                    serde_json::json!({"type": "set_status", "status": status, "reason": reason});
                if let Some(sub) = sub_status {
                    json["sub_status"] = sub.into();
                }
                if lock || lock_until.is_some() {
                    json["lock"] = match lock_until {
                        Some(until) => serde_json::json!({"until": until}),
                        None => serde_json::json!({}),
                    };
                }
                (package, json)
            }
            OpsCommand::ClearLock { package, reason } => (
                package,
                serde_json::json!({"type": "clear_lock", "reason": reason}),
            ),
        };
        json["id"] = package
            .id
            .unwrap_or_else(unitrack::ops::new_command_id)
            .into();
        json["carrier"] = package.carrier.clone().into();
        json["tracking_number"] = package.tracking.clone().into();
        json["actor"] = package.actor.into();
        let key = format!("{}:{}", package.carrier, package.tracking.to_uppercase());
        (json, key, package.wait)
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StageArg {
    All,
    Normalise,
    Fold,
}

fn parse_header(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("header `{value}` is not NAME=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("unitrack: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Action::CheckConfig => match Config::load(cli.config.as_deref()) {
            Ok(config) => {
                println!(
                    "configuration is valid: {} topics, {} carriers, brokers {}",
                    config.topic_names().len(),
                    config.carriers.enabled.len(),
                    config.kafka.bootstrap_servers
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("{error}");
                Ok(ExitCode::from(2))
            }
        },
        Action::Run { stage } => {
            let mut config = Config::load(cli.config.as_deref())?;
            if let Some(stage) = stage {
                config.processing.stages = match stage {
                    StageArg::All => Stages::All,
                    StageArg::Normalise => Stages::Normalise,
                    StageArg::Fold => Stages::Fold,
                };
            }
            unitrack::telemetry::init(&config.log);
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            let shutdown = {
                let _context = runtime.enter();
                shutdown_signal()
            };
            match runtime.block_on(unitrack::app::run(config, shutdown)) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(error) => {
                    eprintln!("unitrack: {error}");
                    Ok(ExitCode::from(error.exit_code()))
                }
            }
        }
        Action::Command(command) => {
            let config = Config::load(cli.config.as_deref())?;
            let (json, key, wait) = command.into_json();
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            let outcome = runtime.block_on(unitrack::ops::send_and_wait(
                &config,
                &json,
                &key,
                std::time::Duration::from_secs(wait),
            ))?;
            println!("{outcome}");
            Ok(if outcome["outcome"] == "accepted" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Action::Replay {
            carrier,
            key,
            headers,
            now,
            files,
        } => {
            let Some(mapper) = unitrack::carriers::find(&carrier) else {
                let known: Vec<_> = unitrack::carriers::registry()
                    .iter()
                    .map(|c| c.id())
                    .collect();
                eprintln!(
                    "unitrack: unknown carrier `{carrier}` (known: {})",
                    known.join(", ")
                );
                return Ok(ExitCode::from(2));
            };
            let inputs = read_inputs(&files)?;
            let headers: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
                .collect();
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let clock = match now {
                Some(now) => {
                    let config = Config::load(cli.config.as_deref())?;
                    Some(replay::TimerClock {
                        now_ms: now.timestamp_millis(),
                        timers: config.timers.thresholds_for(&carrier),
                    })
                }
                None => None,
            };
            replay::replay_until(mapper, key.as_deref(), &headers, inputs, clock, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--now`: an RFC 3339 instant.
fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.to_utc())
        .map_err(|e| format!("`{text}` is not an RFC 3339 instant ({e})"))
}

fn read_inputs(files: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    if files.is_empty() {
        let mut payload = Vec::new();
        std::io::stdin()
            .read_to_end(&mut payload)
            .context("cannot read stdin")?;
        return Ok(vec![Input {
            name: "-".to_owned(),
            payload,
        }]);
    }
    files
        .iter()
        .map(|path| {
            let payload =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Input {
                name: path.display().to_string(),
                payload,
            })
        })
        .collect()
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled, so a signal during start-up is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
