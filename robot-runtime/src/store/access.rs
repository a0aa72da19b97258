//! What the access log and the revisor's search need from the store: the
//! cases a person is part of, the reads of a case, and the log itself on
//! the store's pool (`audit_db`).

use super::{Backend, CaseId, Store, StoreError};
use audit::event::{Actor, CaseRef, Event, LeafEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;

macro_rules! reads {
    ($pool:expr, $case:expr) => {{
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT leaf FROM audit_events WHERE case_ref = $1 AND kind = 'case_read' ORDER BY seq")
                .bind(format!("case:{}", $case))
                .fetch_all($pool)
                .await?;
        rows
    }};
}

impl Store {
    /// The audit log on this store's pool, for reading it as the `hrobot
    /// audit` commands do (listing events, proofs).
    pub fn audit_db(&self) -> audit::Db {
        match &*self.backend {
            Backend::Sqlite(p) => audit::Db::Sqlite(p.clone()),
            Backend::Postgres(p) => audit::Db::Postgres(p.clone()),
        }
    }

    /// The cases whose household includes this person (by the keyed
    /// subject id intake recorded, never by searching documents).
    pub async fn cases_of_person(&self, pnr: &domain::Personnummer) -> Result<Vec<CaseId>, StoreError> {
        macro_rules! on {
            ($pool:expr) => {{
                let mut c = $pool.acquire().await?;
                let subject = self.audit().subject_id(&mut *c, pnr).await?;
                sqlx::query_scalar("SELECT case_id FROM case_subjects WHERE subject = $1 ORDER BY case_id")
                    .bind(subject.0.to_vec())
                    .fetch_all(&mut *c)
                    .await?
            }};
        }
        Ok(match &*self.backend {
            Backend::Sqlite(p) => on!(p),
            Backend::Postgres(p) => on!(p),
        })
    }

    /// Logs that `reader` (an audit actor) read the case (`case_read`).
    pub async fn log_case_read(&self, case: CaseId, reader: &str, payload: Value) -> Result<(), StoreError> {
        let event = Event::new(audit::EventKind::CaseRead, Actor::parse(reader)?, self.clock().now())
            .with_case(CaseRef::parse(&format!("case:{case}"))?)
            .with_payload(payload)?;
        self.log(vec![event]).await
    }

    /// Every logged read of the case: when, by whom (the audit actor), and
    /// the event's public payload (`via`).
    pub async fn case_reads(&self, case: CaseId) -> Result<Vec<(DateTime<Utc>, String, Value)>, StoreError> {
        let leaves = match &*self.backend {
            Backend::Sqlite(p) => reads!(p, case),
            Backend::Postgres(p) => reads!(p, case),
        };
        leaves
            .iter()
            .map(|l| {
                let e = LeafEvent::decode(l)
                    .map_err(|e| StoreError::Corrupt(format!("audit event of case {case}: {e}")))?;
                Ok((e.time(), e.actor.to_string(), e.payload))
            })
            .collect()
    }
}
