//! Partner referral link use cases (spec §8.2): the usable domains, create, get, rename,
//! search, delete, and a partner's links.
//!
//! A link's `id` is its key (as in every Partnero example), so renaming a link changes its
//! id. Every partner has one default link, created with it and renamed through the partner's
//! `update.key` or here; it cannot be deleted (delete the partner instead).

use crate::error::{CoreError, CoreResult};
use crate::page::{Page, PageRequest};
use crate::partner::{
    NewPartnerLink, PartnerLink, PartnerLinkSearch, PartnerLookup, PartnerStatus,
};
use crate::program::Program;
use crate::service::conflict_error;
use crate::service::partners::{self, PartnerRef, require_affiliate};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::validate::{FieldErrors, check_referral_key};

/// A domain links can be built on. referd builds links on the program's website only, so
/// there is one, with `id: null` as Partnero shows the default domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDomain {
    pub domain: String,
    /// The link base without the key (`https://site.com?aff=`).
    pub url: String,
}

/// The program's link domains (none when it has no website to build links on).
pub fn domains(program: &Program) -> CoreResult<Vec<LinkDomain>> {
    require_affiliate(program)?;
    let (Some(website), Some(url)) = (program.website.as_deref(), program.link_base()) else {
        return Ok(Vec::new());
    };
    let domain = website
        .split_once("://")
        .map_or(website, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_string();
    Ok(vec![LinkDomain { domain, url }])
}

/// `POST /v1/partner_referral_links`, after wire parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkInput {
    pub key: Option<String>,
    pub partner: PartnerRef,
    /// `domain_id` from `:domains`; only the default domain (`null`) exists.
    pub domain_id: Option<String>,
}

pub async fn create(
    store: &dyn Store,
    program: &Program,
    input: LinkInput,
    now: Timestamp,
) -> CoreResult<PartnerLink> {
    require_affiliate(program)?;
    let mut errors = FieldErrors::new();
    match &input.key {
        None => errors.add("key", "The key field is required."),
        Some(key) => check_referral_key(&mut errors, "key", key),
    }
    if input.partner.is_empty() {
        errors.add(
            "partner.id",
            "The partner.id field is required (or give partner.key or partner.email).",
        );
    }
    if input.domain_id.is_some() {
        errors.add(
            "domain_id",
            "The selected domain_id is invalid: only the program's website (domain_id null) is available.",
        );
    }
    errors.into_result()?;
    let Some((lookup, by)) = input.partner.lookup() else {
        return Err(CoreError::field(
            "partner.id",
            "The partner.id field is required.",
        ));
    };
    let field = format!("partner.{by}");
    let partner = store
        .find_partner_row(program.id, &lookup)
        .await?
        .ok_or_else(|| CoreError::field(&field, format!("The selected {field} is invalid.")))?;
    if partner.status == PartnerStatus::Archived {
        return Err(CoreError::field(
            &field,
            format!("The selected {field} is archived."),
        ));
    }
    let new = NewPartnerLink {
        program_id: program.id,
        partner: partner.row_id,
        key: input.key.unwrap_or_default(),
        created_at: now,
    };
    match store.insert_partner_link(new).await {
        Ok(link) => Ok(link),
        Err(StoreError::Conflict(f)) => Err(conflict_error(f, "")),
        // The partner was deleted between the lookup and the insert.
        Err(StoreError::NotFound) => Err(CoreError::field(
            &field,
            format!("The selected {field} is invalid."),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(store: &dyn Store, program: &Program, id: &str) -> CoreResult<PartnerLink> {
    require_affiliate(program)?;
    store
        .find_partner_link(program.id, id)
        .await?
        .ok_or(CoreError::NotFound("Referral link"))
}

/// Gives a link a new key (and so a new id and URL).
pub async fn rename(
    store: &dyn Store,
    program: &Program,
    id: &str,
    new_key: Option<String>,
    now: Timestamp,
) -> CoreResult<PartnerLink> {
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
    match store
        .rename_partner_link(program.id, link.row_id, &new_key, now)
        .await
    {
        Ok(link) => Ok(link),
        Err(StoreError::Conflict(f)) => Err(conflict_error(f, "")),
        Err(StoreError::NotFound) => Err(CoreError::NotFound("Referral link")),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an additional link; the default link is refused with a 422 that says why.
pub async fn delete(
    store: &dyn Store,
    program: &Program,
    id: &str,
    now: Timestamp,
) -> CoreResult<()> {
    let link = get(store, program, id).await?;
    if link.is_default {
        return Err(CoreError::field(
            "id",
            "The default referral link of a partner cannot be deleted; change its key instead.",
        ));
    }
    if store
        .delete_partner_link(program.id, link.row_id, now)
        .await?
    {
        Ok(())
    } else {
        Err(CoreError::NotFound("Referral link"))
    }
}

/// `:search` by `id`/`key` (the same thing), optionally one partner's.
pub async fn search(
    store: &dyn Store,
    program: &Program,
    key: Option<String>,
    partner: Option<PartnerRef>,
    page: PageRequest,
) -> CoreResult<Page<PartnerLink>> {
    require_affiliate(program)?;
    let partner = match partner.as_ref().and_then(PartnerRef::lookup) {
        None => None,
        Some((lookup, _)) => match store.find_partner_row(program.id, &lookup).await? {
            Some(p) => Some(p.row_id),
            None => return Ok(Page::from_rows(Vec::new(), page)),
        },
    };
    if key.is_none() && partner.is_none() {
        return Err(CoreError::field("key", "The key or id field is required."));
    }
    let search = PartnerLinkSearch { key, partner };
    let rows = store
        .search_partner_links(program.id, &search, page)
        .await?;
    Ok(Page::from_rows(rows, page))
}

/// `GET /v1/partners/{id}/referral_links`: the partner's live links, default first.
pub async fn of_partner(
    store: &dyn Store,
    program: &Program,
    ident: &str,
    page: PageRequest,
) -> CoreResult<Page<PartnerLink>> {
    let partner = partners::find(
        store,
        program,
        &PartnerLookup::AnyIdentifier(ident.to_string()),
    )
    .await?;
    let search = PartnerLinkSearch {
        key: None,
        partner: Some(partner.partner.row_id),
    };
    let rows = store
        .search_partner_links(program.id, &search, page)
        .await?;
    Ok(Page::from_rows(rows, page))
}
