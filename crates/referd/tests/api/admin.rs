//! The admin API (`/admin/v1`): admin tokens (never program keys) open it; rules are read,
//! set (validated, versioned) and listed per program; errors are JSON like `/v1`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use referd_core::ids::{ProgramType, generate_admin_token};
use referd_core::program::ApiKeySelector;
use referd_core::time::{Clock, SystemClock};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

async fn admin_token(app: &TestApp) -> String {
    let t = generate_admin_token();
    app.store
        .create_admin_token(t.hash, t.hint, SystemClock.now())
        .await
        .unwrap();
    t.secret
}

async fn admin(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    app.send(req).await
}

async fn only_admin_tokens_open_the_admin_api(app: TestApp) {
    let path = format!("/admin/v1/programs/{}/rules", app.program.public_id);
    // No token, a program API key, a malformed token: 401 JSON.
    for token in ["", &app.key.clone(), "rfa_short"] {
        let body = admin(&app, token, Method::GET, &path, None)
            .await
            .expect(StatusCode::UNAUTHORIZED);
        assert_eq!(body["message"], "Unauthenticated.");
    }
    let token = admin_token(&app).await;
    admin(&app, &token, Method::GET, &path, None).await.ok();
    // An admin token does not open the program API.
    app.call_as(&token, Method::GET, "/v1/program", None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // A revoked token stops at once.
    app.store
        .revoke_admin_token(
            ApiKeySelector::Hash(referd_core::ids::hash_api_key(&token)),
            SystemClock.now(),
        )
        .await
        .unwrap();
    admin(&app, &token, Method::GET, &path, None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

async fn rules_are_set_read_and_versioned(app: TestApp) {
    let token = admin_token(&app).await;
    let (affiliate, _) = app.other_program(ProgramType::Affiliate).await;
    let path = format!("/admin/v1/programs/{}/rules", affiliate.public_id);
    let none = admin(&app, &token, Method::GET, &path, None).await.ok();
    assert_eq!(
        none["data"],
        json!({"version": null, "created_at": null, "rules": null})
    );

    let rules = r#"{"affiliate":{"commission":{"type":"percentage","value":30},"review_days":14}}"#;
    let set = admin(&app, &token, Method::PUT, &path, Some(rules))
        .await
        .ok();
    assert_eq!(set["data"]["version"], 1);
    assert_eq!(set["data"]["rules"]["affiliate"]["review_days"], 14);
    crate::helpers::assert_timestamp(set["data"]["created_at"].as_str().unwrap());
    let second = r#"{"affiliate":{"commission":{"type":"static","value":"12.50"}}}"#;
    assert_eq!(
        admin(&app, &token, Method::PUT, &path, Some(second))
            .await
            .ok()["data"]["version"],
        2
    );
    let now = admin(&app, &token, Method::GET, &path, None).await.ok();
    assert_eq!(
        now["data"]["rules"]["affiliate"]["commission"]["value"],
        "12.50"
    );
    let versions = admin(&app, &token, Method::GET, &format!("{path}/versions"), None)
        .await
        .ok();
    let numbers: Vec<Value> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].clone())
        .collect();
    assert_eq!(numbers, [json!(2), json!(1)]);

    // Invalid rules: 422 by field, nothing stored.
    let errors = admin(
        &app,
        &token,
        Method::PUT,
        &path,
        Some(r#"{"affiliate":{"commission":{"type":"percent","value":30}},"referral":{}}"#),
    )
    .await
    .invalid();
    assert!(errors["affiliate.commission.type"].is_array(), "{errors}");
    assert!(errors["referral"].is_array(), "{errors}");
    admin(&app, &token, Method::PUT, &path, Some("{nope"))
        .await
        .expect(StatusCode::BAD_REQUEST);
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(1_100_000));
    admin(&app, &token, Method::PUT, &path, Some(&big))
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        admin(&app, &token, Method::GET, &path, None).await.ok()["data"]["version"],
        2
    );

    // Unknown program; the program list.
    let body = admin(
        &app,
        &token,
        Method::GET,
        "/admin/v1/programs/NOPE0000/rules",
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Program not found");
    let list = admin(&app, &token, Method::GET, "/admin/v1/programs", None)
        .await
        .ok();
    let ids: Vec<Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["public_id"].clone())
        .collect();
    assert!(ids.contains(&json!(affiliate.public_id)));
    assert!(ids.contains(&json!(app.program.public_id)));
}

crate::backend_tests!(
    only_admin_tokens_open_the_admin_api,
    rules_are_set_read_and_versioned
);
