//! Refer-a-friend customers: who they are, who referred them, and their lifecycle.
//!
//! Lifecycle (documented for users in `docs/customers.md`):
//! - `active`: listed, looked up, may refer others.
//! - `archived`: hidden from `GET /v1/customers`, still found by id/key/email lookups and
//!   search (so it can be restored), still counted as a referral of its referrer, and cannot
//!   refer anyone new.
//! - `deleted`: a tombstone. Gone from every list, lookup and count; its `id`, `key` and
//!   `email` are free again. Customers it referred keep it as their `referring_customer`
//!   (with `status: "deleted"`), so referral history is never rewritten.

use crate::program::ProgramRowId;
use crate::time::Timestamp;

/// The database's row id of a customer (never shown to clients; `id` is theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerRowId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerStatus {
    Active,
    Archived,
    Deleted,
}

impl CustomerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "archived" => Some(Self::Archived),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub row_id: CustomerRowId,
    pub program_id: ProgramRowId,
    /// The client's private id.
    pub id: String,
    /// The public referral key (the `ref=` value of the default link).
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub referrer: Option<CustomerRowId>,
    pub status: CustomerStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A customer with what its full JSON object needs: its referral count and its referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerView {
    pub customer: Customer,
    /// Customers it referred that are not deleted (archived ones still count).
    pub referrals_count: u64,
    pub referrer: Option<Box<ReferrerView>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerView {
    pub customer: Customer,
    pub referrals_count: u64,
}

/// A customer about to be inserted; every field already validated, `id` and `key` decided.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub program_id: ProgramRowId,
    pub id: String,
    pub key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub date_of_birth: Option<String>,
    pub referrer: Option<CustomerRowId>,
    pub created_at: Timestamp,
}

/// Changes to a customer; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerPatch {
    pub key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub date_of_birth: Option<String>,
}

impl CustomerPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// How a customer is looked up. Lookups never find deleted customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerLookup {
    Row(CustomerRowId),
    Id(String),
    Key(String),
    Email(String),
    /// A path segment: the customer whose `id`, else `key`, else `email` equals it.
    AnyIdentifier(String),
}

/// `refer_status` on `GET /v1/customers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferStatus {
    Referred,
    NonReferred,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    pub refer_status: Option<ReferStatus>,
}

/// `GET /v1/customers:search`: every given criterion must match (exact; emails compare in
/// lower case). Archived customers are found; deleted ones are not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSearch {
    pub id: Option<String>,
    pub key: Option<String>,
    pub email: Option<String>,
}

impl CustomerSearch {
    pub fn is_empty(&self) -> bool {
        self.id.is_none() && self.key.is_none() && self.email.is_none()
    }
}
