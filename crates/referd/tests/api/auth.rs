//! API keys: every way a key can be missing or wrong is a 401 with a JSON body; revoked
//! keys stop working at once; a program may have several keys.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use referd_core::ids::{generate_api_key, hash_api_key};
use referd_core::program::ApiKeySelector;
use referd_core::time::{Clock, SystemClock};
use serde_json::json;

use crate::helpers::TestApp;

async fn bad_keys_are_401_json(app: TestApp) {
    let valid_shape_unknown = generate_api_key().secret;
    let headers: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some(format!("Basic {}", app.key)),
        Some(app.key.clone()),
        Some("Bearer not-a-key".into()),
        Some(format!("Bearer {}x", app.key)),
        Some(format!("Bearer {valid_shape_unknown}")),
    ];
    for h in headers {
        for path in [
            "/v1/test",
            "/v1/customers",
            "/v1/customers/x",
            "/v1/program",
        ] {
            let mut req = Request::builder().method(Method::GET).uri(path);
            if let Some(h) = &h {
                req = req.header("authorization", h);
            }
            let reply = app.send(req.body(Body::empty()).unwrap()).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{h:?} {path}");
            assert_eq!(reply.body, json!({"status":0,"message":"Unauthenticated."}));
            assert_eq!(reply.headers.get("www-authenticate").unwrap(), "Bearer");
        }
    }
    // The scheme is case-insensitive.
    let req = Request::builder()
        .uri("/v1/test")
        .header("authorization", format!("bearer {}", app.key))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::OK);
}

async fn revoked_keys_stop_working(app: TestApp) {
    let second = generate_api_key();
    app.store
        .create_api_key(
            app.program.id,
            second.hash.clone(),
            second.hint,
            SystemClock.now(),
        )
        .await
        .unwrap();
    app.call_as(&second.secret, Method::GET, "/v1/test", None)
        .await
        .ok();
    let revoked = app
        .store
        .revoke_api_key(
            Some(app.program.id),
            ApiKeySelector::Hash(hash_api_key(&second.secret)),
            SystemClock.now(),
        )
        .await
        .unwrap();
    assert!(revoked);
    app.call_as(&second.secret, Method::GET, "/v1/test", None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // The first key is untouched.
    app.get("/v1/test").await.ok();
    // Revoking again finds nothing.
    let again = app
        .store
        .revoke_api_key(
            None,
            ApiKeySelector::Hash(hash_api_key(&second.secret)),
            SystemClock.now(),
        )
        .await
        .unwrap();
    assert!(!again);
}

crate::backend_tests!(bad_keys_are_401_json, revoked_keys_stop_working);
