//! Time is injected. The scheduler, the pipeline and the store read it only
//! through a [`Clock`], so tests can set it (daylight-saving days, missed
//! runs, expired leases) without waiting.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Returns once `now() >= at`.
    async fn sleep_until(&self, at: DateTime<Utc>);
}

/// The system's wall clock: the one place that reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "this is the injected clock")]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        // Sleep in slices so a wall-clock jump (NTP, suspend) is noticed.
        loop {
            let left = at - self.now();
            let Ok(left) = left.to_std() else { return };
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(std::time::Duration::from_secs(30))).await;
        }
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: watch::Sender::new(at),
        })
    }

    pub fn set(&self, at: DateTime<Utc>) {
        self.now.send_replace(at);
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.now.send_modify(|t| *t += by);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let mut rx = self.now.subscribe();
        // The sender lives as long as self, so wait_for only ends when the time has come.
        let _ = rx.wait_for(|t| *t >= at).await;
    }
}

/// The audit log's view of the same clock.
pub struct AuditClock(pub Arc<dyn Clock>);

impl audit::Clock for AuditClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_ends_when_the_clock_reaches_the_time() {
        let start = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::new(start);
        let c2 = clock.clone();
        let waiter = tokio::spawn(async move { c2.sleep_until(start + chrono::Duration::minutes(5)).await });
        tokio::task::yield_now().await;
        clock.advance(chrono::Duration::minutes(4));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        clock.advance(chrono::Duration::minutes(1));
        waiter.await.unwrap();
    }
}
