//! The result table (markdown) and the machine it was measured on.

use crate::cpu::Usage;
use crate::latency::Latency;
use crate::memory::Memory;
use std::fmt::Write;

/// One throughput run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// What ran.
    pub name: String,
    /// Raw input records.
    pub records: u64,
    /// Seconds from the first output record's timestamp to all input offsets committed.
    pub processing_s: f64,
    /// Seconds from start (group join, restore, registry included) to the same point.
    pub wall_s: f64,
    /// Records on `shipment.events` (unitrack only).
    pub events: Option<u64>,
    /// Records on `shipment.status.changed` (unitrack only).
    pub changes: Option<u64>,
    /// Records on the changelog (unitrack only).
    pub changelog: Option<u64>,
    /// Records on the dead-letter topic (unitrack only).
    pub dlq: Option<u64>,
    /// End-to-end latency under a light steady load.
    pub latency: Option<Latency>,
    /// CPU used from start to done, by the process under test and by the broker.
    pub cpu: Usage,
    /// Records/s of every repetition (this run is the median one).
    pub rates: Vec<f64>,
}

impl Run {
    /// Raw records per second of processing time.
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.processing_s
    }
}

/// Restoring the exactly-once run's state from its changelog.
#[derive(Debug, Clone, Default)]
pub struct Restore {
    /// Packages restored.
    pub packages: u64,
    /// Changelog records read.
    pub records: u64,
    /// Seconds `kafka::state::restore` took.
    pub seconds: f64,
    /// Seconds of every repetition (this one is the median).
    pub all_seconds: Vec<f64>,
}

/// The machine and the software measured.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Git commit (and `-dirty`).
    pub commit: String,
    /// UTC date and time.
    pub date: String,
    /// Load averages (1 min) at start and at the end.
    pub load: (String, String),
}

/// How the figures are measured, printed under the table.
const METHOD: &str = "
Method (`benches/README.md` has the details):
- records/s = input records ÷ processing seconds. Processing runs from the timestamp of
  the first output record (first record on `shipment.events`; for the passthrough, the first
  copy) to the moment the benchmark sees every input offset committed: the normalise group
  at the end of every raw partition, then the fold group at the last data record + 1 of every
  `shipment.events` partition (transaction markers take offsets too). Wall seconds also
  count the start (topic checks, registry, group join, restore). Each system runs from the
  same raw topics with a fresh group and fresh output topics.
- CPU: utime + stime from /proc of this process and of the broker, start to done.
- e2e latency: after the throughput runs each system is started again on its group; probes
  (raw records of new packages, one status change each) are sent at a steady rate with
  their send time as timestamp, and a read_committed consumer of the output notes when each
  becomes visible: latency = visible − sent.
- restore: `kafka::state::restore` of every partition of the exactly-once run's changelog
  (not compacted yet), after that run stopped; live packages/s = packages ÷ exactly-once
  processing seconds.
- memory: in a child process, the fold state of N packages (full carrier history and a
  register command each) built with `PartitionState::apply`; (VmRSS after − before) ÷ N.
";

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The 1-minute load average now.
pub fn load() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

fn git(args: &[&str]) -> String {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Machine {
    /// What this machine is, now.
    pub fn now() -> Self {
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_default();
        let dirty = !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
        let commit = git(&["rev-parse", "--short", "HEAD"]);
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            commit: if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            },
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            load: (load(), String::new()),
        }
    }
}

/// Everything one benchmark run measured.
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// Workload description.
    pub workload: String,
    /// Passthrough, at-least-once, exactly-once (those that ran).
    pub runs: Vec<Run>,
    /// Restore of the exactly-once run's state.
    pub restore: Option<Restore>,
    /// Memory per package.
    pub memory: Option<Memory>,
}

fn ms(latency: Option<&Latency>, pick: fn(&Latency) -> f64) -> String {
    latency.map_or("–".to_owned(), |l| format!("{:.0}", pick(l)))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn holds(value: Option<f64>, ok: impl Fn(f64) -> bool) -> &'static str {
    match value {
        Some(v) if ok(v) => "**holds**",
        Some(_) => "**does not hold**",
        None => "not measured",
    }
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("–".to_owned(), |v| format!("{v:.digits$}"))
}

impl Report {
    fn run(&self, prefix: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.name.starts_with(prefix))
    }

    /// The markdown table and notes.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "### unitrack end-to-end benchmark — {}\n", m.date);
        let _ = writeln!(
            out,
            "Machine: {} × {}, {:.0} GiB RAM, Linux {}; Kafka broker and schema registry of \
             `dev/stack` on the same machine (shared with other test runs: noisy). \
             Load average (1 min) at start {}, at end {}. Commit `{}`.\n",
            m.cpus, m.cpu, m.memory_gib, m.kernel, m.load.0, m.load.1, m.commit
        );
        let _ = writeln!(out, "Workload: {}\n", self.workload);
        let base = self.run("passthrough").map(Run::rate);
        let alo = self.run("unitrack at-least-once").map(Run::rate);
        let eos = self.run("unitrack exactly-once").map(Run::rate);
        let _ = writeln!(
            out,
            "| run | input records | processing s | wall s | records/s | × passthrough | × at-least-once | e2e p50 ms | e2e p99 ms | e2e max ms |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for run in &self.runs {
            let rate = run.rate();
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.0} | {} | {} | {} | {} | {} |",
                run.name,
                run.records,
                run.processing_s,
                run.wall_s,
                rate,
                opt(ratio(Some(rate), base), 2),
                opt(ratio(Some(rate), alo), 2),
                ms(run.latency.as_ref(), |l| l.p50_ms),
                ms(run.latency.as_ref(), |l| l.p99_ms),
                ms(run.latency.as_ref(), |l| l.max_ms),
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| CPU, start to done | wall s | process CPU s | broker CPU s | process µs/record | broker µs/record |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for run in &self.runs {
            let per = |s: f64| s * 1e6 / run.records.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
                run.name,
                run.cpu.wall,
                run.cpu.own,
                run.cpu.broker,
                per(run.cpu.own),
                per(run.cpu.broker)
            );
        }
        let _ = writeln!(out);
        let list = |values: &[f64], digits: usize| {
            values
                .iter()
                .map(|v| format!("{v:.digits$}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for run in self.runs.iter().filter(|r| r.rates.len() > 1) {
            let _ = writeln!(
                out,
                "- {}: records/s of the {} repetitions {} (the table shows the median one).",
                run.name,
                run.rates.len(),
                list(&run.rates, 0)
            );
        }
        if let Some(restore) = self.restore.as_ref().filter(|r| r.all_seconds.len() > 1) {
            let _ = writeln!(
                out,
                "- restore: seconds of the {} repetitions {}.",
                restore.all_seconds.len(),
                list(&restore.all_seconds, 2)
            );
        }
        for run in self.runs.iter().filter(|r| r.events.is_some()) {
            let _ = writeln!(
                out,
                "- {}: {} events on `shipment.events`, {} status changes, {} changelog records, {} dead letters; latency probes seen {}/{}.",
                run.name,
                run.events.unwrap_or_default(),
                run.changes.unwrap_or_default(),
                run.changelog.unwrap_or_default(),
                run.dlq.unwrap_or_default(),
                run.latency.as_ref().map_or(0, |l| l.seen),
                run.latency.as_ref().map_or(0, |l| l.probes),
            );
        }
        let eos_run = self.run("unitrack exactly-once");
        let live_packages = eos_run
            .zip(self.restore.as_ref())
            .map(|(run, restore)| restore.packages as f64 / run.processing_s);
        let restore_rate = self.restore.as_ref().map(|r| r.packages as f64 / r.seconds);
        if let Some(restore) = &self.restore {
            let _ = writeln!(
                out,
                "\n| restore (exactly-once changelog) | packages | changelog records | seconds | packages/s | live packages/s | × live |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
            let _ = writeln!(
                out,
                "| `kafka::state::restore` | {} | {} | {:.2} | {:.0} | {} | {} |",
                restore.packages,
                restore.records,
                restore.seconds,
                restore.packages as f64 / restore.seconds,
                opt(live_packages, 0),
                opt(ratio(restore_rate, live_packages), 1),
            );
        }
        if let Some(memory) = &self.memory {
            let _ = writeln!(
                out,
                "\n| memory | packages | events applied | VmRSS before | VmRSS after | bytes/package |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
            let _ = writeln!(
                out,
                "| fold state, {} partitions | {} | {} | {} MiB | {} MiB | {:.0} |",
                memory.partitions,
                memory.packages,
                memory.events,
                memory.rss_before_kib / 1024,
                memory.rss_after_kib / 1024,
                memory.bytes_per_package(),
            );
            let _ = writeln!(
                out,
                "\nNormalise's published window (`processing.published_window`, not part of the \
                 fold state) at {} ids: {} MiB resident, {:.0} bytes per id.",
                memory.window_ids,
                memory.window_kib / 1024,
                (memory.window_kib * 1024) as f64 / memory.window_ids.max(1) as f64,
            );
        }
        let g1 = ratio(eos, base);
        let g2 = ratio(eos, alo);
        let g3 = ratio(restore_rate, live_packages);
        let g4 = self
            .memory
            .as_ref()
            .filter(|m| m.packages >= 1_000_000)
            .map(Memory::bytes_per_package);
        let _ = writeln!(out, "\n| goal | target | measured | |");
        let _ = writeln!(out, "|---|---|---:|---|");
        let rows = [
            (
                "G1 exactly-once records/s ÷ passthrough",
                "≥ 0.5",
                opt(g1, 2),
                holds(g1, |v| v >= 0.5),
            ),
            (
                "G2 exactly-once records/s ÷ at-least-once",
                "≥ 0.9",
                opt(g2, 2),
                holds(g2, |v| v >= 0.9),
            ),
            (
                "G3 restore packages/s ÷ live packages/s",
                "≥ 5",
                opt(g3, 1),
                holds(g3, |v| v >= 5.0),
            ),
            (
                "G4 resident bytes per package at 1,000,000",
                "≤ 1024",
                opt(g4, 0),
                holds(g4, |v| v <= 1024.0),
            ),
        ];
        for (goal, target, measured, verdict) in rows {
            let _ = writeln!(out, "| {goal} | {target} | {measured} | {verdict} |");
        }
        out.push_str(METHOD);
        out
    }
}
