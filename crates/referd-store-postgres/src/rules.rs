//! [`RuleStore`] for [`PostgresStore`]: reward rule versions.

use async_trait::async_trait;
use referd_core::StoreError;
use referd_core::program::ProgramRowId;
use referd_core::rules::RuleVersion;
use referd_core::store::{RuleStore, StoreResult};
use referd_core::time::Timestamp;
use sqlx::Row;

use crate::{PostgresStore, db_error};

/// Serialises rule sets of one program: max + 1 below is then never computed twice. Rule
/// sets are rare operator actions; waiting on the program row costs nothing that matters.
const LOCK_PROGRAM: &str = "SELECT 1 FROM programs WHERE id = $1 FOR UPDATE";

const INSERT_NEXT: &str = "INSERT INTO rule_versions (program_id, version, body, created_at) \
     SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM rule_versions WHERE program_id = $1 \
     RETURNING version";

/// The program row names the version in force (see `referd_core::rules::cache`).
const SET_IN_FORCE: &str = "UPDATE programs SET rules_version = $2 WHERE id = $1";

const CURRENT: &str = "SELECT version, body, created_at FROM rule_versions \
     WHERE program_id = $1 ORDER BY version DESC LIMIT 1";

#[async_trait]
impl RuleStore for PostgresStore {
    async fn insert_rule_version(
        &self,
        program: ProgramRowId,
        body: String,
        now: Timestamp,
    ) -> StoreResult<RuleVersion> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let locked = sqlx::query(LOCK_PROGRAM)
            .bind(program.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        if locked.is_none() {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query(INSERT_NEXT)
            .bind(program.0)
            .bind(&body)
            .bind(now.as_micros())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let version: i64 = row.try_get(0).map_err(db_error)?;
        sqlx::query(SET_IN_FORCE)
            .bind(program.0)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(RuleVersion {
            version,
            body,
            created_at: now,
        })
    }

    async fn current_rules(&self, program: ProgramRowId) -> StoreResult<Option<RuleVersion>> {
        let row = sqlx::query(CURRENT)
            .bind(program.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| {
            Ok(RuleVersion {
                version: r.try_get(0).map_err(db_error)?,
                body: r.try_get(1).map_err(db_error)?,
                created_at: Timestamp::from_micros(r.try_get(2).map_err(db_error)?),
            })
        })
        .transpose()
    }

    fn rules_cache(&self) -> &referd_core::rules::cache::RulesCache {
        &self.rules
    }

    async fn list_rule_versions(&self, program: ProgramRowId) -> StoreResult<Vec<RuleVersion>> {
        let rows = sqlx::query(
            "SELECT version, body, created_at FROM rule_versions \
             WHERE program_id = $1 ORDER BY version DESC",
        )
        .bind(program.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(RuleVersion {
                    version: r.try_get(0).map_err(db_error)?,
                    body: r.try_get(1).map_err(db_error)?,
                    created_at: Timestamp::from_micros(r.try_get(2).map_err(db_error)?),
                })
            })
            .collect()
    }
}
