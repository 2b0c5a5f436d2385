//! [`WebhookStore`] for [`PostgresStore`]. Deliveries are inserted by the triggers of
//! migration 0007 in the transaction of each change. Claims are leases taken with
//! `FOR UPDATE SKIP LOCKED`, so several referd instances on one database each take different
//! deliveries, and a crashed instance's leases run out and are taken by the others.

use async_trait::async_trait;
use referd_core::page::{PageRequest, SortOrder};
use referd_core::program::ProgramRowId;
use referd_core::store::{StoreError, StoreResult, WebhookStore};
use referd_core::time::Timestamp;
use referd_core::webhook::{
    Attempt, AttemptOutcome, ClaimedDelivery, Delivery, DeliveryRowId, DeliveryState, NewWebhook,
    Webhook, WebhookPatch, WebhookRowId, events_from_column, events_to_column,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::{PostgresStore, db_error};

const WEBHOOK_COLUMNS: &str = "row_id, program_id, key, name, url, events, is_active, secret,
    previous_secret, previous_secret_until, created_at, updated_at";

fn webhook(r: &PgRow) -> Result<Webhook, sqlx::Error> {
    Ok(Webhook {
        row_id: WebhookRowId(r.try_get(0)?),
        program_id: ProgramRowId(r.try_get(1)?),
        key: r.try_get(2)?,
        name: r.try_get(3)?,
        url: r.try_get(4)?,
        events: events_from_column(r.try_get::<&str, _>(5)?),
        is_active: r.try_get(6)?,
        secret: r.try_get(7)?,
        previous_secret: r.try_get(8)?,
        previous_secret_until: r.try_get::<Option<i64>, _>(9)?.map(Timestamp::from_micros),
        created_at: Timestamp::from_micros(r.try_get(10)?),
        updated_at: Timestamp::from_micros(r.try_get(11)?),
    })
}

const DELIVERY_COLUMNS: &str = "d.row_id, d.program_id, d.webhook_row_id, w.key, d.event,
    d.resource_kind, d.resource_row_id, d.snapshot, d.payload, d.state, d.attempts,
    d.next_attempt_at, d.created_at, d.delivered_at";

fn delivery(r: &PgRow) -> Result<Delivery, sqlx::Error> {
    let state: &str = r.try_get(9)?;
    Ok(Delivery {
        row_id: DeliveryRowId(r.try_get(0)?),
        program_id: ProgramRowId(r.try_get(1)?),
        webhook_row_id: WebhookRowId(r.try_get(2)?),
        webhook_key: r.try_get(3)?,
        event: r.try_get(4)?,
        resource_kind: r.try_get(5)?,
        resource_row_id: r.try_get(6)?,
        snapshot: r.try_get(7)?,
        payload: r.try_get(8)?,
        state: DeliveryState::parse(state).unwrap_or(DeliveryState::Pending),
        attempts: r.try_get::<i32, _>(10)?.max(0) as u32,
        next_attempt_at: Timestamp::from_micros(r.try_get(11)?),
        created_at: Timestamp::from_micros(r.try_get(12)?),
        delivered_at: r.try_get::<Option<i64>, _>(13)?.map(Timestamp::from_micros),
    })
}

fn one_webhook(row: Option<PgRow>) -> StoreResult<Webhook> {
    let row = row.ok_or(StoreError::NotFound)?;
    webhook(&row).map_err(db_error)
}

/// The rewards whose review window ended since the program's last sweep and up to `$1`, not
/// reversed: each recorded once (`reward_approvals`' trigger queues `reward.approved`).
const SWEEP_REWARD_APPROVALS: &str =
    "INSERT INTO reward_approvals (entry_row_id, program_id, approved_at)
     SELECT e.row_id, e.program_id, e.available_at
     FROM programs p
     JOIN ledger_entries e ON e.program_id = p.id AND e.kind = 'reward'
         AND e.available_at > e.created_at
         AND e.available_at > p.rewards_swept_to AND e.available_at <= $1
     WHERE p.rewards_swept_to < $1 AND ($2::BIGINT IS NULL OR p.id = $2)
       AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_row_id = e.row_id)
     ORDER BY e.row_id
     ON CONFLICT (entry_row_id) DO NOTHING";

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn insert_webhook(&self, new: NewWebhook) -> StoreResult<Webhook> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhooks (program_id, key, name, url, events, is_active, secret,
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             RETURNING {WEBHOOK_COLUMNS}"
        )))
        .bind(new.program_id.0)
        .bind(&new.key)
        .bind(&new.name)
        .bind(&new.url)
        .bind(events_to_column(&new.events))
        .bind(new.is_active)
        .bind(&new.secret)
        .bind(new.now.as_micros())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        webhook(&row).map_err(db_error)
    }

    async fn find_webhook(&self, program: ProgramRowId, key: &str) -> StoreResult<Option<Webhook>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE program_id = $1 AND key = $2"
        )))
        .bind(program.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|r| webhook(&r).map_err(db_error)).transpose()
    }

    async fn list_webhooks(
        &self,
        program: ProgramRowId,
        page: PageRequest,
    ) -> StoreResult<Vec<Webhook>> {
        let order = match page.sort {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE program_id = $1
             ORDER BY row_id {order} LIMIT $2 OFFSET $3"
        )))
        .bind(program.0)
        .bind(i64::from(page.fetch_limit()))
        .bind(page.offset() as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(|r| webhook(r).map_err(db_error)).collect()
    }

    async fn update_webhook(
        &self,
        program: ProgramRowId,
        webhook_row: WebhookRowId,
        patch: &WebhookPatch,
        now: Timestamp,
    ) -> StoreResult<Webhook> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET name = COALESCE($3, name), url = COALESCE($4, url),
             events = COALESCE($5, events), is_active = COALESCE($6, is_active), updated_at = $7
             WHERE program_id = $1 AND row_id = $2 RETURNING {WEBHOOK_COLUMNS}"
        )))
        .bind(program.0)
        .bind(webhook_row.0)
        .bind(&patch.name)
        .bind(&patch.url)
        .bind(patch.events.as_deref().map(events_to_column))
        .bind(patch.is_active)
        .bind(now.as_micros())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        one_webhook(row)
    }

    async fn rotate_webhook_secret(
        &self,
        program: ProgramRowId,
        webhook_row: WebhookRowId,
        secret: String,
        overlap_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Webhook> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET previous_secret = secret, previous_secret_until = $4,
             secret = $3, updated_at = $5
             WHERE program_id = $1 AND row_id = $2 RETURNING {WEBHOOK_COLUMNS}"
        )))
        .bind(program.0)
        .bind(webhook_row.0)
        .bind(secret)
        .bind(overlap_until.as_micros())
        .bind(now.as_micros())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        one_webhook(row)
    }

    async fn delete_webhook(
        &self,
        program: ProgramRowId,
        webhook_row: WebhookRowId,
    ) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE program_id = $1 AND row_id = $2")
            .bind(program.0)
            .bind(webhook_row.0)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        only: Option<ProgramRowId>,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        // SKIP LOCKED: rows another instance is claiming right now are passed over rather
        // than waited for; the lease then keeps them from everyone else until it runs out.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH claimed AS (
                 UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2,
                        attempts = attempts + 1
                 WHERE row_id IN (
                     SELECT row_id FROM webhook_deliveries d
                     WHERE state = 'pending' AND next_attempt_at <= $3
                       AND ($5::BIGINT IS NULL OR program_id = $5)
                       AND (lease_until IS NULL OR lease_until < $3)
                       AND NOT EXISTS (
                           SELECT 1 FROM webhook_deliveries o
                           WHERE o.webhook_row_id = d.webhook_row_id
                             AND o.row_id < d.row_id AND o.state = 'pending'
                             AND (o.next_attempt_at > $3 OR o.lease_until >= $3))
                     ORDER BY next_attempt_at, row_id LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING *)
             SELECT {DELIVERY_COLUMNS}, p.public_id, w.url, w.secret,
                    CASE WHEN w.previous_secret_until > $3 THEN w.previous_secret END
             FROM claimed d
             JOIN webhooks w ON w.row_id = d.webhook_row_id
             JOIN programs p ON p.id = d.program_id
             ORDER BY d.row_id"
        )))
        .bind(owner)
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .bind(i64::from(limit))
        .bind(only.map(|p| p.0))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    delivery: delivery(r)?,
                    program_public_id: r.try_get(14)?,
                    url: r.try_get(15)?,
                    secret: r.try_get(16)?,
                    previous_secret: r.try_get(17)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_error)
    }

    async fn release_delivery(
        &self,
        delivery: DeliveryRowId,
        owner: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL,
             attempts = attempts - 1, next_attempt_at = $3
             WHERE row_id = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(delivery.0)
        .bind(owner)
        .bind(at.as_micros())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn freeze_payload(
        &self,
        delivery: DeliveryRowId,
        payload: String,
    ) -> StoreResult<String> {
        sqlx::query_scalar(
            "UPDATE webhook_deliveries SET payload = COALESCE(payload, $2)
             WHERE row_id = $1 RETURNING payload",
        )
        .bind(delivery.0)
        .bind(payload)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }

    async fn finish_attempt(
        &self,
        delivery: DeliveryRowId,
        owner: &str,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> StoreResult<bool> {
        let (state, next, delivered_at) = match outcome {
            AttemptOutcome::Delivered => {
                ("delivered", None, Some(attempt.attempted_at.as_micros()))
            }
            AttemptOutcome::RetryAt(at) => ("pending", Some(at.as_micros()), None),
            AttemptOutcome::Failed => ("failed", None, None),
        };
        // One statement: the state change happens only under our lease, and the attempt is
        // logged only when it did.
        let done = sqlx::query(
            "WITH finished AS (
                 UPDATE webhook_deliveries SET state = $3,
                        next_attempt_at = COALESCE($4, next_attempt_at), delivered_at = $5,
                        lease_owner = NULL, lease_until = NULL
                 WHERE row_id = $1 AND lease_owner = $2 AND state = 'pending'
                 RETURNING row_id)
             INSERT INTO webhook_attempts (delivery_row_id, attempted_at, status_code,
                 latency_ms, response_excerpt, error)
             SELECT row_id, $6, $7, $8, $9, $10 FROM finished",
        )
        .bind(delivery.0)
        .bind(owner)
        .bind(state)
        .bind(next)
        .bind(delivered_at)
        .bind(attempt.attempted_at.as_micros())
        .bind(attempt.status_code.map(i32::from))
        .bind(attempt.latency_ms as i64)
        .bind(&attempt.response_excerpt)
        .bind(&attempt.error)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_deliveries(
        &self,
        program: ProgramRowId,
        state: Option<DeliveryState>,
        page: PageRequest,
    ) -> StoreResult<Vec<Delivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
             JOIN webhooks w ON w.row_id = d.webhook_row_id
             WHERE d.program_id = $1 AND ($2::TEXT IS NULL OR d.state = $2)
             ORDER BY d.row_id DESC LIMIT $3 OFFSET $4"
        )))
        .bind(program.0)
        .bind(state.map(DeliveryState::as_str))
        .bind(i64::from(page.fetch_limit()))
        .bind(page.offset() as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(|r| delivery(r).map_err(db_error)).collect()
    }

    async fn find_delivery(
        &self,
        program: ProgramRowId,
        delivery_id: DeliveryRowId,
    ) -> StoreResult<Option<(Delivery, Vec<Attempt>)>> {
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
             JOIN webhooks w ON w.row_id = d.webhook_row_id
             WHERE d.program_id = $1 AND d.row_id = $2"
        )))
        .bind(program.0)
        .bind(delivery_id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(found) = found else {
            return Ok(None);
        };
        let found = delivery(&found).map_err(db_error)?;
        let rows = sqlx::query(
            "SELECT attempted_at, status_code, latency_ms, response_excerpt, error
             FROM webhook_attempts WHERE delivery_row_id = $1 ORDER BY row_id",
        )
        .bind(delivery_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let attempts = rows
            .iter()
            .map(|r| {
                Ok(Attempt {
                    attempted_at: Timestamp::from_micros(r.try_get(0)?),
                    status_code: r.try_get::<Option<i32>, _>(1)?.map(|c| c as u16),
                    latency_ms: r.try_get::<i64, _>(2)?.max(0) as u64,
                    response_excerpt: r.try_get(3)?,
                    error: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_error)?;
        Ok(Some((found, attempts)))
    }

    async fn sweep_reward_approvals(
        &self,
        now: Timestamp,
        only: Option<ProgramRowId>,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // The insert reads the marks before the update moves them. Two instances sweeping at
        // once announce each reward once (the primary key), and a mark never moves back.
        let announced = sqlx::query(SWEEP_REWARD_APPROVALS)
            .bind(now.as_micros())
            .bind(only.map(|p| p.0))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        sqlx::query(
            "UPDATE programs SET rewards_swept_to = $1
             WHERE rewards_swept_to < $1 AND ($2::BIGINT IS NULL OR id = $2)",
        )
        .bind(now.as_micros())
        .bind(only.map(|p| p.0))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(announced)
    }

    async fn prune_deliveries(
        &self,
        before: Timestamp,
        only: Option<ProgramRowId>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < $1
             AND ($2::BIGINT IS NULL OR program_id = $2)",
        )
        .bind(before.as_micros())
        .bind(only.map(|p| p.0))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn redeliver(
        &self,
        program: ProgramRowId,
        delivery: Option<DeliveryRowId>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $3,
             delivered_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE program_id = $1
               AND (CASE WHEN $2::BIGINT IS NULL THEN state = 'failed' ELSE row_id = $2 END)",
        )
        .bind(program.0)
        .bind(delivery.map(|d| d.0))
        .bind(now.as_micros())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
