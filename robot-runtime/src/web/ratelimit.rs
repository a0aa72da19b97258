//! Login throttling that slows guessing down without letting anyone lock an
//! official out. Failed logins are counted three ways (times from the
//! injected clock):
//!
//! * **Per account and address.** After `backoff_after` failures, each
//!   further try from that address for that account must wait 1 s, 2 s,
//!   4 s … after the last failure, up to `backoff_cap`.
//! * **Per account, from all addresses.** After `account_backoff_after`
//!   failures the same back-off applies to the account — but only from
//!   addresses that have themselves failed for it. The right password from
//!   an address with no failures for the account still works, until the
//!   account's count reaches `account_lock_after` (a very high number: a
//!   distributed attack); from then on the back-off applies from every
//!   address.
//! * **Per address.** At most `per_ip` failures over the window, whatever
//!   the accounts; then the address waits until the oldest drops out.
//!
//! A streak of failures is forgotten `window` after its last failure. A
//! refused (throttled) try is not a failure: it does not lengthen the wait.
//!
//! The counts live in this process. Behind a load balancer with several
//! `hrobot serve`, each keeps its own, so an attacker gets at most
//! (limit × processes) tries.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Keys kept at most; the stalest are forgotten first when full.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Option<IpAddr>),
    Account(String),
    Ip(IpAddr),
}

/// The limits (from `[web]`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub window: Duration,
    pub backoff_after: u32,
    pub account_backoff_after: u32,
    pub account_lock_after: u32,
    pub backoff_cap: Duration,
    pub per_ip: u32,
}

/// Failures in a row, and the last one.
#[derive(Debug, Clone, Copy)]
struct Streak {
    count: u32,
    last: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    streaks: HashMap<Key, Streak>,
    per_ip: HashMap<IpAddr, VecDeque<DateTime<Utc>>>,
    /// The retry time last reported as a new throttling, per key.
    reported: HashMap<Key, DateTime<Utc>>,
}

pub struct LoginLimiter {
    policy: Policy,
    state: Mutex<State>,
}

/// Why a login was refused without checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Back-off after failures for this account from this address.
    AccountAndAddress,
    /// Back-off after failures for this account from many addresses.
    Account,
    /// Too many failures from this address.
    Address,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::AccountAndAddress => "account_and_address",
            Reason::Account => "account",
            Reason::Address => "address",
        }
    }
}

/// Refused: try again after this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: DateTime<Utc>,
    pub reason: Reason,
    /// The first refusal of this throttling (to be audited once, not on
    /// every refused try).
    pub first: bool,
}

fn backoff(excess: u32, cap: Duration) -> Duration {
    let secs = 1i64 << excess.min(30);
    Duration::seconds(secs).min(cap)
}

impl LoginLimiter {
    pub fn new(policy: Policy) -> LoginLimiter {
        LoginLimiter {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    fn live(&self, s: Option<&Streak>, now: DateTime<Utc>) -> Option<Streak> {
        s.copied().filter(|s| now - s.last < self.policy.window)
    }

    /// May this login be tried now?
    pub fn check(&self, username: &str, ip: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), Limited> {
        let Ok(mut st) = self.state.lock() else {
            return Ok(());
        };
        let user = username.to_lowercase();
        let p = self.policy;
        let mut refused: Option<(DateTime<Utc>, Reason, Key)> = None;
        let mut refuse = |at: DateTime<Utc>, reason: Reason, key: Key| {
            if at > now && refused.as_ref().is_none_or(|(r, _, _)| at > *r) {
                refused = Some((at, reason, key));
            }
        };
        let pair_key = Key::Pair(user.clone(), ip);
        let pair = self.live(st.streaks.get(&pair_key), now);
        if let Some(s) = pair
            && s.count >= p.backoff_after
        {
            refuse(
                s.last + backoff(s.count - p.backoff_after, p.backoff_cap),
                Reason::AccountAndAddress,
                pair_key,
            );
        }
        let account_key = Key::Account(user);
        if let Some(s) = self.live(st.streaks.get(&account_key), now)
            && s.count >= p.account_backoff_after
            && (pair.is_some_and(|p| p.count > 0) || s.count >= p.account_lock_after)
        {
            refuse(
                s.last + backoff(s.count - p.account_backoff_after, p.backoff_cap),
                Reason::Account,
                account_key,
            );
        }
        if let Some(ip) = ip
            && let Some(q) = st.per_ip.get_mut(&ip)
        {
            while q.front().is_some_and(|t| *t + p.window <= now) {
                q.pop_front();
            }
            if q.len() >= usize::try_from(p.per_ip).unwrap_or(usize::MAX)
                && let Some(first) = q.front()
            {
                refuse(*first + p.window, Reason::Address, Key::Ip(ip));
            }
        }
        match refused {
            None => Ok(()),
            Some((retry_after, reason, key)) => {
                let first = st.reported.get(&key) != Some(&retry_after);
                if first {
                    st.reported.insert(key, retry_after);
                }
                Err(Limited {
                    retry_after,
                    reason,
                    first,
                })
            }
        }
    }

    /// Counts a failed attempt (known and unknown usernames alike, so the
    /// answers do not tell them apart).
    pub fn failed(&self, username: &str, ip: Option<IpAddr>, now: DateTime<Utc>) {
        let Ok(mut st) = self.state.lock() else { return };
        let window = self.policy.window;
        if st.streaks.len() + st.per_ip.len() >= MAX_KEYS {
            st.streaks.retain(|_, s| now - s.last < window);
            st.per_ip.retain(|_, q| q.back().is_some_and(|t| *t + window > now));
            st.reported.retain(|_, t| *t > now);
        }
        let user = username.to_lowercase();
        for key in [Key::Pair(user.clone(), ip), Key::Account(user)] {
            let live = self.live(st.streaks.get(&key), now);
            let count = live.map_or(0, |s| s.count).saturating_add(1);
            st.streaks.insert(key, Streak { count, last: now });
        }
        if let Some(ip) = ip {
            let limit = usize::try_from(self.policy.per_ip).unwrap_or(usize::MAX);
            let q = st.per_ip.entry(ip).or_default();
            q.push_back(now);
            while q.len() > limit {
                q.pop_front();
            }
        }
    }

    /// A successful login ends the streak of this account from this
    /// address (not the account's from elsewhere, nor the address's).
    pub fn succeeded(&self, username: &str, ip: Option<IpAddr>) {
        if let Ok(mut st) = self.state.lock() {
            let key = Key::Pair(username.to_lowercase(), ip);
            st.streaks.remove(&key);
            st.reported.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            window: Duration::minutes(15),
            backoff_after: 3,
            account_backoff_after: 6,
            account_lock_after: 20,
            backoff_cap: Duration::minutes(15),
            per_ip: 10,
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn the_back_off_doubles_per_account_and_address_up_to_the_cap() {
        let l = LoginLimiter::new(policy());
        let mut now = t0();
        for _ in 0..3 {
            assert!(l.check("anna", ip(1), now).is_ok());
            l.failed("anna", ip(1), now);
        }
        // 1 s, then 2 s, 4 s, … after each further failure.
        for wait in [1, 2, 4, 8] {
            let r = l.check("Anna", ip(1), now).unwrap_err();
            assert_eq!(r.retry_after, now + Duration::seconds(wait));
            assert_eq!(r.reason, Reason::AccountAndAddress);
            assert!(r.first);
            assert!(!l.check("anna", ip(1), now).unwrap_err().first, "reported once");
            now += Duration::seconds(wait);
            assert!(l.check("anna", ip(1), now).is_ok());
            l.failed("anna", ip(1), now);
        }
        // Another address is not slowed down by this one's failures …
        assert!(l.check("anna", ip(2), now).is_ok());
        // … and a success there does not free this one.
        l.succeeded("anna", ip(2));
        assert!(l.check("anna", ip(1), now).is_err());
        // The cap, and the streak forgotten a window after its last failure.
        let l = LoginLimiter::new(policy());
        for i in 0..9 {
            l.failed("bo", ip(3), t0() + Duration::seconds(i));
        }
        let last = t0() + Duration::seconds(8);
        assert_eq!(
            l.check("bo", ip(3), last).unwrap_err().retry_after,
            last + Duration::seconds(64),
            "9 failures: 2^(9-3) s"
        );
        let mut p = policy();
        p.backoff_cap = Duration::seconds(10);
        let l = LoginLimiter::new(p);
        for _ in 0..9 {
            l.failed("bo", ip(3), t0());
        }
        assert_eq!(
            l.check("bo", ip(3), t0()).unwrap_err().retry_after,
            t0() + Duration::seconds(10)
        );
        assert!(l.check("bo", ip(3), t0() + Duration::minutes(15)).is_ok());
    }

    #[test]
    fn many_addresses_slow_the_account_down_but_a_clean_address_gets_in() {
        let l = LoginLimiter::new(policy());
        let now = t0();
        // One failure each from 8 addresses: over the account's 6.
        for n in 1..=8 {
            assert!(l.check("anna", ip(n), now).is_ok());
            l.failed("anna", ip(n), now);
        }
        let r = l.check("anna", ip(1), now).unwrap_err();
        assert_eq!(r.reason, Reason::Account);
        assert_eq!(r.retry_after, now + Duration::seconds(4), "2^(8-6) s");
        // The official's own address, with no failures: the password is checked.
        assert!(l.check("anna", ip(100), now).is_ok());
        // Until the account's count is very high.
        for n in 9..=20 {
            l.failed("anna", ip(n), now);
        }
        assert_eq!(l.check("anna", ip(100), now).unwrap_err().reason, Reason::Account);
        assert!(l.check("anna", ip(100), now + Duration::minutes(15)).is_ok());
    }

    #[test]
    fn an_address_is_limited_over_all_accounts() {
        let l = LoginLimiter::new(policy());
        for i in 0..10 {
            l.failed(&format!("user{i}"), ip(7), t0() + Duration::seconds(i));
        }
        let r = l
            .check("someone-else", ip(7), t0() + Duration::seconds(10))
            .unwrap_err();
        assert_eq!(r.reason, Reason::Address);
        assert_eq!(r.retry_after, t0() + Duration::minutes(15));
        assert!(l.check("someone-else", ip(8), t0()).is_ok());
        assert!(l.check("someone-else", None, t0()).is_ok());
        assert!(l.check("someone-else", ip(7), t0() + Duration::minutes(15)).is_ok());
    }
}
