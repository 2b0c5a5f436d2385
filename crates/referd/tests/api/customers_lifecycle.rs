//! Updates (wrapped, flat, path- or body-addressed), archive, restore and delete, and what
//! archived and deleted customers look like afterwards.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

async fn alice(app: &TestApp) {
    app.customer(json!({"id":"customer_123","key":"ref_123","name":"Alice","surname":"Brown","email":"alice.brown@partnero.com"}))
        .await;
}

async fn update_wrapped_by_path_like_the_seed(app: TestApp) {
    alice(&app).await;
    let before = app.get("/v1/customers/customer_123").await.ok();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let body = app
        .put(
            "/v1/customers/customer_123",
            json!({"update":{"name":"Alice updated","surname":"Brown updated"}}),
        )
        .await
        .ok();
    let data = &body["data"];
    assert_eq!(data["name"], "Alice updated");
    assert_eq!(data["surname"], "Brown updated");
    assert_eq!(data["email"], "alice.brown@partnero.com");
    assert_eq!(data["created_at"], before["data"]["created_at"]);
    // Whole seconds on the wire, as Partnero: never earlier than before.
    assert!(data["updated_at"].as_str() >= before["data"]["updated_at"].as_str());
}

async fn update_answers_what_a_get_then_reads(app: TestApp) {
    alice(&app).await;
    app.customer(
        json!({"id":"mid","email":"mid@x.test","referring_customer":{"id":"customer_123"}}),
    )
    .await;
    app.customer(json!({"id":"leaf","email":"leaf@x.test","referring_customer":{"id":"mid"}}))
        .await;
    // "mid" has a referrer and a referral: the update's answer must carry both, as stored.
    let updated = app
        .put(
            "/v1/customers/mid",
            json!({"update":{"name":"Mid","key":"mid_key"}}),
        )
        .await
        .ok();
    let read = app.get("/v1/customers/mid").await.ok();
    assert_eq!(updated, read);
    assert_eq!(read["data"]["referrals_count"], 1);
    assert_eq!(read["data"]["referring_customer"]["id"], "customer_123");
    assert_eq!(
        read["data"]["referral_link"],
        "https://partnero.com?ref=mid_key"
    );
}

async fn update_flat_by_path(app: TestApp) {
    alice(&app).await;
    // The n8n node and the Python SDK send flat fields.
    let body = app
        .put(
            "/v1/customers/customer_123",
            json!({"email":"alice@new.test","name":"A","metadata":{"date_of_birth":"1991-01-31"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["email"], "alice@new.test");
    assert_eq!(body["data"]["name"], "A");
    assert_eq!(body["data"]["metadata"]["date_of_birth"], "1991-01-31");
    // An empty update changes nothing and answers the customer.
    let same = app.put("/v1/customers/customer_123", json!([])).await.ok();
    assert_eq!(same["data"]["updated_at"], body["data"]["updated_at"]);
}

async fn update_addressed_in_the_body(app: TestApp) {
    alice(&app).await;
    // PHP SDK referrals()->update: PUT /v1/customers {"id":…,"update":{…}}.
    let body = app
        .put(
            "/v1/customers",
            json!({"id":"customer_123","update":{"name":"Via id"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["name"], "Via id");
    let body = app
        .put(
            "/v1/customers",
            json!({"key":"ref_123","update":{"surname":"Via key"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["surname"], "Via key");
    // Flat and body-addressed: the identifier addresses, the rest changes (found by id, a
    // flat key is a new key).
    let body = app
        .put(
            "/v1/customers",
            json!({"id":"customer_123","name":"Flat","key":"flat_key"}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["name"], "Flat");
    assert_eq!(body["data"]["id"], "customer_123");
    assert_eq!(
        body["data"]["referral_link"],
        "https://partnero.com?ref=flat_key"
    );
    // Found by key, the key stays.
    let body = app
        .put(
            "/v1/customers",
            json!({"key":"flat_key","email":"moved@x.test"}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["email"], "moved@x.test");
    assert_eq!(
        body["data"]["referral_link"],
        "https://partnero.com?ref=flat_key"
    );
    let errors = app
        .put("/v1/customers", json!({"update":{"name":"x"}}))
        .await
        .invalid();
    assert!(errors["id"].is_array(), "{errors}");
    app.put(
        "/v1/customers",
        json!({"id":"nobody","update":{"name":"x"}}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn update_key_moves_the_referral_link(app: TestApp) {
    alice(&app).await;
    let body = app
        .put(
            "/v1/customers/customer_123",
            json!({"update":{"key":"new_key"}}),
        )
        .await
        .ok();
    assert_eq!(
        body["data"]["referral_link"],
        "https://partnero.com?ref=new_key"
    );
    assert_eq!(
        body["data"]["referral_links"],
        json!(["https://partnero.com?ref=new_key"])
    );
    app.get("/v1/customers/new_key").await.ok();
    app.get("/v1/customers/ref_123")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn update_validates_and_rejects_duplicates(app: TestApp) {
    alice(&app).await;
    app.customer(json!({"id":"c2","key":"k2","email":"two@x.test"}))
        .await;
    let errors = app
        .put(
            "/v1/customers/c2",
            json!({"update":{"email":"alice.brown@partnero.com","key":"ref_123"}}),
        )
        .await
        .invalid();
    assert!(
        errors.get("update.email").is_some() || errors.get("update.key").is_some(),
        "{errors}"
    );
    let errors = app
        .put(
            "/v1/customers/c2",
            json!({"update":{"email":"nope","metadata":{"date_of_birth":"31-01-1990"}}}),
        )
        .await
        .invalid();
    assert!(errors["update.email"].is_array(), "{errors}");
    assert!(
        errors["update.metadata.date_of_birth"].is_array(),
        "{errors}"
    );
    let errors = app
        .put("/v1/customers/c2", json!({"email":"nope"}))
        .await
        .invalid();
    assert!(errors["email"].is_array(), "{errors}");
    let errors = app
        .put("/v1/customers/c2", json!({"update":"name"}))
        .await
        .invalid();
    assert!(errors["update"].is_array(), "{errors}");
    // Nothing changed.
    let c2 = app.get("/v1/customers/c2").await.ok();
    assert_eq!(c2["data"]["email"], "two@x.test");
    app.put("/v1/customers/nobody", json!({"update":{"name":"x"}}))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn archive_and_restore(app: TestApp) {
    alice(&app).await;
    app.customer(
        json!({"id":"c2","email":"two@x.test","referring_customer":{"id":"customer_123"}}),
    )
    .await;
    assert_eq!(
        app.post("/v1/customers/c2/archive", json!([])).await.ok(),
        json!({"status": 1})
    );
    // Hidden from the list, still found by lookup and search, still a referral.
    let list = app.get("/v1/customers").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let got = app.get("/v1/customers/c2").await.ok();
    assert_eq!(got["data"]["status"], "archived");
    let found = app.get("/v1/customers:search?id=c2").await.ok();
    assert_eq!(found["data"][0]["status"], "archived");
    let referrer = app.get("/v1/customers/customer_123").await.ok();
    assert_eq!(referrer["data"]["referrals_count"], 1);
    // Archiving twice, or restoring an active customer: 400 "Action failed".
    let body = app
        .post("/v1/customers/c2/archive", json!([]))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"status":0,"message":"Action failed"}));
    app.post("/v1/customers/c2/revoke-archive", json!([]))
        .await
        .ok();
    assert_eq!(
        app.get("/v1/customers/c2").await.ok()["data"]["status"],
        "active"
    );
    app.post("/v1/customers/c2/revoke-archive", json!([]))
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.post("/v1/customers/nobody/archive", json!([]))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn delete_leaves_a_tombstone_referrer(app: TestApp) {
    alice(&app).await;
    app.customer(
        json!({"id":"c2","email":"two@x.test","referring_customer":{"id":"customer_123"}}),
    )
    .await;
    assert_eq!(
        app.delete("/v1/customers/customer_123").await.ok(),
        json!({"status": 1})
    );
    app.get("/v1/customers/customer_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    app.delete("/v1/customers/customer_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    let found = app.get("/v1/customers:search?id=customer_123").await.ok();
    assert_eq!(found["data"], json!([]));
    // The referred customer keeps its history: the referrer shows as deleted.
    let c2 = app.get("/v1/customers/c2").await.ok();
    assert_eq!(c2["data"]["referring_customer"]["id"], "customer_123");
    assert_eq!(c2["data"]["referring_customer"]["status"], "deleted");
    // The id, key and email are free again.
    let again = app
        .customer(json!({"id":"customer_123","key":"ref_123","email":"alice.brown@partnero.com"}))
        .await;
    assert_eq!(again["referrals_count"], 0);
}

async fn deleting_a_referral_lowers_the_count(app: TestApp) {
    alice(&app).await;
    app.customer(
        json!({"id":"c2","email":"two@x.test","referring_customer":{"id":"customer_123"}}),
    )
    .await;
    app.customer(
        json!({"id":"c3","email":"three@x.test","referring_customer":{"id":"customer_123"}}),
    )
    .await;
    // DELETE /v1/customers with the identifier in the body.
    app.call(Method::DELETE, "/v1/customers", Some(json!({"id":"c2"})))
        .await
        .ok();
    let a = app.get("/v1/customers/customer_123").await.ok();
    assert_eq!(a["data"]["referrals_count"], 1);
    let referrals = app.get("/v1/customers/customer_123/referrals").await.ok();
    assert_eq!(referrals["data"].as_array().unwrap().len(), 1);
    let stats = app.get("/v1/customers/customer_123/stats").await.ok();
    assert_eq!(stats["data"]["referrals"]["signups"], 1);
    app.call(
        Method::DELETE,
        "/v1/customers",
        Some(json!({"email":"THREE@x.test"})),
    )
    .await
    .ok();
    let errors = app
        .call(Method::DELETE, "/v1/customers", Some(json!([])))
        .await
        .invalid();
    assert!(errors["id"].is_array());
}

crate::backend_tests!(
    update_wrapped_by_path_like_the_seed,
    update_answers_what_a_get_then_reads,
    update_flat_by_path,
    update_addressed_in_the_body,
    update_key_moves_the_referral_link,
    update_validates_and_rejects_duplicates,
    archive_and_restore,
    delete_leaves_a_tombstone_referrer,
    deleting_a_referral_lowers_the_count,
);
