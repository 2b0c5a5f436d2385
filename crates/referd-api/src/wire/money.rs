//! Money on the wire: exact amounts per currency as `[{"currency":"USD","amount":1250}]`
//! arrays, and Partnero's display objects `{"usd":"$1,124.90"}` (lower-case currency →
//! formatted string).

use referd_core::ledger::{SalesSummary, UnitSums};
use referd_core::money::{Currency, amount_json, format_money};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Serialize)]
pub struct CurrencyAmount {
    currency: String,
    amount: Value,
}

/// Whether a ledger unit is a currency (rewards may also be in `%` or points).
fn is_currency(unit: &str) -> bool {
    Currency::parse(unit).is_some_and(|c| c.as_str() == unit)
}

/// Non-zero sums per currency, as `[{"currency","amount"}]`.
pub fn per_currency(sums: &UnitSums) -> Vec<CurrencyAmount> {
    sums.iter()
        .filter(|(c, a)| !a.is_zero() && is_currency(c))
        .map(|(c, a)| CurrencyAmount {
            currency: c.clone(),
            amount: amount_json(*a),
        })
        .collect()
}

/// Revenue per currency, as `[{"currency","amount"}]` (`[]` without sales).
pub fn revenue(sales: &SalesSummary) -> Vec<CurrencyAmount> {
    sales
        .by_currency
        .iter()
        .map(|c| CurrencyAmount {
            currency: c.currency.to_string(),
            amount: amount_json(c.revenue),
        })
        .collect()
}

/// `{"usd":"$1,124.90"}` from (currency, amount) pairs.
pub fn formatted<'a>(amounts: impl IntoIterator<Item = (&'a str, Decimal)>) -> Value {
    Value::Object(
        amounts
            .into_iter()
            .map(|(c, a)| (c.to_ascii_lowercase(), Value::from(format_money(c, a))))
            .collect::<Map<_, _>>(),
    )
}

/// Revenue per currency, formatted.
pub fn formatted_revenue(sales: &SalesSummary) -> Value {
    formatted(
        sales
            .by_currency
            .iter()
            .map(|c| (c.currency.as_str(), c.revenue)),
    )
}

/// Non-zero sums per currency, formatted.
pub fn formatted_sums(sums: &UnitSums) -> Value {
    formatted(
        sums.iter()
            .filter(|(c, a)| !a.is_zero() && is_currency(c))
            .map(|(c, a)| (c.as_str(), *a)),
    )
}

/// The average sale per currency (revenue / sales, exact to 28 digits), formatted.
pub fn formatted_average(sales: &SalesSummary) -> Value {
    formatted(
        sales
            .by_currency
            .iter()
            .filter(|c| c.sales > 0)
            .map(|c| (c.currency.as_str(), c.revenue / Decimal::from(c.sales))),
    )
}
