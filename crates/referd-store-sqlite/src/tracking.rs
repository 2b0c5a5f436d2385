//! Tracking on SQLite ([`TrackingStore`]): resolving referral keys, storing click batches,
//! the counts behind link, customer, partner and program stats, and extra customer links.
//!
//! A click batch is one writer job: one prepared `INSERT` run per row inside the writer's
//! transaction, so thousands of clicks cost one commit.

use async_trait::async_trait;
use referd_core::customer::CustomerRowId;
use referd_core::customer_link::{CustomerLink, CustomerLinkRowId, NewCustomerLink};
use referd_core::ids::ProgramType;
use referd_core::partner::{LinkRowId, PartnerRowId};
use referd_core::program::ProgramRowId;
use referd_core::store::{StoreError, StoreResult, UniqueField};
use referd_core::time::Timestamp;
use referd_core::tracking::{LinkTarget, NewClick, TrackingCounts, TrackingScope, TrackingStore};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{SqliteStore, backend, is_unique_violation};

const LINK_COLUMNS: &str = "row_id, program_id, customer_row_id, key, created_at, updated_at";

fn customer_link(row: &Row<'_>) -> rusqlite::Result<CustomerLink> {
    Ok(CustomerLink {
        row_id: CustomerLinkRowId(row.get(0)?),
        program_id: ProgramRowId(row.get(1)?),
        customer: CustomerRowId(row.get(2)?),
        key: row.get(3)?,
        created_at: Timestamp::from_micros(row.get(4)?),
        updated_at: Timestamp::from_micros(row.get(5)?),
    })
}

fn key_conflict(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(UniqueField::LinkKey)
    } else {
        backend(e)
    }
}

/// Whether a live customer of the program has `key` (its default link); runs in the writer
/// before an extra link takes a key, so the two kinds of key never collide.
fn customer_has_key(conn: &Connection, program: ProgramRowId, key: &str) -> StoreResult<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM customers
             WHERE program_id = ?1 AND key = ?2 AND deleted_at IS NULL)",
    )
    .and_then(|mut s| s.query_row(params![program.0, key], |r| r.get(0)))
    .map_err(backend)
}

fn resolve(
    conn: &Connection,
    program: ProgramRowId,
    program_type: ProgramType,
    key: &str,
) -> StoreResult<Option<LinkTarget>> {
    if program_type != ProgramType::Referral {
        return conn
            .prepare_cached(
                "SELECT partner_row_id, row_id FROM partner_links
                 WHERE program_id = ?1 AND key = ?2 AND deleted_at IS NULL",
            )
            .and_then(|mut s| {
                s.query_row(params![program.0, key], |r| {
                    Ok(LinkTarget::Partner {
                        partner: PartnerRowId(r.get(0)?),
                        link: LinkRowId(r.get(1)?),
                    })
                })
                .optional()
            })
            .map_err(backend);
    }
    let default = conn
        .prepare_cached(
            "SELECT row_id FROM customers
             WHERE program_id = ?1 AND key = ?2 AND deleted_at IS NULL",
        )
        .and_then(|mut s| {
            s.query_row(params![program.0, key], |r| r.get::<_, i64>(0))
                .optional()
        })
        .map_err(backend)?;
    if let Some(row) = default {
        return Ok(Some(LinkTarget::Customer {
            customer: CustomerRowId(row),
            link: None,
        }));
    }
    conn.prepare_cached(
        "SELECT customer_row_id, row_id FROM customer_links
         WHERE program_id = ?1 AND key = ?2 AND deleted_at IS NULL
           AND EXISTS (SELECT 1 FROM customers c
                       WHERE c.row_id = customer_links.customer_row_id AND c.deleted_at IS NULL)",
    )
    .and_then(|mut s| {
        s.query_row(params![program.0, key], |r| {
            Ok(LinkTarget::Customer {
                customer: CustomerRowId(r.get(0)?),
                link: Some(CustomerLinkRowId(r.get(1)?)),
            })
        })
        .optional()
    })
    .map_err(backend)
}

fn insert_clicks(conn: &Connection, clicks: &[NewClick]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO clicks (program_id, partner_row_id, partner_link_row_id,
                 customer_row_id, customer_link_row_id, visitor, source, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(backend)?;
    for c in clicks {
        let (partner, partner_link, customer, customer_link) = match c.target {
            LinkTarget::Partner { partner, link } => (Some(partner.0), Some(link.0), None, None),
            LinkTarget::Customer { customer, link } => {
                (None, None, Some(customer.0), link.map(|l| l.0))
            }
        };
        stmt.execute(params![
            c.program_id.0,
            partner,
            partner_link,
            customer,
            customer_link,
            c.visitor,
            c.source.as_str(),
            c.created_at.as_micros()
        ])
        .map_err(backend)?;
    }
    Ok(())
}

/// `SELECT count(*)` with `?1` the program, `?2` the scope's row (unused for the program)
/// and `?3` the `before` bound (NULL: none).
fn count(
    conn: &Connection,
    sql: &str,
    program: i64,
    row: i64,
    before: Option<i64>,
) -> StoreResult<u64> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params![program, row, before], |r| r.get::<_, i64>(0)))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(backend)
}

fn counts(
    conn: &Connection,
    program: ProgramRowId,
    scope: TrackingScope,
    before: Option<Timestamp>,
) -> StoreResult<TrackingCounts> {
    const BEFORE: &str = "AND (?3 IS NULL OR created_at < ?3)";
    let (clicks_where, signups_where, row) = match scope {
        TrackingScope::Program => (
            "?2 = ?2",
            "(partner_row_id IS NOT NULL OR referrer_row_id IS NOT NULL)",
            0,
        ),
        TrackingScope::Partner(p) => ("partner_row_id = ?2", "partner_row_id = ?2", p.0),
        // A partner's default link also has the sign-ups credited to the partner without a
        // link (an API create without `options.referral_url`).
        TrackingScope::PartnerLink(l) => (
            "partner_link_row_id = ?2 AND partner_row_id = \
             (SELECT partner_row_id FROM partner_links WHERE row_id = ?2)",
            "(link_row_id = ?2 OR (link_row_id IS NULL AND partner_row_id = \
             (SELECT partner_row_id FROM partner_links WHERE row_id = ?2 AND is_default = 1)))",
            l.0,
        ),
        TrackingScope::Customer(c) => ("customer_row_id = ?2", "referrer_row_id = ?2", c.0),
        TrackingScope::CustomerLink(c, None) => (
            "customer_row_id = ?2 AND customer_link_row_id IS NULL",
            "referrer_row_id = ?2 AND ref_link_row_id IS NULL",
            c.0,
        ),
        TrackingScope::CustomerLink(_, Some(l)) => (
            "customer_row_id = (SELECT customer_row_id FROM customer_links WHERE row_id = ?2) \
             AND customer_link_row_id = ?2",
            "ref_link_row_id = ?2",
            l.0,
        ),
    };
    let before = before.map(Timestamp::as_micros);
    let clicks = count(
        conn,
        &format!("SELECT count(*) FROM clicks WHERE program_id = ?1 AND {clicks_where} {BEFORE}"),
        program.0,
        row,
        before,
    )?;
    let signups = count(
        conn,
        &format!(
            "SELECT count(*) FROM customers WHERE program_id = ?1 AND deleted_at IS NULL \
             AND {signups_where} {BEFORE}"
        ),
        program.0,
        row,
        before,
    )?;
    Ok(TrackingCounts { clicks, signups })
}

#[async_trait]
impl TrackingStore for SqliteStore {
    async fn resolve_link_key(
        &self,
        program: ProgramRowId,
        program_type: ProgramType,
        key: &str,
    ) -> StoreResult<Option<LinkTarget>> {
        self.readers
            .with(|conn| resolve(conn, program, program_type, key))
    }

    async fn insert_clicks(&self, clicks: Vec<NewClick>) -> StoreResult<()> {
        if clicks.is_empty() {
            return Ok(());
        }
        self.writer
            .run(move |conn| insert_clicks(conn, &clicks))
            .await
    }

    async fn tracking_counts(
        &self,
        program: ProgramRowId,
        scope: TrackingScope,
        before: Option<Timestamp>,
    ) -> StoreResult<TrackingCounts> {
        self.readers
            .with(|conn| counts(conn, program, scope, before))
    }

    async fn insert_customer_link(&self, new: NewCustomerLink) -> StoreResult<CustomerLink> {
        self.writer
            .run(move |conn| {
                if customer_has_key(conn, new.program_id, &new.key)? {
                    return Err(StoreError::Conflict(UniqueField::LinkKey));
                }
                conn.prepare_cached(&format!(
                    "INSERT INTO customer_links
                         (program_id, customer_row_id, key, created_at, updated_at)
                     SELECT program_id, row_id, ?3, ?4, ?4 FROM customers
                     WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL
                     RETURNING {LINK_COLUMNS}"
                ))
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            new.program_id.0,
                            new.customer.0,
                            new.key,
                            new.created_at.as_micros()
                        ],
                        customer_link,
                    )
                    .optional()
                })
                .map_err(key_conflict)?
                .ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn find_customer_link(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<CustomerLink>> {
        self.readers.with(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM customer_links
                 WHERE program_id = ?1 AND key = ?2 AND deleted_at IS NULL
                   AND EXISTS (SELECT 1 FROM customers c
                               WHERE c.row_id = customer_links.customer_row_id
                                 AND c.deleted_at IS NULL)"
            ))
            .and_then(|mut s| {
                s.query_row(params![program.0, key], customer_link)
                    .optional()
            })
            .map_err(backend)
        })
    }

    async fn list_customer_links(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
    ) -> StoreResult<Vec<CustomerLink>> {
        self.readers.with(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {LINK_COLUMNS} FROM customer_links
                     WHERE program_id = ?1 AND customer_row_id = ?2 AND deleted_at IS NULL
                     ORDER BY row_id"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![program.0, customer.0], customer_link)
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }

    async fn rename_customer_link(
        &self,
        program: ProgramRowId,
        link: CustomerLinkRowId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<CustomerLink> {
        let key = key.to_string();
        self.writer
            .run(move |conn| {
                if customer_has_key(conn, program, &key)? {
                    return Err(StoreError::Conflict(UniqueField::LinkKey));
                }
                conn.prepare_cached(&format!(
                    "UPDATE customer_links SET key = ?3, updated_at = ?4
                     WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL
                     RETURNING {LINK_COLUMNS}"
                ))
                .and_then(|mut s| {
                    s.query_row(
                        params![program.0, link.0, key, now.as_micros()],
                        customer_link,
                    )
                    .optional()
                })
                .map_err(key_conflict)?
                .ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn delete_customer_link(
        &self,
        program: ProgramRowId,
        link: CustomerLinkRowId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE customer_links SET deleted_at = ?3, updated_at = ?3
                     WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![program.0, link.0, now.as_micros()]))
                .map(|n| n == 1)
                .map_err(backend)
            })
            .await
    }

    async fn delete_customer_links_of(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE customer_links SET deleted_at = ?3, updated_at = ?3
                     WHERE program_id = ?1 AND customer_row_id = ?2 AND deleted_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![program.0, customer.0, now.as_micros()]))
                .map(|_| ())
                .map_err(backend)
            })
            .await
    }

    async fn set_customer_ref_link(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        link: CustomerLinkRowId,
    ) -> StoreResult<()> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE customers SET ref_link_row_id = ?3
                     WHERE program_id = ?1 AND row_id = ?2",
                )
                .and_then(|mut s| s.execute(params![program.0, customer.0, link.0]))
                .map(|_| ())
                .map_err(backend)
            })
            .await
    }
}
