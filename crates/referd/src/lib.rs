//! The environment around referd's library crates: choosing the storage backend from a
//! database URL, building the application state, and serving HTTP until a shutdown signal.
//! `main.rs` is only the command line; tests start the same [`serve`] on port 0.

pub mod cli;
pub mod commands;
pub mod delivery;
pub mod mailer;

use std::future::Future;
use std::sync::Arc;

use referd_api::AppState;
use referd_core::Store;
use referd_core::time::SystemClock;
use referd_store_postgres::PostgresStore;
use referd_store_sqlite::SqliteStore;
use tokio::net::TcpListener;

/// The database used when none is configured: a file beside the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:./data/referd.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Opens the store the URL's scheme names. Anything but `sqlite:` and
/// `postgres:`/`postgresql:` is refused with a message that says what is accepted.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, String> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => SqliteStore::open_url(url)
            .map(|s| Arc::new(s) as Arc<dyn Store>)
            .map_err(|e| format!("cannot open the SQLite database {url}: {e}")),
        "postgres" | "postgresql" => PostgresStore::connect(url)
            .await
            .map(|s| Arc::new(s) as Arc<dyn Store>)
            .map_err(|e| format!("cannot connect to PostgreSQL: {e}")),
        _ => Err(format!(
            "unsupported database URL {:?}: use sqlite:PATH or postgres://USER@HOST/DB",
            redact(url)
        )),
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Opens the store and applies migrations.
pub async fn open_and_migrate(url: &str) -> Result<Arc<dyn Store>, String> {
    let store = open_store(url).await?;
    store
        .migrate()
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    Ok(store)
}

pub fn app_state(store: Arc<dyn Store>, public_url: &str) -> AppState {
    AppState::new(store, Arc::new(SystemClock), public_url)
}

/// Serves the API on `listener` until `shutdown` completes; requests in flight finish, then
/// the webhook worker finishes its sends, the queued clicks are stored, and the store drains
/// its queued writes and closes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    // Email: invitations are accepted only when SMTP is configured, and sent by the mailer.
    let smtp = mailer::SmtpSettings::from_env().map_err(std::io::Error::other)?;
    let mut state = state;
    let mut mail_task = None;
    if let Some(smtp) = smtp {
        let dir = std::env::var_os("REFERD_TEMPLATES_DIR").map(std::path::PathBuf::from);
        let template = mailer::invite_template(dir.as_deref()).map_err(std::io::Error::other)?;
        state = state.with_invitations(template);
        if delivery::worker_enabled() {
            let m = Arc::new(mailer::Mailer::new(
                store.clone(),
                state.clock.clone(),
                smtp,
                None,
            ));
            let (stop, rx) = tokio::sync::watch::channel(false);
            mail_task = Some((stop, tokio::spawn(m.run(rx))));
        }
    }
    // REFERD_WEBHOOKS_WORKER=false: an API-only instance (others on the database deliver).
    let worker = if delivery::worker_enabled() {
        Some(
            delivery::start(&state, referd_webhooks::Config::from_env())
                .map_err(std::io::Error::other)?,
        )
    } else {
        None
    };
    let tracking = state.tracking.clone();
    let app = referd_api::router(state);
    // The peer address feeds the click dedupe and the public sign-up's rate limit.
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    tracking.shutdown().await;
    if let Some(worker) = worker {
        worker.stop().await;
    }
    if let Some((stop, task)) = mail_task {
        let _ = stop.send(true);
        let _ = task.await;
    }
    store.close().await;
    result
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:x.db"), "sqlite:x.db");
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused() {
        let err = open_store("mysql://x/y").await.err().unwrap();
        assert!(err.contains("unsupported database URL"), "{err}");
    }
}
