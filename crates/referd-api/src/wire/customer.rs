//! Refer-a-friend customer objects, field for field as seed 000 shows them: the full object
//! (create, get, update), the nested `referring_customer`, and the reduced list item.

use referd_core::customer::{Customer, CustomerView, ReferrerView};
use referd_core::program::Program;
use serde::Serialize;

use crate::wire::timestamp;

#[derive(Serialize)]
pub struct Metadata<'a> {
    date_of_birth: Option<&'a str>,
}

/// `custom_fields` is `[]` in every refer-a-friend example of seed 000.
type NoCustomFields = [u8; 0];

#[derive(Serialize)]
pub struct CustomerFull<'a> {
    email: Option<&'a str>,
    created_at: String,
    updated_at: String,
    name: Option<&'a str>,
    id: &'a str,
    surname: Option<&'a str>,
    tos: bool,
    approved: bool,
    status: &'static str,
    custom_fields: NoCustomFields,
    referring_customer: Option<ReferrerOut<'a>>,
    referrals_count: u64,
    metadata: Metadata<'a>,
    referral_link: Option<String>,
    referral_links: Vec<String>,
}

/// The nested referrer: the full object without links, and never nested further.
#[derive(Serialize)]
pub struct ReferrerOut<'a> {
    email: Option<&'a str>,
    created_at: String,
    updated_at: String,
    name: Option<&'a str>,
    id: &'a str,
    surname: Option<&'a str>,
    tos: bool,
    approved: bool,
    status: &'static str,
    custom_fields: NoCustomFields,
    referring_customer: Option<()>,
    referrals_count: u64,
    metadata: Metadata<'a>,
}

/// A list, search or referrals item.
#[derive(Serialize)]
pub struct CustomerSummary<'a> {
    email: Option<&'a str>,
    created_at: String,
    updated_at: String,
    id: &'a str,
    name: Option<&'a str>,
    surname: Option<&'a str>,
    approved: bool,
    status: &'static str,
    custom_fields: NoCustomFields,
}

/// The customer's referral links (today: its default link).
pub fn referral_links(program: &Program, customer: &Customer) -> Vec<String> {
    program.referral_link(&customer.key).into_iter().collect()
}

pub fn full<'a>(program: &Program, view: &'a CustomerView) -> CustomerFull<'a> {
    let c = &view.customer;
    let links = referral_links(program, c);
    CustomerFull {
        email: c.email.as_deref(),
        created_at: timestamp(c.created_at),
        updated_at: timestamp(c.updated_at),
        name: c.name.as_deref(),
        id: &c.id,
        surname: c.surname.as_deref(),
        tos: true,
        approved: true,
        status: c.status.as_str(),
        custom_fields: [],
        referring_customer: view.referrer.as_deref().map(referrer),
        referrals_count: view.referrals_count,
        metadata: Metadata {
            date_of_birth: c.date_of_birth.as_deref(),
        },
        referral_link: links.first().cloned(),
        referral_links: links,
    }
}

fn referrer(r: &ReferrerView) -> ReferrerOut<'_> {
    let c = &r.customer;
    ReferrerOut {
        email: c.email.as_deref(),
        created_at: timestamp(c.created_at),
        updated_at: timestamp(c.updated_at),
        name: c.name.as_deref(),
        id: &c.id,
        surname: c.surname.as_deref(),
        tos: true,
        approved: true,
        status: c.status.as_str(),
        custom_fields: [],
        referring_customer: None,
        referrals_count: r.referrals_count,
        metadata: Metadata {
            date_of_birth: c.date_of_birth.as_deref(),
        },
    }
}

pub fn summary(c: &Customer) -> CustomerSummary<'_> {
    CustomerSummary {
        email: c.email.as_deref(),
        created_at: timestamp(c.created_at),
        updated_at: timestamp(c.updated_at),
        id: &c.id,
        name: c.name.as_deref(),
        surname: c.surname.as_deref(),
        approved: true,
        status: c.status.as_str(),
        custom_fields: [],
    }
}
