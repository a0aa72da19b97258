//! Repeated identical log lines, counted instead of repeated.
//!
//! During a database outage every worker fails the same way twice a
//! second; logging each failure buries the one line IT needs. [`Repeats`]
//! lets the first occurrence of a message through, then at most one per
//! window, which carries how many were held back:
//! `worker could not claim or store work (repeated 239 times in the last 30 s)`.
//!
//! It is a helper called at the error sites (not a tracing layer), so the
//! line that is let through keeps its level, target, span and fields. The
//! key is the site plus the error's text: a different error is logged at
//! once. Keys are bounded ([`MAX_KEYS`]); when full, the oldest go.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many distinct messages are tracked at once.
pub const MAX_KEYS: usize = 256;

/// The default window: one line per message per 30 seconds.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Entry {
    /// When the last line for this key was let through.
    logged: Instant,
    /// Occurrences held back since then.
    held: u64,
}

/// Admits the first of a run of identical messages and then one per window.
#[derive(Debug)]
pub struct Repeats {
    window: Duration,
    seen: Mutex<HashMap<String, Entry>>,
}

impl Default for Repeats {
    fn default() -> Self {
        Repeats::new(DEFAULT_WINDOW)
    }
}

/// A line let through: empty for the first occurrence, else the count of
/// those held back since the last line, as a suffix for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Occurrences held back since the last line for this key.
    pub repeated: u64,
    /// The window they were held back in, whole seconds.
    pub window_secs: u64,
}

impl std::fmt::Display for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.repeated == 0 {
            return Ok(());
        }
        write!(
            f,
            " (repeated {} time{} in the last {} s)",
            self.repeated,
            if self.repeated == 1 { "" } else { "s" },
            self.window_secs
        )
    }
}

impl Repeats {
    pub fn new(window: Duration) -> Repeats {
        Repeats {
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether to log `site`'s message `text` now.
    pub fn admit(&self, site: &str, text: &str) -> Option<Admitted> {
        self.admit_at(site, text, Instant::now())
    }

    /// [`Repeats::admit`] at a given instant (for tests).
    pub fn admit_at(&self, site: &str, text: &str, now: Instant) -> Option<Admitted> {
        let key = format!("{site}\u{1f}{text}");
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(e) = seen.get_mut(&key) {
            if now.saturating_duration_since(e.logged) < self.window {
                e.held += 1;
                return None;
            }
            let admitted = Admitted {
                repeated: e.held,
                window_secs: now.saturating_duration_since(e.logged).as_secs(),
            };
            e.logged = now;
            e.held = 0;
            return Some(admitted);
        }
        if seen.len() >= MAX_KEYS {
            // Forget the keys quiet the longest (their held-back counts are
            // lost, never a line of a new message).
            let mut by_age: Vec<(Instant, String)> = seen.iter().map(|(k, e)| (e.logged, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age.into_iter().take(MAX_KEYS / 4) {
                seen.remove(&k);
            }
        }
        seen.insert(key, Entry { logged: now, held: 0 });
        Some(Admitted {
            repeated: 0,
            window_secs: 0,
        })
    }
}

/// The process's one [`Repeats`] (default window), shared by the error
/// sites of the workers, the outbox and readiness.
pub fn global() -> &'static Repeats {
    static GLOBAL: std::sync::LazyLock<Repeats> = std::sync::LazyLock::new(Repeats::default);
    &GLOBAL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_logged_then_one_per_window_with_the_count() {
        let r = Repeats::new(Duration::from_secs(30));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        let first = r.admit_at("worker", "database: connection refused", at(0)).unwrap();
        assert_eq!(first.repeated, 0);
        assert_eq!(first.to_string(), "");
        // 4 workers × 2 per second for 30 s: all held back.
        let mut held = 0;
        for i in 1..240 {
            if r.admit_at("worker", "database: connection refused", at(i * 125))
                .is_some()
            {
                held += 1;
            }
        }
        assert_eq!(held, 0, "nothing within the window");
        let next = r
            .admit_at("worker", "database: connection refused", at(30_000))
            .unwrap();
        assert_eq!(next.repeated, 239);
        assert_eq!(next.to_string(), " (repeated 239 times in the last 30 s)");
        // The window starts again from that line.
        assert!(
            r.admit_at("worker", "database: connection refused", at(30_001))
                .is_none()
        );
        let third = r
            .admit_at("worker", "database: connection refused", at(61_000))
            .unwrap();
        assert_eq!(third.to_string(), " (repeated 1 time in the last 31 s)");
    }

    #[test]
    fn a_different_message_or_site_is_logged_at_once() {
        let r = Repeats::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(r.admit_at("worker", "a", t0).is_some());
        assert!(r.admit_at("worker", "a", t0).is_none());
        assert!(r.admit_at("worker", "b", t0).is_some(), "another error");
        assert!(r.admit_at("outbox", "a", t0).is_some(), "another site");
    }

    #[test]
    fn the_keys_are_bounded() {
        let r = Repeats::new(Duration::from_secs(30));
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS * 3) {
            assert!(
                r.admit_at("s", &i.to_string(), t0 + Duration::from_millis(i as u64))
                    .is_some()
            );
        }
        assert!(r.seen.lock().unwrap().len() <= MAX_KEYS);
        // The newest are still remembered.
        assert!(r.admit_at("s", &(MAX_KEYS * 3 - 1).to_string(), t0).is_none());
    }
}
