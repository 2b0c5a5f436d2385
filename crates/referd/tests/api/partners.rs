//! `/v1/partners` (spec §5): the object shapes, identifiers, validation, multi-tier, list and
//! search, updates in every addressing form, the lifecycle, and concurrent duplicates.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, redact_times};

fn jane() -> Value {
    json!({"id":"partner_123","key":"ref_123","email":"Jane.Doe@Partnero.com","name":"Jane",
           "surname":"Doe","tags":["new","premium"]})
}

async fn create_answers_the_documented_object(app: TestApp) {
    let mut body = app.post("/v1/partners", jane()).await.ok();
    redact_times(&mut body);
    let expected = json!({
        "data": {
            "email": "jane.doe@partnero.com", "created_at": "[time]", "updated_at": "[time]",
            "name": "Jane", "id": "partner_123", "surname": "Doe", "tos": false, "approved": true,
            "status": "active", "custom_fields": [], "referrals_count": 0,
            "tags": [{"value": "new"}, {"value": "premium"}],
            "referral_link": "https://partnero.com?aff=ref_123",
            "referral_links": ["https://partnero.com?aff=ref_123"],
            "referring_partner": null
        },
        "status": 1
    });
    assert_eq!(body, expected);
    // The create answer has no `referrals`/`commissions`; GET has them.
    let got = app.get("/v1/partners/partner_123").await.ok()["data"].clone();
    assert_eq!(got["custom_field_values"], json!([]));
    assert_eq!(
        got["referrals"],
        json!({"clicks":0,"signups":0,"revenue":[],"sales_count":0,"paid_accounts":0})
    );
    assert_eq!(
        got["commissions"],
        json!({"paid":0,"pending":[],"not_paid":[]})
    );
}

async fn generated_identifiers_and_optional_fields(app: TestApp) {
    let p = app.partner(json!({"email": "min@x.co"})).await;
    let id = p["id"].as_str().unwrap();
    assert!(id.starts_with("par_") && id.len() > 10, "{id}");
    let link = p["referral_link"].as_str().unwrap();
    let key = link.strip_prefix("https://partnero.com?aff=").unwrap();
    assert!(!key.is_empty());
    assert_eq!(p["name"], Value::Null);
    assert_eq!(p["tags"], json!([]));
    // Found by its key and by its email as well as its id.
    for ident in [id, key, "min@x.co", "MIN@x.co"] {
        let got = app.get(&format!("/v1/partners/{ident}")).await.ok();
        assert_eq!(got["data"]["id"], id, "{ident}");
    }
    // The Python SDK sends explicit nulls for id and key.
    let p = app
        .partner(json!({"email":"py@x.co","name":"Py","password":"Secret123","id":null,"key":null}))
        .await;
    assert!(p["id"].as_str().unwrap().starts_with("par_"));
    assert!(
        p.get("password").is_none(),
        "the password is never answered"
    );
}

async fn create_validation_errors(app: TestApp) {
    let errors = app.post("/v1/partners", json!({})).await.invalid();
    assert_eq!(errors["email"], json!(["The email field is required."]));
    let errors = app
        .post("/v1/partners", json!({"email":"nope"}))
        .await
        .invalid();
    assert_eq!(
        errors["email"],
        json!(["The email field must be a valid email address."])
    );
    let errors = app
        .post("/v1/partners", json!({"email":"a@x.co","password":"short"}))
        .await
        .invalid();
    assert_eq!(errors["password"].as_array().unwrap().len(), 3, "{errors}");
    let errors = app
        .post("/v1/partners", json!({"email":"a@x.co","key":"a b&c"}))
        .await
        .invalid();
    assert!(errors["key"].is_array());
    let errors = app
        .post(
            "/v1/partners",
            json!({"email":"a@x.co","tags":"x","approved":"maybe"}),
        )
        .await
        .invalid();
    assert!(errors["approved"].is_array(), "{errors}");
    let errors = app
        .post("/v1/partners", json!({"email":"a@x.co","tags":[{"a":1}]}))
        .await
        .invalid();
    assert!(errors["tags.0"].is_array(), "{errors}");
    let errors = app
        .post(
            "/v1/partners",
            json!({"email":"a@x.co","name":"x".repeat(256)}),
        )
        .await
        .invalid();
    assert!(errors["name"].is_array());
    // Nothing was created by any of these.
    let list = app.get("/v1/partners").await.ok();
    assert_eq!(list["data"], json!([]));
}

async fn duplicates_are_422_by_field(app: TestApp) {
    app.partner(jane()).await;
    let dup = |id: &str, key: &str, email: &str| json!({"id":id,"key":key,"email":email});
    let errors = app
        .post(
            "/v1/partners",
            dup("other", "other", "JANE.DOE@partnero.com"),
        )
        .await
        .invalid();
    assert_eq!(
        errors["email"],
        json!(["The email has already been taken."])
    );
    let errors = app
        .post("/v1/partners", dup("partner_123", "other", "o@x.co"))
        .await
        .invalid();
    assert_eq!(errors["id"], json!(["The id has already been taken."]));
    let errors = app
        .post("/v1/partners", dup("other", "ref_123", "o@x.co"))
        .await
        .invalid();
    assert_eq!(errors["key"], json!(["The key has already been taken."]));
}

async fn concurrent_duplicate_creates_make_one_partner(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.spawn(async move {
            app.post(
                "/v1/partners",
                json!({"email":"race@x.co","key":format!("race{i}")}),
            )
            .await
            .status
        });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
    let found = app.get("/v1/partners:search?email=race@x.co").await.ok();
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
}

async fn multi_tier_parent_is_linked(app: TestApp) {
    app.partner(jane()).await;
    for parent in [
        json!({"id":"partner_123"}),
        json!({"key":"ref_123"}),
        json!({"email":"jane.doe@partnero.com"}),
    ] {
        let child = app
            .partner(
                json!({"email": format!("c{}@x.co", parent.to_string().len()),
                            "referring_partner": parent}),
            )
            .await;
        assert_eq!(child["referring_partner"]["id"], "partner_123");
        assert_eq!(child["referring_partner"]["email"], "jane.doe@partnero.com");
        assert_eq!(child["referring_partner"]["status"], "active");
    }
    let errors = app
        .post(
            "/v1/partners",
            json!({"email":"x@x.co","referring_partner":{"id":"nobody"}}),
        )
        .await
        .invalid();
    assert_eq!(
        errors["referring_partner.id"],
        json!(["The selected referring_partner.id is invalid."])
    );
    let errors = app
        .post(
            "/v1/partners",
            json!({"email":"jane.doe@partnero.com","referring_partner":{"key":"ref_123"}}),
        )
        .await
        .invalid();
    assert_eq!(
        errors["referring_partner.key"],
        json!(["A partner cannot refer itself."])
    );
    let errors = app
        .post(
            "/v1/partners",
            json!({"email":"y@x.co","referring_partner":{"name":"only a name"}}),
        )
        .await
        .invalid();
    assert!(errors["referring_partner"].is_array(), "{errors}");
    // An archived parent cannot take new partners.
    app.post("/v1/partners/partner_123/archive", json!({}))
        .await
        .ok();
    let errors = app
        .post(
            "/v1/partners",
            json!({"email":"z@x.co","referring_partner":{"id":"partner_123"}}),
        )
        .await
        .invalid();
    assert_eq!(
        errors["referring_partner.id"],
        json!(["The selected referring_partner.id is archived."])
    );
}

async fn get_unknown_is_404(app: TestApp) {
    let body = app
        .get("/v1/partners/nobody")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"status":0,"message":"Partner not found"}));
    app.get("/v1/partner?key=nobody")
        .await
        .expect(StatusCode::NOT_FOUND);
    let errors = app.get("/v1/partner").await.invalid();
    assert!(errors["key"].is_array());
}

async fn legacy_singular_lookup(app: TestApp) {
    app.partner(jane()).await;
    for q in [
        "key=ref_123",
        "email=jane.doe@partnero.com",
        "id=partner_123",
    ] {
        let got = app.get(&format!("/v1/partner?{q}")).await.ok();
        assert_eq!(got["data"]["id"], "partner_123", "{q}");
        assert!(got["data"]["commissions"].is_object());
    }
}

async fn list_pages_and_filters_by_status(app: TestApp) {
    for i in 0..5 {
        app.partner(json!({"email": format!("p{i}@x.co"), "id": format!("p{i}")}))
            .await;
    }
    app.partner(json!({"email":"pending@x.co","id":"pend","approved":false}))
        .await;
    app.post("/v1/partners/p0/archive", json!({})).await.ok();
    let page = app.get("/v1/partners?limit=2").await.ok();
    let ids: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, [json!("p1"), json!("p2")]);
    let next = page["links"]["next"]
        .as_str()
        .unwrap()
        .replace("http://referd.test", "");
    let second = app.get(&next).await.ok();
    assert_eq!(second["data"][0]["id"], "p3", "{next}");
    // List items are the reduced object.
    let item = page["data"][0].as_object().unwrap();
    let keys: Vec<_> = item.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
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
    let all = app.get("/v1/partners?limit=250").await.ok();
    let statuses: Vec<_> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].clone())
        .collect();
    assert_eq!(
        statuses.len(),
        5,
        "archived partners are not listed by default"
    );
    assert!(statuses.contains(&json!("pending")));
    let archived = app.get("/v1/partners?status=archived").await.ok();
    assert_eq!(archived["data"][0]["id"], "p0");
    assert_eq!(archived["data"].as_array().unwrap().len(), 1);
    app.get("/v1/partners?status=deleted").await.invalid();
    app.get("/v1/partners?limit=251").await.invalid();
    let desc = app.get("/v1/partners?sort=desc&limit=1").await.ok();
    assert_eq!(desc["data"][0]["id"], "pend");
    // PHP sends the limit in a GET body.
    let php = app
        .get_with_body("/v1/partners", json!({"limit": 1}))
        .await
        .ok();
    assert_eq!(php["data"].as_array().unwrap().len(), 1);
}

async fn search_matches_partial_values_and_any_link_key(app: TestApp) {
    app.partner(jane()).await;
    app.partner(json!({"id":"partner_456","key":"bob_key","email":"bob@other.co","name":"Bob"}))
        .await;
    app.post(
        "/v1/partner_referral_links",
        json!({"key":"summer-sale","partner":{"id":"partner_456"}}),
    )
    .await
    .ok();
    let ids = |v: Value| -> Vec<Value> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect()
    };
    assert_eq!(
        ids(app.get("/v1/partners:search?id=partner_").await.ok()).len(),
        2
    );
    assert_eq!(
        ids(app.get("/v1/partners:search?key=summer").await.ok()),
        [json!("partner_456")]
    );
    assert_eq!(
        ids(app.get("/v1/partners:search?key=REF_1").await.ok()),
        [json!("partner_123")]
    );
    assert_eq!(
        ids(app.get("/v1/partners:search?email=OTHER.co").await.ok()),
        [json!("partner_456")]
    );
    assert_eq!(
        ids(app.get("/v1/partners:search?name=jane%20doe").await.ok()),
        [json!("partner_123")]
    );
    assert_eq!(
        ids(app
            .get("/v1/partners:search?name=bob&email=partnero")
            .await
            .ok()),
        Vec::<Value>::new()
    );
    // PHP sends search fields in a GET body.
    assert_eq!(
        ids(app
            .get_with_body("/v1/partners:search", json!({"email":"jane"}))
            .await
            .ok()),
        [json!("partner_123")]
    );
    app.get("/v1/partners:search").await.invalid();
}

async fn update_in_every_addressing_form(app: TestApp) {
    app.partner(jane()).await;
    // Path id, wrapped.
    let p = app
        .put(
            "/v1/partners/partner_123",
            json!({"update":{"name":"Janet"}}),
        )
        .await
        .ok();
    assert_eq!(p["data"]["name"], "Janet");
    assert!(p["data"].get("commissions").is_none());
    // Path id, flat (n8n, Python SDK).
    let p = app
        .put(
            "/v1/partners/partner_123",
            json!({"surname":"Smith","email":"J@x.co"}),
        )
        .await
        .ok();
    assert_eq!(p["data"]["surname"], "Smith");
    assert_eq!(p["data"]["email"], "j@x.co");
    // Body key (PHP SDK), wrapped.
    let p = app
        .put(
            "/v1/partners",
            json!({"key":"ref_123","update":{"name":"Body"}}),
        )
        .await
        .ok();
    assert_eq!(p["data"]["name"], "Body");
    // Body email, flat: the email addressed the partner, it is not a change.
    let p = app
        .put("/v1/partners", json!({"email":"j@x.co","name":"ByEmail"}))
        .await
        .ok();
    assert_eq!(p["data"]["name"], "ByEmail");
    assert_eq!(p["data"]["email"], "j@x.co");
    // Unknown partner; no addressing at all.
    app.put("/v1/partners/nobody", json!({"name":"x"}))
        .await
        .expect(StatusCode::NOT_FOUND);
    let errors = app
        .put("/v1/partners", json!({"update":{"name":"x"}}))
        .await
        .invalid();
    assert!(errors["key"].is_array());
    // An empty update answers the partner unchanged.
    let p = app.put("/v1/partners/partner_123", json!({})).await.ok();
    assert_eq!(p["data"]["name"], "ByEmail");
}

async fn update_key_tags_password_and_approval(app: TestApp) {
    app.partner(jane()).await;
    app.partner(json!({"email":"other@x.co","key":"taken"}))
        .await;
    let p = app
        .put(
            "/v1/partners/partner_123",
            json!({"update":{"key":"new_key"}}),
        )
        .await
        .ok();
    assert_eq!(
        p["data"]["referral_link"],
        "https://partnero.com?aff=new_key"
    );
    assert_eq!(
        p["data"]["referral_links"],
        json!(["https://partnero.com?aff=new_key"])
    );
    // The old key no longer names the partner; the new one does.
    app.get("/v1/partners/ref_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    app.get("/v1/partners/new_key").await.ok();
    let errors = app
        .put(
            "/v1/partners/partner_123",
            json!({"update":{"key":"taken"}}),
        )
        .await
        .invalid();
    assert_eq!(
        errors["update.key"],
        json!(["The key has already been taken."])
    );
    let errors = app
        .put(
            "/v1/partners/partner_123",
            json!({"update":{"email":"other@x.co"}}),
        )
        .await
        .invalid();
    assert_eq!(
        errors["update.email"],
        json!(["The email has already been taken."])
    );
    // tags: null keeps, [] clears, a list replaces.
    let p = app
        .put(
            "/v1/partners/partner_123",
            json!({"update":{"tags":null,"name":"N"}}),
        )
        .await
        .ok();
    assert_eq!(
        p["data"]["tags"],
        json!([{"value":"new"},{"value":"premium"}])
    );
    let p = app
        .put("/v1/partners/partner_123", json!({"update":{"tags":[]}}))
        .await
        .ok();
    assert_eq!(p["data"]["tags"], json!([]));
    let p = app
        .put(
            "/v1/partners/partner_123",
            json!({"tags":["vip","vip"," gold "]}),
        )
        .await
        .ok();
    assert_eq!(p["data"]["tags"], json!([{"value":"vip"},{"value":"gold"}]));
    let errors = app
        .put(
            "/v1/partners/partner_123",
            json!({"update":{"password":"weak"}}),
        )
        .await
        .invalid();
    assert!(errors["update.password"].is_array());
    app.put(
        "/v1/partners/partner_123",
        json!({"update":{"password":"Str0ngPass"}}),
    )
    .await
    .ok();
    // approved false → pending; true → active again.
    let p = app
        .put("/v1/partners/partner_123", json!({"approved":false}))
        .await
        .ok();
    assert_eq!(
        (p["data"]["approved"].clone(), p["data"]["status"].clone()),
        (json!(false), json!("pending"))
    );
    let p = app
        .put(
            "/v1/partners/partner_123",
            json!({"approved":"1","tos":true}),
        )
        .await
        .ok();
    assert_eq!(p["data"]["status"], "active");
    assert_eq!(p["data"]["tos"], true);
}

async fn archive_restore_and_delete(app: TestApp) {
    app.partner(jane()).await;
    app.post("/v1/partners/partner_123/archive", json!({}))
        .await
        .ok();
    let body = app
        .post("/v1/partners/partner_123/archive", json!({}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"status":0,"message":"Action failed"}));
    // Archived partners are still found (so they can be restored).
    let got = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(got["data"]["status"], "archived");
    app.post("/v1/partners/partner_123/revoke-archive", json!({}))
        .await
        .ok();
    app.post("/v1/partners/partner_123/revoke-archive", json!({}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/v1/partners/partner_123").await.ok()["data"]["status"],
        "active"
    );
    // A pending partner is restored to pending.
    app.partner(json!({"id":"pend","email":"pend@x.co","approved":false}))
        .await;
    app.post("/v1/partners/pend/archive", json!({})).await.ok();
    app.post("/v1/partners/pend/revoke-archive", json!({}))
        .await
        .ok();
    assert_eq!(
        app.get("/v1/partners/pend").await.ok()["data"]["status"],
        "pending"
    );
    // Delete by path; then it is gone, and its id, email and key are free.
    assert_eq!(
        app.delete("/v1/partners/partner_123").await.ok(),
        json!({"status":1})
    );
    app.get("/v1/partners/partner_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    let body = app
        .delete("/v1/partners/partner_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Partner not found");
    app.partner(jane()).await;
    // Delete by body key (PHP) and by body email.
    app.delete_with_body("/v1/partners", json!({"key":"ref_123"}))
        .await
        .ok();
    app.partner(jane()).await;
    app.delete_with_body("/v1/partners", json!({"email":"jane.doe@partnero.com"}))
        .await
        .ok();
    app.get("/v1/partners/partner_123")
        .await
        .expect(StatusCode::NOT_FOUND);
    app.delete_with_body("/v1/partners", json!({"key":"ref_123"}))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn referrals_count_follows_customers(app: TestApp) {
    app.partner(jane()).await;
    for i in 0..3 {
        app.post(
            "/v1/customers",
            json!({"key": format!("c{i}"), "partner": {"key": "ref_123"}}),
        )
        .await
        .ok();
    }
    app.post("/v1/customers/c0/archive", json!({})).await.ok();
    app.delete("/v1/customers/c1").await.ok();
    let got = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        got["data"]["referrals_count"], 2,
        "archived counts, deleted does not"
    );
    assert_eq!(got["data"]["referrals"]["signups"], 2);
}

crate::affiliate_tests!(
    create_answers_the_documented_object,
    generated_identifiers_and_optional_fields,
    create_validation_errors,
    duplicates_are_422_by_field,
    concurrent_duplicate_creates_make_one_partner,
    multi_tier_parent_is_linked,
    get_unknown_is_404,
    legacy_singular_lookup,
    list_pages_and_filters_by_status,
    search_matches_partial_values_and_any_link_key,
    update_in_every_addressing_form,
    update_key_tags_password_and_approval,
    archive_restore_and_delete,
    referrals_count_follows_customers,
);
