//! Request handlers, one file per resource. Each reads its parameters, calls a use case in
//! `referd_core::service`, and writes the wire shape.

pub mod admin;
pub mod admin_webhooks;
pub mod affiliate_customers;
pub mod customer_links;
pub mod customers;
pub mod fallback;
pub mod invitations;
pub mod listing;
pub mod partner_links;
pub mod partners;
pub mod program;
pub mod tracking;
pub mod transactions;
pub mod webhooks;
