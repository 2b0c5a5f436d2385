//! `/v1/transactions` (spec §7) for affiliate and refer-a-friend programs: create (single or
//! bulk `transactions[]`, with `options.create_customer`), get, list, and delete (= refund).

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use referd_core::customer::CustomerLookup;
use referd_core::ids::ProgramType;
use referd_core::ledger::{Holder, LedgerEntry, Transaction, TransactionFilter};
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::PartnerLinkSearch;
use referd_core::program::Program;
use referd_core::service::affiliate_customers::{self, AffiliateCustomerInput};
use referd_core::service::customers::{self, CustomerInput, ReferrerRef};
use referd_core::service::partners::PartnerRef;
use referd_core::service::transactions::{self as service, Buyer, SaleInput, customer_lookup};
use referd_core::validate::FieldErrors;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Auth, Params, PathIdent};
use crate::handlers::listing::{STANDARD_LIMIT, location, page_request};
use crate::handlers::partners::partner_ref;
use crate::state::AppState;
use crate::wire::transaction::HolderNames;
use crate::wire::{self, transaction};

type ApiResult = Result<Response, ApiError>;

/// The sale fields of `source` (the body, or one item of `transactions[]`).
fn sale_input(source: &Params, e: &mut FieldErrors) -> SaleInput {
    SaleInput {
        key: source.string(&["key"], e),
        amount: source.get(&["amount"]).cloned(),
        reward: source.get(&["reward"]).cloned(),
        // Some integrations send `currency` (lower case) instead of `amount_units`.
        amount_units: source
            .string(&["amount_units"], e)
            .or_else(|| source.string(&["currency"], e)),
        action: source.string(&["action"], e),
        product_id: source.string(&["product_id"], e),
        product_type: source.string(&["product_type"], e),
        rewardable: source.boolean(&["rewardable"], e),
        rewarded: source.boolean(&["rewarded"], e),
        created_at: source.get(&["created_at"]).cloned(),
    }
}

/// The buyer named by `customer{…}`, created first with `options.create_customer`.
async fn buyer(state: &AppState, program: &Program, p: &Params) -> Result<Buyer, ApiError> {
    let mut e = FieldErrors::new();
    p.expect_object("customer", &mut e);
    p.expect_object("options", &mut e);
    let key = p.string(&["customer", "key"], &mut e);
    let email = p.string(&["customer", "email"], &mut e);
    let id = p.string(&["customer", "id"], &mut e);
    let create = p
        .boolean(&["options", "create_customer"], &mut e)
        .unwrap_or(false);
    e.into_result()?;
    let now = state.clock.now();
    let store = &*state.store;
    match program.program_type {
        ProgramType::Affiliate => {
            // An affiliate customer's `id` is its key.
            let lookup = customer_lookup(key.as_deref().or(id.as_deref()), email.as_deref(), None)
                .ok_or_else(|| {
                    ApiError::field(
                        "customer.key",
                        "The customer.key field is required (or customer.email).",
                    )
                })?;
            // The buyer and its partner's facts in one read: what the sale's rewards need.
            if let Some(found) = store.find_affiliate_buyer(program.id, &lookup).await? {
                return Ok(Buyer::affiliate(found));
            }
            let customer = match create {
                true => {
                    let mut e = FieldErrors::new();
                    let customer_obj = p.object("customer").unwrap_or_default();
                    // The partner inside `customer` (current docs) or at the top (older form).
                    let mut partner = partner_ref(&customer_obj, "partner", &mut e);
                    if partner.is_empty() {
                        partner = partner_ref(p, "partner", &mut e);
                    }
                    let input = AffiliateCustomerInput {
                        key: key.clone().or(id.clone()),
                        email: email.clone(),
                        name: customer_obj.string(&["name"], &mut e),
                        surname: customer_obj.string(&["surname"], &mut e),
                        tags: customer_obj.string_list(&["tags"], &mut e),
                        partner,
                        referral_url: p.string(&["options", "referral_url"], &mut e),
                    };
                    e.into_result()?;
                    affiliate_customers::create(store, program, input, now).await?
                }
                false => return Err(unknown_customer(&lookup)),
            };
            Ok(Buyer {
                customer: customer.row_id,
                customer_created_at: customer.created_at,
                partner: Some(customer.partner),
                partner_facts: Default::default(),
                referrer: None,
            })
        }
        _ => {
            let lookup = customer_lookup(key.as_deref(), email.as_deref(), id.as_deref())
                .ok_or_else(|| {
                    ApiError::field(
                        "customer.id",
                        "The customer.id field is required (or customer.key or customer.email).",
                    )
                })?;
            let found = store.find_customer(program.id, &lookup).await?;
            let view = match (found, create) {
                (Some(v), _) => v,
                (None, true) => {
                    let mut e = FieldErrors::new();
                    let c = p.object("customer").unwrap_or_default();
                    let referrer = ReferrerRef {
                        id: c.string(&["referring_customer", "id"], &mut e),
                        key: c.string(&["referring_customer", "key"], &mut e),
                        email: c.string(&["referring_customer", "email"], &mut e),
                    };
                    let input = CustomerInput {
                        id: id.clone(),
                        key: key.clone(),
                        email: email.clone(),
                        name: c.string(&["name"], &mut e),
                        surname: c.string(&["surname"], &mut e),
                        date_of_birth: None,
                        referring_customer: (referrer != ReferrerRef::default())
                            .then_some(referrer),
                    };
                    e.into_result()?;
                    customers::create(store, program, input, now).await?
                }
                (None, false) => return Err(unknown_customer(&lookup)),
            };
            Ok(Buyer {
                customer: view.customer.row_id,
                customer_created_at: view.customer.created_at,
                partner: None,
                partner_facts: Default::default(),
                referrer: view.customer.referrer,
            })
        }
    }
}

/// An unknown buyer is a 422 (integrations expect it for an unattributed sign-up).
fn unknown_customer(lookup: &CustomerLookup) -> ApiError {
    let field = match lookup {
        CustomerLookup::Email(_) => "customer.email",
        CustomerLookup::Id(_) => "customer.id",
        _ => "customer.key",
    };
    ApiError::field(field, format!("The selected {field} is invalid."))
}

/// Keys of partners a reward went to besides the transaction's own (multi-tier parents).
async fn holder_names(
    state: &AppState,
    program: &Program,
    rows: &[(Transaction, Vec<LedgerEntry>)],
) -> Result<HolderNames, ApiError> {
    let mut names = HolderNames::new();
    for (tx, entries) in rows {
        for e in entries {
            if let Holder::Partner(p) = e.holder
                && Some(p) != tx.partner
                && !names.contains_key(&e.holder)
            {
                // The partner's default link comes first: one indexed read, where a partner
                // lookup would also count its customers on every answer.
                let search = PartnerLinkSearch {
                    key: None,
                    partner: Some(p),
                };
                let first = PageRequest {
                    page: 1,
                    per_page: 1,
                    sort: SortOrder::Asc,
                };
                let links = state
                    .store
                    .search_partner_links(program.id, &search, first)
                    .await?;
                if let Some(link) = links.into_iter().find(|l| l.is_default) {
                    names.insert(e.holder, link.key);
                }
            }
        }
    }
    Ok(names)
}

async fn answer_one(
    state: &AppState,
    program: &Program,
    tx: Transaction,
    entries: Vec<LedgerEntry>,
) -> ApiResult {
    let rows = [(tx, entries)];
    let names = holder_names(state, program, &rows).await?;
    let [(tx, entries)] = rows;
    Ok(wire::data(transaction::transaction(
        program,
        &tx,
        &entries,
        &names,
        state.clock.now(),
    )))
}

pub async fn create(State(state): State<AppState>, Auth(program): Auth, p: Params) -> ApiResult {
    let now = state.clock.now();
    let bulk = match p.get(&["transactions"]) {
        None => None,
        Some(Value::Array(items)) if !items.is_empty() => Some(items.clone()),
        Some(_) => {
            return Err(ApiError::field(
                "transactions",
                "The transactions field must be a non-empty list of transactions.",
            ));
        }
    };
    let Some(items) = bulk else {
        let mut e = FieldErrors::new();
        let input = sale_input(&p, &mut e);
        e.into_result()?;
        // Checked before the buyer is resolved: an invalid sale must not create its customer.
        service::check(&program, &input, "", now)?;
        let buyer = buyer(&state, &program, &p).await?;
        let out = service::create(&*state.store, &program, &buyer, &input, "", now).await?;
        return answer_one(&state, &program, out.transaction, out.entries).await;
    };
    // Bulk: every item is checked before anything is recorded; then they are recorded in
    // order, each idempotent on its own key, so a retried bulk request is safe.
    let mut e = FieldErrors::new();
    let mut inputs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            e.add(
                format!("transactions.{i}"),
                "Each transaction must be an object.",
            );
            continue;
        };
        let item = Params::from_map(map.clone());
        let mut item_errors = FieldErrors::new();
        let input = sale_input(&item, &mut item_errors);
        for (f, msgs) in item_errors.iter() {
            for m in msgs {
                e.add(format!("transactions.{i}.{f}"), m.clone());
            }
        }
        if let Err(referd_core::CoreError::Validation(v)) =
            service::check(&program, &input, &format!("transactions.{i}."), now)
        {
            for (f, msgs) in v.iter() {
                for m in msgs {
                    e.add(f, m.clone());
                }
            }
        }
        inputs.push(input);
    }
    e.into_result()?;
    let buyer = buyer(&state, &program, &p).await?;
    let mut rows = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let prefix = format!("transactions.{i}.");
        let out = service::create(&*state.store, &program, &buyer, input, &prefix, now).await?;
        rows.push((out.transaction, out.entries));
    }
    let names = holder_names(&state, &program, &rows).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|(tx, entries)| transaction::transaction(&program, tx, entries, &names, now))
        .collect();
    Ok(wire::data(items))
}

pub async fn get(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
) -> ApiResult {
    let (tx, entries) = service::get(&*state.store, &program, &key).await?;
    answer_one(&state, &program, tx, entries).await
}

pub async fn list(
    State(state): State<AppState>,
    Auth(program): Auth,
    uri: Uri,
    p: Params,
) -> ApiResult {
    let page = page_request(&p, STANDARD_LIMIT)?;
    let mut e = FieldErrors::new();
    let key = p.string(&["key"], &mut e);
    let partner: PartnerRef = partner_ref(&p, "partner", &mut e);
    let customer_key = p.string(&["customer", "key"], &mut e);
    e.into_result()?;
    let empty = || {
        Ok(wire::page::page(
            &referd_core::page::Page::from_rows(Vec::<()>::new(), page),
            |_| (),
            location(&state, &uri, &p, &[]),
        ))
    };
    let mut filter = TransactionFilter {
        key: key.clone(),
        ..TransactionFilter::default()
    };
    if let Some((lookup, _)) = partner.lookup() {
        match state.store.find_partner_row(program.id, &lookup).await? {
            Some(found) => filter.partner = Some(found.row_id),
            None => return empty(),
        }
    }
    if let Some(k) = &customer_key {
        let lookup = CustomerLookup::Key(k.clone());
        let row = match program.program_type {
            ProgramType::Affiliate => state
                .store
                .find_affiliate_customer(program.id, &lookup)
                .await?
                .map(|c| c.row_id),
            _ => state
                .store
                .find_customer(program.id, &CustomerLookup::AnyIdentifier(k.clone()))
                .await?
                .map(|v| v.customer.row_id),
        };
        match row {
            Some(r) => filter.customer = Some(r),
            None => return empty(),
        }
    }
    let rows = service::list(&*state.store, &program, &filter, page).await?;
    let names = holder_names(&state, &program, &rows.items).await?;
    let now = state.clock.now();
    let filters = [
        ("key", key),
        ("partner[key]", partner.key.clone()),
        ("customer[key]", customer_key),
    ];
    let loc = location(&state, &uri, &p, &filters);
    Ok(wire::page::page(
        &rows,
        |(tx, entries)| transaction::transaction(&program, tx, entries, &names, now),
        loc,
    ))
}

async fn refund(state: &AppState, program: &Program, key: &str) -> ApiResult {
    service::refund(&*state.store, program, key, state.clock.now()).await?;
    Ok(wire::done())
}

pub async fn delete(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
) -> ApiResult {
    refund(&state, &program, &key).await
}

/// `DELETE /v1/transactions` with `{"key":…}` (the older documented form).
pub async fn delete_by_body(
    State(state): State<AppState>,
    Auth(program): Auth,
    p: Params,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let key = p.string(&["key"], &mut e);
    e.into_result()?;
    let key = key.ok_or_else(|| ApiError::field("key", "The key field is required."))?;
    refund(&state, &program, &key).await
}

/// `GET /v1/customers/{id}/transactions` (both program types): the buyer's active
/// transactions, newest first, as `{"data":[…],"status":1}` (the documented shape).
pub async fn of_customer(
    state: &AppState,
    program: &Program,
    customer: referd_core::customer::CustomerRowId,
    page: referd_core::page::PageRequest,
) -> ApiResult {
    let filter = TransactionFilter {
        customer: Some(customer),
        ..TransactionFilter::default()
    };
    let rows = service::list(&*state.store, program, &filter, page).await?;
    let names = holder_names(state, program, &rows.items).await?;
    let now = state.clock.now();
    let items: Vec<Value> = rows
        .items
        .iter()
        .map(|(tx, entries)| transaction::transaction(program, tx, entries, &names, now))
        .collect();
    Ok(wire::data(items))
}

pub async fn archive(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
) -> ApiResult {
    service::archive(&*state.store, &program, &key, state.clock.now()).await?;
    Ok(wire::done())
}

pub async fn revoke_archive(
    State(state): State<AppState>,
    Auth(program): Auth,
    PathIdent(key): PathIdent,
) -> ApiResult {
    service::restore(&*state.store, &program, &key, state.clock.now()).await?;
    Ok(wire::done())
}

/// A transaction's JSON exactly as `GET /v1/transactions/{key}` answers it (the `data` of its
/// webhook events).
pub(crate) async fn transaction_json(
    state: &AppState,
    program: &Program,
    tx: Transaction,
    entries: Vec<LedgerEntry>,
) -> Result<serde_json::Value, ApiError> {
    let rows = [(tx, entries)];
    let names = holder_names(state, program, &rows).await?;
    let [(tx, entries)] = rows;
    Ok(transaction::transaction(
        program,
        &tx,
        &entries,
        &names,
        state.clock.now(),
    ))
}
