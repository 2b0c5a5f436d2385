//! `/v1/customers` for affiliate programs (spec §6.1–6.10, seed 001): the seed's shapes,
//! partner attribution (by key, id, email and link URL), every addressing form including the
//! legacy body-addressed ones, the lifecycle, and concurrent duplicates.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, redact_times};

/// Seed 001's partner key, on a partner created first.
async fn with_partner(app: &TestApp) {
    app.partner(json!({"id":"partner_1","key":"PARTNER_KEY","email":"partner@partnero.com"}))
        .await;
}

fn seed_customer() -> Value {
    json!({"partner":{"key":"PARTNER_KEY"},"key":"CUSTOMER_KEY","email":"customer@partnero.com",
           "name":"Partnero","surname":"Customer"})
}

async fn create_matches_seed_001(app: TestApp) {
    with_partner(&app).await;
    let mut body = app.post("/v1/customers", seed_customer()).await.ok();
    redact_times(&mut body);
    let expected = json!({
        "data": {
            "key": "CUSTOMER_KEY", "partner": "PARTNER_KEY", "deleted": false,
            "name": "Partnero", "surname": "Customer", "email": "customer@partnero.com",
            "status": "active", "created_at": "[time]", "updated_at": "[time]",
            "deleted_at": null, "tags": []
        },
        "status": 1
    });
    assert_eq!(body, expected);
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        serde_json::to_string(&expected).unwrap(),
        "key order follows the seed"
    );
}

async fn partner_by_id_or_email_and_tags(app: TestApp) {
    with_partner(&app).await;
    let c = app
        .customer(json!({"key":"c1","partner":{"id":"partner_1"},"tags":["a","b"]}))
        .await;
    assert_eq!(c["partner"], "PARTNER_KEY");
    assert_eq!(c["tags"], json!([{"value":"a"},{"value":"b"}]));
    let c = app
        .customer(json!({"key":"c2","partner":{"email":"PARTNER@partnero.com"}}))
        .await;
    assert_eq!(c["partner"], "PARTNER_KEY");
    // n8n expands dotted names; flat and bracket spellings mean the same.
    let c = app
        .customer(json!({"key":"c3","partner.key":"PARTNER_KEY"}))
        .await;
    assert_eq!(c["partner"], "PARTNER_KEY");
    let c = app
        .customer(json!({"key":"c4","partner_key":"PARTNER_KEY"}))
        .await;
    assert_eq!(c["partner"], "PARTNER_KEY");
    // The customer's `partner` follows the partner's key when it changes.
    app.put(
        "/v1/partners/partner_1",
        json!({"update":{"key":"NEW_KEY"}}),
    )
    .await
    .ok();
    assert_eq!(
        app.get("/v1/customers/c1").await.ok()["data"]["partner"],
        "NEW_KEY"
    );
}

async fn partner_errors(app: TestApp) {
    with_partner(&app).await;
    let errors = app
        .post("/v1/customers", json!({"key":"c1"}))
        .await
        .invalid();
    assert!(errors["partner.key"].is_array(), "{errors}");
    let errors = app
        .post("/v1/customers", json!({"partner":{"key":"PARTNER_KEY"}}))
        .await
        .invalid();
    assert_eq!(errors["key"], json!(["The key field is required."]));
    // An unknown partner is an error (400), never a silent unattributed customer.
    let body = app
        .post(
            "/v1/customers",
            json!({"key":"c1","partner":{"key":"NOPE"}}),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], 0);
    assert!(
        body["message"].as_str().unwrap().contains("partner.key"),
        "{body}"
    );
    // An archived partner cannot take new customers.
    app.post("/v1/partners/partner_1/archive", json!({}))
        .await
        .ok();
    app.post(
        "/v1/customers",
        json!({"key":"c1","partner":{"key":"PARTNER_KEY"}}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    // A pending (not yet approved) partner can.
    app.partner(json!({"key":"PENDING","email":"p@x.co","approved":false}))
        .await;
    app.customer(json!({"key":"c2","partner":{"key":"PENDING"}}))
        .await;
    let list = app.get("/v1/customers").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

async fn validation_and_duplicates(app: TestApp) {
    with_partner(&app).await;
    app.customer(seed_customer()).await;
    let errors = app.post("/v1/customers", seed_customer()).await.invalid();
    assert_eq!(errors["key"], json!(["The key has already been taken."]));
    let mut other = seed_customer();
    other["key"] = json!("OTHER");
    let errors = app.post("/v1/customers", other.clone()).await.invalid();
    assert_eq!(
        errors["email"],
        json!(["The email has already been taken."])
    );
    other["email"] = json!("not-an-email");
    let errors = app.post("/v1/customers", other.clone()).await.invalid();
    assert!(errors["email"].is_array());
    other["email"] = json!("fine@x.co");
    other["key"] = json!("has space");
    let errors = app.post("/v1/customers", other).await.invalid();
    assert!(errors["key"].is_array());
    // The key may be an email address (Partnero: "use account id or email").
    let c = app
        .customer(json!({"key":"user@example.com","partner":{"key":"PARTNER_KEY"}}))
        .await;
    assert_eq!(c["key"], "user@example.com");
    assert_eq!(c["email"], Value::Null);
}

async fn concurrent_duplicate_keys_make_one_customer(app: TestApp) {
    with_partner(&app).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let app = app.clone();
        tasks.spawn(async move {
            app.post(
                "/v1/customers",
                json!({"key":"race","partner":{"key":"PARTNER_KEY"}}),
            )
            .await
            .status
        });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
    let got = app.get("/v1/partners/partner_1").await.ok();
    assert_eq!(got["data"]["referrals_count"], 1);
}

async fn referral_url_attributes_to_a_link(app: TestApp) {
    with_partner(&app).await;
    app.partner(json!({"key":"OTHER_KEY","email":"o@x.co"}))
        .await;
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"summer","partner":{"key":"PARTNER_KEY"}}),
    )
    .await
    .ok();
    let c = app
        .customer(json!({"key":"c1","partner":{"key":"PARTNER_KEY"},
                         "options":{"referral_url":"https://partnero.com?aff=summer"}}))
        .await;
    assert_eq!(c["partner"], "PARTNER_KEY");
    // A URL that is another partner's link, or no link at all, is refused.
    for url in [
        "https://partnero.com?aff=OTHER_KEY",
        "https://partnero.com?aff=unknown",
        "https://partnero.com/pricing",
    ] {
        let errors = app
            .post(
                "/v1/customers",
                json!({"key":"c2","partner":{"key":"PARTNER_KEY"},"options":{"referral_url":url}}),
            )
            .await
            .invalid();
        assert!(errors["options.referral_url"].is_array(), "{url}: {errors}");
    }
}

async fn inline_transaction_is_accepted(app: TestApp) {
    with_partner(&app).await;
    // The PHP SDK's customers()->create($customer, $partner, $transaction).
    let c = app
        .customer(
            json!({"key":"c1","name":"N","partner":{"key":"PARTNER_KEY"},
                         "transaction":{"key":"tx_1","amount":99.99,"action":"sale"}}),
        )
        .await;
    assert_eq!(c["key"], "c1");
}

async fn list_and_partner_filters(app: TestApp) {
    with_partner(&app).await;
    app.partner(json!({"id":"partner_2","key":"P2","email":"p2@x.co"}))
        .await;
    for (key, partner) in [("a1", "PARTNER_KEY"), ("a2", "P2"), ("a3", "PARTNER_KEY")] {
        app.customer(json!({"key":key,"email":format!("{key}@x.co"),"partner":{"key":partner}}))
            .await;
    }
    let keys = |v: Value| -> Vec<Value> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].clone())
            .collect()
    };
    let all = app.get("/v1/customers").await.ok();
    assert_eq!(keys(all.clone()), [json!("a1"), json!("a2"), json!("a3")]);
    // List items omit `status` and `tags`.
    let item = all["data"][0].as_object().unwrap();
    assert!(!item.contains_key("status") && !item.contains_key("tags"));
    assert_eq!(item["partner"], "PARTNER_KEY");
    for path in [
        "/v1/customers?partner.key=PARTNER_KEY",
        "/v1/customers?partner_key=PARTNER_KEY",
        "/v1/customers?partner%5Bkey%5D=PARTNER_KEY",
        "/v1/customers?partner_email=partner@partnero.com",
        "/v1/customers?partner.email=PARTNER@partnero.com",
    ] {
        assert_eq!(
            keys(app.get(path).await.ok()),
            [json!("a1"), json!("a3")],
            "{path}"
        );
    }
    // PHP: the filter and the limit in a GET body.
    let php = app
        .get_with_body("/v1/customers", json!({"partner":{"key":"P2"},"limit":10}))
        .await
        .ok();
    assert_eq!(keys(php), [json!("a2")]);
    // An unknown partner lists nothing.
    assert!(keys(app.get("/v1/customers?partner_key=NOPE").await.ok()).is_empty());
    let page = app
        .get("/v1/customers?limit=1&partner_key=PARTNER_KEY")
        .await
        .ok();
    let next = page["links"]["next"]
        .as_str()
        .unwrap()
        .replace("http://referd.test", "");
    assert_eq!(keys(app.get(&next).await.ok()), [json!("a3")], "{next}");
}

async fn legacy_fetch_on_the_list_path(app: TestApp) {
    with_partner(&app).await;
    app.customer(seed_customer()).await;
    // Seed 001 "Fetch a customer": GET /v1/customers with a body key or email.
    for body in [
        json!({"key":"CUSTOMER_KEY"}),
        json!({"email":"customer@partnero.com"}),
    ] {
        let got = app.get_with_body("/v1/customers", body.clone()).await.ok();
        assert_eq!(got["data"]["key"], "CUSTOMER_KEY", "{body}");
        assert!(got.get("links").is_none(), "a single customer, not a page");
    }
    let got = app.get("/v1/customers?key=CUSTOMER_KEY").await.ok();
    assert_eq!(got["data"]["key"], "CUSTOMER_KEY");
    app.get_with_body("/v1/customers", json!({"key":"NOPE"}))
        .await
        .expect(StatusCode::NOT_FOUND);
    // With list parameters it is a list again.
    let list = app
        .get_with_body("/v1/customers", json!({"key":"CUSTOMER_KEY","limit":15}))
        .await
        .ok();
    assert!(list["data"].is_array());
}

async fn get_by_key_or_email_and_search(app: TestApp) {
    with_partner(&app).await;
    app.customer(seed_customer()).await;
    for ident in [
        "CUSTOMER_KEY",
        "customer@partnero.com",
        "Customer@Partnero.com",
    ] {
        let got = app.get(&format!("/v1/customers/{ident}")).await.ok();
        assert_eq!(got["data"]["key"], "CUSTOMER_KEY", "{ident}");
    }
    let body = app
        .get("/v1/customers/nope")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Customer not found");
    for q in [
        "email=customer@partnero.com",
        "key=CUSTOMER_KEY",
        "id=CUSTOMER_KEY",
        "email=customer@partnero.com&key=CUSTOMER_KEY",
    ] {
        let found = app.get(&format!("/v1/customers:search?{q}")).await.ok();
        assert_eq!(found["data"][0]["key"], "CUSTOMER_KEY", "{q}");
        assert_eq!(found["data"].as_array().unwrap().len(), 1);
    }
    let none = app.get("/v1/customers:search?key=CUSTOMER").await.ok();
    assert_eq!(none["data"], json!([]));
    app.get("/v1/customers:search").await.invalid();
}

async fn update_in_every_addressing_form(app: TestApp) {
    with_partner(&app).await;
    app.customer(seed_customer()).await;
    // Seed 001: PUT /v1/customers with a body key and `update`.
    let c = app
        .put(
            "/v1/customers",
            json!({"key":"CUSTOMER_KEY","update":{"name":"New Partnero"}}),
        )
        .await
        .ok();
    assert_eq!(c["data"]["name"], "New Partnero");
    assert_eq!(c["data"]["status"], "active");
    // By body email.
    let c = app
        .put(
            "/v1/customers",
            json!({"email":"customer@partnero.com","update":{"surname":"S"}}),
        )
        .await
        .ok();
    assert_eq!(c["data"]["surname"], "S");
    // Flat by path (n8n, Python SDK).
    let c = app
        .put(
            "/v1/customers/CUSTOMER_KEY",
            json!({"name":"Flat","email":"NEW@x.co"}),
        )
        .await
        .ok();
    assert_eq!(c["data"]["email"], "new@x.co");
    // update.key changes the key; the old one is gone.
    let c = app
        .put(
            "/v1/customers/CUSTOMER_KEY",
            json!({"update":{"key":"K2","tags":["t"]}}),
        )
        .await
        .ok();
    assert_eq!(c["data"]["key"], "K2");
    assert_eq!(c["data"]["tags"], json!([{"value":"t"}]));
    app.get("/v1/customers/CUSTOMER_KEY")
        .await
        .expect(StatusCode::NOT_FOUND);
    let c = app
        .put("/v1/customers/K2", json!({"update":{"tags":[]}}))
        .await
        .ok();
    assert_eq!(c["data"]["tags"], json!([]));
    app.customer(json!({"key":"K3","email":"k3@x.co","partner":{"key":"PARTNER_KEY"}}))
        .await;
    let errors = app
        .put("/v1/customers/K3", json!({"update":{"key":"K2"}}))
        .await
        .invalid();
    assert_eq!(
        errors["update.key"],
        json!(["The key has already been taken."])
    );
    let errors = app
        .put("/v1/customers/K3", json!({"email":"new@x.co"}))
        .await
        .invalid();
    assert_eq!(
        errors["email"],
        json!(["The email has already been taken."])
    );
    app.put("/v1/customers/nope", json!({"name":"x"}))
        .await
        .expect(StatusCode::NOT_FOUND);
    let errors = app
        .put("/v1/customers", json!({"update":{"name":"x"}}))
        .await
        .invalid();
    assert!(errors["key"].is_array());
}

async fn archive_restore_delete_and_transactions(app: TestApp) {
    with_partner(&app).await;
    app.customer(seed_customer()).await;
    app.post("/v1/customers/CUSTOMER_KEY/archive", json!({}))
        .await
        .ok();
    app.post("/v1/customers/CUSTOMER_KEY/archive", json!({}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/v1/customers").await.ok()["data"], json!([]));
    assert_eq!(
        app.get("/v1/customers/CUSTOMER_KEY").await.ok()["data"]["status"],
        "archived"
    );
    app.post("/v1/customers/CUSTOMER_KEY/revoke-archive", json!({}))
        .await
        .ok();
    app.post("/v1/customers/CUSTOMER_KEY/revoke-archive", json!({}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    // Transactions: none yet, but the customer must exist and limit is checked.
    let tx = app
        .get("/v1/customers/CUSTOMER_KEY/transactions?limit=15&page=1")
        .await
        .ok();
    assert_eq!(tx["data"], json!([]));
    app.get("/v1/customers/nope/transactions")
        .await
        .expect(StatusCode::NOT_FOUND);
    app.get("/v1/customers/CUSTOMER_KEY/transactions?limit=0")
        .await
        .invalid();
    // Delete by path; the key and email are free again.
    assert_eq!(
        app.delete("/v1/customers/CUSTOMER_KEY").await.ok(),
        json!({"status":1})
    );
    app.get("/v1/customers/CUSTOMER_KEY")
        .await
        .expect(StatusCode::NOT_FOUND);
    app.customer(seed_customer()).await;
    // Seed 001: DELETE /v1/customers with a body key, or email.
    app.delete_with_body("/v1/customers", json!({"key":"CUSTOMER_KEY"}))
        .await
        .ok();
    app.customer(seed_customer()).await;
    app.delete_with_body("/v1/customers", json!({"email":"customer@partnero.com"}))
        .await
        .ok();
    app.delete_with_body("/v1/customers", json!({"key":"CUSTOMER_KEY"}))
        .await
        .expect(StatusCode::NOT_FOUND);
    // Refer-a-friend-only endpoints are not available.
    app.customer(seed_customer()).await;
    app.get("/v1/customers/CUSTOMER_KEY/referrals")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn deprecated_singular_customer(app: TestApp) {
    with_partner(&app).await;
    // PHP `customer()->create`: nested customer, top-level partner and transaction.
    let c = app
        .post(
            "/v1/customer",
            json!({"customer":{"key":"old","name":"Old","email":"old@x.co"},
                   "partner":{"key":"PARTNER_KEY"},"transaction":{"key":"t","amount":5}}),
        )
        .await
        .ok();
    assert_eq!(c["data"]["key"], "old");
    assert_eq!(c["data"]["partner"], "PARTNER_KEY");
    let c = app
        .get_with_body("/v1/customer", json!({"key":"old"}))
        .await
        .ok();
    assert_eq!(c["data"]["name"], "Old");
    let c = app
        .put(
            "/v1/customer",
            json!({"key":"old","update":{"name":"Older"}}),
        )
        .await
        .ok();
    assert_eq!(c["data"]["name"], "Older");
    app.delete_with_body("/v1/customer", json!({"key":"old"}))
        .await
        .ok();
    app.get_with_body("/v1/customer", json!({"key":"old"}))
        .await
        .expect(StatusCode::NOT_FOUND);
    let errors = app
        .post("/v1/customer", json!({"customer":"x"}))
        .await
        .invalid();
    assert!(errors["customer"].is_array());
}

crate::affiliate_tests!(
    create_matches_seed_001,
    partner_by_id_or_email_and_tags,
    partner_errors,
    validation_and_duplicates,
    concurrent_duplicate_keys_make_one_customer,
    referral_url_attributes_to_a_link,
    inline_transaction_is_accepted,
    list_and_partner_filters,
    legacy_fetch_on_the_list_path,
    get_by_key_or_email_and_search,
    update_in_every_addressing_form,
    archive_restore_delete_and_transactions,
    deprecated_singular_customer,
);
