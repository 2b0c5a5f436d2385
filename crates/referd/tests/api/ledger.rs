//! Transaction archive/restore, the `Idempotency-Key` header, the admin ledger export and the
//! ledger audit, on both backends.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use referd_core::ids::generate_admin_token;
use referd_core::service::{audit, rules};
use referd_core::time::{Clock, SystemClock};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::TestApp;

async fn setup(app: &TestApp) {
    rules::set(
        &*app.store,
        &app.program,
        &json!({"affiliate": {"commission": {"type": "percentage", "value": 30}}}),
        SystemClock.now(),
    )
    .await
    .unwrap();
    app.partner(json!({"id":"p1","key":"p1","email":"p@x.co"}))
        .await;
    app.customer(json!({"key":"c1","partner":{"key":"p1"}}))
        .await;
}

fn not_paid(v: &Value) -> Value {
    v["data"]["commissions"]["not_paid"].clone()
}

async fn archive_and_restore_move_the_rewards(app: TestApp) {
    setup(&app).await;
    app.post(
        "/v1/transactions",
        json!({"key":"t1","amount":100,"customer":{"key":"c1"}}),
    )
    .await
    .ok();
    let earned = json!([{"currency":"USD","amount":30}]);
    assert_eq!(not_paid(&app.get("/v1/partners/p1").await.ok()), earned);
    for _ in 0..2 {
        app.post("/v1/transactions/t1/archive", json!({"key":"t1"}))
            .await
            .ok();
        let body = app
            .post("/v1/transactions/t1/archive", json!({}))
            .await
            .expect(StatusCode::BAD_REQUEST);
        assert_eq!(body["message"], "Action failed");
        assert_eq!(not_paid(&app.get("/v1/partners/p1").await.ok()), json!([]));
        // Archived: still found, not listed, no rewards.
        let t = app.get("/v1/transactions/t1").await.ok();
        assert_eq!(t["data"]["status"], "archived");
        assert_eq!(t["data"]["rewards"], json!([]));
        assert_eq!(app.get("/v1/transactions").await.ok()["data"], json!([]));
        app.post("/v1/transactions/t1/revoke-archive", json!({}))
            .await
            .ok();
        app.post("/v1/transactions/t1/revoke-archive", json!({}))
            .await
            .expect(StatusCode::BAD_REQUEST);
        assert_eq!(not_paid(&app.get("/v1/partners/p1").await.ok()), earned);
        let t = app.get("/v1/transactions/t1").await.ok();
        assert_eq!(t["data"]["rewards"][0]["amount"], json!(30));
    }
    app.delete("/v1/transactions/t1").await.ok();
    assert_eq!(not_paid(&app.get("/v1/partners/p1").await.ok()), json!([]));
    app.post("/v1/transactions/nope/archive", json!({}))
        .await
        .expect(StatusCode::NOT_FOUND);
    let report = audit::verify(&*app.store, &app.program, SystemClock.now())
        .await
        .unwrap();
    assert_eq!(
        report.problems,
        vec![],
        "the ledger audit finds nothing wrong"
    );
    assert!(report.entries >= 6);
}

async fn post(
    app: &TestApp,
    key: Option<&str>,
    path: &str,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {}", app.key))
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, replayed, serde_json::from_slice(&bytes).unwrap())
}

async fn idempotency_key_replays_the_first_answer(app: TestApp) {
    setup(&app).await;
    let partner = json!({"email":"new@x.co","name":"New"});
    let (s1, r1, b1) = post(&app, Some("k-1"), "/v1/partners", partner.clone()).await;
    assert_eq!((s1, r1), (StatusCode::OK, None));
    // The retry answers the first result; nothing is created twice.
    let (s2, r2, b2) = post(&app, Some("k-1"), "/v1/partners", partner.clone()).await;
    assert_eq!((s2, r2.as_deref()), (StatusCode::OK, Some("true")));
    assert_eq!(b1, b2);
    // Another request with the key is refused.
    let (s3, _, b3) = post(
        &app,
        Some("k-1"),
        "/v1/partners",
        json!({"email":"other@x.co"}),
    )
    .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY, "{b3}");
    assert!(b3["errors"]["Idempotency-Key"].is_array());
    // Errors are kept too (a 422 is an answer); without the key, the same request is a 422.
    let (s4, _, _) = post(&app, None, "/v1/partners", partner.clone()).await;
    assert_eq!(s4, StatusCode::UNPROCESSABLE_ENTITY);
    // A malformed key is a 400.
    let (s5, _, _) = post(&app, Some("bad key"), "/v1/partners", partner).await;
    assert_eq!(s5, StatusCode::BAD_REQUEST);
    // Concurrent retries of one sale: one transaction, one reward.
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.spawn(async move {
            post(
                &app,
                Some("sale-1"),
                "/v1/transactions",
                json!({"amount":10,"customer":{"key":"c1"}}),
            )
            .await
        });
    }
    let mut created = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (status, _, body) = r.unwrap();
        match status {
            StatusCode::OK => created.push(body["data"]["key"].clone()),
            StatusCode::CONFLICT => assert_eq!(body["status"], 0),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    created.dedup();
    assert_eq!(
        created.len(),
        1,
        "every success answers the same transaction"
    );
    let list = app.get("/v1/transactions").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

async fn ledger_export_is_csv(app: TestApp) {
    setup(&app).await;
    app.post(
        "/v1/transactions",
        json!({"key":"=t1","amount":99.99,"customer":{"key":"c1"}}),
    )
    .await
    .ok();
    app.delete("/v1/transactions/=t1").await.ok();
    let t = generate_admin_token();
    app.store
        .create_admin_token(t.hash, t.hint, SystemClock.now())
        .await
        .unwrap();
    let req = Request::builder()
        .uri(format!(
            "/admin/v1/programs/{}/ledger.csv?from=2000-01-01",
            app.program.public_id
        ))
        .header("authorization", format!("Bearer {}", t.secret))
        .body(Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("entry_id,created_at,available_at,holder_type,holder,kind"));
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].contains(",partner,p1,reward,commission,partner,29.997,USD,'=t1,"),
        "{text}"
    );
    assert!(
        lines[2].contains(",reversal,") && lines[2].contains("-29.997"),
        "{text}"
    );
    // A period before anything happened is empty; a bad date is a 422 JSON.
    let req = Request::builder()
        .uri(format!(
            "/admin/v1/programs/{}/ledger.csv?to=2000-01-01",
            app.program.public_id
        ))
        .header("authorization", format!("Bearer {}", t.secret))
        .body(Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert_eq!(text.lines().count(), 1);
    let req = Request::builder()
        .uri(format!(
            "/admin/v1/programs/{}/ledger.csv?from=soon",
            app.program.public_id
        ))
        .header("authorization", format!("Bearer {}", t.secret))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

crate::affiliate_tests!(
    archive_and_restore_move_the_rewards,
    idempotency_key_replays_the_first_answer,
    ledger_export_is_csv,
);

/// Payouts (admin API): at most what is approved and unpaid; a refund after the payout leaves
/// a negative balance (what the partner owes), not rewritten history.
async fn payouts_and_refund_after_payout(app: TestApp) {
    setup(&app).await;
    app.post(
        "/v1/transactions",
        json!({"key":"t1","amount":99.99,"customer":{"key":"c1"}}),
    )
    .await
    .ok();
    let t = generate_admin_token();
    app.store
        .create_admin_token(t.hash, t.hint, SystemClock.now())
        .await
        .unwrap();
    let pay = |body: Value| {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!(
                "/admin/v1/programs/{}/payouts",
                app.program.public_id
            ))
            .header("authorization", format!("Bearer {}", t.secret))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        app.send(req)
    };
    let too_much = pay(json!({"partner":"p1","amount":30})).await.invalid();
    assert!(
        too_much["amount"][0]
            .as_str()
            .unwrap()
            .contains("29.997 USD approved"),
        "{too_much}"
    );
    let paid = pay(json!({"partner":"p1","amount":29.997,"note":"November"}))
        .await
        .ok();
    assert_eq!(paid["data"]["amount"], json!(29.997));
    let p = app.get("/v1/partners/p1").await.ok();
    assert_eq!(p["data"]["commissions"]["paid"], json!(29.997));
    assert_eq!(p["data"]["commissions"]["not_paid"], json!([]));
    // Nothing is left to pay.
    pay(json!({"partner":"p1","amount":0.01})).await.invalid();
    app.delete("/v1/transactions/t1").await.ok();
    let p = app.get("/v1/partners/p1").await.ok();
    assert_eq!(
        p["data"]["commissions"]["paid"],
        json!(29.997),
        "history is kept"
    );
    assert_eq!(
        p["data"]["commissions"]["not_paid"],
        json!([{"currency":"USD","amount":-29.997}]),
        "the partner owes the refunded commission"
    );
    let report = audit::verify(&*app.store, &app.program, SystemClock.now())
        .await
        .unwrap();
    assert_eq!(report.problems, vec![]);
}

mod payouts {
    use super::*;
    crate::affiliate_tests!(payouts_and_refund_after_payout);
}
