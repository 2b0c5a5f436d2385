//! `GET /v1/test`, `GET /v1/program` (and its deprecated alias `GET /v1/program/overview`),
//! `PUT /v1/program`, the two-step `DELETE /v1/program`, and the PHP SDK's `PUT /v1/settings`.

use axum::extract::State;
use axum::response::Response;
use referd_core::ids::ProgramType;
use referd_core::service::programs::{self, ProgramUpdate};
use referd_core::validate::FieldErrors;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{Auth, Params};
use crate::state::AppState;
use crate::wire::{self, program::program_block};

type ApiResult = Result<Response, ApiError>;

/// The credential check every official client calls: 200 with the key's program.
pub async fn test(Auth(program): Auth) -> Response {
    wire::data(json!({ "program": program_block(&program) }))
}

pub async fn get_program(State(state): State<AppState>, Auth(program): Auth) -> ApiResult {
    let now = state.clock.now();
    Ok(wire::data(match program.program_type {
        ProgramType::Referral => {
            let overview = programs::referral_overview(&*state.store, &program, now).await?;
            wire::program::referral_overview(&program, &overview)
        }
        ProgramType::Affiliate => {
            let overview = programs::affiliate_overview(&*state.store, &program, now).await?;
            wire::program::affiliate_overview(&program, &overview)
        }
        ProgramType::Newsletter => wire::program::newsletter_overview(&program),
    }))
}

/// A settings object as sent (`program_settings`, `portal_settings`, `settings`); a scalar
/// where an object belongs is a 422.
fn settings_object(
    p: &Params,
    key: &str,
    e: &mut FieldErrors,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    if !p.expect_object(key, e) {
        return None;
    }
    p.raw_object(key).cloned()
}

fn updated() -> Response {
    wire::json_response(
        axum::http::StatusCode::OK,
        &json!({ "status": 1, "message": "Program updated successfully" }),
    )
}

/// `PUT /v1/program`: name, website, `program_settings{…}`, `portal_settings{…}`.
pub async fn update_program(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let update = ProgramUpdate {
        name: p.string(&["name"], &mut e),
        website: p.string(&["website"], &mut e),
        program_settings: settings_object(&p, "program_settings", &mut e),
        portal_settings: settings_object(&p, "portal_settings", &mut e),
    };
    e.into_result()?;
    programs::update(
        &*state.store,
        &program,
        &update,
        "program_settings.",
        state.clock.now(),
    )
    .await?;
    Ok(updated())
}

/// `PUT /v1/settings` as the PHP SDK sends it: `{"settings":{…}}`, the program settings of
/// `PUT /v1/program`.
pub async fn update_settings(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let settings = settings_object(&p, "settings", &mut e);
    e.into_result()?;
    let update = ProgramUpdate {
        program_settings: settings,
        ..ProgramUpdate::default()
    };
    programs::update(
        &*state.store,
        &program,
        &update,
        "settings.",
        state.clock.now(),
    )
    .await?;
    Ok(wire::json_response(
        axum::http::StatusCode::OK,
        &json!({ "status": 1, "message": "Settings updated successfully" }),
    ))
}

/// `DELETE /v1/program`: without `confirmation_code`, answers a code valid for 20 seconds;
/// with it, deletes the program and everything in it.
pub async fn delete_program(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let code = p.string(&["confirmation_code"], &mut e);
    e.into_result()?;
    let now = state.clock.now();
    match code {
        None => {
            let code = programs::request_delete(&*state.store, &program, now).await?;
            Ok(wire::data(json!({ "confirmation_code": code })))
        }
        Some(code) => {
            programs::confirm_delete(&*state.store, &program, &code, now).await?;
            Ok(wire::json_response(
                axum::http::StatusCode::OK,
                &json!({ "status": 1, "message": "Program deleted successfully" }),
            ))
        }
    }
}
