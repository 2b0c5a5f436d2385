//! Customers of an affiliate program: people a partner brought. They live in the same table
//! as refer-a-friend customers (a program has one type, so rows never mix), with a partner
//! instead of a referring customer, and `key` as their only identifier (spec §6.1).
//!
//! Statuses are the refer-a-friend ones ([`CustomerStatus`]): `active`, `archived`, and the
//! `deleted` tombstone that frees the key and email.

use crate::customer::{CustomerRowId, CustomerStatus};
use crate::partner::{LinkRowId, PartnerRowId};
use crate::program::ProgramRowId;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffiliateCustomer {
    pub row_id: CustomerRowId,
    pub program_id: ProgramRowId,
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub tags: Vec<String>,
    pub partner: PartnerRowId,
    /// The current key of the partner's default link: the customer object's `partner`.
    pub partner_key: String,
    /// The link the customer came through (`options.referral_url`), if known.
    pub link: Option<LinkRowId>,
    pub status: CustomerStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An affiliate customer about to be inserted; validated, partner resolved.
#[derive(Debug, Clone)]
pub struct NewAffiliateCustomer {
    pub program_id: ProgramRowId,
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub tags: Vec<String>,
    pub partner: PartnerRowId,
    pub link: Option<LinkRowId>,
    pub created_at: Timestamp,
}

/// Changes to an affiliate customer; `None` leaves a field as it is, `tags: Some(vec![])`
/// removes every tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AffiliateCustomerPatch {
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub tags: Option<Vec<String>>,
}

impl AffiliateCustomerPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `GET /v1/customers` of an affiliate program: active customers, optionally one partner's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AffiliateCustomerFilter {
    pub partner: Option<PartnerRowId>,
}

/// What a sale needs of its affiliate buyer, read in one query with the buyer: the customer
/// and what rewarding its partner needs (see `service::transactions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffiliateBuyer {
    pub customer: CustomerRowId,
    pub created_at: Timestamp,
    pub partner: PartnerRowId,
    /// `None` when the partner was deleted (it earns nothing new).
    pub live_partner: Option<SalePartner>,
}

/// A live partner as a sale's rewards see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalePartner {
    pub row_id: PartnerRowId,
    /// The partner's `id` (per-partner rules name it).
    pub id: String,
    /// Multi-tier: the partner that brought this one.
    pub referring_partner: Option<PartnerRowId>,
}
