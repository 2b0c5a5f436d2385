//! Embedded, append-only migrations. Each file runs once, in order, recorded in
//! `referd_migrations`; SQLite DDL is transactional, so a failed migration leaves nothing.

use referd_core::store::StoreResult;
use rusqlite::Connection;

use crate::backend;

/// (version, name, SQL). Never edit a shipped entry; append a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "programs_customers",
        include_str!("../migrations/0001_programs_customers.sql"),
    ),
    (
        2,
        "affiliate",
        include_str!("../migrations/0002_affiliate.sql"),
    ),
    (3, "rules", include_str!("../migrations/0003_rules.sql")),
    (4, "ledger", include_str!("../migrations/0004_ledger.sql")),
    (
        5,
        "idempotency",
        include_str!("../migrations/0005_idempotency.sql"),
    ),
    (
        6,
        "tracking",
        include_str!("../migrations/0006_tracking.sql"),
    ),
    (
        7,
        "webhooks",
        include_str!("../migrations/0007_webhooks.sql"),
    ),
    (8, "sales", include_str!("../migrations/0008_sales.sql")),
    (
        9,
        "reward_approvals",
        include_str!("../migrations/0009_reward_approvals.sql"),
    ),
];

/// Applies the migrations not yet recorded. Runs inside the writer's transaction.
pub(crate) fn apply(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS referd_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )",
    )
    .map_err(backend)?;
    for (version, name, sql) in MIGRATIONS {
        let applied: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM referd_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if !applied {
            conn.execute_batch(sql).map_err(backend)?;
            conn.execute(
                "INSERT INTO referd_migrations (version, name) VALUES (?1, ?2)",
                rusqlite::params![version, name],
            )
            .map_err(backend)?;
            tracing::info!(version, name, "applied migration");
        }
    }
    Ok(())
}
