//! Group commit for `insert_customer`, the hot write path (on the [`crate::batch`]
//! machinery).
//!
//! Why: one autocommit `INSERT` per request costs a round trip and a WAL flush (fsync) per
//! customer, and sqlx adds per-statement overhead on top, so per-request inserts cannot keep
//! up with what PostgreSQL itself sustains (pgbench's single-row insert rate). Instead, one
//! writer task owns all inserts: requests queue `(NewCustomer, reply)` jobs, and the writer
//! writes whatever has queued up (greedy drain, up to [`MAX_BATCH`]) as ONE multi-row
//! statement: one round trip and one fsync for the whole batch.
//!
//! How:
//! - The batch is `INSERT … SELECT * FROM UNNEST(arrays) ON CONFLICT DO NOTHING RETURNING …`:
//!   a unique conflict skips that row instead of failing its neighbours. `UNNEST` yields the
//!   rows in queue order, so the first request wins, as with serial inserts. Each returned row
//!   is matched back to its job by `(program_id, id, key, email)`; a job left without a row
//!   lost a conflict, and a lookup of the live customers tells which field.
//! - A batch of one is a plain `INSERT`, whose unique violation names its index itself.
//! - If the batch statement fails as a whole (a foreign key, a check, a stale connection),
//!   each of its jobs is retried alone, so one bad row never fails the others. When no
//!   connection can be had at all, the jobs fail at once instead of each waiting again.
//! - A job is answered only after the statement that wrote it has completed (autocommit: it
//!   is committed).
//! - The rows inserted are counted for [`crate::stats`], which refreshes the planner's
//!   statistics as the table grows.

use std::collections::HashMap;

use referd_core::customer::{Customer, NewCustomer};
use referd_core::store::UniqueField;
use referd_core::{StoreError, StoreResult};
use sqlx::postgres::{PgPool, PgRow};
use tokio::sync::oneshot;

use crate::batch::{Batcher, Handler};
use crate::db_error;
use crate::link::{Link, unreachable};
use crate::rows::{self, customer_columns};
use std::sync::Arc;

use crate::stats::Analyzer;

/// Most jobs written by one statement.
const MAX_BATCH: usize = 256;
/// Jobs that may wait for the writer before callers are made to wait to enqueue.
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

const INSERT_ONE: &str = concat!(
    "INSERT INTO customers (program_id, ext_id, key, email, name, surname, date_of_birth, \
     referrer_row_id, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ",
    customer_columns!()
);

/// The batch: one array per column, one element per job.
const INSERT_BATCH: &str = concat!(
    "INSERT INTO customers (program_id, ext_id, key, email, name, surname, date_of_birth, \
     referrer_row_id, created_at, updated_at) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::bigint[], $9::bigint[], $9::bigint[]) \
     ON CONFLICT DO NOTHING RETURNING ",
    customer_columns!()
);

/// Which unique field a skipped job collided with: the live customer sharing its id, else its
/// key, else its email (the order in which PostgreSQL checks the indexes on a single insert).
/// Three exact lookups, one per unique index, so the plan never depends on statistics.
const CONFLICT_FIELD: &str = "SELECT f.field FROM ( \
         SELECT 0 AS field FROM customers \
             WHERE program_id = $1 AND ext_id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT 1 FROM customers \
             WHERE program_id = $1 AND key = $3 AND deleted_at IS NULL \
         UNION ALL SELECT 2 FROM customers \
             WHERE program_id = $1 AND email = $4 AND deleted_at IS NULL \
     ) f ORDER BY f.field LIMIT 1";

type Reply = oneshot::Sender<StoreResult<Customer>>;

pub(crate) struct Job {
    new: NewCustomer,
    reply: Reply,
}

/// The handle the store keeps.
pub(crate) struct Writer {
    batcher: Batcher<Job>,
}

impl Writer {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn spawn(pool: PgPool, analyzer: Arc<Analyzer>) -> Self {
        let handler = WriteHandler {
            analyzer,
            link: Link::new(pool),
        };
        Self {
            batcher: Batcher::spawn(handler, MAX_BATCH, QUEUE_CAPACITY),
        }
    }

    /// Inserts through the writer and waits for the committed row (or the error).
    pub(crate) async fn insert(&self, new: NewCustomer) -> StoreResult<Customer> {
        let (reply, answer) = oneshot::channel();
        self.batcher
            .submit(Job { new, reply })
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the customer writer stopped".into()))?
    }

    /// Stops the writer after it has written every job queued so far. Idempotent.
    pub(crate) async fn shutdown(&self) {
        self.batcher.shutdown().await;
    }
}

struct WriteHandler {
    link: Link,
    analyzer: Arc<Analyzer>,
}

impl Handler for WriteHandler {
    type Job = Job;

    async fn handle(&mut self, jobs: Vec<Job>) {
        let inserted = write(&mut self.link, jobs).await;
        self.analyzer.inserted(inserted);
    }
}

/// Writes a batch and answers each of its jobs; returns how many rows it inserted.
async fn write(link: &mut Link, jobs: Vec<Job>) -> u64 {
    if jobs.len() == 1 {
        // Alone, a plain INSERT reports its own conflict: no follow-up lookup needed.
        return insert_each(link, jobs).await;
    }
    match insert_batch(link, &jobs).await {
        Ok(inserted) => settle(link, jobs, inserted).await,
        // No connection could be had: one by one would only wait that long again per job.
        Err(e) if unreachable(&e) => {
            let message = e.to_string();
            for job in jobs {
                answer(job.reply, Err(StoreError::Backend(message.clone())));
            }
            0
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                jobs = jobs.len(),
                "batch insert of customers failed; inserting them one by one"
            );
            insert_each(link, jobs).await
        }
    }
}

/// Inserts each job with its own statement, so each gets its own outcome. Once the database
/// proves unreachable, the remaining jobs are answered with that error without trying.
async fn insert_each(link: &mut Link, jobs: Vec<Job>) -> u64 {
    let mut down: Option<String> = None;
    let mut inserted = 0;
    for job in jobs {
        let result = match &down {
            Some(message) => Err(StoreError::Backend(message.clone())),
            None => match insert_row(link, &job.new).await {
                Ok(row) => rows::customer(&row, &rows::PLAIN),
                Err(e) => {
                    if unreachable(&e) {
                        down = Some(e.to_string());
                    }
                    Err(db_error(e))
                }
            },
        };
        inserted += answer(job.reply, result);
    }
    inserted
}

/// Sends a job its outcome; returns 1 for an inserted row, else 0. A caller that stopped
/// waiting (e.g. a dropped request) no longer needs its answer.
fn answer(reply: Reply, result: StoreResult<Customer>) -> u64 {
    let inserted = u64::from(result.is_ok());
    let _ = reply.send(result);
    inserted
}

/// One customer, one statement; a unique violation fails it with its constraint's name.
async fn insert_row(link: &mut Link, new: &NewCustomer) -> Result<PgRow, sqlx::Error> {
    let conn = link.connection().await?;
    let result = sqlx::query(INSERT_ONE)
        .bind(new.program_id.0)
        .bind(&new.id)
        .bind(&new.key)
        .bind(&new.email)
        .bind(&new.name)
        .bind(&new.surname)
        .bind(&new.date_of_birth)
        .bind(new.referrer.map(|r| r.0))
        .bind(new.created_at.as_micros())
        .fetch_one(conn)
        .await;
    link.check(result)
}

/// Runs the batch statement; returns the rows it inserted (conflicting jobs have none).
async fn insert_batch(link: &mut Link, jobs: &[Job]) -> Result<Vec<PgRow>, sqlx::Error> {
    let n = jobs.len();
    let mut program_ids = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut emails = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut surnames = Vec::with_capacity(n);
    let mut dates_of_birth = Vec::with_capacity(n);
    let mut referrers = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    for Job { new, .. } in jobs {
        program_ids.push(new.program_id.0);
        ids.push(new.id.as_str());
        keys.push(new.key.as_str());
        emails.push(new.email.as_deref());
        names.push(new.name.as_deref());
        surnames.push(new.surname.as_deref());
        dates_of_birth.push(new.date_of_birth.as_deref());
        referrers.push(new.referrer.map(|r| r.0));
        created.push(new.created_at.as_micros());
    }
    let conn = link.connection().await?;
    let result = sqlx::query(INSERT_BATCH)
        .bind(program_ids)
        .bind(ids)
        .bind(keys)
        .bind(emails)
        .bind(names)
        .bind(surnames)
        .bind(dates_of_birth)
        .bind(referrers)
        .bind(created)
        .fetch_all(conn)
        .await;
    link.check(result)
}

/// What identifies a job's row among those a batch returned. Live customers of a program
/// have distinct ids, so two inserted rows never share one.
type Identity = (i64, String, String, Option<String>);

fn identity_of_new(new: &NewCustomer) -> Identity {
    (
        new.program_id.0,
        new.id.clone(),
        new.key.clone(),
        new.email.clone(),
    )
}

fn identity_of_row(c: &Customer) -> Identity {
    (c.program_id.0, c.id.clone(), c.key.clone(), c.email.clone())
}

/// Answers each job of a batch that ran: with its row, or with the conflict it lost.
async fn settle(link: &mut Link, jobs: Vec<Job>, inserted: Vec<PgRow>) -> u64 {
    let inserted = match rows::customers(&inserted) {
        Ok(inserted) => inserted,
        Err(e) => {
            // The rows are committed but cannot be read back, so no job of this batch can be
            // told which row is its own: all of them get the backend error. (Retrying would
            // turn each committed row into a false conflict.)
            tracing::error!(error = %e, "cannot decode customers returned by a batch insert");
            for job in jobs {
                answer(job.reply, Err(StoreError::Backend(e.to_string())));
            }
            // Committed all the same: they count for the statistics.
            return u64::try_from(inserted.len()).unwrap_or(u64::MAX);
        }
    };
    let mut by_identity: HashMap<Identity, Customer> = inserted
        .into_iter()
        .map(|c| (identity_of_row(&c), c))
        .collect();
    let mut lost = Vec::new();
    let mut count = 0;
    for job in jobs {
        // `remove`: if two jobs share an identity, only the first gets the row; the second
        // lost to it and is resolved below like any other conflict.
        match by_identity.remove(&identity_of_new(&job.new)) {
            Some(customer) => count += answer(job.reply, Ok(customer)),
            None => lost.push(job),
        }
    }
    for job in lost {
        let result = match conflict_field(link, &job.new).await {
            Ok(Some(field)) => Err(StoreError::Conflict(field)),
            // The row it collided with is gone already (deleted, or changed its key or email
            // since): nothing stands in the way any more, so try once more, alone.
            Ok(None) => match insert_row(link, &job.new).await {
                Ok(row) => rows::customer(&row, &rows::PLAIN),
                Err(e) => Err(db_error(e)),
            },
            Err(e) => Err(e),
        };
        count += answer(job.reply, result);
    }
    count
}

/// The field on which a live customer of the program collides with `new`, if any does.
async fn conflict_field(link: &mut Link, new: &NewCustomer) -> StoreResult<Option<UniqueField>> {
    let conn = link.connection().await.map_err(db_error)?;
    let result = sqlx::query_scalar(CONFLICT_FIELD)
        .bind(new.program_id.0)
        .bind(&new.id)
        .bind(&new.key)
        .bind(&new.email)
        .fetch_optional(conn)
        .await;
    let field: Option<i32> = link.check(result).map_err(db_error)?;
    Ok(field.map(|f| match f {
        0 => UniqueField::CustomerId,
        1 => UniqueField::CustomerKey,
        _ => UniqueField::CustomerEmail,
    }))
}
