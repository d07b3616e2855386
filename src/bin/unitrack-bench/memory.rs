//! Resident memory per package in state: in a child process of its own (so that nothing
//! else the benchmark did sits in its heap), the fold's per-partition state is built for
//! N packages by mapping each package's full history with the carrier mappers, plus one
//! `register` command per package (tenant, order id, package id: PlentyONE links every
//! package), and applying the events with the fold stage's own `PartitionState::apply`; VmRSS (from /proc/self/status) is read
//! before and after. The difference over N is the resident memory per package, allocator
//! overhead and the maps' spare capacity included.

use crate::workload;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use unitrack::domain::{Command, ShipmentEvent, with_more_follow};
use unitrack::kafka::published::PublishedWindow;
use unitrack::kafka::state::PartitionState;
use xxhash_rust::xxh3::xxh3_128;

/// What the probe found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Memory {
    /// Packages in state.
    pub packages: u64,
    /// Partitions the state was spread over.
    pub partitions: u32,
    /// Events applied.
    pub events: u64,
    /// VmRSS before building the state, KiB.
    pub rss_before_kib: u64,
    /// VmRSS with the state built, KiB.
    pub rss_after_kib: u64,
    /// Seconds to build the state.
    pub seconds: f64,
    /// Ids in normalise's published window (`processing.published_window`, default size).
    pub window_ids: u64,
    /// VmRSS growth while filling the window, KiB.
    pub window_kib: u64,
}

impl Memory {
    /// Resident bytes per package.
    pub fn bytes_per_package(&self) -> f64 {
        (self.rss_after_kib.saturating_sub(self.rss_before_kib) * 1024) as f64
            / self.packages.max(1) as f64
    }
}

/// The current resident set size, KiB.
fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// Folds package `p`'s full history into `states` as the fold stage would.
fn fold_package(states: &mut [PartitionState], p: u64) -> Result<u64> {
    let record = workload::full_history(p);
    let events = record.map()?;
    let register = register(record.carrier, &record.key, p)?;
    let count = events.len() as u64 + 1;
    for (event, more) in with_more_follow(&events).chain([(&register, false)]) {
        let key = event.package.to_string();
        let index = (fxhash(key.as_bytes()) % states.len() as u64) as usize;
        states[index].apply(&key, event, more);
    }
    Ok(count)
}

/// The `register` command PlentyONE sends for package `p`, as the fold sees it.
fn register(carrier: &str, key: &[u8], p: u64) -> Result<ShipmentEvent> {
    let number = String::from_utf8_lossy(key);
    let command = serde_json::json!({
        "type": "register", "id": format!("reg-{p}"), "carrier": carrier,
        "tracking_number": number, "tenant": "41234", "order_id": format!("{}", 3_000_000 + p),
        "package_id": format!("{}", 9_000_000 + p), "direction": "outbound",
        "actor": "plentyone", "occurred_at": "2024-01-01T00:00:00Z"
    });
    let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    Command::parse(command.to_string().as_bytes())
        .and_then(|c| c.into_event(|_| true, at))
        .map_err(|e| anyhow::anyhow!("register command: {e}"))
}

fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Builds the state of `packages` packages over `partitions` partitions and measures it.
pub fn measure(packages: u64, partitions: u32) -> Result<Memory> {
    // Warm up lazily built tables (templates, schemas, time zones) outside the measure.
    let mut scratch: Vec<PartitionState> =
        (0..partitions).map(|_| PartitionState::default()).collect();
    for p in 0..100 {
        fold_package(&mut scratch, u64::MAX / 2 + p)?;
    }
    drop(scratch);
    let rss_before_kib = rss_kib()?;
    let started = Instant::now();
    let mut states: Vec<PartitionState> =
        (0..partitions).map(|_| PartitionState::default()).collect();
    let mut events = 0;
    for p in 0..packages {
        events += fold_package(&mut states, p)?;
        if p % 5000 == 4999 {
            // A commit writes the changed packages to the changelog and forgets them.
            states.iter_mut().for_each(|s| s.dirty.clear());
        }
    }
    states.iter_mut().for_each(|s| s.dirty.clear());
    let rss_after_kib = rss_kib()?;
    let seconds = started.elapsed().as_secs_f64();
    let held: usize = states.iter().map(|s| s.packages.len()).sum();
    if held as u64 != packages {
        bail!("state holds {held} packages, expected {packages}");
    }
    std::hint::black_box(&states);
    let (window_ids, window_kib) = window()?;
    Ok(Memory {
        packages,
        partitions,
        events,
        rss_before_kib,
        rss_after_kib,
        seconds,
        window_ids,
        window_kib,
    })
}

/// Normalise's published window filled to its default size: the memory it adds to a
/// normalise stage (beside the fold state, not part of it).
fn window() -> Result<(u64, u64)> {
    let ids = unitrack::config::Config::load_with_env(None, Vec::new())
        .map_err(|e| anyhow::anyhow!("default configuration: {e:?}"))?
        .processing
        .published_window;
    let before = rss_kib()?;
    let mut window = PublishedWindow::new(ids);
    // A fifth more than it holds, so that the oldest ids are leaving as in a long run.
    for n in 0..(ids + ids / 5) as u64 {
        // Ids are XXH3-128 output: any well-spread 128 bits behave alike.
        let id = unitrack::domain::EventId(xxh3_128(&n.to_le_bytes()).to_be_bytes());
        window.is_new(id);
        if n % 5000 == 4999 {
            window.commit();
        }
    }
    window.commit();
    let after = rss_kib()?;
    std::hint::black_box(&window);
    Ok((ids as u64, after.saturating_sub(before)))
}

/// Runs [`measure`] in a child process (this binary with `--memory-probe`).
pub fn in_child(packages: u64, partitions: u32) -> Result<Memory> {
    let exe = std::env::current_exe()?;
    let output = std::process::Command::new(exe)
        .args([
            "--memory-probe",
            &packages.to_string(),
            "--partitions",
            &partitions.to_string(),
        ])
        .output()?;
    if !output.status.success() {
        bail!(
            "memory probe failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}
