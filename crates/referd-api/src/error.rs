//! The API's error type and the only place a status code is chosen for a failure.
//!
//! Every error body has Partnero's shape, `{"status":0,"message":…}`, plus `errors` by field
//! for 422, so every client (the PHP SDK decodes every 4xx/5xx body as JSON) can read it.
//! Internal causes are logged here, once, and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use referd_core::CoreError;
use referd_core::store::StoreError;
use referd_core::validate::FieldErrors;
use serde_json::{Map, Value, json};

use crate::wire::json_response;

#[derive(Debug)]
pub enum ApiError {
    /// 401: missing, malformed, unknown or revoked API key.
    Unauthenticated,
    /// 404 with a message such as "Customer not found".
    NotFound(String),
    /// 404 for a path no route matches.
    RouteNotFound(String),
    /// 405 for a known path with another method.
    MethodNotAllowed { method: String, path: String },
    /// 400 "Action failed": a state change that does not apply.
    ActionFailed,
    /// 400: a request referd cannot read (malformed JSON, a body that is not an object).
    BadRequest(String),
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 503: a feature this instance is not configured for (email without SMTP), with how to
    /// configure it.
    Unavailable(String),
    /// 422 by field.
    Validation(FieldErrors),
    /// 500: logged, answered without detail.
    Internal(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }

    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "Unauthenticated.".into()),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            Self::RouteNotFound(path) => (
                StatusCode::NOT_FOUND,
                format!(
                    "The route {} could not be found.",
                    path.trim_start_matches('/')
                ),
            ),
            Self::MethodNotAllowed { method, path } => (
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "The {method} method is not supported for route {}.",
                    path.trim_start_matches('/')
                ),
            ),
            Self::ActionFailed => (StatusCode::BAD_REQUEST, "Action failed".into()),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The request body must not be larger than {} bytes.",
                    crate::extract::MAX_BODY_BYTES
                ),
            ),
            Self::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "The given data was invalid.".into(),
            ),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Server Error".into()),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(errors) => Self::Validation(errors),
            CoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            CoreError::ActionFailed => Self::ActionFailed,
            CoreError::WrongProgramType(kind) => Self::NotFound(format!(
                "This endpoint is not available for {kind} programs."
            )),
            CoreError::BadRequest(message) => Self::BadRequest(message),
            CoreError::Internal(cause) => Self::Internal(cause),
            CoreError::Store(StoreError::NotFound) => Self::NotFound("Not found".into()),
            CoreError::Store(other) => Self::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        CoreError::from(e).into()
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        Self::Validation(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.status_and_message();
        let mut body = json!({ "status": 0, "message": message });
        match &self {
            Self::Validation(errors) => {
                let map: Map<String, Value> = errors
                    .iter()
                    .map(|(field, msgs)| (field.to_string(), json!(msgs)))
                    .collect();
                body["errors"] = Value::Object(map);
            }
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            _ => {}
        }
        let mut response = json_response(status, &body);
        if matches!(self, Self::Unauthenticated) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
