//! Cross-program isolation: a key of program B never sees, changes or refers from program
//! A's customers, and both may use the same ids, keys and emails.

use axum::http::{Method, StatusCode};
use referd_core::ids::ProgramType;
use serde_json::json;

use crate::helpers::TestApp;

async fn programs_never_see_each_other(app: TestApp) {
    app.customer(json!({"id":"c1","key":"k1","email":"one@x.test"}))
        .await;
    let (_, b) = app.other_program(ProgramType::Referral).await;
    let call = |method: Method, path: &'static str, body: Option<serde_json::Value>| {
        let b = b.clone();
        let app = &app;
        async move { app.call_as(&b, method, path, body).await }
    };
    for path in [
        "/v1/customers/c1",
        "/v1/customers/k1",
        "/v1/customers/one@x.test",
        "/v1/customers/c1/referrals",
        "/v1/customers/c1/stats",
        "/v1/customers/c1/transactions",
    ] {
        call(Method::GET, path, None)
            .await
            .expect(StatusCode::NOT_FOUND);
    }
    assert_eq!(
        call(Method::GET, "/v1/customers", None).await.ok()["data"],
        json!([])
    );
    assert_eq!(
        call(Method::GET, "/v1/customers:search?id=c1", None)
            .await
            .ok()["data"],
        json!([])
    );
    call(
        Method::PUT,
        "/v1/customers/c1",
        Some(json!({"update":{"name":"x"}})),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    call(Method::POST, "/v1/customers/c1/archive", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    call(Method::DELETE, "/v1/customers/c1", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // A's customer cannot refer into B.
    let errors = call(
        Method::POST,
        "/v1/customers",
        Some(json!({"email":"b@x.test","referring_customer":{"id":"c1"}})),
    )
    .await
    .invalid();
    assert!(errors["referring_customer.id"].is_array());
    // The same identifiers are free in B.
    let same = call(
        Method::POST,
        "/v1/customers",
        Some(json!({"id":"c1","key":"k1","email":"one@x.test"})),
    )
    .await
    .ok();
    assert_eq!(same["data"]["referral_link"], "https://other.test?ref=k1");
    // A is untouched.
    let a = app.get("/v1/customers/c1").await.ok();
    assert_eq!(a["data"]["referral_link"], "https://partnero.com?ref=k1");
    assert_eq!(
        app.get("/v1/program").await.ok()["data"]["total_customers"],
        1
    );
}

/// A refer-a-friend program and an affiliate program in one database: the referral key never
/// sees partners, the affiliate key never sees refer-a-friend customers, and the same
/// identifiers live in both.
async fn referral_and_affiliate_programs_side_by_side(app: TestApp) {
    app.customer(json!({"id":"c1","key":"k1","email":"one@x.test"}))
        .await;
    let (_, aff) = app.other_program(ProgramType::Affiliate).await;
    let as_aff = |method: Method, path: &'static str, body: Option<serde_json::Value>| {
        let aff = aff.clone();
        let app = &app;
        async move { app.call_as(&aff, method, path, body).await }
    };
    as_aff(
        Method::POST,
        "/v1/partners",
        Some(json!({"id":"p1","key":"k1","email":"one@x.test"})),
    )
    .await
    .ok();
    as_aff(
        Method::POST,
        "/v1/customers",
        Some(json!({"key":"c1","email":"one@x.test","partner":{"key":"k1"}})),
    )
    .await
    .ok();
    // The affiliate key: its own customer, never the refer-a-friend one.
    let got = as_aff(Method::GET, "/v1/customers/c1", None).await.ok();
    assert_eq!(got["data"]["partner"], "k1");
    assert!(got["data"].get("referral_link").is_none());
    let list = as_aff(Method::GET, "/v1/customers", None).await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    as_aff(Method::GET, "/v1/customers/k1", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // The referral key: partners are not its business, and its customer is its own.
    for path in ["/v1/partners", "/v1/partners/p1", "/v1/partner?key=k1"] {
        let body = app.get(path).await.expect(StatusCode::NOT_FOUND);
        assert_eq!(
            body["message"], "This endpoint is not available for referral programs.",
            "{path}"
        );
    }
    app.get("/v1/partner_referral_links/k1")
        .await
        .expect(StatusCode::NOT_FOUND);
    let mine = app.get("/v1/customers/c1").await.ok();
    assert_eq!(mine["data"]["referral_link"], "https://partnero.com?ref=k1");
    assert_eq!(
        app.get("/v1/customers").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Deleting in one program leaves the other alone.
    as_aff(Method::DELETE, "/v1/customers/c1", None).await.ok();
    app.get("/v1/customers/c1").await.ok();
}

crate::backend_tests!(
    programs_never_see_each_other,
    referral_and_affiliate_programs_side_by_side
);
