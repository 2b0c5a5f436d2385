//! [`AdminTokenStore`] for [`PostgresStore`]. No cache: a revoked token stops working at once,
//! on every instance.

use async_trait::async_trait;
use referd_core::program::ApiKeySelector;
use referd_core::store::{AdminTokenInfo, AdminTokenStore, StoreResult};
use referd_core::time::Timestamp;
use sqlx::Row;

use crate::{PostgresStore, db_error};

#[async_trait]
impl AdminTokenStore for PostgresStore {
    async fn create_admin_token(
        &self,
        token_hash: String,
        hint: String,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO admin_tokens (token_hash, hint, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(token_hash)
        .bind(hint)
        .bind(now.as_micros())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        row.try_get(0).map_err(db_error)
    }

    async fn admin_token_valid(&self, token_hash: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL)",
        )
        .bind(token_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }

    async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminTokenInfo>> {
        let rows =
            sqlx::query("SELECT id, hint, created_at, revoked_at FROM admin_tokens ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(AdminTokenInfo {
                    id: r.try_get(0).map_err(db_error)?,
                    hint: r.try_get(1).map_err(db_error)?,
                    created_at: Timestamp::from_micros(r.try_get(2).map_err(db_error)?),
                    revoked_at: r
                        .try_get::<Option<i64>, _>(3)
                        .map_err(db_error)?
                        .map(Timestamp::from_micros),
                })
            })
            .collect()
    }

    async fn revoke_admin_token(&self, token: ApiKeySelector, now: Timestamp) -> StoreResult<bool> {
        let done =
            match token {
                ApiKeySelector::Id(id) => sqlx::query(
                    "UPDATE admin_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now.as_micros())
                .execute(&self.pool)
                .await,
                ApiKeySelector::Hash(hash) => {
                    sqlx::query(
                        "UPDATE admin_tokens SET revoked_at = $2 \
                     WHERE token_hash = $1 AND revoked_at IS NULL",
                    )
                    .bind(hash)
                    .bind(now.as_micros())
                    .execute(&self.pool)
                    .await
                }
            }
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }
}
