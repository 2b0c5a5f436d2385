//! referd's PostgreSQL store: [`PostgresStore`] implements [`referd_core::Store`] over an
//! sqlx connection pool.
//!
//! Layout, one job per module:
//! - this file: connecting, migrations, shutdown and the mapping of sqlx errors to
//!   [`StoreError`] (by error kind and constraint name, never by message text);
//! - `programs.rs`: programs, their settings and two-step delete, API keys, referral and
//!   affiliate counts;
//! - `customers.rs`: customer reads and updates (and status changes of both flavours);
//! - `partners.rs`: partners of affiliate programs, inserted with their default link;
//! - `links.rs`: partners' additional referral links;
//! - `affiliate_customers.rs`: customers of affiliate programs (a partner, no referrer);
//! - `batch.rs`: the group machinery (one task, batches of queued jobs) behind the next two;
//! - `writer.rs`: the group-commit writers behind `insert_customer` and
//!   `insert_affiliate_customer` (one per kind);
//! - `keys.rs`: grouped `program_for_key` lookups, the read every request makes;
//! - `link.rs`: the connection each batch task keeps for itself;
//! - `rules.rs`: reward rule versions; `admin.rs`: admin tokens;
//! - `transactions.rs`: reported sales, their refunds, archives and restores; `ledger.rs`:
//!   ledger entries (the append-only record of rewards, reversals, credits and payouts);
//! - `idempotency.rs`: the first answers of `Idempotency-Key`s, claimed before a request
//!   runs;
//! - `rows.rs`: decoding rows into domain types;
//! - `stats.rs`: keeping the planner's statistics fresh as customers are inserted.
//!
//! Every query is a runtime `sqlx::query` (nothing needs a database at build time), and every
//! method is one statement or one transaction.

mod admin;
mod affiliate_customers;
mod batch;
mod customers;
mod emails;
mod idempotency;
mod keys;
mod ledger;
mod link;
mod links;
mod partners;
mod programs;
mod rows;
mod rules;
mod sales;
mod stats;
mod tracking;
mod transactions;
mod webhooks;
mod writer;

use std::time::Duration;

use async_trait::async_trait;
use referd_core::store::UniqueField;
use referd_core::{Store, StoreError, StoreResult};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::affiliate_customers::Affiliate;
use crate::keys::KeyReader;
use crate::writer::{Plain, Writer};

/// The embedded schema (`migrations/`), applied by [`Store::migrate`].
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Pool size: the connections the batch tasks keep (two writers, key reader; the affiliate
/// writer's only once an affiliate customer is inserted) plus concurrent reads, small enough for a default `max_connections = 100` server shared by a few referd
/// processes.
const MAX_CONNECTIONS: u32 = 16;

/// The pool size: [`MAX_CONNECTIONS`], or `REFERD_PG_POOL_SIZE` (2–500) where an operator
/// sizes it for their server and instance count.
fn pool_size() -> u32 {
    std::env::var("REFERD_PG_POOL_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (2..=500).contains(n))
        .unwrap_or(MAX_CONNECTIONS)
}
/// Longest any one statement may run (`statement_timeout`, set on every connection).
const STATEMENT_TIMEOUT: &str = "30s";
/// How long a query waits for a free connection before failing as a backend error.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A pooled connection idle for longer than this is pinged before use.
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A [`Store`] on PostgreSQL.
pub struct PostgresStore {
    pool: PgPool,
    /// Refer-a-friend customer creates.
    writer: Writer<Plain>,
    /// Affiliate customer creates.
    affiliate_writer: Writer<Affiliate>,
    /// Sales whose rewards need no history.
    sales_writer: Writer<sales::Sales>,
    keys: KeyReader,
    /// Fresh planner statistics as tables grow (autovacuum may be off).
    analyzers: stats::Analyzers,
    rules: referd_core::rules::cache::RulesCache,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`), failing fast when the server
    /// is unreachable, and starts the customer writers and the API-key reader. Must be called
    /// inside a tokio runtime.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // A stuck statement fails after STATEMENT_TIMEOUT instead of holding its request (or
        // the writer's batch) forever.
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .map_err(db_error)?
            .options([("statement_timeout", STATEMENT_TIMEOUT)]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size())
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // By default sqlx pings every pooled connection before handing it out: one more
            // round trip per query. Ping only connections that sat idle for a while (the
            // server may have restarted behind them); busy ones have just proven themselves.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(db_error)?;
        let analyzers = stats::Analyzers::new(&pool);
        let writer = Writer::spawn(pool.clone(), analyzers.customers.clone());
        let affiliate_writer = Writer::spawn(pool.clone(), analyzers.customers.clone());
        let sales_writer = Writer::spawn(pool.clone(), analyzers.transactions.clone());
        let keys = KeyReader::spawn(pool.clone());
        Ok(Self {
            pool,
            writer,
            affiliate_writer,
            sales_writer,
            keys,
            analyzers,
            rules: Default::default(),
        })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // The migrator holds a PostgreSQL advisory lock while it runs, so many processes may
        // call this at once.
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // Only an optimisation: a failure is logged, not fatal.
        if let Err(e) = stats::analyze_if_never_analyzed(&self.pool).await {
            tracing::warn!(error = %e, "could not check the tables' statistics");
        }
        Ok(())
    }

    async fn close(&self) {
        // Queued inserts and lookups are answered before the pool goes away.
        self.writer.shutdown().await;
        self.affiliate_writer.shutdown().await;
        self.sales_writer.shutdown().await;
        self.keys.shutdown().await;
        self.pool.close().await;
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }
}

/// Maps an sqlx error to a [`StoreError`]: a unique violation becomes
/// [`StoreError::Conflict`] naming the field its constraint guards; anything else is a
/// backend failure.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.kind() == sqlx::error::ErrorKind::UniqueViolation
        && let Some(field) = db.constraint().and_then(unique_field)
    {
        return StoreError::Conflict(field);
    }
    StoreError::Backend(e.to_string())
}

/// The field a unique constraint (or unique index) of the schema guards.
fn unique_field(constraint: &str) -> Option<UniqueField> {
    match constraint {
        "customers_program_ext_id" => Some(UniqueField::CustomerId),
        "customers_program_key" => Some(UniqueField::CustomerKey),
        "customers_program_email" => Some(UniqueField::CustomerEmail),
        "programs_public_id" => Some(UniqueField::ProgramPublicId),
        "api_keys_key_hash" => Some(UniqueField::ApiKey),
        "partners_program_ext_id" => Some(UniqueField::PartnerId),
        "partners_program_email" => Some(UniqueField::PartnerEmail),
        "partner_links_program_key" => Some(UniqueField::LinkKey),
        "customer_links_program_key" => Some(UniqueField::LinkKey),
        "webhooks_program_key" => Some(UniqueField::WebhookKey),
        _ => None,
    }
}

/// A `u64` count or offset as the `BIGINT` PostgreSQL expects (saturating; real values are
/// far below the limit).
pub(crate) fn to_bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_names_map_to_fields() {
        assert_eq!(
            unique_field("customers_program_ext_id"),
            Some(UniqueField::CustomerId)
        );
        assert_eq!(
            unique_field("customers_program_key"),
            Some(UniqueField::CustomerKey)
        );
        assert_eq!(
            unique_field("customers_program_email"),
            Some(UniqueField::CustomerEmail)
        );
        assert_eq!(
            unique_field("programs_public_id"),
            Some(UniqueField::ProgramPublicId)
        );
        assert_eq!(unique_field("api_keys_key_hash"), Some(UniqueField::ApiKey));
        assert_eq!(
            unique_field("partners_program_ext_id"),
            Some(UniqueField::PartnerId)
        );
        assert_eq!(
            unique_field("partners_program_email"),
            Some(UniqueField::PartnerEmail)
        );
        assert_eq!(
            unique_field("partner_links_program_key"),
            Some(UniqueField::LinkKey)
        );
        // One default link per partner is an invariant, not a field a client can collide on.
        assert_eq!(unique_field("partner_links_default"), None);
        assert_eq!(unique_field("programs_pkey"), None);
    }

    #[test]
    fn other_errors_are_backend_errors() {
        assert!(matches!(
            db_error(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
    }
}
