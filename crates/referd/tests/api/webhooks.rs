//! `/v1/webhooks` (spec §9.1) and the outbox rows changes write (spec §9.2), on both backends:
//! the webhook object with its `signature` secret, validation by program type, updates in
//! both forms, deletion, secret rotation, and one delivery per change and subscribed webhook
//! written with the change.

use referd_core::page::{PageRequest, SortOrder};
use referd_core::webhook::DeliveryState;
use serde_json::{Value, json};

use crate::helpers::TestApp;

fn page() -> PageRequest {
    PageRequest {
        page: 1,
        per_page: 100,
        sort: SortOrder::Asc,
    }
}

async fn create(app: &TestApp, body: Value) -> Value {
    app.post("/v1/webhooks", body).await.ok()["data"].clone()
}

async fn deliveries(app: &TestApp) -> Vec<(String, String)> {
    let mut rows = app
        .store
        .list_deliveries(app.program.id, None, page())
        .await
        .unwrap();
    rows.reverse();
    rows.into_iter().map(|d| (d.webhook_key, d.event)).collect()
}

async fn crud_round_trip(app: TestApp) {
    let made = create(
        &app,
        json!({"name": "n8n – flow", "url": "https://hooks.example.com/a",
               "events": ["customer.created", "transaction.created"]}),
    )
    .await;
    let key = made["key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 12);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(made["signature"].as_str().unwrap().len() >= 16);
    assert_eq!(made["is_active"], true);
    assert_eq!(
        made["events"],
        json!(["customer.created", "transaction.created"])
    );
    assert_eq!(made["url"], "https://hooks.example.com/a");
    let got = app.get(&format!("/v1/webhooks/{key}")).await.ok();
    assert_eq!(got["data"], made);

    // Custom key, inactive, form-style single event.
    let custom = create(
        &app,
        json!({"key": "my-hook", "name": "B", "url": "http://x.example/b",
               "events": "customer.updated", "is_active": "0"}),
    )
    .await;
    assert_eq!(custom["key"], "my-hook");
    assert_eq!(custom["is_active"], false);
    assert_eq!(custom["events"], json!(["customer.updated"]));

    let list = app.get("/v1/webhooks?limit=10").await.ok();
    let keys: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [key.as_str(), "my-hook"]);
    assert_eq!(list["meta"]["per_page"], 10);

    // Updates: wrapped and flat.
    let up = app
        .put(
            &format!("/v1/webhooks/{key}"),
            json!({"update": {"name": "Renamed", "is_active": false}}),
        )
        .await
        .ok();
    assert_eq!(up["data"]["name"], "Renamed");
    assert_eq!(up["data"]["is_active"], false);
    assert_eq!(up["data"]["signature"], made["signature"]);
    let up = app
        .put(
            &format!("/v1/webhooks/{key}"),
            json!({"events": ["customer.deleted"], "url": "https://other.example/x"}),
        )
        .await
        .ok();
    assert_eq!(up["data"]["events"], json!(["customer.deleted"]));
    assert_eq!(up["data"]["url"], "https://other.example/x");

    // Rotation: a new secret; the old one keeps signing during the overlap.
    let rotated = app
        .post(
            &format!("/v1/webhooks/{key}/rotate-secret"),
            json!({"overlap_hours": 2}),
        )
        .await
        .ok();
    assert_ne!(rotated["data"]["signature"], made["signature"]);
    let stored = app
        .store
        .find_webhook(app.program.id, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.previous_secret.as_deref(),
        made["signature"].as_str()
    );

    assert_eq!(
        app.delete(&format!("/v1/webhooks/{key}")).await.ok(),
        json!({"status": 1})
    );
    let gone = app.get(&format!("/v1/webhooks/{key}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["message"], "Webhook not found");
    assert_eq!(app.delete(&format!("/v1/webhooks/{key}")).await.status, 404);
}

async fn bad_input_is_a_clear_422(app: TestApp) {
    let e = app.post("/v1/webhooks", json!({})).await.invalid();
    assert!(
        e["name"].is_array() && e["url"].is_array() && e["events"].is_array(),
        "{e}"
    );
    // An event of another program type is named.
    let e = app
        .post(
            "/v1/webhooks",
            json!({"name": "x", "url": "https://a.example", "events": ["customer.created", "partner.created"]}),
        )
        .await
        .invalid();
    let msg = e["events.1"][0].as_str().unwrap();
    assert!(
        msg.contains("partner.created") && msg.contains("referral"),
        "{msg}"
    );
    let e = app
        .post(
            "/v1/webhooks",
            json!({"name": "x", "url": "ftp://a", "events": ["customer.created"]}),
        )
        .await
        .invalid();
    assert!(e["url"].is_array(), "{e}");
    let e = app
        .post(
            "/v1/webhooks",
            json!({"name": "x", "url": "https://a.example", "events": []}),
        )
        .await
        .invalid();
    assert!(e["events"].is_array(), "{e}");
    let e = app
        .post(
            "/v1/webhooks",
            json!({"name": {"a": 1}, "url": "https://a.example", "events": ["customer.created"]}),
        )
        .await
        .invalid();
    assert!(e["name"].is_array(), "{e}");
    // A taken key.
    let body = json!({"key": "dup", "name": "x", "url": "https://a.example", "events": ["customer.created"]});
    create(&app, body.clone()).await;
    let e = app.post("/v1/webhooks", body).await.invalid();
    assert_eq!(e["key"][0], "The key has already been taken.");
    // Updates validate too, with the update. prefix.
    let e = app
        .put("/v1/webhooks/dup", json!({"update": {"events": ["nope"]}}))
        .await
        .invalid();
    assert!(e["update.events.0"].is_array(), "{e}");
    let e = app
        .post(
            "/v1/webhooks/dup/rotate-secret",
            json!({"overlap_hours": 10000}),
        )
        .await
        .invalid();
    assert!(e["overlap_hours"].is_array(), "{e}");
    assert_eq!(
        app.get("/v1/webhooks?limit=5").await.invalid()["limit"][0],
        "The limit field must be between 10 and 100."
    );
}

async fn changes_write_their_events_with_them(app: TestApp) {
    // No webhook: changes write no delivery.
    app.customer(json!({"id": "c0", "email": "c0@example.com"}))
        .await;
    assert!(deliveries(&app).await.is_empty());

    let all = create(
        &app,
        json!({"key": "all", "name": "all", "url": "https://a.example",
               "events": ["customer.created", "customer.updated", "customer.deleted"]}),
    )
    .await;
    assert_eq!(all["key"], "all");
    create(
        &app,
        json!({"key": "created", "name": "c", "url": "https://b.example", "events": ["customer.created"]}),
    )
    .await;
    create(
        &app,
        json!({"key": "off", "name": "off", "url": "https://c.example",
               "events": ["customer.created"], "is_active": false}),
    )
    .await;
    app.customer(json!({"id": "c1", "email": "c1@example.com"}))
        .await;
    app.put("/v1/customers/c1", json!({"update": {"name": "Ann"}}))
        .await
        .ok();
    app.delete("/v1/customers/c1").await.ok();
    // A failed write writes no event.
    app.post(
        "/v1/customers",
        json!({"id": "c0", "email": "x@example.com"}),
    )
    .await
    .invalid();
    let got = deliveries(&app).await;
    let want: Vec<(String, String)> = [
        ("all", "customer.created"),
        ("created", "customer.created"),
        ("all", "customer.updated"),
        ("all", "customer.deleted"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    let pending = app
        .store
        .list_deliveries(app.program.id, Some(DeliveryState::Pending), page())
        .await
        .unwrap();
    assert_eq!(pending.len(), 4);
    // Deleting a webhook drops its deliveries.
    app.delete("/v1/webhooks/all").await.ok();
    assert_eq!(deliveries(&app).await.len(), 1);
}

crate::backend_tests!(
    crud_round_trip,
    bad_input_is_a_clear_422,
    changes_write_their_events_with_them,
);
