//! [`CustomerStore`] for [`PostgresStore`]: lookups, lists, search, updates and status
//! changes. Inserts go through the group-commit [`crate::writer`].
//!
//! Every query is scoped by `program_id`; "live" means `deleted_at IS NULL`.

use async_trait::async_trait;
use referd_core::customer::{
    Customer, CustomerFilter, CustomerLookup, CustomerPatch, CustomerRowId, CustomerSearch,
    CustomerStatus, CustomerView, NewCustomer, ReferStatus,
};
use referd_core::page::{PageRequest, SortOrder};
use referd_core::program::ProgramRowId;
use referd_core::store::CustomerStore;
use referd_core::time::Timestamp;
use referd_core::{StoreError, StoreResult};
use sqlx::postgres::PgRow;

use crate::rows::{self, customer_columns};
use crate::{PostgresStore, db_error, to_bigint};

/// A live customer (`c`) with its live referral count, and its referrer (`p_*`, possibly a
/// deleted tombstone) with the referrer's own live referral count. The caller appends the
/// lookup condition.
macro_rules! view_query {
    ($condition:literal) => {
        concat!(
            "SELECT c.row_id, c.program_id, c.ext_id, c.key, c.email, c.name, c.surname, \
             c.date_of_birth, c.referrer_row_id, c.status, c.created_at, c.updated_at, \
             (SELECT count(*) FROM customers k WHERE k.referrer_row_id = c.row_id \
                 AND k.program_id = c.program_id AND k.deleted_at IS NULL) AS referrals_count, \
             p.row_id AS p_row_id, p.program_id AS p_program_id, p.ext_id AS p_ext_id, \
             p.key AS p_key, p.email AS p_email, p.name AS p_name, p.surname AS p_surname, \
             p.date_of_birth AS p_date_of_birth, p.referrer_row_id AS p_referrer_row_id, \
             p.status AS p_status, p.created_at AS p_created_at, p.updated_at AS p_updated_at, \
             (SELECT count(*) FROM customers k WHERE k.referrer_row_id = p.row_id \
                 AND k.program_id = p.program_id AND k.deleted_at IS NULL) AS p_referrals_count \
             FROM customers c \
             LEFT JOIN customers p ON p.row_id = c.referrer_row_id AND p.program_id = c.program_id \
             WHERE c.program_id = $1 AND c.deleted_at IS NULL AND ",
            $condition
        )
    };
}

const FIND_BY_ROW: &str = view_query!("c.row_id = $2");
const FIND_BY_ID: &str = view_query!("c.ext_id = $2");
const FIND_BY_KEY: &str = view_query!("c.key = $2");
const FIND_BY_EMAIL: &str = view_query!("c.email = $2");
/// `$2` is the identifier as given, `$3` its lower-case form (emails are stored lower-case).
/// The id wins over the key, the key over the email. Written as three exact lookups (one per
/// unique index) rather than one `OR`, so that the plan never depends on table statistics:
/// with none (a fresh table, autovacuum off), an `OR` may be planned as a scan of the program.
const FIND_BY_ANY: &str = view_query!(
    "c.row_id = (SELECT m.row_id FROM ( \
         SELECT row_id, 0 AS rank FROM customers \
             WHERE program_id = $1 AND ext_id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT row_id, 1 FROM customers \
             WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL \
         UNION ALL SELECT row_id, 2 FROM customers \
             WHERE program_id = $1 AND email = $3 AND deleted_at IS NULL \
     ) m ORDER BY m.rank LIMIT 1)"
);

/// Active customers; `$2` filters on being referred (0: all, 1: referred, 2: not referred).
macro_rules! list_query {
    ($order:literal) => {
        concat!(
            "SELECT ",
            customer_columns!(),
            " FROM customers WHERE program_id = $1 AND status = 'active' \
             AND ($2::int = 0 OR ($2 = 1 AND referrer_row_id IS NOT NULL) \
                  OR ($2 = 2 AND referrer_row_id IS NULL)) \
             ORDER BY row_id ",
            $order,
            " LIMIT $3 OFFSET $4"
        )
    };
}
const LIST_ASC: &str = list_query!("ASC");
const LIST_DESC: &str = list_query!("DESC");

/// Live customers matching every criterion. Each of id, key and email is unique among live
/// customers, so the first given one is looked up by its unique index (`$2`, a plain
/// equality whatever the plan), and the others (`$3`, `$4`, NULL when not given) filter that
/// row. `$5` and `$6` are the limit and offset.
macro_rules! search_query {
    ($lookup:literal, $others:literal, $order:literal) => {
        concat!(
            "SELECT ",
            customer_columns!(),
            " FROM customers WHERE program_id = $1 AND deleted_at IS NULL AND ",
            $lookup,
            " AND ",
            $others,
            " ORDER BY row_id ",
            $order,
            " LIMIT $5 OFFSET $6"
        )
    };
}
const SEARCH_BY_ID: [&str; 2] = [
    search_query!(
        "ext_id = $2",
        "($3::text IS NULL OR key = $3) AND ($4::text IS NULL OR email = $4)",
        "ASC"
    ),
    search_query!(
        "ext_id = $2",
        "($3::text IS NULL OR key = $3) AND ($4::text IS NULL OR email = $4)",
        "DESC"
    ),
];
const SEARCH_BY_KEY: [&str; 2] = [
    search_query!(
        "key = $2",
        "$3::text IS NULL AND ($4::text IS NULL OR email = $4)",
        "ASC"
    ),
    search_query!(
        "key = $2",
        "$3::text IS NULL AND ($4::text IS NULL OR email = $4)",
        "DESC"
    ),
];
const SEARCH_BY_EMAIL: [&str; 2] = [
    search_query!("email = $2", "$3::text IS NULL AND $4::text IS NULL", "ASC"),
    search_query!(
        "email = $2",
        "$3::text IS NULL AND $4::text IS NULL",
        "DESC"
    ),
];
/// No criterion: every live customer.
const SEARCH_ALL: [&str; 2] = [
    search_query!(
        "$2::text IS NULL",
        "$3::text IS NULL AND $4::text IS NULL",
        "ASC"
    ),
    search_query!(
        "$2::text IS NULL",
        "$3::text IS NULL AND $4::text IS NULL",
        "DESC"
    ),
];

const LIST_REFERRALS: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers WHERE program_id = $1 AND referrer_row_id = $2 AND deleted_at IS NULL \
     ORDER BY row_id"
);

/// A `NULL` patch field leaves the column as it is.
const UPDATE_CUSTOMER: &str = concat!(
    "UPDATE customers SET key = COALESCE($3::text, key), email = COALESCE($4::text, email), \
     name = COALESCE($5::text, name), surname = COALESCE($6::text, surname), \
     date_of_birth = COALESCE($7::text, date_of_birth), updated_at = $8 \
     WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL RETURNING ",
    customer_columns!()
);

/// Deleting stamps `deleted_at`, which frees the customer's id, key and email.
const SET_STATUS: &str = "UPDATE customers SET status = $4::text, updated_at = $5::bigint, \
     deleted_at = CASE WHEN $4::text = 'deleted' THEN $5::bigint ELSE deleted_at END \
     WHERE program_id = $1 AND row_id = $2 AND status = ANY($3::text[])";

#[async_trait]
impl CustomerStore for PostgresStore {
    async fn insert_customer(&self, new: NewCustomer) -> StoreResult<Customer> {
        self.writer.insert(new).await
    }

    async fn find_customer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<CustomerView>> {
        let query = match lookup {
            CustomerLookup::Row(row) => sqlx::query(FIND_BY_ROW).bind(program.0).bind(row.0),
            CustomerLookup::Id(id) => sqlx::query(FIND_BY_ID).bind(program.0).bind(id),
            CustomerLookup::Key(key) => sqlx::query(FIND_BY_KEY).bind(program.0).bind(key),
            CustomerLookup::Email(email) => sqlx::query(FIND_BY_EMAIL).bind(program.0).bind(email),
            CustomerLookup::AnyIdentifier(ident) => sqlx::query(FIND_BY_ANY)
                .bind(program.0)
                .bind(ident)
                .bind(ident.to_lowercase()),
        };
        let found = query.fetch_optional(&self.pool).await.map_err(db_error)?;
        found.as_ref().map(customer_view).transpose()
    }

    async fn list_customers(
        &self,
        program: ProgramRowId,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<Customer>> {
        let sql = match page.sort {
            SortOrder::Asc => LIST_ASC,
            SortOrder::Desc => LIST_DESC,
        };
        let refer_status: i32 = match filter.refer_status {
            None => 0,
            Some(ReferStatus::Referred) => 1,
            Some(ReferStatus::NonReferred) => 2,
        };
        let found = sqlx::query(sql)
            .bind(program.0)
            .bind(refer_status)
            .bind(i64::from(page.fetch_limit()))
            .bind(to_bigint(page.offset()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows::customers(&found)
    }

    async fn search_customers(
        &self,
        program: ProgramRowId,
        search: &CustomerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<Customer>> {
        // The first given criterion is the lookup (`$2`); the key (`$3`) and email (`$4`)
        // filter it when they are not the lookup themselves.
        let (variants, lookup, key, email) = match (&search.id, &search.key, &search.email) {
            (Some(id), key, email) => (SEARCH_BY_ID, Some(id), key.as_ref(), email.as_ref()),
            (None, Some(key), email) => (SEARCH_BY_KEY, Some(key), None, email.as_ref()),
            (None, None, Some(email)) => (SEARCH_BY_EMAIL, Some(email), None, None),
            (None, None, None) => (SEARCH_ALL, None, None, None),
        };
        let sql = match page.sort {
            SortOrder::Asc => variants[0],
            SortOrder::Desc => variants[1],
        };
        let found = sqlx::query(sql)
            .bind(program.0)
            .bind(lookup)
            .bind(key)
            .bind(email)
            .bind(i64::from(page.fetch_limit()))
            .bind(to_bigint(page.offset()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows::customers(&found)
    }

    async fn list_referrals(
        &self,
        program: ProgramRowId,
        referrer: CustomerRowId,
    ) -> StoreResult<Vec<Customer>> {
        let found = sqlx::query(LIST_REFERRALS)
            .bind(program.0)
            .bind(referrer.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows::customers(&found)
    }

    async fn update_customer(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        patch: &CustomerPatch,
        now: Timestamp,
    ) -> StoreResult<Customer> {
        let updated = sqlx::query(UPDATE_CUSTOMER)
            .bind(program.0)
            .bind(customer.0)
            .bind(&patch.key)
            .bind(&patch.email)
            .bind(&patch.name)
            .bind(&patch.surname)
            .bind(&patch.date_of_birth)
            .bind(now.as_micros())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        match updated {
            Some(row) => rows::customer(&row, &rows::PLAIN),
            None => Err(StoreError::NotFound),
        }
    }

    async fn set_customer_status(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        from: &[CustomerStatus],
        to: CustomerStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let done = sqlx::query(SET_STATUS)
            .bind(program.0)
            .bind(customer.0)
            .bind(from)
            .bind(to.as_str())
            .bind(now.as_micros())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }
}

/// A [`view_query!`] row.
fn customer_view(row: &PgRow) -> StoreResult<CustomerView> {
    Ok(CustomerView {
        customer: rows::customer(row, &rows::PLAIN)?,
        referrals_count: rows::count(row, "referrals_count")?,
        referrer: rows::referrer(row)?,
    })
}
