//! Money and usage quantities, exact: [`Decimal`] arithmetic, integer minor units on
//! invoices, and one rounding rule. No floating point anywhere.
//!
//! - **Quantities** (tokens, seconds, executions) have at most [`QUANTITY_SCALE`] decimal
//!   places and are stored as integer millionths ("micros"), so sums in SQL are exact.
//! - **Amounts** are computed exactly as decimals and rounded once per invoice line to the
//!   currency's minor unit, half away from zero ([`to_minor_units`]). An invoice's total is
//!   the sum of its rounded lines.

pub use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Decimal places a usage quantity may have.
pub const QUANTITY_SCALE: u32 = 6;

/// Why a value is not a valid amount, quantity or currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a currency: use a lowercase ISO 4217 code such as `usd`")]
    InvalidCurrency(String),
    #[error("{0} has more than {QUANTITY_SCALE} decimal places")]
    TooPrecise(Decimal),
    #[error("{0} is negative")]
    Negative(Decimal),
    #[error("{0} is too large")]
    TooLarge(Decimal),
}

/// A lowercase ISO 4217 currency code and the number of decimals of its minor unit
/// (Stripe's list: `jpy` has none, `kwd` has three, most have two).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof",
    "xpf",
];
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        if code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_lowercase()) {
            Ok(Self(code.to_owned()))
        } else {
            Err(MoneyError::InvalidCurrency(code.to_owned()))
        }
    }

    /// US dollars, the default billing currency.
    pub fn usd() -> Self {
        Self("usd".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decimal places of the minor unit.
    pub fn exponent(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.0.as_str()) {
            0
        } else if THREE_DECIMAL.contains(&self.0.as_str()) {
            3
        } else {
            2
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::parse(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rounding rule of every invoice line: the exact amount to the currency's minor unit,
/// half away from zero (0.005 USD → 1 cent, −0.005 → −1 cent).
pub fn to_minor_units(amount: Decimal, currency: &Currency) -> Result<i64, MoneyError> {
    let scaled = amount
        .checked_mul(Decimal::from(10_i64.pow(currency.exponent())))
        .ok_or(MoneyError::TooLarge(amount))?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(scaled).map_err(|_| MoneyError::TooLarge(amount))
}

/// Minor units back to a decimal amount (`1234` cents → `12.34`).
pub fn from_minor_units(minor: i64, currency: &Currency) -> Decimal {
    Decimal::new(minor, currency.exponent())
}

/// A non-negative quantity as integer millionths, refusing more than six decimals.
pub fn quantity_to_micros(quantity: Decimal) -> Result<i64, MoneyError> {
    if quantity.is_sign_negative() && !quantity.is_zero() {
        return Err(MoneyError::Negative(quantity));
    }
    let normalized = quantity.normalize();
    if normalized.scale() > QUANTITY_SCALE {
        return Err(MoneyError::TooPrecise(quantity));
    }
    let micros =
        normalized.checked_mul(Decimal::from(1_000_000_i64)).ok_or(MoneyError::TooLarge(quantity))?;
    i64::try_from(micros.trunc()).map_err(|_| MoneyError::TooLarge(quantity))
}

/// Integer millionths back to the exact quantity, without trailing zeros.
pub fn micros_to_quantity(micros: i64) -> Decimal {
    Decimal::new(micros, QUANTITY_SCALE).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    #[test]
    fn lines_round_half_away_from_zero_to_the_minor_unit() {
        let usd = Currency::parse("usd").expect("usd");
        assert_eq!(to_minor_units(decimal("0.005"), &usd), Ok(1));
        assert_eq!(to_minor_units(decimal("0.0049999"), &usd), Ok(0));
        assert_eq!(to_minor_units(decimal("-0.005"), &usd), Ok(-1));
        assert_eq!(to_minor_units(decimal("12.345"), &usd), Ok(1235));
        let jpy = Currency::parse("jpy").expect("jpy");
        assert_eq!(to_minor_units(decimal("100.5"), &jpy), Ok(101));
        let kwd = Currency::parse("kwd").expect("kwd");
        assert_eq!(to_minor_units(decimal("1.2345"), &kwd), Ok(1235));
        assert_eq!(from_minor_units(1235, &kwd), decimal("1.235"));
    }

    #[test]
    fn quantities_keep_six_decimals_exactly() {
        assert_eq!(quantity_to_micros(decimal("1.5")), Ok(1_500_000));
        assert_eq!(quantity_to_micros(decimal("0.000001")), Ok(1));
        assert_eq!(quantity_to_micros(decimal("2.5000000")), Ok(2_500_000));
        assert!(matches!(quantity_to_micros(decimal("0.0000001")), Err(MoneyError::TooPrecise(_))));
        assert!(matches!(quantity_to_micros(decimal("-1")), Err(MoneyError::Negative(_))));
        assert!(matches!(quantity_to_micros(decimal("99999999999999")), Err(MoneyError::TooLarge(_))));
        assert_eq!(micros_to_quantity(1_500_000).to_string(), "1.5");
        assert_eq!(micros_to_quantity(3_000_000).to_string(), "3");
    }

    #[test]
    fn currencies_are_lowercase_iso_codes() {
        assert!(Currency::parse("usd").is_ok());
        for bad in ["USD", "us", "usdt", "u$d", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }
}
