//! When robots run: cron expressions in a time zone (Europe/Stockholm
//! unless configured otherwise), evaluated with `croner`.
//!
//! Why croner: on the spring-forward day a 02:30 job must still run once
//! (croner runs it at 03:00, the first instant after the gap) and on the
//! fall-back day once (croner takes the first 02:30). The `cron` crate skips
//! or doubles such jobs. `tests` below prove both days.
//!
//! A fire time runs at most once, even with several workers: the run is
//! recorded under a unique key (robot, fire time in UTC) before it starts.
//! Runs of one robot never overlap: a run holds the robot's lock. The lock
//! is short ([`lock_ttl`]: half the schedule's interval, at least
//! [`MIN_LOCK_TTL`], at most the lease) and renewed while the run lasts, so
//! after a crash the next fire time finds it expired: fetching is blocked
//! for less than one interval (for less than [`MIN_LOCK_TTL`] on schedules
//! that fire more often than every 20 s).

use crate::clock::Clock;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use std::str::FromStr;

/// What to do about fire times missed while the service was down.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Forget them; wait for the next fire time.
    #[default]
    Skip,
    /// Run once at start-up for all of them, if the latest was within the limit.
    RunOnce,
}

/// A cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

impl Schedule {
    pub fn new(pattern: &str, time_zone: &str) -> Result<Schedule, String> {
        let tz: Tz = time_zone
            .parse()
            .map_err(|_| format!("unknown time zone {time_zone:?} (use an IANA name like Europe/Stockholm)"))?;
        let cron = Cron::from_str(pattern).map_err(|e| format!("schedule {pattern:?}: {e}"))?;
        Ok(Schedule { cron, tz })
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|n| n.with_timezone(&Utc))
    }

    /// Fire times in `(after, until]`, at most `limit` of them (the latest ones).
    pub fn fires_between(&self, after: DateTime<Utc>, until: DateTime<Utc>, limit: usize) -> Vec<DateTime<Utc>> {
        let mut out = std::collections::VecDeque::new();
        let mut t = after;
        // Bounded: a minute-granular schedule over a long outage is large;
        // only the most recent `limit` matter.
        for _ in 0..1_000_000 {
            match self.next_after(t) {
                Some(n) if n <= until => {
                    if out.len() == limit {
                        out.pop_front();
                    }
                    out.push_back(n);
                    t = n;
                }
                _ => break,
            }
        }
        out.into()
    }
}

/// The shortest lock a run holds; renewals come every third of it.
pub const MIN_LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(10);

impl Schedule {
    /// The shortest time between the next few fire times after `t` (a cron
    /// schedule need not be even: `0 7 * * 1-5` has gaps of one and three days).
    pub fn interval(&self, t: DateTime<Utc>) -> Option<Duration> {
        let mut prev = self.next_after(t)?;
        let mut shortest: Option<Duration> = None;
        for _ in 0..8 {
            let Some(next) = self.next_after(prev) else { break };
            let gap = next - prev;
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            prev = next;
        }
        shortest
    }
}

/// How long a robot's lock lasts unless renewed: half the schedule's
/// interval, at least [`MIN_LOCK_TTL`], at most `lease`. A run renews it
/// every third of that, so a live run keeps it, and after a crash the lock
/// is gone before the next fire time but one.
pub fn lock_ttl(schedule: &Schedule, lease: std::time::Duration, now: DateTime<Utc>) -> std::time::Duration {
    let half = schedule
        .interval(now)
        .and_then(|i| (i / 2).to_std().ok())
        .unwrap_or(lease);
    half.max(MIN_LOCK_TTL).min(lease.max(MIN_LOCK_TTL))
}

/// What to do at start-up about fire times missed while nobody ran.
pub fn catch_up(
    schedule: &Schedule,
    policy: Missed,
    limit: Duration,
    last_fire: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let last = last_fire?;
    let missed = schedule.fires_between(last, now, 1);
    let latest = *missed.last()?;
    match policy {
        Missed::Skip => None,
        Missed::RunOnce if now - latest <= limit => Some(latest),
        Missed::RunOnce => None,
    }
}

/// Sleeps until the next fire time after `cursor`, or returns `None` when
/// `stop` resolves first.
pub async fn wait_for_next(
    clock: &dyn Clock,
    schedule: &Schedule,
    cursor: DateTime<Utc>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<DateTime<Utc>> {
    let next = schedule.next_after(cursor)?;
    tokio::select! {
        () = clock.sleep_until(next) => Some(next),
        () = crate::clock::stopped(stop) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Stockholm;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Stockholm
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn fires_on_day(s: &Schedule, y: i32, m: u32, d: u32) -> Vec<DateTime<Utc>> {
        let start = local(y, m, d, 0, 0) - Duration::seconds(1);
        let end = local(y, m, d, 0, 0) + Duration::hours(25);
        s.fires_between(start, end, 100)
            .into_iter()
            .filter(|t| t.with_timezone(&Stockholm).format("%Y-%m-%d").to_string() == format!("{y:04}-{m:02}-{d:02}"))
            .collect()
    }

    #[test]
    fn a_0230_job_runs_once_on_spring_forward_day() {
        let s = Schedule::new("30 2 * * *", "Europe/Stockholm").unwrap();
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST; 02:30 does not exist.
        let fires = fires_on_day(&s, 2026, 3, 29);
        assert_eq!(fires, vec![utc("2026-03-29T01:00:00Z")], "once, at 03:00 CEST");
        // The days around it are ordinary.
        assert_eq!(fires_on_day(&s, 2026, 3, 28), vec![utc("2026-03-28T01:30:00Z")]);
        assert_eq!(fires_on_day(&s, 2026, 3, 30), vec![utc("2026-03-30T00:30:00Z")]);
    }

    #[test]
    fn a_0230_job_runs_once_on_fall_back_day() {
        let s = Schedule::new("30 2 * * *", "Europe/Stockholm").unwrap();
        // 2026-10-25: 02:00–03:00 happens twice (CEST, then CET).
        let fires = fires_on_day(&s, 2026, 10, 25);
        assert_eq!(fires, vec![utc("2026-10-25T00:30:00Z")], "once, at the first 02:30");
        assert_eq!(fires_on_day(&s, 2026, 10, 26), vec![utc("2026-10-26T01:30:00Z")]);
    }

    #[test]
    fn the_time_zone_is_respected() {
        let s = Schedule::new("0 7 * * 1-5", "Europe/Stockholm").unwrap();
        // Winter: 07:00 CET is 06:00 UTC; summer: 07:00 CEST is 05:00 UTC.
        assert_eq!(
            s.next_after(utc("2026-01-05T00:00:00Z")),
            Some(utc("2026-01-05T06:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-06-01T00:00:00Z")),
            Some(utc("2026-06-01T05:00:00Z"))
        );
        // Saturday → Monday.
        assert_eq!(
            s.next_after(utc("2026-06-06T00:00:00Z")),
            Some(utc("2026-06-08T05:00:00Z"))
        );
        let utc_s = Schedule::new("0 7 * * *", "UTC").unwrap();
        assert_eq!(
            utc_s.next_after(utc("2026-06-01T00:00:00Z")),
            Some(utc("2026-06-01T07:00:00Z"))
        );
    }

    #[test]
    fn bad_schedules_and_zones_are_refused() {
        assert!(Schedule::new("61 * * * *", "Europe/Stockholm").is_err());
        assert!(Schedule::new("*/5 * * * *", "Europe/Göteborg").is_err());
    }

    #[test]
    fn missed_fire_times_after_downtime() {
        let s = Schedule::new("0 * * * *", "Europe/Stockholm").unwrap();
        let last = utc("2026-05-01T08:00:00Z");
        let now = utc("2026-05-01T12:30:00Z");
        let limit = Duration::hours(24);
        assert_eq!(catch_up(&s, Missed::Skip, limit, Some(last), now), None);
        assert_eq!(
            catch_up(&s, Missed::RunOnce, limit, Some(last), now),
            Some(utc("2026-05-01T12:00:00Z")),
            "one run, for the latest missed fire time"
        );
        assert_eq!(
            catch_up(&s, Missed::RunOnce, Duration::minutes(10), Some(last), now),
            None,
            "too old"
        );
        assert_eq!(
            catch_up(&s, Missed::RunOnce, limit, None, now),
            None,
            "never ran: nothing was missed"
        );
        assert_eq!(
            catch_up(&s, Missed::RunOnce, limit, Some(utc("2026-05-01T12:00:00Z")), now),
            None
        );
    }

    #[test]
    fn the_robot_lock_is_shorter_than_the_schedule_interval() {
        let now = utc("2026-05-01T10:00:30Z");
        let lease = std::time::Duration::from_secs(120);
        let every_minute = Schedule::new("* * * * *", "UTC").unwrap();
        assert_eq!(every_minute.interval(now), Some(Duration::minutes(1)));
        assert_eq!(lock_ttl(&every_minute, lease, now), std::time::Duration::from_secs(30));
        let every_ten = Schedule::new("*/10 * * * *", "Europe/Stockholm").unwrap();
        assert_eq!(lock_ttl(&every_ten, lease, now), lease, "capped by the lease");
        let weekdays = Schedule::new("0 7 * * 1-5", "Europe/Stockholm").unwrap();
        assert_eq!(weekdays.interval(utc("2026-05-01T00:00:00Z")), Some(Duration::days(1)));
        let secs = Schedule::new("*/5 * * * * *", "UTC");
        if let Ok(s) = secs {
            // A seconds schedule (if the cron dialect has one): never below the minimum.
            assert_eq!(lock_ttl(&s, lease, now), MIN_LOCK_TTL);
        }
    }

    #[test]
    fn fires_between_keeps_the_latest() {
        let s = Schedule::new("* * * * *", "UTC").unwrap();
        let f = s.fires_between(utc("2026-05-01T00:00:00Z"), utc("2026-05-01T01:00:00Z"), 3);
        assert_eq!(
            f,
            vec![
                utc("2026-05-01T00:58:00Z"),
                utc("2026-05-01T00:59:00Z"),
                utc("2026-05-01T01:00:00Z")
            ]
        );
    }
}
