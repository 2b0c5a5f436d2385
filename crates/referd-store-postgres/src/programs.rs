//! [`ProgramStore`] for [`PostgresStore`]: programs, their settings and two-step delete, their
//! API keys, and the referral and affiliate counts behind `GET /v1/program`.

use async_trait::async_trait;
use referd_core::program::{
    AffiliateCounts, ApiKeyInfo, ApiKeySelector, LinkFormat, NewProgram, Program, ProgramPatch,
    ProgramRowId, ReferralCounts,
};
use referd_core::store::ProgramStore;
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};

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

/// Live partners by status and live customers, both created before `$2` (all when NULL).
/// Two aggregates over two tables in one statement: one snapshot, one round trip.
const AFFILIATE_COUNTS: &str = "SELECT p.partners, p.active_partners, p.pending_partners, \
     p.archived_partners, c.customers \
     FROM (SELECT count(*) AS partners, \
             count(*) FILTER (WHERE status = 'active') AS active_partners, \
             count(*) FILTER (WHERE status = 'pending') AS pending_partners, \
             count(*) FILTER (WHERE status = 'archived') AS archived_partners \
         FROM partners WHERE program_id = $1 AND deleted_at IS NULL \
             AND ($2::bigint IS NULL OR created_at < $2)) p, \
     (SELECT count(*) AS customers FROM customers \
         WHERE program_id = $1 AND deleted_at IS NULL \
             AND ($2::bigint IS NULL OR created_at < $2)) c";

/// One statement, so that concurrent patches never lose one another: a `NULL` field keeps
/// the column, and the flag objects are merged key by key (`||`) into the stored ones instead
/// of being read, changed and written back.
const UPDATE_PROGRAM: &str = concat!(
    "UPDATE programs SET name = coalesce($2::text, name), \
     website = coalesce($3::text, website), currency = coalesce($4::text, currency), \
     cookie_lifetime = coalesce($5::bigint, cookie_lifetime), \
     referral_param = coalesce($6::text, referral_param), \
     link_format = coalesce($7::text, link_format), \
     program_flags = program_flags || $8::jsonb, portal_flags = portal_flags || $9::jsonb, \
     updated_at = $10, attribution_window = coalesce($11::bigint, attribution_window) \
     WHERE id = $1 RETURNING ",
    program_columns!()
);

const SET_DELETE_CODE: &str =
    "UPDATE programs SET delete_code = $2, delete_code_expires_at = $3 WHERE id = $1";

/// The code check and the delete are one statement. Everything in the program (API keys,
/// partners, links, customers) goes with it by `ON DELETE CASCADE`; the self-references
/// (referrers, referring partners) are plain foreign keys, checked at the end of the
/// statement, when every row they point from is gone too.
const DELETE_PROGRAM: &str = "DELETE FROM programs \
     WHERE id = $1 AND delete_code = $2 AND delete_code_expires_at >= $3";

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

    async fn affiliate_counts(
        &self,
        program: ProgramRowId,
        before: Option<Timestamp>,
    ) -> StoreResult<AffiliateCounts> {
        let row = sqlx::query(AFFILIATE_COUNTS)
            .bind(program.0)
            .bind(before.map(Timestamp::as_micros))
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(AffiliateCounts {
            partners: rows::count(&row, "partners")?,
            active_partners: rows::count(&row, "active_partners")?,
            pending_partners: rows::count(&row, "pending_partners")?,
            archived_partners: rows::count(&row, "archived_partners")?,
            customers: rows::count(&row, "customers")?,
        })
    }

    async fn update_program(
        &self,
        program: ProgramRowId,
        patch: &ProgramPatch,
        now: Timestamp,
    ) -> StoreResult<Program> {
        let updated = sqlx::query(UPDATE_PROGRAM)
            .bind(program.0)
            .bind(&patch.name)
            .bind(&patch.website)
            .bind(&patch.currency)
            .bind(patch.cookie_lifetime_days.map(i64::from))
            .bind(&patch.referral_param)
            .bind(patch.link_format.map(LinkFormat::as_str))
            .bind(rows::to_json(&patch.program_flags)?)
            .bind(rows::to_json(&patch.portal_flags)?)
            .bind(now.as_micros())
            .bind(patch.attribution_window_days.map(i64::from))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        match updated {
            Some(row) => rows::program(&row),
            None => Err(StoreError::NotFound),
        }
    }

    async fn set_program_delete_code(
        &self,
        program: ProgramRowId,
        code: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let done = sqlx::query(SET_DELETE_CODE)
            .bind(program.0)
            .bind(code)
            .bind(expires_at.as_micros())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_program(
        &self,
        program: ProgramRowId,
        code: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // No key cache to drop here: `program_for_key` asks the database every time (see
        // `keys.rs`), so the program's keys stop authenticating when this commits.
        let done = sqlx::query(DELETE_PROGRAM)
            .bind(program.0)
            .bind(code)
            .bind(now.as_micros())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }
}
