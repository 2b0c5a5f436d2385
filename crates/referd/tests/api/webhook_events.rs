//! Affiliate events on both backends: partners, affiliate customers, transactions and their
//! rewards each queue their event with the change, and the delivered `data` is what the
//! matching GET answers (transactions) or the ledger entry (rewards).

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use referd::delivery::ApiRender;
use referd_api::AppState;
use referd_core::page::{PageRequest, SortOrder};
use referd_core::service::rules;
use referd_core::time::{Clock, SystemClock};
use referd_webhooks::{Config, Worker};
use serde_json::{Value, json};

use crate::helpers::{PUBLIC_URL, TestApp};
use crate::webhook_delivery::TestClock;

/// Collects delivered bodies on a local port.
async fn receiver() -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    let seen: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let s = s.clone();
            async move {
                s.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn affiliate_changes_emit_their_events(app: TestApp) {
    let (url, seen) = receiver().await;
    rules::set(
        &*app.store,
        &app.program,
        &json!({"affiliate": {"commission": {"type": "percentage", "value": 30}}}),
        SystemClock.now(),
    )
    .await
    .unwrap();
    let events = json!([
        "partner.created",
        "partner.updated",
        "partner.deleted",
        "partner.archived",
        "customer.created",
        "transaction.created",
        "transaction.deleted",
        "reward.created"
    ]);
    app.post(
        "/v1/webhooks",
        json!({"name": "all", "url": url, "events": events}),
    )
    .await
    .ok();
    app.partner(json!({"id": "p1", "key": "p1", "email": "p1@x.co"}))
        .await;
    app.put("/v1/partners/p1", json!({"update": {"name": "Pat"}}))
        .await
        .ok();
    app.customer(json!({"key": "c1", "partner": {"key": "p1"}}))
        .await;
    let sale = app
        .post(
            "/v1/transactions",
            json!({"key": "t1", "amount": 99.99, "action": "sale", "customer": {"key": "c1"}}),
        )
        .await
        .ok();
    let tx_get = app.get("/v1/transactions/t1").await.ok();
    app.delete("/v1/transactions/t1").await.ok();
    app.partner(json!({"id": "p2", "key": "p2", "email": "p2@x.co"}))
        .await;
    app.post("/v1/partners/p2/archive", json!({})).await.ok();
    app.delete("/v1/partners/p1").await.ok();

    let rows = app
        .store
        .list_deliveries(
            app.program.id,
            None,
            PageRequest {
                page: 1,
                per_page: 100,
                sort: SortOrder::Asc,
            },
        )
        .await
        .unwrap();
    let mut names: Vec<String> = rows.iter().map(|d| d.event.clone()).collect();
    names.reverse();
    assert_eq!(
        names,
        [
            "partner.created",
            "partner.updated",
            "customer.created",
            "transaction.created",
            "reward.created",
            "transaction.deleted",
            "partner.created",
            "partner.archived",
            "partner.deleted",
        ]
    );

    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now().as_micros())));
    let state = AppState::new(app.store.clone(), clock.clone(), PUBLIC_URL);
    let config = Config {
        allow_private: true,
        lease: Duration::from_secs(60),
        batch: 32,
        idle_poll: Duration::from_millis(10),
        owner: "w".into(),
        only: Some(app.program.id),
        retention: Duration::from_secs(86_400),
    };
    let w = Arc::new(
        Worker::new(app.store.clone(), Arc::new(ApiRender(state)), clock, config).unwrap(),
    );
    while w.tick().await.unwrap() > 0 {}
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 9);
    let by = |event: &str| -> Vec<Value> {
        bodies
            .iter()
            .filter(|b| b["event"] == event)
            .map(|b| b["data"].clone())
            .collect()
    };
    // The refunded transaction no longer answers its GET: its created event, first sent after
    // the refund, carries the row as it was then; the reward is the ledger entry.
    let created = &by("transaction.created")[0];
    assert_eq!(created["key"], "t1");
    assert_eq!(sale["data"]["key"], tx_get["data"]["key"]);
    let reward = &by("reward.created")[0];
    assert_eq!(reward["type"], "reward");
    assert_eq!(reward["amount"], json!(29.997));
    assert_eq!(reward["partner"]["id"], "p1");
    assert_eq!(reward["transaction"]["key"], "t1");
    let deleted = &by("partner.deleted")[0];
    assert_eq!(deleted["id"], "p1");
    assert_eq!(deleted["status"], "deleted");
    crate::helpers::assert_timestamp(deleted["deleted_at"].as_str().unwrap());
    // A live partner's data is its GET.
    let p2 = app.get("/v1/partners/p2").await.ok();
    assert_eq!(by("partner.archived")[0], p2["data"]);
    assert_eq!(by("partner.created")[1], p2["data"]);
}

async fn a_transaction_event_carries_the_get_answer(app: TestApp) {
    let (url, seen) = receiver().await;
    app.post(
        "/v1/webhooks",
        json!({"name": "tx", "url": url, "events": ["transaction.created"]}),
    )
    .await
    .ok();
    app.partner(json!({"id": "p1", "key": "p1", "email": "p1@x.co"}))
        .await;
    app.customer(json!({"key": "c1", "partner": {"key": "p1"}}))
        .await;
    app.post(
        "/v1/transactions",
        json!({"key": "t9", "amount": 10.5, "action": "sale", "customer": {"key": "c1"}}),
    )
    .await
    .ok();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState::new(app.store.clone(), clock.clone(), PUBLIC_URL);
    let mut config = Config::from_env();
    config.allow_private = true;
    config.only = Some(app.program.id);
    let w = Arc::new(
        Worker::new(app.store.clone(), Arc::new(ApiRender(state)), clock, config).unwrap(),
    );
    assert_eq!(w.tick().await.unwrap(), 1);
    let get = app.get("/v1/transactions/t9").await.ok();
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies[0]["data"], get["data"]);
}

/// A reward with a review window is announced `reward.approved` when the window ends: once,
/// by the worker's sweep, and never for a reward refunded before.
async fn rewards_are_announced_when_their_review_window_ends(app: TestApp) {
    let (url, seen) = receiver().await;
    rules::set(
        &*app.store,
        &app.program,
        &json!({"affiliate": {"commission": {"type": "percentage", "value": 30},
                              "review_days": 14}}),
        SystemClock.now(),
    )
    .await
    .unwrap();
    app.post(
        "/v1/webhooks",
        json!({"name": "approvals", "url": url, "events": ["reward.approved"]}),
    )
    .await
    .ok();
    app.partner(json!({"id": "p1", "key": "p1", "email": "p1@x.co"}))
        .await;
    app.customer(json!({"key": "c1", "partner": {"key": "p1"}}))
        .await;
    for (key, amount) in [("t1", 99.99), ("t2", 10.0)] {
        app.post(
            "/v1/transactions",
            json!({"key": key, "amount": amount, "action": "sale", "customer": {"key": "c1"}}),
        )
        .await
        .ok();
    }
    // Refunded within its review window: never approved.
    app.delete("/v1/transactions/t2").await.ok();

    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now().as_micros())));
    let state = AppState::new(app.store.clone(), clock.clone(), PUBLIC_URL);
    let mut config = Config::from_env();
    config.allow_private = true;
    config.only = Some(app.program.id);
    let w = Arc::new(
        Worker::new(
            app.store.clone(),
            Arc::new(ApiRender(state)),
            clock.clone(),
            config,
        )
        .unwrap(),
    );
    w.announce_approvals().await;
    assert_eq!(w.tick().await.unwrap(), 0, "still in its review window");
    clock.advance(Duration::from_secs(13 * 86_400));
    w.announce_approvals().await;
    assert_eq!(w.tick().await.unwrap(), 0, "a day to go");
    clock.advance(Duration::from_secs(2 * 86_400));
    w.announce_approvals().await;
    assert_eq!(w.tick().await.unwrap(), 1);
    w.announce_approvals().await;
    assert_eq!(w.tick().await.unwrap(), 0, "announced once");

    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["event"], "reward.approved");
    let reward = &bodies[0]["data"];
    assert_eq!(reward["amount"], json!(29.997));
    assert_eq!(reward["status"], "approved");
    assert_eq!(reward["partner"]["id"], "p1");
    assert_eq!(reward["transaction"]["key"], "t1");
}

crate::affiliate_tests!(
    affiliate_changes_emit_their_events,
    a_transaction_event_carries_the_get_answer,
    rewards_are_announced_when_their_review_window_ends,
);
