//! `Idempotency-Key` claims on SQLite: the [`IdempotencyStore`] port.
//!
//! One row per program and key in `idempotency_keys`: the request's fingerprint, and once the
//! first request has answered, its status and body (a NULL status marks a claim still
//! running). A claim is one writer job, and the writer is serial, so forgetting an expired row,
//! looking the key up and inserting the claim happen atomically: of two concurrent claims of
//! one key, exactly one gets [`IdempotencyClaim::New`].

use async_trait::async_trait;
use referd_core::program::ProgramRowId;
use referd_core::store::{IdempotencyClaim, IdempotencyStore, StoreError, StoreResult};
use referd_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use referd_core::store::IDEMPOTENCY_ABANDONED_AFTER_MICROS;

use crate::{SqliteStore, backend};

/// The body of `claim_idempotency_key`, inside one writer job.
fn claim(
    conn: &Connection,
    program: ProgramRowId,
    key: &str,
    request_hash: &str,
    now: Timestamp,
    expire_before: Timestamp,
) -> StoreResult<IdempotencyClaim> {
    // Kept answers are forgotten once expired; claims never answered (their request died with
    // its process) once abandoned.
    let abandoned_before = now.as_micros() - IDEMPOTENCY_ABANDONED_AFTER_MICROS;
    conn.prepare_cached(
        "DELETE FROM idempotency_keys WHERE program_id = ?1 AND key = ?2
             AND (created_at < ?3 OR (status IS NULL AND created_at < ?4))",
    )
    .and_then(|mut s| {
        s.execute(params![
            program.0,
            key,
            expire_before.as_micros(),
            abandoned_before
        ])
    })
    .map_err(backend)?;
    let found: Option<(String, Option<i64>, Option<Vec<u8>>)> = conn
        .prepare_cached(
            "SELECT request_hash, status, body FROM idempotency_keys
             WHERE program_id = ?1 AND key = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![program.0, key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(backend)?;
    match found {
        Some((_, None, _)) => Ok(IdempotencyClaim::InProgress),
        Some((hash, Some(_), _)) if hash != request_hash => Ok(IdempotencyClaim::Mismatch),
        Some((_, Some(status), body)) => Ok(IdempotencyClaim::Replay {
            status: u16::try_from(status).map_err(|_| {
                StoreError::Backend(format!("stored idempotency status {status} is invalid"))
            })?,
            body: body.unwrap_or_default(),
        }),
        None => {
            conn.prepare_cached(
                "INSERT INTO idempotency_keys (program_id, key, request_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![program.0, key, request_hash, now.as_micros()]))
            .map_err(backend)?;
            Ok(IdempotencyClaim::New)
        }
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(
        &self,
        program: ProgramRowId,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expire_before: Timestamp,
    ) -> StoreResult<IdempotencyClaim> {
        let (key, request_hash) = (key.to_string(), request_hash.to_string());
        self.writer
            .run(move |conn| claim(conn, program, &key, &request_hash, now, expire_before))
            .await
    }

    async fn complete_idempotency_key(
        &self,
        program: ProgramRowId,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> StoreResult<()> {
        let key = key.to_string();
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE idempotency_keys SET status = ?3, body = ?4
                     WHERE program_id = ?1 AND key = ?2",
                )
                .and_then(|mut s| s.execute(params![program.0, key, status, body]))
                .map(drop)
                .map_err(backend)
            })
            .await
    }

    async fn release_idempotency_key(&self, program: ProgramRowId, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM idempotency_keys WHERE program_id = ?1 AND key = ?2",
                )
                .and_then(|mut s| s.execute(params![program.0, key]))
                .map(drop)
                .map_err(backend)
            })
            .await
    }
}
