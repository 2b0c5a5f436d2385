//! Partners of affiliate programs on SQLite. Their referral links are in [`crate::links`];
//! the [`PartnerStore`] methods about links only delegate there.

use async_trait::async_trait;
use referd_core::page::PageRequest;
use referd_core::partner::{
    LinkRowId, NewPartner, NewPartnerLink, Partner, PartnerFilter, PartnerLink, PartnerLinkSearch,
    PartnerLookup, PartnerPatch, PartnerRowId, PartnerSearch, PartnerStatus, PartnerView,
};
use referd_core::program::ProgramRowId;
use referd_core::store::{PartnerStore, StoreError, StoreResult, UniqueField};
use referd_core::time::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::links::{self, insert_link};
use crate::rows::{PARTNER_COLUMN_COUNT, partner_at, partner_columns, tags_json};
use crate::{SqliteStore, backend, is_unique_violation, sort_order};

/// After a unique violation on `partners`, which field collided. Runs in the writer, whose
/// writes are serial, so the answer cannot change under it.
fn conflicting_field(
    conn: &Connection,
    program: i64,
    ext_id: Option<&str>,
    email: Option<&str>,
    except: Option<i64>,
) -> StoreResult<UniqueField> {
    let checks = [
        ("ext_id", ext_id, UniqueField::PartnerId),
        ("email", email, UniqueField::PartnerEmail),
    ];
    for (column, value, field) in checks {
        let Some(value) = value else { continue };
        let taken: bool = conn
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM partners WHERE program_id = ?1 AND {column} = ?2
                 AND deleted_at IS NULL AND row_id IS NOT ?3)"
            ))
            .and_then(|mut s| s.query_row(params![program, value, except], |r| r.get(0)))
            .map_err(backend)?;
        if taken {
            return Ok(field);
        }
    }
    Err(StoreError::Backend(
        "unique violation on partners without a conflicting row".into(),
    ))
}

/// How a live partner is found: each is an exact match on an index.
#[derive(Clone, Copy)]
enum By {
    Row,
    ExtId,
    Email,
    /// Any live link key of the partner (through `partner_links_program_key`).
    LinkKey,
}

/// The statement behind [`find_view`] for each [`By`], built once (`prepare_cached` finds a
/// statement by hashing its text). One statement, so the partner, its links, its count and
/// its referring partner come from one snapshot.
fn find_view_sql(by: By, counted: bool) -> &'static str {
    static SQL: std::sync::LazyLock<[[String; 4]; 2]> =
        std::sync::LazyLock::new(|| [view_sqls(true), view_sqls(false)]);
    &SQL[usize::from(!counted)][by as usize]
}

/// The four lookups; without `counted`, `referrals_count` is 0 instead of a count of the
/// partner's customers (which grows with them).
fn view_sqls(counted: bool) -> [String; 4] {
    let count = if counted {
        "(SELECT count(*) FROM customers c
          WHERE c.partner_row_id = p.row_id AND c.deleted_at IS NULL)"
    } else {
        "0"
    };
    [
        "p.row_id = ?2",
        "p.ext_id = ?2",
        "p.email = ?2",
        "p.row_id = (SELECT l.partner_row_id FROM partner_links l
                         WHERE l.program_id = ?1 AND l.key = ?2 AND l.deleted_at IS NULL)",
    ]
    .map(|condition| {
        format!(
            "SELECT {},
                   (SELECT d.key FROM partner_links d
                    WHERE d.partner_row_id = p.row_id AND d.is_default = 1),
                   (SELECT json_group_array(l.key ORDER BY l.is_default DESC, l.row_id)
                    FROM partner_links l
                    WHERE l.partner_row_id = p.row_id AND l.deleted_at IS NULL),
                   {count},
                   {}
                 FROM partners p
                 LEFT JOIN partners r
                   ON r.row_id = p.referring_partner_row_id AND r.program_id = p.program_id
                 WHERE p.program_id = ?1 AND {condition} AND p.deleted_at IS NULL",
            partner_columns("p"),
            partner_columns("r"),
        )
    })
}

/// A live partner matching `value` by `by`, with what its full object needs.
fn find_view(
    conn: &Connection,
    program: ProgramRowId,
    by: By,
    value: Value,
    counted: bool,
) -> StoreResult<Option<PartnerView>> {
    let mut stmt = conn
        .prepare_cached(find_view_sql(by, counted))
        .map_err(backend)?;
    stmt.query_row(params![program.0, value], |row| {
        let n = PARTNER_COLUMN_COUNT;
        let referring_partner = match row.get::<_, Option<i64>>(n + 3)? {
            None => None,
            Some(_) => Some(Box::new(partner_at(row, n + 3)?)),
        };
        Ok(PartnerView {
            partner: partner_at(row, 0)?,
            default_key: row.get(n)?,
            link_keys: crate::rows::json_at(row, n + 1)?,
            referrals_count: row.get::<_, i64>(n + 2)?.unsigned_abs(),
            referring_partner,
        })
    })
    .optional()
    .map_err(backend)
}

/// A live partner by any lookup, with or without its customer count.
fn find_by_lookup(
    conn: &Connection,
    program: ProgramRowId,
    lookup: &PartnerLookup,
    counted: bool,
) -> StoreResult<Option<PartnerView>> {
    let find = |by, value: Value| find_view(conn, program, by, value, counted);
    match lookup {
        PartnerLookup::Row(r) => find(By::Row, r.0.into()),
        PartnerLookup::Id(s) => find(By::ExtId, s.clone().into()),
        PartnerLookup::Key(s) => find(By::LinkKey, s.clone().into()),
        PartnerLookup::Email(s) => find(By::Email, s.to_lowercase().into()),
        // Exact lookups in order, each on its own index, as for customers: an `OR` makes
        // SQLite scan the program's partners instead.
        PartnerLookup::AnyIdentifier(s) => {
            if let Some(v) = find(By::ExtId, s.clone().into())? {
                return Ok(Some(v));
            }
            if let Some(v) = find(By::LinkKey, s.clone().into())? {
                return Ok(Some(v));
            }
            if s.contains('@') {
                return find(By::Email, s.to_lowercase().into());
            }
            Ok(None)
        }
    }
}

/// The live partner's current status, read in the writer before a check-then-write.
fn live_status(conn: &Connection, program: i64, partner: i64) -> StoreResult<Option<String>> {
    conn.prepare_cached(
        "SELECT status FROM partners
         WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL",
    )
    .and_then(|mut s| s.query_row(params![program, partner], |r| r.get(0)))
    .optional()
    .map_err(backend)
}

#[async_trait]
impl PartnerStore for SqliteStore {
    async fn insert_partner(&self, new: NewPartner) -> StoreResult<Partner> {
        self.writer
            .run(move |conn| {
                let tags = tags_json(&new.tags);
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO partners (program_id, ext_id, email, name, surname,
                             password_hash, tos, approved, status, tags,
                             referring_partner_row_id, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            new.program_id.0,
                            new.id,
                            new.email,
                            new.name,
                            new.surname,
                            new.password_hash,
                            new.tos,
                            new.approved,
                            new.status.as_str(),
                            tags,
                            new.referring_partner.map(|p| p.0),
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
                            Some(&new.email),
                            None,
                        )?));
                    }
                    Err(e) => return Err(backend(e)),
                }
                let row_id = PartnerRowId(conn.last_insert_rowid());
                // A taken key fails the job, and its savepoint takes the partner back out.
                insert_link(
                    conn,
                    &NewPartnerLink {
                        program_id: new.program_id,
                        partner: row_id,
                        key: new.key,
                        created_at: new.created_at,
                    },
                    true,
                )?;
                Ok(Partner {
                    row_id,
                    program_id: new.program_id,
                    id: new.id,
                    email: new.email,
                    name: new.name,
                    surname: new.surname,
                    tos: new.tos,
                    approved: new.approved,
                    status: new.status,
                    tags: new.tags,
                    referring_partner: new.referring_partner,
                    created_at: new.created_at,
                    updated_at: new.created_at,
                })
            })
            .await
    }

    async fn find_partner(
        &self,
        program: ProgramRowId,
        lookup: &PartnerLookup,
    ) -> StoreResult<Option<PartnerView>> {
        self.readers
            .with(|conn| find_by_lookup(conn, program, lookup, true))
    }

    async fn find_partner_row(
        &self,
        program: ProgramRowId,
        lookup: &PartnerLookup,
    ) -> StoreResult<Option<Partner>> {
        let view = self
            .readers
            .with(|conn| find_by_lookup(conn, program, lookup, false))?;
        Ok(view.map(|v| v.partner))
    }

    async fn list_partners(
        &self,
        program: ProgramRowId,
        filter: &PartnerFilter,
        page: PageRequest,
    ) -> StoreResult<Vec<Partner>> {
        let mut params: Vec<Value> = page_params(program, page);
        let status = match filter.status {
            None => "p.status IN ('active', 'pending')",
            Some(s) => {
                params.push(s.as_str().to_string().into());
                "p.status = ?4"
            }
        };
        let sql = format!(
            "SELECT {} FROM partners p
             WHERE p.program_id = ?1 AND {status} AND p.deleted_at IS NULL
             ORDER BY p.row_id {} LIMIT ?2 OFFSET ?3",
            partner_columns("p"),
            sort_order(page)
        );
        self.query_partners(&sql, params)
    }

    async fn search_partners(
        &self,
        program: ProgramRowId,
        search: &PartnerSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<Partner>> {
        // Substrings, compared in (ASCII) lower case. Only the given criteria become
        // conditions; each has its own parameter.
        let mut params = page_params(program, page);
        let mut conditions = String::new();
        let criteria = [
            (&search.id, "instr(lower(p.ext_id), lower(?N)) > 0"),
            (&search.email, "instr(lower(p.email), lower(?N)) > 0"),
            (
                &search.key,
                "EXISTS (SELECT 1 FROM partner_links l
                         WHERE l.partner_row_id = p.row_id AND l.deleted_at IS NULL
                           AND instr(lower(l.key), lower(?N)) > 0)",
            ),
            (
                &search.name,
                "(instr(lower(p.name), lower(?N)) > 0
                  OR instr(lower(p.surname), lower(?N)) > 0
                  OR instr(lower(p.name || ' ' || p.surname), lower(?N)) > 0)",
            ),
        ];
        for (value, condition) in criteria {
            if let Some(v) = value {
                params.push(v.clone().into());
                let n = format!("?{}", params.len());
                conditions.push_str(" AND ");
                conditions.push_str(&condition.replace("?N", &n));
            }
        }
        let sql = format!(
            "SELECT {} FROM partners p
             WHERE p.program_id = ?1 AND p.deleted_at IS NULL{conditions}
             ORDER BY p.row_id {} LIMIT ?2 OFFSET ?3",
            partner_columns("p"),
            sort_order(page)
        );
        self.query_partners(&sql, params)
    }

    async fn update_partner(
        &self,
        program: ProgramRowId,
        partner: PartnerRowId,
        patch: &PartnerPatch,
        now: Timestamp,
    ) -> StoreResult<Partner> {
        let patch = patch.clone();
        self.writer
            .run(move |conn| {
                // `approved` moves pending ↔ active; archived (and anything else) stays.
                let updated = conn
                    .prepare_cached(&format!(
                        "UPDATE partners SET
                           email = coalesce(?3, email),
                           name = coalesce(?4, name),
                           surname = coalesce(?5, surname),
                           password_hash = coalesce(?6, password_hash),
                           tags = coalesce(?7, tags),
                           approved = coalesce(?8, approved),
                           tos = coalesce(?9, tos),
                           status = CASE
                             WHEN ?8 = 1 AND status = 'pending' THEN 'active'
                             WHEN ?8 = 0 AND status = 'active' THEN 'pending'
                             ELSE status END,
                           updated_at = ?10
                         WHERE program_id = ?1 AND row_id = ?2 AND deleted_at IS NULL
                         RETURNING {}",
                        partner_columns("")
                    ))
                    .and_then(|mut s| {
                        s.query_row(
                            params![
                                program.0,
                                partner.0,
                                patch.email,
                                patch.name,
                                patch.surname,
                                patch.password_hash,
                                patch.tags.as_deref().map(tags_json),
                                patch.approved,
                                patch.tos,
                                now.as_micros()
                            ],
                            |r| partner_at(r, 0),
                        )
                        .optional()
                    });
                let updated = match updated {
                    Ok(Some(p)) => p,
                    Ok(None) => return Err(StoreError::NotFound),
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(conflicting_field(
                            conn,
                            program.0,
                            None,
                            patch.email.as_deref(),
                            Some(partner.0),
                        )?));
                    }
                    Err(e) => return Err(backend(e)),
                };
                if let Some(key) = &patch.key {
                    // The partner's `key` is its default link's key. A taken key fails the
                    // job, and its savepoint undoes the update above too.
                    links::rename_default(conn, program, partner, key, now)?;
                }
                Ok(updated)
            })
            .await
    }

    async fn set_partner_status(
        &self,
        program: ProgramRowId,
        partner: PartnerRowId,
        from: &[PartnerStatus],
        to: PartnerStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
        self.writer
            .run(move |conn| {
                // The check and the update run in one writer job: nothing can change between.
                let current = live_status(conn, program.0, partner.0)?;
                if !current.is_some_and(|s| from.contains(&s.as_str())) {
                    return Ok(false);
                }
                let deleted_at = (to == PartnerStatus::Deleted).then_some(now.as_micros());
                conn.prepare_cached(
                    "UPDATE partners SET status = ?3, updated_at = ?4, deleted_at = ?5
                     WHERE program_id = ?1 AND row_id = ?2",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        program.0,
                        partner.0,
                        to.as_str(),
                        now.as_micros(),
                        deleted_at
                    ])
                })
                .map_err(backend)?;
                if to == PartnerStatus::Deleted {
                    // Its keys are free again with its id and email.
                    links::delete_all_of(conn, program, partner, now)?;
                }
                Ok(true)
            })
            .await
    }

    async fn insert_partner_link(&self, new: NewPartnerLink) -> StoreResult<PartnerLink> {
        self.writer
            .run(move |conn| {
                // Checked in the same job as the insert: a partner deleted meanwhile must not
                // get a live key again.
                if live_status(conn, new.program_id.0, new.partner.0)?.is_none() {
                    return Err(StoreError::NotFound);
                }
                insert_link(conn, &new, false)
            })
            .await
    }

    async fn find_partner_link(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<PartnerLink>> {
        self.readers.with(|conn| links::find(conn, program, key))
    }

    async fn search_partner_links(
        &self,
        program: ProgramRowId,
        search: &PartnerLinkSearch,
        page: PageRequest,
    ) -> StoreResult<Vec<PartnerLink>> {
        self.readers
            .with(|conn| links::search(conn, program, search, page))
    }

    async fn rename_partner_link(
        &self,
        program: ProgramRowId,
        link: LinkRowId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<PartnerLink> {
        let key = key.to_string();
        self.writer
            .run(move |conn| links::rename(conn, program, link, &key, now))
            .await
    }

    async fn delete_partner_link(
        &self,
        program: ProgramRowId,
        link: LinkRowId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.writer
            .run(move |conn| links::delete_additional(conn, program, link, now))
            .await
    }
}

/// `?1` program, `?2` limit, `?3` offset: the first parameters of every page query.
pub(crate) fn page_params(program: ProgramRowId, page: PageRequest) -> Vec<Value> {
    vec![
        program.0.into(),
        i64::from(page.fetch_limit()).into(),
        i64::try_from(page.offset()).unwrap_or(i64::MAX).into(),
    ]
}

impl SqliteStore {
    fn query_partners(&self, sql: &str, params: Vec<Value>) -> StoreResult<Vec<Partner>> {
        self.readers.with(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
            let rows = stmt
                .query_map(params_from_iter(params), |r| partner_at(r, 0))
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
    }
}
