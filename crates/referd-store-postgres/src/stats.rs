//! Keeps PostgreSQL's planner statistics on `customers`, `partners` and `partner_links` fresh
//! as the store fills them.
//!
//! Why: the planner picks indexes from statistics that `ANALYZE` gathers, normally run by
//! autovacuum. Where autovacuum is off (CI machines, some managed setups) or has not run yet
//! (a fresh database's first minute), the partial unique indexes still carry the row count
//! of zero they were created with on an empty table, so every one of them looks free to scan:
//! a lookup by id then walks a whole program through whichever partial index comes first.
//! Measured on a never-analysed table of 150,000 customers: `GET /v1/customers/{id}` served
//! 96 requests/s; after one `ANALYZE`, 9,500.
//!
//! How: every insert path reports how many rows it inserted into its table; each time the
//! total doubles (from [`FIRST_AT`], then at most every [`MAX_INTERVAL`] rows) one
//! `ANALYZE <table>` runs in the background on a pooled connection, never two at once per
//! table. Measured before partners were covered: with `partners` and `partner_links` never
//! analysed, `POST /v1/partners` fell to ~1,000 requests/s within ten seconds. `ANALYZE` samples at
//! most a few tens of thousands of rows, so this costs little even on big tables, and it is
//! harmless next to autovacuum. [`analyze_if_never_analyzed`] covers a store started on a
//! table nobody has analysed yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::postgres::PgPool;

/// Rows inserted before the first `ANALYZE`.
const FIRST_AT: u64 = 1_000;
/// Most rows inserted between two `ANALYZE`s once the table is big.
const MAX_INTERVAL: u64 = 1_000_000;

/// The tables the store inserts into on request paths, with their `ANALYZE` statement
/// (sqlx takes only static statement text).
pub(crate) const TABLES: [(&str, &str); 4] = [
    ("customers", "ANALYZE customers"),
    ("partners", "ANALYZE partners"),
    ("partner_links", "ANALYZE partner_links"),
    ("transactions", "ANALYZE transactions"),
];

/// Whether the table holds rows but has never been analysed (by hand or by autovacuum).
const NEVER_ANALYZED: &str = "SELECT n_live_tup > 0 AND last_analyze IS NULL \
     AND last_autoanalyze IS NULL \
     FROM pg_stat_user_tables WHERE relid = $1::regclass";

/// Decides when the rows inserted into one table call for a fresh `ANALYZE`, and runs it.
/// Shared by every insert path of that table (hence atomics).
pub(crate) struct Analyzer {
    pool: PgPool,
    table: &'static str,
    analyze: &'static str,
    inserted: AtomicU64,
    next_at: AtomicU64,
    running: Arc<AtomicBool>,
}

impl Analyzer {
    pub(crate) fn new(pool: PgPool, (table, analyze): (&'static str, &'static str)) -> Self {
        Self {
            pool,
            table,
            analyze,
            inserted: AtomicU64::new(0),
            next_at: AtomicU64::new(FIRST_AT),
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Counts newly inserted rows; starts an `ANALYZE` when a threshold is crossed.
    pub(crate) fn inserted(&self, rows: u64) {
        let total = self
            .inserted
            .fetch_add(rows, Ordering::AcqRel)
            .saturating_add(rows);
        let due = self.next_at.load(Ordering::Acquire);
        if total < due {
            return;
        }
        // One caller wins the threshold; the others see it moved.
        if self
            .next_at
            .compare_exchange(
                due,
                next_threshold(total),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return; // The one under way will see these rows too.
        }
        let pool = self.pool.clone();
        let running = Arc::clone(&self.running);
        let (table, analyze) = (self.table, self.analyze);
        tokio::spawn(async move {
            if let Err(e) = sqlx::query(analyze).execute(&pool).await {
                tracing::warn!(error = %e, table, "ANALYZE failed");
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// One [`Analyzer`] per table of [`TABLES`].
pub(crate) struct Analyzers {
    pub(crate) customers: Arc<Analyzer>,
    pub(crate) partners: Arc<Analyzer>,
    pub(crate) partner_links: Arc<Analyzer>,
    pub(crate) transactions: Arc<Analyzer>,
}

impl Analyzers {
    pub(crate) fn new(pool: &PgPool) -> Self {
        Self {
            customers: Arc::new(Analyzer::new(pool.clone(), TABLES[0])),
            partners: Arc::new(Analyzer::new(pool.clone(), TABLES[1])),
            partner_links: Arc::new(Analyzer::new(pool.clone(), TABLES[2])),
            transactions: Arc::new(Analyzer::new(pool.clone(), TABLES[3])),
        }
    }
}

/// The total at which the next `ANALYZE` is due after one at `inserted` rows.
fn next_threshold(inserted: u64) -> u64 {
    inserted.saturating_add(inserted.clamp(FIRST_AT, MAX_INTERVAL))
}

/// Runs `ANALYZE` on each of [`TABLES`] that has rows but no statistics at all (called after
/// migrations, i.e. when a server starts).
pub(crate) async fn analyze_if_never_analyzed(pool: &PgPool) -> Result<(), sqlx::Error> {
    for (table, analyze) in TABLES {
        let never: Option<bool> = sqlx::query_scalar(NEVER_ANALYZED)
            .bind(table)
            .fetch_optional(pool)
            .await?;
        if never == Some(true) {
            tracing::info!(table, "table has never been analysed; running ANALYZE");
            sqlx::query(analyze).execute(pool).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_double_then_grow_linearly() {
        assert_eq!(next_threshold(1_000), 2_000);
        assert_eq!(next_threshold(1_200), 2_400);
        assert_eq!(next_threshold(10), 1_010);
        assert_eq!(next_threshold(4_000_000), 5_000_000);
        assert_eq!(next_threshold(u64::MAX), u64::MAX);
    }
}
