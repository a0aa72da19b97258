//! Kommunicering (förvaltningslagen 25 §): what is sent to the applicant
//! before a decision that goes against them, and when the reply is due.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// One fact the applicant is given to comment on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub code: String,
    pub text: String,
}

/// What a kommunicering sent (stored with it, and the kommuniceringsbrev's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub facts: Vec<Fact>,
    /// The last day to reply, `YYYY-MM-DD`.
    pub deadline_on: String,
}

/// The reply deadline: the end of the day `days` days after `now`, Swedish time.
pub fn deadline(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let tz = chrono_tz::Europe::Stockholm;
    let day = (now.with_timezone(&tz) + Duration::days(days.max(1))).date_naive();
    let end = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN));
    tz.from_local_datetime(&end)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now + Duration::days(days.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_end_of_the_last_day_in_swedish_time() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 22, 30, 0).unwrap();
        // 23:30 in Stockholm on the 4th: seven days later is the 11th.
        let d = deadline(now, 7);
        assert_eq!(d, Utc.with_ymd_and_hms(2026, 12, 11, 22, 59, 59).unwrap());
        // Across the change to summer time.
        let spring = Utc.with_ymd_and_hms(2027, 3, 25, 10, 0, 0).unwrap();
        assert_eq!(
            deadline(spring, 7),
            Utc.with_ymd_and_hms(2027, 4, 1, 21, 59, 59).unwrap()
        );
    }
}
