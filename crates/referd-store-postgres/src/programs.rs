//! [`ProgramStore`] for [`PostgresStore`]: programs, their API keys, and the referral counts
//! behind `GET /v1/program`.

use async_trait::async_trait;
use referd_core::StoreResult;
use referd_core::program::{
    ApiKeyInfo, ApiKeySelector, NewProgram, Program, ProgramRowId, ReferralCounts,
};
use referd_core::store::ProgramStore;
use referd_core::time::Timestamp;

use crate::rows::{self, program_columns};
use crate::{PostgresStore, db_error};

const INSERT_PROGRAM: &str = concat!(
    "INSERT INTO programs (public_id, program_type, name, website, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
    program_columns!()
);

const INSERT_API_KEY: &str = "INSERT INTO api_keys (program_id, key_hash, hint, created_at) \
     VALUES ($1, $2, $3, $4) RETURNING id";

const LIST_PROGRAMS: &str = concat!("SELECT ", program_columns!(), " FROM programs ORDER BY id");

const FIND_PROGRAM: &str = concat!(
    "SELECT ",
    program_columns!(),
    " FROM programs WHERE public_id = $1"
);

const LIST_API_KEYS: &str = "SELECT k.id, p.public_id AS program_public_id, k.hint, \
     k.created_at, k.revoked_at \
     FROM api_keys k JOIN programs p ON p.id = k.program_id \
     WHERE k.program_id = $1 ORDER BY k.id";

const REVOKE_KEY_BY_ID: &str = "UPDATE api_keys SET revoked_at = $1 \
     WHERE id = $2 AND revoked_at IS NULL AND ($3::bigint IS NULL OR program_id = $3)";

const REVOKE_KEY_BY_HASH: &str = "UPDATE api_keys SET revoked_at = $1 \
     WHERE key_hash = $2 AND revoked_at IS NULL AND ($3::bigint IS NULL OR program_id = $3)";

/// `referring` counts distinct referrers that are themselves live; the join finds them.
const REFERRAL_COUNTS: &str = "SELECT count(*) AS customers, \
     count(c.referrer_row_id) AS referred, \
     count(DISTINCT r.row_id) AS referring \
     FROM customers c \
     LEFT JOIN customers r ON r.row_id = c.referrer_row_id \
         AND r.program_id = c.program_id AND r.deleted_at IS NULL \
     WHERE c.program_id = $1 AND c.deleted_at IS NULL \
         AND ($2::bigint IS NULL OR c.created_at < $2)";

#[async_trait]
impl ProgramStore for PostgresStore {
    async fn create_program(
        &self,
        new: NewProgram,
        key_hash: String,
        key_hint: String,
    ) -> StoreResult<(Program, i64)> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let row = sqlx::query(INSERT_PROGRAM)
            .bind(&new.public_id)
            .bind(new.program_type.as_str())
            .bind(&new.name)
            .bind(&new.website)
            .bind(new.created_at.as_micros())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let program = rows::program(&row)?;
        let key_id: i64 = sqlx::query_scalar(INSERT_API_KEY)
            .bind(program.id.0)
            .bind(&key_hash)
            .bind(&key_hint)
            .bind(new.created_at.as_micros())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok((program, key_id))
    }

    async fn list_programs(&self) -> StoreResult<Vec<Program>> {
        let found = sqlx::query(LIST_PROGRAMS)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        found.iter().map(rows::program).collect()
    }

    async fn find_program(&self, public_id: &str) -> StoreResult<Option<Program>> {
        let found = sqlx::query(FIND_PROGRAM)
            .bind(public_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        found.as_ref().map(rows::program).transpose()
    }

    async fn create_api_key(
        &self,
        program: ProgramRowId,
        key_hash: String,
        key_hint: String,
        now: Timestamp,
    ) -> StoreResult<i64> {
        sqlx::query_scalar(INSERT_API_KEY)
            .bind(program.0)
            .bind(&key_hash)
            .bind(&key_hint)
            .bind(now.as_micros())
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn list_api_keys(&self, program: ProgramRowId) -> StoreResult<Vec<ApiKeyInfo>> {
        let found = sqlx::query(LIST_API_KEYS)
            .bind(program.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        found.iter().map(rows::api_key).collect()
    }

    async fn revoke_api_key(
        &self,
        program: Option<ProgramRowId>,
        key: ApiKeySelector,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let program = program.map(|p| p.0);
        let query = match &key {
            ApiKeySelector::Id(id) => sqlx::query(REVOKE_KEY_BY_ID).bind(now.as_micros()).bind(id),
            ApiKeySelector::Hash(hash) => sqlx::query(REVOKE_KEY_BY_HASH)
                .bind(now.as_micros())
                .bind(hash),
        };
        let done = query
            .bind(program)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn program_for_key(&self, key_hash: &str) -> StoreResult<Option<Program>> {
        // Grouped with concurrent lookups; see `keys.rs`.
        self.keys.lookup(key_hash).await
    }

    async fn referral_counts(
        &self,
        program: ProgramRowId,
        before: Option<Timestamp>,
    ) -> StoreResult<ReferralCounts> {
        let row = sqlx::query(REFERRAL_COUNTS)
            .bind(program.0)
            .bind(before.map(Timestamp::as_micros))
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(ReferralCounts {
            customers: rows::count(&row, "customers")?,
            referring: rows::count(&row, "referring")?,
            referred: rows::count(&row, "referred")?,
        })
    }
}
