//! Exact money: a decimal amount (never binary floating point) and its currency.
//!
//! Amounts arrive as JSON numbers (`99.99`) or strings (`"99.99"`). A JSON number is read by
//! serde_json as a double; its shortest round-trip text is the text that was sent whenever that
//! text has at most 15 significant digits (every double recovers any 15-digit decimal), so it
//! is parsed from that text, never from the double's binary value. Longer amounts must be sent
//! as strings, and are refused as numbers rather than silently changed.
//!
//! Arithmetic is `rust_decimal` (96-bit integer mantissa, scale up to 28): 30% of 99.99 is
//! exactly 29.997, as Partnero answers. Rounding happens only where a program asks for it
//! ([`Rounding`]).

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// A currency code as stored: three upper-case ASCII letters (ISO 4217 shape).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency(String);

impl Currency {
    /// Accepts `usd`, `USD`, ` Usd `; refuses anything but three letters.
    pub fn parse(raw: &str) -> Option<Self> {
        let code = raw.trim();
        (code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| Self(code.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An exact amount in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

/// Most significant digits a JSON *number* may carry (see the module docs).
pub const MAX_NUMBER_DIGITS: usize = 15;

/// Why an amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    NotANumber,
    /// A JSON number with more than [`MAX_NUMBER_DIGITS`] significant digits.
    TooPrecise,
    /// Outside what an amount may be (more than 28 digits, or not finite).
    OutOfRange,
}

/// Reads an amount from a JSON number or a decimal string, exactly.
pub fn parse_amount(value: &Value) -> Result<Decimal, AmountError> {
    match value {
        Value::Number(n) => {
            let text = n.to_string();
            if significant_digits(&text) > MAX_NUMBER_DIGITS {
                return Err(AmountError::TooPrecise);
            }
            parse_decimal_text(&text)
        }
        Value::String(s) => parse_decimal_text(s.trim()),
        _ => Err(AmountError::NotANumber),
    }
}

/// Plain decimal text (`-12.50`, `3`, `1e2` as serde_json may print large doubles).
fn parse_decimal_text(text: &str) -> Result<Decimal, AmountError> {
    if text.is_empty() {
        return Err(AmountError::NotANumber);
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str(text)
    };
    parsed.map(|d| d.normalize()).map_err(|_| {
        if text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        {
            AmountError::OutOfRange
        } else {
            AmountError::NotANumber
        }
    })
}

/// Significant digits of a number's text: digits of the mantissa without leading zeros.
fn significant_digits(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    // Trailing zeros of an integer part are significant only as magnitude; they are exact.
    trimmed.trim_end_matches('0').len()
}

/// A decimal as a JSON number for the wire (`29.997`, `10`), through its exact text. Amounts
/// referd produces have at most 15 significant digits in practice; longer ones are answered
/// as strings so nothing is silently changed.
pub fn amount_json(amount: Decimal) -> Value {
    let text = amount.normalize().to_string();
    if significant_digits(&text) <= MAX_NUMBER_DIGITS
        && let Ok(n) = serde_json::from_str::<serde_json::Number>(&text)
    {
        return Value::Number(n);
    }
    Value::String(text)
}

/// An amount as Partnero displays it: the currency's symbol (`$`, `€`, `£`; else the code and
/// a space), thousands separators and two decimals, rounded half up for display only
/// (`$1,124.90`, `-€5.00`, `CHF 12.35`).
pub fn format_money(currency: &str, amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let code = currency.to_ascii_uppercase();
    let symbol = match code.as_str() {
        "USD" => "$".to_string(),
        "EUR" => "€".to_string(),
        "GBP" => "£".to_string(),
        _ => format!("{code} "),
    };
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{symbol}{grouped}.{frac}")
}

/// How a program rounds reward amounts, when it asks to (Partnero does not by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    /// Digits after the decimal point (0–8).
    pub decimals: u32,
    pub mode: RoundingMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    /// 0.125 → 0.13 (commercial rounding).
    HalfUp,
    /// 0.125 → 0.12 (banker's rounding).
    HalfEven,
    /// Toward zero: never pays more than the exact amount.
    Down,
    /// Away from zero.
    Up,
}

impl RoundingMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "half_up" => Some(Self::HalfUp),
            "half_even" => Some(Self::HalfEven),
            "down" => Some(Self::Down),
            "up" => Some(Self::Up),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HalfUp => "half_up",
            Self::HalfEven => "half_even",
            Self::Down => "down",
            Self::Up => "up",
        }
    }
}

impl Rounding {
    pub fn apply(self, amount: Decimal) -> Decimal {
        let strategy = match self.mode {
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingMode::Down => RoundingStrategy::ToZero,
            RoundingMode::Up => RoundingStrategy::AwayFromZero,
        };
        amount.round_dp_with_strategy(self.decimals, strategy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn json_numbers_are_read_from_their_text() {
        assert_eq!(parse_amount(&json!(99.99)), Ok(d("99.99")));
        assert_eq!(parse_amount(&json!(0.1)), Ok(d("0.1")));
        assert_eq!(parse_amount(&json!(100)), Ok(d("100")));
        assert_eq!(parse_amount(&json!("1234567.891")), Ok(d("1234567.891")));
        assert_eq!(parse_amount(&json!(-5.5)), Ok(d("-5.5")));
        assert_eq!(parse_amount(&json!(1e21)), Ok(d("1000000000000000000000")));
        let long: Value = serde_json::from_str("0.30000000000000004").unwrap();
        assert_eq!(parse_amount(&long), Err(AmountError::TooPrecise));
        assert_eq!(
            parse_amount(&json!("0.30000000000000004")),
            Ok(d("0.30000000000000004"))
        );
        assert_eq!(parse_amount(&json!("abc")), Err(AmountError::NotANumber));
        assert_eq!(parse_amount(&json!(true)), Err(AmountError::NotANumber));
        assert_eq!(parse_amount(&json!("")), Err(AmountError::NotANumber));
        assert_eq!(
            parse_amount(&json!("1".repeat(40))),
            Err(AmountError::OutOfRange)
        );
    }

    #[test]
    fn thirty_percent_of_99_99_is_exact() {
        let reward = d("99.99") * d("30") / d("100");
        assert_eq!(reward, d("29.997"));
        assert_eq!(amount_json(reward), json!(29.997));
        assert_eq!(amount_json(d("10.00")), json!(10));
    }

    #[test]
    fn rounding_modes() {
        let r = |mode| Rounding { decimals: 2, mode };
        assert_eq!(r(RoundingMode::HalfUp).apply(d("0.125")), d("0.13"));
        assert_eq!(r(RoundingMode::HalfEven).apply(d("0.125")), d("0.12"));
        assert_eq!(r(RoundingMode::Down).apply(d("29.997")), d("29.99"));
        assert_eq!(r(RoundingMode::Up).apply(d("29.991")), d("30.00"));
        assert_eq!(r(RoundingMode::Down).apply(d("-1.239")), d("-1.23"));
    }

    #[test]
    fn formatted_money() {
        assert_eq!(format_money("USD", d("1124.9")), "$1,124.90");
        assert_eq!(format_money("usd", d("0")), "$0.00");
        assert_eq!(format_money("EUR", d("-5")), "-€5.00");
        assert_eq!(format_money("GBP", d("1234567.005")), "£1,234,567.01");
        assert_eq!(format_money("CHF", d("12.345")), "CHF 12.35");
        assert_eq!(format_money("USD", d("999.999")), "$1,000.00");
        assert_eq!(format_money("USD", d("-0.001")), "$0.00");
        assert_eq!(format_money("USD", d("100")), "$100.00");
    }

    #[test]
    fn currencies() {
        assert_eq!(Currency::parse(" usd ").unwrap().as_str(), "USD");
        assert!(Currency::parse("US").is_none());
        assert!(Currency::parse("U$D").is_none());
    }
}
