//! `GET /v1/test`, `GET /v1/program` and its deprecated alias `GET /v1/program/overview`.

use axum::extract::State;
use axum::response::Response;
use referd_core::ids::ProgramType;
use referd_core::service::programs;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::Auth;
use crate::state::AppState;
use crate::wire::{self, program::program_block};

/// The credential check every official client calls: 200 with the key's program.
pub async fn test(Auth(program): Auth) -> Response {
    wire::data(json!({ "program": program_block(&program) }))
}

pub async fn get_program(
    State(state): State<AppState>,
    Auth(program): Auth,
) -> Result<Response, ApiError> {
    match program.program_type {
        ProgramType::Referral => {
            let overview =
                programs::referral_overview(&*state.store, &program, state.clock.now()).await?;
            Ok(wire::data(wire::program::referral_overview(
                &program, &overview,
            )))
        }
        // The affiliate and newsletter overviews come with those program types' resources.
        ProgramType::Affiliate | ProgramType::Newsletter => {
            Ok(wire::data(json!({ "program": program_block(&program) })))
        }
    }
}
