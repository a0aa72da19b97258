//! Swedish personal identity numbers (personnummer) and coordination
//! numbers (samordningsnummer).

use chrono::{Datelike, NaiveDate};
use std::fmt;

/// A valid personnummer or samordningsnummer, normalised to 12 digits
/// (`YYYYMMDDNNNC`).
///
/// `Debug` is redacted and there is deliberately no `Display`: a
/// personnummer must never reach a log line by accident. Use
/// [`Personnummer::as_str`] where the number is really wanted (the case
/// page, the decision letter).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Personnummer([u8; 12]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PersonnummerError {
    #[error("personnumret ska ha formen ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN")]
    Format,
    #[error("personnumret innehåller inget giltigt datum")]
    Date,
    #[error("födelsenumret 000 finns inte")]
    ZeroBirthNumber,
    #[error("kontrollsiffran stämmer inte")]
    CheckDigit,
    #[error("personnumret gäller någon som ännu inte är född")]
    Future,
}

impl Personnummer {
    /// Parses the 12-digit form (`YYYYMMDDNNNC`, `YYYYMMDD-NNNC`,
    /// `YYYYMMDD+NNNC`) or the 10-digit form (`YYMMDDNNNC`, `YYMMDD-NNNC`,
    /// `YYMMDD+NNNC`). The 10-digit form needs a reference date to find the
    /// century: `-` (or none) means under 100 years old on that date, `+`
    /// means 100 or older.
    pub fn parse(input: &str, reference: NaiveDate) -> Result<Personnummer, PersonnummerError> {
        let b = input.as_bytes();
        let (digits, sep): (Vec<u8>, Option<u8>) = match b.len() {
            12 | 10 => (b.to_vec(), None),
            13 | 11 => {
                let at = b.len() - 5;
                let sep = b[at];
                if sep != b'-' && sep != b'+' {
                    return Err(PersonnummerError::Format);
                }
                let mut d = b[..at].to_vec();
                d.extend_from_slice(&b[at + 1..]);
                (d, Some(sep))
            }
            _ => return Err(PersonnummerError::Format),
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(PersonnummerError::Format);
        }
        let num = |s: &[u8]| s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        let mut full = [0u8; 12];
        if digits.len() == 12 {
            full.copy_from_slice(&digits);
        } else {
            let yy = num(&digits[0..2]) as i32;
            let mm = num(&digits[2..4]);
            let dd = num(&digits[4..6]);
            let dd = if dd > 60 { dd - 60 } else { dd };
            let base = reference.year() - reference.year().rem_euclid(100);
            let mut year = base + yy;
            if (year, mm, dd) > (reference.year(), reference.month(), reference.day()) {
                year -= 100;
            }
            if sep == Some(b'+') {
                year -= 100;
            }
            if !(0..=9999).contains(&year) {
                return Err(PersonnummerError::Date);
            }
            let century = format!("{:02}", year / 100);
            full[0..2].copy_from_slice(century.as_bytes());
            full[2..].copy_from_slice(&digits);
        }
        let p = Personnummer(full);
        if p.birth_date_checked().is_none() {
            return Err(PersonnummerError::Date);
        }
        if &full[8..11] == b"000" {
            return Err(PersonnummerError::ZeroBirthNumber);
        }
        if luhn_check_digit(&full[2..11]) != full[11] - b'0' {
            return Err(PersonnummerError::CheckDigit);
        }
        Ok(p)
    }

    /// The normalised 12-digit form, `YYYYMMDDNNNC`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The 12-digit form with a hyphen, `YYYYMMDD-NNNC`, for people to read.
    pub fn formatted(&self) -> String {
        let s = self.as_str();
        format!("{}-{}", &s[..8], &s[8..])
    }

    pub fn is_samordningsnummer(&self) -> bool {
        self.0[6] >= b'6'
    }

    pub fn birth_date(&self) -> NaiveDate {
        // Parsing guarantees a valid date.
        self.birth_date_checked().unwrap_or(NaiveDate::MIN)
    }

    fn birth_date_checked(&self) -> Option<NaiveDate> {
        let n = |r: std::ops::Range<usize>| self.0[r].iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        let year = n(0..4) as i32;
        let month = n(4..6);
        let mut day = n(6..8);
        if day > 60 {
            day -= 60;
        }
        NaiveDate::from_ymd_opt(year, month, day)
    }

    /// Age in whole years on `date`; negative if not yet born.
    pub fn age_on(&self, date: NaiveDate) -> i32 {
        let b = self.birth_date();
        let mut age = date.year() - b.year();
        if (date.month(), date.day()) < (b.month(), b.day()) {
            age -= 1;
        }
        age
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personnummer(<redacted>)")
    }
}

/// Luhn check digit over the nine digits `YYMMDDNNN`.
pub fn luhn_check_digit(nine: &[u8]) -> u8 {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(d - b'0') * if i % 2 == 0 { 2 } else { 1 };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    const REF: fn() -> NaiveDate = || NaiveDate::from_ymd_opt(2021, 3, 1).unwrap();

    #[test]
    fn accepts_skatteverket_test_numbers_in_every_form() {
        for s in ["198112189876", "19811218-9876", "8112189876", "811218-9876"] {
            let p = Personnummer::parse(s, REF()).unwrap();
            assert_eq!(p.as_str(), "198112189876", "{s}");
            assert_eq!(p.formatted(), "19811218-9876");
        }
    }

    #[test]
    fn rejects_bad_check_digit_and_zero_birth_number_and_bad_dates() {
        assert_eq!(
            Personnummer::parse("198112189875", REF()),
            Err(PersonnummerError::CheckDigit)
        );
        // 000 with a correct Luhn digit is still invalid.
        let nine = b"811218000";
        let c = luhn_check_digit(nine);
        let s = format!("19811218000{c}");
        assert_eq!(Personnummer::parse(&s, REF()), Err(PersonnummerError::ZeroBirthNumber));
        assert_eq!(Personnummer::parse("198113189876", REF()), Err(PersonnummerError::Date));
        assert_eq!(Personnummer::parse("198102300000", REF()), Err(PersonnummerError::Date));
        for bad in [
            "",
            "1981121898",
            "19811218 9876",
            "1981121x9876",
            "19811218_9876",
            "１９８１",
        ] {
            assert!(Personnummer::parse(bad, REF()).is_err(), "{bad}");
        }
    }

    #[test]
    fn leap_days_need_leap_years() {
        let mk = |ymd: &str, nnn: &str| {
            let nine = format!("{}{}", &ymd[2..], nnn);
            format!("{ymd}{nnn}{}", luhn_check_digit(nine.as_bytes()))
        };
        assert!(Personnummer::parse(&mk("20000229", "123"), REF()).is_ok());
        assert_eq!(
            Personnummer::parse(&mk("19000229", "123"), REF()),
            Err(PersonnummerError::Date)
        );
        assert_eq!(
            Personnummer::parse(&mk("20010229", "123"), REF()),
            Err(PersonnummerError::Date)
        );
    }

    #[test]
    fn samordningsnummer_adds_sixty_to_the_day() {
        let nine = b"811278987";
        let s = format!("19811278987{}", luhn_check_digit(nine));
        let p = Personnummer::parse(&s, REF()).unwrap();
        assert!(p.is_samordningsnummer());
        assert_eq!(p.birth_date(), d(1981, 12, 18));
        assert!(
            !Personnummer::parse("198112189876", REF())
                .unwrap()
                .is_samordningsnummer()
        );
    }

    #[test]
    fn ten_digit_century_follows_the_separator() {
        // 121212-1212 (Tolvan Tolvansson): born 1912 with '+', 2012 with '-' seen from 2021.
        let minus = Personnummer::parse("121212-1212", REF()).unwrap();
        assert_eq!(minus.birth_date(), d(2012, 12, 12));
        let plus = Personnummer::parse("121212+1212", REF()).unwrap();
        assert_eq!(plus.birth_date(), d(1912, 12, 12));
        assert_eq!(plus.as_str(), "191212121212");
        // Born later in the year than the reference day: previous century.
        let p = Personnummer::parse("210401-2386", REF()).unwrap();
        assert_eq!(p.birth_date().year(), 1921);
    }

    #[test]
    fn age_is_whole_years_on_the_date() {
        let p = Personnummer::parse("200001012384", REF()).unwrap();
        assert_eq!(p.age_on(d(2017, 12, 31)), 17);
        assert_eq!(p.age_on(d(2018, 1, 1)), 18);
        assert_eq!(p.age_on(d(1999, 12, 31)), -1);
    }

    #[test]
    fn debug_never_shows_the_number() {
        let p = Personnummer::parse("198112189876", REF()).unwrap();
        assert!(!format!("{p:?}").contains("9876"));
    }

    fn valid_pnr() -> impl Strategy<Value = (String, NaiveDate)> {
        (1900i32..2020, 1u32..=12, 1u32..=28, 1u32..=999, any::<bool>()).prop_map(|(y, m, day, n, samordning)| {
            let dd = if samordning { day + 60 } else { day };
            let nine = format!("{:02}{m:02}{dd:02}{n:03}", y % 100);
            let c = luhn_check_digit(nine.as_bytes());
            (format!("{y:04}{m:02}{dd:02}{n:03}{c}"), d(y, m, day))
        })
    }

    proptest! {
        #[test]
        fn every_generated_number_parses_with_its_birth_date((s, born) in valid_pnr()) {
            let p = Personnummer::parse(&s, d(2021, 3, 1)).unwrap();
            prop_assert_eq!(p.as_str(), s.as_str());
            prop_assert_eq!(p.birth_date(), born);
        }

        #[test]
        fn any_single_digit_change_in_the_serial_is_caught((s, _) in valid_pnr(), pos in 8usize..12, delta in 1u8..10) {
            let mut b = s.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let t = String::from_utf8(b).unwrap();
            // The check digit catches every single-digit error.
            prop_assert!(Personnummer::parse(&t, d(2021, 3, 1)).is_err());
        }

        #[test]
        fn ten_digit_form_means_the_same_person((s, born) in valid_pnr()) {
            let reference = d(2021, 3, 1);
            let age = Personnummer::parse(&s, reference).unwrap().age_on(reference);
            let sep = if age >= 100 { '+' } else { '-' };
            let short = format!("{}{sep}{}", &s[2..8], &s[8..]);
            let p = Personnummer::parse(&short, reference).unwrap();
            prop_assert_eq!(p.birth_date(), born);
            prop_assert_eq!(p.as_str(), s.as_str());
        }

        #[test]
        fn age_matches_calendar_arithmetic((s, born) in valid_pnr(), days in 0i64..40_000) {
            let p = Personnummer::parse(&s, d(2021, 3, 1)).unwrap();
            let on = born + chrono::Duration::days(days);
            let age = p.age_on(on);
            prop_assert!(age >= 0);
            // the birthday of `age` is on or before the date, of `age + 1` after it
            let bday = |n: i32| born.with_year(born.year() + n).unwrap_or_else(|| d(born.year() + n, 3, 1));
            prop_assert!(bday(age) <= on && on < bday(age + 1));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = Personnummer::parse(&s, d(2021, 3, 1));
        }
    }
}
