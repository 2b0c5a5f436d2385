//! Affiliate customer objects (spec §6.1, seed 001): the object of create, get and update
//! (with `status` and `tags`), and the list item (without them).

use referd_core::affiliate::AffiliateCustomer;
use serde::Serialize;

use crate::wire::partner::{Tag, tags};
use crate::wire::timestamp;

#[derive(Serialize)]
pub struct AffiliateCustomerObject<'a> {
    key: &'a str,
    /// The key of the partner's default referral link (seed 001 answers the `partner.key`
    /// the customer was created with).
    partner: &'a str,
    /// Always false: deleted customers are never returned.
    deleted: bool,
    name: Option<&'a str>,
    surname: Option<&'a str>,
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<Tag<'a>>>,
}

fn object(c: &AffiliateCustomer, detailed: bool) -> AffiliateCustomerObject<'_> {
    AffiliateCustomerObject {
        key: &c.key,
        partner: &c.partner_key,
        deleted: false,
        name: c.name.as_deref(),
        surname: c.surname.as_deref(),
        email: c.email.as_deref(),
        status: detailed.then_some(c.status.as_str()),
        created_at: timestamp(c.created_at),
        updated_at: timestamp(c.updated_at),
        deleted_at: None,
        tags: detailed.then(|| tags(&c.tags)),
    }
}

/// Create, get and update.
pub fn full(c: &AffiliateCustomer) -> AffiliateCustomerObject<'_> {
    object(c, true)
}

/// List and search items.
pub fn summary(c: &AffiliateCustomer) -> AffiliateCustomerObject<'_> {
    object(c, false)
}
