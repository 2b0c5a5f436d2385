//! `limit`, `page` and `sort` of list endpoints, validated, and where the page lives.

use axum::http::Uri;
use referd_core::page::{PageRequest, SortOrder};
use referd_core::validate::FieldErrors;

use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;
use crate::wire::page::PageLocation;

/// Allowed `limit` values and the default, per endpoint (spec §1.5).
#[derive(Debug, Clone, Copy)]
pub struct LimitRule {
    pub default: u32,
    pub min: u32,
    pub max: u32,
}

/// Customers, partners, transactions: 1–250, default 15.
pub const STANDARD_LIMIT: LimitRule = LimitRule {
    default: 15,
    min: 1,
    max: 250,
};

/// A customer's transactions (refer-a-friend): 10–100, default 10.
pub const CUSTOMER_TRANSACTIONS_LIMIT: LimitRule = LimitRule {
    default: 10,
    min: 10,
    max: 100,
};

/// Parses `limit`, `page` and `sort`. Out-of-range values are a 422 that says the range,
/// not silently clamped: a client asking for 500 rows should learn it gets at most 250.
pub fn page_request(p: &Params, rule: LimitRule) -> Result<PageRequest, ApiError> {
    let mut errors = FieldErrors::new();
    let limit = p.integer(&["limit"], &mut errors);
    let page = p.integer(&["page"], &mut errors);
    let sort = p.string(&["sort"], &mut errors);
    if let Some(l) = limit
        && (l < i64::from(rule.min) || l > i64::from(rule.max))
    {
        errors.add(
            "limit",
            format!(
                "The limit field must be between {} and {}.",
                rule.min, rule.max
            ),
        );
    }
    if let Some(pg) = page
        && !(1..=i64::from(u32::MAX / 2)).contains(&pg)
    {
        errors.add("page", "The page field must be at least 1.");
    }
    let sort = match sort.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => SortOrder::Asc,
        Some("desc") => SortOrder::Desc,
        Some(_) => {
            errors.add("sort", "The selected sort is invalid (asc or desc).");
            SortOrder::Asc
        }
    };
    errors.into_result()?;
    Ok(PageRequest {
        page: page.map_or(1, |p| p as u32),
        per_page: limit.map_or(rule.default, |l| l as u32),
        sort,
    })
}

/// The page's absolute path and the list parameters its links keep (`limit` and `sort`
/// when given, then the endpoint's filters).
pub fn location(
    state: &AppState,
    uri: &Uri,
    p: &Params,
    filters: &[(&str, Option<String>)],
) -> PageLocation {
    let mut params = Vec::new();
    for name in ["limit", "sort"] {
        let mut ignored = FieldErrors::new();
        if let Some(v) = p.string(&[name], &mut ignored) {
            params.push((name.to_string(), v));
        }
    }
    for (name, value) in filters {
        if let Some(v) = value {
            params.push((name.to_string(), v.clone()));
        }
    }
    PageLocation {
        path: format!("{}{}", state.public_url, uri.path()),
        params,
    }
}
