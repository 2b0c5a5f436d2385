//! Program use cases: creating a program with its first key, the numbers behind
//! `GET /v1/program`, `PUT /v1/program` (and the PHP SDK's `PUT /v1/settings`), and the
//! two-step `DELETE /v1/program`.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};

use crate::error::{CoreError, CoreResult};
use crate::ids::{ProgramType, generate_api_key, new_confirmation_code, new_public_id};
use crate::ledger::{RewardsSummary, SalesScope, SalesSummary};
use crate::program::{
    AffiliateCounts, LinkFormat, NewProgram, Program, ProgramPatch, ReferralCounts,
};
use crate::store::{Store, StoreError, UniqueField};
use crate::time::Timestamp;
use crate::validate::{FieldErrors, MAX_STRING_LEN};

/// How many fresh public ids are tried if one collides (8 characters of 32 symbols).
const PUBLIC_ID_ATTEMPTS: usize = 5;

/// The "before" of `*_before` / `*_growth` statistics: this many days ago.
pub const GROWTH_WINDOW_DAYS: i64 = 30;

/// Checks a program name and website as the CLI and `PUT /v1/program` accept them.
pub fn validate_program_fields(name: &str, website: Option<&str>) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    if name.trim().is_empty() {
        errors.add("name", "The name field is required.");
    } else if name.chars().count() > MAX_STRING_LEN {
        errors.add(
            "name",
            "The name field must not be greater than 255 characters.",
        );
    } else if name.chars().any(char::is_control) {
        errors.add(
            "name",
            "The name field must not contain control characters.",
        );
    }
    if let Some(w) = website {
        let ok = (w.starts_with("https://") || w.starts_with("http://"))
            && w.len() > "https://".len()
            && w.len() <= 250
            && !w.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            errors.add("website", "The website format is invalid.");
        }
    }
    errors.into_result()
}

/// Creates a program and its first API key; returns the program and the key's secret
/// (shown once, stored only as a hash).
pub async fn create(
    store: &dyn Store,
    program_type: ProgramType,
    name: &str,
    website: Option<&str>,
    now: Timestamp,
) -> CoreResult<(Program, String)> {
    validate_program_fields(name, website)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let key = generate_api_key();
        let new = NewProgram {
            public_id: new_public_id(),
            program_type,
            name: name.trim().to_string(),
            website: website.map(|w| w.trim_end_matches('/').to_string()),
            created_at: now,
        };
        match store.create_program(new, key.hash, key.hint).await {
            Ok((program, _key_id)) => return Ok((program, key.secret)),
            Err(StoreError::Conflict(UniqueField::ProgramPublicId | UniqueField::ApiKey))
                if attempt < PUBLIC_ID_ATTEMPTS => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Counts and sales now and as they were [`GROWTH_WINDOW_DAYS`] ago.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralOverview {
    pub now: ReferralCounts,
    pub before: ReferralCounts,
    pub sales: SalesSummary,
    pub sales_before: SalesSummary,
}

pub async fn referral_overview(
    store: &dyn Store,
    program: &Program,
    now: Timestamp,
) -> CoreResult<ReferralOverview> {
    let then = now.minus_days(GROWTH_WINDOW_DAYS);
    Ok(ReferralOverview {
        now: store.referral_counts(program.id, None).await?,
        before: store.referral_counts(program.id, Some(then)).await?,
        sales: store
            .sales_summary(program.id, SalesScope::Program, None)
            .await?,
        sales_before: store
            .sales_summary(program.id, SalesScope::Program, Some(then))
            .await?,
    })
}

/// Affiliate counts, sales and rewards now and as they were [`GROWTH_WINDOW_DAYS`] ago.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffiliateOverview {
    pub now: AffiliateCounts,
    pub before: AffiliateCounts,
    pub sales: SalesSummary,
    pub sales_before: SalesSummary,
    pub rewards: RewardsSummary,
    pub rewards_before: RewardsSummary,
    /// Clicks and attributed sign-ups (docs/tracking.md), now and before.
    pub tracking: crate::tracking::TrackingCounts,
    pub tracking_before: crate::tracking::TrackingCounts,
}

pub async fn affiliate_overview(
    store: &dyn Store,
    program: &Program,
    now: Timestamp,
) -> CoreResult<AffiliateOverview> {
    let then = now.minus_days(GROWTH_WINDOW_DAYS);
    Ok(AffiliateOverview {
        now: store.affiliate_counts(program.id, None).await?,
        before: store.affiliate_counts(program.id, Some(then)).await?,
        sales: store
            .sales_summary(program.id, SalesScope::Program, None)
            .await?,
        sales_before: store
            .sales_summary(program.id, SalesScope::Program, Some(then))
            .await?,
        rewards: store.rewards_summary(program.id, now, None).await?,
        rewards_before: store.rewards_summary(program.id, now, Some(then)).await?,
        tracking: store
            .tracking_counts(program.id, crate::tracking::TrackingScope::Program, None)
            .await?,
        tracking_before: store
            .tracking_counts(
                program.id,
                crate::tracking::TrackingScope::Program,
                Some(then),
            )
            .await?,
    })
}

/// How long the confirmation code of `DELETE /v1/program` stays valid (Partnero: 20 s).
pub const DELETE_CODE_SECONDS: i64 = 20;

/// The boolean toggles `program_settings` accepts, per program type (spec §4.3).
pub fn program_flag_names(kind: ProgramType) -> &'static [&'static str] {
    match kind {
        ProgramType::Affiliate => &[
            "welcome_email_enabled",
            "onboarding_enabled",
            "partner_email_notifications_enabled",
            // Tracking (docs/tracking.md).
            "first_click_attribution",
            "public_signup_disabled",
        ],
        ProgramType::Referral => &[
            "referral_portal_enabled",
            "rewards_notification_enabled",
            // Tracking (docs/tracking.md).
            "first_click_attribution",
            "public_signup_disabled",
        ],
        ProgramType::Newsletter => &[],
    }
}

/// The boolean toggles `portal_settings` accepts, per program type (spec §4.3).
pub fn portal_flag_names(kind: ProgramType) -> &'static [&'static str] {
    match kind {
        ProgramType::Affiliate => &[
            "program_page_enabled",
            "leads_page_enabled",
            "registration_disabled",
            "google_login_enabled",
            "passwordless_login_enabled",
            "sub_accounts_enabled",
            "widget_enabled",
            "signup_popup_enabled",
            "embeddable_form_enabled",
        ],
        ProgramType::Referral => &[
            "registration_disabled",
            "program_page_enabled",
            "widget_enabled",
            "embeddable_form_enabled",
            "popup_form_enabled",
        ],
        ProgramType::Newsletter => &[],
    }
}

/// `PUT /v1/program` as sent: every part optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgramUpdate {
    pub name: Option<String>,
    pub website: Option<String>,
    pub program_settings: Option<Map<String, Value>>,
    pub portal_settings: Option<Map<String, Value>>,
}

/// A boolean as clients send one: `true`/`false`, `1`/`0`, or those as strings.
fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Some(true),
            "false" | "0" | "off" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A number of days, 1–9,999,999, sent as a number or a numeric string.
fn days(value: &Value, field: &str, errors: &mut FieldErrors) -> Option<u32> {
    let days = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match days {
        Some(d) if (1..=9_999_999).contains(&d) => u32::try_from(d).ok(),
        _ => {
            errors.add(
                field,
                format!("The {field} field must be a whole number of days between 1 and 9999999."),
            );
            None
        }
    }
}

/// Reads the typed settings and the known toggles of `program_settings`; an unknown name is
/// a 422 naming it (a misspelt setting silently ignored is a setting never applied).
fn read_program_settings(
    kind: ProgramType,
    section: &Map<String, Value>,
    prefix: &str,
    patch: &mut ProgramPatch,
    errors: &mut FieldErrors,
) {
    for (name, value) in section {
        let field = format!("{prefix}{name}");
        if value.is_null() {
            continue;
        }
        match name.as_str() {
            "currency" => match value.as_str().map(str::trim) {
                Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
                    patch.currency = Some(c.to_ascii_uppercase());
                }
                _ => errors.add(
                    &field,
                    format!("The {field} field must be a 3-letter ISO 4217 currency code."),
                ),
            },
            "cookie_lifetime" => patch.cookie_lifetime_days = days(value, &field, errors),
            "referral_parameter" => match value.as_str() {
                Some(p)
                    if (1..=32).contains(&p.len())
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    patch.referral_param = Some(p.to_string());
                }
                _ => errors.add(
                    &field,
                    format!("The {field} field must be 1 to 32 letters, digits, '_' or '-'."),
                ),
            },
            "attribution_window" => {
                patch.attribution_window_days = days(value, &field, errors);
            }
            "link_format" => match value.as_str().and_then(LinkFormat::parse) {
                Some(f) => patch.link_format = Some(f),
                None => errors.add(&field, format!("The {field} field must be query or path.")),
            },
            flag if program_flag_names(kind).contains(&flag) => match as_bool(value) {
                Some(b) => {
                    patch.program_flags.insert(flag.to_string(), b);
                }
                None => errors.add(&field, format!("The {field} field must be true or false.")),
            },
            _ => errors.add(&field, format!("The {field} setting is not supported.")),
        }
    }
}

fn read_portal_settings(
    kind: ProgramType,
    section: &Map<String, Value>,
    patch: &mut ProgramPatch,
    errors: &mut FieldErrors,
) {
    for (name, value) in section {
        let field = format!("portal_settings.{name}");
        if value.is_null() {
            continue;
        }
        if !portal_flag_names(kind).contains(&name.as_str()) {
            errors.add(&field, format!("The {field} setting is not supported."));
            continue;
        }
        match as_bool(value) {
            Some(b) => {
                patch.portal_flags.insert(name.clone(), b);
            }
            None => errors.add(&field, format!("The {field} field must be true or false.")),
        }
    }
}

/// Validates an update into a patch; `settings_prefix` names the `program_settings` object
/// in errors (`settings.` for `PUT /v1/settings`).
pub fn validate_update(
    program: &Program,
    update: &ProgramUpdate,
    settings_prefix: &str,
) -> CoreResult<ProgramPatch> {
    let mut errors = FieldErrors::new();
    let name = update.name.as_deref().unwrap_or(&program.name);
    if let Err(e) = validate_program_fields(name, update.website.as_deref()) {
        for (field, messages) in e.iter() {
            for m in messages {
                errors.add(field, m.clone());
            }
        }
    }
    let mut patch = ProgramPatch {
        name: update.name.as_ref().map(|n| n.trim().to_string()),
        website: update
            .website
            .as_ref()
            .map(|w| w.trim_end_matches('/').to_string()),
        ..ProgramPatch::default()
    };
    if let Some(section) = &update.program_settings {
        read_program_settings(
            program.program_type,
            section,
            settings_prefix,
            &mut patch,
            &mut errors,
        );
    }
    if let Some(section) = &update.portal_settings {
        read_portal_settings(program.program_type, section, &mut patch, &mut errors);
    }
    errors.into_result()?;
    Ok(patch)
}

/// Applies `PUT /v1/program`; answers the program as stored.
pub async fn update(
    store: &dyn Store,
    program: &Program,
    update: &ProgramUpdate,
    settings_prefix: &str,
    now: Timestamp,
) -> CoreResult<Program> {
    let patch = validate_update(program, update, settings_prefix)?;
    if patch.is_empty() {
        return Ok(program.clone());
    }
    Ok(store.update_program(program.id, &patch, now).await?)
}

/// Step one of `DELETE /v1/program`: a fresh code, valid for [`DELETE_CODE_SECONDS`].
pub async fn request_delete(
    store: &dyn Store,
    program: &Program,
    now: Timestamp,
) -> CoreResult<String> {
    let code = new_confirmation_code();
    let expires = Timestamp::from_micros(now.as_micros() + DELETE_CODE_SECONDS * 1_000_000);
    store
        .set_program_delete_code(program.id, &code, expires)
        .await?;
    Ok(code)
}

/// Step two: deletes the program and everything in it when `code` is its unexpired code.
pub async fn confirm_delete(
    store: &dyn Store,
    program: &Program,
    code: &str,
    now: Timestamp,
) -> CoreResult<()> {
    if store.delete_program(program.id, code, now).await? {
        Ok(())
    } else {
        Err(CoreError::field(
            "confirmation_code",
            format!(
                "The confirmation code is invalid or has expired (codes are valid for {DELETE_CODE_SECONDS} seconds; call DELETE /v1/program without one to get a new code)."
            ),
        ))
    }
}

/// Growth in percent from `before` to `now`, to two decimals, as a JSON-ready number:
/// 0 when there was nothing before (no division by zero, no infinity).
pub fn growth_percent(before: u64, now: u64) -> serde_json::Number {
    if before == 0 {
        return serde_json::Number::from(0);
    }
    // Exact integer arithmetic in hundredths of a percent, rounded half away from zero.
    let diff = i128::from(now) - i128::from(before);
    let scaled = diff * 10_000;
    let b = i128::from(before);
    let hundredths = (scaled + scaled.signum() * b / 2) / b;
    decimal_hundredths(hundredths)
}

/// [`growth_percent`] of exact amounts: the change from `before` in percent of its size, to
/// two decimals (0 when `before` is 0).
pub fn growth_percent_amount(before: Decimal, now: Decimal) -> serde_json::Number {
    if before.is_zero() {
        return serde_json::Number::from(0);
    }
    let hundredths = ((now - before) * Decimal::from(10_000) / before.abs())
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i128::try_from(hundredths).map_or_else(|_| serde_json::Number::from(0), decimal_hundredths)
}

/// `part / whole` in percent, to two decimals (0 when `whole` is 0).
pub fn share_percent(part: u64, whole: u64) -> serde_json::Number {
    decimal_hundredths(i128::from(share_hundredths(part, whole)))
}

/// `part / whole` in hundredths of a percent, rounded half up (0 when `whole` is 0).
pub fn share_hundredths(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    let scaled = u128::from(part) * 10_000;
    let w = u128::from(whole);
    u64::try_from((scaled + w / 2) / w).unwrap_or(u64::MAX)
}

/// A number of hundredths as a JSON number without binary floating point in between.
fn decimal_hundredths(h: i128) -> serde_json::Number {
    if h % 100 == 0 {
        return serde_json::Number::from((h / 100) as i64);
    }
    let sign = if h < 0 { "-" } else { "" };
    let a = h.abs();
    let text = format!("{sign}{}.{:02}", a / 100, a % 100);
    let text = text.trim_end_matches('0');
    // serde_json parses the decimal text to the nearest double; this is display only.
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Number::from(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth() {
        assert_eq!(growth_percent(0, 5).to_string(), "0");
        assert_eq!(growth_percent(4, 5).to_string(), "25");
        assert_eq!(growth_percent(3, 4).to_string(), "33.33");
        assert_eq!(growth_percent(3, 5).to_string(), "66.67");
        assert_eq!(growth_percent(4, 2).to_string(), "-50");
        assert_eq!(share_percent(1, 3).to_string(), "33.33");
        assert_eq!(share_percent(0, 0).to_string(), "0");
        assert_eq!(share_percent(1, 8).to_string(), "12.5");
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let amount = |b, n| growth_percent_amount(d(b), d(n)).to_string();
        assert_eq!(amount("0", "5"), "0");
        assert_eq!(amount("50", "135"), "170");
        assert_eq!(amount("99.99", "100"), "0.01");
        assert_eq!(amount("3", "4"), "33.33");
        assert_eq!(amount("-10", "5"), "150");
        assert_eq!(amount("200", "100"), "-50");
    }

    #[test]
    fn program_fields() {
        assert!(validate_program_fields("Acme", Some("https://acme.test")).is_ok());
        assert!(validate_program_fields(" ", None).is_err());
        assert!(validate_program_fields("Acme", Some("acme.test")).is_err());
        assert!(validate_program_fields("Acme", Some("https://a b")).is_err());
        assert!(validate_program_fields("Ac\0me", None).is_err());
        assert!(validate_program_fields("Acme", Some("https://a\0b")).is_err());
    }
}
