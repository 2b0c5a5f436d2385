//! Wire shapes: the `{"data":…,"status":1}` envelope, simple pagination, and the JSON
//! objects of each resource. Key order follows Partnero's documented examples.

pub mod affiliate;
pub mod customer;
pub mod link;
pub mod money;
pub mod page;
pub mod partner;
pub mod program;
pub mod transaction;
pub mod webhook;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

/// A JSON response with `Content-Type: application/json` exactly (the PHP SDK decodes only
/// that literal value).
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = Response::new(bytes.into());
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            let mut response = Response::new(r#"{"status":0,"message":"Server Error"}"#.into());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    }
}

#[derive(Serialize)]
struct Envelope<T> {
    data: T,
    status: u8,
}

/// `{"data": data, "status": 1}` with 200 (Partnero answers 200 for creates too).
pub fn data<T: Serialize>(data: T) -> Response {
    json_response(StatusCode::OK, &Envelope { data, status: 1 })
}

/// `{"status": 1}`: an action without a payload.
pub fn done() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "status": 1 }))
}

/// Laravel's timestamp format: `2025-05-09T17:42:13.000000Z` (whole seconds, as Partnero).
pub fn timestamp(t: referd_core::time::Timestamp) -> String {
    t.to_laravel()
}
