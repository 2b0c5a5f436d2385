//! `GET /v1/program` for affiliate and newsletter programs, `PUT /v1/program` and the PHP
//! SDK's `PUT /v1/settings`, the link settings they change, and the two-step
//! `DELETE /v1/program` (spec §4).

use axum::http::{Method, StatusCode};
use referd_core::customer::CustomerLookup;
use referd_core::ids::ProgramType;
use referd_core::partner::PartnerLookup;
use referd_core::service::programs;
use referd_core::time::{Clock, SystemClock, Timestamp};
use serde_json::{Value, json};

use crate::helpers::TestApp;

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const AFFILIATE_PORTAL_FLAGS: [&str; 9] = [
    "program_page_enabled",
    "leads_page_enabled",
    "registration_disabled",
    "google_login_enabled",
    "passwordless_login_enabled",
    "sub_accounts_enabled",
    "widget_enabled",
    "signup_popup_enabled",
    "embeddable_form_enabled",
];

async fn affiliate_program_has_four_blocks(app: TestApp) {
    let body = app.get("/v1/program").await.ok();
    let d = &body["data"];
    assert_eq!(
        keys(d),
        ["program", "stats", "program_settings", "portal_settings"]
    );
    let p = &d["program"];
    assert_eq!(p["type"], "Affiliate");
    assert_eq!(p["name"], "Api Test 001");
    assert_eq!(p["website"], "https://partnero.com");
    assert_eq!(p["public_id"], app.program.public_id);
    assert_eq!(p["initial"], "AT");
    assert!(p["id"].is_i64());
    assert_eq!(p["created_at"].as_str().unwrap().len(), 10);
    assert_eq!(p["last_edited"].as_str().unwrap().len(), 10);
    // An empty program: counts are zero, numeric strings where Partnero has strings.
    let s = &d["stats"];
    assert_eq!(s["total_partners"], "0");
    assert_eq!(s["total_partners_growth"], 0);
    assert_eq!(s["total_signups"], 0);
    assert_eq!(s["affiliate_referred_visitors_clicks"], "0");
    assert!(s["total_reward"].is_object() && s["total_revenue"].is_object());
    assert_eq!(
        s["partner_activity"],
        json!({"active":0,"pending":0,"archived":0})
    );
    assert!(s["rewards_breakdown"].is_object());
    assert!(s["net_profit"].is_number());
    let ps = &d["program_settings"];
    assert_eq!(ps["currency"], "USD");
    assert_eq!(ps["cookie_lifetime"], "30");
    assert_eq!(ps["referral_parameter"], "aff");
    assert_eq!(ps["link_format"], "query");
    for flag in [
        "welcome_email_enabled",
        "onboarding_enabled",
        "partner_email_notifications_enabled",
    ] {
        assert_eq!(ps[flag], false, "{flag}");
    }
    assert!(ps.get("referral_portal_enabled").is_none(), "{ps}");
    assert_eq!(keys(&d["portal_settings"]), AFFILIATE_PORTAL_FLAGS);
    // The deprecated alias answers the same; `GET /v1/test` the same program block.
    let overview = app.get("/v1/program/overview").await.ok();
    assert_eq!(overview, body);
    let test = app.get("/v1/test").await.ok();
    assert_eq!(test["data"]["program"], body["data"]["program"]);
    // The PHP SDK's GET body `[]`.
    let php = app.get_with_body("/v1/test", json!([])).await.ok();
    assert_eq!(php, test);
}

async fn affiliate_stats_count_partners_and_signups(app: TestApp) {
    for (i, approved) in [true, true, true, true, false, true].iter().enumerate() {
        app.partner(json!({"id": format!("p{i}"), "key": format!("k{i}"),
                           "email": format!("p{i}@partnero.com"), "approved": approved}))
            .await;
    }
    app.post("/v1/partners/p3/archive", json!({})).await.ok();
    app.delete("/v1/partners/p5").await.ok();
    for key in ["c1", "c2", "c3", "c4"] {
        app.customer(json!({"key": key, "partner": {"key": "k0"}}))
            .await;
    }
    app.post("/v1/customers/c3/archive", json!({})).await.ok();
    app.delete("/v1/customers/c4").await.ok();
    for path in ["/v1/program", "/v1/program/overview"] {
        let body = app.get(path).await.ok();
        let s = &body["data"]["stats"];
        // Live partners (deleted ones are not): 3 active, 1 pending, 1 archived.
        assert_eq!(s["total_partners"], "5", "{s}");
        assert_eq!(
            s["partner_activity"],
            json!({"active":3,"pending":1,"archived":1})
        );
        // Customers that are not deleted (the archived one signed up all the same).
        assert_eq!(s["total_signups"], 3, "{s}");
        // Nothing existed 30 days ago.
        assert_eq!(s["total_partners_growth"], 0);
        assert_eq!(s["total_signups_growth"], 0);
    }
}

async fn newsletter_program_overview(app: TestApp) {
    let (program, key) = app.other_program(ProgramType::Newsletter).await;
    for path in ["/v1/program", "/v1/program/overview"] {
        let body = app.call_as(&key, Method::GET, path, None).await.ok();
        let d = &body["data"];
        assert_eq!(d["id"], program.public_id);
        assert_eq!(d["name"], "Other");
        assert_eq!(d["esp_type"], "custom");
        assert_eq!(d["esp_type_name"], "Custom");
        assert_eq!(d["total_subscribers"], 0);
        assert_eq!(d["total_referring"], 0);
        assert_eq!(d["total_referred"], 0);
        crate::helpers::assert_timestamp(d["created_at"].as_str().unwrap());
        assert_eq!(d["program"]["type"], "Newsletter");
    }
    let body = app.call_as(&key, Method::GET, "/v1/test", None).await.ok();
    assert_eq!(body["data"]["program"]["type"], "Newsletter");
    assert_eq!(body["data"]["program"]["website"], "https://other.test");
    // Partner endpoints are not for newsletters.
    let body = app
        .call_as(&key, Method::GET, "/v1/partners", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        "This endpoint is not available for newsletter programs."
    );
}

async fn update_everything_and_read_it_back(app: TestApp) {
    // Read once, so any cache holds the old program.
    app.get("/v1/program").await.ok();
    let body = app
        .put(
            "/v1/program",
            json!({
                "name": "Renamed Program",
                "website": "https://shop.example.com/",
                "program_settings": {
                    "currency": "eur", "cookie_lifetime": 60,
                    "welcome_email_enabled": true, "onboarding_enabled": false,
                    "partner_email_notifications_enabled": "1"
                },
                "portal_settings": {
                    "program_page_enabled": true, "registration_disabled": 1,
                    "widget_enabled": "true", "embeddable_form_enabled": false
                }
            }),
        )
        .await
        .ok();
    assert_eq!(
        body,
        json!({"status":1,"message":"Program updated successfully"})
    );
    // Immediately visible, to every endpoint.
    let got = app.get("/v1/program").await.ok();
    let d = &got["data"];
    assert_eq!(d["program"]["name"], "Renamed Program");
    assert_eq!(d["program"]["initial"], "RP");
    assert_eq!(d["program"]["website"], "https://shop.example.com");
    let ps = &d["program_settings"];
    assert_eq!(ps["currency"], "EUR");
    assert_eq!(ps["cookie_lifetime"], "60");
    assert_eq!(ps["welcome_email_enabled"], true);
    assert_eq!(ps["onboarding_enabled"], false);
    assert_eq!(ps["partner_email_notifications_enabled"], true);
    let portal = &d["portal_settings"];
    assert_eq!(portal["program_page_enabled"], true);
    assert_eq!(portal["registration_disabled"], true);
    assert_eq!(portal["widget_enabled"], true);
    assert_eq!(portal["embeddable_form_enabled"], false);
    assert_eq!(portal["leads_page_enabled"], false);
    let test = app.get("/v1/test").await.ok();
    assert_eq!(test["data"]["program"]["name"], "Renamed Program");
    // Partner links are built on the new website.
    let p = app.partner(json!({"email":"a@x.test","key":"ka"})).await;
    assert_eq!(p["referral_link"], "https://shop.example.com?aff=ka");
    let domains = app.get("/v1/partner_referral_links:domains").await.ok();
    assert_eq!(domains["data"][0]["domain"], "shop.example.com");
    // A partial update keeps the rest; flags not named keep their values; nulls change
    // nothing.
    app.put(
        "/v1/program",
        json!({"program_settings":{"onboarding_enabled":true,"currency":null},"name":null}),
    )
    .await
    .ok();
    let d = app.get("/v1/program").await.ok()["data"].clone();
    assert_eq!(d["program"]["name"], "Renamed Program");
    assert_eq!(d["program_settings"]["currency"], "EUR");
    assert_eq!(d["program_settings"]["welcome_email_enabled"], true);
    assert_eq!(d["program_settings"]["onboarding_enabled"], true);
    assert_eq!(d["portal_settings"]["program_page_enabled"], true);
    // An empty update (the PHP `[]` body) is fine and changes nothing.
    let body = app.put("/v1/program", json!([])).await.ok();
    assert_eq!(body["message"], "Program updated successfully");
    let again = app.get("/v1/program").await.ok()["data"].clone();
    assert_eq!(again, d);
}

async fn referral_parameter_and_link_format_change_links(app: TestApp) {
    app.partner(json!({"id":"p1","email":"p1@x.test","key":"ref_1"}))
        .await;
    // Path-style links with the default parameter.
    app.put(
        "/v1/program",
        json!({"program_settings":{"link_format":"path"}}),
    )
    .await
    .ok();
    let got = app.get("/v1/partners/p1").await.ok();
    assert_eq!(
        got["data"]["referral_link"],
        "https://partnero.com/aff/ref_1"
    );
    assert_eq!(
        got["data"]["referral_links"],
        json!(["https://partnero.com/aff/ref_1"])
    );
    let d = app.get("/v1/program").await.ok()["data"].clone();
    assert_eq!(d["program_settings"]["link_format"], "path");
    // Back to query links, with `?via=`.
    app.put(
        "/v1/program",
        json!({"program_settings":{"link_format":"query","referral_parameter":"via"}}),
    )
    .await
    .ok();
    let got = app.get("/v1/partners/p1").await.ok();
    assert_eq!(
        got["data"]["referral_link"],
        "https://partnero.com?via=ref_1"
    );
    let p = app
        .partner(json!({"email":"p2@x.test","key":"ref_2"}))
        .await;
    assert_eq!(p["referral_link"], "https://partnero.com?via=ref_2");
    let d = app.get("/v1/program").await.ok()["data"].clone();
    assert_eq!(d["program_settings"]["referral_parameter"], "via");
    // Attribution by URL reads the new parameter.
    let c = app
        .customer(json!({"key":"c1","partner":{"key":"ref_2"},
                         "options":{"referral_url":"https://partnero.com?via=ref_2"}}))
        .await;
    assert_eq!(c["partner"], "ref_2");
    // Both together: `https://partnero.com/via/KEY`.
    app.put(
        "/v1/program",
        json!({"program_settings":{"link_format":"path"}}),
    )
    .await
    .ok();
    let got = app.get("/v1/partners/p1").await.ok();
    assert_eq!(
        got["data"]["referral_link"],
        "https://partnero.com/via/ref_1"
    );
}

async fn update_validation_errors(app: TestApp) {
    let body = app
        .put("/v1/program", json!({"website":"partnero.com"}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"status":0,"message":"The given data was invalid.",
               "errors":{"website":["The website format is invalid."]}})
    );
    for website in ["ftp://x.test", "https://a b.test", "https://"] {
        let errors = app
            .put("/v1/program", json!({"website": website}))
            .await
            .invalid();
        assert_eq!(
            errors["website"],
            json!(["The website format is invalid."]),
            "{website}"
        );
    }
    let long = format!("https://{}.test", "a".repeat(250));
    let errors = app
        .put("/v1/program", json!({"website": long}))
        .await
        .invalid();
    assert!(errors["website"].is_array());
    let errors = app
        .put("/v1/program", json!({"name": "n".repeat(256)}))
        .await
        .invalid();
    assert!(errors["name"].is_array());
    for currency in [json!("EURO"), json!("E1"), json!("€€€"), json!(978)] {
        let errors = app
            .put(
                "/v1/program",
                json!({"program_settings":{"currency": currency}}),
            )
            .await
            .invalid();
        assert!(
            errors["program_settings.currency"].is_array(),
            "{currency}: {errors}"
        );
    }
    for days in [
        json!(0),
        json!(10_000_000),
        json!(-1),
        json!(1.5),
        json!("x"),
    ] {
        let errors = app
            .put(
                "/v1/program",
                json!({"program_settings":{"cookie_lifetime": days}}),
            )
            .await
            .invalid();
        assert!(
            errors["program_settings.cookie_lifetime"].is_array(),
            "{days}: {errors}"
        );
    }
    let cases = [
        (
            json!({"program_settings":{"colour":"red"}}),
            "program_settings.colour",
        ),
        (
            json!({"program_settings":{"welcome_email_enabled":"maybe"}}),
            "program_settings.welcome_email_enabled",
        ),
        (
            json!({"program_settings":{"welcome_email_enabled":2}}),
            "program_settings.welcome_email_enabled",
        ),
        // A refer-a-friend toggle on an affiliate program.
        (
            json!({"program_settings":{"referral_portal_enabled":true}}),
            "program_settings.referral_portal_enabled",
        ),
        (
            json!({"portal_settings":{"popup_form_enabled":true}}),
            "portal_settings.popup_form_enabled",
        ),
        (
            json!({"portal_settings":{"widget_enabled":[]}}),
            "portal_settings.widget_enabled",
        ),
        (
            json!({"program_settings":{"referral_parameter":"a b"}}),
            "program_settings.referral_parameter",
        ),
        (
            json!({"program_settings":{"link_format":"hash"}}),
            "program_settings.link_format",
        ),
        (json!({"program_settings":"USD"}), "program_settings"),
        (json!({"portal_settings":[1]}), "portal_settings"),
    ];
    for (body, field) in cases {
        let errors = app.put("/v1/program", body.clone()).await.invalid();
        assert!(errors[field].is_array(), "{body}: {errors}");
    }
    // A request with one bad part changes nothing.
    let errors = app
        .put(
            "/v1/program",
            json!({"name":"Changed","program_settings":{"currency":"EUR","cookie_lifetime":0}}),
        )
        .await
        .invalid();
    assert!(errors["program_settings.cookie_lifetime"].is_array());
    let d = app.get("/v1/program").await.ok()["data"].clone();
    assert_eq!(d["program"]["name"], "Api Test 001");
    assert_eq!(d["program"]["website"], "https://partnero.com");
    assert_eq!(d["program_settings"]["currency"], "USD");
    assert_eq!(d["program_settings"]["cookie_lifetime"], "30");
    // The bounds themselves are fine.
    for days in [1, 9_999_999] {
        app.put(
            "/v1/program",
            json!({"program_settings":{"cookie_lifetime": days}}),
        )
        .await
        .ok();
        let d = app.get("/v1/program").await.ok()["data"].clone();
        assert_eq!(d["program_settings"]["cookie_lifetime"], days.to_string());
    }
}

async fn php_sdk_settings_update(app: TestApp) {
    app.get("/v1/program").await.ok();
    let body = app
        .put("/v1/settings", json!({"settings":{"currency":"eur"}}))
        .await
        .ok();
    assert_eq!(body["status"], 1);
    let d = app.get("/v1/program").await.ok()["data"].clone();
    assert_eq!(d["program_settings"]["currency"], "EUR");
    // Errors name the `settings` object the SDK sent.
    let errors = app
        .put("/v1/settings", json!({"settings":{"currency":"euro"}}))
        .await
        .invalid();
    assert!(errors["settings.currency"].is_array(), "{errors}");
    let errors = app
        .put("/v1/settings", json!({"settings":"eur"}))
        .await
        .invalid();
    assert!(errors["settings"].is_array(), "{errors}");
    let d = app.get("/v1/program").await.ok()["data"].clone();
    assert_eq!(d["program_settings"]["currency"], "EUR");
}

/// Partners (one multi-tier), an additional link and customers in the app's program.
async fn populate(app: &TestApp) {
    app.partner(json!({"id":"partner_123","key":"ref_123","email":"jane@partnero.com"}))
        .await;
    app.partner(
        json!({"id":"partner_456","key":"ref_456","email":"john@partnero.com",
                       "referring_partner":{"id":"partner_123"}}),
    )
    .await;
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"extra","partner":{"id":"partner_456"}}),
    )
    .await
    .ok();
    app.customer(json!({"key":"cust_1","email":"c1@x.test","partner":{"key":"ref_123"}}))
        .await;
    app.customer(json!({"key":"cust_2","partner":{"key":"extra"},
                        "options":{"referral_url":"https://partnero.com?aff=extra"}}))
        .await;
    app.post("/v1/partners/partner_123/archive", json!({}))
        .await
        .ok();
    // Tombstones, a pending partner, and a renamed link.
    app.partner(
        json!({"id":"gone","key":"gone_key","email":"gone@partnero.com",
                       "referring_partner":{"id":"partner_456"}}),
    )
    .await;
    app.customer(json!({"key":"cust_gone","partner":{"key":"gone_key"}}))
        .await;
    app.delete("/v1/customers/cust_gone").await.ok();
    app.delete("/v1/partners/gone").await.ok();
    app.partner(
        json!({"id":"pending","email":"pending@partnero.com","approved":false,
                       "referring_partner":{"key":"extra"}}),
    )
    .await;
    app.put("/v1/partner_referral_links/extra", json!({"key":"extra_2"}))
        .await
        .ok();
    app.put("/v1/partner_referral_links/extra_2", json!({"key":"extra"}))
        .await
        .ok();
}

fn confirmation_code(body: &Value) -> String {
    assert_eq!(keys(body), ["data", "status"], "{body}");
    assert_eq!(body["status"], 1);
    assert_eq!(keys(&body["data"]), ["confirmation_code"]);
    let code = body["data"]["confirmation_code"].as_str().unwrap();
    assert_eq!(code.chars().count(), 8, "{code}");
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
    code.to_string()
}

async fn delete_program_in_two_steps(app: TestApp) {
    populate(&app).await;
    // Another program in the same database, with the same identifiers.
    let (other, other_key) = app.other_program(ProgramType::Affiliate).await;
    app.call_as(
        &other_key,
        Method::POST,
        "/v1/partners",
        Some(json!({"id":"partner_123","key":"ref_123","email":"jane@partnero.com"})),
    )
    .await
    .ok();
    app.call_as(
        &other_key,
        Method::POST,
        "/v1/customers",
        Some(json!({"key":"cust_1","partner":{"key":"ref_123"}})),
    )
    .await
    .ok();

    // Step one (the PHP SDK's `[]` body).
    let first = app
        .delete_with_body("/v1/program", json!([]))
        .await
        .expect(StatusCode::OK);
    let code = confirmation_code(&first);
    // A wrong code: 422 on the field, nothing deleted.
    let errors = app
        .delete_with_body("/v1/program", json!({"confirmation_code":"wrong123"}))
        .await
        .invalid();
    assert!(errors["confirmation_code"].is_array(), "{errors}");
    app.get("/v1/partners/partner_456").await.ok();
    // An expired code: the same code, 21 seconds later (the service with a later clock).
    let later = Timestamp::from_micros(SystemClock.now().as_micros() + 21_000_000);
    let expired = programs::confirm_delete(&*app.store, &app.program, &code, later).await;
    assert!(expired.is_err(), "a code 21 s old must be refused");
    app.get("/v1/test").await.ok();
    app.get("/v1/customers/cust_2").await.ok();

    // A fresh code replaces the old one; the right one deletes.
    let old = code;
    let code = confirmation_code(&app.delete("/v1/program").await.expect(StatusCode::OK));
    if old != code {
        let errors = app
            .delete_with_body("/v1/program", json!({"confirmation_code": old}))
            .await
            .invalid();
        assert!(errors["confirmation_code"].is_array());
    }
    let body = app
        .delete_with_body("/v1/program", json!({"confirmation_code": code}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        body,
        json!({"status":1,"message":"Program deleted successfully"})
    );
    // The key is gone at once, everywhere.
    for path in ["/v1/test", "/v1/program", "/v1/partners", "/v1/customers"] {
        let body = app.get(path).await.expect(StatusCode::UNAUTHORIZED);
        assert_eq!(body["message"], "Unauthenticated.");
    }
    // And so is everything in it.
    let program = app.program.id;
    for lookup in ["partner_123", "partner_456"] {
        let found = app
            .store
            .find_partner(program, &PartnerLookup::Id(lookup.into()))
            .await
            .unwrap();
        assert!(found.is_none(), "{lookup}");
    }
    assert!(
        app.store
            .find_partner_link(program, "extra")
            .await
            .unwrap()
            .is_none()
    );
    for key in ["cust_1", "cust_2"] {
        let found = app
            .store
            .find_affiliate_customer(program, &CustomerLookup::Key(key.into()))
            .await
            .unwrap();
        assert!(found.is_none(), "{key}");
    }
    // The other program is untouched.
    let body = app
        .call_as(&other_key, Method::GET, "/v1/partners/partner_123", None)
        .await
        .ok();
    assert_eq!(
        body["data"]["referral_link"],
        "https://other.test?aff=ref_123"
    );
    let body = app
        .call_as(&other_key, Method::GET, "/v1/customers/cust_1", None)
        .await
        .ok();
    assert_eq!(body["data"]["partner"], "ref_123");
    let body = app
        .call_as(&other_key, Method::GET, "/v1/program", None)
        .await
        .ok();
    assert_eq!(body["data"]["stats"]["total_partners"], "1");
    assert_eq!(body["data"]["program"]["public_id"], other.public_id);
}

async fn delete_code_in_the_query_and_reuse(app: TestApp) {
    populate(&app).await;
    // Without a code requested, any code is wrong.
    let errors = app
        .delete("/v1/program?confirmation_code=abcdefgh")
        .await
        .invalid();
    assert!(errors["confirmation_code"].is_array());
    let code = confirmation_code(&app.delete("/v1/program").await.expect(StatusCode::OK));
    // A code 19 seconds old is still good (the service with a later clock).
    let later = Timestamp::from_micros(SystemClock.now().as_micros() + 19_000_000);
    programs::confirm_delete(&*app.store, &app.program, &code, later)
        .await
        .expect("a code 19 s old is valid");
    app.get("/v1/test").await.expect(StatusCode::UNAUTHORIZED);
    // The code cannot be used twice (the program is gone, so the key is refused first).
    app.delete(&format!("/v1/program?confirmation_code={code}"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

async fn delete_refer_a_friend_program_with_referrals(app: TestApp) {
    populate(&app).await;
    let (raf, key) = app.other_program(ProgramType::Referral).await;
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        let key = key.clone();
        let app = &app;
        async move { app.call_as(&key, method, path, body).await }
    };
    call(
        Method::POST,
        "/v1/customers",
        Some(json!({"id":"a","key":"ka","email":"a@x.test"})),
    )
    .await
    .ok();
    call(
        Method::POST,
        "/v1/customers",
        Some(json!({"id":"b","email":"b@x.test","referring_customer":{"id":"a"}})),
    )
    .await
    .ok();
    call(
        Method::POST,
        "/v1/customers",
        Some(json!({"id":"c","email":"c@x.test","referring_customer":{"key":"ka"}})),
    )
    .await
    .ok();
    let code = confirmation_code(&call(Method::DELETE, "/v1/program", None).await.ok());
    let body = call(
        Method::DELETE,
        "/v1/program",
        Some(json!({"confirmation_code": code})),
    )
    .await
    .ok();
    assert_eq!(body["message"], "Program deleted successfully");
    call(Method::GET, "/v1/test", None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    for id in ["a", "b", "c"] {
        let found = app
            .store
            .find_customer(raf.id, &CustomerLookup::Id(id.into()))
            .await
            .unwrap();
        assert!(found.is_none(), "{id}");
    }
    // The affiliate program next to it still has everything.
    let body = app.get("/v1/program").await.ok();
    assert_eq!(body["data"]["stats"]["total_partners"], "3");
    assert_eq!(body["data"]["stats"]["total_signups"], 2);
    let body = app.get("/v1/partners/partner_456").await.ok();
    assert_eq!(body["data"]["referring_partner"]["id"], "partner_123");
}

async fn delete_an_empty_program(app: TestApp) {
    let code = confirmation_code(&app.delete("/v1/program").await.ok());
    app.delete_with_body("/v1/program", json!({"confirmation_code": code}))
        .await
        .ok();
    app.get("/v1/test").await.expect(StatusCode::UNAUTHORIZED);
}

/// The links referd hands out must attribute when a client sends them back as
/// `options.referral_url`, whatever the website looks like and whatever the link format.
/// A website's query and fragment stay in place: the key goes into the query (query
/// format) or the path (path format), always before the fragment.
async fn handed_out_links_attribute_on_any_website(app: TestApp) {
    app.partner(json!({"id":"p1","email":"p1@x.test","key":"ref_1"}))
        .await;
    let mut n = 0;
    let mut failures = Vec::new();
    for website in [
        "https://partnero.com/shop",
        "https://partnero.com/shop/?utm_source=x",
        "https://partnero.com/?utm_source=x",
        "https://partnero.com/#pricing",
    ] {
        for format in ["query", "path"] {
            app.put(
                "/v1/program",
                json!({"website": website, "program_settings":{"link_format": format}}),
            )
            .await
            .ok();
            let p = app.get("/v1/partners/p1").await.ok();
            let link = p["data"]["referral_link"].as_str().unwrap().to_string();
            n += 1;
            let reply = app
                .post(
                    "/v1/customers",
                    json!({"key": format!("c{n}"), "partner":{"key":"ref_1"},
                           "options":{"referral_url": link}}),
                )
                .await;
            // Where the key sits: in the query (before any fragment) or as a path segment
            // (before any query).
            let placed = match format {
                "query" => link
                    .split('#')
                    .next()
                    .unwrap()
                    .split_once('?')
                    .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "aff=ref_1")),
                _ => link
                    .split(['?', '#'])
                    .next()
                    .unwrap()
                    .ends_with("/aff/ref_1"),
            };
            if reply.status != StatusCode::OK || !placed {
                failures.push(format!(
                    "{website} ({format}): {link} → {} {}",
                    reply.status, reply.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

crate::affiliate_tests!(
    affiliate_program_has_four_blocks,
    affiliate_stats_count_partners_and_signups,
    newsletter_program_overview,
    update_everything_and_read_it_back,
    referral_parameter_and_link_format_change_links,
    update_validation_errors,
    php_sdk_settings_update,
    delete_program_in_two_steps,
    delete_code_in_the_query_and_reuse,
    delete_refer_a_friend_program_with_referrals,
    delete_an_empty_program,
    handed_out_links_attribute_on_any_website,
);
