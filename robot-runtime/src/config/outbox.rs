//! `[outbox]`: where approved decisions go and how deliveries are retried,
//! as plain data (the outbox worker reads them and builds the channel).

use connectors::delivery::{MaildirConfig, SmtpConfig};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeliverySettings {
    /// Letters as files in a maildir folder (the default: `<data_dir>/outbox`).
    Maildir(MaildirConfig),
    /// Letters by e-mail.
    Smtp(SmtpConfig),
    /// The decision written back into the legacy case system, through its web UI.
    Legacy(connectors::legacy::LegacyConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// Where letters go; a maildir in the data directory if unset.
    pub delivery: Option<DeliverySettings>,
    /// After this many failed attempts an item is marked failing (and still retried).
    pub failing_after: i64,
    pub backoff_base_seconds: u64,
    pub backoff_cap_seconds: u64,
    pub poll_millis: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            delivery: None,
            failing_after: 5,
            backoff_base_seconds: 30,
            backoff_cap_seconds: 3600,
            poll_millis: 1000,
        }
    }
}
impl OutboxSettings {
    /// The channel's name, recorded on each outbox row.
    pub fn channel(&self) -> &'static str {
        match &self.delivery {
            None | Some(DeliverySettings::Maildir(_)) => "maildir",
            Some(DeliverySettings::Smtp(_)) => "smtp",
            Some(DeliverySettings::Legacy(_)) => "legacy",
        }
    }

    pub fn backoff(&self, attempts: i64) -> chrono::Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let secs = self
            .backoff_base_seconds
            .saturating_mul(1u64 << exp)
            .min(self.backoff_cap_seconds);
        chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
    }
}
