//! `Idempotency-Key` on every `POST /v1/…`: a client that retries a POST (a timeout, a lost
//! answer) with the same key gets the first answer again, and nothing happens twice.
//!
//! - The key is claimed per program before the request runs; the answer is kept for 24 hours.
//! - The same key with another request (path, query or body) is a 422, never a replay of
//!   something the client did not ask.
//! - A retry that arrives while the first request still runs is a 409: the client retries
//!   later and then gets the kept answer.
//! - A 5xx answer is not kept (the claim is released), so a retry after a server failure runs
//!   again. A claim whose process died before answering (a crash, a kill) is abandoned after
//!   five minutes (`IDEMPOTENCY_ABANDONED_AFTER_MICROS`): retries get 409 until then, and run
//!   again after.
//! - Requests without the header, or whose key does not authenticate, pass through untouched
//!   (the handler then answers 401 as usual).
//!
//! Transactions also have their own idempotency on `key` (service `transactions`), which
//! holds without the header.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use referd_core::ids::{hash_api_key, is_well_formed_api_key};
use referd_core::program::ProgramRowId;
use referd_core::store::IdempotencyClaim;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::state::AppState;
use crate::wire::json_response;

pub const HEADER: &str = "idempotency-key";
/// How long a kept answer is replayed.
const KEEP_MICROS: i64 = 24 * 3_600 * 1_000_000;
/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// The program behind an `Authorization` header's API key, if it is a valid one.
async fn program_of(state: &AppState, header: Option<String>) -> Option<ProgramRowId> {
    let header = header?;
    let (scheme, key) = header.trim().split_once(' ')?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || !is_well_formed_api_key(key) {
        return None;
    }
    let program = state
        .store
        .program_for_key(&hash_api_key(key))
        .await
        .ok()??;
    Some(program.id)
}

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match raw_key.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= MAX_KEY_LEN
                && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            k.to_string()
        }
        _ => {
            return ApiError::BadRequest(format!(
                "The Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters."
            ))
            .into_response();
        }
    };
    // Read before awaiting: a request body is not `Sync`, so no reference to the request may
    // live across an await.
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(program) = program_of(&state, authorization).await else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::PayloadTooLarge.into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.uri.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());
    let now = state.clock.now();
    let expire_before = referd_core::time::Timestamp::from_micros(now.as_micros() - KEEP_MICROS);
    let claim = state
        .store
        .claim_idempotency_key(program, &key, &fingerprint, now, expire_before)
        .await;
    match claim {
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
        Ok(IdempotencyClaim::Mismatch) => ApiError::field(
            "Idempotency-Key",
            "This Idempotency-Key was used with a different request.",
        )
        .into_response(),
        Ok(IdempotencyClaim::InProgress) => json_response(
            StatusCode::CONFLICT,
            &json!({
                "status": 0,
                "message": "A request with this Idempotency-Key is still running; retry it shortly."
            }),
        ),
        Ok(IdempotencyClaim::Replay { status, body }) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let headers = response.headers_mut();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        Ok(IdempotencyClaim::New) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (parts, body) = response.into_parts();
            // Answers are small JSON; the limit only guards against a surprise.
            let Ok(body) = axum::body::to_bytes(body, 8 * MAX_BODY_BYTES).await else {
                let _ = state.store.release_idempotency_key(program, &key).await;
                return ApiError::Internal("answer too large to keep".into()).into_response();
            };
            let kept = if parts.status.is_server_error() {
                state.store.release_idempotency_key(program, &key).await
            } else {
                state
                    .store
                    .complete_idempotency_key(program, &key, parts.status.as_u16(), body.to_vec())
                    .await
            };
            if let Err(e) = kept {
                tracing::warn!(error = %e, "could not keep the answer of an Idempotency-Key");
            }
            Response::from_parts(parts, Body::from(body))
        }
    }
}
