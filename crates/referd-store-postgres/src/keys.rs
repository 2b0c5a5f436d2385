//! Group lookup for `program_for_key`, the read every authenticated request makes first (on
//! the [`crate::batch`] machinery).
//!
//! Why: a `POST /v1/customers` is one key lookup plus a share of a batched insert, so with
//! one `SELECT` per request the lookup, not the insert, dominates the database's work.
//! Measured with 64 concurrent callers, each looking its key up before inserting a customer
//! (`tests/insert_throughput.rs`, 2 cores): about 14,000 inserts/s with a statement per
//! lookup, about 27,000 with grouped lookups.
//!
//! How: concurrent lookups are queued and answered together by ONE statement over the
//! distinct hashes (`key_hash = ANY($1)`). This is not a cache: every lookup is answered by a
//! statement that starts after the lookup was asked, so a key revoked before the call (by
//! this process or by `referd keys revoke` elsewhere) is never accepted.

use std::collections::HashMap;

use referd_core::program::Program;
use referd_core::{StoreError, StoreResult};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use tokio::sync::oneshot;

use crate::batch::{Batcher, Handler};
use crate::db_error;
use crate::link::Link;
use crate::rows::{self, program_columns};

/// Most lookups answered by one statement.
const MAX_BATCH: usize = 256;
/// Lookups that may wait before callers are made to wait to enqueue.
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// The programs of the unrevoked keys among the hashes in `$1`.
const PROGRAMS_FOR_KEYS: &str = concat!(
    "SELECT k.key_hash, ",
    program_columns!("p."),
    " FROM api_keys k JOIN programs p ON p.id = k.program_id \
     WHERE k.key_hash = ANY($1::text[]) AND k.revoked_at IS NULL"
);

type Reply = oneshot::Sender<StoreResult<Option<Program>>>;

pub(crate) struct Job {
    hash: String,
    reply: Reply,
}

/// The handle the store keeps.
pub(crate) struct KeyReader {
    batcher: Batcher<Job>,
}

impl KeyReader {
    /// Starts the lookup task on the current tokio runtime.
    pub(crate) fn spawn(pool: PgPool) -> Self {
        let handler = LookupHandler {
            link: Link::new(pool),
        };
        Self {
            batcher: Batcher::spawn(handler, MAX_BATCH, QUEUE_CAPACITY),
        }
    }

    /// The program of the unrevoked key with this hash.
    pub(crate) async fn lookup(&self, hash: &str) -> StoreResult<Option<Program>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            hash: hash.to_owned(),
            reply,
        };
        self.batcher
            .submit(job)
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the API key reader stopped".into()))?
    }

    /// Stops the task after it has answered every lookup queued so far. Idempotent.
    pub(crate) async fn shutdown(&self) {
        self.batcher.shutdown().await;
    }
}

struct LookupHandler {
    link: Link,
}

impl Handler for LookupHandler {
    type Job = Job;

    async fn handle(&mut self, jobs: Vec<Job>) {
        let mut hashes: Vec<&str> = jobs.iter().map(|job| job.hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let found = match self.link.connection().await {
            Ok(conn) => {
                let result = sqlx::query(PROGRAMS_FOR_KEYS)
                    .bind(hashes)
                    .fetch_all(conn)
                    .await;
                self.link.check(result)
            }
            Err(e) => Err(e),
        };
        match found.map_err(db_error).and_then(|rows| by_hash(&rows)) {
            Ok(programs) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(programs.get(&job.hash).cloned()));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Backend(message.clone())));
                }
            }
        }
    }
}

/// The programs found, by key hash.
fn by_hash(found: &[PgRow]) -> StoreResult<HashMap<String, Program>> {
    found
        .iter()
        .map(|row| {
            let hash: String = row.try_get("key_hash").map_err(db_error)?;
            Ok((hash, rows::program(row)?))
        })
        .collect()
}
