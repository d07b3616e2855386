//! The fold (STATUS_MODEL "How the status is derived"): a package's status is a fold over
//! its history ordered by event time, so any arrival order of the same events gives the
//! same status. [`PackageState::apply`] is the one pure function that decides whether an
//! event changes the status; it is the only path to a status change.
//!
//! Events at the same instant are ordered by a deterministic tie-break (registration,
//! lock clearing, then statuses by rank, then corrections, then identity), never by
//! arrival, so that the result does not depend on arrival order.

use super::event::{Correction, EventId, EventKind, Linkage, ShipmentEvent, Source};
use super::status::{Status, StatusClass, SubCode};
use serde::{Deserialize, Serialize};

/// How many history entries a package keeps. Older entries are folded into a base state;
/// events older than the base are stale. Carrier histories are typically 5–30 events.
pub const MAX_HISTORY: usize = 64;

/// Why the status changed, for Flow rules (STATUS_MODEL rule 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// Forward progress (or the first status, unless it is an attention status).
    Progress,
    /// An attention status was entered (also as the first status), or refined by a
    /// sub-code.
    Attention,
    /// Progress after an attention status: the problem was resolved.
    Resolution,
    /// A terminal status was left through the reopen list.
    Reopen,
    /// Set by a person.
    Manual,
    /// Set by unitrack's timers.
    System,
}

/// What [`PackageState::apply`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event's identity was seen before: a no-op.
    Duplicate,
    /// The event is older than what the state still keeps, or older than the current
    /// status and without effect on it.
    Stale,
    /// Recorded; the (status, sub-status) pair is unchanged.
    Unchanged,
    /// The (status, sub-status) pair changed, but more events of the same raw record
    /// follow for this package: the change is decided, net, when the record's last one is
    /// applied (see [`PackageState::apply_part`]).
    Held,
    /// The (status, sub-status) pair changed.
    Changed(Change),
}

/// A real status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The pair before (none for a package seen for the first time).
    pub previous: Option<(Status, Option<SubCode>)>,
    /// The pair now.
    pub status: Status,
    /// The sub-status now.
    pub sub_status: Option<SubCode>,
    /// Why.
    pub kind: TransitionKind,
    /// Per-package sequence number of status changes, from 1.
    pub seq: u64,
    /// Event time (UTC millis) of the event that decided the new status.
    pub decided_at_ms: i64,
    /// [`EventId::fingerprint`](super::event::EventId::fingerprint) of the event that
    /// decided the new status: the applied one, another event of the same raw record, or
    /// an earlier one (after a correction or a late event re-ordered the history).
    pub decided_by: u64,
    /// The identity of the applied event, the one that completed the change (the change's
    /// id is derived from it).
    pub trigger: EventId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Origin {
    Carrier,
    Manual,
    System,
}

/// A lock's end in UTC millis; `i64::MAX` = until cleared.
type LockEnd = i64;

/// The lock a manual status sets, in a history entry: a [`LockEnd`], or `i64::MIN` for
/// none (no lock can end then). An `Option<LockEnd>` would make every entry 8 bytes
/// larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryLock(i64);

impl EntryLock {
    const NONE: i64 = i64::MIN;

    fn of(lock: Option<LockEnd>) -> Self {
        Self(lock.unwrap_or(Self::NONE))
    }

    fn get(self) -> Option<LockEnd> {
        (self.0 != Self::NONE).then_some(self.0)
    }
}

/// What an entry does. Written to the changelog in the form of [`wire::Effect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "wire::Effect", into = "wire::Effect")]
enum Effect {
    Status {
        status: Status,
        sub: Option<SubCode>,
        origin: Origin,
        lock: EntryLock,
    },
    Correction(Voids),
    Register,
    ClearLock,
    Info,
    /// A timer (`STALLED`, `EXPIRED`): the package had no update from `since` to the
    /// entry's time. Void once an update in between is known (a late event).
    Timer {
        status: Status,
        sub: Option<SubCode>,
        since: i64,
    },
}

impl Effect {
    /// Whether the entry is an update of the package: what the timers count from. Anything
    /// but a system status, and but an unknown code (which never changes the status, so
    /// it may not void a timer either).
    fn is_update(self) -> bool {
        !matches!(
            self,
            Effect::Timer { .. }
                | Effect::Status {
                    origin: Origin::System,
                    ..
                }
                | Effect::Status {
                    status: Status::Unknown,
                    ..
                }
        )
    }
}

/// What a correction voids, as kept in the history. [`Correction`] is adjacently tagged for
/// JSON, which postcard writes but cannot read back; this plain enum has the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Voids {
    Latest,
    LatestWith(Status),
}

impl From<Correction> for Voids {
    fn from(correction: Correction) -> Self {
        match correction {
            Correction::Latest => Voids::Latest,
            Correction::LatestWith(status) => Voids::LatestWith(status),
        }
    }
}

/// One compact history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    at: i64,
    id: u64,
    effect: Effect,
}

impl Entry {
    fn of(event: &ShipmentEvent) -> Self {
        let origin = match event.source {
            Source::Carrier => Origin::Carrier,
            Source::Manual { .. } => Origin::Manual,
            Source::System => Origin::System,
        };
        let effect = match &event.kind {
            EventKind::Status {
                status, sub_status, ..
            } if origin == Origin::System
                && let Some(since) = timers::quiet_since(event) =>
            {
                Effect::Timer {
                    status: *status,
                    sub: *sub_status,
                    since,
                }
            }
            EventKind::Status {
                status,
                sub_status,
                lock,
                ..
            } => Effect::Status {
                status: *status,
                sub: *sub_status,
                origin,
                lock: EntryLock::of(
                    lock.map(|lock| lock.until.map_or(i64::MAX, |at| at.timestamp_millis())),
                ),
            },
            EventKind::Correction(correction) => Effect::Correction((*correction).into()),
            EventKind::Register(_) => Effect::Register,
            EventKind::ClearLock => Effect::ClearLock,
            EventKind::Info => Effect::Info,
        };
        Self {
            at: event.time.millis(),
            id: event.id.fingerprint(),
            effect,
        }
    }

    /// The sort key: time, then a deterministic tie-break, then identity.
    fn order(&self) -> (i64, u8, u64) {
        let tie = match self.effect {
            Effect::Register => 0,
            Effect::ClearLock => 1,
            Effect::Info => 2,
            Effect::Status { status, .. } | Effect::Timer { status, .. } => match status {
                Status::Unknown => 2,
                Status::Exception | Status::Stalled => 3 + 40,
                Status::Expired => 3 + 100,
                other => 3 + other.rank().unwrap_or(0),
            },
            Effect::Correction(_) => u8::MAX,
        };
        (self.at, tie, self.id)
    }
}

/// A manual status in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Hold {
    rank: u8,
    lock: Option<LockEnd>,
}

/// The result of folding a history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Derived {
    status: Option<Status>,
    sub: Option<SubCode>,
    kind: Option<TransitionKind>,
    /// Rank of the current status, or of the last ranked one for rankless statuses.
    rank: u8,
    /// On the way back to the merchant (outbound progress no longer applies).
    returning: bool,
    hold: Option<Hold>,
    decided_at: i64,
    decided_by: u64,
}

impl Derived {
    fn pair(&self) -> Option<(Status, Option<SubCode>)> {
        self.status.map(|status| (status, self.sub))
    }

    fn set(&mut self, entry: &Entry, status: Status, sub: Option<SubCode>, kind: TransitionKind) {
        self.returning = matches!(status, Status::ReturningToSender | Status::ReturnedToSender)
            || (self.returning && status.class() == StatusClass::Attention);
        self.status = Some(status);
        self.sub = sub;
        self.kind = Some(kind);
        self.rank = status.rank().unwrap_or(self.rank);
        self.decided_at = entry.at;
        self.decided_by = entry.id;
    }

    fn step(&mut self, entry: &Entry) {
        match entry.effect {
            Effect::Register => {
                if self.status.is_none() {
                    self.set(
                        entry,
                        Status::Pending,
                        Some(SubCode::Registered),
                        TransitionKind::Progress,
                    );
                }
            }
            Effect::ClearLock => {
                if let Some(hold) = &mut self.hold {
                    hold.lock = None;
                }
            }
            Effect::Correction(_) | Effect::Info => {}
            Effect::Status {
                status: Status::Unknown,
                ..
            } => {}
            Effect::Status {
                status,
                sub,
                origin: Origin::Manual,
                lock,
            } => {
                self.set(entry, status, sub, TransitionKind::Manual);
                self.hold = Some(Hold {
                    rank: self.rank,
                    lock: lock.get(),
                });
            }
            Effect::Timer { status, sub, .. } => {
                self.apply_status(entry, status, sub, Origin::System)
            }
            Effect::Status {
                status,
                sub,
                origin,
                ..
            } => self.apply_status(entry, status, sub, origin),
        }
    }

    /// A carrier or system status: a manual status in force may hold it off, else the
    /// transition rules decide.
    fn apply_status(
        &mut self,
        entry: &Entry,
        status: Status,
        sub: Option<SubCode>,
        origin: Origin,
    ) {
        if let Some(hold) = self.hold {
            if hold.lock.is_some_and(|until| entry.at < until) {
                return;
            }
            let overrides =
                status.is_terminal() || status.rank().is_some_and(|rank| rank > hold.rank);
            if !overrides {
                return;
            }
            self.hold = None;
        }
        if let Some((status, sub, kind)) = self.transition(status, sub, origin) {
            self.set(entry, status, sub, kind);
        }
    }

    /// The transition rules for a carrier or system status (rules 2–4).
    fn transition(
        &self,
        status: Status,
        sub: Option<SubCode>,
        origin: Origin,
    ) -> Option<(Status, Option<SubCode>, TransitionKind)> {
        let label = |kind| {
            if origin == Origin::System {
                TransitionKind::System
            } else {
                kind
            }
        };
        // A first status, or a refinement: attention if the status is one, else progress.
        let entered = if status.class() == StatusClass::Attention {
            TransitionKind::Attention
        } else {
            TransitionKind::Progress
        };
        let Some(current) = self.status else {
            return Some((status, sub, label(entered)));
        };
        if current == status && (sub.is_none() || sub == self.sub) {
            return None;
        }
        if current == status && self.sub.is_none() {
            // The same status, now with a sub-code: a refinement, also of a terminal status.
            return Some((status, sub, label(entered)));
        }
        if current.is_terminal() {
            let reopens = match current {
                Status::Delivered => {
                    status == Status::ReturningToSender
                        || (status == Status::Exception
                            && matches!(sub, Some(SubCode::Investigation | SubCode::Misrouted)))
                }
                Status::Cancelled | Status::Expired => true,
                Status::Failed => {
                    self.sub == Some(SubCode::Lost)
                        && (status.class() == StatusClass::Progress || status == Status::Delivered)
                }
                _ => false,
            };
            return reopens.then_some((status, sub, label(TransitionKind::Reopen)));
        }
        match status.class() {
            StatusClass::Terminal if status == Status::Delivered && self.returning => Some((
                Status::ReturnedToSender,
                Some(SubCode::Received),
                label(TransitionKind::Progress),
            )),
            StatusClass::Terminal => Some((status, sub, label(TransitionKind::Progress))),
            StatusClass::Attention => Some((status, sub, label(TransitionKind::Attention))),
            StatusClass::Progress if self.returning => None,
            StatusClass::Progress => {
                let recovering = matches!(
                    current,
                    Status::DeliveryFailed | Status::Exception | Status::Stalled
                );
                let forward = status.rank().unwrap_or(0) >= self.rank;
                let allowed_back = (current == Status::AvailableForPickup
                    && status == Status::OutForDelivery)
                    || (current == Status::OutForDelivery
                        && status == Status::InTransit
                        && sub == Some(SubCode::Redirected));
                if recovering {
                    Some((status, sub, label(TransitionKind::Resolution)))
                } else if forward || allowed_back {
                    Some((status, sub, label(TransitionKind::Progress)))
                } else {
                    None
                }
            }
            StatusClass::None => None,
        }
    }
}

/// Which entries a correction voids (rule 5). `Latest`: the latest earlier carrier status
/// entry. `LatestWith(status)`: the latest earlier *run* of carrier entries with that
/// status, from the newest one back to the latest carrier entry of another status (entries
/// without a status and unknown codes do not end a run). A carrier takes back a state once
/// however many scans reported it: Hermes 4072 "return cancelled" after 6081 and 1520,
/// 9399 "un-cancelled" after 9341 and 9340. Voiding only the newest scan would leave the
/// package returning, and its later delivery would read as back at the sender.
///
/// A timer is void when an update lies after the instant it counted from and not after its
/// own (it arrived late): the package was not quiet that long after all.
fn voided(entries: &[Entry]) -> Vec<bool> {
    let mut voided = vec![false; entries.len()];
    for (i, entry) in entries.iter().enumerate() {
        if let Effect::Timer { since, .. } = entry.effect {
            voided[i] = entries
                .iter()
                .any(|other| other.effect.is_update() && other.at > since && other.at <= entry.at);
            continue;
        }
        let Effect::Correction(correction) = entry.effect else {
            continue;
        };
        let mut in_run = false;
        for j in (0..i).rev() {
            let Effect::Status {
                status,
                origin: Origin::Carrier,
                ..
            } = entries[j].effect
            else {
                continue;
            };
            if voided[j] {
                continue;
            }
            match correction {
                Voids::Latest if status != Status::Unknown => {
                    voided[j] = true;
                    break;
                }
                Voids::Latest => {}
                Voids::LatestWith(wanted) if status == wanted => {
                    voided[j] = true;
                    in_run = true;
                }
                Voids::LatestWith(_) if in_run && status != Status::Unknown => break,
                Voids::LatestWith(_) => {}
            }
        }
    }
    voided
}

/// Folds `entries` (sorted) on top of `base`, leaving out those voided by corrections.
fn fold(base: Derived, entries: &[Entry]) -> Derived {
    entries
        .iter()
        .zip(voided(entries))
        .filter(|(_, voided)| !voided)
        .fold(base, |mut derived, (entry, _)| {
            derived.step(entry);
            derived
        })
}

/// One history entry as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    /// Event time, UTC milliseconds.
    pub occurred_at_ms: i64,
    /// `status`, `correction`, `register`, `clear_lock` or `info`.
    pub kind: &'static str,
    /// The status it reported.
    pub status: Option<Status>,
    /// The sub-status it reported.
    pub sub_status: Option<SubCode>,
    /// `carrier`, `manual` or `system`.
    pub source: &'static str,
    /// Voided by a carrier correction.
    pub voided: bool,
}

/// Everything unitrack keeps about one package.
///
/// Laid out for memory (a million packages per instance): the history holds exactly its
/// entries, and the base is boxed because few packages ever exceed [`MAX_HISTORY`]. The
/// changelog form is [`wire::PackageState`], which does not change with this layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageState {
    history: Vec<Entry>,
    /// What the entries beyond [`MAX_HISTORY`] were folded into (none until then).
    compacted: Option<Box<Compacted>>,
    current: Derived,
    linkage: Option<Linkage>,
    linkage_at: i64,
    seq: u64,
    /// The pair before the first event of a raw record whose events are still being
    /// applied, while the status differs from it (see [`PackageState::apply_part`]).
    open: Option<Open>,
}

/// The (status, sub-status) pair before a raw record's events, or none for a package
/// that had no status then.
type Pair = Option<(Status, Option<SubCode>)>;

/// A raw record's events being applied: what the status was before its first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Open {
    before: Pair,
}

/// What recording one event did, before any change is decided.
enum Recorded {
    Duplicate,
    /// Older than what the state keeps.
    BelowFloor,
    /// In the history; `latest`: at its end.
    Kept {
        latest: bool,
    },
}

/// The oldest entries of a long history, folded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Compacted {
    base: Derived,
    /// Event time of the newest entry folded into `base`; older events are stale.
    floor: Option<i64>,
}

impl PackageState {
    /// Applies one event and decides: duplicate, stale, unchanged or changed. The same as
    /// [`apply_part`](Self::apply_part) with no more events of its record to come.
    pub fn apply(&mut self, event: &ShipmentEvent) -> Outcome {
        self.apply_part(event, false)
    }

    /// Applies one event of a raw record; `more_follow`: further events of the same record
    /// and package come next. A change is decided once per record, net (rule 7 per
    /// record): from the pair before the record's first event to the pair after its last
    /// one. Carriers list their history newest first, so the newest event alone may give a
    /// status that the older ones of the same poll overrule (a UPS "not on schedule"
    /// notice after the delivery); Flow sees the one real change, not the intermediate
    /// pairs. While a record is open and its status differs from where it started, events
    /// return [`Outcome::Held`], and the pair before is kept in the state (and so in the
    /// changelog: a restart between two events of a record still decides the change once).
    /// Any event without `more_follow` closes an open record of its package.
    pub fn apply_part(&mut self, event: &ShipmentEvent, more_follow: bool) -> Outcome {
        let before = self
            .open
            .take()
            .map_or_else(|| self.current.pair(), |open| open.before);
        let entry = Entry::of(event);
        let recorded = self.record(event, entry);
        if self.current.pair() == before {
            return match recorded {
                Recorded::Duplicate => Outcome::Duplicate,
                Recorded::Kept { latest: true } => Outcome::Unchanged,
                Recorded::Kept { latest: false } | Recorded::BelowFloor => Outcome::Stale,
            };
        }
        if more_follow {
            self.open = Some(Open { before });
            return Outcome::Held;
        }
        let (Some(status), Some(kind)) = (self.current.status, self.current.kind) else {
            // A correction voided the package's only status: there is no status to
            // publish (as before any carrier event).
            return Outcome::Unchanged;
        };
        self.seq += 1;
        Outcome::Changed(Change {
            previous: before,
            status,
            sub_status: self.current.sub,
            kind,
            seq: self.seq,
            decided_at_ms: self.current.decided_at,
            decided_by: self.current.decided_by,
            trigger: event.id,
        })
    }

    /// Puts `entry` (of `event`) into the history and folds it again.
    fn record(&mut self, event: &ShipmentEvent, entry: Entry) -> Recorded {
        if self.history.iter().any(|seen| seen.id == entry.id) {
            return Recorded::Duplicate;
        }
        if self.floor().is_some_and(|floor| entry.at < floor) {
            return Recorded::BelowFloor;
        }
        if let EventKind::Register(linkage) = &event.kind
            && (self.linkage.is_none() || entry.at >= self.linkage_at)
        {
            self.linkage = Some(linkage.clone());
            self.linkage_at = entry.at;
        }
        let position = self
            .history
            .partition_point(|seen| seen.order() <= entry.order());
        let latest = position == self.history.len();
        if self.history.len() == self.history.capacity() {
            // Grow by one, not by doubling: most histories stop at 5 to 30 entries.
            self.history.reserve_exact(1);
        }
        self.history.insert(position, entry);
        self.current = fold(self.base(), &self.history);
        self.compact();
        Recorded::Kept { latest }
    }

    /// Whether `event` is the one that decides the current status.
    pub fn is_decided_by(&self, event: &ShipmentEvent) -> bool {
        self.current.status.is_some() && self.current.decided_by == event.id.fingerprint()
    }

    /// Folds the oldest entries into the base once the history is over its bound.
    fn compact(&mut self) {
        if self.history.len() <= MAX_HISTORY {
            return;
        }
        let excess = self.history.len() - MAX_HISTORY;
        let dropped: Vec<Entry> = self.history.drain(..excess).collect();
        self.compacted = Some(Box::new(Compacted {
            base: fold(self.base(), &dropped),
            floor: dropped.last().map(|entry| entry.at),
        }));
    }

    /// The state the history is folded onto.
    fn base(&self) -> Derived {
        self.compacted.as_ref().map(|c| c.base).unwrap_or_default()
    }

    /// Events older than this are stale (none until the history was compacted).
    fn floor(&self) -> Option<i64> {
        self.compacted.as_ref().and_then(|c| c.floor)
    }

    /// The current status (none before the first event with a status).
    pub fn status(&self) -> Option<Status> {
        self.current.status
    }

    /// The current sub-status.
    pub fn sub_status(&self) -> Option<SubCode> {
        self.current.sub
    }

    /// The PlentyONE link, once registered.
    pub fn linkage(&self) -> Option<&Linkage> {
        self.linkage.as_ref()
    }

    /// Whether a manual status is in force, and until when its lock holds (UTC millis;
    /// `Some(None)` = until cleared; `None` = no lock).
    pub fn manual_lock(&self) -> Option<Option<i64>> {
        self.current
            .hold
            .and_then(|hold| hold.lock)
            .map(|until| (until != i64::MAX).then_some(until))
    }

    /// Whether this event's identity is in the history already.
    pub fn has_seen(&self, event: &ShipmentEvent) -> bool {
        let id = event.id.fingerprint();
        self.history.iter().any(|entry| entry.id == id)
    }

    /// The number of status changes so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The number of events kept in the history.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// The newest `count` history entries, newest first, with whether a correction voided
    /// them (for people looking a package up).
    pub fn recent(&self, count: usize) -> Vec<HistoryItem> {
        let voided = voided(&self.history);
        self.history
            .iter()
            .zip(voided)
            .rev()
            .take(count)
            .map(|(entry, voided)| {
                let (kind, status, sub_status, source) = match entry.effect {
                    Effect::Status {
                        status,
                        sub,
                        origin,
                        ..
                    } => ("status", Some(status), sub, origin),
                    Effect::Timer { status, sub, .. } => {
                        ("status", Some(status), sub, Origin::System)
                    }
                    Effect::Correction(_) => ("correction", None, None, Origin::Carrier),
                    Effect::Register => ("register", None, None, Origin::Manual),
                    Effect::ClearLock => ("clear_lock", None, None, Origin::Manual),
                    Effect::Info => ("info", None, None, Origin::Carrier),
                };
                HistoryItem {
                    occurred_at_ms: entry.at,
                    kind,
                    status,
                    sub_status,
                    source: match source {
                        Origin::Carrier => "carrier",
                        Origin::Manual => "manual",
                        Origin::System => "system",
                    },
                    voided,
                }
            })
            .collect()
    }
}

mod timers;
mod wire;

pub use timers::{DAY_MS, DueTimer, Timers};

pub use wire::PackageStateV1;

#[cfg(test)]
mod tests;
