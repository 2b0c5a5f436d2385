//! Request handlers, one file per resource. Each is thin: read parameters, call a
//! `referd_core::service` function, shape the answer.

pub mod customers;
pub mod fallback;
pub mod listing;
pub mod program;
