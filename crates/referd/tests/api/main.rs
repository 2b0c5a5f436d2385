//! referd's API test suite: every request goes through the real router and a real store.
//! Each scenario runs on SQLite and on PostgreSQL (see `helpers`).

mod helpers;

mod admin;
mod affiliate_customers;
mod auth;
mod clients_affiliate;
mod customer_links;
mod customers_create;
mod customers_lifecycle;
mod customers_read;
mod invitations;
mod isolation;
mod ledger;
mod partner_links;
mod partners;
mod program;
mod program_settings;
mod rules;
mod stats;
mod tracking;
mod tracking_affiliate;
mod transactions;
mod webhook_delivery;
mod webhook_events;
mod webhooks;
mod wire;
