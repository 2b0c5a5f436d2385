//! The `{id}` path segment, percent-decoded, with a JSON rejection.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::ApiError;

pub struct PathIdent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathIdent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(ident) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("Invalid path parameter: {e}")))?;
        // PostgreSQL cannot compare text with NUL in it; no identifier can contain one anyway.
        if ident.contains('\0') {
            return Err(ApiError::BadRequest(
                "Invalid path parameter: NUL character".into(),
            ));
        }
        Ok(Self(ident))
    }
}
