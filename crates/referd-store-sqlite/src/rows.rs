//! Row ↔ domain mapping shared by the query modules.

use std::collections::BTreeMap;

use referd_core::affiliate::AffiliateCustomer;
use referd_core::customer::{Customer, CustomerRowId, CustomerStatus};
use referd_core::ids::ProgramType;
use referd_core::partner::{LinkRowId, Partner, PartnerLink, PartnerRowId, PartnerStatus};
use referd_core::program::{LinkFormat, Program, ProgramRowId, ProgramSettings};
use referd_core::time::Timestamp;
use rusqlite::Row;
use rusqlite::types::Type;
use serde::de::DeserializeOwned;

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

/// The program columns, in the order [`program`] reads them, each prefixed by `$p` (a table
/// alias and a dot, or `""`). A macro so that statements stay `&'static str` constants.
#[rustfmt::skip]
macro_rules! program_columns {
    ($p:literal) => {
        concat!(
            $p, "id, ", $p, "public_id, ", $p, "program_type, ", $p, "name, ", $p, "website, ",
            $p, "created_at, ", $p, "updated_at, ", $p, "currency, ", $p, "cookie_lifetime, ",
            $p, "referral_param, ", $p, "link_format, ", $p, "program_flags, ",
            $p, "portal_flags, ", $p, "rules_version, ", $p, "attribution_window"
        )
    };
}
pub(crate) use program_columns;

pub(crate) fn program(row: &Row<'_>) -> rusqlite::Result<Program> {
    let program_type: String = row.get(2)?;
    let link_format: String = row.get(10)?;
    let defaults = ProgramSettings::default();
    Ok(Program {
        id: ProgramRowId(row.get(0)?),
        public_id: row.get(1)?,
        program_type: ProgramType::parse(&program_type).unwrap_or(ProgramType::Referral),
        name: row.get(3)?,
        website: row.get(4)?,
        settings: ProgramSettings {
            currency: row.get(7)?,
            cookie_lifetime_days: u32::try_from(row.get::<_, i64>(8)?)
                .unwrap_or(defaults.cookie_lifetime_days),
            referral_param: row.get(9)?,
            // The column's CHECK allows only the two formats.
            link_format: LinkFormat::parse(&link_format).unwrap_or(defaults.link_format),
            program_flags: json_at(row, 11)?,
            portal_flags: json_at(row, 12)?,
            attribution_window_days: row
                .get::<_, Option<i64>>(14)?
                .and_then(|d| u32::try_from(d).ok()),
        },
        rules_version: row.get(13)?,
        created_at: Timestamp::from_micros(row.get(5)?),
        updated_at: Timestamp::from_micros(row.get(6)?),
    })
}

/// A JSON text column (flag objects, tag arrays) decoded; bad JSON is a conversion error,
/// not a silent default, since only this crate writes these columns.
pub(crate) fn json_at<T: DeserializeOwned>(row: &Row<'_>, at: usize) -> rusqlite::Result<T> {
    let text: String = row.get(at)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(at, Type::Text, Box::new(e)))
}

/// Tags as stored: a JSON array of strings.
pub(crate) fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

/// Flags as stored: a JSON object of booleans (also the `json_patch` merged into them).
pub(crate) fn flags_json(flags: &BTreeMap<String, bool>) -> String {
    serde_json::to_string(flags).unwrap_or_else(|_| "{}".into())
}

/// The partner columns, in the order [`partner_at`] reads them; `{p}` is the table alias
/// (`""` for none, as `RETURNING` wants).
pub(crate) fn partner_columns(p: &str) -> String {
    let p = if p.is_empty() {
        String::new()
    } else {
        format!("{p}.")
    };
    [
        "row_id",
        "program_id",
        "ext_id",
        "email",
        "name",
        "surname",
        "tos",
        "approved",
        "status",
        "tags",
        "referring_partner_row_id",
        "created_at",
        "updated_at",
    ]
    .iter()
    .map(|c| format!("{p}{c}"))
    .collect::<Vec<_>>()
    .join(", ")
}

pub(crate) const PARTNER_COLUMN_COUNT: usize = 13;

/// Reads a partner from the columns starting at `at`.
pub(crate) fn partner_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Partner> {
    let status: String = row.get(at + 8)?;
    Ok(Partner {
        row_id: PartnerRowId(row.get(at)?),
        program_id: ProgramRowId(row.get(at + 1)?),
        id: row.get(at + 2)?,
        email: row.get(at + 3)?,
        name: row.get(at + 4)?,
        surname: row.get(at + 5)?,
        tos: row.get(at + 6)?,
        approved: row.get(at + 7)?,
        // The column's CHECK allows only the four statuses.
        status: PartnerStatus::parse(&status).unwrap_or(PartnerStatus::Active),
        tags: json_at(row, at + 9)?,
        referring_partner: row.get::<_, Option<i64>>(at + 10)?.map(PartnerRowId),
        created_at: Timestamp::from_micros(row.get(at + 11)?),
        updated_at: Timestamp::from_micros(row.get(at + 12)?),
    })
}

/// The link columns, in the order [`link`] reads them, unqualified (one-table statements).
pub(crate) const LINK_COLUMNS: &str =
    "row_id, program_id, partner_row_id, key, is_default, created_at, updated_at";

pub(crate) fn link(row: &Row<'_>) -> rusqlite::Result<PartnerLink> {
    Ok(PartnerLink {
        row_id: LinkRowId(row.get(0)?),
        program_id: ProgramRowId(row.get(1)?),
        partner: PartnerRowId(row.get(2)?),
        key: row.get(3)?,
        is_default: row.get(4)?,
        created_at: Timestamp::from_micros(row.get(5)?),
        updated_at: Timestamp::from_micros(row.get(6)?),
    })
}

/// The affiliate customer columns of `customers c` joined with the default link
/// `partner_links dl` of its partner, in the order [`affiliate_customer`] reads them.
pub(crate) const AFFILIATE_CUSTOMER_COLUMNS: &str = "c.row_id, c.program_id, c.key, c.email, \
     c.name, c.surname, c.tags, c.partner_row_id, dl.key, c.link_row_id, c.status, \
     c.created_at, c.updated_at";

/// The join that gives an affiliate customer its `partner_key`: the partner's default link,
/// live or not (a deleted partner's customers keep showing the key it had).
pub(crate) const AFFILIATE_CUSTOMER_FROM: &str = "customers c \
     JOIN partner_links dl ON dl.partner_row_id = c.partner_row_id AND dl.is_default = 1";

pub(crate) fn affiliate_customer(row: &Row<'_>) -> rusqlite::Result<AffiliateCustomer> {
    let status: String = row.get(10)?;
    Ok(AffiliateCustomer {
        row_id: CustomerRowId(row.get(0)?),
        program_id: ProgramRowId(row.get(1)?),
        key: row.get(2)?,
        email: row.get(3)?,
        name: row.get(4)?,
        surname: row.get(5)?,
        // NULL only on refer-a-friend rows, which the queries exclude; be lenient anyway.
        tags: match row.get::<_, Option<String>>(6)? {
            None => Vec::new(),
            Some(_) => json_at(row, 6)?,
        },
        partner: PartnerRowId(row.get(7)?),
        partner_key: row.get(8)?,
        link: row.get::<_, Option<i64>>(9)?.map(LinkRowId),
        status: CustomerStatus::parse(&status).unwrap_or(CustomerStatus::Active),
        created_at: Timestamp::from_micros(row.get(11)?),
        updated_at: Timestamp::from_micros(row.get(12)?),
    })
}
