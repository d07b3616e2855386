//! The serialized form of [`PackageState`] (the state changelog), kept as it was before
//! the in-memory layout was compacted: the same fields, in the same order, with the same
//! types, so that records already on a changelog read back (a test in `kafka::state`
//! pins the bytes). Version 2 appends the open raw record ([`Open`]); version 1 records
//! read through [`PackageStateV1`].

use super::{
    Compacted, Derived, Entry, EntryLock, LockEnd, Open, Origin, PackageState, Status, SubCode,
    Voids,
};
use crate::domain::event::Linkage;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `Effect` as written: the lock as an `Option`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) enum Effect {
    Status {
        status: Status,
        sub: Option<SubCode>,
        origin: Origin,
        lock: Option<LockEnd>,
    },
    Correction(Voids),
    Register,
    ClearLock,
    Info,
    /// Since version 2 (appended: version 1 records never hold it).
    Timer {
        status: Status,
        sub: Option<SubCode>,
        since: i64,
    },
}

impl From<super::Effect> for Effect {
    fn from(effect: super::Effect) -> Self {
        match effect {
            super::Effect::Status {
                status,
                sub,
                origin,
                lock,
            } => Effect::Status {
                status,
                sub,
                origin,
                lock: lock.get(),
            },
            super::Effect::Correction(voids) => Effect::Correction(voids),
            super::Effect::Register => Effect::Register,
            super::Effect::ClearLock => Effect::ClearLock,
            super::Effect::Info => Effect::Info,
            super::Effect::Timer { status, sub, since } => Effect::Timer { status, sub, since },
        }
    }
}

impl From<Effect> for super::Effect {
    fn from(effect: Effect) -> Self {
        match effect {
            Effect::Status {
                status,
                sub,
                origin,
                lock,
            } => super::Effect::Status {
                status,
                sub,
                origin,
                lock: EntryLock::of(lock),
            },
            Effect::Correction(voids) => super::Effect::Correction(voids),
            Effect::Register => super::Effect::Register,
            Effect::ClearLock => super::Effect::ClearLock,
            Effect::Info => super::Effect::Info,
            Effect::Timer { status, sub, since } => super::Effect::Timer { status, sub, since },
        }
    }
}

/// `PackageState` as written, borrowed for writing.
#[derive(Serialize)]
#[serde(rename = "PackageState")]
struct StateRef<'a> {
    history: &'a [Entry],
    base: Derived,
    floor: Option<i64>,
    current: &'a Derived,
    linkage: &'a Option<Linkage>,
    linkage_at: i64,
    seq: u64,
    open: Option<Open>,
}

/// `PackageState` as version 1 wrote it, owned for reading; version 2 appends the open
/// record (a struct's fields and a tuple's are written alike: one after the other).
#[derive(Deserialize)]
#[serde(rename = "PackageState")]
struct State {
    history: Vec<Entry>,
    base: Derived,
    floor: Option<i64>,
    current: Derived,
    linkage: Option<Linkage>,
    linkage_at: i64,
    seq: u64,
}

impl State {
    fn with(self, open: Option<Open>) -> PackageState {
        let compacted = Compacted {
            base: self.base,
            floor: self.floor,
        };
        PackageState {
            history: self.history,
            compacted: (compacted != Compacted::default()).then(|| Box::new(compacted)),
            current: self.current,
            linkage: self.linkage,
            linkage_at: self.linkage_at,
            seq: self.seq,
            open,
        }
    }
}

/// Reads a [`PackageState`] in the form version 1 of the changelog wrote (before a raw
/// record could be open).
#[derive(Debug)]
pub struct PackageStateV1(pub PackageState);

impl<'de> Deserialize<'de> for PackageStateV1 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        State::deserialize(deserializer).map(|state| Self(state.with(None)))
    }
}

impl Serialize for PackageState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StateRef {
            history: &self.history,
            base: self.base(),
            floor: self.floor(),
            current: &self.current,
            linkage: &self.linkage,
            linkage_at: self.linkage_at,
            seq: self.seq,
            open: self.open,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PackageState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (state, open) = <(State, Option<Open>)>::deserialize(deserializer)?;
        Ok(state.with(open))
    }
}
