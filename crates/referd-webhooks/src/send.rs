//! One HTTP attempt: the signed POST, a 5-second limit, and what the log keeps of the answer
//! (status, latency, the first KiB).

use std::time::{Duration, Instant};

use referd_core::time::Timestamp;
use referd_core::webhook::Attempt;

use crate::guard::{GuardedResolver, literal_refusal};
use crate::sign;

/// Receivers must answer within this (spec §9.3).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an answer the delivery log keeps.
pub const EXCERPT_BYTES: usize = 1024;
/// Redirects followed (each new host goes through the guard again).
const MAX_REDIRECTS: usize = 3;

/// The HTTP client, with the SSRF guard unless `allow_private`.
pub fn client(allow_private: bool) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("referd-webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30));
    if allow_private {
        b = b.redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS));
    } else {
        // Names are checked by the resolver on every connection, redirects included; an
        // IP-literal redirect target never reaches the resolver, so the policy checks it.
        b = b
            .dns_resolver(std::sync::Arc::new(GuardedResolver))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if let Some(why) = literal_refusal(attempt.url()) {
                    attempt.error(why)
                } else {
                    attempt.follow()
                }
            }));
    }
    b.build().map_err(|e| e.to_string())
}

/// What to sign with and send.
pub struct Outgoing<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    /// Standard Webhooks' `webhook-id`: the same on every retry of one delivery.
    pub message_id: &'a str,
    pub secret: &'a str,
    pub previous_secret: Option<&'a str>,
    pub allow_private: bool,
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Sends once; never fails, the outcome is in the [`Attempt`].
pub async fn send(client: &reqwest::Client, out: &Outgoing<'_>, now: Timestamp) -> Attempt {
    let started = Instant::now();
    let failed = |error: String| Attempt {
        attempted_at: now,
        status_code: None,
        latency_ms: started.elapsed().as_millis() as u64,
        response_excerpt: None,
        error: Some(error),
    };
    let url = match reqwest::Url::parse(out.url) {
        Ok(u) => u,
        Err(e) => return failed(format!("invalid URL: {e}")),
    };
    if !out.allow_private
        && let Some(why) = literal_refusal(&url)
    {
        return failed(why);
    }
    let timestamp = now.as_micros() / 1_000_000;
    let mut secrets = vec![out.secret];
    secrets.extend(out.previous_secret);
    let signature = sign::partnero_signature(out.secret, out.body);
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .header("signature", &signature)
        .header("x-partnero-signature", &signature)
        .header("webhook-id", out.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            sign::standard_signatures(&secrets, out.message_id, timestamp, out.body),
        )
        .body(out.body.to_vec());
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return failed(error_chain(&e)),
    };
    let status = response.status().as_u16();
    // Only the first KiB is kept; reading stops there, so a huge answer costs nothing.
    let mut excerpt = Vec::new();
    let mut response = response;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = EXCERPT_BYTES - excerpt.len();
        excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if excerpt.len() >= EXCERPT_BYTES {
            break;
        }
    }
    Attempt {
        attempted_at: now,
        status_code: Some(status),
        latency_ms: started.elapsed().as_millis() as u64,
        response_excerpt: Some(String::from_utf8_lossy(&excerpt).into_owned()),
        error: None,
    }
}
