//! The edge to the brokers: client settings, topic checks and creation.
//! Nothing outside this module imports rdkafka.

pub mod client;
pub mod codec;
pub mod dlq;
pub mod engine;
pub mod fold;
pub mod normalise;
pub mod partitioner;
pub mod published;
pub mod state;
pub mod topics;

pub use client::client_config;
pub use topics::{TopicError, ensure_topics};
