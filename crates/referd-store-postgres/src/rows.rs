//! Row → domain mapping, and the column lists the queries select so that the names used here
//! and the names selected there cannot drift apart.
//!
//! A value the schema cannot produce (an unknown status or program type, malformed JSON) is
//! reported as a backend error rather than a panic.

use referd_core::affiliate::AffiliateCustomer;
use referd_core::customer::{Customer, CustomerRowId, CustomerStatus, ReferrerView};
use referd_core::ids::ProgramType;
use referd_core::partner::{LinkRowId, Partner, PartnerLink, PartnerRowId, PartnerStatus};
use referd_core::program::{ApiKeyInfo, LinkFormat, Program, ProgramRowId, ProgramSettings};
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
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

/// The program columns [`program`] reads; `program_columns!("p.")` qualifies them for a
/// join. The JSONB flag objects are selected as text and parsed with serde_json, which keeps
/// sqlx's `json` feature (and its rebuild of sqlx) out of the workspace.
macro_rules! program_columns {
    () => {
        program_columns!("")
    };
    ($t:literal) => {
        concat!(
            $t,
            "id, ",
            $t,
            "public_id, ",
            $t,
            "program_type, ",
            $t,
            "name, ",
            $t,
            "website, ",
            $t,
            "currency, ",
            $t,
            "cookie_lifetime, ",
            $t,
            "referral_param, ",
            $t,
            "link_format, ",
            $t,
            "program_flags::text AS program_flags, ",
            $t,
            "portal_flags::text AS portal_flags, ",
            $t,
            "rules_version, ",
            $t,
            "attribution_window, ",
            $t,
            "created_at, ",
            $t,
            "updated_at"
        )
    };
}
pub(crate) use program_columns;

/// The partner columns [`partner`] reads with [`PARTNER`]; `partner_columns!("p.")`
/// qualifies them for a join.
macro_rules! partner_columns {
    () => {
        partner_columns!("")
    };
    ($t:literal) => {
        concat!(
            $t,
            "row_id, ",
            $t,
            "program_id, ",
            $t,
            "ext_id, ",
            $t,
            "email, ",
            $t,
            "name, ",
            $t,
            "surname, ",
            $t,
            "tos, ",
            $t,
            "approved, ",
            $t,
            "status, ",
            $t,
            "tags::text AS tags, ",
            $t,
            "referring_partner_row_id, ",
            $t,
            "created_at, ",
            $t,
            "updated_at"
        )
    };
}
pub(crate) use partner_columns;

/// The partner link columns [`partner_link`] reads.
macro_rules! link_columns {
    () => {
        "row_id, program_id, partner_row_id, key, is_default, created_at, updated_at"
    };
}
pub(crate) use link_columns;

/// The affiliate customer columns [`affiliate_customer`] reads: a customer row `c` joined
/// with its partner's default link `dl`, whose key is the customer's `partner_key`.
macro_rules! affiliate_customer_columns {
    () => {
        "c.row_id, c.program_id, c.key, c.email, c.name, c.surname, c.tags::text AS tags, \
         c.partner_row_id, c.link_row_id, c.status, c.created_at, c.updated_at, \
         dl.key AS partner_key"
    };
}
pub(crate) use affiliate_customer_columns;

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
        settings: program_settings(row)?,
        rules_version: get(row, "rules_version")?,
        created_at: Timestamp::from_micros(get(row, "created_at")?),
        updated_at: Timestamp::from_micros(get(row, "updated_at")?),
    })
}

/// The settings columns of a program row.
fn program_settings(row: &PgRow) -> StoreResult<ProgramSettings> {
    let link_format: String = get(row, "link_format")?;
    let link_format = LinkFormat::parse(&link_format)
        .ok_or_else(|| StoreError::Backend(format!("unknown link format {link_format:?}")))?;
    let cookie_lifetime: i64 = get(row, "cookie_lifetime")?;
    let cookie_lifetime_days = u32::try_from(cookie_lifetime).map_err(|_| {
        StoreError::Backend(format!("cookie lifetime out of range: {cookie_lifetime}"))
    })?;
    Ok(ProgramSettings {
        currency: get(row, "currency")?,
        cookie_lifetime_days,
        referral_param: get(row, "referral_param")?,
        link_format,
        program_flags: from_json(&get::<String>(row, "program_flags")?)?,
        portal_flags: from_json(&get::<String>(row, "portal_flags")?)?,
        attribution_window_days: get::<Option<i64>>(row, "attribution_window")?
            .and_then(|d| u32::try_from(d).ok()),
    })
}

/// A JSON column (selected as text) as a value.
fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("bad JSON column: {e}")))
}

/// A value as the JSON text a `$n::jsonb` parameter takes.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("bad JSON value: {e}")))
}

/// A `tags` column: a JSON array of strings, or NULL (refer-a-friend rows) for none.
fn tags(row: &PgRow, column: &str) -> StoreResult<Vec<String>> {
    match get::<Option<String>>(row, column)? {
        Some(text) => from_json(&text),
        None => Ok(Vec::new()),
    }
}

/// Column names of one partner in a result row: plain, or aliased with a prefix when a query
/// returns a partner and its referring partner side by side.
pub(crate) struct PartnerColumns {
    row_id: &'static str,
    program_id: &'static str,
    ext_id: &'static str,
    email: &'static str,
    name: &'static str,
    surname: &'static str,
    tos: &'static str,
    approved: &'static str,
    status: &'static str,
    tags: &'static str,
    referring_partner_row_id: &'static str,
    created_at: &'static str,
    updated_at: &'static str,
}

/// The names [`partner_columns!`] selects.
pub(crate) const PARTNER: PartnerColumns = PartnerColumns {
    row_id: "row_id",
    program_id: "program_id",
    ext_id: "ext_id",
    email: "email",
    name: "name",
    surname: "surname",
    tos: "tos",
    approved: "approved",
    status: "status",
    tags: "tags",
    referring_partner_row_id: "referring_partner_row_id",
    created_at: "created_at",
    updated_at: "updated_at",
};

/// The `r_`-prefixed names a partner view query gives the referring partner's columns.
pub(crate) const REFERRING_PARTNER: PartnerColumns = PartnerColumns {
    row_id: "r_row_id",
    program_id: "r_program_id",
    ext_id: "r_ext_id",
    email: "r_email",
    name: "r_name",
    surname: "r_surname",
    tos: "r_tos",
    approved: "r_approved",
    status: "r_status",
    tags: "r_tags",
    referring_partner_row_id: "r_referring_partner_row_id",
    created_at: "r_created_at",
    updated_at: "r_updated_at",
};

/// The partner whose columns are named by `cols`.
pub(crate) fn partner(row: &PgRow, cols: &PartnerColumns) -> StoreResult<Partner> {
    let status: String = get(row, cols.status)?;
    let status = PartnerStatus::parse(&status)
        .ok_or_else(|| StoreError::Backend(format!("unknown partner status {status:?}")))?;
    Ok(Partner {
        row_id: PartnerRowId(get(row, cols.row_id)?),
        program_id: ProgramRowId(get(row, cols.program_id)?),
        id: get(row, cols.ext_id)?,
        email: get(row, cols.email)?,
        name: get(row, cols.name)?,
        surname: get(row, cols.surname)?,
        tos: get(row, cols.tos)?,
        approved: get(row, cols.approved)?,
        status,
        tags: tags(row, cols.tags)?,
        referring_partner: get::<Option<i64>>(row, cols.referring_partner_row_id)?
            .map(PartnerRowId),
        created_at: Timestamp::from_micros(get(row, cols.created_at)?),
        updated_at: Timestamp::from_micros(get(row, cols.updated_at)?),
    })
}

/// Every row as a plain partner ([`partner_columns!`]).
pub(crate) fn partners(rows: &[PgRow]) -> StoreResult<Vec<Partner>> {
    rows.iter().map(|row| partner(row, &PARTNER)).collect()
}

/// The referring half of a partner view row (`r_*` columns), absent when nobody brought the
/// partner.
pub(crate) fn referring_partner(row: &PgRow) -> StoreResult<Option<Box<Partner>>> {
    if get::<Option<i64>>(row, REFERRING_PARTNER.row_id)?.is_none() {
        return Ok(None);
    }
    Ok(Some(Box::new(partner(row, &REFERRING_PARTNER)?)))
}

/// A partner link row ([`link_columns!`]).
pub(crate) fn partner_link(row: &PgRow) -> StoreResult<PartnerLink> {
    Ok(PartnerLink {
        row_id: LinkRowId(get(row, "row_id")?),
        program_id: ProgramRowId(get(row, "program_id")?),
        partner: PartnerRowId(get(row, "partner_row_id")?),
        key: get(row, "key")?,
        is_default: get(row, "is_default")?,
        created_at: Timestamp::from_micros(get(row, "created_at")?),
        updated_at: Timestamp::from_micros(get(row, "updated_at")?),
    })
}

/// An affiliate customer row ([`affiliate_customer_columns!`]).
pub(crate) fn affiliate_customer(row: &PgRow) -> StoreResult<AffiliateCustomer> {
    let status: String = get(row, "status")?;
    let status = CustomerStatus::parse(&status)
        .ok_or_else(|| StoreError::Backend(format!("unknown customer status {status:?}")))?;
    Ok(AffiliateCustomer {
        row_id: CustomerRowId(get(row, "row_id")?),
        program_id: ProgramRowId(get(row, "program_id")?),
        key: get(row, "key")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        surname: get(row, "surname")?,
        tags: tags(row, "tags")?,
        partner: PartnerRowId(get(row, "partner_row_id")?),
        partner_key: get(row, "partner_key")?,
        link: get::<Option<i64>>(row, "link_row_id")?.map(LinkRowId),
        status,
        created_at: Timestamp::from_micros(get(row, "created_at")?),
        updated_at: Timestamp::from_micros(get(row, "updated_at")?),
    })
}

/// Every row as an affiliate customer.
pub(crate) fn affiliate_customers(rows: &[PgRow]) -> StoreResult<Vec<AffiliateCustomer>> {
    rows.iter().map(affiliate_customer).collect()
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
