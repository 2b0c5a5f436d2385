//! Store-level tests of transactions and the ledger on SQLite: recording (created, existing,
//! stale), lookups and lists, refunds and their reversals, archives and restores, the full
//! transaction list and the ledger export, reward counts, balance floors, the append-only
//! trigger and program deletion. Each test has its own temporary database.

use std::path::PathBuf;
use std::str::FromStr;

use referd_core::Store;
use referd_core::affiliate::{AffiliateCustomer, NewAffiliateCustomer};
use referd_core::customer::{CustomerRowId, NewCustomer};
use referd_core::ids::{ProgramType, generate_api_key, new_public_id};
use referd_core::ledger::{
    EntryKind, Holder, LedgerEntry, NewEntry, NewTransaction, Recorded, Transaction,
    TransactionFilter, TransactionStatus,
};
use referd_core::money::Currency;
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::{NewPartner, Partner, PartnerStatus};
use referd_core::program::{NewProgram, Program};
use referd_core::store::{
    AffiliateCustomerStore, CustomerStore, PartnerStore, ProgramStore, TransactionStore,
};
use referd_core::time::Timestamp;
use referd_store_sqlite::SqliteStore;
use rust_decimal::Decimal;
use tempfile::TempDir;

struct Db {
    store: SqliteStore,
    path: PathBuf,
    _dir: TempDir,
}

async fn db() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("referd.db");
    let store = SqliteStore::open(&path).expect("open");
    store.migrate().await.expect("migrate");
    Db {
        store,
        path,
        _dir: dir,
    }
}

/// Fixed times, `n` seconds after an arbitrary instant.
fn at(n: i64) -> Timestamp {
    Timestamp::from_micros(1_750_000_000_000_000 + n * 1_000_000)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

async fn program(store: &SqliteStore, program_type: ProgramType) -> Program {
    let key = generate_api_key();
    store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type,
                name: "Shop".into(),
                website: None,
                created_at: at(0),
            },
            key.hash,
            key.hint,
        )
        .await
        .expect("create program")
        .0
}

async fn partner(store: &SqliteStore, program: &Program, n: u32) -> Partner {
    store
        .insert_partner(NewPartner {
            program_id: program.id,
            id: format!("par_{n}"),
            key: format!("key{n}"),
            email: format!("p{n}@example.com"),
            name: None,
            surname: None,
            password_hash: None,
            tos: false,
            approved: true,
            status: PartnerStatus::Active,
            tags: vec![],
            referring_partner: None,
            created_at: at(1),
        })
        .await
        .expect("insert partner")
}

async fn customer(
    store: &SqliteStore,
    program: &Program,
    partner: &Partner,
    key: &str,
) -> AffiliateCustomer {
    store
        .insert_affiliate_customer(NewAffiliateCustomer {
            program_id: program.id,
            key: key.into(),
            email: None,
            name: None,
            surname: None,
            tags: vec![],
            partner: partner.row_id,
            link: None,
            created_at: at(2),
        })
        .await
        .expect("insert customer")
}

/// An affiliate program with one partner (`key1`) and its customer `cust1`.
async fn setup(store: &SqliteStore) -> (Program, Partner, AffiliateCustomer) {
    let p = program(store, ProgramType::Affiliate).await;
    let par = partner(store, &p, 1).await;
    let c = customer(store, &p, &par, "cust1").await;
    (p, par, c)
}

fn reward(holder: Holder, amount: &str, available_at: Timestamp) -> NewEntry {
    NewEntry {
        holder,
        kind: EntryKind::Reward,
        reward_kind: Some("commission".into()),
        beneficiary: Some("partner".into()),
        amount: d(amount),
        unit: "USD".into(),
        rule_version: Some(1),
        rule_path: Some("rules[0]".into()),
        available_at,
        note: None,
    }
}

fn sale(
    p: &Program,
    par: &Partner,
    c: &AffiliateCustomer,
    key: &str,
    prior: u64,
    entries: Vec<NewEntry>,
) -> NewTransaction {
    NewTransaction {
        program_id: p.id,
        key: key.into(),
        customer: c.row_id,
        partner: Some(par.row_id),
        referrer: None,
        amount: d("99.90"),
        currency: Currency::parse("usd").unwrap(),
        action: Some("sale".into()),
        product_id: Some("sku-1".into()),
        product_type: None,
        rewardable: true,
        rewarded: false,
        request_hash: format!("hash-{key}"),
        created_at: at(5),
        expected_prior_sales: Some(prior),
        entries,
    }
}

fn created(r: Recorded) -> (Transaction, Vec<LedgerEntry>) {
    match r {
        Recorded::Created(t, e) => (t, e),
        other => panic!("expected Created, got {other:?}"),
    }
}

fn page(n: u32, per_page: u32, sort: SortOrder) -> PageRequest {
    PageRequest {
        page: n,
        per_page,
        sort,
    }
}

#[tokio::test]
async fn record_creates_then_answers_existing_or_stale() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let holder = Holder::Partner(par.row_id);

    let (tx, entries) = created(
        s.record_transaction(
            sale(
                &p,
                &par,
                &c,
                "t1",
                0,
                vec![reward(holder, "9.990", at(100))],
            ),
            at(6),
        )
        .await
        .unwrap(),
    );
    assert_eq!(tx.key, "t1");
    assert_eq!(tx.status, TransactionStatus::Active);
    assert_eq!(tx.amount, d("99.9"));
    assert_eq!(tx.amount.to_string(), "99.9", "stored normalized");
    assert_eq!(tx.currency.as_str(), "USD");
    assert_eq!(tx.customer_ident, "cust1");
    assert_eq!(tx.partner_key.as_deref(), Some("key1"));
    assert_eq!(tx.referrer_ident, None);
    assert_eq!(tx.created_at, at(5));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].transaction, Some(tx.row_id));
    assert_eq!(entries[0].amount, d("9.99"));
    assert_eq!(entries[0].created_at, at(6));
    assert_eq!(s.count_customer_sales(p.id, c.row_id).await.unwrap(), 1);

    // The same key again: the stored one, untouched, whatever the new request says.
    match s
        .record_transaction(sale(&p, &par, &c, "t1", 7, vec![]), at(7))
        .await
        .unwrap()
    {
        Recorded::Existing(t, e) => {
            assert_eq!(t, tx);
            assert_eq!(e, entries);
        }
        other => panic!("expected Existing, got {other:?}"),
    }

    // A new key computed against an outdated sale count writes nothing.
    assert!(matches!(
        s.record_transaction(
            sale(&p, &par, &c, "t2", 0, vec![reward(holder, "1", at(100))]),
            at(8)
        )
        .await
        .unwrap(),
        Recorded::Stale
    ));
    assert!(s.find_transaction(p.id, "t2").await.unwrap().is_none());
    assert_eq!(s.holder_entries(p.id, holder).await.unwrap().len(), 1);

    // Unrewardable sales are not counted.
    let mut free = sale(&p, &par, &c, "t3", 1, vec![]);
    free.rewardable = false;
    created(s.record_transaction(free, at(9)).await.unwrap());
    assert_eq!(s.count_customer_sales(p.id, c.row_id).await.unwrap(), 1);
}

#[tokio::test]
async fn refer_a_friend_transactions_show_customer_and_referrer_ids() {
    let db = db().await;
    let s = &db.store;
    let p = program(s, ProgramType::Referral).await;
    let new = |id: &str, referrer: Option<CustomerRowId>| NewCustomer {
        program_id: p.id,
        id: id.into(),
        key: format!("k_{id}"),
        email: None,
        name: None,
        surname: None,
        date_of_birth: None,
        referrer,
        created_at: at(1),
    };
    let referrer = s.insert_customer(new("cus_a", None)).await.unwrap();
    let buyer = s
        .insert_customer(new("cus_b", Some(referrer.row_id)))
        .await
        .unwrap();
    let (tx, _) = created(
        s.record_transaction(
            NewTransaction {
                program_id: p.id,
                key: "r1".into(),
                customer: buyer.row_id,
                partner: None,
                referrer: Some(referrer.row_id),
                amount: d("10"),
                currency: Currency::parse("EUR").unwrap(),
                action: None,
                product_id: None,
                product_type: None,
                rewardable: true,
                rewarded: true,
                request_hash: "h".into(),
                created_at: at(2),
                expected_prior_sales: Some(0),
                entries: vec![],
            },
            at(3),
        )
        .await
        .unwrap(),
    );
    assert_eq!(tx.customer_ident, "cus_b");
    assert_eq!(tx.referrer_ident.as_deref(), Some("cus_a"));
    assert_eq!(tx.partner_key, None);
    assert!(tx.rewarded);
}

#[tokio::test]
async fn find_and_list_filter_and_page() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let par2 = partner(s, &p, 2).await;
    let c2 = customer(s, &p, &par2, "cust2").await;
    let h1 = Holder::Partner(par.row_id);
    let h2 = Holder::Partner(par2.row_id);
    for i in 0..3 {
        let e = vec![reward(h1, "1", at(100)), reward(h1, "2", at(100))];
        created(
            s.record_transaction(
                sale(&p, &par, &c, &format!("a{i}"), i, e),
                at(10 + i as i64),
            )
            .await
            .unwrap(),
        );
    }
    created(
        s.record_transaction(
            sale(&p, &par2, &c2, "b0", 0, vec![reward(h2, "5", at(100))]),
            at(20),
        )
        .await
        .unwrap(),
    );
    // Another program's transaction with the same key stays out of this one's answers.
    let (other, opar, oc) = setup(s).await;
    created(
        s.record_transaction(sale(&other, &opar, &oc, "a0", 0, vec![]), at(21))
            .await
            .unwrap(),
    );

    let (tx, entries) = s.find_transaction(p.id, "a1").await.unwrap().unwrap();
    assert_eq!(tx.key, "a1");
    assert_eq!(
        entries.iter().map(|e| e.amount).collect::<Vec<_>>(),
        [d("1"), d("2")],
        "oldest first"
    );
    assert!(s.find_transaction(p.id, "zz").await.unwrap().is_none());

    let all = TransactionFilter::default();
    let keys = |rows: &[(Transaction, Vec<LedgerEntry>)]| {
        rows.iter().map(|(t, _)| t.key.clone()).collect::<Vec<_>>()
    };
    let asc = s
        .list_transactions(p.id, &all, page(1, 10, SortOrder::Asc))
        .await
        .unwrap();
    assert_eq!(keys(&asc), ["a0", "a1", "a2", "b0"]);
    for (t, e) in &asc {
        assert!(e.iter().all(|e| e.transaction == Some(t.row_id)));
        assert_eq!(e.len(), if t.key == "b0" { 1 } else { 2 });
    }
    let desc = s
        .list_transactions(p.id, &all, page(1, 2, SortOrder::Desc))
        .await
        .unwrap();
    assert_eq!(
        keys(&desc),
        ["b0", "a2", "a1"],
        "fetch_limit is per_page + 1"
    );
    let second = s
        .list_transactions(p.id, &all, page(2, 2, SortOrder::Desc))
        .await
        .unwrap();
    assert_eq!(keys(&second), ["a1", "a0"]);

    let by_partner = TransactionFilter {
        partner: Some(par2.row_id),
        ..Default::default()
    };
    let rows = s
        .list_transactions(p.id, &by_partner, page(1, 10, SortOrder::Asc))
        .await
        .unwrap();
    assert_eq!(keys(&rows), ["b0"]);
    assert_eq!(rows[0].0.customer_ident, "cust2");
    assert_eq!(rows[0].0.partner_key.as_deref(), Some("key2"));
    let by_customer = TransactionFilter {
        customer: Some(c.row_id),
        key: Some("a2".into()),
        ..Default::default()
    };
    let rows = s
        .list_transactions(p.id, &by_customer, page(1, 10, SortOrder::Asc))
        .await
        .unwrap();
    assert_eq!(keys(&rows), ["a2"]);
}

#[tokio::test]
async fn refund_reverses_each_entry_once_and_frees_the_key() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let holder = Holder::Partner(par.row_id);
    let cust = Holder::Customer(c.row_id);
    // One reward still pending at the refund (at(100)), one already approved (at(20)).
    let (tx, entries) = created(
        s.record_transaction(
            sale(
                &p,
                &par,
                &c,
                "t1",
                0,
                vec![reward(holder, "12.50", at(100)), reward(cust, "3", at(20))],
            ),
            at(10),
        )
        .await
        .unwrap(),
    );

    let reversals = s
        .refund_transaction(p.id, tx.row_id, at(50))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(reversals.len(), 2);
    let (pending, approved) = (&reversals[0], &reversals[1]);
    assert_eq!(pending.kind, EntryKind::Reversal);
    assert_eq!(pending.amount, d("-12.5"));
    assert_eq!(pending.holder, holder);
    assert_eq!(pending.reverses, Some(entries[0].row_id));
    assert_eq!(pending.available_at, at(100), "cancels within pending");
    assert_eq!(pending.transaction, Some(tx.row_id));
    assert_eq!(pending.rule_path.as_deref(), Some("rules[0]"));
    assert_eq!(pending.reward_kind.as_deref(), Some("commission"));
    assert_eq!(pending.created_at, at(50));
    assert_eq!(approved.amount, d("-3"));
    assert_eq!(approved.holder, cust);
    assert_eq!(approved.reverses, Some(entries[1].row_id));
    assert_eq!(
        approved.available_at,
        at(50),
        "lowers the approved total now"
    );

    assert!(s.find_transaction(p.id, "t1").await.unwrap().is_none());
    assert!(
        s.list_transactions(
            p.id,
            &TransactionFilter::default(),
            page(1, 10, SortOrder::Asc)
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert_eq!(s.count_customer_sales(p.id, c.row_id).await.unwrap(), 0);
    assert!(
        s.refund_transaction(p.id, tx.row_id, at(51))
            .await
            .unwrap()
            .is_none(),
        "already refunded"
    );
    let holder_total: Decimal = s
        .holder_entries(p.id, holder)
        .await
        .unwrap()
        .iter()
        .map(|e| e.amount)
        .sum();
    assert_eq!(holder_total, Decimal::ZERO);

    // The key is free again.
    let (again, _) = created(
        s.record_transaction(sale(&p, &par, &c, "t1", 0, vec![]), at(60))
            .await
            .unwrap(),
    );
    assert_ne!(again.row_id, tx.row_id);
    // Another program cannot refund it.
    let (other, _, _) = setup(s).await;
    assert!(
        s.refund_transaction(other.id, again.row_id, at(61))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn holder_rewards_count_excludes_reversed_ones() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let holder = Holder::Partner(par.row_id);
    let (t1, _) = created(
        s.record_transaction(
            sale(&p, &par, &c, "t1", 0, vec![reward(holder, "1", at(100))]),
            at(10),
        )
        .await
        .unwrap(),
    );
    let mut other_rule = reward(holder, "1", at(100));
    other_rule.rule_path = Some("rules[1]".into());
    created(
        s.record_transaction(
            sale(
                &p,
                &par,
                &c,
                "t2",
                1,
                vec![reward(holder, "1", at(100)), other_rule],
            ),
            at(11),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        s.count_holder_rewards(p.id, holder, "rules[0]")
            .await
            .unwrap(),
        2
    );
    s.refund_transaction(p.id, t1.row_id, at(12)).await.unwrap();
    assert_eq!(
        s.count_holder_rewards(p.id, holder, "rules[0]")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.count_holder_rewards(p.id, holder, "rules[1]")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.count_holder_rewards(p.id, Holder::Customer(c.row_id), "rules[0]")
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn append_entry_keeps_the_floor() {
    let db = db().await;
    let s = &db.store;
    let (p, _, c) = setup(s).await;
    let holder = Holder::Customer(c.row_id);
    let credit = |amount: &str, available_at: Timestamp| NewEntry {
        holder,
        kind: EntryKind::Credit,
        reward_kind: None,
        beneficiary: None,
        amount: d(amount),
        unit: "USD".into(),
        rule_version: None,
        rule_path: None,
        available_at,
        note: Some("manual".into()),
    };
    let first = s
        .append_entry(p.id, credit("10.10", at(1)), None, at(1))
        .await
        .unwrap()
        .expect("no floor");
    assert_eq!(first.transaction, None);
    assert_eq!(first.note.as_deref(), Some("manual"));
    // Pending (future) and other-unit entries do not count towards the balance.
    s.append_entry(p.id, credit("50", at(99)), None, at(2))
        .await
        .unwrap()
        .unwrap();
    let mut eur = credit("50", at(1));
    eur.unit = "EUR".into();
    s.append_entry(p.id, eur, None, at(2))
        .await
        .unwrap()
        .unwrap();

    assert!(
        s.append_entry(p.id, credit("-10.11", at(3)), Some(Decimal::ZERO), at(3))
            .await
            .unwrap()
            .is_none(),
        "below the floor"
    );
    assert_eq!(s.holder_entries(p.id, holder).await.unwrap().len(), 3);
    let debit = s
        .append_entry(p.id, credit("-10.1", at(3)), Some(Decimal::ZERO), at(3))
        .await
        .unwrap()
        .expect("exactly at the floor");
    assert_eq!(debit.amount, d("-10.1"));
    let all = s.holder_entries(p.id, holder).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].row_id < w[1].row_id));
    assert_eq!(all[3], debit);
}

#[tokio::test]
async fn ledger_entries_refuse_updates() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let holder = Holder::Partner(par.row_id);
    created(
        s.record_transaction(
            sale(&p, &par, &c, "t1", 0, vec![reward(holder, "1", at(100))]),
            at(10),
        )
        .await
        .unwrap(),
    );
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let err = conn
        .execute("UPDATE ledger_entries SET amount = '1000'", [])
        .expect_err("append-only");
    assert!(err.to_string().contains("append-only"), "{err}");
    let amount: String = conn
        .query_row("SELECT amount FROM ledger_entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(amount, "1");
}

#[tokio::test]
async fn deleting_a_program_removes_its_transactions_and_entries() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let (other, opar, oc) = setup(s).await;
    for (p, par, c) in [(&p, &par, &c), (&other, &opar, &oc)] {
        let holder = Holder::Partner(par.row_id);
        let (t, _) = created(
            s.record_transaction(
                sale(p, par, c, "t1", 0, vec![reward(holder, "1", at(100))]),
                at(10),
            )
            .await
            .unwrap(),
        );
        // A reversal too: it references both the transaction and the reversed entry.
        s.refund_transaction(p.id, t.row_id, at(11)).await.unwrap();
        created(
            s.record_transaction(
                sale(p, par, c, "t2", 0, vec![reward(holder, "2", at(100))]),
                at(12),
            )
            .await
            .unwrap(),
        );
    }
    s.set_program_delete_code(p.id, "code", at(100))
        .await
        .unwrap();
    assert!(s.delete_program(p.id, "code", at(50)).await.unwrap());

    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let count = |table: &str, program: i64| -> i64 {
        conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE program_id = ?1"),
            [program],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(count("transactions", p.id.0), 0);
    assert_eq!(count("ledger_entries", p.id.0), 0);
    assert_eq!(count("transactions", other.id.0), 2);
    assert_eq!(count("ledger_entries", other.id.0), 3);
    assert!(s.find_transaction(other.id, "t2").await.unwrap().is_some());
}

/// The sum of a holder's entries (pending and approved alike).
async fn total(s: &SqliteStore, p: &Program, holder: Holder) -> Decimal {
    s.holder_entries(p.id, holder)
        .await
        .unwrap()
        .iter()
        .map(|e| e.amount)
        .sum()
}

#[tokio::test]
async fn archive_and_restore_reverse_and_reapply_rewards() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let holder = Holder::Partner(par.row_id);
    let cust = Holder::Customer(c.row_id);
    let (tx, entries) = created(
        s.record_transaction(
            sale(
                &p,
                &par,
                &c,
                "t1",
                0,
                vec![reward(holder, "12.50", at(100)), reward(cust, "3", at(20))],
            ),
            at(10),
        )
        .await
        .unwrap(),
    );
    assert_eq!(total(s, &p, holder).await, d("12.5"));

    assert!(
        s.restore_transaction(p.id, tx.row_id, at(11))
            .await
            .unwrap()
            .is_none(),
        "an active transaction is not restored"
    );

    // Archive: reversed like a refund, but still found (archived) and its key still held.
    let reversals = s
        .archive_transaction(p.id, tx.row_id, at(30))
        .await
        .unwrap()
        .expect("active");
    assert_eq!(reversals.len(), 2);
    assert_eq!(reversals[0].kind, EntryKind::Reversal);
    assert_eq!(reversals[0].reverses, Some(entries[0].row_id));
    assert_eq!(reversals[0].amount, d("-12.5"));
    assert_eq!(reversals[0].available_at, at(100));
    assert_eq!(reversals[1].reverses, Some(entries[1].row_id));
    assert_eq!(reversals[1].available_at, at(30));
    assert_eq!(total(s, &p, holder).await, Decimal::ZERO);
    assert_eq!(total(s, &p, cust).await, Decimal::ZERO);
    let (found, _) = s.find_transaction(p.id, "t1").await.unwrap().unwrap();
    assert_eq!(found.status, TransactionStatus::Archived);
    assert_eq!(s.count_customer_sales(p.id, c.row_id).await.unwrap(), 0);
    assert_eq!(
        s.count_holder_rewards(p.id, holder, "rules[0]")
            .await
            .unwrap(),
        0
    );
    assert!(matches!(
        s.record_transaction(sale(&p, &par, &c, "t1", 0, vec![]), at(31))
            .await
            .unwrap(),
        Recorded::Existing(..)
    ));
    assert!(
        s.archive_transaction(p.id, tx.row_id, at(32))
            .await
            .unwrap()
            .is_none(),
        "already archived"
    );

    // Restore: one copy of each reversed reward, pending ones still pending.
    let copies = s
        .restore_transaction(p.id, tx.row_id, at(40))
        .await
        .unwrap()
        .expect("archived");
    assert_eq!(copies.len(), 2);
    let (pending, approved) = (&copies[0], &copies[1]);
    assert_eq!(pending.kind, EntryKind::Reward);
    assert_eq!(pending.holder, holder);
    assert_eq!(pending.amount, d("12.5"));
    assert_eq!(pending.available_at, at(100));
    assert_eq!(pending.created_at, at(40));
    assert_eq!(pending.transaction, Some(tx.row_id));
    assert_eq!(pending.reverses, None);
    assert_eq!(pending.rule_path.as_deref(), Some("rules[0]"));
    assert_eq!(pending.rule_version, Some(1));
    assert_eq!(pending.reward_kind.as_deref(), Some("commission"));
    assert_eq!(pending.beneficiary.as_deref(), Some("partner"));
    assert_eq!(approved.holder, cust);
    assert_eq!(approved.amount, d("3"));
    assert_eq!(approved.available_at, at(40));
    assert_eq!(total(s, &p, holder).await, d("12.5"));
    assert_eq!(total(s, &p, cust).await, d("3"));
    let (found, all) = s.find_transaction(p.id, "t1").await.unwrap().unwrap();
    assert_eq!(found.status, TransactionStatus::Active);
    assert_eq!(all.len(), 6);
    assert_eq!(s.count_customer_sales(p.id, c.row_id).await.unwrap(), 1);
    assert_eq!(
        s.count_holder_rewards(p.id, holder, "rules[0]")
            .await
            .unwrap(),
        1
    );
    assert!(
        s.restore_transaction(p.id, tx.row_id, at(41))
            .await
            .unwrap()
            .is_none(),
        "already active"
    );

    // Again: the second archive reverses the copies only, the second restore copies them.
    let reversals = s
        .archive_transaction(p.id, tx.row_id, at(50))
        .await
        .unwrap()
        .expect("active again");
    assert_eq!(
        reversals.iter().map(|r| r.reverses).collect::<Vec<_>>(),
        [Some(pending.row_id), Some(approved.row_id)]
    );
    assert_eq!(total(s, &p, holder).await, Decimal::ZERO);
    assert_eq!(total(s, &p, cust).await, Decimal::ZERO);
    let again = s
        .restore_transaction(p.id, tx.row_id, at(60))
        .await
        .unwrap()
        .expect("archived again");
    assert_eq!(again.len(), 2, "no copies of the first rewards again");
    assert_eq!(again[0].amount, d("12.5"));
    assert_eq!(again[0].available_at, at(100));
    assert_eq!(again[1].available_at, at(60));
    assert_eq!(total(s, &p, holder).await, d("12.5"));
    assert_eq!(total(s, &p, cust).await, d("3"));
    assert_eq!(
        s.count_holder_rewards(p.id, holder, "rules[0]")
            .await
            .unwrap(),
        1
    );

    // A refund after the restore reverses exactly the live copies.
    let refunded = s
        .refund_transaction(p.id, tx.row_id, at(70))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(
        refunded.iter().map(|r| r.reverses).collect::<Vec<_>>(),
        [Some(again[0].row_id), Some(again[1].row_id)]
    );
    assert_eq!(total(s, &p, holder).await, Decimal::ZERO);
    assert_eq!(total(s, &p, cust).await, Decimal::ZERO);
    assert!(
        s.archive_transaction(p.id, tx.row_id, at(71))
            .await
            .unwrap()
            .is_none(),
        "a refunded transaction is not archived"
    );
    assert!(
        s.restore_transaction(p.id, tx.row_id, at(72))
            .await
            .unwrap()
            .is_none(),
        "nor restored"
    );
    assert_eq!(total(s, &p, holder).await, Decimal::ZERO);
}

#[tokio::test]
async fn archive_and_restore_stay_in_their_program_and_refund_takes_archived() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let (other, _, _) = setup(s).await;
    let holder = Holder::Partner(par.row_id);
    let (tx, _) = created(
        s.record_transaction(
            sale(&p, &par, &c, "t1", 0, vec![reward(holder, "5", at(100))]),
            at(10),
        )
        .await
        .unwrap(),
    );
    assert!(
        s.archive_transaction(other.id, tx.row_id, at(11))
            .await
            .unwrap()
            .is_none()
    );
    s.archive_transaction(p.id, tx.row_id, at(12))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.restore_transaction(other.id, tx.row_id, at(13))
            .await
            .unwrap()
            .is_none()
    );
    // Refunding an archived transaction finds its entries all reversed already.
    let refunded = s
        .refund_transaction(p.id, tx.row_id, at(14))
        .await
        .unwrap()
        .expect("archived is live");
    assert!(refunded.is_empty());
    assert_eq!(total(s, &p, holder).await, Decimal::ZERO);
    assert!(
        s.restore_transaction(p.id, tx.row_id, at(15))
            .await
            .unwrap()
            .is_none(),
        "a refunded transaction is not restored"
    );
    assert_eq!(total(s, &p, holder).await, Decimal::ZERO);
}

#[tokio::test]
async fn all_transactions_lists_every_status_oldest_first() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let (other, opar, oc) = setup(s).await;
    let mut rows = Vec::new();
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        let (t, _) = created(
            s.record_transaction(sale(&p, &par, &c, key, i as u64, vec![]), at(10))
                .await
                .unwrap(),
        );
        rows.push(t);
    }
    created(
        s.record_transaction(sale(&other, &opar, &oc, "a", 0, vec![]), at(10))
            .await
            .unwrap(),
    );
    s.refund_transaction(p.id, rows[0].row_id, at(20))
        .await
        .unwrap()
        .unwrap();
    s.archive_transaction(p.id, rows[1].row_id, at(21))
        .await
        .unwrap()
        .unwrap();

    let all = s.all_transactions(p.id).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|t| (t.key.as_str(), t.status))
            .collect::<Vec<_>>(),
        [
            ("a", TransactionStatus::Deleted),
            ("b", TransactionStatus::Archived),
            ("c", TransactionStatus::Active),
        ]
    );
    assert_eq!(all[0].deleted_at, Some(at(20)));
    assert_eq!(all[2], rows[2], "decoded as find does");
    assert_eq!(all[1].customer_ident, "cust1");
    assert_eq!(all[1].partner_key.as_deref(), Some("key1"));
    assert_eq!(s.all_transactions(other.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn entries_between_is_half_open_and_per_program() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let (other, opar, oc) = setup(s).await;
    let holder = Holder::Partner(par.row_id);
    for (i, now) in [10, 20, 30].into_iter().enumerate() {
        created(
            s.record_transaction(
                sale(
                    &p,
                    &par,
                    &c,
                    &format!("t{i}"),
                    i as u64,
                    vec![reward(holder, &format!("{}", i + 1), at(100))],
                ),
                at(now),
            )
            .await
            .unwrap(),
        );
    }
    created(
        s.record_transaction(
            sale(
                &other,
                &opar,
                &oc,
                "t0",
                0,
                vec![reward(Holder::Partner(opar.row_id), "9", at(100))],
            ),
            at(20),
        )
        .await
        .unwrap(),
    );
    let amounts = |entries: Vec<LedgerEntry>| entries.iter().map(|e| e.amount).collect::<Vec<_>>();
    assert_eq!(
        amounts(s.entries_between(p.id, at(10), at(30)).await.unwrap()),
        [d("1"), d("2")],
        "from included, to excluded"
    );
    assert_eq!(
        amounts(s.entries_between(p.id, at(11), at(31)).await.unwrap()),
        [d("2"), d("3")]
    );
    assert_eq!(
        amounts(s.entries_between(p.id, at(0), at(1000)).await.unwrap()),
        [d("1"), d("2"), d("3")],
        "oldest first"
    );
    assert!(
        s.entries_between(p.id, at(20), at(20))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        amounts(s.entries_between(other.id, at(0), at(1000)).await.unwrap()),
        [d("9")]
    );
}

/// Without a count to check (`expected_prior_sales: None`), the key index alone settles
/// repeats: the answer equals a read, a repeat answers the first, and concurrent repeats make
/// one transaction with one set of entries.
#[tokio::test]
async fn records_without_history_rely_on_the_key_index() {
    let db = db().await;
    let s = &db.store;
    let (p, par, c) = setup(s).await;
    let holder = Holder::Partner(par.row_id);
    let unlocked = |key: &str, entries: Vec<NewEntry>| NewTransaction {
        expected_prior_sales: None,
        ..sale(&p, &par, &c, key, 0, entries)
    };

    let (tx, entries) = created(
        s.record_transaction(
            unlocked("u1", vec![reward(holder, "29.997", at(100))]),
            at(6),
        )
        .await
        .unwrap(),
    );
    let read = s
        .find_transaction(p.id, "u1")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(read, (tx.clone(), entries.clone()));

    match s
        .record_transaction(unlocked("u1", Vec::new()), at(7))
        .await
        .unwrap()
    {
        Recorded::Existing(t, e) => assert_eq!((t, e), (tx, entries)),
        other => panic!("expected Existing, got {other:?}"),
    }

    let mut set = tokio::task::JoinSet::new();
    let store = std::sync::Arc::new(SqliteStore::open(&db.path).expect("open"));
    for _ in 0..12 {
        let store = store.clone();
        let new = unlocked("race", vec![reward(holder, "1.50", at(100))]);
        set.spawn(async move { store.record_transaction(new, at(8)).await });
    }
    let mut made = 0;
    for r in set.join_all().await {
        if let Recorded::Created(..) = r.expect("record") {
            made += 1;
        }
    }
    assert_eq!(made, 1);
    let (_, race_entries) = s.find_transaction(p.id, "race").await.unwrap().unwrap();
    assert_eq!(race_entries.len(), 1);
}
