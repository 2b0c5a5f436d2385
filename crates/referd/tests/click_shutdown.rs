//! Clicks survive a graceful shutdown: `serve` stores every queued click before the store
//! closes (docs/tracking.md). Clicks arrive over real sockets to a real `serve`, the
//! shutdown signal fires right after the last answer, and the database, reopened, holds
//! every click.

use std::io::{Read, Write};
use std::net::TcpStream;

use referd_core::tracking::TrackingScope;

mod support;

const CLICKS: usize = 300;

fn click(addr: &str, path: &str, visitor: usize) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0\r\nX-Forwarded-For: 198.51.{}.{}\r\nConnection: close\r\n\r\n",
        visitor / 250,
        visitor % 250
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_clicks_are_stored_on_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("referd.db").display());
    let (store, program, alice) = support::shop_with_alice(&db, "https://shop.test").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = referd::app_state(store.clone(), &format!("http://{addr}"));
    let (stop, server) = support::serve(listener, state);

    // Distinct visitors (X-Forwarded-For from a local peer), so every click counts.
    let path = format!("/r/{}/ref_alice", program.public_id);
    let answers = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            (0..CLICKS)
                .map(|i| click(&addr, &path, i))
                .collect::<Vec<_>>()
        }
    })
    .await
    .unwrap();
    for a in &answers {
        assert!(a.starts_with("HTTP/1.1 302"), "{a}");
        assert!(
            a.contains("location: https://shop.test?ref=ref_alice"),
            "{a}"
        );
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    // `serve` closed the store; a fresh one reads what was written.
    let reopened = referd::open_store(&db).await.unwrap();
    let counts = reopened
        .tracking_counts(
            program.id,
            TrackingScope::Customer(alice.customer.row_id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        counts.clicks, CLICKS as u64,
        "every click answered is stored"
    );
    reopened.close().await;
}
