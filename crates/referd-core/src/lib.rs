//! referd's domain: programs, API keys, refer-a-friend customers, partners and affiliate
//! customers, their validation rules and
//! use cases, and the [`store::Store`] port that every storage backend implements.
//!
//! This crate knows nothing about HTTP or SQL (see `docs/ARCHITECTURE.md`): handlers in
//! `referd-api` call [`service`] functions, which validate input, apply the rules and call the
//! store. Time comes in through [`time::Clock`] so rules stay testable.

pub mod affiliate;
pub mod customer;
pub mod customer_link;
pub mod email;
pub mod error;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod page;
pub mod partner;
pub mod password;
pub mod program;
pub mod rules;
pub mod service;
pub mod store;
pub mod time;
pub mod tracking;
pub mod validate;
pub mod webhook;

pub use error::{CoreError, CoreResult};
pub use store::{Store, StoreError, StoreResult};
