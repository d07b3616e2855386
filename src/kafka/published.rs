//! The normalise stage's memory of the carrier events it has already published.
//!
//! Polling adapters send a package's whole history on every poll, so most unified events a
//! raw body yields were published before (70% in the benchmark's workload). The fold would
//! recognise each as a duplicate of its package's history and drop it; skipping it here
//! saves its Avro encoding, its trip through Kafka and its decoding in the fold, and
//! changes nothing the fold decides.
//!
//! A raw body re-sent unchanged (a poll that found nothing new, the commonest poll there is)
//! is not even mapped: once all its events are published, the digest of the body (carrier,
//! record key and bytes: all a mapper reads) joins the window too. A body that was poison
//! is not remembered, so each copy reaches the dead-letter topic.
//!
//! The window holds the last `capacity` event ids and body digests, in first-published
//! order. An id counts as published once the transaction (or at-least-once commit) that
//! carried it commits: ids of the open transaction are forgotten when it aborts, so a
//! rewound record publishes its events again. Within the open transaction an id published
//! once is not published twice: both copies would commit or abort together.
//!
//! It is a cache, not state: it starts empty, it is not restored, and an id it has
//! forgotten (evicted, or published by another instance before a rebalance) is published
//! again and dropped by the fold as before.

use crate::domain::{EventId, IdBitsState};
use std::collections::{HashSet, VecDeque};
use xxhash_rust::xxh3::Xxh3;

/// What a raw body is, for the window: 128 bits of XXH3 over the carrier, the record key
/// and the body, each length-prefixed, as event ids are made (over other parts).
pub fn body_digest(carrier: &str, key: Option<&[u8]>, payload: &[u8]) -> u128 {
    let mut hasher = Xxh3::new();
    for part in [carrier.as_bytes(), key.unwrap_or_default(), payload] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest128()
}

/// Event ids published recently (see the module documentation).
#[derive(Debug, Default)]
pub struct PublishedWindow {
    capacity: usize,
    ids: HashSet<u128, IdBitsState>,
    /// The same ids, oldest first.
    order: VecDeque<u128>,
    /// How many of the newest ids in `order` belong to the open transaction.
    pending: usize,
}

impl PublishedWindow {
    /// A window of the last `capacity` ids; 0 remembers nothing (every event is published).
    ///
    /// Sized for `capacity` at once: growing would rehash up to a million ids in one
    /// record's time, and leave the smaller tables' memory with the allocator. Pages the
    /// window has not used yet are not resident.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ids: HashSet::with_capacity_and_hasher(capacity, IdBitsState::default()),
            order: VecDeque::with_capacity(capacity),
            pending: 0,
        }
    }

    /// Whether `id` is new: not published by a committed transaction or earlier in the open
    /// one. A new id is remembered as part of the open transaction.
    pub fn is_new(&mut self, id: EventId) -> bool {
        self.remember(u128::from_be_bytes(id.0))
    }

    /// Whether a body with this [`body_digest`] had all its events published.
    pub fn has_body(&self, digest: u128) -> bool {
        self.ids.contains(&digest)
    }

    /// All events of the body with this digest are published (in the open transaction).
    pub fn body_done(&mut self, digest: u128) {
        self.remember(digest);
    }

    fn remember(&mut self, key: u128) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if self.ids.contains(&key) {
            return false;
        }
        // Full: the oldest id leaves first, so that neither the set nor the queue grows.
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
            self.pending = self.pending.min(self.order.len());
        }
        self.ids.insert(key);
        self.order.push_back(key);
        self.pending += 1;
        true
    }

    /// The open transaction committed: its ids are published.
    pub fn commit(&mut self) {
        self.pending = 0;
    }

    /// The open transaction aborted: its ids were not published.
    pub fn abort(&mut self) {
        for _ in 0..self.pending {
            if let Some(id) = self.order.pop_back() {
                self.ids.remove(&id);
            }
        }
        self.pending = 0;
    }

    /// How many ids the window holds.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the window holds no id.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> EventId {
        let mut bytes = [0u8; 16];
        bytes[0] = n;
        bytes[15] = n.wrapping_mul(31);
        EventId(bytes)
    }

    #[test]
    fn an_id_is_new_once_and_stays_known_after_commit() {
        let mut window = PublishedWindow::new(10);
        assert!(window.is_new(id(1)));
        assert!(!window.is_new(id(1)), "twice in the open transaction");
        window.commit();
        assert!(!window.is_new(id(1)), "after the commit");
        assert!(window.is_new(id(2)));
    }

    #[test]
    fn an_abort_forgets_the_open_transaction_only() {
        let mut window = PublishedWindow::new(10);
        assert!(window.is_new(id(1)));
        window.commit();
        assert!(window.is_new(id(2)));
        assert!(window.is_new(id(3)));
        window.abort();
        assert!(!window.is_new(id(1)), "committed before the abort");
        assert!(window.is_new(id(2)), "aborted: publish again");
        assert!(window.is_new(id(3)));
        assert_eq!(window.len(), 3);
    }

    #[test]
    fn the_oldest_ids_leave_a_full_window() {
        let mut window = PublishedWindow::new(3);
        for n in 1..=4 {
            assert!(window.is_new(id(n)));
        }
        window.commit();
        assert_eq!(window.len(), 3);
        assert!(window.is_new(id(1)), "evicted");
        assert!(!window.is_new(id(4)));
    }

    #[test]
    fn a_transaction_larger_than_the_window_aborts_cleanly() {
        let mut window = PublishedWindow::new(2);
        assert!(window.is_new(id(1)));
        window.commit();
        for n in 2..=5 {
            assert!(window.is_new(id(n)));
        }
        window.abort();
        assert!(window.is_empty());
        assert!(window.is_new(id(5)));
    }

    #[test]
    fn a_body_is_known_once_done_and_forgotten_on_abort() {
        let digest = body_digest("dpd", Some(b"0123"), b"<xml/>");
        let mut window = PublishedWindow::new(10);
        assert!(!window.has_body(digest));
        window.body_done(digest);
        assert!(window.has_body(digest), "within the open transaction");
        window.abort();
        assert!(!window.has_body(digest));
        window.body_done(digest);
        window.commit();
        assert!(window.has_body(digest));
    }

    #[test]
    fn the_digest_covers_carrier_key_and_body() {
        let digest = body_digest("dpd", Some(b"0123"), b"<xml/>");
        assert_ne!(digest, body_digest("gls", Some(b"0123"), b"<xml/>"));
        assert_ne!(digest, body_digest("dpd", Some(b"0124"), b"<xml/>"));
        assert_ne!(digest, body_digest("dpd", Some(b"0123"), b"<xml />"));
        assert_ne!(digest, body_digest("dpd", None, b"0123<xml/>"));
        assert_eq!(digest, body_digest("dpd", Some(b"0123"), b"<xml/>"));
    }

    #[test]
    fn a_window_of_zero_remembers_nothing() {
        let mut window = PublishedWindow::new(0);
        assert!(window.is_new(id(1)));
        window.body_done(7);
        window.commit();
        assert!(window.is_new(id(1)));
        assert!(!window.has_body(7));
        assert!(window.is_empty());
    }
}
