//! Every request a real client sends to an affiliate program, exactly as spec §14 lists it:
//! the official PHP SDK (§14.1: a JSON body on every request, `[]` when empty, filters in GET
//! bodies, body-addressed updates and deletes), the official n8n node (§14.2: query
//! parameters, flat updates, "Return All" following `links.next`) and the community Python
//! SDK (§14.3: `Content-Type: application/json` on bodiless requests, explicit nulls).
//! Each test sends one client call with that client's headers and checks it was understood.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

/// The PHP SDK: `Accept`, `Content-Type`, its user agent and version, and always a body.
async fn php(app: &TestApp, method: Method, path: &str, body: Value) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", app.key))
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .header("user-agent", "partnero-php/v1")
        .header("sdk-version", "v1.0.23")
        .body(Body::from(body.to_string()))
        .expect("request");
    app.send(req).await
}

/// The n8n node: `Accept` and `Content-Type` on every request, a body only when it has one.
async fn n8n(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    client(app, method, path, body, true).await
}

/// The Python SDK: `Content-Type: application/json` on every request (also bodiless ones),
/// no `Accept`.
async fn py(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    client(app, method, path, body, false).await
}

async fn client(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    accept: bool,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", app.key))
        .header("content-type", "application/json");
    if accept {
        req = req.header("accept", "application/json");
    }
    let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
    app.send(req.body(body).expect("request")).await
}

/// Jane (`partner_123`/`ref_123`) with customers `cust_1` and `cust_2`; John
/// (`partner_456`/`ref_456`) with `cust_3`.
async fn seed(app: &TestApp) {
    app.partner(
        json!({"id":"partner_123","key":"ref_123","email":"jane@partnero.com",
                       "name":"Jane","surname":"Doe"}),
    )
    .await;
    app.partner(
        json!({"id":"partner_456","key":"ref_456","email":"john@partnero.com",
                       "name":"John","surname":"Smith"}),
    )
    .await;
    for (key, partner) in [
        ("cust_1", "ref_123"),
        ("cust_2", "ref_123"),
        ("cust_3", "ref_456"),
    ] {
        app.customer(
            json!({"key": key, "email": format!("{key}@x.test"), "name": key,
                            "partner": {"key": partner}}),
        )
        .await;
    }
}

fn ids(body: &Value, field: &str) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|v| v[field].as_str().unwrap().to_string())
        .collect()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------
// PHP SDK (§14.1)

async fn php_test(app: TestApp) {
    let body = php(&app, Method::GET, "/v1/test", json!([])).await.ok();
    assert_eq!(body["data"]["program"]["type"], "Affiliate");
    assert_eq!(body["data"]["program"]["public_id"], app.program.public_id);
}

async fn php_partners_list(app: TestApp) {
    seed(&app).await;
    let body = php(&app, Method::GET, "/v1/partners", json!({"limit":1}))
        .await
        .ok();
    assert_eq!(ids(&body, "id"), ["partner_123"]);
    assert_eq!(body["meta"]["per_page"], 1);
    assert_eq!(
        body["links"]["next"],
        "http://referd.test/v1/partners?limit=1&page=2"
    );
    assert_eq!(
        keys(&body["data"][0]),
        [
            "email",
            "created_at",
            "updated_at",
            "id",
            "name",
            "surname",
            "approved",
            "status",
            "custom_fields"
        ]
    );
}

async fn php_partners_find(app: TestApp) {
    seed(&app).await;
    // find($key): the key in the path and in the body.
    let body = php(
        &app,
        Method::GET,
        "/v1/partners/ref_456",
        json!({"key":"ref_456"}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "partner_456");
    assert_eq!(
        body["data"]["referral_link"],
        "https://partnero.com?aff=ref_456"
    );
    assert_eq!(body["data"]["referrals"]["signups"], 1);
    php(
        &app,
        Method::GET,
        "/v1/partners/nope",
        json!({"key":"nope"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn php_partners_create(app: TestApp) {
    // The model drops nulls: `{id,key,email,name,surname,password}` as given.
    let body = php(
        &app,
        Method::POST,
        "/v1/partners",
        json!({"id":"partner_9","key":"ref_9","email":"nine@partnero.com","name":"Nine",
               "surname":"Partner","password":"Secret123"}),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["id"], "partner_9");
    assert_eq!(d["email"], "nine@partnero.com");
    assert_eq!(d["surname"], "Partner");
    assert_eq!(d["referral_link"], "https://partnero.com?aff=ref_9");
    assert!(d.get("password").is_none(), "{d}");
    // Only an email.
    let body = php(
        &app,
        Method::POST,
        "/v1/partners",
        json!({"email":"min@partnero.com"}),
    )
    .await
    .ok();
    assert!(body["data"]["id"].as_str().is_some_and(|s| !s.is_empty()));
}

async fn php_partners_update(app: TestApp) {
    seed(&app).await;
    // update($key, $partner): `PUT /v1/partners` with `{"update":{…},"key":…}`.
    let body = php(
        &app,
        Method::PUT,
        "/v1/partners",
        json!({"update":{"name":"Janet","surname":"Roe","key":"ref_janet"},"key":"ref_123"}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "partner_123");
    assert_eq!(body["data"]["name"], "Janet");
    assert_eq!(body["data"]["surname"], "Roe");
    assert_eq!(
        body["data"]["referral_link"],
        "https://partnero.com?aff=ref_janet"
    );
    // Or by email.
    let body = php(
        &app,
        Method::PUT,
        "/v1/partners",
        json!({"update":{"name":"Johnny"},"email":"john@partnero.com"}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "partner_456");
    assert_eq!(body["data"]["name"], "Johnny");
    let errors = php(
        &app,
        Method::PUT,
        "/v1/partners",
        json!({"update":{"name":"x"},"key":"ref_123"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    assert_eq!(errors["message"], "Partner not found");
}

async fn php_partners_search(app: TestApp) {
    seed(&app).await;
    // search($params): http_build_query in the URL, `[]` as the body.
    let body = php(
        &app,
        Method::GET,
        "/v1/partners:search?email=john%40partnero.com",
        json!([]),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["partner_456"]);
    let body = php(
        &app,
        Method::GET,
        "/v1/partners:search?key=ref_123",
        json!([]),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["partner_123"]);
}

async fn php_partners_delete(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::DELETE,
        "/v1/partners",
        json!({"key":"ref_123"}),
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/partners/partner_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    let body = php(
        &app,
        Method::DELETE,
        "/v1/partners",
        json!({"email":"john@partnero.com"}),
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/partners/partner_456")
        .await
        .expect(StatusCode::NOT_FOUND);
    php(
        &app,
        Method::DELETE,
        "/v1/partners",
        json!({"key":"ref_123"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn php_customers_list(app: TestApp) {
    seed(&app).await;
    // list($limit, $partner): the partner filter and the limit in the GET body.
    let body = php(
        &app,
        Method::GET,
        "/v1/customers",
        json!({"partner":{"key":"ref_123"},"limit":10}),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_1", "cust_2"]);
    assert_eq!(body["meta"]["per_page"], 10);
    assert_eq!(
        keys(&body["data"][0]),
        [
            "key",
            "partner",
            "deleted",
            "name",
            "surname",
            "email",
            "created_at",
            "updated_at",
            "deleted_at"
        ]
    );
    let body = php(
        &app,
        Method::GET,
        "/v1/customers",
        json!({"partner":{"email":"john@partnero.com"},"limit":10}),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_3"]);
    // And pages with the filter kept in `links.next`.
    let body = php(
        &app,
        Method::GET,
        "/v1/customers",
        json!({"partner":{"key":"ref_123"},"limit":1}),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_1"]);
    let next = body["links"]["next"].as_str().unwrap();
    let next = next.strip_prefix("http://referd.test").unwrap();
    let body = app.get(next).await.ok();
    assert_eq!(ids(&body, "key"), ["cust_2"]);
}

async fn php_customers_create(app: TestApp) {
    seed(&app).await;
    // create($customer, $partner, $transaction).
    let body = php(
        &app,
        Method::POST,
        "/v1/customers",
        json!({"key":"cust_9","name":"Nine","surname":"Customer","email":"nine@x.test",
               "partner":{"key":"ref_456"},
               "transaction":{"key":"tx_1","amount":99.99,"action":"sale"}}),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["key"], "cust_9");
    assert_eq!(d["partner"], "ref_456");
    assert_eq!(d["surname"], "Customer");
    assert_eq!(d["status"], "active");
    // Without the transaction, partner by id.
    let body = php(
        &app,
        Method::POST,
        "/v1/customers",
        json!({"key":"cust_10","partner":{"id":"partner_123"}}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["partner"], "ref_123");
    // An unknown partner is a 400, as Partnero answers.
    let body = php(
        &app,
        Method::POST,
        "/v1/customers",
        json!({"key":"cust_11","partner":{"key":"nope"}}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], 0);
    assert!(body["message"].is_string());
}

async fn php_customers_find(app: TestApp) {
    seed(&app).await;
    let body = php(&app, Method::GET, "/v1/customers/cust_3", json!([]))
        .await
        .ok();
    assert_eq!(body["data"]["key"], "cust_3");
    assert_eq!(body["data"]["partner"], "ref_456");
    assert_eq!(body["data"]["tags"], json!([]));
    php(&app, Method::GET, "/v1/customers/nope", json!([]))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_customers_update(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::PUT,
        "/v1/customers",
        json!({"key":"cust_1","update":{"name":"Renamed","email":"renamed@x.test","tags":["vip"]}}),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["key"], "cust_1");
    assert_eq!(d["name"], "Renamed");
    assert_eq!(d["email"], "renamed@x.test");
    assert_eq!(d["tags"], json!([{"value":"vip"}]));
    // A new key through `update.key`.
    let body = php(
        &app,
        Method::PUT,
        "/v1/customers",
        json!({"key":"cust_1","update":{"key":"cust_1b"}}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["key"], "cust_1b");
    app.get("/v1/customers/cust_1")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_customers_search(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::GET,
        "/v1/customers:search?email=cust_2%40x.test",
        json!([]),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_2"]);
    let body = php(
        &app,
        Method::GET,
        "/v1/customers:search?key=cust_3",
        json!([]),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_3"]);
}

async fn php_customers_delete(app: TestApp) {
    seed(&app).await;
    let body = php(&app, Method::DELETE, "/v1/customers/cust_2", json!([]))
        .await
        .ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/customers/cust_2")
        .await
        .expect(StatusCode::NOT_FOUND);
    php(&app, Method::DELETE, "/v1/customers/cust_2", json!([]))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_deprecated_customer_create(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::POST,
        "/v1/customer",
        json!({"customer":{"key":"old_1","name":"Old","surname":"Customer","email":"old@x.test"},
               "partner":{"key":"ref_123"},"transaction":{"key":"tx_old","amount":10}}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["key"], "old_1");
    assert_eq!(body["data"]["surname"], "Customer");
    assert_eq!(body["data"]["partner"], "ref_123");
    app.get("/v1/customers/old_1").await.ok();
}

async fn php_deprecated_customer_get(app: TestApp) {
    seed(&app).await;
    let body = php(&app, Method::GET, "/v1/customer", json!({"key":"cust_2"}))
        .await
        .ok();
    assert_eq!(body["data"]["key"], "cust_2");
    assert_eq!(body["data"]["email"], "cust_2@x.test");
    php(&app, Method::GET, "/v1/customer", json!({"key":"nope"}))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_deprecated_customer_update(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::PUT,
        "/v1/customer",
        json!({"key":"cust_2","update":{"surname":"Updated"}}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["key"], "cust_2");
    assert_eq!(body["data"]["surname"], "Updated");
    let got = app.get("/v1/customers/cust_2").await.ok();
    assert_eq!(got["data"]["surname"], "Updated");
}

async fn php_deprecated_customer_delete(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::DELETE,
        "/v1/customer",
        json!({"key":"cust_2"}),
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/customers/cust_2")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_deprecated_partner_create(app: TestApp) {
    let body = php(
        &app,
        Method::POST,
        "/v1/partner",
        json!({"id":"old_p","key":"old_key","email":"old@partnero.com","name":"Old"}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "old_p");
    assert_eq!(
        body["data"]["referral_link"],
        "https://partnero.com?aff=old_key"
    );
    app.get("/v1/partners/old_p").await.ok();
}

async fn php_deprecated_partner_get(app: TestApp) {
    seed(&app).await;
    let body = php(&app, Method::GET, "/v1/partner", json!({"key":"ref_456"}))
        .await
        .ok();
    assert_eq!(body["data"]["id"], "partner_456");
    let body = php(
        &app,
        Method::GET,
        "/v1/partner",
        json!({"email":"jane@partnero.com"}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "partner_123");
    php(&app, Method::GET, "/v1/partner", json!({"key":"nope"}))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_deprecated_partner_update(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::PUT,
        "/v1/partner",
        json!({"key":"ref_456","update":{"name":"Jonathan"}}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "partner_456");
    assert_eq!(body["data"]["name"], "Jonathan");
}

async fn php_deprecated_partner_delete(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::DELETE,
        "/v1/partner",
        json!({"key":"ref_456"}),
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/partners/partner_456")
        .await
        .expect(StatusCode::NOT_FOUND);
    let body = php(
        &app,
        Method::DELETE,
        "/v1/partner",
        json!({"email":"jane@partnero.com"}),
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/partners/partner_123")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_referral_links_list(app: TestApp) {
    seed(&app).await;
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"extra","partner":{"id":"partner_123"}}),
    )
    .await
    .ok();
    let body = php(
        &app,
        Method::GET,
        "/v1/partners/partner_123/referral_links",
        json!({"limit":1}),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["ref_123"]);
    assert_eq!(body["data"][0]["default"], true);
    assert!(body["links"]["next"].is_string());
}

async fn php_referral_links_get(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::GET,
        "/v1/partner_referral_links/ref_456",
        json!([]),
    )
    .await
    .ok();
    assert_eq!(body["data"]["key"], "ref_456");
    assert_eq!(body["data"]["url"], "https://partnero.com?aff=ref_456");
}

async fn php_referral_links_create(app: TestApp) {
    seed(&app).await;
    // create($link, $partner, null, false): the model in camelCase plus domain_id/is_additional.
    let body = php(
        &app,
        Method::POST,
        "/v1/partner_referral_links",
        json!({"key":"k2","url":null,"default":false,"isAdditional":false,
               "directTracking":false,"domain_id":null,"is_additional":false,
               "partner":{"key":"ref_123"}}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "k2");
    assert_eq!(body["data"]["url"], "https://partnero.com?aff=k2");
    let jane = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        jane["data"]["referral_links"],
        json!([
            "https://partnero.com?aff=ref_123",
            "https://partnero.com?aff=k2"
        ])
    );
}

async fn php_referral_links_update(app: TestApp) {
    seed(&app).await;
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"k2","partner":{"id":"partner_123"}}),
    )
    .await
    .ok();
    // update($id, $link): the link model with its camelCase extras.
    let body = php(
        &app,
        Method::PUT,
        "/v1/partner_referral_links/k2",
        json!({"id":"k2","key":"k3","url":"https://partnero.com?aff=k2","default":false,
               "isAdditional":false,"directTracking":false,"directTrackingRedirect":false}),
    )
    .await
    .ok();
    assert_eq!(body["data"]["id"], "k3");
    assert_eq!(body["data"]["url"], "https://partnero.com?aff=k3");
    app.get("/v1/partner_referral_links/k2")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_referral_links_search(app: TestApp) {
    seed(&app).await;
    let body = php(
        &app,
        Method::GET,
        "/v1/partner_referral_links:search?key=ref_456",
        json!([]),
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["ref_456"]);
}

async fn php_referral_links_delete(app: TestApp) {
    seed(&app).await;
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"k2","partner":{"id":"partner_123"}}),
    )
    .await
    .ok();
    let body = php(
        &app,
        Method::DELETE,
        "/v1/partner_referral_links/k2",
        json!([]),
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/partner_referral_links/k2")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn php_settings_update(app: TestApp) {
    let body = php(
        &app,
        Method::PUT,
        "/v1/settings",
        json!({"settings":{"currency":"eur"}}),
    )
    .await
    .ok();
    assert_eq!(body["status"], 1);
    let got = app.get("/v1/program").await.ok();
    assert_eq!(got["data"]["program_settings"]["currency"], "EUR");
}

// ---------------------------------------------------------------------------------------
// n8n node (§14.2)

async fn n8n_credential_test(app: TestApp) {
    let body = n8n(&app, Method::GET, "/v1/test", None).await.ok();
    assert_eq!(body["data"]["program"]["type"], "Affiliate");
    let body = app
        .call_as("wrong", Method::GET, "/v1/test", None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], 0);
}

async fn n8n_partner_create(app: TestApp) {
    let body = n8n(
        &app,
        Method::POST,
        "/v1/partners",
        Some(
            json!({"email":"n8n@partnero.com","name":"N","key":"n8n_key",
                    "password":"Secret123","surname":"Eight","tags":["n8n","auto"]}),
        ),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["email"], "n8n@partnero.com");
    assert_eq!(d["surname"], "Eight");
    assert_eq!(d["tags"], json!([{"value":"n8n"},{"value":"auto"}]));
    assert_eq!(d["referral_link"], "https://partnero.com?aff=n8n_key");
}

async fn n8n_partner_get(app: TestApp) {
    seed(&app).await;
    for query in ["key=ref_456", "email=john%40partnero.com", "id=partner_456"] {
        let body = n8n(&app, Method::GET, &format!("/v1/partner?{query}"), None)
            .await
            .ok();
        assert_eq!(body["data"]["id"], "partner_456", "{query}");
        assert_eq!(body["data"]["name"], "John");
    }
    n8n(&app, Method::GET, "/v1/partner?key=nope", None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn n8n_partner_get_many(app: TestApp) {
    seed(&app).await;
    let body = n8n(&app, Method::GET, "/v1/partners?limit=50&sort=desc", None)
        .await
        .ok();
    assert_eq!(ids(&body, "id"), ["partner_456", "partner_123"]);
    assert_eq!(body["meta"]["per_page"], 50);
    let body = n8n(&app, Method::GET, "/v1/partners?limit=50&sort=asc", None)
        .await
        .ok();
    assert_eq!(ids(&body, "id"), ["partner_123", "partner_456"]);
}

async fn n8n_partner_search(app: TestApp) {
    seed(&app).await;
    // "Partial values match".
    let body = n8n(
        &app,
        Method::GET,
        "/v1/partners:search?key=ref_4&limit=10",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["partner_456"]);
    let body = n8n(
        &app,
        Method::GET,
        "/v1/partners:search?key=ref_&limit=10",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["partner_123", "partner_456"]);
    let body = n8n(
        &app,
        Method::GET,
        "/v1/partners:search?id=partner_123&limit=10",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["partner_123"]);
}

async fn n8n_partner_update(app: TestApp) {
    seed(&app).await;
    let body = n8n(
        &app,
        Method::PUT,
        "/v1/partners/partner_123",
        Some(json!({"email":"janet@partnero.com","name":"Janet","surname":"Roe","tags":["gold"]})),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["id"], "partner_123");
    assert_eq!(d["email"], "janet@partnero.com");
    assert_eq!(d["name"], "Janet");
    assert_eq!(d["surname"], "Roe");
    assert_eq!(d["tags"], json!([{"value":"gold"}]));
    // The key stays.
    assert_eq!(d["referral_link"], "https://partnero.com?aff=ref_123");
}

async fn n8n_partner_archive_unarchive(app: TestApp) {
    seed(&app).await;
    let body = n8n(&app, Method::POST, "/v1/partners/partner_123/archive", None)
        .await
        .ok();
    assert_eq!(body, json!({"status":1}));
    let got = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(got["data"]["status"], "archived");
    let body = n8n(
        &app,
        Method::POST,
        "/v1/partners/partner_123/revoke-archive",
        None,
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    let got = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(got["data"]["status"], "active");
}

async fn n8n_partner_delete(app: TestApp) {
    seed(&app).await;
    let body = n8n(&app, Method::DELETE, "/v1/partners/partner_456", None)
        .await
        .ok();
    assert_eq!(body, json!({"status":1}));
    let body = n8n(&app, Method::DELETE, "/v1/partners/partner_456", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Partner not found");
}

async fn n8n_partner_referral_links(app: TestApp) {
    seed(&app).await;
    let body = n8n(
        &app,
        Method::GET,
        "/v1/partners/partner_456/referral_links",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["ref_456"]);
    assert_eq!(body["data"][0]["url"], "https://partnero.com?aff=ref_456");
}

async fn n8n_customer_create(app: TestApp) {
    seed(&app).await;
    // Dotted properties expanded by n8n into nested objects.
    for (key, partner) in [
        ("n1", json!({"key":"ref_123"})),
        ("n2", json!({"email":"jane@partnero.com"})),
        ("n3", json!({"id":"partner_123"})),
    ] {
        let body = n8n(
            &app,
            Method::POST,
            "/v1/customers",
            Some(
                json!({"key": key, "email": format!("{key}@x.test"), "name":"N",
                        "surname":"Eight", "partner": partner}),
            ),
        )
        .await
        .ok();
        assert_eq!(body["data"]["key"], key);
        assert_eq!(body["data"]["partner"], "ref_123");
    }
    // "An affiliate program requires a partner" and an unknown one fails.
    let errors = n8n(
        &app,
        Method::POST,
        "/v1/customers",
        Some(json!({"key":"n4"})),
    )
    .await
    .invalid();
    assert!(errors["partner.key"].is_array(), "{errors}");
    n8n(
        &app,
        Method::POST,
        "/v1/customers",
        Some(json!({"key":"n4","partner":{"key":"nope"}})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

async fn n8n_customer_get(app: TestApp) {
    seed(&app).await;
    for ident in ["cust_3", "cust_3@x.test"] {
        let body = n8n(&app, Method::GET, &format!("/v1/customers/{ident}"), None)
            .await
            .ok();
        assert_eq!(body["data"]["key"], "cust_3", "{ident}");
        assert_eq!(body["data"]["partner"], "ref_456");
    }
}

async fn n8n_customer_get_many(app: TestApp) {
    seed(&app).await;
    let body = n8n(
        &app,
        Method::GET,
        "/v1/customers?limit=100&sort=desc&partner_key=ref_123",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_2", "cust_1"]);
    let body = n8n(
        &app,
        Method::GET,
        "/v1/customers?limit=100&sort=asc&partner_email=john%40partnero.com",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_3"]);
    // Unset options arrive empty: no filter.
    let body = n8n(
        &app,
        Method::GET,
        "/v1/customers?limit=100&sort=asc&partner_key=&partner_email=",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_1", "cust_2", "cust_3"]);
}

async fn n8n_customer_get_transactions(app: TestApp) {
    seed(&app).await;
    let body = n8n(&app, Method::GET, "/v1/customers/cust_1/transactions", None)
        .await
        .ok();
    assert_eq!(body["data"], json!([]));
    n8n(&app, Method::GET, "/v1/customers/nope/transactions", None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn n8n_customer_search(app: TestApp) {
    seed(&app).await;
    for query in ["email=cust_2%40x.test", "id=cust_2", "key=cust_2"] {
        let body = n8n(
            &app,
            Method::GET,
            &format!("/v1/customers:search?{query}&limit=10"),
            None,
        )
        .await
        .ok();
        assert_eq!(ids(&body, "key"), ["cust_2"], "{query}");
        assert_eq!(body["meta"]["per_page"], 10);
    }
}

async fn n8n_customer_update(app: TestApp) {
    seed(&app).await;
    let body = n8n(
        &app,
        Method::PUT,
        "/v1/customers/cust_1",
        Some(json!({"email":"new1@x.test","name":"New","surname":"Name"})),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["key"], "cust_1");
    assert_eq!(d["email"], "new1@x.test");
    assert_eq!(d["name"], "New");
    assert_eq!(d["surname"], "Name");
}

async fn n8n_customer_archive_unarchive(app: TestApp) {
    seed(&app).await;
    let body = n8n(&app, Method::POST, "/v1/customers/cust_1/archive", None)
        .await
        .ok();
    assert_eq!(body, json!({"status":1}));
    let got = app.get("/v1/customers/cust_1").await.ok();
    assert_eq!(got["data"]["status"], "archived");
    let body = n8n(
        &app,
        Method::POST,
        "/v1/customers/cust_1/revoke-archive",
        None,
    )
    .await
    .ok();
    assert_eq!(body, json!({"status":1}));
    let got = app.get("/v1/customers/cust_1").await.ok();
    assert_eq!(got["data"]["status"], "active");
}

async fn n8n_customer_delete(app: TestApp) {
    seed(&app).await;
    let body = n8n(&app, Method::DELETE, "/v1/customers/cust_1", None)
        .await
        .ok();
    assert_eq!(body, json!({"status":1}));
    n8n(&app, Method::GET, "/v1/customers/cust_1", None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

/// "Return All": `limit=100`, then `links.next` verbatim until it is null.
async fn return_all(app: &TestApp, first: &str) -> Vec<String> {
    let mut url = first.to_string();
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 10, "runaway paging at {url}");
        let body = n8n(app, Method::GET, &url, None).await.ok();
        assert_eq!(body["meta"]["per_page"], 100, "{url}");
        for item in body["data"].as_array().unwrap() {
            let id = item["id"].as_str().or(item["key"].as_str()).unwrap();
            all.push(id.to_string());
        }
        match body["links"]["next"].as_str() {
            None => break,
            Some(next) => {
                assert!(next.contains("limit=100"), "{next}");
                url = next
                    .strip_prefix("http://referd.test")
                    .expect("absolute URL on the public base")
                    .to_string();
            }
        }
    }
    all
}

async fn n8n_return_all_partners(app: TestApp) {
    let mut expected = Vec::new();
    for i in 0..205 {
        let id = format!("p{i:03}");
        app.partner(json!({"id": id, "email": format!("{id}@x.test")}))
            .await;
        expected.push(id);
    }
    let all = return_all(&app, "/v1/partners?limit=100&sort=asc").await;
    assert_eq!(all, expected);
}

async fn n8n_return_all_customers(app: TestApp) {
    app.partner(json!({"id":"p","key":"pk","email":"p@x.test"}))
        .await;
    app.partner(json!({"id":"q","key":"qk","email":"q@x.test"}))
        .await;
    let mut expected = Vec::new();
    for i in 0..105 {
        let key = format!("c{i:03}");
        app.customer(json!({"key": key, "partner": {"key": "pk"}}))
            .await;
        expected.push(key);
    }
    app.customer(json!({"key":"other","partner":{"key":"qk"}}))
        .await;
    // The partner filter survives the paging.
    let all = return_all(&app, "/v1/customers?limit=100&sort=asc&partner_key=pk").await;
    assert_eq!(all, expected);
    let mut everyone = expected.clone();
    everyone.push("other".into());
    let all = return_all(&app, "/v1/customers?limit=100").await;
    assert_eq!(all, everyone);
}

// ---------------------------------------------------------------------------------------
// Python SDK (§14.3)

async fn py_list_partners(app: TestApp) {
    seed(&app).await;
    let body = py(&app, Method::GET, "/v1/partners?limit=15&page=1", None)
        .await
        .ok();
    assert_eq!(ids(&body, "id"), ["partner_123", "partner_456"]);
    assert_eq!(body["meta"]["per_page"], 15);
    assert_eq!(body["meta"]["current_page"], 1);
}

async fn py_create_partner(app: TestApp) {
    let body = py(
        &app,
        Method::POST,
        "/v1/partners",
        Some(
            json!({"email":"py@partnero.com","name":"Py","password":"Secret123",
                    "id":null,"key":null}),
        ),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["email"], "py@partnero.com");
    assert_eq!(d["name"], "Py");
    let id = d["id"].as_str().unwrap();
    assert!(!id.is_empty());
    let link = d["referral_link"].as_str().unwrap();
    assert!(
        link.len() > "https://partnero.com?aff=".len(),
        "a key was generated: {link}"
    );
    // A weak password is refused.
    let errors = py(
        &app,
        Method::POST,
        "/v1/partners",
        Some(
            json!({"email":"py2@partnero.com","name":"Py","password":"short",
                    "id":null,"key":null}),
        ),
    )
    .await
    .invalid();
    assert!(errors["password"].is_array(), "{errors}");
}

async fn py_get_partner(app: TestApp) {
    seed(&app).await;
    let body = py(
        &app,
        Method::GET,
        "/v1/partners:search?email=jane%40partnero.com&name=Jane",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["partner_123"]);
    let body = py(
        &app,
        Method::GET,
        "/v1/partners:search?id=partner_456",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "id"), ["partner_456"]);
    // Every criterion must match.
    let body = py(
        &app,
        Method::GET,
        "/v1/partners:search?email=jane%40partnero.com&name=John",
        None,
    )
    .await
    .ok();
    assert_eq!(body["data"], json!([]));
}

async fn py_update_partner(app: TestApp) {
    seed(&app).await;
    let body = py(
        &app,
        Method::PUT,
        "/v1/partners/partner_456",
        Some(json!({"email":"jon@partnero.com","name":"Jon","surname":"Smyth","password":"NewSecret1"})),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["id"], "partner_456");
    assert_eq!(d["email"], "jon@partnero.com");
    assert_eq!(d["name"], "Jon");
    assert_eq!(d["surname"], "Smyth");
    assert!(d.get("password").is_none());
}

async fn py_delete_partner(app: TestApp) {
    seed(&app).await;
    let body = py(&app, Method::DELETE, "/v1/partners/partner_123", None)
        .await
        .ok();
    assert_eq!(body, json!({"status":1}));
    py(&app, Method::GET, "/v1/partners/partner_123", None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn py_list_customers(app: TestApp) {
    seed(&app).await;
    let body = py(&app, Method::GET, "/v1/customers?limit=15&page=1", None)
        .await
        .ok();
    assert_eq!(ids(&body, "key"), ["cust_1", "cust_2", "cust_3"]);
    assert_eq!(body["meta"]["per_page"], 15);
}

async fn py_create_customer(app: TestApp) {
    seed(&app).await;
    let body = py(
        &app,
        Method::POST,
        "/v1/customers",
        Some(json!({"partner":{"key":"ref_456"},"key":"py_cust","email":"py@x.test","name":"Py"})),
    )
    .await
    .ok();
    let d = &body["data"];
    assert_eq!(d["key"], "py_cust");
    assert_eq!(d["partner"], "ref_456");
    assert_eq!(d["email"], "py@x.test");
    assert_eq!(d["name"], "Py");
}

async fn py_get_customer(app: TestApp) {
    seed(&app).await;
    let body = py(
        &app,
        Method::GET,
        "/v1/customers:search?email=cust_3%40x.test&key=cust_3",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(&body, "key"), ["cust_3"]);
    let body = py(&app, Method::GET, "/v1/customers:search?key=cust_1", None)
        .await
        .ok();
    assert_eq!(ids(&body, "key"), ["cust_1"]);
    let body = py(
        &app,
        Method::GET,
        "/v1/customers:search?email=nobody%40x.test",
        None,
    )
    .await
    .ok();
    assert_eq!(body["data"], json!([]));
}

async fn py_get_customer_transactions(app: TestApp) {
    seed(&app).await;
    let body = py(
        &app,
        Method::GET,
        "/v1/customers/cust_1/transactions?limit=15&page=1",
        None,
    )
    .await
    .ok();
    assert_eq!(body["data"], json!([]));
}

async fn py_update_customer(app: TestApp) {
    seed(&app).await;
    let body = py(
        &app,
        Method::PUT,
        "/v1/customers/cust_2",
        Some(json!({"email":"py2@x.test","name":"Py Two"})),
    )
    .await
    .ok();
    assert_eq!(body["data"]["key"], "cust_2");
    assert_eq!(body["data"]["email"], "py2@x.test");
    assert_eq!(body["data"]["name"], "Py Two");
}

async fn py_delete_customer(app: TestApp) {
    seed(&app).await;
    let body = py(&app, Method::DELETE, "/v1/customers/cust_2", None)
        .await
        .ok();
    assert_eq!(body, json!({"status":1}));
    let body = py(&app, Method::DELETE, "/v1/customers/cust_2", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // The SDK raises with `message`.
    assert!(body["message"].is_string());
}

crate::affiliate_tests!(
    php_test,
    php_partners_list,
    php_partners_find,
    php_partners_create,
    php_partners_update,
    php_partners_search,
    php_partners_delete,
    php_customers_list,
    php_customers_create,
    php_customers_find,
    php_customers_update,
    php_customers_search,
    php_customers_delete,
    php_deprecated_customer_create,
    php_deprecated_customer_get,
    php_deprecated_customer_update,
    php_deprecated_customer_delete,
    php_deprecated_partner_create,
    php_deprecated_partner_get,
    php_deprecated_partner_update,
    php_deprecated_partner_delete,
    php_referral_links_list,
    php_referral_links_get,
    php_referral_links_create,
    php_referral_links_update,
    php_referral_links_search,
    php_referral_links_delete,
    php_settings_update,
    n8n_credential_test,
    n8n_partner_create,
    n8n_partner_get,
    n8n_partner_get_many,
    n8n_partner_search,
    n8n_partner_update,
    n8n_partner_archive_unarchive,
    n8n_partner_delete,
    n8n_partner_referral_links,
    n8n_customer_create,
    n8n_customer_get,
    n8n_customer_get_many,
    n8n_customer_get_transactions,
    n8n_customer_search,
    n8n_customer_update,
    n8n_customer_archive_unarchive,
    n8n_customer_delete,
    n8n_return_all_partners,
    n8n_return_all_customers,
    py_list_partners,
    py_create_partner,
    py_get_partner,
    py_update_partner,
    py_delete_partner,
    py_list_customers,
    py_create_customer,
    py_get_customer,
    py_get_customer_transactions,
    py_update_customer,
    py_delete_customer,
);
