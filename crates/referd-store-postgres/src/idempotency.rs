//! [`IdempotencyStore`] for [`PostgresStore`]: the first answer to each `Idempotency-Key` of a
//! program (`idempotency_keys`, migration 0005), kept until the caller's expiry.
//!
//! A claim inserts the key's row with no status; the request's answer fills it in
//! (`complete`), or a failed request deletes it (`release`) so a retry runs again. The
//! primary key `(program_id, key)` decides who claims: of two concurrent inserts the second
//! waits for the first to commit and then does nothing, so exactly one claim is `New`.
//!
//! Not routed through the group-commit writer: each call is one short statement or
//! transaction on the pool.

use async_trait::async_trait;
use referd_core::program::ProgramRowId;
use referd_core::store::{IDEMPOTENCY_ABANDONED_AFTER_MICROS, IdempotencyClaim, IdempotencyStore};
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use sqlx::Row;

use crate::{PostgresStore, db_error};

/// Forgets the key's claim when it is older than `$3`, or has no answer and is older than
/// `$4` (abandoned: its request died with its process).
const EXPIRE: &str = "DELETE FROM idempotency_keys WHERE program_id = $1 AND key = $2 \
     AND (created_at < $3 OR (status IS NULL AND created_at < $4))";

/// Claims the key: a row only when the key is free.
const CLAIM: &str = "INSERT INTO idempotency_keys (program_id, key, request_hash, created_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (program_id, key) DO NOTHING RETURNING 1";

/// The claim that holds the key.
const FIND: &str = "SELECT request_hash, status, body FROM idempotency_keys \
     WHERE program_id = $1 AND key = $2";

const COMPLETE: &str =
    "UPDATE idempotency_keys SET status = $3, body = $4 WHERE program_id = $1 AND key = $2";

const RELEASE: &str = "DELETE FROM idempotency_keys WHERE program_id = $1 AND key = $2";

/// Claim attempts when the holder of the key releases it between our insert and our read.
const CLAIM_ATTEMPTS: usize = 3;

#[async_trait]
impl IdempotencyStore for PostgresStore {
    async fn claim_idempotency_key(
        &self,
        program: ProgramRowId,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expire_before: Timestamp,
    ) -> StoreResult<IdempotencyClaim> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(EXPIRE)
            .bind(program.0)
            .bind(key)
            .bind(expire_before.as_micros())
            .bind(now.as_micros() - IDEMPOTENCY_ABANDONED_AFTER_MICROS)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        // Under READ COMMITTED each statement sees what committed before it: a conflicting
        // insert waits for the other claim's transaction, and the read after it sees its row.
        for _ in 0..CLAIM_ATTEMPTS {
            let claimed = sqlx::query(CLAIM)
                .bind(program.0)
                .bind(key)
                .bind(request_hash)
                .bind(now.as_micros())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
            if claimed.is_some() {
                tx.commit().await.map_err(db_error)?;
                return Ok(IdempotencyClaim::New);
            }
            let Some(row) = sqlx::query(FIND)
                .bind(program.0)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
            else {
                // Released (or expired by another claim) in between: try to claim it again.
                continue;
            };
            tx.commit().await.map_err(db_error)?;
            let status: Option<i32> = row.try_get("status").map_err(db_error)?;
            let Some(status) = status else {
                return Ok(IdempotencyClaim::InProgress);
            };
            let stored_hash: String = row.try_get("request_hash").map_err(db_error)?;
            if stored_hash != request_hash {
                return Ok(IdempotencyClaim::Mismatch);
            }
            let status = u16::try_from(status)
                .map_err(|_| StoreError::Backend(format!("bad idempotent status {status}")))?;
            let body: Option<Vec<u8>> = row.try_get("body").map_err(db_error)?;
            return Ok(IdempotencyClaim::Replay {
                status,
                body: body.unwrap_or_default(),
            });
        }
        // The key keeps changing hands: another request is on it.
        tx.commit().await.map_err(db_error)?;
        Ok(IdempotencyClaim::InProgress)
    }

    async fn complete_idempotency_key(
        &self,
        program: ProgramRowId,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> StoreResult<()> {
        sqlx::query(COMPLETE)
            .bind(program.0)
            .bind(key)
            .bind(i32::from(status))
            .bind(body)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn release_idempotency_key(&self, program: ProgramRowId, key: &str) -> StoreResult<()> {
        sqlx::query(RELEASE)
            .bind(program.0)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
