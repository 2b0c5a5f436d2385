//! Read-only connections for queries.
//!
//! Reads run inline on the calling async task: a referd read is an indexed lookup or a page
//! of at most 250 rows (tens of microseconds to about a millisecond), cheaper than a hop to
//! a blocking thread. Connections are kept in a small free list and opened on demand, so
//! concurrent readers never wait for each other.

use std::path::PathBuf;
use std::sync::Mutex;

use referd_core::store::StoreResult;
use rusqlite::{Connection, OpenFlags};

use crate::{BUSY_TIMEOUT_MS, backend};

/// Idle connections kept open; more may exist briefly under load.
const MAX_IDLE: usize = 8;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read-only connection.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        let conn = match self.idle.lock().ok().and_then(|mut v| v.pop()) {
            Some(c) => c,
            None => self.open()?,
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))
            .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}
