//! A unit of work on whichever engine the store uses: the approval core
//! reads a case's state, decides, and records its decision, the state change
//! and the audit events in one transaction.

use super::sql::{
    self, CommentRow, DecisionRow, KommuniceringRow, NewDecision, NewKommunicering, NewOutboxItem, OutboxRow,
};
use super::{CaseId, Store, StoreError, us};
use audit::AuditLog;
use audit::event::{Actor, CaseRef, Event};
use chrono::{DateTime, Utc};
use domain::{CaseState, Step};
use std::sync::Arc;

enum Inner {
    Sqlite(sql::sqlite::Tx),
    Postgres(sql::postgres::Tx),
}

/// An open transaction. Dropping it without [`StoreTx::commit`] rolls back.
pub struct StoreTx {
    inner: Inner,
    events: Vec<Event>,
    audit: Arc<AuditLog>,
    now: DateTime<Utc>,
}

macro_rules! on {
    ($self:expr, $f:ident ( $($arg:expr),* )) => {
        match &mut $self.inner {
            Inner::Sqlite(tx) => sql::sqlite::$f(tx, $($arg),*).await,
            Inner::Postgres(tx) => sql::postgres::$f(tx, $($arg),*).await,
        }
    };
}

impl Store {
    /// Begins a unit of work (on SQLite with `BEGIN IMMEDIATE`).
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        let inner = match &*self.backend {
            super::Backend::Sqlite(p) => Inner::Sqlite(sql::sqlite::begin(p).await?),
            super::Backend::Postgres(p) => Inner::Postgres(sql::postgres::begin(p).await?),
        };
        Ok(StoreTx {
            inner,
            events: Vec::new(),
            audit: self.audit.clone(),
            now: self.clock.now(),
        })
    }
}

impl Store {
    /// Appends audit events that go with no case change (sign-ins, user
    /// and role administration, reading a case) in a transaction of their own.
    pub async fn log(&self, events: Vec<Event>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for e in events {
            tx.record(e);
        }
        tx.commit().await
    }
}

impl StoreTx {
    /// The time this unit of work happens at (read once from the clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub async fn state(&mut self, case: CaseId) -> Result<CaseState, StoreError> {
        on!(self, current_state(case))
    }

    /// Moves the case along a legal step and queues its audit event
    /// (appended at commit, inside this transaction).
    pub async fn step(
        &mut self,
        case: CaseId,
        step: Step,
        actor: &str,
        reason: Option<&str>,
        payload: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.step_with(case, step, None, actor, reason, payload, None).await
    }

    /// [`StoreTx::step`] with the event kind chosen by the caller (a first
    /// approval that amends is `amended`, by the official who amended) and
    /// personal data sealed for one data subject. The public payload gets
    /// the states the step goes between (`from`, `state`), which
    /// `audit verify --cases` holds the case store to.
    #[allow(clippy::too_many_arguments)]
    pub async fn step_with(
        &mut self,
        case: CaseId,
        step: Step,
        kind: Option<audit::EventKind>,
        actor: &str,
        reason: Option<&str>,
        payload: serde_json::Value,
        personal: Option<(&domain::Personnummer, serde_json::Value)>,
    ) -> Result<(), StoreError> {
        let mut event = Event::new(
            kind.unwrap_or_else(|| super::event_kind(step)),
            Actor::parse(actor)?,
            self.now,
        )
        .with_case(CaseRef::parse(&format!("case:{case}"))?)
        .with_payload(payload)?;
        if let Some((subject, data)) = personal {
            event = event.with_personal(subject, data)?;
        }
        let t = us(self.now);
        match &mut self.inner {
            Inner::Sqlite(tx) => sql::sqlite::step(tx, &mut self.events, case, step, reason, event, t).await,
            Inner::Postgres(tx) => sql::postgres::step(tx, &mut self.events, case, step, reason, event, t).await,
        }
    }

    /// Queues an audit event that is not a state change (assignment, comment).
    pub fn record(&mut self, event: Event) {
        self.events.push(event);
    }

    pub async fn latest_draft(&mut self, case: CaseId) -> Result<Option<(i64, String)>, StoreError> {
        on!(self, latest_draft(case))
    }

    pub async fn document(&mut self, case: CaseId) -> Result<Vec<u8>, StoreError> {
        on!(self, document(case))
    }

    pub async fn insert_decision(&mut self, d: &NewDecision) -> Result<i64, StoreError> {
        let t = us(self.now);
        on!(self, insert_decision(d, t))
    }

    pub async fn pending_decision(&mut self, case: CaseId) -> Result<Option<DecisionRow>, StoreError> {
        on!(self, pending_decision(case))
    }

    pub async fn decisions(&mut self, case: CaseId) -> Result<Vec<DecisionRow>, StoreError> {
        on!(self, decisions(case))
    }

    /// A decision of this case by id (pending or final).
    pub async fn pending_or_final(&mut self, case: CaseId, id: i64) -> Result<DecisionRow, StoreError> {
        self.decisions(case)
            .await?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| StoreError::Corrupt(format!("decision {id} of case {case} is missing")))
    }

    /// Completes a pending decision with the second approver and the final record.
    pub async fn finalize_decision(
        &mut self,
        id: i64,
        by_user: i64,
        by_name: &str,
        record: &str,
    ) -> Result<(), StoreError> {
        let t = us(self.now);
        on!(self, finalize_decision(id, by_user, by_name, record, t))
    }

    pub async fn insert_kommunicering(&mut self, k: &NewKommunicering<'_>) -> Result<i64, StoreError> {
        let t = us(self.now);
        on!(self, insert_kommunicering(k, t))
    }

    /// The case's kommuniceringar, oldest first.
    pub async fn kommuniceringar(&mut self, case: CaseId) -> Result<Vec<KommuniceringRow>, StoreError> {
        on!(self, kommuniceringar(case))
    }

    /// Closes an open kommunicering: `answered` with the reply (text,
    /// channel, who recorded it), or `expired`.
    pub async fn close_kommunicering(
        &mut self,
        id: i64,
        closed: &str,
        reply: Option<(&str, &str, &str)>,
    ) -> Result<(), StoreError> {
        let t = us(self.now);
        on!(self, close_kommunicering(id, closed, reply, t))
    }

    pub async fn insert_outbox(&mut self, item: &NewOutboxItem<'_>) -> Result<i64, StoreError> {
        let t = us(self.now);
        on!(self, insert_outbox(item, t))
    }

    pub async fn insert_comment(&mut self, case: CaseId, user: i64, name: &str, body: &str) -> Result<(), StoreError> {
        let t = us(self.now);
        on!(self, insert_comment(case, user, name, body, t))
    }

    pub async fn comments(&mut self, case: CaseId) -> Result<Vec<CommentRow>, StoreError> {
        on!(self, comments(case))
    }

    pub async fn set_assigned(&mut self, case: CaseId, to: Option<i64>) -> Result<(), StoreError> {
        let t = us(self.now);
        on!(self, set_assigned(case, to, t))
    }

    pub async fn assigned(&mut self, case: CaseId) -> Result<Option<i64>, StoreError> {
        on!(self, assigned(case))
    }

    /// The case's newest letter of this kind in the outbox.
    pub async fn outbox_for_case(
        &mut self,
        case: CaseId,
        kind: domain::LetterKind,
    ) -> Result<Option<OutboxRow>, StoreError> {
        on!(self, outbox_for_case(case, kind))
    }

    /// The case's diarienummer (none for a case stored before they existed).
    pub async fn diarienummer(&mut self, case: CaseId) -> Result<Option<String>, StoreError> {
        on!(self, case_diarienummer(case))
    }

    /// Other cases of the same household (sharing a member), newest first.
    pub async fn household_cases(&mut self, case: CaseId, limit: i64) -> Result<Vec<super::CaseSummary>, StoreError> {
        on!(self, household_cases(case, limit))
    }

    /// Appends the queued audit events and commits.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            Inner::Sqlite(tx) => sql::sqlite::commit(tx, &self.audit, &self.events).await,
            Inner::Postgres(tx) => sql::postgres::commit(tx, &self.audit, &self.events).await,
        }
    }
}
