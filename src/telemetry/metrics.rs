//! Prometheus metrics behind named functions. Labels are bounded (stage, carrier, status,
//! reason class, outcome), never a tracking number.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;

/// Every metric unitrack exports.
pub struct Metrics {
    registry: Registry,
    consumed: IntCounterVec,
    mapped: IntCounterVec,
    skipped: IntCounterVec,
    bodies_skipped: IntCounterVec,
    unknown_codes: IntCounterVec,
    dead_lettered: IntCounterVec,
    status_changes: IntCounterVec,
    timers: IntCounterVec,
    panics: IntCounterVec,
    packages_dropped: IntCounter,
    by_status: IntGaugeVec,
    commands: IntCounterVec,
    push_requests: IntCounterVec,
    latency: HistogramVec,
    commits: IntCounterVec,
    aborts: IntCounterVec,
    rebalances: IntCounterVec,
    assigned: IntGaugeVec,
    packages: IntGauge,
    restore: Histogram,
    lag: IntGaugeVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| invalid(name, &e));
    register(registry, name, Box::new(metric.clone()));
    metric
}

fn register(registry: &Registry, name: &str, metric: Box<dyn prometheus::core::Collector>) {
    if let Err(e) = registry.register(metric) {
        invalid(name, &e);
    }
}

/// Metric definitions are constants of this module: a bad one is a programming error that
/// the unit test below catches.
fn invalid(name: &str, error: &prometheus::Error) -> ! {
    panic!("metric {name} is invalid: {error}")
}

impl Metrics {
    fn new() -> Self {
        let r = Registry::new_custom(Some("unitrack".to_owned()), None)
            .unwrap_or_else(|e| invalid("registry", &e));
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "processing_latency_seconds",
                "From the input record's broker timestamp to its output being produced.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["stage"],
        )
        .unwrap_or_else(|e| invalid("processing_latency_seconds", &e));
        register(&r, "latency", Box::new(latency.clone()));
        let restore = Histogram::with_opts(
            HistogramOpts::new(
                "restore_duration_seconds",
                "Time to restore assigned partitions from the changelog.",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
        )
        .unwrap_or_else(|e| invalid("restore_duration_seconds", &e));
        register(&r, "restore", Box::new(restore.clone()));
        let assigned = IntGaugeVec::new(
            Opts::new(
                "assigned_partitions",
                "Partitions assigned to this instance.",
            ),
            &["stage"],
        )
        .unwrap_or_else(|e| invalid("assigned_partitions", &e));
        register(&r, "assigned", Box::new(assigned.clone()));
        let packages = IntGauge::new(
            "packages_in_state",
            "Packages held in the fold stage's state.",
        )
        .unwrap_or_else(|e| invalid("packages_in_state", &e));
        register(&r, "packages", Box::new(packages.clone()));
        let packages_dropped = IntCounter::new(
            "packages_dropped_total",
            "Final packages dropped from the fold's state after their retention (state.retention_days).",
        )
        .unwrap_or_else(|e| invalid("packages_dropped_total", &e));
        register(&r, "packages_dropped", Box::new(packages_dropped.clone()));
        let by_status = IntGaugeVec::new(
            Opts::new(
                "packages_by_status",
                "Packages in the fold's state by current status, counted at each sweep.",
            ),
            &["status"],
        )
        .unwrap_or_else(|e| invalid("packages_by_status", &e));
        register(&r, "by_status", Box::new(by_status.clone()));
        let lag = IntGaugeVec::new(
            Opts::new(
                "consumer_lag",
                "Consumer lag in records per stage, from librdkafka statistics.",
            ),
            &["stage"],
        )
        .unwrap_or_else(|e| invalid("consumer_lag", &e));
        register(&r, "lag", Box::new(lag.clone()));
        Self {
            consumed: counter(
                &r,
                "records_consumed_total",
                "Input records consumed.",
                &["stage"],
            ),
            mapped: counter(
                &r,
                "events_mapped_total",
                "Unified events mapped from raw bodies.",
                &["carrier"],
            ),
            skipped: counter(
                &r,
                "events_skipped_total",
                "Unified events not published again: published before (processing.published_window).",
                &["carrier"],
            ),
            bodies_skipped: counter(
                &r,
                "bodies_skipped_total",
                "Raw bodies not mapped: the same body's events were all published before.",
                &["carrier"],
            ),
            unknown_codes: counter(
                &r,
                "unknown_codes_total",
                "Carrier events with an unmapped code.",
                &["carrier"],
            ),
            dead_lettered: counter(
                &r,
                "dead_letter_total",
                "Records sent to the dead-letter topic.",
                &["stage", "reason"],
            ),
            status_changes: counter(
                &r,
                "status_changes_total",
                "Status changes published.",
                &["carrier", "status"],
            ),
            timers: counter(
                &r,
                "timers_fired_total",
                "Timers fired (system events written to shipment.events), by status.",
                &["status"],
            ),
            panics: counter(
                &r,
                "panics_total",
                "Panics caught, by stage and where: record (dead-lettered after a rewind), \
                 tick (the periodic work, retried next sweep), timer (one package skipped).",
                &["stage", "at"],
            ),
            commands: counter(&r, "commands_total", "Commands by outcome.", &["outcome"]),
            push_requests: counter(
                &r,
                "push_requests_total",
                "Push requests by carrier and outcome.",
                &["carrier", "outcome"],
            ),
            commits: counter(
                &r,
                "commits_total",
                "Transactions (or offset commits) committed.",
                &["stage"],
            ),
            aborts: counter(&r, "aborts_total", "Transactions aborted.", &["stage"]),
            rebalances: counter(
                &r,
                "rebalances_total",
                "Rebalance callbacks by kind.",
                &["stage", "kind"],
            ),
            latency,
            assigned,
            packages,
            packages_dropped,
            by_status,
            restore,
            lag,
            registry: r,
        }
    }

    /// An input record was consumed.
    pub fn consumed(&self, stage: &str) {
        self.consumed.with_label_values(&[stage]).inc();
    }

    /// A raw body became `count` unified events, `unknown` of them with unmapped codes.
    pub fn mapped(&self, carrier: &str, count: usize, unknown: usize) {
        self.mapped
            .with_label_values(&[carrier])
            .inc_by(count as u64);
        if unknown > 0 {
            self.unknown_codes
                .with_label_values(&[carrier])
                .inc_by(unknown as u64);
        }
    }

    /// `count` unified events of a raw body were published before and are not again.
    pub fn skipped(&self, carrier: &str, count: usize) {
        self.skipped
            .with_label_values(&[carrier])
            .inc_by(count as u64);
    }

    /// A raw body was seen before and not mapped again.
    pub fn body_skipped(&self, carrier: &str) {
        self.bodies_skipped.with_label_values(&[carrier]).inc();
    }

    /// A record went to the dead-letter topic.
    pub fn dead_lettered(&self, stage: &str, reason: &str) {
        self.dead_lettered.with_label_values(&[stage, reason]).inc();
    }

    /// A status change was published.
    pub fn status_changed(&self, carrier: &str, status: &str) {
        self.status_changes
            .with_label_values(&[carrier, status])
            .inc();
    }

    /// A timer fired (`STALLED`, `EXPIRED`).
    pub fn timer_fired(&self, status: &str) {
        self.timers.with_label_values(&[status]).inc();
    }

    /// A panic was caught in `stage` (`at`: `record`, `tick`, `timer`).
    pub fn panicked(&self, stage: &str, at: &str) {
        self.panics.with_label_values(&[stage, at]).inc();
    }

    /// A command got its outcome (`accepted`, `rejected`).
    pub fn command(&self, outcome: &str) {
        self.commands.with_label_values(&[outcome]).inc();
    }

    /// A push request ended with `outcome` (`accepted`, `unauthorized`, `too_large`,
    /// `malformed`, `unavailable`).
    pub fn push(&self, carrier: &str, outcome: &str) {
        self.push_requests
            .with_label_values(&[carrier, outcome])
            .inc();
    }

    /// Seconds from the input's broker timestamp to producing its output.
    pub fn latency(&self, stage: &str, seconds: f64) {
        self.latency.with_label_values(&[stage]).observe(seconds);
    }

    /// A transaction (or offset commit) was committed.
    pub fn committed(&self, stage: &str) {
        self.commits.with_label_values(&[stage]).inc();
    }

    /// A transaction was aborted.
    pub fn aborted(&self, stage: &str) {
        self.aborts.with_label_values(&[stage]).inc();
    }

    /// A rebalance callback ran (`assign`, `revoke`, `lost`).
    pub fn rebalanced(&self, stage: &str, kind: &str) {
        self.rebalances.with_label_values(&[stage, kind]).inc();
    }

    /// Partitions now assigned to a stage.
    pub fn assigned(&self, stage: &str, partitions: usize) {
        self.assigned
            .with_label_values(&[stage])
            .set(partitions as i64);
    }

    /// Packages now in the fold's state.
    pub fn packages(&self, count: usize) {
        self.packages.set(count as i64);
    }

    /// `count` final packages were dropped from the state after their retention.
    pub fn packages_dropped(&self, count: usize) {
        self.packages_dropped.inc_by(count as u64);
    }

    /// The packages held, by current status (`None`: no status yet), as counted now.
    pub fn packages_by_status(&self, counts: &[(Option<crate::domain::Status>, i64)]) {
        for status in crate::domain::Status::ALL {
            let count = counts
                .iter()
                .filter(|(s, _)| *s == Some(status))
                .map(|(_, n)| n)
                .sum();
            self.by_status
                .with_label_values(&[status.as_str()])
                .set(count);
        }
    }

    /// A restore took `seconds`.
    pub fn restored(&self, seconds: f64) {
        self.restore.observe(seconds);
    }

    /// A stage's total consumer lag, from librdkafka statistics.
    pub fn lag(&self, stage: &str, records: i64) {
        self.lag.with_label_values(&[stage]).set(records);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_by_status_sets_every_status_and_clears_the_gone() {
        use crate::domain::Status;
        let m = metrics();
        let gauge = |status: &str| {
            let line = format!("unitrack_packages_by_status{{status=\"{status}\"}} ");
            m.render()
                .lines()
                .find_map(|l| l.strip_prefix(&line).map(str::to_owned))
        };
        m.packages_by_status(&[
            (Some(Status::Delivered), 2),
            (None, 1),
            (Some(Status::Exception), 3),
        ]);
        assert_eq!(gauge("DELIVERED").as_deref(), Some("2"));
        assert_eq!(gauge("EXCEPTION").as_deref(), Some("3"));
        assert_eq!(gauge("STALLED").as_deref(), Some("0"));
        m.packages_by_status(&[(Some(Status::Delivered), 5)]);
        assert_eq!(gauge("DELIVERED").as_deref(), Some("5"));
        assert_eq!(
            gauge("EXCEPTION").as_deref(),
            Some("0"),
            "a status no package has is 0"
        );
    }

    #[test]
    fn every_metric_is_defined_and_rendered_with_its_prefix() {
        let m = metrics();
        m.consumed("normalise");
        m.mapped("dhl", 3, 1);
        m.dead_lettered("normalise", "syntax");
        m.status_changed("dhl", "DELIVERED");
        m.command("accepted");
        m.push("dhl", "accepted");
        m.latency("fold", 0.02);
        m.committed("fold");
        m.aborted("fold");
        m.rebalanced("fold", "assign");
        m.assigned("fold", 3);
        m.packages(10);
        m.restored(0.5);
        m.lag("fold", 7);
        let text = m.render();
        for name in [
            "unitrack_records_consumed_total{stage=\"normalise\"}",
            "unitrack_unknown_codes_total{carrier=\"dhl\"}",
            "unitrack_dead_letter_total{reason=\"syntax\",stage=\"normalise\"}",
            "unitrack_status_changes_total{carrier=\"dhl\",status=\"DELIVERED\"}",
            "unitrack_processing_latency_seconds_bucket",
            "unitrack_packages_in_state 10",
            "unitrack_consumer_lag{stage=\"fold\"} 7",
        ] {
            assert!(text.contains(name), "{name} missing in:\n{text}");
        }
    }
}
