//! The admin API (`/admin/v1/…`), for operators rather than integrations: programs and their
//! reward rules. Authenticated by admin tokens (`referd admin-tokens create`); answers in the
//! same envelope and error shapes as `/v1`.

use axum::extract::Request;
use axum::extract::State;
use axum::response::Response;
use referd_core::program::Program;
use referd_core::rules::RuleVersion;
use referd_core::service::rules;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{AdminAuth, MAX_BODY_BYTES, PathIdent};
use crate::state::AppState;
use crate::wire::{self, program::program_block};

type ApiResult = Result<Response, ApiError>;

pub(crate) async fn program(state: &AppState, public_id: &str) -> Result<Program, ApiError> {
    state
        .store
        .find_program(public_id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound("Program not found".into()))
}

fn version_json(v: &RuleVersion) -> Result<Value, ApiError> {
    let rules: Value =
        serde_json::from_str(&v.body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json!({
        "version": v.version,
        "created_at": wire::timestamp(v.created_at),
        "rules": rules,
    }))
}

/// `GET /admin/v1/programs`: every program with its public id and type.
pub async fn list_programs(State(state): State<AppState>, _: AdminAuth) -> ApiResult {
    let programs = state
        .store
        .list_programs()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let items: Vec<Value> = programs.iter().map(program_block).collect();
    Ok(wire::data(items))
}

/// `GET /admin/v1/programs/{public_id}/rules`: the version in force (`version: null` and
/// `rules: null` when none was ever set).
pub async fn get_rules(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    match rules::current(&*state.store, &program).await? {
        Some((version, _)) => Ok(wire::data(version_json(&version)?)),
        None => Ok(wire::data(
            json!({ "version": null, "created_at": null, "rules": null }),
        )),
    }
}

/// `PUT /admin/v1/programs/{public_id}/rules` with the rule set as the body: validated and
/// stored as the next version. Invalid rules are a 422 naming every field, and change nothing.
pub async fn put_rules(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
    request: Request,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    // Read here rather than with axum's `Bytes`, whose over-limit rejection is plain text.
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("The request body is not valid JSON: {e}")))?;
    let (version, _) = rules::set(&*state.store, &program, &value, state.clock.now()).await?;
    Ok(wire::data(version_json(&version)?))
}

/// `GET /admin/v1/programs/{public_id}/rules/versions`: every version, newest first.
pub async fn rule_versions(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    let versions = state
        .store
        .list_rule_versions(program.id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let items = versions
        .iter()
        .map(version_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(wire::data(items))
}

/// A CSV cell that a spreadsheet must not read as a formula (`=`, `+`, `-`, `@` first):
/// identifiers and notes come from clients. Amounts are written as they are.
fn text_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// `from`/`to` as `YYYY-MM-DD` (midnight UTC) or RFC 3339.
fn time_param(
    p: &crate::extract::Params,
    name: &str,
) -> Result<Option<referd_core::time::Timestamp>, ApiError> {
    let mut e = referd_core::validate::FieldErrors::new();
    let Some(raw) = p.string(&[name], &mut e) else {
        e.into_result()?;
        return Ok(None);
    };
    let parsed = chrono::DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.timestamp_micros())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_micros())
        });
    match parsed {
        Some(micros) => Ok(Some(referd_core::time::Timestamp::from_micros(micros))),
        None => Err(ApiError::field(
            name,
            format!("The {name} field must be a date (YYYY-MM-DD) or an RFC 3339 date-time."),
        )),
    }
}

/// `GET /admin/v1/programs/{public_id}/ledger.csv?from=&to=`: every ledger entry created in
/// `[from, to)` (all when absent), one CSV row each, for accountants.
pub async fn ledger_csv(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
    p: crate::extract::Params,
) -> ApiResult {
    use referd_core::customer::CustomerLookup;
    use referd_core::ledger::Holder;
    use referd_core::partner::PartnerLookup;

    let program = program(&state, &public_id).await?;
    let from =
        time_param(&p, "from")?.unwrap_or(referd_core::time::Timestamp::from_micros(i64::MIN));
    let to = time_param(&p, "to")?.unwrap_or(referd_core::time::Timestamp::from_micros(i64::MAX));
    let entries = state.store.entries_between(program.id, from, to).await?;
    let keys: std::collections::HashMap<i64, String> = state
        .store
        .all_transactions(program.id)
        .await?
        .into_iter()
        .map(|t| (t.row_id.0, t.key))
        .collect();
    // Holders by their public identifiers: a partner's id, a customer's id (or key).
    let mut names: std::collections::HashMap<Holder, String> = std::collections::HashMap::new();
    for e in &entries {
        if names.contains_key(&e.holder) {
            continue;
        }
        let name = match e.holder {
            Holder::Partner(row) => state
                .store
                .find_partner_row(program.id, &PartnerLookup::Row(row))
                .await?
                .map(|p| p.id),
            Holder::Customer(row) => match state
                .store
                .find_customer(program.id, &CustomerLookup::Row(row))
                .await?
            {
                Some(v) => Some(v.customer.id),
                None => state
                    .store
                    .find_affiliate_customer(program.id, &CustomerLookup::Row(row))
                    .await?
                    .map(|c| c.key),
            },
        };
        // A deleted holder keeps its row number, so the row still says whose it was.
        let fallback = match e.holder {
            Holder::Partner(r) => format!("deleted-partner-{}", r.0),
            Holder::Customer(r) => format!("deleted-customer-{}", r.0),
        };
        names.insert(e.holder, name.unwrap_or(fallback));
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "entry_id",
        "created_at",
        "available_at",
        "holder_type",
        "holder",
        "kind",
        "reward_kind",
        "beneficiary",
        "amount",
        "unit",
        "transaction_key",
        "reverses_entry_id",
        "rule_version",
        "rule",
        "note",
    ];
    out.write_record(header)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    for e in &entries {
        let holder_type = match e.holder {
            Holder::Partner(_) => "partner",
            Holder::Customer(_) => "customer",
        };
        let row = [
            e.row_id.to_string(),
            e.created_at.to_rfc3339_micros(),
            e.available_at.to_rfc3339_micros(),
            holder_type.to_string(),
            text_cell(names.get(&e.holder).map_or("", String::as_str)),
            e.kind.as_str().to_string(),
            e.reward_kind.clone().unwrap_or_default(),
            e.beneficiary.clone().unwrap_or_default(),
            e.amount.normalize().to_string(),
            text_cell(&e.unit),
            text_cell(
                e.transaction
                    .and_then(|t| keys.get(&t.0))
                    .map_or("", String::as_str),
            ),
            e.reverses.map(|r| r.to_string()).unwrap_or_default(),
            e.rule_version.map(|v| v.to_string()).unwrap_or_default(),
            e.rule_path.clone().unwrap_or_default(),
            text_cell(e.note.as_deref().unwrap_or("")),
        ];
        out.write_record(row)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = Response::new(bytes.into());
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"ledger.csv\""),
    );
    Ok(response)
}

/// `POST /admin/v1/programs/{public_id}/payouts` with `partner` (id or key), `amount`,
/// optional `currency` (the program's) and `note`: records money paid out to a partner, at
/// most what it has approved and unpaid.
pub async fn payout(
    State(state): State<AppState>,
    _: AdminAuth,
    PathIdent(public_id): PathIdent,
    p: crate::extract::Params,
) -> ApiResult {
    let program = program(&state, &public_id).await?;
    let mut e = referd_core::validate::FieldErrors::new();
    let partner = p.string(&["partner"], &mut e);
    let currency = p.string(&["currency"], &mut e);
    let note = p.string(&["note"], &mut e);
    e.into_result()?;
    let partner =
        partner.ok_or_else(|| ApiError::field("partner", "The partner field is required."))?;
    let (view, entry) = referd_core::service::balances::partner_payout(
        &*state.store,
        &program,
        &partner,
        p.get(&["amount"]),
        currency.as_deref(),
        note,
        state.clock.now(),
    )
    .await?;
    Ok(wire::data(json!({
        "entry_id": entry.row_id,
        "partner": view.partner.id,
        "amount": referd_core::money::amount_json(-entry.amount),
        "currency": entry.unit,
        "note": entry.note,
        "created_at": wire::timestamp(entry.created_at),
    })))
}
