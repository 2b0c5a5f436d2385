//! The public tracking routes (no API key; `docs/tracking.md`): the snippet file, its
//! program configuration, the click beacon, redirect links and the public sign-up.
//!
//! They answer visitors' browsers, not API clients: every answer carries
//! `Access-Control-Allow-Origin: *` (the merchant's site is another origin), and a click
//! never fails visibly: unknown programs or keys, bots and repeats are answered like any
//! click and simply not counted. No tower layers sit on these routes (a timeout layer cost
//! 17% of the redirect's rate in `shared/design/performance.md`).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use referd_core::service::tracking::{PublicSignup, SignupOutcome};
use referd_core::time::Timestamp;
use referd_core::tracking::ClickSource;
use referd_core::tracking::attribution::{CookieClaim, Rules};
use referd_core::tracking::bots::is_bot;
use referd_core::validate::FieldErrors;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;
use crate::tracking::{ClickEvent, client};
use crate::wire;

/// The snippet, hand-written (`crates/referd-api/assets/universal.js`).
const UNIVERSAL_JS: &str = include_str!("../../assets/universal.js");
/// Public sign-up bodies are a few fields.
const MAX_SIGNUP_BODY: usize = 16 * 1024;

fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// `GET /js/universal.js`.
pub async fn snippet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        UNIVERSAL_JS,
    )
        .into_response()
}

/// `OPTIONS /t/…`: the CORS preflight of clients that send JSON with its own type.
pub async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Content-Type"),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            ),
        ],
    )
        .into_response()
}

/// `GET /t/{program}/config`: what the snippet needs to track for this program.
pub async fn config(State(state): State<AppState>, Path(public_id): Path<String>) -> Response {
    let Some(program) = state.tracking.caches.program(&public_id).await else {
        return cors(ApiError::NotFound("Program not found".into()).into_response());
    };
    let rules = Rules::of(&program.settings);
    let mut r = wire::data(json!({
        "program": program.public_id,
        "type": program.program_type.as_str(),
        "param": program.referral_param(),
        "link_format": program.settings.link_format.as_str(),
        "link_base": program.link_base(),
        "cookie_lifetime": rules.cookie_lifetime_days,
        "attribution": rules.model.as_str(),
        "attribution_window": rules.window_days,
        "public_signup": rules.public_signup,
    }));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    cors(r)
}

/// Queues a click on a known link unless the visitor is a bot.
fn count_click(
    state: &AppState,
    program: &referd_core::program::Program,
    target: referd_core::tracking::LinkTarget,
    req: &Parts,
    source: ClickSource,
) {
    let ua = client::user_agent(&req.headers);
    if is_bot(ua) {
        return;
    }
    state.tracking.record(ClickEvent {
        program: program.id,
        target,
        ip: client::ip(&req.extensions, &req.headers),
        // Enough to tell browsers apart; a longer header only costs memory.
        user_agent: ua.unwrap_or_default().chars().take(512).collect(),
        source,
        at: state.clock.now(),
    });
}

/// `GET /r/{program}/{key}`: count the click, then `302` to the program's website with the
/// referral parameter, where the merchant's snippet sets the cookie. An unknown key goes to
/// the website without a parameter (the visitor still arrives); an unknown program, or one
/// without a website, is a plain 404 page.
pub async fn redirect(
    State(state): State<AppState>,
    Path((public_id, key)): Path<(String, String)>,
    req: Request,
) -> Response {
    // The body is never read; the parts are what a click needs (and can be held across
    // awaits, unlike the body).
    let (req, _) = req.into_parts();
    let Some(program) = state.tracking.caches.program(&public_id).await else {
        return not_found_page();
    };
    let location = match state.tracking.caches.link(&program, &key).await {
        Some(target) => {
            count_click(&state, &program, target, &req, ClickSource::Redirect);
            program.referral_link(&key)
        }
        None => program.website.clone(),
    };
    let Some(location) = location.and_then(|l| HeaderValue::try_from(l).ok()) else {
        return not_found_page();
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            // Every click must reach referd: no cached redirect.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        "<!doctype html><title>Link not found</title><p>This referral link does not exist.</p>",
    )
        .into_response()
}

/// `POST /t/{program}/click?key=KEY`: the snippet's beacon for a landing page that carried
/// a referral key. Always `204`.
pub async fn click(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    req: Request,
) -> Response {
    let (req, _) = req.into_parts();
    let key = req.uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(n, _)| n == "key")
            .map(|(_, v)| v.into_owned())
    });
    if let (Some(program), Some(key)) = (state.tracking.caches.program(&public_id).await, key)
        && let Some(target) = state.tracking.caches.link(&program, &key).await
    {
        count_click(&state, &program, target, &req, ClickSource::Beacon);
    }
    cors(StatusCode::NO_CONTENT.into_response())
}

/// A string field as browsers send it: a string, or a number (an id); empty is absent.
fn text(body: &Value, name: &str, e: &mut FieldErrors) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            e.add(name, format!("The {name} field must be a string."));
            None
        }
    }
}

fn tags(body: &Value, e: &mut FieldErrors) -> Option<Vec<String>> {
    match body.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for i in items {
                match i {
                    Value::String(s) => out.push(s.clone()),
                    _ => e.add("tags", "The tags field must be a list of strings."),
                }
            }
            Some(out)
        }
        Some(_) => {
            e.add("tags", "The tags field must be a list of strings.");
            None
        }
    }
}

/// `clicked_at`: seconds since the epoch, as the snippet's cookie keeps it.
fn clicked_at(body: &Value) -> Option<Timestamp> {
    let secs = match body.get("clicked_at")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    secs.checked_mul(1_000_000).map(Timestamp::from_micros)
}

fn too_many(retry_after: u64) -> Response {
    let mut r = wire::json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"status": 0, "message": "Too Many Attempts."}),
    );
    if let Ok(v) = HeaderValue::try_from(retry_after.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// `POST /t/{program}/signup`: `po('customers','signup',{data:{…}})` and the no-code form
/// integration. Creates the customer attributed by the program's rules; answers
/// `{"data":{"referred":bool},"status":1}`. An existing customer is answered the same way and
/// left unchanged (a public form must not tell who is a customer).
pub async fn signup(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    req: Request,
) -> Response {
    let ip = client::ip(req.extensions(), req.headers());
    let body = match axum::body::to_bytes(req.into_body(), MAX_SIGNUP_BODY).await {
        Ok(b) => b,
        Err(_) => return cors(ApiError::PayloadTooLarge.into_response()),
    };
    cors(signup_inner(&state, &public_id, ip, body).await)
}

async fn signup_inner(
    state: &AppState,
    public_id: &str,
    ip: std::net::IpAddr,
    body: Bytes,
) -> Response {
    let Some(program) = state.tracking.caches.program(public_id).await else {
        return ApiError::NotFound("Program not found".into()).into_response();
    };
    if !Rules::of(&program.settings).public_signup {
        return wire::json_response(
            StatusCode::FORBIDDEN,
            &json!({"status": 0, "message": "Public sign-up is turned off for this program."}),
        );
    }
    let visitor = client::limit_key(ip, &state.tracking.limit_secret);
    if let Err(retry) = state.tracking.signups.check(visitor, Instant::now()) {
        return too_many(retry);
    }
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return ApiError::BadRequest("The request body must be a JSON object.".into())
                    .into_response();
            }
            Err(e) => {
                return ApiError::BadRequest(format!("The request body is not valid JSON: {e}"))
                    .into_response();
            }
        }
    };
    // `{data:{…}}` as `po('customers','signup',…)` takes it, or the fields themselves.
    let fields = body.get("data").filter(|d| d.is_object()).unwrap_or(&body);
    let mut e = FieldErrors::new();
    let input = PublicSignup {
        key: text(fields, "key", &mut e).or_else(|| text(fields, "id", &mut e)),
        email: text(fields, "email", &mut e),
        name: text(fields, "name", &mut e),
        surname: text(fields, "surname", &mut e),
        tags: tags(fields, &mut e),
        cookie: text(&body, "referral_key", &mut e).map(|key| CookieClaim {
            key,
            clicked_at: clicked_at(&body),
        }),
    };
    if input.email.is_none() && input.key.is_none() {
        e.add("email", "The email field is required.");
    }
    if let Err(err) = e.into_result() {
        return ApiError::Validation(err).into_response();
    }
    let now = state.clock.now();
    match referd_core::service::tracking::signup(&*state.store, &program, input, now).await {
        Ok(SignupOutcome::Created { referred }) => wire::data(json!({ "referred": referred })),
        Ok(SignupOutcome::AlreadyKnown | SignupOutcome::NotReferred) => {
            wire::data(json!({ "referred": false }))
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// Clicks and attributed sign-ups of a scope for stats, after the clicks this instance has
/// queued are stored (a stats read sees the clicks made before it).
pub async fn counts(
    state: &AppState,
    program: &referd_core::program::Program,
    scope: referd_core::tracking::TrackingScope,
) -> Result<referd_core::tracking::TrackingCounts, ApiError> {
    state.tracking.flush().await;
    Ok(state
        .store
        .tracking_counts(program.id, scope, None)
        .await
        .map_err(referd_core::CoreError::from)?)
}
