//! Reward rules: the one JSON format a program's rules are written in (`docs/rules.md`), its
//! validation, and its evaluation ([`eval`]).
//!
//! A rule set is versioned as a whole: setting rules stores a new version, and every reward
//! records the version that produced it, so a reward can always be explained by the rules that
//! were in force.
//!
//! ```json
//! {
//!   "currency": "USD",
//!   "rounding": {"decimals": 2, "mode": "down"},
//!   "affiliate": {
//!     "commission": {"type": "percentage", "value": 30},
//!     "period": {"type": "months", "count": 12},
//!     "review_days": 14,
//!     "products": [{"product_type": "yearly", "commission": {"type": "percentage", "value": 20}}],
//!     "partners": [{"partner": "partner_123", "commission": {"type": "static", "value": 15}}],
//!     "parent_share": 10
//!   },
//!   "referral": {
//!     "referring": [{"kind": "credit", "trigger": "purchase", "amount": {"type": "static", "value": 10}, "max_rewards": 20}],
//!     "referred":  [{"kind": "discount", "trigger": "signup", "amount": {"type": "percentage", "value": 20}}]
//!   }
//! }
//! ```

pub mod cache;
pub mod eval;
mod parse;

use rust_decimal::Decimal;

use crate::money::{Currency, Rounding};

pub use parse::parse_rules;

/// One stored version of a program's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVersion {
    /// 1, 2, 3… per program; the highest is in force.
    pub version: i64,
    /// The rule set as JSON text, as it was set.
    pub body: String,
    pub created_at: crate::time::Timestamp,
}

/// A program's reward rules, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSet {
    /// Currency of static amounts; `None` is the program's currency.
    pub currency: Option<Currency>,
    /// Applied to every reward amount; `None` keeps amounts exact.
    pub rounding: Option<Rounding>,
    pub affiliate: Option<AffiliateRules>,
    pub referral: Option<ReferralRules>,
}

impl RuleSet {
    /// Whether a sale's rewards depend on how many sales its customer made before: a
    /// first-N commission period, or a refer-a-friend reward for the first purchase. Only
    /// then must a sale count them, and be recorded serially with the customer's other sales.
    pub fn needs_sale_history(&self) -> bool {
        let first_n = |p: &Period| matches!(p, Period::FirstTransactions(_));
        let affiliate = self.affiliate.as_ref().is_some_and(|a| {
            first_n(&a.period)
                || a.partners
                    .iter()
                    .any(|p| p.period.as_ref().is_some_and(first_n))
        });
        let referral = self.referral.as_ref().is_some_and(|r| {
            r.referring
                .iter()
                .chain(&r.referred)
                .any(|reward| reward.trigger == Trigger::FirstPurchase)
        });
        affiliate || referral
    }
}

/// An amount rule: a percentage of the transaction amount, or a fixed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Percent of the transaction amount (0–100), in the transaction's currency.
    Percentage(Decimal),
    /// A fixed amount in the rule set's currency.
    Static(Decimal),
}

/// How long a customer earns its partner commissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Lifetime,
    /// The customer's first N rewardable transactions.
    FirstTransactions(u32),
    /// Transactions within N days / months / years of the customer's sign-up.
    Days(u32),
    Months(u32),
    Years(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffiliateRules {
    pub commission: Amount,
    pub period: Period,
    /// Days a commission stays pending (refund window) before it is approved; 0 approves at
    /// once.
    pub review_days: u32,
    /// Product rules, first match wins: by `product_id`, else by `product_type`.
    pub products: Vec<ProductRule>,
    /// Per-partner commissions (by partner id); they win over product rules.
    pub partners: Vec<PartnerRule>,
    /// Percent (0–100) of a partner's commission that its referring partner earns too.
    pub parent_share: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRule {
    pub product_id: Option<String>,
    pub product_type: Option<String>,
    pub commission: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRule {
    /// The partner's `id`.
    pub partner: String,
    pub commission: Amount,
    /// Overrides the program's period for this partner when given.
    pub period: Option<Period>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReferralRules {
    /// Rewards for the customer who referred.
    pub referring: Vec<ReferralReward>,
    /// Rewards for the customer who was referred.
    pub referred: Vec<ReferralReward>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralReward {
    pub kind: RewardKind,
    pub trigger: Trigger,
    pub amount: Amount,
    /// At most this many rewards from this rule per holder.
    pub max_rewards: Option<u32>,
}

/// What a refer-a-friend reward is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RewardKind {
    /// Added to the customer's credit balance.
    Credit,
    /// A discount (a percentage or an amount off) for the integrator to issue as a code.
    Discount,
    /// Money paid out to the customer.
    Cash,
}

impl RewardKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Discount => "discount",
            Self::Cash => "cash",
        }
    }
}

/// When a refer-a-friend reward is earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The referred customer is created.
    Signup,
    /// The referred customer's first rewardable purchase.
    FirstPurchase,
    /// Every rewardable purchase of the referred customer (subscriptions).
    EveryPurchase,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::FirstPurchase => "purchase",
            Self::EveryPurchase => "every_purchase",
        }
    }
}
