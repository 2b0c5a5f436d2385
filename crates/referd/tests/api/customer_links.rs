//! Customer referral links (refer-a-friend, spec §8.3): create (with `customer{…}` or the
//! seed 003 guide's `customer_key`), get, rename, search, delete, a customer's links, and
//! sign-ups through an extra link.

use axum::http::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    links_are_created_read_renamed_and_deleted,
    link_errors,
    a_referral_through_an_extra_link_counts_for_that_link,
);

fn link(key: &str, default: bool) -> serde_json::Value {
    json!({
        "id": key, "key": key, "url": format!("https://partnero.com?ref={key}"),
        "default": default, "is_additional": false, "direct_tracking": false,
        "direct_tracking_redirect": false, "direct_tracking_redirect_url": null
    })
}

async fn alice(app: &TestApp) {
    app.customer(json!({"id":"customer_123","key":"ref_123","email":"alice@partnero.com"}))
        .await;
}

async fn links_are_created_read_renamed_and_deleted(app: TestApp) {
    alice(&app).await;
    let created = app
        .post(
            "/v1/customer_referral_links",
            json!({"key":"alice-2","customer":{"id":"customer_123"}}),
        )
        .await
        .ok();
    assert_eq!(created["data"], link("alice-2", false));
    // The seed 003 guide's form: `customer_key`, no key (one is generated), a destination.
    let guide = app
        .post(
            "/v1/customer_referral_links",
            json!({"customer_key":"ref_123","destination_url":"https://partnero.com/signup"}),
        )
        .await
        .ok();
    let generated = guide["data"]["key"].as_str().unwrap().to_string();
    assert!(!generated.is_empty());
    assert_eq!(guide["data"]["default"], false);

    let got = app.get("/v1/customer_referral_links/alice-2").await.ok();
    assert_eq!(got["data"], link("alice-2", false));
    let default = app.get("/v1/customer_referral_links/ref_123").await.ok();
    assert_eq!(default["data"], link("ref_123", true));

    let all = app
        .get("/v1/customers/customer_123/referral_links")
        .await
        .ok();
    let keys: Vec<_> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        keys,
        vec!["ref_123".to_string(), "alice-2".into(), generated.clone()]
    );

    // The PHP SDK's search: `?key=…&customer[id]=…`.
    let found = app
        .get("/v1/customer_referral_links:search?key=alice-2&customer%5Bid%5D=customer_123")
        .await
        .ok();
    assert_eq!(found["data"], json!([link("alice-2", false)]));
    app.customer(json!({"id":"customer_456","key":"ref_456","email":"bob@partnero.com"}))
        .await;
    let other = app
        .get("/v1/customer_referral_links:search?key=alice-2&customer%5Bid%5D=customer_456")
        .await
        .ok();
    assert_eq!(other["data"], json!([]));
    let by_customer = app
        .get("/v1/customer_referral_links:search?customer%5Bkey%5D=ref_456")
        .await
        .ok();
    assert_eq!(by_customer["data"], json!([link("ref_456", true)]));

    let renamed = app
        .put(
            "/v1/customer_referral_links/alice-2",
            json!({"key":"alice-3"}),
        )
        .await
        .ok();
    assert_eq!(renamed["data"], link("alice-3", false));
    app.get("/v1/customer_referral_links/alice-2")
        .await
        .expect(StatusCode::NOT_FOUND);
    // Renaming the default link renames the customer's key.
    let renamed = app
        .put(
            "/v1/customer_referral_links/ref_123",
            json!({"update":{"key":"ref_999"}}),
        )
        .await
        .ok();
    assert_eq!(renamed["data"], link("ref_999", true));
    let customer = app.get("/v1/customers/customer_123").await.ok();
    assert_eq!(
        customer["data"]["referral_link"],
        "https://partnero.com?ref=ref_999"
    );

    app.delete("/v1/customer_referral_links/alice-3").await.ok();
    app.get("/v1/customer_referral_links/alice-3")
        .await
        .expect(StatusCode::NOT_FOUND);
    let errors = app
        .delete("/v1/customer_referral_links/ref_999")
        .await
        .invalid();
    assert!(
        errors["id"][0]
            .as_str()
            .unwrap()
            .contains("cannot be deleted")
    );
    // A deleted link's key is free again.
    app.post(
        "/v1/customer_referral_links",
        json!({"key":"alice-3","customer":{"email":"alice@partnero.com"}}),
    )
    .await
    .ok();
    // A deleted customer's links go with it, and their keys are free.
    app.delete("/v1/customers/customer_123").await.ok();
    app.get("/v1/customer_referral_links/alice-3")
        .await
        .expect(StatusCode::NOT_FOUND);
    app.post(
        "/v1/customer_referral_links",
        json!({"key":"alice-3","customer":{"id":"customer_456"}}),
    )
    .await
    .ok();
}

async fn link_errors(app: TestApp) {
    alice(&app).await;
    app.customer(json!({"id":"customer_456","key":"ref_456","email":"bob@partnero.com"}))
        .await;
    let taken = app
        .post(
            "/v1/customer_referral_links",
            json!({"key":"ref_456","customer":{"id":"customer_123"}}),
        )
        .await
        .invalid();
    assert_eq!(taken, json!({"key":["The key has already been taken."]}));
    app.post(
        "/v1/customer_referral_links",
        json!({"key":"extra","customer":{"id":"customer_123"}}),
    )
    .await
    .ok();
    let taken = app
        .post(
            "/v1/customer_referral_links",
            json!({"key":"extra","customer":{"id":"customer_456"}}),
        )
        .await
        .invalid();
    assert_eq!(taken, json!({"key":["The key has already been taken."]}));
    // A customer cannot take an extra link's key either: on create, on update, or by a
    // rename of its default link.
    let taken = app
        .post(
            "/v1/customers",
            json!({"id":"carol","key":"extra","email":"carol@partnero.com"}),
        )
        .await
        .invalid();
    assert_eq!(taken, json!({"key":["The key has already been taken."]}));
    let taken = app
        .put(
            "/v1/customers/customer_456",
            json!({"update":{"key":"extra"}}),
        )
        .await
        .invalid();
    assert_eq!(
        taken,
        json!({"update.key":["The key has already been taken."]})
    );
    let taken = app
        .put(
            "/v1/customer_referral_links/ref_456",
            json!({"key":"extra"}),
        )
        .await
        .invalid();
    assert_eq!(taken, json!({"key":["The key has already been taken."]}));
    let unknown = app
        .post(
            "/v1/customer_referral_links",
            json!({"key":"x1","customer":{"id":"nobody"}}),
        )
        .await
        .invalid();
    assert_eq!(
        unknown,
        json!({"customer.id":["The selected customer.id is invalid."]})
    );
    let missing = app
        .post("/v1/customer_referral_links", json!({"key":"x1"}))
        .await
        .invalid();
    assert!(missing.get("customer.id").is_some(), "{missing}");
    let bad = app
        .post(
            "/v1/customer_referral_links",
            json!({"key":"a b/c","customer":{"id":"customer_123"}}),
        )
        .await
        .invalid();
    assert!(bad.get("key").is_some(), "{bad}");
    let wrong_type = app
        .post(
            "/v1/customer_referral_links",
            json!({"key":"x2","customer":"customer_123"}),
        )
        .await
        .invalid();
    assert!(wrong_type.get("customer").is_some(), "{wrong_type}");
    app.get("/v1/customer_referral_links/nothing")
        .await
        .expect(StatusCode::NOT_FOUND);
    app.get("/v1/customers/nobody/referral_links")
        .await
        .expect(StatusCode::NOT_FOUND);
    let search = app
        .get("/v1/customer_referral_links:search")
        .await
        .invalid();
    assert!(search.get("key").is_some());
    // Affiliate keys get the refer-a-friend-only 404.
    let (_, affiliate_key) = app
        .other_program(referd_core::ids::ProgramType::Affiliate)
        .await;
    app.call_as(
        &affiliate_key,
        axum::http::Method::GET,
        "/v1/customer_referral_links/extra",
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn a_referral_through_an_extra_link_counts_for_that_link(app: TestApp) {
    alice(&app).await;
    app.post(
        "/v1/customer_referral_links",
        json!({"key":"alice-blog","customer":{"id":"customer_123"}}),
    )
    .await
    .ok();
    let bob = app
        .customer(json!({"id":"bob","email":"bob@partnero.com","referring_customer":{"key":"alice-blog"}}))
        .await;
    assert_eq!(bob["referring_customer"]["id"], "customer_123");
    app.customer(
        json!({"id":"carol","email":"carol@partnero.com","referring_customer":{"key":"ref_123"}}),
    )
    .await;
    let stats = app.get("/v1/customers/customer_123/stats").await.ok();
    let links = stats["data"]["ref_links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0]["url"], "https://partnero.com?ref=ref_123");
    assert_eq!(links[0]["signups"], "1");
    assert_eq!(links[1]["url"], "https://partnero.com?ref=alice-blog");
    assert_eq!(links[1]["default"], false);
    assert_eq!(links[1]["signups"], "1");
    assert_eq!(stats["data"]["referrals"]["signups"], 2);
}
