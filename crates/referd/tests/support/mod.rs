//! Shared by the process-level tracking tests (browser.rs, click_shutdown.rs): a fresh
//! SQLite store with a refer-a-friend program and its referrer, and a real `serve` on a free
//! port that stops on demand.

use std::sync::Arc;

use referd_core::Store;
use referd_core::customer::CustomerView;
use referd_core::ids::ProgramType;
use referd_core::program::Program;
use referd_core::service::{customers, programs};
use referd_core::time::{Clock, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A store at `db` (migrated) with a refer-a-friend program on `website` and the customer
/// `alice` (key `ref_alice`).
pub async fn shop_with_alice(db: &str, website: &str) -> (Arc<dyn Store>, Program, CustomerView) {
    let store = referd::open_store(db).await.unwrap();
    store.migrate().await.unwrap();
    let (program, _key) = programs::create(
        &*store,
        ProgramType::Referral,
        "Shop",
        Some(website),
        SystemClock.now(),
    )
    .await
    .unwrap();
    let input = customers::CustomerInput {
        id: Some("alice".into()),
        key: Some("ref_alice".into()),
        email: Some("alice@example.test".into()),
        ..Default::default()
    };
    let alice = customers::create(&*store, &program, input, SystemClock.now())
        .await
        .unwrap();
    (store, program, alice)
}

/// `referd::serve` on `listener`; send on the sender to stop it gracefully, then await the
/// handle.
pub fn serve(
    listener: TcpListener,
    state: referd_api::AppState,
) -> (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(referd::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (stop, server)
}
