//! `POST /v1/customers:invite` (spec §6.14, seed 002): `email` (required), `name`,
//! `personalization` (an object of values for the template). Answers `{"status":1}` once the
//! invitation is queued; the mailer sends it. Without SMTP configured: 503 saying how.

use axum::extract::State;
use axum::response::Response;
use referd_core::service::invitations::{self as service, InviteInput};
use referd_core::validate::FieldErrors;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Auth, Params};
use crate::state::AppState;
use crate::wire;

pub const NOT_CONFIGURED: &str = "Email is not configured on this referd server: set \
    REFERD_SMTP_URL (smtp://host:port, or smtps://user:password@host for TLS) and \
    REFERD_SMTP_FROM (the sender address), then restart it.";

pub async fn invite(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> Result<Response, ApiError> {
    referd_core::service::customers::require_referral(&program)?;
    let Some(template) = state.invite_template.clone() else {
        return Err(ApiError::Unavailable(NOT_CONFIGURED.into()));
    };
    let mut e = FieldErrors::new();
    p.expect_object("personalization", &mut e);
    let mut input = InviteInput {
        email: p.string(&["email"], &mut e),
        name: p.string(&["name"], &mut e),
        ..InviteInput::default()
    };
    if let Some(map) = p.raw_object("personalization") {
        for (k, v) in map {
            let text = match v {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                _ => {
                    e.add(
                        format!("personalization.{k}"),
                        "Personalization values must be text, numbers or booleans.",
                    );
                    continue;
                }
            };
            input.personalization.insert(k.clone(), text);
        }
    }
    e.into_result()?;
    service::invite(&*state.store, &program, input, &template, state.clock.now()).await?;
    Ok(wire::done())
}
