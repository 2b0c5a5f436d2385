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
    entries: Mutex<HashMap<String, (Program, Instant)>>,
}

impl KeyCache {
    pub(crate) fn get(&self, key_hash: &str) -> Option<Program> {
        let entries = self.entries.lock().ok()?;
        let (program, at) = entries.get(key_hash)?;
        (at.elapsed() < TTL).then(|| program.clone())
    }

    pub(crate) fn put(&self, key_hash: &str, program: &Program) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key_hash.to_string(), (program.clone(), Instant::now()));
        }
    }

    /// Forgets everything (a key was revoked or a program changed in this process).
    pub(crate) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use referd_core::ids::ProgramType;
    use referd_core::program::ProgramRowId;
    use referd_core::time::Timestamp;

    fn program() -> Program {
        Program {
            id: ProgramRowId(1),
            public_id: "P".into(),
            program_type: ProgramType::Referral,
            name: "n".into(),
            website: None,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
        }
    }

    #[test]
    fn remembers_until_cleared() {
        let cache = KeyCache::default();
        assert!(cache.get("h").is_none());
        cache.put("h", &program());
        assert_eq!(cache.get("h"), Some(program()));
        cache.clear();
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = KeyCache::default();
        cache.put("h", &program());
        if let Ok(mut e) = cache.entries.lock() {
            e.get_mut("h").unwrap().1 = Instant::now() - TTL - Duration::from_millis(1);
        }
        assert!(cache.get("h").is_none());
    }
}
