//! Row ↔ domain mapping shared by the query modules.

use referd_core::customer::{Customer, CustomerRowId, CustomerStatus};
use referd_core::ids::ProgramType;
use referd_core::program::{Program, ProgramRowId};
use referd_core::time::Timestamp;
use rusqlite::Row;

/// The customer columns, in the order [`customer_at`] reads them; `{p}` is the table alias.
pub(crate) fn customer_columns(p: &str) -> String {
    [
        "row_id",
        "program_id",
        "ext_id",
        "key",
        "email",
        "name",
        "surname",
        "date_of_birth",
        "referrer_row_id",
        "status",
        "created_at",
        "updated_at",
    ]
    .iter()
    .map(|c| format!("{p}.{c}"))
    .collect::<Vec<_>>()
    .join(", ")
}

pub(crate) const CUSTOMER_COLUMN_COUNT: usize = 12;

/// Reads a customer from the columns starting at `at`.
pub(crate) fn customer_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Customer> {
    let status: String = row.get(at + 9)?;
    Ok(Customer {
        row_id: CustomerRowId(row.get(at)?),
        program_id: ProgramRowId(row.get(at + 1)?),
        id: row.get::<_, Option<String>>(at + 2)?.unwrap_or_default(),
        key: row.get(at + 3)?,
        email: row.get(at + 4)?,
        name: row.get(at + 5)?,
        surname: row.get(at + 6)?,
        date_of_birth: row.get(at + 7)?,
        referrer: row.get::<_, Option<i64>>(at + 8)?.map(CustomerRowId),
        status: CustomerStatus::parse(&status).unwrap_or(CustomerStatus::Active),
        created_at: Timestamp::from_micros(row.get(at + 10)?),
        updated_at: Timestamp::from_micros(row.get(at + 11)?),
    })
}

pub(crate) const PROGRAM_COLUMNS: &str =
    "p.id, p.public_id, p.program_type, p.name, p.website, p.created_at, p.updated_at";

pub(crate) fn program(row: &Row<'_>) -> rusqlite::Result<Program> {
    let program_type: String = row.get(2)?;
    Ok(Program {
        id: ProgramRowId(row.get(0)?),
        public_id: row.get(1)?,
        program_type: ProgramType::parse(&program_type).unwrap_or(ProgramType::Referral),
        name: row.get(3)?,
        website: row.get(4)?,
        created_at: Timestamp::from_micros(row.get(5)?),
        updated_at: Timestamp::from_micros(row.get(6)?),
    })
}
