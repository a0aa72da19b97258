//! The store's SQL for the outbox worker's side: leasing due items, recording
//! a delivery or a failure, reading the decision back for a write-back:
//! written once, instantiated for SQLite and PostgreSQL by `engine!`;
//! `Store`'s methods pick the engine with the store's one `dispatch!`.

use super::sql::*;
use super::*;
use audit::event::Event;
use domain::At;
use domain::CaseState;
use domain::LetterKind;
use serde_json::json;

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty, $skip_locked:literal) => {
        pub(super) mod $module {
            use super::super::sql::$module::*;
            use super::*;

            pub async fn claim_outbox(pool: &$pool, owner: &str, now: DateTime<Utc>, lease: Duration, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
                let t = us(now);
                let expires = t + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
                let mut tx = begin(pool).await?;
                let sql = concat!(
                    "UPDATE outbox SET status = 'leased', lease_owner = $1, lease_expires_us = $2, attempts = attempts + 1, updated_us = $3 ",
                    "WHERE id IN (SELECT id FROM outbox WHERE (status IN ('pending', 'failing') AND next_attempt_us <= $3) OR (status = 'leased' AND lease_expires_us < $3) ",
                    "ORDER BY next_attempt_us, id LIMIT $4 ", $skip_locked, ") RETURNING ", outbox_columns!()
                );
                let rows = sqlx::query(sql).bind(owner).bind(expires).bind(t).bind(limit).fetch_all(&mut *tx).await?;
                let out = rows.iter().map(outbox_from).collect::<Result<Vec<_>, _>>()?;
                tx.commit().await?;
                Ok(out)
            }

            /// Records a delivery: the item is delivered and, for a decision,
            /// the case sent, in one transaction.
            pub async fn outbox_delivered(pool: &$pool, audit: &AuditLog, owner: &str, item: &OutboxRow, receipt: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let t = us(now);
                let mut tx = begin(pool).await?;
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'delivered', receipt = $1, delivered_us = $2, lease_owner = NULL, lease_expires_us = NULL, last_error = NULL, updated_us = $2 \
                     WHERE id = $3 AND status = 'leased' AND lease_owner = $4",
                )
                .bind(receipt)
                .bind(t)
                .bind(item.id)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let mut events = Vec::new();
                if item.kind == LetterKind::Kommunicering {
                    // A kommuniceringsbrev does not move the case: it waits for the reply.
                    events.push(
                        Event::new(audit::EventKind::LetterSent, actor("robot:outbox")?, now)
                            .with_case(case_ref(item.case_id)?)
                            .with_payload(json!({"letter": "kommunicering", "kommunicering_id": item.kommunicering_id, "channel": item.channel, "attempts": item.attempts}))?,
                    );
                    commit(tx, audit, &events).await?;
                    return Ok(true);
                }
                let s = match current_state(&mut tx, item.case_id).await?.at() {
                    At::Approved(a) => a.sent(),
                    At::Amended(a) => a.sent(),
                    _ => return Err(StoreError::StaleState { case: item.case_id, expected: CaseState::Approved }),
                };
                let e = event(s, "robot:outbox", item.case_id, now)?.with_payload(json!({"channel": item.channel, "attempts": item.attempts}))?;
                step(&mut tx, &mut events, item.case_id, s, None, e, t).await?;
                commit(tx, audit, &events).await?;
                Ok(true)
            }

            pub async fn outbox_failed(pool: &$pool, owner: &str, item: &OutboxRow, error: &str, next: DateTime<Utc>, failing: bool, now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = begin(pool).await?;
                sqlx::query(
                    "UPDATE outbox SET status = $1, last_error = $2, next_attempt_us = $3, lease_owner = NULL, lease_expires_us = NULL, updated_us = $4 \
                     WHERE id = $5 AND status = 'leased' AND lease_owner = $6",
                )
                .bind(if failing { DeliveryStatus::Failing } else { DeliveryStatus::Pending }.as_str())
                .bind(error)
                .bind(us(next))
                .bind(us(now))
                .bind(item.id)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            /// What a case system needs to record the decision of an outbox
            /// item: the decision record, and who decided by login name.
            pub async fn outbox_decision(pool: &$pool, item: &OutboxRow) -> Result<OutboxDecision, StoreError> {
                let record: Option<String> = sqlx::query_scalar("SELECT record FROM decisions WHERE id = $1 AND case_id = $2 AND final = $3")
                    .bind(item.decision_id)
                    .bind(item.case_id)
                    .bind(true)
                    .fetch_one(pool)
                    .await?;
                let record = record
                    .ok_or_else(|| StoreError::Corrupt(format!("the decision of case {} has no record", item.case_id)))
                    .and_then(|j| {
                        domain::DecisionRecord::from_json(&j)
                            .map_err(|e| StoreError::Corrupt(format!("the decision of case {}: {e}", item.case_id)))
                    })?;
                let decided_by = record.signatories.iter().map(|s| s.username.clone()).collect();
                Ok(OutboxDecision { record, decided_by })
            }

            pub async fn failing_outbox(pool: &$pool) -> Result<Vec<OutboxRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE status = 'failing' ORDER BY id"))
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(outbox_from).collect()
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, SqlitePool, "");
engine!(postgres, sqlx::Postgres, PgPool, "FOR UPDATE SKIP LOCKED");

impl Store {
    /// Leases outbox items that are due (or whose lease expired).
    pub async fn claim_outbox(&self, owner: &str, lease: Duration, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, claim_outbox(owner, now, lease, limit))
    }

    /// The item is delivered: record the receipt and move the case to sent.
    pub async fn outbox_delivered(&self, owner: &str, item: &OutboxRow, receipt: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        dispatch!(self, outbox_delivered(&self.audit, owner, item, receipt, now))
    }

    pub async fn outbox_failed(
        &self,
        owner: &str,
        item: &OutboxRow,
        error: &str,
        next: DateTime<Utc>,
        failing: bool,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, outbox_failed(owner, item, error, next, failing, now))
    }

    pub async fn outbox_decision(&self, item: &OutboxRow) -> Result<OutboxDecision, StoreError> {
        dispatch!(self, outbox_decision(item))
    }

    pub async fn failing_outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        dispatch!(self, failing_outbox())
    }
}
