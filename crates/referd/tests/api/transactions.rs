//! `/v1/transactions` with the rule engine and the ledger, on both backends: the documented
//! shapes, exact amounts, idempotency (also under concurrency), refunds that reverse, review
//! windows, multi-tier, the bulk form, refer-a-friend rewards, balances and credits.

use axum::http::StatusCode;
use referd_core::ids::ProgramType;
use referd_core::service::rules;
use referd_core::time::{Clock, SystemClock};
use serde_json::{Value, json};

use crate::helpers::{TestApp, redact_times};

async fn set_rules(app: &TestApp, body: Value) {
    rules::set(&*app.store, &app.program, &body, SystemClock.now())
        .await
        .expect("rules");
}

async fn affiliate_setup(app: &TestApp) {
    set_rules(
        app,
        json!({"affiliate": {"commission": {"type": "percentage", "value": 30}}}),
    )
    .await;
    app.partner(json!({"id":"partner_123","key":"partner_123","email":"p@x.co"}))
        .await;
    app.customer(json!({"key":"customer_123","partner":{"key":"partner_123"}}))
        .await;
}

fn sale(key: &str) -> Value {
    json!({"key": key, "amount": 99.99, "action": "sale", "product_id": "prod_123",
           "product_type": "monthly", "customer": {"key": "customer_123"}})
}

async fn affiliate_sale_matches_the_reference(app: TestApp) {
    affiliate_setup(&app).await;
    let mut body = app
        .post("/v1/transactions", sale("transaction_123"))
        .await
        .ok();
    redact_times(&mut body);
    let data = &body["data"];
    assert_eq!(data["key"], "transaction_123");
    assert_eq!(data["amount"], json!(99.99));
    assert_eq!(data["partner"], "partner_123");
    assert_eq!(data["customer"], "customer_123");
    assert_eq!(data["amount_units"], "USD");
    assert_eq!(data["is_currency"], true);
    assert_eq!(data["credit"], false);
    assert_eq!(data["deleted_at"], Value::Null);
    let r = &data["rewards"][0];
    assert_eq!(r["amount"], json!(29.997), "30% of 99.99, exactly");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["partner"], "partner_123");
    assert_eq!(r["customer"], "customer_123");
    assert_eq!(r["key"], "transaction_123");
    assert_eq!(
        r["product_type_data"],
        json!({"product_id":"prod_123","product_type":"monthly"})
    );
    assert_eq!(r["rule"], "affiliate.commission");
    assert_eq!(r["rule_version"], 1);
    // GET answers the same object; the partner's commissions come from the ledger.
    let mut got = app.get("/v1/transactions/transaction_123").await.ok();
    redact_times(&mut got);
    assert_eq!(got, body);
    let p = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        p["data"]["commissions"]["not_paid"],
        json!([{"currency":"USD","amount":29.997}])
    );
    // The customer's transactions.
    let list = app
        .get("/v1/customers/customer_123/transactions")
        .await
        .ok();
    assert_eq!(list["data"][0]["key"], "transaction_123");
}

async fn repeats_are_idempotent_and_conflicts_refused(app: TestApp) {
    affiliate_setup(&app).await;
    let first = app.post("/v1/transactions", sale("t1")).await.ok();
    let again = app.post("/v1/transactions", sale("t1")).await.ok();
    assert_eq!(first, again, "a repeat answers the first transaction");
    let mut other = sale("t1");
    other["amount"] = json!(10);
    let errors = app.post("/v1/transactions", other).await.invalid();
    assert_eq!(
        errors["key"],
        json!(["The key has already been taken by a different transaction."])
    );
    let p = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        p["data"]["commissions"]["not_paid"],
        json!([{"currency":"USD","amount":29.997}]),
        "one reward, not two"
    );
}

async fn concurrent_identical_sales_make_one_transaction(app: TestApp) {
    affiliate_setup(&app).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let app = app.clone();
        tasks.spawn(async move { app.post("/v1/transactions", sale("race")).await });
    }
    let mut bodies = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        bodies.push(reply.unwrap().ok()["data"].clone());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every answer is the one transaction"
    );
    let list = app.get("/v1/transactions?limit=250").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let p = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        p["data"]["commissions"]["not_paid"],
        json!([{"currency":"USD","amount":29.997}])
    );
}

async fn refunds_reverse_and_free_the_key(app: TestApp) {
    affiliate_setup(&app).await;
    app.post("/v1/transactions", sale("t1")).await.ok();
    app.post("/v1/transactions", sale("t2")).await.ok();
    assert_eq!(
        app.delete("/v1/transactions/t1").await.ok(),
        json!({"status":1})
    );
    app.get("/v1/transactions/t1")
        .await
        .expect(StatusCode::NOT_FOUND);
    let body = app
        .delete("/v1/transactions/t1")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Transaction not found");
    // The body form (older docs).
    app.delete_with_body("/v1/transactions", json!({"key":"t2"}))
        .await
        .ok();
    let p = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        p["data"]["commissions"]["not_paid"],
        json!([]),
        "back to zero"
    );
    // The key is free again, and the sale earns again.
    let again = app.post("/v1/transactions", sale("t1")).await.ok();
    assert_eq!(again["data"]["rewards"][0]["amount"], json!(29.997));
    assert_eq!(
        app.get("/v1/transactions").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn validation_and_unknown_customers(app: TestApp) {
    affiliate_setup(&app).await;
    let errors = app
        .post(
            "/v1/transactions",
            json!({"customer":{"key":"customer_123"}}),
        )
        .await
        .invalid();
    assert!(errors["amount"].is_array());
    for (field, value) in [
        ("amount", json!(-5)),
        ("amount", json!("abc")),
        ("amount_units", json!("dollars")),
        ("created_at", json!("yesterday")),
    ] {
        let mut body = sale("bad");
        body[field] = value;
        let errors = app.post("/v1/transactions", body).await.invalid();
        assert!(errors[field].is_array(), "{field}: {errors}");
    }
    let mut body = sale("x");
    body["customer"] = json!({"key": "nobody"});
    let errors = app.post("/v1/transactions", body).await.invalid();
    assert_eq!(
        errors["customer.key"],
        json!(["The selected customer.key is invalid."])
    );
    assert_eq!(app.get("/v1/transactions").await.ok()["data"], json!([]));
}

async fn create_customer_reward_and_not_rewardable(app: TestApp) {
    affiliate_setup(&app).await;
    // options.create_customer with the partner inside customer (current) or at the top (older).
    let t = app
        .post(
            "/v1/transactions",
            json!({"key":"t1","amount":"50","customer":{"key":"new_1","partner":{"key":"partner_123"}},
                   "options":{"create_customer":true}}),
        )
        .await
        .ok();
    assert_eq!(t["data"]["customer"], "new_1");
    assert_eq!(t["data"]["rewards"][0]["amount"], json!(15));
    let t = app
        .post(
            "/v1/transactions",
            json!({"key":"t2","amount":20,"customer":{"key":"new_2"},"partner":{"key":"partner_123"},
                   "options":{"create_customer":true},"created_at":1700000000}),
        )
        .await
        .ok();
    assert_eq!(t["data"]["created_at"], "2023-11-14T22:13:20.000000Z");
    // `reward` sets the commission directly; `rewardable: false` earns nothing.
    let t = app
        .post(
            "/v1/transactions",
            json!({"key":"t3","amount":100,"reward":7.5,"customer":{"key":"customer_123"}}),
        )
        .await
        .ok();
    assert_eq!(t["data"]["rewards"][0]["amount"], json!(7.5));
    let t = app
        .post(
            "/v1/transactions",
            json!({"key":"t4","amount":100,"rewardable":false,"customer":{"key":"customer_123"}}),
        )
        .await
        .ok();
    assert_eq!(t["data"]["rewards"], json!([]));
}

async fn review_window_multi_tier_and_bulk(app: TestApp) {
    set_rules(
        &app,
        json!({"affiliate": {"commission": {"type": "percentage", "value": 10},
                             "review_days": 14, "parent_share": 50}}),
    )
    .await;
    app.partner(json!({"id":"parent","key":"parent_key","email":"parent@x.co"}))
        .await;
    app.partner(json!({"id":"child","key":"child_key","email":"child@x.co",
                       "referring_partner":{"id":"parent"}}))
        .await;
    app.customer(json!({"key":"c1","partner":{"key":"child_key"}}))
        .await;
    let bulk = app
        .post(
            "/v1/transactions",
            json!({"customer":{"key":"c1"},"transactions":[
                {"key":"b1","amount":100,"action":"sale"},
                {"key":"b2","amount":"200.50","action":"sale"}]}),
        )
        .await
        .ok();
    let items = bulk["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let rewards = items[1]["rewards"].as_array().unwrap();
    assert_eq!(rewards[0]["partner"], "child_key");
    assert_eq!(rewards[0]["amount"], json!(20.05));
    assert_eq!(rewards[0]["status"], "pending");
    assert_eq!(rewards[1]["partner"], "parent_key");
    assert_eq!(rewards[1]["amount"], json!(10.025));
    let child = app.get("/v1/partners/child").await.ok();
    assert_eq!(
        child["data"]["commissions"]["pending"],
        json!([{"currency":"USD","amount":30.05}])
    );
    assert_eq!(child["data"]["commissions"]["not_paid"], json!([]));
    // A bulk item with an error records nothing.
    let errors = app
        .post(
            "/v1/transactions",
            json!({"customer":{"key":"c1"},"transactions":[{"key":"b3","amount":1},{"key":"b4"}]}),
        )
        .await
        .invalid();
    assert!(errors["transactions.1.amount"].is_array(), "{errors}");
    app.get("/v1/transactions/b3")
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn list_filters(app: TestApp) {
    affiliate_setup(&app).await;
    app.partner(json!({"id":"p2","key":"p2","email":"p2@x.co"}))
        .await;
    app.customer(json!({"key":"c2","partner":{"key":"p2"}}))
        .await;
    app.post("/v1/transactions", sale("t1")).await.ok();
    let mut other = sale("t2");
    other["customer"] = json!({"key":"c2"});
    app.post("/v1/transactions", other).await.ok();
    let keys = |v: Value| -> Vec<Value> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].clone())
            .collect()
    };
    assert_eq!(
        keys(app.get("/v1/transactions").await.ok()),
        [json!("t1"), json!("t2")]
    );
    assert_eq!(
        keys(app.get("/v1/transactions?key=t2").await.ok()),
        [json!("t2")]
    );
    assert_eq!(
        keys(app.get("/v1/transactions?partner_key=p2").await.ok()),
        [json!("t2")]
    );
    assert_eq!(
        keys(
            app.get("/v1/transactions?customer.key=customer_123")
                .await
                .ok()
        ),
        [json!("t1")]
    );
    assert!(keys(app.get("/v1/transactions?partner_key=nobody").await.ok()).is_empty());
    assert_eq!(
        keys(app.get("/v1/transactions?sort=desc&limit=1").await.ok()),
        [json!("t2")]
    );
}

async fn partner_bonus(app: TestApp) {
    affiliate_setup(&app).await;
    let b = app
        .post(
            "/v1/partners/partner_123/reward",
            json!({"amount": 25, "note": "launch week"}),
        )
        .await
        .ok();
    assert_eq!(b["data"]["amount"], json!(25));
    assert_eq!(b["data"]["note"], "launch week");
    let p = app.get("/v1/partners/partner_123").await.ok();
    assert_eq!(
        p["data"]["commissions"]["not_paid"],
        json!([{"currency":"USD","amount":25}])
    );
    let errors = app
        .post("/v1/partners/partner_123/reward", json!({"amount": 0}))
        .await
        .invalid();
    assert!(errors["amount"].is_array());
    app.post("/v1/partners/nobody/reward", json!({"amount": 5}))
        .await
        .expect(StatusCode::NOT_FOUND);
}

/// Sales use cached rules only while they are the version the program names: a new version
/// applies from the next request on, a first-N period (history) and a lifetime rate
/// (none) alternate without a stale answer.
async fn rule_changes_apply_to_the_next_sale(app: TestApp) {
    affiliate_setup(&app).await;
    let amount = |b: &Value| {
        (
            b["data"]["rewards"][0]["amount"].clone(),
            b["data"]["rewards"][0]["rule_version"].clone(),
        )
    };
    let first = app.post("/v1/transactions", sale("r1")).await.ok();
    assert_eq!(amount(&first), (json!(29.997), json!(1)));
    set_rules(
        &app,
        json!({"affiliate": {"commission": {"type": "static", "value": 5},
                             "period": {"type": "first_transactions", "count": 2}}}),
    )
    .await;
    // The second sale of the customer: within the first two.
    let second = app.post("/v1/transactions", sale("r2")).await.ok();
    assert_eq!(amount(&second), (json!(5), json!(2)));
    let third = app.post("/v1/transactions", sale("r3")).await.ok();
    assert_eq!(third["data"]["rewards"], json!([]), "outside the first two");
    set_rules(
        &app,
        json!({"affiliate": {"commission": {"type": "percentage", "value": 10}}}),
    )
    .await;
    let fourth = app.post("/v1/transactions", sale("r4")).await.ok();
    assert_eq!(amount(&fourth), (json!(9.999), json!(3)));
    // A repeat of an old sale still answers the rules it was recorded under.
    let again = app.post("/v1/transactions", sale("r1")).await.ok();
    assert_eq!(amount(&again), (json!(29.997), json!(1)));
}

crate::affiliate_tests!(
    rule_changes_apply_to_the_next_sale,
    partner_bonus,
    affiliate_sale_matches_the_reference,
    repeats_are_idempotent_and_conflicts_refused,
    concurrent_identical_sales_make_one_transaction,
    refunds_reverse_and_free_the_key,
    validation_and_unknown_customers,
    create_customer_reward_and_not_rewardable,
    review_window_multi_tier_and_bulk,
    list_filters,
);

/// Refer-a-friend: renamed fields, only referred buyers, credit rewards in the balance,
/// credits and debits that never go below zero, refunds that take credit back.
mod referral {
    use super::*;

    async fn double_sided_credit(app: TestApp) {
        rules::set(
            &*app.store,
            &app.program,
            &json!({"referral": {
                "referring": [{"kind":"credit","trigger":"purchase","amount":{"type":"static","value":10}}],
                "referred": [{"kind":"credit","trigger":"every_purchase","amount":{"type":"percentage","value":5}}]
            }}),
            SystemClock.now(),
        )
        .await
        .unwrap();
        app.customer(json!({"id":"customer_123","email":"a@x.co"}))
            .await;
        app.customer(json!({"id":"customer_456","email":"b@x.co","referring_customer":{"id":"customer_123"}}))
            .await;
        // Only referred customers buy with rewards.
        let errors = app
            .post(
                "/v1/transactions",
                json!({"key":"x","amount":10,"customer":{"id":"customer_123"}}),
            )
            .await
            .invalid();
        assert!(errors["customer"].is_array());
        let t = app
            .post(
                "/v1/transactions",
                json!({"key":"transaction_123","amount":99.99,"action":"sale","customer":{"id":"customer_456"}}),
            )
            .await
            .ok();
        assert_eq!(t["data"]["customer"], "customer_123");
        assert_eq!(t["data"]["referred_customer"], "customer_456");
        assert!(t["data"].get("partner").is_none());
        let amounts: Vec<Value> = t["data"]["rewards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["amount"].clone())
            .collect();
        assert_eq!(amounts, [json!(10), json!(4.9995)]);
        // The second purchase: no first-purchase reward, the every-purchase one again.
        app.post(
            "/v1/transactions",
            json!({"key":"t2","amount":20,"customer":{"id":"customer_456"}}),
        )
        .await
        .ok();
        let balance = |v: Value| v["data"]["balance"]["currency"].clone();
        assert_eq!(
            balance(app.get("/v1/customers/customer_123/balance").await.ok()),
            json!([{"amount":10,"amount_units":"USD","is_currency":true}])
        );
        assert_eq!(
            balance(app.get("/v1/customers/customer_456/balance").await.ok()),
            json!([{"amount":5.9995,"amount_units":"USD","is_currency":true}])
        );
        // Redeem part of the referrer's credit; never below zero.
        let b = app
            .post(
                "/v1/customers/customer_123/balance/credit",
                json!({"amount":-4,"amount_units":"usd","is_currency":true}),
            )
            .await
            .ok();
        assert_eq!(
            balance(b),
            json!([{"amount":6,"amount_units":"USD","is_currency":true}])
        );
        let errors = app
            .post(
                "/v1/customers/customer_123/balance/credit",
                json!({"amount":-7,"amount_units":"USD","is_currency":true}),
            )
            .await
            .invalid();
        assert!(
            errors["amount"][0]
                .as_str()
                .unwrap()
                .contains("The balance is 6 USD"),
            "{errors}"
        );
        let b = app
            .post(
                "/v1/customers/customer_123/balance/credit",
                json!({"amount":3,"amount_units":"points","is_currency":false}),
            )
            .await
            .ok();
        assert_eq!(
            balance(b),
            json!([{"amount":6,"amount_units":"USD","is_currency":true},
                   {"amount":3,"amount_units":"points","is_currency":false}])
        );
        // Refunding the first purchase takes its credit back (the referrer's balance may go
        // below what it redeemed: 6 - 10).
        app.delete("/v1/transactions/transaction_123").await.ok();
        assert_eq!(
            balance(app.get("/v1/customers/customer_123/balance").await.ok()),
            json!([{"amount":-4,"amount_units":"USD","is_currency":true},
                   {"amount":3,"amount_units":"points","is_currency":false}])
        );
        let list = app
            .get("/v1/customers/customer_456/transactions")
            .await
            .ok();
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
    }

    async fn other_program_types(app: TestApp) {
        let (_, newsletter) = app.other_program(ProgramType::Newsletter).await;
        app.call_as(
            &newsletter,
            axum::http::Method::GET,
            "/v1/transactions",
            None,
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    }

    async fn signup_rewards_with_a_cap(app: TestApp) {
        rules::set(
            &*app.store,
            &app.program,
            &json!({"referral": {
                "referring": [{"kind":"credit","trigger":"signup","amount":{"type":"static","value":2},"max_rewards":1}],
                "referred": [{"kind":"credit","trigger":"signup","amount":{"type":"static","value":5}},
                             {"kind":"discount","trigger":"signup","amount":{"type":"percentage","value":20}}]
            }}),
            SystemClock.now(),
        )
        .await
        .unwrap();
        app.customer(json!({"id":"a","email":"a@x.co"})).await;
        app.customer(json!({"id":"b","email":"b@x.co","referring_customer":{"id":"a"}}))
            .await;
        app.customer(json!({"id":"c","email":"c@x.co","referring_customer":{"id":"a"}}))
            .await;
        let balance = |v: Value| v["data"]["balance"]["currency"].clone();
        assert_eq!(
            balance(app.get("/v1/customers/a/balance").await.ok()),
            json!([{"amount":2,"amount_units":"USD","is_currency":true}]),
            "max_rewards: 1"
        );
        // The discount (a 20% code) is not credit: the balance shows credit only.
        assert_eq!(
            balance(app.get("/v1/customers/b/balance").await.ok()),
            json!([{"amount":5,"amount_units":"USD","is_currency":true}])
        );
        // A customer without a referrer earns nothing.
        assert_eq!(
            balance(app.get("/v1/customers/a/balance").await.ok())
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    crate::backend_tests!(
        double_sided_credit,
        other_program_types,
        signup_rewards_with_a_cap
    );
}
