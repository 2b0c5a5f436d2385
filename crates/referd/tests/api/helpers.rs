//! The test harness: a real store (a fresh SQLite file, or the PostgreSQL database named by
//! `REFERD_TEST_POSTGRES_URL`), the real router, and a fresh program with its API key per
//! test, so tests never see each other's rows even on a shared database.
//!
//! [`backend_tests!`] turns each scenario `async fn name(app: TestApp)` into two tests,
//! `sqlite::name` and `postgres::name`; the PostgreSQL one says SKIPPED and passes when no
//! database is configured (`scripts/test.sh` configures one when it can).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use referd_core::Store;
use referd_core::ids::ProgramType;
use referd_core::program::Program;
use referd_core::service::programs;
use referd_core::time::{Clock, SystemClock};
use serde_json::Value;
use tower::ServiceExt;

pub const PUBLIC_URL: &str = "http://referd.test";
pub const WEBSITE: &str = "https://partnero.com";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub program: Program,
    pub key: String,
    _dir: Option<tempfile::TempDir>,
}

/// A response: status, headers and the body parsed as JSON (every referd body is JSON; a
/// body that is not fails the test right here).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        let body = self.expect(StatusCode::OK);
        assert_eq!(body["status"], 1, "{body}");
        body
    }

    /// Asserts a 422 and returns its `errors` object.
    #[track_caller]
    pub fn invalid(self) -> Value {
        let body = self.expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["status"], 0, "{body}");
        assert_eq!(body["message"], "The given data was invalid.");
        body["errors"].clone()
    }
}

impl TestApp {
    /// `None` (after printing why) when the backend is not available.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, ProgramType::Referral, Some(WEBSITE)).await
    }

    pub async fn start_with(
        backend: Backend,
        program_type: ProgramType,
        website: Option<&str>,
    ) -> Option<Self> {
        let (store, dir): (Arc<dyn Store>, _) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite:{}", dir.path().join("test.db").display());
                (
                    referd::open_store(&url).await.expect("open sqlite"),
                    Some(dir),
                )
            }
            Backend::Postgres => {
                let Ok(url) = std::env::var("REFERD_TEST_POSTGRES_URL") else {
                    eprintln!(
                        "SKIPPED: REFERD_TEST_POSTGRES_URL is not set (scripts/test.sh sets it when PostgreSQL is reachable)"
                    );
                    return None;
                };
                (
                    referd::open_store(&url).await.expect("connect postgres"),
                    None,
                )
            }
        };
        store.migrate().await.expect("migrate");
        let (program, key) = programs::create(
            &*store,
            program_type,
            "Api Test 001",
            website,
            SystemClock.now(),
        )
        .await
        .expect("create program");
        let router = referd_api::router(referd::app_state(store.clone(), PUBLIC_URL));
        Some(Self {
            router,
            store,
            program,
            key,
            _dir: dir,
        })
    }

    /// Another program in the same database, with its own key.
    pub async fn other_program(&self, program_type: ProgramType) -> (Program, String) {
        programs::create(
            &*self.store,
            program_type,
            "Other",
            Some("https://other.test"),
            SystemClock.now(),
        )
        .await
        .expect("create program")
    }

    /// Sends a request with a raw body and headers of the caller's choosing.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(
            headers.get("content-type").map(|v| v.to_str().unwrap()),
            Some("application/json"),
            "Content-Type must be exactly application/json"
        );
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request authenticated with `key`, with a JSON body when given.
    pub async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "application/json");
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.key.clone(), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a customer from a JSON body and returns its `data`.
    pub async fn customer(&self, body: Value) -> Value {
        self.post("/v1/customers", body).await.ok()["data"].clone()
    }
}

/// Replaces every `created_at`/`updated_at` timestamp with a placeholder, after checking its
/// format (`2025-05-09T17:42:13.000000Z`), so bodies can be compared with seed examples.
pub fn redact_times(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if (k == "created_at" || k == "updated_at") && val.is_string() {
                    assert_timestamp(val.as_str().unwrap());
                    *val = Value::String("[time]".into());
                } else {
                    redact_times(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_times),
        _ => {}
    }
}

#[track_caller]
pub fn assert_timestamp(s: &str) {
    let b = s.as_bytes();
    let shape_ok = s.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 26].contains(&i) || c.is_ascii_digit());
    assert!(
        shape_ok,
        "timestamp {s:?} is not like 2025-05-09T17:42:13.000000Z"
    );
}

/// Runs each listed scenario on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::start($crate::helpers::Backend::Sqlite).await {
                        let store = app.store.clone();
                        super::$name(app).await;
                        store.close().await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::start($crate::helpers::Backend::Postgres).await {
                        let store = app.store.clone();
                        super::$name(app).await;
                        store.close().await;
                    }
                }
            )*
        }
    };
}

/// Runs each listed scenario on SQLite and on PostgreSQL, with an affiliate program (website
/// [`WEBSITE`], so partner links are `https://partnero.com?aff=KEY`).
#[macro_export]
macro_rules! affiliate_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::start_affiliate($crate::helpers::Backend::Sqlite).await {
                        let store = app.store.clone();
                        super::$name(app).await;
                        store.close().await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::start_affiliate($crate::helpers::Backend::Postgres).await {
                        let store = app.store.clone();
                        super::$name(app).await;
                        store.close().await;
                    }
                }
            )*
        }
    };
}

impl TestApp {
    /// An app whose program is an affiliate program.
    pub async fn start_affiliate(backend: Backend) -> Option<Self> {
        Self::start_with(backend, ProgramType::Affiliate, Some(WEBSITE)).await
    }

    /// Creates a partner from a JSON body and returns its `data`.
    pub async fn partner(&self, body: Value) -> Value {
        self.post("/v1/partners", body).await.ok()["data"].clone()
    }

    /// A GET with a JSON body, as the PHP SDK sends every GET.
    pub async fn get_with_body(&self, path: &str, body: Value) -> Reply {
        self.call(Method::GET, path, Some(body)).await
    }

    /// A DELETE with a JSON body.
    pub async fn delete_with_body(&self, path: &str, body: Value) -> Reply {
        self.call(Method::DELETE, path, Some(body)).await
    }

    /// A refer-a-friend program without a website, in the same database.
    pub async fn other_program_without_website(&self) -> (Program, String) {
        programs::create(
            &*self.store,
            ProgramType::Referral,
            "No Site",
            None,
            SystemClock.now(),
        )
        .await
        .expect("create program")
    }
}
