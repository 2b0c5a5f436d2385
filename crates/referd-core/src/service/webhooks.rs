//! Webhook subscriptions (spec §9.1): validation, keys and secrets, and secret rotation.
//! Delivery itself is the `referd-webhooks` crate's job.

use rand::Rng;

use crate::error::{CoreError, CoreResult};
use crate::page::{Page, PageRequest};
use crate::program::Program;
use crate::service::conflict_error;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::validate::{FieldErrors, check_identifier, check_text};
use crate::webhook::{NewWebhook, Webhook, WebhookPatch, supported_events};

/// Longest accepted URL; receivers' URLs are short, and the column is shown in the admin log.
const MAX_URL_LEN: usize = 2048;

/// What a create or an update request gives (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub key: Option<String>,
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub is_active: Option<bool>,
}

fn random_alnum(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A webhook key like Partnero's (`uLbBzVvN7ARX`: 12 letters and digits).
pub fn new_webhook_key() -> String {
    random_alnum(12)
}

/// A signing secret: 32 letters and digits (~190 bits; Partnero's are 16 characters, which
/// receivers treat as an opaque string).
pub fn new_webhook_secret() -> String {
    random_alnum(32)
}

/// `http://` or `https://`, a host, no whitespace. Whether the host may be reached is decided
/// at delivery, after DNS resolution (the SSRF guard), since names can change address.
fn check_url(e: &mut FieldErrors, field: &str, url: &str) {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let authority = r.split(['/', '?', '#']).next().unwrap_or("");
        !authority.is_empty() && !authority.contains('@')
    });
    if !host_ok {
        e.add(
            field,
            format!("The {field} must be a valid http or https URL."),
        );
    } else if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        e.add(
            field,
            format!("The {field} must be a valid URL of at most {MAX_URL_LEN} characters."),
        );
    }
}

fn check_events(e: &mut FieldErrors, field: &str, program: &Program, events: &[String]) {
    if events.is_empty() {
        e.add(
            field,
            format!("The {field} field must have at least 1 item."),
        );
        return;
    }
    let supported = supported_events(program.program_type);
    for (i, event) in events.iter().enumerate() {
        if !supported.contains(&event.as_str()) {
            e.add(
                format!("{field}.{i}"),
                format!(
                    "The event {event} is not supported by {} programs (supported: {}).",
                    program.program_type.as_str(),
                    supported.join(", ")
                ),
            );
        }
    }
}

/// Events without repeats, in the order given.
fn dedup(events: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

pub async fn create(
    store: &dyn Store,
    program: &Program,
    input: WebhookInput,
    now: Timestamp,
) -> CoreResult<Webhook> {
    let mut e = FieldErrors::new();
    if let Some(key) = &input.key {
        check_identifier(&mut e, "key", key);
    }
    match &input.name {
        None => e.add("name", "The name field is required."),
        Some(n) => check_text(&mut e, "name", n),
    }
    match &input.url {
        None => e.add("url", "The url field is required."),
        Some(u) => check_url(&mut e, "url", u),
    }
    match &input.events {
        None => e.add("events", "The events field is required."),
        Some(ev) => check_events(&mut e, "events", program, ev),
    }
    e.into_result()?;
    let new = NewWebhook {
        program_id: program.id,
        key: input.key.unwrap_or_else(new_webhook_key),
        name: input.name.unwrap_or_default(),
        url: input.url.unwrap_or_default(),
        events: dedup(input.events.unwrap_or_default()),
        is_active: input.is_active.unwrap_or(true),
        secret: new_webhook_secret(),
        now,
    };
    store.insert_webhook(new).await.map_err(|err| match err {
        StoreError::Conflict(f) => conflict_error(f, ""),
        other => other.into(),
    })
}

pub async fn get(store: &dyn Store, program: &Program, key: &str) -> CoreResult<Webhook> {
    store
        .find_webhook(program.id, key)
        .await?
        .ok_or(CoreError::NotFound("Webhook"))
}

pub async fn list(
    store: &dyn Store,
    program: &Program,
    page: PageRequest,
) -> CoreResult<Page<Webhook>> {
    let rows = store.list_webhooks(program.id, page).await?;
    Ok(Page::from_rows(rows, page))
}

/// Applies the given fields; `prefix` is `update.` when the request wrapped them.
pub async fn update(
    store: &dyn Store,
    program: &Program,
    key: &str,
    input: WebhookInput,
    prefix: &str,
    now: Timestamp,
) -> CoreResult<Webhook> {
    let found = get(store, program, key).await?;
    let mut e = FieldErrors::new();
    if let Some(n) = &input.name {
        check_text(&mut e, &format!("{prefix}name"), n);
    }
    if let Some(u) = &input.url {
        check_url(&mut e, &format!("{prefix}url"), u);
    }
    if let Some(ev) = &input.events {
        check_events(&mut e, &format!("{prefix}events"), program, ev);
    }
    e.into_result()?;
    let patch = WebhookPatch {
        name: input.name,
        url: input.url,
        events: input.events.map(dedup),
        is_active: input.is_active,
    };
    if patch.is_empty() {
        return Ok(found);
    }
    store
        .update_webhook(program.id, found.row_id, &patch, now)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => CoreError::NotFound("Webhook"),
            other => other.into(),
        })
}

pub async fn delete(store: &dyn Store, program: &Program, key: &str) -> CoreResult<()> {
    let found = get(store, program, key).await?;
    if store.delete_webhook(program.id, found.row_id).await? {
        Ok(())
    } else {
        Err(CoreError::NotFound("Webhook"))
    }
}

/// Longest overlap a rotation may keep the old secret signing: a week.
pub const MAX_OVERLAP_HOURS: i64 = 168;

/// A new signing secret; the old one keeps signing (a second signature) for `overlap_hours`
/// so receivers can switch without missing a delivery.
pub async fn rotate_secret(
    store: &dyn Store,
    program: &Program,
    key: &str,
    overlap_hours: i64,
    now: Timestamp,
) -> CoreResult<Webhook> {
    if !(0..=MAX_OVERLAP_HOURS).contains(&overlap_hours) {
        return Err(CoreError::field(
            "overlap_hours",
            format!("The overlap_hours must be between 0 and {MAX_OVERLAP_HOURS}."),
        ));
    }
    let found = get(store, program, key).await?;
    let until = Timestamp::from_micros(now.as_micros() + overlap_hours * 3_600_000_000);
    store
        .rotate_webhook_secret(program.id, found.row_id, new_webhook_secret(), until, now)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => CoreError::NotFound("Webhook"),
            other => other.into(),
        })
}
