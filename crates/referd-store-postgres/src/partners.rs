//! [`PartnerStore`] for [`PostgresStore`]: partners of affiliate programs (insert with their
//! default link, lookups, lists, search, updates, status changes). Their additional links are
//! in [`crate::links`].
//!
//! Every query is scoped by `program_id`; "live" means `deleted_at IS NULL`. Deleted partners
//! are tombstones whose id, email and link keys are free again (the unique indexes are
//! partial).

use async_trait::async_trait;
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::{
    LinkRowId, NewPartner, NewPartnerLink, Partner, PartnerFilter, PartnerLink, PartnerLinkSearch,
    PartnerLookup, PartnerPatch, PartnerRowId, PartnerSearch, PartnerStatus, PartnerView,
};
use referd_core::program::ProgramRowId;
use referd_core::store::PartnerStore;
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::rows::{self, partner_columns};
use crate::{PostgresStore, db_error, links, to_bigint};

const INSERT_PARTNER: &str = concat!(
    "INSERT INTO partners (program_id, ext_id, email, name, surname, password_hash, tos, \
     approved, status, tags, referring_partner_row_id, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $12) RETURNING ",
    partner_columns!()
);

/// The partner's default link, inserted in the partner's transaction.
const INSERT_DEFAULT_LINK: &str = "INSERT INTO partner_links \
     (program_id, partner_row_id, key, is_default, created_at, updated_at) \
     VALUES ($1, $2, $3, TRUE, $4, $4)";

/// A live partner (`p`) with its default key, its live link keys (default first, then oldest
/// first), its live customers count, and its referring partner (`r_*`, whatever its status).
/// The caller appends the lookup condition.
macro_rules! view_query {
    ($condition:literal) => {
        view_query!(
            "(SELECT count(*) FROM customers c WHERE c.partner_row_id = p.row_id \
                 AND c.program_id = p.program_id AND c.deleted_at IS NULL)",
            $condition
        )
    };
    ($count:literal, $condition:literal) => {
        concat!(
            "SELECT ",
            partner_columns!("p."),
            ", (SELECT dl.key FROM partner_links dl \
                 WHERE dl.partner_row_id = p.row_id AND dl.is_default) AS default_key, \
             ARRAY(SELECT l.key FROM partner_links l \
                 WHERE l.partner_row_id = p.row_id AND l.deleted_at IS NULL \
                 ORDER BY l.is_default DESC, l.row_id) AS link_keys, \
             ",
            $count,
            " AS referrals_count, \
             r.row_id AS r_row_id, r.program_id AS r_program_id, r.ext_id AS r_ext_id, \
             r.email AS r_email, r.name AS r_name, r.surname AS r_surname, r.tos AS r_tos, \
             r.approved AS r_approved, r.status AS r_status, r.tags::text AS r_tags, \
             r.referring_partner_row_id AS r_referring_partner_row_id, \
             r.created_at AS r_created_at, r.updated_at AS r_updated_at \
             FROM partners p \
             LEFT JOIN partners r ON r.row_id = p.referring_partner_row_id \
                 AND r.program_id = p.program_id \
             WHERE p.program_id = $1 AND p.deleted_at IS NULL AND ",
            $condition
        )
    };
}

const FIND_BY_ROW: &str = view_query!("p.row_id = $2");
const FIND_BY_ID: &str = view_query!("p.ext_id = $2");
const FIND_BY_EMAIL: &str = view_query!("p.email = $2");
/// Any live link of the partner, not only its default one.
const FIND_BY_KEY: &str = view_query!(
    "p.row_id = (SELECT partner_row_id FROM partner_links \
         WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL)"
);
/// `$2` is the identifier as given, `$3` its lower-case form when it may be an email (NULL
/// otherwise). The id wins over a link key, a key over the email. Three exact lookups (one
/// per unique index) rather than one `OR`, so that the plan never depends on statistics.
const FIND_BY_ANY: &str = view_query!(
    "p.row_id = (SELECT m.row_id FROM ( \
         SELECT row_id, 0 AS rank FROM partners \
             WHERE program_id = $1 AND ext_id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT partner_row_id, 1 FROM partner_links \
             WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL \
         UNION ALL SELECT row_id, 2 FROM partners \
             WHERE program_id = $1 AND email = $3 AND deleted_at IS NULL \
     ) m ORDER BY m.rank LIMIT 1)"
);

/// The same lookups without the customer count (`0`), for attribution on the create paths:
/// counting a partner's customers grows with them.
const ROW_BY_ROW: &str = view_query!("0::bigint", "p.row_id = $2");
const ROW_BY_ID: &str = view_query!("0::bigint", "p.ext_id = $2");
const ROW_BY_EMAIL: &str = view_query!("0::bigint", "p.email = $2");
const ROW_BY_KEY: &str = view_query!(
    "0::bigint",
    "p.row_id = (SELECT partner_row_id FROM partner_links \
         WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL)"
);
const ROW_BY_ANY: &str = view_query!(
    "0::bigint",
    "p.row_id = (SELECT m.row_id FROM ( \
         SELECT row_id, 0 AS rank FROM partners \
             WHERE program_id = $1 AND ext_id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT partner_row_id, 1 FROM partner_links \
             WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL \
         UNION ALL SELECT row_id, 2 FROM partners \
             WHERE program_id = $1 AND email = $3 AND deleted_at IS NULL \
     ) m ORDER BY m.rank LIMIT 1)"
);

/// Partners whose status is one of `$2`, a page of them.
macro_rules! list_query {
    ($order:literal) => {
        concat!(
            "SELECT ",
            partner_columns!(),
            " FROM partners WHERE program_id = $1 AND status = ANY($2::text[]) \
             ORDER BY row_id ",
            $order,
            " LIMIT $3 OFFSET $4"
        )
    };
}
const LIST_ASC: &str = list_query!("ASC");
const LIST_DESC: &str = list_query!("DESC");

/// Live partners matching every given criterion (`$2`..`$5`, NULL when not given) as a
/// case-insensitive substring. `strpos` rather than `ILIKE`, so that `%` and `_` in a
/// search are plain characters. No index serves a substring; the scan is bounded by the
/// program.
macro_rules! search_query {
    ($order:literal) => {
        concat!(
            "SELECT ",
            partner_columns!("p."),
            " FROM partners p WHERE p.program_id = $1 AND p.deleted_at IS NULL \
             AND ($2::text IS NULL OR strpos(lower(p.ext_id), lower($2)) > 0) \
             AND ($3::text IS NULL OR strpos(lower(p.email), lower($3)) > 0) \
             AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM partner_links l \
                 WHERE l.partner_row_id = p.row_id AND l.program_id = p.program_id \
                 AND l.deleted_at IS NULL AND strpos(lower(l.key), lower($4)) > 0)) \
             AND ($5::text IS NULL OR strpos(lower(p.name), lower($5)) > 0 \
                 OR strpos(lower(p.surname), lower($5)) > 0 \
                 OR strpos(lower(concat_ws(' ', p.name, p.surname)), lower($5)) > 0) \
             ORDER BY p.row_id ",
            $order,
            " LIMIT $6 OFFSET $7"
        )
    };
}
const SEARCH_ASC: &str = search_query!("ASC");
const SEARCH_DESC: &str = search_query!("DESC");

/// A `NULL` patch field keeps the column. `$9` (approved) also moves the status: `true`
/// turns a pending partner active, `false` an active one pending; archived stays archived.
const UPDATE_PARTNER: &str = concat!(
    "UPDATE partners SET email = coalesce($3::text, email), name = coalesce($4::text, name), \
     surname = coalesce($5::text, surname), \
     password_hash = coalesce($6::text, password_hash), tags = coalesce($7::jsonb, tags), \
     tos = coalesce($8::boolean, tos), approved = coalesce($9::boolean, approved), \
     status = CASE WHEN $9::boolean AND status = 'pending' THEN 'active' \
                   WHEN NOT $9::boolean AND status = 'active' THEN 'pending' \
                   ELSE status END, \
     updated_at = $10 \
     WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL RETURNING ",
    partner_columns!()
);

/// `key` of a partner patch: the default link takes the new key.
const RENAME_DEFAULT_LINK: &str = "UPDATE partner_links SET key = $3, updated_at = $4 \
     WHERE program_id = $1 AND partner_row_id = $2 AND is_default AND deleted_at IS NULL";

/// Check-and-set in one statement: the status moves only if it is one of `$3`. Moving to
/// `deleted` stamps `deleted_at`, which frees the partner's id and email.
const SET_STATUS: &str = "UPDATE partners SET status = $4::text, updated_at = $5::bigint, \
     deleted_at = CASE WHEN $4::text = 'deleted' THEN $5::bigint ELSE deleted_at END \
     WHERE program_id = $1 AND row_id = $2 AND status = ANY($3::text[])";

/// A deleted partner's links go with it (which frees their keys), in the transaction that
/// deleted it. A separate statement rather than a CTE of [`SET_STATUS`]: it takes a fresh
/// snapshot after the partner row is locked, so it also sees a link whose insert held that
/// row (`links.rs` inserts `FOR SHARE` of the partner) and committed meanwhile.
const DELETE_LINKS: &str = "UPDATE partner_links SET deleted_at = $3, updated_at = $3 \
     WHERE program_id = $1 AND partner_row_id = $2 AND deleted_at IS NULL";

#[async_trait]
impl PartnerStore for PostgresStore {
    async fn insert_partner(&self, new: NewPartner) -> StoreResult<Partner> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let row = sqlx::query(INSERT_PARTNER)
            .bind(new.program_id.0)
            .bind(&new.id)
            .bind(&new.email)
            .bind(&new.name)
            .bind(&new.surname)
            .bind(&new.password_hash)
            .bind(new.tos)
            .bind(new.approved)
            .bind(new.status.as_str())
            .bind(rows::to_json(&new.tags)?)
            .bind(new.referring_partner.map(|p| p.0))
            .bind(new.created_at.as_micros())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let partner = rows::partner(&row, &rows::PARTNER)?;
        sqlx::query(INSERT_DEFAULT_LINK)
            .bind(new.program_id.0)
            .bind(partner.row_id.0)
            .bind(&new.key)
            .bind(new.created_at.as_micros())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.analyzers.partners.inserted(1);
        self.analyzers.partner_links.inserted(1);
        Ok(partner)
    }

    async fn find_partner(
        &self,
        program: ProgramRowId,
        lookup: &PartnerLookup,
    ) -> StoreResult<Option<PartnerView>> {
        let sql = [
            FIND_BY_ROW,
            FIND_BY_ID,
            FIND_BY_KEY,
            FIND_BY_EMAIL,
            FIND_BY_ANY,
        ];
        self.find_with(&sql, program, lookup).await
    }

    async fn find_partner_row(
        &self,
        program: ProgramRowId,
        lookup: &PartnerLookup,
    ) -> StoreResult<Option<Partner>> {
        let sql = [ROW_BY_ROW, ROW_BY_ID, ROW_BY_KEY, ROW_BY_EMAIL, ROW_BY_ANY];
        let view = self.find_with(&sql, program, lookup).await?;
        Ok(view.map(|v| v.partner))
    }

    async fn list_partners(
        &self,
        program: ProgramRowId,
        filter: &PartnerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<Partner>> {
        let sql = match page.sort {
            SortOrder::Asc => LIST_ASC,
            SortOrder::Desc => LIST_DESC,
        };
        let statuses: Vec<&str> = match filter.status {
            Some(status) => vec![status.as_str()],
            None => vec![
                PartnerStatus::Active.as_str(),
                PartnerStatus::Pending.as_str(),
            ],
        };
        let found = sqlx::query(sql)
            .bind(program.0)
            .bind(statuses)
            .bind(i64::from(page.fetch_limit()))
            .bind(to_bigint(page.offset()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows::partners(&found)
    }

    async fn search_partners(
        &self,
        program: ProgramRowId,
        search: &PartnerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<Partner>> {
        let sql = match page.sort {
            SortOrder::Asc => SEARCH_ASC,
            SortOrder::Desc => SEARCH_DESC,
        };
        let found = sqlx::query(sql)
            .bind(program.0)
            .bind(&search.id)
            .bind(&search.email)
            .bind(&search.key)
            .bind(&search.name)
            .bind(i64::from(page.fetch_limit()))
            .bind(to_bigint(page.offset()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows::partners(&found)
    }

    async fn update_partner(
        &self,
        program: ProgramRowId,
        partner: PartnerRowId,
        patch: &PartnerPatch,
        now: Timestamp,
    ) -> StoreResult<Partner> {
        let tags = patch.tags.as_ref().map(rows::to_json).transpose()?;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // The partner row first: it is locked until commit, so a concurrent delete cannot
        // slip between the two statements, and a missing partner is known before the link.
        let updated = sqlx::query(UPDATE_PARTNER)
            .bind(program.0)
            .bind(partner.0)
            .bind(&patch.email)
            .bind(&patch.name)
            .bind(&patch.surname)
            .bind(&patch.password_hash)
            .bind(tags)
            .bind(patch.tos)
            .bind(patch.approved)
            .bind(now.as_micros())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        let Some(row) = updated else {
            return Err(StoreError::NotFound);
        };
        if let Some(key) = &patch.key {
            sqlx::query(RENAME_DEFAULT_LINK)
                .bind(program.0)
                .bind(partner.0)
                .bind(key)
                .bind(now.as_micros())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        rows::partner(&row, &rows::PARTNER)
    }

    async fn set_partner_status(
        &self,
        program: ProgramRowId,
        partner: PartnerRowId,
        from: &[PartnerStatus],
        to: PartnerStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let set_status = sqlx::query(SET_STATUS)
            .bind(program.0)
            .bind(partner.0)
            .bind(from)
            .bind(to.as_str())
            .bind(now.as_micros());
        if to != PartnerStatus::Deleted {
            let done = set_status.execute(&self.pool).await.map_err(db_error)?;
            return Ok(done.rows_affected() == 1);
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = set_status.execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(DELETE_LINKS)
            .bind(program.0)
            .bind(partner.0)
            .bind(now.as_micros())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn insert_partner_link(&self, new: NewPartnerLink) -> StoreResult<PartnerLink> {
        let link = links::insert(&self.pool, new).await?;
        self.analyzers.partner_links.inserted(1);
        Ok(link)
    }

    async fn find_partner_link(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<PartnerLink>> {
        links::find(&self.pool, program, key).await
    }

    async fn search_partner_links(
        &self,
        program: ProgramRowId,
        search: &PartnerLinkSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<PartnerLink>> {
        links::search(&self.pool, program, search, page).await
    }

    async fn rename_partner_link(
        &self,
        program: ProgramRowId,
        link: LinkRowId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<PartnerLink> {
        links::rename(&self.pool, program, link, key, now).await
    }

    async fn delete_partner_link(
        &self,
        program: ProgramRowId,
        link: LinkRowId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        links::delete(&self.pool, program, link, now).await
    }
}

impl PostgresStore {
    /// Runs the lookup's statement of `sql` (by row, id, key, email, any identifier).
    async fn find_with(
        &self,
        sql: &[&'static str; 5],
        program: ProgramRowId,
        lookup: &PartnerLookup,
    ) -> StoreResult<Option<PartnerView>> {
        let query = match lookup {
            PartnerLookup::Row(row) => sqlx::query(sql[0]).bind(program.0).bind(row.0),
            PartnerLookup::Id(id) => sqlx::query(sql[1]).bind(program.0).bind(id),
            PartnerLookup::Key(key) => sqlx::query(sql[2]).bind(program.0).bind(key),
            // Emails are stored in lower case by the service, which lower-cases this too.
            PartnerLookup::Email(email) => sqlx::query(sql[3]).bind(program.0).bind(email),
            PartnerLookup::AnyIdentifier(ident) => sqlx::query(sql[4])
                .bind(program.0)
                .bind(ident)
                .bind(ident.contains('@').then(|| ident.to_lowercase())),
        };
        let found = query.fetch_optional(&self.pool).await.map_err(db_error)?;
        found.as_ref().map(partner_view).transpose()
    }
}

/// A [`view_query!`] row.
fn partner_view(row: &PgRow) -> StoreResult<PartnerView> {
    let default_key: Option<String> = row.try_get("default_key").map_err(db_error)?;
    Ok(PartnerView {
        partner: rows::partner(row, &rows::PARTNER)?,
        // Every partner is inserted with its default link; a missing one is a broken row.
        default_key: default_key
            .ok_or_else(|| StoreError::Backend("partner without a default link".into()))?,
        link_keys: row.try_get("link_keys").map_err(db_error)?,
        referrals_count: rows::count(row, "referrals_count")?,
        referring_partner: rows::referring_partner(row)?,
    })
}
