//! `GET /v1/test`, `GET /v1/program` and `GET /v1/program/overview` for a refer-a-friend
//! program, and what other program types get from refer-a-friend endpoints.

use axum::http::StatusCode;
use referd_core::ids::ProgramType;
use serde_json::json;

use crate::helpers::TestApp;

async fn test_endpoint_returns_the_program(app: TestApp) {
    let body = app.get("/v1/test").await.ok();
    let p = &body["data"]["program"];
    assert_eq!(p["public_id"], app.program.public_id);
    assert_eq!(p["type"], "Referral");
    assert_eq!(p["name"], "Api Test 001");
    assert_eq!(p["website"], "https://partnero.com");
    assert_eq!(p["initial"], "AT");
    assert!(p["id"].is_i64());
    let date = p["created_at"].as_str().unwrap();
    assert_eq!(date.len(), 10, "{date}");
}

async fn program_counts_are_real(app: TestApp) {
    app.customer(json!({"id":"a","email":"a@x.test"})).await;
    app.customer(json!({"id":"b","email":"b@x.test","referring_customer":{"id":"a"}}))
        .await;
    app.customer(json!({"id":"c","email":"c@x.test"})).await;
    app.customer(json!({"id":"d","email":"d@x.test"})).await;
    app.delete("/v1/customers/d").await.ok();
    for path in ["/v1/program", "/v1/program/overview"] {
        let body = app.get(path).await.ok();
        let d = &body["data"];
        assert_eq!(d["program"]["type"], "Referral");
        assert_eq!(d["total_customers"], 3, "{d}");
        assert_eq!(d["total_referring_customers"], 1);
        assert_eq!(d["total_referred_customers"], 1);
        assert_eq!(d["participation"], json!(33.33));
        // Everything was created just now: nothing existed 30 days ago.
        assert_eq!(d["total_customers_before"], 0);
        assert_eq!(d["total_customers_growth"], 0);
        assert_eq!(d["stats"]["total_customers"], 3);
        assert_eq!(
            d["overview_program_current_settings"]["website_url"],
            "https://partnero.com"
        );
        assert_eq!(d["program_settings"]["cookie_lifetime"], "30");
    }
}

async fn other_program_types_are_told_clearly(app: TestApp) {
    let (_, key) = app.other_program(ProgramType::Affiliate).await;
    let body = app
        .call_as(
            &key,
            axum::http::Method::GET,
            "/v1/customers/x/referrals",
            None,
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        "This endpoint is not available for affiliate programs."
    );
    let body = app
        .call_as(&key, axum::http::Method::GET, "/v1/test", None)
        .await
        .ok();
    assert_eq!(body["data"]["program"]["type"], "Affiliate");
    let (_, key) = app.other_program(ProgramType::Newsletter).await;
    let body = app
        .call_as(&key, axum::http::Method::GET, "/v1/program", None)
        .await
        .ok();
    assert_eq!(body["data"]["program"]["type"], "Newsletter");
}

crate::backend_tests!(
    test_endpoint_returns_the_program,
    program_counts_are_real,
    other_program_types_are_told_clearly,
);
