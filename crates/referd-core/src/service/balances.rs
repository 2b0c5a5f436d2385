//! Totals computed from the ledger: a customer's credit balance (and credits or debits of it),
//! and a partner's commissions. Every figure is an exact sum of entries, per unit; nothing is
//! stored besides the entries themselves.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::customer::CustomerView;
use crate::error::{CoreError, CoreResult};
use crate::ledger::{EntryKind, Holder, LedgerEntry, NewEntry, SalesScope, SalesSummary};
use crate::money::{AmountError, Currency, parse_amount};
use crate::partner::PartnerRowId;
use crate::program::Program;
use crate::service::customers;
use crate::store::Store;
use crate::time::Timestamp;
use crate::validate::FieldErrors;

/// The reward kind of credit-balance entries (credit rewards, manual credits and their
/// reversals all carry it).
pub const CREDIT: &str = "credit";

/// Sums per unit, in unit order.
pub type Sums = BTreeMap<String, Decimal>;

fn add(sums: &mut Sums, unit: &str, amount: Decimal) {
    *sums.entry(unit.to_string()).or_default() += amount;
}

/// A customer's credit balance: credit entries available at `now`, per unit.
pub fn credit_balance(entries: &[LedgerEntry], now: Timestamp) -> Sums {
    let mut sums = Sums::new();
    for e in entries {
        if e.reward_kind.as_deref() == Some(CREDIT) && e.available_at <= now {
            add(&mut sums, &e.unit, e.amount);
        }
    }
    sums
}

/// A partner's commissions: `pending` (still in review), `not_paid` (approved, less payouts)
/// and `paid` (payouts), per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commissions {
    pub pending: Sums,
    pub not_paid: Sums,
    pub paid: Sums,
}

pub fn commissions(entries: &[LedgerEntry], now: Timestamp) -> Commissions {
    let mut c = Commissions::default();
    for e in entries {
        if e.kind == EntryKind::Payout {
            // A payout moves money from "not paid" to "paid".
            add(&mut c.paid, &e.unit, -e.amount);
            add(&mut c.not_paid, &e.unit, e.amount);
        } else if e.available_at > now {
            add(&mut c.pending, &e.unit, e.amount);
        } else {
            add(&mut c.not_paid, &e.unit, e.amount);
        }
    }
    c
}

pub async fn partner_commissions(
    store: &dyn Store,
    program: &Program,
    partner: PartnerRowId,
    now: Timestamp,
) -> CoreResult<Commissions> {
    let entries = store
        .holder_entries(program.id, Holder::Partner(partner))
        .await?;
    Ok(commissions(&entries, now))
}

/// The sales of a scope, now: a partner's (`GET /v1/partners/{id}`), a referring customer's
/// referrals' (`GET /v1/customers/{id}/stats`).
pub async fn sales(
    store: &dyn Store,
    program: &Program,
    scope: SalesScope,
) -> CoreResult<SalesSummary> {
    Ok(store.sales_summary(program.id, scope, None).await?)
}

/// `GET /v1/customers/{id}/balance`.
pub async fn customer_balance(
    store: &dyn Store,
    program: &Program,
    ident: &str,
    now: Timestamp,
) -> CoreResult<(CustomerView, Sums)> {
    let view = customers::get(store, program, ident).await?;
    let entries = store
        .holder_entries(program.id, Holder::Customer(view.customer.row_id))
        .await?;
    Ok((view, credit_balance(&entries, now)))
}

/// `POST /v1/customers/{id}/balance/credit`: adds `amount` (negative to redeem) in
/// `amount_units` (a currency when `is_currency`, else any unit such as `points`). A debit
/// never takes the balance below zero: that is a 422 saying the balance.
pub async fn credit(
    store: &dyn Store,
    program: &Program,
    ident: &str,
    amount: Option<&Value>,
    amount_units: Option<&str>,
    is_currency: Option<bool>,
    now: Timestamp,
) -> CoreResult<(CustomerView, Sums)> {
    let view = customers::get(store, program, ident).await?;
    let mut errors = FieldErrors::new();
    let amount = match amount.map(parse_amount) {
        None => {
            errors.add("amount", "The amount field is required.");
            None
        }
        Some(Ok(d)) if d.is_zero() => {
            errors.add("amount", "The amount field must not be zero.");
            None
        }
        Some(Ok(d)) => Some(d),
        Some(Err(AmountError::TooPrecise)) => {
            errors.add(
                "amount",
                "The amount field has more than 15 significant digits: send it as a string.",
            );
            None
        }
        Some(Err(_)) => {
            errors.add("amount", "The amount field must be a number.");
            None
        }
    };
    let is_currency = is_currency.unwrap_or(true);
    let unit = match amount_units {
        None if is_currency => Some(program.settings.currency.clone()),
        None => {
            errors.add(
                "amount_units",
                "The amount_units field is required when is_currency is false.",
            );
            None
        }
        Some(u) if is_currency => match Currency::parse(u) {
            Some(c) => Some(c.as_str().to_string()),
            None => {
                errors.add(
                    "amount_units",
                    "The amount_units field must be a 3-letter currency code when is_currency is true.",
                );
                None
            }
        },
        Some(u) => {
            let u = u.trim();
            if u.is_empty() || u.len() > 32 || u == "%" {
                errors.add(
                    "amount_units",
                    "The amount_units field must be a unit name of 1 to 32 characters.",
                );
                None
            } else {
                Some(u.to_string())
            }
        }
    };
    errors.into_result()?;
    let (amount, unit) = (amount.unwrap_or_default(), unit.unwrap_or_default());
    let entry = NewEntry {
        holder: Holder::Customer(view.customer.row_id),
        kind: EntryKind::Credit,
        reward_kind: Some(CREDIT.into()),
        beneficiary: None,
        amount,
        unit: unit.clone(),
        rule_version: None,
        rule_path: None,
        available_at: now,
        note: None,
    };
    let floor = amount.is_sign_negative().then_some(Decimal::ZERO);
    if store
        .append_entry(program.id, entry, floor, now)
        .await?
        .is_none()
    {
        let entries = store
            .holder_entries(program.id, Holder::Customer(view.customer.row_id))
            .await?;
        let have = credit_balance(&entries, now)
            .get(&unit)
            .copied()
            .unwrap_or_default();
        return Err(CoreError::field(
            "amount",
            format!(
                "The balance is {} {unit}; a debit of {} would take it below zero.",
                have.normalize(),
                (-amount).normalize()
            ),
        ));
    }
    let entries = store
        .holder_entries(program.id, Holder::Customer(view.customer.row_id))
        .await?;
    Ok((view, credit_balance(&entries, now)))
}

/// Records money paid out to a partner (admin API): a negative `payout` entry. A payout never
/// exceeds what is approved and unpaid in that currency: the check and the write are one
/// step, so two concurrent payouts cannot pay the same commission twice.
pub async fn partner_payout(
    store: &dyn Store,
    program: &Program,
    ident: &str,
    amount: Option<&Value>,
    currency: Option<&str>,
    note: Option<String>,
    now: Timestamp,
) -> CoreResult<(crate::partner::PartnerView, LedgerEntry)> {
    let partner = crate::service::partners::get(store, program, ident).await?;
    let mut errors = FieldErrors::new();
    let amount = match amount.map(parse_amount) {
        None => {
            errors.add("amount", "The amount field is required.");
            None
        }
        Some(Ok(d)) if d <= Decimal::ZERO => {
            errors.add("amount", "The amount field must be positive.");
            None
        }
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            errors.add("amount", "The amount field must be a number.");
            None
        }
    };
    let unit = match currency {
        None => Some(program.settings.currency.clone()),
        Some(c) => match Currency::parse(c) {
            Some(c) => Some(c.as_str().to_string()),
            None => {
                errors.add(
                    "currency",
                    "The currency field must be a 3-letter currency code.",
                );
                None
            }
        },
    };
    if let Some(n) = &note {
        crate::validate::check_text(&mut errors, "note", n);
    }
    errors.into_result()?;
    let (amount, unit) = (amount.unwrap_or_default(), unit.unwrap_or_default());
    let entry = NewEntry {
        holder: Holder::Partner(partner.partner.row_id),
        kind: EntryKind::Payout,
        reward_kind: Some("commission".into()),
        beneficiary: Some("partner".into()),
        amount: -amount,
        unit: unit.clone(),
        rule_version: None,
        rule_path: None,
        available_at: now,
        note,
    };
    match store
        .append_entry(program.id, entry, Some(Decimal::ZERO), now)
        .await?
    {
        Some(written) => Ok((partner, written)),
        None => {
            let entries = store
                .holder_entries(program.id, Holder::Partner(partner.partner.row_id))
                .await?;
            let owed = commissions(&entries, now)
                .not_paid
                .get(&unit)
                .copied()
                .unwrap_or_default();
            Err(CoreError::field(
                "amount",
                format!(
                    "The partner has {} {unit} approved and unpaid; a payout of {} would exceed it.",
                    owed.normalize(),
                    amount.normalize()
                ),
            ))
        }
    }
}

/// `POST /v1/partners/{id}/reward`: a one-off bonus outside the rules (`amount` ≥ 0.01 in
/// the program's currency, `date` defaulting to now, `note`), a `bonus` ledger entry.
pub async fn partner_bonus(
    store: &dyn Store,
    program: &Program,
    ident: &str,
    amount: Option<&Value>,
    available_at: Option<Timestamp>,
    note: Option<String>,
    now: Timestamp,
) -> CoreResult<(crate::partner::PartnerView, LedgerEntry)> {
    let partner = crate::service::partners::get(store, program, ident).await?;
    let mut errors = FieldErrors::new();
    let amount = match amount.map(parse_amount) {
        None => {
            errors.add("amount", "The amount field is required.");
            None
        }
        Some(Ok(d)) if d < Decimal::new(1, 2) => {
            errors.add("amount", "The amount field must be at least 0.01.");
            None
        }
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            errors.add("amount", "The amount field must be a number.");
            None
        }
    };
    if let Some(n) = &note {
        crate::validate::check_text(&mut errors, "note", n);
    }
    errors.into_result()?;
    let entry = NewEntry {
        holder: Holder::Partner(partner.partner.row_id),
        kind: EntryKind::Bonus,
        reward_kind: Some("commission".into()),
        beneficiary: Some("partner".into()),
        amount: amount.unwrap_or_default(),
        unit: program.settings.currency.clone(),
        rule_version: None,
        rule_path: None,
        available_at: available_at.unwrap_or(now),
        note,
    };
    let written = store
        .append_entry(program.id, entry, None, now)
        .await?
        .ok_or_else(|| CoreError::Internal("a bonus without a floor was refused".into()))?;
    Ok((partner, written))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;
    use crate::program::ProgramRowId;

    fn entry(
        kind: EntryKind,
        amount: &str,
        available_at: i64,
        reverses: Option<i64>,
    ) -> LedgerEntry {
        LedgerEntry {
            row_id: 0,
            program_id: ProgramRowId(1),
            holder: Holder::Partner(PartnerRowId(1)),
            kind,
            reward_kind: Some("commission".into()),
            beneficiary: None,
            amount: Decimal::from_str(amount).unwrap(),
            unit: "USD".into(),
            transaction: None,
            reverses,
            rule_version: None,
            rule_path: None,
            available_at: Timestamp::from_micros(available_at),
            created_at: Timestamp::from_micros(0),
            note: None,
        }
    }

    #[test]
    fn commissions_split_pending_approved_and_paid() {
        let now = Timestamp::from_micros(100);
        let entries = vec![
            entry(EntryKind::Reward, "29.997", 50, None),
            entry(EntryKind::Reward, "10", 200, None),
            entry(EntryKind::Payout, "-20", 60, None),
            // A refund of the paid reward after the payout: approved goes below zero.
            entry(EntryKind::Reversal, "-29.997", 100, Some(1)),
        ];
        let c = commissions(&entries, now);
        assert_eq!(c.pending["USD"], Decimal::from(10));
        assert_eq!(c.paid["USD"], Decimal::from(20));
        assert_eq!(c.not_paid["USD"], Decimal::from(-20));
    }

    proptest! {
        /// Whatever happened before, reversing each of a transaction's rewards brings that
        /// transaction's total back to exactly zero, pending and approved alike, and the
        /// holder's totals always add up to the sum of the entries.
        #[test]
        fn reversals_bring_a_transaction_back_to_zero(
            amounts in prop::collection::vec(1i64..10_000_000, 1..6),
            availability in prop::collection::vec(0i64..200, 1..6),
            now in 0i64..200,
        ) {
            let now_ts = Timestamp::from_micros(now);
            let mut entries: Vec<LedgerEntry> = amounts
                .iter()
                .zip(availability.iter().cycle())
                .map(|(a, t)| entry(EntryKind::Reward, &Decimal::new(*a, 3).to_string(), *t, None))
                .collect();
            let total: Decimal = entries.iter().map(|e| e.amount).sum();
            let c = commissions(&entries, now_ts);
            let sum = |s: &Sums| s.get("USD").copied().unwrap_or_default();
            prop_assert_eq!(sum(&c.pending) + sum(&c.not_paid) - sum(&c.paid) + sum(&c.paid), total);
            // The refund, as the store writes it.
            let reversals: Vec<LedgerEntry> = entries
                .iter()
                .map(|e| {
                    let at = if e.available_at > now_ts { e.available_at.as_micros() } else { now };
                    entry(EntryKind::Reversal, &(-e.amount).to_string(), at, Some(0))
                })
                .collect();
            entries.extend(reversals);
            let c = commissions(&entries, now_ts);
            prop_assert_eq!(sum(&c.pending), Decimal::ZERO);
            prop_assert_eq!(sum(&c.not_paid), Decimal::ZERO);
        }
    }
}
