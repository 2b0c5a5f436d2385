//! Customer referral link use cases (refer-a-friend, spec §8.3): create, get, rename,
//! search, delete, and a customer's links.
//!
//! A link's `id` is its key, as for partner links. A customer's default link is its `key`:
//! renaming the default link changes the customer's key, and it cannot be deleted (delete the
//! customer instead). Keys are unique across customers' keys and extra links, so a key names
//! one link and one referrer.

use crate::customer::{CustomerLookup, CustomerStatus};
use crate::customer_link::{AnyCustomerLink, CustomerLinkRowId, NewCustomerLink};
use crate::error::{CoreError, CoreResult};
use crate::ids::new_referral_key;
use crate::page::{Page, PageRequest};
use crate::program::Program;
use crate::service::conflict_error;
use crate::service::customers::{self, ReferrerRef, require_referral};
use crate::store::{Store, StoreError, UniqueField};
use crate::time::Timestamp;
use crate::validate::{FieldErrors, check_referral_key};

/// `POST /v1/customer_referral_links`, after wire parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkInput {
    /// Generated when absent (the seed 003 guide creates links without one).
    pub key: Option<String>,
    pub customer: ReferrerRef,
}

fn customer_lookup(r: &ReferrerRef) -> Option<(CustomerLookup, &'static str)> {
    match (&r.id, &r.key, &r.email) {
        (Some(id), _, _) => Some((CustomerLookup::Id(id.clone()), "id")),
        (None, Some(key), _) => Some((CustomerLookup::Key(key.clone()), "key")),
        (None, None, Some(email)) => Some((
            CustomerLookup::Email(email.trim().to_ascii_lowercase()),
            "email",
        )),
        (None, None, None) => None,
    }
}

/// A key taken by a customer (its default link) is taken for extra links too.
async fn key_free(store: &dyn Store, program: &Program, key: &str) -> CoreResult<()> {
    let taken = store
        .find_customer(program.id, &CustomerLookup::Key(key.to_string()))
        .await?
        .is_some()
        || store.find_customer_link(program.id, key).await?.is_some();
    if taken {
        return Err(conflict_error(UniqueField::LinkKey, ""));
    }
    Ok(())
}

pub async fn create(
    store: &dyn Store,
    program: &Program,
    input: LinkInput,
    now: Timestamp,
) -> CoreResult<AnyCustomerLink> {
    require_referral(program)?;
    let mut errors = FieldErrors::new();
    if let Some(key) = &input.key {
        check_referral_key(&mut errors, "key", key);
    }
    let lookup = customer_lookup(&input.customer);
    if lookup.is_none() {
        errors.add(
            "customer.id",
            "The customer.id field is required (or give customer.key or customer.email).",
        );
    }
    errors.into_result()?;
    let Some((lookup, by)) = lookup else {
        return Err(CoreError::field(
            "customer.id",
            "The customer.id field is required.",
        ));
    };
    let field = format!("customer.{by}");
    let owner = store
        .find_customer(program.id, &lookup)
        .await?
        .ok_or_else(|| CoreError::field(&field, format!("The selected {field} is invalid.")))?
        .customer;
    if owner.status != CustomerStatus::Active {
        return Err(CoreError::field(
            &field,
            format!("The selected {field} is {}.", owner.status.as_str()),
        ));
    }
    let key = input.key.unwrap_or_else(|| new_referral_key(now));
    key_free(store, program, &key).await?;
    let new = NewCustomerLink {
        program_id: program.id,
        customer: owner.row_id,
        key,
        created_at: now,
    };
    match store.insert_customer_link(new).await {
        Ok(link) => Ok(link.into()),
        Err(StoreError::Conflict(f)) => Err(conflict_error(f, "")),
        Err(StoreError::NotFound) => Err(CoreError::field(
            &field,
            format!("The selected {field} is invalid."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The live link a key names: a live customer's default link, else an extra link.
pub async fn find_by_key(
    store: &dyn Store,
    program: &Program,
    key: &str,
) -> CoreResult<Option<AnyCustomerLink>> {
    if let Some(view) = store
        .find_customer(program.id, &CustomerLookup::Key(key.to_string()))
        .await?
    {
        return Ok(Some(AnyCustomerLink {
            row_id: None,
            customer: view.customer.row_id,
            key: view.customer.key,
        }));
    }
    Ok(store
        .find_customer_link(program.id, key)
        .await?
        .map(Into::into))
}

pub async fn get(store: &dyn Store, program: &Program, id: &str) -> CoreResult<AnyCustomerLink> {
    require_referral(program)?;
    find_by_key(store, program, id)
        .await?
        .ok_or(CoreError::NotFound("Referral link"))
}

/// Gives a link a new key (and so a new id and URL); the default link's key is the
/// customer's.
pub async fn rename(
    store: &dyn Store,
    program: &Program,
    id: &str,
    new_key: Option<String>,
    now: Timestamp,
) -> CoreResult<AnyCustomerLink> {
    let link = get(store, program, id).await?;
    let mut errors = FieldErrors::new();
    match &new_key {
        None => errors.add("key", "The key field is required."),
        Some(key) => check_referral_key(&mut errors, "key", key),
    }
    errors.into_result()?;
    let new_key = new_key.unwrap_or_default();
    if new_key == link.key {
        return Ok(link);
    }
    key_free(store, program, &new_key).await?;
    match link.row_id {
        None => {
            let patch = crate::customer::CustomerPatch {
                key: Some(new_key),
                ..Default::default()
            };
            let view = customers::update(
                store,
                program,
                &CustomerLookup::Row(link.customer),
                patch,
                "",
                now,
            )
            .await?;
            Ok(AnyCustomerLink {
                row_id: None,
                customer: view.customer.row_id,
                key: view.customer.key,
            })
        }
        Some(row) => match store
            .rename_customer_link(program.id, row, &new_key, now)
            .await
        {
            Ok(l) => Ok(l.into()),
            Err(StoreError::Conflict(f)) => Err(conflict_error(f, "")),
            Err(StoreError::NotFound) => Err(CoreError::NotFound("Referral link")),
            Err(e) => Err(e.into()),
        },
    }
}

/// Deletes an extra link; the default link is refused with a 422 that says why.
pub async fn delete(
    store: &dyn Store,
    program: &Program,
    id: &str,
    now: Timestamp,
) -> CoreResult<()> {
    let link = get(store, program, id).await?;
    let Some(row) = link.row_id else {
        return Err(CoreError::field(
            "id",
            "The default referral link of a customer cannot be deleted; change its key instead.",
        ));
    };
    if store.delete_customer_link(program.id, row, now).await? {
        Ok(())
    } else {
        Err(CoreError::NotFound("Referral link"))
    }
}

/// Every live link of a customer: the default first, then the extra ones, oldest first.
async fn links_of(
    store: &dyn Store,
    program: &Program,
    customer: &crate::customer::Customer,
) -> CoreResult<Vec<AnyCustomerLink>> {
    let mut links = vec![AnyCustomerLink {
        row_id: None,
        customer: customer.row_id,
        key: customer.key.clone(),
    }];
    links.extend(
        store
            .list_customer_links(program.id, customer.row_id)
            .await?
            .into_iter()
            .map(AnyCustomerLink::from),
    );
    Ok(links)
}

/// One page of an in-memory list (a customer has a handful of links).
fn paged(links: Vec<AnyCustomerLink>, page: PageRequest) -> Page<AnyCustomerLink> {
    let mut links = links;
    if page.sort == crate::page::SortOrder::Desc {
        links.reverse();
    }
    let rows = links
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.fetch_limit() as usize)
        .collect();
    Page::from_rows(rows, page)
}

/// `:search` by `id`/`key` (the same thing), optionally one customer's.
pub async fn search(
    store: &dyn Store,
    program: &Program,
    key: Option<String>,
    customer: Option<ReferrerRef>,
    page: PageRequest,
) -> CoreResult<Page<AnyCustomerLink>> {
    require_referral(program)?;
    let owner = match customer.as_ref().and_then(customer_lookup) {
        None => None,
        Some((lookup, _)) => match store.find_customer(program.id, &lookup).await? {
            Some(v) => Some(v.customer),
            None => return Ok(Page::from_rows(Vec::new(), page)),
        },
    };
    let links = match (key, owner) {
        (None, None) => return Err(CoreError::field("key", "The key or id field is required.")),
        (Some(key), owner) => find_by_key(store, program, &key)
            .await?
            .into_iter()
            .filter(|l| owner.as_ref().is_none_or(|o| o.row_id == l.customer))
            .collect(),
        (None, Some(owner)) => links_of(store, program, &owner).await?,
    };
    Ok(paged(links, page))
}

/// `GET /v1/customers/{id}/referral_links`.
pub async fn of_customer(
    store: &dyn Store,
    program: &Program,
    ident: &str,
    page: PageRequest,
) -> CoreResult<Page<AnyCustomerLink>> {
    let view = customers::get(store, program, ident).await?;
    Ok(paged(links_of(store, program, &view.customer).await?, page))
}

/// Every live link of a customer (for its stats).
pub async fn all_of(
    store: &dyn Store,
    program: &Program,
    customer: &crate::customer::Customer,
) -> CoreResult<Vec<AnyCustomerLink>> {
    links_of(store, program, customer).await
}

/// Records that a referred customer signed up through an extra link (its own clicks and
/// sign-ups). Default links need nothing: the referrer says it.
pub async fn note_signup_link(
    store: &dyn Store,
    program: &Program,
    customer: crate::customer::CustomerRowId,
    link: Option<CustomerLinkRowId>,
) -> CoreResult<()> {
    if let Some(link) = link {
        store
            .set_customer_ref_link(program.id, customer, link)
            .await?;
    }
    Ok(())
}
