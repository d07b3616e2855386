//! The `unitrack` command line: parse, load configuration, start logging, dispatch.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use unitrack::config::{Config, Stages};
use unitrack::replay::{self, Input};

/// One unified shipment status across all carriers.
#[derive(Debug, Parser)]
#[command(name = "unitrack", version, about)]
struct Cli {
    /// A TOML file layered over config/default.toml (environment variables win over both).
    #[arg(long, global = true, value_name = "FILE", env = "UNITRACK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the stream processor until SIGTERM or SIGINT.
    Run {
        /// Run only one stage (overrides processing.stages).
        #[arg(long, value_enum)]
        stage: Option<StageArg>,
    },
    /// Load and validate the configuration; report every problem.
    CheckConfig,
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
        /// Raw bodies, one record each, processed in order (stdin when none).
        files: Vec<PathBuf>,
    },
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
        Command::CheckConfig => match Config::load(cli.config.as_deref()) {
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
        Command::Run { stage } => {
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
        Command::Replay {
            carrier,
            key,
            headers,
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
            replay::replay(mapper, key.as_deref(), &headers, inputs, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
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
