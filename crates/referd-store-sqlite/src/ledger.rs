//! Ledger entries on SQLite: reading and appending rows of `ledger_entries`.
//!
//! Entries are append-only (a trigger refuses any UPDATE), so this module only inserts and
//! selects. Amounts are exact decimal text, parsed into `Decimal` and summed in Rust: SQLite
//! would sum TEXT as REAL and lose cents.

use std::collections::HashMap;
use std::str::FromStr;

use referd_core::customer::CustomerRowId;
use referd_core::ledger::{EntryKind, Holder, LedgerEntry, NewEntry, TransactionRowId};
use referd_core::partner::PartnerRowId;
use referd_core::program::ProgramRowId;
use referd_core::store::StoreResult;
use referd_core::time::Timestamp;
use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};
use rust_decimal::Decimal;

use crate::backend;

/// The entry columns, in the order [`entry`] reads them (unqualified: one-table statements).
/// A macro so that statements stay `&'static str` constants.
macro_rules! entry_columns {
    () => {
        "row_id, program_id, holder_kind, holder_row_id, kind, reward_kind, beneficiary, amount, \
         unit, transaction_row_id, reverses_row_id, rule_version, rule_path, available_at, \
         created_at, note"
    };
}
pub(crate) use entry_columns;

/// A holder as stored: `holder_kind` and `holder_row_id`.
pub(crate) fn holder_parts(holder: Holder) -> (&'static str, i64) {
    match holder {
        Holder::Partner(p) => ("partner", p.0),
        Holder::Customer(c) => ("customer", c.0),
    }
}

/// An amount as stored: normalized (`29.997`, `10`), so equal amounts have equal text.
pub(crate) fn amount_text(amount: Decimal) -> String {
    amount.normalize().to_string()
}

/// A decimal TEXT column; anything else is a conversion error, never a silent zero.
pub(crate) fn decimal_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Decimal> {
    let text: String = row.get(at)?;
    Decimal::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(at, Type::Text, Box::new(e)))
}

fn conversion(at: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        at,
        Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

pub(crate) fn entry(row: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let holder_kind: String = row.get(2)?;
    let holder_row_id: i64 = row.get(3)?;
    let holder = match holder_kind.as_str() {
        "partner" => Holder::Partner(PartnerRowId(holder_row_id)),
        "customer" => Holder::Customer(CustomerRowId(holder_row_id)),
        other => return Err(conversion(2, "holder kind", other)),
    };
    let kind: String = row.get(4)?;
    Ok(LedgerEntry {
        row_id: row.get(0)?,
        program_id: ProgramRowId(row.get(1)?),
        holder,
        kind: EntryKind::parse(&kind).ok_or_else(|| conversion(4, "entry kind", &kind))?,
        reward_kind: row.get(5)?,
        beneficiary: row.get(6)?,
        amount: decimal_at(row, 7)?,
        unit: row.get(8)?,
        transaction: row.get::<_, Option<i64>>(9)?.map(TransactionRowId),
        reverses: row.get(10)?,
        rule_version: row.get(11)?,
        rule_path: row.get(12)?,
        available_at: Timestamp::from_micros(row.get(13)?),
        created_at: Timestamp::from_micros(row.get(14)?),
        note: row.get(15)?,
    })
}

/// Appends one entry (inside the caller's writer job) and answers it as stored.
pub(crate) fn insert_entry(
    conn: &Connection,
    program: ProgramRowId,
    new: &NewEntry,
    transaction: Option<TransactionRowId>,
    reverses: Option<i64>,
    now: Timestamp,
) -> StoreResult<LedgerEntry> {
    let (holder_kind, holder_row_id) = holder_parts(new.holder);
    let amount = new.amount.normalize();
    conn.prepare_cached(
        "INSERT INTO ledger_entries (program_id, holder_kind, holder_row_id, kind, reward_kind,
             beneficiary, amount, unit, transaction_row_id, reverses_row_id, rule_version,
             rule_path, available_at, created_at, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .and_then(|mut s| {
        s.execute(params![
            program.0,
            holder_kind,
            holder_row_id,
            new.kind.as_str(),
            new.reward_kind,
            new.beneficiary,
            amount.to_string(),
            new.unit,
            transaction.map(|t| t.0),
            reverses,
            new.rule_version,
            new.rule_path,
            new.available_at.as_micros(),
            now.as_micros(),
            new.note
        ])
    })
    .map_err(backend)?;
    Ok(LedgerEntry {
        row_id: conn.last_insert_rowid(),
        program_id: program,
        holder: new.holder,
        kind: new.kind,
        reward_kind: new.reward_kind.clone(),
        beneficiary: new.beneficiary.clone(),
        amount,
        unit: new.unit.clone(),
        transaction,
        reverses,
        rule_version: new.rule_version,
        rule_path: new.rule_path.clone(),
        available_at: new.available_at,
        created_at: now,
        note: new.note.clone(),
    })
}

/// The entries of some transactions in one query, grouped by transaction, oldest first. The
/// ids go in as one JSON array so the statement text (and its cached plan) never varies. The
/// `+` keeps `program_id` (still a scope check) off the index choice: otherwise SQLite
/// picks `ledger_holder` and scans every entry of the program.
pub(crate) fn transaction_entries(
    conn: &Connection,
    program: ProgramRowId,
    transactions: &[TransactionRowId],
) -> StoreResult<HashMap<TransactionRowId, Vec<LedgerEntry>>> {
    let mut grouped: HashMap<TransactionRowId, Vec<LedgerEntry>> = HashMap::new();
    if transactions.is_empty() {
        return Ok(grouped);
    }
    let ids = serde_json::to_string(&transactions.iter().map(|t| t.0).collect::<Vec<_>>())
        .map_err(|e| referd_core::store::StoreError::Backend(e.to_string()))?;
    let mut stmt = conn
        .prepare_cached(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM ledger_entries
             WHERE +program_id = ?1
               AND transaction_row_id IN (SELECT value FROM json_each(?2))
             ORDER BY row_id"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![program.0, ids], entry)
        .map_err(backend)?;
    for row in rows {
        let e = row.map_err(backend)?;
        if let Some(t) = e.transaction {
            grouped.entry(t).or_default().push(e);
        }
    }
    Ok(grouped)
}

/// Every entry of a holder, oldest first; with `unit_until`, only those in that unit
/// available at that time (what a balance floor is checked against).
pub(crate) fn holder_entries(
    conn: &Connection,
    program: ProgramRowId,
    holder: Holder,
    unit_until: Option<(&str, Timestamp)>,
) -> StoreResult<Vec<LedgerEntry>> {
    let (holder_kind, holder_row_id) = holder_parts(holder);
    let (unit, until) = unit_until.map_or((None, None), |(u, t)| (Some(u), Some(t.as_micros())));
    let mut stmt = conn
        .prepare_cached(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM ledger_entries
             WHERE program_id = ?1 AND holder_kind = ?2 AND holder_row_id = ?3
               AND (?4 IS NULL OR (unit = ?4 AND available_at <= ?5))
             ORDER BY row_id"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map(
            params![program.0, holder_kind, holder_row_id, unit, until],
            entry,
        )
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

/// The program's entries created in `[from, to)`, oldest first (the ledger export). No index
/// serves `created_at`: an export is rare, and the ledger's write path stays one index lighter.
pub(crate) fn entries_between(
    conn: &Connection,
    program: ProgramRowId,
    from: Timestamp,
    to: Timestamp,
) -> StoreResult<Vec<LedgerEntry>> {
    let mut stmt = conn
        .prepare_cached(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM ledger_entries
             WHERE program_id = ?1 AND created_at >= ?2 AND created_at < ?3
             ORDER BY row_id"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![program.0, from.as_micros(), to.as_micros()], entry)
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}
