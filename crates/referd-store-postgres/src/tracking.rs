//! Tracking on PostgreSQL ([`TrackingStore`]): resolving referral keys, storing click
//! batches (one `INSERT … SELECT FROM UNNEST(…)` per batch: one statement and one commit for
//! thousands of clicks), the counts behind stats, and extra customer links.
//!
//! An extra link's key must not be a customer's key. The check and the insert run in one
//! transaction under a per-program advisory lock, so two link writes cannot race each other;
//! a customer created at the same instant with the same key is not covered (lookups prefer
//! the customer's key; `docs/tracking.md`).

use async_trait::async_trait;
use referd_core::customer::CustomerRowId;
use referd_core::customer_link::{CustomerLink, CustomerLinkRowId, NewCustomerLink};
use referd_core::ids::ProgramType;
use referd_core::partner::{LinkRowId, PartnerRowId};
use referd_core::program::ProgramRowId;
use referd_core::store::{StoreError, StoreResult, UniqueField};
use referd_core::time::Timestamp;
use referd_core::tracking::{LinkTarget, NewClick, TrackingCounts, TrackingScope, TrackingStore};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::{PostgresStore, db_error};

macro_rules! link_columns {
    () => {
        "row_id, program_id, customer_row_id, key, created_at, updated_at"
    };
}

/// The advisory lock class of customer link keys (with the program id as the second key).
const LINK_KEY_LOCK: i32 = 0x7266_6c6b;

fn customer_link(row: &PgRow) -> StoreResult<CustomerLink> {
    let get = |c: &str| row.try_get::<i64, _>(c).map_err(db_error);
    Ok(CustomerLink {
        row_id: CustomerLinkRowId(get("row_id")?),
        program_id: ProgramRowId(get("program_id")?),
        customer: CustomerRowId(get("customer_row_id")?),
        key: row.try_get("key").map_err(db_error)?,
        created_at: Timestamp::from_micros(get("created_at")?),
        updated_at: Timestamp::from_micros(get("updated_at")?),
    })
}

/// Locks the program's link keys and checks `key` is no live customer's, inside `tx`.
async fn claim_key(
    tx: &mut sqlx::PgConnection,
    program: ProgramRowId,
    key: &str,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2::int)")
        .bind(LINK_KEY_LOCK)
        .bind(i32::try_from(program.0 % i64::from(i32::MAX)).unwrap_or(0))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM customers \
         WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL)",
    )
    .bind(program.0)
    .bind(key)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    if taken {
        return Err(StoreError::Conflict(UniqueField::LinkKey));
    }
    Ok(())
}

/// The `WHERE` conditions of a scope on `clicks` and on `customers` (sign-ups), `$2` being
/// the scope's row.
fn scope_conditions(scope: TrackingScope) -> (&'static str, &'static str, i64) {
    match scope {
        TrackingScope::Program => (
            "$2::bigint IS NOT NULL",
            "(partner_row_id IS NOT NULL OR referrer_row_id IS NOT NULL) AND $2::bigint IS NOT NULL",
            0,
        ),
        TrackingScope::Partner(p) => ("partner_row_id = $2", "partner_row_id = $2", p.0),
        // A partner's default link also has the sign-ups credited to the partner without a
        // link (an API create without `options.referral_url`).
        TrackingScope::PartnerLink(l) => (
            "partner_link_row_id = $2 AND partner_row_id = \
             (SELECT partner_row_id FROM partner_links WHERE row_id = $2)",
            "(link_row_id = $2 OR (link_row_id IS NULL AND partner_row_id = \
             (SELECT partner_row_id FROM partner_links WHERE row_id = $2 AND is_default)))",
            l.0,
        ),
        TrackingScope::Customer(c) => ("customer_row_id = $2", "referrer_row_id = $2", c.0),
        TrackingScope::CustomerLink(c, None) => (
            "customer_row_id = $2 AND customer_link_row_id IS NULL",
            "referrer_row_id = $2 AND ref_link_row_id IS NULL",
            c.0,
        ),
        TrackingScope::CustomerLink(_, Some(l)) => (
            "customer_row_id = (SELECT customer_row_id FROM customer_links WHERE row_id = $2) \
             AND customer_link_row_id = $2",
            "ref_link_row_id = $2",
            l.0,
        ),
    }
}

#[async_trait]
impl TrackingStore for PostgresStore {
    async fn resolve_link_key(
        &self,
        program: ProgramRowId,
        program_type: ProgramType,
        key: &str,
    ) -> StoreResult<Option<LinkTarget>> {
        if program_type != ProgramType::Referral {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT partner_row_id, row_id FROM partner_links \
                 WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL",
            )
            .bind(program.0)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
            return Ok(row.map(|(p, l)| LinkTarget::Partner {
                partner: PartnerRowId(p),
                link: LinkRowId(l),
            }));
        }
        // The customer's key first (its default link), then the extra links, in one query.
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "(SELECT row_id, NULL::bigint FROM customers \
              WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL) \
             UNION ALL \
             (SELECT customer_row_id, row_id FROM customer_links l \
              WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL AND EXISTS \
                (SELECT 1 FROM customers c WHERE c.row_id = l.customer_row_id AND c.deleted_at IS NULL)) \
             LIMIT 1",
        )
        .bind(program.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(row.map(|(c, l)| LinkTarget::Customer {
            customer: CustomerRowId(c),
            link: l.map(CustomerLinkRowId),
        }))
    }

    async fn insert_clicks(&self, clicks: Vec<NewClick>) -> StoreResult<()> {
        if clicks.is_empty() {
            return Ok(());
        }
        let n = clicks.len();
        let mut program = Vec::with_capacity(n);
        let mut partner = Vec::with_capacity(n);
        let mut partner_link = Vec::with_capacity(n);
        let mut customer = Vec::with_capacity(n);
        let mut customer_link = Vec::with_capacity(n);
        let mut visitor = Vec::with_capacity(n);
        let mut source = Vec::with_capacity(n);
        let mut created_at = Vec::with_capacity(n);
        for c in clicks {
            program.push(c.program_id.0);
            match c.target {
                LinkTarget::Partner { partner: p, link } => {
                    partner.push(Some(p.0));
                    partner_link.push(Some(link.0));
                    customer.push(None);
                    customer_link.push(None);
                }
                LinkTarget::Customer { customer: cu, link } => {
                    partner.push(None);
                    partner_link.push(None);
                    customer.push(Some(cu.0));
                    customer_link.push(link.map(|l| l.0));
                }
            }
            visitor.push(c.visitor);
            source.push(c.source.as_str());
            created_at.push(c.created_at.as_micros());
        }
        sqlx::query(
            "INSERT INTO clicks (program_id, partner_row_id, partner_link_row_id, \
                 customer_row_id, customer_link_row_id, visitor, source, created_at) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
                 $5::bigint[], $6::text[], $7::text[], $8::bigint[])",
        )
        .bind(program)
        .bind(partner)
        .bind(partner_link)
        .bind(customer)
        .bind(customer_link)
        .bind(visitor)
        .bind(source)
        .bind(created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn tracking_counts(
        &self,
        program: ProgramRowId,
        scope: TrackingScope,
        before: Option<Timestamp>,
    ) -> StoreResult<TrackingCounts> {
        let (clicks_where, signups_where, row) = scope_conditions(scope);
        let sql = format!(
            "SELECT \
               (SELECT count(*) FROM clicks WHERE program_id = $1 AND {clicks_where} \
                  AND ($3::bigint IS NULL OR created_at < $3)), \
               (SELECT count(*) FROM customers WHERE program_id = $1 AND deleted_at IS NULL \
                  AND {signups_where} AND ($3::bigint IS NULL OR created_at < $3))"
        );
        let (clicks, signups): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(program.0)
            .bind(row)
            .bind(before.map(Timestamp::as_micros))
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(TrackingCounts {
            clicks: u64::try_from(clicks).unwrap_or(0),
            signups: u64::try_from(signups).unwrap_or(0),
        })
    }

    async fn insert_customer_link(&self, new: NewCustomerLink) -> StoreResult<CustomerLink> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        claim_key(&mut tx, new.program_id, &new.key).await?;
        // `FOR SHARE` orders the insert with a concurrent delete of the customer, as for
        // partner links.
        let row = sqlx::query(concat!(
            "INSERT INTO customer_links (program_id, customer_row_id, key, created_at, updated_at) \
             SELECT program_id, row_id, $3, $4, $4 FROM customers \
             WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL FOR SHARE \
             RETURNING ",
            link_columns!(),
            ""
        ))
        .bind(new.program_id.0)
        .bind(new.customer.0)
        .bind(&new.key)
        .bind(new.created_at.as_micros())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let link = customer_link(&row.ok_or(StoreError::NotFound)?)?;
        tx.commit().await.map_err(db_error)?;
        Ok(link)
    }

    async fn find_customer_link(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<CustomerLink>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            link_columns!(),
            " FROM customer_links l \
             WHERE program_id = $1 AND key = $2 AND deleted_at IS NULL AND EXISTS \
               (SELECT 1 FROM customers c WHERE c.row_id = l.customer_row_id AND c.deleted_at IS NULL)"
        ))
        .bind(program.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(customer_link).transpose()
    }

    async fn list_customer_links(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
    ) -> StoreResult<Vec<CustomerLink>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            link_columns!(),
            " FROM customer_links \
             WHERE program_id = $1 AND customer_row_id = $2 AND deleted_at IS NULL \
             ORDER BY row_id"
        ))
        .bind(program.0)
        .bind(customer.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(customer_link).collect()
    }

    async fn rename_customer_link(
        &self,
        program: ProgramRowId,
        link: CustomerLinkRowId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<CustomerLink> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        claim_key(&mut tx, program, key).await?;
        let row = sqlx::query(concat!(
            "UPDATE customer_links SET key = $3, updated_at = $4 \
             WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL \
             RETURNING ",
            link_columns!(),
            ""
        ))
        .bind(program.0)
        .bind(link.0)
        .bind(key)
        .bind(now.as_micros())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let link = customer_link(&row.ok_or(StoreError::NotFound)?)?;
        tx.commit().await.map_err(db_error)?;
        Ok(link)
    }

    async fn delete_customer_link(
        &self,
        program: ProgramRowId,
        link: CustomerLinkRowId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE customer_links SET deleted_at = $3, updated_at = $3 \
             WHERE program_id = $1 AND row_id = $2 AND deleted_at IS NULL",
        )
        .bind(program.0)
        .bind(link.0)
        .bind(now.as_micros())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_customer_links_of(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE customer_links SET deleted_at = $3, updated_at = $3 \
             WHERE program_id = $1 AND customer_row_id = $2 AND deleted_at IS NULL",
        )
        .bind(program.0)
        .bind(customer.0)
        .bind(now.as_micros())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn set_customer_ref_link(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        link: CustomerLinkRowId,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE customers SET ref_link_row_id = $3 WHERE program_id = $1 AND row_id = $2",
        )
        .bind(program.0)
        .bind(customer.0)
        .bind(link.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
