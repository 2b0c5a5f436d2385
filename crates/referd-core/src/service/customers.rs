//! Refer-a-friend customer use cases: create (referring or referred), look up, list,
//! search, update, archive, restore and delete.

use crate::customer::{
    Customer, CustomerFilter, CustomerLookup, CustomerPatch, CustomerRowId, CustomerSearch,
    CustomerStatus, CustomerView, NewCustomer, ReferrerView,
};
use crate::error::{CoreError, CoreResult};
use crate::ids::{ProgramType, new_customer_id, new_referral_key};
use crate::page::{Page, PageRequest};
use crate::program::Program;
use crate::service::conflict_error;
use crate::store::{Store, StoreError, UniqueField};
use crate::time::Timestamp;
use crate::validate::{
    FieldErrors, check_identifier, check_referral_key, check_text, parse_date, parse_email,
};

/// How many times a create is retried when a *generated* id or key collides.
const GENERATED_ID_ATTEMPTS: usize = 3;

/// The referrer named on a create: `id` wins over `key`, and `key` over `email` (the PHP SDK
/// may send the referrer as a whole customer model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferrerRef {
    pub id: Option<String>,
    pub key: Option<String>,
    pub email: Option<String>,
}

/// `POST /v1/customers` for a refer-a-friend program, after wire parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerInput {
    pub id: Option<String>,
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub date_of_birth: Option<String>,
    pub referring_customer: Option<ReferrerRef>,
}

/// Refer-a-friend endpoints only make sense for refer-a-friend programs.
pub fn require_referral(program: &Program) -> CoreResult<()> {
    match program.program_type {
        ProgramType::Referral => Ok(()),
        other => Err(CoreError::WrongProgramType(other.as_str())),
    }
}

pub(crate) fn validate_email(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<String> {
    let parsed = parse_email(raw);
    if parsed.is_none() {
        errors.add(
            field,
            format!("The {field} field must be a valid email address."),
        );
    }
    parsed
}

fn validate_date_of_birth(errors: &mut FieldErrors, field: &str, raw: &str) {
    if parse_date(raw).is_none() {
        errors.add(
            field,
            format!("The {field} field must match the format Y-m-d."),
        );
    }
}

/// Creates a referring customer, or a referred one when `referring_customer` is given.
pub async fn create(
    store: &dyn Store,
    program: &Program,
    input: CustomerInput,
    now: Timestamp,
) -> CoreResult<CustomerView> {
    require_referral(program)?;
    let mut errors = FieldErrors::new();
    if let Some(id) = &input.id {
        check_identifier(&mut errors, "id", id);
    }
    if let Some(key) = &input.key {
        check_referral_key(&mut errors, "key", key);
    }
    let email = match &input.email {
        None => {
            errors.add("email", "The email field is required.");
            None
        }
        Some(raw) => validate_email(&mut errors, "email", raw),
    };
    for (field, value) in [("name", &input.name), ("surname", &input.surname)] {
        if let Some(v) = value {
            check_text(&mut errors, field, v);
        }
    }
    if let Some(dob) = &input.date_of_birth {
        validate_date_of_birth(&mut errors, "metadata.date_of_birth", dob);
    }
    if let Some(r) = &input.referring_customer
        && r.id.is_none()
        && r.key.is_none()
        && r.email.is_none()
    {
        errors.add(
            "referring_customer",
            "The referring customer must have an id or a key.",
        );
    }
    errors.into_result()?;

    // A key names one link: an extra link's key is taken for customers too.
    if let Some(key) = &input.key
        && store.find_customer_link(program.id, key).await?.is_some()
    {
        return Err(conflict_error(UniqueField::CustomerKey, ""));
    }
    let (referrer, via_link) = match &input.referring_customer {
        Some(r) => {
            let (c, link) = resolve_referrer(store, program, r, &input, email.as_deref()).await?;
            (Some(c), link)
        }
        None => (None, None),
    };

    let mut attempt = 0;
    loop {
        attempt += 1;
        let new = NewCustomer {
            program_id: program.id,
            id: input.id.clone().unwrap_or_else(|| new_customer_id(now)),
            key: input.key.clone().unwrap_or_else(|| new_referral_key(now)),
            email: email.clone(),
            name: input.name.clone(),
            surname: input.surname.clone(),
            date_of_birth: input.date_of_birth.clone(),
            referrer: referrer.as_ref().map(|r| r.row_id),
            created_at: now,
        };
        match store.insert_customer(new).await {
            Ok(customer) => {
                // An extra link's own sign-ups (docs/tracking.md); not in the insert's
                // transaction (creates go through the group-commit writer).
                super::customer_links::note_signup_link(store, program, customer.row_id, via_link)
                    .await?;
                if let Some(referrer) = customer.referrer {
                    signup_rewards(store, program, &customer, referrer, now).await?;
                }
                return view_of_new(store, program, customer).await;
            }
            Err(StoreError::Conflict(field)) => {
                let generated = match field {
                    UniqueField::CustomerId => input.id.is_none(),
                    UniqueField::CustomerKey => input.key.is_none(),
                    _ => false,
                };
                if !(generated && attempt < GENERATED_ID_ATTEMPTS) {
                    return Err(conflict_error(field, ""));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The `signup` rewards of the rules in force, for both sides of a new referral. Written
/// right after the customer (not in its insert transaction: refer-a-friend creates go through
/// the group-commit writer); a failure here answers an error although the customer exists,
/// and is logged by the API.
async fn signup_rewards(
    store: &dyn Store,
    program: &Program,
    customer: &Customer,
    referrer: CustomerRowId,
    now: Timestamp,
) -> CoreResult<()> {
    use crate::ledger::{EntryKind, Holder, NewEntry};
    use crate::money::Currency;
    use crate::rules::eval::{Beneficiary, LineKind, ReferralEvent, Side, Unit, referral_rewards};

    let Some(in_force) = crate::service::rules::in_force(store, program).await? else {
        return Ok(());
    };
    let (version, set) = &*in_force;
    let Some(raf) = &set.referral else {
        return Ok(());
    };
    let holder = |side: Side| match side {
        Side::Referring => Holder::Customer(referrer),
        Side::Referred => Holder::Customer(customer.row_id),
    };
    let mut prior = std::collections::HashMap::new();
    for (side, list, name) in [
        (Side::Referring, &raf.referring, "referring"),
        (Side::Referred, &raf.referred, "referred"),
    ] {
        for (i, r) in list.iter().enumerate() {
            if r.max_rewards.is_some() {
                let path = format!("referral.{name}.{i}");
                prior.insert(
                    (side, i),
                    store
                        .count_holder_rewards(program.id, holder(side), &path)
                        .await?,
                );
            }
        }
    }
    let currency = Currency::parse(&program.settings.currency)
        .unwrap_or_else(|| Currency::parse("USD").expect("USD"));
    let lines = referral_rewards(
        set,
        &currency,
        &ReferralEvent::Signup { at: now },
        &|s, i| prior.get(&(s, i)).copied().unwrap_or(0),
    );
    for line in lines {
        let side = if line.beneficiary == Beneficiary::Referring {
            Side::Referring
        } else {
            Side::Referred
        };
        let entry = NewEntry {
            holder: holder(side),
            kind: EntryKind::Reward,
            reward_kind: Some(match line.kind {
                LineKind::Referral(k) => k.as_str().to_string(),
                LineKind::Commission => "commission".to_string(),
            }),
            beneficiary: Some(
                if side == Side::Referring {
                    "referring"
                } else {
                    "referred"
                }
                .to_string(),
            ),
            amount: line.amount,
            unit: match &line.unit {
                Unit::Currency(c) => c.as_str().to_string(),
                Unit::Percent => "%".to_string(),
            },
            rule_version: Some(version.version),
            rule_path: Some(line.rule.clone()),
            available_at: now,
            note: Some("signup".into()),
        };
        store.append_entry(program.id, entry, None, now).await?;
    }
    Ok(())
}

/// Finds the active customer a new one is referred by, and the extra link when the key was
/// one (a key names a customer's default link or one of its extra links); refuses
/// self-referral (same id, key or email as the new customer).
async fn resolve_referrer(
    store: &dyn Store,
    program: &Program,
    r: &ReferrerRef,
    input: &CustomerInput,
    email: Option<&str>,
) -> CoreResult<(Customer, Option<crate::customer_link::CustomerLinkRowId>)> {
    let (field, lookup) = match (&r.id, &r.key, &r.email) {
        (Some(id), _, _) => ("referring_customer.id", CustomerLookup::Id(id.clone())),
        (None, Some(key), _) => ("referring_customer.key", CustomerLookup::Key(key.clone())),
        (None, None, Some(email)) => (
            "referring_customer.email",
            CustomerLookup::Email(parse_email(email).unwrap_or_else(|| email.clone())),
        ),
        (None, None, None) => {
            return Err(CoreError::field(
                "referring_customer",
                "The referring customer must have an id or a key.",
            ));
        }
    };
    let invalid = || CoreError::field(field, format!("The selected {field} is invalid."));
    let (view, via_link) = match store.find_customer(program.id, &lookup).await? {
        Some(view) => (view, None),
        None => {
            let link = match &lookup {
                CustomerLookup::Key(key) => store.find_customer_link(program.id, key).await?,
                _ => None,
            }
            .ok_or_else(invalid)?;
            let owner = store
                .find_customer(program.id, &CustomerLookup::Row(link.customer))
                .await?
                .ok_or_else(invalid)?;
            (owner, Some(link.row_id))
        }
    };
    let referrer = view.customer;
    if referrer.status != CustomerStatus::Active {
        return Err(CoreError::field(
            field,
            format!("The selected {field} is {}.", referrer.status.as_str()),
        ));
    }
    let same_person = input.id.as_deref() == Some(referrer.id.as_str())
        || input.key.as_deref() == Some(referrer.key.as_str())
        || (email.is_some() && email == referrer.email.as_deref());
    if same_person {
        return Err(CoreError::field(field, "A customer cannot refer itself."));
    }
    Ok((referrer, via_link))
}

/// The full object of a customer just created: no referrals yet, and its referrer (with the
/// referrer's updated count) read back when there is one.
async fn view_of_new(
    store: &dyn Store,
    program: &Program,
    customer: Customer,
) -> CoreResult<CustomerView> {
    let referrer = match customer.referrer {
        None => None,
        Some(row) => store
            .find_customer(program.id, &CustomerLookup::Row(row))
            .await?
            .map(|v| {
                Box::new(ReferrerView {
                    customer: v.customer,
                    referrals_count: v.referrals_count,
                })
            }),
    };
    Ok(CustomerView {
        customer,
        referrals_count: 0,
        referrer,
    })
}

/// A live customer by the identifier in a path (`id`, else `key`, else `email`).
pub async fn get(store: &dyn Store, program: &Program, ident: &str) -> CoreResult<CustomerView> {
    find(
        store,
        program,
        &CustomerLookup::AnyIdentifier(ident.to_string()),
    )
    .await
}

/// A live customer by an explicit lookup.
pub async fn find(
    store: &dyn Store,
    program: &Program,
    lookup: &CustomerLookup,
) -> CoreResult<CustomerView> {
    require_referral(program)?;
    store
        .find_customer(program.id, lookup)
        .await?
        .ok_or(CoreError::NotFound("Customer"))
}

pub async fn list(
    store: &dyn Store,
    program: &Program,
    filter: &CustomerFilter,
    page: PageRequest,
) -> CoreResult<Page<Customer>> {
    require_referral(program)?;
    let rows = store.list_customers(program.id, filter, page).await?;
    Ok(Page::from_rows(rows, page))
}

pub async fn search(
    store: &dyn Store,
    program: &Program,
    mut search: CustomerSearch,
    page: PageRequest,
) -> CoreResult<Page<Customer>> {
    require_referral(program)?;
    if search.is_empty() {
        return Err(CoreError::field(
            "id",
            "One of the id, key or email fields is required.",
        ));
    }
    // Emails are stored normalised; an unparsable one simply matches nothing.
    if let Some(email) = &search.email {
        search.email = Some(parse_email(email).unwrap_or_else(|| email.clone()));
    }
    let rows = store.search_customers(program.id, &search, page).await?;
    Ok(Page::from_rows(rows, page))
}

pub async fn referrals(
    store: &dyn Store,
    program: &Program,
    ident: &str,
) -> CoreResult<Vec<Customer>> {
    let view = get(store, program, ident).await?;
    Ok(store
        .list_referrals(program.id, view.customer.row_id)
        .await?)
}

/// Validates a patch; field names carry `prefix` (`update.` for the wrapped form).
pub fn validate_patch(patch: &mut CustomerPatch, prefix: &str) -> CoreResult<()> {
    let mut errors = FieldErrors::new();
    if let Some(key) = &patch.key {
        check_referral_key(&mut errors, &format!("{prefix}key"), key);
    }
    if let Some(raw) = &patch.email {
        patch.email = validate_email(&mut errors, &format!("{prefix}email"), raw);
    }
    if let Some(v) = &patch.name {
        check_text(&mut errors, &format!("{prefix}name"), v);
    }
    if let Some(v) = &patch.surname {
        check_text(&mut errors, &format!("{prefix}surname"), v);
    }
    if let Some(dob) = &patch.date_of_birth {
        validate_date_of_birth(&mut errors, &format!("{prefix}metadata.date_of_birth"), dob);
    }
    Ok(errors.into_result()?)
}

/// Updates a live customer; an empty patch changes nothing and answers the customer as is.
pub async fn update(
    store: &dyn Store,
    program: &Program,
    lookup: &CustomerLookup,
    mut patch: CustomerPatch,
    prefix: &str,
    now: Timestamp,
) -> CoreResult<CustomerView> {
    let current = find(store, program, lookup).await?;
    validate_patch(&mut patch, prefix)?;
    if patch.is_empty() {
        return Ok(current);
    }
    if let Some(key) = &patch.key
        && store.find_customer_link(program.id, key).await?.is_some()
    {
        return Err(conflict_error(UniqueField::CustomerKey, prefix));
    }
    match store
        .update_customer(program.id, current.customer.row_id, &patch, now)
        .await
    {
        // An update changes neither the customer's referrals nor its referrer: the view is
        // the stored row with what was already read.
        Ok(customer) => Ok(CustomerView {
            customer,
            ..current
        }),
        Err(StoreError::Conflict(field)) => Err(conflict_error(field, prefix)),
        Err(StoreError::NotFound) => Err(CoreError::NotFound("Customer")),
        Err(e) => Err(e.into()),
    }
}

/// The status transitions behind archive, revoke-archive and delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Archive,
    Restore,
    Delete,
}

pub async fn transition(
    store: &dyn Store,
    program: &Program,
    lookup: &CustomerLookup,
    transition: Transition,
    now: Timestamp,
) -> CoreResult<()> {
    let current = find(store, program, lookup).await?;
    apply_transition(store, program, current.customer.row_id, transition, now).await
}

/// The customer status machine, shared by both customer flavours: archive (active →
/// archived), restore (archived → active), delete (either → the deleted tombstone). The
/// check and the change are one store step.
pub(crate) async fn apply_transition(
    store: &dyn Store,
    program: &Program,
    customer: CustomerRowId,
    transition: Transition,
    now: Timestamp,
) -> CoreResult<()> {
    use CustomerStatus::{Active, Archived, Deleted};
    let (from, to): (&[CustomerStatus], _) = match transition {
        Transition::Archive => (&[Active], Archived),
        Transition::Restore => (&[Archived], Active),
        Transition::Delete => (&[Active, Archived], Deleted),
    };
    let changed = store
        .set_customer_status(program.id, customer, from, to, now)
        .await?;
    match (changed, transition) {
        // A deleted customer's extra referral links go with it, freeing their keys. A crash
        // between the two writes leaves links whose keys stay taken, but no lookup finds
        // them: link lookups require a live owner.
        (true, Transition::Delete) => {
            store
                .delete_customer_links_of(program.id, customer, now)
                .await?;
            Ok(())
        }
        (true, _) => Ok(()),
        // Deleted in between by another request: for the client it is simply gone.
        (false, Transition::Delete) => Err(CoreError::NotFound("Customer")),
        (false, _) => Err(CoreError::ActionFailed),
    }
}
