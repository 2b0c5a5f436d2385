//! Lookups, lists, search, referrals, transactions and stats of refer-a-friend customers.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, redact_times};

async fn seed_three(app: &TestApp) {
    app.customer(json!({"id":"c1","key":"k1","email":"one@x.test","name":"One"}))
        .await;
    app.customer(
        json!({"id":"c2","key":"k2","email":"two@x.test","referring_customer":{"id":"c1"}}),
    )
    .await;
    app.customer(
        json!({"id":"c3","key":"k3","email":"three@x.test","referring_customer":{"key":"k1"}}),
    )
    .await;
}

async fn get_by_id_key_or_email(app: TestApp) {
    seed_three(&app).await;
    for ident in ["c2", "k2", "two@x.test", "TWO@x.test"] {
        let body = app.get(&format!("/v1/customers/{ident}")).await.ok();
        assert_eq!(body["data"]["id"], "c2", "{ident}");
        assert_eq!(body["data"]["referring_customer"]["id"], "c1");
        assert_eq!(body["data"]["referring_customer"]["referrals_count"], 2);
    }
    let body = app
        .get("/v1/customers/unknown")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"status":0,"message":"Customer not found"}));
}

async fn id_wins_over_another_customers_key(app: TestApp) {
    app.customer(json!({"id":"a","key":"shared","email":"a@x.test"}))
        .await;
    app.customer(json!({"id":"shared","key":"b","email":"b@x.test"}))
        .await;
    let body = app.get("/v1/customers/shared").await.ok();
    assert_eq!(body["data"]["id"], "shared");
}

async fn list_pages_with_absolute_links(app: TestApp) {
    seed_three(&app).await;
    let first = app.get("/v1/customers?limit=2").await.ok();
    let ids: Vec<_> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("c1"), json!("c2")]);
    assert_eq!(
        first["links"],
        json!({"first":"http://referd.test/v1/customers?limit=2&page=1","last":null,"prev":null,
               "next":"http://referd.test/v1/customers?limit=2&page=2"})
    );
    assert_eq!(
        first["meta"],
        json!({"current_page":1,"from":1,"path":"http://referd.test/v1/customers","per_page":2,"to":2})
    );
    let mut item = first["data"][0].clone();
    redact_times(&mut item);
    assert_eq!(
        serde_json::to_string(&item).unwrap(),
        r#"{"email":"one@x.test","created_at":"[time]","updated_at":"[time]","id":"c1","name":"One","surname":null,"approved":true,"status":"active","custom_fields":[]}"#
    );
    // Follow links.next verbatim, as the n8n node does.
    let next = first["links"]["next"]
        .as_str()
        .unwrap()
        .replace("http://referd.test", "");
    let second = app.get(&next).await.ok();
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], "c3");
    assert!(second["links"]["next"].is_null());
    assert_eq!(
        second["links"]["prev"],
        "http://referd.test/v1/customers?limit=2&page=1"
    );
    assert_eq!(second["meta"]["from"], 3);
    assert_eq!(second["meta"]["to"], 3);
    // Past the end: an empty page, from/to null.
    let empty = app.get("/v1/customers?limit=2&page=9").await.ok();
    assert_eq!(empty["data"], json!([]));
    assert!(empty["meta"]["from"].is_null() && empty["meta"]["to"].is_null());
    // Default page size 15.
    let all = app.get("/v1/customers").await.ok();
    assert_eq!(all["meta"]["per_page"], 15);
    // Newest first on request (the n8n node sends sort).
    let desc = app.get("/v1/customers?sort=desc&limit=1").await.ok();
    assert_eq!(desc["data"][0]["id"], "c3");
}

async fn list_params_in_a_get_body(app: TestApp) {
    seed_three(&app).await;
    // The PHP SDK sends list parameters as a JSON body on GET.
    let body = app
        .call(
            Method::GET,
            "/v1/customers",
            Some(json!({"limit": 1, "page": 2, "refer_status": "referred"})),
        )
        .await
        .ok();
    assert_eq!(body["data"][0]["id"], "c3");
    assert_eq!(
        body["links"]["prev"],
        "http://referd.test/v1/customers?limit=1&refer_status=referred&page=1"
    );
}

async fn list_filters_by_refer_status(app: TestApp) {
    seed_three(&app).await;
    let ids = |v: serde_json::Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(app.get("/v1/customers?refer_status=referred").await.ok()),
        vec!["c2", "c3"]
    );
    assert_eq!(
        ids(app
            .get("/v1/customers?refer_status=non_referred")
            .await
            .ok()),
        vec!["c1"]
    );
    let errors = app.get("/v1/customers?refer_status=maybe").await.invalid();
    assert!(errors["refer_status"].is_array());
}

async fn list_limits_are_checked(app: TestApp) {
    for q in [
        "limit=0",
        "limit=251",
        "limit=abc",
        "page=0",
        "page=-1",
        "sort=up",
    ] {
        let errors = app.get(&format!("/v1/customers?{q}")).await.invalid();
        assert!(errors.as_object().unwrap().len() == 1, "{q}: {errors}");
    }
    app.get("/v1/customers?limit=250").await.ok();
    app.get("/v1/customers?limit=1").await.ok();
}

async fn search_by_each_identifier(app: TestApp) {
    seed_three(&app).await;
    for q in [
        "id=c2",
        "key=k2",
        "email=two@x.test",
        "email=Two@X.test",
        "id=c2&email=two@x.test",
    ] {
        let body = app.get(&format!("/v1/customers:search?{q}")).await.ok();
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{q}");
        assert_eq!(data[0]["id"], "c2");
        assert_eq!(
            body["meta"]["path"],
            "http://referd.test/v1/customers:search"
        );
    }
    // Criteria combine: these name different customers.
    let none = app.get("/v1/customers:search?id=c1&key=k2").await.ok();
    assert_eq!(none["data"], json!([]));
    // Search fields in a GET body (PHP SDK referrals()->search).
    let body = app
        .call(
            Method::GET,
            "/v1/customers:search",
            Some(json!({"key": "k3"})),
        )
        .await
        .ok();
    assert_eq!(body["data"][0]["id"], "c3");
    let errors = app.get("/v1/customers:search").await.invalid();
    assert!(errors["id"].is_array(), "{errors}");
}

async fn referrals_of_a_customer(app: TestApp) {
    seed_three(&app).await;
    let body = app.get("/v1/customers/c1/referrals").await.ok();
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("c2"), json!("c3")]);
    // Not paginated: data and status only.
    assert_eq!(body.as_object().unwrap().len(), 2);
    assert_eq!(
        app.get("/v1/customers/c2/referrals").await.ok()["data"],
        json!([])
    );
    app.get("/v1/customers/nobody/referrals")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn transactions_of_a_customer(app: TestApp) {
    seed_three(&app).await;
    assert_eq!(
        app.get("/v1/customers/c2/transactions").await.ok(),
        json!({"data": [], "status": 1})
    );
    app.get("/v1/customers/c2/transactions?limit=100")
        .await
        .ok();
    let errors = app
        .get("/v1/customers/c2/transactions?limit=5")
        .await
        .invalid();
    assert_eq!(
        errors,
        json!({"limit": ["The limit field must be between 10 and 100."]})
    );
    app.get("/v1/customers/nobody/transactions")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn stats_match_the_seed(app: TestApp) {
    app.customer(json!({"id":"customer_123","key":"ref_123","name":"Alice","surname":"Brown","email":"alice.brown@partnero.com"}))
        .await;
    app.customer(json!({"id":"customer_456","email":"bob.green@partnero.com","referring_customer":{"id":"customer_123"}}))
        .await;
    let mut body = app.get("/v1/customers/customer_123/stats").await.ok();
    redact_times(&mut body);
    // Seed 000, "Get customer stats" (the program is named "Api Test 001" there too).
    let expected = json!({
        "data": {
            "customer": {
                "email": "alice.brown@partnero.com", "created_at": "[time]", "updated_at": "[time]",
                "name": "Alice", "id": "customer_123", "surname": "Brown", "tos": true,
                "approved": true, "status": "active", "custom_fields": [],
                "referring_customer": null, "referrals_count": 1,
                "metadata": {"date_of_birth": null},
                "referral_link": "https://partnero.com?ref=ref_123",
                "referral_links": ["https://partnero.com?ref=ref_123"]
            },
            "referrals": {"clicks": 0, "signups": 1, "revenue": [], "sales_count": 0, "paid_accounts": 0},
            "ref_links": [{
                "url": "https://partnero.com?ref=ref_123",
                "default": true, "clicks": "0", "signups": "1", "click_to_signup_conversion": 0,
                "social_shares": [
                    {"social": "facebook", "link": "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fpartnero.com%3Fref%3Dref_123"},
                    {"social": "twitter", "link": "https://twitter.com/intent/tweet?text=I%27ve+partnered+up+with+Api+Test+001+since+I%27ve+been+really+enjoying+using+the+product.+Click+the+link+to+find+out+more%21+%23affiliatepartner+https%3A%2F%2Fpartnero.com%3Fref%3Dref_123"},
                    {"social": "linkedin", "link": "https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2Fpartnero.com%3Fref%3Dref_123"}
                ]
            }]
        },
        "status": 1
    });
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
    app.get("/v1/customers/nobody/stats")
        .await
        .expect(StatusCode::NOT_FOUND);
}

crate::backend_tests!(
    get_by_id_key_or_email,
    id_wins_over_another_customers_key,
    list_pages_with_absolute_links,
    list_params_in_a_get_body,
    list_filters_by_refer_status,
    list_limits_are_checked,
    search_by_each_identifier,
    referrals_of_a_customer,
    transactions_of_a_customer,
    stats_match_the_seed,
);
