//! A calendar month, `YYYY-MM`: the month an application is for.

use chrono::NaiveDate;
use std::fmt;
use std::str::FromStr;

/// The months in Swedish, as letters write them.
pub const MONTHS_SV: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("perioden ska anges som ÅÅÅÅ-MM, till exempel 2021-03")]
pub struct PeriodError;

impl Period {
    pub fn new(year: i32, month: u32) -> Result<Period, PeriodError> {
        if (1900..=9999).contains(&year) && (1..=12).contains(&month) {
            Ok(Period { year, month })
        } else {
            Err(PeriodError)
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    /// The first day of the month: the date parameters and ages are taken on.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Months since year 0, so that differences between periods are plain
    /// subtraction.
    pub fn index(self) -> i64 {
        i64::from(self.year) * 12 + i64::from(self.month) - 1
    }

    /// The month as a decision letter writes it: `mars 2021`.
    pub fn swedish(self) -> String {
        let name = MONTHS_SV
            .get((self.month as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("");
        format!("{name} {}", self.year)
    }

    /// The period of a month index ([`Period::index`]).
    pub fn from_index(index: i64) -> Option<Period> {
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = u32::try_from(index.rem_euclid(12) + 1).ok()?;
        Period::new(year, month).ok()
    }

    pub fn plus_months(self, months: i64) -> Option<Period> {
        let i = self.index().checked_add(months)?;
        let year = i32::try_from(i.div_euclid(12)).ok()?;
        let month = u32::try_from(i.rem_euclid(12) + 1).ok()?;
        Period::new(year, month).ok()
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Period, PeriodError> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
            return Err(PeriodError);
        }
        let year: i32 = s[..4].parse().map_err(|_| PeriodError)?;
        let month: u32 = s[5..].parse().map_err(|_| PeriodError)?;
        Period::new(year, month)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Debug for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Period({self})")
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_only_yyyy_mm() {
        assert_eq!("2021-03".parse::<Period>().unwrap().to_string(), "2021-03");
        for bad in [
            "2021-3",
            "2021-13",
            "2021-00",
            "21-03",
            "2021/03",
            "2021-03-01",
            " 2021-03",
            "+021-03",
            "1899-12",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn month_arithmetic_crosses_years() {
        let p: Period = "2020-11".parse().unwrap();
        assert_eq!(p.plus_months(3).unwrap().to_string(), "2021-02");
        assert_eq!(p.plus_months(-11).unwrap().to_string(), "2019-12");
        assert_eq!(p.swedish(), "november 2020");
        assert_eq!("2026-05".parse::<Period>().unwrap().swedish(), "maj 2026");
        assert_eq!(Period::from_index(p.index()), Some(p));
        let q: Period = "2021-04".parse().unwrap();
        assert_eq!(q.index() - "2021-01".parse::<Period>().unwrap().index(), 3);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(y in 1900i32..=9999, m in 1u32..=12) {
            let p = Period::new(y, m).unwrap();
            prop_assert_eq!(p.to_string().parse::<Period>().unwrap(), p);
            prop_assert_eq!(p.first_day().to_string(), format!("{y:04}-{m:02}-01"));
        }
    }
}
