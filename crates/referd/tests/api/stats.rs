//! Statistics that read money, on both backends: a partner's `referrals`, a refer-a-friend
//! customer's `/stats`, and `GET /v1/program` of both program types. Sales are active
//! transactions (a refunded or archived one stops counting, a restored one counts again),
//! revenue is their exact sum per currency, rewards are the ledger.

use referd_core::service::rules;
use referd_core::time::{Clock, SystemClock};
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn set_rules(app: &TestApp, body: Value) {
    rules::set(&*app.store, &app.program, &body, SystemClock.now())
        .await
        .expect("rules");
}

async fn sell(app: &TestApp, body: Value) {
    app.post("/v1/transactions", body).await.ok();
}

async fn referrals(app: &TestApp, partner: &str) -> Value {
    app.get(&format!("/v1/partners/{partner}")).await.ok()["data"]["referrals"].clone()
}

async fn stats(app: &TestApp) -> Value {
    app.get("/v1/program").await.ok()["data"]["stats"].clone()
}

/// p1 has c1 (99.99 + 0.01 USD); p2 has c2 (50 USD, backdated to 2023) and c3 (10 EUR);
/// c4 (p2) buys nothing. A 10% commission without review.
async fn affiliate_setup(app: &TestApp) {
    set_rules(
        app,
        json!({"affiliate": {"commission": {"type": "percentage", "value": 10}}}),
    )
    .await;
    app.partner(json!({"id":"p1","key":"p1","email":"p1@x.co"}))
        .await;
    app.partner(json!({"id":"p2","key":"p2","email":"p2@x.co"}))
        .await;
    for (c, p) in [("c1", "p1"), ("c2", "p2"), ("c3", "p2"), ("c4", "p2")] {
        app.customer(json!({"key": c, "partner": {"key": p}})).await;
    }
    sell(
        app,
        json!({"key":"t1","amount":99.99,"customer":{"key":"c1"}}),
    )
    .await;
    sell(
        app,
        json!({"key":"t2","amount":0.01,"customer":{"key":"c1"}}),
    )
    .await;
    sell(
        app,
        json!({"key":"t3","amount":"50","customer":{"key":"c2"},"created_at":1700000000}),
    )
    .await;
    sell(
        app,
        json!({"key":"t4","amount":10,"amount_units":"eur","customer":{"key":"c3"}}),
    )
    .await;
}

async fn partner_referrals_are_its_sales(app: TestApp) {
    affiliate_setup(&app).await;
    assert_eq!(
        referrals(&app, "p1").await,
        json!({"clicks":0,"signups":1,"revenue":[{"currency":"USD","amount":100}],
               "sales_count":2,"paid_accounts":1}),
        "99.99 + 0.01 is exactly 100"
    );
    let p2 = json!({"clicks":0,"signups":3,
        "revenue":[{"currency":"EUR","amount":10},{"currency":"USD","amount":50}],
        "sales_count":2,"paid_accounts":2});
    assert_eq!(referrals(&app, "p2").await, p2);
    // A refunded sale and an archived one stop counting; a restored one counts again.
    sell(
        &app,
        json!({"key":"t5","amount":30,"customer":{"key":"c4"}}),
    )
    .await;
    sell(
        &app,
        json!({"key":"t6","amount":20.5,"customer":{"key":"c4"}}),
    )
    .await;
    assert_eq!(
        referrals(&app, "p2").await,
        json!({"clicks":0,"signups":3,
            "revenue":[{"currency":"EUR","amount":10},{"currency":"USD","amount":100.5}],
            "sales_count":4,"paid_accounts":3})
    );
    app.delete("/v1/transactions/t5").await.ok();
    app.post("/v1/transactions/t6/archive", json!({}))
        .await
        .ok();
    assert_eq!(referrals(&app, "p2").await, p2);
    app.post("/v1/transactions/t6/revoke-archive", json!({}))
        .await
        .ok();
    assert_eq!(
        referrals(&app, "p2").await,
        json!({"clicks":0,"signups":3,
            "revenue":[{"currency":"EUR","amount":10},{"currency":"USD","amount":70.5}],
            "sales_count":3,"paid_accounts":3})
    );
    // The legacy lookup answers the same figures; the other partner's are untouched.
    let legacy = app.get("/v1/partner?id=p1").await.ok();
    assert_eq!(
        legacy["data"]["referrals"]["revenue"],
        json!([{"currency":"USD","amount":100}])
    );
}

async fn affiliate_program_overview(app: TestApp) {
    let s = stats(&app).await;
    assert_eq!(s["total_purchases"], 0);
    assert_eq!(s["total_revenue"], json!({}));
    assert_eq!(s["total_reward"], json!({}));
    assert_eq!(s["average_order_value"], json!({}));
    assert_eq!(s["net_profit"], 0);
    assert_eq!(s["net_profit_formatted"], "$0.00");
    assert_eq!(s["signup_to_sale_conversion"], "0");
    affiliate_setup(&app).await;
    // Refunded and archived sales (and their reversed rewards) do not count.
    sell(
        &app,
        json!({"key":"t5","amount":30,"customer":{"key":"c4"}}),
    )
    .await;
    sell(
        &app,
        json!({"key":"t6","amount":20,"customer":{"key":"c4"}}),
    )
    .await;
    app.delete("/v1/transactions/t5").await.ok();
    app.post("/v1/transactions/t6/archive", json!({}))
        .await
        .ok();
    let s = stats(&app).await;
    // Sales t1..t4; only t3 is older than the 30-day window.
    assert_eq!(s["total_purchases"], 4);
    assert_eq!(s["total_purchases_growth"], 300);
    assert_eq!(s["total_paid_accounts"], 3);
    assert_eq!(s["total_paid_accounts_growth"], 200);
    assert_eq!(s["total_signups"], 4);
    assert_eq!(s["total_revenue"], json!({"usd":"$150.00","eur":"€10.00"}));
    assert_eq!(s["total_revenue_growth"], 200, "USD 50 → 150");
    // 10% of each: 9.999 + 0.001 + 5 = 15 USD, 1 EUR; the reversed ones cancel out.
    assert_eq!(s["total_reward"], json!({"usd":"$15.00","eur":"€1.00"}));
    assert_eq!(s["total_reward_growth"], 0);
    assert_eq!(s["net_profit"], json!(135));
    assert_eq!(s["net_profit_formatted"], "$135.00");
    assert_eq!(s["net_profit_growth"], 170, "50 → 135");
    assert_eq!(
        s["average_order_value"],
        json!({"usd":"$50.00","eur":"€10.00"})
    );
    assert_eq!(
        s["signup_to_sale_conversion"], "75",
        "3 buyers of 4 sign-ups"
    );
    assert_eq!(s["total_paid"], json!([]));
    assert_eq!(s["total_pending"], json!([]));
    assert_eq!(
        s["rewards_breakdown"],
        json!({"unclaimed":[{"currency":"EUR","amount":1},{"currency":"USD","amount":15}],
               "in_review":[],"paid":[]})
    );
    // A bonus is a reward too.
    app.post("/v1/partners/p1/reward", json!({"amount": 2.5}))
        .await
        .ok();
    let s = stats(&app).await;
    assert_eq!(s["total_reward"], json!({"usd":"$17.50","eur":"€1.00"}));
    assert_eq!(s["net_profit"], json!(132.5));
    assert_eq!(s["net_profit_formatted"], "$132.50");
}

async fn rewards_in_review_are_pending(app: TestApp) {
    set_rules(
        &app,
        json!({"affiliate": {"commission": {"type": "percentage", "value": 30},
                             "review_days": 14}}),
    )
    .await;
    app.partner(json!({"id":"p1","key":"p1","email":"p1@x.co"}))
        .await;
    app.customer(json!({"key":"c1","partner":{"key":"p1"}}))
        .await;
    sell(
        &app,
        json!({"key":"t1","amount":99.99,"customer":{"key":"c1"}}),
    )
    .await;
    sell(
        &app,
        json!({"key":"t2","amount":1234.5,"customer":{"key":"c1"}}),
    )
    .await;
    let s = stats(&app).await;
    assert_eq!(s["total_revenue"], json!({"usd":"$1,334.49"}));
    // 30% of 99.99 is 29.997 exactly; shown rounded half up.
    assert_eq!(s["total_reward"], json!({"usd":"$400.35"}));
    assert_eq!(
        s["total_pending"],
        json!([{"currency":"USD","amount":400.347}])
    );
    assert_eq!(
        s["rewards_breakdown"],
        json!({"unclaimed":[],"in_review":[{"currency":"USD","amount":400.347}],"paid":[]})
    );
    assert_eq!(s["net_profit"], json!(934.143));
    assert_eq!(s["net_profit_formatted"], "$934.14");
    assert_eq!(
        s["average_order_value"],
        json!({"usd":"$667.25"}),
        "1334.49 / 2 = 667.245"
    );
    assert_eq!(s["total_paid_accounts"], 1);
    assert_eq!(s["signup_to_sale_conversion"], "100");
}

crate::affiliate_tests!(
    partner_referrals_are_its_sales,
    affiliate_program_overview,
    rewards_in_review_are_pending,
);

/// Refer-a-friend: a customer's `/stats` and the program's sales.
mod referral {
    use super::*;

    async fn customer_stats_and_program_sales(app: TestApp) {
        set_rules(
            &app,
            json!({"referral": {
                "referring": [{"kind":"credit","trigger":"purchase","amount":{"type":"static","value":10}}]
            }}),
        )
        .await;
        let o = app.get("/v1/program").await.ok()["data"].clone();
        assert_eq!(o["total_sales"], 0);
        assert_eq!(o["total_revenue_from_sales"], json!([]));
        app.customer(json!({"id":"a","email":"a@x.co"})).await;
        app.customer(json!({"id":"z","email":"z@x.co"})).await;
        for (id, by) in [("b", "a"), ("c", "a"), ("y", "z")] {
            app.customer(json!({"id": id, "email": format!("{id}@x.co"),
                                "referring_customer": {"id": by}}))
                .await;
        }
        sell(
            &app,
            json!({"key":"t1","amount":99.99,"customer":{"id":"b"}}),
        )
        .await;
        sell(
            &app,
            json!({"key":"t2","amount":"0.01","customer":{"id":"b"}}),
        )
        .await;
        sell(&app, json!({"key":"t3","amount":25,"customer":{"id":"c"}})).await;
        sell(&app, json!({"key":"t4","amount":7.5,"customer":{"id":"c"}})).await;
        sell(
            &app,
            json!({"key":"t5","amount":1000,"customer":{"id":"y"},"created_at":1700000000}),
        )
        .await;
        let referrals = |v: Value| v["data"]["referrals"].clone();
        assert_eq!(
            referrals(app.get("/v1/customers/a/stats").await.ok()),
            json!({"clicks":0,"signups":2,"revenue":[{"currency":"USD","amount":132.5}],
                   "sales_count":4,"paid_accounts":2})
        );
        // Refunded and archived sales stop counting: 99.99 + 0.01 is exactly 100.
        app.delete("/v1/transactions/t3").await.ok();
        app.post("/v1/transactions/t4/archive", json!({}))
            .await
            .ok();
        assert_eq!(
            referrals(app.get("/v1/customers/a/stats").await.ok()),
            json!({"clicks":0,"signups":2,"revenue":[{"currency":"USD","amount":100}],
                   "sales_count":2,"paid_accounts":1})
        );
        assert_eq!(
            referrals(app.get("/v1/customers/z/stats").await.ok()),
            json!({"clicks":0,"signups":1,"revenue":[{"currency":"USD","amount":1000}],
                   "sales_count":1,"paid_accounts":1})
        );
        // A referred customer referred nobody.
        assert_eq!(
            referrals(app.get("/v1/customers/b/stats").await.ok()),
            json!({"clicks":0,"signups":0,"revenue":[],"sales_count":0,"paid_accounts":0})
        );
        let o = app.get("/v1/program").await.ok()["data"].clone();
        assert_eq!(o["total_sales"], 3);
        assert_eq!(o["total_sales_before"], 1, "only t5 is older than 30 days");
        assert_eq!(o["total_sales_growth"], 200);
        assert_eq!(o["total_revenue_from_sales"], json!({"usd":"$1,100.00"}));
        assert_eq!(o["stats"]["total_sales"], 3);
        assert_eq!(
            o["stats"]["total_revenue_from_sales"],
            json!({"usd":"$1,100.00"})
        );
    }

    crate::backend_tests!(customer_stats_and_program_sales);
}
