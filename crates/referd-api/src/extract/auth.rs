//! `Authorization: Bearer <key>` → the key's program. A handler that takes [`Auth`] cannot
//! forget to authenticate, and everything it does is scoped to that program.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use referd_core::ids::{hash_api_key, is_well_formed_api_key};
use referd_core::program::Program;

use crate::error::ApiError;
use crate::state::AppState;

pub struct Auth(pub Program);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthenticated)?;
        let (scheme, key) = header
            .trim()
            .split_once(' ')
            .ok_or(ApiError::Unauthenticated)?;
        let key = key.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || !is_well_formed_api_key(key) {
            return Err(ApiError::Unauthenticated);
        }
        let program = state
            .store
            .program_for_key(&hash_api_key(key))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Self(program))
    }
}
