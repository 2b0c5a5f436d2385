//! Partners (affiliates) of an affiliate program and their referral links.
//!
//! Lifecycle (documented for users in `docs/affiliate.md`):
//! - `active`: approved; listed, looked up, earns on its customers.
//! - `pending`: created with `approved: false`, waiting for approval; listed and looked up.
//! - `archived`: hidden from `GET /v1/partners`, still found by lookups and search (so it can
//!   be restored); new customers cannot be attributed to it.
//! - `deleted`: a tombstone. Gone from every list, lookup and count; its `id`, `email` and
//!   link keys are free again. Customers it brought keep pointing at it, so history is never
//!   rewritten.
//!
//! Every partner owns exactly one *default* referral link, created with it; its key is the
//! partner's `key`. More links can be added (`POST /v1/partner_referral_links`). Link keys
//! are unique among the program's live links, so a key names one partner.

use crate::program::ProgramRowId;
use crate::time::Timestamp;

/// The database's row id of a partner (never shown to clients; `id` is theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartnerRowId(pub i64);

/// The database's row id of a partner referral link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkRowId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartnerStatus {
    Active,
    Pending,
    Archived,
    Deleted,
}

impl PartnerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Archived => "archived",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "pending" => Some(Self::Pending),
            "archived" => Some(Self::Archived),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub row_id: PartnerRowId,
    pub program_id: ProgramRowId,
    /// The client's id (custom or generated).
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub surname: Option<String>,
    /// Accepted the program's terms (false for partners created through the API).
    pub tos: bool,
    pub approved: bool,
    pub status: PartnerStatus,
    /// In the order given, without duplicates.
    pub tags: Vec<String>,
    /// The partner that brought this one (multi-tier programs).
    pub referring_partner: Option<PartnerRowId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A partner with what its full JSON object needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerView {
    pub partner: Partner,
    /// The key of its default link (the partner's `key`).
    pub default_key: String,
    /// Keys of all its live links: the default first, then the others oldest first.
    pub link_keys: Vec<String>,
    /// Live (not deleted) customers attributed to it; archived ones still count.
    pub referrals_count: u64,
    /// The referring partner's row, when there is one (even if since archived or deleted).
    pub referring_partner: Option<Box<Partner>>,
}

/// A partner about to be inserted, with the key of its default link; everything validated.
#[derive(Debug, Clone)]
pub struct NewPartner {
    pub program_id: ProgramRowId,
    pub id: String,
    /// The key of the default referral link created with the partner.
    pub key: String,
    pub email: String,
    pub name: Option<String>,
    pub surname: Option<String>,
    /// An Argon2 PHC string, never the password.
    pub password_hash: Option<String>,
    pub tos: bool,
    pub approved: bool,
    /// `Active` when approved, else `Pending`.
    pub status: PartnerStatus,
    pub tags: Vec<String>,
    pub referring_partner: Option<PartnerRowId>,
    pub created_at: Timestamp,
}

/// Changes to a partner; `None` leaves a field as it is. `key` renames the default link;
/// `tags: Some(vec![])` removes every tag. `approved` also moves the status between
/// `pending` and `active` (an archived partner stays archived).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerPatch {
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub password_hash: Option<String>,
    pub tags: Option<Vec<String>>,
    pub approved: Option<bool>,
    pub tos: Option<bool>,
}

impl PartnerPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// How a partner is looked up. Lookups find active, pending and archived partners, never
/// deleted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerLookup {
    Row(PartnerRowId),
    Id(String),
    /// Any live referral link key of the partner (not only the default one).
    Key(String),
    /// Compared in lower case.
    Email(String),
    /// A path segment: the partner whose `id`, else link key, else email equals it (the PHP
    /// SDK puts the key where the reference puts the id).
    AnyIdentifier(String),
}

/// `GET /v1/partners`: which statuses are listed. `None` lists active and pending partners.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerFilter {
    pub status: Option<PartnerStatus>,
}

/// `GET /v1/partners:search`: every given criterion must match, as a case-insensitive
/// substring ("partial values match", as the n8n node documents). `key` matches any of the
/// partner's live link keys. Active, pending and archived partners are found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerSearch {
    pub id: Option<String>,
    pub email: Option<String>,
    pub key: Option<String>,
    pub name: Option<String>,
}

impl PartnerSearch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A partner referral link. Its `id` on the wire is its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerLink {
    pub row_id: LinkRowId,
    pub program_id: ProgramRowId,
    pub partner: PartnerRowId,
    pub key: String,
    pub is_default: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An additional (not default) link about to be inserted.
#[derive(Debug, Clone)]
pub struct NewPartnerLink {
    pub program_id: ProgramRowId,
    pub partner: PartnerRowId,
    pub key: String,
    pub created_at: Timestamp,
}

/// `GET /v1/partner_referral_links:search`: exact key (a link's id is its key), optionally
/// only one partner's links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerLinkSearch {
    pub key: Option<String>,
    pub partner: Option<PartnerRowId>,
}
