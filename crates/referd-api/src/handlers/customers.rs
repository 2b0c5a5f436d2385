//! `/v1/customers` for refer-a-friend programs (seed 000, spec §6.11–6.13). Each handler
//! first branches on the program type: an affiliate program's customers are another resource
//! on the same paths (`affiliate_customers.rs`).
//!
//! Identifiers: a path `{id}` is the customer's `id`, else its `key`, else its `email` (the
//! n8n node sends any of the three). The body-addressed forms `PUT /v1/customers` and
//! `DELETE /v1/customers` take `id`, else `key`, else `email` from the parameters.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use referd_core::customer::{
    CustomerFilter, CustomerLookup, CustomerPatch, CustomerSearch, ReferStatus,
};
use referd_core::ids::ProgramType;
use referd_core::ledger::SalesScope;
use referd_core::program::Program;
use referd_core::service::customers::{self as service, CustomerInput, ReferrerRef, Transition};
use referd_core::tracking::TrackingScope;
use referd_core::validate::FieldErrors;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{Auth, Params, PathIdent, UpdateFields};
use crate::handlers::affiliate_customers as affiliate;
use crate::handlers::listing::{
    CUSTOMER_TRANSACTIONS_LIMIT, STANDARD_LIMIT, location, page_request,
};
use crate::state::AppState;
use crate::wire::{self, customer};

type ApiResult = Result<Response, ApiError>;

fn customer_input(p: &Params) -> Result<CustomerInput, ApiError> {
    let mut e = FieldErrors::new();
    p.expect_object("referring_customer", &mut e);
    p.expect_object("metadata", &mut e);
    let referrer = ReferrerRef {
        id: p.string(&["referring_customer", "id"], &mut e),
        key: p.string(&["referring_customer", "key"], &mut e),
        email: p.string(&["referring_customer", "email"], &mut e),
    };
    // Given when it names someone, or carries anything at all (a referrer with only a name
    // is an error, not "no referrer"); `{"key": ""}` (an empty cookie) is not given.
    let referrer_given = referrer != ReferrerRef::default()
        || p.get(&["referring_customer"]).is_some_and(|v| {
            v.as_object()
                .is_some_and(|o| o.values().any(|x| !x.is_null() && x.as_str() != Some("")))
        });
    let input = CustomerInput {
        id: p.string(&["id"], &mut e),
        key: p.string(&["key"], &mut e),
        email: p.string(&["email"], &mut e),
        name: p.string(&["name"], &mut e),
        surname: p.string(&["surname"], &mut e),
        date_of_birth: p.string(&["metadata", "date_of_birth"], &mut e),
        referring_customer: referrer_given.then_some(referrer),
    };
    e.into_result()?;
    Ok(input)
}

fn is_affiliate(program: &Program) -> bool {
    program.program_type == ProgramType::Affiliate
}

pub async fn create(State(state): State<AppState>, Auth(program): Auth, p: Params) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::create(&state, &program, &p).await;
    }
    let input = customer_input(&p)?;
    let view = service::create(&*state.store, &program, input, state.clock.now()).await?;
    Ok(wire::data(customer::full(&program, &view)))
}

pub async fn get(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::get(&state, &program, &ident).await;
    }
    let view = service::get(&*state.store, &program, &ident).await?;
    Ok(wire::data(customer::full(&program, &view)))
}

pub async fn list(
    State(state): State<AppState>,
    Auth(program): Auth,
    uri: Uri,
    p: Params,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::list(&state, &program, &uri, &p).await;
    }
    let page = page_request(&p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let refer_status = p.string(&["refer_status"], &mut e);
    let filter = CustomerFilter {
        refer_status: match refer_status.as_deref() {
            None | Some("") => None,
            Some("referred") => Some(ReferStatus::Referred),
            Some("non_referred") => Some(ReferStatus::NonReferred),
            Some(_) => {
                e.add(
                    "refer_status",
                    "The selected refer_status is invalid (referred or non_referred).",
                );
                None
            }
        },
    };
    e.into_result()?;
    let rows = service::list(&*state.store, &program, &filter, page).await?;
    let loc = location(&state, &uri, &p, &[("refer_status", refer_status)]);
    Ok(wire::page::page(&rows, customer::summary, loc))
}

pub async fn search(
    State(state): State<AppState>,
    Auth(program): Auth,
    uri: Uri,
    p: Params,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::search(&state, &program, &uri, &p).await;
    }
    let page = page_request(&p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let criteria = CustomerSearch {
        id: p.string(&["id"], &mut e),
        key: p.string(&["key"], &mut e),
        email: p.string(&["email"], &mut e),
    };
    e.into_result()?;
    let filters = [
        ("id", criteria.id.clone()),
        ("key", criteria.key.clone()),
        ("email", criteria.email.clone()),
    ];
    let rows = service::search(&*state.store, &program, criteria, page).await?;
    let loc = location(&state, &uri, &p, &filters);
    Ok(wire::page::page(&rows, customer::summary, loc))
}

pub async fn referrals(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let rows = service::referrals(&*state.store, &program, &ident).await?;
    let items: Vec<_> = rows.iter().map(customer::summary).collect();
    Ok(wire::data(items))
}

/// The customer's transactions (as the buyer); `limit` 10–100 as the reference documents.
pub async fn transactions(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
    p: Params,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::transactions(&state, &program, &ident, &p).await;
    }
    let page = page_request(&p, CUSTOMER_TRANSACTIONS_LIMIT)?;
    let view = service::get(&*state.store, &program, &ident).await?;
    crate::handlers::transactions::of_customer(&state, &program, view.customer.row_id, page).await
}

/// `{"customer":{…},"balance":{"currency":[{"amount","amount_units","is_currency"}]}}`.
fn balance_body(
    program: &Program,
    view: &referd_core::customer::CustomerView,
    sums: &referd_core::service::balances::Sums,
) -> Response {
    let units: Vec<serde_json::Value> = sums
        .iter()
        .map(|(unit, amount)| {
            serde_json::json!({
                "amount": referd_core::money::amount_json(*amount),
                "amount_units": unit,
                "is_currency": referd_core::money::Currency::parse(unit).is_some(),
            })
        })
        .collect();
    wire::data(serde_json::json!({
        "customer": customer::full(program, view),
        "balance": { "currency": units },
    }))
}

/// `GET /v1/customers/{id}/balance`: the credit balance, from the ledger.
pub async fn balance(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let (view, sums) = referd_core::service::balances::customer_balance(
        &*state.store,
        &program,
        &ident,
        state.clock.now(),
    )
    .await?;
    Ok(balance_body(&program, &view, &sums))
}

/// `POST /v1/customers/{id}/balance/credit`: `amount` (negative to redeem), `amount_units`,
/// `is_currency`. Answers the new balance.
pub async fn credit(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let units = p.string(&["amount_units"], &mut e);
    let is_currency = p.boolean(&["is_currency"], &mut e);
    e.into_result()?;
    let (view, sums) = referd_core::service::balances::credit(
        &*state.store,
        &program,
        &ident,
        p.get(&["amount"]),
        units.as_deref(),
        is_currency,
        state.clock.now(),
    )
    .await?;
    Ok(balance_body(&program, &view, &sums))
}

#[derive(Serialize)]
struct ReferralStats {
    clicks: u64,
    signups: u64,
    revenue: Vec<wire::money::CurrencyAmount>,
    sales_count: u64,
    paid_accounts: u64,
}

#[derive(Serialize)]
struct SocialShare {
    social: &'static str,
    link: String,
}

#[derive(Serialize)]
struct RefLinkStats {
    url: String,
    default: bool,
    clicks: String,
    signups: String,
    click_to_signup_conversion: serde_json::Value,
    social_shares: Vec<SocialShare>,
}

#[derive(Serialize)]
struct CustomerStats<'a> {
    customer: customer::CustomerFull<'a>,
    referrals: ReferralStats,
    ref_links: Vec<RefLinkStats>,
}

/// `application/x-www-form-urlencoded` encoding as PHP's `urlencode` does it (space as `+`,
/// everything but letters, digits and `-_.` escaped), so share links match Partnero's.
fn php_urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('*', "%2A")
}

fn social_shares(program: &Program, link: &str) -> Vec<SocialShare> {
    let message = format!(
        "I've partnered up with {} since I've been really enjoying using the product. Click the link to find out more! #affiliatepartner {link}",
        program.name
    );
    vec![
        SocialShare {
            social: "facebook",
            link: format!(
                "https://www.facebook.com/sharer/sharer.php?u={}",
                php_urlencode(link)
            ),
        },
        SocialShare {
            social: "twitter",
            link: format!(
                "https://twitter.com/intent/tweet?text={}",
                php_urlencode(&message)
            ),
        },
        SocialShare {
            social: "linkedin",
            link: format!(
                "https://www.linkedin.com/sharing/share-offsite/?url={}",
                php_urlencode(link)
            ),
        },
    ]
}

/// Clicks, sign-ups and revenue of a customer's referrals. Sign-ups are its referred
/// customers; sales are their active transactions (referred by this customer), revenue their
/// sum per currency, paid accounts their distinct buyers. Clicks are the counted clicks on its
/// links; each link has its own clicks and sign-ups (docs/tracking.md).
pub async fn stats(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let view = service::get(&*state.store, &program, &ident).await?;
    let sales = referd_core::service::balances::sales(
        &*state.store,
        &program,
        SalesScope::Referrer(view.customer.row_id),
    )
    .await?;
    let links =
        referd_core::service::customer_links::all_of(&*state.store, &program, &view.customer)
            .await?;
    let total = crate::handlers::tracking::counts(
        &state,
        &program,
        TrackingScope::Customer(view.customer.row_id),
    )
    .await?;
    let mut ref_links = Vec::with_capacity(links.len());
    for l in &links {
        let Some(url) = program.referral_link(&l.key) else {
            continue;
        };
        let c = state
            .store
            .tracking_counts(
                program.id,
                TrackingScope::CustomerLink(l.customer, l.row_id),
                None,
            )
            .await
            .map_err(referd_core::CoreError::from)?;
        ref_links.push(RefLinkStats {
            social_shares: social_shares(&program, &url),
            url,
            default: l.is_default(),
            clicks: c.clicks.to_string(),
            signups: c.signups.to_string(),
            click_to_signup_conversion: referd_core::money::amount_json(
                c.click_to_signup_percent(),
            ),
        });
    }
    Ok(wire::data(CustomerStats {
        customer: customer::full(&program, &view),
        referrals: ReferralStats {
            clicks: total.clicks,
            signups: view.referrals_count,
            revenue: wire::money::revenue(&sales),
            sales_count: sales.sales,
            paid_accounts: sales.buyers,
        },
        ref_links,
    }))
}

/// Reads a patch from `update{…}` when present, else from the flat parameters (the n8n
/// node and the Python SDK send flat fields). `skip` names flat fields that addressed the
/// customer and so are not changes.
fn patch_from(p: &Params, skip: &[&str]) -> Result<(CustomerPatch, &'static str), ApiError> {
    let mut f = UpdateFields::of(p, skip)?;
    let patch = CustomerPatch {
        key: f.string("key"),
        email: f.string("email"),
        name: f.string("name"),
        surname: f.string("surname"),
        date_of_birth: f.nested_string(&["metadata", "date_of_birth"]),
    };
    Ok((patch, f.finish()?))
}

/// The customer a body-addressed request names: `id`, else `key`, else `email`.
fn body_lookup(p: &Params) -> Result<(CustomerLookup, &'static str), ApiError> {
    let mut e = FieldErrors::new();
    let found = if let Some(id) = p.string(&["id"], &mut e) {
        Some((CustomerLookup::Id(id), "id"))
    } else if let Some(key) = p.string(&["key"], &mut e) {
        Some((CustomerLookup::Key(key), "key"))
    } else {
        p.string(&["email"], &mut e)
            .map(|m| (CustomerLookup::Email(m.trim().to_lowercase()), "email"))
    };
    e.into_result()?;
    found.ok_or_else(|| {
        ApiError::field(
            "id",
            "The id field is required when the customer is not given in the URL (or give key or email).",
        )
    })
}

pub async fn update(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
    p: Params,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::update(&state, &program, ident, &p).await;
    }
    let (patch, prefix) = patch_from(&p, &[])?;
    let lookup = CustomerLookup::AnyIdentifier(ident);
    let view = service::update(
        &*state.store,
        &program,
        &lookup,
        patch,
        prefix,
        state.clock.now(),
    )
    .await?;
    Ok(wire::data(customer::full(&program, &view)))
}

pub async fn update_by_body(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::update_by_body(&state, &program, &p).await;
    }
    let (lookup, used) = body_lookup(&p)?;
    // In the flat body-addressed form, the field that found the customer is not a change:
    // found by `id`, a flat `key` or `email` is new; found by `key`, only `email` can change.
    let skip: &[&str] = match used {
        "id" => &["id"],
        "key" => &["id", "key"],
        _ => &["id", "key", "email"],
    };
    let (patch, prefix) = patch_from(&p, skip)?;
    let view = service::update(
        &*state.store,
        &program,
        &lookup,
        patch,
        prefix,
        state.clock.now(),
    )
    .await?;
    Ok(wire::data(customer::full(&program, &view)))
}

/// Archive, restore or delete the customer `lookup` names.
async fn transition(
    state: AppState,
    program: Program,
    lookup: CustomerLookup,
    transition: Transition,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::transition(&state, &program, lookup, transition).await;
    }
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
    let lookup = CustomerLookup::AnyIdentifier(ident);
    transition(state, program, lookup, Transition::Archive).await
}

pub async fn revoke_archive(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let lookup = CustomerLookup::AnyIdentifier(ident);
    transition(state, program, lookup, Transition::Restore).await
}

pub async fn delete(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(ident): PathIdent,
) -> ApiResult {
    let lookup = CustomerLookup::AnyIdentifier(ident);
    transition(state, program, lookup, Transition::Delete).await
}

pub async fn delete_by_body(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    if is_affiliate(&program) {
        return affiliate::delete_by_body(&state, &program, &p).await;
    }
    let (lookup, _) = body_lookup(&p)?;
    transition(state, program, lookup, Transition::Delete).await
}

/// `POST /v1/customer` (PHP SDK, deprecated; affiliate programs).
pub async fn create_singular(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    affiliate::create_legacy(&state, &program, &p).await
}

/// `GET /v1/customer` with a body `key` (PHP SDK, deprecated; affiliate programs).
pub async fn get_singular(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    referd_core::service::partners::require_affiliate(&program)?;
    affiliate::get_legacy(&state, &program, &p).await
}

/// `PUT /v1/customer` with `{"key","update"}` (PHP SDK, deprecated; affiliate programs).
pub async fn update_singular(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    affiliate::update_by_body(&state, &program, &p).await
}

/// `DELETE /v1/customer` with a body `key` (PHP SDK, deprecated; affiliate programs).
pub async fn delete_singular(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    affiliate::delete_by_body(&state, &program, &p).await
}
