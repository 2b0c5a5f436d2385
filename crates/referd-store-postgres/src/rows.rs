//! Row → domain mapping, and the column lists the queries select so that the names used here
//! and the names selected there cannot drift apart.
//!
//! A value the schema cannot produce (an unknown status or program type) is reported as a
//! backend error rather than a panic.

use referd_core::customer::{Customer, CustomerRowId, CustomerStatus, ReferrerView};
use referd_core::ids::ProgramType;
use referd_core::program::{ApiKeyInfo, Program, ProgramRowId};
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::db_error;

/// The customer columns, in the order [`customer`] reads them by name.
macro_rules! customer_columns {
    () => {
        "row_id, program_id, ext_id, key, email, name, surname, date_of_birth, \
         referrer_row_id, status, created_at, updated_at"
    };
}
pub(crate) use customer_columns;

/// The program columns [`program`] reads.
macro_rules! program_columns {
    () => {
        "id, public_id, program_type, name, website, created_at, updated_at"
    };
}
pub(crate) use program_columns;

/// Column names of one customer in a result row: plain, or aliased with a prefix when a
/// query returns a customer and its referrer side by side.
pub(crate) struct CustomerColumns {
    row_id: &'static str,
    program_id: &'static str,
    ext_id: &'static str,
    key: &'static str,
    email: &'static str,
    name: &'static str,
    surname: &'static str,
    date_of_birth: &'static str,
    referrer_row_id: &'static str,
    status: &'static str,
    created_at: &'static str,
    updated_at: &'static str,
}

/// The names [`customer_columns!`] selects.
pub(crate) const PLAIN: CustomerColumns = CustomerColumns {
    row_id: "row_id",
    program_id: "program_id",
    ext_id: "ext_id",
    key: "key",
    email: "email",
    name: "name",
    surname: "surname",
    date_of_birth: "date_of_birth",
    referrer_row_id: "referrer_row_id",
    status: "status",
    created_at: "created_at",
    updated_at: "updated_at",
};

/// The `p_`-prefixed names a customer view query gives the referrer's columns.
pub(crate) const REFERRER: CustomerColumns = CustomerColumns {
    row_id: "p_row_id",
    program_id: "p_program_id",
    ext_id: "p_ext_id",
    key: "p_key",
    email: "p_email",
    name: "p_name",
    surname: "p_surname",
    date_of_birth: "p_date_of_birth",
    referrer_row_id: "p_referrer_row_id",
    status: "p_status",
    created_at: "p_created_at",
    updated_at: "p_updated_at",
};

/// Reads a column, mapping a decode failure to a backend error.
fn get<'r, T>(row: &'r PgRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(db_error)
}

/// The customer whose columns are named by `cols`.
pub(crate) fn customer(row: &PgRow, cols: &CustomerColumns) -> StoreResult<Customer> {
    let status: String = get(row, cols.status)?;
    let status = CustomerStatus::parse(&status)
        .ok_or_else(|| StoreError::Backend(format!("unknown customer status {status:?}")))?;
    Ok(Customer {
        row_id: CustomerRowId(get(row, cols.row_id)?),
        program_id: ProgramRowId(get(row, cols.program_id)?),
        id: get::<Option<String>>(row, cols.ext_id)?.unwrap_or_default(),
        key: get(row, cols.key)?,
        email: get(row, cols.email)?,
        name: get(row, cols.name)?,
        surname: get(row, cols.surname)?,
        date_of_birth: get(row, cols.date_of_birth)?,
        referrer: get::<Option<i64>>(row, cols.referrer_row_id)?.map(CustomerRowId),
        status,
        created_at: Timestamp::from_micros(get(row, cols.created_at)?),
        updated_at: Timestamp::from_micros(get(row, cols.updated_at)?),
    })
}

/// Every row as a plain customer.
pub(crate) fn customers(rows: &[PgRow]) -> StoreResult<Vec<Customer>> {
    rows.iter().map(|row| customer(row, &PLAIN)).collect()
}

/// A `count(*)` column as a `u64`.
pub(crate) fn count(row: &PgRow, column: &str) -> StoreResult<u64> {
    let n: i64 = get(row, column)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The referrer half of a customer view row (`p_*` columns), absent when the customer was
/// not referred.
pub(crate) fn referrer(row: &PgRow) -> StoreResult<Option<Box<ReferrerView>>> {
    if get::<Option<i64>>(row, REFERRER.row_id)?.is_none() {
        return Ok(None);
    }
    Ok(Some(Box::new(ReferrerView {
        customer: customer(row, &REFERRER)?,
        referrals_count: count(row, "p_referrals_count")?,
    })))
}

/// A program row ([`program_columns!`]).
pub(crate) fn program(row: &PgRow) -> StoreResult<Program> {
    let program_type: String = get(row, "program_type")?;
    let program_type = ProgramType::parse(&program_type)
        .ok_or_else(|| StoreError::Backend(format!("unknown program type {program_type:?}")))?;
    Ok(Program {
        id: ProgramRowId(get(row, "id")?),
        public_id: get(row, "public_id")?,
        program_type,
        name: get(row, "name")?,
        website: get(row, "website")?,
        created_at: Timestamp::from_micros(get(row, "created_at")?),
        updated_at: Timestamp::from_micros(get(row, "updated_at")?),
    })
}

/// An API key row joined with its program's public id.
pub(crate) fn api_key(row: &PgRow) -> StoreResult<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id: get(row, "id")?,
        program_public_id: get(row, "program_public_id")?,
        hint: get(row, "hint")?,
        created_at: Timestamp::from_micros(get(row, "created_at")?),
        revoked_at: get::<Option<i64>>(row, "revoked_at")?.map(Timestamp::from_micros),
    })
}
