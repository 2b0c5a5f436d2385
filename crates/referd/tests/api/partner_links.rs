//! `/v1/partner_referral_links` and `GET /v1/partners/{id}/referral_links` (spec §8.1, §8.2,
//! §5.10, and the PHP SDK's `partnerReferralLinks()` of §14.1): the domains, the link object,
//! create in every partner addressing form, rename, search, delete, key uniqueness across
//! partners and links, and a partner's links.

use axum::http::{Method, StatusCode};
use referd_core::ids::ProgramType;
use referd_core::service::programs;
use referd_core::time::{Clock, SystemClock};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Jane (`partner_123`, default link `ref_123`) and John (`partner_456`, `ref_456`).
async fn partners(app: &TestApp) {
    app.partner(
        json!({"id":"partner_123","key":"ref_123","email":"jane@partnero.com","name":"Jane"}),
    )
    .await;
    app.partner(
        json!({"id":"partner_456","key":"ref_456","email":"john@partnero.com","name":"John"}),
    )
    .await;
}

/// Creates an additional link for `partner_123` and returns its `data`.
async fn link(app: &TestApp, key: &str) -> Value {
    app.post(
        "/v1/partner_referral_links",
        json!({"key": key, "partner": {"id": "partner_123"}}),
    )
    .await
    .ok()["data"]
        .clone()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const LINK_KEYS: [&str; 8] = [
    "id",
    "key",
    "url",
    "default",
    "is_additional",
    "direct_tracking",
    "direct_tracking_redirect",
    "direct_tracking_redirect_url",
];

async fn domains_list_the_program_website(app: TestApp) {
    let expected = json!({
        "data": [{"id": null, "domain": "partnero.com", "url": "https://partnero.com?aff=",
                  "is_additional": false}],
        "status": 1
    });
    let body = app.get("/v1/partner_referral_links:domains").await.ok();
    assert_eq!(body, expected);
    assert_eq!(
        keys(&body["data"][0]),
        ["id", "domain", "url", "is_additional"]
    );
    // The PHP SDK's GET body, and `limit` within 1–250.
    let body = app
        .get_with_body("/v1/partner_referral_links:domains", json!([]))
        .await
        .ok();
    assert_eq!(body, expected);
    let body = app
        .get("/v1/partner_referral_links:domains?limit=250&page=1")
        .await
        .ok();
    assert_eq!(body, expected);
    let errors = app
        .get("/v1/partner_referral_links:domains?limit=0")
        .await
        .invalid();
    assert!(errors["limit"].is_array(), "{errors}");
}

async fn create_answers_the_link_object(app: TestApp) {
    partners(&app).await;
    let body = app
        .post(
            "/v1/partner_referral_links",
            json!({"key":"ref_789","partner":{"id":"partner_123"}}),
        )
        .await
        .ok();
    let expected = json!({
        "id": "ref_789", "key": "ref_789", "url": "https://partnero.com?aff=ref_789",
        "default": false, "is_additional": false, "direct_tracking": false,
        "direct_tracking_redirect": false, "direct_tracking_redirect_url": null
    });
    assert_eq!(body["data"], expected);
    assert_eq!(keys(&body["data"]), LINK_KEYS);
    assert_eq!(keys(&body), ["data", "status"]);
    // GET answers the same object.
    let got = app.get("/v1/partner_referral_links/ref_789").await.ok();
    assert_eq!(got["data"], expected);
    assert_eq!(keys(&got["data"]), LINK_KEYS);
    // The default link is a link too, with `default: true`.
    let got = app.get("/v1/partner_referral_links/ref_123").await.ok();
    assert_eq!(got["data"]["default"], true);
    assert_eq!(got["data"]["url"], "https://partnero.com?aff=ref_123");
    // The partner lists it after its default link.
    let p = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        p["data"]["referral_link"],
        "https://partnero.com?aff=ref_123"
    );
    assert_eq!(
        p["data"]["referral_links"],
        json!([
            "https://partnero.com?aff=ref_123",
            "https://partnero.com?aff=ref_789"
        ])
    );
}

async fn create_names_the_partner_by_id_key_or_email(app: TestApp) {
    partners(&app).await;
    for (key, partner) in [
        ("by_id", json!({"id":"partner_456"})),
        ("by_key", json!({"key":"ref_456"})),
        ("by_email", json!({"email":"JOHN@partnero.com"})),
    ] {
        let body = app
            .post(
                "/v1/partner_referral_links",
                json!({"key": key, "partner": partner}),
            )
            .await
            .ok();
        assert_eq!(body["data"]["key"], key);
    }
    // All three belong to John, none to Jane.
    let john = app.get("/v1/partners/partner_456").await.ok();
    assert_eq!(
        john["data"]["referral_links"],
        json!([
            "https://partnero.com?aff=ref_456",
            "https://partnero.com?aff=by_id",
            "https://partnero.com?aff=by_key",
            "https://partnero.com?aff=by_email"
        ])
    );
    let jane = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        jane["data"]["referral_links"],
        json!(["https://partnero.com?aff=ref_123"])
    );
    // Underscore and bracket spellings of the partner reference (query form).
    let body = app
        .call(
            Method::POST,
            "/v1/partner_referral_links?key=q1&partner[key]=ref_123",
            None,
        )
        .await
        .ok();
    assert_eq!(body["data"]["id"], "q1");
    // The new link finds its partner, as any link key does.
    let got = app.get("/v1/partners/q1").await.ok();
    assert_eq!(got["data"]["id"], "partner_123");
}

async fn create_as_the_php_sdk_sends_it(app: TestApp) {
    partners(&app).await;
    // partnerReferralLinks()->create($link, $partner, null, false): the link model in
    // camelCase (nulls dropped by the model… but `url` and `domain_id` as sent), plus
    // `domain_id` and `is_additional`.
    let body = app
        .post(
            "/v1/partner_referral_links",
            json!({"key":"k2","url":null,"default":false,"isAdditional":false,
                   "directTracking":false,"domain_id":null,"is_additional":false,
                   "partner":{"key":"ref_123"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["id"], "k2");
    assert_eq!(body["data"]["url"], "https://partnero.com?aff=k2");
    assert_eq!(body["data"]["default"], false);
    assert_eq!(body["data"]["is_additional"], false);
    // A client cannot make an additional link the default by saying so.
    let body = app
        .post(
            "/v1/partner_referral_links",
            json!({"key":"k3","default":true,"directTracking":true,"partner":{"email":"jane@partnero.com"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["default"], false);
    let jane = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        jane["data"]["referral_link"],
        "https://partnero.com?aff=ref_123"
    );
}

async fn create_errors(app: TestApp) {
    partners(&app).await;
    let path = "/v1/partner_referral_links";
    // Missing key.
    let errors = app
        .post(path, json!({"partner":{"id":"partner_123"}}))
        .await
        .invalid();
    assert_eq!(errors["key"][0], "The key field is required.");
    // Missing partner (also an empty partner object, and the PHP `[]` body).
    for body in [
        json!({"key":"x1"}),
        json!({"key":"x1","partner":{}}),
        json!({"key":"x1","partner":{"id":null,"key":""}}),
    ] {
        let errors = app.post(path, body.clone()).await.invalid();
        assert!(errors["partner.id"].is_array(), "{body}: {errors}");
        assert!(errors.get("key").is_none(), "{errors}");
    }
    let errors = app.post(path, json!([])).await.invalid();
    assert!(
        errors["key"].is_array() && errors["partner.id"].is_array(),
        "{errors}"
    );
    // Unknown partner: a 422 on the field that named it.
    let errors = app
        .post(path, json!({"key":"x1","partner":{"key":"nope"}}))
        .await
        .invalid();
    assert_eq!(
        errors["partner.key"][0],
        "The selected partner.key is invalid."
    );
    let errors = app
        .post(
            path,
            json!({"key":"x1","partner":{"email":"nobody@x.test"}}),
        )
        .await
        .invalid();
    assert!(errors["partner.email"].is_array(), "{errors}");
    // A domain other than the program's own (null) is refused.
    for domain in [json!(8), json!("8")] {
        let errors = app
            .post(
                path,
                json!({"key":"x1","domain_id":domain,"is_additional":true,"partner":{"id":"partner_123"}}),
            )
            .await
            .invalid();
        assert!(errors["domain_id"].is_array(), "{errors}");
    }
    // Keys must be usable in a URL.
    let errors = app
        .post(path, json!({"key":"a b/c","partner":{"id":"partner_123"}}))
        .await
        .invalid();
    assert!(errors["key"].is_array(), "{errors}");
    // A partner object that is not an object.
    let errors = app
        .post(path, json!({"key":"x1","partner":"partner_123"}))
        .await
        .invalid();
    assert!(errors["partner"].is_array(), "{errors}");
    // Archived partners get no new links.
    app.post("/v1/partners/partner_456/archive", json!({}))
        .await
        .ok();
    let errors = app
        .post(path, json!({"key":"x1","partner":{"id":"partner_456"}}))
        .await
        .invalid();
    assert!(errors["partner.id"].is_array(), "{errors}");
    // Nothing was created by any of these.
    app.get("/v1/partner_referral_links/x1")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn keys_are_unique_across_partners_and_links(app: TestApp) {
    partners(&app).await;
    link(&app, "extra_1").await;
    let path = "/v1/partner_referral_links";
    let taken = json!(["The key has already been taken."]);
    // Another partner's default key, the same partner's default key, an additional key.
    for (key, partner) in [
        ("ref_456", "partner_123"),
        ("ref_123", "partner_123"),
        ("extra_1", "partner_456"),
    ] {
        let errors = app
            .post(path, json!({"key": key, "partner": {"id": partner}}))
            .await
            .invalid();
        assert_eq!(errors["key"], taken, "{key}");
    }
    // A new partner cannot take an additional link's key, nor update to one.
    let errors = app
        .post(
            "/v1/partners",
            json!({"email":"new@partnero.com","key":"extra_1"}),
        )
        .await
        .invalid();
    assert_eq!(errors["key"], taken);
    let errors = app
        .put(
            "/v1/partners/partner_456",
            json!({"update":{"key":"extra_1"}}),
        )
        .await
        .invalid();
    assert_eq!(errors["update.key"], taken);
    // Renaming a link to any taken key.
    for key in ["ref_456", "ref_123"] {
        let errors = app
            .put("/v1/partner_referral_links/extra_1", json!({"key": key}))
            .await
            .invalid();
        assert_eq!(errors["key"], taken, "{key}");
    }
    // Everything is as it was.
    let got = app.get("/v1/partner_referral_links/extra_1").await.ok();
    assert_eq!(got["data"]["url"], "https://partnero.com?aff=extra_1");
    let john = app.get("/v1/partners/partner_456").await.ok();
    assert_eq!(
        john["data"]["referral_links"],
        json!(["https://partnero.com?aff=ref_456"])
    );
}

async fn keys_are_per_program(app: TestApp) {
    partners(&app).await;
    link(&app, "shared").await;
    // Another affiliate program in the same database may use the same keys.
    let (_, other) = app.other_program(ProgramType::Affiliate).await;
    let body = app
        .call_as(
            &other,
            Method::POST,
            "/v1/partners",
            Some(json!({"email":"x@partnero.com","id":"p","key":"ref_123"})),
        )
        .await
        .ok();
    assert_eq!(
        body["data"]["referral_link"],
        "https://other.test?aff=ref_123"
    );
    let body = app
        .call_as(
            &other,
            Method::POST,
            "/v1/partner_referral_links",
            Some(json!({"key":"shared","partner":{"id":"p"}})),
        )
        .await
        .ok();
    assert_eq!(body["data"]["url"], "https://other.test?aff=shared");
    // And neither sees the other's links.
    let body = app
        .call_as(
            &other,
            Method::GET,
            "/v1/partner_referral_links/ref_456",
            None,
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["status"], 0);
    let got = app.get("/v1/partner_referral_links/shared").await.ok();
    assert_eq!(got["data"]["url"], "https://partnero.com?aff=shared");
}

async fn rename_changes_id_key_and_url(app: TestApp) {
    partners(&app).await;
    link(&app, "old_key").await;
    let body = app
        .put(
            "/v1/partner_referral_links/old_key",
            json!({"key":"new_key"}),
        )
        .await
        .ok();
    assert_eq!(
        body["data"],
        json!({"id":"new_key","key":"new_key","url":"https://partnero.com?aff=new_key",
               "default":false,"is_additional":false,"direct_tracking":false,
               "direct_tracking_redirect":false,"direct_tracking_redirect_url":null})
    );
    assert_eq!(keys(&body["data"]), LINK_KEYS);
    let body = app
        .get("/v1/partner_referral_links/old_key")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Referral link not found");
    app.get("/v1/partner_referral_links/new_key").await.ok();
    let jane = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        jane["data"]["referral_links"],
        json!([
            "https://partnero.com?aff=ref_123",
            "https://partnero.com?aff=new_key"
        ])
    );
    // The old key is free again, for anyone.
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"old_key","partner":{"id":"partner_456"}}),
    )
    .await
    .ok();
    // `update{key}` as every other update, and the PHP SDK's update body (link model).
    let body = app
        .put(
            "/v1/partner_referral_links/new_key",
            json!({"update":{"key":"newer"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["id"], "newer");
    let body = app
        .put(
            "/v1/partner_referral_links/newer",
            json!({"key":"newest","default":false,"isAdditional":false,"directTracking":false}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["id"], "newest");
    // The same key is no change.
    let body = app
        .put("/v1/partner_referral_links/newest", json!({"key":"newest"}))
        .await
        .ok();
    assert_eq!(body["data"]["key"], "newest");
    // Errors: no key, a bad key, an unknown link.
    let errors = app
        .put("/v1/partner_referral_links/newest", json!([]))
        .await
        .invalid();
    assert_eq!(errors["key"][0], "The key field is required.");
    let errors = app
        .put("/v1/partner_referral_links/newest", json!({"key":"a b"}))
        .await
        .invalid();
    assert!(errors["key"].is_array(), "{errors}");
    let body = app
        .put("/v1/partner_referral_links/nope", json!({"key":"whatever"}))
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Referral link not found");
}

async fn renaming_the_default_link_renames_the_partner_key(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    let body = app
        .put(
            "/v1/partner_referral_links/ref_123",
            json!({"key":"jane_new"}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["default"], true);
    assert_eq!(body["data"]["url"], "https://partnero.com?aff=jane_new");
    let jane = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        jane["data"]["referral_link"],
        "https://partnero.com?aff=jane_new"
    );
    assert_eq!(
        jane["data"]["referral_links"],
        json!([
            "https://partnero.com?aff=jane_new",
            "https://partnero.com?aff=extra"
        ])
    );
    // The partner is found by the new key, not the old one.
    app.get("/v1/partners/jane_new").await.ok();
    app.get("/v1/partners/ref_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    // Customers attributed to it answer the new key as their `partner`.
    let c = app
        .customer(json!({"key":"cust_1","partner":{"key":"jane_new"}}))
        .await;
    assert_eq!(c["partner"], "jane_new");
    // And the other way round: the partner's update.key renames the default link.
    app.put(
        "/v1/partners/partner_123",
        json!({"update":{"key":"jane_3"}}),
    )
    .await
    .ok();
    let got = app.get("/v1/partner_referral_links/jane_3").await.ok();
    assert_eq!(got["data"]["default"], true);
    app.get("/v1/partner_referral_links/jane_new")
        .await
        .expect(StatusCode::NOT_FOUND);
    let got = app.get("/v1/customers/cust_1").await.ok();
    assert_eq!(got["data"]["partner"], "jane_3");
}

async fn search_by_key_or_id(app: TestApp) {
    partners(&app).await;
    link(&app, "summer").await;
    link(&app, "summer_2").await;
    for query in ["key=summer", "id=summer"] {
        let body = app
            .get(&format!("/v1/partner_referral_links:search?{query}"))
            .await
            .ok();
        // An exact match: a link's id is its key.
        assert_eq!(body["data"].as_array().unwrap().len(), 1, "{query}: {body}");
        assert_eq!(body["data"][0]["id"], "summer");
        assert_eq!(keys(&body["data"][0]), LINK_KEYS);
        assert_eq!(body["links"]["last"], Value::Null);
        assert_eq!(body["meta"]["current_page"], 1);
        assert_eq!(body["meta"]["per_page"], 15);
        assert_eq!(body["meta"]["from"], 1);
        assert_eq!(body["meta"]["to"], 1);
    }
    // Default links are found too.
    let body = app
        .get("/v1/partner_referral_links:search?key=ref_456")
        .await
        .ok();
    assert_eq!(body["data"][0]["default"], true);
    // The PHP SDK: query built with http_build_query and a `[]` body.
    let body = app
        .get_with_body("/v1/partner_referral_links:search?key=summer_2", json!([]))
        .await
        .ok();
    assert_eq!(body["data"][0]["key"], "summer_2");
    // Search fields in a GET body.
    let body = app
        .get_with_body("/v1/partner_referral_links:search", json!({"id":"summer"}))
        .await
        .ok();
    assert_eq!(body["data"][0]["key"], "summer");
    // Nothing matches: an empty page.
    let body = app
        .get("/v1/partner_referral_links:search?key=nothing")
        .await
        .ok();
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["links"]["next"], Value::Null);
    // No criterion at all.
    let errors = app.get("/v1/partner_referral_links:search").await.invalid();
    assert!(errors["key"].is_array(), "{errors}");
}

async fn delete_additional_links_only(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    let body = app.delete("/v1/partner_referral_links/extra").await.ok();
    assert_eq!(body, json!({"status":1}));
    app.get("/v1/partner_referral_links/extra")
        .await
        .expect(StatusCode::NOT_FOUND);
    let jane = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        jane["data"]["referral_links"],
        json!(["https://partnero.com?aff=ref_123"])
    );
    // Again: it is gone.
    let body = app
        .delete("/v1/partner_referral_links/extra")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Referral link not found");
    // The PHP SDK's DELETE carries a `[]` body.
    link(&app, "extra_2").await;
    app.delete_with_body("/v1/partner_referral_links/extra_2", json!([]))
        .await
        .ok();
    // The default link stays: a 422 that says why.
    let errors = app
        .delete("/v1/partner_referral_links/ref_123")
        .await
        .invalid();
    assert!(
        errors["id"][0].as_str().unwrap().contains("default"),
        "{errors}"
    );
    app.get("/v1/partner_referral_links/ref_123").await.ok();
    // Unknown links.
    let body = app
        .delete("/v1/partner_referral_links/never_existed")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["status"], 0);
    // A deleted link's key can be used again.
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"extra","partner":{"id":"partner_456"}}),
    )
    .await
    .ok();
}

async fn a_partners_links_default_first_and_paginated(app: TestApp) {
    partners(&app).await;
    for key in ["l1", "l2", "l3"] {
        link(&app, key).await;
    }
    // The default link was renamed after the others were made: still first.
    app.put(
        "/v1/partners/partner_123",
        json!({"update":{"key":"zzz_default"}}),
    )
    .await
    .ok();
    let body = app
        .get("/v1/partners/partner_123/referral_links")
        .await
        .ok();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["zzz_default", "l1", "l2", "l3"]);
    assert_eq!(body["data"][0]["default"], true);
    assert_eq!(body["data"][1]["default"], false);
    assert_eq!(keys(&body["data"][0]), LINK_KEYS);
    assert_eq!(body["meta"]["per_page"], 15);
    assert_eq!(body["links"]["next"], Value::Null);
    // By the partner's key or email, as other partner paths.
    for ident in ["zzz_default", "l2", "jane@partnero.com"] {
        let other = app
            .get(&format!("/v1/partners/{ident}/referral_links"))
            .await
            .ok();
        assert_eq!(other["data"], body["data"], "{ident}");
    }
    // Paginated with `limit` (query, or the PHP SDK's GET body).
    let first = app
        .get("/v1/partners/partner_123/referral_links?limit=2")
        .await
        .ok();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["data"][0]["id"], "zzz_default");
    assert_eq!(first["meta"]["per_page"], 2);
    let next = first["links"]["next"].as_str().unwrap();
    assert_eq!(
        next,
        "http://referd.test/v1/partners/partner_123/referral_links?limit=2&page=2"
    );
    let second = app
        .get(next.strip_prefix("http://referd.test").unwrap())
        .await
        .ok();
    assert_eq!(second["data"][0]["id"], "l2");
    assert_eq!(second["data"][1]["id"], "l3");
    assert_eq!(second["meta"]["from"], 3);
    assert_eq!(second["links"]["next"], Value::Null);
    let php = app
        .get_with_body(
            "/v1/partners/partner_123/referral_links",
            json!({"limit":2}),
        )
        .await
        .ok();
    assert_eq!(php["data"], first["data"]);
    assert_eq!(php["meta"]["per_page"], 2);
    // A partner with only its default link; unknown partners; a bad limit.
    let john = app
        .get("/v1/partners/partner_456/referral_links")
        .await
        .ok();
    assert_eq!(john["data"].as_array().unwrap().len(), 1);
    assert_eq!(john["data"][0]["url"], "https://partnero.com?aff=ref_456");
    let body = app
        .get("/v1/partners/nobody/referral_links")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Partner not found");
    let errors = app
        .get("/v1/partners/partner_123/referral_links?limit=251")
        .await
        .invalid();
    assert!(errors["limit"].is_array(), "{errors}");
}

async fn links_of_deleted_partners_are_gone(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    app.delete("/v1/partners/partner_123").await.ok();
    for path in [
        "/v1/partner_referral_links/extra",
        "/v1/partner_referral_links/ref_123",
        "/v1/partners/partner_123/referral_links",
    ] {
        app.get(path).await.expect(StatusCode::NOT_FOUND);
    }
    let body = app
        .get("/v1/partner_referral_links:search?key=extra")
        .await
        .ok();
    assert_eq!(body["data"], json!([]));
}

async fn links_follow_the_program_link_settings(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    app.put(
        "/v1/program",
        json!({"program_settings":{"referral_parameter":"via"}}),
    )
    .await
    .ok();
    let got = app.get("/v1/partner_referral_links/extra").await.ok();
    assert_eq!(got["data"]["url"], "https://partnero.com?via=extra");
    let body = app.get("/v1/partner_referral_links:domains").await.ok();
    assert_eq!(body["data"][0]["url"], "https://partnero.com?via=");
    app.put(
        "/v1/program",
        json!({"program_settings":{"link_format":"path"}}),
    )
    .await
    .ok();
    let got = app.get("/v1/partner_referral_links/extra").await.ok();
    assert_eq!(got["data"]["url"], "https://partnero.com/via/extra");
    let body = app.get("/v1/partner_referral_links:domains").await.ok();
    assert_eq!(body["data"][0]["url"], "https://partnero.com/via/");
}

async fn other_program_types_are_refused(app: TestApp) {
    let (_, key) = app.other_program(ProgramType::Referral).await;
    for (method, path) in [
        (Method::GET, "/v1/partner_referral_links:domains"),
        (Method::GET, "/v1/partner_referral_links/x"),
        (Method::GET, "/v1/partner_referral_links:search?key=x"),
        (Method::DELETE, "/v1/partner_referral_links/x"),
        (Method::GET, "/v1/partners/x/referral_links"),
    ] {
        let body = app
            .call_as(&key, method, path, None)
            .await
            .expect(StatusCode::NOT_FOUND);
        assert!(
            body["message"].as_str().unwrap().contains("not available"),
            "{path}: {body}"
        );
    }
    let body = app
        .call_as(
            &key,
            Method::POST,
            "/v1/partner_referral_links",
            Some(json!({"key":"x","partner":{"id":"p"}})),
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().contains("not available"));
}

async fn search_by_partner(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    let body = app
        .get("/v1/partner_referral_links:search?partner[id]=partner_123")
        .await
        .ok();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ref_123", "extra"]);
    // Key and partner must both match.
    let body = app
        .get("/v1/partner_referral_links:search?key=extra&partner[key]=ref_456")
        .await
        .ok();
    assert_eq!(body["data"], json!([]));
    let body = app
        .get_with_body(
            "/v1/partner_referral_links:search",
            json!({"key":"extra","partner":{"email":"jane@partnero.com"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"][0]["id"], "extra");
    // An unknown partner finds nothing.
    let body = app
        .get("/v1/partner_referral_links:search?partner_id=nobody")
        .await
        .ok();
    assert_eq!(body["data"], json!([]));
}

async fn links_and_their_customers(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    let c = app
        .customer(json!({"key":"c1","partner":{"key":"extra"},
                         "options":{"referral_url":"https://partnero.com?aff=extra"}}))
        .await;
    // `partner` is the partner's default key, whatever link brought the customer.
    assert_eq!(c["partner"], "ref_123");
    // The link can be renamed and deleted with its customer in place.
    app.put("/v1/partner_referral_links/extra", json!({"key":"extra_2"}))
        .await
        .ok();
    app.customer(json!({"key":"c2","partner":{"key":"ref_123"},
                        "options":{"referral_url":"https://partnero.com?aff=extra_2"}}))
        .await;
    // The old URL no longer names one of the partner's links.
    let errors = app
        .post(
            "/v1/customers",
            json!({"key":"c3","partner":{"key":"ref_123"},
                   "options":{"referral_url":"https://partnero.com?aff=extra"}}),
        )
        .await
        .invalid();
    assert!(errors["options.referral_url"].is_array(), "{errors}");
    let body = app.delete("/v1/partner_referral_links/extra_2").await.ok();
    assert_eq!(body, json!({"status":1}));
    for key in ["c1", "c2"] {
        let got = app.get(&format!("/v1/customers/{key}")).await.ok();
        assert_eq!(got["data"]["partner"], "ref_123", "{key}");
    }
    let jane = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(jane["data"]["referrals_count"], 2);
    // The deleted link's key is free again, for another partner.
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"extra_2","partner":{"id":"partner_456"}}),
    )
    .await
    .ok();
    let got = app.get("/v1/customers/c2").await.ok();
    assert_eq!(got["data"]["partner"], "ref_123");
}

async fn keys_of_deleted_partners_are_free(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    app.customer(json!({"key":"c1","partner":{"key":"extra"}}))
        .await;
    app.delete("/v1/partners/partner_123").await.ok();
    // The deleted partner's default and additional keys can be taken again.
    let p = app
        .partner(json!({"id":"partner_new","email":"new@partnero.com","key":"ref_123"}))
        .await;
    assert_eq!(p["referral_link"], "https://partnero.com?aff=ref_123");
    let body = app
        .post(
            "/v1/partner_referral_links",
            json!({"key":"extra","partner":{"id":"partner_456"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["url"], "https://partnero.com?aff=extra");
    let got = app.get("/v1/partner_referral_links/extra").await.ok();
    assert_eq!(got["data"]["default"], false);
    let got = app.get("/v1/partners/extra").await.ok();
    assert_eq!(got["data"]["id"], "partner_456");
    // The customer the deleted partner brought is still there.
    app.get("/v1/customers/c1").await.ok();
}

async fn concurrent_creates_of_one_key_make_one_link(app: TestApp) {
    partners(&app).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let app = app.clone();
        let partner = if i % 2 == 0 {
            "partner_123"
        } else {
            "partner_456"
        };
        tasks.spawn(async move {
            app.post(
                "/v1/partner_referral_links",
                json!({"key":"race","partner":{"id": partner}}),
            )
            .await
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(
                    r.body["errors"]["key"][0],
                    "The key has already been taken."
                );
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(ok, 1);
    let body = app
        .get("/v1/partner_referral_links:search?key=race")
        .await
        .ok();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
}

async fn a_program_without_website_has_links_without_urls(app: TestApp) {
    let (_, key) = programs::create(
        &*app.store,
        ProgramType::Affiliate,
        "No Site",
        None,
        SystemClock.now(),
    )
    .await
    .expect("create program");
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        let key = key.clone();
        let app = &app;
        async move { app.call_as(&key, method, path, body).await }
    };
    let body = call(Method::GET, "/v1/partner_referral_links:domains", None)
        .await
        .ok();
    assert_eq!(body, json!({"data":[],"status":1}));
    let body = call(
        Method::POST,
        "/v1/partners",
        Some(json!({"id":"p","key":"pk","email":"p@x.test"})),
    )
    .await
    .ok();
    assert_eq!(body["data"]["referral_link"], Value::Null);
    assert_eq!(body["data"]["referral_links"], json!([]));
    let body = call(
        Method::POST,
        "/v1/partner_referral_links",
        Some(json!({"key":"k2","partner":{"id":"p"}})),
    )
    .await
    .ok();
    assert_eq!(body["data"]["url"], Value::Null);
    assert_eq!(keys(&body["data"]), LINK_KEYS);
    let body = call(Method::GET, "/v1/partners/p/referral_links", None)
        .await
        .ok();
    assert_eq!(body["data"][0]["id"], "pk");
    assert_eq!(body["data"][1]["id"], "k2");
}

async fn keys_are_case_sensitive_on_both_stores(app: TestApp) {
    partners(&app).await;
    link(&app, "extra").await;
    // URL parameters are case-sensitive, and so are keys: `EXTRA` is another link.
    let body = app
        .post(
            "/v1/partner_referral_links",
            json!({"key":"EXTRA","partner":{"id":"partner_456"}}),
        )
        .await
        .ok();
    assert_eq!(body["data"]["url"], "https://partnero.com?aff=EXTRA");
    let got = app.get("/v1/partners/EXTRA").await.ok();
    assert_eq!(got["data"]["id"], "partner_456");
    let got = app.get("/v1/partners/extra").await.ok();
    assert_eq!(got["data"]["id"], "partner_123");
    let body = app
        .get("/v1/partner_referral_links:search?key=Extra")
        .await
        .ok();
    assert_eq!(body["data"], json!([]));
    app.get("/v1/partners/REF_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    // Percent-encoded path segments are decoded.
    link(&app, "a~b").await;
    let got = app.get("/v1/partner_referral_links/a%7Eb").await.ok();
    assert_eq!(got["data"]["key"], "a~b");
}

crate::affiliate_tests!(
    domains_list_the_program_website,
    create_answers_the_link_object,
    create_names_the_partner_by_id_key_or_email,
    create_as_the_php_sdk_sends_it,
    create_errors,
    keys_are_unique_across_partners_and_links,
    keys_are_per_program,
    rename_changes_id_key_and_url,
    renaming_the_default_link_renames_the_partner_key,
    search_by_key_or_id,
    delete_additional_links_only,
    a_partners_links_default_first_and_paginated,
    links_of_deleted_partners_are_gone,
    links_follow_the_program_link_settings,
    other_program_types_are_refused,
    search_by_partner,
    links_and_their_customers,
    keys_of_deleted_partners_are_free,
    concurrent_creates_of_one_key_make_one_link,
    a_program_without_website_has_links_without_urls,
    keys_are_case_sensitive_on_both_stores,
);
