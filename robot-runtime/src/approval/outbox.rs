//! The outbox: approved decisions on their way out. A worker leases due
//! items, delivers each through the configured channel with the decision's
//! idempotency key, and records the receipt and the case's move to `sent`
//! in one transaction. Failures are retried with backoff; an item that
//! keeps failing is marked `failing` for administrators and still retried
//! at the longest interval.

use crate::pipeline::Runtime;
use crate::store::OutboxRow;
use connectors::delivery::{Delivery, Letter, MaildirConfig, SmtpConfig};
use connectors::{CaseWriteBack, IdempotencyKey, WriteBack};
use domain::LetterKind;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

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

/// Where approved decisions go: a letter, or the case system itself.
#[derive(Clone)]
pub enum Outlet {
    Letter(Arc<dyn Delivery>),
    WriteBack(Arc<dyn CaseWriteBack>),
}

impl Outlet {
    pub fn name(&self) -> &str {
        match self {
            Outlet::Letter(d) => d.name(),
            Outlet::WriteBack(w) => w.name(),
        }
    }

    pub async fn health(&self) -> Result<(), connectors::ConnectorError> {
        match self {
            Outlet::Letter(d) => d.health().await,
            Outlet::WriteBack(w) => w.health().await,
        }
    }
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

    pub fn build(&self, data_dir: &std::path::Path) -> Result<Outlet, connectors::ConnectorError> {
        Ok(match &self.delivery {
            None => Outlet::Letter(Arc::new(connectors::delivery::MaildirDelivery::new(&MaildirConfig {
                path: data_dir.join("outbox"),
                from: "Socialtjänsten <beslut@kommun.invalid>".into(),
                default_to: "arkiv@kommun.invalid".into(),
            })?)),
            Some(DeliverySettings::Maildir(c)) => {
                Outlet::Letter(Arc::new(connectors::delivery::MaildirDelivery::new(c)?))
            }
            Some(DeliverySettings::Smtp(c)) => Outlet::Letter(Arc::new(connectors::delivery::SmtpDelivery::new(c)?)),
            Some(DeliverySettings::Legacy(c)) => {
                Outlet::WriteBack(Arc::new(connectors::legacy::LegacyConnector::new("outbox", c.clone())?))
            }
        })
    }

    fn backoff(&self, attempts: i64) -> chrono::Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let secs = self
            .backoff_base_seconds
            .saturating_mul(1u64 << exp)
            .min(self.backoff_cap_seconds);
        chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
    }
}

/// The subject: the letter's own title up to the dash before the month
/// (each casework type's template titles its letters), or a plain fallback.
fn subject_of(html: &str, kind: LetterKind) -> String {
    let title = html
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t.split(" – ").next().unwrap_or(t).trim())
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .map(|t| t.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"));
    title.unwrap_or_else(|| {
        match kind {
            LetterKind::Beslut => "Beslut",
            LetterKind::Kommunicering => "Kommunicering inför beslut",
        }
        .to_string()
    })
}

fn letter_of(item: &OutboxRow) -> Letter {
    let name = match item.kind {
        LetterKind::Beslut => "beslut",
        LetterKind::Kommunicering => "kommunicering",
    };
    Letter {
        case_ref: format!("case:{}", item.case_id),
        to: item.recipient.clone(),
        subject: subject_of(&item.letter_html, item.kind),
        text: item.letter_text.clone(),
        html: item.letter_html.clone(),
        pdf: Some(item.letter_pdf.clone()),
        pdf_name: format!("{name}-{}.pdf", item.case_id),
    }
}

/// One delivery attempt through the configured outlet. The outer error is
/// the store's (reading the decision); the inner one the outlet's.
async fn deliver(
    rt: &Runtime,
    key: &IdempotencyKey,
    item: &OutboxRow,
) -> Result<Result<connectors::Receipt, connectors::ConnectorError>, crate::store::StoreError> {
    let timeout = Duration::from_secs(120);
    let timed_out = || connectors::ConnectorError::retriable(rt.delivery.name(), "timed out");
    Ok(match &rt.delivery {
        Outlet::Letter(d) => tokio::time::timeout(timeout, d.deliver(key, &letter_of(item)))
            .await
            .unwrap_or_else(|_| Err(timed_out())),
        Outlet::WriteBack(_) if item.kind == LetterKind::Kommunicering => Err(connectors::ConnectorError::permanent(
            rt.delivery.name(),
            "the case system's write-back records decisions only: configure a letter channel (maildir or SMTP) for kommuniceringsbrev",
        )),
        Outlet::WriteBack(w) => {
            // The record is the only source: nothing is read back out of the letter.
            let d = rt.store.outbox_decision(item).await?;
            let r = &d.record;
            let wb = WriteBack {
                external_id: r.external_id.clone(),
                period: r.period,
                outcome: r.outcome,
                amount: Some(r.amount),
                decision_text: super::brev::write_back_text(r),
                decided_by: d.decided_by.join(", "),
            };
            tokio::time::timeout(timeout, w.write_back(key, &wb))
                .await
                .unwrap_or_else(|_| Err(timed_out()))
        }
    })
}

/// Delivers one batch of due items. Returns how many were delivered.
pub async fn deliver_once(rt: &Runtime) -> Result<usize, crate::store::StoreError> {
    let items = rt.store.claim_outbox(&rt.owner, rt.settings.lease(), 16).await?;
    let mut delivered = 0;
    for item in items {
        let span = tracing::info_span!("delivery", case_id = item.case_id, attempt = item.attempts);
        let _e = span.enter();
        let result = match IdempotencyKey::new(item.idempotency_key.clone()) {
            Ok(key) => deliver(rt, &key, &item).await?,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) if rt.faults.hit(crate::pipeline::FaultPoint::AfterDelivery).is_some() => {
                warn!("injected crash after delivery: the receipt is not recorded, the lease will expire");
                return Ok(delivered);
            }
            Ok(receipt) => {
                if rt.store.outbox_delivered(&rt.owner, &item, &receipt.reference).await? {
                    delivered += 1;
                    rt.metrics.work_item("delivered");
                    info!(already = receipt.already_done, "decision delivered");
                } else {
                    warn!("the outbox lease was lost after delivery; the other worker's retry uses the same key");
                }
            }
            Err(e) => {
                let s = &rt.settings.outbox;
                let failing = item.attempts >= s.failing_after || !e.is_retriable();
                let next = rt.clock.now()
                    + if e.is_retriable() {
                        s.backoff(item.attempts)
                    } else {
                        s.backoff(30)
                    };
                rt.store
                    .outbox_failed(&rt.owner, &item, &e.to_string(), next, failing)
                    .await?;
                rt.metrics
                    .work_item(if failing { "delivery_failing" } else { "delivery_retry" });
                warn!(error = %e, failing, "delivery failed; will retry");
            }
        }
    }
    Ok(delivered)
}

/// The outbox worker: delivers until told to stop.
pub async fn outbox_loop(rt: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(rt.settings.outbox.poll_millis.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        match deliver_once(&rt).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => warn!(error = %e, "the outbox could not be read or updated"),
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = crate::clock::stopped(&mut stop) => return,
        }
    }
}

/// Returns cases whose kommunicering reply deadline has passed to the
/// queue, marked, once a minute (and at start).
pub async fn kommunicering_loop(rt: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    loop {
        match super::expire_kommuniceringar(&rt.store).await {
            Ok(0) => {}
            Ok(n) => info!(cases = n, "kommunicering deadlines passed; cases are back in the queue"),
            Err(e) => warn!(error = %e, "kommunicering deadlines could not be checked"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
            () = crate::clock::stopped(&mut stop) => return,
        }
    }
}
