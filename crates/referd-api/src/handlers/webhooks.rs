//! `/v1/webhooks` (spec §9.1): list, create, get, update, delete, and referd's
//! `POST /v1/webhooks/{key}/rotate-secret`. Webhooks are addressed by `key`.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use referd_core::service::webhooks::{self as service, WebhookInput};
use referd_core::validate::FieldErrors;

use crate::error::ApiError;
use crate::extract::{Auth, Params, PathIdent, UpdateFields};
use crate::handlers::listing::{LimitRule, location, page_request};
use crate::state::AppState;
use crate::wire::{self, webhook::webhook};

type ApiResult = Result<Response, ApiError>;

/// Webhooks: 10–100, default 10 (spec §9.1).
const WEBHOOK_LIMIT: LimitRule = LimitRule {
    default: 10,
    min: 10,
    max: 100,
};

pub async fn list(
    State(state): State<AppState>,
    Auth(program): Auth,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let page = page_request(&p, WEBHOOK_LIMIT)?;
    let rows = service::list(&*state.store, &program, page).await?;
    let loc = location(&state, &uri, &p, &[]);
    Ok(wire::page::page(&rows, webhook, loc))
}

pub async fn create(State(state): State<AppState>, Auth(program): Auth, p: Params) -> ApiResult {
    let mut e = FieldErrors::new();
    let input = WebhookInput {
        key: p.string(&["key"], &mut e),
        name: p.string(&["name"], &mut e),
        url: p.string(&["url"], &mut e),
        events: p.string_list(&["events"], &mut e),
        is_active: p.boolean(&["is_active"], &mut e),
    };
    e.into_result()?;
    let created = service::create(&*state.store, &program, input, state.clock.now()).await?;
    Ok(wire::data(webhook(&created)))
}

pub async fn get(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
) -> ApiResult {
    let found = service::get(&*state.store, &program, &key).await?;
    Ok(wire::data(webhook(&found)))
}

pub async fn update(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
    p: Params,
) -> ApiResult {
    let mut f = UpdateFields::of(&p, &["key"])?;
    let input = WebhookInput {
        key: None,
        name: f.string("name"),
        url: f.string("url"),
        events: f.string_list("events"),
        is_active: f.boolean("is_active"),
    };
    let prefix = f.finish()?;
    let updated = service::update(
        &*state.store,
        &program,
        &key,
        input,
        prefix,
        state.clock.now(),
    )
    .await?;
    Ok(wire::data(webhook(&updated)))
}

pub async fn delete(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
) -> ApiResult {
    service::delete(&*state.store, &program, &key).await?;
    Ok(wire::done())
}

/// `POST /v1/webhooks/{key}/rotate-secret` (`overlap_hours`, default 24): a new `signature`;
/// the old secret keeps signing alongside it until the overlap ends.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let overlap = p.integer(&["overlap_hours"], &mut e).unwrap_or(24);
    e.into_result()?;
    let rotated =
        service::rotate_secret(&*state.store, &program, &key, overlap, state.clock.now()).await?;
    Ok(wire::data(webhook(&rotated)))
}
