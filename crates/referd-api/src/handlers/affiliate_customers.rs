//! `/v1/customers` for affiliate programs (spec §6.1–6.10, seed 001), reached through the
//! handlers in `customers.rs`, which branch on the program type, and the deprecated singular
//! `/v1/customer` forms of the PHP SDK.
//!
//! Identifiers: a path `{key}` is the customer's key, else its email (the n8n node sends
//! either). Body-addressed forms take `key`, else `id` (the same thing here), else `email`.
//!
//! The legacy fetch of seed 001 (`GET /v1/customers` with a body `key` or `email`) shares its
//! path with the list. It is told apart by its parameters: `key` or `email` given and none of
//! the list's own (`limit`, `page`, `sort`, `partner…`) means "fetch this customer"; every
//! real client's list request sends `limit` or `page` (docs/affiliate.md).

use axum::http::Uri;
use axum::response::Response;
use referd_core::affiliate::AffiliateCustomerPatch;
use referd_core::customer::{CustomerLookup, CustomerSearch};
use referd_core::program::Program;
use referd_core::service::affiliate_customers::{self as service, AffiliateCustomerInput};
use referd_core::service::customers::Transition;
use referd_core::validate::FieldErrors;

use crate::error::ApiError;
use crate::extract::{Params, UpdateFields};
use crate::handlers::listing::{STANDARD_LIMIT, location, page_request};
use crate::handlers::partners::partner_ref;
use crate::state::AppState;
use crate::wire::{self, affiliate};

type ApiResult = Result<Response, ApiError>;

/// Reads a create from `source` (the body, or its `customer{…}` in the singular form); the
/// partner and options are always top-level.
fn input(p: &Params, source: &Params) -> Result<AffiliateCustomerInput, ApiError> {
    let mut e = FieldErrors::new();
    p.expect_object("options", &mut e);
    // The PHP SDK's inline first `transaction{…}` is accepted and not recorded yet
    // (transactions are a later part of referd; docs/affiliate.md).
    p.expect_object("transaction", &mut e);
    let input = AffiliateCustomerInput {
        key: source.string(&["key"], &mut e),
        email: source.string(&["email"], &mut e),
        name: source.string(&["name"], &mut e),
        surname: source.string(&["surname"], &mut e),
        tags: source.string_list(&["tags"], &mut e),
        partner: partner_ref(p, "partner", &mut e),
        referral_url: p.string(&["options", "referral_url"], &mut e),
    };
    e.into_result()?;
    Ok(input)
}

pub async fn create(state: &AppState, program: &Program, p: &Params) -> ApiResult {
    let input = input(p, p)?;
    let created = service::create(&*state.store, program, input, state.clock.now()).await?;
    Ok(wire::data(affiliate::full(&created)))
}

/// `POST /v1/customer`: `{"customer":{…},"partner":{…},"transaction":{…}?}`.
pub async fn create_legacy(state: &AppState, program: &Program, p: &Params) -> ApiResult {
    let mut e = FieldErrors::new();
    if !p.expect_object("customer", &mut e) {
        return Err(e.into());
    }
    let source = p.object("customer").unwrap_or_else(|| p.clone());
    let input = input(p, &source)?;
    let created = service::create(&*state.store, program, input, state.clock.now()).await?;
    Ok(wire::data(affiliate::full(&created)))
}

pub async fn get(state: &AppState, program: &Program, ident: &str) -> ApiResult {
    let found = service::get(&*state.store, program, ident).await?;
    Ok(wire::data(affiliate::full(&found)))
}

/// The customer a body-addressed request names: `key` (or `id`), else `email`.
fn addressed(p: &Params) -> Result<(CustomerLookup, &'static str), ApiError> {
    let mut e = FieldErrors::new();
    let found = if let Some(key) = p.string(&["key"], &mut e) {
        Some((CustomerLookup::Key(key), "key"))
    } else if let Some(id) = p.string(&["id"], &mut e) {
        Some((CustomerLookup::Key(id), "id"))
    } else {
        p.string(&["email"], &mut e)
            .map(|m| (CustomerLookup::Email(m.trim().to_lowercase()), "email"))
    };
    e.into_result()?;
    found.ok_or_else(|| {
        ApiError::field(
            "key",
            "The key field is required when the customer is not given in the URL (or give email).",
        )
    })
}

/// `GET /v1/customer` (PHP, deprecated) with a body `key`.
pub async fn get_legacy(state: &AppState, program: &Program, p: &Params) -> ApiResult {
    let (lookup, _) = addressed(p)?;
    let found = service::find(&*state.store, program, &lookup).await?;
    Ok(wire::data(affiliate::full(&found)))
}

/// Whether a `GET /v1/customers` is seed 001's single fetch rather than a list.
fn is_legacy_fetch(p: &Params) -> bool {
    p.has_any(&["key", "email"])
        && !p.has_any(&[
            "limit",
            "page",
            "sort",
            "partner",
            "partner_key",
            "partner_email",
            "partner_id",
            "partner.key",
            "partner.email",
            "partner.id",
        ])
}

pub async fn list(state: &AppState, program: &Program, uri: &Uri, p: &Params) -> ApiResult {
    service_program_check(program)?;
    if is_legacy_fetch(p) {
        return get_legacy(state, program, p).await;
    }
    let page = page_request(p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let partner = partner_ref(p, "partner", &mut e);
    e.into_result()?;
    let rows = service::list(&*state.store, program, &partner, page).await?;
    let filters = [
        ("partner[key]", partner.key.clone()),
        ("partner[email]", partner.email.clone()),
        ("partner[id]", partner.id.clone()),
    ];
    let loc = location(state, uri, p, &filters);
    Ok(wire::page::page(&rows, affiliate::summary, loc))
}

fn service_program_check(program: &Program) -> Result<(), ApiError> {
    referd_core::service::partners::require_affiliate(program).map_err(Into::into)
}

pub async fn search(state: &AppState, program: &Program, uri: &Uri, p: &Params) -> ApiResult {
    let page = page_request(p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let criteria = CustomerSearch {
        id: p.string(&["id"], &mut e),
        key: p.string(&["key"], &mut e),
        email: p.string(&["email"], &mut e),
    };
    e.into_result()?;
    let filters = [
        ("id", criteria.id.clone()),
        ("key", criteria.key.clone()),
        ("email", criteria.email.clone()),
    ];
    let rows = service::search(&*state.store, program, criteria, page).await?;
    let loc = location(state, uri, p, &filters);
    Ok(wire::page::page(&rows, affiliate::summary, loc))
}

/// Reads a patch from `update{…}` when present, else from the flat parameters.
fn patch_from(
    p: &Params,
    skip: &[&str],
) -> Result<(AffiliateCustomerPatch, &'static str), ApiError> {
    let mut f = UpdateFields::of(p, skip)?;
    let patch = AffiliateCustomerPatch {
        key: f.string("key"),
        email: f.string("email"),
        name: f.string("name"),
        surname: f.string("surname"),
        tags: f.string_list("tags"),
    };
    Ok((patch, f.finish()?))
}

async fn update_with(
    state: &AppState,
    program: &Program,
    lookup: CustomerLookup,
    patch: AffiliateCustomerPatch,
    prefix: &str,
) -> ApiResult {
    let updated = service::update(
        &*state.store,
        program,
        &lookup,
        patch,
        prefix,
        state.clock.now(),
    )
    .await?;
    Ok(wire::data(affiliate::full(&updated)))
}

pub async fn update(state: &AppState, program: &Program, ident: String, p: &Params) -> ApiResult {
    let (patch, prefix) = patch_from(p, &[])?;
    update_with(
        state,
        program,
        CustomerLookup::AnyIdentifier(ident),
        patch,
        prefix,
    )
    .await
}

/// `PUT /v1/customers` and `PUT /v1/customer` with the customer named in the body.
pub async fn update_by_body(state: &AppState, program: &Program, p: &Params) -> ApiResult {
    service_program_check(program)?;
    let (lookup, used) = addressed(p)?;
    // Flat form: found by `key`/`id`, those are not changes; found by email, neither is it.
    let skip: &[&str] = match used {
        "email" => &["id", "key", "email"],
        _ => &["id", "key"],
    };
    let (patch, prefix) = patch_from(p, skip)?;
    update_with(state, program, lookup, patch, prefix).await
}

pub async fn transition(
    state: &AppState,
    program: &Program,
    lookup: CustomerLookup,
    transition: Transition,
) -> ApiResult {
    service::transition(
        &*state.store,
        program,
        &lookup,
        transition,
        state.clock.now(),
    )
    .await?;
    Ok(wire::done())
}

/// `DELETE /v1/customers` and `DELETE /v1/customer` with `key` or `email` in the body.
pub async fn delete_by_body(state: &AppState, program: &Program, p: &Params) -> ApiResult {
    service_program_check(program)?;
    let (lookup, _) = addressed(p)?;
    transition(state, program, lookup, Transition::Delete).await
}

/// The customer's transactions, newest first (`limit` 1–250).
pub async fn transactions(
    state: &AppState,
    program: &Program,
    ident: &str,
    p: &Params,
) -> ApiResult {
    let page = page_request(p, STANDARD_LIMIT)?;
    let customer = service::get(&*state.store, program, ident).await?;
    crate::handlers::transactions::of_customer(state, program, customer.row_id, page).await
}
