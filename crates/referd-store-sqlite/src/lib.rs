//! referd's embedded SQLite store, the zero-configuration default.
//!
//! Design (measured in `shared/design/performance.md`, figures in `BENCHMARKS.md`):
//! - **Writes** go to one dedicated writer thread ([`writer`]) that owns the only writable
//!   connection. It takes every queued write (up to a batch limit), runs each in its own
//!   savepoint inside one transaction, commits once (`synchronous=FULL`: one fsync per batch)
//!   and only then answers each caller. Durable writes at group-commit speed, and because
//!   writes are serial, check-then-write sequences inside one job are race-free.
//! - **Reads** use separate read-only connections ([`readers`]); in WAL mode they never wait
//!   for the writer and always see every write that has been answered.

mod admin;
mod affiliate_customers;
mod customers;
mod emails;
mod idempotency;
mod key_cache;
mod ledger;
mod links;
mod migrate;
mod partners;
mod programs;
mod readers;
mod rows;
mod rules;
mod tracking;
mod transactions;
mod url;
mod webhooks;
mod writer;

use std::path::PathBuf;

use async_trait::async_trait;
use referd_core::page::{PageRequest, SortOrder};
use referd_core::store::{Store, StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

use crate::readers::Readers;
use crate::writer::Writer;

pub use crate::url::sqlite_path_from_url;

/// How long a connection waits on a lock before failing (only another process can hold one).
const BUSY_TIMEOUT_MS: u32 = 5_000;

pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    keys: key_cache::KeyCache,
    rules: referd_core::rules::cache::RulesCache,
}

impl SqliteStore {
    /// Opens (creating file and folder if needed) the database named by a `sqlite:` URL.
    pub fn open_url(url: &str) -> StoreResult<Self> {
        Self::open(sqlite_path_from_url(url)?)
    }

    /// Opens (creating file and folder if needed) the database at `path`.
    pub fn open(path: impl Into<PathBuf>) -> StoreResult<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        // WAL lets readers run beside the writer; FULL makes every answered write survive a
        // power loss (group commit makes it cheap: one fsync per batch). A 64 MiB page cache
        // keeps the indexes the writer touches in memory. A checkpoint every 8000 WAL pages
        // (~32 MB) instead of SQLite's 1000 copies the hot tail pages of the indexes into the
        // database less often: +9% creates/s measured (BENCHMARKS.md); the WAL file is capped at
        // 64 MB once checkpointed. Checkpoints stay SQLite's automatic
        // ones inside the writer: a separate PASSIVE checkpointer was measured and lost, since
        // with readers and the writer always active the WAL never resets and grows unbounded.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA cache_size = -65536;
             PRAGMA wal_autocheckpoint = 8000;
             PRAGMA journal_size_limit = 67108864;"
        ))
        .map_err(backend)?;
        Ok(Self {
            writer: Writer::start(conn)?,
            readers: Readers::new(path),
            keys: key_cache::KeyCache::default(),
            rules: Default::default(),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.writer.run(migrate::apply).await
    }

    async fn close(&self) {
        self.writer.stop().await;
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

/// Any SQLite failure that is not a domain outcome: logged by the API layer, never shown.
pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Whether an error is a unique-constraint violation (by its extended code, not its text).
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The `ORDER BY … row_id` direction of a page.
pub(crate) fn sort_order(page: PageRequest) -> &'static str {
    match page.sort {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    }
}
