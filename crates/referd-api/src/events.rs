//! The `data` of webhook events: the changed resource exactly as its GET endpoint answers it,
//! produced by the same wire functions. The delivery worker (`referd-webhooks`) calls this
//! when it first sends an event; the body is then frozen, so every retry is byte-identical.
//!
//! A resource that no longer answers a GET (deleted, or a ledger entry, which has no GET) is
//! rendered from the snapshot the outbox trigger took of its row in the same transaction.

use referd_core::customer::{CustomerLookup, CustomerRowId};
use referd_core::ids::ProgramType;
use referd_core::ledger::SalesScope;
use referd_core::partner::{PartnerLookup, PartnerRowId};
use referd_core::service::balances;
use serde_json::Value;

use crate::error::ApiError;
use crate::handlers::transactions::transaction_json;
use crate::state::AppState;
use crate::wire;

/// What the worker knows of an outbox row.
pub struct EventSource<'a> {
    pub program_public_id: &'a str,
    pub event: &'a str,
    pub resource_kind: &'a str,
    pub resource_row_id: i64,
    pub snapshot: &'a str,
}

fn internal(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn api(e: ApiError) -> String {
    format!("{e:?}")
}

/// The event's `data`.
pub async fn render(state: &AppState, src: &EventSource<'_>) -> Result<Value, String> {
    let snapshot: Value = serde_json::from_str(src.snapshot).map_err(internal)?;
    let live = if src.event.ends_with(".deleted") || src.resource_kind == "entry" {
        None
    } else {
        render_live(state, src, &snapshot).await?
    };
    Ok(live.unwrap_or(snapshot))
}

async fn render_live(
    state: &AppState,
    src: &EventSource<'_>,
    snapshot: &Value,
) -> Result<Option<Value>, String> {
    let store = &*state.store;
    let Some(program) = store
        .find_program(src.program_public_id)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let row = src.resource_row_id;
    match src.resource_kind {
        "customer" if program.program_type == ProgramType::Affiliate => {
            let found = store
                .find_affiliate_customer(program.id, &CustomerLookup::Row(CustomerRowId(row)))
                .await
                .map_err(internal)?;
            Ok(found.map(|c| to_value(&wire::affiliate::full(&c))))
        }
        "customer" => {
            let found = store
                .find_customer(program.id, &CustomerLookup::Row(CustomerRowId(row)))
                .await
                .map_err(internal)?;
            Ok(found.map(|v| to_value(&wire::customer::full(&program, &v))))
        }
        "partner" => {
            let Some(view) = store
                .find_partner(program.id, &PartnerLookup::Row(PartnerRowId(row)))
                .await
                .map_err(internal)?
            else {
                return Ok(None);
            };
            let now = state.clock.now();
            let earned = balances::partner_commissions(store, &program, view.partner.row_id, now)
                .await
                .map_err(internal)?;
            let sales = balances::sales(store, &program, SalesScope::Partner(view.partner.row_id))
                .await
                .map_err(internal)?;
            Ok(Some(to_value(&wire::partner::full(
                &program, &view, &earned, &sales,
            ))))
        }
        "transaction" => {
            let Some(key) = snapshot.get("key").and_then(Value::as_str) else {
                return Ok(None);
            };
            match store
                .find_transaction(program.id, key)
                .await
                .map_err(internal)?
            {
                // A refunded transaction frees its key; another one may hold it now.
                Some((tx, entries)) if tx.row_id.0 == row => {
                    transaction_json(state, &program, tx, entries)
                        .await
                        .map(Some)
                        .map_err(api)
                }
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// A wire object as a `Value` (they are plain `Serialize` structs).
fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
