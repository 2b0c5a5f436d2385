//! The delivery log and redelivery in the admin API:
//! `GET /admin/v1/programs/{id}/webhook-deliveries` (`status=pending|delivered|failed`,
//! `limit`, `page`; newest first), `GET …/webhook-deliveries/{delivery}` (the body as sent
//! and every attempt: status code, latency, the first KiB of the answer),
//! `POST …/webhook-deliveries/{delivery}/redeliver` and
//! `POST …/webhook-deliveries:redeliver-failed`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use referd_core::page::Page;
use referd_core::validate::FieldErrors;
use referd_core::webhook::{DeliveryRowId, DeliveryState};
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{AdminAuth, Params, PathIdent};
use crate::handlers::admin::program;
use crate::handlers::listing::{STANDARD_LIMIT, location, page_request};
use crate::state::AppState;
use crate::wire::{self, webhook};

type ApiResult = Result<Response, ApiError>;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `{program}/…/{delivery}` from the path, with a JSON error instead of axum's text one.
fn two_params(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::BadRequest(format!("Invalid path parameter: {e}")))
}

fn delivery_id(raw: &str) -> Result<DeliveryRowId, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(DeliveryRowId)
        .ok_or_else(|| ApiError::NotFound("Delivery not found".into()))
}

pub async fn list(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    let page = page_request(&p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let status = p.string(&["status"], &mut e);
    let filter = match status.as_deref() {
        None => None,
        Some(s) => match DeliveryState::parse(s) {
            Some(st) => Some(st),
            None => {
                e.add("status", "The status must be pending, delivered or failed.");
                None
            }
        },
    };
    e.into_result()?;
    let rows = state
        .store
        .list_deliveries(program.id, filter, page)
        .await
        .map_err(internal)?;
    let loc = location(&state, &uri, &p, &[("status", status)]);
    Ok(wire::page::page(
        &Page::from_rows(rows, page),
        webhook::delivery,
        loc,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _: AdminAuth,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (public_id, raw) = two_params(path)?;
    let program = program(&state, &public_id).await?;
    let id = delivery_id(&raw)?;
    let (d, attempts) = state
        .store
        .find_delivery(program.id, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound("Delivery not found".into()))?;
    Ok(wire::data(webhook::delivery_detail(&d, &attempts)))
}

pub async fn redeliver(
    State(state): State<AppState>,
    _: AdminAuth,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (public_id, raw) = two_params(path)?;
    let program = program(&state, &public_id).await?;
    let id = delivery_id(&raw)?;
    let n = state
        .store
        .redeliver(program.id, Some(id), state.clock.now())
        .await
        .map_err(internal)?;
    if n == 0 {
        return Err(ApiError::NotFound("Delivery not found".into()));
    }
    Ok(wire::data(json!({ "redelivered": n })))
}

pub async fn redeliver_failed(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    let n = state
        .store
        .redeliver(program.id, None, state.clock.now())
        .await
        .map_err(internal)?;
    Ok(wire::data(json!({ "redelivered": n })))
}
