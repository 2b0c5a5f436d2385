//! Click tracking and attribution: what a click is, who it counts for, the visitor hash,
//! the bot filter, dedupe and the attribution rules (`docs/tracking.md`), and the
//! [`TrackingStore`] port. Pure rules here; the hot path (the in-memory link cache, the
//! bounded channel and the batch writer) lives in `referd-api`'s `tracking` module.

pub mod attribution;
pub mod bots;
pub mod visitor;

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::customer::CustomerRowId;
use crate::customer_link::{CustomerLink, CustomerLinkRowId, NewCustomerLink};
use crate::ids::ProgramType;
use crate::partner::{LinkRowId, PartnerRowId};
use crate::program::ProgramRowId;
use crate::store::StoreResult;
use crate::time::Timestamp;

/// The link a referral key names, and so who a click or a sign-up counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkTarget {
    /// A partner's link (affiliate programs).
    Partner {
        partner: PartnerRowId,
        link: LinkRowId,
    },
    /// A customer's link (refer-a-friend): `link: None` is its default link (its key).
    Customer {
        customer: CustomerRowId,
        link: Option<CustomerLinkRowId>,
    },
}

/// How a click reached referd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickSource {
    /// `GET /r/{program}/{key}`, before the 302.
    Redirect,
    /// The snippet's beacon on a landing page that carried the referral parameter.
    Beacon,
}

impl ClickSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redirect => "redirect",
            Self::Beacon => "beacon",
        }
    }
}

/// A counted click, ready to store. `visitor` is a salted hash ([`visitor::VisitorHasher`]),
/// never an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClick {
    pub program_id: ProgramRowId,
    pub target: LinkTarget,
    pub visitor: String,
    pub source: ClickSource,
    pub created_at: Timestamp,
}

/// What a count covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackingScope {
    /// Every link of the program.
    Program,
    Partner(PartnerRowId),
    PartnerLink(LinkRowId),
    /// Every link of a customer.
    Customer(CustomerRowId),
    /// One link of a customer (`None`: the default one).
    CustomerLink(CustomerRowId, Option<CustomerLinkRowId>),
}

/// Clicks and the sign-ups attributed to the same scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackingCounts {
    pub clicks: u64,
    pub signups: u64,
}

impl TrackingCounts {
    /// Sign-ups per click in percent, rounded to two decimals (0 without clicks). Capped at
    /// 100: sign-ups through the server-side API need no click, so they can outnumber clicks.
    pub fn click_to_signup_percent(&self) -> Decimal {
        if self.clicks == 0 {
            return Decimal::ZERO;
        }
        let hundredths = (self.signups.min(self.clicks) * 10_000 + self.clicks / 2) / self.clicks;
        Decimal::new(i64::try_from(hundredths).unwrap_or(10_000), 2).normalize()
    }
}

#[async_trait]
pub trait TrackingStore: Send + Sync {
    /// The live link a key names in a program of this type: a partner link (affiliate), else
    /// a customer's key or an extra customer link (refer-a-friend). Owners that are deleted
    /// have no live links; archived ones keep theirs.
    async fn resolve_link_key(
        &self,
        program: ProgramRowId,
        program_type: ProgramType,
        key: &str,
    ) -> StoreResult<Option<LinkTarget>>;
    /// Stores a batch of clicks in one transaction.
    async fn insert_clicks(&self, clicks: Vec<NewClick>) -> StoreResult<()>;
    /// Clicks and attributed sign-ups (live customers) of a scope, with `before` only those
    /// created before it.
    async fn tracking_counts(
        &self,
        program: ProgramRowId,
        scope: TrackingScope,
        before: Option<Timestamp>,
    ) -> StoreResult<TrackingCounts>;
    /// Inserts an extra link for a live customer of the program. Conflict `LinkKey` when the
    /// key is a live customer's key or a live extra link's; `NotFound` when the customer is
    /// gone.
    async fn insert_customer_link(&self, new: NewCustomerLink) -> StoreResult<CustomerLink>;
    /// The live extra link with this key.
    async fn find_customer_link(
        &self,
        program: ProgramRowId,
        key: &str,
    ) -> StoreResult<Option<CustomerLink>>;
    /// A customer's live extra links, oldest first.
    async fn list_customer_links(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
    ) -> StoreResult<Vec<CustomerLink>>;
    /// Gives a live extra link a new key (conflicts as on insert).
    async fn rename_customer_link(
        &self,
        program: ProgramRowId,
        link: CustomerLinkRowId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<CustomerLink>;
    /// Deletes a live extra link; `false` when it is gone.
    async fn delete_customer_link(
        &self,
        program: ProgramRowId,
        link: CustomerLinkRowId,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Deletes every live extra link of a customer (the customer was deleted).
    async fn delete_customer_links_of(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Records the extra link a referred customer signed up through.
    async fn set_customer_ref_link(
        &self,
        program: ProgramRowId,
        customer: CustomerRowId,
        link: CustomerLinkRowId,
    ) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_is_a_rounded_capped_percentage() {
        let c = |clicks, signups| TrackingCounts { clicks, signups }.click_to_signup_percent();
        assert_eq!(c(0, 5).to_string(), "0");
        assert_eq!(c(3, 1).to_string(), "33.33");
        assert_eq!(c(3, 2).to_string(), "66.67");
        assert_eq!(c(4, 1).to_string(), "25");
        assert_eq!(c(2, 5).to_string(), "100");
    }
}
