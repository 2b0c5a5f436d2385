//! `Authorization: Bearer rfa_…` → an operator of this referd (admin API). Admin tokens are
//! not program API keys: a program key never opens the admin API, and an admin token never
//! opens `/v1`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use referd_core::ids::{hash_api_key, is_well_formed_admin_token};

use crate::error::ApiError;
use crate::state::AppState;

pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| is_well_formed_admin_token(t))
            .ok_or(ApiError::Unauthenticated)?;
        let valid = state
            .store
            .admin_token_valid(&hash_api_key(token))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if valid {
            Ok(Self)
        } else {
            Err(ApiError::Unauthenticated)
        }
    }
}
