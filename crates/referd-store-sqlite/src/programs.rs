//! Programs, their settings, the two-step delete and API keys on SQLite.

use async_trait::async_trait;
use referd_core::program::{
    AffiliateCounts, ApiKeyInfo, ApiKeySelector, NewProgram, Program, ProgramPatch, ProgramRowId,
    ProgramSettings, ReferralCounts,
};
use referd_core::store::{ProgramStore, StoreError, StoreResult, UniqueField};
use referd_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use crate::rows::{self, flags_json, program, program_columns};
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
                    // The columns' defaults (migration 0002) are the domain's defaults.
                    settings: ProgramSettings::default(),
                    rules_version: 0,
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
                .prepare_cached(concat!(
                    "SELECT ",
                    program_columns!("p."),
                    " FROM programs p ORDER BY p.id"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map([], program).map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }

    async fn find_program(&self, public_id: &str) -> StoreResult<Option<Program>> {
        self.readers.with(|conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                program_columns!("p."),
                " FROM programs p WHERE p.public_id = ?1"
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
            conn.prepare_cached(concat!(
                "SELECT ",
                program_columns!("p."),
                " FROM api_keys k JOIN programs p ON p.id = k.program_id
                 WHERE k.key_hash = ?1 AND k.revoked_at IS NULL"
            ))
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

    async fn affiliate_counts(
        &self,
        program: ProgramRowId,
        before: Option<Timestamp>,
    ) -> StoreResult<AffiliateCounts> {
        let before = before.map_or(i64::MAX, Timestamp::as_micros);
        self.readers.with(|conn| {
            // One statement, so both counts come from the same snapshot.
            conn.prepare_cached(
                "SELECT
                   count(*),
                   coalesce(sum(p.status = 'active'), 0),
                   coalesce(sum(p.status = 'pending'), 0),
                   coalesce(sum(p.status = 'archived'), 0),
                   (SELECT count(*) FROM customers c
                    WHERE c.program_id = ?1 AND c.partner_row_id IS NOT NULL
                      AND c.deleted_at IS NULL AND c.created_at < ?2)
                 FROM partners p
                 WHERE p.program_id = ?1 AND p.deleted_at IS NULL AND p.created_at < ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![program.0, before], |r| {
                    Ok(AffiliateCounts {
                        partners: r.get::<_, i64>(0)?.unsigned_abs(),
                        active_partners: r.get::<_, i64>(1)?.unsigned_abs(),
                        pending_partners: r.get::<_, i64>(2)?.unsigned_abs(),
                        archived_partners: r.get::<_, i64>(3)?.unsigned_abs(),
                        customers: r.get::<_, i64>(4)?.unsigned_abs(),
                    })
                })
            })
            .map_err(backend)
        })
    }

    async fn update_program(
        &self,
        program: ProgramRowId,
        patch: &ProgramPatch,
        now: Timestamp,
    ) -> StoreResult<Program> {
        let patch = patch.clone();
        let updated = self
            .writer
            .run(move |conn| {
                // `json_patch` merges the given flags into the stored object (RFC 7396): a
                // flag not named keeps its value, and `{}` changes nothing.
                conn.prepare_cached(concat!(
                    "UPDATE programs SET
                       name = coalesce(?2, name),
                       website = coalesce(?3, website),
                       currency = coalesce(?4, currency),
                       cookie_lifetime = coalesce(?5, cookie_lifetime),
                       referral_param = coalesce(?6, referral_param),
                       link_format = coalesce(?7, link_format),
                       program_flags = json_patch(program_flags, ?8),
                       portal_flags = json_patch(portal_flags, ?9),
                       updated_at = ?10,
                       attribution_window = coalesce(?11, attribution_window)
                     WHERE id = ?1
                     RETURNING ",
                    program_columns!("")
                ))
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            program.0,
                            patch.name,
                            patch.website,
                            patch.currency,
                            patch.cookie_lifetime_days,
                            patch.referral_param,
                            patch.link_format.map(|f| f.as_str()),
                            flags_json(&patch.program_flags),
                            flags_json(&patch.portal_flags),
                            now.as_micros(),
                            patch.attribution_window_days
                        ],
                        rows::program,
                    )
                    .optional()
                })
                .map_err(backend)?
                .ok_or(StoreError::NotFound)
            })
            .await;
        // After the commit: requests authenticated by this program's keys must see the new
        // settings at once, not after the cache's TTL.
        self.keys.clear();
        updated
    }

    async fn set_program_delete_code(
        &self,
        program: ProgramRowId,
        code: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let code = code.to_string();
        self.writer
            .run(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE programs SET delete_code = ?2, delete_code_expires_at = ?3
                         WHERE id = ?1",
                    )
                    .and_then(|mut s| s.execute(params![program.0, code, expires_at.as_micros()]))
                    .map_err(backend)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    async fn delete_program(
        &self,
        program: ProgramRowId,
        code: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let code = code.to_string();
        let deleted = self
            .writer
            .run(move |conn| {
                // The code check is part of the DELETE itself, so check and delete cannot be
                // separated. Keys, partners, links and customers go by ON DELETE CASCADE;
                // references between them (referrer, referring partner, partner, link) are
                // NO ACTION, checked when the statement ends, by which time every row of the
                // program is gone.
                let changed = conn
                    .prepare_cached(
                        "DELETE FROM programs
                         WHERE id = ?1 AND delete_code = ?2 AND delete_code_expires_at >= ?3",
                    )
                    .and_then(|mut s| s.execute(params![program.0, code, now.as_micros()]))
                    .map_err(backend)?;
                Ok(changed == 1)
            })
            .await;
        if matches!(deleted, Ok(true)) {
            // After the commit: the program's keys must stop authenticating at once.
            self.keys.clear();
        }
        deleted
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
