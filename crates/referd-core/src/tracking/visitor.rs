//! Visitors without personal data. A click is tied to a *visitor hash*: SHA-256 of a secret
//! salt, the client's IP address and its user agent, cut to 128 bits. The raw address is
//! never stored or logged. The salt is random, lives only in memory and is replaced every
//! day, so hashes cannot be linked across days or reversed by trying every IPv4 address.
//!
//! [`Dedupe`] counts a visitor's clicks on one link once per [`DEDUPE_WINDOW`]: a second
//! click within the window of the first counted one is not counted.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// One hour, in microseconds.
pub const DEDUPE_WINDOW_MICROS: i64 = 3_600_000_000;
/// How long one salt is used: a day, in microseconds.
const SALT_LIFETIME_MICROS: i64 = 86_400_000_000;

/// Hashes visitors with a salt that changes every day.
pub struct VisitorHasher {
    salt: [u8; 32],
    salt_until: i64,
}

impl Default for VisitorHasher {
    fn default() -> Self {
        Self {
            salt: [0; 32],
            salt_until: i64::MIN,
        }
    }
}

impl VisitorHasher {
    /// The visitor hash (32 hex digits) of an address and user agent at `now`.
    pub fn hash(&mut self, ip: IpAddr, user_agent: &str, now: Timestamp) -> String {
        if now.as_micros() >= self.salt_until {
            rand::rng().fill_bytes(&mut self.salt);
            self.salt_until = now.as_micros().saturating_add(SALT_LIFETIME_MICROS);
        }
        let mut h = Sha256::new();
        h.update(self.salt);
        // Fixed-width address bytes and a separator keep (ip, ua) pairs unambiguous.
        match ip {
            IpAddr::V4(v4) => h.update(v4.to_ipv6_mapped().octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
        h.update([0]);
        h.update(user_agent.as_bytes());
        hex::encode(&h.finalize()[..16])
    }
}

/// Remembers when each (link, visitor) pair was last counted, to count a repeat within the
/// window once. Entries older than the window are dropped as the map grows, so memory stays
/// bounded by the clicks of the last hour.
pub struct Dedupe<K> {
    seen: HashMap<K, i64>,
    window: i64,
    next_prune: usize,
}

impl<K: Hash + Eq> Dedupe<K> {
    pub fn new(window_micros: i64) -> Self {
        Self {
            seen: HashMap::new(),
            window: window_micros,
            next_prune: 1024,
        }
    }

    /// Whether a click at `now` counts: the first of the pair, or the first since the window
    /// after the last counted one closed.
    pub fn admit(&mut self, key: K, now: Timestamp) -> bool {
        let now = now.as_micros();
        if self.seen.len() >= self.next_prune {
            let window = self.window;
            self.seen.retain(|_, at| now - *at < window);
            self.next_prune = (self.seen.len() * 2).max(1024);
        }
        match self.seen.get(&key) {
            Some(at) if now - *at < self.window => false,
            _ => {
                self.seen.insert(key, now);
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + minutes * 60_000_000)
    }

    #[test]
    fn a_repeat_within_the_hour_counts_once() {
        let mut d = Dedupe::new(DEDUPE_WINDOW_MICROS);
        assert!(d.admit(("link", "v1"), at(0)));
        assert!(!d.admit(("link", "v1"), at(1)));
        assert!(!d.admit(("link", "v1"), at(59)));
        // Another visitor, or another link, is another click.
        assert!(d.admit(("link", "v2"), at(1)));
        assert!(d.admit(("other", "v1"), at(1)));
        // An hour after the counted click, it counts again.
        assert!(d.admit(("link", "v1"), at(60)));
        assert!(!d.admit(("link", "v1"), at(61)));
    }

    #[test]
    fn old_entries_are_pruned() {
        let mut d = Dedupe::new(DEDUPE_WINDOW_MICROS);
        // Pruning runs as the map grows (at 1024 entries, then at twice what survived).
        for i in 0..2047 {
            d.admit(i, at(0));
        }
        d.admit(-1, at(120));
        assert_eq!(d.len(), 2048);
        assert!(d.admit(5, at(121)), "an hour later the pair counts again");
        assert_eq!(d.len(), 2, "entries older than the window were dropped");
    }

    #[test]
    fn hashes_are_stable_within_a_day_and_never_contain_the_address() {
        let mut h = VisitorHasher::default();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let a = h.hash(ip, "Firefox", at(0));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("203"));
        assert_eq!(a, h.hash(ip, "Firefox", at(600)));
        assert_ne!(a, h.hash(ip, "Chrome", at(600)));
        assert_ne!(
            a,
            h.hash("203.0.113.8".parse().unwrap(), "Firefox", at(600))
        );
        // A day later the salt is new, so the same visitor hashes differently.
        assert_ne!(a, h.hash(ip, "Firefox", at(24 * 60 + 1)));
        // Another process (another salt) cannot reproduce it.
        let mut other = VisitorHasher::default();
        assert_ne!(a, other.hash(ip, "Firefox", at(0)));
    }
}
