//! Login rate limiting: failed attempts are counted per username and per
//! client address over a sliding window (read from the injected clock);
//! past the limit a login is refused without checking the password.
//!
//! The counts live in this process. Behind a load balancer with several
//! `hrobot serve`, each keeps its own, so an attacker gets at most
//! (limit × processes) tries per window.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Keys kept at most; the oldest are forgotten first when full.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Ip(IpAddr),
}

pub struct LoginLimiter {
    window: Duration,
    per_user: u32,
    per_ip: u32,
    failures: Mutex<HashMap<Key, VecDeque<DateTime<Utc>>>>,
}

/// Refused: try again after this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: DateTime<Utc>,
}

impl LoginLimiter {
    pub fn new(window: Duration, per_user: u32, per_ip: u32) -> LoginLimiter {
        LoginLimiter {
            window,
            per_user,
            per_ip,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, ip: Option<IpAddr>) -> Vec<Key> {
        let mut k = vec![Key::User(username.to_lowercase())];
        if let Some(ip) = ip {
            k.push(Key::Ip(ip));
        }
        k
    }

    fn limit(&self, k: &Key) -> usize {
        usize::try_from(match k {
            Key::User(_) => self.per_user,
            Key::Ip(_) => self.per_ip,
        })
        .unwrap_or(usize::MAX)
    }

    /// May this login be tried now?
    pub fn check(&self, username: &str, ip: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), Limited> {
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let mut retry: Option<DateTime<Utc>> = None;
        for k in Self::keys(username, ip) {
            let limit = self.limit(&k);
            if let Some(q) = map.get_mut(&k) {
                while q.front().is_some_and(|t| *t + self.window <= now) {
                    q.pop_front();
                }
                if q.len() >= limit
                    && let Some(first) = q.front()
                {
                    let at = *first + self.window;
                    retry = Some(retry.map_or(at, |r| r.max(at)));
                }
            }
        }
        match retry {
            Some(retry_after) => Err(Limited { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&self, username: &str, ip: Option<IpAddr>, now: DateTime<Utc>) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() >= MAX_KEYS {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| *t + window > now));
        }
        for k in Self::keys(username, ip) {
            let limit = self.limit(&k);
            let q = map.entry(k).or_default();
            q.push_back(now);
            while q.len() > limit {
                q.pop_front();
            }
        }
    }

    /// A successful login clears the username's count (not the address's).
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&Key::User(username.to_lowercase()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_user_and_per_address_over_a_sliding_window() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let l = LoginLimiter::new(Duration::minutes(15), 3, 5);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..3 {
            assert!(l.check("anna", Some(ip), t0 + Duration::minutes(i)).is_ok());
            l.failed("anna", Some(ip), t0 + Duration::minutes(i));
        }
        let refused = l.check("Anna", Some(ip), t0 + Duration::minutes(3)).unwrap_err();
        assert_eq!(refused.retry_after, t0 + Duration::minutes(15));
        // Another user from the same address still may, twice more.
        assert!(l.check("bo", Some(ip), t0 + Duration::minutes(3)).is_ok());
        l.failed("bo", Some(ip), t0 + Duration::minutes(3));
        l.failed("bo", Some(ip), t0 + Duration::minutes(3));
        assert!(l.check("cia", Some(ip), t0 + Duration::minutes(4)).is_err());
        assert!(l.check("cia", None, t0 + Duration::minutes(4)).is_ok());
        // The window slides.
        assert!(l.check("anna", None, t0 + Duration::minutes(15)).is_ok());
    }
}
