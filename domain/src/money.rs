//! Money as integer öre. Never floating point.

use std::fmt;

/// An amount of Swedish money in öre (1 krona = 100 öre).
///
/// All arithmetic is checked: an overflow is an error, never a wrap.
/// Rounding to whole kronor is half up (half away from zero for negative
/// amounts), as Swedish municipalities round decision amounts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// Largest amount accepted from input: 1 000 000 000 kr. Large enough for any
/// real application, small enough that sums of thousands of rows never
/// overflow an `i64` of öre.
pub const MAX_INPUT_ORE: i64 = 100_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("beloppet är inte ett tal")]
    NotANumber,
    #[error("beloppet får inte vara negativt")]
    Negative,
    #[error("beloppet får ha högst två decimaler")]
    TooManyDecimals,
    #[error("beloppet är för stort")]
    TooLarge,
    #[error("beräkningen gav ett för stort belopp")]
    Overflow,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_ore(ore: i64) -> Money {
        Money(ore)
    }

    pub fn from_kronor(kronor: i64) -> Result<Money, MoneyError> {
        kronor.checked_mul(100).map(Money).ok_or(MoneyError::Overflow)
    }

    pub const fn ore(self) -> i64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub const fn is_whole_kronor(self) -> bool {
        self.0 % 100 == 0
    }

    /// Whole kronor, only when the amount is whole kronor.
    pub const fn whole_kronor(self) -> Option<i64> {
        if self.is_whole_kronor() {
            Some(self.0 / 100)
        } else {
            None
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_add(other.0).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_sub(other.0).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.0.checked_mul(factor).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sum<I: IntoIterator<Item = Money>>(items: I) -> Result<Money, MoneyError> {
        items.into_iter().try_fold(Money::ZERO, |acc, m| acc.checked_add(m))
    }

    /// Rounded to whole kronor, half up (half away from zero when negative).
    pub fn round_half_up_to_kronor(self) -> Money {
        Money(round_div_half_away(i128::from(self.0), 100) as i64 * 100)
    }

    /// `self × numerator ÷ denominator`, computed exactly and rounded to whole
    /// kronor half up. Used for shares (a child living here 40 %, a common
    /// cost split by the number of people in the dwelling).
    pub fn mul_div_round_kronor(self, numerator: i64, denominator: i64) -> Result<Money, MoneyError> {
        if denominator == 0 {
            return Err(MoneyError::Overflow);
        }
        let exact_times_den = i128::from(self.0) * i128::from(numerator);
        // Round to öre×100 (whole kronor): divide by (den × 100), round, scale back.
        let den = i128::from(denominator) * 100;
        let (num, den) = if den < 0 {
            (-exact_times_den, -den)
        } else {
            (exact_times_den, den)
        };
        let kronor = round_div_half_away(num, den);
        i64::try_from(kronor * 100).map(Money).map_err(|_| MoneyError::Overflow)
    }

    /// `self × numerator ÷ denominator` in öre, rounded down (towards minus
    /// infinity). Used where a rule says "rounded down", e.g. prisbasbelopp / 12.
    pub fn mul_div_floor_ore(self, numerator: i64, denominator: i64) -> Result<Money, MoneyError> {
        if denominator == 0 {
            return Err(MoneyError::Overflow);
        }
        let v = (i128::from(self.0) * i128::from(numerator)).div_euclid(i128::from(denominator));
        let v = if denominator < 0 { -v } else { v };
        i64::try_from(v).map(Money).map_err(|_| MoneyError::Overflow)
    }

    /// Parses the text of a JSON number (as written in the document) into
    /// öre, exactly: no floating point is involved, so `0.1 + 0.2` style
    /// errors cannot happen. At most two decimals (trailing zeros beyond that
    /// are allowed, `12.500`), no negative amounts, at most [`MAX_INPUT_ORE`].
    pub fn parse_json_number(text: &str) -> Result<Money, MoneyError> {
        let dec = ExactDecimal::parse(text).ok_or(MoneyError::NotANumber)?;
        if dec.negative && !dec.is_zero() {
            return Err(MoneyError::Negative);
        }
        let ore = dec.scaled_to(2).map_err(|e| match e {
            ScaleError::Fraction => MoneyError::TooManyDecimals,
            ScaleError::Overflow => MoneyError::TooLarge,
        })?;
        if ore > i128::from(MAX_INPUT_ORE) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(ore as i64))
    }

    /// Parses "1234", "1234.5", "1234,50" or "-12.25" (kronor) as written by
    /// people and in parameter files. Exact, at most two decimals, sign allowed.
    pub fn parse_kronor_text(text: &str) -> Result<Money, MoneyError> {
        let t = text.trim().replace(',', ".").replace([' ', '\u{a0}'], "");
        let dec = ExactDecimal::parse(&t).ok_or(MoneyError::NotANumber)?;
        let ore = dec.scaled_to(2).map_err(|e| match e {
            ScaleError::Fraction => MoneyError::TooManyDecimals,
            ScaleError::Overflow => MoneyError::TooLarge,
        })?;
        let ore = if dec.negative { -ore } else { ore };
        i64::try_from(ore).map(Money).map_err(|_| MoneyError::TooLarge)
    }

    /// The amount in kronor as a JSON number text: `3160`, `1234.5`, `-0.05`.
    pub fn to_json_number_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (kr, ore) = (abs / 100, abs % 100);
        match ore {
            0 => format!("{sign}{kr}"),
            o if o % 10 == 0 => format!("{sign}{kr}.{}", o / 10),
            o => format!("{sign}{kr}.{o:02}"),
        }
    }

    /// The amount as a JSON number (kronor). Whole kronor become integers;
    /// others an `f64`, which prints back exactly with two decimals because
    /// the nearest double to `n / 100` round-trips through shortest printing.
    pub fn to_json_value(self) -> serde_json::Value {
        if self.is_whole_kronor() {
            serde_json::Value::from(self.0 / 100)
        } else {
            serde_json::Number::from_f64(self.0 as f64 / 100.0)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Swedish formatting for people: `3 160 kr`, `1 234,56 kr`, `−250 kr`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let (kr, ore) = (abs / 100, abs % 100);
        let digits = kr.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push('\u{a0}');
            }
            grouped.push(ch);
        }
        if self.0 < 0 {
            f.write_str("\u{2212}")?;
        }
        if ore == 0 {
            write!(f, "{grouped}\u{a0}kr")
        } else {
            write!(f, "{grouped},{ore:02}\u{a0}kr")
        }
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({} öre)", self.0)
    }
}

impl serde::Serialize for Money {
    /// As [`Money::to_json_value`], written directly.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_whole_kronor() {
            s.serialize_i64(self.0 / 100)
        } else {
            s.serialize_f64(self.0 as f64 / 100.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    /// Only for serde_json input: reads the number's own text, exactly.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Box<serde_json::value::RawValue> = serde::Deserialize::deserialize(d)?;
        Money::parse_kronor_text(raw.get()).map_err(serde::de::Error::custom)
    }
}

fn round_div_half_away(num: i128, den: i128) -> i128 {
    // den > 0
    let q = num / den;
    let r = num % den;
    if r.abs() * 2 >= den {
        if num < 0 { q - 1 } else { q + 1 }
    } else {
        q
    }
}

/// A decimal number parsed exactly from JSON number syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExactDecimal {
    pub negative: bool,
    /// Significant digits (no sign, no point), ASCII.
    digits: String,
    /// Value = digits × 10^exponent.
    exponent: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScaleError {
    Fraction,
    Overflow,
}

impl ExactDecimal {
    /// Strict JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    pub fn parse(text: &str) -> Option<ExactDecimal> {
        let b = text.as_bytes();
        let mut i = 0;
        let negative = b.first() == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &text[int_start..i];
        if int_part.is_empty() || (int_part.len() > 1 && int_part.starts_with('0')) {
            return None;
        }
        let mut frac_part = "";
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &text[s..i];
            if frac_part.is_empty() {
                return None;
            }
        }
        let mut exp: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let mut exp_neg = false;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                exp_neg = b[i] == b'-';
                i += 1;
            }
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Saturate: anything this large is out of range anyway.
                exp = (exp * 10 + i64::from(b[i] - b'0')).min(1_000_000);
                i += 1;
            }
            if s == i {
                return None;
            }
            if exp_neg {
                exp = -exp;
            }
        }
        if i != b.len() {
            return None;
        }
        let mut digits = String::with_capacity(int_part.len() + frac_part.len());
        digits.push_str(int_part);
        digits.push_str(frac_part);
        let exponent = exp - frac_part.len() as i64;
        // Normalise: strip leading zeros and move trailing zeros into the exponent.
        let trimmed = digits.trim_start_matches('0');
        let mut exponent = exponent;
        let mut t = trimmed.to_string();
        while t.ends_with('0') {
            t.pop();
            exponent += 1;
        }
        if t.is_empty() {
            exponent = 0;
        }
        Some(ExactDecimal {
            negative,
            digits: t,
            exponent,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The absolute value × 10^scale as an integer, if that is an integer.
    pub fn scaled_to(&self, scale: i64) -> Result<i128, ScaleError> {
        if self.is_zero() {
            return Ok(0);
        }
        let e = self.exponent + scale;
        if e < 0 {
            // Digits are normalised (no trailing zeros), so a negative
            // exponent means a non-zero fraction remains.
            return Err(ScaleError::Fraction);
        }
        if self.digits.len() as i64 + e > 30 {
            return Err(ScaleError::Overflow);
        }
        let mut v: i128 = 0;
        for d in self.digits.bytes() {
            v = v * 10 + i128::from(d - b'0');
        }
        for _ in 0..e {
            v *= 10;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_json_numbers_exactly() {
        let ok = |s: &str, ore: i64| assert_eq!(Money::parse_json_number(s), Ok(Money(ore)), "{s}");
        ok("0", 0);
        ok("-0", 0);
        ok("5200", 520_000);
        ok("5200.5", 520_050);
        ok("5200.05", 520_005);
        ok("0.1", 10);
        ok("0.29", 29);
        ok("1234.500", 123_450);
        ok("5.2e3", 520_000);
        ok("52E+2", 520_000);
        ok("1e-2", 1);
        ok("1000000000", MAX_INPUT_ORE);
        let err = |s: &str, e: MoneyError| assert_eq!(Money::parse_json_number(s), Err(e), "{s}");
        err("0.001", MoneyError::TooManyDecimals);
        err("1.005", MoneyError::TooManyDecimals);
        err("1e-3", MoneyError::TooManyDecimals);
        err("-1", MoneyError::Negative);
        err("-0.01", MoneyError::Negative);
        err("1000000000.01", MoneyError::TooLarge);
        err("1e400", MoneyError::TooLarge);
        err("01", MoneyError::NotANumber);
        err("1.", MoneyError::NotANumber);
        err(".5", MoneyError::NotANumber);
        err("+1", MoneyError::NotANumber);
        err("\"1\"", MoneyError::NotANumber);
        err("1e", MoneyError::NotANumber);
        err("NaN", MoneyError::NotANumber);
    }

    #[test]
    fn rounds_half_up() {
        let r = |ore: i64| Money(ore).round_half_up_to_kronor().ore();
        assert_eq!(r(149), 100);
        assert_eq!(r(150), 200);
        assert_eq!(r(199), 200);
        assert_eq!(r(100), 100);
        assert_eq!(r(0), 0);
        assert_eq!(r(-149), -100);
        assert_eq!(r(-150), -200);
    }

    #[test]
    fn shares_round_half_up_to_kronor() {
        // 1 860 kr shared by 5: 372 kr exactly.
        assert_eq!(Money(186_000).mul_div_round_kronor(1, 5), Ok(Money(37_200)));
        // 2 270 × 2 / 3 = 1 513.33… → 1 513
        assert_eq!(Money(227_000).mul_div_round_kronor(2, 3), Ok(Money(151_300)));
        // 25 % of 8 002 = 2 000.5 → 2 001
        assert_eq!(Money(800_200).mul_div_round_kronor(25, 100), Ok(Money(200_100)));
        // 47 600 / 12 = 3 966.666… kr → 396 666 öre rounded down
        assert_eq!(Money(4_760_000).mul_div_floor_ore(1, 12), Ok(Money(396_666)));
        assert_eq!(Money(1).mul_div_round_kronor(1, 0), Err(MoneyError::Overflow));
    }

    #[test]
    fn checked_arithmetic_refuses_overflow() {
        assert_eq!(Money(i64::MAX).checked_add(Money(1)), Err(MoneyError::Overflow));
        assert_eq!(Money(i64::MIN).checked_sub(Money(1)), Err(MoneyError::Overflow));
        assert_eq!(Money(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(Money::from_kronor(i64::MAX), Err(MoneyError::Overflow));
        assert_eq!(Money::checked_sum([Money(1), Money(2)]), Ok(Money(3)));
    }

    #[test]
    fn formats_in_swedish() {
        assert_eq!(Money(316_000).to_string(), "3\u{a0}160\u{a0}kr");
        assert_eq!(Money(123_456).to_string(), "1\u{a0}234,56\u{a0}kr");
        assert_eq!(Money(-25_000).to_string(), "\u{2212}250\u{a0}kr");
        assert_eq!(Money(100_000_000).to_string(), "1\u{a0}000\u{a0}000\u{a0}kr");
        assert_eq!(Money(5).to_string(), "0,05\u{a0}kr");
    }

    #[test]
    fn json_number_text_round_trips() {
        for (ore, text) in [
            (0, "0"),
            (316_000, "3160"),
            (123_450, "1234.5"),
            (123_456, "1234.56"),
            (-5, "-0.05"),
        ] {
            assert_eq!(Money(ore).to_json_number_string(), text);
            assert_eq!(Money(ore).to_json_value().to_string(), text);
        }
    }

    proptest! {
        #[test]
        fn any_two_decimal_text_parses_to_its_ore(kr in 0i64..1_000_000_000, ore in 0i64..100) {
            let text = format!("{kr}.{ore:02}");
            prop_assert_eq!(Money::parse_json_number(&text), Ok(Money(kr * 100 + ore)));
        }

        #[test]
        fn json_value_round_trips_through_serde(ore in -10_000_000_000_000i64..10_000_000_000_000) {
            let v = Money(ore).to_json_value();
            let text = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(text.clone(), Money(ore).to_json_number_string());
            prop_assert_eq!(serde_json::to_string(&Money(ore)).unwrap(), text.clone());
            let back: Money = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, Money(ore));
        }

        #[test]
        fn rounding_is_within_half_a_krona(ore in -1_000_000_000_000i64..1_000_000_000_000) {
            let r = Money(ore).round_half_up_to_kronor().ore();
            prop_assert!(r % 100 == 0);
            prop_assert!((r - ore).abs() <= 50);
            // half up: exactly half goes away from zero
            if (ore % 100).abs() == 50 { prop_assert!(r.abs() > ore.abs()); }
        }

        #[test]
        fn mul_div_matches_exact_rational(ore in 0i64..100_000_000, num in 1i64..100, den in 1i64..100) {
            let got = Money(ore).mul_div_round_kronor(num, den).unwrap().ore();
            // exact value in öre as a rational ore*num/den; got must be the nearest krona, ties up
            let exact_x2 = 2 * i128::from(ore) * i128::from(num);
            let lo = i128::from(got - 50) * 2 * i128::from(den);
            let hi = i128::from(got + 50) * 2 * i128::from(den);
            prop_assert!(lo <= exact_x2 && exact_x2 < hi);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Money::parse_json_number(&s);
            let _ = Money::parse_kronor_text(&s);
        }
    }
}
