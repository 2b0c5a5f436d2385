//! THE route table: every path referd answers, in one place, to diff against the Partnero
//! endpoint list (spec §3). Colon actions such as `/v1/customers:search` are literal path
//! segments (axum only treats a segment *starting* with `:` specially).

use axum::Router;
use axum::routing::{get, post, put};

use crate::handlers::{
    admin, admin_webhooks, customer_links, customers, fallback, invitations, partner_links,
    partners, program, tracking, transactions, webhooks,
};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        // Utility and program
        .route("/v1/test", get(program::test))
        .route(
            "/v1/program",
            get(program::get_program)
                .put(program::update_program)
                .delete(program::delete_program),
        )
        .route("/v1/program/overview", get(program::get_program))
        .route("/v1/settings", put(program::update_settings))
        // Partners (affiliate)
        .route(
            "/v1/partners",
            get(partners::list)
                .post(partners::create)
                .put(partners::update_by_body)
                .delete(partners::delete_by_body),
        )
        .route("/v1/partners:search", get(partners::search))
        .route(
            "/v1/partners/{id}",
            get(partners::get)
                .put(partners::update)
                .delete(partners::delete),
        )
        .route("/v1/partners/{id}/archive", post(partners::archive))
        .route(
            "/v1/partners/{id}/revoke-archive",
            post(partners::revoke_archive),
        )
        .route(
            "/v1/partners/{id}/referral_links",
            get(partners::referral_links),
        )
        .route("/v1/partners/{id}/reward", post(partners::reward))
        // Deprecated singular partner (PHP SDK class, n8n "Get")
        .route(
            "/v1/partner",
            get(partners::get_legacy)
                .post(partners::create)
                .put(partners::update_by_body)
                .delete(partners::delete_by_body),
        )
        // Partner referral links
        .route("/v1/partner_referral_links", post(partner_links::create))
        .route(
            "/v1/partner_referral_links:domains",
            get(partner_links::domains),
        )
        .route(
            "/v1/partner_referral_links:search",
            get(partner_links::search),
        )
        .route(
            "/v1/partner_referral_links/{id}",
            get(partner_links::get)
                .put(partner_links::update)
                .delete(partner_links::delete),
        )
        // Customer referral links (refer-a-friend)
        .route("/v1/customer_referral_links", post(customer_links::create))
        .route(
            "/v1/customer_referral_links:search",
            get(customer_links::search),
        )
        .route(
            "/v1/customer_referral_links/{id}",
            get(customer_links::get)
                .put(customer_links::update)
                .delete(customer_links::delete),
        )
        .route(
            "/v1/customers/{id}/referral_links",
            get(customer_links::of_customer),
        )
        // Customers (both program types; handlers branch on the key's program)
        .route(
            "/v1/customers",
            get(customers::list)
                .post(customers::create)
                .put(customers::update_by_body)
                .delete(customers::delete_by_body),
        )
        .route("/v1/customers:search", get(customers::search))
        .route("/v1/customers:invite", post(invitations::invite))
        .route(
            "/v1/customers/{id}",
            get(customers::get)
                .put(customers::update)
                .delete(customers::delete),
        )
        .route("/v1/customers/{id}/referrals", get(customers::referrals))
        .route(
            "/v1/customers/{id}/transactions",
            get(customers::transactions),
        )
        .route("/v1/customers/{id}/stats", get(customers::stats))
        .route("/v1/customers/{id}/balance", get(customers::balance))
        .route("/v1/customers/{id}/balance/credit", post(customers::credit))
        .route("/v1/customers/{id}/archive", post(customers::archive))
        .route(
            "/v1/customers/{id}/revoke-archive",
            post(customers::revoke_archive),
        )
        // Transactions (both program types)
        .route(
            "/v1/transactions",
            get(transactions::list)
                .post(transactions::create)
                .delete(transactions::delete_by_body),
        )
        .route(
            "/v1/transactions/{id}",
            get(transactions::get).delete(transactions::delete),
        )
        .route("/v1/transactions/{id}/archive", post(transactions::archive))
        .route(
            "/v1/transactions/{id}/revoke-archive",
            post(transactions::revoke_archive),
        )
        // Webhooks (spec §9; rotate-secret is referd's)
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        // Deprecated singular customer (PHP SDK `customer()`, affiliate programs)
        .route(
            "/v1/customer",
            get(customers::get_singular)
                .post(customers::create_singular)
                .put(customers::update_singular)
                .delete(customers::delete_singular),
        )
        // The admin API (admin tokens, not program keys)
        .route("/admin/v1/programs", get(admin::list_programs))
        .route(
            "/admin/v1/programs/{id}/rules",
            get(admin::get_rules).put(admin::put_rules),
        )
        .route(
            "/admin/v1/programs/{id}/rules/versions",
            get(admin::rule_versions),
        )
        .route("/admin/v1/programs/{id}/ledger.csv", get(admin::ledger_csv))
        .route("/admin/v1/programs/{id}/payouts", post(admin::payout))
        .route(
            "/admin/v1/programs/{id}/webhook-deliveries",
            get(admin_webhooks::list),
        )
        .route(
            "/admin/v1/programs/{id}/webhook-deliveries:redeliver-failed",
            post(admin_webhooks::redeliver_failed),
        )
        .route(
            "/admin/v1/programs/{id}/webhook-deliveries/{delivery}",
            get(admin_webhooks::get),
        )
        .route(
            "/admin/v1/programs/{id}/webhook-deliveries/{delivery}/redeliver",
            post(admin_webhooks::redeliver),
        )
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        // `Idempotency-Key` on every POST /v1/… (idempotency.rs).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::idempotency::layer,
        ))
        .with_state(state.clone())
        // Public tracking routes (docs/tracking.md): no API key, and added after the layers
        // above so that no middleware runs on the click hot path.
        .merge(
            Router::new()
                .route("/js/universal.js", get(tracking::snippet))
                .route("/r/{program}/{key}", get(tracking::redirect))
                .route(
                    "/t/{program}/config",
                    get(tracking::config).options(tracking::preflight),
                )
                .route(
                    "/t/{program}/click",
                    post(tracking::click)
                        .get(tracking::click)
                        .options(tracking::preflight),
                )
                .route(
                    "/t/{program}/signup",
                    post(tracking::signup).options(tracking::preflight),
                )
                .with_state(state),
        )
}
