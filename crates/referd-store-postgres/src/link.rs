//! A connection a batch task keeps for itself.
//!
//! Why: under load the pool's connections are all busy with per-request reads; a batch task
//! that had to queue for one behind them would stall every request waiting on its batch. So
//! each batch task takes one pooled connection when first needed and keeps it, pinging it
//! first when it sat idle (the server may have restarted), and giving it back (closed) after
//! an error that may have left it unusable.

use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgPool, PgSeverity};
use sqlx::{Connection, Postgres};

use crate::PING_AFTER_IDLE;

pub(crate) struct Link {
    pool: PgPool,
    held: Option<PoolConnection<Postgres>>,
    last_used: Instant,
}

impl Link {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            held: None,
            last_used: Instant::now(),
        }
    }

    /// The kept connection, (re)acquired from the pool when there is none or it is dead.
    pub(crate) async fn connection(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        let conn = match self.held.take() {
            // Like the pool's own connections: one that sat idle is pinged first, one in
            // steady use is not.
            Some(mut conn) if self.last_used.elapsed() > PING_AFTER_IDLE => {
                match conn.ping().await {
                    Ok(()) => conn,
                    Err(e) => {
                        tracing::info!(error = %e, "batch connection lost; reconnecting");
                        conn.close_on_drop();
                        drop(conn);
                        self.pool.acquire().await?
                    }
                }
            }
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        self.last_used = Instant::now();
        Ok(&mut **self.held.insert(conn))
    }

    /// Passes a statement's result through, dropping the connection when the error may have
    /// left it unusable: anything but an ordinary statement error from the server (which
    /// leaves an autocommit connection ready for the next one).
    pub(crate) fn check<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(e) = &result
            && !is_statement_error(e)
            && let Some(mut conn) = self.held.take()
        {
            conn.close_on_drop();
        }
        result
    }
}

/// A server error about the statement alone (severity `ERROR`), as opposed to one that ends
/// the session (`FATAL`, e.g. the backend was terminated) or a client-side failure.
fn is_statement_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|pg| !matches!(pg.severity(), PgSeverity::Fatal | PgSeverity::Panic)),
        _ => false,
    }
}

/// Errors meaning no connection could be had (each attempt waits for the acquire timeout).
pub(crate) fn unreachable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
}
