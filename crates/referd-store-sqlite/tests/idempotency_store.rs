//! Store-level tests of `Idempotency-Key` claims on SQLite: a first claim, a claim still
//! running, a replay, a different request, expiry, release, per-program keys and concurrent
//! claims. Each test has its own temporary database.

use std::sync::Arc;

use referd_core::Store;
use referd_core::ids::{ProgramType, generate_api_key, new_public_id};
use referd_core::program::{NewProgram, Program};
use referd_core::store::{IdempotencyClaim, IdempotencyStore, ProgramStore};
use referd_core::time::Timestamp;
use referd_store_sqlite::SqliteStore;
use tempfile::TempDir;

async fn db() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("referd.db")).expect("open");
    store.migrate().await.expect("migrate");
    (store, dir)
}

/// Fixed times, `n` seconds after an arbitrary instant.
fn at(n: i64) -> Timestamp {
    Timestamp::from_micros(1_750_000_000_000_000 + n * 1_000_000)
}

async fn program(store: &SqliteStore) -> Program {
    let key = generate_api_key();
    store
        .create_program(
            NewProgram {
                public_id: new_public_id(),
                program_type: ProgramType::Affiliate,
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

#[tokio::test]
async fn claim_answers_new_in_progress_replay_and_mismatch() {
    let (s, _dir) = db().await;
    let p = program(&s).await;
    let claim = |key: &'static str, hash: &'static str, now: i64| {
        let s = &s;
        let p = &p;
        async move {
            s.claim_idempotency_key(p.id, key, hash, at(now), at(now - 100))
                .await
                .unwrap()
        }
    };

    assert_eq!(claim("k1", "h1", 10).await, IdempotencyClaim::New);
    assert_eq!(claim("k1", "h1", 11).await, IdempotencyClaim::InProgress);
    assert_eq!(
        claim("k1", "other", 11).await,
        IdempotencyClaim::InProgress,
        "a running claim answers InProgress whatever the request"
    );

    s.complete_idempotency_key(p.id, "k1", 201, b"{\"ok\":true}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        claim("k1", "h1", 12).await,
        IdempotencyClaim::Replay {
            status: 201,
            body: b"{\"ok\":true}".to_vec()
        }
    );
    assert_eq!(claim("k1", "other", 13).await, IdempotencyClaim::Mismatch);

    // An empty body is replayed as empty.
    assert_eq!(claim("k2", "h2", 14).await, IdempotencyClaim::New);
    s.complete_idempotency_key(p.id, "k2", 204, Vec::new())
        .await
        .unwrap();
    assert_eq!(
        claim("k2", "h2", 15).await,
        IdempotencyClaim::Replay {
            status: 204,
            body: Vec::new()
        }
    );

    // Keys are per program.
    let other = program(&s).await;
    assert_eq!(
        s.claim_idempotency_key(other.id, "k1", "h9", at(16), at(0))
            .await
            .unwrap(),
        IdempotencyClaim::New
    );
    assert_eq!(
        claim("k1", "h1", 17).await,
        IdempotencyClaim::Replay {
            status: 201,
            body: b"{\"ok\":true}".to_vec()
        }
    );
}

#[tokio::test]
async fn expired_claims_are_forgotten() {
    let (s, _dir) = db().await;
    let p = program(&s).await;
    let claim = |hash: &'static str, now: i64, expire_before: i64| {
        let s = &s;
        let p = &p;
        async move {
            s.claim_idempotency_key(p.id, "k", hash, at(now), at(expire_before))
                .await
                .unwrap()
        }
    };
    assert_eq!(claim("h1", 10, 0).await, IdempotencyClaim::New);
    s.complete_idempotency_key(p.id, "k", 200, b"first".to_vec())
        .await
        .unwrap();
    // Created exactly at the bound: still kept.
    assert_eq!(
        claim("h2", 20, 10).await,
        IdempotencyClaim::Mismatch,
        "not expired at the bound"
    );
    // Past it: forgotten, whatever the request, and claimed anew.
    assert_eq!(claim("h2", 30, 11).await, IdempotencyClaim::New);
    assert_eq!(claim("h2", 31, 11).await, IdempotencyClaim::InProgress);
    // An abandoned claim expires too.
    assert_eq!(claim("h3", 40, 31).await, IdempotencyClaim::New);
    assert_eq!(claim("h3", 41, 31).await, IdempotencyClaim::InProgress);
}

#[tokio::test]
async fn release_lets_a_retry_run_again() {
    let (s, _dir) = db().await;
    let p = program(&s).await;
    let claim = || s.claim_idempotency_key(p.id, "k", "h", at(10), at(0));
    assert_eq!(claim().await.unwrap(), IdempotencyClaim::New);
    s.release_idempotency_key(p.id, "k").await.unwrap();
    assert_eq!(claim().await.unwrap(), IdempotencyClaim::New);
    s.complete_idempotency_key(p.id, "k", 500, b"x".to_vec())
        .await
        .unwrap();
    s.release_idempotency_key(p.id, "k").await.unwrap();
    assert_eq!(claim().await.unwrap(), IdempotencyClaim::New);
    // Releasing or completing an unknown key is harmless.
    s.release_idempotency_key(p.id, "nope").await.unwrap();
    s.complete_idempotency_key(p.id, "nope", 200, Vec::new())
        .await
        .unwrap();
    assert_eq!(
        s.claim_idempotency_key(p.id, "nope", "h", at(11), at(0))
            .await
            .unwrap(),
        IdempotencyClaim::New
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_make_one_new() {
    let (s, _dir) = db().await;
    let s = Arc::new(s);
    let p = program(&s).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                s.claim_idempotency_key(p.id, "k", "h", at(10), at(0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut claims = Vec::new();
    for t in tasks {
        claims.push(t.await.unwrap());
    }
    assert_eq!(
        claims
            .iter()
            .filter(|c| **c == IdempotencyClaim::New)
            .count(),
        1
    );
    assert!(
        claims
            .iter()
            .all(|c| matches!(c, IdempotencyClaim::New | IdempotencyClaim::InProgress))
    );
}

#[tokio::test]
async fn deleting_a_program_removes_its_keys() {
    let (s, dir) = db().await;
    let p = program(&s).await;
    s.claim_idempotency_key(p.id, "k", "h", at(10), at(0))
        .await
        .unwrap();
    s.set_program_delete_code(p.id, "code", at(100))
        .await
        .unwrap();
    assert!(s.delete_program(p.id, "code", at(50)).await.unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("referd.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM idempotency_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

/// A claim never answered (its process died) stops blocking retries after
/// `IDEMPOTENCY_ABANDONED_AFTER_MICROS`; an answered one keeps replaying for its whole life.
#[tokio::test]
async fn claims_of_dead_requests_are_abandoned() {
    use referd_core::store::IDEMPOTENCY_ABANDONED_AFTER_MICROS as ABANDON;
    let (s, _dir) = db().await;
    let p = program(&s).await;
    let t0 = 1_000_000_000_000_i64;
    let t = |micros: i64| Timestamp::from_micros(t0 + micros);
    let claim = |key: &'static str, micros: i64| {
        s.claim_idempotency_key(p.id, key, "h", t(micros), Timestamp::from_micros(0))
    };
    assert_eq!(claim("dead", 0).await.unwrap(), IdempotencyClaim::New);
    assert_eq!(
        claim("dead", ABANDON - 1).await.unwrap(),
        IdempotencyClaim::InProgress
    );
    assert_eq!(
        claim("dead", ABANDON + 1).await.unwrap(),
        IdempotencyClaim::New
    );

    assert_eq!(claim("done", 0).await.unwrap(), IdempotencyClaim::New);
    s.complete_idempotency_key(p.id, "done", 200, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        claim("done", 10 * ABANDON).await.unwrap(),
        IdempotencyClaim::Replay {
            status: 200,
            body: b"{}".to_vec()
        }
    );
}
