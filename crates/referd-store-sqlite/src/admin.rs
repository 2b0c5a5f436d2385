//! Admin tokens on SQLite. No cache: the admin API is an operator's tool, and a revoked token
//! must stop working at once.

use async_trait::async_trait;
use referd_core::program::ApiKeySelector;
use referd_core::store::{AdminTokenInfo, AdminTokenStore, StoreResult};
use referd_core::time::Timestamp;
use rusqlite::params;

use crate::{SqliteStore, backend};

#[async_trait]
impl AdminTokenStore for SqliteStore {
    async fn create_admin_token(
        &self,
        token_hash: String,
        hint: String,
        now: Timestamp,
    ) -> StoreResult<i64> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO admin_tokens (token_hash, hint, created_at) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![token_hash, hint, now.as_micros()]))
                .map_err(backend)?;
                Ok(conn.last_insert_rowid())
            })
            .await
    }

    async fn admin_token_valid(&self, token_hash: &str) -> StoreResult<bool> {
        self.readers.with(|conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM admin_tokens
                 WHERE token_hash = ?1 AND revoked_at IS NULL)",
            )
            .and_then(|mut s| s.query_row(params![token_hash], |r| r.get(0)))
            .map_err(backend)
        })
    }

    async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminTokenInfo>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, hint, created_at, revoked_at FROM admin_tokens ORDER BY id",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(AdminTokenInfo {
                        id: r.get(0)?,
                        hint: r.get(1)?,
                        created_at: Timestamp::from_micros(r.get(2)?),
                        revoked_at: r.get::<_, Option<i64>>(3)?.map(Timestamp::from_micros),
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }

    async fn revoke_admin_token(&self, token: ApiKeySelector, now: Timestamp) -> StoreResult<bool> {
        self.writer
            .run(move |conn| {
                let changed = match token {
                    ApiKeySelector::Id(id) => conn.execute(
                        "UPDATE admin_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                        params![id, now.as_micros()],
                    ),
                    ApiKeySelector::Hash(hash) => conn.execute(
                        "UPDATE admin_tokens SET revoked_at = ?2
                         WHERE token_hash = ?1 AND revoked_at IS NULL",
                        params![hash, now.as_micros()],
                    ),
                }
                .map_err(backend)?;
                Ok(changed > 0)
            })
            .await
    }
}
