//! Transactions (sales reported by the integrator) and the ledger: the append-only record of
//! every amount earned, reversed, credited or paid.
//!
//! Rules (documented for users in `docs/ledger.md`):
//! - A ledger entry is never changed or deleted (the database refuses updates). A refund is a
//!   new `reversal` entry of the opposite amount, pointing at the entry it reverses; an entry
//!   is reversed at most once (a unique index).
//! - A reward is *pending* while `available_at` is in the future (its review window) and
//!   *approved* after; no entry changes when that happens. Reversing a pending reward uses the
//!   same `available_at`, so it cancels it in the pending total; reversing an approved (or paid)
//!   one is available at once, so it lowers the approved total, below zero if it was paid.
//! - Every total (balances, commissions, stats) is a sum of entries, per unit (currency, or
//!   `%` for percentage discounts), computed exactly.

use rust_decimal::Decimal;

use crate::customer::CustomerRowId;
use crate::money::Currency;
use crate::partner::PartnerRowId;
use crate::program::ProgramRowId;
use crate::time::Timestamp;

/// The database's row id of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionRowId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    Active,
    Archived,
    /// Refunded: gone from lists and lookups; its rewards are reversed; its key is free again.
    Deleted,
}

impl TransactionStatus {
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

/// A reported sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub row_id: TransactionRowId,
    pub program_id: ProgramRowId,
    pub key: String,
    /// The buyer (an affiliate customer, or a referred refer-a-friend customer).
    pub customer: CustomerRowId,
    /// The buyer's identifier on the wire: its `key` (affiliate) or its `id` (refer-a-friend).
    pub customer_ident: String,
    /// Affiliate: the customer's partner at the time of the sale.
    pub partner: Option<PartnerRowId>,
    /// That partner's current default key (the wire's `partner`).
    pub partner_key: Option<String>,
    /// Refer-a-friend: the customer who referred the buyer.
    pub referrer: Option<CustomerRowId>,
    /// The referrer's `id` (the wire's `customer` for refer-a-friend transactions).
    pub referrer_ident: Option<String>,
    pub amount: Decimal,
    pub currency: Currency,
    pub action: Option<String>,
    pub product_id: Option<String>,
    pub product_type: Option<String>,
    /// False: the sale earns nothing (the client said so).
    pub rewardable: bool,
    /// True: the client rewarded it already; referd records no reward.
    pub rewarded: bool,
    pub status: TransactionStatus,
    /// SHA-256 of the request's meaningful fields, to tell a retry from a conflicting reuse of
    /// the key.
    pub request_hash: String,
    /// When the sale happened (the client may backdate it).
    pub created_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

/// Whose balance an entry moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Partner(PartnerRowId),
    Customer(CustomerRowId),
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Earned by a rule (or set directly with a transaction's `reward`).
    Reward,
    /// Cancels one earlier entry (a refund).
    Reversal,
    /// A manual credit or debit of a customer's balance.
    Credit,
    /// A one-off partner bonus.
    Bonus,
    /// Money paid out to the holder (negative).
    Payout,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reward => "reward",
            Self::Reversal => "reversal",
            Self::Credit => "credit",
            Self::Bonus => "bonus",
            Self::Payout => "payout",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reward" => Some(Self::Reward),
            "reversal" => Some(Self::Reversal),
            "credit" => Some(Self::Credit),
            "bonus" => Some(Self::Bonus),
            "payout" => Some(Self::Payout),
            _ => None,
        }
    }
}

/// An entry about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub holder: Holder,
    pub kind: EntryKind,
    /// For rewards: `commission`, `credit`, `discount` or `cash`.
    pub reward_kind: Option<String>,
    /// For rewards: `partner`, `parent_partner`, `referring` or `referred`.
    pub beneficiary: Option<String>,
    /// Signed: rewards and credits positive, reversals and payouts negative.
    pub amount: Decimal,
    /// A currency code, or `%` for a percentage discount.
    pub unit: String,
    /// The rule version and rule path that produced a reward.
    pub rule_version: Option<i64>,
    pub rule_path: Option<String>,
    /// Pending until then (the review window); approved after.
    pub available_at: Timestamp,
    pub note: Option<String>,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub row_id: i64,
    pub program_id: ProgramRowId,
    pub holder: Holder,
    pub kind: EntryKind,
    pub reward_kind: Option<String>,
    pub beneficiary: Option<String>,
    pub amount: Decimal,
    pub unit: String,
    /// The transaction that caused it, if any.
    pub transaction: Option<TransactionRowId>,
    /// For a reversal: the entry it cancels.
    pub reverses: Option<i64>,
    pub rule_version: Option<i64>,
    pub rule_path: Option<String>,
    pub available_at: Timestamp,
    pub created_at: Timestamp,
    pub note: Option<String>,
}

/// A transaction and its reward entries, to record atomically.
#[derive(Debug, Clone)]
pub struct NewTransaction {
    pub program_id: ProgramRowId,
    pub key: String,
    pub customer: CustomerRowId,
    pub partner: Option<PartnerRowId>,
    pub referrer: Option<CustomerRowId>,
    pub amount: Decimal,
    pub currency: Currency,
    pub action: Option<String>,
    pub product_id: Option<String>,
    pub product_type: Option<String>,
    pub rewardable: bool,
    pub rewarded: bool,
    pub request_hash: String,
    pub created_at: Timestamp,
    /// The buyer's count of active rewardable sales the rewards were computed against
    /// ([`crate::store::TransactionStore::count_customer_sales`]). If it changed meanwhile
    /// (a concurrent sale of the same customer), nothing is written: [`Recorded::Stale`].
    /// `None` when the rewards do not depend on it (the rules in force do not look at the
    /// customer's history): the store then neither counts nor serialises the buyer's sales.
    pub expected_prior_sales: Option<u64>,
    /// The reward entries (each gets this transaction as its cause).
    pub entries: Vec<NewEntry>,
}

/// What recording a transaction did.
#[derive(Debug, Clone)]
pub enum Recorded {
    Created(Transaction, Vec<LedgerEntry>),
    /// A live transaction already has this key: it and its entries, untouched.
    Existing(Transaction, Vec<LedgerEntry>),
    /// The buyer's sales changed since the rewards were computed; compute again.
    Stale,
}

/// `GET /v1/transactions` filters; all given must match. Lists active transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    pub key: Option<String>,
    pub partner: Option<PartnerRowId>,
    pub customer: Option<CustomerRowId>,
}

/// Whose sales a [`SalesSummary`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SalesScope {
    /// Every sale of the program.
    Program,
    /// The sales credited to a partner (its customers' sales, by the partner of each sale).
    Partner(PartnerRowId),
    /// The sales of the customers a refer-a-friend customer referred.
    Referrer(CustomerRowId),
}

/// The sales and revenue of one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencySales {
    pub currency: Currency,
    /// Active transactions in this currency.
    pub sales: u64,
    /// Their exact sum.
    pub revenue: Decimal,
}

/// Sales (active transactions: neither archived nor refunded) of a [`SalesScope`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesSummary {
    pub sales: u64,
    /// Distinct buyers with at least one sale (paid accounts).
    pub buyers: u64,
    /// Per currency, in currency order; none without sales.
    pub by_currency: Vec<CurrencySales>,
}

impl SalesSummary {
    /// Adds one sale (what a store that sums in Rust calls per row); `buyers` is the caller's.
    pub fn add_sale(&mut self, currency: Currency, amount: Decimal) {
        self.sales += 1;
        match self
            .by_currency
            .binary_search_by(|c| c.currency.cmp(&currency))
        {
            Ok(i) => {
                self.by_currency[i].sales += 1;
                self.by_currency[i].revenue += amount;
            }
            Err(i) => self.by_currency.insert(
                i,
                CurrencySales {
                    currency,
                    sales: 1,
                    revenue: amount,
                },
            ),
        }
    }

    /// The revenue in one currency (0 without sales in it).
    pub fn revenue_in(&self, currency: &str) -> Decimal {
        self.by_currency
            .iter()
            .find(|c| c.currency.as_str() == currency)
            .map_or(Decimal::ZERO, |c| c.revenue)
    }
}

/// Sums per unit, in unit order.
pub type UnitSums = std::collections::BTreeMap<String, Decimal>;

/// A program's rewards from the ledger, per unit: what `reward`, `bonus` and `reversal` entries
/// add up to (`earned`), the part of it still in review (`pending`), and what `payout` entries
/// paid (`paid`, positive). Manual balance credits are not rewards and are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewardsSummary {
    pub earned: UnitSums,
    pub pending: UnitSums,
    pub paid: UnitSums,
}

impl RewardsSummary {
    /// Adds one entry, `pending` when it is still in review at the time summed for (what a
    /// store that sums in Rust calls per row).
    pub fn add_entry(&mut self, kind: EntryKind, unit: &str, amount: Decimal, pending: bool) {
        match kind {
            EntryKind::Reward | EntryKind::Bonus | EntryKind::Reversal => {
                *self.earned.entry(unit.to_string()).or_default() += amount;
                if pending {
                    *self.pending.entry(unit.to_string()).or_default() += amount;
                }
            }
            EntryKind::Payout => *self.paid.entry(unit.to_string()).or_default() -= amount,
            EntryKind::Credit => {}
        }
    }

    /// Drops units whose sums are zero (entries that cancelled out), so every store answers
    /// the same maps.
    pub fn without_zeros(mut self) -> Self {
        for sums in [&mut self.earned, &mut self.pending, &mut self.paid] {
            sums.retain(|_, a| !a.is_zero());
        }
        self
    }

    /// Approved and not paid yet: earned, less pending, less paid.
    pub fn unclaimed(&self) -> UnitSums {
        let mut out = self.earned.clone();
        for (unit, amount) in self.pending.iter().chain(&self.paid) {
            *out.entry(unit.clone()).or_default() -= *amount;
        }
        out
    }
}
