//! Transaction objects (spec §7.1 affiliate, §7.6 refer-a-friend) and their `rewards[]`.
//! Amounts are exact decimals written as JSON numbers (`29.997`).

use std::collections::HashMap;

use referd_core::ids::ProgramType;
use referd_core::ledger::{EntryKind, Holder, LedgerEntry, Transaction};
use referd_core::money::amount_json;
use referd_core::program::Program;
use referd_core::time::Timestamp;
use serde_json::{Map, Value, json};

use crate::wire::timestamp;

/// Identifiers of the holders a transaction's rewards go to, beyond its own partner and
/// customers (a multi-tier parent partner's key).
pub type HolderNames = HashMap<Holder, String>;

fn holder_name(tx: &Transaction, holder: Holder, names: &HolderNames) -> Option<String> {
    if let Some(n) = names.get(&holder) {
        return Some(n.clone());
    }
    match holder {
        Holder::Partner(p) if Some(p) == tx.partner => tx.partner_key.clone(),
        Holder::Customer(c) if c == tx.customer => Some(tx.customer_ident.clone()),
        Holder::Customer(c) if Some(c) == tx.referrer => tx.referrer_ident.clone(),
        _ => None,
    }
}

fn product_type_data(tx: &Transaction) -> Value {
    let mut m = Map::new();
    if let Some(id) = &tx.product_id {
        m.insert("product_id".into(), json!(id));
    }
    if let Some(t) = &tx.product_type {
        m.insert("product_type".into(), json!(t));
    }
    Value::Object(m)
}

/// One `rewards[]` item: Partnero's fields, then what explains it (`kind`, `beneficiary`,
/// `rule`, `rule_version`).
fn reward(
    program: &Program,
    tx: &Transaction,
    e: &LedgerEntry,
    names: &HolderNames,
    now: Timestamp,
) -> Value {
    let holder = holder_name(tx, e.holder, names);
    let is_currency = e.unit != "%";
    let mut item = Map::new();
    item.insert("key".into(), json!(tx.key));
    item.insert(
        "action".into(),
        json!(tx.action.as_deref().unwrap_or("sale")),
    );
    item.insert(
        "status".into(),
        json!(if e.available_at > now {
            "pending"
        } else {
            "ok"
        }),
    );
    match program.program_type {
        ProgramType::Affiliate => {
            item.insert("customer".into(), json!(tx.customer_ident));
            item.insert("partner".into(), json!(holder));
        }
        _ => {
            item.insert("customer".into(), json!(holder));
        }
    }
    item.insert("amount".into(), amount_json(e.amount));
    item.insert(
        "amount_units".into(),
        if is_currency {
            json!(e.unit)
        } else {
            json!("%")
        },
    );
    item.insert("is_currency".into(), json!(is_currency));
    item.insert(
        "credit".into(),
        json!(e.reward_kind.as_deref() == Some("credit")),
    );
    item.insert("created_at".into(), json!(timestamp(e.created_at)));
    item.insert("deleted_at".into(), Value::Null);
    item.insert("product_type_data".into(), product_type_data(tx));
    item.insert("kind".into(), json!(e.reward_kind));
    item.insert("beneficiary".into(), json!(e.beneficiary));
    item.insert("rule".into(), json!(e.rule_path));
    item.insert("rule_version".into(), json!(e.rule_version));
    item.insert("available_at".into(), json!(timestamp(e.available_at)));
    Value::Object(item)
}

/// The transaction object with its current rewards (rewards not reversed).
pub fn transaction(
    program: &Program,
    tx: &Transaction,
    entries: &[LedgerEntry],
    names: &HolderNames,
    now: Timestamp,
) -> Value {
    let reversed: Vec<i64> = entries.iter().filter_map(|e| e.reverses).collect();
    let rewards: Vec<Value> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Reward && !reversed.contains(&e.row_id))
        .map(|e| reward(program, tx, e, names, now))
        .collect();
    let mut m = Map::new();
    m.insert("key".into(), json!(tx.key));
    m.insert(
        "action".into(),
        json!(tx.action.as_deref().unwrap_or("sale")),
    );
    m.insert("amount".into(), amount_json(tx.amount));
    match program.program_type {
        ProgramType::Affiliate => {
            m.insert("partner".into(), json!(tx.partner_key));
            m.insert("customer".into(), json!(tx.customer_ident));
        }
        _ => {
            // Refer-a-friend renames: `customer` is the referrer, `referred_customer` the buyer.
            m.insert("customer".into(), json!(tx.referrer_ident));
            m.insert("referred_customer".into(), json!(tx.customer_ident));
        }
    }
    m.insert("credit".into(), json!(false));
    m.insert("is_currency".into(), json!(true));
    m.insert("amount_units".into(), json!(tx.currency.as_str()));
    m.insert("product_type_data".into(), product_type_data(tx));
    m.insert("rewardable".into(), json!(tx.rewardable));
    m.insert("status".into(), json!(tx.status.as_str()));
    m.insert("created_at".into(), json!(timestamp(tx.created_at)));
    m.insert("deleted_at".into(), json!(tx.deleted_at.map(timestamp)));
    m.insert("rewards".into(), Value::Array(rewards));
    Value::Object(m)
}
