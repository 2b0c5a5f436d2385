//! A rough measurement of the group-commit writer: many concurrent `insert_customer` calls
//! for a few seconds, reporting inserts per second. Compare with `pgbench` single-row inserts
//! (see `BENCHMARKS.md`). Ignored by default; run it in release mode:
//!
//! ```sh
//! REFERD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/referd_test \
//!   cargo test --release -p referd-store-postgres --test insert_throughput -- --ignored --nocapture
//! ```
//!
//! `REFERD_BENCH_SECONDS` (default 5) and `REFERD_BENCH_TASKS` (default 64) tune it;
//! `REFERD_BENCH_AUTH=1` also looks the API key up before each insert, as a
//! `POST /v1/customers` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use referd_core::Store;
use referd_core::customer::NewCustomer;
use referd_core::ids::{ProgramType, generate_api_key, new_public_id};
use referd_core::program::NewProgram;
use referd_core::store::{CustomerStore, ProgramStore};
use referd_core::time::{Clock, SystemClock};
use referd_store_postgres::PostgresStore;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark; run by hand with --ignored --nocapture"]
async fn insert_throughput() {
    let Ok(url) = std::env::var("REFERD_TEST_POSTGRES_URL") else {
        println!("SKIPPED: REFERD_TEST_POSTGRES_URL not set");
        return;
    };
    let seconds = env_number("REFERD_BENCH_SECONDS", 5);
    let tasks = env_number("REFERD_BENCH_TASKS", 64);
    let with_auth = env_number("REFERD_BENCH_AUTH", 0) == 1;
    let store = Arc::new(PostgresStore::connect(&url).await.expect("connect"));
    store.migrate().await.expect("migrate");
    let key = generate_api_key();
    let (program, _) = store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type: ProgramType::Referral,
                name: "Throughput".into(),
                website: None,
                created_at: SystemClock.now(),
            },
            key.hash.clone(),
            key.hint,
        )
        .await
        .expect("program");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        let program = program.id;
        let key_hash = key.hash.clone();
        set.spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                if with_auth {
                    store.program_for_key(&key_hash).await.expect("auth");
                }
                let new = NewCustomer {
                    program_id: program,
                    id: format!("t{t}-{i}"),
                    key: format!("k{t}-{i}"),
                    email: Some(format!("t{t}-{i}@example.com")),
                    name: Some("Ann".into()),
                    surname: Some("Lee".into()),
                    date_of_birth: None,
                    referrer: None,
                    created_at: SystemClock.now(),
                };
                store.insert_customer(new).await.expect("insert");
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    set.join_all().await;
    let n = done.load(Ordering::Relaxed);
    println!(
        "{n} inserts in {seconds} s with {tasks} tasks (auth lookups: {with_auth}): \
         {:.0} inserts/s",
        n as f64 / seconds as f64
    );
    store.close().await;
}
