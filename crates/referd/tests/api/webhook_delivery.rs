//! End-to-end webhook delivery on both backends, with a real HTTP receiver on a local port
//! and the real worker (`referd-webhooks`) driven one claim at a time under a test clock:
//! signatures (Partnero's and Standard Webhooks'), retries of a failing receiver with the
//! same bytes, order per webhook, exactly one successful delivery per event, the delivery
//! log and redelivery through the admin API, a crashed worker's leases taken over, and the
//! SSRF guard.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use referd::delivery::ApiRender;
use referd_api::AppState;
use referd_core::ids::generate_admin_token;
use referd_core::time::{Clock, SystemClock, Timestamp};
use referd_webhooks::{Config, Worker};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{PUBLIC_URL, Reply, TestApp};

/// A clock the test moves forward, so retries are due without waiting.
pub(crate) struct TestClock(pub(crate) AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}

impl TestClock {
    pub(crate) fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_micros() as i64, Ordering::SeqCst);
    }
}

/// What the receiver saw: headers, body and the status it answered.
#[derive(Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
    status: u16,
}

/// A local HTTP receiver that answers 500 to its first `fail_first` requests, then 200.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let fail = Arc::new(AtomicUsize::new(fail_first));
        let (s, f) = (seen.clone(), fail.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (s, f) = (s.clone(), f.clone());
                async move {
                    let failing = f
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if failing { 500 } else { 200 };
                    s.lock().unwrap().push(Seen {
                        headers,
                        body,
                        status,
                    });
                    (
                        StatusCode::from_u16(status).unwrap(),
                        if failing { "receiver down" } else { "thanks" },
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            seen,
            fail_first: fail,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn accepted(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.status == 200)
            .map(|s| serde_json::from_slice(&s.body).unwrap())
            .collect()
    }
}

fn worker(app: &TestApp, clock: Arc<TestClock>, allow_private: bool, owner: &str) -> Arc<Worker> {
    let state = AppState::new(app.store.clone(), clock.clone(), PUBLIC_URL);
    let config = Config {
        allow_private,
        lease: Duration::from_secs(60),
        batch: 32,
        idle_poll: Duration::from_millis(10),
        owner: owner.into(),
        only: Some(app.program.id),
        retention: Duration::from_secs(30 * 86_400),
    };
    Arc::new(Worker::new(app.store.clone(), Arc::new(ApiRender(state)), clock, config).unwrap())
}

fn clock() -> Arc<TestClock> {
    Arc::new(TestClock(AtomicI64::new(SystemClock.now().as_micros())))
}

fn hex_hmac(secret: &str, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Checks a Standard Webhooks signature header against `secret`, as a receiver would.
fn standard_ok(secret: &str, h: &HeaderMap, body: &[u8]) -> bool {
    let id = h["webhook-id"].to_str().unwrap();
    let ts = h["webhook-timestamp"].to_str().unwrap();
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(format!("{id}.{ts}.").as_bytes());
    m.update(body);
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    );
    h["webhook-signature"]
        .to_str()
        .unwrap()
        .split(' ')
        .any(|s| s == want)
}

async fn hook(app: &TestApp, url: &str, events: Value) -> Value {
    app.post(
        "/v1/webhooks",
        json!({"name": "test", "url": url, "events": events}),
    )
    .await
    .ok()["data"]
        .clone()
}

async fn admin(app: &TestApp, method: Method, path: &str) -> Reply {
    let t = generate_admin_token();
    app.store
        .create_admin_token(t.hash, t.hint, SystemClock.now())
        .await
        .unwrap();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", t.secret))
        .body(Body::empty())
        .unwrap();
    app.send(req).await
}

async fn signed_in_order_with_retries_exactly_once(app: TestApp) {
    let rx = Receiver::start(2).await;
    let made = hook(
        &app,
        &rx.url(),
        json!(["customer.created", "customer.updated"]),
    )
    .await;
    let secret = made["signature"].as_str().unwrap().to_owned();
    app.customer(json!({"id": "c1", "email": "c1@example.com"}))
        .await;
    app.customer(json!({"id": "c2", "email": "c2@example.com"}))
        .await;
    app.put("/v1/customers/c2", json!({"update": {"name": "Bea"}}))
        .await
        .ok();

    let clock = clock();
    let w = worker(&app, clock.clone(), true, "w1");
    for _ in 0..6 {
        w.tick().await.unwrap();
        clock.advance(Duration::from_secs(3600));
    }
    let seen = rx.seen();
    // Two failures of the first event, then the three events once each, in order.
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [500, 500, 200, 200, 200]);
    let first_id = seen[0].headers["webhook-id"].clone();
    assert_eq!(seen[1].headers["webhook-id"], first_id);
    assert_eq!(seen[2].headers["webhook-id"], first_id);
    assert_eq!(seen[0].body, seen[2].body, "a retry sends the same bytes");
    for s in &seen {
        let sig = s.headers["signature"].to_str().unwrap();
        assert_eq!(sig, hex_hmac(&secret, &s.body));
        assert_eq!(s.headers["x-partnero-signature"].to_str().unwrap(), sig);
        assert!(standard_ok(&secret, &s.headers, &s.body));
        assert!(!standard_ok("wrong", &s.headers, &s.body));
        assert_eq!(s.headers["content-type"], "application/json");
    }
    let bodies = rx.accepted();
    let events: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap(),
                b["data"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("customer.created", "c1"),
            ("customer.created", "c2"),
            ("customer.updated", "c2")
        ]
    );
    // The envelope of spec §9.3, `data` as the GET answers it.
    let b = &bodies[0];
    assert_eq!(b["url"], rx.url());
    assert_eq!(b["webhook_key"], made["key"]);
    crate::helpers::assert_timestamp(b["created_at"].as_str().unwrap());
    let get = app.get("/v1/customers/c1").await.ok();
    assert_eq!(b["data"], get["data"]);
    let get = app.get("/v1/customers/c2").await.ok();
    assert_eq!(bodies[2]["data"], get["data"]);

    // Nothing more to send: each event was delivered once.
    for _ in 0..3 {
        assert_eq!(w.tick().await.unwrap(), 0);
        clock.advance(Duration::from_secs(86_400));
    }
    assert_eq!(rx.seen().len(), 5);

    // The delivery log, through the admin API.
    let pid = &app.program.public_id;
    let list = admin(
        &app,
        Method::GET,
        &format!("/admin/v1/programs/{pid}/webhook-deliveries"),
    )
    .await
    .ok();
    let rows = list["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "delivered"));
    let first = rows.last().unwrap()["id"].as_i64().unwrap();
    assert_eq!(first_id.to_str().unwrap(), format!("msg_{first}"));
    let detail = admin(
        &app,
        Method::GET,
        &format!("/admin/v1/programs/{pid}/webhook-deliveries/{first}"),
    )
    .await
    .ok();
    let log = detail["data"]["attempt_log"].as_array().unwrap();
    let codes: Vec<i64> = log
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(log[0]["response"], "receiver down");
    assert!(log[0]["latency_ms"].is_u64());
    assert_eq!(detail["data"]["payload"], bodies[0]);
    assert_eq!(detail["data"]["attempts"], 3);
    let missing = admin(
        &app,
        Method::GET,
        &format!("/admin/v1/programs/{pid}/webhook-deliveries/999999999"),
    )
    .await;
    assert_eq!(missing.status, 404);

    // Retention: delivered rows go after 30 days (the test clock is a few days on by now).
    w.prune().await;
    assert_eq!(
        app.store
            .list_deliveries(
                app.program.id,
                None,
                referd_core::page::PageRequest {
                    page: 1,
                    per_page: 10,
                    sort: referd_core::page::SortOrder::Asc
                }
            )
            .await
            .unwrap()
            .len(),
        3
    );
    clock.advance(Duration::from_secs(31 * 86_400));
    w.prune().await;
    assert!(
        app.store
            .list_deliveries(
                app.program.id,
                None,
                referd_core::page::PageRequest {
                    page: 1,
                    per_page: 10,
                    sort: referd_core::page::SortOrder::Asc
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
}

async fn fails_after_a_day_then_redelivers(app: TestApp) {
    let rx = Receiver::start(usize::MAX).await;
    hook(&app, &rx.url(), json!(["customer.created"])).await;
    app.customer(json!({"id": "c1", "email": "c1@example.com"}))
        .await;
    let clock = clock();
    let w = worker(&app, clock.clone(), true, "w1");
    let started = clock.now();
    for _ in 0..40 {
        w.tick().await.unwrap();
        clock.advance(Duration::from_secs(3 * 3600));
    }
    let attempts = rx.seen().len();
    assert_eq!(attempts, referd_webhooks::backoff::MAX_ATTEMPTS as usize);
    let pid = &app.program.public_id;
    let failed = admin(
        &app,
        Method::GET,
        &format!("/admin/v1/programs/{pid}/webhook-deliveries?status=failed"),
    )
    .await
    .ok();
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
    // The schedule spans about a day.
    let d = app
        .store
        .find_delivery(
            app.program.id,
            referd_core::webhook::DeliveryRowId(failed["data"][0]["id"].as_i64().unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    let span = d.1.last().unwrap().attempted_at.as_micros() - d.1[0].attempted_at.as_micros();
    assert!(span >= 12 * 3_600_000_000, "{span}");
    assert!(d.1[0].attempted_at >= started);

    // The receiver is fixed; an operator redelivers every failed event.
    rx.fail_first.store(0, Ordering::SeqCst);
    let again = admin(
        &app,
        Method::POST,
        &format!("/admin/v1/programs/{pid}/webhook-deliveries:redeliver-failed"),
    )
    .await
    .ok();
    assert_eq!(again["data"]["redelivered"], 1);
    w.tick().await.unwrap();
    assert_eq!(rx.accepted().len(), 1);
    // And one delivery by id, even a delivered one.
    let id = failed["data"][0]["id"].as_i64().unwrap();
    admin(
        &app,
        Method::POST,
        &format!("/admin/v1/programs/{pid}/webhook-deliveries/{id}/redeliver"),
    )
    .await
    .ok();
    w.tick().await.unwrap();
    assert_eq!(rx.accepted().len(), 2);
}

async fn a_crashed_workers_claims_are_taken_over(app: TestApp) {
    let rx = Receiver::start(0).await;
    hook(&app, &rx.url(), json!(["customer.created"])).await;
    for i in 0..5 {
        app.customer(json!({"id": format!("c{i}"), "email": format!("c{i}@example.com")}))
            .await;
    }
    let clock = clock();
    // A worker claims everything and dies before sending.
    let now = clock.now();
    let lease = Timestamp::from_micros(now.as_micros() + 60_000_000);
    let held = app
        .store
        .claim_deliveries("dead", now, lease, 100, Some(app.program.id))
        .await
        .unwrap();
    assert_eq!(held.len(), 5);
    let w = worker(&app, clock.clone(), true, "alive");
    assert_eq!(w.tick().await.unwrap(), 0, "a live lease is respected");
    clock.advance(Duration::from_secs(61));
    assert_eq!(w.tick().await.unwrap(), 5);
    let ids: Vec<String> = rx
        .accepted()
        .iter()
        .map(|b| b["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4"]);
    // The dead worker's late report changes nothing.
    let attempt = referd_core::webhook::Attempt {
        attempted_at: now,
        status_code: Some(500),
        latency_ms: 1,
        response_excerpt: None,
        error: None,
    };
    let late = app
        .store
        .finish_attempt(
            held[0].delivery.row_id,
            "dead",
            &attempt,
            referd_core::webhook::AttemptOutcome::Failed,
        )
        .await
        .unwrap();
    assert!(!late);
}

async fn private_addresses_are_refused_by_default(app: TestApp) {
    let rx = Receiver::start(0).await;
    hook(&app, &rx.url(), json!(["customer.created"])).await;
    let by_name = format!("http://localhost:{}/hook", rx.addr.port());
    hook(&app, &by_name, json!(["customer.created"])).await;
    app.customer(json!({"id": "c1", "email": "c1@example.com"}))
        .await;
    let clock = clock();
    let w = worker(&app, clock.clone(), false, "guarded");
    assert_eq!(w.tick().await.unwrap(), 2);
    assert!(rx.seen().is_empty(), "nothing reached the private address");
    let rows = app
        .store
        .list_deliveries(
            app.program.id,
            None,
            referd_core::page::PageRequest {
                page: 1,
                per_page: 10,
                sort: referd_core::page::SortOrder::Asc,
            },
        )
        .await
        .unwrap();
    for d in rows {
        let (_, attempts) = app
            .store
            .find_delivery(app.program.id, d.row_id)
            .await
            .unwrap()
            .unwrap();
        let err = attempts[0].error.as_deref().unwrap();
        assert!(err.contains("REFERD_WEBHOOKS_ALLOW_PRIVATE"), "{err}");
    }
}

/// A receiver slower than 5 s is an attempt that timed out, retried later.
async fn a_slow_receiver_times_out_after_five_seconds(app: TestApp) {
    let slow = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(8)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, slow).await.unwrap() });
    hook(
        &app,
        &format!("http://{addr}/hook"),
        json!(["customer.created"]),
    )
    .await;
    app.customer(json!({"id": "c1", "email": "c1@example.com"}))
        .await;
    let w = worker(&app, clock(), true, "w1");
    let started = std::time::Instant::now();
    assert_eq!(w.tick().await.unwrap(), 1);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(8),
        "gave up before the answer: {waited:?}"
    );
    let rows = app
        .store
        .list_deliveries(
            app.program.id,
            Some(referd_core::webhook::DeliveryState::Pending),
            referd_core::page::PageRequest {
                page: 1,
                per_page: 10,
                sort: referd_core::page::SortOrder::Asc,
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "still pending, for a retry");
    let (_, attempts) = app
        .store
        .find_delivery(app.program.id, rows[0].row_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempts[0].status_code, None);
    assert!(attempts[0].latency_ms >= 4_900, "{:?}", attempts[0]);
    assert!(
        attempts[0].error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        attempts[0]
    );
}

crate::backend_tests!(
    a_slow_receiver_times_out_after_five_seconds,
    signed_in_order_with_retries_exactly_once,
    fails_after_a_day_then_redelivers,
    a_crashed_workers_claims_are_taken_over,
    private_addresses_are_refused_by_default,
);
