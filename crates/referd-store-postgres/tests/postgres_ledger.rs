//! Integration tests of `PostgresStore`'s transactions and ledger against a real server.
//!
//! Like `postgres_store.rs`, they run only when `REFERD_TEST_POSTGRES_URL` names a dedicated
//! database; otherwise each test prints `SKIPPED: …` and passes. Each test creates a fresh
//! program, so identifiers need only be unique within a test.

mod ledger_common;

use ledger_common::*;

use referd_core::StoreError;
use referd_core::affiliate::AffiliateCustomer;
use referd_core::customer::{Customer, NewCustomer};
use referd_core::ids::ProgramType;
use referd_core::ledger::{
    EntryKind, Holder, LedgerEntry, NewEntry, NewTransaction, Recorded, Transaction,
    TransactionFilter, TransactionStatus,
};
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::Partner;
use referd_core::store::{CustomerStore, ProgramStore, TransactionStore};
use referd_core::time::Timestamp;
use referd_store_postgres::PostgresStore;
use rust_decimal::Decimal;
use tokio::task::JoinSet;

fn existing(recorded: Recorded) -> (Transaction, Vec<LedgerEntry>) {
    match recorded {
        Recorded::Existing(t, e) => (t, e),
        other => panic!("expected Existing, got {other:?}"),
    }
}

async fn record(store: &PostgresStore, new: NewTransaction) -> Recorded {
    store.record_transaction(new, now()).await.expect("record")
}

fn page(page: u32, per_page: u32, sort: SortOrder) -> PageRequest {
    PageRequest {
        page,
        per_page,
        sort,
    }
}

fn keys(listed: &[(Transaction, Vec<LedgerEntry>)]) -> Vec<&str> {
    listed.iter().map(|(t, _)| t.key.as_str()).collect()
}

/// A straight connection to the test database.
async fn raw_pool() -> sqlx::PgPool {
    let url = std::env::var(URL_VAR).expect("url");
    sqlx::PgPool::connect(&url).await.expect("connect")
}

#[tokio::test]
async fn record_created_existing_stale() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);
    let at = now();
    let later = Timestamp::from_micros(at.as_micros() + 30 * DAY);

    let (t1, entries) = created(
        store
            .record_transaction(
                sale(
                    &program,
                    buyer.row_id,
                    Some(&ada),
                    "t1",
                    0,
                    vec![
                        reward(holder, "10.05", later, "rules.0"),
                        reward(holder, "0.000001", later, "rules.1"),
                    ],
                ),
                at,
            )
            .await
            .expect("record"),
    );
    assert_eq!(t1.key, "t1");
    assert_eq!(t1.program_id, program.id);
    assert_eq!(t1.customer, buyer.row_id);
    assert_eq!(t1.customer_ident, "buyer");
    assert_eq!(t1.partner, Some(ada.row_id));
    assert_eq!(t1.partner_key.as_deref(), Some("ada-key"));
    assert_eq!(t1.referrer, None);
    assert_eq!(t1.referrer_ident, None);
    assert_eq!(t1.amount, dec("100.50"));
    assert_eq!(t1.amount.to_string(), "100.50");
    assert_eq!(t1.currency, usd());
    assert_eq!(t1.action.as_deref(), Some("sale"));
    assert_eq!(t1.product_id.as_deref(), Some("p-1"));
    assert!(t1.rewardable && !t1.rewarded);
    assert_eq!(t1.status, TransactionStatus::Active);
    assert_eq!(t1.request_hash, "hash-t1");
    assert_eq!(t1.created_at.as_micros(), 1_746_812_533_123_456);
    assert_eq!(t1.deleted_at, None);
    assert_eq!(entries.len(), 2);
    assert!(entries.windows(2).all(|w| w[0].row_id < w[1].row_id));
    for e in &entries {
        assert_eq!(e.transaction, Some(t1.row_id));
        assert_eq!(e.program_id, program.id);
        assert_eq!(e.holder, holder);
        assert_eq!(e.kind, EntryKind::Reward);
        assert_eq!(e.created_at, at);
        assert_eq!(e.available_at, later);
        assert_eq!(e.reverses, None);
    }
    assert_eq!(entries[0].amount, dec("10.05"));
    assert_eq!(entries[1].amount, dec("0.000001"));
    assert_eq!(entries[0].rule_path.as_deref(), Some("rules.0"));

    // Same key again: the stored one, untouched, whatever the new request says.
    let (again, again_entries) = existing(
        record(
            &store,
            sale(&program, buyer.row_id, None, "t1", 7, Vec::new()),
        )
        .await,
    );
    assert_eq!(again, t1);
    assert_eq!(again_entries, entries);

    // The buyer has one sale now, not zero.
    assert!(matches!(
        record(
            &store,
            sale(&program, buyer.row_id, Some(&ada), "t2", 0, Vec::new())
        )
        .await,
        Recorded::Stale
    ));
    assert!(
        store
            .find_transaction(program.id, "t2")
            .await
            .unwrap()
            .is_none()
    );
    let (t2, t2_entries) = created(
        record(
            &store,
            sale(&program, buyer.row_id, Some(&ada), "t2", 1, Vec::new()),
        )
        .await,
    );
    assert!(t2_entries.is_empty());
    assert!(t2.row_id.0 > t1.row_id.0);

    // A non-rewardable sale is recorded but not counted.
    let mut t3 = sale(&program, buyer.row_id, Some(&ada), "t3", 2, Vec::new());
    t3.rewardable = false;
    created(record(&store, t3).await);
    assert_eq!(
        store
            .count_customer_sales(program.id, buyer.row_id)
            .await
            .unwrap(),
        2
    );

    // A buyer of another program is not found.
    let other = new_program(&store, ProgramType::Affiliate).await;
    assert!(matches!(
        store
            .record_transaction(sale(&other, buyer.row_id, None, "t9", 0, Vec::new()), now())
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .count_customer_sales(other.id, buyer.row_id)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn refer_a_friend_identifiers() {
    let Some(store) = store().await else { return };
    let program = new_program(&store, ProgramType::Referral).await;
    let insert = |id: &str, referrer: Option<&Customer>| NewCustomer {
        program_id: program.id,
        id: id.into(),
        key: format!("{id}-key"),
        email: None,
        name: None,
        surname: None,
        date_of_birth: None,
        referrer: referrer.map(|r| r.row_id),
        created_at: now(),
    };
    let referrer = store
        .insert_customer(insert("ref-1", None))
        .await
        .expect("insert");
    let buyer = store
        .insert_customer(insert("buyer-1", Some(&referrer)))
        .await
        .expect("insert");
    let mut new = sale(
        &program,
        buyer.row_id,
        None,
        "raf-1",
        0,
        vec![credit(Holder::Customer(referrer.row_id), "5", now())],
    );
    new.referrer = Some(referrer.row_id);
    let (t, entries) = created(record(&store, new).await);
    assert_eq!(t.customer_ident, "buyer-1");
    assert_eq!(t.referrer, Some(referrer.row_id));
    assert_eq!(t.referrer_ident.as_deref(), Some("ref-1"));
    assert_eq!(t.partner, None);
    assert_eq!(t.partner_key, None);
    assert_eq!(entries[0].holder, Holder::Customer(referrer.row_id));
    let (found, _) = store
        .find_transaction(program.id, "raf-1")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found, t);
}

#[tokio::test]
async fn concurrent_records_of_one_key_create_one_transaction() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);

    // One buyer: the buyer lock serialises them.
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        let new = sale(
            &program,
            buyer.row_id,
            Some(&ada),
            "same",
            0,
            vec![reward(holder, "1.50", now(), "rules.0")],
        );
        set.spawn(async move { store.record_transaction(new, now()).await });
    }
    let results = set.join_all().await;
    let (mut made, mut found) = (Vec::new(), Vec::new());
    for r in results {
        match r.expect("record") {
            Recorded::Created(t, e) => made.push((t, e)),
            Recorded::Existing(t, e) => found.push((t, e)),
            Recorded::Stale => panic!("stale"),
        }
    }
    assert_eq!(made.len(), 1);
    assert_eq!(found.len(), 19);
    for f in &found {
        assert_eq!(f, &made[0]);
    }

    // Different buyers: the unique index decides, the losers read the winner.
    let mut buyers = Vec::new();
    for i in 0..20 {
        buyers.push(new_customer(&store, &program, &ada, &format!("b{i}")).await);
    }
    let mut set = JoinSet::new();
    for b in &buyers {
        let store = store.clone();
        let new = sale(
            &program,
            b.row_id,
            Some(&ada),
            "shared",
            0,
            vec![reward(holder, "2", now(), "rules.0")],
        );
        set.spawn(async move { store.record_transaction(new, now()).await });
    }
    let (mut made, mut found) = (Vec::new(), Vec::new());
    for r in set.join_all().await {
        match r.expect("record") {
            Recorded::Created(t, e) => made.push((t, e)),
            Recorded::Existing(t, e) => found.push((t, e)),
            Recorded::Stale => panic!("stale"),
        }
    }
    assert_eq!(made.len(), 1);
    assert_eq!(found.len(), 19);
    assert!(found.iter().all(|f| f == &made[0]));
    assert_eq!(made[0].1.len(), 1);
    // Only the winner's reward was written.
    let rewards = store.holder_entries(program.id, holder).await.unwrap();
    assert_eq!(rewards.len(), 2);
}

#[tokio::test]
async fn find_and_list_with_filters_and_paging() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let bob = new_partner(&store, &program, "bob").await;
    let bobs = new_customer(&store, &program, &bob, "bobs").await;
    let at = now();
    let mut expected = 0;
    for (key, customer, partner) in [
        ("k1", &buyer, &ada),
        ("k2", &bobs, &bob),
        ("k3", &buyer, &ada),
        ("k4", &bobs, &bob),
        ("k5", &buyer, &ada),
    ] {
        let prior = if customer.row_id == buyer.row_id {
            expected
        } else {
            store
                .count_customer_sales(program.id, customer.row_id)
                .await
                .unwrap()
        };
        created(
            record(
                &store,
                sale(
                    &program,
                    customer.row_id,
                    Some(partner),
                    key,
                    prior,
                    vec![
                        reward(Holder::Partner(partner.row_id), "1", at, "rules.0"),
                        reward(Holder::Partner(partner.row_id), "2", at, "rules.1"),
                    ],
                ),
            )
            .await,
        );
        if customer.row_id == buyer.row_id {
            expected += 1;
        }
    }
    assert_eq!(
        store
            .count_customer_sales(program.id, buyer.row_id)
            .await
            .unwrap(),
        3
    );

    let (k2, k2_entries) = store
        .find_transaction(program.id, "k2")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(k2.partner_key.as_deref(), Some("bob-key"));
    assert_eq!(k2.customer_ident, "bobs");
    assert_eq!(k2_entries.len(), 2);
    assert!(k2_entries[0].row_id < k2_entries[1].row_id);
    assert!(
        store
            .find_transaction(program.id, "nope")
            .await
            .unwrap()
            .is_none()
    );
    let other = new_program(&store, ProgramType::Affiliate).await;
    assert!(
        store
            .find_transaction(other.id, "k2")
            .await
            .unwrap()
            .is_none()
    );

    let all = TransactionFilter::default();
    let list = |filter: TransactionFilter, p: PageRequest| {
        let store = store.clone();
        async move {
            store
                .list_transactions(program.id, &filter, p)
                .await
                .expect("list")
        }
    };
    let asc = list(all.clone(), page(1, 100, SortOrder::Asc)).await;
    assert_eq!(keys(&asc), ["k1", "k2", "k3", "k4", "k5"]);
    for (t, entries) in &asc {
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| e.transaction == Some(t.row_id)));
    }
    assert_eq!(
        keys(&list(all.clone(), page(1, 100, SortOrder::Desc)).await),
        ["k5", "k4", "k3", "k2", "k1"]
    );
    // Page 2 of 2: fetch_limit is one more than a page.
    assert_eq!(
        keys(&list(all.clone(), page(2, 2, SortOrder::Asc)).await),
        ["k3", "k4", "k5"]
    );
    assert_eq!(
        keys(&list(all.clone(), page(3, 2, SortOrder::Desc)).await),
        ["k1"]
    );
    assert!(
        list(all.clone(), page(4, 2, SortOrder::Asc))
            .await
            .is_empty()
    );

    let by =
        |key: Option<&str>, partner: Option<&Partner>, customer: Option<&AffiliateCustomer>| {
            TransactionFilter {
                key: key.map(str::to_string),
                partner: partner.map(|p| p.row_id),
                customer: customer.map(|c| c.row_id),
            }
        };
    let first = page(1, 100, SortOrder::Asc);
    assert_eq!(keys(&list(by(Some("k3"), None, None), first).await), ["k3"]);
    assert_eq!(
        keys(&list(by(Some("k3"), Some(&ada), Some(&buyer)), first).await),
        ["k3"]
    );
    assert!(
        list(by(Some("k3"), Some(&bob), None), first)
            .await
            .is_empty()
    );
    assert!(
        list(by(Some("k3"), None, Some(&bobs)), first)
            .await
            .is_empty()
    );
    assert_eq!(
        keys(&list(by(None, Some(&bob), None), first).await),
        ["k2", "k4"]
    );
    assert_eq!(
        keys(&list(by(None, None, Some(&buyer)), first).await),
        ["k1", "k3", "k5"]
    );
    assert_eq!(
        keys(
            &list(
                by(None, Some(&ada), Some(&buyer)),
                page(1, 1, SortOrder::Desc)
            )
            .await
        ),
        ["k5", "k3"]
    );
    assert!(
        list(by(None, Some(&bob), Some(&buyer)), first)
            .await
            .is_empty()
    );
    assert!(
        store
            .list_transactions(other.id, &all, first)
            .await
            .unwrap()
            .is_empty()
    );

    // Refunded transactions leave lists and lookups.
    store
        .refund_transaction(program.id, k2.row_id, now())
        .await
        .unwrap()
        .expect("refunded");
    assert_eq!(keys(&list(all, first).await), ["k1", "k3", "k4", "k5"]);
    assert!(
        store
            .find_transaction(program.id, "k2")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn refund_reverses_each_entry_once() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);
    let at = now();
    let pending_until = Timestamp::from_micros(at.as_micros() + 30 * DAY);
    let approved_at = Timestamp::from_micros(at.as_micros() - DAY);
    let (t, entries) = created(
        record(
            &store,
            sale(
                &program,
                buyer.row_id,
                Some(&ada),
                "r1",
                0,
                vec![
                    reward(holder, "12.34", pending_until, "rules.0"),
                    reward(holder, "5.00", approved_at, "rules.1"),
                ],
            ),
        )
        .await,
    );
    assert_eq!(
        store
            .count_customer_sales(program.id, buyer.row_id)
            .await
            .unwrap(),
        1
    );

    // Not another program's to refund.
    let other = new_program(&store, ProgramType::Affiliate).await;
    assert!(
        store
            .refund_transaction(other.id, t.row_id, at)
            .await
            .unwrap()
            .is_none()
    );

    let refunded_at = Timestamp::from_micros(at.as_micros() + 1);
    let reversals = store
        .refund_transaction(program.id, t.row_id, refunded_at)
        .await
        .unwrap()
        .expect("refunded");
    assert_eq!(reversals.len(), 2);
    for (r, e) in reversals.iter().zip(&entries) {
        assert_eq!(r.kind, EntryKind::Reversal);
        assert_eq!(r.amount, -e.amount);
        assert_eq!(r.holder, e.holder);
        assert_eq!(r.unit, e.unit);
        assert_eq!(r.reward_kind, e.reward_kind);
        assert_eq!(r.beneficiary, e.beneficiary);
        assert_eq!(r.rule_version, e.rule_version);
        assert_eq!(r.rule_path, e.rule_path);
        assert_eq!(r.transaction, Some(t.row_id));
        assert_eq!(r.reverses, Some(e.row_id));
        assert_eq!(r.created_at, refunded_at);
    }
    assert_eq!(reversals[0].amount, dec("-12.34"));
    // The pending reward's reversal is pending just as long; the approved one's is immediate.
    assert_eq!(reversals[0].available_at, pending_until);
    assert_eq!(reversals[1].available_at, refunded_at);

    // Gone: a second refund does nothing.
    assert!(
        store
            .refund_transaction(program.id, t.row_id, now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_transaction(program.id, "r1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .count_customer_sales(program.id, buyer.row_id)
            .await
            .unwrap(),
        0
    );
    let all = store.holder_entries(program.id, holder).await.unwrap();
    assert_eq!(all.len(), 4);
    let total: Decimal = all.iter().map(|e| e.amount).sum();
    assert_eq!(total, Decimal::ZERO);

    // The key is free again.
    let (again, _) = created(
        record(
            &store,
            sale(&program, buyer.row_id, Some(&ada), "r1", 0, Vec::new()),
        )
        .await,
    );
    assert_ne!(again.row_id, t.row_id);
    // Refunding a transaction without entries yields no reversals.
    assert_eq!(
        store
            .refund_transaction(program.id, again.row_id, now())
            .await
            .unwrap()
            .expect("refunded"),
        Vec::new()
    );
}

#[tokio::test]
async fn holder_rewards_exclude_reversed_ones() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let bob = new_partner(&store, &program, "bob").await;
    let holder = Holder::Partner(ada.row_id);
    let at = now();
    let mut rows = Vec::new();
    for (i, key) in ["c1", "c2", "c3"].into_iter().enumerate() {
        let (t, _) = created(
            record(
                &store,
                sale(
                    &program,
                    buyer.row_id,
                    Some(&ada),
                    key,
                    i as u64,
                    vec![
                        reward(holder, "1", at, "rules.a"),
                        reward(Holder::Partner(bob.row_id), "1", at, "rules.a"),
                    ],
                ),
            )
            .await,
        );
        rows.push(t.row_id);
    }
    // Not rewards: a credit and a bonus with a rule path do not count.
    store
        .append_entry(
            program.id,
            NewEntry {
                rule_path: Some("rules.a".into()),
                ..credit(holder, "3", at)
            },
            None,
            at,
        )
        .await
        .unwrap()
        .expect("appended");
    let count = |path: &'static str, holder: Holder| {
        let store = store.clone();
        async move {
            store
                .count_holder_rewards(program.id, holder, path)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("rules.a", holder).await, 3);
    assert_eq!(count("rules.b", holder).await, 0);
    assert_eq!(count("rules.a", Holder::Customer(buyer.row_id)).await, 0);
    store
        .refund_transaction(program.id, rows[1], now())
        .await
        .unwrap()
        .expect("refunded");
    assert_eq!(count("rules.a", holder).await, 2);
    assert_eq!(count("rules.a", Holder::Partner(bob.row_id)).await, 2);
    let other = new_program(&store, ProgramType::Affiliate).await;
    assert_eq!(
        store
            .count_holder_rewards(other.id, holder, "rules.a")
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn append_entry_keeps_the_floor() {
    let Some(store) = store().await else { return };
    let (program, _, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Customer(buyer.row_id);
    let at = now();
    let future = Timestamp::from_micros(at.as_micros() + DAY);
    let append = |entry: NewEntry, floor: Option<&str>| {
        let store = store.clone();
        let floor = floor.map(dec);
        async move {
            store
                .append_entry(program.id, entry, floor, at)
                .await
                .expect("append")
        }
    };

    let first = append(credit(holder, "100", at), None)
        .await
        .expect("appended");
    assert_eq!(first.kind, EntryKind::Credit);
    assert_eq!(first.amount, dec("100"));
    assert_eq!(first.transaction, None);
    assert_eq!(first.reverses, None);
    assert_eq!(first.note.as_deref(), Some("manual"));
    assert_eq!(first.created_at, at);
    // Pending credits do not count towards the floor; other units neither.
    append(credit(holder, "1000", future), None)
        .await
        .expect("appended");
    append(
        NewEntry {
            unit: "EUR".into(),
            ..credit(holder, "1000", at)
        },
        None,
    )
    .await
    .expect("appended");

    assert!(append(credit(holder, "-30", at), Some("0")).await.is_some());
    // 70 - 70.01 < 0.
    assert!(
        append(credit(holder, "-70.01", at), Some("0"))
            .await
            .is_none()
    );
    // A negative floor allows an overdraft down to it.
    assert!(
        append(credit(holder, "-80", at), Some("-10"))
            .await
            .is_some()
    );
    assert!(
        append(credit(holder, "-0.01", at), Some("-10"))
            .await
            .is_none()
    );
    assert!(
        append(credit(holder, "80", at), Some("-10"))
            .await
            .is_some()
    );

    // 70 available: ten concurrent debits of 10 with a floor of 0 → exactly seven succeed.
    let mut set = JoinSet::new();
    for _ in 0..10 {
        let store = store.clone();
        let entry = credit(holder, "-10", at);
        set.spawn(async move {
            store
                .append_entry(program.id, entry, Some(Decimal::ZERO), at)
                .await
        });
    }
    let done = set
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("append"))
        .filter(Option::is_some)
        .count();
    assert_eq!(done, 7);

    let entries = store.holder_entries(program.id, holder).await.unwrap();
    assert!(entries.windows(2).all(|w| w[0].row_id < w[1].row_id));
    let available: Decimal = entries
        .iter()
        .filter(|e| e.unit == "USD" && e.available_at <= at)
        .map(|e| e.amount)
        .sum();
    assert_eq!(available, Decimal::ZERO);
    let other = new_program(&store, ProgramType::Affiliate).await;
    assert!(
        store
            .holder_entries(other.id, holder)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn ledger_entries_cannot_be_updated() {
    let Some(store) = store().await else { return };
    let (program, _, buyer) = affiliate_setup(&store).await;
    let entry = store
        .append_entry(
            program.id,
            credit(Holder::Customer(buyer.row_id), "1", now()),
            None,
            now(),
        )
        .await
        .unwrap()
        .expect("appended");
    let pool = raw_pool().await;
    let err = sqlx::query("UPDATE ledger_entries SET amount = 2 WHERE row_id = $1")
        .bind(entry.row_id)
        .execute(&pool)
        .await
        .expect_err("updates are refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    pool.close().await;
    let entries = store
        .holder_entries(program.id, Holder::Customer(buyer.row_id))
        .await
        .unwrap();
    assert_eq!(entries, vec![entry]);
}

#[tokio::test]
async fn delete_program_removes_transactions_and_entries() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);
    let (t, _) = created(
        record(
            &store,
            sale(
                &program,
                buyer.row_id,
                Some(&ada),
                "d1",
                0,
                vec![reward(holder, "4", now(), "rules.0")],
            ),
        )
        .await,
    );
    created(
        record(
            &store,
            sale(
                &program,
                buyer.row_id,
                Some(&ada),
                "d2",
                1,
                vec![reward(holder, "4", now(), "rules.0")],
            ),
        )
        .await,
    );
    // A reversal points at the entry it reverses: the cascade must remove both.
    store
        .refund_transaction(program.id, t.row_id, now())
        .await
        .unwrap()
        .expect("refunded");
    store
        .append_entry(
            program.id,
            credit(holder, "-1", now()),
            Some(Decimal::ZERO),
            now(),
        )
        .await
        .unwrap()
        .expect("appended");

    let at = now();
    store
        .set_program_delete_code(program.id, "Code1234", at)
        .await
        .expect("code");
    assert!(
        store
            .delete_program(program.id, "Code1234", at)
            .await
            .expect("delete")
    );
    let pool = raw_pool().await;
    for sql in [
        "SELECT count(*) FROM transactions WHERE program_id = $1",
        "SELECT count(*) FROM ledger_entries WHERE program_id = $1",
        "SELECT count(*) FROM customers WHERE program_id = $1",
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(program.id.0)
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(n, 0, "{sql}");
    }
    pool.close().await;
}

/// A sale whose rewards need no history (`expected_prior_sales: None`) is one statement: what
/// it answers is what a read answers, and concurrent repeats of its key make one transaction.
#[tokio::test]
async fn records_without_history_in_one_statement() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);
    let later = Timestamp::from_micros(now().as_micros() + 30 * DAY);
    let unlocked = |key: &str, entries: Vec<NewEntry>| NewTransaction {
        expected_prior_sales: None,
        ..sale(&program, buyer.row_id, Some(&ada), key, 0, entries)
    };

    let (made, entries) = created(
        record(
            &store,
            unlocked(
                "u1",
                vec![
                    reward(holder, "29.997", later, "affiliate.commission"),
                    reward(holder, "3.000", later, "affiliate.parent"),
                ],
            ),
        )
        .await,
    );
    let read = store
        .find_transaction(program.id, "u1")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(read, (made.clone(), entries.clone()));
    assert_eq!(entries[1].amount.to_string(), "3.000");

    // No entries at all (not rewardable): still one transaction.
    let (bare, none) = created(record(&store, unlocked("u2", Vec::new())).await);
    assert!(none.is_empty());
    assert_eq!(bare.key, "u2");

    // A repeat answers the first, untouched.
    let (again, again_entries) = existing(record(&store, unlocked("u1", Vec::new())).await);
    assert_eq!((again, again_entries), (made, entries));

    let mut set = JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        let new = unlocked("race", vec![reward(holder, "1.50", now(), "rules.0")]);
        set.spawn(async move { store.record_transaction(new, now()).await });
    }
    let (mut won, mut lost) = (Vec::new(), Vec::new());
    for r in set.join_all().await {
        match r.expect("record") {
            Recorded::Created(t, e) => won.push((t, e)),
            Recorded::Existing(t, e) => lost.push((t, e)),
            Recorded::Stale => panic!("no count to go stale"),
        }
    }
    assert_eq!((won.len(), lost.len()), (1, 19));
    assert!(lost.iter().all(|l| l == &won[0]));
    let race_rewards = store
        .holder_entries(program.id, holder)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.transaction == Some(won[0].0.row_id))
        .count();
    assert_eq!(race_rewards, 1);

    // Many distinct sales at once (batched by the sales writer), each with its own number of
    // entries, some keys sent twice: every answer is what a read answers, entries included.
    let mut set = JoinSet::new();
    for i in 0..60 {
        let store = store.clone();
        let key = format!("batch-{}", i % 40);
        let entries = (0..(i % 3))
            .map(|k| reward(holder, &format!("{i}.{k}5"), later, "rules.0"))
            .collect();
        let new = unlocked(&key, entries);
        set.spawn(async move { (i, store.record_transaction(new, now()).await) });
    }
    let mut created_keys = Vec::new();
    for (i, r) in set.join_all().await {
        let (t, e) = match r.expect("record") {
            Recorded::Created(t, e) => {
                created_keys.push(t.key.clone());
                (t, e)
            }
            Recorded::Existing(t, e) => (t, e),
            Recorded::Stale => panic!("no count to go stale"),
        };
        let read = store
            .find_transaction(program.id, &t.key)
            .await
            .unwrap()
            .expect("found");
        assert_eq!(read, (t, e.clone()), "sale {i}");
        assert!(e.iter().all(|x| x.transaction == Some(read.0.row_id)));
    }
    assert_eq!(created_keys.len(), 40, "one creation per key");
    created_keys.sort();
    created_keys.dedup();
    assert_eq!(created_keys.len(), 40, "one transaction per key");
}
