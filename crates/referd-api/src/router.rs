//! THE route table: every path referd answers, in one place, to diff against the Partnero
//! endpoint list (spec §3). Colon actions such as `/v1/customers:search` are literal path
//! segments (axum only treats a segment *starting* with `:` specially).

use axum::Router;
use axum::routing::{get, post};

use crate::handlers::{customers, fallback, program};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        // Utility and program
        .route("/v1/test", get(program::test))
        .route("/v1/program", get(program::get_program))
        .route("/v1/program/overview", get(program::get_program))
        // Customers (refer-a-friend)
        .route(
            "/v1/customers",
            get(customers::list)
                .post(customers::create)
                .put(customers::update_by_body)
                .delete(customers::delete_by_body),
        )
        .route("/v1/customers:search", get(customers::search))
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
        .route("/v1/customers/{id}/archive", post(customers::archive))
        .route(
            "/v1/customers/{id}/revoke-archive",
            post(customers::revoke_archive),
        )
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state)
}
