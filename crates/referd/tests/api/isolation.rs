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

crate::backend_tests!(programs_never_see_each_other);
