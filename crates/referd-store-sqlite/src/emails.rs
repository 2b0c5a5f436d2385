//! The email outbox on SQLite (invitations waiting for the SMTP server), leased like webhook
//! deliveries through the writer thread.

use async_trait::async_trait;
use referd_core::email::{Email, EmailOutcome, EmailRowId, NewEmail};
use referd_core::program::ProgramRowId;
use referd_core::store::{EmailStore, StoreResult};
use referd_core::time::Timestamp;
use rusqlite::{Row, params};

use crate::{SqliteStore, backend};

const COLUMNS: &str = "row_id, program_id, recipient, subject, body, state, attempts,
    last_error, created_at, sent_at";

fn email(r: &Row<'_>) -> rusqlite::Result<Email> {
    Ok(Email {
        row_id: EmailRowId(r.get(0)?),
        program_id: ProgramRowId(r.get(1)?),
        recipient: r.get(2)?,
        subject: r.get(3)?,
        body: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        last_error: r.get(7)?,
        created_at: Timestamp::from_micros(r.get(8)?),
        sent_at: r.get::<_, Option<i64>>(9)?.map(Timestamp::from_micros),
    })
}

#[async_trait]
impl EmailStore for SqliteStore {
    async fn enqueue_email(&self, new: NewEmail) -> StoreResult<EmailRowId> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO email_outbox (program_id, recipient, subject, body, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        new.program_id.0,
                        new.recipient,
                        new.subject,
                        new.body,
                        new.now.as_micros()
                    ])
                })
                .map_err(backend)?;
                Ok(EmailRowId(conn.last_insert_rowid()))
            })
            .await
    }

    async fn claim_emails(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        only: Option<ProgramRowId>,
    ) -> StoreResult<Vec<Email>> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "UPDATE email_outbox SET lease_owner = ?1, lease_until = ?2,
                         attempts = attempts + 1
                         WHERE row_id IN (
                             SELECT row_id FROM email_outbox
                             WHERE state = 'pending' AND next_attempt_at <= ?3
                               AND (lease_until IS NULL OR lease_until < ?3)
                               AND (?5 IS NULL OR program_id = ?5)
                             ORDER BY next_attempt_at, row_id LIMIT ?4)
                         RETURNING {COLUMNS}"
                    ))
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(
                        params![
                            owner,
                            lease_until.as_micros(),
                            now.as_micros(),
                            limit,
                            only.map(|p| p.0)
                        ],
                        email,
                    )
                    .map_err(backend)?;
                let mut out: Vec<Email> = rows.collect::<Result<_, _>>().map_err(backend)?;
                out.sort_by_key(|e| e.row_id.0);
                Ok(out)
            })
            .await
    }

    async fn finish_email(
        &self,
        email_id: EmailRowId,
        owner: &str,
        outcome: &EmailOutcome,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let owner = owner.to_owned();
        let (state, next, error, sent_at) = match outcome {
            EmailOutcome::Sent => ("sent", None, None, Some(now.as_micros())),
            EmailOutcome::RetryAt(at, e) => {
                ("pending", Some(at.as_micros()), Some(e.clone()), None)
            }
            EmailOutcome::Failed(e) => ("failed", None, Some(e.clone()), None),
        };
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE email_outbox SET state = ?3, next_attempt_at = COALESCE(?4, next_attempt_at),
                     last_error = ?5, sent_at = ?6, lease_owner = NULL, lease_until = NULL
                     WHERE row_id = ?1 AND lease_owner = ?2 AND state = 'pending'",
                )
                .and_then(|mut s| s.execute(params![email_id.0, owner, state, next, error, sent_at]))
                .map(|n| n > 0)
                .map_err(backend)
            })
            .await
    }

    async fn list_emails(&self, program: ProgramRowId) -> StoreResult<Vec<Email>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM email_outbox WHERE program_id = ?1 ORDER BY row_id"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map(params![program.0], email).map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }
}
