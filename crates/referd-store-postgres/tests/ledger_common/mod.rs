//! Setup shared by the PostgreSQL ledger tests (`postgres_ledger.rs`, `postgres_archive.rs`):
//! a migrated store on the test database (or `None` when none is configured), a fresh
//! affiliate program with a partner and a customer, and builders for sales and entries.
#![allow(dead_code)]

use referd_core::Store;
use referd_core::affiliate::{AffiliateCustomer, NewAffiliateCustomer};
use referd_core::customer::CustomerRowId;
use referd_core::ids::{ProgramType, generate_api_key, new_public_id};
use referd_core::ledger::{
    EntryKind, Holder, LedgerEntry, NewEntry, NewTransaction, Recorded, Transaction,
};
use referd_core::money::Currency;
use referd_core::partner::{NewPartner, Partner, PartnerStatus};
use referd_core::program::{NewProgram, Program};
use referd_core::store::{AffiliateCustomerStore, PartnerStore, ProgramStore};
use referd_core::time::{Clock, SystemClock, Timestamp};
use referd_store_postgres::PostgresStore;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::Arc;

pub const URL_VAR: &str = "REFERD_TEST_POSTGRES_URL";

pub const DAY: i64 = 86_400_000_000;

/// A migrated store on the test database, or `None` (after saying so) when none is configured.
pub async fn store() -> Option<Arc<PostgresStore>> {
    let Ok(url) = std::env::var(URL_VAR) else {
        println!("SKIPPED: {URL_VAR} not set");
        return None;
    };
    let store = PostgresStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Some(Arc::new(store))
}

pub fn now() -> Timestamp {
    SystemClock.now()
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

pub fn usd() -> Currency {
    Currency::parse("usd").expect("currency")
}

pub async fn new_program(store: &PostgresStore, program_type: ProgramType) -> Program {
    let key = generate_api_key();
    let (program, _) = store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type,
                name: "Ledger".into(),
                website: Some("https://shop.test".into()),
                created_at: now(),
            },
            key.hash,
            key.hint,
        )
        .await
        .expect("create program");
    program
}

/// An approved partner `id` with default key `{id}-key`.
pub async fn new_partner(store: &PostgresStore, program: &Program, id: &str) -> Partner {
    store
        .insert_partner(NewPartner {
            program_id: program.id,
            id: id.into(),
            key: format!("{id}-key"),
            email: format!("{id}@example.com"),
            name: None,
            surname: None,
            password_hash: None,
            tos: true,
            approved: true,
            status: PartnerStatus::Active,
            tags: Vec::new(),
            referring_partner: None,
            created_at: now(),
        })
        .await
        .expect("insert partner")
}

pub async fn new_customer(
    store: &PostgresStore,
    program: &Program,
    partner: &Partner,
    key: &str,
) -> AffiliateCustomer {
    store
        .insert_affiliate_customer(NewAffiliateCustomer {
            program_id: program.id,
            key: key.into(),
            email: Some(format!("{key}@example.com")),
            name: None,
            surname: None,
            tags: Vec::new(),
            partner: partner.row_id,
            link: None,
            created_at: now(),
        })
        .await
        .expect("insert customer")
}

/// An affiliate program with partner `ada` and her customer `buyer`.
pub async fn affiliate_setup(store: &PostgresStore) -> (Program, Partner, AffiliateCustomer) {
    let program = new_program(store, ProgramType::Affiliate).await;
    let ada = new_partner(store, &program, "ada").await;
    let buyer = new_customer(store, &program, &ada, "buyer").await;
    (program, ada, buyer)
}

/// A partner reward from rule `path`.
pub fn reward(holder: Holder, amount: &str, available_at: Timestamp, path: &str) -> NewEntry {
    NewEntry {
        holder,
        kind: EntryKind::Reward,
        reward_kind: Some("commission".into()),
        beneficiary: Some("partner".into()),
        amount: dec(amount),
        unit: "USD".into(),
        rule_version: Some(1),
        rule_path: Some(path.into()),
        available_at,
        note: None,
    }
}

pub fn credit(holder: Holder, amount: &str, available_at: Timestamp) -> NewEntry {
    NewEntry {
        holder,
        kind: EntryKind::Credit,
        reward_kind: None,
        beneficiary: None,
        amount: dec(amount),
        unit: "USD".into(),
        rule_version: None,
        rule_path: None,
        available_at,
        note: Some("manual".into()),
    }
}

/// A rewardable sale of 100.50 USD by `customer` of `partner`.
pub fn sale(
    program: &Program,
    customer: CustomerRowId,
    partner: Option<&Partner>,
    key: &str,
    expected_prior_sales: u64,
    entries: Vec<NewEntry>,
) -> NewTransaction {
    NewTransaction {
        program_id: program.id,
        key: key.into(),
        customer,
        partner: partner.map(|p| p.row_id),
        referrer: None,
        amount: dec("100.50"),
        currency: usd(),
        action: Some("sale".into()),
        product_id: Some("p-1".into()),
        product_type: None,
        rewardable: true,
        rewarded: false,
        request_hash: format!("hash-{key}"),
        created_at: Timestamp::from_micros(1_746_812_533_123_456),
        expected_prior_sales: Some(expected_prior_sales),
        entries,
    }
}

pub fn created(recorded: Recorded) -> (Transaction, Vec<LedgerEntry>) {
    match recorded {
        Recorded::Created(t, e) => (t, e),
        other => panic!("expected Created, got {other:?}"),
    }
}
