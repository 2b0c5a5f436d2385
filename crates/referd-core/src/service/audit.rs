//! `referd ledger verify`: recomputes every holder's totals from the entries and checks the
//! ledger's invariants, reporting each difference. A healthy ledger reports none.
//!
//! Checked:
//! - a reversal cancels exactly one earlier entry: same holder, same unit, the opposite amount,
//!   and that entry is not itself a reversal;
//! - no entry is reversed twice;
//! - a refunded or archived transaction nets to zero for every holder and unit;
//! - a transaction that was not rewardable, or was rewarded by the client, has no rewards;
//! - rewards are positive and payouts negative;
//! - the totals the API reports (partner `commissions`, a customer's pending and available
//!   amounts) add up to the plain sum of the holder's entries.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use crate::error::CoreResult;
use crate::ledger::{EntryKind, Holder, LedgerEntry, TransactionStatus};
use crate::program::Program;
use crate::service::balances::commissions;
use crate::store::Store;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub entry: Option<i64>,
    pub transaction: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    pub transactions: usize,
    pub entries: usize,
    /// Each holder's total per unit (`partner:12`, `customer:7` → unit → sum).
    pub totals: BTreeMap<String, BTreeMap<String, Decimal>>,
    pub problems: Vec<Problem>,
}

fn holder_name(h: Holder) -> String {
    match h {
        Holder::Partner(p) => format!("partner:{}", p.0),
        Holder::Customer(c) => format!("customer:{}", c.0),
    }
}

/// Audits one program's ledger as of `now`.
pub async fn verify(store: &dyn Store, program: &Program, now: Timestamp) -> CoreResult<Audit> {
    let transactions = store.all_transactions(program.id).await?;
    let entries = store
        .entries_between(
            program.id,
            Timestamp::from_micros(i64::MIN),
            Timestamp::from_micros(i64::MAX),
        )
        .await?;
    Ok(check(&transactions, &entries, now))
}

/// The checks, on data already read (pure, so it is tested directly).
pub fn check(
    transactions: &[crate::ledger::Transaction],
    entries: &[LedgerEntry],
    now: Timestamp,
) -> Audit {
    let mut audit = Audit {
        transactions: transactions.len(),
        entries: entries.len(),
        ..Audit::default()
    };
    let by_id: HashMap<i64, &LedgerEntry> = entries.iter().map(|e| (e.row_id, e)).collect();
    let key_of: HashMap<i64, &str> = transactions
        .iter()
        .map(|t| (t.row_id.0, t.key.as_str()))
        .collect();
    let mut problem = |e: &LedgerEntry, message: String| {
        audit.problems.push(Problem {
            entry: Some(e.row_id),
            transaction: e
                .transaction
                .and_then(|t| key_of.get(&t.0).map(|k| k.to_string())),
            message,
        });
    };
    let mut reversed: HashMap<i64, u32> = HashMap::new();
    for e in entries {
        match e.kind {
            EntryKind::Reversal => match e.reverses.and_then(|r| by_id.get(&r)) {
                None => problem(e, "a reversal of no entry".into()),
                Some(orig) => {
                    *reversed.entry(orig.row_id).or_default() += 1;
                    if orig.kind == EntryKind::Reversal {
                        problem(
                            e,
                            format!("reverses entry {}, itself a reversal", orig.row_id),
                        );
                    }
                    if orig.holder != e.holder || orig.unit != e.unit {
                        problem(
                            e,
                            format!("reverses entry {} of another holder or unit", orig.row_id),
                        );
                    }
                    if orig.amount != -e.amount {
                        problem(
                            e,
                            format!(
                                "reverses entry {} of {} with {}, not its opposite",
                                orig.row_id, orig.amount, e.amount
                            ),
                        );
                    }
                }
            },
            EntryKind::Reward if e.amount <= Decimal::ZERO => {
                problem(e, format!("a reward of {}", e.amount));
            }
            EntryKind::Payout if e.amount >= Decimal::ZERO => {
                problem(e, format!("a payout of {}", e.amount));
            }
            _ => {}
        }
        *audit
            .totals
            .entry(holder_name(e.holder))
            .or_default()
            .entry(e.unit.clone())
            .or_default() += e.amount;
    }
    for (id, n) in reversed {
        if n > 1
            && let Some(e) = by_id.get(&id)
        {
            problem(e, format!("reversed {n} times"));
        }
    }
    // Per transaction: refunded and archived ones net to zero; unrewardable ones earn nothing.
    let mut per_tx: HashMap<i64, BTreeMap<(String, String), Decimal>> = HashMap::new();
    let mut rewards_of: HashMap<i64, usize> = HashMap::new();
    for e in entries {
        if let Some(t) = e.transaction {
            *per_tx
                .entry(t.0)
                .or_default()
                .entry((holder_name(e.holder), e.unit.clone()))
                .or_default() += e.amount;
            if e.kind == EntryKind::Reward {
                *rewards_of.entry(t.0).or_default() += 1;
            }
        }
    }
    for t in transactions {
        let sums = per_tx.get(&t.row_id.0);
        if matches!(
            t.status,
            TransactionStatus::Deleted | TransactionStatus::Archived
        ) && let Some(sums) = sums
        {
            for ((holder, unit), sum) in sums {
                if !sum.is_zero() {
                    audit.problems.push(Problem {
                        entry: None,
                        transaction: Some(t.key.clone()),
                        message: format!(
                            "{} transaction leaves {sum} {unit} with {holder}",
                            t.status.as_str()
                        ),
                    });
                }
            }
        }
        if (!t.rewardable || t.rewarded) && rewards_of.get(&t.row_id.0).copied().unwrap_or(0) > 0 {
            audit.problems.push(Problem {
                entry: None,
                transaction: Some(t.key.clone()),
                message: "rewards on a transaction that was not rewardable or already rewarded"
                    .into(),
            });
        }
    }
    // The API's figures add up to the plain sums.
    let mut by_holder: HashMap<Holder, Vec<LedgerEntry>> = HashMap::new();
    for e in entries {
        by_holder.entry(e.holder).or_default().push(e.clone());
    }
    for (holder, list) in by_holder {
        let c = commissions(&list, now);
        let plain = &audit.totals[&holder_name(holder)];
        for (unit, total) in plain {
            let get = |m: &BTreeMap<String, Decimal>| m.get(unit).copied().unwrap_or_default();
            let reported = get(&c.pending) + get(&c.not_paid) + get(&c.paid) - get(&c.paid);
            if reported != *total {
                audit.problems.push(Problem {
                    entry: None,
                    transaction: None,
                    message: format!(
                        "{}: reported {reported} {unit}, entries sum to {total}",
                        holder_name(holder)
                    ),
                });
            }
        }
    }
    audit
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::customer::CustomerRowId;
    use crate::ledger::{Transaction, TransactionRowId};
    use crate::money::Currency;
    use crate::partner::PartnerRowId;
    use crate::program::ProgramRowId;

    fn tx(status: TransactionStatus) -> Transaction {
        Transaction {
            row_id: TransactionRowId(1),
            program_id: ProgramRowId(1),
            key: "t1".into(),
            customer: CustomerRowId(1),
            customer_ident: "c".into(),
            partner: Some(PartnerRowId(1)),
            partner_key: Some("p".into()),
            referrer: None,
            referrer_ident: None,
            amount: Decimal::from(100),
            currency: Currency::parse("USD").unwrap(),
            action: None,
            product_id: None,
            product_type: None,
            rewardable: true,
            rewarded: false,
            status,
            request_hash: String::new(),
            created_at: Timestamp::from_micros(0),
            deleted_at: None,
        }
    }

    fn entry(id: i64, kind: EntryKind, amount: &str, reverses: Option<i64>) -> LedgerEntry {
        LedgerEntry {
            row_id: id,
            program_id: ProgramRowId(1),
            holder: Holder::Partner(PartnerRowId(1)),
            kind,
            reward_kind: Some("commission".into()),
            beneficiary: None,
            amount: Decimal::from_str(amount).unwrap(),
            unit: "USD".into(),
            transaction: Some(TransactionRowId(1)),
            reverses,
            rule_version: None,
            rule_path: None,
            available_at: Timestamp::from_micros(0),
            created_at: Timestamp::from_micros(0),
            note: None,
        }
    }

    #[test]
    fn a_healthy_refund_has_no_problems() {
        let entries = [
            entry(1, EntryKind::Reward, "29.997", None),
            entry(2, EntryKind::Reversal, "-29.997", Some(1)),
        ];
        let audit = check(
            &[tx(TransactionStatus::Deleted)],
            &entries,
            Timestamp::from_micros(1),
        );
        assert_eq!(audit.problems, vec![]);
        assert_eq!(audit.totals["partner:1"]["USD"], Decimal::ZERO);
    }

    #[test]
    fn broken_ledgers_are_reported() {
        let entries = [
            entry(1, EntryKind::Reward, "10", None),
            entry(2, EntryKind::Reversal, "-9", Some(1)),
            entry(3, EntryKind::Reversal, "-10", Some(1)),
            entry(4, EntryKind::Reversal, "1", Some(99)),
        ];
        let audit = check(
            &[tx(TransactionStatus::Deleted)],
            &entries,
            Timestamp::from_micros(1),
        );
        let messages: Vec<&str> = audit.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.contains("not its opposite")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("reversed 2 times")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("a reversal of no entry")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("deleted transaction leaves")),
            "{messages:?}"
        );
    }
}
