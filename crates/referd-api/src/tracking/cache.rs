//! In-memory lookups for the public tracking routes: programs by public id and links by
//! (program, key), each kept for a short time. A miss reads the store once; unknown ids and
//! keys are cached too, so a flood of made-up keys costs one read each per minute, not one
//! per request. Several referd instances may share a database, so nothing here is
//! invalidated by writes: a renamed or deleted link is honoured within [`LINK_TTL`].

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use referd_core::Store;
use referd_core::program::{Program, ProgramRowId};
use referd_core::tracking::LinkTarget;

/// How long a program's settings are used before they are read again.
const PROGRAM_TTL: Duration = Duration::from_secs(30);
/// How long a key's link (or its absence) is used before it is read again.
const LINK_TTL: Duration = Duration::from_secs(60);
/// Entries kept at most per map; a full map is emptied (bounded memory under key floods).
const MAX_ENTRIES: usize = 200_000;

struct TtlMap<K, V> {
    map: RwLock<HashMap<K, (V, Instant)>>,
    ttl: Duration,
}

impl<K: Hash + Eq, V: Clone> TtlMap<K, V> {
    fn new(ttl: Duration) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            ttl,
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.read().ok()?;
        let (v, at) = map.get(key)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (value, Instant::now()));
        }
    }
}

pub struct Caches {
    store: Arc<dyn Store>,
    programs: TtlMap<String, Option<Arc<Program>>>,
    links: TtlMap<(ProgramRowId, String), Option<LinkTarget>>,
}

impl Caches {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            programs: TtlMap::new(PROGRAM_TTL),
            links: TtlMap::new(LINK_TTL),
        }
    }

    /// The program with this public id; `None` when there is none (or the store failed,
    /// which is logged: a visitor never sees a storage error).
    pub async fn program(&self, public_id: &str) -> Option<Arc<Program>> {
        if let Some(p) = self.programs.get(public_id) {
            return p;
        }
        // Public ids are 8 letters and digits; anything else is not worth a read.
        if public_id.is_empty()
            || public_id.len() > 64
            || !public_id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return None;
        }
        match self.store.find_program(public_id).await {
            Ok(p) => {
                let p = p.map(Arc::new);
                self.programs.put(public_id.to_string(), p.clone());
                p
            }
            Err(e) => {
                tracing::error!(error = %e, "tracking: program lookup failed");
                None
            }
        }
    }

    /// The link a key names in a program.
    pub async fn link(&self, program: &Program, key: &str) -> Option<LinkTarget> {
        if key.is_empty() || key.len() > 255 {
            return None;
        }
        if let Some(t) = self.links.get(&(program.id, key.to_string())) {
            return t;
        }
        match self
            .store
            .resolve_link_key(program.id, program.program_type, key)
            .await
        {
            Ok(t) => {
                self.links.put((program.id, key.to_string()), t);
                t
            }
            Err(e) => {
                tracing::error!(error = %e, "tracking: link lookup failed");
                None
            }
        }
    }
}
