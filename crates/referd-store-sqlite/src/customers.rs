//! Refer-a-friend customers on SQLite.

use async_trait::async_trait;
use referd_core::customer::{
    Customer, CustomerFilter, CustomerLookup, CustomerPatch, CustomerRowId, CustomerSearch,
    CustomerStatus, CustomerView, NewCustomer, ReferStatus, ReferrerView,
};
use referd_core::page::PageRequest;
use referd_core::program::ProgramRowId;
use referd_core::store::{CustomerStore, StoreError, StoreResult, UniqueField};
use referd_core::time::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::rows::{CUSTOMER_COLUMN_COUNT, customer_at, customer_columns};
use crate::{SqliteStore, backend, is_unique_violation, sort_order};

/// Live referrals of the customer aliased `{alias}`.
fn referral_count_sql(alias: &str) -> String {
    format!(
        "(SELECT count(*) FROM customers x WHERE x.referrer_row_id = {alias}.row_id AND x.deleted_at IS NULL)"
    )
}

/// After a unique violation, which field collided. Runs in the writer, whose writes are
/// serial, so the answer cannot change under it.
pub(crate) fn conflicting_field(
    conn: &Connection,
    program: i64,
    ext_id: Option<&str>,
    key: Option<&str>,
    email: Option<&str>,
    except: Option<i64>,
) -> StoreResult<UniqueField> {
    let checks = [
        ("ext_id", ext_id, UniqueField::CustomerId),
        ("key", key, UniqueField::CustomerKey),
        ("email", email, UniqueField::CustomerEmail),
    ];
    for (column, value, field) in checks {
        let Some(value) = value else { continue };
        let taken: bool = conn
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM customers WHERE program_id = ?1 AND {column} = ?2
                 AND deleted_at IS NULL AND row_id IS NOT ?3)"
            ))
            .and_then(|mut s| s.query_row(params![program, value, except], |r| r.get(0)))
            .map_err(backend)?;
        if taken {
            return Ok(field);
        }
    }
    Err(StoreError::Backend(
        "unique violation on customers without a conflicting row".into(),
    ))
}

/// The columns a customer can be looked up by.
#[derive(Clone, Copy)]
enum By {
    Row,
    ExtId,
    Key,
    Email,
}

/// The lookup statement for each [`By`], built once: it is on every read's path, and
/// `prepare_cached` finds it by hashing the text.
fn find_view_sql(by: By) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 4]> = std::sync::LazyLock::new(|| {
        ["c.row_id", "c.ext_id", "c.key", "c.email"].map(|column| {
            format!(
                "SELECT {}, {}, {}, {}
                 FROM customers c LEFT JOIN customers r ON r.row_id = c.referrer_row_id
                 WHERE c.program_id = ?1 AND {column} = ?2 AND c.deleted_at IS NULL",
                customer_columns("c"),
                referral_count_sql("c"),
                customer_columns("r"),
                referral_count_sql("r"),
            )
        })
    });
    &SQL[by as usize]
}

/// A live customer matching `value` by `by`, with its count and its referrer.
fn find_view(
    conn: &Connection,
    program: ProgramRowId,
    by: By,
    value: Value,
) -> StoreResult<Option<CustomerView>> {
    let sql = find_view_sql(by);
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    stmt.query_row(params![program.0, value], |row| {
        let n = CUSTOMER_COLUMN_COUNT;
        let customer = customer_at(row, 0)?;
        let referrals_count = row.get::<_, i64>(n)?.unsigned_abs();
        let referrer = match row.get::<_, Option<i64>>(n + 1)? {
            None => None,
            Some(_) => Some(Box::new(ReferrerView {
                customer: customer_at(row, n + 1)?,
                referrals_count: row.get::<_, i64>(2 * n + 1)?.unsigned_abs(),
            })),
        };
        Ok(CustomerView {
            customer,
            referrals_count,
            referrer,
        })
    })
    .optional()
    .map_err(backend)
}

fn select_customer(conn: &Connection, program: i64, row_id: i64) -> StoreResult<Customer> {
    conn.prepare_cached(&format!(
        "SELECT {} FROM customers c WHERE c.program_id = ?1 AND c.row_id = ?2",
        customer_columns("c")
    ))
    .and_then(|mut s| s.query_row(params![program, row_id], |r| customer_at(r, 0)))
    .map_err(backend)
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn insert_customer(&self, new: NewCustomer) -> StoreResult<Customer> {
        self.writer
            .run(move |conn| {
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO customers (program_id, ext_id, key, email, name, surname,
                             date_of_birth, referrer_row_id, status, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?9)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            new.program_id.0,
                            new.id,
                            new.key,
                            new.email,
                            new.name,
                            new.surname,
                            new.date_of_birth,
                            new.referrer.map(|r| r.0),
                            new.created_at.as_micros()
                        ])
                    });
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(conflicting_field(
                            conn,
                            new.program_id.0,
                            Some(&new.id),
                            Some(&new.key),
                            new.email.as_deref(),
                            None,
                        )?));
                    }
                    Err(e) => return Err(backend(e)),
                }
                Ok(Customer {
                    row_id: CustomerRowId(conn.last_insert_rowid()),
                    program_id: new.program_id,
                    id: new.id,
                    key: new.key,
                    email: new.email,
                    name: new.name,
                    surname: new.surname,
                    date_of_birth: new.date_of_birth,
                    referrer: new.referrer,
                    status: CustomerStatus::Active,
                    created_at: new.created_at,
                    updated_at: new.created_at,
                })
            })
            .await
    }

    async fn find_customer(
        &self,
        program: ProgramRowId,
        lookup: &CustomerLookup,
    ) -> StoreResult<Option<CustomerView>> {
        self.readers.with(|conn| match lookup {
            CustomerLookup::Row(r) => find_view(conn, program, By::Row, r.0.into()),
            CustomerLookup::Id(s) => find_view(conn, program, By::ExtId, s.clone().into()),
            CustomerLookup::Key(s) => find_view(conn, program, By::Key, s.clone().into()),
            CustomerLookup::Email(s) => find_view(conn, program, By::Email, s.clone().into()),
            // Three exact lookups in order, each on its unique index: an `OR` with an
            // `ORDER BY CASE` made SQLite scan the program's customers instead.
            CustomerLookup::AnyIdentifier(s) => {
                if let Some(v) = find_view(conn, program, By::ExtId, s.clone().into())? {
                    return Ok(Some(v));
                }
                if let Some(v) = find_view(conn, program, By::Key, s.clone().into())? {
                    return Ok(Some(v));
                }
                if s.contains('@') {
                    return find_view(conn, program, By::Email, s.to_lowercase().into());
                }
                Ok(None)
            }
        })
    }

    async fn list_customers(
        &self,
        program: ProgramRowId,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<Customer>> {
        let refer = match filter.refer_status {
            None => "",
            Some(ReferStatus::Referred) => "AND c.referrer_row_id IS NOT NULL",
            Some(ReferStatus::NonReferred) => "AND c.referrer_row_id IS NULL",
        };
        let sql = format!(
            "SELECT {} FROM customers c
             WHERE c.program_id = ?1 AND c.status = 'active' {refer}
             ORDER BY c.row_id {} LIMIT ?2 OFFSET ?3",
            customer_columns("c"),
            sort_order(page)
        );
        self.query_customers(&sql, params_vec(program, page, []))
    }

    async fn search_customers(
        &self,
        program: ProgramRowId,
        search: &CustomerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<Customer>> {
        // Only the given criteria become conditions, so each can use its unique index.
        let mut conditions = String::new();
        let mut extra: Vec<Value> = Vec::new();
        for (column, value) in [
            ("ext_id", &search.id),
            ("key", &search.key),
            ("email", &search.email),
        ] {
            if let Some(v) = value {
                extra.push(Value::Text(v.clone()));
                conditions.push_str(&format!(" AND c.{column} = ?{}", 3 + extra.len()));
            }
        }
        let sql = format!(
            "SELECT {} FROM customers c
             WHERE c.program_id = ?1 AND c.deleted_at IS NULL{conditions}
             ORDER BY c.row_id {} LIMIT ?2 OFFSET ?3",
            customer_columns("c"),
            sort_order(page)
        );
        let mut params = params_vec(program, page, []);
        params.extend(extra);
        self.query_customers(&sql, params)
    }

    async fn list_referrals(
        &self,
        program: ProgramRowId,
        referrer: CustomerRowId,
    ) -> StoreResult<Vec<Customer>> {
        let sql = format!(
            "SELECT {} FROM customers c
             WHERE c.program_id = ?1 AND c.referrer_row_id = ?2 AND c.deleted_at IS NULL
             ORDER BY c.row_id",
            customer_columns("c")
        );
        self.query_customers(&sql, vec![program.0.into(), referrer.0.into()])
    }

    async fn update_customer(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        patch: &CustomerPatch,
        now: Timestamp,
    ) -> StoreResult<Customer> {
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
                           date_of_birth = coalesce(?7, date_of_birth),
                           updated_at = ?8
                         WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            program.0,
                            customer.0,
                            patch.key,
                            patch.email,
                            patch.name,
                            patch.surname,
                            patch.date_of_birth,
                            now.as_micros()
                        ])
                    });
                match updated {
                    Ok(0) => Err(StoreError::NotFound),
                    Ok(_) => select_customer(conn, program.0, customer.0),
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

    async fn set_customer_status(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        from: &[CustomerStatus],
        to: CustomerStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
        self.writer
            .run(move |conn| {
                let current: Option<String> = conn
                    .prepare_cached(
                        "SELECT status FROM customers
                         WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL",
                    )
                    .and_then(|mut s| s.query_row(params![program.0, customer.0], |r| r.get(0)))
                    .optional()
                    .map_err(backend)?;
                // The check and the update run in one writer job: nothing can change between.
                if !current.is_some_and(|s| from.contains(&s.as_str())) {
                    return Ok(false);
                }
                let deleted_at = (to == CustomerStatus::Deleted).then_some(now.as_micros());
                conn.prepare_cached(
                    "UPDATE customers SET status = ?3, updated_at = ?4, deleted_at = ?5
                     WHERE program_id = ?1 AND row_id = ?2",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        program.0,
                        customer.0,
                        to.as_str(),
                        now.as_micros(),
                        deleted_at
                    ])
                })
                .map_err(backend)?;
                Ok(true)
            })
            .await
    }
}

fn params_vec<const N: usize>(
    program: ProgramRowId,
    page: PageRequest,
    extra: [Value; N],
) -> Vec<Value> {
    let mut v: Vec<Value> = vec![
        program.0.into(),
        i64::from(page.fetch_limit()).into(),
        i64::try_from(page.offset()).unwrap_or(i64::MAX).into(),
    ];
    v.extend(extra);
    v
}

impl SqliteStore {
    fn query_customers(&self, sql: &str, params: Vec<Value>) -> StoreResult<Vec<Customer>> {
        self.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
            let rows = stmt
                .query_map(params_from_iter(params), |r| customer_at(r, 0))
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }
}
