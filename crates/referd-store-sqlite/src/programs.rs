//! Programs and API keys on SQLite.

use async_trait::async_trait;
use referd_core::program::{
    ApiKeyInfo, ApiKeySelector, NewProgram, Program, ProgramRowId, ReferralCounts,
};
use referd_core::store::{ProgramStore, StoreError, StoreResult, UniqueField};
use referd_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use crate::rows::{PROGRAM_COLUMNS, program};
use crate::{SqliteStore, backend, is_unique_violation};

#[async_trait]
impl ProgramStore for SqliteStore {
    async fn create_program(
        &self,
        new: NewProgram,
        key_hash: String,
        key_hint: String,
    ) -> StoreResult<(Program, i64)> {
        self.writer
            .run(move |conn| {
                let inserted = conn.execute(
                    "INSERT INTO programs (public_id, program_type, name, website, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![
                        new.public_id,
                        new.program_type.as_str(),
                        new.name,
                        new.website,
                        new.created_at.as_micros()
                    ],
                );
                match inserted {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(UniqueField::ProgramPublicId));
                    }
                    other => other.map_err(backend)?,
                };
                let program_id = conn.last_insert_rowid();
                let key_id = insert_key(conn, program_id, &key_hash, &key_hint, new.created_at)?;
                let program = Program {
                    id: ProgramRowId(program_id),
                    public_id: new.public_id,
                    program_type: new.program_type,
                    name: new.name,
                    website: new.website,
                    created_at: new.created_at,
                    updated_at: new.created_at,
                };
                Ok((program, key_id))
            })
            .await
    }

    async fn list_programs(&self) -> StoreResult<Vec<Program>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PROGRAM_COLUMNS} FROM programs p ORDER BY p.id"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map([], program).map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }

    async fn find_program(&self, public_id: &str) -> StoreResult<Option<Program>> {
        self.readers.with(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {PROGRAM_COLUMNS} FROM programs p WHERE p.public_id = ?1"
            ))
            .and_then(|mut s| s.query_row([public_id], program).optional())
            .map_err(backend)
        })
    }

    async fn create_api_key(
        &self,
        program: ProgramRowId,
        key_hash: String,
        key_hint: String,
        now: Timestamp,
    ) -> StoreResult<i64> {
        self.writer
            .run(move |conn| insert_key(conn, program.0, &key_hash, &key_hint, now))
            .await
    }

    async fn list_api_keys(&self, program: ProgramRowId) -> StoreResult<Vec<ApiKeyInfo>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT k.id, p.public_id, k.hint, k.created_at, k.revoked_at
                     FROM api_keys k JOIN programs p ON p.id = k.program_id
                     WHERE k.program_id = ?1 ORDER BY k.id",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([program.0], |r| {
                    Ok(ApiKeyInfo {
                        id: r.get(0)?,
                        program_public_id: r.get(1)?,
                        hint: r.get(2)?,
                        created_at: Timestamp::from_micros(r.get(3)?),
                        revoked_at: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_micros),
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }

    async fn revoke_api_key(
        &self,
        program: Option<ProgramRowId>,
        key: ApiKeySelector,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let revoked = self
            .writer
            .run(move |conn| {
                let (id, hash) = match key {
                    ApiKeySelector::Id(id) => (Some(id), None),
                    ApiKeySelector::Hash(h) => (None, Some(h)),
                };
                let changed = conn
                    .execute(
                        "UPDATE api_keys SET revoked_at = ?1
                         WHERE revoked_at IS NULL
                           AND (id = ?2 OR key_hash = ?3)
                           AND (?4 IS NULL OR program_id = ?4)",
                        params![now.as_micros(), id, hash, program.map(|p| p.0)],
                    )
                    .map_err(backend)?;
                Ok(changed == 1)
            })
            .await;
        // After the commit: drops every cached answer and, through the cache's generation,
        // any lookup that read the key before the revocation (whatever the outcome above).
        self.keys.clear();
        revoked
    }

    async fn program_for_key(&self, key_hash: &str) -> StoreResult<Option<Program>> {
        if let Some(program) = self.keys.get(key_hash) {
            return Ok(Some(program));
        }
        let generation = self.keys.generation();
        let found = self.readers.with(|conn| {
            // A constant statement: this runs on every authenticated request.
            conn.prepare_cached(
                "SELECT p.id, p.public_id, p.program_type, p.name, p.website, p.created_at, p.updated_at
                 FROM api_keys k JOIN programs p ON p.id = k.program_id
                 WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
            )
            .and_then(|mut s| s.query_row([key_hash], program).optional())
            .map_err(backend)
        })?;
        if let Some(p) = &found {
            self.keys.put(key_hash, p, generation);
        }
        Ok(found)
    }

    async fn referral_counts(
        &self,
        program: ProgramRowId,
        before: Option<Timestamp>,
    ) -> StoreResult<ReferralCounts> {
        let before = before.map_or(i64::MAX, Timestamp::as_micros);
        self.readers.with(|conn| {
            conn.prepare_cached(
                "SELECT
                   count(*),
                   count(c.referrer_row_id),
                   count(DISTINCT CASE WHEN r.deleted_at IS NULL THEN c.referrer_row_id END)
                 FROM customers c LEFT JOIN customers r ON r.row_id = c.referrer_row_id
                 WHERE c.program_id = ?1 AND c.deleted_at IS NULL AND c.created_at < ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![program.0, before], |r| {
                    Ok(ReferralCounts {
                        customers: r.get::<_, i64>(0)?.unsigned_abs(),
                        referred: r.get::<_, i64>(1)?.unsigned_abs(),
                        referring: r.get::<_, i64>(2)?.unsigned_abs(),
                    })
                })
            })
            .map_err(backend)
        })
    }
}

fn insert_key(
    conn: &rusqlite::Connection,
    program_id: i64,
    key_hash: &str,
    key_hint: &str,
    now: Timestamp,
) -> StoreResult<i64> {
    match conn.execute(
        "INSERT INTO api_keys (program_id, key_hash, hint, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![program_id, key_hash, key_hint, now.as_micros()],
    ) {
        Ok(_) => Ok(conn.last_insert_rowid()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(UniqueField::ApiKey)),
        Err(e) => Err(backend(e)),
    }
}
