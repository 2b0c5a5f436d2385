//! Integration tests of `PostgresStore` against a real server.
//!
//! They run only when `REFERD_TEST_POSTGRES_URL` names a dedicated database (tables are created
//! in it); otherwise each test prints `SKIPPED: …` and passes. Tests share the database and
//! isolate themselves by creating a fresh program each.

use std::sync::Arc;

use referd_core::customer::{
    Customer, CustomerFilter, CustomerLookup, CustomerPatch, CustomerRowId, CustomerSearch,
    CustomerStatus, NewCustomer, ReferStatus,
};
use referd_core::ids::{
    ProgramType, generate_api_key, new_customer_id, new_public_id, new_referral_key,
};
use referd_core::page::{PageRequest, SortOrder};
use referd_core::program::{ApiKeySelector, NewProgram, Program, ReferralCounts};
use referd_core::store::{CustomerStore, ProgramStore, UniqueField};
use referd_core::time::{Clock, SystemClock, Timestamp};
use referd_core::{Store, StoreError};
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

async fn new_program(store: &PostgresStore) -> Program {
    let key = generate_api_key();
    let (program, _) = store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type: ProgramType::Referral,
                name: "Api Test".into(),
                website: Some("https://example.com".into()),
                created_at: now(),
            },
            key.hash,
            key.hint,
        )
        .await
        .expect("create program");
    program
}

/// A customer of `program` with a fresh id and key and the given email.
fn customer(program: &Program, email: &str) -> NewCustomer {
    NewCustomer {
        program_id: program.id,
        id: new_customer_id(now()),
        key: new_referral_key(now()),
        email: Some(email.to_string()),
        name: Some("Ada".into()),
        surname: Some("Lovelace".into()),
        date_of_birth: Some("1815-12-10".into()),
        referrer: None,
        created_at: now(),
    }
}

fn referred(program: &Program, email: &str, by: &Customer) -> NewCustomer {
    NewCustomer {
        referrer: Some(by.row_id),
        ..customer(program, email)
    }
}

fn page(page: u32, per_page: u32, sort: SortOrder) -> PageRequest {
    PageRequest {
        page,
        per_page,
        sort,
    }
}

fn ids(customers: &[Customer]) -> Vec<String> {
    customers.iter().map(|c| c.id.clone()).collect()
}

fn conflict_field(result: Result<Customer, StoreError>) -> UniqueField {
    match result {
        Err(StoreError::Conflict(field)) => field,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn migrate_twice_is_fine() {
    let Some(store) = store().await else { return };
    store.migrate().await.expect("second migrate");
    assert_eq!(store.backend_name(), "postgres");
}

#[tokio::test]
async fn programs_and_api_keys() {
    let Some(store) = store().await else { return };
    let first_key = generate_api_key();
    let public_id = new_public_id();
    let (program, first_key_id) = store
        .create_program(
            NewProgram {
                public_id: public_id.clone(),
                program_type: ProgramType::Affiliate,
                name: "Keys".into(),
                website: None,
                created_at: Timestamp::from_micros(1_746_812_533_123_456),
            },
            first_key.hash.clone(),
            first_key.hint.clone(),
        )
        .await
        .expect("create program");
    assert_eq!(program.public_id, public_id);
    assert_eq!(program.program_type, ProgramType::Affiliate);
    assert_eq!(program.website, None);
    assert_eq!(
        program.created_at,
        Timestamp::from_micros(1_746_812_533_123_456)
    );
    assert_eq!(program.updated_at, program.created_at);

    let found = store.find_program(&public_id).await.expect("find");
    assert_eq!(found.as_ref(), Some(&program));
    assert_eq!(store.find_program("NOPE0000").await.expect("find"), None);
    let all = store.list_programs().await.expect("list");
    assert!(all.contains(&program));
    assert!(all.windows(2).all(|w| w[0].id.0 < w[1].id.0));

    // Unique public id and key hash.
    let again = store
        .create_program(
            NewProgram {
                public_id: public_id.clone(),
                program_type: ProgramType::Referral,
                name: "Dup".into(),
                website: None,
                created_at: now(),
            },
            generate_api_key().hash,
            "rfd_xxxxxx".into(),
        )
        .await;
    assert!(matches!(
        again,
        Err(StoreError::Conflict(UniqueField::ProgramPublicId))
    ));
    let dup_key = store
        .create_api_key(program.id, first_key.hash.clone(), "h".into(), now())
        .await;
    assert!(matches!(
        dup_key,
        Err(StoreError::Conflict(UniqueField::ApiKey))
    ));

    assert_eq!(
        store
            .program_for_key(&first_key.hash)
            .await
            .expect("lookup"),
        Some(program.clone())
    );
    let second_key = generate_api_key();
    let second_key_id = store
        .create_api_key(
            program.id,
            second_key.hash.clone(),
            second_key.hint.clone(),
            now(),
        )
        .await
        .expect("second key");
    assert!(second_key_id > first_key_id);
    let keys = store.list_api_keys(program.id).await.expect("keys");
    assert_eq!(
        keys.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![first_key_id, second_key_id]
    );
    assert!(keys.iter().all(|k| k.program_public_id == public_id));
    assert_eq!(keys[0].hint, first_key.hint);
    assert_eq!(keys[0].revoked_at, None);

    // Revoking is scoped to the program when one is given.
    let other = new_program(&store).await;
    assert!(
        !store
            .revoke_api_key(Some(other.id), ApiKeySelector::Id(first_key_id), now())
            .await
            .expect("revoke elsewhere")
    );
    let revoked_at = now();
    assert!(
        store
            .revoke_api_key(
                Some(program.id),
                ApiKeySelector::Id(first_key_id),
                revoked_at
            )
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_api_key(None, ApiKeySelector::Id(first_key_id), now())
            .await
            .expect("revoke again")
    );
    assert_eq!(
        store
            .program_for_key(&first_key.hash)
            .await
            .expect("lookup"),
        None
    );
    let keys = store.list_api_keys(program.id).await.expect("keys");
    assert_eq!(keys[0].revoked_at, Some(revoked_at));
    assert!(
        store
            .revoke_api_key(None, ApiKeySelector::Hash(second_key.hash.clone()), now())
            .await
            .expect("revoke by hash")
    );
    assert_eq!(
        store
            .program_for_key(&second_key.hash)
            .await
            .expect("lookup"),
        None
    );
}

/// Concurrent key lookups are answered together; each still gets its own key's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_key_lookups_each_get_their_program() {
    let Some(store) = store().await else { return };
    let mut expected = Vec::new();
    for i in 0..3 {
        let key = generate_api_key();
        let (program, key_id) = store
            .create_program(
                NewProgram {
                    public_id: new_public_id(),
                    program_type: ProgramType::Referral,
                    name: format!("Lookup {i}"),
                    website: None,
                    created_at: now(),
                },
                key.hash.clone(),
                key.hint,
            )
            .await
            .expect("create program");
        if i == 2 {
            assert!(
                store
                    .revoke_api_key(None, ApiKeySelector::Id(key_id), now())
                    .await
                    .expect("revoke")
            );
            expected.push((key.hash, None));
        } else {
            expected.push((key.hash, Some(program.id)));
        }
    }
    expected.push((generate_api_key().hash, None));

    let mut tasks = JoinSet::new();
    for round in 0..15 {
        for (hash, want) in expected.clone() {
            let store = Arc::clone(&store);
            tasks.spawn(async move {
                let got = store.program_for_key(&hash).await.expect("lookup");
                (round, got.map(|p| p.id), want)
            });
        }
    }
    for (round, got, want) in tasks.join_all().await {
        assert_eq!(got, want, "round {round}");
    }
}

#[tokio::test]
async fn insert_then_find_by_every_lookup() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let new = customer(&program, "ada@example.com");
    let created = store.insert_customer(new.clone()).await.expect("insert");
    assert_eq!(created.program_id, program.id);
    assert_eq!(created.id, new.id);
    assert_eq!(created.key, new.key);
    assert_eq!(created.email, new.email);
    assert_eq!(created.name.as_deref(), Some("Ada"));
    assert_eq!(created.surname.as_deref(), Some("Lovelace"));
    assert_eq!(created.date_of_birth.as_deref(), Some("1815-12-10"));
    assert_eq!(created.status, CustomerStatus::Active);
    assert_eq!(created.referrer, None);
    assert_eq!(created.created_at, new.created_at);
    assert_eq!(created.updated_at, new.created_at);

    for lookup in [
        CustomerLookup::Row(created.row_id),
        CustomerLookup::Id(new.id.clone()),
        CustomerLookup::Key(new.key.clone()),
        CustomerLookup::Email("ada@example.com".into()),
        CustomerLookup::AnyIdentifier(new.id.clone()),
        CustomerLookup::AnyIdentifier(new.key.clone()),
        CustomerLookup::AnyIdentifier("ADA@Example.com".into()),
    ] {
        let view = store
            .find_customer(program.id, &lookup)
            .await
            .expect("find")
            .unwrap_or_else(|| panic!("{lookup:?} finds the customer"));
        assert_eq!(view.customer, created, "{lookup:?}");
        assert_eq!(view.referrals_count, 0);
        assert_eq!(view.referrer, None);
    }
    for lookup in [
        CustomerLookup::Row(CustomerRowId(i64::MAX)),
        CustomerLookup::Id("nobody".into()),
        CustomerLookup::Key("nobody".into()),
        CustomerLookup::Email("nobody@example.com".into()),
        CustomerLookup::AnyIdentifier("nobody".into()),
    ] {
        assert_eq!(
            store
                .find_customer(program.id, &lookup)
                .await
                .expect("find"),
            None,
            "{lookup:?}"
        );
    }

    // AnyIdentifier prefers the id over the key over the email.
    let by_key = store
        .insert_customer(NewCustomer {
            key: "shared-ident".into(),
            ..customer(&program, "b@example.com")
        })
        .await
        .expect("insert");
    let by_id = store
        .insert_customer(NewCustomer {
            id: "shared-ident".into(),
            ..customer(&program, "c@example.com")
        })
        .await
        .expect("insert");
    let by_email = store
        .insert_customer(NewCustomer {
            email: Some("key-or-email".into()),
            ..customer(&program, "")
        })
        .await
        .expect("insert");
    let by_key2 = store
        .insert_customer(NewCustomer {
            key: "key-or-email".into(),
            ..customer(&program, "d@example.com")
        })
        .await
        .expect("insert");
    let any = |s: &str| CustomerLookup::AnyIdentifier(s.into());
    let found = |lookup: CustomerLookup| {
        let store = Arc::clone(&store);
        let program = program.id;
        async move {
            store
                .find_customer(program, &lookup)
                .await
                .expect("find")
                .map(|v| v.customer.row_id)
        }
    };
    assert_eq!(found(any("shared-ident")).await, Some(by_id.row_id));
    assert_eq!(found(any("key-or-email")).await, Some(by_key2.row_id));
    assert_ne!(by_key.row_id, by_id.row_id);
    assert_ne!(by_email.row_id, by_key2.row_id);

    // A customer without an email.
    let no_email = store
        .insert_customer(NewCustomer {
            email: None,
            ..customer(&program, "")
        })
        .await
        .expect("insert without email");
    assert_eq!(no_email.email, None);
}

#[tokio::test]
async fn conflicts_name_the_field() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let first = store
        .insert_customer(customer(&program, "taken@example.com"))
        .await
        .expect("insert");

    let same_id = NewCustomer {
        id: first.id.clone(),
        ..customer(&program, "free1@example.com")
    };
    assert_eq!(
        conflict_field(store.insert_customer(same_id).await),
        UniqueField::CustomerId
    );
    let same_key = NewCustomer {
        key: first.key.clone(),
        ..customer(&program, "free2@example.com")
    };
    assert_eq!(
        conflict_field(store.insert_customer(same_key).await),
        UniqueField::CustomerKey
    );
    assert_eq!(
        conflict_field(
            store
                .insert_customer(customer(&program, "taken@example.com"))
                .await
        ),
        UniqueField::CustomerEmail
    );
    // Several taken fields: the id is reported first, then the key.
    let all_taken = NewCustomer {
        id: first.id.clone(),
        key: first.key.clone(),
        ..customer(&program, "taken@example.com")
    };
    assert_eq!(
        conflict_field(store.insert_customer(all_taken).await),
        UniqueField::CustomerId
    );

    // Emails are unique per program only.
    let other = new_program(&store).await;
    store
        .insert_customer(NewCustomer {
            id: first.id.clone(),
            key: first.key.clone(),
            ..customer(&other, "taken@example.com")
        })
        .await
        .expect("same identifiers in another program");
}

/// The writer batches concurrent inserts; a batch must still give exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_with_one_email_have_one_winner() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let new = customer(&program, "race@example.com");
        tasks.spawn(async move { store.insert_customer(new).await });
    }
    let results = tasks.join_all().await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let email_conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict(UniqueField::CustomerEmail))))
        .count();
    assert_eq!((ok, email_conflicts), (1, 19), "{results:?}");

    // Identical customers (same id, key and email) collide on the id.
    let twin = customer(&program, "twin@example.com");
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let new = twin.clone();
        tasks.spawn(async move { store.insert_customer(new).await });
    }
    let results = tasks.join_all().await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let id_conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict(UniqueField::CustomerId))))
        .count();
    assert_eq!((ok, id_conflicts), (1, 19), "{results:?}");
}

/// One conflicting row and one row the batch statement rejects (a referrer that does not
/// exist) never fail the other rows written alongside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_in_a_batch_do_not_fail_the_others() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let existing = store
        .insert_customer(customer(&program, "existing@example.com"))
        .await
        .expect("insert");

    let mut tasks = JoinSet::new();
    for i in 0..40 {
        let store = Arc::clone(&store);
        let mut new = customer(&program, &format!("batch{i}@example.com"));
        match i {
            13 => new.key = existing.key.clone(),
            27 => new.referrer = Some(CustomerRowId(i64::MAX)),
            _ => {}
        }
        tasks.spawn(async move { (i, new.clone(), store.insert_customer(new).await) });
    }
    for (i, new, result) in tasks.join_all().await {
        match i {
            13 => assert!(
                matches!(result, Err(StoreError::Conflict(UniqueField::CustomerKey))),
                "{result:?}"
            ),
            27 => assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}"),
            _ => {
                let created = result.expect("the other rows are inserted");
                assert_eq!((created.id, created.email), (new.id, new.email));
            }
        }
    }
    let all = store
        .list_customers(
            program.id,
            &CustomerFilter::default(),
            page(1, 100, SortOrder::Asc),
        )
        .await
        .expect("list");
    assert_eq!(all.len(), 39);
}

#[tokio::test]
async fn deleting_frees_identifiers_and_leaves_a_tombstone_referrer() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let referrer = store
        .insert_customer(customer(&program, "referrer@example.com"))
        .await
        .expect("insert");
    let friend = store
        .insert_customer(referred(&program, "friend@example.com", &referrer))
        .await
        .expect("insert");
    assert_eq!(friend.referrer, Some(referrer.row_id));

    let view = store
        .find_customer(program.id, &CustomerLookup::Row(referrer.row_id))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(view.referrals_count, 1);

    let deleted_at = now();
    assert!(
        store
            .set_customer_status(
                program.id,
                referrer.row_id,
                &[CustomerStatus::Active, CustomerStatus::Archived],
                CustomerStatus::Deleted,
                deleted_at,
            )
            .await
            .expect("delete")
    );
    assert!(
        !store
            .set_customer_status(
                program.id,
                referrer.row_id,
                &[CustomerStatus::Active, CustomerStatus::Archived],
                CustomerStatus::Deleted,
                now(),
            )
            .await
            .expect("delete again")
    );
    assert_eq!(
        store
            .find_customer(program.id, &CustomerLookup::Id(referrer.id.clone()))
            .await
            .expect("find"),
        None
    );

    // The friend still shows its (deleted) referrer.
    let view = store
        .find_customer(program.id, &CustomerLookup::Row(friend.row_id))
        .await
        .expect("find")
        .expect("found");
    let tomb = view.referrer.expect("tombstone referrer");
    assert_eq!(tomb.customer.row_id, referrer.row_id);
    assert_eq!(tomb.customer.status, CustomerStatus::Deleted);
    assert_eq!(tomb.customer.updated_at, deleted_at);
    assert_eq!(tomb.referrals_count, 1);

    // Its id, key and email are free again.
    let reborn = store
        .insert_customer(NewCustomer {
            id: referrer.id.clone(),
            key: referrer.key.clone(),
            ..customer(&program, "referrer@example.com")
        })
        .await
        .expect("identifiers are free");
    assert_ne!(reborn.row_id, referrer.row_id);

    // Updating a deleted customer finds nothing.
    let patch = CustomerPatch {
        name: Some("Ghost".into()),
        ..CustomerPatch::default()
    };
    assert!(matches!(
        store
            .update_customer(program.id, referrer.row_id, &patch, now())
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn status_transitions_respect_from() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let c = store
        .insert_customer(customer(&program, "s@example.com"))
        .await
        .expect("insert");
    let archived_at = now();
    assert!(
        !store
            .set_customer_status(
                program.id,
                c.row_id,
                &[CustomerStatus::Archived],
                CustomerStatus::Active,
                archived_at,
            )
            .await
            .expect("restore active")
    );
    assert!(
        store
            .set_customer_status(
                program.id,
                c.row_id,
                &[CustomerStatus::Active],
                CustomerStatus::Archived,
                archived_at,
            )
            .await
            .expect("archive")
    );
    let view = store
        .find_customer(program.id, &CustomerLookup::Row(c.row_id))
        .await
        .expect("find")
        .expect("archived customers are found");
    assert_eq!(view.customer.status, CustomerStatus::Archived);
    assert_eq!(view.customer.updated_at, archived_at);
}

#[tokio::test]
async fn referral_counts_cover_live_customers() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let at = |micros: i64| Timestamp::from_micros(1_700_000_000_000_000 + micros);
    let insert = |new: NewCustomer, created: Timestamp| {
        let store = Arc::clone(&store);
        async move {
            store
                .insert_customer(NewCustomer {
                    created_at: created,
                    ..new
                })
                .await
                .expect("insert")
        }
    };
    let a = insert(customer(&program, "a@example.com"), at(1)).await;
    let b = insert(referred(&program, "b@example.com", &a), at(2)).await;
    let c = insert(referred(&program, "c@example.com", &a), at(3)).await;
    let _d = insert(referred(&program, "d@example.com", &b), at(4)).await;
    let _e = insert(customer(&program, "e@example.com"), at(5)).await;

    let counts = |before: Option<Timestamp>| {
        let store = Arc::clone(&store);
        let program = program.id;
        async move {
            store
                .referral_counts(program, before)
                .await
                .expect("counts")
        }
    };
    assert_eq!(
        counts(None).await,
        ReferralCounts {
            customers: 5,
            referring: 2,
            referred: 3
        }
    );
    assert_eq!(
        counts(Some(at(3))).await,
        ReferralCounts {
            customers: 2,
            referring: 1,
            referred: 1
        }
    );

    // Archived customers still count; deleted ones do not, nor do they count as referring.
    let set = |row: CustomerRowId, to: CustomerStatus| {
        let store = Arc::clone(&store);
        let program = program.id;
        async move {
            store
                .set_customer_status(
                    program,
                    row,
                    &[CustomerStatus::Active, CustomerStatus::Archived],
                    to,
                    now(),
                )
                .await
                .expect("status")
        }
    };
    assert!(set(c.row_id, CustomerStatus::Archived).await);
    assert_eq!(
        counts(None).await,
        ReferralCounts {
            customers: 5,
            referring: 2,
            referred: 3
        }
    );
    assert!(set(b.row_id, CustomerStatus::Deleted).await);
    assert_eq!(
        counts(None).await,
        ReferralCounts {
            customers: 4,
            referring: 1,
            referred: 2
        }
    );
    let view = store
        .find_customer(program.id, &CustomerLookup::Row(a.row_id))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(view.referrals_count, 1, "only the archived c remains");

    let referrals = store
        .list_referrals(program.id, a.row_id)
        .await
        .expect("referrals");
    assert_eq!(ids(&referrals), vec![c.id.clone()]);
}

#[tokio::test]
async fn list_and_search_page_in_order() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let mut all = Vec::new();
    for i in 0..5 {
        let new = match all.first() {
            Some(first) if i % 2 == 1 => referred(&program, &format!("p{i}@example.com"), first),
            _ => customer(&program, &format!("p{i}@example.com")),
        };
        all.push(store.insert_customer(new).await.expect("insert"));
    }
    let all_ids = ids(&all);
    let list = |filter: CustomerFilter, request: PageRequest| {
        let store = Arc::clone(&store);
        let program = program.id;
        async move {
            ids(&store
                .list_customers(program, &filter, request)
                .await
                .expect("list"))
        }
    };
    let none = CustomerFilter::default;
    assert_eq!(
        list(none(), page(1, 2, SortOrder::Asc)).await,
        all_ids[0..3].to_vec()
    );
    assert_eq!(
        list(none(), page(2, 2, SortOrder::Asc)).await,
        all_ids[2..5].to_vec()
    );
    assert_eq!(
        list(none(), page(3, 2, SortOrder::Asc)).await,
        all_ids[4..5].to_vec()
    );
    assert!(list(none(), page(4, 2, SortOrder::Asc)).await.is_empty());
    let mut reversed = all_ids.clone();
    reversed.reverse();
    assert_eq!(list(none(), page(1, 10, SortOrder::Desc)).await, reversed);
    let filter = |refer_status| CustomerFilter {
        refer_status: Some(refer_status),
    };
    assert_eq!(
        list(filter(ReferStatus::Referred), page(1, 10, SortOrder::Asc)).await,
        vec![all_ids[1].clone(), all_ids[3].clone()]
    );
    assert_eq!(
        list(
            filter(ReferStatus::NonReferred),
            page(1, 10, SortOrder::Asc)
        )
        .await,
        vec![all_ids[0].clone(), all_ids[2].clone(), all_ids[4].clone()]
    );

    // Archived: not listed, still searched. Deleted: neither.
    store
        .set_customer_status(
            program.id,
            all[2].row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Archived,
            now(),
        )
        .await
        .expect("archive");
    store
        .set_customer_status(
            program.id,
            all[4].row_id,
            &[CustomerStatus::Active],
            CustomerStatus::Deleted,
            now(),
        )
        .await
        .expect("delete");
    assert_eq!(
        list(none(), page(1, 10, SortOrder::Asc)).await,
        vec![all_ids[0].clone(), all_ids[1].clone(), all_ids[3].clone()]
    );

    let search = |criteria: CustomerSearch, request: PageRequest| {
        let store = Arc::clone(&store);
        let program = program.id;
        async move {
            ids(&store
                .search_customers(program, &criteria, request)
                .await
                .expect("search"))
        }
    };
    assert_eq!(
        search(
            CustomerSearch {
                email: Some("p2@example.com".into()),
                ..CustomerSearch::default()
            },
            page(1, 10, SortOrder::Asc)
        )
        .await,
        vec![all_ids[2].clone()]
    );
    assert!(
        search(
            CustomerSearch {
                email: Some("p4@example.com".into()),
                ..CustomerSearch::default()
            },
            page(1, 10, SortOrder::Asc)
        )
        .await
        .is_empty()
    );
    assert_eq!(
        search(
            CustomerSearch {
                id: Some(all[1].id.clone()),
                key: Some(all[1].key.clone()),
                email: Some("p1@example.com".into()),
            },
            page(1, 10, SortOrder::Asc)
        )
        .await,
        vec![all_ids[1].clone()]
    );
    assert!(
        search(
            CustomerSearch {
                id: Some(all[1].id.clone()),
                key: Some(all[0].key.clone()),
                email: None,
            },
            page(1, 10, SortOrder::Asc)
        )
        .await
        .is_empty()
    );
    // Paging and order apply to search too.
    let first_key = CustomerSearch {
        key: Some(all[0].key.clone()),
        ..CustomerSearch::default()
    };
    assert_eq!(
        search(first_key.clone(), page(1, 1, SortOrder::Desc)).await,
        vec![all_ids[0].clone()]
    );
    assert!(
        search(first_key, page(2, 1, SortOrder::Asc))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn update_applies_the_patch() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let c = store
        .insert_customer(customer(&program, "u@example.com"))
        .await
        .expect("insert");
    let other = store
        .insert_customer(customer(&program, "other@example.com"))
        .await
        .expect("insert");

    let later = Timestamp::from_micros(c.created_at.as_micros() + 1_000_000);
    let patch = CustomerPatch {
        key: Some("new-key".into()),
        email: Some("new@example.com".into()),
        name: Some("Grace".into()),
        surname: None,
        date_of_birth: Some("1906-12-09".into()),
    };
    let updated = store
        .update_customer(program.id, c.row_id, &patch, later)
        .await
        .expect("update");
    assert_eq!(updated.key, "new-key");
    assert_eq!(updated.email.as_deref(), Some("new@example.com"));
    assert_eq!(updated.name.as_deref(), Some("Grace"));
    assert_eq!(updated.surname.as_deref(), Some("Lovelace"));
    assert_eq!(updated.date_of_birth.as_deref(), Some("1906-12-09"));
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, c.created_at);
    assert_eq!(updated.id, c.id);

    let taken_email = CustomerPatch {
        email: other.email.clone(),
        ..CustomerPatch::default()
    };
    assert!(matches!(
        store
            .update_customer(program.id, c.row_id, &taken_email, now())
            .await,
        Err(StoreError::Conflict(UniqueField::CustomerEmail))
    ));
    let taken_key = CustomerPatch {
        key: Some(other.key.clone()),
        ..CustomerPatch::default()
    };
    assert!(matches!(
        store
            .update_customer(program.id, c.row_id, &taken_key, now())
            .await,
        Err(StoreError::Conflict(UniqueField::CustomerKey))
    ));
    assert!(matches!(
        store
            .update_customer(program.id, CustomerRowId(i64::MAX), &patch, now())
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn programs_never_see_each_others_customers() {
    let Some(store) = store().await else { return };
    let a = new_program(&store).await;
    let b = new_program(&store).await;
    let ca = store
        .insert_customer(customer(&a, "iso@example.com"))
        .await
        .expect("insert");
    let friend = store
        .insert_customer(referred(&a, "iso-friend@example.com", &ca))
        .await
        .expect("insert");

    for lookup in [
        CustomerLookup::Row(ca.row_id),
        CustomerLookup::Id(ca.id.clone()),
        CustomerLookup::Key(ca.key.clone()),
        CustomerLookup::Email("iso@example.com".into()),
        CustomerLookup::AnyIdentifier(ca.id.clone()),
    ] {
        assert_eq!(
            store.find_customer(b.id, &lookup).await.expect("find"),
            None
        );
    }
    let request = page(1, 10, SortOrder::Asc);
    assert!(
        store
            .list_customers(b.id, &CustomerFilter::default(), request)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .search_customers(
                b.id,
                &CustomerSearch {
                    email: Some("iso@example.com".into()),
                    ..CustomerSearch::default()
                },
                request
            )
            .await
            .expect("search")
            .is_empty()
    );
    assert!(
        store
            .list_referrals(b.id, ca.row_id)
            .await
            .expect("referrals")
            .is_empty()
    );
    assert_eq!(
        store.referral_counts(b.id, None).await.expect("counts"),
        ReferralCounts::default()
    );
    assert!(matches!(
        store
            .update_customer(
                b.id,
                ca.row_id,
                &CustomerPatch {
                    name: Some("x".into()),
                    ..CustomerPatch::default()
                },
                now()
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !store
            .set_customer_status(
                b.id,
                ca.row_id,
                &[CustomerStatus::Active],
                CustomerStatus::Deleted,
                now()
            )
            .await
            .expect("status")
    );
    // Still there for its own program.
    let view = store
        .find_customer(a.id, &CustomerLookup::Row(friend.row_id))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(view.referrer.map(|r| r.customer.row_id), Some(ca.row_id));
}

#[tokio::test]
async fn close_finishes_and_refuses_new_writes() {
    let Some(store) = store().await else { return };
    let program = new_program(&store).await;
    let mut tasks = JoinSet::new();
    for i in 0..10 {
        let store = Arc::clone(&store);
        let new = customer(&program, &format!("close{i}@example.com"));
        tasks.spawn(async move { store.insert_customer(new).await });
    }
    // On this single-threaded runtime, yielding lets every spawned insert enqueue its job;
    // close then comes after them in the queue, and must still write and answer them all.
    tokio::task::yield_now().await;
    store.close().await;
    let results = tasks.join_all().await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    store.close().await;
    assert!(matches!(
        store
            .insert_customer(customer(&program, "late@example.com"))
            .await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        store.program_for_key("0123").await,
        Err(StoreError::Backend(_))
    ));
}
