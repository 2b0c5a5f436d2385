//! `/v1/partner_referral_links` (spec §8.2). The PHP SDK sends the link model in camelCase
//! (`isAdditional`, `directTracking`, …) beside `domain_id` and `is_additional`; those
//! extras are read-only properties here and are ignored.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use referd_core::service::partner_links::{self as service, LinkInput};
use referd_core::validate::FieldErrors;

use crate::error::ApiError;
use crate::extract::{Auth, Params, PathIdent};
use crate::handlers::listing::{LimitRule, STANDARD_LIMIT, location, page_request};
use crate::handlers::partners::partner_ref;
use crate::state::AppState;
use crate::wire::{self, link};

type ApiResult = Result<Response, ApiError>;

/// `:domains`: 1–250, default 10 (spec §8.2).
const DOMAINS_LIMIT: LimitRule = LimitRule {
    default: 10,
    min: 1,
    max: 250,
};

pub async fn domains(Auth(program): Auth, p: Params) -> ApiResult {
    let page = page_request(&p, DOMAINS_LIMIT)?;
    let domains = service::domains(&program)?;
    // One domain at most: it is on the first page, and later pages are empty.
    let items: Vec<_> = domains
        .iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.per_page as usize)
        .map(link::domain)
        .collect();
    Ok(wire::data(items))
}

pub async fn create(State(state): State<AppState>, Auth(program): Auth, p: Params) -> ApiResult {
    let mut e = FieldErrors::new();
    let input = LinkInput {
        key: p.string(&["key"], &mut e),
        partner: partner_ref(&p, "partner", &mut e),
        domain_id: p.string(&["domain_id"], &mut e),
    };
    e.into_result()?;
    let created = service::create(&*state.store, &program, input, state.clock.now()).await?;
    Ok(wire::data(link::link(&program, &created)))
}

pub async fn get(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(id): PathIdent,
) -> ApiResult {
    let found = service::get(&*state.store, &program, &id).await?;
    Ok(wire::data(link::link(&program, &found)))
}

pub async fn update(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(id): PathIdent,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    // `key` flat (the reference) or inside `update{…}` like every other update.
    let key = match p.object("update") {
        Some(u) => u.string(&["key"], &mut e),
        None => p.string(&["key"], &mut e),
    };
    e.into_result()?;
    let renamed = service::rename(&*state.store, &program, &id, key, state.clock.now()).await?;
    Ok(wire::data(link::link(&program, &renamed)))
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
    let partner = partner_ref(&p, "partner", &mut e);
    e.into_result()?;
    let partner = (!partner.is_empty()).then_some(partner);
    let rows = service::search(&*state.store, &program, key.clone(), partner, page).await?;
    let loc = location(&state, &uri, &p, &[("key", key)]);
    Ok(wire::page::page(&rows, |l| link::link(&program, l), loc))
}

pub async fn delete(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(id): PathIdent,
) -> ApiResult {
    service::delete(&*state.store, &program, &id, state.clock.now()).await?;
    Ok(wire::done())
}
