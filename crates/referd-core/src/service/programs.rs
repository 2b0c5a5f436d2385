//! Program use cases: creating a program with its first key, and the numbers behind
//! `GET /v1/program` for refer-a-friend programs.

use crate::error::CoreResult;
use crate::ids::{ProgramType, generate_api_key, new_public_id};
use crate::program::{NewProgram, Program, ReferralCounts};
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

/// Counts now and as they were [`GROWTH_WINDOW_DAYS`] ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralOverview {
    pub now: ReferralCounts,
    pub before: ReferralCounts,
}

pub async fn referral_overview(
    store: &dyn Store,
    program: &Program,
    now: Timestamp,
) -> CoreResult<ReferralOverview> {
    let current = store.referral_counts(program.id, None).await?;
    let before = store
        .referral_counts(program.id, Some(now.minus_days(GROWTH_WINDOW_DAYS)))
        .await?;
    Ok(ReferralOverview {
        now: current,
        before,
    })
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
