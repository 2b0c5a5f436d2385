//! Integration tests of `PostgresStore`'s archives and restores, ledger reads for
//! verification and export, and `Idempotency-Key` claims, against a real server.
//!
//! Like `postgres_ledger.rs`, they run only when `REFERD_TEST_POSTGRES_URL` names a dedicated
//! database; otherwise each test prints `SKIPPED: …` and passes. Each test creates a fresh
//! program, so identifiers need only be unique within a test.

mod ledger_common;

use ledger_common::*;

use std::sync::Arc;

use referd_core::ids::ProgramType;
use referd_core::ledger::{EntryKind, Holder, LedgerEntry, Transaction, TransactionStatus};
use referd_core::program::Program;
use referd_core::store::{IdempotencyClaim, IdempotencyStore, TransactionStore};
use referd_core::time::Timestamp;
use referd_store_postgres::PostgresStore;
use rust_decimal::Decimal;
use tokio::task::JoinSet;

/// The holder's total over all of its entries, whenever available.
async fn total(store: &PostgresStore, program: &Program, holder: Holder) -> Decimal {
    store
        .holder_entries(program.id, holder)
        .await
        .expect("holder entries")
        .iter()
        .map(|e| e.amount)
        .sum()
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros)
}

#[tokio::test]
async fn archive_restore_cycles_keep_the_ledger_consistent() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);
    let t0 = now();
    let past = at(t0.as_micros() - DAY);
    let later = at(t0.as_micros() + 30 * DAY);
    let (t1, originals) = created(
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
                        reward(holder, "2", past, "rules.1"),
                    ],
                ),
                t0,
            )
            .await
            .expect("record"),
    );
    let amount = dec("12.05");
    assert_eq!(total(&store, &program, holder).await, amount);

    // Wrong states: a live active sale cannot be restored.
    assert!(
        store
            .restore_transaction(program.id, t1.row_id, t0)
            .await
            .unwrap()
            .is_none()
    );

    // Every step at one instant: the order of row ids, not timestamps, tells the cycles apart.
    let t = at(t0.as_micros() + 1);
    let mut reversed = originals.clone();
    for cycle in 0..2 {
        let reversals = store
            .archive_transaction(program.id, t1.row_id, t)
            .await
            .unwrap()
            .expect("archived");
        assert_eq!(reversals.len(), 2, "cycle {cycle}");
        for (r, e) in reversals.iter().zip(&reversed) {
            assert_eq!(r.kind, EntryKind::Reversal);
            assert_eq!(r.reverses, Some(e.row_id));
            assert_eq!(r.amount, -e.amount);
            assert_eq!(r.transaction, Some(t1.row_id));
        }
        assert_eq!(total(&store, &program, holder).await, Decimal::ZERO);
        let (found, _) = store
            .find_transaction(program.id, "t1")
            .await
            .unwrap()
            .expect("archived is live");
        assert_eq!(found.status, TransactionStatus::Archived);
        assert_eq!(
            store
                .count_customer_sales(program.id, buyer.row_id)
                .await
                .unwrap(),
            0
        );
        // Archiving twice does nothing.
        assert!(
            store
                .archive_transaction(program.id, t1.row_id, t)
                .await
                .unwrap()
                .is_none()
        );

        let restored = store
            .restore_transaction(program.id, t1.row_id, t)
            .await
            .unwrap()
            .expect("restored");
        assert_eq!(restored.len(), 2, "cycle {cycle}");
        for (n, e) in restored.iter().zip(&originals) {
            assert_eq!(n.kind, EntryKind::Reward);
            assert_eq!(n.reverses, None);
            assert_eq!(n.transaction, Some(t1.row_id));
            assert_eq!(n.holder, e.holder);
            assert_eq!(n.amount, e.amount);
            assert_eq!(n.unit, e.unit);
            assert_eq!(n.reward_kind, e.reward_kind);
            assert_eq!(n.beneficiary, e.beneficiary);
            assert_eq!(n.rule_version, e.rule_version);
            assert_eq!(n.rule_path, e.rule_path);
            assert_eq!(n.note, e.note);
            assert_eq!(n.created_at, t);
        }
        assert_eq!(restored[0].available_at, later);
        assert_eq!(restored[1].available_at, t);
        assert_eq!(total(&store, &program, holder).await, amount);
        assert_eq!(
            store
                .count_holder_rewards(program.id, holder, "rules.0")
                .await
                .unwrap(),
            1
        );
        let (found, entries) = store
            .find_transaction(program.id, "t1")
            .await
            .unwrap()
            .expect("live");
        assert_eq!(found.status, TransactionStatus::Active);
        assert_eq!(entries.len(), 2 + 4 * (cycle + 1));
        // Restoring twice does nothing.
        assert!(
            store
                .restore_transaction(program.id, t1.row_id, t)
                .await
                .unwrap()
                .is_none()
        );
        reversed = restored;
    }

    // A refund after a restore reverses the copies.
    let refunds = store
        .refund_transaction(program.id, t1.row_id, t)
        .await
        .unwrap()
        .expect("refunded");
    assert_eq!(
        refunds.iter().map(|r| r.reverses).collect::<Vec<_>>(),
        reversed.iter().map(|e| Some(e.row_id)).collect::<Vec<_>>()
    );
    assert_eq!(total(&store, &program, holder).await, Decimal::ZERO);
    for result in [
        store.archive_transaction(program.id, t1.row_id, t).await,
        store.restore_transaction(program.id, t1.row_id, t).await,
    ] {
        assert!(result.unwrap().is_none());
    }

    // An archived sale refunded: nothing left to reverse, and it cannot come back.
    let (t2, _) = created(
        store
            .record_transaction(
                sale(
                    &program,
                    buyer.row_id,
                    Some(&ada),
                    "t2",
                    0,
                    vec![reward(holder, "1", past, "rules.0")],
                ),
                t,
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .archive_transaction(program.id, t2.row_id, t)
            .await
            .unwrap()
            .expect("archived")
            .len(),
        1
    );
    assert_eq!(
        store
            .refund_transaction(program.id, t2.row_id, t)
            .await
            .unwrap()
            .expect("refunded"),
        Vec::new()
    );
    assert!(
        store
            .restore_transaction(program.id, t2.row_id, t)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(total(&store, &program, holder).await, Decimal::ZERO);

    // Another program's transaction is out of reach.
    let other = new_program(&store, ProgramType::Affiliate).await;
    let (t3, _) = created(
        store
            .record_transaction(
                sale(&program, buyer.row_id, Some(&ada), "t3", 0, Vec::new()),
                t,
            )
            .await
            .unwrap(),
    );
    assert!(
        store
            .archive_transaction(other.id, t3.row_id, t)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn restore_copies_only_rewards() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);
    let t = now();
    let (t1, _) = created(
        store
            .record_transaction(
                sale(
                    &program,
                    buyer.row_id,
                    Some(&ada),
                    "t1",
                    0,
                    vec![reward(holder, "3", t, "rules.0"), credit(holder, "4", t)],
                ),
                t,
            )
            .await
            .unwrap(),
    );
    for _ in 0..2 {
        let reversals = store
            .archive_transaction(program.id, t1.row_id, t)
            .await
            .unwrap()
            .expect("archived");
        assert_eq!(total(&store, &program, holder).await, Decimal::ZERO);
        assert!(!reversals.is_empty());
        let restored = store
            .restore_transaction(program.id, t1.row_id, t)
            .await
            .unwrap()
            .expect("restored");
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].amount, dec("3"));
        assert_eq!(total(&store, &program, holder).await, dec("3"));
    }
}

#[tokio::test]
async fn all_transactions_include_every_status() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let t = now();
    let mut rows = Vec::new();
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        let (tr, _) = created(
            store
                .record_transaction(
                    sale(
                        &program,
                        buyer.row_id,
                        Some(&ada),
                        key,
                        i as u64,
                        Vec::new(),
                    ),
                    t,
                )
                .await
                .unwrap(),
        );
        rows.push(tr.row_id);
    }
    store
        .refund_transaction(program.id, rows[0], t)
        .await
        .unwrap()
        .expect("refunded");
    store
        .archive_transaction(program.id, rows[2], t)
        .await
        .unwrap()
        .expect("archived");
    // Another program's sales stay out.
    let (other, other_ada, other_buyer) = affiliate_setup(&store).await;
    created(
        store
            .record_transaction(
                sale(
                    &other,
                    other_buyer.row_id,
                    Some(&other_ada),
                    "a",
                    0,
                    Vec::new(),
                ),
                t,
            )
            .await
            .unwrap(),
    );

    let all: Vec<Transaction> = store.all_transactions(program.id).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(
        all.iter().map(|t| t.status).collect::<Vec<_>>(),
        [
            TransactionStatus::Deleted,
            TransactionStatus::Active,
            TransactionStatus::Archived
        ]
    );
    assert_eq!(all[0].deleted_at, Some(t));
    assert_eq!(all[1].customer_ident, "buyer");
    assert_eq!(all[1].partner_key.as_deref(), Some("ada-key"));
    assert!(
        store
            .all_transactions(new_program(&store, ProgramType::Referral).await.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn entries_between_is_half_open() {
    let Some(store) = store().await else { return };
    let (program, ada, buyer) = affiliate_setup(&store).await;
    let holder = Holder::Partner(ada.row_id);
    let t0 = now();
    let t1 = at(t0.as_micros() + 10);
    let t2 = at(t0.as_micros() + 20);
    let (sale1, _) = created(
        store
            .record_transaction(
                sale(
                    &program,
                    buyer.row_id,
                    Some(&ada),
                    "s",
                    0,
                    vec![reward(holder, "1", t0, "rules.0")],
                ),
                t0,
            )
            .await
            .unwrap(),
    );
    let c1 = store
        .append_entry(program.id, credit(holder, "5", t1), None, t1)
        .await
        .unwrap()
        .expect("appended");
    let reversals = store
        .refund_transaction(program.id, sale1.row_id, t1)
        .await
        .unwrap()
        .expect("refunded");
    store
        .append_entry(program.id, credit(holder, "6", t2), None, t2)
        .await
        .unwrap()
        .expect("appended");
    // Another program's entry in the window stays out.
    let (other, other_ada, _) = affiliate_setup(&store).await;
    store
        .append_entry(
            other.id,
            credit(Holder::Partner(other_ada.row_id), "7", t1),
            None,
            t1,
        )
        .await
        .unwrap()
        .expect("appended");

    let window: Vec<LedgerEntry> = store.entries_between(program.id, t1, t2).await.unwrap();
    assert_eq!(
        window.iter().map(|e| e.row_id).collect::<Vec<_>>(),
        [c1.row_id, reversals[0].row_id]
    );
    assert_eq!(
        store
            .entries_between(program.id, t0, t1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .entries_between(program.id, t0, at(t2.as_micros() + 1))
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(
        store
            .entries_between(program.id, t1, t1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .entries_between(program.id, t2, t1)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn idempotency_claims() {
    let Some(store) = store().await else { return };
    let program = new_program(&store, ProgramType::Affiliate).await;
    let t = now();
    let before = at(t.as_micros() - DAY);
    let claim = |key: &'static str, hash: &'static str, now: Timestamp, expire: Timestamp| {
        let store = Arc::clone(&store);
        let id = program.id;
        async move {
            store
                .claim_idempotency_key(id, key, hash, now, expire)
                .await
                .expect("claim")
        }
    };

    assert_eq!(claim("k", "h1", t, before).await, IdempotencyClaim::New);
    assert_eq!(
        claim("k", "h1", t, before).await,
        IdempotencyClaim::InProgress
    );
    assert_eq!(
        claim("k", "h2", t, before).await,
        IdempotencyClaim::InProgress
    );
    store
        .complete_idempotency_key(program.id, "k", 201, b"{\"ok\":true}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        claim("k", "h1", t, before).await,
        IdempotencyClaim::Replay {
            status: 201,
            body: b"{\"ok\":true}".to_vec()
        }
    );
    assert_eq!(
        claim("k", "h2", t, before).await,
        IdempotencyClaim::Mismatch
    );

    // Another program's key of the same name is its own.
    let other = new_program(&store, ProgramType::Affiliate).await;
    assert_eq!(
        store
            .claim_idempotency_key(other.id, "k", "h2", t, before)
            .await
            .unwrap(),
        IdempotencyClaim::New
    );

    // Expired: forgotten, claimed anew (created_at < expire_before; equal is kept).
    assert_eq!(
        claim("k", "h2", at(t.as_micros() + 5), t).await,
        IdempotencyClaim::Mismatch
    );
    let later = at(t.as_micros() + DAY + 1);
    assert_eq!(
        claim("k", "h2", later, at(t.as_micros() + 1)).await,
        IdempotencyClaim::New
    );
    assert_eq!(
        claim("k", "h2", later, t).await,
        IdempotencyClaim::InProgress
    );

    // Released: a retry runs again.
    store
        .release_idempotency_key(program.id, "k")
        .await
        .unwrap();
    assert_eq!(claim("k", "h3", later, t).await, IdempotencyClaim::New);
    // Releasing a key nobody holds is fine.
    store
        .release_idempotency_key(program.id, "nobody")
        .await
        .unwrap();

    // An empty answer replays as empty.
    assert_eq!(claim("e", "h", t, before).await, IdempotencyClaim::New);
    store
        .complete_idempotency_key(program.id, "e", 204, Vec::new())
        .await
        .unwrap();
    assert_eq!(
        claim("e", "h", t, before).await,
        IdempotencyClaim::Replay {
            status: 204,
            body: Vec::new()
        }
    );
}

#[tokio::test]
async fn concurrent_claims_of_one_key_yield_one_new() {
    let Some(store) = store().await else { return };
    let program = new_program(&store, ProgramType::Affiliate).await;
    let t = now();
    let before = at(t.as_micros() - DAY);
    for round in 0..3 {
        let key = format!("race-{round}");
        let mut set = JoinSet::new();
        for _ in 0..10 {
            let store = Arc::clone(&store);
            let key = key.clone();
            let id = program.id;
            set.spawn(async move {
                store
                    .claim_idempotency_key(id, &key, "h", t, before)
                    .await
                    .expect("claim")
            });
        }
        let mut news = 0;
        while let Some(claim) = set.join_next().await {
            match claim.expect("join") {
                IdempotencyClaim::New => news += 1,
                IdempotencyClaim::InProgress => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(news, 1, "round {round}");
    }
    // Concurrent claims of an expired key: one New again.
    let expired = "race-0";
    let mut set = JoinSet::new();
    let later = at(t.as_micros() + 2 * DAY);
    for _ in 0..10 {
        let store = Arc::clone(&store);
        let id = program.id;
        set.spawn(async move {
            store
                .claim_idempotency_key(id, expired, "h", later, at(later.as_micros() - DAY))
                .await
                .expect("claim")
        });
    }
    let mut news = 0;
    while let Some(claim) = set.join_next().await {
        if claim.expect("join") == IdempotencyClaim::New {
            news += 1;
        }
    }
    assert_eq!(news, 1);
}

/// A claim never answered (its process died) stops blocking retries after
/// `IDEMPOTENCY_ABANDONED_AFTER_MICROS`; an answered one keeps replaying.
#[tokio::test]
async fn idempotency_claims_of_dead_requests_are_abandoned() {
    use referd_core::store::IDEMPOTENCY_ABANDONED_AFTER_MICROS as ABANDON;
    let Some(store) = store().await else { return };
    let program = new_program(&store, ProgramType::Affiliate).await;
    let t0 = now().as_micros();
    let claim = |key: &'static str, micros: i64| {
        let store = Arc::clone(&store);
        let id = program.id;
        async move {
            store
                .claim_idempotency_key(id, key, "h", at(t0 + micros), at(0))
                .await
                .expect("claim")
        }
    };
    assert_eq!(claim("dead", 0).await, IdempotencyClaim::New);
    assert_eq!(
        claim("dead", ABANDON - 1).await,
        IdempotencyClaim::InProgress
    );
    assert_eq!(claim("dead", ABANDON + 1).await, IdempotencyClaim::New);
    assert_eq!(claim("done", 0).await, IdempotencyClaim::New);
    store
        .complete_idempotency_key(program.id, "done", 201, b"{}".to_vec())
        .await
        .expect("complete");
    assert_eq!(
        claim("done", 10 * ABANDON).await,
        IdempotencyClaim::Replay {
            status: 201,
            body: b"{}".to_vec()
        }
    );
}
