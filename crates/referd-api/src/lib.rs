//! referd's HTTP layer: the Partnero v1 route table ([`router`]), the extractors that turn
//! requests into domain input ([`extract`]), the wire shapes of responses ([`wire`]) and the
//! one place where errors become status codes ([`error`]).
//!
//! It depends on `referd-core` only and holds the store as `Arc<dyn Store>`: it never names
//! a database backend.

pub mod error;
pub mod events;
pub mod extract;
mod handlers;
mod idempotency;
mod router;
pub mod state;
pub mod tracking;
pub mod wire;

pub use router::router;
pub use state::AppState;
