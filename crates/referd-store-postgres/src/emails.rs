//! [`EmailStore`] for [`PostgresStore`]: the email outbox (invitations waiting for the SMTP
//! server), leased with `FOR UPDATE SKIP LOCKED` like webhook deliveries.

use async_trait::async_trait;
use referd_core::email::{Email, EmailOutcome, EmailRowId, NewEmail};
use referd_core::program::ProgramRowId;
use referd_core::store::{EmailStore, StoreResult};
use referd_core::time::Timestamp;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::{PostgresStore, db_error};

fn email(r: &PgRow) -> Result<Email, sqlx::Error> {
    Ok(Email {
        row_id: EmailRowId(r.try_get(0)?),
        program_id: ProgramRowId(r.try_get(1)?),
        recipient: r.try_get(2)?,
        subject: r.try_get(3)?,
        body: r.try_get(4)?,
        state: r.try_get(5)?,
        attempts: r.try_get::<i32, _>(6)?.max(0) as u32,
        last_error: r.try_get(7)?,
        created_at: Timestamp::from_micros(r.try_get(8)?),
        sent_at: r.try_get::<Option<i64>, _>(9)?.map(Timestamp::from_micros),
    })
}

#[async_trait]
impl EmailStore for PostgresStore {
    async fn enqueue_email(&self, new: NewEmail) -> StoreResult<EmailRowId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO email_outbox (program_id, recipient, subject, body, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING row_id",
        )
        .bind(new.program_id.0)
        .bind(new.recipient)
        .bind(new.subject)
        .bind(new.body)
        .bind(new.now.as_micros())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(EmailRowId(id))
    }

    async fn claim_emails(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        only: Option<ProgramRowId>,
    ) -> StoreResult<Vec<Email>> {
        let rows = sqlx::query(
            "UPDATE email_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
             WHERE row_id IN (
                 SELECT row_id FROM email_outbox
                 WHERE state = 'pending' AND next_attempt_at <= $3
                   AND (lease_until IS NULL OR lease_until < $3)
                   AND ($5::BIGINT IS NULL OR program_id = $5)
                 ORDER BY next_attempt_at, row_id LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             RETURNING row_id, program_id, recipient, subject, body, state, attempts,
                       last_error, created_at, sent_at",
        )
        .bind(owner)
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .bind(i64::from(limit))
        .bind(only.map(|p| p.0))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut out = rows
            .iter()
            .map(email)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_error)?;
        out.sort_by_key(|e| e.row_id.0);
        Ok(out)
    }

    async fn finish_email(
        &self,
        email_id: EmailRowId,
        owner: &str,
        outcome: &EmailOutcome,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (state, next, error, sent_at) = match outcome {
            EmailOutcome::Sent => ("sent", None, None, Some(now.as_micros())),
            EmailOutcome::RetryAt(at, e) => {
                ("pending", Some(at.as_micros()), Some(e.as_str()), None)
            }
            EmailOutcome::Failed(e) => ("failed", None, Some(e.as_str()), None),
        };
        let done = sqlx::query(
            "UPDATE email_outbox SET state = $3, next_attempt_at = COALESCE($4, next_attempt_at),
             last_error = $5, sent_at = $6, lease_owner = NULL, lease_until = NULL
             WHERE row_id = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(email_id.0)
        .bind(owner)
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(sent_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_emails(&self, program: ProgramRowId) -> StoreResult<Vec<Email>> {
        let rows = sqlx::query(
            "SELECT row_id, program_id, recipient, subject, body, state, attempts, last_error,
                    created_at, sent_at
             FROM email_outbox WHERE program_id = $1 ORDER BY row_id",
        )
        .bind(program.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(email)
            .collect::<Result<_, _>>()
            .map_err(db_error)
    }
}
