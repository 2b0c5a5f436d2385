//! Reward rule versions on SQLite.

use async_trait::async_trait;
use referd_core::program::ProgramRowId;
use referd_core::rules::RuleVersion;
use referd_core::store::{RuleStore, StoreResult};
use referd_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use crate::{SqliteStore, backend};

#[async_trait]
impl RuleStore for SqliteStore {
    async fn insert_rule_version(
        &self,
        program: ProgramRowId,
        body: String,
        now: Timestamp,
    ) -> StoreResult<RuleVersion> {
        let inserted = self
            .writer
            .run(move |conn| {
                // Writes are serial in the writer, so max + 1 cannot be taken twice.
                let version: i64 = conn
                    .prepare_cached(
                        "INSERT INTO rule_versions (program_id, version, body, created_at)
                         SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3
                         FROM rule_versions WHERE program_id = ?1
                         RETURNING version",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![program.0, body, now.as_micros()], |r| r.get(0))
                    })
                    .map_err(backend)?;
                // The program row names the version in force (see referd_core::rules::cache).
                conn.prepare_cached("UPDATE programs SET rules_version = ?2 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![program.0, version]))
                    .map_err(backend)?;
                Ok(RuleVersion {
                    version,
                    body,
                    created_at: now,
                })
            })
            .await;
        // Cached programs carry the old version: this process sees the new rules at once
        // (another process within the key cache's TTL).
        self.keys.clear();
        inserted
    }

    fn rules_cache(&self) -> &referd_core::rules::cache::RulesCache {
        &self.rules
    }

    async fn current_rules(&self, program: ProgramRowId) -> StoreResult<Option<RuleVersion>> {
        self.readers.with(|conn| {
            conn.prepare_cached(
                "SELECT version, body, created_at FROM rule_versions
                 WHERE program_id = ?1 ORDER BY version DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![program.0], |r| {
                    Ok(RuleVersion {
                        version: r.get(0)?,
                        body: r.get(1)?,
                        created_at: Timestamp::from_micros(r.get(2)?),
                    })
                })
                .optional()
            })
            .map_err(backend)
        })
    }

    async fn list_rule_versions(&self, program: ProgramRowId) -> StoreResult<Vec<RuleVersion>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT version, body, created_at FROM rule_versions
                     WHERE program_id = ?1 ORDER BY version DESC",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![program.0], |r| {
                    Ok(RuleVersion {
                        version: r.get(0)?,
                        body: r.get(1)?,
                        created_at: Timestamp::from_micros(r.get(2)?),
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }
}
