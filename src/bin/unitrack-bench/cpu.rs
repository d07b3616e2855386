//! CPU time used, from /proc: this process (unitrack's stages and librdkafka's threads, or
//! the passthrough) and the Kafka broker it talks to, which shares the same two cores.

use std::time::Instant;

/// Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// CPU seconds (user + system) of a process, from /proc/<pid>/stat.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS)
}

/// The pid of the Kafka broker listening on `bootstrap`'s port: a `kafka.Kafka` process
/// whose server.properties names that port in `listeners`.
pub fn broker_pid(bootstrap: &str) -> Option<String> {
    let port = bootstrap.rsplit_once(':')?.1.to_owned();
    let listening = format!(":{port}");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !args.iter().any(|a| a == "kafka.Kafka") {
                return None;
            }
            let properties = std::fs::read_to_string(args.last()?).ok()?;
            properties
                .lines()
                .any(|l| l.starts_with("listeners=") && l.contains(&listening))
                .then_some(pid)
        })
}

/// CPU use over an interval.
pub struct Meter {
    broker: Option<String>,
    started: Instant,
    own: f64,
    broker_start: f64,
}

/// CPU seconds used over an interval, and its length.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Wall seconds.
    pub wall: f64,
    /// CPU seconds of this process.
    pub own: f64,
    /// CPU seconds of the broker (0 when it was not found).
    pub broker: f64,
}

impl Meter {
    /// Starts measuring.
    pub fn start(broker: Option<String>) -> Self {
        let broker_start = broker.as_deref().and_then(cpu_seconds).unwrap_or_default();
        Self {
            broker,
            started: Instant::now(),
            own: cpu_seconds("self").unwrap_or_default(),
            broker_start,
        }
    }

    /// What was used since the start.
    pub fn usage(&self) -> Usage {
        let broker = self
            .broker
            .as_deref()
            .and_then(cpu_seconds)
            .map_or(0.0, |now| now - self.broker_start);
        Usage {
            wall: self.started.elapsed().as_secs_f64(),
            own: cpu_seconds("self").unwrap_or_default() - self.own,
            broker,
        }
    }
}
