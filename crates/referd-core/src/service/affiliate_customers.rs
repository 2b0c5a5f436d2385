//! Affiliate customer use cases (spec §6.1–6.10, seed 001): create attributed to a partner
//! (and optionally to one of its links), look up, list (optionally one partner's), search,
//! update, archive, restore and delete.

use crate::affiliate::{
    AffiliateCustomer, AffiliateCustomerFilter, AffiliateCustomerPatch, NewAffiliateCustomer,
};
use crate::customer::{CustomerLookup, CustomerSearch};
use crate::error::{CoreError, CoreResult};
use crate::page::{Page, PageRequest};
use crate::partner::{LinkRowId, Partner, PartnerStatus};
use crate::program::{LinkFormat, Program};
use crate::service::conflict_error;
use crate::service::customers::{Transition, apply_transition, validate_email};
use crate::service::partners::{PartnerRef, check_tags, require_affiliate};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::validate::{FieldErrors, check_identifier, check_text, parse_email};

/// `POST /v1/customers` for an affiliate program, after wire parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AffiliateCustomerInput {
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub tags: Option<Vec<String>>,
    pub partner: PartnerRef,
    /// `options.referral_url`: the partner link the customer came through.
    pub referral_url: Option<String>,
}

/// Creates a customer attributed to a partner. An unknown or archived partner is a 400, as
/// Partnero answers; a missing partner is a 422.
pub async fn create(
    store: &dyn Store,
    program: &Program,
    input: AffiliateCustomerInput,
    now: Timestamp,
) -> CoreResult<AffiliateCustomer> {
    require_affiliate(program)?;
    let mut errors = FieldErrors::new();
    match &input.key {
        None => errors.add("key", "The key field is required."),
        Some(key) => check_identifier(&mut errors, "key", key),
    }
    let email = match &input.email {
        Some(raw) => validate_email(&mut errors, "email", raw),
        None => None,
    };
    for (field, value) in [("name", &input.name), ("surname", &input.surname)] {
        if let Some(v) = value {
            check_text(&mut errors, field, v);
        }
    }
    let tags = check_tags(
        &mut errors,
        "tags",
        input.tags.as_deref().unwrap_or_default(),
    );
    if input.partner.is_empty() {
        errors.add(
            "partner.key",
            "The partner.key field is required (or give partner.id or partner.email).",
        );
    }
    errors.into_result()?;

    let partner = resolve_partner(store, program, &input.partner).await?;
    if partner.status == PartnerStatus::Archived {
        return Err(CoreError::BadRequest(
            "The partner is archived: new customers cannot be attributed to it.".into(),
        ));
    }
    let link = match &input.referral_url {
        Some(url) => Some(link_of_url(store, program, &partner, url).await?),
        None => None,
    };
    let new = NewAffiliateCustomer {
        program_id: program.id,
        key: input.key.unwrap_or_default(),
        email,
        name: input.name,
        surname: input.surname,
        tags,
        partner: partner.row_id,
        link,
        created_at: now,
    };
    match store.insert_affiliate_customer(new).await {
        Ok(c) => Ok(c),
        Err(StoreError::Conflict(field)) => Err(conflict_error(field, "")),
        // The partner was deleted between the lookup and the insert.
        Err(StoreError::NotFound) => Err(CoreError::BadRequest(
            "Invalid partner: the partner no longer exists.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The partner a create names; unknown is a 400 that says what was looked for. Its counts
/// are not read: they grow with the partner's customers, and a create needs none of them.
async fn resolve_partner(
    store: &dyn Store,
    program: &Program,
    r: &PartnerRef,
) -> CoreResult<Partner> {
    let Some((lookup, by)) = r.lookup() else {
        return Err(CoreError::field(
            "partner.key",
            "The partner.key field is required.",
        ));
    };
    store
        .find_partner_row(program.id, &lookup)
        .await?
        .ok_or_else(|| {
            CoreError::BadRequest(format!(
                "Invalid partner: no partner of this program has this partner.{by}."
            ))
        })
}

/// The key a referral URL carries: the value of the program's parameter in the query, or
/// for path-style links the segment after it. Both forms are tried, so a link shared before
/// the program changed its format still attributes.
pub fn key_in_url(program: &Program, url: &str) -> Option<String> {
    let param = program.referral_param();
    let without_fragment = url.split('#').next().unwrap_or(url);
    let (before_query, query) = match without_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (without_fragment, None),
    };
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(name, value)| name == param && !value.is_empty())
            .map(|(_, value)| value.into_owned())
    });
    let from_path = || {
        let path = before_query
            .split_once("://")
            .map_or(before_query, |(_, rest)| rest);
        let mut segments = path.split('/').skip(1);
        segments.find(|s| *s == param)?;
        segments
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match program.settings.link_format {
        LinkFormat::Query => from_query.or_else(from_path),
        LinkFormat::Path => from_path().or(from_query),
    }
}

/// The partner's link that `url` is, or a 422 on `options.referral_url`.
async fn link_of_url(
    store: &dyn Store,
    program: &Program,
    partner: &Partner,
    url: &str,
) -> CoreResult<LinkRowId> {
    let invalid = || {
        CoreError::field(
            "options.referral_url",
            "The options.referral_url is not one of the partner's referral links.",
        )
    };
    let key = key_in_url(program, url).ok_or_else(invalid)?;
    let link = store
        .find_partner_link(program.id, &key)
        .await?
        .filter(|l| l.partner == partner.row_id)
        .ok_or_else(invalid)?;
    Ok(link.row_id)
}

/// A live customer by the identifier in a path (its key, else its email).
pub async fn get(
    store: &dyn Store,
    program: &Program,
    ident: &str,
) -> CoreResult<AffiliateCustomer> {
    find(
        store,
        program,
        &CustomerLookup::AnyIdentifier(ident.to_string()),
    )
    .await
}

pub async fn find(
    store: &dyn Store,
    program: &Program,
    lookup: &CustomerLookup,
) -> CoreResult<AffiliateCustomer> {
    require_affiliate(program)?;
    store
        .find_affiliate_customer(program.id, lookup)
        .await?
        .ok_or(CoreError::NotFound("Customer"))
}

/// Active customers, or one partner's (named by any of its link keys, or its email or id).
/// A partner filter that names no partner lists nothing.
pub async fn list(
    store: &dyn Store,
    program: &Program,
    partner: &PartnerRef,
    page: PageRequest,
) -> CoreResult<Page<AffiliateCustomer>> {
    require_affiliate(program)?;
    let filter = match partner.lookup() {
        None => AffiliateCustomerFilter::default(),
        Some((lookup, _)) => match store.find_partner_row(program.id, &lookup).await? {
            Some(p) => AffiliateCustomerFilter {
                partner: Some(p.row_id),
            },
            None => return Ok(Page::from_rows(Vec::new(), page)),
        },
    };
    let rows = store
        .list_affiliate_customers(program.id, &filter, page)
        .await?;
    Ok(Page::from_rows(rows, page))
}

pub async fn search(
    store: &dyn Store,
    program: &Program,
    mut search: CustomerSearch,
    page: PageRequest,
) -> CoreResult<Page<AffiliateCustomer>> {
    require_affiliate(program)?;
    if search.is_empty() {
        return Err(CoreError::field(
            "key",
            "One of the key, id or email fields is required.",
        ));
    }
    if let Some(email) = &search.email {
        search.email = Some(parse_email(email).unwrap_or_else(|| email.clone()));
    }
    let rows = store
        .search_affiliate_customers(program.id, &search, page)
        .await?;
    Ok(Page::from_rows(rows, page))
}

/// Validates a patch; field names carry `prefix` (`update.` for the wrapped form).
fn validate_patch(patch: &mut AffiliateCustomerPatch, prefix: &str) -> CoreResult<()> {
    let mut errors = FieldErrors::new();
    let f = |name: &str| format!("{prefix}{name}");
    if let Some(key) = &patch.key {
        check_identifier(&mut errors, &f("key"), key);
    }
    if let Some(raw) = &patch.email {
        patch.email = validate_email(&mut errors, &f("email"), raw);
    }
    if let Some(v) = &patch.name {
        check_text(&mut errors, &f("name"), v);
    }
    if let Some(v) = &patch.surname {
        check_text(&mut errors, &f("surname"), v);
    }
    if let Some(tags) = &patch.tags {
        patch.tags = Some(check_tags(&mut errors, &f("tags"), tags));
    }
    Ok(errors.into_result()?)
}

/// Updates a live customer; an empty patch changes nothing and answers the customer as is.
pub async fn update(
    store: &dyn Store,
    program: &Program,
    lookup: &CustomerLookup,
    mut patch: AffiliateCustomerPatch,
    prefix: &str,
    now: Timestamp,
) -> CoreResult<AffiliateCustomer> {
    let current = find(store, program, lookup).await?;
    validate_patch(&mut patch, prefix)?;
    if patch.is_empty() {
        return Ok(current);
    }
    match store
        .update_affiliate_customer(program.id, current.row_id, &patch, now)
        .await
    {
        Ok(c) => Ok(c),
        Err(StoreError::Conflict(field)) => Err(conflict_error(field, prefix)),
        Err(StoreError::NotFound) => Err(CoreError::NotFound("Customer")),
        Err(e) => Err(e.into()),
    }
}

/// Archive (active → archived), restore (archived → active) or delete (→ deleted tombstone).
pub async fn transition(
    store: &dyn Store,
    program: &Program,
    lookup: &CustomerLookup,
    transition: Transition,
    now: Timestamp,
) -> CoreResult<()> {
    let current = find(store, program, lookup).await?;
    apply_transition(store, program, current.row_id, transition, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProgramType;
    use crate::program::{ProgramRowId, ProgramSettings};

    fn program(format: LinkFormat, param: Option<&str>) -> Program {
        Program {
            id: ProgramRowId(1),
            public_id: "P".into(),
            program_type: ProgramType::Affiliate,
            name: "Shop".into(),
            website: Some("https://shop.test".into()),
            settings: ProgramSettings {
                link_format: format,
                referral_param: param.map(Into::into),
                ..ProgramSettings::default()
            },
            rules_version: 0,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
        }
    }

    #[test]
    fn keys_are_read_from_either_link_style() {
        let q = program(LinkFormat::Query, None);
        assert_eq!(
            key_in_url(&q, "https://shop.test?aff=k1").as_deref(),
            Some("k1")
        );
        assert_eq!(
            key_in_url(&q, "https://shop.test/p?utm=x&aff=k%2D2#top").as_deref(),
            Some("k-2")
        );
        assert_eq!(
            key_in_url(&q, "https://shop.test/aff/k3").as_deref(),
            Some("k3")
        );
        assert_eq!(key_in_url(&q, "https://shop.test?ref=k1"), None);
        assert_eq!(key_in_url(&q, "https://shop.test?aff="), None);
        let p = program(LinkFormat::Path, Some("via"));
        assert_eq!(
            key_in_url(&p, "https://shop.test/via/k4/").as_deref(),
            Some("k4")
        );
        assert_eq!(
            key_in_url(&p, "https://shop.test/?via=k5").as_deref(),
            Some("k5")
        );
        assert_eq!(key_in_url(&p, "https://via.test/x"), None);
        assert_eq!(key_in_url(&p, "not a url"), None);
    }
}
