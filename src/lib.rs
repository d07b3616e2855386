//! # unitrack
//!
//! One unified shipment status across all carriers, as a Kafka stream processor.
//!
//! ```text
//!  carrier adapters ──► tracking.raw.<carrier> ──┐
//!  carrier push (HTTP) ─► http ─► tracking.raw.dhl┤
//!                                                 ├─► normalise ─► shipment.events ─► fold ─► shipment.status.changed ─► Flow
//!  ops / CLI ──────────► shipment.commands ───────┘   (carriers)    (keyed by package) (state)  (Avro, real changes only)
//!                                                          │
//!                                                          └─► tracking.dlq (poison, with the reason)
//! ```
//!
//! Modules:
//! - [`domain`]: the pure core: packages, statuses, events, the fold. No I/O.
//! - [`carriers`]: one mapper per carrier, raw body → unified events. No I/O.
//! - [`config`]: typed configuration, loaded from files and `UNITRACK__` environment variables.
//! - [`ops`]: the ops CLI that sends commands and waits for their outcomes.
//! - [`replay`]: the offline mode: raw bodies through the mappers and the fold, JSON lines out.
//! - [`avro`]: the Avro contract of `schemas/` and its wire formats.
//! - [`http`]: the HTTP edge: health, metrics, push ingress, package lookup.
//! - [`kafka`]: the edge to the brokers (clients, topics, the processor).
//! - [`telemetry`]: logging set-up.
//! - [`guard`]: panics caught where one bad input must not stop the stream.
//! - [`app`]: wires it all for `unitrack run`.

pub mod app;
pub mod avro;
pub mod carriers;
pub mod config;
pub mod domain;
pub mod guard;
pub mod http;
pub mod kafka;
pub mod ops;
pub mod replay;
pub mod telemetry;
