//! Customer referral links (refer-a-friend, spec §8.3).
//!
//! Every customer has a *default* link: its `key`, stored on the customer row. Extra links
//! (`POST /v1/customer_referral_links`) are rows of their own with their own keys, clicks and
//! sign-ups. A key names one live link of the program: a customer's key or an extra link's.

use crate::customer::CustomerRowId;
use crate::program::ProgramRowId;
use crate::time::Timestamp;

/// The database's row id of an extra customer link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerLinkRowId(pub i64);

/// An extra link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub row_id: CustomerLinkRowId,
    pub program_id: ProgramRowId,
    pub customer: CustomerRowId,
    pub key: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewCustomerLink {
    pub program_id: ProgramRowId,
    pub customer: CustomerRowId,
    pub key: String,
    pub created_at: Timestamp,
}

/// Any link of a customer as the API shows it: the default one (`row_id: None`, its key the
/// customer's) or an extra one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyCustomerLink {
    pub row_id: Option<CustomerLinkRowId>,
    pub customer: CustomerRowId,
    pub key: String,
}

impl AnyCustomerLink {
    pub fn is_default(&self) -> bool {
        self.row_id.is_none()
    }
}

impl From<CustomerLink> for AnyCustomerLink {
    fn from(l: CustomerLink) -> Self {
        Self {
            row_id: Some(l.row_id),
            customer: l.customer,
            key: l.key,
        }
    }
}
