//! The pure core: packages, statuses, events, the fold. No Kafka, no tokio, no clock, no I/O.

mod changed;
mod command;
mod event;
mod fold;
mod package;
mod records;
mod status;
mod time;

pub use changed::{ChangeSource, StatusChanged};
pub use command::{Command, CommandError, CommandOutcome, LockSpec};
pub(crate) use event::IdHasher;
pub use event::{
    CarrierEvent, Correction, EventId, EventKind, IdBits, IdBitsState, Linkage, Location, Lock,
    RawCode, ShipmentEvent, Source,
};
pub use fold::{
    Change, DAY_MS, DueTimer, HistoryItem, Outcome, PackageState, PackageStateV1, Timers,
    TransitionKind,
};
pub use package::{IdentityError, PackageKey, TrackingNumber, check_carrier_id};
pub use records::{Deciders, with_more_follow};
pub use status::{Direction, ReasonOwner, Status, StatusClass, SubCode, UnknownStatus};
pub use time::{
    EventTime, TimeError, ZoneSource, parse_iso_local, parse_local_time, parse_offset_time,
    zone_of_country, zone_of_place, zone_of_region,
};
