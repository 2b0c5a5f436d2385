//! Customers of affiliate programs on SQLite: rows of `customers` with `partner_row_id` set
//! (and `ext_id` and `referrer_row_id` NULL). Their lifecycle is the refer-a-friend one, so
//! `set_customer_status` in [`crate::customers`] serves them too.

use async_trait::async_trait;
use referd_core::affiliate::{
    AffiliateBuyer, AffiliateCustomer, AffiliateCustomerFilter, AffiliateCustomerPatch,
    NewAffiliateCustomer, SalePartner,
};
use referd_core::customer::{CustomerLookup, CustomerRowId, CustomerSearch, CustomerStatus};
use referd_core::page::PageRequest;
use referd_core::partner::PartnerRowId;
use referd_core::program::ProgramRowId;
use referd_core::store::{AffiliateCustomerStore, StoreError, StoreResult};
use referd_core::time::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::customers::conflicting_field;
use crate::partners::page_params;
use crate::rows::{
    AFFILIATE_CUSTOMER_COLUMNS, AFFILIATE_CUSTOMER_FROM, affiliate_customer, tags_json,
};
use crate::{SqliteStore, backend, is_unique_violation, sort_order};

/// The columns a customer can be looked up by: each an exact match on an index.
#[derive(Clone, Copy)]
enum By {
    Row,
    Key,
    Email,
}

/// The lookup statement for each [`By`], built once (`prepare_cached` hashes the text).
fn find_sql(by: By) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
        ["c.row_id", "c.key", "c.email"].map(|column| {
            format!(
                "SELECT {AFFILIATE_CUSTOMER_COLUMNS} FROM {AFFILIATE_CUSTOMER_FROM}
                 WHERE c.program_id = ?1 AND {column} = ?2
                   AND c.partner_row_id IS NOT NULL AND c.deleted_at IS NULL"
            )
        })
    });
    &SQL[by as usize]
}

fn find(
    conn: &Connection,
    program: ProgramRowId,
    by: By,
    value: Value,
) -> StoreResult<Option<AffiliateCustomer>> {
    conn.prepare_cached(find_sql(by))
        .and_then(|mut s| {
            s.query_row(params![program.0, value], affiliate_customer)
                .optional()
        })
        .map_err(backend)
}

/// A live affiliate customer as a sale's buyer, with its partner's facts.
fn find_buyer(
    conn: &Connection,
    program: ProgramRowId,
    by: By,
    value: Value,
) -> StoreResult<Option<AffiliateBuyer>> {
    static SQL: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
        ["c.row_id", "c.key", "c.email"].map(|column| {
            format!(
                "SELECT c.row_id, c.created_at, c.partner_row_id, p.ext_id,
                        p.referring_partner_row_id, p.deleted_at IS NULL
                 FROM customers c JOIN partners p ON p.row_id = c.partner_row_id
                 WHERE c.program_id = ?1 AND {column} = ?2
                   AND c.partner_row_id IS NOT NULL AND c.deleted_at IS NULL"
            )
        })
    });
    conn.prepare_cached(&SQL[by as usize])
        .and_then(|mut s| {
            s.query_row(params![program.0, value], |r| {
                let partner = PartnerRowId(r.get(2)?);
                let live: bool = r.get(5)?;
                Ok(AffiliateBuyer {
                    customer: CustomerRowId(r.get(0)?),
                    created_at: Timestamp::from_micros(r.get(1)?),
                    partner,
                    live_partner: if live {
                        Some(SalePartner {
                            row_id: partner,
                            id: r.get(3)?,
                            referring_partner: r.get::<_, Option<i64>>(4)?.map(PartnerRowId),
                        })
                    } else {
                        None
                    },
                })
            })
            .optional()
        })
        .map_err(backend)
}

#[async_trait]
impl AffiliateCustomerStore for SqliteStore {
    async fn find_affiliate_buyer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<AffiliateBuyer>> {
        self.readers.with(|conn| match lookup {
            CustomerLookup::Row(r) => find_buyer(conn, program, By::Row, r.0.into()),
            CustomerLookup::Id(s) | CustomerLookup::Key(s) => {
                find_buyer(conn, program, By::Key, s.clone().into())
            }
            CustomerLookup::Email(s) => {
                find_buyer(conn, program, By::Email, s.to_lowercase().into())
            }
            CustomerLookup::AnyIdentifier(s) => {
                if let Some(b) = find_buyer(conn, program, By::Key, s.clone().into())? {
                    return Ok(Some(b));
                }
                if s.contains('@') {
                    return find_buyer(conn, program, By::Email, s.to_lowercase().into());
                }
                Ok(None)
            }
        })
    }

    async fn insert_affiliate_customer(
        &self,
        new: NewAffiliateCustomer,
    ) -> StoreResult<AffiliateCustomer> {
        self.writer
            .run(move |conn| {
                // The partner (live, of this program) and its current key, read in the same
                // job as the insert: a partner deleted meanwhile gets no new customer. The
                // link, when given, must be of the same program.
                let partner_key: Option<String> = conn
                    .prepare_cached(
                        "SELECT l.key FROM partners p
                         JOIN partner_links l ON l.partner_row_id = p.row_id AND l.is_default = 1
                         WHERE p.program_id = ?1 AND p.row_id = ?2 AND p.deleted_at IS NULL
                           AND (?3 IS NULL OR EXISTS (SELECT 1 FROM partner_links x
                                                      WHERE x.row_id = ?3 AND x.program_id = ?1))",
                    )
                    .and_then(|mut s| {
                        s.query_row(
                            params![new.program_id.0, new.partner.0, new.link.map(|l| l.0)],
                            |r| r.get(0),
                        )
                        .optional()
                    })
                    .map_err(backend)?;
                let Some(partner_key) = partner_key else {
                    return Err(StoreError::NotFound);
                };
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO customers (program_id, key, email, name, surname, tags,
                             partner_row_id, link_row_id, status, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?9)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            new.program_id.0,
                            new.key,
                            new.email,
                            new.name,
                            new.surname,
                            tags_json(&new.tags),
                            new.partner.0,
                            new.link.map(|l| l.0),
                            new.created_at.as_micros()
                        ])
                    });
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(conflicting_field(
                            conn,
                            new.program_id.0,
                            None,
                            Some(&new.key),
                            new.email.as_deref(),
                            None,
                        )?));
                    }
                    Err(e) => return Err(backend(e)),
                }
                Ok(AffiliateCustomer {
                    row_id: CustomerRowId(conn.last_insert_rowid()),
                    program_id: new.program_id,
                    key: new.key,
                    email: new.email,
                    name: new.name,
                    surname: new.surname,
                    tags: new.tags,
                    partner: new.partner,
                    partner_key,
                    link: new.link,
                    status: CustomerStatus::Active,
                    created_at: new.created_at,
                    updated_at: new.created_at,
                })
            })
            .await
    }

    async fn find_affiliate_customer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<AffiliateCustomer>> {
        self.readers.with(|conn| match lookup {
            CustomerLookup::Row(r) => find(conn, program, By::Row, r.0.into()),
            // An affiliate customer's only identifier is its key (spec §6.1).
            CustomerLookup::Id(s) | CustomerLookup::Key(s) => {
                find(conn, program, By::Key, s.clone().into())
            }
            CustomerLookup::Email(s) => find(conn, program, By::Email, s.to_lowercase().into()),
            // Two exact lookups in order, each on its unique index (an `OR` would scan).
            CustomerLookup::AnyIdentifier(s) => {
                if let Some(c) = find(conn, program, By::Key, s.clone().into())? {
                    return Ok(Some(c));
                }
                if s.contains('@') {
                    return find(conn, program, By::Email, s.to_lowercase().into());
                }
                Ok(None)
            }
        })
    }

    async fn list_affiliate_customers(
        &self,
        program: ProgramRowId,
        filter: &AffiliateCustomerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<AffiliateCustomer>> {
        let mut params = page_params(program, page);
        let partner = match filter.partner {
            None => "",
            Some(p) => {
                params.push(p.0.into());
                " AND c.partner_row_id = ?4"
            }
        };
        let sql = format!(
            "SELECT {AFFILIATE_CUSTOMER_COLUMNS} FROM {AFFILIATE_CUSTOMER_FROM}
             WHERE c.program_id = ?1 AND c.status = 'active'
               AND c.partner_row_id IS NOT NULL{partner}
             ORDER BY c.row_id {} LIMIT ?2 OFFSET ?3",
            sort_order(page)
        );
        self.query_affiliate_customers(&sql, params)
    }

    async fn search_affiliate_customers(
        &self,
        program: ProgramRowId,
        search: &CustomerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<AffiliateCustomer>> {
        // Only the given criteria become conditions, so each can use its unique index.
        // `id` is the key: affiliate customers have no other identifier.
        let mut params = page_params(program, page);
        let mut conditions = String::new();
        let email = search.email.as_deref().map(str::to_lowercase);
        for (column, value) in [
            ("key", search.id.as_deref()),
            ("key", search.key.as_deref()),
            ("email", email.as_deref()),
        ] {
            if let Some(v) = value {
                params.push(v.to_string().into());
                conditions.push_str(&format!(" AND c.{column} = ?{}", params.len()));
            }
        }
        let sql = format!(
            "SELECT {AFFILIATE_CUSTOMER_COLUMNS} FROM {AFFILIATE_CUSTOMER_FROM}
             WHERE c.program_id = ?1 AND c.deleted_at IS NULL
               AND c.partner_row_id IS NOT NULL{conditions}
             ORDER BY c.row_id {} LIMIT ?2 OFFSET ?3",
            sort_order(page)
        );
        self.query_affiliate_customers(&sql, params)
    }

    async fn update_affiliate_customer(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        patch: &AffiliateCustomerPatch,
        now: Timestamp,
    ) -> StoreResult<AffiliateCustomer> {
        let patch = patch.clone();
        self.writer
            .run(move |conn| {
                let updated = conn
                    .prepare_cached(
                        "UPDATE customers SET
                           key = coalesce(?3, key),
                           email = coalesce(?4, email),
                           name = coalesce(?5, name),
                           surname = coalesce(?6, surname),
                           tags = coalesce(?7, tags),
                           updated_at = ?8
                         WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL
                           AND partner_row_id IS NOT NULL",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            program.0,
                            customer.0,
                            patch.key,
                            patch.email,
                            patch.name,
                            patch.surname,
                            patch.tags.as_deref().map(tags_json),
                            now.as_micros()
                        ])
                    });
                match updated {
                    Ok(0) => Err(StoreError::NotFound),
                    // Read back with the join, for `partner_key`.
                    Ok(_) => {
                        find(conn, program, By::Row, customer.0.into())?.ok_or(StoreError::NotFound)
                    }
                    Err(e) if is_unique_violation(&e) => {
                        Err(StoreError::Conflict(conflicting_field(
                            conn,
                            program.0,
                            None,
                            patch.key.as_deref(),
                            patch.email.as_deref(),
                            Some(customer.0),
                        )?))
                    }
                    Err(e) => Err(backend(e)),
                }
            })
            .await
    }
}

impl SqliteStore {
    fn query_affiliate_customers(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> StoreResult<Vec<AffiliateCustomer>> {
        self.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
            let rows = stmt
                .query_map(params_from_iter(params), affiliate_customer)
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }
}
