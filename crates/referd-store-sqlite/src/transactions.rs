//! Transactions (reported sales) and the ledger on SQLite: the [`TransactionStore`] port.
//!
//! Every write is one writer job, and the writer is serial, so each check-then-write here
//! (a key already used, the buyer's sale count, a balance floor, an entry not yet reversed)
//! is race-free without locks. Entry rows are read and appended by [`crate::ledger`].

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use referd_core::customer::CustomerRowId;
use referd_core::ledger::{
    EntryKind, Holder, LedgerEntry, NewEntry, NewTransaction, Recorded, RewardsSummary, SalesScope,
    SalesSummary, Transaction, TransactionFilter, TransactionRowId, TransactionStatus,
};
use referd_core::money::Currency;
use referd_core::page::PageRequest;
use referd_core::partner::PartnerRowId;
use referd_core::program::ProgramRowId;
use referd_core::store::{StoreResult, TransactionStore};
use referd_core::time::Timestamp;
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use rust_decimal::Decimal;

use crate::ledger::{
    amount_text, decimal_at, entries_between, entry, entry_columns, holder_entries, holder_parts,
    insert_entry, transaction_entries,
};
use crate::partners::page_params;
use crate::{SqliteStore, backend, is_unique_violation, sort_order};

/// The transaction columns, in the order [`transaction`] reads them. The buyer's wire
/// identifier is its `ext_id` (refer-a-friend) or else its `key` (affiliate customers have no
/// `ext_id`); the partner's is its default link's key, live or not, as for customers.
macro_rules! transaction_select {
    () => {
        "SELECT t.row_id, t.program_id, t.key, t.customer_row_id, coalesce(c.ext_id, c.key),
                t.partner_row_id, dl.key, t.referrer_row_id, r.ext_id, t.amount, t.currency,
                t.action, t.product_id, t.product_type, t.rewardable, t.rewarded, t.status,
                t.request_hash, t.created_at, t.deleted_at
         FROM transactions t
         JOIN customers c ON c.row_id = t.customer_row_id
         LEFT JOIN partner_links dl ON dl.partner_row_id = t.partner_row_id AND dl.is_default = 1
         LEFT JOIN customers r ON r.row_id = t.referrer_row_id"
    };
}

fn transaction(row: &Row<'_>) -> rusqlite::Result<Transaction> {
    let currency: String = row.get(10)?;
    let status: String = row.get(16)?;
    let invalid = |at: usize, value: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            at,
            Type::Text,
            format!("invalid value {value:?}").into(),
        )
    };
    Ok(Transaction {
        row_id: TransactionRowId(row.get(0)?),
        program_id: ProgramRowId(row.get(1)?),
        key: row.get(2)?,
        customer: CustomerRowId(row.get(3)?),
        customer_ident: row.get(4)?,
        partner: row.get::<_, Option<i64>>(5)?.map(PartnerRowId),
        partner_key: row.get(6)?,
        referrer: row.get::<_, Option<i64>>(7)?.map(CustomerRowId),
        referrer_ident: row.get(8)?,
        amount: decimal_at(row, 9)?,
        currency: Currency::parse(&currency).ok_or_else(|| invalid(10, &currency))?,
        action: row.get(11)?,
        product_id: row.get(12)?,
        product_type: row.get(13)?,
        rewardable: row.get(14)?,
        rewarded: row.get(15)?,
        status: TransactionStatus::parse(&status).ok_or_else(|| invalid(16, &status))?,
        request_hash: row.get(17)?,
        created_at: Timestamp::from_micros(row.get(18)?),
        deleted_at: row.get::<_, Option<i64>>(19)?.map(Timestamp::from_micros),
    })
}

/// The one transaction `sql` selects (params `?1` program, `?2` the value), with its entries.
fn find_one(
    conn: &Connection,
    sql: &str,
    program: ProgramRowId,
    value: Value,
) -> StoreResult<Option<(Transaction, Vec<LedgerEntry>)>> {
    let found = conn
        .prepare_cached(sql)
        .and_then(|mut s| {
            s.query_row(params![program.0, value], transaction)
                .optional()
        })
        .map_err(backend)?;
    let Some(tx) = found else { return Ok(None) };
    let entries = transaction_entries(conn, program, &[tx.row_id])?
        .remove(&tx.row_id)
        .unwrap_or_default();
    Ok(Some((tx, entries)))
}

/// Not deleted: what holds a key (the unique index's own condition).
const LIVE_BY_KEY: &str = concat!(
    transaction_select!(),
    " WHERE t.program_id = ?1 AND t.key = ?2 AND t.deleted_at IS NULL"
);
/// What lookups show: active or archived (a refund sets both status and `deleted_at`).
const VISIBLE_BY_KEY: &str = concat!(
    transaction_select!(),
    " WHERE t.program_id = ?1 AND t.key = ?2 AND t.deleted_at IS NULL
        AND t.status IN ('active', 'archived')"
);
/// Every transaction of a program, refunded ones included, oldest first.
const ALL_OF_PROGRAM: &str = concat!(
    transaction_select!(),
    " WHERE t.program_id = ?1 ORDER BY t.row_id"
);
const BY_ROW: &str = concat!(
    transaction_select!(),
    " WHERE t.program_id = ?1 AND t.row_id = ?2"
);

fn count_sales(
    conn: &Connection,
    program: ProgramRowId,
    customer: CustomerRowId,
) -> StoreResult<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM transactions
             WHERE customer_row_id = ?2 AND program_id = ?1 AND status = 'active'
               AND rewardable = 1 AND deleted_at IS NULL",
        )
        .and_then(|mut s| s.query_row(params![program.0, customer.0], |r| r.get(0)))
        .map_err(backend)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The sales of a scope: params `?1` program, `?2` created before, `?3` the partner or the
/// referrer. With a partner or a referrer, `+` keeps the program scope off the index choice, so
/// SQLite walks that one's index rather than every active transaction of the program.
macro_rules! sales_select {
    ($scope:literal) => {
        concat!(
            "SELECT t.currency, t.amount, t.customer_row_id FROM transactions t
             WHERE ",
            $scope,
            " AND t.status = 'active' AND t.deleted_at IS NULL AND t.created_at < ?2"
        )
    };
}
const SALES_OF_PROGRAM: &str = sales_select!("t.program_id = ?1 AND ?3 IS NULL");
const SALES_OF_PARTNER: &str = sales_select!("+t.program_id = ?1 AND t.partner_row_id = ?3");
const SALES_OF_REFERRER: &str = sales_select!("+t.program_id = ?1 AND t.referrer_row_id = ?3");

/// Sums the scope's sales in Rust: amounts are TEXT, which SQLite would sum as REAL.
fn sales_summary(
    conn: &Connection,
    program: ProgramRowId,
    scope: SalesScope,
    before: Option<Timestamp>,
) -> StoreResult<SalesSummary> {
    let (sql, who) = match scope {
        SalesScope::Program => (SALES_OF_PROGRAM, None),
        SalesScope::Partner(p) => (SALES_OF_PARTNER, Some(p.0)),
        SalesScope::Referrer(c) => (SALES_OF_REFERRER, Some(c.0)),
    };
    let before = before.map_or(i64::MAX, Timestamp::as_micros);
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let mut rows = stmt
        .query(params![program.0, before, who])
        .map_err(backend)?;
    let mut summary = SalesSummary::default();
    let mut buyers = HashSet::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let currency: String = row.get(0).map_err(backend)?;
        let currency = Currency::parse(&currency).ok_or_else(|| {
            backend(rusqlite::Error::FromSqlConversionFailure(
                0,
                Type::Text,
                format!("invalid currency {currency:?}").into(),
            ))
        })?;
        summary.add_sale(currency, decimal_at(row, 1).map_err(backend)?);
        buyers.insert(row.get::<_, i64>(2).map_err(backend)?);
    }
    summary.buyers = buyers.len() as u64;
    Ok(summary)
}

/// Sums the program's reward, bonus, reversal and payout entries in Rust (TEXT amounts).
fn rewards_summary(
    conn: &Connection,
    program: ProgramRowId,
    now: Timestamp,
    before: Option<Timestamp>,
) -> StoreResult<RewardsSummary> {
    let (created_before, at) = match before {
        Some(b) => (b.as_micros(), b.as_micros()),
        None => (i64::MAX, now.as_micros()),
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, unit, amount, available_at FROM ledger_entries
             WHERE program_id = ?1 AND created_at < ?2 AND kind <> 'credit'",
        )
        .map_err(backend)?;
    let mut rows = stmt
        .query(params![program.0, created_before])
        .map_err(backend)?;
    let mut summary = RewardsSummary::default();
    while let Some(row) = rows.next().map_err(backend)? {
        let kind: String = row.get(0).map_err(backend)?;
        let kind = EntryKind::parse(&kind).ok_or_else(|| {
            backend(rusqlite::Error::FromSqlConversionFailure(
                0,
                Type::Text,
                format!("unknown entry kind {kind:?}").into(),
            ))
        })?;
        let unit: String = row.get(1).map_err(backend)?;
        let amount = decimal_at(row, 2).map_err(backend)?;
        let available_at: i64 = row.get(3).map_err(backend)?;
        summary.add_entry(kind, &unit, amount, available_at > at);
    }
    Ok(summary.without_zeros())
}

/// The body of `record_transaction`, inside one writer job.
fn record(conn: &Connection, new: NewTransaction, now: Timestamp) -> StoreResult<Recorded> {
    let program = new.program_id;
    // Without a count to check, the unique key index alone settles a repeat (below): one
    // statement fewer on the serial writer for every sale.
    if let Some(expected) = new.expected_prior_sales {
        if let Some((tx, entries)) = find_one(conn, LIVE_BY_KEY, program, new.key.clone().into())? {
            return Ok(Recorded::Existing(tx, entries));
        }
        if count_sales(conn, program, new.customer)? != expected {
            return Ok(Recorded::Stale);
        }
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO transactions (program_id, key, customer_row_id, partner_row_id,
                 referrer_row_id, amount, currency, action, product_id, product_type, rewardable,
                 rewarded, status, request_hash, created_at, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'active', ?13, ?14, ?15)",
        )
        .and_then(|mut s| {
            s.execute(params![
                program.0,
                new.key,
                new.customer.0,
                new.partner.map(|p| p.0),
                new.referrer.map(|c| c.0),
                amount_text(new.amount),
                new.currency.as_str(),
                new.action,
                new.product_id,
                new.product_type,
                new.rewardable,
                new.rewarded,
                new.request_hash,
                new.created_at.as_micros(),
                now.as_micros()
            ])
        });
    match inserted {
        Ok(_) => {}
        // A repeat (or, behind the serial writer, never after the check above): the holder of
        // the key is the answer, as the contract says.
        Err(e) if is_unique_violation(&e) => {
            return find_one(conn, LIVE_BY_KEY, program, new.key.into())?
                .map(|(tx, entries)| Recorded::Existing(tx, entries))
                .ok_or_else(|| backend(e));
        }
        Err(e) => return Err(backend(e)),
    }
    let row = TransactionRowId(conn.last_insert_rowid());
    let entries = new
        .entries
        .iter()
        .map(|e| insert_entry(conn, program, e, Some(row), None, now))
        .collect::<StoreResult<Vec<_>>>()?;
    // Read back through the joins for the wire identifiers (customer, partner key, referrer).
    let tx = conn
        .prepare_cached(BY_ROW)
        .and_then(|mut s| s.query_row(params![program.0, row.0], transaction))
        .map_err(backend)?;
    Ok(Recorded::Created(tx, entries))
}

/// The body of `refund_transaction`, inside one writer job.
fn refund(
    conn: &Connection,
    program: ProgramRowId,
    transaction: TransactionRowId,
    now: Timestamp,
) -> StoreResult<Option<Vec<LedgerEntry>>> {
    // The transaction row may change (only entries are append-only); deleting it frees its key.
    let changed = conn
        .prepare_cached(
            "UPDATE transactions SET status = 'deleted', deleted_at = ?3
             WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL",
        )
        .and_then(|mut s| s.execute(params![program.0, transaction.0, now.as_micros()]))
        .map_err(backend)?;
    if changed == 0 {
        return Ok(None);
    }
    reverse_open_entries(conn, program, transaction, now).map(Some)
}

/// The body of `archive_transaction`, inside one writer job: the reversals of a refund, but
/// the transaction stays live (its key held) as `archived`.
fn archive(
    conn: &Connection,
    program: ProgramRowId,
    transaction: TransactionRowId,
    now: Timestamp,
) -> StoreResult<Option<Vec<LedgerEntry>>> {
    let changed = conn
        .prepare_cached(
            "UPDATE transactions SET status = 'archived'
             WHERE program_id = ?1 AND row_id = ?2 AND status = 'active' AND deleted_at IS NULL",
        )
        .and_then(|mut s| s.execute(params![program.0, transaction.0]))
        .map_err(backend)?;
    if changed == 0 {
        return Ok(None);
    }
    reverse_open_entries(conn, program, transaction, now).map(Some)
}

/// Appends one reversal for each entry of the transaction not reversed yet (what refunds and
/// archives write), oldest first, and answers them.
fn reverse_open_entries(
    conn: &Connection,
    program: ProgramRowId,
    transaction: TransactionRowId,
    now: Timestamp,
) -> StoreResult<Vec<LedgerEntry>> {
    let to_reverse: Vec<LedgerEntry> = conn
        .prepare_cached(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM ledger_entries e
             WHERE program_id = ?1 AND transaction_row_id = ?2 AND kind <> 'reversal'
               AND NOT EXISTS (SELECT 1 FROM ledger_entries x WHERE x.reverses_row_id = e.row_id)
             ORDER BY row_id"
        ))
        .and_then(|mut s| {
            s.query_map(params![program.0, transaction.0], entry)?
                .collect::<Result<_, _>>()
        })
        .map_err(backend)?;
    to_reverse
        .into_iter()
        .map(|e| {
            let reversal = NewEntry {
                holder: e.holder,
                kind: EntryKind::Reversal,
                reward_kind: e.reward_kind,
                beneficiary: e.beneficiary,
                amount: -e.amount,
                unit: e.unit,
                rule_version: e.rule_version,
                rule_path: e.rule_path,
                // A pending entry's reversal cancels it within the pending total; an approved
                // one's lowers the approved total from now on (docs/ledger.md).
                available_at: e.available_at.max(now),
                note: None,
            };
            insert_entry(
                conn,
                program,
                &reversal,
                Some(transaction),
                Some(e.row_id),
                now,
            )
        })
        .collect()
}

/// The body of `restore_transaction`, inside one writer job. The rewards to copy are those
/// reversed by the most recent archive: its reversals are the ones written after the
/// transaction's last non-reversal entry (the previous restore's copies, or else the sale's
/// own entries), since between an archive and the restore that follows nothing else appends to
/// the transaction. So archive → restore → archive → restore copies the first restore's
/// copies, never the originals again.
fn restore(
    conn: &Connection,
    program: ProgramRowId,
    transaction: TransactionRowId,
    now: Timestamp,
) -> StoreResult<Option<Vec<LedgerEntry>>> {
    let changed = conn
        .prepare_cached(
            "UPDATE transactions SET status = 'active'
             WHERE program_id = ?1 AND row_id = ?2 AND status = 'archived'
               AND deleted_at IS NULL",
        )
        .and_then(|mut s| s.execute(params![program.0, transaction.0]))
        .map_err(backend)?;
    if changed == 0 {
        return Ok(None);
    }
    let to_copy: Vec<LedgerEntry> = conn
        .prepare_cached(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM ledger_entries e
             WHERE program_id = ?1 AND transaction_row_id = ?2 AND kind = 'reward'
               AND EXISTS (
                   SELECT 1 FROM ledger_entries x
                   WHERE x.reverses_row_id = e.row_id
                     AND x.row_id > (SELECT coalesce(max(l.row_id), 0) FROM ledger_entries l
                                     WHERE l.transaction_row_id = ?2 AND l.kind <> 'reversal'))
             ORDER BY row_id"
        ))
        .and_then(|mut s| {
            s.query_map(params![program.0, transaction.0], entry)?
                .collect::<Result<_, _>>()
        })
        .map_err(backend)?;
    to_copy
        .into_iter()
        .map(|e| {
            let copy = NewEntry {
                holder: e.holder,
                kind: EntryKind::Reward,
                reward_kind: e.reward_kind,
                beneficiary: e.beneficiary,
                amount: e.amount,
                unit: e.unit,
                rule_version: e.rule_version,
                rule_path: e.rule_path,
                // Still pending if the original was; approved from now on otherwise.
                available_at: e.available_at.max(now),
                note: e.note,
            };
            insert_entry(conn, program, &copy, Some(transaction), None, now)
        })
        .collect::<StoreResult<Vec<_>>>()
        .map(Some)
}

/// The body of `append_entry`, inside one writer job.
fn append(
    conn: &Connection,
    program: ProgramRowId,
    new: NewEntry,
    floor: Option<Decimal>,
    now: Timestamp,
) -> StoreResult<Option<LedgerEntry>> {
    if let Some(floor) = floor {
        let available = holder_entries(conn, program, new.holder, Some((&new.unit, now)))?;
        let total: Decimal = available.iter().map(|e| e.amount).sum::<Decimal>() + new.amount;
        if total < floor {
            return Ok(None);
        }
    }
    insert_entry(conn, program, &new, None, None, now).map(Some)
}

#[async_trait]
impl TransactionStore for SqliteStore {
    async fn record_transaction(
        &self,
        new: NewTransaction,
        now: Timestamp,
    ) -> StoreResult<Recorded> {
        self.writer.run(move |conn| record(conn, new, now)).await
    }

    async fn find_transaction(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<(Transaction, Vec<LedgerEntry>)>> {
        self.readers
            .with(|conn| find_one(conn, VISIBLE_BY_KEY, program, key.to_string().into()))
    }

    async fn list_transactions(
        &self,
        program: ProgramRowId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<(Transaction, Vec<LedgerEntry>)>> {
        // Only the given filters become conditions, so each can use its index.
        let mut params = page_params(program, page);
        let mut conditions = String::new();
        for (column, value) in [
            ("key", filter.key.clone().map(Value::from)),
            ("partner_row_id", filter.partner.map(|p| p.0.into())),
            ("customer_row_id", filter.customer.map(|c| c.0.into())),
        ] {
            if let Some(v) = value {
                params.push(v);
                conditions.push_str(&format!(" AND t.{column} = ?{}", params.len()));
            }
        }
        // With a partner, `+` keeps the program scope off the index choice, so SQLite walks
        // `transactions_partner` (that partner's rows, already in row order) rather than every
        // active transaction of the program.
        let scope = if filter.partner.is_some() {
            "+t.program_id"
        } else {
            "t.program_id"
        };
        let sql = format!(
            "{} WHERE {scope} = ?1 AND t.status = 'active' AND t.deleted_at IS NULL{conditions}
             ORDER BY t.row_id {} LIMIT ?2 OFFSET ?3",
            transaction_select!(),
            sort_order(page)
        );
        self.readers.with(|conn| {
            let txs: Vec<Transaction> = conn
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_map(params_from_iter(params), transaction)?
                        .collect::<Result<_, _>>()
                })
                .map_err(backend)?;
            let ids: Vec<TransactionRowId> = txs.iter().map(|t| t.row_id).collect();
            let mut entries: HashMap<_, _> = transaction_entries(conn, program, &ids)?;
            Ok(txs
                .into_iter()
                .map(|t| {
                    let e = entries.remove(&t.row_id).unwrap_or_default();
                    (t, e)
                })
                .collect())
        })
    }

    async fn count_customer_sales(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
    ) -> StoreResult<u64> {
        self.readers
            .with(|conn| count_sales(conn, program, customer))
    }

    async fn count_holder_rewards(
        &self,
        program: ProgramRowId,
        holder: Holder,
        rule_path: &str,
    ) -> StoreResult<u64> {
        let (holder_kind, holder_row_id) = holder_parts(holder);
        self.readers.with(|conn| {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM ledger_entries e
                     WHERE e.program_id = ?1 AND e.holder_kind = ?2 AND e.holder_row_id = ?3
                       AND e.kind = 'reward' AND e.rule_path = ?4
                       AND NOT EXISTS (SELECT 1 FROM ledger_entries x
                                       WHERE x.reverses_row_id = e.row_id)",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![program.0, holder_kind, holder_row_id, rule_path],
                        |r| r.get(0),
                    )
                })
                .map_err(backend)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    async fn refund_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>> {
        self.writer
            .run(move |conn| refund(conn, program, transaction, now))
            .await
    }

    async fn append_entry(
        &self,
        program: ProgramRowId,
        entry: NewEntry,
        floor: Option<Decimal>,
        now: Timestamp,
    ) -> StoreResult<Option<LedgerEntry>> {
        self.writer
            .run(move |conn| append(conn, program, entry, floor, now))
            .await
    }

    async fn holder_entries(
        &self,
        program: ProgramRowId,
        holder: Holder,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.readers
            .with(|conn| holder_entries(conn, program, holder, None))
    }

    async fn archive_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>> {
        self.writer
            .run(move |conn| archive(conn, program, transaction, now))
            .await
    }

    async fn restore_transaction(
        &self,
        program: ProgramRowId,
        transaction: TransactionRowId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<LedgerEntry>>> {
        self.writer
            .run(move |conn| restore(conn, program, transaction, now))
            .await
    }

    async fn all_transactions(&self, program: ProgramRowId) -> StoreResult<Vec<Transaction>> {
        self.readers.with(|conn| {
            conn.prepare_cached(ALL_OF_PROGRAM)
                .and_then(|mut s| {
                    s.query_map(params![program.0], transaction)?
                        .collect::<Result<_, _>>()
                })
                .map_err(backend)
        })
    }

    async fn entries_between(
        &self,
        program: ProgramRowId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.readers
            .with(|conn| entries_between(conn, program, from, to))
    }

    async fn sales_summary(
        &self,
        program: ProgramRowId,
        scope: SalesScope,
        before: Option<Timestamp>,
    ) -> StoreResult<SalesSummary> {
        self.readers
            .with(|conn| sales_summary(conn, program, scope, before))
    }

    async fn rewards_summary(
        &self,
        program: ProgramRowId,
        now: Timestamp,
        before: Option<Timestamp>,
    ) -> StoreResult<RewardsSummary> {
        self.readers
            .with(|conn| rewards_summary(conn, program, now, before))
    }
}
