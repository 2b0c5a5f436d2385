//! `/v1/customer_referral_links` and `GET /v1/customers/{id}/referral_links` (refer-a-friend,
//! spec §8.3). The customer is `customer{id|key|email}`, or `customer_key` as the seed 003
//! guide writes it; the guide's `destination_url` is accepted and ignored (links go to the
//! program's website). The PHP SDK's `domain_id`/`is_additional` and camelCase extras are
//! ignored, as for partner links.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use referd_core::customer_link::AnyCustomerLink;
use referd_core::program::Program;
use referd_core::service::customer_links::{self as service, LinkInput};
use referd_core::service::customers::ReferrerRef;
use referd_core::validate::FieldErrors;

use crate::error::ApiError;
use crate::extract::{Auth, Params, PathIdent};
use crate::handlers::listing::{STANDARD_LIMIT, location, page_request};
use crate::state::AppState;
use crate::wire::{self, link};

type ApiResult = Result<Response, ApiError>;

fn customer_ref(p: &Params, e: &mut FieldErrors) -> ReferrerRef {
    p.expect_object("customer", e);
    ReferrerRef {
        id: p.string(&["customer", "id"], e),
        // `customer_key` is the same name as `customer.key` (flat underscored form).
        key: p.string(&["customer", "key"], e),
        email: p.string(&["customer", "email"], e),
    }
}

fn object<'a>(program: &Program, l: &'a AnyCustomerLink) -> link::LinkObject<'a> {
    link::of_key(program, &l.key, l.is_default())
}

pub async fn create(State(state): State<AppState>, Auth(program): Auth, p: Params) -> ApiResult {
    let mut e = FieldErrors::new();
    let input = LinkInput {
        key: p.string(&["key"], &mut e),
        customer: customer_ref(&p, &mut e),
    };
    e.into_result()?;
    let created = service::create(&*state.store, &program, input, state.clock.now()).await?;
    Ok(wire::data(object(&program, &created)))
}

pub async fn get(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(id): PathIdent,
) -> ApiResult {
    let found = service::get(&*state.store, &program, &id).await?;
    Ok(wire::data(object(&program, &found)))
}

pub async fn update(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(id): PathIdent,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let key = match p.object("update") {
        Some(u) => u.string(&["key"], &mut e),
        None => p.string(&["key"], &mut e),
    };
    e.into_result()?;
    let renamed = service::rename(&*state.store, &program, &id, key, state.clock.now()).await?;
    Ok(wire::data(object(&program, &renamed)))
}

pub async fn search(
    State(state): State<AppState>,
    Auth(program): Auth,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let page = page_request(&p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let key = p.string(&["key"], &mut e).or(p.string(&["id"], &mut e));
    let customer = customer_ref(&p, &mut e);
    e.into_result()?;
    let customer = (customer != ReferrerRef::default()).then_some(customer);
    let rows = service::search(&*state.store, &program, key.clone(), customer, page).await?;
    let loc = location(&state, &uri, &p, &[("key", key)]);
    Ok(wire::page::page(&rows, |l| object(&program, l), loc))
}

pub async fn delete(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(id): PathIdent,
) -> ApiResult {
    service::delete(&*state.store, &program, &id, state.clock.now()).await?;
    Ok(wire::done())
}

/// `GET /v1/customers/{id}/referral_links`: the default link first, then the extra ones.
pub async fn of_customer(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let page = page_request(&p, STANDARD_LIMIT)?;
    let rows = service::of_customer(&*state.store, &program, &ident, page).await?;
    let loc = location(&state, &uri, &p, &[]);
    Ok(wire::page::page(&rows, |l| object(&program, l), loc))
}
