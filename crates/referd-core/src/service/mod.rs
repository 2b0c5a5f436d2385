//! Use cases: each function validates its input, applies the domain rules and calls the
//! store. Handlers call these and only translate wire shapes.

pub mod affiliate_customers;
pub mod audit;
pub mod balances;
pub mod customer_links;
pub mod customers;
pub mod invitations;
pub mod partner_links;
pub mod partners;
pub mod programs;
pub mod rules;
pub mod tracking;
pub mod transactions;
pub mod webhooks;

use crate::error::CoreError;
use crate::store::UniqueField;

fn conflict_message(field: UniqueField) -> (&'static str, &'static str) {
    match field {
        UniqueField::CustomerId => ("id", "The id has already been taken."),
        UniqueField::CustomerKey => ("key", "The key has already been taken."),
        UniqueField::CustomerEmail => ("email", "The email has already been taken."),
        UniqueField::ProgramPublicId => ("public_id", "The public id has already been taken."),
        UniqueField::ApiKey => ("api_key", "The API key has already been taken."),
        UniqueField::PartnerId => ("id", "The id has already been taken."),
        UniqueField::PartnerEmail => ("email", "The email has already been taken."),
        UniqueField::LinkKey => ("key", "The key has already been taken."),
        UniqueField::TransactionKey => ("key", "The key has already been taken."),
        UniqueField::WebhookKey => ("key", "The key has already been taken."),
    }
}

/// Maps a unique conflict to the 422 Laravel would give, with `prefix` for nested forms
/// (`update.`).
pub(crate) fn conflict_error(field: UniqueField, prefix: &str) -> CoreError {
    let (name, message) = conflict_message(field);
    CoreError::field(format!("{prefix}{name}"), message)
}
