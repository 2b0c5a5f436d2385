//! referd's webhook delivery: the worker that drains the transactional outbox
//! ([`worker`]), request signing ([`sign`]), the SSRF guard ([`guard`]), one HTTP attempt
//! ([`send`]) and the retry schedule ([`backoff`]). docs/webhooks.md describes the contract.
//!
//! The outbox rows themselves are written by database triggers (migration 0007), so this
//! crate only reads and updates them through the `WebhookStore` port.

pub mod backoff;
pub mod guard;
pub mod send;
pub mod sign;
pub mod worker;

pub use worker::{Config, Render, Worker};
