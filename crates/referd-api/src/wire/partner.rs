//! Partner objects (spec §5.1): the full object of `GET /v1/partners/{id}` (with `referrals`
//! and `commissions`), the object of create and update (without them), and the reduced list
//! item. Key order follows the refer-a-friend objects of seed 000, which Partnero's partner
//! resource shares.

use referd_core::ledger::SalesSummary;
use referd_core::money::amount_json;
use referd_core::partner::{Partner, PartnerView};
use referd_core::program::Program;
use referd_core::service::balances::Commissions as LedgerCommissions;
use serde::Serialize;

use crate::wire::money::{CurrencyAmount, per_currency, revenue};
use crate::wire::timestamp;

/// `custom_fields` / `custom_field_values`: sign-up form fields, which API-created partners
/// do not have.
type Empty = [u8; 0];

#[derive(Serialize)]
pub struct Tag<'a> {
    value: &'a str,
}

pub fn tags(tags: &[String]) -> Vec<Tag<'_>> {
    tags.iter().map(|t| Tag { value: t }).collect()
}

/// The parent of a multi-tier partner, as a small object (not in Partnero's documented
/// shape; clients that do not know it ignore it).
#[derive(Serialize)]
pub struct ParentOut<'a> {
    id: &'a str,
    email: &'a str,
    name: Option<&'a str>,
    surname: Option<&'a str>,
    status: &'static str,
}

#[derive(Serialize)]
pub struct PartnerObject<'a> {
    email: &'a str,
    created_at: String,
    updated_at: String,
    name: Option<&'a str>,
    id: &'a str,
    surname: Option<&'a str>,
    tos: bool,
    approved: bool,
    status: &'static str,
    custom_fields: Empty,
    referrals_count: u64,
    tags: Vec<Tag<'a>>,
    referral_link: Option<String>,
    referral_links: Vec<String>,
    referring_partner: Option<ParentOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_field_values: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referrals: Option<Referrals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commissions: Option<Commissions>,
}

/// Clicks, sign-ups and sales of the partner's customers. Sign-ups are its customers; sales
/// are the active transactions credited to it, revenue their sum per currency, paid accounts
/// their distinct buyers. Clicks are counted clicks on its links (docs/tracking.md).
#[derive(Serialize)]
pub struct Referrals {
    clicks: u64,
    signups: u64,
    revenue: Vec<CurrencyAmount>,
    sales_count: u64,
    paid_accounts: u64,
}

/// What the partner earned, from the ledger: `paid` (a number: payouts in the program's
/// currency), `pending` and `not_paid` (`[{"currency","amount"}]` per currency).
#[derive(Serialize)]
pub struct Commissions {
    paid: serde_json::Value,
    pending: Vec<CurrencyAmount>,
    not_paid: Vec<CurrencyAmount>,
}

pub fn commissions(program: &Program, c: &LedgerCommissions) -> Commissions {
    let paid = c
        .paid
        .get(&program.settings.currency)
        .copied()
        .unwrap_or_default();
    Commissions {
        paid: amount_json(paid),
        pending: per_currency(&c.pending),
        not_paid: per_currency(&c.not_paid),
    }
}

/// The partner's link URLs, the default first.
pub fn link_urls(program: &Program, view: &PartnerView) -> Vec<String> {
    view.link_keys
        .iter()
        .filter_map(|k| program.referral_link(k))
        .collect()
}

fn object<'a>(
    program: &Program,
    view: &'a PartnerView,
    earned: Option<(&LedgerCommissions, &SalesSummary)>,
) -> PartnerObject<'a> {
    let with_stats = earned.is_some();
    let p = &view.partner;
    PartnerObject {
        email: &p.email,
        created_at: timestamp(p.created_at),
        updated_at: timestamp(p.updated_at),
        name: p.name.as_deref(),
        id: &p.id,
        surname: p.surname.as_deref(),
        tos: p.tos,
        approved: p.approved,
        status: p.status.as_str(),
        custom_fields: [],
        referrals_count: view.referrals_count,
        tags: tags(&p.tags),
        referral_link: program.referral_link(&view.default_key),
        referral_links: link_urls(program, view),
        referring_partner: view.referring_partner.as_deref().map(|r| ParentOut {
            id: &r.id,
            email: &r.email,
            name: r.name.as_deref(),
            surname: r.surname.as_deref(),
            status: r.status.as_str(),
        }),
        custom_field_values: with_stats.then_some([]),
        referrals: earned.map(|(_, sales)| Referrals {
            clicks: 0,
            signups: view.referrals_count,
            revenue: revenue(sales),
            sales_count: sales.sales,
            paid_accounts: sales.buyers,
        }),
        commissions: earned.map(|(c, _)| commissions(program, c)),
    }
}

impl PartnerObject<'_> {
    /// The partner's counted clicks (docs/tracking.md) in `referrals.clicks`.
    pub fn with_clicks(mut self, clicks: u64) -> Self {
        if let Some(r) = &mut self.referrals {
            r.clicks = clicks;
        }
        self
    }
}

/// `GET /v1/partners/{id}` and `GET /v1/partner`.
pub fn full<'a>(
    program: &Program,
    view: &'a PartnerView,
    earned: &LedgerCommissions,
    sales: &SalesSummary,
) -> PartnerObject<'a> {
    object(program, view, Some((earned, sales)))
}

/// Create and update responses.
pub fn written<'a>(program: &Program, view: &'a PartnerView) -> PartnerObject<'a> {
    object(program, view, None)
}

#[derive(Serialize)]
pub struct PartnerSummary<'a> {
    email: &'a str,
    created_at: String,
    updated_at: String,
    id: &'a str,
    name: Option<&'a str>,
    surname: Option<&'a str>,
    approved: bool,
    status: &'static str,
    custom_fields: Empty,
}

/// A list or search item.
pub fn summary(p: &Partner) -> PartnerSummary<'_> {
    PartnerSummary {
        email: &p.email,
        created_at: timestamp(p.created_at),
        updated_at: timestamp(p.updated_at),
        id: &p.id,
        name: p.name.as_deref(),
        surname: p.surname.as_deref(),
        approved: p.approved,
        status: p.status.as_str(),
        custom_fields: [],
    }
}
