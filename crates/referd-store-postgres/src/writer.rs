//! Group commit for the hot write paths (on the [`crate::batch`] machinery):
//! `insert_customer` and `insert_affiliate_customer`, each through its own writer, and sales
//! whose rewards need no history (the `Sales` kind in `sales.rs`).
//!
//! Why: one autocommit `INSERT` per request costs a round trip and a WAL flush (fsync) per
//! customer, and sqlx adds per-statement overhead on top, so per-request inserts cannot keep
//! up with what PostgreSQL itself sustains (pgbench's single-row insert rate). Instead, one
//! writer task owns all inserts of a [`Kind`]: requests queue `(new row, reply)` jobs, and the
//! writer writes whatever has queued up (greedy drain, up to [`MAX_BATCH`]) as ONE multi-row
//! statement: one round trip and one fsync for the whole batch.
//!
//! How:
//! - The batch is `INSERT … SELECT … FROM UNNEST(arrays) ON CONFLICT DO NOTHING RETURNING …`:
//!   a unique conflict skips that row instead of failing its neighbours. `UNNEST` yields the
//!   rows in queue order, so the first request wins, as with serial inserts. Each returned row
//!   is matched back to its job by the kind's identity (its unique fields); a job left without
//!   a row lost a conflict (or, for an affiliate customer, named a partner not of the
//!   program), and a lookup tells which.
//! - A batch of one is a plain `INSERT`, whose unique violation names its index itself.
//! - If the batch statement fails as a whole (a foreign key, a check, a stale connection),
//!   each of its jobs is retried alone, so one bad row never fails the others. When no
//!   connection can be had at all, the jobs fail at once instead of each waiting again.
//! - A job is answered only after the statement that wrote it has completed (autocommit: it
//!   is committed).
//! - The rows inserted are counted for [`crate::stats`], which refreshes the planner's
//!   statistics as the table grows.
//!
//! Why one writer per kind rather than one writer whose batches mix both: a batch stays one
//! autocommit statement, so the fallback and conflict resolution above hold unchanged. A mixed
//! batch would need two statements, hence two commits or one transaction whose failure in
//! either kind's statement rolls back the other's rows, which the one-by-one retry would then
//! have to undo. The cost is one more kept connection, taken only once a program of that kind
//! inserts (a store serving refer-a-friend programs alone never holds it), and the kinds never
//! wait on each other's batches.
//!
//! This file holds the machinery and the refer-a-friend [`Plain`] kind; the affiliate kind
//! lives in `affiliate_customers.rs`, next to its other statements.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use referd_core::customer::{Customer, NewCustomer};
use referd_core::store::UniqueField;
use referd_core::{StoreError, StoreResult};
use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use tokio::sync::oneshot;

use crate::batch::{Batcher, Handler};
use crate::db_error;
use crate::link::{Link, unreachable};
use crate::rows::{self, customer_columns};
use crate::stats::Analyzer;

/// Most jobs written by one statement.
const MAX_BATCH: usize = 256;
/// Jobs that may wait for the writer before callers are made to wait to enqueue.
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// A statement with its arguments bound (sqlx encodes them at `bind`).
pub(crate) type Query = sqlx::query::Query<'static, Postgres, PgArguments>;
/// The conflict lookup: which of the kind's [`Kind::lost_to`] codes, if any.
pub(crate) type ConflictQuery<'q> = sqlx::query::QueryScalar<'q, Postgres, i32, PgArguments>;

/// One kind of row a writer inserts: its statements, and how its rows are told apart.
pub(crate) trait Kind: Send + 'static {
    /// A row to insert, as queued.
    type New: Send + Sync + 'static;
    /// The inserted row, as answered.
    type Row: Send + 'static;
    /// What identifies a job's row among those a batch returned: enough of its fields that
    /// two jobs sharing one would be skipped or inserted alike, so the first gets the row.
    type Identity: Eq + Hash + Send;
    /// Names the rows in logs.
    const NAME: &'static str;

    /// One row, one statement; a unique violation fails it with its constraint's name. No row
    /// back means the database refused it without an error: [`StoreError::NotFound`].
    fn insert_one(new: &Self::New) -> Query;
    /// The batch statement over `news`, in queue order.
    fn insert_batch<'a>(news: impl ExactSizeIterator<Item = &'a Self::New>) -> Query;
    /// What a skipped job lost to: a code for [`Self::lost_to`], or none when nothing stands
    /// in its way any more.
    fn conflict(new: &Self::New) -> ConflictQuery<'_>;
    /// The error of a [`Self::conflict`] code.
    fn lost_to(code: i32) -> StoreError;
    fn decode(row: &PgRow) -> StoreResult<Self::Row>;
    fn identity_of_new(new: &Self::New) -> Self::Identity;
    fn identity_of_row(row: &Self::Row) -> Self::Identity;
}

type Reply<K> = oneshot::Sender<StoreResult<<K as Kind>::Row>>;

pub(crate) struct Job<K: Kind> {
    new: K::New,
    reply: Reply<K>,
}

/// The handle the store keeps, one per kind.
pub(crate) struct Writer<K: Kind> {
    batcher: Batcher<Job<K>>,
}

impl<K: Kind> Writer<K> {
    /// Starts the writer task on the current tokio runtime. Its connection is taken on the
    /// first insert.
    pub(crate) fn spawn(pool: PgPool, analyzer: Arc<Analyzer>) -> Self {
        let handler = WriteHandler::<K> {
            analyzer,
            link: Link::new(pool),
            kind: std::marker::PhantomData,
        };
        Self {
            batcher: Batcher::spawn(handler, MAX_BATCH, QUEUE_CAPACITY),
        }
    }

    /// Inserts through the writer and waits for the committed row (or the error).
    pub(crate) async fn insert(&self, new: K::New) -> StoreResult<K::Row> {
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

struct WriteHandler<K> {
    link: Link,
    analyzer: Arc<Analyzer>,
    kind: std::marker::PhantomData<fn() -> K>,
}

impl<K: Kind> Handler for WriteHandler<K> {
    type Job = Job<K>;

    async fn handle(&mut self, jobs: Vec<Job<K>>) {
        let inserted = write::<K>(&mut self.link, jobs).await;
        self.analyzer.inserted(inserted);
    }
}

/// Writes a batch and answers each of its jobs; returns how many rows it inserted.
async fn write<K: Kind>(link: &mut Link, jobs: Vec<Job<K>>) -> u64 {
    if jobs.len() == 1 {
        // Alone, a plain INSERT reports its own conflict: no follow-up lookup needed.
        return insert_each(link, jobs).await;
    }
    match insert_batch::<K>(link, &jobs).await {
        Ok(inserted) => settle(link, jobs, inserted).await,
        // No connection could be had: one by one would only wait that long again per job.
        Err(e) if unreachable(&e) => {
            let message = e.to_string();
            for job in jobs {
                answer::<K>(job.reply, Err(StoreError::Backend(message.clone())));
            }
            0
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                jobs = jobs.len(),
                kind = K::NAME,
                "batch insert of customers failed; inserting them one by one"
            );
            insert_each(link, jobs).await
        }
    }
}

/// Inserts each job with its own statement, so each gets its own outcome. Once the database
/// proves unreachable, the remaining jobs are answered with that error without trying.
async fn insert_each<K: Kind>(link: &mut Link, jobs: Vec<Job<K>>) -> u64 {
    let mut down: Option<String> = None;
    let mut inserted = 0;
    for job in jobs {
        let result = match &down {
            Some(message) => Err(StoreError::Backend(message.clone())),
            None => match insert_row::<K>(link, &job.new).await {
                Ok(row) => decode_one::<K>(row),
                Err(e) => {
                    if unreachable(&e) {
                        down = Some(e.to_string());
                    }
                    Err(db_error(e))
                }
            },
        };
        inserted += answer::<K>(job.reply, result);
    }
    inserted
}

/// The outcome of a single insert: its row, or `NotFound` when it inserted none (an affiliate
/// customer's partner is not one of the program's).
fn decode_one<K: Kind>(row: Option<PgRow>) -> StoreResult<K::Row> {
    match row {
        Some(row) => K::decode(&row),
        None => Err(StoreError::NotFound),
    }
}

/// Sends a job its outcome; returns 1 for an inserted row, else 0. A caller that stopped
/// waiting (e.g. a dropped request) no longer needs its answer.
fn answer<K: Kind>(reply: Reply<K>, result: StoreResult<K::Row>) -> u64 {
    let inserted = u64::from(result.is_ok());
    let _ = reply.send(result);
    inserted
}

/// One row, one statement.
async fn insert_row<K: Kind>(link: &mut Link, new: &K::New) -> Result<Option<PgRow>, sqlx::Error> {
    let conn = link.connection().await?;
    let result = K::insert_one(new).fetch_optional(conn).await;
    link.check(result)
}

/// Runs the batch statement; returns the rows it inserted (skipped jobs have none).
async fn insert_batch<K: Kind>(
    link: &mut Link,
    jobs: &[Job<K>],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let query = K::insert_batch(jobs.iter().map(|job| &job.new));
    let conn = link.connection().await?;
    let result = query.fetch_all(conn).await;
    link.check(result)
}

/// Answers each job of a batch that ran: with its row, or with what it lost to.
async fn settle<K: Kind>(link: &mut Link, jobs: Vec<Job<K>>, inserted: Vec<PgRow>) -> u64 {
    let decoded: StoreResult<Vec<K::Row>> = inserted.iter().map(K::decode).collect();
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(e) => {
            // The rows are committed but cannot be read back, so no job of this batch can be
            // told which row is its own: all of them get the backend error. (Retrying would
            // turn each committed row into a false conflict.)
            tracing::error!(error = %e, kind = K::NAME, "cannot decode customers returned by a batch insert");
            for job in jobs {
                answer::<K>(job.reply, Err(StoreError::Backend(e.to_string())));
            }
            // Committed all the same: they count for the statistics.
            return u64::try_from(inserted.len()).unwrap_or(u64::MAX);
        }
    };
    let mut by_identity: HashMap<K::Identity, K::Row> = decoded
        .into_iter()
        .map(|row| (K::identity_of_row(&row), row))
        .collect();
    let mut lost = Vec::new();
    let mut count = 0;
    for job in jobs {
        // `remove`: if two jobs share an identity, only the first gets the row; the second
        // lost to it and is resolved below like any other conflict.
        match by_identity.remove(&K::identity_of_new(&job.new)) {
            Some(row) => count += answer::<K>(job.reply, Ok(row)),
            None => lost.push(job),
        }
    }
    for job in lost {
        let result = match lost_to::<K>(link, &job.new).await {
            Ok(Some(error)) => Err(error),
            // The row it collided with is gone already (deleted, or changed its key or email
            // since): nothing stands in the way any more, so try once more, alone.
            Ok(None) => match insert_row::<K>(link, &job.new).await {
                Ok(row) => decode_one::<K>(row),
                Err(e) => Err(db_error(e)),
            },
            Err(e) => Err(e),
        };
        count += answer::<K>(job.reply, result);
    }
    count
}

/// What kept a skipped job's row out, if anything still does.
async fn lost_to<K: Kind>(link: &mut Link, new: &K::New) -> StoreResult<Option<StoreError>> {
    let conn = link.connection().await.map_err(db_error)?;
    let result = K::conflict(new).fetch_optional(conn).await;
    let code: Option<i32> = link.check(result).map_err(db_error)?;
    Ok(code.map(K::lost_to))
}

/// Refer-a-friend customers (`insert_customer`).
pub(crate) struct Plain;

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

impl Kind for Plain {
    type New = NewCustomer;
    type Row = Customer;
    /// Live customers of a program have distinct ids, so two inserted rows never share one.
    type Identity = (i64, String, String, Option<String>);
    const NAME: &'static str = "refer-a-friend";

    fn insert_one(new: &NewCustomer) -> Query {
        sqlx::query(INSERT_ONE)
            .bind(new.program_id.0)
            .bind(&new.id)
            .bind(&new.key)
            .bind(&new.email)
            .bind(&new.name)
            .bind(&new.surname)
            .bind(&new.date_of_birth)
            .bind(new.referrer.map(|r| r.0))
            .bind(new.created_at.as_micros())
    }

    fn insert_batch<'a>(news: impl ExactSizeIterator<Item = &'a NewCustomer>) -> Query {
        let n = news.len();
        let mut program_ids = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        let mut emails = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        let mut surnames = Vec::with_capacity(n);
        let mut dates_of_birth = Vec::with_capacity(n);
        let mut referrers = Vec::with_capacity(n);
        let mut created = Vec::with_capacity(n);
        for new in news {
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
        sqlx::query(INSERT_BATCH)
            .bind(program_ids)
            .bind(ids)
            .bind(keys)
            .bind(emails)
            .bind(names)
            .bind(surnames)
            .bind(dates_of_birth)
            .bind(referrers)
            .bind(created)
    }

    fn conflict(new: &NewCustomer) -> ConflictQuery<'_> {
        sqlx::query_scalar(CONFLICT_FIELD)
            .bind(new.program_id.0)
            .bind(&new.id)
            .bind(&new.key)
            .bind(&new.email)
    }

    fn lost_to(code: i32) -> StoreError {
        StoreError::Conflict(match code {
            0 => UniqueField::CustomerId,
            1 => UniqueField::CustomerKey,
            _ => UniqueField::CustomerEmail,
        })
    }

    fn decode(row: &PgRow) -> StoreResult<Customer> {
        rows::customer(row, &rows::PLAIN)
    }

    fn identity_of_new(new: &NewCustomer) -> Self::Identity {
        (
            new.program_id.0,
            new.id.clone(),
            new.key.clone(),
            new.email.clone(),
        )
    }

    fn identity_of_row(c: &Customer) -> Self::Identity {
        (c.program_id.0, c.id.clone(), c.key.clone(), c.email.clone())
    }
}
