//! Use cases: each function validates its input, applies the domain rules and calls the
//! store. Handlers call these and only translate wire shapes.

pub mod customers;
pub mod programs;
