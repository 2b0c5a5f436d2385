//! [`AffiliateCustomerStore`] for [`PostgresStore`]: customers of affiliate programs, the rows
//! of `customers` with a partner (`partner_row_id`) instead of a referrer, `key` as their only
//! identifier and a JSONB `tags` array. Status changes go through the shared
//! `set_customer_status` in `customers.rs`, which touches no column of either flavour.
//!
//! Every answer carries `partner_key`, the current key of the partner's default link: joined
//! as `dl` whatever its `deleted_at`, since a deleted partner's customers keep pointing at it.
//! Every query is scoped by `program_id`; "live" means `deleted_at IS NULL`.
//!
//! Inserts go through their own group-commit [`crate::writer`] ([`Affiliate`] is its kind):
//! one commit per request capped creates at a few thousand a second.

use async_trait::async_trait;
use referd_core::affiliate::{
    AffiliateBuyer, AffiliateCustomer, AffiliateCustomerFilter, AffiliateCustomerPatch,
    NewAffiliateCustomer, SalePartner,
};
use referd_core::customer::{CustomerLookup, CustomerRowId, CustomerSearch};
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::PartnerRowId;
use referd_core::program::ProgramRowId;
use referd_core::store::{AffiliateCustomerStore, UniqueField};
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::rows::{self, affiliate_customer_columns};
use crate::writer::{ConflictQuery, Kind, Query};
use crate::{PostgresStore, db_error, to_bigint};

/// The join that gives an affiliate customer row `c` its `partner_key`.
macro_rules! with_partner_key {
    () => {
        " JOIN partner_links dl ON dl.partner_row_id = c.partner_row_id AND dl.is_default "
    };
}

/// One statement: the insert, then its row joined with the partner's default link. The
/// `SELECT … FROM partners` scopes the partner by program (the foreign key alone would accept
/// another program's partner): no row back means the partner is not one of the program's.
const INSERT_CUSTOMER: &str = concat!(
    "WITH c AS (INSERT INTO customers (program_id, key, email, name, surname, tags, \
         partner_row_id, link_row_id, created_at, updated_at) \
         SELECT program_id, $2, $3, $4, $5, $6::jsonb, row_id, $8, $9, $9 FROM partners \
         WHERE program_id = $1 AND row_id = $7 \
         RETURNING *) \
     SELECT ",
    affiliate_customer_columns!(),
    " FROM c",
    with_partner_key!()
);

/// The batch of [`INSERT_CUSTOMER`]: one array per column, one element per job. The join
/// scopes each partner by program as above, dropping the rows whose partner is not; `ORDER BY`
/// keeps queue order through the join, so the first of two colliding jobs wins.
const INSERT_BATCH: &str = concat!(
    "WITH c AS (INSERT INTO customers (program_id, key, email, name, surname, tags, \
         partner_row_id, link_row_id, created_at, updated_at) \
         SELECT p.program_id, j.key, j.email, j.name, j.surname, j.tags::jsonb, p.row_id, \
             j.link, j.created, j.created \
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::bigint[], $8::bigint[], $9::bigint[]) \
             WITH ORDINALITY AS j (program_id, key, email, name, surname, tags, partner, link, \
                 created, n) \
         JOIN partners p ON p.program_id = j.program_id AND p.row_id = j.partner \
         ORDER BY j.n \
         ON CONFLICT DO NOTHING \
         RETURNING *) \
     SELECT ",
    affiliate_customer_columns!(),
    " FROM c",
    with_partner_key!()
);

/// Why a batch skipped a job, in the order a single insert finds out: its partner is not one
/// of the program's (0), else the live customer sharing its key (1), else its email (2). Exact
/// lookups, one per index, so the plan never depends on statistics.
const LOST_TO: &str = "SELECT f.code FROM ( \
         SELECT 0 AS code WHERE NOT EXISTS ( \
             SELECT 1 FROM partners WHERE program_id = $1 AND row_id = $2) \
         UNION ALL SELECT 1 FROM customers \
             WHERE program_id = $1 AND key = $3 AND deleted_at IS NULL \
         UNION ALL SELECT 2 FROM customers \
             WHERE program_id = $1 AND email = $4 AND deleted_at IS NULL \
     ) f ORDER BY f.code LIMIT 1";

/// A live affiliate customer; the caller appends the lookup condition.
macro_rules! find_query {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            affiliate_customer_columns!(),
            " FROM customers c",
            with_partner_key!(),
            "WHERE c.program_id = $1 AND c.partner_row_id IS NOT NULL \
             AND c.deleted_at IS NULL AND ",
            $condition
        )
    };
}
/// A live affiliate customer as a sale's buyer, with its partner's facts; the caller appends
/// the lookup condition.
macro_rules! buyer_query {
    ($condition:literal) => {
        concat!(
            "SELECT c.row_id, c.created_at, c.partner_row_id, p.ext_id AS partner_id, \
                 p.referring_partner_row_id, p.deleted_at IS NULL AS partner_live \
             FROM customers c JOIN partners p ON p.row_id = c.partner_row_id \
             WHERE c.program_id = $1 AND c.partner_row_id IS NOT NULL \
                 AND c.deleted_at IS NULL AND ",
            $condition
        )
    };
}
const BUYER_BY_ROW: &str = buyer_query!("c.row_id = $2");
const BUYER_BY_KEY: &str = buyer_query!("c.key = $2");
const BUYER_BY_EMAIL: &str = buyer_query!("c.email = $2");

fn buyer(row: &PgRow) -> StoreResult<AffiliateBuyer> {
    let get = |e: sqlx::Error| db_error(e);
    let partner = PartnerRowId(row.try_get("partner_row_id").map_err(get)?);
    let live: bool = row.try_get("partner_live").map_err(get)?;
    Ok(AffiliateBuyer {
        customer: CustomerRowId(row.try_get("row_id").map_err(get)?),
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(get)?),
        partner,
        live_partner: if live {
            Some(SalePartner {
                row_id: partner,
                id: row.try_get("partner_id").map_err(get)?,
                referring_partner: row
                    .try_get::<Option<i64>, _>("referring_partner_row_id")
                    .map_err(get)?
                    .map(PartnerRowId),
            })
        } else {
            None
        },
    })
}

const FIND_BY_ROW: &str = find_query!("c.row_id = $2");
const FIND_BY_KEY: &str = find_query!("c.key = $2");
const FIND_BY_EMAIL: &str = find_query!("c.email = $2");
/// `$2` as given, `$3` its lower-case form when it may be an email (NULL otherwise); the key
/// wins. Two exact lookups (one per unique index) rather than one `OR`, so that the plan never
/// depends on table statistics.
const FIND_BY_ANY: &str = find_query!(
    "c.row_id = (SELECT m.row_id FROM ( \
         SELECT row_id, 0 AS rank FROM customers \
             WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL \
         UNION ALL SELECT row_id, 1 FROM customers \
             WHERE program_id = $1 AND email = $3 AND deleted_at IS NULL \
     ) m ORDER BY m.rank LIMIT 1)"
);

/// Active customers, of the partner `$2` or of all; one page.
macro_rules! list_query {
    ($partner:literal, $order:literal) => {
        concat!(
            "SELECT ",
            affiliate_customer_columns!(),
            " FROM customers c",
            with_partner_key!(),
            "WHERE c.program_id = $1 AND c.status = 'active' AND ",
            $partner,
            " ORDER BY c.row_id ",
            $order,
            " LIMIT $3 OFFSET $4"
        )
    };
}
const LIST_ALL: [&str; 2] = [
    list_query!("$2::bigint IS NULL AND c.partner_row_id IS NOT NULL", "ASC"),
    list_query!(
        "$2::bigint IS NULL AND c.partner_row_id IS NOT NULL",
        "DESC"
    ),
];
const LIST_BY_PARTNER: [&str; 2] = [
    list_query!("c.partner_row_id = $2", "ASC"),
    list_query!("c.partner_row_id = $2", "DESC"),
];

/// Live customers matching every criterion exactly. Key and email are unique among live
/// customers, so a given key is looked up by its index (`$2`) and an email (`$3`) filters it;
/// else the email is the lookup. `$4`, `$5`: limit and offset.
macro_rules! search_query {
    ($condition:literal, $order:literal) => {
        concat!(
            "SELECT ",
            affiliate_customer_columns!(),
            " FROM customers c",
            with_partner_key!(),
            "WHERE c.program_id = $1 AND c.partner_row_id IS NOT NULL \
             AND c.deleted_at IS NULL AND ",
            $condition,
            " ORDER BY c.row_id ",
            $order,
            " LIMIT $4 OFFSET $5"
        )
    };
}
const SEARCH_BY_KEY: [&str; 2] = [
    search_query!("c.key = $2 AND ($3::text IS NULL OR c.email = $3)", "ASC"),
    search_query!("c.key = $2 AND ($3::text IS NULL OR c.email = $3)", "DESC"),
];
const SEARCH_BY_EMAIL: [&str; 2] = [
    search_query!("$2::text IS NULL AND c.email = $3", "ASC"),
    search_query!("$2::text IS NULL AND c.email = $3", "DESC"),
];
const SEARCH_ALL: [&str; 2] = [
    search_query!("$2::text IS NULL AND $3::text IS NULL", "ASC"),
    search_query!("$2::text IS NULL AND $3::text IS NULL", "DESC"),
];

/// A `NULL` patch field keeps the column; given tags replace the stored ones.
const UPDATE_CUSTOMER: &str = concat!(
    "WITH c AS (UPDATE customers SET key = coalesce($3::text, key), \
         email = coalesce($4::text, email), name = coalesce($5::text, name), \
         surname = coalesce($6::text, surname), tags = coalesce($7::jsonb, tags), \
         updated_at = $8 \
         WHERE program_id = $1 AND row_id = $2 AND partner_row_id IS NOT NULL \
             AND deleted_at IS NULL \
         RETURNING *) \
     SELECT ",
    affiliate_customer_columns!(),
    " FROM c",
    with_partner_key!()
);

#[async_trait]
impl AffiliateCustomerStore for PostgresStore {
    async fn insert_affiliate_customer(
        &self,
        new: NewAffiliateCustomer,
    ) -> StoreResult<AffiliateCustomer> {
        let tags = rows::to_json(&new.tags)?;
        // Through the group-commit writer, which also counts the row for the statistics.
        self.affiliate_writer.insert(Queued { new, tags }).await
    }

    async fn find_affiliate_buyer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<AffiliateBuyer>> {
        let (sql, value) = match lookup {
            CustomerLookup::Row(row) => {
                let found = sqlx::query(BUYER_BY_ROW)
                    .bind(program.0)
                    .bind(row.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                return found.as_ref().map(buyer).transpose();
            }
            CustomerLookup::Id(key) | CustomerLookup::Key(key) => (BUYER_BY_KEY, key.clone()),
            CustomerLookup::Email(email) => (BUYER_BY_EMAIL, email.clone()),
            // The key, else the email: two exact lookups, each on its unique index.
            CustomerLookup::AnyIdentifier(ident) => {
                let by_key = self
                    .find_affiliate_buyer(program, &CustomerLookup::Key(ident.clone()))
                    .await?;
                if by_key.is_some() || !ident.contains('@') {
                    return Ok(by_key);
                }
                (BUYER_BY_EMAIL, ident.to_lowercase())
            }
        };
        let found = sqlx::query(sql)
            .bind(program.0)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        found.as_ref().map(buyer).transpose()
    }

    async fn find_affiliate_customer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<AffiliateCustomer>> {
        let query = match lookup {
            CustomerLookup::Row(row) => sqlx::query(FIND_BY_ROW).bind(program.0).bind(row.0),
            // An affiliate customer's key is its only identifier, its `id` on the wire.
            CustomerLookup::Id(key) | CustomerLookup::Key(key) => {
                sqlx::query(FIND_BY_KEY).bind(program.0).bind(key)
            }
            CustomerLookup::Email(email) => sqlx::query(FIND_BY_EMAIL).bind(program.0).bind(email),
            CustomerLookup::AnyIdentifier(ident) => sqlx::query(FIND_BY_ANY)
                .bind(program.0)
                .bind(ident)
                .bind(ident.contains('@').then(|| ident.to_lowercase())),
        };
        let found = query.fetch_optional(&self.pool).await.map_err(db_error)?;
        found.as_ref().map(rows::affiliate_customer).transpose()
    }

    async fn list_affiliate_customers(
        &self,
        program: ProgramRowId,
        filter: &AffiliateCustomerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<AffiliateCustomer>> {
        let variants = match filter.partner {
            Some(_) => LIST_BY_PARTNER,
            None => LIST_ALL,
        };
        let sql = match page.sort {
            SortOrder::Asc => variants[0],
            SortOrder::Desc => variants[1],
        };
        let found = sqlx::query(sql)
            .bind(program.0)
            .bind(filter.partner.map(|p| p.0))
            .bind(i64::from(page.fetch_limit()))
            .bind(to_bigint(page.offset()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows::affiliate_customers(&found)
    }

    async fn search_affiliate_customers(
        &self,
        program: ProgramRowId,
        search: &CustomerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<AffiliateCustomer>> {
        // `id` and `key` both name the key column: two different values match nothing.
        let key = match (&search.id, &search.key) {
            (Some(id), Some(key)) if id != key => return Ok(Vec::new()),
            (id, key) => id.as_ref().or(key.as_ref()),
        };
        let variants = match (key, &search.email) {
            (Some(_), _) => SEARCH_BY_KEY,
            (None, Some(_)) => SEARCH_BY_EMAIL,
            (None, None) => SEARCH_ALL,
        };
        let sql = match page.sort {
            SortOrder::Asc => variants[0],
            SortOrder::Desc => variants[1],
        };
        let found = sqlx::query(sql)
            .bind(program.0)
            .bind(key)
            .bind(&search.email)
            .bind(i64::from(page.fetch_limit()))
            .bind(to_bigint(page.offset()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows::affiliate_customers(&found)
    }

    async fn update_affiliate_customer(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        patch: &AffiliateCustomerPatch,
        now: Timestamp,
    ) -> StoreResult<AffiliateCustomer> {
        let tags = patch.tags.as_ref().map(rows::to_json).transpose()?;
        let updated = sqlx::query(UPDATE_CUSTOMER)
            .bind(program.0)
            .bind(customer.0)
            .bind(&patch.key)
            .bind(&patch.email)
            .bind(&patch.name)
            .bind(&patch.surname)
            .bind(tags)
            .bind(now.as_micros())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        match updated {
            Some(row) => rows::affiliate_customer(&row),
            None => Err(StoreError::NotFound),
        }
    }
}

/// An affiliate customer as its writer queues it: its tags already JSON, so that building a
/// statement cannot fail.
pub(crate) struct Queued {
    new: NewAffiliateCustomer,
    tags: String,
}

/// Affiliate customers (`insert_affiliate_customer`) for the group-commit [`crate::writer`].
pub(crate) struct Affiliate;

impl Kind for Affiliate {
    type New = Queued;
    type Row = AffiliateCustomer;
    /// The partner too: a job whose partner is not of the program is skipped while a later
    /// one with the same key and email but a right partner is inserted.
    type Identity = (i64, i64, String, Option<String>);
    const NAME: &'static str = "affiliate";

    fn insert_one(queued: &Queued) -> Query {
        let new = &queued.new;
        sqlx::query(INSERT_CUSTOMER)
            .bind(new.program_id.0)
            .bind(&new.key)
            .bind(&new.email)
            .bind(&new.name)
            .bind(&new.surname)
            .bind(&queued.tags)
            .bind(new.partner.0)
            .bind(new.link.map(|l| l.0))
            .bind(new.created_at.as_micros())
    }

    fn insert_batch<'a>(queued: impl ExactSizeIterator<Item = &'a Queued>) -> Query {
        let n = queued.len();
        let mut program_ids = Vec::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        let mut emails = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        let mut surnames = Vec::with_capacity(n);
        let mut tags = Vec::with_capacity(n);
        let mut partners = Vec::with_capacity(n);
        let mut links = Vec::with_capacity(n);
        let mut created = Vec::with_capacity(n);
        for Queued { new, tags: json } in queued {
            program_ids.push(new.program_id.0);
            keys.push(new.key.as_str());
            emails.push(new.email.as_deref());
            names.push(new.name.as_deref());
            surnames.push(new.surname.as_deref());
            tags.push(json.as_str());
            partners.push(new.partner.0);
            links.push(new.link.map(|l| l.0));
            created.push(new.created_at.as_micros());
        }
        sqlx::query(INSERT_BATCH)
            .bind(program_ids)
            .bind(keys)
            .bind(emails)
            .bind(names)
            .bind(surnames)
            .bind(tags)
            .bind(partners)
            .bind(links)
            .bind(created)
    }

    fn conflict(queued: &Queued) -> ConflictQuery<'_> {
        let new = &queued.new;
        sqlx::query_scalar(LOST_TO)
            .bind(new.program_id.0)
            .bind(new.partner.0)
            .bind(&new.key)
            .bind(&new.email)
    }

    fn lost_to(code: i32) -> StoreError {
        match code {
            0 => StoreError::NotFound,
            1 => StoreError::Conflict(UniqueField::CustomerKey),
            _ => StoreError::Conflict(UniqueField::CustomerEmail),
        }
    }

    fn decode(row: &PgRow) -> StoreResult<AffiliateCustomer> {
        rows::affiliate_customer(row)
    }

    fn identity_of_new(queued: &Queued) -> Self::Identity {
        let new = &queued.new;
        (
            new.program_id.0,
            new.partner.0,
            new.key.clone(),
            new.email.clone(),
        )
    }

    fn identity_of_row(c: &AffiliateCustomer) -> Self::Identity {
        (c.program_id.0, c.partner.0, c.key.clone(), c.email.clone())
    }
}
