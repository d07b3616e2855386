//! `unitrack-bench`: the end-to-end benchmark against the local stack (`dev/stack up`).
//!
//! One run: produce a mixed workload of all seven carriers once to unique raw topics, then
//! from the same input, each with a fresh consumer group and fresh output topics:
//! (a) a plain rdkafka passthrough (the baseline), (b) unitrack at-least-once,
//! (c) unitrack exactly-once; then restore (c)'s state from its changelog; then, one system
//! at a time, end-to-end latency probes; and, in a child process, the resident memory per
//! package of the fold state. Prints a markdown table and writes it to `--out`.
//! `benches/README.md` describes the method.

/// The allocator of the `unitrack` binary, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod baseline;
mod cpu;
mod kafka;
mod latency;
mod memory;
mod report;
mod workload;

use anyhow::{Context, Result, bail};
use clap::Parser;
use rdkafka::producer::BaseRecord;
use report::{Machine, Report, Restore, Run};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use unitrack::config::{Config, Guarantee};

/// The end-to-end benchmark of unitrack against the local Kafka stack.
#[derive(Debug, Parser)]
#[command(name = "unitrack-bench", version)]
struct Args {
    /// Raw records in the workload.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Packages the records are about.
    #[arg(long, default_value_t = 40_000)]
    packages: u64,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Where to write the table.
    #[arg(long, default_value = "benches/results/latest.md")]
    out: PathBuf,
    /// Packages in state for the memory figure (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    memory_packages: u64,
    /// Latency probes per second.
    #[arg(long, default_value_t = 200)]
    probe_rate: u64,
    /// Seconds of latency probes per system (0 skips latency).
    #[arg(long, default_value_t = 10)]
    probe_seconds: u64,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Confluent-compatible schema registry API.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    registry: String,
    /// Repetitions of each run (interleaved: passthrough, alo, eos, passthrough, ...); the
    /// table shows the median one, the notes every one.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Which runs to make: any of passthrough, alo, eos (restore needs eos).
    #[arg(long, value_delimiter = ',', default_value = "passthrough,alo,eos")]
    runs: Vec<String>,
    /// Leave the benchmark's topics on the broker (they are deleted by default).
    #[arg(long)]
    keep_topics: bool,
    /// Internal: build the state of this many packages and print the memory it takes.
    #[arg(long, hide = true)]
    memory_probe: Option<u64>,
}

/// How long one run may take before the benchmark gives up.
const RUN_TIMEOUT: Duration = Duration::from_secs(1800);

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(packages) = args.memory_probe {
        let memory = memory::measure(packages, args.partitions.max(1) as u32)?;
        println!("{}", serde_json::to_string(&memory)?);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut bench = Bench::new(args, runtime);
    let result = bench.run();
    bench.clean_up();
    let report = result?;
    let markdown = report.markdown();
    println!("\n{markdown}");
    if let Some(dir) = bench.args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&bench.args.out, &markdown)
        .with_context(|| format!("writing {}", bench.args.out.display()))?;
    eprintln!("unitrack-bench: wrote {}", bench.args.out.display());
    Ok(())
}

/// The run with the median rate (the lower of the two middle ones), with every
/// repetition's rate attached.
fn median_run(mut runs: Vec<Run>) -> Option<Run> {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let rates: Vec<f64> = runs.iter().map(Run::rate).collect();
    let mut run = runs.into_iter().nth(rates.len().saturating_sub(1) / 2)?;
    run.rates = rates;
    Some(run)
}

/// The restore with the median duration.
fn median_restore(mut restores: Vec<Restore>) -> Option<Restore> {
    restores.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let seconds: Vec<f64> = restores.iter().map(|r| r.seconds).collect();
    let mut restore = restores
        .into_iter()
        .nth(seconds.len().saturating_sub(1) / 2)?;
    restore.all_seconds = seconds;
    Some(restore)
}

fn say(what: impl std::fmt::Display) {
    eprintln!("unitrack-bench: {what}");
}

struct Bench {
    args: Args,
    runtime: tokio::runtime::Runtime,
    id: String,
    raw_prefix: String,
    /// Every topic created, for the clean-up.
    topics: Vec<String>,
    /// Every consumer group used, for the clean-up.
    groups: Vec<String>,
    /// The broker's pid, for its CPU time.
    broker: Option<String>,
}

impl Bench {
    fn new(args: Args, runtime: tokio::runtime::Runtime) -> Self {
        let id = format!(
            "unitrack-bench-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp()
        );
        let raw_prefix = format!("{id}.raw.");
        Self {
            runtime,
            id,
            broker: cpu::broker_pid(&args.bootstrap),
            raw_prefix,
            topics: Vec::new(),
            groups: Vec::new(),
            args,
        }
    }

    fn raw_topics(&self) -> Vec<String> {
        workload::carriers()
            .map(|c| format!("{}{c}", self.raw_prefix))
            .collect()
    }

    fn run(&mut self) -> Result<Report> {
        let mut machine = Machine::now();
        let memory = match self.args.memory_packages {
            0 => None,
            packages => {
                say(format!(
                    "memory: folding {packages} packages in a child process"
                ));
                let memory = memory::in_child(packages, self.args.partitions as u32)?;
                say(format!(
                    "memory: {:.0} bytes/package",
                    memory.bytes_per_package()
                ));
                Some(memory)
            }
        };
        self.produce_workload()?;
        let raw_ends = kafka::ends(&self.args.bootstrap, &self.raw_topics())?;
        let records: i64 = raw_ends.values().sum();
        say(format!("{records} raw records in the input topics"));

        let wants = |run: &str| self.args.runs.iter().any(|r| r == run);
        let (want_passthrough, want_alo, want_eos) =
            (wants("passthrough"), wants("alo"), wants("eos"));
        let repeat = self.args.repeat.max(1);
        let (mut passthroughs, mut alos, mut eoss, mut restores) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut passthrough, mut alo, mut eos) = (None, None, None);
        for round in 0..repeat {
            let created = self.topics.len();
            if want_passthrough {
                let group = format!("{}-passthrough{round}", self.id);
                self.groups.push(group.clone());
                let output = format!("{}.passthrough{round}", self.id);
                passthroughs.push(self.passthrough(&group, &output, &raw_ends)?);
                passthrough = Some((group, output));
            }
            if want_alo {
                let config = self.config(&format!("alo{round}"), Guarantee::AtLeastOnce)?;
                alos.push(self.unitrack(&config, "unitrack at-least-once", &raw_ends)?);
                alo = Some(config);
            }
            if want_eos {
                let config = self.config(&format!("eos{round}"), Guarantee::ExactlyOnce)?;
                eoss.push(self.unitrack(&config, "unitrack exactly-once", &raw_ends)?);
                restores.push(self.restore(&config)?);
                eos = Some(config);
            }
            if round + 1 < repeat {
                // Keep the broker small: only the last round's outputs are needed later.
                self.drop_topics(created);
            }
        }
        let mut runs: Vec<Run> = [passthroughs, alos, eoss]
            .into_iter()
            .filter_map(median_run)
            .collect();
        let restore = median_restore(restores);
        if self.args.probe_seconds > 0 {
            for run in &mut runs {
                run.latency = Some(if run.name.starts_with("passthrough") {
                    let Some((group, output)) = &passthrough else {
                        continue;
                    };
                    self.passthrough_latency(group, output)?
                } else if run.name.ends_with("at-least-once") {
                    let Some(config) = &alo else { continue };
                    self.unitrack_latency(config, 600_000_000)?
                } else {
                    let Some(config) = &eos else { continue };
                    self.unitrack_latency(config, 700_000_000)?
                });
            }
        }
        machine.load.1 = report::load();
        Ok(Report {
            machine,
            workload: format!(
                "{} raw records over {} packages, all seven carriers in equal shares (bodies from {}, \
                 tracking numbers and dates substituted), several polls per package revealing its \
                 history, about 1 in 6 polls re-sent unchanged (duplicates), 1 in 4 packages with \
                 an older event revealed after a newer one (late); {} partitions per topic.",
                self.args.records,
                self.args.packages,
                workload::sources(),
                self.args.partitions
            ),
            runs,
            restore,
            memory,
        })
    }

    fn produce_workload(&mut self) -> Result<()> {
        let topics: Vec<(String, i32, bool)> = self
            .raw_topics()
            .into_iter()
            .map(|t| (t, self.args.partitions, false))
            .collect();
        self.create(&topics)?;
        let producer = kafka::producer(&self.args.bootstrap, 20)?;
        let shape = workload::Shape {
            records: self.args.records,
            packages: self.args.packages,
        };
        let started = Instant::now();
        let mut bytes = 0u64;
        for (i, record) in workload::records(shape).enumerate() {
            let topic = format!("{}{}", self.raw_prefix, record.carrier);
            bytes += record.body.len() as u64;
            kafka::send(
                &producer,
                BaseRecord::to(&topic)
                    .key(record.key.as_slice())
                    .payload(record.body.as_slice()),
            )?;
            if i % 1000 == 0 {
                producer.poll(Duration::ZERO);
            }
        }
        kafka::flush(&producer)?;
        say(format!(
            "produced {} raw records ({:.0} MB of bodies) in {:.1}s",
            self.args.records,
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    fn create(&mut self, topics: &[(String, i32, bool)]) -> Result<()> {
        self.topics.extend(topics.iter().map(|(t, _, _)| t.clone()));
        kafka::create_topics(&self.runtime, &self.args.bootstrap, topics)
    }

    /// Deletes the topics created since `self.topics[created]`.
    fn drop_topics(&mut self, created: usize) {
        let topics = self.topics.split_off(created);
        if self.args.keep_topics {
            self.topics.extend(topics);
        } else if let Err(e) = kafka::delete_topics(&self.runtime, &self.args.bootstrap, &topics) {
            say(format!("deleting topics failed: {e}"));
        }
    }

    fn clean_up(&self) {
        if self.args.keep_topics {
            return;
        }
        if let Err(e) = kafka::delete_topics(&self.runtime, &self.args.bootstrap, &self.topics) {
            say(format!("deleting the topics failed: {e}"));
        }
        if let Err(e) = kafka::delete_groups(&self.runtime, &self.args.bootstrap, &self.groups) {
            say(format!("deleting the consumer groups failed: {e}"));
        }
    }

    /// The configuration of one unitrack run: the shared raw topics, its own group and
    /// output topics.
    fn config(&mut self, name: &str, guarantee: Guarantee) -> Result<Config> {
        let id = format!("{}-{name}", self.id);
        let guarantee = match guarantee {
            Guarantee::ExactlyOnce => "exactly_once",
            Guarantee::AtLeastOnce => "at_least_once",
        };
        let env = [
            (
                "UNITRACK__KAFKA__BOOTSTRAP_SERVERS",
                self.args.bootstrap.clone(),
            ),
            ("UNITRACK__KAFKA__GROUP_ID", id.clone()),
            ("UNITRACK__SCHEMA_REGISTRY__URL", self.args.registry.clone()),
            ("UNITRACK__TOPICS__RAW_PREFIX", self.raw_prefix.clone()),
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
            (
                "UNITRACK__TOPICS__PARTITIONS",
                self.args.partitions.to_string(),
            ),
            ("UNITRACK__TOPICS__CREATE_TOPICS", "true".to_owned()),
            ("UNITRACK__PROCESSING__GUARANTEE", guarantee.to_owned()),
            ("UNITRACK__PROCESSING__INSTANCE_ID", id.clone()),
            // The workload's bodies carry 2024 dates: with timers every package would
            // expire at the first sweep, and the retention would drop the delivered ones.
            // The benchmark measures the carrier path.
            ("UNITRACK__TIMERS__ENABLED", "false".to_owned()),
            ("UNITRACK__STATE__RETENTION_DAYS", "0".to_owned()),
            (
                "UNITRACK__LOG__FILTER",
                "warn,librdkafka=error,rdkafka=error".to_owned(),
            ),
        ];
        let config = Config::load_with_env(None, env.map(|(k, v)| (k.to_owned(), v)))?;
        self.groups
            .extend(["normalise", "fold", "restore"].map(|stage| format!("{id}-{stage}")));
        let raw: Vec<String> = self.raw_topics();
        self.topics.extend(
            config
                .topic_names()
                .into_iter()
                .map(|(_, name)| name)
                .filter(|name| !raw.contains(name)),
        );
        unitrack::telemetry::init(&config.log);
        Ok(config)
    }

    fn passthrough(&mut self, group: &str, output: &str, raw_ends: &kafka::Offsets) -> Result<Run> {
        say("passthrough: BaseConsumer → BaseProducer copy");
        self.create(&[(output.to_owned(), self.args.partitions, false)])?;
        let progress = kafka::Progress::new(&self.args.bootstrap, group, raw_ends.clone())?;
        let started_ms = kafka::now_ms();
        let meter = cpu::Meter::start(self.broker.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let handle = self.spawn_passthrough(group, output, &stop);
        let done = progress.wait(RUN_TIMEOUT, "passthrough");
        let cpu = meter.usage();
        stop.store(true, Ordering::Relaxed);
        let copied = handle
            .join()
            .map_err(|_| anyhow::anyhow!("passthrough panicked"))??;
        let done_ms = done?;
        let contents = kafka::contents(&self.args.bootstrap, output)?;
        let records: i64 = raw_ends.values().sum();
        if contents.records < records as u64 || copied < records as u64 {
            bail!("passthrough copied {copied} records, expected {records}");
        }
        let run = Run {
            name: "passthrough (rdkafka BaseConsumer → BaseProducer)".to_owned(),
            records: records as u64,
            processing_s: (done_ms - contents.first_ms.unwrap_or_default() as f64) / 1000.0,
            wall_s: (done_ms - started_ms) / 1000.0,
            cpu,
            ..Run::default()
        };
        say(format!("passthrough: {:.0} records/s", run.rate()));
        Ok(run)
    }

    fn spawn_passthrough(
        &self,
        group: &str,
        output: &str,
        stop: &Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<Result<u64>> {
        let (bootstrap, group, output) = (
            self.args.bootstrap.clone(),
            group.to_owned(),
            output.to_owned(),
        );
        let inputs = self.raw_topics();
        let stop = stop.clone();
        std::thread::spawn(move || {
            baseline::passthrough(&bootstrap, &group, &inputs, &output, &stop)
        })
    }

    fn passthrough_latency(&mut self, group: &str, output: &str) -> Result<latency::Latency> {
        say("latency: passthrough");
        let stop = Arc::new(AtomicBool::new(false));
        let handle = self.spawn_passthrough(group, output, &stop);
        let result = latency::measure(
            &self.args.bootstrap,
            &self.raw_prefix,
            output,
            latency::raw_key,
            500_000_000,
            self.args.probe_rate,
            self.args.probe_seconds,
        );
        stop.store(true, Ordering::Relaxed);
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("passthrough panicked"))??;
        result
    }

    /// Starts unitrack in-process; the returned sender stops it.
    fn start(
        &self,
        config: &Config,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), unitrack::app::AppError>>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = self
            .runtime
            .spawn(unitrack::app::run(config.clone(), async move {
                let _ = stopped.await;
            }));
        (stop, handle)
    }

    fn stop(
        &self,
        stop: tokio::sync::oneshot::Sender<()>,
        handle: tokio::task::JoinHandle<Result<(), unitrack::app::AppError>>,
    ) -> Result<()> {
        let _ = stop.send(());
        self.runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(120), handle).await })
            .context("unitrack did not stop in time")???;
        Ok(())
    }

    fn unitrack(&mut self, config: &Config, name: &str, raw_ends: &kafka::Offsets) -> Result<Run> {
        say(format!("{name}: normalise + fold in-process"));
        let bootstrap = self.args.bootstrap.clone();
        let group = &config.kafka.group_id;
        let normalise =
            kafka::Progress::new(&bootstrap, &format!("{group}-normalise"), raw_ends.clone())?;
        let started_ms = kafka::now_ms();
        let meter = cpu::Meter::start(self.broker.clone());
        let (stop, handle) = self.start(config);
        let measured = (|| -> Result<f64> {
            normalise.wait(RUN_TIMEOUT, "normalise")?;
            let events_ends = kafka::ends(&bootstrap, std::slice::from_ref(&config.topics.events))?;
            let fold = kafka::Progress::new(&bootstrap, &format!("{group}-fold"), events_ends)?;
            fold.wait(RUN_TIMEOUT, "fold")
        })();
        let cpu = meter.usage();
        self.stop(stop, handle)?;
        let done_ms = measured?;
        let topics = &config.topics;
        let events = kafka::contents(&bootstrap, &topics.events)?;
        let count = |topic: &str| kafka::contents(&bootstrap, topic).map(|c| c.records);
        let records: i64 = raw_ends.values().sum();
        let run = Run {
            name: name.to_owned(),
            records: records as u64,
            processing_s: (done_ms - events.first_ms.unwrap_or_default() as f64) / 1000.0,
            wall_s: (done_ms - started_ms) / 1000.0,
            events: Some(events.records),
            changes: Some(count(&topics.status_changed)?),
            changelog: Some(count(&topics.state_changelog)?),
            dlq: Some(count(&topics.dlq)?),
            latency: None,
            cpu,
            rates: Vec::new(),
        };
        say(format!(
            "{name}: {:.0} records/s ({} events, {} changes)",
            run.rate(),
            events.records,
            run.changes.unwrap_or_default()
        ));
        Ok(run)
    }

    fn restore(&self, config: &Config) -> Result<Restore> {
        say("restore: reading the exactly-once changelog");
        let partitions: Vec<i32> = (0..self.args.partitions).collect();
        let started = Instant::now();
        let restored = unitrack::kafka::state::restore(config, &partitions)?;
        let seconds = started.elapsed().as_secs_f64();
        let packages = restored.values().map(|s| s.packages.len() as u64).sum();
        drop(restored);
        let records =
            kafka::contents(&self.args.bootstrap, &config.topics.state_changelog)?.records;
        say(format!("restore: {packages} packages in {seconds:.2}s"));
        Ok(Restore {
            packages,
            records,
            seconds,
            all_seconds: Vec::new(),
        })
    }

    fn unitrack_latency(&self, config: &Config, serial_base: u64) -> Result<latency::Latency> {
        say(format!("latency: {}", config.kafka.group_id));
        let (stop, handle) = self.start(config);
        let result = latency::measure(
            &self.args.bootstrap,
            &self.raw_prefix,
            &config.topics.status_changed,
            latency::package_key,
            serial_base,
            self.args.probe_rate,
            self.args.probe_seconds,
        );
        self.stop(stop, handle)?;
        result
    }
}
