//! Reading a rule set from JSON, with an error per field (`affiliate.commission.value: …`).
//! Unknown fields are errors: a misspelt rule silently ignored is money paid wrongly.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::money::{AmountError, Currency, Rounding, RoundingMode, parse_amount};
use crate::rules::{
    AffiliateRules, Amount, PartnerRule, Period, ProductRule, ReferralReward, ReferralRules,
    RewardKind, RuleSet, Trigger,
};
use crate::validate::FieldErrors;

/// Parses and validates a rule set. Every problem is reported, by field path.
pub fn parse_rules(value: &Value) -> Result<RuleSet, FieldErrors> {
    let mut r = Reader {
        errors: FieldErrors::new(),
    };
    let set = r.rule_set(value);
    r.errors.into_result().map(|()| set)
}

struct Reader {
    errors: FieldErrors,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl Reader {
    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.errors.add(path, message);
    }

    /// The object at `path`, with only `allowed` keys; `None` (after an error) otherwise.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.fail(path_or_root(path), "must be an object.");
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.fail(
                    &join(path, key),
                    format!("is not a known field (known: {}).", allowed.join(", ")),
                );
            }
        }
        Some(map)
    }

    fn rule_set(&mut self, value: &Value) -> RuleSet {
        let Some(map) = self.object(
            value,
            "",
            &["currency", "rounding", "affiliate", "referral"],
        ) else {
            return RuleSet::default();
        };
        let currency =
            map.get("currency")
                .and_then(|v| match v.as_str().and_then(Currency::parse) {
                    Some(c) => Some(c),
                    None => {
                        self.fail("currency", "must be a 3-letter currency code.");
                        None
                    }
                });
        let rounding = map.get("rounding").and_then(|v| self.rounding(v));
        let affiliate = map.get("affiliate").and_then(|v| self.affiliate(v));
        let referral = map.get("referral").and_then(|v| self.referral(v));
        RuleSet {
            currency,
            rounding,
            affiliate,
            referral,
        }
    }

    fn rounding(&mut self, value: &Value) -> Option<Rounding> {
        let map = self.object(value, "rounding", &["decimals", "mode"])?;
        let decimals = match map.get("decimals").and_then(Value::as_u64) {
            Some(d) if d <= 8 => d as u32,
            _ => {
                self.fail("rounding.decimals", "must be a whole number from 0 to 8.");
                return None;
            }
        };
        let mode = match map.get("mode") {
            None => RoundingMode::HalfUp,
            Some(v) => match v.as_str().and_then(RoundingMode::parse) {
                Some(m) => m,
                None => {
                    self.fail("rounding.mode", "must be half_up, half_even, down or up.");
                    return None;
                }
            },
        };
        Some(Rounding { decimals, mode })
    }

    fn decimal(&mut self, value: &Value, path: &str) -> Option<Decimal> {
        match parse_amount(value) {
            Ok(d) => Some(d),
            Err(AmountError::TooPrecise) => {
                self.fail(
                    path,
                    "has more than 15 significant digits: send it as a string.",
                );
                None
            }
            Err(_) => {
                self.fail(path, "must be a decimal number.");
                None
            }
        }
    }

    /// `{"type": "percentage"|"static", "value": …}`.
    fn amount(&mut self, value: &Value, path: &str) -> Option<Amount> {
        let map = self.object(value, path, &["type", "value"])?;
        let Some(raw) = map.get("value") else {
            self.fail(&join(path, "value"), "is required.");
            return None;
        };
        let number = self.decimal(raw, &join(path, "value"))?;
        if number.is_sign_negative() {
            self.fail(&join(path, "value"), "must not be negative.");
            return None;
        }
        match map.get("type").and_then(Value::as_str) {
            Some("percentage") if number <= Decimal::ONE_HUNDRED => {
                Some(Amount::Percentage(number))
            }
            Some("percentage") => {
                self.fail(&join(path, "value"), "must be at most 100 (percent).");
                None
            }
            Some("static") => Some(Amount::Static(number)),
            _ => {
                self.fail(&join(path, "type"), "must be percentage or static.");
                None
            }
        }
    }

    fn count(&mut self, map: &Map<String, Value>, path: &str) -> Option<u32> {
        match map.get("count").and_then(Value::as_u64) {
            Some(n) if (1..=100_000).contains(&n) => Some(n as u32),
            _ => {
                self.fail(
                    &join(path, "count"),
                    "must be a whole number from 1 to 100000.",
                );
                None
            }
        }
    }

    fn period(&mut self, value: &Value, path: &str) -> Option<Period> {
        let map = self.object(value, path, &["type", "count"])?;
        match map.get("type").and_then(Value::as_str) {
            Some("lifetime") => Some(Period::Lifetime),
            Some("first_transactions") => self.count(map, path).map(Period::FirstTransactions),
            Some("days") => self.count(map, path).map(Period::Days),
            Some("months") => self.count(map, path).map(Period::Months),
            Some("years") => self.count(map, path).map(Period::Years),
            _ => {
                self.fail(
                    &join(path, "type"),
                    "must be lifetime, first_transactions, days, months or years.",
                );
                None
            }
        }
    }

    fn affiliate(&mut self, value: &Value) -> Option<AffiliateRules> {
        let path = "affiliate";
        let map = self.object(
            value,
            path,
            &[
                "commission",
                "period",
                "review_days",
                "products",
                "partners",
                "parent_share",
            ],
        )?;
        let commission = match map.get("commission") {
            Some(v) => self.amount(v, "affiliate.commission"),
            None => {
                self.fail("affiliate.commission", "is required.");
                None
            }
        };
        let period = match map.get("period") {
            Some(v) => self.period(v, "affiliate.period"),
            None => Some(Period::Lifetime),
        };
        let review_days = match map.get("review_days") {
            None => Some(0),
            Some(v) => match v.as_u64() {
                Some(d) if d <= 3650 => Some(d as u32),
                _ => {
                    self.fail(
                        "affiliate.review_days",
                        "must be a whole number of days from 0 to 3650.",
                    );
                    None
                }
            },
        };
        let products = self.list(map.get("products"), "affiliate.products", |r, v, p| {
            r.product(v, &p)
        });
        let partners = self.list(map.get("partners"), "affiliate.partners", |r, v, p| {
            r.partner(v, &p)
        });
        let parent_share = map.get("parent_share").and_then(|v| {
            let share = self.decimal(v, "affiliate.parent_share")?;
            if share.is_sign_negative() || share > Decimal::ONE_HUNDRED {
                self.fail(
                    "affiliate.parent_share",
                    "must be a percentage from 0 to 100.",
                );
                return None;
            }
            Some(share)
        });
        Some(AffiliateRules {
            commission: commission?,
            period: period?,
            review_days: review_days?,
            products,
            partners,
            parent_share,
        })
    }

    fn list<T>(
        &mut self,
        value: Option<&Value>,
        path: &str,
        mut item: impl FnMut(&mut Self, &Value, String) -> Option<T>,
    ) -> Vec<T> {
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            self.fail(path, "must be a list.");
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| item(self, v, format!("{path}.{i}")))
            .collect()
    }

    fn product(&mut self, value: &Value, path: &str) -> Option<ProductRule> {
        let map = self.object(value, path, &["product_id", "product_type", "commission"])?;
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        let (product_id, product_type) = (text("product_id"), text("product_type"));
        if product_id.is_none() && product_type.is_none() {
            self.fail(path, "needs a product_id or a product_type (text).");
            return None;
        }
        let commission = match map.get("commission") {
            Some(v) => self.amount(v, &join(path, "commission"))?,
            None => {
                self.fail(&join(path, "commission"), "is required.");
                return None;
            }
        };
        Some(ProductRule {
            product_id,
            product_type,
            commission,
        })
    }

    fn partner(&mut self, value: &Value, path: &str) -> Option<PartnerRule> {
        let map = self.object(value, path, &["partner", "commission", "period"])?;
        let Some(partner) = map
            .get("partner")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            self.fail(&join(path, "partner"), "must be the partner's id.");
            return None;
        };
        let commission = match map.get("commission") {
            Some(v) => self.amount(v, &join(path, "commission"))?,
            None => {
                self.fail(&join(path, "commission"), "is required.");
                return None;
            }
        };
        let period = match map.get("period") {
            Some(v) => Some(self.period(v, &join(path, "period"))?),
            None => None,
        };
        Some(PartnerRule {
            partner: partner.to_string(),
            commission,
            period,
        })
    }

    fn referral(&mut self, value: &Value) -> Option<ReferralRules> {
        let map = self.object(value, "referral", &["referring", "referred"])?;
        Some(ReferralRules {
            referring: self.list(map.get("referring"), "referral.referring", |r, v, p| {
                r.referral_reward(v, &p)
            }),
            referred: self.list(map.get("referred"), "referral.referred", |r, v, p| {
                r.referral_reward(v, &p)
            }),
        })
    }

    fn referral_reward(&mut self, value: &Value, path: &str) -> Option<ReferralReward> {
        let map = self.object(value, path, &["kind", "trigger", "amount", "max_rewards"])?;
        let kind = match map.get("kind").and_then(Value::as_str) {
            Some("credit") => Some(RewardKind::Credit),
            Some("discount") => Some(RewardKind::Discount),
            Some("cash") => Some(RewardKind::Cash),
            _ => {
                self.fail(&join(path, "kind"), "must be credit, discount or cash.");
                None
            }
        };
        let trigger = match map.get("trigger").and_then(Value::as_str) {
            Some("signup") => Some(Trigger::Signup),
            Some("purchase") => Some(Trigger::FirstPurchase),
            Some("every_purchase" | "subscription") => Some(Trigger::EveryPurchase),
            _ => {
                self.fail(
                    &join(path, "trigger"),
                    "must be signup, purchase, every_purchase or subscription.",
                );
                None
            }
        };
        let amount = match map.get("amount") {
            Some(v) => self.amount(v, &join(path, "amount")),
            None => {
                self.fail(&join(path, "amount"), "is required.");
                None
            }
        };
        let max_rewards = match map.get("max_rewards") {
            None | Some(Value::Null) => Some(None),
            Some(v) => match v.as_u64() {
                Some(n) if (1..=1_000_000).contains(&n) => Some(Some(n as u32)),
                _ => {
                    self.fail(&join(path, "max_rewards"), "must be a whole number from 1.");
                    None
                }
            },
        };
        let (kind, trigger, amount, max_rewards) = (kind?, trigger?, amount?, max_rewards?);
        // A sign-up has no amount to take a percentage of, except for a discount, whose
        // percentage is the discount itself.
        if trigger == Trigger::Signup
            && matches!(amount, Amount::Percentage(_))
            && kind != RewardKind::Discount
        {
            self.fail(
                &join(path, "amount"),
                "a signup reward of kind credit or cash needs a static amount (a sign-up has no price to take a percentage of).",
            );
            return None;
        }
        Some(ReferralReward {
            kind,
            trigger,
            amount,
            max_rewards,
        })
    }
}

fn path_or_root(path: &str) -> &str {
    if path.is_empty() { "rules" } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn the_documented_example_parses() {
        let set = parse_rules(&json!({
            "currency": "usd",
            "rounding": {"decimals": 2, "mode": "down"},
            "affiliate": {
                "commission": {"type": "percentage", "value": 30},
                "period": {"type": "months", "count": 12},
                "review_days": 14,
                "products": [{"product_type": "yearly", "commission": {"type": "percentage", "value": "20"}}],
                "partners": [{"partner": "partner_123", "commission": {"type": "static", "value": 15}}],
                "parent_share": 10
            },
            "referral": {
                "referring": [{"kind": "credit", "trigger": "purchase", "amount": {"type": "static", "value": 10}, "max_rewards": 20}],
                "referred": [{"kind": "discount", "trigger": "signup", "amount": {"type": "percentage", "value": 20}}]
            }
        }))
        .unwrap();
        assert_eq!(set.currency.unwrap().as_str(), "USD");
        let aff = set.affiliate.unwrap();
        assert_eq!(aff.commission, Amount::Percentage(d("30")));
        assert_eq!(aff.period, Period::Months(12));
        assert_eq!(aff.parent_share, Some(d("10")));
        assert_eq!(aff.products[0].commission, Amount::Percentage(d("20")));
        let raf = set.referral.unwrap();
        assert_eq!(raf.referring[0].max_rewards, Some(20));
        assert_eq!(raf.referred[0].trigger, Trigger::Signup);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let errors = parse_rules(&json!({
            "curency": "USD",
            "affiliate": {
                "commission": {"type": "percentage", "value": 130},
                "period": {"type": "weeks", "count": 2},
                "products": [{"commission": {"type": "static", "value": 1}}],
                "parent_share": -1
            },
            "referral": {"referring": [{"kind": "credit", "trigger": "signup",
                                         "amount": {"type": "percentage", "value": 5}}]}
        }))
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f).collect();
        for f in [
            "curency",
            "affiliate.commission.value",
            "affiliate.period.type",
            "affiliate.products.0",
            "affiliate.parent_share",
            "referral.referring.0.amount",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        assert!(parse_rules(&json!([])).is_err());
        assert!(parse_rules(&json!({"affiliate": {}})).is_err());
    }

    #[test]
    fn an_empty_rule_set_is_valid_and_pays_nothing() {
        assert_eq!(parse_rules(&json!({})).unwrap(), RuleSet::default());
    }
}
