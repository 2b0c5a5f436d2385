//! Partner referral links on SQLite: the statements behind the link methods of
//! [`referd_core::store::PartnerStore`] (implemented in [`crate::partners`]).
//!
//! A link is live while `deleted_at` is NULL; only live links hold their key
//! (`partner_links_program_key` is partial), so a deleted link's key can be reused.

use referd_core::page::PageRequest;
use referd_core::partner::{
    LinkRowId, NewPartnerLink, PartnerLink, PartnerLinkSearch, PartnerRowId,
};
use referd_core::program::ProgramRowId;
use referd_core::store::{StoreError, StoreResult, UniqueField};
use referd_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::partners::page_params;
use crate::rows::{LINK_COLUMNS, link};
use crate::{backend, is_unique_violation, sort_order};

/// A unique violation on `partner_links` can only be the key: the other unique index (one
/// default per partner) is never written twice for a partner.
fn key_conflict(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(UniqueField::LinkKey)
    } else {
        backend(e)
    }
}

/// Inserts a link; runs in the writer.
pub(crate) fn insert_link(
    conn: &Connection,
    new: &NewPartnerLink,
    is_default: bool,
) -> StoreResult<PartnerLink> {
    conn.prepare_cached(
        "INSERT INTO partner_links
             (program_id, partner_row_id, key, is_default, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            new.program_id.0,
            new.partner.0,
            new.key,
            is_default,
            new.created_at.as_micros()
        ])
    })
    .map_err(key_conflict)?;
    Ok(PartnerLink {
        row_id: LinkRowId(conn.last_insert_rowid()),
        program_id: new.program_id,
        partner: new.partner,
        key: new.key.clone(),
        is_default,
        created_at: new.created_at,
        updated_at: new.created_at,
    })
}

pub(crate) fn find(
    conn: &Connection,
    program: ProgramRowId,
    key: &str,
) -> StoreResult<Option<PartnerLink>> {
    conn.prepare_cached(&format!(
        "SELECT {LINK_COLUMNS} FROM partner_links
         WHERE program_id = ?1 AND key = ?2 AND deleted_at IS NULL"
    ))
    .and_then(|mut s| s.query_row(params![program.0, key], link).optional())
    .map_err(backend)
}

pub(crate) fn search(
    conn: &Connection,
    program: ProgramRowId,
    search: &PartnerLinkSearch,
    page: PageRequest,
) -> StoreResult<Vec<PartnerLink>> {
    let mut params = page_params(program, page);
    let mut conditions = String::new();
    if let Some(key) = &search.key {
        params.push(key.clone().into());
        conditions.push_str(&format!(" AND key = ?{}", params.len()));
    }
    if let Some(partner) = search.partner {
        params.push(partner.0.into());
        conditions.push_str(&format!(" AND partner_row_id = ?{}", params.len()));
    }
    // The default link first, then the others by row id (in the page's order).
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM partner_links
         WHERE program_id = ?1 AND deleted_at IS NULL{conditions}
         ORDER BY is_default DESC, row_id {} LIMIT ?2 OFFSET ?3",
        sort_order(page)
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), link)
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

/// Gives a live link a new key; runs in the writer.
pub(crate) fn rename(
    conn: &Connection,
    program: ProgramRowId,
    link_id: LinkRowId,
    key: &str,
    now: Timestamp,
) -> StoreResult<PartnerLink> {
    conn.prepare_cached(&format!(
        "UPDATE partner_links SET key = ?3, updated_at = ?4
         WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL
         RETURNING {LINK_COLUMNS}"
    ))
    .and_then(|mut s| {
        s.query_row(params![program.0, link_id.0, key, now.as_micros()], link)
            .optional()
    })
    .map_err(key_conflict)?
    .ok_or(StoreError::NotFound)
}

/// Renames a partner's default link (its `key`); runs in the writer.
pub(crate) fn rename_default(
    conn: &Connection,
    program: ProgramRowId,
    partner: PartnerRowId,
    key: &str,
    now: Timestamp,
) -> StoreResult<()> {
    // No row changes when the key is already this one (nothing to do, `updated_at` kept).
    conn.prepare_cached(
        "UPDATE partner_links SET key = ?3, updated_at = ?4
         WHERE program_id = ?1 AND partner_row_id = ?2 AND is_default = 1
           AND deleted_at IS NULL AND key IS NOT ?3",
    )
    .and_then(|mut s| s.execute(params![program.0, partner.0, key, now.as_micros()]))
    .map(|_| ())
    .map_err(key_conflict)
}

/// Deletes a live additional link; `false` when it is gone or is a default link (a
/// partner always keeps its default link while it lives).
pub(crate) fn delete_additional(
    conn: &Connection,
    program: ProgramRowId,
    link_id: LinkRowId,
    now: Timestamp,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE partner_links SET deleted_at = ?3, updated_at = ?3
             WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL AND is_default = 0",
        )
        .and_then(|mut s| s.execute(params![program.0, link_id.0, now.as_micros()]))
        .map_err(backend)?;
    Ok(changed == 1)
}

/// Deletes every live link of a partner being deleted, which frees their keys; runs in the
/// writer, in the same job as the partner's status change.
pub(crate) fn delete_all_of(
    conn: &Connection,
    program: ProgramRowId,
    partner: PartnerRowId,
    now: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE partner_links SET deleted_at = ?3, updated_at = ?3
         WHERE program_id = ?1 AND partner_row_id = ?2 AND deleted_at IS NULL",
    )
    .and_then(|mut s| s.execute(params![program.0, partner.0, now.as_micros()]))
    .map_err(backend)?;
    Ok(())
}
