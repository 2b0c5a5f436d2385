//! Integration tests of `PostgresStore`'s affiliate side (program settings and delete,
//! partners, their links, affiliate customers) against a real server.
//!
//! Like `postgres_store.rs`, they run only when `REFERD_TEST_POSTGRES_URL` names a dedicated
//! database; otherwise each test prints `SKIPPED: …` and passes. Each test creates a fresh
//! program, so identifiers need only be unique within a test.

use std::collections::BTreeMap;
use std::sync::Arc;

use referd_core::affiliate::{
    AffiliateCustomer, AffiliateCustomerFilter, AffiliateCustomerPatch, NewAffiliateCustomer,
};
use referd_core::customer::{CustomerLookup, CustomerSearch, CustomerStatus, NewCustomer};
use referd_core::ids::{GeneratedApiKey, ProgramType, generate_api_key, new_public_id};
use referd_core::page::{PageRequest, SortOrder};
use referd_core::partner::{
    NewPartner, NewPartnerLink, Partner, PartnerFilter, PartnerLink, PartnerLinkSearch,
    PartnerLookup, PartnerPatch, PartnerSearch, PartnerStatus,
};
use referd_core::program::{
    AffiliateCounts, LinkFormat, NewProgram, Program, ProgramPatch, ProgramSettings,
};
use referd_core::store::{
    AffiliateCustomerStore, CustomerStore, PartnerStore, ProgramStore, UniqueField,
};
use referd_core::time::{Clock, SystemClock, Timestamp};
use referd_core::{Store, StoreError, StoreResult};
use referd_store_postgres::PostgresStore;
use tokio::task::JoinSet;

const URL_VAR: &str = "REFERD_TEST_POSTGRES_URL";

/// A migrated store on the test database, or `None` (after saying so) when none is configured.
async fn store() -> Option<Arc<PostgresStore>> {
    let Ok(url) = std::env::var(URL_VAR) else {
        println!("SKIPPED: {URL_VAR} not set");
        return None;
    };
    let store = PostgresStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Some(Arc::new(store))
}

fn now() -> Timestamp {
    SystemClock.now()
}

/// A fresh affiliate program and its API key.
async fn new_program(store: &PostgresStore) -> (Program, GeneratedApiKey) {
    let key = generate_api_key();
    let (program, _) = store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type: ProgramType::Affiliate,
                name: "Affiliates".into(),
                website: Some("https://shop.test".into()),
                created_at: now(),
            },
            key.hash.clone(),
            key.hint.clone(),
        )
        .await
        .expect("create program");
    (program, key)
}

/// An approved partner `id` with key `{id}-key` and email `{id}@example.com`.
fn partner(program: &Program, id: &str) -> NewPartner {
    NewPartner {
        program_id: program.id,
        id: id.into(),
        key: format!("{id}-key"),
        email: format!("{id}@example.com"),
        name: Some("Ada".into()),
        surname: Some("Lovelace".into()),
        password_hash: None,
        tos: false,
        approved: true,
        status: PartnerStatus::Active,
        tags: Vec::new(),
        referring_partner: None,
        created_at: now(),
    }
}

fn pending(program: &Program, id: &str) -> NewPartner {
    NewPartner {
        approved: false,
        status: PartnerStatus::Pending,
        ..partner(program, id)
    }
}

/// A customer of `partner` with key `key` and email `{key}@example.com`.
fn customer(program: &Program, partner: &Partner, key: &str) -> NewAffiliateCustomer {
    NewAffiliateCustomer {
        program_id: program.id,
        key: key.into(),
        email: Some(format!("{key}@example.com")),
        name: Some("Grace".into()),
        surname: Some("Hopper".into()),
        tags: vec!["vip".into()],
        partner: partner.row_id,
        link: None,
        created_at: now(),
    }
}

fn link(program: &Program, partner: &Partner, key: &str) -> NewPartnerLink {
    NewPartnerLink {
        program_id: program.id,
        partner: partner.row_id,
        key: key.into(),
        created_at: now(),
    }
}

fn page(page: u32, per_page: u32, sort: SortOrder) -> PageRequest {
    PageRequest {
        page,
        per_page,
        sort,
    }
}

fn first_page() -> PageRequest {
    page(1, 100, SortOrder::Asc)
}

fn partner_ids(partners: &[Partner]) -> Vec<&str> {
    partners.iter().map(|p| p.id.as_str()).collect()
}

fn customer_keys(customers: &[AffiliateCustomer]) -> Vec<&str> {
    customers.iter().map(|c| c.key.as_str()).collect()
}

fn link_keys(links: &[PartnerLink]) -> Vec<&str> {
    links.iter().map(|l| l.key.as_str()).collect()
}

fn conflict_field<T: std::fmt::Debug>(result: StoreResult<T>) -> UniqueField {
    match result {
        Err(StoreError::Conflict(field)) => field,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn set_status(
    store: &PostgresStore,
    partner: &Partner,
    from: &[PartnerStatus],
    to: PartnerStatus,
) -> bool {
    store
        .set_partner_status(partner.program_id, partner.row_id, from, to, now())
        .await
        .expect("set status")
}

async fn delete_partner(store: &PostgresStore, partner: &Partner) {
    assert!(
        set_status(
            store,
            partner,
            &[
                PartnerStatus::Active,
                PartnerStatus::Pending,
                PartnerStatus::Archived
            ],
            PartnerStatus::Deleted,
        )
        .await
    );
}

async fn find(store: &PostgresStore, program: &Program, lookup: PartnerLookup) -> Option<String> {
    store
        .find_partner(program.id, &lookup)
        .await
        .expect("find partner")
        .map(|view| view.partner.id)
}

#[tokio::test]
async fn partner_insert_and_conflicts() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let created_at = Timestamp::from_micros(1_746_812_533_123_456);
    let ada = store
        .insert_partner(NewPartner {
            tags: vec!["b".into(), "a".into()],
            tos: true,
            created_at,
            ..partner(&program, "ada")
        })
        .await
        .expect("insert");
    assert_eq!(ada.program_id, program.id);
    assert_eq!(ada.id, "ada");
    assert_eq!(ada.email, "ada@example.com");
    assert_eq!(ada.name.as_deref(), Some("Ada"));
    assert_eq!(ada.surname.as_deref(), Some("Lovelace"));
    assert!(ada.tos && ada.approved);
    assert_eq!(ada.status, PartnerStatus::Active);
    assert_eq!(ada.tags, vec!["b".to_string(), "a".to_string()]);
    assert_eq!(ada.referring_partner, None);
    assert_eq!((ada.created_at, ada.updated_at), (created_at, created_at));
    let default_link = store
        .find_partner_link(program.id, "ada-key")
        .await
        .expect("find link")
        .expect("the default link");
    assert!(default_link.is_default);
    assert_eq!(default_link.partner, ada.row_id);

    // Each unique field, alone.
    let same_id = NewPartner {
        id: "ada".into(),
        ..partner(&program, "other1")
    };
    assert_eq!(
        conflict_field(store.insert_partner(same_id).await),
        UniqueField::PartnerId
    );
    let same_email = NewPartner {
        email: "ada@example.com".into(),
        ..partner(&program, "other2")
    };
    assert_eq!(
        conflict_field(store.insert_partner(same_email).await),
        UniqueField::PartnerEmail
    );
    let same_key = NewPartner {
        key: "ada-key".into(),
        ..partner(&program, "other3")
    };
    assert_eq!(
        conflict_field(store.insert_partner(same_key).await),
        UniqueField::LinkKey
    );
    // The partner of a failed link insert was rolled back with it: its id is still free.
    assert_eq!(
        find(&store, &program, PartnerLookup::Id("other3".into())).await,
        None
    );
    store
        .insert_partner(partner(&program, "other3"))
        .await
        .expect("other3 is free");

    // An additional link's key is taken too.
    store
        .insert_partner_link(link(&program, &ada, "ada-extra"))
        .await
        .expect("extra link");
    let extra_key = NewPartner {
        key: "ada-extra".into(),
        ..partner(&program, "other4")
    };
    assert_eq!(
        conflict_field(store.insert_partner(extra_key).await),
        UniqueField::LinkKey
    );

    // Another program may reuse everything.
    let (elsewhere, _) = new_program(&store).await;
    store
        .insert_partner(partner(&elsewhere, "ada"))
        .await
        .expect("other program");

    // A deleted partner frees its id, email and every key.
    delete_partner(&store, &ada).await;
    let reborn = store
        .insert_partner(partner(&program, "ada"))
        .await
        .expect("id, email and default key are free");
    assert_ne!(reborn.row_id, ada.row_id);
    store
        .insert_partner_link(link(&program, &reborn, "ada-extra"))
        .await
        .expect("the extra key is free");
}

#[tokio::test]
async fn partner_lookups_build_the_view() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let boss = store
        .insert_partner(partner(&program, "boss"))
        .await
        .expect("insert");
    let ada = store
        .insert_partner(NewPartner {
            referring_partner: Some(boss.row_id),
            email: "ada@example.com".into(),
            ..partner(&program, "ada")
        })
        .await
        .expect("insert");
    assert_eq!(ada.referring_partner, Some(boss.row_id));
    let second = store
        .insert_partner_link(link(&program, &ada, "ada-2"))
        .await
        .expect("link");
    store
        .insert_partner_link(link(&program, &ada, "ada-3"))
        .await
        .expect("link");
    assert!(!second.is_default);
    // Three customers, one archived (still counted) and one deleted (not counted).
    let kept = store
        .insert_affiliate_customer(customer(&program, &ada, "c1"))
        .await
        .expect("customer");
    let archived = store
        .insert_affiliate_customer(customer(&program, &ada, "c2"))
        .await
        .expect("customer");
    let deleted = store
        .insert_affiliate_customer(customer(&program, &ada, "c3"))
        .await
        .expect("customer");
    assert!(
        store
            .set_customer_status(
                program.id,
                archived.row_id,
                &[CustomerStatus::Active],
                CustomerStatus::Archived,
                now()
            )
            .await
            .expect("archive")
    );
    assert!(
        store
            .set_customer_status(
                program.id,
                deleted.row_id,
                &[CustomerStatus::Active],
                CustomerStatus::Deleted,
                now()
            )
            .await
            .expect("delete")
    );
    assert_eq!(kept.partner, ada.row_id);

    let view = store
        .find_partner(program.id, &PartnerLookup::Row(ada.row_id))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(view.partner, ada);
    assert_eq!(view.default_key, "ada-key");
    assert_eq!(view.link_keys, vec!["ada-key", "ada-2", "ada-3"]);
    assert_eq!(view.referrals_count, 2);
    assert_eq!(view.referring_partner.as_deref(), Some(&boss));

    // Every lookup, including any live link key and a mixed-case email as path segment.
    let lookups = [
        PartnerLookup::Id("ada".into()),
        PartnerLookup::Key("ada-key".into()),
        PartnerLookup::Key("ada-3".into()),
        PartnerLookup::Email("ada@example.com".into()),
        PartnerLookup::AnyIdentifier("ada".into()),
        PartnerLookup::AnyIdentifier("ada-2".into()),
        PartnerLookup::AnyIdentifier("ADA@Example.com".into()),
    ];
    for lookup in lookups {
        assert_eq!(
            find(&store, &program, lookup.clone()).await.as_deref(),
            Some("ada"),
            "{lookup:?}"
        );
    }
    for lookup in [
        PartnerLookup::Id("ada-key".into()),
        PartnerLookup::Key("ada".into()),
        PartnerLookup::Email("ada".into()),
        PartnerLookup::AnyIdentifier("nobody".into()),
    ] {
        assert_eq!(
            find(&store, &program, lookup.clone()).await,
            None,
            "{lookup:?}"
        );
    }

    // The id wins over a link key, a key over an email.
    let id_clash = store
        .insert_partner(NewPartner {
            key: "shared".into(),
            ..partner(&program, "x1")
        })
        .await
        .expect("insert");
    store
        .insert_partner(partner(&program, "shared"))
        .await
        .expect("insert");
    assert_eq!(
        find(
            &store,
            &program,
            PartnerLookup::AnyIdentifier("shared".into())
        )
        .await
        .as_deref(),
        Some("shared")
    );
    store
        .insert_partner(NewPartner {
            key: "mail@example.com".into(),
            ..partner(&program, "x2")
        })
        .await
        .expect("insert");
    store
        .insert_partner(NewPartner {
            email: "mail@example.com".into(),
            ..partner(&program, "x3")
        })
        .await
        .expect("insert");
    assert_eq!(
        find(
            &store,
            &program,
            PartnerLookup::AnyIdentifier("mail@example.com".into())
        )
        .await
        .as_deref(),
        Some("x2")
    );

    // Lookups never cross programs.
    let (elsewhere, _) = new_program(&store).await;
    assert_eq!(
        find(&store, &elsewhere, PartnerLookup::Row(ada.row_id)).await,
        None
    );
    assert_eq!(
        find(&store, &elsewhere, PartnerLookup::Key("ada-key".into())).await,
        None
    );

    // The referring partner is shown whatever its status; archived partners are found;
    // deleted ones are not.
    delete_partner(&store, &boss).await;
    let view = store
        .find_partner(program.id, &PartnerLookup::Id("ada".into()))
        .await
        .expect("find")
        .expect("found");
    let referring = view.referring_partner.expect("referring tombstone");
    assert_eq!(referring.row_id, boss.row_id);
    assert_eq!(referring.status, PartnerStatus::Deleted);
    assert_eq!(
        find(&store, &program, PartnerLookup::Id("boss".into())).await,
        None
    );
    assert_eq!(
        find(&store, &program, PartnerLookup::Key("boss-key".into())).await,
        None
    );
    assert!(
        set_status(
            &store,
            &id_clash,
            &[PartnerStatus::Active],
            PartnerStatus::Archived
        )
        .await
    );
    assert_eq!(
        find(&store, &program, PartnerLookup::Key("shared".into()))
            .await
            .as_deref(),
        Some("x1")
    );
}

#[tokio::test]
async fn list_partners_filters_and_pages() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let mut all = Vec::new();
    for i in 0..4 {
        all.push(
            store
                .insert_partner(partner(&program, &format!("a{i}")))
                .await
                .expect("insert"),
        );
    }
    store
        .insert_partner(pending(&program, "p0"))
        .await
        .expect("insert");
    assert!(
        set_status(
            &store,
            &all[1],
            &[PartnerStatus::Active],
            PartnerStatus::Archived
        )
        .await
    );
    delete_partner(&store, &all[2]).await;

    let listed = store
        .list_partners(program.id, &PartnerFilter::default(), first_page())
        .await
        .expect("list");
    assert_eq!(partner_ids(&listed), vec!["a0", "a3", "p0"]);
    let desc = store
        .list_partners(
            program.id,
            &PartnerFilter::default(),
            page(1, 100, SortOrder::Desc),
        )
        .await
        .expect("list");
    assert_eq!(partner_ids(&desc), vec!["p0", "a3", "a0"]);
    for (status, expected) in [
        (PartnerStatus::Active, vec!["a0", "a3"]),
        (PartnerStatus::Pending, vec!["p0"]),
        (PartnerStatus::Archived, vec!["a1"]),
    ] {
        let filter = PartnerFilter {
            status: Some(status),
        };
        let listed = store
            .list_partners(program.id, &filter, first_page())
            .await
            .expect("list");
        assert_eq!(partner_ids(&listed), expected, "{status:?}");
    }

    // Pages fetch one extra row (to know whether there is a next page).
    let first = store
        .list_partners(
            program.id,
            &PartnerFilter::default(),
            page(1, 2, SortOrder::Asc),
        )
        .await
        .expect("list");
    assert_eq!(partner_ids(&first), vec!["a0", "a3", "p0"]);
    let second = store
        .list_partners(
            program.id,
            &PartnerFilter::default(),
            page(2, 2, SortOrder::Asc),
        )
        .await
        .expect("list");
    assert_eq!(partner_ids(&second), vec!["p0"]);
    let last = store
        .list_partners(
            program.id,
            &PartnerFilter::default(),
            page(2, 1, SortOrder::Desc),
        )
        .await
        .expect("list");
    assert_eq!(partner_ids(&last), vec!["a3", "a0"]);
}

#[tokio::test]
async fn search_partners_by_substrings() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let ada = store
        .insert_partner(NewPartner {
            email: "ada.lovelace@Example.com".to_lowercase(),
            ..partner(&program, "Partner_Ada")
        })
        .await
        .expect("insert");
    store
        .insert_partner_link(link(&program, &ada, "SPRING-promo"))
        .await
        .expect("link");
    let grace = store
        .insert_partner(NewPartner {
            name: Some("Grace".into()),
            surname: Some("Hopper".into()),
            email: "grace@navy.mil".into(),
            ..partner(&program, "partner_grace")
        })
        .await
        .expect("insert");
    let alan = store
        .insert_partner(NewPartner {
            name: Some("Alan".into()),
            surname: None,
            email: "alan@example.com".into(),
            ..partner(&program, "alan%")
        })
        .await
        .expect("insert");
    let gone = store
        .insert_partner(NewPartner {
            email: "gone@example.com".into(),
            ..partner(&program, "partner_gone")
        })
        .await
        .expect("insert");
    delete_partner(&store, &gone).await;
    assert!(
        set_status(
            &store,
            &grace,
            &[PartnerStatus::Active],
            PartnerStatus::Archived
        )
        .await
    );

    let search = |search: PartnerSearch| {
        let store = Arc::clone(&store);
        let program = program.id;
        async move {
            let found = store
                .search_partners(program, &search, first_page())
                .await
                .expect("search");
            found.into_iter().map(|p| p.id).collect::<Vec<_>>()
        }
    };
    let cases: Vec<(PartnerSearch, Vec<&str>)> = vec![
        (
            PartnerSearch {
                id: Some("PARTNER".into()),
                ..PartnerSearch::default()
            },
            vec!["Partner_Ada", "partner_grace"],
        ),
        (
            PartnerSearch {
                email: Some("EXAMPLE.COM".into()),
                ..PartnerSearch::default()
            },
            vec!["Partner_Ada", "alan%"],
        ),
        // Any live link key, not only the default one.
        (
            PartnerSearch {
                key: Some("spring".into()),
                ..PartnerSearch::default()
            },
            vec!["Partner_Ada"],
        ),
        (
            PartnerSearch {
                key: Some("-KEY".into()),
                ..PartnerSearch::default()
            },
            vec!["Partner_Ada", "partner_grace", "alan%"],
        ),
        (
            PartnerSearch {
                name: Some("hop".into()),
                ..PartnerSearch::default()
            },
            vec!["partner_grace"],
        ),
        (
            PartnerSearch {
                name: Some("ada love".into()),
                ..PartnerSearch::default()
            },
            vec!["Partner_Ada"],
        ),
        (
            PartnerSearch {
                name: Some("alan".into()),
                ..PartnerSearch::default()
            },
            vec!["alan%"],
        ),
        // Every criterion must match.
        (
            PartnerSearch {
                id: Some("partner".into()),
                name: Some("grace".into()),
                ..PartnerSearch::default()
            },
            vec!["partner_grace"],
        ),
        (
            PartnerSearch {
                id: Some("partner".into()),
                email: Some("navy".into()),
                key: Some("spring".into()),
                ..PartnerSearch::default()
            },
            vec![],
        ),
        // `%` and `_` are plain characters.
        (
            PartnerSearch {
                id: Some("%".into()),
                ..PartnerSearch::default()
            },
            vec!["alan%"],
        ),
        (
            PartnerSearch {
                id: Some("r_g".into()),
                ..PartnerSearch::default()
            },
            vec!["partner_grace"],
        ),
        // Deleted partners are never found.
        (
            PartnerSearch {
                id: Some("gone".into()),
                ..PartnerSearch::default()
            },
            vec![],
        ),
        (
            PartnerSearch::default(),
            vec!["Partner_Ada", "partner_grace", "alan%"],
        ),
    ];
    for (criteria, expected) in cases {
        assert_eq!(search(criteria.clone()).await, expected, "{criteria:?}");
    }
    let desc = store
        .search_partners(
            program.id,
            &PartnerSearch::default(),
            page(1, 1, SortOrder::Desc),
        )
        .await
        .expect("search");
    assert_eq!(partner_ids(&desc), vec!["alan%", "partner_grace"]);
    assert_eq!(alan.status, PartnerStatus::Active);
}

#[tokio::test]
async fn update_partner_applies_the_patch() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let ada = store
        .insert_partner(NewPartner {
            tags: vec!["t".into()],
            ..pending(&program, "ada")
        })
        .await
        .expect("insert");
    let bob = store
        .insert_partner(partner(&program, "bob"))
        .await
        .expect("insert");

    // Key rename, tags cleared, approval moves pending to active.
    let at = now();
    let patch = PartnerPatch {
        key: Some("ada-new".into()),
        name: Some("Augusta".into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        tags: Some(Vec::new()),
        approved: Some(true),
        tos: Some(true),
        ..PartnerPatch::default()
    };
    let updated = store
        .update_partner(program.id, ada.row_id, &patch, at)
        .await
        .expect("update");
    assert_eq!(updated.name.as_deref(), Some("Augusta"));
    assert_eq!(updated.surname, ada.surname);
    assert_eq!(updated.email, ada.email);
    assert!(updated.tags.is_empty());
    assert!(updated.approved && updated.tos);
    assert_eq!(updated.status, PartnerStatus::Active);
    assert_eq!(updated.updated_at, at);
    assert_eq!(updated.created_at, ada.created_at);
    let view = store
        .find_partner(program.id, &PartnerLookup::Key("ada-new".into()))
        .await
        .expect("find")
        .expect("renamed");
    assert_eq!(view.partner, updated);
    assert_eq!(view.default_key, "ada-new");
    assert_eq!(view.link_keys, vec!["ada-new"]);
    assert_eq!(
        find(&store, &program, PartnerLookup::Key("ada-key".into())).await,
        None
    );

    // Un-approving moves active back to pending.
    let unapprove = PartnerPatch {
        approved: Some(false),
        ..PartnerPatch::default()
    };
    let updated = store
        .update_partner(program.id, ada.row_id, &unapprove, now())
        .await
        .expect("update");
    assert_eq!(
        (updated.approved, updated.status),
        (false, PartnerStatus::Pending)
    );
    // An archived partner stays archived either way.
    assert!(
        set_status(
            &store,
            &updated,
            &[PartnerStatus::Pending],
            PartnerStatus::Archived
        )
        .await
    );
    let approve = PartnerPatch {
        approved: Some(true),
        ..PartnerPatch::default()
    };
    let updated = store
        .update_partner(program.id, ada.row_id, &approve, now())
        .await
        .expect("update");
    assert_eq!(
        (updated.approved, updated.status),
        (true, PartnerStatus::Archived)
    );

    // Conflicts name the field, and nothing of the patch is applied.
    let taken_key = PartnerPatch {
        key: Some("bob-key".into()),
        name: Some("Not applied".into()),
        ..PartnerPatch::default()
    };
    assert_eq!(
        conflict_field(
            store
                .update_partner(program.id, ada.row_id, &taken_key, now())
                .await
        ),
        UniqueField::LinkKey
    );
    let taken_email = PartnerPatch {
        email: Some("bob@example.com".into()),
        ..PartnerPatch::default()
    };
    assert_eq!(
        conflict_field(
            store
                .update_partner(program.id, ada.row_id, &taken_email, now())
                .await
        ),
        UniqueField::PartnerEmail
    );
    let view = store
        .find_partner(program.id, &PartnerLookup::Row(ada.row_id))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(view.partner.name.as_deref(), Some("Augusta"));
    assert_eq!(view.default_key, "ada-new");

    // A key taken by an additional link conflicts too; renaming to its own key is fine.
    store
        .insert_partner_link(link(&program, &bob, "bob-extra"))
        .await
        .expect("link");
    let extra = PartnerPatch {
        key: Some("bob-extra".into()),
        ..PartnerPatch::default()
    };
    assert_eq!(
        conflict_field(
            store
                .update_partner(program.id, ada.row_id, &extra, now())
                .await
        ),
        UniqueField::LinkKey
    );
    let same = PartnerPatch {
        key: Some("ada-new".into()),
        ..PartnerPatch::default()
    };
    store
        .update_partner(program.id, ada.row_id, &same, now())
        .await
        .expect("same key");

    // Gone: deleted, or another program's.
    let (elsewhere, _) = new_program(&store).await;
    assert!(matches!(
        store
            .update_partner(elsewhere.id, bob.row_id, &approve, now())
            .await,
        Err(StoreError::NotFound)
    ));
    delete_partner(&store, &bob).await;
    assert!(matches!(
        store
            .update_partner(program.id, bob.row_id, &approve, now())
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn partner_status_changes_check_and_set() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let ada = store
        .insert_partner(partner(&program, "ada"))
        .await
        .expect("insert");
    store
        .insert_partner_link(link(&program, &ada, "ada-2"))
        .await
        .expect("link");

    assert!(
        !set_status(
            &store,
            &ada,
            &[PartnerStatus::Pending],
            PartnerStatus::Active
        )
        .await
    );
    assert!(
        set_status(
            &store,
            &ada,
            &[PartnerStatus::Active],
            PartnerStatus::Archived
        )
        .await
    );
    assert!(
        !set_status(
            &store,
            &ada,
            &[PartnerStatus::Active],
            PartnerStatus::Archived
        )
        .await
    );
    let view = store
        .find_partner(program.id, &PartnerLookup::Row(ada.row_id))
        .await
        .expect("find")
        .expect("archived is found");
    assert_eq!(view.partner.status, PartnerStatus::Archived);
    assert!(view.partner.updated_at > ada.updated_at);
    // Another program's partner cannot be moved.
    let (elsewhere, _) = new_program(&store).await;
    assert!(
        !store
            .set_partner_status(
                elsewhere.id,
                ada.row_id,
                &[PartnerStatus::Archived],
                PartnerStatus::Active,
                now()
            )
            .await
            .expect("set status")
    );

    // Deleting deletes every link with the partner.
    delete_partner(&store, &ada).await;
    for key in ["ada-key", "ada-2"] {
        assert_eq!(
            store
                .find_partner_link(program.id, key)
                .await
                .expect("find"),
            None
        );
    }
    let links = store
        .search_partner_links(
            program.id,
            &PartnerLinkSearch {
                key: None,
                partner: Some(ada.row_id),
            },
            first_page(),
        )
        .await
        .expect("search");
    assert!(links.is_empty());
    assert!(
        !set_status(
            &store,
            &ada,
            &[PartnerStatus::Active, PartnerStatus::Archived],
            PartnerStatus::Deleted
        )
        .await
    );

    // Concurrent moves from one status: exactly one wins.
    for round in 0..5 {
        let bob = store
            .insert_partner(partner(&program, &format!("bob{round}")))
            .await
            .expect("insert");
        let mut moves = JoinSet::new();
        for to in [
            PartnerStatus::Archived,
            PartnerStatus::Deleted,
            PartnerStatus::Pending,
            PartnerStatus::Archived,
        ] {
            let store = Arc::clone(&store);
            let bob = bob.clone();
            moves.spawn(async move {
                let moved = set_status(&store, &bob, &[PartnerStatus::Active], to).await;
                moved.then_some(to)
            });
        }
        let winners: Vec<PartnerStatus> = moves.join_all().await.into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        let link = store
            .find_partner_link(program.id, &format!("bob{round}-key"))
            .await
            .expect("find");
        assert_eq!(link.is_none(), winners[0] == PartnerStatus::Deleted);
    }
}

#[tokio::test]
async fn a_link_never_outlives_its_partner() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    // A link added while its partner is being deleted is either refused or deleted with it.
    for round in 0..20 {
        let p = store
            .insert_partner(partner(&program, &format!("p{round}")))
            .await
            .expect("insert");
        let key = format!("p{round}-extra");
        let adding = {
            let store = Arc::clone(&store);
            let new = link(&program, &p, &key);
            tokio::spawn(async move { store.insert_partner_link(new).await })
        };
        let deleting = {
            let store = Arc::clone(&store);
            let p = p.clone();
            tokio::spawn(async move { delete_partner(&store, &p).await })
        };
        let added = adding.await.expect("join");
        deleting.await.expect("join");
        assert!(
            matches!(added, Ok(_) | Err(StoreError::NotFound)),
            "{added:?}"
        );
        assert_eq!(
            store
                .find_partner_link(program.id, &key)
                .await
                .expect("find"),
            None
        );
    }
}

#[tokio::test]
async fn partner_links_insert_rename_delete() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let ada = store
        .insert_partner(partner(&program, "ada"))
        .await
        .expect("insert");
    let bob = store
        .insert_partner(partner(&program, "bob"))
        .await
        .expect("insert");

    let at = now();
    let second = store
        .insert_partner_link(NewPartnerLink {
            created_at: at,
            ..link(&program, &ada, "ada-2")
        })
        .await
        .expect("link");
    assert_eq!(second.program_id, program.id);
    assert_eq!(second.partner, ada.row_id);
    assert_eq!(second.key, "ada-2");
    assert!(!second.is_default);
    assert_eq!((second.created_at, second.updated_at), (at, at));
    let third = store
        .insert_partner_link(link(&program, &ada, "ada-3"))
        .await
        .expect("link");
    assert_eq!(
        conflict_field(
            store
                .insert_partner_link(link(&program, &bob, "ada-2"))
                .await
        ),
        UniqueField::LinkKey
    );
    assert_eq!(
        conflict_field(
            store
                .insert_partner_link(link(&program, &bob, "ada-key"))
                .await
        ),
        UniqueField::LinkKey
    );
    assert_eq!(
        store
            .find_partner_link(program.id, "ada-2")
            .await
            .expect("find"),
        Some(second.clone())
    );
    // A partner of another program gets no link here.
    let (elsewhere, _) = new_program(&store).await;
    assert!(matches!(
        store
            .insert_partner_link(link(&elsewhere, &ada, "stray"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .find_partner_link(elsewhere.id, "ada-2")
            .await
            .expect("find"),
        None
    );

    // Search: the default link first, then by row id.
    let search = |key: Option<&str>, partner: Option<&Partner>| PartnerLinkSearch {
        key: key.map(Into::into),
        partner: partner.map(|p| p.row_id),
    };
    let found = store
        .search_partner_links(program.id, &search(None, Some(&ada)), first_page())
        .await
        .expect("search");
    assert_eq!(link_keys(&found), vec!["ada-key", "ada-2", "ada-3"]);
    let found = store
        .search_partner_links(program.id, &search(None, None), first_page())
        .await
        .expect("search");
    assert_eq!(
        link_keys(&found),
        vec!["ada-key", "bob-key", "ada-2", "ada-3"]
    );
    let found = store
        .search_partner_links(program.id, &search(Some("ada-3"), None), first_page())
        .await
        .expect("search");
    assert_eq!(found, vec![third.clone()]);
    let found = store
        .search_partner_links(program.id, &search(Some("ada-3"), Some(&bob)), first_page())
        .await
        .expect("search");
    assert!(found.is_empty());
    let found = store
        .search_partner_links(
            program.id,
            &search(None, Some(&ada)),
            page(2, 1, SortOrder::Asc),
        )
        .await
        .expect("search");
    assert_eq!(link_keys(&found), vec!["ada-2", "ada-3"]);

    // Rename.
    let at = now();
    let renamed = store
        .rename_partner_link(program.id, second.row_id, "ada-two", at)
        .await
        .expect("rename");
    assert_eq!(renamed.key, "ada-two");
    assert_eq!(renamed.updated_at, at);
    assert_eq!(renamed.created_at, second.created_at);
    assert_eq!(
        store
            .find_partner_link(program.id, "ada-2")
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        conflict_field(
            store
                .rename_partner_link(program.id, second.row_id, "bob-key", now())
                .await
        ),
        UniqueField::LinkKey
    );
    assert!(matches!(
        store
            .rename_partner_link(elsewhere.id, second.row_id, "x", now())
            .await,
        Err(StoreError::NotFound)
    ));

    // Delete: additional links only, once.
    let default_link = store
        .find_partner_link(program.id, "ada-key")
        .await
        .expect("find")
        .expect("default");
    assert!(
        !store
            .delete_partner_link(program.id, default_link.row_id, now())
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_partner_link(elsewhere.id, third.row_id, now())
            .await
            .expect("delete")
    );
    assert!(
        store
            .delete_partner_link(program.id, third.row_id, now())
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_partner_link(program.id, third.row_id, now())
            .await
            .expect("delete")
    );
    assert!(matches!(
        store
            .rename_partner_link(program.id, third.row_id, "ada-3b", now())
            .await,
        Err(StoreError::NotFound)
    ));
    let view = store
        .find_partner(program.id, &PartnerLookup::Row(ada.row_id))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(view.link_keys, vec!["ada-key", "ada-two"]);
    // The deleted link's key is free again.
    store
        .insert_partner_link(link(&program, &bob, "ada-3"))
        .await
        .expect("key is free");
    // No links for a deleted partner.
    delete_partner(&store, &bob).await;
    assert!(matches!(
        store
            .insert_partner_link(link(&program, &bob, "bob-2"))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn affiliate_customers_insert_find_list_search_update() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let ada = store
        .insert_partner(partner(&program, "ada"))
        .await
        .expect("insert");
    let bob = store
        .insert_partner(partner(&program, "bob"))
        .await
        .expect("insert");
    let bob_link = store
        .insert_partner_link(link(&program, &bob, "bob-2"))
        .await
        .expect("link");

    let at = now();
    let c1 = store
        .insert_affiliate_customer(NewAffiliateCustomer {
            tags: vec!["b".into(), "a".into()],
            created_at: at,
            ..customer(&program, &ada, "c1")
        })
        .await
        .expect("insert");
    assert_eq!(c1.program_id, program.id);
    assert_eq!(c1.key, "c1");
    assert_eq!(c1.email.as_deref(), Some("c1@example.com"));
    assert_eq!(c1.name.as_deref(), Some("Grace"));
    assert_eq!(c1.surname.as_deref(), Some("Hopper"));
    assert_eq!(c1.tags, vec!["b".to_string(), "a".to_string()]);
    assert_eq!(c1.partner, ada.row_id);
    assert_eq!(c1.partner_key, "ada-key");
    assert_eq!(c1.link, None);
    assert_eq!(c1.status, CustomerStatus::Active);
    assert_eq!((c1.created_at, c1.updated_at), (at, at));
    let c2 = store
        .insert_affiliate_customer(NewAffiliateCustomer {
            link: Some(bob_link.row_id),
            email: None,
            tags: Vec::new(),
            ..customer(&program, &bob, "c2")
        })
        .await
        .expect("insert");
    assert_eq!(c2.link, Some(bob_link.row_id));
    assert_eq!(c2.partner_key, "bob-key");
    assert_eq!(c2.email, None);
    assert!(c2.tags.is_empty());
    let c3 = store
        .insert_affiliate_customer(customer(&program, &ada, "c3"))
        .await
        .expect("insert");
    let c4 = store
        .insert_affiliate_customer(customer(&program, &ada, "c4"))
        .await
        .expect("insert");

    // Conflicts.
    let same_key = NewAffiliateCustomer {
        email: Some("other@example.com".into()),
        ..customer(&program, &bob, "c1")
    };
    assert_eq!(
        conflict_field(store.insert_affiliate_customer(same_key).await),
        UniqueField::CustomerKey
    );
    let same_email = NewAffiliateCustomer {
        email: Some("c1@example.com".into()),
        ..customer(&program, &bob, "c9")
    };
    assert_eq!(
        conflict_field(store.insert_affiliate_customer(same_email).await),
        UniqueField::CustomerEmail
    );
    // A partner of another program is not one to attribute to.
    let (elsewhere, _) = new_program(&store).await;
    assert!(matches!(
        store
            .insert_affiliate_customer(customer(&elsewhere, &ada, "stray"))
            .await,
        Err(StoreError::NotFound)
    ));

    // Lookups: `Id` is the key too; the email may come in any case as a path segment.
    for lookup in [
        CustomerLookup::Row(c1.row_id),
        CustomerLookup::Id("c1".into()),
        CustomerLookup::Key("c1".into()),
        CustomerLookup::Email("c1@example.com".into()),
        CustomerLookup::AnyIdentifier("c1".into()),
        CustomerLookup::AnyIdentifier("C1@Example.COM".into()),
    ] {
        let found = store
            .find_affiliate_customer(program.id, &lookup)
            .await
            .expect("find");
        assert_eq!(found.as_ref(), Some(&c1), "{lookup:?}");
    }
    for lookup in [
        CustomerLookup::Key("c1@example.com".into()),
        CustomerLookup::AnyIdentifier("C1".into()),
        CustomerLookup::Row(c1.row_id),
    ] {
        let program = if matches!(lookup, CustomerLookup::Row(_)) {
            elsewhere.id
        } else {
            program.id
        };
        let found = store
            .find_affiliate_customer(program, &lookup)
            .await
            .expect("find");
        assert_eq!(found, None, "{lookup:?}");
    }

    // Lists: active customers, all or one partner's, in either order, paged.
    assert!(
        store
            .set_customer_status(
                program.id,
                c3.row_id,
                &[CustomerStatus::Active],
                CustomerStatus::Archived,
                now()
            )
            .await
            .expect("archive")
    );
    let all = AffiliateCustomerFilter::default();
    let of_ada = AffiliateCustomerFilter {
        partner: Some(ada.row_id),
    };
    let list = |filter: AffiliateCustomerFilter, page: PageRequest| {
        let store = Arc::clone(&store);
        let program = program.id;
        async move {
            let found = store
                .list_affiliate_customers(program, &filter, page)
                .await
                .expect("list");
            found.into_iter().map(|c| c.key).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(all.clone(), first_page()).await,
        vec!["c1", "c2", "c4"]
    );
    assert_eq!(list(of_ada.clone(), first_page()).await, vec!["c1", "c4"]);
    assert_eq!(
        list(of_ada.clone(), page(1, 100, SortOrder::Desc)).await,
        vec!["c4", "c1"]
    );
    assert_eq!(
        list(all.clone(), page(2, 1, SortOrder::Asc)).await,
        vec!["c2", "c4"]
    );
    assert_eq!(
        list(all.clone(), page(3, 1, SortOrder::Desc)).await,
        vec!["c1"]
    );

    // Search: exact, live (archived included), every criterion.
    let search = |id: Option<&str>, key: Option<&str>, email: Option<&str>| CustomerSearch {
        id: id.map(Into::into),
        key: key.map(Into::into),
        email: email.map(Into::into),
    };
    for (criteria, expected) in [
        (search(Some("c3"), None, None), vec!["c3"]),
        (search(None, Some("c3"), None), vec!["c3"]),
        (search(Some("c1"), Some("c1"), None), vec!["c1"]),
        (search(Some("c1"), Some("c2"), None), vec![]),
        (search(None, Some("c1"), Some("c1@example.com")), vec!["c1"]),
        (search(None, Some("c1"), Some("c4@example.com")), vec![]),
        (search(None, None, Some("c4@example.com")), vec!["c4"]),
        (search(None, Some("c"), None), vec![]),
        (search(None, None, None), vec!["c1", "c2", "c3", "c4"]),
    ] {
        let found = store
            .search_affiliate_customers(program.id, &criteria, first_page())
            .await
            .expect("search");
        assert_eq!(customer_keys(&found), expected, "{criteria:?}");
    }
    let found = store
        .search_affiliate_customers(
            program.id,
            &search(None, None, None),
            page(1, 2, SortOrder::Desc),
        )
        .await
        .expect("search");
    assert_eq!(customer_keys(&found), vec!["c4", "c3", "c2"]);

    // Update: given fields replace, tags are replaced or cleared.
    let at = now();
    let patch = AffiliateCustomerPatch {
        key: Some("c1-new".into()),
        name: Some("Amazing".into()),
        tags: Some(vec!["x".into()]),
        ..AffiliateCustomerPatch::default()
    };
    let updated = store
        .update_affiliate_customer(program.id, c1.row_id, &patch, at)
        .await
        .expect("update");
    assert_eq!(updated.key, "c1-new");
    assert_eq!(updated.name.as_deref(), Some("Amazing"));
    assert_eq!(updated.surname, c1.surname);
    assert_eq!(updated.email, c1.email);
    assert_eq!(updated.tags, vec!["x".to_string()]);
    assert_eq!(updated.partner_key, "ada-key");
    assert_eq!(updated.updated_at, at);
    let clear = AffiliateCustomerPatch {
        tags: Some(Vec::new()),
        ..AffiliateCustomerPatch::default()
    };
    let updated = store
        .update_affiliate_customer(program.id, c1.row_id, &clear, now())
        .await
        .expect("update");
    assert!(updated.tags.is_empty());
    assert_eq!(updated.name.as_deref(), Some("Amazing"));
    let taken = AffiliateCustomerPatch {
        email: Some("c4@example.com".into()),
        ..AffiliateCustomerPatch::default()
    };
    assert_eq!(
        conflict_field(
            store
                .update_affiliate_customer(program.id, c1.row_id, &taken, now())
                .await
        ),
        UniqueField::CustomerEmail
    );
    let taken = AffiliateCustomerPatch {
        key: Some("c4".into()),
        ..AffiliateCustomerPatch::default()
    };
    assert_eq!(
        conflict_field(
            store
                .update_affiliate_customer(program.id, c1.row_id, &taken, now())
                .await
        ),
        UniqueField::CustomerKey
    );

    // `partner_key` follows the partner's default key, even after the partner is deleted.
    let rename = PartnerPatch {
        key: Some("ada-renamed".into()),
        ..PartnerPatch::default()
    };
    store
        .update_partner(program.id, ada.row_id, &rename, now())
        .await
        .expect("rename");
    delete_partner(&store, &ada).await;
    let found = store
        .find_affiliate_customer(program.id, &CustomerLookup::Key("c4".into()))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.partner_key, "ada-renamed");
    assert_eq!(found.partner, ada.row_id);

    // Deleted customers: gone from lookups, updates and search; their key and email free.
    assert!(
        store
            .set_customer_status(
                program.id,
                c4.row_id,
                &[CustomerStatus::Active, CustomerStatus::Archived],
                CustomerStatus::Deleted,
                now()
            )
            .await
            .expect("delete")
    );
    assert_eq!(
        store
            .find_affiliate_customer(program.id, &CustomerLookup::Key("c4".into()))
            .await
            .expect("find"),
        None
    );
    assert!(matches!(
        store
            .update_affiliate_customer(program.id, c4.row_id, &clear, now())
            .await,
        Err(StoreError::NotFound)
    ));
    let found = store
        .search_affiliate_customers(program.id, &search(None, None, None), first_page())
        .await
        .expect("search");
    assert_eq!(customer_keys(&found), vec!["c1-new", "c2", "c3"]);
    store
        .insert_affiliate_customer(customer(&program, &bob, "c4"))
        .await
        .expect("key and email are free");
}

#[tokio::test]
async fn update_program_merges_flags() {
    let Some(store) = store().await else { return };
    let (program, key) = new_program(&store).await;
    assert_eq!(program.settings, ProgramSettings::default());

    let at = now();
    let patch = ProgramPatch {
        name: Some("Renamed".into()),
        currency: Some("EUR".into()),
        cookie_lifetime_days: Some(90),
        referral_param: Some("via".into()),
        link_format: Some(LinkFormat::Path),
        program_flags: BTreeMap::from([("auto_approve".to_string(), true)]),
        portal_flags: BTreeMap::from([("signup".to_string(), false)]),
        ..ProgramPatch::default()
    };
    let updated = store
        .update_program(program.id, &patch, at)
        .await
        .expect("update");
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.website, program.website);
    assert_eq!(updated.settings.currency, "EUR");
    assert_eq!(updated.settings.cookie_lifetime_days, 90);
    assert_eq!(updated.settings.referral_param.as_deref(), Some("via"));
    assert_eq!(updated.settings.link_format, LinkFormat::Path);
    assert_eq!(updated.settings.program_flags, patch.program_flags);
    assert_eq!(updated.settings.portal_flags, patch.portal_flags);
    assert_eq!(updated.updated_at, at);
    assert_eq!(updated.created_at, program.created_at);
    // Every reader decodes the settings.
    assert_eq!(
        store
            .find_program(&program.public_id)
            .await
            .expect("find")
            .as_ref(),
        Some(&updated)
    );
    assert_eq!(
        store.program_for_key(&key.hash).await.expect("lookup"),
        Some(updated.clone())
    );
    assert!(
        store
            .list_programs()
            .await
            .expect("list")
            .contains(&updated)
    );

    // Concurrent patches of different flags all survive; a flag named again is replaced.
    let mut patches = JoinSet::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        let program = program.id;
        patches.spawn(async move {
            let patch = ProgramPatch {
                program_flags: BTreeMap::from([(format!("flag{i}"), i % 2 == 0)]),
                portal_flags: BTreeMap::from([(format!("portal{i}"), true)]),
                ..ProgramPatch::default()
            };
            store
                .update_program(program, &patch, now())
                .await
                .expect("update");
        });
    }
    patches.join_all().await;
    let replace = ProgramPatch {
        website: Some("https://new.test".into()),
        program_flags: BTreeMap::from([("auto_approve".to_string(), false)]),
        ..ProgramPatch::default()
    };
    let last = store
        .update_program(program.id, &replace, now())
        .await
        .expect("update");
    let mut expected = BTreeMap::from([("auto_approve".to_string(), false)]);
    let mut expected_portal = BTreeMap::from([("signup".to_string(), false)]);
    for i in 0..16 {
        expected.insert(format!("flag{i}"), i % 2 == 0);
        expected_portal.insert(format!("portal{i}"), true);
    }
    assert_eq!(last.settings.program_flags, expected);
    assert_eq!(last.settings.portal_flags, expected_portal);
    assert_eq!(last.website.as_deref(), Some("https://new.test"));
    assert_eq!(last.name, "Renamed");
    assert_eq!(last.settings.link_format, LinkFormat::Path);

    // A missing program.
    let (gone, _) = new_program(&store).await;
    let code = "aB3xK9mQ";
    let at = now();
    store
        .set_program_delete_code(gone.id, code, at)
        .await
        .expect("code");
    assert!(
        store
            .delete_program(gone.id, code, at)
            .await
            .expect("delete")
    );
    assert!(matches!(
        store.update_program(gone.id, &replace, now()).await,
        Err(StoreError::NotFound)
    ));
}

/// Rows left in each table of the program (straight from the database).
async fn rows_left(program: &Program) -> Vec<(String, i64)> {
    let url = std::env::var(URL_VAR).expect("url");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let mut left = Vec::new();
    for (table, sql) in [
        (
            "api_keys",
            "SELECT count(*) FROM api_keys WHERE program_id = $1",
        ),
        (
            "partners",
            "SELECT count(*) FROM partners WHERE program_id = $1",
        ),
        (
            "partner_links",
            "SELECT count(*) FROM partner_links WHERE program_id = $1",
        ),
        (
            "customers",
            "SELECT count(*) FROM customers WHERE program_id = $1",
        ),
        ("programs", "SELECT count(*) FROM programs WHERE id = $1"),
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(program.id.0)
            .fetch_one(&pool)
            .await
            .expect("count");
        left.push((table.to_string(), n));
    }
    pool.close().await;
    left
}

#[tokio::test]
async fn delete_program_checks_the_code_and_cascades() {
    let Some(store) = store().await else { return };
    let (program, key) = new_program(&store).await;
    let (bystander, bystander_key) = new_program(&store).await;

    // Something of every kind: partners (one brought by another, one deleted), links,
    // affiliate customers (one deleted), refer-a-friend customers with a referral.
    let boss = store
        .insert_partner(partner(&program, "boss"))
        .await
        .expect("insert");
    let ada = store
        .insert_partner(NewPartner {
            referring_partner: Some(boss.row_id),
            ..partner(&program, "ada")
        })
        .await
        .expect("insert");
    let extra = store
        .insert_partner_link(link(&program, &ada, "ada-2"))
        .await
        .expect("link");
    let gone = store
        .insert_partner(NewPartner {
            referring_partner: Some(ada.row_id),
            ..partner(&program, "gone")
        })
        .await
        .expect("insert");
    store
        .insert_affiliate_customer(NewAffiliateCustomer {
            link: Some(extra.row_id),
            ..customer(&program, &ada, "c1")
        })
        .await
        .expect("customer");
    let c2 = store
        .insert_affiliate_customer(customer(&program, &gone, "c2"))
        .await
        .expect("customer");
    store
        .set_customer_status(
            program.id,
            c2.row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Deleted,
            now(),
        )
        .await
        .expect("delete customer");
    delete_partner(&store, &gone).await;
    let referrer = store
        .insert_customer(NewCustomer {
            program_id: program.id,
            id: "r1".into(),
            key: "r1-key".into(),
            email: Some("r1@example.com".into()),
            name: None,
            surname: None,
            date_of_birth: None,
            referrer: None,
            created_at: now(),
        })
        .await
        .expect("customer");
    store
        .insert_customer(NewCustomer {
            program_id: program.id,
            id: "r2".into(),
            key: "r2-key".into(),
            email: Some("r2@example.com".into()),
            name: None,
            surname: None,
            date_of_birth: None,
            referrer: Some(referrer.row_id),
            created_at: now(),
        })
        .await
        .expect("customer");
    store
        .insert_partner(partner(&bystander, "ada"))
        .await
        .expect("bystander partner");

    let t0 = now();
    let expires = Timestamp::from_micros(t0.as_micros() + 60_000_000);
    store
        .set_program_delete_code(program.id, "first", expires)
        .await
        .expect("code");
    // A later code replaces the first.
    store
        .set_program_delete_code(program.id, "Code1234", expires)
        .await
        .expect("code");
    for (code, at) in [
        ("first", t0),
        ("code1234", t0),
        ("Code1234", Timestamp::from_micros(expires.as_micros() + 1)),
    ] {
        assert!(
            !store
                .delete_program(program.id, code, at)
                .await
                .expect("delete"),
            "{code} at {at:?}"
        );
    }
    // Another program's code does not delete this one, nor does this code that one.
    assert!(
        !store
            .delete_program(bystander.id, "Code1234", t0)
            .await
            .expect("delete")
    );
    assert!(
        store
            .program_for_key(&key.hash)
            .await
            .expect("lookup")
            .is_some()
    );

    // The right code, at the very last moment.
    assert!(
        store
            .delete_program(program.id, "Code1234", expires)
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_program(program.id, "Code1234", expires)
            .await
            .expect("delete again")
    );
    assert_eq!(
        store.program_for_key(&key.hash).await.expect("lookup"),
        None
    );
    assert_eq!(
        store.find_program(&program.public_id).await.expect("find"),
        None
    );
    for (table, n) in rows_left(&program).await {
        assert_eq!(n, 0, "{table}");
    }

    // The other program is untouched.
    assert!(
        store
            .program_for_key(&bystander_key.hash)
            .await
            .expect("lookup")
            .is_some()
    );
    assert_eq!(
        find(&store, &bystander, PartnerLookup::Id("ada".into()))
            .await
            .as_deref(),
        Some("ada")
    );

    // An expired code, set on its own, fails too.
    store
        .set_program_delete_code(bystander.id, "Late0000", Timestamp::from_micros(1))
        .await
        .expect("code");
    assert!(
        !store
            .delete_program(bystander.id, "Late0000", now())
            .await
            .expect("delete")
    );
}

#[tokio::test]
async fn affiliate_counts_cover_live_rows() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    assert_eq!(
        store
            .affiliate_counts(program.id, None)
            .await
            .expect("counts"),
        AffiliateCounts::default()
    );
    let t = |s: i64| Timestamp::from_micros(1_700_000_000_000_000 + s * 1_000_000);
    let mut partners = Vec::new();
    for (i, status) in [
        PartnerStatus::Active,
        PartnerStatus::Active,
        PartnerStatus::Pending,
        PartnerStatus::Active,
        PartnerStatus::Active,
    ]
    .into_iter()
    .enumerate()
    {
        let new = NewPartner {
            status,
            approved: status == PartnerStatus::Active,
            created_at: t(i as i64),
            ..partner(&program, &format!("p{i}"))
        };
        partners.push(store.insert_partner(new).await.expect("insert"));
    }
    assert!(
        set_status(
            &store,
            &partners[3],
            &[PartnerStatus::Active],
            PartnerStatus::Archived
        )
        .await
    );
    delete_partner(&store, &partners[4]).await;
    for (i, key) in ["c0", "c1", "c2", "c3"].into_iter().enumerate() {
        let new = NewAffiliateCustomer {
            created_at: t(i as i64),
            ..customer(&program, &partners[0], key)
        };
        let c = store.insert_affiliate_customer(new).await.expect("insert");
        if key == "c3" {
            assert!(
                store
                    .set_customer_status(
                        program.id,
                        c.row_id,
                        &[CustomerStatus::Active],
                        CustomerStatus::Deleted,
                        now()
                    )
                    .await
                    .expect("delete")
            );
        }
        if key == "c2" {
            assert!(
                store
                    .set_customer_status(
                        program.id,
                        c.row_id,
                        &[CustomerStatus::Active],
                        CustomerStatus::Archived,
                        now()
                    )
                    .await
                    .expect("archive")
            );
        }
    }

    assert_eq!(
        store
            .affiliate_counts(program.id, None)
            .await
            .expect("counts"),
        AffiliateCounts {
            partners: 4,
            active_partners: 2,
            pending_partners: 1,
            archived_partners: 1,
            customers: 3,
        }
    );
    // Created strictly before t(2): partners p0, p1 and customers c0, c1.
    assert_eq!(
        store
            .affiliate_counts(program.id, Some(t(2)))
            .await
            .expect("counts"),
        AffiliateCounts {
            partners: 2,
            active_partners: 2,
            pending_partners: 0,
            archived_partners: 0,
            customers: 2,
        }
    );
    let (other, _) = new_program(&store).await;
    assert_eq!(
        store
            .affiliate_counts(other.id, None)
            .await
            .expect("counts"),
        AffiliateCounts::default()
    );
}

/// What one concurrent insert should come back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Inserted,
    /// One of a group of colliding jobs is inserted (which one is a race), the rest conflict.
    OneOf(&'static str),
    Conflict(UniqueField),
    NotFound,
}

/// Affiliate creates go through the group-commit writer: many at once land in shared batches,
/// and each still gets exactly the answer a lone insert would (its row, or its conflict, or
/// `NotFound` for another program's partner).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_affiliate_inserts_each_get_their_answer() {
    let Some(store) = store().await else { return };
    let (program, _) = new_program(&store).await;
    let ada = store
        .insert_partner(partner(&program, "ada"))
        .await
        .expect("insert");
    let bob = store
        .insert_partner(partner(&program, "bob"))
        .await
        .expect("insert");
    let bob_link = store
        .insert_partner_link(link(&program, &bob, "bob-2"))
        .await
        .expect("link");
    let (elsewhere, _) = new_program(&store).await;
    let eve = store
        .insert_partner(partner(&elsewhere, "eve"))
        .await
        .expect("insert");
    store
        .insert_affiliate_customer(customer(&program, &ada, "taken"))
        .await
        .expect("insert");

    let mut jobs: Vec<(NewAffiliateCustomer, Expect)> = Vec::new();
    for i in 0..36 {
        let (owner, link) = if i % 3 == 0 {
            (&bob, Some(bob_link.row_id))
        } else {
            (&ada, None)
        };
        let new = NewAffiliateCustomer {
            link,
            tags: vec![format!("t{i}")],
            email: (i % 5 != 0).then(|| format!("k{i}@example.com")),
            ..customer(&program, owner, &format!("k{i}"))
        };
        jobs.push((new, Expect::Inserted));
    }
    for i in 0..4 {
        let new = NewAffiliateCustomer {
            email: Some(format!("dup-key-{i}@example.com")),
            ..customer(&program, if i % 2 == 0 { &ada } else { &bob }, "dup-key")
        };
        jobs.push((new, Expect::OneOf("dup-key")));
    }
    for i in 0..4 {
        let new = NewAffiliateCustomer {
            email: Some("dup@example.com".into()),
            ..customer(&program, &ada, &format!("dup-email-{i}"))
        };
        jobs.push((new, Expect::OneOf("dup-email")));
    }
    // Taken by a live customer before the batch.
    jobs.push((
        NewAffiliateCustomer {
            email: Some("fresh@example.com".into()),
            ..customer(&program, &bob, "taken")
        },
        Expect::Conflict(UniqueField::CustomerKey),
    ));
    jobs.push((
        NewAffiliateCustomer {
            email: Some("taken@example.com".into()),
            ..customer(&program, &bob, "fresh")
        },
        Expect::Conflict(UniqueField::CustomerEmail),
    ));
    // Another program's partner: not found, whatever else the row would collide with (as a
    // lone insert, which never gets as far as the unique indexes).
    jobs.push((customer(&program, &eve, "stray"), Expect::NotFound));
    jobs.push((customer(&program, &eve, "taken"), Expect::NotFound));
    // Same key and email as an inserted job but another program's partner, queued first: it
    // must not be handed the row of the job after it.
    jobs.push((customer(&program, &eve, "k1"), Expect::NotFound));
    jobs.rotate_right(1);
    assert_eq!(jobs.len(), 49);

    let mut tasks = JoinSet::new();
    for (n, (new, expect)) in jobs.iter().cloned().enumerate() {
        let store = store.clone();
        tasks.spawn(async move {
            let result = store.insert_affiliate_customer(new.clone()).await;
            (n, new, expect, result)
        });
    }
    let mut winners: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut inserted = vec!["taken".to_string()];
    while let Some(done) = tasks.join_next().await {
        let (n, new, expect, result) = done.expect("task");
        match (expect, result) {
            (Expect::Inserted | Expect::OneOf(_), Ok(c)) => {
                assert_eq!(c.program_id, program.id, "job {n}");
                assert_eq!(c.key, new.key, "job {n}");
                assert_eq!(c.email, new.email, "job {n}");
                assert_eq!(c.name, new.name, "job {n}");
                assert_eq!(c.surname, new.surname, "job {n}");
                assert_eq!(c.tags, new.tags, "job {n}");
                assert_eq!(c.partner, new.partner, "job {n}");
                let partner_key = if new.partner == bob.row_id {
                    "bob-key"
                } else {
                    "ada-key"
                };
                assert_eq!(c.partner_key, partner_key, "job {n}");
                assert_eq!(c.link, new.link, "job {n}");
                assert_eq!(c.status, CustomerStatus::Active, "job {n}");
                assert_eq!(
                    (c.created_at, c.updated_at),
                    (new.created_at, new.created_at)
                );
                let found = store
                    .find_affiliate_customer(program.id, &CustomerLookup::Key(c.key.clone()))
                    .await
                    .expect("find");
                assert_eq!(found.as_ref(), Some(&c), "job {n}");
                if let Expect::OneOf(group) = expect {
                    winners.entry(group).or_default().push(c.key.clone());
                }
                inserted.push(c.key);
            }
            (Expect::OneOf("dup-key"), result) => {
                assert_eq!(conflict_field(result), UniqueField::CustomerKey, "job {n}");
            }
            (Expect::OneOf(_), result) => {
                assert_eq!(
                    conflict_field(result),
                    UniqueField::CustomerEmail,
                    "job {n}"
                );
            }
            (Expect::Conflict(field), result) => {
                assert_eq!(conflict_field(result), field, "job {n}");
            }
            (Expect::NotFound, result) => {
                assert!(
                    matches!(result, Err(StoreError::NotFound)),
                    "job {n}: {result:?}"
                );
            }
            (Expect::Inserted, Err(e)) => panic!("job {n} ({}): {e:?}", new.key),
        }
    }
    assert_eq!(winners.get("dup-key").map(Vec::len), Some(1));
    assert_eq!(winners.get("dup-email").map(Vec::len), Some(1));

    // Exactly the rows answered as inserted, and none for another program's partner.
    let mut listed: Vec<String> = store
        .list_affiliate_customers(
            program.id,
            &AffiliateCustomerFilter::default(),
            first_page(),
        )
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.key)
        .collect();
    listed.sort();
    inserted.sort();
    assert_eq!(listed, inserted);
    assert_eq!(listed.len(), 1 + 36 + 2);
    assert!(
        store
            .list_affiliate_customers(
                elsewhere.id,
                &AffiliateCustomerFilter::default(),
                first_page()
            )
            .await
            .expect("list")
            .is_empty()
    );
}
