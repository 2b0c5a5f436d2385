//! Parsed rule sets by program, for the version in force.
//!
//! A sale needs its program's rules. Reading and parsing them on every sale cost a query and a
//! JSON parse per request (a tenth of a sale's time on PostgreSQL). The program row, which every
//! request reads anyway to check its API key, carries `rules_version`; a cached set is used only
//! when its version is that one, so a rule change is seen by the very next request that reads
//! the program, on every instance, without invalidation messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{RuleSet, RuleVersion};
use crate::program::ProgramRowId;

/// A rule version with its parsed set.
pub type RulesInForce = Arc<(RuleVersion, RuleSet)>;

/// One entry per program: the newest version seen. Memory is bounded by the number of programs.
#[derive(Default)]
pub struct RulesCache {
    by_program: Mutex<HashMap<ProgramRowId, RulesInForce>>,
}

impl RulesCache {
    /// The cached rules of `program` when they are `version`.
    pub fn get(&self, program: ProgramRowId, version: i64) -> Option<RulesInForce> {
        let map = self.by_program.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&program)
            .filter(|r| r.0.version == version)
            .cloned()
    }

    /// Remembers `rules` unless a newer version of the program is already cached (a request
    /// that read an older program row must not push the newer set out).
    pub fn put(&self, program: ProgramRowId, rules: RulesInForce) {
        let mut map = self.by_program.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&program) {
            Some(held) if held.0.version > rules.0.version => {}
            _ => {
                map.insert(program, rules);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn version(v: i64) -> RulesInForce {
        Arc::new((
            RuleVersion {
                version: v,
                body: "{}".into(),
                created_at: Timestamp::from_micros(0),
            },
            RuleSet::default(),
        ))
    }

    #[test]
    fn answers_only_the_version_asked_for() {
        let cache = RulesCache::default();
        let p = ProgramRowId(1);
        assert!(cache.get(p, 1).is_none());
        cache.put(p, version(1));
        assert_eq!(cache.get(p, 1).map(|r| r.0.version), Some(1));
        assert!(
            cache.get(p, 2).is_none(),
            "a newer version is read, not guessed"
        );
        assert!(cache.get(ProgramRowId(2), 1).is_none());
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let cache = RulesCache::default();
        let p = ProgramRowId(1);
        cache.put(p, version(3));
        cache.put(p, version(2));
        assert_eq!(cache.get(p, 3).map(|r| r.0.version), Some(3));
        cache.put(p, version(4));
        assert!(cache.get(p, 3).is_none());
        assert_eq!(cache.get(p, 4).map(|r| r.0.version), Some(4));
    }
}
