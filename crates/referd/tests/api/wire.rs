//! Wire conventions shared by every endpoint (spec §1.3, §15): the parameter spellings
//! real clients use, bodies of every kind, JSON errors for bad input, 404/405 as JSON.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_timestamp};

fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", app.key));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.body(body.into()).unwrap()
}

async fn nested_parameters_in_every_spelling(app: TestApp) {
    app.customer(json!({"id":"ref1","key":"rk","email":"r@x.test"}))
        .await;
    // referring_customer.id given in the query (dotted, underscored, bracketed), the rest in
    // the body: all three are the same parameter.
    for (i, q) in [
        "referring_customer.id=ref1",
        "referring_customer_id=ref1",
        "referring_customer%5Bid%5D=ref1",
        "referring_customer[key]=rk",
    ]
    .iter()
    .enumerate()
    {
        let c = app
            .post(
                &format!("/v1/customers?{q}"),
                json!({"email": format!("n{i}@x.test")}),
            )
            .await
            .ok();
        assert_eq!(c["data"]["referring_customer"]["id"], "ref1", "{q}");
    }
    // Flat dotted keys in a JSON body (as the n8n node's dotted properties may arrive).
    let c = app
        .post("/v1/customers", json!({"email":"dot@x.test","referring_customer.id":"ref1","metadata.date_of_birth":"2000-01-01"}))
        .await
        .ok();
    assert_eq!(c["data"]["referring_customer"]["id"], "ref1");
    assert_eq!(c["data"]["metadata"]["date_of_birth"], "2000-01-01");
}

async fn bodies_of_every_kind(app: TestApp) {
    // Form-encoded body with bracketed nesting.
    let req = raw(
        &app,
        Method::POST,
        "/v1/customers",
        Some("application/x-www-form-urlencoded"),
        "id=f1&email=form%40x.test&metadata%5Bdate_of_birth%5D=1999-12-31",
    );
    let body = app.send(req).await.ok();
    assert_eq!(body["data"]["id"], "f1");
    assert_eq!(body["data"]["metadata"]["date_of_birth"], "1999-12-31");
    // JSON sent with a form Content-Type (curl -d) is still JSON.
    let req = raw(
        &app,
        Method::POST,
        "/v1/customers",
        Some("application/x-www-form-urlencoded"),
        r#"{"id":"f2","email":"curl@x.test"}"#,
    );
    assert_eq!(app.send(req).await.ok()["data"]["id"], "f2");
    // No Content-Type at all.
    let req = raw(
        &app,
        Method::POST,
        "/v1/customers",
        None,
        r#"{"id":"f3","email":"none@x.test"}"#,
    );
    assert_eq!(app.send(req).await.ok()["data"]["id"], "f3");
    // `[]` (PHP's empty array), `null` and an empty body on GET are no parameters.
    for b in ["[]", "null", "", "  "] {
        let req = raw(
            &app,
            Method::GET,
            "/v1/customers",
            Some("application/json"),
            b,
        );
        app.send(req).await.ok();
    }
}

async fn malformed_input_is_a_json_4xx(app: TestApp) {
    let cases: &[(&str, StatusCode)] = &[
        ("{\"email\":", StatusCode::BAD_REQUEST),
        ("{email: 1}", StatusCode::BAD_REQUEST),
        ("[1,2]", StatusCode::BAD_REQUEST),
        ("\"text\"", StatusCode::BAD_REQUEST),
        ("42", StatusCode::BAD_REQUEST),
        ("\u{0}\u{1}", StatusCode::BAD_REQUEST),
    ];
    for (body, status) in cases {
        let req = raw(
            &app,
            Method::POST,
            "/v1/customers",
            Some("application/json"),
            *body,
        );
        let reply = app.send(req).await;
        assert_eq!(reply.status, *status, "{body:?}: {}", reply.body);
        assert_eq!(reply.body["status"], 0);
        assert!(reply.body["message"].is_string());
    }
    // Deeply nested and odd-typed values.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let req = raw(
        &app,
        Method::POST,
        "/v1/customers",
        Some("application/json"),
        format!("{{\"email\":{deep}}}"),
    );
    assert!(app.send(req).await.status.is_client_error());
    // Invalid UTF-8 in the path.
    let req = raw(&app, Method::GET, "/v1/customers/%FF%FE", None, "");
    assert!(app.send(req).await.status.is_client_error());
    // Nothing was stored by any of it.
    let list = app.get("/v1/customers").await.ok();
    assert_eq!(list["data"], json!([]));
}

async fn hostile_input_is_refused_without_harm(app: TestApp) {
    // Parameter names nested absurdly deep: a 400, not a stack overflow.
    let deep = format!("a{}", "[b]".repeat(20_000));
    let reply = app.get(&format!("/v1/customers?{deep}=1")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let body = format!("a{}=1", ".b".repeat(400_000));
    let req = raw(
        &app,
        Method::GET,
        "/v1/customers",
        Some("application/x-www-form-urlencoded"),
        body,
    );
    assert_eq!(app.send(req).await.status, StatusCode::BAD_REQUEST);
    // NUL characters: a clear 4xx on both backends (PostgreSQL cannot store them).
    let errors = app
        .post(
            "/v1/customers",
            json!({"email":"n@x.test","name":"a\u{0}b"}),
        )
        .await
        .invalid();
    assert!(errors["name"].is_array(), "{errors}");
    let errors = app
        .post("/v1/customers", json!({"email":"a\u{0}@x.test"}))
        .await
        .invalid();
    assert!(errors["email"].is_array(), "{errors}");
    let errors = app
        .post(
            "/v1/customers",
            json!({"email":"r@x.test","referring_customer":{"id":"x\u{0}"}}),
        )
        .await
        .invalid();
    assert!(errors["referring_customer.id"].is_array(), "{errors}");
    assert!(
        app.get("/v1/customers/a%00b")
            .await
            .status
            .is_client_error()
    );
    assert!(
        app.get("/v1/customers:search?email=a%00b")
            .await
            .status
            .is_client_error()
    );
    // Referral keys go into URLs unencoded: only URL-safe characters.
    let errors = app
        .post("/v1/customers", json!({"email":"k@x.test","key":"a&b=c"}))
        .await
        .invalid();
    assert!(errors["key"].is_array(), "{errors}");
    assert_eq!(app.get("/v1/customers").await.ok()["data"], json!([]));
}

async fn empty_strings_are_not_provided(app: TestApp) {
    app.customer(json!({"id":"c1","key":"k1","email":"one@x.test"}))
        .await;
    // An empty partnero_referral cookie: the customer is simply not referred.
    let c = app
        .customer(
            json!({"email":"e@x.test","id":"","key":"","name":"","referring_customer":{"key":""}}),
        )
        .await;
    assert!(c["referring_customer"].is_null());
    assert!(c["id"].as_str().unwrap().starts_with("cus_"));
    assert!(c["name"].is_null());
    app.get("/v1/customers?limit=&page=&refer_status=")
        .await
        .ok();
    let found = app.get("/v1/customers:search?id=c1&key=&email=").await.ok();
    assert_eq!(found["data"][0]["id"], "c1");
    let errors = app
        .post("/v1/customers", json!({"email":""}))
        .await
        .invalid();
    assert_eq!(errors, json!({"email": ["The email field is required."]}));
}

async fn flat_keys_in_json_bodies(app: TestApp) {
    app.customer(json!({"id":"r1","email":"r@x.test"})).await;
    let c = app
        .customer(json!({"email":"b@x.test","id":"b1","referring_customer[id]":"r1","metadata[date_of_birth]":"2001-02-03"}))
        .await;
    assert_eq!(c["referring_customer"]["id"], "r1");
    assert_eq!(c["metadata"]["date_of_birth"], "2001-02-03");
    let body = app
        .put(
            "/v1/customers/b1",
            json!({"update.name":"Dotted","update[surname]":"Bracketed"}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["name"], "Dotted");
    assert_eq!(body["data"]["surname"], "Bracketed");
}

async fn oversized_bodies_are_refused(app: TestApp) {
    let big = format!(
        "{{\"email\":\"a@x.test\",\"name\":\"{}\"}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let req = raw(
        &app,
        Method::POST,
        "/v1/customers",
        Some("application/json"),
        big,
    );
    let reply = app.send(req).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["status"], 0);
}

async fn unknown_routes_and_methods_are_json(app: TestApp) {
    let body = app
        .get("/v1/nothing/here")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"status":0,"message":"The route v1/nothing/here could not be found."})
    );
    let body = app
        .call(Method::PATCH, "/v1/customers", None)
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["status"], 0);
    app.call(Method::POST, "/v1/customers:search", Some(json!({})))
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
    // The colon is literal: an encoded colon is the same route on the wire only when the
    // client does not encode it, as every real client does.
    app.get("/v1/customers:search?id=x").await.ok();
}

async fn timestamps_and_numbers_have_partnero_types(app: TestApp) {
    let c = app.customer(json!({"email":"t@x.test"})).await;
    assert_timestamp(c["created_at"].as_str().unwrap());
    assert_timestamp(c["updated_at"].as_str().unwrap());
    assert!(c["referrals_count"].is_u64());
    assert!(c["tos"].is_boolean() && c["approved"].is_boolean());
}

crate::backend_tests!(
    hostile_input_is_refused_without_harm,
    empty_strings_are_not_provided,
    flat_keys_in_json_bodies,
    nested_parameters_in_every_spelling,
    bodies_of_every_kind,
    malformed_input_is_a_json_4xx,
    oversized_bodies_are_refused,
    unknown_routes_and_methods_are_json,
    timestamps_and_numbers_have_partnero_types,
);
