//! Program objects: the `program` block shared by `GET /v1/test` and `GET /v1/program`, and
//! the refer-a-friend overview.

use referd_core::program::Program;
use referd_core::service::programs::{
    ReferralOverview, growth_percent, share_hundredths, share_percent,
};
use serde_json::{Value, json};

/// Default cookie lifetime in days, as Partnero documents it (configurable per program once
/// program settings land).
pub const DEFAULT_COOKIE_LIFETIME_DAYS: u32 = 30;
pub const DEFAULT_CURRENCY: &str = "USD";

pub fn program_block(p: &Program) -> Value {
    json!({
        "id": p.id.0,
        "public_id": p.public_id,
        "website": p.website,
        "initial": p.initial(),
        "type": p.program_type.display_name(),
        "name": p.name,
        "created_at": p.created_at.to_date(),
        "last_edited": p.updated_at.to_date(),
    })
}

/// `GET /v1/program` for a refer-a-friend program: the flat fields of the older reference
/// plus the `stats` / `program_settings` / `portal_settings` blocks of the newer one, so
/// clients written against either find what they read.
pub fn referral_overview(p: &Program, o: &ReferralOverview) -> Value {
    let (now, before) = (o.now, o.before);
    let participation = share_percent(now.referring, now.customers);
    let participation_before = share_percent(before.referring, before.customers);
    let stats = json!({
        "total_customers": now.customers,
        "total_customers_before": before.customers,
        "total_customers_growth": growth_percent(before.customers, now.customers),
        "total_referring_customers": now.referring,
        "total_referring_customers_before": before.referring,
        "total_referring_customers_growth": growth_percent(before.referring, now.referring),
        "total_referred_customers": now.referred,
        "total_referred_customers_before": before.referred,
        "total_referred_customers_growth": growth_percent(before.referred, now.referred),
        // Sales and revenue come from transactions, which are not recorded yet.
        "total_sales": 0,
        "total_sales_before": 0,
        "total_sales_growth": 0,
        "participation": participation,
        "participation_before": participation_before,
        "participation_growth": growth_percent(
            share_hundredths(before.referring, before.customers),
            share_hundredths(now.referring, now.customers),
        ),
        "total_revenue_from_sales": [],
    });
    let mut data = json!({ "program": program_block(p), "active_rewards": [] });
    if let (Some(obj), Some(flat)) = (data.as_object_mut(), stats.as_object()) {
        for (k, v) in flat {
            obj.insert(k.clone(), v.clone());
        }
        obj.insert(
            "overview_program_current_settings".into(),
            json!({ "partner_portal_url": null, "website_url": p.website }),
        );
        obj.insert("stats".into(), stats.clone());
        obj.insert(
            "program_settings".into(),
            json!({
                "currency": DEFAULT_CURRENCY,
                "cookie_lifetime": DEFAULT_COOKIE_LIFETIME_DAYS.to_string(),
                "referral_portal_enabled": false,
                "rewards_notification_enabled": false,
            }),
        );
        obj.insert(
            "portal_settings".into(),
            json!({
                "registration_disabled": false,
                "program_page_enabled": false,
                "widget_enabled": false,
                "embeddable_form_enabled": false,
                "popup_form_enabled": false,
            }),
        );
    }
    data
}
