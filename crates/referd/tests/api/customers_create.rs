//! `POST /v1/customers` for refer-a-friend programs: the seed's exact shapes, generated
//! identifiers, referrer resolution, validation, and concurrent duplicates.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, redact_times};

fn alice() -> Value {
    json!({"id":"customer_123","key":"ref_123","name":"Alice","surname":"Brown","email":"alice.brown@partnero.com"})
}

fn bob_referred_by(referrer: Value) -> Value {
    json!({"id":"customer_456","key":"ref_456","name":"Bob","surname":"Green",
           "email":"bob.green@partnero.com","referring_customer": referrer})
}

async fn create_referring_matches_seed(app: TestApp) {
    let mut body = app.post("/v1/customers", alice()).await.ok();
    redact_times(&mut body);
    // Seed 000, "Create a customer", first response (timestamps redacted).
    let expected = json!({
        "data": {
            "email": "alice.brown@partnero.com", "created_at": "[time]", "updated_at": "[time]",
            "name": "Alice", "id": "customer_123", "surname": "Brown", "tos": true, "approved": true,
            "status": "active", "custom_fields": [], "referring_customer": null, "referrals_count": 0,
            "metadata": {"date_of_birth": null},
            "referral_link": "https://partnero.com?ref=ref_123",
            "referral_links": ["https://partnero.com?ref=ref_123"]
        },
        "status": 1
    });
    assert_eq!(body, expected);
    // Key order is the seed's too.
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
}

async fn create_referred_matches_seed(app: TestApp) {
    app.customer(alice()).await;
    let mut body = app
        .post(
            "/v1/customers",
            bob_referred_by(json!({"id": "customer_123"})),
        )
        .await
        .ok();
    redact_times(&mut body);
    let expected = json!({
        "data": {
            "email": "bob.green@partnero.com", "created_at": "[time]", "updated_at": "[time]",
            "name": "Bob", "id": "customer_456", "surname": "Green", "tos": true, "approved": true,
            "status": "active", "custom_fields": [],
            "referring_customer": {
                "email": "alice.brown@partnero.com", "created_at": "[time]", "updated_at": "[time]",
                "name": "Alice", "id": "customer_123", "surname": "Brown", "tos": true,
                "approved": true, "status": "active", "custom_fields": [],
                "referring_customer": null, "referrals_count": 1,
                "metadata": {"date_of_birth": null}
            },
            "referrals_count": 0,
            "metadata": {"date_of_birth": null},
            "referral_link": "https://partnero.com?ref=ref_456",
            "referral_links": ["https://partnero.com?ref=ref_456"]
        },
        "status": 1
    });
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
    let alice = app.get("/v1/customers/customer_123").await.ok();
    assert_eq!(alice["data"]["referrals_count"], 1);
}

async fn referrer_id_wins_over_key(app: TestApp) {
    app.customer(alice()).await;
    app.customer(json!({"id":"c_other","key":"other_key","email":"other@x.test"}))
        .await;
    let bob = app
        .customer(bob_referred_by(
            json!({"id":"customer_123","key":"other_key"}),
        ))
        .await;
    assert_eq!(bob["referring_customer"]["id"], "customer_123");
}

async fn referrer_by_key_and_by_email(app: TestApp) {
    app.customer(alice()).await;
    // The partnero_referral cookie carries the key.
    let bob = app
        .customer(bob_referred_by(json!({"key":"ref_123"})))
        .await;
    assert_eq!(bob["referring_customer"]["id"], "customer_123");
    // The PHP SDK may send the referrer as a customer model with only an email.
    let carol = app
        .customer(json!({"email":"carol@x.test","referring_customer":{"email":"Alice.Brown@partnero.com","name":"Alice"}}))
        .await;
    assert_eq!(carol["referring_customer"]["id"], "customer_123");
    assert_eq!(carol["referring_customer"]["referrals_count"], 2);
}

async fn generates_id_and_key_when_absent(app: TestApp) {
    // The Python SDK sends nulls for what it does not know: null means "not provided".
    let c = app
        .customer(json!({"id": null, "key": null, "email": "gen@x.test", "name": null}))
        .await;
    let id = c["id"].as_str().unwrap();
    assert!(id.starts_with("cus_") && id.len() > 8, "{id}");
    let link = c["referral_link"].as_str().unwrap();
    let key = link.strip_prefix("https://partnero.com?ref=").unwrap();
    assert_eq!(key.len(), 12);
    assert!(c["name"].is_null());
    // The generated key resolves the customer too.
    let by_key = app.get(&format!("/v1/customers/{key}")).await.ok();
    assert_eq!(by_key["data"]["id"], id);
    let other = app.customer(json!({"email": "gen2@x.test"})).await;
    assert_ne!(other["id"], c["id"]);
}

async fn email_is_required_valid_and_unique(app: TestApp) {
    let errors = app
        .post("/v1/customers", json!({"id":"x1"}))
        .await
        .invalid();
    assert_eq!(errors, json!({"email": ["The email field is required."]}));
    let errors = app
        .post("/v1/customers", json!({"email":"not-an-email"}))
        .await
        .invalid();
    assert_eq!(
        errors,
        json!({"email": ["The email field must be a valid email address."]})
    );
    app.customer(alice()).await;
    // Emails compare case-insensitively.
    let errors = app
        .post("/v1/customers", json!({"email":"ALICE.brown@partnero.com"}))
        .await
        .invalid();
    assert_eq!(
        errors,
        json!({"email": ["The email has already been taken."]})
    );
}

async fn id_and_key_are_unique(app: TestApp) {
    app.customer(alice()).await;
    let errors = app
        .post(
            "/v1/customers",
            json!({"id":"customer_123","email":"n1@x.test"}),
        )
        .await
        .invalid();
    assert_eq!(errors, json!({"id": ["The id has already been taken."]}));
    let errors = app
        .post(
            "/v1/customers",
            json!({"key":"ref_123","email":"n2@x.test"}),
        )
        .await
        .invalid();
    assert_eq!(errors, json!({"key": ["The key has already been taken."]}));
    let errors = app
        .post(
            "/v1/customers",
            json!({"id":"has space","key":"a/b","email":"n3@x.test"}),
        )
        .await
        .invalid();
    assert!(
        errors["id"].is_array() && errors["key"].is_array(),
        "{errors}"
    );
}

async fn date_of_birth_is_validated(app: TestApp) {
    let errors = app
        .post(
            "/v1/customers",
            json!({"email":"d@x.test","metadata":{"date_of_birth":"1990-02-30"}}),
        )
        .await
        .invalid();
    assert_eq!(
        errors,
        json!({"metadata.date_of_birth": ["The metadata.date_of_birth field must match the format Y-m-d."]})
    );
    let c = app
        .customer(json!({"email":"d@x.test","metadata":{"date_of_birth":"1990-02-28"}}))
        .await;
    assert_eq!(c["metadata"], json!({"date_of_birth": "1990-02-28"}));
}

async fn unusable_referrers_are_refused(app: TestApp) {
    let errors = app
        .post("/v1/customers", bob_referred_by(json!({"id":"nobody"})))
        .await
        .invalid();
    assert_eq!(
        errors,
        json!({"referring_customer.id": ["The selected referring_customer.id is invalid."]})
    );
    let errors = app
        .post("/v1/customers", bob_referred_by(json!({"key":"nokey"})))
        .await
        .invalid();
    assert!(errors["referring_customer.key"].is_array(), "{errors}");
    let errors = app
        .post(
            "/v1/customers",
            bob_referred_by(json!({"name":"no identifier"})),
        )
        .await
        .invalid();
    assert!(errors["referring_customer"].is_array(), "{errors}");

    app.customer(alice()).await;
    app.post("/v1/customers/customer_123/archive", json!([]))
        .await
        .ok();
    let errors = app
        .post(
            "/v1/customers",
            bob_referred_by(json!({"id":"customer_123"})),
        )
        .await
        .invalid();
    assert_eq!(
        errors,
        json!({"referring_customer.id": ["The selected referring_customer.id is archived."]})
    );
    app.delete("/v1/customers/customer_123").await.ok();
    let errors = app
        .post(
            "/v1/customers",
            bob_referred_by(json!({"id":"customer_123"})),
        )
        .await
        .invalid();
    assert!(errors["referring_customer.id"].is_array(), "{errors}");
    // Nothing was created by the refused requests.
    app.get("/v1/customers/customer_456")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn a_customer_cannot_refer_itself(app: TestApp) {
    app.customer(alice()).await;
    let errors = app
        .post(
            "/v1/customers",
            json!({"email":"alice.brown@partnero.com","id":"again","referring_customer":{"key":"ref_123"}}),
        )
        .await
        .invalid();
    assert_eq!(
        errors,
        json!({"referring_customer.key": ["A customer cannot refer itself."]})
    );
}

async fn wrong_types_are_422_not_500(app: TestApp) {
    let errors = app
        .post(
            "/v1/customers",
            json!({"email":{"a":1},"name":["x"],"referring_customer":"k"}),
        )
        .await
        .invalid();
    assert!(errors["email"].is_array(), "{errors}");
    assert!(errors["name"].is_array(), "{errors}");
    assert!(errors["referring_customer"].is_array(), "{errors}");
    // Numeric ids are accepted as their text (clients send account ids as numbers).
    let c = app
        .customer(json!({"id": 12345, "email":"num@x.test", "name": "N"}))
        .await;
    assert_eq!(c["id"], "12345");
    let long = "x".repeat(256);
    let errors = app
        .post("/v1/customers", json!({"email":"long@x.test","name": long}))
        .await
        .invalid();
    assert!(errors["name"].is_array(), "{errors}");
}

async fn concurrent_duplicates_have_one_winner(app: TestApp) {
    let app = std::sync::Arc::new(app);
    // Same email, different ids.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let reply = app
                .post(
                    "/v1/customers",
                    json!({"id": format!("race_{i}"), "email": "race@x.test"}),
                )
                .await;
            if reply.status != StatusCode::OK {
                // The loser is told which field: the email.
                assert_eq!(
                    reply.body["errors"],
                    json!({"email": ["The email has already been taken."]})
                );
            }
            reply.status
        }));
    }
    // Same id, different emails.
    for i in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let reply = app
                .post(
                    "/v1/customers",
                    json!({"id": "race_id", "email": format!("race_{i}@y.test")}),
                )
                .await;
            if reply.status != StatusCode::OK {
                assert_eq!(
                    reply.body["errors"],
                    json!({"id": ["The id has already been taken."]})
                );
            }
            reply.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let (email_race, id_race) = statuses.split_at(12);
    for race in [email_race, id_race] {
        assert_eq!(
            race.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{race:?}"
        );
        assert!(
            race.iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::UNPROCESSABLE_ENTITY),
            "{race:?}"
        );
    }
    let found = app.get("/v1/customers:search?email=race@x.test").await.ok();
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
}

async fn no_website_means_no_referral_link(app: TestApp) {
    let (_, key) = app.other_program_without_website().await;
    let body = app
        .call_as(
            &key,
            axum::http::Method::POST,
            "/v1/customers",
            Some(json!({"email":"w@x.test"})),
        )
        .await
        .ok();
    assert!(body["data"]["referral_link"].is_null());
    assert_eq!(body["data"]["referral_links"], json!([]));
}

crate::backend_tests!(
    create_referring_matches_seed,
    create_referred_matches_seed,
    referrer_id_wins_over_key,
    referrer_by_key_and_by_email,
    generates_id_and_key_when_absent,
    email_is_required_valid_and_unique,
    id_and_key_are_unique,
    date_of_birth_is_validated,
    unusable_referrers_are_refused,
    a_customer_cannot_refer_itself,
    wrong_types_are_422_not_500,
    concurrent_duplicates_have_one_winner,
    no_website_means_no_referral_link,
);
