//! Evaluating a rule set: from the facts of a sale (or a sign-up) to the reward lines it earns.
//! Pure functions, no storage: the transaction use case gathers the facts (the customer's age,
//! how many sales it had before, what rewards a holder already got), calls these, and writes
//! each line to the ledger.

use chrono::{DateTime, Months, Utc};
use rust_decimal::Decimal;

use crate::money::{Currency, Money};
use crate::rules::{Amount, Period, ReferralReward, RewardKind, RuleSet, Trigger};
use crate::time::Timestamp;

/// Who a reward line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Beneficiary {
    /// The partner the customer is attributed to.
    Partner,
    /// That partner's referring partner (multi-tier).
    ParentPartner,
    /// The customer who referred the buyer (refer-a-friend).
    Referring,
    /// The referred customer, the buyer (refer-a-friend).
    Referred,
}

/// What a reward line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    /// An affiliate commission.
    Commission,
    /// A refer-a-friend reward of this kind.
    Referral(RewardKind),
}

/// A line's unit: money in a currency, or a percentage (a percentage discount code).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Unit {
    Currency(Currency),
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    /// In its review (refund) window until the given time.
    Pending {
        until: Timestamp,
    },
    Approved,
}

/// One reward earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardLine {
    pub beneficiary: Beneficiary,
    pub kind: LineKind,
    pub amount: Decimal,
    pub unit: Unit,
    pub status: LineStatus,
    /// The rule that produced it, as a path in the rule set (`affiliate.products.0`).
    pub rule: String,
}

/// A sale as the rules see it.
#[derive(Debug, Clone)]
pub struct Sale<'a> {
    pub amount: Money,
    pub product_id: Option<&'a str>,
    pub product_type: Option<&'a str>,
    pub occurred_at: Timestamp,
}

/// An affiliate sale: the sale, its partner, and the customer's history.
#[derive(Debug, Clone)]
pub struct AffiliateSale<'a> {
    pub sale: Sale<'a>,
    /// The partner's `id` (per-partner rules name partners by id).
    pub partner_id: &'a str,
    /// Whether the partner has a referring partner (multi-tier).
    pub has_parent: bool,
    pub customer_created_at: Timestamp,
    /// The customer's rewardable, not refunded sales before this one.
    pub prior_sales: u64,
}

fn add_calendar(from: Timestamp, period: Period) -> Option<Timestamp> {
    let at: DateTime<Utc> = DateTime::from_timestamp_micros(from.as_micros())?;
    let until = match period {
        Period::Days(n) => at.checked_add_signed(chrono::Duration::days(i64::from(n)))?,
        Period::Months(n) => at.checked_add_months(Months::new(n))?,
        Period::Years(n) => at.checked_add_months(Months::new(n.checked_mul(12)?))?,
        Period::Lifetime | Period::FirstTransactions(_) => return None,
    };
    Some(Timestamp::from_micros(until.timestamp_micros()))
}

/// Whether a sale still earns under `period`.
pub fn within_period(period: Period, sale: &AffiliateSale<'_>) -> bool {
    match period {
        Period::Lifetime => true,
        Period::FirstTransactions(n) => sale.prior_sales < u64::from(n),
        Period::Days(_) | Period::Months(_) | Period::Years(_) => {
            add_calendar(sale.customer_created_at, period)
                .is_some_and(|until| sale.sale.occurred_at < until)
        }
    }
}

/// The amount an [`Amount`] rule gives on a sale, with its unit. Percentages of a sale are in
/// the sale's currency; static amounts in the rule set's (else the program's) currency.
fn amount_of(
    rule: Amount,
    sale_amount: Option<&Money>,
    currency: &Currency,
) -> Option<(Decimal, Unit)> {
    match rule {
        Amount::Static(v) => Some((v, Unit::Currency(currency.clone()))),
        Amount::Percentage(p) => {
            let sale = sale_amount?;
            if sale.amount <= Decimal::ZERO {
                return None;
            }
            let value = sale
                .amount
                .checked_mul(p)?
                .checked_div(Decimal::ONE_HUNDRED)?;
            Some((value, Unit::Currency(sale.currency.clone())))
        }
    }
}

fn rounded(rules: &RuleSet, amount: Decimal) -> Decimal {
    match rules.rounding {
        Some(r) => r.apply(amount),
        None => amount.normalize(),
    }
}

/// The commission lines of an affiliate sale: the partner's (by per-partner rule, else the
/// first matching product rule, else the program's commission), and its parent's share.
pub fn affiliate_rewards(
    rules: &RuleSet,
    program_currency: &Currency,
    sale: &AffiliateSale<'_>,
) -> Vec<RewardLine> {
    let Some(aff) = &rules.affiliate else {
        return Vec::new();
    };
    let currency = rules.currency.as_ref().unwrap_or(program_currency);
    let (commission, period, rule) = if let Some((i, p)) = aff
        .partners
        .iter()
        .enumerate()
        .find(|(_, p)| p.partner == sale.partner_id)
    {
        (
            p.commission,
            p.period.unwrap_or(aff.period),
            format!("affiliate.partners.{i}"),
        )
    } else if let Some((i, p)) = aff.products.iter().enumerate().find(|(_, p)| {
        (p.product_id.is_some() && p.product_id.as_deref() == sale.sale.product_id)
            || (p.product_id.is_none()
                && p.product_type.is_some()
                && p.product_type.as_deref() == sale.sale.product_type)
    }) {
        (p.commission, aff.period, format!("affiliate.products.{i}"))
    } else {
        (
            aff.commission,
            aff.period,
            "affiliate.commission".to_string(),
        )
    };
    if !within_period(period, sale) {
        return Vec::new();
    }
    let Some((exact, unit)) = amount_of(commission, Some(&sale.sale.amount), currency) else {
        return Vec::new();
    };
    let amount = rounded(rules, exact);
    if amount <= Decimal::ZERO {
        return Vec::new();
    }
    let status = if aff.review_days == 0 {
        LineStatus::Approved
    } else {
        LineStatus::Pending {
            until: sale.sale.occurred_at.plus_days(i64::from(aff.review_days)),
        }
    };
    let mut lines = vec![RewardLine {
        beneficiary: Beneficiary::Partner,
        kind: LineKind::Commission,
        amount,
        unit: unit.clone(),
        status,
        rule,
    }];
    if sale.has_parent
        && let Some(share) = aff.parent_share
    {
        // The parent's share is of the exact commission, rounded on its own.
        let parent = exact
            .checked_mul(share)
            .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
            .map(|v| rounded(rules, v))
            .unwrap_or_default();
        if parent > Decimal::ZERO {
            lines.push(RewardLine {
                beneficiary: Beneficiary::ParentPartner,
                kind: LineKind::Commission,
                amount: parent,
                unit,
                status,
                rule: "affiliate.parent_share".into(),
            });
        }
    }
    lines
}

/// A refer-a-friend event.
#[derive(Debug, Clone)]
pub enum ReferralEvent<'a> {
    /// The referred customer was created.
    Signup { at: Timestamp },
    /// The referred customer bought; `first` when it is its first rewardable purchase.
    Purchase { sale: Sale<'a>, first: bool },
}

impl ReferralEvent<'_> {
    fn fires(&self, trigger: Trigger) -> bool {
        matches!(
            (self, trigger),
            (ReferralEvent::Signup { .. }, Trigger::Signup)
                | (
                    ReferralEvent::Purchase { first: true, .. },
                    Trigger::FirstPurchase
                )
                | (ReferralEvent::Purchase { .. }, Trigger::EveryPurchase)
        )
    }
}

/// Which side of a referral a rule rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Referring,
    Referred,
}

/// The refer-a-friend rewards an event earns, for both sides. `prior(side, rule index)` is how
/// many rewards that side's holder already has from that rule (for `max_rewards`).
pub fn referral_rewards(
    rules: &RuleSet,
    program_currency: &Currency,
    event: &ReferralEvent<'_>,
    prior: &dyn Fn(Side, usize) -> u64,
) -> Vec<RewardLine> {
    let Some(raf) = &rules.referral else {
        return Vec::new();
    };
    let currency = rules.currency.as_ref().unwrap_or(program_currency);
    let sale = match event {
        ReferralEvent::Purchase { sale, .. } => Some(&sale.amount),
        ReferralEvent::Signup { .. } => None,
    };
    let mut lines = Vec::new();
    for (side, list, beneficiary, name) in [
        (
            Side::Referring,
            &raf.referring,
            Beneficiary::Referring,
            "referring",
        ),
        (
            Side::Referred,
            &raf.referred,
            Beneficiary::Referred,
            "referred",
        ),
    ] {
        for (i, r) in list.iter().enumerate() {
            if !event.fires(r.trigger)
                || r.max_rewards
                    .is_some_and(|m| prior(side, i) >= u64::from(m))
            {
                continue;
            }
            let Some((amount, unit)) = referral_amount(r, sale, currency) else {
                continue;
            };
            let amount = match unit {
                Unit::Percent => amount.normalize(),
                Unit::Currency(_) => rounded(rules, amount),
            };
            if amount <= Decimal::ZERO {
                continue;
            }
            lines.push(RewardLine {
                beneficiary,
                kind: LineKind::Referral(r.kind),
                amount,
                unit,
                status: LineStatus::Approved,
                rule: format!("referral.{name}.{i}"),
            });
        }
    }
    lines
}

/// A discount's percentage is the code's value (20 → a 20% code); a credit's or cash
/// reward's percentage is of the purchase.
fn referral_amount(
    r: &ReferralReward,
    sale: Option<&Money>,
    currency: &Currency,
) -> Option<(Decimal, Unit)> {
    match (r.kind, r.amount) {
        (RewardKind::Discount, Amount::Percentage(p)) => Some((p, Unit::Percent)),
        _ => amount_of(r.amount, sale, currency),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::money::RoundingMode;
    use crate::rules::parse_rules;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn sale(amount: &str, prior: u64) -> AffiliateSale<'static> {
        AffiliateSale {
            sale: Sale {
                amount: Money {
                    amount: d(amount),
                    currency: usd(),
                },
                product_id: None,
                product_type: None,
                occurred_at: Timestamp::from_micros(1_700_000_000_000_000),
            },
            partner_id: "partner_123",
            has_parent: false,
            customer_created_at: Timestamp::from_micros(1_690_000_000_000_000),
            prior_sales: prior,
        }
    }

    fn rules(v: serde_json::Value) -> RuleSet {
        parse_rules(&v).unwrap()
    }

    #[test]
    fn thirty_percent_of_99_99_is_29_997() {
        let r = rules(json!({"affiliate": {"commission": {"type": "percentage", "value": 30}}}));
        let lines = affiliate_rewards(&r, &usd(), &sale("99.99", 0));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].amount, d("29.997"));
        assert_eq!(lines[0].unit, Unit::Currency(usd()));
        assert_eq!(lines[0].status, LineStatus::Approved);
        assert_eq!(lines[0].rule, "affiliate.commission");
    }

    #[test]
    fn partner_rules_win_over_product_rules_which_win_over_the_default() {
        let r = rules(json!({"affiliate": {
            "commission": {"type": "percentage", "value": 30},
            "products": [{"product_type": "yearly", "commission": {"type": "percentage", "value": 20}},
                         {"product_id": "p1", "commission": {"type": "static", "value": 7}}],
            "partners": [{"partner": "vip", "commission": {"type": "static", "value": 50}}]
        }}));
        let mut s = sale("100", 0);
        s.sale.product_type = Some("yearly");
        let lines = affiliate_rewards(&r, &usd(), &s);
        assert_eq!(
            (lines[0].amount, lines[0].rule.as_str()),
            (d("20"), "affiliate.products.0")
        );
        s.sale.product_id = Some("p1");
        s.sale.product_type = None;
        assert_eq!(affiliate_rewards(&r, &usd(), &s)[0].amount, d("7"));
        s.partner_id = "vip";
        let lines = affiliate_rewards(&r, &usd(), &s);
        assert_eq!(
            (lines[0].amount, lines[0].rule.as_str()),
            (d("50"), "affiliate.partners.0")
        );
    }

    #[test]
    fn periods_review_and_parent_share() {
        let r = rules(json!({
            "currency": "EUR",
            "affiliate": {
                "commission": {"type": "percentage", "value": 10},
                "period": {"type": "first_transactions", "count": 2},
                "review_days": 14,
                "parent_share": 25
            }
        }));
        let mut s = sale("200", 1);
        s.has_parent = true;
        let lines = affiliate_rewards(&r, &usd(), &s);
        assert_eq!(lines.len(), 2);
        // A percentage is in the sale's currency, whatever the rules' currency.
        assert_eq!(lines[0].unit, Unit::Currency(usd()));
        assert_eq!(lines[1].beneficiary, Beneficiary::ParentPartner);
        assert_eq!(lines[1].amount, d("5"));
        assert_eq!(
            lines[0].status,
            LineStatus::Pending {
                until: s.sale.occurred_at.plus_days(14)
            }
        );
        assert!(affiliate_rewards(&r, &usd(), &sale("200", 2)).is_empty());
        let months = rules(
            json!({"affiliate": {"commission": {"type": "static", "value": 5},
                                               "period": {"type": "months", "count": 1}}}),
        );
        let mut s = sale("1", 0);
        s.customer_created_at = Timestamp::from_micros(0);
        assert!(affiliate_rewards(&months, &usd(), &s).is_empty());
        s.customer_created_at = s.sale.occurred_at;
        let lines = affiliate_rewards(&months, &usd(), &s);
        // A static amount is in the rules' currency, else the program's.
        assert_eq!(lines[0].unit, Unit::Currency(usd()));
    }

    #[test]
    fn referral_triggers_kinds_and_limits() {
        let r = rules(json!({"referral": {
            "referring": [{"kind": "credit", "trigger": "purchase", "amount": {"type": "static", "value": 10}, "max_rewards": 2},
                          {"kind": "cash", "trigger": "every_purchase", "amount": {"type": "percentage", "value": 5}}],
            "referred": [{"kind": "discount", "trigger": "signup", "amount": {"type": "percentage", "value": 20}}]
        }}));
        let none = |_: Side, _: usize| 0;
        let signup = referral_rewards(
            &r,
            &usd(),
            &ReferralEvent::Signup {
                at: Timestamp::from_micros(0),
            },
            &none,
        );
        assert_eq!(signup.len(), 1);
        assert_eq!(
            (
                signup[0].beneficiary,
                signup[0].unit.clone(),
                signup[0].amount
            ),
            (Beneficiary::Referred, Unit::Percent, d("20"))
        );
        let purchase = |first| ReferralEvent::Purchase {
            sale: sale("80", 0).sale,
            first,
        };
        let first = referral_rewards(&r, &usd(), &purchase(true), &none);
        assert_eq!(
            first.iter().map(|l| l.amount).collect::<Vec<_>>(),
            [d("10"), d("4")]
        );
        let later = referral_rewards(&r, &usd(), &purchase(false), &none);
        assert_eq!(later.len(), 1);
        let capped = referral_rewards(&r, &usd(), &purchase(true), &|side, i| {
            if side == Side::Referring && i == 0 {
                2
            } else {
                0
            }
        });
        assert_eq!(capped.len(), 1, "max_rewards reached");
    }

    #[test]
    fn rounding_is_explicit() {
        let r = rules(json!({"rounding": {"decimals": 2, "mode": "down"},
                             "affiliate": {"commission": {"type": "percentage", "value": 30}}}));
        assert_eq!(
            affiliate_rewards(&r, &usd(), &sale("99.99", 0))[0].amount,
            d("29.99")
        );
    }

    fn decimal(max_cents: i64) -> impl Strategy<Value = Decimal> {
        (0..max_cents).prop_map(|c| Decimal::new(c, 2))
    }

    proptest! {
        /// A commission never exceeds what its rule allows: exactly amount × p / 100 without
        /// rounding; within one unit of the last kept digit with it, and never above it when
        /// rounding down. A parent's share never exceeds its share of the commission.
        #[test]
        fn commissions_never_exceed_their_rule(
            cents in 0i64..100_000_000,
            percent in decimal(10_001),
            share in decimal(10_001),
            decimals in 0u32..5,
            mode in prop::sample::select(vec!["half_up", "half_even", "down", "up"]),
            rounding in any::<bool>(),
        ) {
            let amount = Decimal::new(cents, 2);
            let mut v = json!({"affiliate": {"commission": {"type": "percentage", "value": percent.to_string()},
                                            "parent_share": share.to_string()}});
            if rounding {
                v["rounding"] = json!({"decimals": decimals, "mode": mode});
            }
            let r = rules(v);
            let mut s = sale(&amount.to_string(), 0);
            s.has_parent = true;
            let lines = affiliate_rewards(&r, &usd(), &s);
            let exact = amount * percent / Decimal::ONE_HUNDRED;
            let unit = if rounding { Decimal::new(1, decimals) } else { Decimal::ZERO };
            for line in &lines {
                prop_assert!(line.amount > Decimal::ZERO);
                let allowed = match line.beneficiary {
                    Beneficiary::Partner => exact,
                    _ => exact * share / Decimal::ONE_HUNDRED,
                };
                prop_assert!(line.amount <= allowed + unit, "{} > {}", line.amount, allowed);
                if !rounding || RoundingMode::parse(mode) == Some(RoundingMode::Down) {
                    prop_assert!(line.amount <= allowed);
                }
            }
            if exact > unit && !lines.is_empty() {
                prop_assert_eq!(lines[0].beneficiary, Beneficiary::Partner);
            }
        }

        /// A capped rule never pays a holder more than `max_rewards` times, whatever it had.
        #[test]
        fn max_rewards_is_a_hard_cap(max in 1u32..50, had in 0u64..100) {
            let r = rules(json!({"referral": {"referring": [
                {"kind": "credit", "trigger": "every_purchase", "amount": {"type": "static", "value": 1}, "max_rewards": max}
            ]}}));
            let event = ReferralEvent::Purchase { sale: sale("10", 0).sale, first: false };
            let lines = referral_rewards(&r, &usd(), &event, &|_, _| had);
            prop_assert_eq!(lines.len(), usize::from(had < u64::from(max)));
        }

        /// First-N periods pay exactly the first N sales.
        #[test]
        fn first_n_pays_the_first_n(n in 1u32..20, prior in 0u64..40) {
            let r = rules(json!({"affiliate": {"commission": {"type": "static", "value": 1},
                                               "period": {"type": "first_transactions", "count": n}}}));
            let lines = affiliate_rewards(&r, &usd(), &sale("5", prior));
            prop_assert_eq!(lines.len(), usize::from(prior < u64::from(n)));
        }
    }
}
