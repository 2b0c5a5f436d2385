//! Click tracking and the public routes on a refer-a-friend program (docs/tracking.md):
//! redirect links, the snippet's beacon and configuration, the snippet file, and the public
//! sign-up with its attribution rules, through the real router and store.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use referd_core::time::{Clock, SystemClock};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    redirect_counts_a_click_and_sends_the_visitor_on,
    bots_repeats_and_unknown_keys_are_not_counted,
    the_beacon_config_and_snippet_serve_browsers,
    public_signup_is_attributed_to_the_cookie_key,
    public_signup_rules_and_bad_input,
);

pub const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A public request (no API key) from a visitor: `ip` goes in `X-Forwarded-For`, which an
/// in-process request (a local peer) is trusted with.
pub async fn visit(
    app: &TestApp,
    method: Method,
    path: &str,
    ua: Option<&str>,
    ip: &str,
    body: Option<&str>,
) -> Raw {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("x-forwarded-for", ip);
    if let Some(ua) = ua {
        req = req.header("user-agent", ua);
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn alice(app: &TestApp) {
    app.customer(json!({"id":"customer_123","key":"ref_123","email":"alice@partnero.com"}))
        .await;
}

async fn clicks_of(app: &TestApp, customer: &str) -> (u64, String) {
    let stats = app
        .get(&format!("/v1/customers/{customer}/stats"))
        .await
        .ok();
    (
        stats["data"]["referrals"]["clicks"].as_u64().unwrap(),
        stats["data"]["ref_links"][0]["clicks"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

async fn redirect_counts_a_click_and_sends_the_visitor_on(app: TestApp) {
    alice(&app).await;
    let pid = app.program.public_id.clone();
    let r = visit(
        &app,
        Method::GET,
        &format!("/r/{pid}/ref_123"),
        Some(BROWSER),
        "198.51.100.1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.header("location"),
        Some("https://partnero.com?ref=ref_123")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(clicks_of(&app, "customer_123").await, (1, "1".to_string()));
    // Another visitor is another click.
    visit(
        &app,
        Method::GET,
        &format!("/r/{pid}/ref_123"),
        Some(BROWSER),
        "198.51.100.2",
        None,
    )
    .await;
    assert_eq!(clicks_of(&app, "customer_123").await, (2, "2".to_string()));
    // Clicks on an extra link count for that link and for the customer.
    app.post(
        "/v1/customer_referral_links",
        json!({"key":"alice-2","customer":{"id":"customer_123"}}),
    )
    .await
    .ok();
    let r = visit(
        &app,
        Method::GET,
        &format!("/r/{pid}/alice-2"),
        Some(BROWSER),
        "198.51.100.1",
        None,
    )
    .await;
    assert_eq!(
        r.header("location"),
        Some("https://partnero.com?ref=alice-2")
    );
    let stats = app.get("/v1/customers/customer_123/stats").await.ok();
    assert_eq!(stats["data"]["referrals"]["clicks"], 3);
    assert_eq!(stats["data"]["ref_links"][0]["clicks"], "2");
    assert_eq!(stats["data"]["ref_links"][1]["clicks"], "1");
    assert_eq!(stats["data"]["ref_links"][1]["signups"], "0");
    assert_eq!(
        stats["data"]["ref_links"][1]["click_to_signup_conversion"],
        0
    );
    // A sign-up through the link: 1 of 1 clicks.
    app.customer(
        json!({"id":"bob","email":"bob@partnero.com","referring_customer":{"key":"alice-2"}}),
    )
    .await;
    let stats = app.get("/v1/customers/customer_123/stats").await.ok();
    assert_eq!(
        stats["data"]["ref_links"][1]["click_to_signup_conversion"],
        100
    );
    assert_eq!(
        stats["data"]["ref_links"][0]["click_to_signup_conversion"],
        0
    );
}

async fn bots_repeats_and_unknown_keys_are_not_counted(app: TestApp) {
    alice(&app).await;
    let pid = app.program.public_id.clone();
    let path = format!("/r/{pid}/ref_123");
    for ua in [
        Some("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
        Some("facebookexternalhit/1.1"),
        Some("curl/8.5.0"),
        None,
    ] {
        let r = visit(&app, Method::GET, &path, ua, "198.51.100.7", None).await;
        // Bots are still sent on (an unfurler shows the merchant's page), just not counted.
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(
            r.header("location"),
            Some("https://partnero.com?ref=ref_123")
        );
    }
    assert_eq!(clicks_of(&app, "customer_123").await.0, 0);
    for _ in 0..3 {
        visit(
            &app,
            Method::GET,
            &path,
            Some(BROWSER),
            "198.51.100.8",
            None,
        )
        .await;
    }
    assert_eq!(
        clicks_of(&app, "customer_123").await.0,
        1,
        "a repeat within the hour counts once"
    );
    // The same address with another browser is another visitor.
    visit(
        &app,
        Method::GET,
        &path,
        Some("Mozilla/5.0 Firefox/125.0"),
        "198.51.100.8",
        None,
    )
    .await;
    assert_eq!(clicks_of(&app, "customer_123").await.0, 2);
    // Unknown keys still reach the website, without a parameter; nothing is counted.
    let r = visit(
        &app,
        Method::GET,
        &format!("/r/{pid}/nobody"),
        Some(BROWSER),
        "198.51.100.9",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), Some("https://partnero.com"));
    let r = visit(
        &app,
        Method::GET,
        "/r/NOPROGRAM/ref_123",
        Some(BROWSER),
        "198.51.100.9",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = visit(
        &app,
        Method::GET,
        "/r/bad%20id!/ref_123",
        Some(BROWSER),
        "198.51.100.9",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(clicks_of(&app, "customer_123").await.0, 2);
    // No raw address is stored anywhere a stats reader can see; the visitor column is a hash
    // (checked through the program's overview staying numeric only).
    let program = app.get("/v1/program").await.ok();
    assert!(!program.to_string().contains("198.51.100"));
}

async fn the_beacon_config_and_snippet_serve_browsers(app: TestApp) {
    alice(&app).await;
    let pid = app.program.public_id.clone();
    let r = visit(
        &app,
        Method::POST,
        &format!("/t/{pid}/click?key=ref_123"),
        Some(BROWSER),
        "203.0.113.1",
        Some(""),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Unknown program or key, or no key at all: the same answer, nothing counted.
    for path in [
        format!("/t/{pid}/click?key=nobody"),
        format!("/t/{pid}/click"),
        "/t/NOPROGRAM/click?key=ref_123".to_string(),
    ] {
        let r = visit(
            &app,
            Method::POST,
            &path,
            Some(BROWSER),
            "203.0.113.2",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}");
    }
    assert_eq!(clicks_of(&app, "customer_123").await.0, 1);

    let r = visit(
        &app,
        Method::GET,
        &format!("/t/{pid}/config"),
        Some(BROWSER),
        "203.0.113.1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({"data": {
            "program": pid, "type": "referral", "param": "ref", "link_format": "query",
            "link_base": "https://partnero.com?ref=", "cookie_lifetime": 30,
            "attribution": "last_click", "attribution_window": 30, "public_signup": true
        }, "status": 1})
    );
    let r = visit(
        &app,
        Method::GET,
        "/t/NOPROGRAM/config",
        None,
        "203.0.113.1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["status"], 0);
    let r = visit(
        &app,
        Method::OPTIONS,
        &format!("/t/{pid}/signup"),
        Some(BROWSER),
        "203.0.113.1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );

    // Settings reach the snippet: cookie lifetime, first click, window, parameter.
    app.put(
        "/v1/program",
        json!({"program_settings": {"cookie_lifetime": 90, "first_click_attribution": true, "attribution_window": "7", "referral_parameter": "via"}}),
    )
    .await
    .ok();
    let program = app.get("/v1/program").await.ok();
    assert_eq!(
        program["data"]["program_settings"]["attribution_window"],
        "7"
    );
    assert_eq!(
        program["data"]["program_settings"]["first_click_attribution"],
        true
    );
    let bad = app
        .put(
            "/v1/program",
            json!({"program_settings": {"attribution_window": 0}}),
        )
        .await
        .invalid();
    assert!(
        bad.get("program_settings.attribution_window").is_some(),
        "{bad}"
    );

    let r = visit(
        &app,
        Method::GET,
        "/js/universal.js",
        Some(BROWSER),
        "203.0.113.1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    let js = String::from_utf8(r.body).unwrap();
    assert!(js.contains("partnero_referral") && js.contains("partnero_partner"));
    assert!(
        js.len() < 10_000,
        "the snippet stays small: {} bytes",
        js.len()
    );
}

fn now_secs() -> i64 {
    SystemClock.now().as_micros() / 1_000_000
}

async fn signup(app: &TestApp, ip: &str, body: Value) -> Raw {
    let pid = app.program.public_id.clone();
    visit(
        app,
        Method::POST,
        &format!("/t/{pid}/signup"),
        Some(BROWSER),
        ip,
        Some(&body.to_string()),
    )
    .await
}

async fn public_signup_is_attributed_to_the_cookie_key(app: TestApp) {
    alice(&app).await;
    let r = signup(
        &app,
        "192.0.2.1",
        json!({"data":{"key":"cust_9","email":"friend@x.test","name":"Friend","tags":["new"]},
               "referral_key":"ref_123","clicked_at": now_secs() - 3600}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.json(), json!({"data":{"referred":true},"status":1}));
    let friend = app.get("/v1/customers/cust_9").await.ok();
    assert_eq!(friend["data"]["referring_customer"]["id"], "customer_123");
    assert_eq!(friend["data"]["email"], "friend@x.test");
    // An extra link's key attributes to its owner, and to that link.
    app.post(
        "/v1/customer_referral_links",
        json!({"key":"alice-2","customer":{"id":"customer_123"}}),
    )
    .await
    .ok();
    let r = signup(
        &app,
        "192.0.2.1",
        json!({"email":"second@x.test","referral_key":"alice-2"}),
    )
    .await;
    assert_eq!(r.json()["data"]["referred"], true);
    let stats = app.get("/v1/customers/customer_123/stats").await.ok();
    assert_eq!(stats["data"]["ref_links"][1]["signups"], "1");
    // Without a cookie: created, not referred. Unknown key: created, not referred.
    let r = signup(&app, "192.0.2.1", json!({"email":"plain@x.test"})).await;
    assert_eq!(r.json()["data"]["referred"], false);
    let r = signup(
        &app,
        "192.0.2.1",
        json!({"email":"ghost@x.test","referral_key":"nobody"}),
    )
    .await;
    assert_eq!(r.json()["data"]["referred"], false);
    let ghost = app.get("/v1/customers/ghost@x.test").await.ok();
    assert_eq!(ghost["data"]["referring_customer"], Value::Null);
    // A known customer is answered the same and left unchanged.
    let r = signup(
        &app,
        "192.0.2.1",
        json!({"email":"friend@x.test","name":"Changed","referral_key":"ref_123"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let friend = app.get("/v1/customers/cust_9").await.ok();
    assert_eq!(friend["data"]["name"], "Friend");
}

async fn public_signup_rules_and_bad_input(app: TestApp) {
    alice(&app).await;
    // Outside the attribution window: created, not referred.
    app.put(
        "/v1/program",
        json!({"program_settings": {"attribution_window": 7}}),
    )
    .await
    .ok();
    let r = signup(
        &app,
        "192.0.2.2",
        json!({"email":"late@x.test","referral_key":"ref_123","clicked_at": now_secs() - 8 * 86400}),
    )
    .await;
    assert_eq!(r.json(), json!({"data":{"referred":false},"status":1}));
    let r = signup(
        &app,
        "192.0.2.2",
        json!({"email":"ontime@x.test","referral_key":"ref_123","clicked_at": (now_secs() - 6 * 86400).to_string()}),
    )
    .await;
    assert_eq!(r.json()["data"]["referred"], true);

    // Bad input: clear JSON errors, with CORS so the snippet can read them.
    let pid = app.program.public_id.clone();
    let r = visit(
        &app,
        Method::POST,
        &format!("/t/{pid}/signup"),
        Some(BROWSER),
        "192.0.2.3",
        Some("{not json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["status"], 0);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = signup(&app, "192.0.2.3", json!({"email":"not-an-email"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["errors"]["email"].is_array());
    let r = signup(&app, "192.0.2.3", json!({"name":"No email"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = signup(&app, "192.0.2.3", json!({"email":{"a":1}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let big = "x".repeat(20_000);
    let r = signup(&app, "192.0.2.3", json!({"email": big})).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = visit(
        &app,
        Method::POST,
        "/t/NOPROGRAM/signup",
        Some(BROWSER),
        "192.0.2.3",
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Rate limit per visitor: 20 sign-ups per 10 minutes from one address.
    let mut limited = None;
    for i in 0..25 {
        let r = signup(
            &app,
            "192.0.2.4",
            json!({"email": format!("burst{i}@x.test")}),
        )
        .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, r));
            break;
        }
        assert_eq!(r.status, StatusCode::OK);
    }
    let (at, r) = limited.expect("the 21st sign-up is limited");
    assert_eq!(at, 20);
    assert_eq!(r.json(), json!({"status":0,"message":"Too Many Attempts."}));
    assert!(r.header("retry-after").is_some());
    // Another visitor is not limited.
    let r = signup(&app, "192.0.2.5", json!({"email":"other@x.test"})).await;
    assert_eq!(r.status, StatusCode::OK);

    // A program can turn the public sign-up off (another program: this one's settings are
    // cached for up to 30 s by now).
    let (other, other_key) = app
        .other_program(referd_core::ids::ProgramType::Referral)
        .await;
    app.call_as(
        &other_key,
        Method::PUT,
        "/v1/program",
        Some(json!({"program_settings": {"public_signup_disabled": true}})),
    )
    .await
    .ok();
    let r = visit(
        &app,
        Method::POST,
        &format!("/t/{}/signup", other.public_id),
        Some(BROWSER),
        "192.0.2.6",
        Some(r#"{"email":"off@x.test"}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["status"], 0);
    let listed = app
        .call_as(&other_key, Method::GET, "/v1/customers", None)
        .await
        .ok();
    assert_eq!(listed["data"], json!([]));
}
