//! [`TransactionStore`] for [`PostgresStore`]: reported sales (`transactions`) with their
//! ledger entries (the entry SQL and decoding live in `ledger.rs`).
//!
//! Archiving keeps a transaction live (its key stays taken) but reverses its entries;
//! restoring copies the rewards the archive reversed.
//!
//! Every answer's transaction carries the buyer's wire identifier (`ext_id`, else `key`),
//! its partner's current default key and its referrer's `ext_id`, joined at read time.
//! "Live" means `deleted_at IS NULL`; a refund sets it (with status `deleted`), which frees
//! the key in the partial unique index `transactions_program_key`.
//!
//! A sale whose rewards do not depend on the buyer's earlier sales (the usual rule sets) goes
//! through the sales writer (`sales.rs`, group commit): the transaction and its entries are
//! inserted by one statement, the key settled by the unique index (`ON CONFLICT DO NOTHING`).
//! A sale whose rewards do (first-N periods, first-purchase rewards) is a short transaction of
//! its own that locks the buyer, so the prior-sales count and the key check are exact until
//! commit; a batch would hold that lock for all of its jobs.

use std::collections::HashMap;

use async_trait::async_trait;
use referd_core::customer::CustomerRowId;
use referd_core::ledger::{
    Holder, LedgerEntry, NewEntry, NewTransaction, Recorded, RewardsSummary, SalesScope,
    SalesSummary, Transaction, TransactionFilter, TransactionRowId, TransactionStatus,
};
use referd_core::money::Currency;
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::PartnerRowId;
use referd_core::program::ProgramRowId;
use referd_core::store::{TransactionStore, UniqueField};
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use rust_decimal::Decimal;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Row};

use crate::ledger::{self, decimal};
use crate::sales::QueuedSale;
use crate::{PostgresStore, db_error, to_bigint};

/// The transaction columns [`transaction`] reads, from `t` and the joins of
/// [`transaction_joins!`].
macro_rules! transaction_columns {
    () => {
        "t.row_id, t.program_id, t.key, t.customer_row_id, \
         coalesce(c.ext_id, c.key) AS customer_ident, t.partner_row_id, dl.key AS partner_key, \
         t.referrer_row_id, r.ext_id AS referrer_ident, t.amount::text AS amount, t.currency, \
         t.action, t.product_id, t.product_type, t.rewardable, t.rewarded, t.status, \
         t.request_hash, t.created_at, t.deleted_at"
    };
}

pub(crate) use transaction_columns;

/// The buyer `c`, the partner's default link `dl` (whatever its `deleted_at`: a deleted
/// partner's sales still name it) and the referrer `r` of a transaction row `t`.
macro_rules! transaction_joins {
    () => {
        " JOIN customers c ON c.row_id = t.customer_row_id \
          LEFT JOIN partner_links dl ON dl.partner_row_id = t.partner_row_id AND dl.is_default \
          LEFT JOIN customers r ON r.row_id = t.referrer_row_id "
    };
}
pub(crate) use transaction_joins;

/// Serialises sales of one buyer, across processes, until commit: the prior-sales count and
/// the key check below are then exact. `NO KEY UPDATE` rather than `UPDATE`: it conflicts
/// with itself all the same, but not with the key-share locks foreign-key checks take, so
/// inserting a customer this one referred, or a sale naming it as referrer, does not wait
/// (and two sales naming each other's buyers as referrers cannot deadlock).
const LOCK_BUYER: &str =
    "SELECT 1 FROM customers WHERE program_id = $1 AND row_id = $2 FOR NO KEY UPDATE";

/// A live transaction by key.
const FIND_LIVE: &str = concat!(
    "SELECT ",
    transaction_columns!(),
    " FROM transactions t",
    transaction_joins!(),
    "WHERE t.program_id = $1 AND t.key = $2 AND t.deleted_at IS NULL \
     AND t.status IN ('active', 'archived')"
);

/// What `expected_prior_sales` counted.
const COUNT_SALES: &str = "SELECT count(*) AS n FROM transactions \
     WHERE program_id = $1 AND customer_row_id = $2 AND status = 'active' AND rewardable \
         AND deleted_at IS NULL";

/// The scope's sales per currency, with the distinct buyers of all of them on every row:
/// params `$1` program, `$2` created before, `$3` the partner or the referrer. NUMERIC sums,
/// exact, read as text.
macro_rules! sales_summary {
    ($scope:literal) => {
        concat!(
            "WITH s AS (SELECT currency, amount, customer_row_id FROM transactions \
                 WHERE program_id = $1 AND status = 'active' AND deleted_at IS NULL \
                     AND created_at < $2 ",
            $scope,
            ") \
             SELECT currency, count(*) AS sales, sum(amount)::text AS revenue, \
                 (SELECT count(DISTINCT customer_row_id) FROM s) AS buyers \
             FROM s GROUP BY currency ORDER BY currency"
        )
    };
}
const SALES_OF_PROGRAM: &str = sales_summary!("AND $3::bigint IS NULL");
const SALES_OF_PARTNER: &str = sales_summary!("AND partner_row_id = $3");
const SALES_OF_REFERRER: &str = sales_summary!("AND referrer_row_id = $3");

/// The program's rewards per unit: params `$1` program, `$2` created before, `$3` pending
/// when available after.
const REWARDS_SUMMARY: &str = "SELECT unit, \
         coalesce(sum(amount) FILTER (WHERE kind <> 'payout'), 0)::text AS earned, \
         coalesce(sum(amount) FILTER (WHERE kind <> 'payout' AND available_at > $3), 0)::text \
             AS pending, \
         coalesce(-sum(amount) FILTER (WHERE kind = 'payout'), 0)::text AS paid \
     FROM ledger_entries \
     WHERE program_id = $1 AND created_at < $2 \
         AND kind IN ('reward', 'bonus', 'reversal', 'payout') \
     GROUP BY unit ORDER BY unit";

const INSERT_TRANSACTION: &str = concat!(
    "WITH t AS (INSERT INTO transactions (program_id, key, customer_row_id, partner_row_id, \
         referrer_row_id, amount, currency, action, product_id, product_type, rewardable, \
         rewarded, status, request_hash, created_at, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10, $11, $12, 'active', $13, $14, $15) \
     RETURNING *) \
     SELECT ",
    transaction_columns!(),
    " FROM t",
    transaction_joins!()
);

/// Active transactions; the caller's condition picks the filters (`$2` key, `$3` partner,
/// `$4` customer; each variant mentions all three so every parameter has a type). The key,
/// when given, is the lookup (unique among live rows), else the customer, else the partner:
/// one variant per index, so the plan never depends on statistics. `$5`, `$6`: limit, offset.
macro_rules! list_query {
    ($condition:literal, $order:literal) => {
        concat!(
            "SELECT ",
            transaction_columns!(),
            " FROM transactions t",
            transaction_joins!(),
            "WHERE t.program_id = $1 AND t.status = 'active' AND t.deleted_at IS NULL AND ",
            $condition,
            " ORDER BY t.row_id ",
            $order,
            " LIMIT $5 OFFSET $6"
        )
    };
}
macro_rules! list_variants {
    ($condition:literal) => {
        [
            list_query!($condition, "ASC"),
            list_query!($condition, "DESC"),
        ]
    };
}
const LIST_BY_KEY: [&str; 2] = list_variants!(
    "t.key = $2 AND ($3::bigint IS NULL OR t.partner_row_id = $3) \
     AND ($4::bigint IS NULL OR t.customer_row_id = $4)"
);
const LIST_BY_CUSTOMER: [&str; 2] = list_variants!(
    "$2::text IS NULL AND t.customer_row_id = $4 \
     AND ($3::bigint IS NULL OR t.partner_row_id = $3)"
);
const LIST_BY_PARTNER: [&str; 2] =
    list_variants!("$2::text IS NULL AND $4::bigint IS NULL AND t.partner_row_id = $3");
const LIST_ALL: [&str; 2] =
    list_variants!("$2::text IS NULL AND $3::bigint IS NULL AND $4::bigint IS NULL");

/// Refunding: the transaction leaves the live ones (its key is free again).
const MARK_DELETED: &str = "UPDATE transactions SET status = 'deleted', deleted_at = $3 \
     WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL RETURNING row_id";

/// Archiving: an active live transaction becomes archived (it stays live: its key is kept).
const MARK_ARCHIVED: &str = "UPDATE transactions SET status = 'archived' \
     WHERE program_id = $1 AND row_id = $2 AND status = 'active' AND deleted_at IS NULL \
     RETURNING row_id";

/// Restoring: an archived live transaction becomes active again.
const MARK_RESTORED: &str = "UPDATE transactions SET status = 'active' \
     WHERE program_id = $1 AND row_id = $2 AND status = 'archived' AND deleted_at IS NULL \
     RETURNING row_id";

/// Every transaction of the program, whatever its status, oldest first.
const ALL_TRANSACTIONS: &str = concat!(
    "SELECT ",
    transaction_columns!(),
    " FROM transactions t",
    transaction_joins!(),
    "WHERE t.program_id = $1 ORDER BY t.row_id"
);

/// Reads that span two statements see one snapshot.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// A record attempt that lost the key to a concurrent one (a different buyer's sale).
const KEY_INDEX: &str = "transactions_program_key";
/// Attempts before giving up when the key keeps being taken and freed under us.
const RECORD_ATTEMPTS: usize = 3;

fn get<'r, T>(row: &'r PgRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(db_error)
}

/// A transaction row ([`transaction_columns!`]).
pub(crate) fn transaction(row: &PgRow) -> StoreResult<Transaction> {
    let status: String = get(row, "status")?;
    let status = TransactionStatus::parse(&status)
        .ok_or_else(|| StoreError::Backend(format!("unknown transaction status {status:?}")))?;
    let currency: String = get(row, "currency")?;
    let currency = Currency::parse(&currency)
        .ok_or_else(|| StoreError::Backend(format!("bad currency {currency:?}")))?;
    Ok(Transaction {
        row_id: TransactionRowId(get(row, "row_id")?),
        program_id: ProgramRowId(get(row, "program_id")?),
        key: get(row, "key")?,
        customer: CustomerRowId(get(row, "customer_row_id")?),
        customer_ident: get(row, "customer_ident")?,
        partner: get::<Option<i64>>(row, "partner_row_id")?.map(PartnerRowId),
        partner_key: get(row, "partner_key")?,
        referrer: get::<Option<i64>>(row, "referrer_row_id")?.map(CustomerRowId),
        referrer_ident: get(row, "referrer_ident")?,
        amount: decimal(&get::<String>(row, "amount")?)?,
        currency,
        action: get(row, "action")?,
        product_id: get(row, "product_id")?,
        product_type: get(row, "product_type")?,
        rewardable: get(row, "rewardable")?,
        rewarded: get(row, "rewarded")?,
        status,
        request_hash: get(row, "request_hash")?,
        created_at: Timestamp::from_micros(get(row, "created_at")?),
        deleted_at: get::<Option<i64>>(row, "deleted_at")?.map(Timestamp::from_micros),
    })
}

/// A live transaction by key and its entries, on one connection (the caller's snapshot).
async fn find_live(
    conn: &mut PgConnection,
    program: ProgramRowId,
    key: &str,
) -> StoreResult<Option<(Transaction, Vec<LedgerEntry>)>> {
    let Some(row) = sqlx::query(FIND_LIVE)
        .bind(program.0)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    let found = transaction(&row)?;
    let entries = ledger::transaction_entries(conn, program, found.row_id)
        .await
        .map_err(db_error)?;
    Ok(Some((found, ledger::entries(&entries)?)))
}

/// [`find_live`] in a read-only snapshot of its own.
async fn find_live_snapshot(
    pool: &PgPool,
    program: ProgramRowId,
    key: &str,
) -> StoreResult<Option<(Transaction, Vec<LedgerEntry>)>> {
    let mut tx = pool.begin_with(BEGIN_SNAPSHOT).await.map_err(db_error)?;
    let found = find_live(&mut tx, program, key).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(found)
}

/// Whether an error is the loss of the key to a concurrent insert.
fn lost_key(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some(KEY_INDEX))
}

impl PostgresStore {
    /// A sale whose rewards need no history, through the sales writer (group commit); `None`
    /// when a live transaction holds its key.
    async fn record_unlocked(
        &self,
        new: &NewTransaction,
        now: Timestamp,
    ) -> StoreResult<Option<Recorded>> {
        let queued = QueuedSale {
            new: new.clone(),
            now,
        };
        match self.sales_writer.insert(queued).await {
            Ok(recorded) => {
                let entries = ledger::inserted_entries(
                    new.program_id,
                    recorded.transaction.row_id,
                    &new.entries,
                    &recorded.entry_ids,
                    now,
                )?;
                Ok(Some(Recorded::Created(recorded.transaction, entries)))
            }
            // Skipped by the key index: a live transaction holds the key.
            Err(StoreError::NotFound | StoreError::Conflict(UniqueField::TransactionKey)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// A sale whose rewards depend on the buyer's prior sales: a transaction holding the buyer's
/// lock, which checks the key and the count before inserting.
async fn record_locked(
    pool: &PgPool,
    new: &NewTransaction,
    expected_prior_sales: u64,
    now: Timestamp,
) -> StoreResult<Option<Recorded>> {
    let program = new.program_id;
    let mut tx = pool.begin().await.map_err(db_error)?;
    let buyer = sqlx::query(LOCK_BUYER)
        .bind(program.0)
        .bind(new.customer.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
    if buyer.is_none() {
        return Err(StoreError::NotFound);
    }
    // The lock is taken; under READ COMMITTED every statement from here sees the sales
    // committed before it.
    if let Some((found, entries)) = find_live(&mut tx, program, &new.key).await? {
        return Ok(Some(Recorded::Existing(found, entries)));
    }
    let prior = sqlx::query(COUNT_SALES)
        .bind(program.0)
        .bind(new.customer.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    if crate::rows::count(&prior, "n")? != expected_prior_sales {
        return Ok(Some(Recorded::Stale));
    }
    let inserted = sqlx::query(INSERT_TRANSACTION)
        .bind(program.0)
        .bind(&new.key)
        .bind(new.customer.0)
        .bind(new.partner.map(|p| p.0))
        .bind(new.referrer.map(|r| r.0))
        .bind(new.amount.to_string())
        .bind(new.currency.as_str())
        .bind(&new.action)
        .bind(&new.product_id)
        .bind(&new.product_type)
        .bind(new.rewardable)
        .bind(new.rewarded)
        .bind(&new.request_hash)
        .bind(new.created_at.as_micros())
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await;
    let row = match inserted {
        Ok(row) => row,
        // The index waited for the other insert to commit; the caller reads it.
        Err(e) if lost_key(&e) => return Ok(None),
        Err(e) => return Err(db_error(e)),
    };
    let created = transaction(&row)?;
    let entries =
        ledger::insert_transaction_entries(&mut tx, program, created.row_id, &new.entries, now)
            .await
            .map_err(db_error)?;
    let mut entries = ledger::entries(&entries)?;
    entries.sort_by_key(|e| e.row_id);
    tx.commit().await.map_err(db_error)?;
    Ok(Some(Recorded::Created(created, entries)))
}

/// Runs one of the status changes above on the caller's transaction; whether it matched.
/// Its row lock serialises every status change and entry write of the transaction until
/// commit.
async fn mark(
    conn: &mut PgConnection,
    sql: &'static str,
    program: ProgramRowId,
    transaction: TransactionRowId,
    now: Option<Timestamp>,
) -> StoreResult<bool> {
    let mut query = sqlx::query(sql).bind(program.0).bind(transaction.0);
    if let Some(now) = now {
        query = query.bind(now.as_micros());
    }
    let marked = query.fetch_optional(conn).await.map_err(db_error)?;
    Ok(marked.is_some())
}

/// Appends the reversal of each entry of the transaction not reversed yet (what refunds and
/// archives write), on the caller's transaction, which holds the transaction's row lock.
/// Answers them by row id.
async fn reverse_entries(
    conn: &mut PgConnection,
    program: ProgramRowId,
    transaction: TransactionRowId,
    now: Timestamp,
) -> StoreResult<Vec<LedgerEntry>> {
    let rows = sqlx::query(ledger::REVERSE_TRANSACTION)
        .bind(program.0)
        .bind(transaction.0)
        .bind(now.as_micros())
        .fetch_all(conn)
        .await
        .map_err(db_error)?;
    let mut reversals = ledger::entries(&rows)?;
    reversals.sort_by_key(|e| e.row_id);
    Ok(reversals)
}

#[async_trait]
impl TransactionStore for PostgresStore {
    async fn record_transaction(
        &self,
        new: NewTransaction,
        now: Timestamp,
    ) -> StoreResult<Recorded> {
        for _ in 0..RECORD_ATTEMPTS {
            let attempt = match new.expected_prior_sales {
                None => self.record_unlocked(&new, now).await?,
                Some(expected) => record_locked(&self.pool, &new, expected, now).await?,
            };
            if let Some(recorded) = attempt {
                return Ok(recorded);
            }
            if let Some((found, entries)) =
                find_live_snapshot(&self.pool, new.program_id, &new.key).await?
            {
                return Ok(Recorded::Existing(found, entries));
            }
            // The winner was refunded in between: the key is free again, so try again.
        }
        Err(StoreError::Backend(format!(
            "transaction key {:?} kept changing hands",
            new.key
        )))
    }

    async fn find_transaction(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<(Transaction, Vec<LedgerEntry>)>> {
        find_live_snapshot(&self.pool, program, key).await
    }

    async fn list_transactions(
        &self,
        program: ProgramRowId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<(Transaction, Vec<LedgerEntry>)>> {
        let variants = match filter {
            TransactionFilter { key: Some(_), .. } => LIST_BY_KEY,
            TransactionFilter {
                customer: Some(_), ..
            } => LIST_BY_CUSTOMER,
            TransactionFilter {
                partner: Some(_), ..
            } => LIST_BY_PARTNER,
            _ => LIST_ALL,
        };
        let sql = match page.sort {
            SortOrder::Asc => variants[0],
            SortOrder::Desc => variants[1],
        };
        // The page and its entries from one snapshot: a refund committing in between would
        // otherwise show a listed transaction with its reversals.
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(sql)
            .bind(program.0)
            .bind(&filter.key)
            .bind(filter.partner.map(|p| p.0))
            .bind(filter.customer.map(|c| c.0))
            .bind(i64::from(page.fetch_limit()))
            .bind(to_bigint(page.offset()))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let listed = rows
            .iter()
            .map(transaction)
            .collect::<StoreResult<Vec<_>>>()?;
        if listed.is_empty() {
            tx.commit().await.map_err(db_error)?;
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = listed.iter().map(|t| t.row_id.0).collect();
        let entry_rows = sqlx::query(ledger::PAGE_ENTRIES)
            .bind(program.0)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let mut by_transaction: HashMap<TransactionRowId, Vec<LedgerEntry>> = HashMap::new();
        for entry in ledger::entries(&entry_rows)? {
            if let Some(t) = entry.transaction {
                by_transaction.entry(t).or_default().push(entry);
            }
        }
        Ok(listed
            .into_iter()
            .map(|t| {
                let entries = by_transaction.remove(&t.row_id).unwrap_or_default();
                (t, entries)
            })
            .collect())
    }

    async fn count_customer_sales(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
    ) -> StoreResult<u64> {
        let row = sqlx::query(COUNT_SALES)
            .bind(program.0)
            .bind(customer.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        crate::rows::count(&row, "n")
    }

    async fn count_holder_rewards(
        &self,
        program: ProgramRowId,
        holder: Holder,
        rule_path: &str,
    ) -> StoreResult<u64> {
        ledger::count_holder_rewards(&self.pool, program, holder, rule_path).await
    }

    async fn refund_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // The row lock this takes also serialises two refunds of one transaction: the second
        // finds it deleted.
        if !mark(&mut tx, MARK_DELETED, program, transaction, Some(now)).await? {
            return Ok(None);
        }
        let reversals = reverse_entries(&mut tx, program, transaction, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(reversals))
    }

    async fn append_entry(
        &self,
        program: ProgramRowId,
        entry: NewEntry,
        floor: Option<Decimal>,
        now: Timestamp,
    ) -> StoreResult<Option<LedgerEntry>> {
        ledger::append_entry(&self.pool, program, entry, floor, now).await
    }

    async fn holder_entries(
        &self,
        program: ProgramRowId,
        holder: Holder,
    ) -> StoreResult<Vec<LedgerEntry>> {
        ledger::holder_entries(&self.pool, program, holder).await
    }

    async fn archive_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if !mark(&mut tx, MARK_ARCHIVED, program, transaction, None).await? {
            return Ok(None);
        }
        let reversals = reverse_entries(&mut tx, program, transaction, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(reversals))
    }

    async fn restore_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if !mark(&mut tx, MARK_RESTORED, program, transaction, None).await? {
            return Ok(None);
        }
        let rows = sqlx::query(ledger::RESTORE_REWARDS)
            .bind(program.0)
            .bind(transaction.0)
            .bind(now.as_micros())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let mut restored = ledger::entries(&rows)?;
        restored.sort_by_key(|e| e.row_id);
        tx.commit().await.map_err(db_error)?;
        Ok(Some(restored))
    }

    async fn all_transactions(&self, program: ProgramRowId) -> StoreResult<Vec<Transaction>> {
        let rows = sqlx::query(ALL_TRANSACTIONS)
            .bind(program.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(transaction).collect()
    }

    async fn entries_between(
        &self,
        program: ProgramRowId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<LedgerEntry>> {
        ledger::entries_between(&self.pool, program, from, to).await
    }

    async fn sales_summary(
        &self,
        program: ProgramRowId,
        scope: SalesScope,
        before: Option<Timestamp>,
    ) -> StoreResult<SalesSummary> {
        let (sql, who) = match scope {
            SalesScope::Program => (SALES_OF_PROGRAM, None),
            SalesScope::Partner(p) => (SALES_OF_PARTNER, Some(p.0)),
            SalesScope::Referrer(c) => (SALES_OF_REFERRER, Some(c.0)),
        };
        let rows = sqlx::query(sql)
            .bind(program.0)
            .bind(before.map_or(i64::MAX, Timestamp::as_micros))
            .bind(who)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut summary = SalesSummary::default();
        for row in &rows {
            let currency: String = row.try_get("currency").map_err(db_error)?;
            let currency = Currency::parse(&currency)
                .ok_or_else(|| StoreError::Backend(format!("invalid currency {currency:?}")))?;
            let sales = crate::rows::count(row, "sales")?;
            let revenue = decimal(&row.try_get::<String, _>("revenue").map_err(db_error)?)?;
            summary.buyers = crate::rows::count(row, "buyers")?;
            summary.sales += sales;
            summary
                .by_currency
                .push(referd_core::ledger::CurrencySales {
                    currency,
                    sales,
                    revenue,
                });
        }
        Ok(summary)
    }

    async fn rewards_summary(
        &self,
        program: ProgramRowId,
        now: Timestamp,
        before: Option<Timestamp>,
    ) -> StoreResult<RewardsSummary> {
        let (created_before, at) = match before {
            Some(b) => (b.as_micros(), b.as_micros()),
            None => (i64::MAX, now.as_micros()),
        };
        let rows = sqlx::query(REWARDS_SUMMARY)
            .bind(program.0)
            .bind(created_before)
            .bind(at)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut summary = RewardsSummary::default();
        for row in &rows {
            let unit: String = row.try_get("unit").map_err(db_error)?;
            for (column, sums) in [
                ("earned", &mut summary.earned),
                ("pending", &mut summary.pending),
                ("paid", &mut summary.paid),
            ] {
                let amount = decimal(&row.try_get::<String, _>(column).map_err(db_error)?)?;
                if !amount.is_zero() {
                    sums.insert(unit.clone(), amount);
                }
            }
        }
        Ok(summary)
    }
}
