//! JSON answers for unknown routes (404) and known routes with the wrong method (405).

use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use axum::response::Response;

use crate::error::ApiError;

pub async fn not_found(uri: Uri) -> Response {
    ApiError::RouteNotFound(uri.path().to_string()).into_response()
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
    .into_response()
}
