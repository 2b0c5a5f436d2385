//! The admin API (`/admin/v1/…`), for operators rather than integrations: programs and their
//! reward rules. Authenticated by admin tokens (`referd admin-tokens create`); answers in the
//! same envelope and error shapes as `/v1`.

use axum::extract::Request;
use axum::extract::State;
use axum::response::Response;
use referd_core::program::Program;
use referd_core::rules::RuleVersion;
use referd_core::service::rules;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{AdminAuth, MAX_BODY_BYTES, PathIdent};
use crate::state::AppState;
use crate::wire::{self, program::program_block};

type ApiResult = Result<Response, ApiError>;

async fn program(state: &AppState, public_id: &str) -> Result<Program, ApiError> {
    state
        .store
        .find_program(public_id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound("Program not found".into()))
}

fn version_json(v: &RuleVersion) -> Result<Value, ApiError> {
    let rules: Value =
        serde_json::from_str(&v.body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json!({
        "version": v.version,
        "created_at": wire::timestamp(v.created_at),
        "rules": rules,
    }))
}

/// `GET /admin/v1/programs`: every program with its public id and type.
pub async fn list_programs(State(state): State<AppState>, _: AdminAuth) -> ApiResult {
    let programs = state
        .store
        .list_programs()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let items: Vec<Value> = programs.iter().map(program_block).collect();
    Ok(wire::data(items))
}

/// `GET /admin/v1/programs/{public_id}/rules`: the version in force (`version: null` and
/// `rules: null` when none was ever set).
pub async fn get_rules(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    match rules::current(&*state.store, &program).await? {
        Some((version, _)) => Ok(wire::data(version_json(&version)?)),
        None => Ok(wire::data(
            json!({ "version": null, "created_at": null, "rules": null }),
        )),
    }
}

/// `PUT /admin/v1/programs/{public_id}/rules` with the rule set as the body: validated and
/// stored as the next version. Invalid rules are a 422 naming every field, and change nothing.
pub async fn put_rules(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
    request: Request,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    // Read here rather than with axum's `Bytes`, whose over-limit rejection is plain text.
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("The request body is not valid JSON: {e}")))?;
    let (version, _) = rules::set(&*state.store, &program, &value, state.clock.now()).await?;
    Ok(wire::data(version_json(&version)?))
}

/// `GET /admin/v1/programs/{public_id}/rules/versions`: every version, newest first.
pub async fn rule_versions(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    let versions = state
        .store
        .list_rule_versions(program.id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let items = versions
        .iter()
        .map(version_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(wire::data(items))
}
