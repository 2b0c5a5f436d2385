//! The ledger side of [`referd_core::store::TransactionStore`] for [`crate::PostgresStore`]:
//! the SQL and row decoding of `ledger_entries`, and the entry operations that involve no
//! transaction row (counting rewards, appending with a floor, a holder's entries, the
//! entries of a period).
//!
//! Entries are append-only: nothing here updates one (a trigger refuses it anyway). Amounts
//! are NUMERIC, bound as text and cast (`$n::numeric`), read back as text and parsed into
//! [`Decimal`]: exact both ways, without sqlx's decimal feature.

use std::str::FromStr;

use referd_core::customer::CustomerRowId;
use referd_core::ledger::{EntryKind, Holder, LedgerEntry, NewEntry, TransactionRowId};
use referd_core::partner::PartnerRowId;
use referd_core::program::ProgramRowId;
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use rust_decimal::Decimal;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};

use crate::db_error;

/// The entry columns [`entry`] reads, unqualified (they also serve as `RETURNING` lists).
macro_rules! entry_columns {
    () => {
        "row_id, program_id, holder_kind, holder_row_id, kind, reward_kind, beneficiary, \
         amount::text AS amount, unit, transaction_row_id, reverses_row_id, rule_version, \
         rule_path, available_at, created_at, note"
    };
}

/// A transaction's entries, oldest first.
pub(crate) const TRANSACTION_ENTRIES: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM ledger_entries WHERE program_id = $1 AND transaction_row_id = $2 ORDER BY row_id"
);

/// The entries of a page of transactions (`$2`), oldest first.
pub(crate) const PAGE_ENTRIES: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM ledger_entries WHERE program_id = $1 AND transaction_row_id = ANY($2) \
     ORDER BY row_id"
);

/// A new transaction's entries, one array per column; `ORDER BY j.n` keeps their order, so
/// row ids follow it.
pub(crate) const INSERT_TRANSACTION_ENTRIES: &str = concat!(
    "INSERT INTO ledger_entries (program_id, holder_kind, holder_row_id, kind, reward_kind, \
         beneficiary, amount, unit, transaction_row_id, rule_version, rule_path, available_at, \
         created_at, note) \
     SELECT $1, j.holder_kind, j.holder_row_id, j.kind, j.reward_kind, j.beneficiary, \
         j.amount::numeric, j.unit, $2, j.rule_version, j.rule_path, j.available_at, $3, j.note \
     FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], \
         $10::text[], $11::bigint[], $12::text[], $13::bigint[], $14::text[]) \
         WITH ORDINALITY AS j (holder_kind, holder_row_id, kind, reward_kind, beneficiary, \
             amount, unit, rule_version, rule_path, available_at, note, n) \
     ORDER BY j.n \
     RETURNING ",
    entry_columns!()
);

/// The reversal of every entry of transaction `$2` that is not a reversal and not reversed
/// yet. A pending entry's reversal keeps its `available_at` (so the two cancel in the pending
/// total); an approved one's is available at once (`$3`, now). The unique index
/// `ledger_reversed_once` settles a race with another reversal: that entry is skipped.
pub(crate) const REVERSE_TRANSACTION: &str = concat!(
    "INSERT INTO ledger_entries (program_id, holder_kind, holder_row_id, kind, reward_kind, \
         beneficiary, amount, unit, transaction_row_id, reverses_row_id, rule_version, \
         rule_path, available_at, created_at) \
     SELECT e.program_id, e.holder_kind, e.holder_row_id, 'reversal', e.reward_kind, \
         e.beneficiary, -e.amount, e.unit, e.transaction_row_id, e.row_id, e.rule_version, \
         e.rule_path, CASE WHEN e.available_at > $3 THEN e.available_at ELSE $3 END, $3 \
     FROM ledger_entries e \
     WHERE e.program_id = $1 AND e.transaction_row_id = $2 AND e.kind <> 'reversal' \
         AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_row_id = e.row_id) \
     ORDER BY e.row_id \
     ON CONFLICT (reverses_row_id) WHERE reverses_row_id IS NOT NULL DO NOTHING \
     RETURNING ",
    entry_columns!()
);

/// Restoring transaction `$2`: a new `reward` entry copying each reward entry that the most
/// recent archive reversed (its note too; `available_at` the original's when still in the
/// future, else `$3`, now). Those are the reward entries whose reversal came after every
/// non-reversal entry of the transaction: an archive reverses every entry not reversed yet,
/// and each restore appends the copies the next archive reverses. Every entry of a
/// transaction is written under its row's lock (taken by the insert, the refund, the archive
/// and the restore), so row ids follow the order they were written in, even within one
/// microsecond.
pub(crate) const RESTORE_REWARDS: &str = concat!(
    "INSERT INTO ledger_entries (program_id, holder_kind, holder_row_id, kind, reward_kind, \
         beneficiary, amount, unit, transaction_row_id, rule_version, rule_path, available_at, \
         created_at, note) \
     SELECT e.program_id, e.holder_kind, e.holder_row_id, 'reward', e.reward_kind, \
         e.beneficiary, e.amount, e.unit, e.transaction_row_id, e.rule_version, e.rule_path, \
         CASE WHEN e.available_at > $3 THEN e.available_at ELSE $3 END, $3, e.note \
     FROM ledger_entries e JOIN ledger_entries r ON r.reverses_row_id = e.row_id \
     WHERE e.program_id = $1 AND e.transaction_row_id = $2 AND e.kind = 'reward' \
         AND r.row_id > (SELECT max(n.row_id) FROM ledger_entries n \
             WHERE n.program_id = $1 AND n.transaction_row_id = $2 AND n.kind <> 'reversal') \
     ORDER BY e.row_id \
     RETURNING ",
    entry_columns!()
);

/// The program's entries created in `[$2, $3)`, oldest first (by row id, as the SQLite
/// store orders them).
const ENTRIES_BETWEEN: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM ledger_entries WHERE program_id = $1 AND created_at >= $2 AND created_at < $3 \
     ORDER BY row_id"
);

/// The holder's rewards from one rule that no reversal cancels.
const COUNT_HOLDER_REWARDS: &str = "SELECT count(*) AS n FROM ledger_entries e \
     WHERE e.program_id = $1 AND e.holder_kind = $2 AND e.holder_row_id = $3 \
         AND e.kind = 'reward' AND e.rule_path = $4 \
         AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_row_id = e.row_id)";

/// Every entry of a holder, oldest first (the `ledger_holder` index, in order).
const HOLDER_ENTRIES: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM ledger_entries WHERE program_id = $1 AND holder_kind = $2 AND holder_row_id = $3 \
     ORDER BY row_id"
);

/// Serialises floor-checked appends of one holder until commit, across processes, without
/// touching the holder's row (which the customer writer and sales lock for their own ends).
/// The two-key form keeps these locks apart from single-key ones (the migrator's); a hash
/// collision only makes two holders wait for each other.
const LOCK_HOLDER: &str =
    "SELECT pg_advisory_xact_lock(hashtext('referd:ledger'), hashtext($1 || ':' || $2::text))";

/// Whether the holder's total in the unit, over entries available at `$7`, plus `$5` stays
/// at or above `$6`: a NUMERIC sum, exact.
const WITHIN_FLOOR: &str = "SELECT coalesce(sum(amount), 0) + $5::numeric >= $6::numeric \
     FROM ledger_entries \
     WHERE program_id = $1 AND holder_kind = $2 AND holder_row_id = $3 AND unit = $4 \
         AND available_at <= $7";

/// One entry without a transaction.
const INSERT_ENTRY: &str = concat!(
    "INSERT INTO ledger_entries (program_id, holder_kind, holder_row_id, kind, reward_kind, \
         beneficiary, amount, unit, rule_version, rule_path, available_at, created_at, note) \
     VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8, $9, $10, $11, $12, $13) \
     RETURNING ",
    entry_columns!()
);

/// A holder as its two columns.
pub(crate) fn holder_columns(holder: Holder) -> (&'static str, i64) {
    match holder {
        Holder::Partner(p) => ("partner", p.0),
        Holder::Customer(c) => ("customer", c.0),
    }
}

/// A NUMERIC read as text.
pub(crate) fn decimal(text: &str) -> StoreResult<Decimal> {
    Decimal::from_str(text)
        .map_err(|e| StoreError::Backend(format!("amount {text:?} out of range: {e}")))
}

fn get<'r, T>(row: &'r PgRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(db_error)
}

/// An entry row ([`entry_columns!`]).
pub(crate) fn entry(row: &PgRow) -> StoreResult<LedgerEntry> {
    let holder_kind: String = get(row, "holder_kind")?;
    let holder_row: i64 = get(row, "holder_row_id")?;
    let holder = match holder_kind.as_str() {
        "partner" => Holder::Partner(PartnerRowId(holder_row)),
        "customer" => Holder::Customer(CustomerRowId(holder_row)),
        other => {
            return Err(StoreError::Backend(format!(
                "unknown holder kind {other:?}"
            )));
        }
    };
    let kind: String = get(row, "kind")?;
    let kind = EntryKind::parse(&kind)
        .ok_or_else(|| StoreError::Backend(format!("unknown entry kind {kind:?}")))?;
    Ok(LedgerEntry {
        row_id: get(row, "row_id")?,
        program_id: ProgramRowId(get(row, "program_id")?),
        holder,
        kind,
        reward_kind: get(row, "reward_kind")?,
        beneficiary: get(row, "beneficiary")?,
        amount: decimal(&get::<String>(row, "amount")?)?,
        unit: get(row, "unit")?,
        transaction: get::<Option<i64>>(row, "transaction_row_id")?.map(TransactionRowId),
        reverses: get(row, "reverses_row_id")?,
        rule_version: get(row, "rule_version")?,
        rule_path: get(row, "rule_path")?,
        available_at: Timestamp::from_micros(get(row, "available_at")?),
        created_at: Timestamp::from_micros(get(row, "created_at")?),
        note: get(row, "note")?,
    })
}

/// Every row as an entry.
pub(crate) fn entries(rows: &[PgRow]) -> StoreResult<Vec<LedgerEntry>> {
    rows.iter().map(entry).collect()
}

/// A transaction's entries, oldest first, on the caller's connection (inside its
/// transaction).
pub(crate) async fn transaction_entries(
    conn: &mut PgConnection,
    program: ProgramRowId,
    transaction: TransactionRowId,
) -> Result<Vec<PgRow>, sqlx::Error> {
    sqlx::query(TRANSACTION_ENTRIES)
        .bind(program.0)
        .bind(transaction.0)
        .fetch_all(conn)
        .await
}

/// Inserts a new transaction's entries (none: no statement).
pub(crate) async fn insert_transaction_entries(
    conn: &mut PgConnection,
    program: ProgramRowId,
    transaction: TransactionRowId,
    new: &[NewEntry],
    now: Timestamp,
) -> Result<Vec<PgRow>, sqlx::Error> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let query = sqlx::query(INSERT_TRANSACTION_ENTRIES)
        .bind(program.0)
        .bind(transaction.0)
        .bind(now.as_micros());
    bind_entry_arrays(query, new).fetch_all(conn).await
}

/// Binds `new` as the eleven column arrays the `UNNEST` of [`INSERT_TRANSACTION_ENTRIES`]
/// reads (holder kind, holder row, kind, reward kind, beneficiary, amount, unit, rule
/// version, rule path, available at, note), as the next parameters of `query`.
pub(crate) fn bind_entry_arrays<'q>(
    query: Query<'q, Postgres, PgArguments>,
    new: &[NewEntry],
) -> Query<'q, Postgres, PgArguments> {
    let n = new.len();
    let mut holder_kinds = Vec::with_capacity(n);
    let mut holder_rows = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut reward_kinds = Vec::with_capacity(n);
    let mut beneficiaries = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut units = Vec::with_capacity(n);
    let mut rule_versions = Vec::with_capacity(n);
    let mut rule_paths = Vec::with_capacity(n);
    let mut available = Vec::with_capacity(n);
    let mut notes = Vec::with_capacity(n);
    for e in new {
        let (kind, row) = holder_columns(e.holder);
        holder_kinds.push(kind);
        holder_rows.push(row);
        kinds.push(e.kind.as_str());
        reward_kinds.push(e.reward_kind.clone());
        beneficiaries.push(e.beneficiary.clone());
        amounts.push(e.amount.to_string());
        units.push(e.unit.clone());
        rule_versions.push(e.rule_version);
        rule_paths.push(e.rule_path.clone());
        available.push(e.available_at.as_micros());
        notes.push(e.note.clone());
    }
    query
        .bind(holder_kinds)
        .bind(holder_rows)
        .bind(kinds)
        .bind(reward_kinds)
        .bind(beneficiaries)
        .bind(amounts)
        .bind(units)
        .bind(rule_versions)
        .bind(rule_paths)
        .bind(available)
        .bind(notes)
}

/// The entries [`bind_entry_arrays`] inserted, rebuilt from what was bound and the row ids
/// the insert gave them (in the same order, as `ORDER BY j.n` assigns them): what reading
/// them back would answer, without the read.
pub(crate) fn inserted_entries(
    program: ProgramRowId,
    transaction: TransactionRowId,
    new: &[NewEntry],
    row_ids: &[i64],
    now: Timestamp,
) -> StoreResult<Vec<LedgerEntry>> {
    if row_ids.len() != new.len() {
        return Err(StoreError::Backend(format!(
            "{} entries inserted for {} given",
            row_ids.len(),
            new.len()
        )));
    }
    Ok(new
        .iter()
        .zip(row_ids)
        .map(|(e, &row_id)| LedgerEntry {
            row_id,
            program_id: program,
            holder: e.holder,
            kind: e.kind,
            reward_kind: e.reward_kind.clone(),
            beneficiary: e.beneficiary.clone(),
            amount: e.amount,
            unit: e.unit.clone(),
            transaction: Some(transaction),
            reverses: None,
            rule_version: e.rule_version,
            rule_path: e.rule_path.clone(),
            available_at: e.available_at,
            created_at: now,
            note: e.note.clone(),
        })
        .collect())
}

/// See [`referd_core::store::TransactionStore::count_holder_rewards`].
pub(crate) async fn count_holder_rewards(
    pool: &PgPool,
    program: ProgramRowId,
    holder: Holder,
    rule_path: &str,
) -> StoreResult<u64> {
    let (kind, row) = holder_columns(holder);
    let found = sqlx::query(COUNT_HOLDER_REWARDS)
        .bind(program.0)
        .bind(kind)
        .bind(row)
        .bind(rule_path)
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    crate::rows::count(&found, "n")
}

/// See [`referd_core::store::TransactionStore::append_entry`].
pub(crate) async fn append_entry(
    pool: &PgPool,
    program: ProgramRowId,
    entry: NewEntry,
    floor: Option<Decimal>,
    now: Timestamp,
) -> StoreResult<Option<LedgerEntry>> {
    let (holder_kind, holder_row) = holder_columns(entry.holder);
    let amount = entry.amount.to_string();
    let mut tx = pool.begin().await.map_err(db_error)?;
    if let Some(floor) = floor {
        // The lock is held until commit, so the sum below and the insert are one step for
        // every other floor-checked append of this holder; under READ COMMITTED the sum's
        // snapshot is taken after the lock, so it sees the previous holder's entry.
        sqlx::query(LOCK_HOLDER)
            .bind(holder_kind)
            .bind(holder_row)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let within: bool = sqlx::query_scalar(WITHIN_FLOOR)
            .bind(program.0)
            .bind(holder_kind)
            .bind(holder_row)
            .bind(&entry.unit)
            .bind(&amount)
            .bind(floor.to_string())
            .bind(now.as_micros())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        if !within {
            // Dropping `tx` rolls back; nothing was written.
            return Ok(None);
        }
    }
    let row = sqlx::query(INSERT_ENTRY)
        .bind(program.0)
        .bind(holder_kind)
        .bind(holder_row)
        .bind(entry.kind.as_str())
        .bind(&entry.reward_kind)
        .bind(&entry.beneficiary)
        .bind(&amount)
        .bind(&entry.unit)
        .bind(entry.rule_version)
        .bind(&entry.rule_path)
        .bind(entry.available_at.as_micros())
        .bind(now.as_micros())
        .bind(&entry.note)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    let stored = self::entry(&row)?;
    tx.commit().await.map_err(db_error)?;
    Ok(Some(stored))
}

/// See [`referd_core::store::TransactionStore::holder_entries`].
pub(crate) async fn holder_entries(
    pool: &PgPool,
    program: ProgramRowId,
    holder: Holder,
) -> StoreResult<Vec<LedgerEntry>> {
    let (kind, row) = holder_columns(holder);
    let found = sqlx::query(HOLDER_ENTRIES)
        .bind(program.0)
        .bind(kind)
        .bind(row)
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    entries(&found)
}

/// See [`referd_core::store::TransactionStore::entries_between`].
pub(crate) async fn entries_between(
    pool: &PgPool,
    program: ProgramRowId,
    from: Timestamp,
    to: Timestamp,
) -> StoreResult<Vec<LedgerEntry>> {
    let found = sqlx::query(ENTRIES_BETWEEN)
        .bind(program.0)
        .bind(from.as_micros())
        .bind(to.as_micros())
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    entries(&found)
}
