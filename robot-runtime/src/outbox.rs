//! The outbox: approved decisions on their way out. A worker leases due
//! items, delivers each through the configured channel with the decision's
//! idempotency key, and records the receipt and the case's move to `sent`
//! in one transaction. Failures are retried with backoff; an item that
//! keeps failing is marked `failing` for administrators and still retried
//! at the longest interval.

use crate::clock::Clock;
use crate::config::{DeliverySettings, OutboxSettings};
use crate::faults::{FaultPoint, Faults};
use crate::metrics::Metrics;
use crate::store::{OutboxRow, Store};
use connectors::delivery::{Delivery, Letter, MaildirConfig};
use connectors::{CaseWriteBack, IdempotencyKey, WriteBack};
use domain::LetterKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{Instrument, info, warn};

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

    /// The channel `[outbox] delivery` names (a maildir in `data_dir` if unset).
    pub fn build(settings: &OutboxSettings, data_dir: &std::path::Path) -> Result<Outlet, connectors::ConnectorError> {
        Ok(match &settings.delivery {
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

/// What the outbox worker uses, and nothing else: no robots, no web.
#[derive(Clone)]
pub struct Outbox {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub faults: Faults,
    /// This process's name in leases.
    pub owner: String,
    /// How long a claimed item is this process's.
    pub lease: Duration,
    pub settings: OutboxSettings,
    /// Where approved decisions are delivered.
    pub outlet: Outlet,
}

/// One delivery attempt through the configured outlet. The outer error is
/// the store's (reading the decision); the inner one the outlet's.
async fn deliver(
    rt: &Outbox,
    key: &IdempotencyKey,
    item: &OutboxRow,
) -> Result<Result<connectors::Receipt, connectors::ConnectorError>, crate::store::StoreError> {
    let timeout = Duration::from_secs(120);
    let timed_out = || connectors::ConnectorError::retriable(rt.outlet.name(), "timed out");
    Ok(match &rt.outlet {
        Outlet::Letter(d) => tokio::time::timeout(timeout, d.deliver(key, &letter_of(item)))
            .await
            .unwrap_or_else(|_| Err(timed_out())),
        Outlet::WriteBack(_) if item.kind == LetterKind::Kommunicering => Err(connectors::ConnectorError::permanent(
            rt.outlet.name(),
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
                decision_text: crate::approval::brev::write_back_text(r),
                decided_by: d.decided_by.join(", "),
            };
            tokio::time::timeout(timeout, w.write_back(key, &wb))
                .await
                .unwrap_or_else(|_| Err(timed_out()))
        }
    })
}

/// Delivers one batch of due items. Returns how many were delivered.
pub async fn deliver_once(rt: &Outbox) -> Result<usize, crate::store::StoreError> {
    let items = rt.store.claim_outbox(&rt.owner, rt.lease, 16).await?;
    let mut delivered = 0;
    for item in items {
        // The application's correlation id, so the delivery's lines join
        // its fetch, draft and decision (empty for cases before 0010).
        let correlation_id = rt.store.correlation_id(item.case_id).await?.unwrap_or_default();
        let span = tracing::info_span!(
            "delivery",
            case_id = item.case_id,
            correlation_id = %correlation_id,
            attempt = item.attempts
        );
        match deliver_item(rt, &item).instrument(span).await? {
            Attempt::Delivered => delivered += 1,
            Attempt::Crashed => return Ok(delivered),
            Attempt::NotDelivered => {}
        }
    }
    Ok(delivered)
}

enum Attempt {
    Delivered,
    NotDelivered,
    Crashed,
}

async fn deliver_item(rt: &Outbox, item: &OutboxRow) -> Result<Attempt, crate::store::StoreError> {
    let started = std::time::Instant::now();
    let result = match IdempotencyKey::new(item.idempotency_key.clone()) {
        Ok(key) => deliver(rt, &key, item).await?,
        Err(e) => Err(e),
    };
    let call = match rt.outlet {
        Outlet::Letter(_) => "deliver",
        Outlet::WriteBack(_) => "write_back",
    };
    rt.metrics.connector_call(
        rt.outlet.name(),
        call,
        crate::metrics::connector_result(&result),
        started.elapsed().as_secs_f64(),
    );
    let letter = match item.kind {
        LetterKind::Beslut => "beslut",
        LetterKind::Kommunicering => "kommunicering",
    };
    match result {
        Ok(_) if rt.faults.hit(FaultPoint::AfterDelivery).is_some() => {
            warn!("injected crash after delivery: the receipt is not recorded, the lease will expire");
            Ok(Attempt::Crashed)
        }
        Ok(receipt) => {
            if rt.store.outbox_delivered(&rt.owner, item, &receipt.reference).await? {
                rt.metrics.work_item("delivered");
                rt.metrics.delivery(rt.outlet.name(), letter, "delivered");
                info!(already = receipt.already_done, "decision delivered");
                Ok(Attempt::Delivered)
            } else {
                rt.metrics.delivery(rt.outlet.name(), letter, "lease_lost");
                warn!("the outbox lease was lost after delivery; the other worker's retry uses the same key");
                Ok(Attempt::NotDelivered)
            }
        }
        Err(e) => {
            let s = &rt.settings;
            let failing = item.attempts >= s.failing_after || !e.is_retriable();
            let next = rt.clock.now()
                + if e.is_retriable() {
                    s.backoff(item.attempts)
                } else {
                    s.backoff(30)
                };
            rt.store
                .outbox_failed(&rt.owner, item, &e.to_string(), next, failing)
                .await?;
            rt.metrics
                .work_item(if failing { "delivery_failing" } else { "delivery_retry" });
            rt.metrics
                .delivery(rt.outlet.name(), letter, if failing { "failing" } else { "retry" });
            // A channel that is down fails every letter the same way.
            let text = e.to_string();
            if let Some(r) = crate::repeats::global().admit("delivery", &text) {
                warn!(error = %text, failing, repeated = r.repeated, "delivery failed; will retry{r}");
            }
            Ok(Attempt::NotDelivered)
        }
    }
}

/// The outbox worker: delivers until told to stop.
pub async fn outbox_loop(rt: Outbox, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(rt.settings.poll_millis.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        match deliver_once(&rt).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => {
                let text = crate::error_text::of(&e);
                if let Some(r) = crate::repeats::global().admit("outbox", &text) {
                    warn!(error = %text, repeated = r.repeated, "the outbox could not be read or updated{r}");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = crate::clock::stopped(&mut stop) => return,
        }
    }
}

/// Returns cases whose kommunicering reply deadline has passed to the
/// queue, marked, once a minute (and at start).
pub async fn kommunicering_loop(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        match crate::approval::expire_kommuniceringar(&store).await {
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
