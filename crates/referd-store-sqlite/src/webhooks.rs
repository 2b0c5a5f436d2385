//! Webhooks and the outbox on SQLite. Deliveries are inserted by the triggers of migration
//! 0007, inside the writer's transaction of the change; here they are claimed, logged and
//! retried. All writes go through the writer thread, so a claim is one `UPDATE … RETURNING`
//! that no other claim can interleave with.

use async_trait::async_trait;
use referd_core::page::PageRequest;
use referd_core::program::ProgramRowId;
use referd_core::store::{StoreError, StoreResult, UniqueField, WebhookStore};
use referd_core::time::Timestamp;
use referd_core::webhook::{
    Attempt, AttemptOutcome, ClaimedDelivery, Delivery, DeliveryRowId, DeliveryState, NewWebhook,
    Webhook, WebhookPatch, WebhookRowId, events_from_column, events_to_column,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{SqliteStore, backend, is_unique_violation, sort_order};

const WEBHOOK_COLUMNS: &str = "row_id, program_id, key, name, url, events, is_active, secret,
    previous_secret, previous_secret_until, created_at, updated_at";

fn webhook(r: &Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        row_id: WebhookRowId(r.get(0)?),
        program_id: ProgramRowId(r.get(1)?),
        key: r.get(2)?,
        name: r.get(3)?,
        url: r.get(4)?,
        events: events_from_column(&r.get::<_, String>(5)?),
        is_active: r.get(6)?,
        secret: r.get(7)?,
        previous_secret: r.get(8)?,
        previous_secret_until: r.get::<_, Option<i64>>(9)?.map(Timestamp::from_micros),
        created_at: Timestamp::from_micros(r.get(10)?),
        updated_at: Timestamp::from_micros(r.get(11)?),
    })
}

const DELIVERY_COLUMNS: &str = "d.row_id, d.program_id, d.webhook_row_id, w.key, d.event,
    d.resource_kind, d.resource_row_id, d.snapshot, d.payload, d.state, d.attempts,
    d.next_attempt_at, d.created_at, d.delivered_at";

fn delivery(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = r.get(9)?;
    Ok(Delivery {
        row_id: DeliveryRowId(r.get(0)?),
        program_id: ProgramRowId(r.get(1)?),
        webhook_row_id: WebhookRowId(r.get(2)?),
        webhook_key: r.get(3)?,
        event: r.get(4)?,
        resource_kind: r.get(5)?,
        resource_row_id: r.get(6)?,
        snapshot: r.get(7)?,
        payload: r.get(8)?,
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
        attempts: r.get(10)?,
        next_attempt_at: Timestamp::from_micros(r.get(11)?),
        created_at: Timestamp::from_micros(r.get(12)?),
        delivered_at: r.get::<_, Option<i64>>(13)?.map(Timestamp::from_micros),
    })
}

fn find_by_row(conn: &Connection, row: i64) -> StoreResult<Webhook> {
    conn.prepare_cached(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE row_id = ?1"
    ))
    .and_then(|mut s| s.query_row(params![row], webhook))
    .map_err(backend)
}

/// The rewards whose review window ended since the program's last sweep and up to `?1`, not
/// reversed: each recorded once (`reward_approvals`' trigger queues `reward.approved`).
const SWEEP_REWARD_APPROVALS: &str =
    "INSERT OR IGNORE INTO reward_approvals (entry_row_id, program_id, approved_at)
     SELECT e.row_id, e.program_id, e.available_at
     FROM programs p
     JOIN ledger_entries e ON e.program_id = p.id AND e.kind = 'reward'
         AND e.available_at > e.created_at
         AND e.available_at > p.rewards_swept_to AND e.available_at <= ?1
     WHERE p.rewards_swept_to < ?1 AND (?2 IS NULL OR p.id = ?2)
       AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_row_id = e.row_id)
     ORDER BY e.row_id";

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, new: NewWebhook) -> StoreResult<Webhook> {
        self.writer
            .run(move |conn| {
                let now = new.now.as_micros();
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO webhooks (program_id, key, name, url, events, is_active,
                         secret, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            new.program_id.0,
                            new.key,
                            new.name,
                            new.url,
                            events_to_column(&new.events),
                            new.is_active,
                            new.secret,
                            now
                        ])
                    });
                match inserted {
                    Ok(_) => find_by_row(conn, conn.last_insert_rowid()),
                    Err(e) if is_unique_violation(&e) => {
                        Err(StoreError::Conflict(UniqueField::WebhookKey))
                    }
                    Err(e) => Err(backend(e)),
                }
            })
            .await
    }

    async fn find_webhook(&self, program: ProgramRowId, key: &str) -> StoreResult<Option<Webhook>> {
        self.readers.with(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE program_id = ?1 AND key = ?2"
            ))
            .and_then(|mut s| s.query_row(params![program.0, key], webhook).optional())
            .map_err(backend)
        })
    }

    async fn list_webhooks(
        &self,
        program: ProgramRowId,
        page: PageRequest,
    ) -> StoreResult<Vec<Webhook>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE program_id = ?1
                     ORDER BY row_id {} LIMIT ?2 OFFSET ?3",
                    sort_order(page)
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map(
                    params![program.0, page.fetch_limit(), page.offset() as i64],
                    webhook,
                )
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }

    async fn update_webhook(
        &self,
        program: ProgramRowId,
        webhook: WebhookRowId,
        patch: &WebhookPatch,
        now: Timestamp,
    ) -> StoreResult<Webhook> {
        let patch = patch.clone();
        self.writer
            .run(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE webhooks SET name = COALESCE(?3, name), url = COALESCE(?4, url),
                         events = COALESCE(?5, events), is_active = COALESCE(?6, is_active),
                         updated_at = ?7 WHERE program_id = ?1 AND row_id = ?2",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            program.0,
                            webhook.0,
                            patch.name,
                            patch.url,
                            patch.events.as_deref().map(events_to_column),
                            patch.is_active,
                            now.as_micros()
                        ])
                    })
                    .map_err(backend)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                find_by_row(conn, webhook.0)
            })
            .await
    }

    async fn rotate_webhook_secret(
        &self,
        program: ProgramRowId,
        webhook: WebhookRowId,
        secret: String,
        overlap_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Webhook> {
        self.writer
            .run(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE webhooks SET previous_secret = secret, previous_secret_until = ?4,
                         secret = ?3, updated_at = ?5 WHERE program_id = ?1 AND row_id = ?2",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            program.0,
                            webhook.0,
                            secret,
                            overlap_until.as_micros(),
                            now.as_micros()
                        ])
                    })
                    .map_err(backend)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                find_by_row(conn, webhook.0)
            })
            .await
    }

    async fn delete_webhook(
        &self,
        program: ProgramRowId,
        webhook: WebhookRowId,
    ) -> StoreResult<bool> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM webhooks WHERE program_id = ?1 AND row_id = ?2")
                    .and_then(|mut s| s.execute(params![program.0, webhook.0]))
                    .map(|n| n > 0)
                    .map_err(backend)
            })
            .await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        only: Option<ProgramRowId>,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| {
                let now = now.as_micros();
                let ids: Vec<i64> = {
                    let mut stmt = conn
                        .prepare_cached(
                            "UPDATE webhook_deliveries SET lease_owner = ?1, lease_until = ?2,
                             attempts = attempts + 1
                             WHERE row_id IN (
                                 SELECT row_id FROM webhook_deliveries d
                                 WHERE state = 'pending' AND next_attempt_at <= ?3
                       AND (?5 IS NULL OR program_id = ?5)
                                   AND (lease_until IS NULL OR lease_until < ?3)
                                   AND NOT EXISTS (
                                       SELECT 1 FROM webhook_deliveries o
                                       WHERE o.webhook_row_id = d.webhook_row_id
                                         AND o.row_id < d.row_id AND o.state = 'pending'
                                         AND (o.next_attempt_at > ?3 OR o.lease_until >= ?3))
                                 ORDER BY next_attempt_at, row_id LIMIT ?4)
                             RETURNING row_id",
                        )
                        .map_err(backend)?;
                    let rows = stmt
                        .query_map(
                            params![
                                owner,
                                lease_until.as_micros(),
                                now,
                                limit,
                                only.map(|p| p.0)
                            ],
                            |r| r.get(0),
                        )
                        .map_err(backend)?;
                    rows.collect::<Result<_, _>>().map_err(backend)?
                };
                let mut out = Vec::with_capacity(ids.len());
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {DELIVERY_COLUMNS}, p.public_id, w.url, w.secret,
                         CASE WHEN w.previous_secret_until > ?2 THEN w.previous_secret END
                         FROM webhook_deliveries d
                         JOIN webhooks w ON w.row_id = d.webhook_row_id
                         JOIN programs p ON p.id = d.program_id
                         WHERE d.row_id = ?1"
                    ))
                    .map_err(backend)?;
                for id in ids {
                    let claimed = stmt
                        .query_row(params![id, now], |r| {
                            Ok(ClaimedDelivery {
                                delivery: delivery(r)?,
                                program_public_id: r.get(14)?,
                                url: r.get(15)?,
                                secret: r.get(16)?,
                                previous_secret: r.get(17)?,
                            })
                        })
                        .map_err(backend)?;
                    out.push(claimed);
                }
                // Oldest first, so each webhook's events go out in the order they happened.
                out.sort_by_key(|c| c.delivery.row_id.0);
                Ok(out)
            })
            .await
    }

    async fn release_delivery(
        &self,
        delivery: DeliveryRowId,
        owner: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL,
                     attempts = attempts - 1, next_attempt_at = ?3
                     WHERE row_id = ?1 AND lease_owner = ?2 AND state = 'pending'",
                )
                .and_then(|mut s| s.execute(params![delivery.0, owner, at.as_micros()]))
                .map(|n| n > 0)
                .map_err(backend)
            })
            .await
    }

    async fn freeze_payload(
        &self,
        delivery: DeliveryRowId,
        payload: String,
    ) -> StoreResult<String> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE webhook_deliveries SET payload = COALESCE(payload, ?2)
                     WHERE row_id = ?1 RETURNING payload",
                )
                .and_then(|mut s| s.query_row(params![delivery.0, payload], |r| r.get(0)))
                .map_err(backend)
            })
            .await
    }

    async fn finish_attempt(
        &self,
        delivery: DeliveryRowId,
        owner: &str,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> StoreResult<bool> {
        let owner = owner.to_owned();
        let attempt = attempt.clone();
        self.writer
            .run(move |conn| {
                let (state, next, delivered_at) = match outcome {
                    AttemptOutcome::Delivered => {
                        ("delivered", None, Some(attempt.attempted_at.as_micros()))
                    }
                    AttemptOutcome::RetryAt(at) => ("pending", Some(at.as_micros()), None),
                    AttemptOutcome::Failed => ("failed", None, None),
                };
                let changed = conn
                    .prepare_cached(
                        "UPDATE webhook_deliveries SET state = ?3,
                         next_attempt_at = COALESCE(?4, next_attempt_at), delivered_at = ?5,
                         lease_owner = NULL, lease_until = NULL
                         WHERE row_id = ?1 AND lease_owner = ?2 AND state = 'pending'",
                    )
                    .and_then(|mut s| {
                        s.execute(params![delivery.0, owner, state, next, delivered_at])
                    })
                    .map_err(backend)?;
                if changed == 0 {
                    return Ok(false);
                }
                conn.prepare_cached(
                    "INSERT INTO webhook_attempts (delivery_row_id, attempted_at, status_code,
                     latency_ms, response_excerpt, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        delivery.0,
                        attempt.attempted_at.as_micros(),
                        attempt.status_code,
                        attempt.latency_ms as i64,
                        attempt.response_excerpt,
                        attempt.error
                    ])
                })
                .map_err(backend)?;
                Ok(true)
            })
            .await
    }

    async fn list_deliveries(
        &self,
        program: ProgramRowId,
        state: Option<DeliveryState>,
        page: PageRequest,
    ) -> StoreResult<Vec<Delivery>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
                     JOIN webhooks w ON w.row_id = d.webhook_row_id
                     WHERE d.program_id = ?1 AND (?2 IS NULL OR d.state = ?2)
                     ORDER BY d.row_id DESC LIMIT ?3 OFFSET ?4"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map(
                    params![
                        program.0,
                        state.map(DeliveryState::as_str),
                        page.fetch_limit(),
                        page.offset() as i64
                    ],
                    delivery,
                )
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }

    async fn find_delivery(
        &self,
        program: ProgramRowId,
        delivery_id: DeliveryRowId,
    ) -> StoreResult<Option<(Delivery, Vec<Attempt>)>> {
        self.readers.with(|conn| {
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
                     JOIN webhooks w ON w.row_id = d.webhook_row_id
                     WHERE d.program_id = ?1 AND d.row_id = ?2"
                ))
                .and_then(|mut s| {
                    s.query_row(params![program.0, delivery_id.0], delivery)
                        .optional()
                })
                .map_err(backend)?;
            let Some(found) = found else {
                return Ok(None);
            };
            let mut stmt = conn
                .prepare_cached(
                    "SELECT attempted_at, status_code, latency_ms, response_excerpt, error
                     FROM webhook_attempts WHERE delivery_row_id = ?1 ORDER BY row_id",
                )
                .map_err(backend)?;
            let attempts = stmt
                .query_map(params![delivery_id.0], |r| {
                    Ok(Attempt {
                        attempted_at: Timestamp::from_micros(r.get(0)?),
                        status_code: r.get(1)?,
                        latency_ms: r.get::<_, i64>(2)? as u64,
                        response_excerpt: r.get(3)?,
                        error: r.get(4)?,
                    })
                })
                .map_err(backend)?
                .collect::<Result<_, _>>()
                .map_err(backend)?;
            Ok(Some((found, attempts)))
        })
    }

    async fn sweep_reward_approvals(
        &self,
        now: Timestamp,
        only: Option<ProgramRowId>,
    ) -> StoreResult<u64> {
        self.writer
            .run(move |conn| {
                let (now, only) = (now.as_micros(), only.map(|p| p.0));
                // Read the marks before moving them (one writer job: one transaction).
                let announced = conn
                    .prepare_cached(SWEEP_REWARD_APPROVALS)
                    .and_then(|mut s| s.execute(params![now, only]))
                    .map_err(backend)?;
                conn.prepare_cached(
                    "UPDATE programs SET rewards_swept_to = ?1
                     WHERE rewards_swept_to < ?1 AND (?2 IS NULL OR id = ?2)",
                )
                .and_then(|mut s| s.execute(params![now, only]))
                .map_err(backend)?;
                Ok(announced as u64)
            })
            .await
    }

    async fn prune_deliveries(
        &self,
        before: Timestamp,
        only: Option<ProgramRowId>,
    ) -> StoreResult<u64> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < ?1
                     AND (?2 IS NULL OR program_id = ?2)",
                )
                .and_then(|mut s| s.execute(params![before.as_micros(), only.map(|p| p.0)]))
                .map(|n| n as u64)
                .map_err(backend)
            })
            .await
    }

    async fn redeliver(
        &self,
        program: ProgramRowId,
        delivery: Option<DeliveryRowId>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE webhook_deliveries SET state = 'pending', attempts = 0,
                     next_attempt_at = ?3, delivered_at = NULL, lease_owner = NULL, lease_until = NULL
                     WHERE program_id = ?1
                       AND (CASE WHEN ?2 IS NULL THEN state = 'failed' ELSE row_id = ?2 END)",
                )
                .and_then(|mut s| {
                    s.execute(params![program.0, delivery.map(|d| d.0), now.as_micros()])
                })
                .map(|n| n as u64)
                .map_err(backend)
            })
            .await
    }
}
