//! Click tracking on an affiliate program: partner link clicks, the public sign-up creating
//! an affiliate customer of the cookie's partner, path-style links, and the program's click
//! statistics in `GET /v1/program`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::affiliate_tests;
use crate::helpers::TestApp;
use crate::tracking::{BROWSER, visit};

affiliate_tests!(
    partner_clicks_signups_and_program_stats,
    path_style_links_and_the_configured_parameter,
);

async fn partner_clicks_signups_and_program_stats(app: TestApp) {
    app.partner(json!({"id":"p1","key":"jane","email":"jane@partnero.com","name":"Jane"}))
        .await;
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"jane-yt","partner":{"id":"p1"}}),
    )
    .await
    .ok();
    let pid = app.program.public_id.clone();
    for (key, ip) in [
        ("jane", "198.51.100.1"),
        ("jane", "198.51.100.2"),
        ("jane-yt", "198.51.100.3"),
        ("jane-yt", "198.51.100.4"),
    ] {
        let r = visit(
            &app,
            Method::GET,
            &format!("/r/{pid}/{key}"),
            Some(BROWSER),
            ip,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(
            r.header("location").unwrap(),
            format!("https://partnero.com?aff={key}")
        );
    }
    let partner = app.get("/v1/partners/p1").await.ok();
    assert_eq!(partner["data"]["referrals"]["clicks"], 4);

    // The public sign-up makes an affiliate customer of the cookie's partner and link.
    let r = visit(
        &app,
        Method::POST,
        &format!("/t/{pid}/signup"),
        Some(BROWSER),
        "198.51.100.3",
        Some(r#"{"data":{"key":"cust_1","email":"buyer@x.test","tags":"vip"},"referral_key":"jane-yt"}"#),
    )
    .await;
    assert_eq!(r.json(), json!({"data":{"referred":true},"status":1}));
    let customer = app.get("/v1/customers/cust_1").await.ok();
    assert_eq!(customer["data"]["partner"], "jane");
    // Without a referral an affiliate program has nothing to record.
    let r = visit(
        &app,
        Method::POST,
        &format!("/t/{pid}/signup"),
        Some(BROWSER),
        "198.51.100.3",
        Some(r#"{"email":"direct@x.test"}"#),
    )
    .await;
    assert_eq!(r.json()["data"]["referred"], false);
    app.get("/v1/customers/direct@x.test")
        .await
        .expect(StatusCode::NOT_FOUND);

    let program = app.get("/v1/program").await.ok();
    let stats = &program["data"]["stats"];
    assert_eq!(stats["affiliate_referred_visitors_clicks"], "4");
    assert_eq!(stats["click_to_signup_conversion"], "25");
    let partner = app.get("/v1/partners/p1").await.ok();
    assert_eq!(partner["data"]["referrals"]["signups"], 1);
    assert_eq!(partner["data"]["referrals"]["clicks"], 4);
}

async fn path_style_links_and_the_configured_parameter(app: TestApp) {
    app.partner(json!({"id":"p1","key":"jane","email":"jane@partnero.com"}))
        .await;
    app.put(
        "/v1/program",
        json!({"program_settings": {"referral_parameter": "via", "link_format": "path"}}),
    )
    .await
    .ok();
    let pid = app.program.public_id.clone();
    let r = visit(
        &app,
        Method::GET,
        &format!("/r/{pid}/jane"),
        Some(BROWSER),
        "198.51.100.1",
        None,
    )
    .await;
    assert_eq!(r.header("location"), Some("https://partnero.com/via/jane"));
    let r = visit(
        &app,
        Method::GET,
        &format!("/t/{pid}/config"),
        Some(BROWSER),
        "198.51.100.1",
        None,
    )
    .await;
    let config = r.json();
    assert_eq!(config["data"]["type"], "affiliate");
    assert_eq!(config["data"]["param"], "via");
    assert_eq!(config["data"]["link_format"], "path");
}
