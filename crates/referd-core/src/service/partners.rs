//! Partner use cases (affiliate programs, spec §5): create (with a multi-tier parent), look
//! up, list, search, update, archive, restore and delete.

use crate::error::{CoreError, CoreResult};
use crate::ids::{ProgramType, new_partner_id, new_referral_key};
use crate::page::{Page, PageRequest};
use crate::partner::{
    NewPartner, Partner, PartnerFilter, PartnerLookup, PartnerPatch, PartnerSearch, PartnerStatus,
    PartnerView,
};
use crate::password::{check_password, hash_password};
use crate::program::Program;
use crate::service::conflict_error;
use crate::service::customers::validate_email;
use crate::store::{Store, StoreError, UniqueField};
use crate::time::Timestamp;
use crate::validate::{FieldErrors, check_identifier, check_referral_key, check_text, parse_email};

/// How many times a create is retried when a *generated* id or key collides.
const GENERATED_ID_ATTEMPTS: usize = 3;

/// A partner named by another request (`partner{…}`, `referring_partner{…}`): `id` wins over
/// `key`, and `key` over `email`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerRef {
    pub id: Option<String>,
    pub key: Option<String>,
    pub email: Option<String>,
}

impl PartnerRef {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The lookup it stands for, and the field name that gave it (for error messages).
    pub fn lookup(&self) -> Option<(PartnerLookup, &'static str)> {
        if let Some(id) = &self.id {
            Some((PartnerLookup::Id(id.clone()), "id"))
        } else if let Some(key) = &self.key {
            Some((PartnerLookup::Key(key.clone()), "key"))
        } else {
            self.email.as_ref().map(|e| {
                let email = parse_email(e).unwrap_or_else(|| e.trim().to_lowercase());
                (PartnerLookup::Email(email), "email")
            })
        }
    }
}

/// `POST /v1/partners`, after wire parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerInput {
    pub id: Option<String>,
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub password: Option<String>,
    pub tags: Option<Vec<String>>,
    /// Default `true`: a partner created through the API is approved unless told otherwise.
    pub approved: Option<bool>,
    pub tos: Option<bool>,
    pub referring_partner: Option<PartnerRef>,
}

/// An update as the client sent it (the password still in clear text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerUpdate {
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub password: Option<String>,
    pub tags: Option<Vec<String>>,
    pub approved: Option<bool>,
    pub tos: Option<bool>,
}

/// Partner endpoints only make sense for affiliate programs.
pub fn require_affiliate(program: &Program) -> CoreResult<()> {
    match program.program_type {
        ProgramType::Affiliate => Ok(()),
        other => Err(CoreError::WrongProgramType(other.as_str())),
    }
}

/// Tags as stored: trimmed, empty ones dropped, duplicates dropped, order kept.
pub fn check_tags(errors: &mut FieldErrors, field: &str, tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() || out.iter().any(|t| t == tag) {
            continue;
        }
        check_text(errors, &format!("{field}.{}", out.len()), tag);
        out.push(tag.to_string());
    }
    out
}

/// Creates a partner with its default referral link.
pub async fn create(
    store: &dyn Store,
    program: &Program,
    input: PartnerInput,
    now: Timestamp,
) -> CoreResult<PartnerView> {
    require_affiliate(program)?;
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
    if let Some(p) = &input.password {
        check_password(&mut errors, "password", p);
    }
    let tags = check_tags(
        &mut errors,
        "tags",
        input.tags.as_deref().unwrap_or_default(),
    );
    if input
        .referring_partner
        .as_ref()
        .is_some_and(PartnerRef::is_empty)
    {
        errors.add(
            "referring_partner",
            "The referring partner must have an id, a key or an email.",
        );
    }
    errors.into_result()?;
    let email = email.unwrap_or_default();

    let referring_partner = match &input.referring_partner {
        Some(r) => Some(resolve_parent(store, program, r, &input, &email).await?),
        None => None,
    };
    let password_hash = match input.password.clone() {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let approved = input.approved.unwrap_or(true);

    let mut attempt = 0;
    loop {
        attempt += 1;
        let new = NewPartner {
            program_id: program.id,
            id: input.id.clone().unwrap_or_else(|| new_partner_id(now)),
            key: input.key.clone().unwrap_or_else(|| new_referral_key(now)),
            email: email.clone(),
            name: input.name.clone(),
            surname: input.surname.clone(),
            password_hash: password_hash.clone(),
            tos: input.tos.unwrap_or(false),
            approved,
            status: if approved {
                PartnerStatus::Active
            } else {
                PartnerStatus::Pending
            },
            tags: tags.clone(),
            referring_partner: referring_partner.as_ref().map(|p| p.row_id),
            created_at: now,
        };
        match store.insert_partner(new).await {
            Ok(partner) => {
                return find(store, program, &PartnerLookup::Row(partner.row_id)).await;
            }
            Err(StoreError::Conflict(field)) => {
                let generated = match field {
                    UniqueField::PartnerId => input.id.is_none(),
                    UniqueField::LinkKey => input.key.is_none(),
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

/// The parent of a multi-tier partner: it must exist, not be archived, and not be the new
/// partner itself.
async fn resolve_parent(
    store: &dyn Store,
    program: &Program,
    r: &PartnerRef,
    input: &PartnerInput,
    email: &str,
) -> CoreResult<Partner> {
    let Some((lookup, by)) = r.lookup() else {
        return Err(CoreError::field(
            "referring_partner",
            "The referring partner must have an id, a key or an email.",
        ));
    };
    let field = format!("referring_partner.{by}");
    let parent = store
        .find_partner_row(program.id, &lookup)
        .await?
        .ok_or_else(|| CoreError::field(&field, format!("The selected {field} is invalid.")))?;
    if parent.status == PartnerStatus::Archived {
        return Err(CoreError::field(
            &field,
            format!("The selected {field} is archived."),
        ));
    }
    let key_is_parents = match &input.key {
        Some(key) => store
            .find_partner_link(program.id, key)
            .await?
            .is_some_and(|l| l.partner == parent.row_id),
        None => false,
    };
    let same =
        input.id.as_deref() == Some(parent.id.as_str()) || key_is_parents || parent.email == email;
    if same {
        return Err(CoreError::field(&field, "A partner cannot refer itself."));
    }
    Ok(parent)
}

/// A live partner by the identifier in a path (`id`, else any link key, else email).
pub async fn get(store: &dyn Store, program: &Program, ident: &str) -> CoreResult<PartnerView> {
    find(
        store,
        program,
        &PartnerLookup::AnyIdentifier(ident.to_string()),
    )
    .await
}

pub async fn find(
    store: &dyn Store,
    program: &Program,
    lookup: &PartnerLookup,
) -> CoreResult<PartnerView> {
    require_affiliate(program)?;
    store
        .find_partner(program.id, lookup)
        .await?
        .ok_or(CoreError::NotFound("Partner"))
}

pub async fn list(
    store: &dyn Store,
    program: &Program,
    filter: &PartnerFilter,
    page: PageRequest,
) -> CoreResult<Page<Partner>> {
    require_affiliate(program)?;
    let rows = store.list_partners(program.id, filter, page).await?;
    Ok(Page::from_rows(rows, page))
}

pub async fn search(
    store: &dyn Store,
    program: &Program,
    search: PartnerSearch,
    page: PageRequest,
) -> CoreResult<Page<Partner>> {
    require_affiliate(program)?;
    if search.is_empty() {
        return Err(CoreError::field(
            "id",
            "One of the id, key, email or name fields is required.",
        ));
    }
    let rows = store.search_partners(program.id, &search, page).await?;
    Ok(Page::from_rows(rows, page))
}

/// Validates an update and turns it into a patch (hashing a new password).
async fn patch_of(update: PartnerUpdate, prefix: &str) -> CoreResult<PartnerPatch> {
    let mut errors = FieldErrors::new();
    let f = |name: &str| format!("{prefix}{name}");
    if let Some(key) = &update.key {
        check_referral_key(&mut errors, &f("key"), key);
    }
    let email = match &update.email {
        Some(raw) => validate_email(&mut errors, &f("email"), raw),
        None => None,
    };
    if let Some(v) = &update.name {
        check_text(&mut errors, &f("name"), v);
    }
    if let Some(v) = &update.surname {
        check_text(&mut errors, &f("surname"), v);
    }
    if let Some(p) = &update.password {
        check_password(&mut errors, &f("password"), p);
    }
    let tags = update
        .tags
        .as_ref()
        .map(|t| check_tags(&mut errors, &f("tags"), t));
    errors.into_result()?;
    let password_hash = match update.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    Ok(PartnerPatch {
        key: update.key,
        email,
        name: update.name,
        surname: update.surname,
        password_hash,
        tags,
        approved: update.approved,
        tos: update.tos,
    })
}

/// Updates a live partner; an empty update changes nothing and answers the partner as is.
pub async fn update(
    store: &dyn Store,
    program: &Program,
    lookup: &PartnerLookup,
    update: PartnerUpdate,
    prefix: &str,
    now: Timestamp,
) -> CoreResult<PartnerView> {
    let current = find(store, program, lookup).await?;
    let patch = patch_of(update, prefix).await?;
    if patch.is_empty() {
        return Ok(current);
    }
    match store
        .update_partner(program.id, current.partner.row_id, &patch, now)
        .await
    {
        Ok(p) => find(store, program, &PartnerLookup::Row(p.row_id)).await,
        Err(StoreError::Conflict(field)) => Err(conflict_error(field, prefix)),
        Err(StoreError::NotFound) => Err(CoreError::NotFound("Partner")),
        Err(e) => Err(e.into()),
    }
}

/// The status changes behind archive, revoke-archive and delete (shared with customers).
pub use crate::service::customers::Transition;

/// Archive: active or pending → archived. Restore: archived → active when approved, else
/// pending. Delete: any live status → deleted.
pub async fn transition(
    store: &dyn Store,
    program: &Program,
    lookup: &PartnerLookup,
    transition: Transition,
    now: Timestamp,
) -> CoreResult<()> {
    use PartnerStatus::{Active, Archived, Deleted, Pending};
    let current = find(store, program, lookup).await?.partner;
    let restored = if current.approved { Active } else { Pending };
    let (from, to): (&[PartnerStatus], _) = match transition {
        Transition::Archive => (&[Active, Pending], Archived),
        Transition::Restore => (&[Archived], restored),
        Transition::Delete => (&[Active, Pending, Archived], Deleted),
    };
    let changed = store
        .set_partner_status(program.id, current.row_id, from, to, now)
        .await?;
    match (changed, transition) {
        (true, _) => Ok(()),
        (false, Transition::Delete) => Err(CoreError::NotFound("Partner")),
        (false, _) => Err(CoreError::ActionFailed),
    }
}
