//! After the server drops the store's connections (a restart, an administrator's
//! `pg_terminate_backend`), the store recovers: a busy store fails at most the one statement
//! that finds each connection dead, and a store that sat idle fails none, because idle
//! connections (the writer's included) are pinged before use and replaced.
//!
//! Runs only with `REFERD_TEST_POSTGRES_URL` (see `postgres_store.rs`). It is a test binary of
//! its own so that terminating its connections cannot disturb other tests.

use std::time::Duration;

use referd_core::Store;
use referd_core::customer::{CustomerLookup, NewCustomer};
use referd_core::ids::{
    ProgramType, generate_api_key, new_customer_id, new_public_id, new_referral_key,
};
use referd_core::program::NewProgram;
use referd_core::store::{CustomerStore, ProgramStore};
use referd_core::time::{Clock, SystemClock};
use referd_store_postgres::PostgresStore;
use sqlx::Connection;

#[tokio::test]
async fn recovers_from_terminated_connections() {
    let Ok(url) = std::env::var("REFERD_TEST_POSTGRES_URL") else {
        println!("SKIPPED: REFERD_TEST_POSTGRES_URL not set");
        return;
    };
    let app = format!("referd-reconnect-{}", std::process::id());
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = PostgresStore::connect(&format!("{url}{sep}application_name={app}"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let key = generate_api_key();
    let (program, _) = store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type: ProgramType::Referral,
                name: "Reconnect".into(),
                website: None,
                created_at: SystemClock.now(),
            },
            key.hash.clone(),
            key.hint,
        )
        .await
        .expect("program");
    let customer = || NewCustomer {
        program_id: program.id,
        id: new_customer_id(SystemClock.now()),
        key: new_referral_key(SystemClock.now()),
        email: None,
        name: None,
        surname: None,
        date_of_birth: None,
        referrer: None,
        created_at: SystemClock.now(),
    };
    store.insert_customer(customer()).await.expect("insert");

    let mut admin = sqlx::PgConnection::connect(&url).await.expect("admin");
    let terminate = async |admin: &mut sqlx::PgConnection| {
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&app)
        .fetch_all(admin)
        .await
        .expect("terminate");
        assert!(!terminated.is_empty(), "the store's connections were found");
    };

    // Right after use, connections are not pinged: each dead one may fail the one statement
    // that finds it dead, but is then discarded (the writer's and the pool's alike), so the
    // store recovers after a failure or two and then stays healthy.
    terminate(&mut admin).await;
    let mut failures = 0;
    while store.insert_customer(customer()).await.is_err() {
        failures += 1;
        assert!(failures <= 3, "the store keeps failing after a termination");
    }
    while store.program_for_key(&key.hash).await.is_err() {
        failures += 1;
        assert!(failures <= 3, "the store keeps failing after a termination");
    }
    for _ in 0..3 {
        store.insert_customer(customer()).await.expect("recovered");
        store.program_for_key(&key.hash).await.expect("recovered");
    }

    // After a pause, connections are pinged before use: nothing fails.
    terminate(&mut admin).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let created = store
        .insert_customer(customer())
        .await
        .expect("insert after the connections were dropped");
    assert!(
        store
            .find_customer(program.id, &CustomerLookup::Row(created.row_id))
            .await
            .expect("find after the connections were dropped")
            .is_some()
    );
    assert_eq!(
        store
            .program_for_key(&key.hash)
            .await
            .expect("read")
            .map(|p| p.id),
        Some(program.id)
    );
    store.close().await;
}
