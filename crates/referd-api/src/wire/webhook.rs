//! The webhook object (spec §9.1) and, for the admin API, deliveries and their attempts.

use referd_core::webhook::{Attempt, Delivery, Webhook};
use serde_json::{Value, json};

use crate::wire::timestamp;

/// `{"key","name","url","is_active","signature","events"}` as Partnero answers it, plus
/// `created_at`/`updated_at`.
pub fn webhook(w: &Webhook) -> Value {
    json!({
        "key": w.key,
        "name": w.name,
        "url": w.url,
        "is_active": w.is_active,
        "signature": w.secret,
        "events": w.events,
        "created_at": timestamp(w.created_at),
        "updated_at": timestamp(w.updated_at),
    })
}

pub fn delivery(d: &Delivery) -> Value {
    json!({
        "id": d.row_id.0,
        "webhook_key": d.webhook_key,
        "event": d.event,
        "status": d.state.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": (d.state == referd_core::webhook::DeliveryState::Pending)
            .then(|| timestamp(d.next_attempt_at)),
        "created_at": timestamp(d.created_at),
        "delivered_at": d.delivered_at.map(timestamp),
    })
}

pub fn attempt(a: &Attempt) -> Value {
    json!({
        "attempted_at": a.attempted_at.to_rfc3339_micros(),
        "status_code": a.status_code,
        "latency_ms": a.latency_ms,
        "response": a.response_excerpt,
        "error": a.error,
    })
}

/// A delivery with its body as sent and every attempt.
pub fn delivery_detail(d: &Delivery, attempts: &[Attempt]) -> Value {
    let mut v = delivery(d);
    v["payload"] = d
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    v["attempt_log"] = attempts.iter().map(attempt).collect();
    v
}
