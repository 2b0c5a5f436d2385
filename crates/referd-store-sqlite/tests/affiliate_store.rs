//! Store-level tests of affiliate programs on SQLite: program settings and the two-step
//! delete, partners and their links, affiliate customers and counts. Each test has its own
//! database in a temporary folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use referd_core::affiliate::{
    AffiliateCustomerFilter, AffiliateCustomerPatch, NewAffiliateCustomer,
};
use referd_core::customer::{CustomerLookup, CustomerSearch, CustomerStatus, NewCustomer};
use referd_core::ids::{GeneratedApiKey, ProgramType, generate_api_key, new_public_id};
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::{
    NewPartner, NewPartnerLink, Partner, PartnerFilter, PartnerLinkSearch, PartnerLookup,
    PartnerPatch, PartnerSearch, PartnerStatus,
};
use referd_core::program::{
    AffiliateCounts, LinkFormat, NewProgram, Program, ProgramPatch, ProgramRowId, ProgramSettings,
};
use referd_core::store::{
    AffiliateCustomerStore, CustomerStore, PartnerStore, ProgramStore, UniqueField,
};
use referd_core::time::Timestamp;
use referd_core::{Store, StoreError};
use referd_store_sqlite::SqliteStore;
use tempfile::TempDir;

/// A migrated store in a fresh temporary folder (removed when dropped).
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

async fn program_with_key(store: &SqliteStore) -> (Program, GeneratedApiKey) {
    let key = generate_api_key();
    let (program, _) = store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type: ProgramType::Affiliate,
                name: "Shop".into(),
                website: Some("https://shop.test".into()),
                created_at: at(0),
            },
            key.hash.clone(),
            key.hint.clone(),
        )
        .await
        .expect("create program");
    (program, key)
}

async fn program(store: &SqliteStore) -> Program {
    program_with_key(store).await.0
}

fn new_partner(program: &Program, id: &str, email: &str, key: &str) -> NewPartner {
    NewPartner {
        program_id: program.id,
        id: id.into(),
        key: key.into(),
        email: email.into(),
        name: Some("Ada".into()),
        surname: Some("Lovelace".into()),
        password_hash: None,
        tos: false,
        approved: true,
        status: PartnerStatus::Active,
        tags: vec!["vip".into(), "eu".into()],
        referring_partner: None,
        created_at: at(1),
    }
}

async fn partner(store: &SqliteStore, program: &Program, n: u32) -> Partner {
    store
        .insert_partner(new_partner(
            program,
            &format!("par_{n}"),
            &format!("p{n}@example.com"),
            &format!("key{n}"),
        ))
        .await
        .expect("insert partner")
}

fn new_customer(program: &Program, partner: &Partner, key: &str) -> NewAffiliateCustomer {
    NewAffiliateCustomer {
        program_id: program.id,
        key: key.into(),
        email: Some(format!("{key}@example.com")),
        name: Some("Grace".into()),
        surname: None,
        tags: vec!["new".into()],
        partner: partner.row_id,
        link: None,
        created_at: at(2),
    }
}

fn page(page: u32, per_page: u32) -> PageRequest {
    PageRequest {
        page,
        per_page,
        sort: SortOrder::Asc,
    }
}

fn ids(partners: &[Partner]) -> Vec<&str> {
    partners.iter().map(|p| p.id.as_str()).collect()
}

async fn delete_partner(store: &SqliteStore, program: &Program, p: &Partner) {
    assert!(
        store
            .set_partner_status(
                program.id,
                p.row_id,
                &[
                    PartnerStatus::Active,
                    PartnerStatus::Pending,
                    PartnerStatus::Archived
                ],
                PartnerStatus::Deleted,
                at(5),
            )
            .await
            .unwrap()
    );
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> UniqueField {
    match result {
        Err(StoreError::Conflict(field)) => field,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn migrations_apply_once_and_programs_get_default_settings() {
    let db = db().await;
    db.store.migrate().await.expect("second migrate is a no-op");
    let (p, key) = program_with_key(&db.store).await;
    assert_eq!(p.settings, ProgramSettings::default());
    assert_eq!(
        db.store.find_program(&p.public_id).await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        db.store.program_for_key(&key.hash).await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(db.store.list_programs().await.unwrap(), vec![p]);
}

#[tokio::test]
async fn partner_insert_conflicts_name_the_field_and_deleted_partners_free_theirs() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let first = s
        .insert_partner(new_partner(&p, "par_1", "a@example.com", "k1"))
        .await
        .unwrap();
    assert_eq!(first.status, PartnerStatus::Active);
    assert_eq!(first.tags, vec!["vip", "eu"]);

    let taken_id = s
        .insert_partner(new_partner(&p, "par_1", "b@example.com", "k2"))
        .await;
    assert_eq!(conflict(taken_id), UniqueField::PartnerId);
    let taken_email = s
        .insert_partner(new_partner(&p, "par_2", "a@example.com", "k2"))
        .await;
    assert_eq!(conflict(taken_email), UniqueField::PartnerEmail);
    let taken_key = s
        .insert_partner(new_partner(&p, "par_2", "b@example.com", "k1"))
        .await;
    assert_eq!(conflict(taken_key), UniqueField::LinkKey);
    // The failed insert left no partner behind: its id and email are still free.
    let second = s
        .insert_partner(new_partner(&p, "par_2", "b@example.com", "k2"))
        .await
        .unwrap();
    // A key taken by an additional link counts too.
    s.insert_partner_link(NewPartnerLink {
        program_id: p.id,
        partner: second.row_id,
        key: "extra".into(),
        created_at: at(2),
    })
    .await
    .unwrap();
    let taken_extra = s
        .insert_partner(new_partner(&p, "par_3", "c@example.com", "extra"))
        .await;
    assert_eq!(conflict(taken_extra), UniqueField::LinkKey);

    // Another program has its own namespace.
    let other = program(s).await;
    s.insert_partner(new_partner(&other, "par_1", "a@example.com", "k1"))
        .await
        .unwrap();

    // A deleted partner frees its id, email and every key.
    delete_partner(s, &p, &second).await;
    let again = s
        .insert_partner(new_partner(&p, "par_2", "b@example.com", "extra"))
        .await
        .unwrap();
    s.insert_partner_link(NewPartnerLink {
        program_id: p.id,
        partner: again.row_id,
        key: "k2".into(),
        created_at: at(3),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn partner_lookups_of_each_kind_build_the_view() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let parent = partner(s, &p, 1).await;
    let child = s
        .insert_partner(NewPartner {
            referring_partner: Some(parent.row_id),
            ..new_partner(&p, "par_child", "child@example.com", "childkey")
        })
        .await
        .unwrap();
    let extra = s
        .insert_partner_link(NewPartnerLink {
            program_id: p.id,
            partner: child.row_id,
            key: "extra".into(),
            created_at: at(3),
        })
        .await
        .unwrap();
    let extra2 = s
        .insert_partner_link(NewPartnerLink {
            program_id: p.id,
            partner: child.row_id,
            key: "extra2".into(),
            created_at: at(3),
        })
        .await
        .unwrap();
    assert!(!extra.is_default);
    // Customers: two live (one archived), one deleted.
    let c1 = s
        .insert_affiliate_customer(new_customer(&p, &child, "c1"))
        .await
        .unwrap();
    let c2 = s
        .insert_affiliate_customer(new_customer(&p, &child, "c2"))
        .await
        .unwrap();
    s.insert_affiliate_customer(new_customer(&p, &child, "c3"))
        .await
        .unwrap();
    let archive = [CustomerStatus::Active];
    assert!(
        s.set_customer_status(p.id, c1.row_id, &archive, CustomerStatus::Archived, at(4))
            .await
            .unwrap()
    );
    assert!(
        s.set_customer_status(p.id, c2.row_id, &archive, CustomerStatus::Deleted, at(4))
            .await
            .unwrap()
    );

    let lookups = [
        PartnerLookup::Row(child.row_id),
        PartnerLookup::Id("par_child".into()),
        PartnerLookup::Key("childkey".into()),
        PartnerLookup::Key("extra".into()),
        PartnerLookup::Email("CHILD@example.com".into()),
        PartnerLookup::AnyIdentifier("par_child".into()),
        PartnerLookup::AnyIdentifier("extra".into()),
        PartnerLookup::AnyIdentifier("Child@Example.com".into()),
    ];
    for lookup in &lookups {
        let view = s
            .find_partner(p.id, lookup)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{lookup:?} found nothing"));
        assert_eq!(view.partner, child, "{lookup:?}");
        assert_eq!(view.default_key, "childkey");
        assert_eq!(view.link_keys, vec!["childkey", "extra", "extra2"]);
        assert_eq!(
            view.referrals_count, 2,
            "the archived customer counts, the deleted not"
        );
        assert_eq!(view.referring_partner.as_deref(), Some(&parent));
    }
    for missing in [
        PartnerLookup::Id("nope".into()),
        PartnerLookup::Key("nope".into()),
        PartnerLookup::Email("nope@example.com".into()),
        PartnerLookup::AnyIdentifier("nope".into()),
        PartnerLookup::AnyIdentifier("nope@example.com".into()),
    ] {
        assert_eq!(
            s.find_partner(p.id, &missing).await.unwrap(),
            None,
            "{missing:?}"
        );
    }
    // Scoped by program.
    let other = program(s).await;
    assert_eq!(
        s.find_partner(other.id, &PartnerLookup::Row(child.row_id))
            .await
            .unwrap(),
        None
    );

    // A deleted link's key no longer finds the partner; the others keep their order.
    assert!(
        s.delete_partner_link(p.id, extra.row_id, at(5))
            .await
            .unwrap()
    );
    assert_eq!(
        s.find_partner(p.id, &PartnerLookup::Key("extra".into()))
            .await
            .unwrap(),
        None
    );
    let view = s
        .find_partner(p.id, &PartnerLookup::Row(child.row_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.link_keys, vec!["childkey", "extra2"]);
    let _ = extra2;

    // A deleted referring partner is still shown; a deleted partner is never found.
    delete_partner(s, &p, &parent).await;
    let view = s
        .find_partner(p.id, &PartnerLookup::Key("childkey".into()))
        .await
        .unwrap()
        .unwrap();
    let referring = view.referring_partner.expect("referring partner");
    assert_eq!(referring.status, PartnerStatus::Deleted);
    for lookup in [
        PartnerLookup::Row(parent.row_id),
        PartnerLookup::Id("par_1".into()),
        PartnerLookup::Key("key1".into()),
        PartnerLookup::Email("p1@example.com".into()),
        PartnerLookup::AnyIdentifier("p1@example.com".into()),
    ] {
        assert_eq!(
            s.find_partner(p.id, &lookup).await.unwrap(),
            None,
            "{lookup:?}"
        );
    }
}

#[tokio::test]
async fn list_partners_filters_by_status_and_pages() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let mut all = Vec::new();
    for n in 1..=6 {
        all.push(partner(s, &p, n).await);
    }
    let set = |i: usize, from: PartnerStatus, to: PartnerStatus| {
        let row = all[i].row_id;
        async move {
            assert!(
                s.set_partner_status(p.id, row, &[from], to, at(3))
                    .await
                    .unwrap()
            );
        }
    };
    set(1, PartnerStatus::Active, PartnerStatus::Pending).await;
    set(2, PartnerStatus::Active, PartnerStatus::Archived).await;
    set(3, PartnerStatus::Active, PartnerStatus::Deleted).await;

    let list = |status, pg| async move {
        s.list_partners(p.id, &PartnerFilter { status }, pg)
            .await
            .unwrap()
    };
    assert_eq!(
        ids(&list(None, page(1, 10)).await),
        ["par_1", "par_2", "par_5", "par_6"]
    );
    assert_eq!(
        ids(&list(Some(PartnerStatus::Archived), page(1, 10)).await),
        ["par_3"]
    );
    assert_eq!(
        ids(&list(Some(PartnerStatus::Pending), page(1, 10)).await),
        ["par_2"]
    );
    assert_eq!(
        ids(&list(Some(PartnerStatus::Deleted), page(1, 10)).await),
        Vec::<&str>::new()
    );
    // `fetch_limit()` rows: one more than a page.
    assert_eq!(
        ids(&list(None, page(1, 2)).await),
        ["par_1", "par_2", "par_5"]
    );
    assert_eq!(ids(&list(None, page(2, 2)).await), ["par_5", "par_6"]);
    assert_eq!(ids(&list(None, page(3, 2)).await), Vec::<&str>::new());
    let desc = PageRequest {
        sort: SortOrder::Desc,
        ..page(1, 2)
    };
    assert_eq!(ids(&list(None, desc).await), ["par_6", "par_5", "par_2"]);
}

#[tokio::test]
async fn search_partners_matches_substrings_case_insensitively() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let ada = s
        .insert_partner(new_partner(&p, "par_Alpha", "ada@example.com", "adakey"))
        .await
        .unwrap();
    let bob = s
        .insert_partner(NewPartner {
            name: Some("Bob".into()),
            surname: Some("Builder".into()),
            ..new_partner(&p, "par_beta", "bob@builders.org", "bobkey")
        })
        .await
        .unwrap();
    let gone = s
        .insert_partner(new_partner(&p, "par_gamma", "gone@example.com", "gonekey"))
        .await
        .unwrap();
    s.insert_partner_link(NewPartnerLink {
        program_id: p.id,
        partner: bob.row_id,
        key: "SummerSale".into(),
        created_at: at(2),
    })
    .await
    .unwrap();
    assert!(
        s.set_partner_status(
            p.id,
            ada.row_id,
            &[PartnerStatus::Active],
            PartnerStatus::Archived,
            at(3)
        )
        .await
        .unwrap()
    );
    delete_partner(s, &p, &gone).await;

    let search = |q: PartnerSearch| async move {
        ids(&s.search_partners(p.id, &q, page(1, 10)).await.unwrap())
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let by_id = |v: &str| PartnerSearch {
        id: Some(v.into()),
        ..Default::default()
    };
    let by_email = |v: &str| PartnerSearch {
        email: Some(v.into()),
        ..Default::default()
    };
    let by_key = |v: &str| PartnerSearch {
        key: Some(v.into()),
        ..Default::default()
    };
    let by_name = |v: &str| PartnerSearch {
        name: Some(v.into()),
        ..Default::default()
    };
    assert_eq!(
        search(by_id("ALPHA")).await,
        ["par_Alpha"],
        "archived partners are found"
    );
    assert_eq!(
        search(by_id("par_")).await,
        ["par_Alpha", "par_beta"],
        "never deleted ones"
    );
    assert_eq!(search(by_email("BUILDERS")).await, ["par_beta"]);
    assert_eq!(search(by_email("example.com")).await, ["par_Alpha"]);
    assert_eq!(
        search(by_key("summer")).await,
        ["par_beta"],
        "any live link key"
    );
    assert_eq!(search(by_key("KEY")).await, ["par_Alpha", "par_beta"]);
    assert_eq!(search(by_key("gonekey")).await, Vec::<String>::new());
    assert_eq!(search(by_name("lovel")).await, ["par_Alpha"], "surname");
    assert_eq!(
        search(by_name("bob b")).await,
        ["par_beta"],
        "name and surname"
    );
    assert_eq!(search(by_name("bob")).await, ["par_beta"], "name");
    let both = PartnerSearch {
        id: Some("par".into()),
        email: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(
        search(both).await,
        ["par_beta"],
        "every criterion must match"
    );
    let none = PartnerSearch {
        id: Some("alpha".into()),
        email: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(search(none).await, Vec::<String>::new());
    // Paging: fetch_limit rows.
    let all = s
        .search_partners(p.id, &by_id("par"), page(1, 1))
        .await
        .unwrap();
    assert_eq!(ids(&all), ["par_Alpha", "par_beta"]);
}

#[tokio::test]
async fn update_partner_renames_key_checks_conflicts_and_moves_approval() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let a = partner(s, &p, 1).await;
    let b = partner(s, &p, 2).await;

    let patch = PartnerPatch {
        key: Some("newkey".into()),
        email: Some("new@example.com".into()),
        name: Some("Augusta".into()),
        tags: Some(vec![]),
        ..Default::default()
    };
    let updated = s
        .update_partner(p.id, a.row_id, &patch, at(10))
        .await
        .unwrap();
    assert_eq!(updated.email, "new@example.com");
    assert_eq!(updated.name.as_deref(), Some("Augusta"));
    assert_eq!(
        updated.surname.as_deref(),
        Some("Lovelace"),
        "None leaves it"
    );
    assert!(updated.tags.is_empty(), "Some(vec![]) clears the tags");
    assert_eq!(updated.updated_at, at(10));
    assert_eq!(updated.created_at, a.created_at);
    let view = s
        .find_partner(p.id, &PartnerLookup::Key("newkey".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.partner, updated, "the answer is the stored row");
    assert_eq!(view.default_key, "newkey");
    assert_eq!(view.link_keys, vec!["newkey"]);
    // The old key is free.
    assert_eq!(
        s.find_partner(p.id, &PartnerLookup::Key("key1".into()))
            .await
            .unwrap(),
        None
    );
    s.insert_partner_link(NewPartnerLink {
        program_id: p.id,
        partner: b.row_id,
        key: "key1".into(),
        created_at: at(11),
    })
    .await
    .unwrap();
    // Its own key and email again are no conflict.
    let same = PartnerPatch {
        key: Some("newkey".into()),
        email: Some("new@example.com".into()),
        ..Default::default()
    };
    s.update_partner(p.id, a.row_id, &same, at(12))
        .await
        .unwrap();

    // Conflicts name the field, and roll the whole patch back.
    let taken_key = PartnerPatch {
        key: Some("key2".into()),
        name: Some("Changed".into()),
        ..Default::default()
    };
    assert_eq!(
        conflict(s.update_partner(p.id, a.row_id, &taken_key, at(13)).await),
        UniqueField::LinkKey
    );
    let taken_extra_key = PartnerPatch {
        key: Some("key1".into()),
        ..Default::default()
    };
    assert_eq!(
        conflict(
            s.update_partner(p.id, a.row_id, &taken_extra_key, at(13))
                .await
        ),
        UniqueField::LinkKey
    );
    let taken_email = PartnerPatch {
        email: Some("p2@example.com".into()),
        ..Default::default()
    };
    assert_eq!(
        conflict(s.update_partner(p.id, a.row_id, &taken_email, at(13)).await),
        UniqueField::PartnerEmail
    );
    let view = s
        .find_partner(p.id, &PartnerLookup::Row(a.row_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.partner.name.as_deref(), Some("Augusta"));
    assert_eq!(view.default_key, "newkey");

    // approved: false moves active → pending, true moves pending → active.
    let unapprove = PartnerPatch {
        approved: Some(false),
        ..Default::default()
    };
    let approve = PartnerPatch {
        approved: Some(true),
        tos: Some(true),
        ..Default::default()
    };
    let x = s
        .update_partner(p.id, a.row_id, &unapprove, at(14))
        .await
        .unwrap();
    assert_eq!((x.approved, x.status), (false, PartnerStatus::Pending));
    let x = s
        .update_partner(p.id, a.row_id, &approve, at(15))
        .await
        .unwrap();
    assert_eq!(
        (x.approved, x.status, x.tos),
        (true, PartnerStatus::Active, true)
    );
    // An archived partner stays archived either way.
    assert!(
        s.set_partner_status(
            p.id,
            a.row_id,
            &[PartnerStatus::Active],
            PartnerStatus::Archived,
            at(16)
        )
        .await
        .unwrap()
    );
    let x = s
        .update_partner(p.id, a.row_id, &unapprove, at(17))
        .await
        .unwrap();
    assert_eq!((x.approved, x.status), (false, PartnerStatus::Archived));
    let x = s
        .update_partner(p.id, a.row_id, &approve, at(18))
        .await
        .unwrap();
    assert_eq!((x.approved, x.status), (true, PartnerStatus::Archived));

    // Deleted or missing: NotFound.
    delete_partner(s, &p, &b).await;
    let name = PartnerPatch {
        name: Some("x".into()),
        ..Default::default()
    };
    assert!(matches!(
        s.update_partner(p.id, b.row_id, &name, at(19)).await,
        Err(StoreError::NotFound)
    ));
    let other = program(s).await;
    assert!(matches!(
        s.update_partner(other.id, a.row_id, &name, at(19)).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn partner_status_changes_are_check_and_set() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let a = partner(s, &p, 1).await;
    let link = s
        .insert_partner_link(NewPartnerLink {
            program_id: p.id,
            partner: a.row_id,
            key: "extra".into(),
            created_at: at(2),
        })
        .await
        .unwrap();
    let set = |from: &'static [PartnerStatus], to| async move {
        s.set_partner_status(p.id, a.row_id, from, to, at(3))
            .await
            .unwrap()
    };
    assert!(!set(&[PartnerStatus::Pending], PartnerStatus::Active).await);
    assert!(set(&[PartnerStatus::Active], PartnerStatus::Archived).await);
    assert!(!set(&[PartnerStatus::Active], PartnerStatus::Archived).await);
    assert!(set(&[PartnerStatus::Archived], PartnerStatus::Active).await);
    assert!(set(&[PartnerStatus::Active], PartnerStatus::Deleted).await);
    // Deleted is final: no status change brings it back.
    assert!(!set(&[PartnerStatus::Deleted], PartnerStatus::Active).await);
    assert!(!set(&[PartnerStatus::Active], PartnerStatus::Active).await);
    // Its links went with it.
    assert_eq!(s.find_partner_link(p.id, "key1").await.unwrap(), None);
    assert_eq!(s.find_partner_link(p.id, "extra").await.unwrap(), None);
    assert!(
        !s.delete_partner_link(p.id, link.row_id, at(4))
            .await
            .unwrap()
    );
    assert!(matches!(
        s.rename_partner_link(p.id, link.row_id, "x", at(4)).await,
        Err(StoreError::NotFound)
    ));
    // And no link can be added to it.
    let added = s
        .insert_partner_link(NewPartnerLink {
            program_id: p.id,
            partner: a.row_id,
            key: "late".into(),
            created_at: at(5),
        })
        .await;
    assert!(matches!(added, Err(StoreError::NotFound)), "{added:?}");
}

#[tokio::test]
async fn partner_links_insert_find_search_rename_delete() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let a = partner(s, &p, 1).await;
    let b = partner(s, &p, 2).await;
    let link = |key: &str, partner: &Partner| NewPartnerLink {
        program_id: p.id,
        partner: partner.row_id,
        key: key.into(),
        created_at: at(3),
    };
    let l1 = s.insert_partner_link(link("a-one", &a)).await.unwrap();
    let l2 = s.insert_partner_link(link("a-two", &a)).await.unwrap();
    s.insert_partner_link(link("b-one", &b)).await.unwrap();
    assert_eq!(
        conflict(s.insert_partner_link(link("key2", &a)).await),
        UniqueField::LinkKey
    );
    assert_eq!(
        conflict(s.insert_partner_link(link("a-one", &b)).await),
        UniqueField::LinkKey
    );

    let found = s.find_partner_link(p.id, "a-one").await.unwrap().unwrap();
    assert_eq!(found, l1);
    let default = s.find_partner_link(p.id, "key1").await.unwrap().unwrap();
    assert!(default.is_default);
    assert_eq!(default.partner, a.row_id);
    let other = program(s).await;
    assert_eq!(s.find_partner_link(other.id, "a-one").await.unwrap(), None);

    let keys = |search: PartnerLinkSearch, pg: PageRequest| async move {
        s.search_partner_links(p.id, &search, pg)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.key)
            .collect::<Vec<_>>()
    };
    let of_a = PartnerLinkSearch {
        partner: Some(a.row_id),
        key: None,
    };
    assert_eq!(
        keys(of_a.clone(), page(1, 10)).await,
        ["key1", "a-one", "a-two"]
    );
    assert_eq!(keys(of_a.clone(), page(1, 1)).await, ["key1", "a-one"]);
    assert_eq!(keys(of_a.clone(), page(2, 1)).await, ["a-one", "a-two"]);
    let by_key = PartnerLinkSearch {
        key: Some("b-one".into()),
        partner: None,
    };
    assert_eq!(keys(by_key, page(1, 10)).await, ["b-one"]);
    let mismatch = PartnerLinkSearch {
        key: Some("b-one".into()),
        partner: Some(a.row_id),
    };
    assert_eq!(keys(mismatch, page(1, 10)).await, Vec::<String>::new());
    assert_eq!(
        keys(PartnerLinkSearch::default(), page(1, 10)).await,
        ["key1", "key2", "a-one", "a-two", "b-one"]
    );

    // Rename: its own key is fine, a taken one is a conflict.
    let renamed = s
        .rename_partner_link(p.id, l1.row_id, "a-uno", at(4))
        .await
        .unwrap();
    assert_eq!((renamed.key.as_str(), renamed.updated_at), ("a-uno", at(4)));
    assert_eq!(renamed.created_at, l1.created_at);
    s.rename_partner_link(p.id, l1.row_id, "a-uno", at(5))
        .await
        .unwrap();
    assert_eq!(
        conflict(s.rename_partner_link(p.id, l1.row_id, "b-one", at(5)).await),
        UniqueField::LinkKey
    );
    assert!(matches!(
        s.rename_partner_link(other.id, l1.row_id, "zzz", at(5))
            .await,
        Err(StoreError::NotFound)
    ));

    // Delete: never the default link; an additional one once, freeing its key.
    assert!(
        !s.delete_partner_link(p.id, default.row_id, at(6))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_partner_link(other.id, l2.row_id, at(6))
            .await
            .unwrap()
    );
    assert!(s.delete_partner_link(p.id, l2.row_id, at(6)).await.unwrap());
    assert!(!s.delete_partner_link(p.id, l2.row_id, at(7)).await.unwrap());
    assert_eq!(s.find_partner_link(p.id, "a-two").await.unwrap(), None);
    assert_eq!(keys(of_a, page(1, 10)).await, ["key1", "a-uno"]);
    s.insert_partner_link(link("a-two", &b)).await.unwrap();
    assert!(
        s.find_partner_link(p.id, "key1").await.unwrap().is_some(),
        "the default link survived"
    );
}

#[tokio::test]
async fn affiliate_customers_insert_find_list_search_update() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    let a = partner(s, &p, 1).await;
    let b = partner(s, &p, 2).await;
    let link = s
        .insert_partner_link(NewPartnerLink {
            program_id: p.id,
            partner: a.row_id,
            key: "a-link".into(),
            created_at: at(2),
        })
        .await
        .unwrap();
    let c1 = s
        .insert_affiliate_customer(NewAffiliateCustomer {
            link: Some(link.row_id),
            ..new_customer(&p, &a, "c1")
        })
        .await
        .unwrap();
    assert_eq!(c1.partner_key, "key1");
    assert_eq!(c1.link, Some(link.row_id));
    assert_eq!(c1.status, CustomerStatus::Active);
    let c2 = s
        .insert_affiliate_customer(new_customer(&p, &b, "c2"))
        .await
        .unwrap();
    let c3 = s
        .insert_affiliate_customer(NewAffiliateCustomer {
            email: None,
            ..new_customer(&p, &a, "c3")
        })
        .await
        .unwrap();
    assert_eq!(
        conflict(
            s.insert_affiliate_customer(new_customer(&p, &b, "c1"))
                .await
        ),
        UniqueField::CustomerKey
    );
    let same_email = NewAffiliateCustomer {
        email: Some("c2@example.com".into()),
        ..new_customer(&p, &a, "c4")
    };
    assert_eq!(
        conflict(s.insert_affiliate_customer(same_email).await),
        UniqueField::CustomerEmail
    );
    // A partner of another program is no partner here.
    let other = program(s).await;
    let foreign = s
        .insert_affiliate_customer(NewAffiliateCustomer {
            program_id: other.id,
            ..new_customer(&p, &a, "c5")
        })
        .await;
    assert!(matches!(foreign, Err(StoreError::NotFound)), "{foreign:?}");

    // Lookups.
    for lookup in [
        CustomerLookup::Row(c1.row_id),
        CustomerLookup::Id("c1".into()),
        CustomerLookup::Key("c1".into()),
        CustomerLookup::Email("C1@example.com".into()),
        CustomerLookup::AnyIdentifier("c1".into()),
        CustomerLookup::AnyIdentifier("C1@Example.com".into()),
    ] {
        let found = s.find_affiliate_customer(p.id, &lookup).await.unwrap();
        assert_eq!(found.as_ref(), Some(&c1), "{lookup:?}");
    }
    assert_eq!(
        s.find_affiliate_customer(p.id, &CustomerLookup::AnyIdentifier("nope".into()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.find_affiliate_customer(other.id, &CustomerLookup::Row(c1.row_id))
            .await
            .unwrap(),
        None
    );

    // Lists: active only, optionally one partner's.
    assert!(
        s.set_customer_status(
            p.id,
            c3.row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Archived,
            at(3)
        )
        .await
        .unwrap()
    );
    let keys = |v: Vec<referd_core::affiliate::AffiliateCustomer>| {
        v.into_iter().map(|c| c.key).collect::<Vec<_>>()
    };
    let list = |partner| async move {
        keys(
            s.list_affiliate_customers(p.id, &AffiliateCustomerFilter { partner }, page(1, 10))
                .await
                .unwrap(),
        )
    };
    assert_eq!(list(None).await, ["c1", "c2"]);
    assert_eq!(list(Some(a.row_id)).await, ["c1"]);
    assert_eq!(list(Some(b.row_id)).await, ["c2"]);
    let desc = PageRequest {
        sort: SortOrder::Desc,
        ..page(1, 1)
    };
    assert_eq!(
        keys(
            s.list_affiliate_customers(p.id, &AffiliateCustomerFilter::default(), desc)
                .await
                .unwrap()
        ),
        ["c2", "c1"]
    );

    // Search: exact, live (archived included), `id` is the key.
    let search = |q: CustomerSearch| async move {
        keys(
            s.search_affiliate_customers(p.id, &q, page(1, 10))
                .await
                .unwrap(),
        )
    };
    let q = |id: Option<&str>, key: Option<&str>, email: Option<&str>| CustomerSearch {
        id: id.map(Into::into),
        key: key.map(Into::into),
        email: email.map(Into::into),
    };
    assert_eq!(search(q(Some("c3"), None, None)).await, ["c3"]);
    assert_eq!(search(q(None, Some("c2"), None)).await, ["c2"]);
    assert_eq!(search(q(None, None, Some("C1@example.com"))).await, ["c1"]);
    assert_eq!(
        search(q(None, Some("c"), None)).await,
        Vec::<String>::new(),
        "exact"
    );
    assert_eq!(
        search(q(None, Some("c1"), Some("c2@example.com"))).await,
        Vec::<String>::new()
    );

    // Update: coalesce, tags replaced, conflicts, partner_key follows the default link.
    let patch = AffiliateCustomerPatch {
        key: Some("c1-new".into()),
        surname: Some("Hopper".into()),
        tags: Some(vec![]),
        ..Default::default()
    };
    let updated = s
        .update_affiliate_customer(p.id, c1.row_id, &patch, at(5))
        .await
        .unwrap();
    assert_eq!(updated.key, "c1-new");
    assert_eq!(updated.surname.as_deref(), Some("Hopper"));
    assert_eq!(updated.name.as_deref(), Some("Grace"));
    assert!(updated.tags.is_empty());
    assert_eq!(updated.updated_at, at(5));
    let taken = AffiliateCustomerPatch {
        key: Some("c2".into()),
        ..Default::default()
    };
    assert_eq!(
        conflict(
            s.update_affiliate_customer(p.id, c1.row_id, &taken, at(6))
                .await
        ),
        UniqueField::CustomerKey
    );
    let taken = AffiliateCustomerPatch {
        email: Some("c2@example.com".into()),
        ..Default::default()
    };
    assert_eq!(
        conflict(
            s.update_affiliate_customer(p.id, c1.row_id, &taken, at(6))
                .await
        ),
        UniqueField::CustomerEmail
    );
    let rename = PartnerPatch {
        key: Some("a-main".into()),
        ..Default::default()
    };
    s.update_partner(p.id, a.row_id, &rename, at(7))
        .await
        .unwrap();
    let found = s
        .find_affiliate_customer(p.id, &CustomerLookup::Key("c1-new".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.partner_key, "a-main");
    assert_eq!(found.tags, Vec::<String>::new());

    // A deleted customer: gone, NotFound on update, its key free; a deleted partner's
    // customers keep showing its key.
    assert!(
        s.set_customer_status(
            p.id,
            c2.row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Deleted,
            at(8)
        )
        .await
        .unwrap()
    );
    assert!(matches!(
        s.update_affiliate_customer(p.id, c2.row_id, &patch, at(9))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.find_affiliate_customer(p.id, &CustomerLookup::Key("c2".into()))
            .await
            .unwrap(),
        None
    );
    delete_partner(s, &p, &a).await;
    let found = s
        .find_affiliate_customer(p.id, &CustomerLookup::Row(c1.row_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.partner_key, "a-main");
    // ... and a deleted partner gets no new customers.
    let late = s
        .insert_affiliate_customer(new_customer(&p, &a, "c2"))
        .await;
    assert!(matches!(late, Err(StoreError::NotFound)), "{late:?}");
    s.insert_affiliate_customer(new_customer(&p, &b, "c2"))
        .await
        .unwrap();
}

#[tokio::test]
async fn update_program_merges_flags_and_is_seen_at_once_through_the_key() {
    let db = db().await;
    let s = &db.store;
    let (p, key) = program_with_key(s).await;
    // Warm the key cache.
    assert_eq!(s.program_for_key(&key.hash).await.unwrap(), Some(p.clone()));

    let first = ProgramPatch {
        name: Some("Shop 2".into()),
        currency: Some("EUR".into()),
        cookie_lifetime_days: Some(60),
        referral_param: Some("via".into()),
        link_format: Some(LinkFormat::Path),
        program_flags: BTreeMap::from([("a".to_string(), true), ("b".to_string(), true)]),
        portal_flags: BTreeMap::from([("signup".to_string(), false)]),
        ..Default::default()
    };
    let updated = s.update_program(p.id, &first, at(10)).await.unwrap();
    assert_eq!(updated.name, "Shop 2");
    assert_eq!(updated.website.as_deref(), Some("https://shop.test"));
    assert_eq!(updated.settings.currency, "EUR");
    assert_eq!(updated.settings.cookie_lifetime_days, 60);
    assert_eq!(updated.settings.referral_param.as_deref(), Some("via"));
    assert_eq!(updated.settings.link_format, LinkFormat::Path);
    assert_eq!(updated.updated_at, at(10));
    assert_eq!(updated.created_at, p.created_at);
    assert_eq!(
        s.program_for_key(&key.hash).await.unwrap(),
        Some(updated.clone())
    );

    let second = ProgramPatch {
        program_flags: BTreeMap::from([("b".to_string(), false), ("c".to_string(), true)]),
        ..Default::default()
    };
    let merged = s.update_program(p.id, &second, at(11)).await.unwrap();
    assert_eq!(
        merged.settings.program_flags,
        BTreeMap::from([
            ("a".to_string(), true),
            ("b".to_string(), false),
            ("c".to_string(), true)
        ])
    );
    assert_eq!(
        merged.settings.portal_flags,
        BTreeMap::from([("signup".to_string(), false)]),
        "an empty map changes nothing"
    );
    assert_eq!(merged.name, "Shop 2");
    assert_eq!(
        s.program_for_key(&key.hash).await.unwrap(),
        Some(merged.clone())
    );
    assert_eq!(
        s.find_program(&p.public_id).await.unwrap(),
        Some(merged.clone())
    );
    assert_eq!(s.list_programs().await.unwrap(), vec![merged]);

    assert!(matches!(
        s.update_program(ProgramRowId(p.id.0 + 100), &second, at(12))
            .await,
        Err(StoreError::NotFound)
    ));
}

/// Rows of each table that belong to `program` (customers, partners and links directly;
/// keys by their program).
fn rows_of(path: &PathBuf, program: ProgramRowId) -> [i64; 4] {
    let conn = rusqlite::Connection::open(path).unwrap();
    ["api_keys", "partners", "partner_links", "customers"].map(|table| {
        conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE program_id = ?1"),
            [program.0],
            |r| r.get(0),
        )
        .unwrap()
    })
}

/// Fills a program with every kind of row and every reference between rows.
async fn populate(s: &SqliteStore, p: &Program) {
    let parent = partner(s, p, 1).await;
    let child = s
        .insert_partner(NewPartner {
            referring_partner: Some(parent.row_id),
            ..new_partner(p, "par_child", "child@example.com", "childkey")
        })
        .await
        .unwrap();
    let gone = partner(s, p, 3).await;
    let link = s
        .insert_partner_link(NewPartnerLink {
            program_id: p.id,
            partner: child.row_id,
            key: "child-extra".into(),
            created_at: at(2),
        })
        .await
        .unwrap();
    let through_link = s
        .insert_affiliate_customer(NewAffiliateCustomer {
            link: Some(link.row_id),
            ..new_customer(p, &child, "via-link")
        })
        .await
        .unwrap();
    s.insert_affiliate_customer(new_customer(p, &parent, "of-parent"))
        .await
        .unwrap();
    s.insert_affiliate_customer(new_customer(p, &gone, "of-gone"))
        .await
        .unwrap();
    delete_partner(s, p, &gone).await;
    assert!(
        s.set_customer_status(
            p.id,
            through_link.row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Deleted,
            at(6)
        )
        .await
        .unwrap()
    );
    // Refer-a-friend customers, one referred by the other.
    let referrer = s
        .insert_customer(NewCustomer {
            program_id: p.id,
            id: "cus_1".into(),
            key: "rk1".into(),
            email: Some("r1@example.com".into()),
            name: None,
            surname: None,
            date_of_birth: None,
            referrer: None,
            created_at: at(3),
        })
        .await
        .unwrap();
    s.insert_customer(NewCustomer {
        program_id: p.id,
        id: "cus_2".into(),
        key: "rk2".into(),
        email: Some("r2@example.com".into()),
        name: None,
        surname: None,
        date_of_birth: None,
        referrer: Some(referrer.row_id),
        created_at: at(3),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn delete_program_checks_the_code_and_cascades() {
    let db = db().await;
    let s = &db.store;
    let (p, key) = program_with_key(s).await;
    let (other, other_key) = program_with_key(s).await;
    populate(s, &p).await;
    populate(s, &other).await;
    s.create_api_key(p.id, generate_api_key().hash, "rfd_x".into(), at(1))
        .await
        .unwrap();
    let before = rows_of(&db.path, p.id);
    assert_eq!(before, [2, 3, 4, 5]);
    let other_before = rows_of(&db.path, other.id);
    // Warm the key cache.
    assert!(s.program_for_key(&key.hash).await.unwrap().is_some());

    // No code yet.
    assert!(!s.delete_program(p.id, "abc", at(10)).await.unwrap());
    s.set_program_delete_code(p.id, "old", at(100))
        .await
        .unwrap();
    s.set_program_delete_code(p.id, "abcDEF12", at(100))
        .await
        .unwrap();
    assert!(
        !s.delete_program(p.id, "old", at(10)).await.unwrap(),
        "replaced"
    );
    assert!(
        !s.delete_program(p.id, "abcdef12", at(10)).await.unwrap(),
        "case matters"
    );
    assert!(
        !s.delete_program(p.id, "abcDEF12", at(101)).await.unwrap(),
        "expired"
    );
    assert!(
        !s.delete_program(other.id, "abcDEF12", at(10))
            .await
            .unwrap(),
        "not its code"
    );
    assert_eq!(rows_of(&db.path, p.id), before);
    assert!(s.program_for_key(&key.hash).await.unwrap().is_some());

    assert!(
        s.delete_program(p.id, "abcDEF12", at(100)).await.unwrap(),
        "expires_at >= now"
    );
    assert_eq!(rows_of(&db.path, p.id), [0, 0, 0, 0]);
    assert_eq!(
        s.program_for_key(&key.hash).await.unwrap(),
        None,
        "cache dropped"
    );
    assert_eq!(s.find_program(&p.public_id).await.unwrap(), None);
    assert!(
        !s.delete_program(p.id, "abcDEF12", at(100)).await.unwrap(),
        "already gone"
    );
    assert!(matches!(
        s.set_program_delete_code(p.id, "x", at(100)).await,
        Err(StoreError::NotFound)
    ));

    // The other program is untouched.
    assert_eq!(rows_of(&db.path, other.id), other_before);
    assert_eq!(
        s.program_for_key(&other_key.hash).await.unwrap(),
        Some(other.clone())
    );
    let view = s
        .find_partner(other.id, &PartnerLookup::Key("child-extra".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        view.referring_partner.map(|p| p.id).as_deref(),
        Some("par_1")
    );
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let violations: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(violations, 0);
}

#[tokio::test]
async fn references_between_rows_are_indexed_for_cascading_deletes() {
    // Deleting a program deletes its rows; for each deleted row SQLite looks up the rows
    // that reference it. Without a usable index each lookup scans the table.
    let db = db().await;
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    for (table, column) in [
        ("customers", "referrer_row_id"),
        ("customers", "partner_row_id"),
        ("customers", "link_row_id"),
        ("partners", "referring_partner_row_id"),
        ("partner_links", "partner_row_id"),
        ("api_keys", "program_id"),
        ("customers", "program_id"),
        ("partners", "program_id"),
    ] {
        let plan: String = conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN SELECT 1 FROM {table} WHERE {column} = ?1"),
                [1],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("USING"), "{table}.{column}: {plan}");
    }
}

#[tokio::test]
async fn affiliate_counts_count_live_rows_by_status() {
    let db = db().await;
    let s = &db.store;
    let p = program(s).await;
    assert_eq!(
        s.affiliate_counts(p.id, None).await.unwrap(),
        AffiliateCounts::default()
    );
    let a = partner(s, &p, 1).await;
    let b = partner(s, &p, 2).await;
    let c = partner(s, &p, 3).await;
    let d = partner(s, &p, 4).await;
    let late = s
        .insert_partner(NewPartner {
            created_at: at(50),
            ..new_partner(&p, "par_late", "late@example.com", "latekey")
        })
        .await
        .unwrap();
    assert!(
        s.set_partner_status(
            p.id,
            b.row_id,
            &[PartnerStatus::Active],
            PartnerStatus::Pending,
            at(3)
        )
        .await
        .unwrap()
    );
    assert!(
        s.set_partner_status(
            p.id,
            c.row_id,
            &[PartnerStatus::Active],
            PartnerStatus::Archived,
            at(3)
        )
        .await
        .unwrap()
    );
    delete_partner(s, &p, &d).await;
    let c1 = s
        .insert_affiliate_customer(new_customer(&p, &a, "c1"))
        .await
        .unwrap();
    s.insert_affiliate_customer(new_customer(&p, &c, "c2"))
        .await
        .unwrap();
    s.insert_affiliate_customer(NewAffiliateCustomer {
        created_at: at(50),
        ..new_customer(&p, &late, "c3")
    })
    .await
    .unwrap();
    let c4 = s
        .insert_affiliate_customer(new_customer(&p, &a, "c4"))
        .await
        .unwrap();
    assert!(
        s.set_customer_status(
            p.id,
            c4.row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Deleted,
            at(4)
        )
        .await
        .unwrap()
    );
    assert!(
        s.set_customer_status(
            p.id,
            c1.row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Archived,
            at(4)
        )
        .await
        .unwrap()
    );
    // Another program's rows are not counted.
    let other = program(s).await;
    partner(s, &other, 1).await;

    assert_eq!(
        s.affiliate_counts(p.id, None).await.unwrap(),
        AffiliateCounts {
            partners: 4,
            active_partners: 2,
            pending_partners: 1,
            archived_partners: 1,
            customers: 3,
        }
    );
    assert_eq!(
        s.affiliate_counts(p.id, Some(at(50))).await.unwrap(),
        AffiliateCounts {
            partners: 3,
            active_partners: 1,
            pending_partners: 1,
            archived_partners: 1,
            customers: 2,
        }
    );
}
