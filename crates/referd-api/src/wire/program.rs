//! Program objects: the `program` block shared by `GET /v1/test` and `GET /v1/program`, the
//! settings blocks, and the overview of each program type.

use referd_core::ledger::RewardsSummary;
use referd_core::money::{amount_json, format_money};
use referd_core::program::Program;
use referd_core::service::programs::{
    AffiliateOverview, ReferralOverview, growth_percent, growth_percent_amount, portal_flag_names,
    program_flag_names, share_hundredths, share_percent,
};
use serde_json::{Map, Value, json};

use crate::wire::money;

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
        // Sales: active transactions (neither archived nor refunded).
        "total_sales": o.sales.sales,
        "total_sales_before": o.sales_before.sales,
        "total_sales_growth": growth_percent(o.sales_before.sales, o.sales.sales),
        "participation": participation,
        "participation_before": participation_before,
        "participation_growth": growth_percent(
            share_hundredths(before.referring, before.customers),
            share_hundredths(now.referring, now.customers),
        ),
        // `[]` without sales, as PHP encodes an empty array.
        "total_revenue_from_sales": if o.sales.by_currency.is_empty() {
            json!([])
        } else {
            money::formatted_revenue(&o.sales)
        },
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
        obj.insert("program_settings".into(), program_settings(p));
        obj.insert("portal_settings".into(), portal_settings(p));
    }
    data
}

/// Every known toggle with its stored value (false when never set), in the documented order.
fn flags(names: &[&str], stored: &std::collections::BTreeMap<String, bool>) -> Map<String, Value> {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                json!(stored.get(*n).copied().unwrap_or(false)),
            )
        })
        .collect()
}

/// `program_settings`: the typed settings, then the type's toggles.
pub fn program_settings(p: &Program) -> Value {
    let s = &p.settings;
    let mut block = Map::new();
    block.insert("currency".into(), json!(s.currency));
    // A string, as Partnero's examples show it.
    block.insert(
        "cookie_lifetime".into(),
        json!(s.cookie_lifetime_days.to_string()),
    );
    block.insert("referral_parameter".into(), json!(p.referral_param()));
    block.insert("link_format".into(), json!(s.link_format.as_str()));
    // Tracking (docs/tracking.md): days after a click within which a sign-up is attributed.
    block.insert(
        "attribution_window".into(),
        json!(
            s.attribution_window_days
                .unwrap_or(s.cookie_lifetime_days)
                .to_string()
        ),
    );
    block.extend(flags(program_flag_names(p.program_type), &s.program_flags));
    Value::Object(block)
}

pub fn portal_settings(p: &Program) -> Value {
    Value::Object(flags(
        portal_flag_names(p.program_type),
        &p.settings.portal_flags,
    ))
}

/// `GET /v1/program` for an affiliate program: `program`, `stats`, `program_settings` and
/// `portal_settings` (spec §4.2). Counts, sales (active transactions), revenue and rewards
/// (the ledger) and clicks (docs/tracking.md) are real. Single-number money
/// figures (`net_profit`, and the growth of revenue and rewards) are in the program's currency.
pub fn affiliate_overview(p: &Program, o: &AffiliateOverview) -> Value {
    let (now, before) = (o.now, o.before);
    let (sales, sales_before) = (&o.sales, &o.sales_before);
    let currency = p.settings.currency.as_str();
    let earned = |r: &RewardsSummary| r.earned.get(currency).copied().unwrap_or_default();
    let net = sales.revenue_in(currency) - earned(&o.rewards);
    let net_before = sales_before.revenue_in(currency) - earned(&o.rewards_before);
    let stats = json!({
        "total_partners": now.partners.to_string(),
        "total_partners_growth": growth_percent(before.partners, now.partners),
        "total_purchases": sales.sales,
        "total_purchases_growth": growth_percent(sales_before.sales, sales.sales),
        "total_signups": now.customers,
        "total_signups_growth": growth_percent(before.customers, now.customers),
        "total_paid_accounts": sales.buyers,
        "total_paid_accounts_growth": growth_percent(sales_before.buyers, sales.buyers),
        "total_reward": money::formatted_sums(&o.rewards.earned),
        "total_reward_growth": growth_percent_amount(earned(&o.rewards_before), earned(&o.rewards)),
        "total_revenue": money::formatted_revenue(sales),
        "total_revenue_growth": growth_percent_amount(
            sales_before.revenue_in(currency),
            sales.revenue_in(currency),
        ),
        "affiliate_referred_visitors_clicks": o.tracking.clicks.to_string(),
        "affiliate_referred_visitors_clicks_growth": growth_percent(
            o.tracking_before.clicks,
            o.tracking.clicks,
        ),
        "click_to_signup_conversion": o.tracking.click_to_signup_percent().to_string(),
        "click_to_signup_conversion_growth": growth_percent_amount(
            o.tracking_before.click_to_signup_percent(),
            o.tracking.click_to_signup_percent(),
        ),
        "signup_to_sale_conversion": share_percent(sales.buyers, now.customers).to_string(),
        "signup_to_sale_conversion_growth": growth_percent(
            share_hundredths(sales_before.buyers, before.customers),
            share_hundredths(sales.buyers, now.customers),
        ),
        "total_paid": money::per_currency(&o.rewards.paid),
        "total_pending": money::per_currency(&o.rewards.pending),
        "net_profit": amount_json(net),
        "net_profit_growth": growth_percent_amount(net_before, net),
        "net_profit_formatted": format_money(currency, net),
        "average_order_value": money::formatted_average(sales),
        "rewards_breakdown": {
            "unclaimed": money::per_currency(&o.rewards.unclaimed()),
            "in_review": money::per_currency(&o.rewards.pending),
            "paid": money::per_currency(&o.rewards.paid),
        },
        "partner_activity": {
            "active": now.active_partners,
            "pending": now.pending_partners,
            "archived": now.archived_partners,
        },
        "payout_status_breakdown": [],
    });
    json!({
        "program": program_block(p),
        "stats": stats,
        "program_settings": program_settings(p),
        "portal_settings": portal_settings(p),
    })
}

/// `GET /v1/program` for a newsletter program (spec §4.2). Subscribers are not recorded yet,
/// so their counts are 0.
pub fn newsletter_overview(p: &Program) -> Value {
    json!({
        "id": p.public_id,
        "name": p.name,
        "esp_type": "custom",
        "esp_type_name": "Custom",
        "total_subscribers": 0,
        "total_referring": 0,
        "total_referred": 0,
        "created_at": p.created_at.to_laravel(),
        "program": program_block(p),
        "program_settings": program_settings(p),
    })
}
