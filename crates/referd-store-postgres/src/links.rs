//! Partner referral links: the additional links of [`referd_core::store::PartnerStore`]
//! (insert, lookup by key, search, rename, delete). Default links are written with their
//! partner, in `partners.rs`.
//!
//! A key names one live link of the program (`partner_links_program_key`, partial on
//! `deleted_at IS NULL`), so a deleted link's key is free again.

use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::{LinkRowId, NewPartnerLink, PartnerLink, PartnerLinkSearch};
use referd_core::program::ProgramRowId;
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use sqlx::postgres::PgPool;

use crate::rows::{self, link_columns};
use crate::{db_error, to_bigint};

/// Inserted only for a live partner of the program: the `SELECT` scopes the partner by
/// program (the foreign key alone would accept another program's partner). `FOR SHARE`
/// orders the insert with a concurrent delete of the partner: if the delete locked the row
/// first, the partner is re-read once it commits (deleted: no link); if the insert did, the
/// delete waits and then deletes this link too. Without it, a link could outlive its
/// partner and keep its key taken.
const INSERT_LINK: &str = concat!(
    "INSERT INTO partner_links (program_id, partner_row_id, key, is_default, created_at, \
     updated_at) \
     SELECT program_id, row_id, $3, FALSE, $4, $4 FROM partners \
     WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL FOR SHARE RETURNING ",
    link_columns!()
);

const FIND_LINK: &str = concat!(
    "SELECT ",
    link_columns!(),
    " FROM partner_links WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL"
);

/// Live links, default first, then by row id. A given key (`$2`) is looked up by its unique
/// index, else a given partner (`$3`) by `partner_links_partner`, so the plan never needs a
/// scan of the program's links when either is given.
macro_rules! search_query {
    ($lookup:literal, $order:literal) => {
        concat!(
            "SELECT ",
            link_columns!(),
            " FROM partner_links WHERE program_id = $1 AND deleted_at IS NULL AND ",
            $lookup,
            " ORDER BY is_default DESC, row_id ",
            $order,
            " LIMIT $4 OFFSET $5"
        )
    };
}
const SEARCH_BY_KEY: [&str; 2] = [
    search_query!(
        "key = $2 AND ($3::bigint IS NULL OR partner_row_id = $3)",
        "ASC"
    ),
    search_query!(
        "key = $2 AND ($3::bigint IS NULL OR partner_row_id = $3)",
        "DESC"
    ),
];
const SEARCH_BY_PARTNER: [&str; 2] = [
    search_query!("$2::text IS NULL AND partner_row_id = $3", "ASC"),
    search_query!("$2::text IS NULL AND partner_row_id = $3", "DESC"),
];
const SEARCH_ALL: [&str; 2] = [
    search_query!("$2::text IS NULL AND $3::bigint IS NULL", "ASC"),
    search_query!("$2::text IS NULL AND $3::bigint IS NULL", "DESC"),
];

const RENAME_LINK: &str = concat!(
    "UPDATE partner_links SET key = $3, updated_at = $4 \
     WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL RETURNING ",
    link_columns!()
);

/// A default link goes only with its partner, so it is never matched here.
const DELETE_LINK: &str = "UPDATE partner_links SET deleted_at = $3, updated_at = $3 \
     WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL AND NOT is_default";

/// Inserts an additional link; `NotFound` when the partner is not a live one of the program.
pub(crate) async fn insert(pool: &PgPool, new: NewPartnerLink) -> StoreResult<PartnerLink> {
    let inserted = sqlx::query(INSERT_LINK)
        .bind(new.program_id.0)
        .bind(new.partner.0)
        .bind(&new.key)
        .bind(new.created_at.as_micros())
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    match inserted {
        Some(row) => rows::partner_link(&row),
        None => Err(StoreError::NotFound),
    }
}

pub(crate) async fn find(
    pool: &PgPool,
    program: ProgramRowId,
    key: &str,
) -> StoreResult<Option<PartnerLink>> {
    let found = sqlx::query(FIND_LINK)
        .bind(program.0)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    found.as_ref().map(rows::partner_link).transpose()
}

pub(crate) async fn search(
    pool: &PgPool,
    program: ProgramRowId,
    search: &PartnerLinkSearch,
    page: PageRequest,
) -> StoreResult<Vec<PartnerLink>> {
    let variants = match (&search.key, search.partner) {
        (Some(_), _) => SEARCH_BY_KEY,
        (None, Some(_)) => SEARCH_BY_PARTNER,
        (None, None) => SEARCH_ALL,
    };
    let sql = match page.sort {
        SortOrder::Asc => variants[0],
        SortOrder::Desc => variants[1],
    };
    let found = sqlx::query(sql)
        .bind(program.0)
        .bind(&search.key)
        .bind(search.partner.map(|p| p.0))
        .bind(i64::from(page.fetch_limit()))
        .bind(to_bigint(page.offset()))
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    found.iter().map(rows::partner_link).collect()
}

pub(crate) async fn rename(
    pool: &PgPool,
    program: ProgramRowId,
    link: LinkRowId,
    key: &str,
    now: Timestamp,
) -> StoreResult<PartnerLink> {
    let renamed = sqlx::query(RENAME_LINK)
        .bind(program.0)
        .bind(link.0)
        .bind(key)
        .bind(now.as_micros())
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    match renamed {
        Some(row) => rows::partner_link(&row),
        None => Err(StoreError::NotFound),
    }
}

pub(crate) async fn delete(
    pool: &PgPool,
    program: ProgramRowId,
    link: LinkRowId,
    now: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(DELETE_LINK)
        .bind(program.0)
        .bind(link.0)
        .bind(now.as_micros())
        .execute(pool)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
