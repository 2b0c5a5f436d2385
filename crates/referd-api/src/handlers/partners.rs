//! `/v1/partners` (spec §5) and the deprecated singular `/v1/partner` forms.
//!
//! Identifiers: a path `{id}` is the partner's `id`, else any of its link keys, else its email
//! (the PHP SDK puts the key in the path). Body-addressed forms (`PUT`/`DELETE /v1/partners`,
//! `/v1/partner`) take `id`, else `key`, else `email` from the parameters.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use referd_core::ledger::SalesScope;
use referd_core::partner::{PartnerFilter, PartnerLookup, PartnerSearch, PartnerStatus};
use referd_core::service::partner_links;
use referd_core::service::partners::{
    self as service, PartnerInput, PartnerRef, PartnerUpdate, Transition,
};
use referd_core::tracking::TrackingScope;
use referd_core::validate::FieldErrors;

use crate::error::ApiError;
use crate::extract::{Auth, Params, PathIdent, UpdateFields};
use crate::handlers::listing::{STANDARD_LIMIT, location, page_request};
use crate::state::AppState;
use crate::wire::{self, link, partner};

type ApiResult = Result<Response, ApiError>;

/// `partner{id|key|email}`-style references (also `partner_key`, `partner[key]`).
pub fn partner_ref(p: &Params, object: &str, e: &mut FieldErrors) -> PartnerRef {
    p.expect_object(object, e);
    PartnerRef {
        id: p.string(&[object, "id"], e),
        key: p.string(&[object, "key"], e),
        email: p.string(&[object, "email"], e),
    }
}

fn partner_input(p: &Params) -> Result<PartnerInput, ApiError> {
    let mut e = FieldErrors::new();
    let referring = partner_ref(p, "referring_partner", &mut e);
    let input = PartnerInput {
        id: p.string(&["id"], &mut e),
        key: p.string(&["key"], &mut e),
        email: p.string(&["email"], &mut e),
        name: p.string(&["name"], &mut e),
        surname: p.string(&["surname"], &mut e),
        password: p.string(&["password"], &mut e),
        tags: p.string_list(&["tags"], &mut e),
        approved: p.boolean(&["approved"], &mut e),
        tos: p.boolean(&["tos"], &mut e),
        referring_partner: (!referring.is_empty()
            || p.get(&["referring_partner"]).is_some_and(|v| {
                v.as_object()
                    .is_some_and(|o| o.values().any(|x| !x.is_null() && x.as_str() != Some("")))
            }))
        .then_some(referring),
    };
    e.into_result()?;
    Ok(input)
}

pub async fn create(State(state): State<AppState>, Auth(program): Auth, p: Params) -> ApiResult {
    let input = partner_input(&p)?;
    let view = service::create(&*state.store, &program, input, state.clock.now()).await?;
    Ok(wire::data(partner::written(&program, &view)))
}

pub async fn get(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let view = service::get(&*state.store, &program, &ident).await?;
    full_answer(&state, &program, &view).await
}

/// The full partner object: its commissions (the ledger), sales and clicks.
async fn full_answer(
    state: &AppState,
    program: &referd_core::program::Program,
    view: &referd_core::partner::PartnerView,
) -> ApiResult {
    let earned = referd_core::service::balances::partner_commissions(
        &*state.store,
        program,
        view.partner.row_id,
        state.clock.now(),
    )
    .await?;
    let sales = referd_core::service::balances::sales(
        &*state.store,
        program,
        SalesScope::Partner(view.partner.row_id),
    )
    .await?;
    let tracked = crate::handlers::tracking::counts(
        state,
        program,
        TrackingScope::Partner(view.partner.row_id),
    )
    .await?;
    Ok(wire::data(
        partner::full(program, view, &earned, &sales).with_clicks(tracked.clicks),
    ))
}

/// The partner a body- or query-addressed request names: `id`, else `key`, else `email`.
fn addressed(p: &Params) -> Result<(PartnerLookup, &'static str), ApiError> {
    let mut e = FieldErrors::new();
    let r = PartnerRef {
        id: p.string(&["id"], &mut e),
        key: p.string(&["key"], &mut e),
        email: p.string(&["email"], &mut e),
    };
    e.into_result()?;
    r.lookup().ok_or_else(|| {
        ApiError::field(
            "key",
            "The key field is required when the partner is not given in the URL (or give id or email).",
        )
    })
}

/// `GET /v1/partner?key=|email=|id=` (the n8n node's "Get") and the PHP SDK's deprecated
/// `GET /v1/partner` with a body.
pub async fn get_legacy(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    service::require_affiliate(&program)?;
    let (lookup, _) = addressed(&p)?;
    let view = service::find(&*state.store, &program, &lookup).await?;
    full_answer(&state, &program, &view).await
}

pub async fn list(
    State(state): State<AppState>,
    Auth(program): Auth,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let page = page_request(&p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let status = p.string(&["status"], &mut e);
    let filter = PartnerFilter {
        status: match status.as_deref() {
            None => None,
            Some(s) => match PartnerStatus::parse(s).filter(|s| *s != PartnerStatus::Deleted) {
                Some(s) => Some(s),
                None => {
                    e.add(
                        "status",
                        "The selected status is invalid (active, pending or archived).",
                    );
                    None
                }
            },
        },
    };
    e.into_result()?;
    let rows = service::list(&*state.store, &program, &filter, page).await?;
    let loc = location(&state, &uri, &p, &[("status", status)]);
    Ok(wire::page::page(&rows, partner::summary, loc))
}

pub async fn search(
    State(state): State<AppState>,
    Auth(program): Auth,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let page = page_request(&p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let criteria = PartnerSearch {
        id: p.string(&["id"], &mut e),
        email: p.string(&["email"], &mut e),
        key: p.string(&["key"], &mut e),
        name: p.string(&["name"], &mut e),
    };
    e.into_result()?;
    let filters = [
        ("id", criteria.id.clone()),
        ("email", criteria.email.clone()),
        ("key", criteria.key.clone()),
        ("name", criteria.name.clone()),
    ];
    let rows = service::search(&*state.store, &program, criteria, page).await?;
    let loc = location(&state, &uri, &p, &filters);
    Ok(wire::page::page(&rows, partner::summary, loc))
}

/// Reads an update from `update{…}` when present, else from the flat parameters (the n8n
/// node and the Python SDK send flat fields). `skip` names flat fields that addressed the
/// partner and so are not changes.
fn update_from(p: &Params, skip: &[&str]) -> Result<(PartnerUpdate, &'static str), ApiError> {
    let mut f = UpdateFields::of(p, skip)?;
    let update = PartnerUpdate {
        key: f.string("key"),
        email: f.string("email"),
        name: f.string("name"),
        surname: f.string("surname"),
        password: f.string("password"),
        tags: f.string_list("tags"),
        approved: f.boolean("approved"),
        tos: f.boolean("tos"),
    };
    Ok((update, f.finish()?))
}

async fn update_with(
    state: &AppState,
    program: &referd_core::program::Program,
    lookup: PartnerLookup,
    update: PartnerUpdate,
    prefix: &str,
) -> ApiResult {
    let view = service::update(
        &*state.store,
        program,
        &lookup,
        update,
        prefix,
        state.clock.now(),
    )
    .await?;
    Ok(wire::data(partner::written(program, &view)))
}

pub async fn update(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
    p: Params,
) -> ApiResult {
    let (update, prefix) = update_from(&p, &[])?;
    update_with(
        &state,
        &program,
        PartnerLookup::AnyIdentifier(ident),
        update,
        prefix,
    )
    .await
}

/// `PUT /v1/partners` and `PUT /v1/partner` with the partner named in the body.
pub async fn update_by_body(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    service::require_affiliate(&program)?;
    let (lookup, used) = addressed(&p)?;
    // In the flat form the field that found the partner is not a change: found by `id`, a
    // flat `key` or `email` is new; found by `key`, only `email` can change.
    let skip: &[&str] = match used {
        "id" => &["id"],
        "key" => &["id", "key"],
        _ => &["id", "key", "email"],
    };
    let (update, prefix) = update_from(&p, skip)?;
    update_with(&state, &program, lookup, update, prefix).await
}

async fn transition(
    state: AppState,
    program: referd_core::program::Program,
    lookup: PartnerLookup,
    transition: Transition,
) -> ApiResult {
    service::transition(
        &*state.store,
        &program,
        &lookup,
        transition,
        state.clock.now(),
    )
    .await?;
    Ok(wire::done())
}

pub async fn archive(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let lookup = PartnerLookup::AnyIdentifier(ident);
    transition(state, program, lookup, Transition::Archive).await
}

pub async fn revoke_archive(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let lookup = PartnerLookup::AnyIdentifier(ident);
    transition(state, program, lookup, Transition::Restore).await
}

pub async fn delete(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let lookup = PartnerLookup::AnyIdentifier(ident);
    transition(state, program, lookup, Transition::Delete).await
}

/// `DELETE /v1/partners` and `DELETE /v1/partner` with `key` or `email` in the body.
pub async fn delete_by_body(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    service::require_affiliate(&program)?;
    let (lookup, _) = addressed(&p)?;
    transition(state, program, lookup, Transition::Delete).await
}

/// `GET /v1/partners/{id}/referral_links`: the partner's links, default first, paginated.
pub async fn referral_links(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let page = page_request(&p, STANDARD_LIMIT)?;
    let rows = partner_links::of_partner(&*state.store, &program, &ident, page).await?;
    let loc = location(&state, &uri, &p, &[]);
    Ok(wire::page::page(&rows, |l| link::link(&program, l), loc))
}

/// `POST /v1/partners/{id}/reward`: a one-off bonus (`amount`, optional `date`, `note`).
pub async fn reward(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let note = p.string(&["note"], &mut e);
    let date = p.string(&["date"], &mut e);
    e.into_result()?;
    let available_at = match date {
        None => None,
        Some(d) => Some(
            chrono::DateTime::parse_from_rfc3339(&d)
                .map(|t| referd_core::time::Timestamp::from_micros(t.timestamp_micros()))
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map(|day| {
                        referd_core::time::Timestamp::from_micros(
                            day.and_hms_opt(0, 0, 0)
                                .map(|t| t.and_utc().timestamp_micros())
                                .unwrap_or_default(),
                        )
                    })
                })
                .map_err(|_| {
                    ApiError::field(
                        "date",
                        "The date field must be an ISO 8601 date-time or date.",
                    )
                })?,
        ),
    };
    let (view, entry) = referd_core::service::balances::partner_bonus(
        &*state.store,
        &program,
        &ident,
        p.get(&["amount"]),
        available_at,
        note,
        state.clock.now(),
    )
    .await?;
    Ok(wire::data(serde_json::json!({
        "partner": view.partner.id,
        "amount": referd_core::money::amount_json(entry.amount),
        "amount_units": entry.unit,
        "note": entry.note,
        "date": wire::timestamp(entry.available_at),
        "created_at": wire::timestamp(entry.created_at),
    })))
}
