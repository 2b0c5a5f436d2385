//! API key → program, remembered for [`TTL`].
//!
//! Every request authenticates, and on SQLite each read statement pays for taking and
//! releasing the WAL read lock (measured: ~40% of a `GET /v1/customers/{id}`'s CPU, half of
//! it for the key check). Keys are looked up far more often than they change, so the store
//! keeps what it found for one second:
//! - a revocation through this store (this process) clears the cache at once;
//! - a revocation by another process (`referd keys revoke` beside a running `serve`) takes
//!   effect within [`TTL`];
//! - unknown keys are never cached, so a new key works at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use referd_core::program::Program;

pub(crate) const TTL: Duration = Duration::from_secs(1);
/// More distinct keys than this in one TTL and the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (Program, Instant)>,
    /// Bumped by every [`KeyCache::clear`]: an answer read before a clear must not be put
    /// back after it (it may predate a revocation).
    generation: u64,
}

impl KeyCache {
    /// The generation to pass to [`KeyCache::put`]; take it before reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.entries
            .lock()
            .map(|e| e.generation)
            .unwrap_or(u64::MAX)
    }

    pub(crate) fn get(&self, key_hash: &str) -> Option<Program> {
        let entries = self.entries.lock().ok()?;
        let (program, at) = entries.map.get(key_hash)?;
        (at.elapsed() < TTL).then(|| program.clone())
    }

    /// Remembers an answer read from the database, unless the cache was cleared since
    /// `generation` was taken.
    pub(crate) fn put(&self, key_hash: &str, program: &Program, generation: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.generation != generation {
                return;
            }
            if entries.map.len() >= MAX_ENTRIES {
                entries.map.clear();
            }
            entries
                .map
                .insert(key_hash.to_string(), (program.clone(), Instant::now()));
        }
    }

    /// Forgets everything (a key was revoked or a program changed in this process).
    pub(crate) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.clear();
            entries.generation += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use referd_core::ids::ProgramType;
    use referd_core::program::{ProgramRowId, ProgramSettings};
    use referd_core::time::Timestamp;

    fn program() -> Program {
        Program {
            id: ProgramRowId(1),
            public_id: "P".into(),
            program_type: ProgramType::Referral,
            name: "n".into(),
            website: None,
            settings: ProgramSettings::default(),
            rules_version: 0,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
        }
    }

    #[test]
    fn remembers_until_cleared() {
        let cache = KeyCache::default();
        assert!(cache.get("h").is_none());
        cache.put("h", &program(), cache.generation());
        assert_eq!(cache.get("h"), Some(program()));
        cache.clear();
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn an_answer_read_before_a_clear_is_not_kept() {
        let cache = KeyCache::default();
        let generation = cache.generation();
        cache.clear(); // a revocation lands while the lookup is reading
        cache.put("h", &program(), generation);
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = KeyCache::default();
        cache.put("h", &program(), cache.generation());
        if let Ok(mut e) = cache.entries.lock() {
            e.map.get_mut("h").unwrap().1 = Instant::now() - TTL - Duration::from_millis(1);
        }
        assert!(cache.get("h").is_none());
    }
}
