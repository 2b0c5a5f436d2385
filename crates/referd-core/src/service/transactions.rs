//! Transaction use cases (spec §7): record a sale for either program type, with the rewards
//! the rules give; read and list; refund (delete) with reversal entries.
//!
//! Idempotency: a key names one live transaction. A repeat with the same key and the same
//! request answers the first transaction and adds nothing; the same key with a different
//! request is a 422. Both hold under concurrency: the store records a transaction and its
//! rewards in one database transaction, and refuses a second one with the key.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::affiliate::{AffiliateBuyer, SalePartner};
use crate::customer::{CustomerLookup, CustomerRowId};
use crate::error::{CoreError, CoreResult};
use crate::ids::{ProgramType, new_customer_id};
use crate::ledger::{
    EntryKind, Holder, LedgerEntry, NewEntry, NewTransaction, Recorded, Transaction,
    TransactionFilter,
};
use crate::money::{AmountError, Currency, Money, parse_amount};
use crate::page::{Page, PageRequest};
use crate::partner::{PartnerLookup, PartnerRowId};
use crate::program::Program;
use crate::rules::RuleSet;
use crate::rules::eval::{
    AffiliateSale, Beneficiary, LineKind, LineStatus, ReferralEvent, RewardLine, Sale, Side, Unit,
    affiliate_rewards, referral_rewards,
};
use crate::service::rules;
use crate::store::Store;
use crate::time::Timestamp;
use crate::validate::{FieldErrors, check_identifier, check_text};

/// How many times a sale is computed again when a concurrent sale of the same customer
/// changed its history (see [`Recorded::Stale`]).
const STALE_ATTEMPTS: usize = 8;

/// A sale as the client sent it, after wire parsing (amounts still JSON, to be read exactly).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SaleInput {
    pub key: Option<String>,
    pub amount: Option<serde_json::Value>,
    /// A commission set directly (affiliate), instead of computed by the rules.
    pub reward: Option<serde_json::Value>,
    pub amount_units: Option<String>,
    pub action: Option<String>,
    pub product_id: Option<String>,
    pub product_type: Option<String>,
    pub rewardable: Option<bool>,
    pub rewarded: Option<bool>,
    /// Unix seconds, or an ISO 8601 date-time.
    pub created_at: Option<serde_json::Value>,
}

/// The buyer, already resolved (or created) by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub customer: CustomerRowId,
    pub customer_created_at: Timestamp,
    /// Affiliate: the customer's partner.
    pub partner: Option<PartnerRowId>,
    /// Affiliate: the partner's facts when the caller read them with the buyer
    /// ([`crate::store::AffiliateCustomerStore::find_affiliate_buyer`]); else they are read
    /// when the sale is rewarded.
    pub partner_facts: PartnerFacts,
    /// Refer-a-friend: the customer who referred the buyer.
    pub referrer: Option<CustomerRowId>,
}

/// What the caller knows of an affiliate buyer's partner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PartnerFacts {
    /// Not read yet.
    #[default]
    Unknown,
    /// Read with the buyer: live (with its facts) or deleted (`None`).
    Known(Option<SalePartner>),
}

impl Buyer {
    /// An affiliate buyer read by [`crate::store::AffiliateCustomerStore::find_affiliate_buyer`].
    pub fn affiliate(found: AffiliateBuyer) -> Self {
        Self {
            customer: found.customer,
            customer_created_at: found.created_at,
            partner: Some(found.partner),
            partner_facts: PartnerFacts::Known(found.live_partner),
            referrer: None,
        }
    }
}

/// A sale ready to record: validated, exact.
#[derive(Debug, Clone)]
struct ValidSale {
    key: Option<String>,
    amount: Decimal,
    reward: Option<Decimal>,
    currency: Currency,
    action: Option<String>,
    product_id: Option<String>,
    product_type: Option<String>,
    rewardable: bool,
    rewarded: bool,
    occurred_at: Timestamp,
    occurred_given: bool,
}

/// The outcome of a create: the transaction, its entries, and whether this call created it
/// (false for an idempotent repeat).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub transaction: Transaction,
    pub entries: Vec<LedgerEntry>,
    pub created: bool,
}

fn amount_field(
    errors: &mut FieldErrors,
    field: &str,
    value: &serde_json::Value,
) -> Option<Decimal> {
    match parse_amount(value) {
        Ok(d) if d.is_sign_negative() => {
            errors.add(
                field,
                format!("The {field} field must not be negative (refund a sale by deleting its transaction)."),
            );
            None
        }
        Ok(d) => Some(d),
        Err(AmountError::TooPrecise) => {
            errors.add(
                field,
                format!(
                    "The {field} field has more than 15 significant digits: send it as a string."
                ),
            );
            None
        }
        Err(_) => {
            errors.add(field, format!("The {field} field must be a number."));
            None
        }
    }
}

/// `created_at` as Unix seconds (number or numeric string) or an RFC 3339 date-time.
fn parse_time(value: &serde_json::Value) -> Option<Timestamp> {
    let from_secs = |s: i64| s.checked_mul(1_000_000).map(Timestamp::from_micros);
    match value {
        serde_json::Value::Number(n) => n.as_i64().and_then(from_secs),
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Ok(secs) = s.parse::<i64>() {
                return from_secs(secs);
            }
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| Timestamp::from_micros(t.timestamp_micros()))
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                        .ok()
                        .map(|t| Timestamp::from_micros(t.and_utc().timestamp_micros()))
                })
        }
        _ => None,
    }
}

fn validate(
    program: &Program,
    input: &SaleInput,
    prefix: &str,
    now: Timestamp,
) -> Result<ValidSale, FieldErrors> {
    let mut errors = FieldErrors::new();
    let f = |name: &str| format!("{prefix}{name}");
    if let Some(key) = &input.key {
        check_identifier(&mut errors, &f("key"), key);
    }
    let amount = input
        .amount
        .as_ref()
        .and_then(|v| amount_field(&mut errors, &f("amount"), v));
    let reward = input
        .reward
        .as_ref()
        .and_then(|v| amount_field(&mut errors, &f("reward"), v));
    if input.amount.is_none() && input.reward.is_none() {
        errors.add(
            f("amount"),
            "The amount field is required (or give reward).",
        );
    }
    if reward.is_some() && program.program_type != ProgramType::Affiliate {
        errors.add(
            f("reward"),
            "The reward field sets an affiliate commission; refer-a-friend rewards come from the rules.",
        );
    }
    let currency = match &input.amount_units {
        None => Currency::parse(&program.settings.currency),
        Some(u) => {
            let c = Currency::parse(u);
            if c.is_none() {
                errors.add(
                    f("amount_units"),
                    "The amount_units field must be a 3-letter currency code.",
                );
            }
            c
        }
    };
    for (name, value) in [
        ("action", &input.action),
        ("product_id", &input.product_id),
        ("product_type", &input.product_type),
    ] {
        if let Some(v) = value {
            check_text(&mut errors, &f(name), v);
        }
    }
    let occurred_at = match &input.created_at {
        None => Some(now),
        Some(v) => {
            let t = parse_time(v);
            if t.is_none() {
                errors.add(
                    f("created_at"),
                    "The created_at field must be a Unix timestamp or an ISO 8601 date-time.",
                );
            }
            t
        }
    };
    errors.into_result()?;
    Ok(ValidSale {
        key: input.key.clone(),
        amount: amount.unwrap_or_default(),
        reward,
        currency: currency.unwrap_or_else(|| Currency::parse("USD").expect("USD")),
        action: input.action.clone(),
        product_id: input.product_id.clone(),
        product_type: input.product_type.clone(),
        rewardable: input.rewardable.unwrap_or(true),
        rewarded: input.rewarded.unwrap_or(false),
        occurred_at: occurred_at.unwrap_or(now),
        occurred_given: input.created_at.is_some(),
    })
}

/// What makes two requests "the same" for idempotency: every field that changes the sale.
fn request_hash(sale: &ValidSale, buyer: &Buyer) -> String {
    let canonical = serde_json::json!([
        sale.key,
        sale.amount.normalize().to_string(),
        sale.reward.map(|r| r.normalize().to_string()),
        sale.currency.as_str(),
        sale.action,
        sale.product_id,
        sale.product_type,
        sale.rewardable,
        sale.rewarded,
        sale.occurred_given.then_some(sale.occurred_at.as_micros()),
        buyer.customer.0,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// A generated transaction key when the client sends none.
fn new_transaction_key(now: Timestamp) -> String {
    new_customer_id(now).replacen("cus_", "txn_", 1)
}

fn unit_string(unit: &Unit) -> String {
    match unit {
        Unit::Currency(c) => c.as_str().to_string(),
        Unit::Percent => "%".to_string(),
    }
}

fn entry_of(
    line: &RewardLine,
    holder: Holder,
    version: Option<i64>,
    occurred_at: Timestamp,
) -> NewEntry {
    let (reward_kind, beneficiary) = (
        match line.kind {
            LineKind::Commission => "commission",
            LineKind::Referral(k) => k.as_str(),
        },
        match line.beneficiary {
            Beneficiary::Partner => "partner",
            Beneficiary::ParentPartner => "parent_partner",
            Beneficiary::Referring => "referring",
            Beneficiary::Referred => "referred",
        },
    );
    NewEntry {
        holder,
        kind: EntryKind::Reward,
        reward_kind: Some(reward_kind.into()),
        beneficiary: Some(beneficiary.into()),
        amount: line.amount,
        unit: unit_string(&line.unit),
        rule_version: version,
        rule_path: Some(line.rule.clone()),
        available_at: match line.status {
            LineStatus::Pending { until } => until,
            LineStatus::Approved => occurred_at,
        },
        note: None,
    }
}

/// The reward entries of a sale under the rules in force.
async fn reward_entries(
    store: &dyn Store,
    program: &Program,
    sale: &ValidSale,
    buyer: &Buyer,
    prior_sales: u64,
    rules_in_force: Option<&(crate::rules::RuleVersion, RuleSet)>,
) -> CoreResult<Vec<NewEntry>> {
    if !sale.rewardable || sale.rewarded {
        return Ok(Vec::new());
    }
    let program_currency = Currency::parse(&program.settings.currency)
        .unwrap_or_else(|| Currency::parse("USD").expect("USD"));
    let version = rules_in_force.map(|(v, _)| v.version);
    let empty = RuleSet::default();
    let set = rules_in_force.map_or(&empty, |(_, r)| r);
    let sale_facts = Sale {
        amount: Money {
            amount: sale.amount,
            currency: sale.currency.clone(),
        },
        product_id: sale.product_id.as_deref(),
        product_type: sale.product_type.as_deref(),
        occurred_at: sale.occurred_at,
    };
    match program.program_type {
        ProgramType::Affiliate => {
            let Some(partner_row) = buyer.partner else {
                return Ok(Vec::new());
            };
            let partner = match &buyer.partner_facts {
                PartnerFacts::Known(facts) => facts.clone(),
                PartnerFacts::Unknown => store
                    .find_partner_row(program.id, &PartnerLookup::Row(partner_row))
                    .await?
                    .map(|p| SalePartner {
                        row_id: p.row_id,
                        id: p.id,
                        referring_partner: p.referring_partner,
                    }),
            };
            // A deleted partner earns nothing new.
            let Some(partner) = partner else {
                return Ok(Vec::new());
            };
            if let Some(reward) = sale.reward {
                // Set directly by the client: one commission, available after the review
                // window of the rules when there are rules.
                let review = set.affiliate.as_ref().map_or(0, |a| a.review_days);
                return Ok(vec![NewEntry {
                    holder: Holder::Partner(partner.row_id),
                    kind: EntryKind::Reward,
                    reward_kind: Some("commission".into()),
                    beneficiary: Some("partner".into()),
                    amount: reward,
                    unit: sale.currency.as_str().to_string(),
                    rule_version: None,
                    rule_path: Some("reward".into()),
                    available_at: sale.occurred_at.plus_days(i64::from(review)),
                    note: None,
                }]);
            }
            let facts = AffiliateSale {
                sale: sale_facts,
                partner_id: &partner.id,
                has_parent: partner.referring_partner.is_some(),
                customer_created_at: buyer.customer_created_at,
                prior_sales,
            };
            let lines = affiliate_rewards(set, &program_currency, &facts);
            Ok(lines
                .iter()
                .filter_map(|line| {
                    let holder = match line.beneficiary {
                        Beneficiary::ParentPartner => Holder::Partner(partner.referring_partner?),
                        _ => Holder::Partner(partner.row_id),
                    };
                    Some(entry_of(line, holder, version, sale.occurred_at))
                })
                .collect())
        }
        ProgramType::Referral => {
            let Some(referrer) = buyer.referrer else {
                return Ok(Vec::new());
            };
            let Some(raf) = &set.referral else {
                return Ok(Vec::new());
            };
            // Counts for `max_rewards`, gathered before the (synchronous) evaluation.
            let mut prior: HashMap<(Side, usize), u64> = HashMap::new();
            for (side, list, holder, name) in [
                (
                    Side::Referring,
                    &raf.referring,
                    Holder::Customer(referrer),
                    "referring",
                ),
                (
                    Side::Referred,
                    &raf.referred,
                    Holder::Customer(buyer.customer),
                    "referred",
                ),
            ] {
                for (i, r) in list.iter().enumerate() {
                    if r.max_rewards.is_some() {
                        let path = format!("referral.{name}.{i}");
                        let n = store
                            .count_holder_rewards(program.id, holder, &path)
                            .await?;
                        prior.insert((side, i), n);
                    }
                }
            }
            let event = ReferralEvent::Purchase {
                sale: sale_facts,
                first: prior_sales == 0,
            };
            let lines = referral_rewards(set, &program_currency, &event, &|side, i| {
                prior.get(&(side, i)).copied().unwrap_or(0)
            });
            Ok(lines
                .iter()
                .map(|line| {
                    let holder = match line.beneficiary {
                        Beneficiary::Referring => Holder::Customer(referrer),
                        _ => Holder::Customer(buyer.customer),
                    };
                    entry_of(line, holder, version, sale.occurred_at)
                })
                .collect())
        }
        ProgramType::Newsletter => Ok(Vec::new()),
    }
}

/// Validates a sale without recording it (a bulk request checks every item first).
pub fn check(program: &Program, input: &SaleInput, prefix: &str, now: Timestamp) -> CoreResult<()> {
    validate(program, input, prefix, now)?;
    Ok(())
}

/// Records one sale of `buyer` with its rewards (or answers the first one, for a repeat).
pub async fn create(
    store: &dyn Store,
    program: &Program,
    buyer: &Buyer,
    input: &SaleInput,
    prefix: &str,
    now: Timestamp,
) -> CoreResult<Outcome> {
    if program.program_type == ProgramType::Newsletter {
        return Err(CoreError::WrongProgramType(program.program_type.as_str()));
    }
    if program.program_type == ProgramType::Referral && buyer.referrer.is_none() {
        return Err(CoreError::field(
            format!("{prefix}customer"),
            "Transactions can be created for referred customers only.",
        ));
    }
    let sale = validate(program, input, prefix, now)?;
    let hash = request_hash(&sale, buyer);
    let key = sale.key.clone().unwrap_or_else(|| new_transaction_key(now));
    // A repeat is found by the store, atomically with the insert: no separate lookup first
    // (that read cost a third of a sale's round trips on PostgreSQL, for the rare retry).
    let rules_in_force = rules::in_force(store, program).await?;
    // Most rule sets pay a sale the same whatever came before it; only those that do not
    // count the customer's sales, and have the store check the count has not moved.
    let needs_history = rules_in_force
        .as_ref()
        .is_some_and(|r| r.1.needs_sale_history());
    for _ in 0..STALE_ATTEMPTS {
        let prior_sales = if needs_history {
            Some(
                store
                    .count_customer_sales(program.id, buyer.customer)
                    .await?,
            )
        } else {
            None
        };
        let entries = reward_entries(
            store,
            program,
            &sale,
            buyer,
            prior_sales.unwrap_or(0),
            rules_in_force.as_deref(),
        )
        .await?;
        let new = NewTransaction {
            program_id: program.id,
            key: key.clone(),
            customer: buyer.customer,
            partner: buyer.partner,
            referrer: buyer.referrer,
            amount: sale.amount,
            currency: sale.currency.clone(),
            action: sale.action.clone(),
            product_id: sale.product_id.clone(),
            product_type: sale.product_type.clone(),
            rewardable: sale.rewardable,
            rewarded: sale.rewarded,
            request_hash: hash.clone(),
            created_at: sale.occurred_at,
            expected_prior_sales: prior_sales,
            entries,
        };
        match store.record_transaction(new, now).await? {
            Recorded::Created(transaction, entries) => {
                return Ok(Outcome {
                    transaction,
                    entries,
                    created: true,
                });
            }
            Recorded::Existing(tx, entries) => return replay(tx, entries, &hash, prefix),
            Recorded::Stale => continue,
        }
    }
    Err(CoreError::Internal(format!(
        "the customer's sales kept changing while recording transaction {key}"
    )))
}

/// The first transaction with this key, when the repeat is the same request.
fn replay(
    transaction: Transaction,
    entries: Vec<LedgerEntry>,
    hash: &str,
    prefix: &str,
) -> CoreResult<Outcome> {
    if transaction.request_hash == hash {
        Ok(Outcome {
            transaction,
            entries,
            created: false,
        })
    } else {
        Err(CoreError::field(
            format!("{prefix}key"),
            "The key has already been taken by a different transaction.",
        ))
    }
}

pub async fn get(
    store: &dyn Store,
    program: &Program,
    key: &str,
) -> CoreResult<(Transaction, Vec<LedgerEntry>)> {
    require_sales(program)?;
    store
        .find_transaction(program.id, key)
        .await?
        .ok_or(CoreError::NotFound("Transaction"))
}

fn require_sales(program: &Program) -> CoreResult<()> {
    match program.program_type {
        ProgramType::Newsletter => Err(CoreError::WrongProgramType(program.program_type.as_str())),
        _ => Ok(()),
    }
}

pub async fn list(
    store: &dyn Store,
    program: &Program,
    filter: &TransactionFilter,
    page: PageRequest,
) -> CoreResult<Page<(Transaction, Vec<LedgerEntry>)>> {
    require_sales(program)?;
    let rows = store.list_transactions(program.id, filter, page).await?;
    Ok(Page::from_rows(rows, page))
}

/// Refund or chargeback: the transaction is deleted and each of its rewards reversed by a new
/// entry. Answers the reversals.
pub async fn refund(
    store: &dyn Store,
    program: &Program,
    key: &str,
    now: Timestamp,
) -> CoreResult<Vec<LedgerEntry>> {
    let (tx, _) = get(store, program, key).await?;
    store
        .refund_transaction(program.id, tx.row_id, now)
        .await?
        .ok_or(CoreError::NotFound("Transaction"))
}

/// Archive: the transaction and its rewards are set aside (reversed by new entries), and
/// can be restored. Wrong state: 400 "Action failed".
pub async fn archive(
    store: &dyn Store,
    program: &Program,
    key: &str,
    now: Timestamp,
) -> CoreResult<Vec<LedgerEntry>> {
    let (tx, _) = get(store, program, key).await?;
    store
        .archive_transaction(program.id, tx.row_id, now)
        .await?
        .ok_or(CoreError::ActionFailed)
}

/// Restore an archived transaction: its rewards are written again as new entries.
pub async fn restore(
    store: &dyn Store,
    program: &Program,
    key: &str,
    now: Timestamp,
) -> CoreResult<Vec<LedgerEntry>> {
    let (tx, _) = get(store, program, key).await?;
    store
        .restore_transaction(program.id, tx.row_id, now)
        .await?
        .ok_or(CoreError::ActionFailed)
}

/// A customer lookup from a transaction's `customer{key|email|id}`.
pub fn customer_lookup(
    key: Option<&str>,
    email: Option<&str>,
    id: Option<&str>,
) -> Option<CustomerLookup> {
    if let Some(id) = id {
        Some(CustomerLookup::Id(id.to_string()))
    } else if let Some(key) = key {
        Some(CustomerLookup::Key(key.to_string()))
    } else {
        email.map(|e| CustomerLookup::Email(e.trim().to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_at_accepts_unix_seconds_and_iso() {
        assert_eq!(
            parse_time(&json!(1_700_000_000)),
            Some(Timestamp::from_micros(1_700_000_000_000_000))
        );
        assert_eq!(
            parse_time(&json!("1700000000")),
            Some(Timestamp::from_micros(1_700_000_000_000_000))
        );
        assert_eq!(
            parse_time(&json!("2023-11-14T22:13:20Z")),
            Some(Timestamp::from_micros(1_700_000_000_000_000))
        );
        assert_eq!(
            parse_time(&json!("2023-11-14 22:13:20")),
            Some(Timestamp::from_micros(1_700_000_000_000_000))
        );
        assert_eq!(parse_time(&json!("yesterday")), None);
        assert_eq!(parse_time(&json!(true)), None);
    }
}
