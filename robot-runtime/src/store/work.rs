//! The store's SQL for work items: leasing, finishing (the draft, the case's
//! move, the audit event, in one transaction) and requeueing: written once,
//! instantiated for SQLite and PostgreSQL by `engine!`; `Store`'s methods
//! pick the engine with the store's one `dispatch!`.

use super::routing::route_to_person;
use super::sql::*;
use super::*;
use audit::event::RulesetHash;
use domain::At;
use domain::CaseState;
use serde_json::json;
use sqlx::Row;

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty, $skip_locked:literal) => {
        pub(super) mod $module {
            use super::super::sql::$module::*;
            use super::*;

            pub async fn claim(
                pool: &$pool,
                owner: &str,
                now: DateTime<Utc>,
                lease: Duration,
                limit: i64,
            ) -> Result<Vec<Claimed>, StoreError> {
                let t = us(now);
                let expires = t + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
                let mut tx = begin(pool).await?;
                let sql = concat!(
                    "UPDATE work_items SET status = 'leased', lease_owner = $1, lease_expires_us = $2, attempts = attempts + 1, updated_us = $3 ",
                    "WHERE id IN (SELECT id FROM work_items WHERE status = 'pending' AND next_attempt_us <= $3 OR status = 'leased' AND lease_expires_us < $3 ",
                    "ORDER BY next_attempt_us, id LIMIT $4 ", $skip_locked, ") RETURNING id, case_id, attempts"
                );
                let rows = sqlx::query(sql)
                    .bind(owner)
                    .bind(expires)
                    .bind(t)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let item_id: i64 = r.try_get("id")?;
                    let case_id: i64 = r.try_get("case_id")?;
                    let attempts: i64 = r.try_get::<i64, _>("attempts").or_else(|_| r.try_get::<i32, _>("attempts").map(i64::from))?;
                    let row = sqlx::query("SELECT c.robot, c.correlation_id, a.document FROM cases c JOIN applications a ON a.case_id = c.id WHERE c.id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    out.push(Claimed {
                        item_id,
                        case_id,
                        attempts,
                        robot: row.try_get("robot")?,
                        document: row.try_get("document")?,
                        correlation_id: row.try_get("correlation_id")?,
                    });
                }
                tx.commit().await?;
                Ok(out)
            }

            /// Ends the lease: `done`, `dead` or back to `pending`. False if it was lost.
            async fn release(tx: &mut Tx, item: &Claimed, owner: &str, status: WorkStatus, next: Option<i64>, error: Option<&str>, now: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE work_items SET status = $1, lease_owner = NULL, lease_expires_us = NULL, done_by = $6, \
                     next_attempt_us = COALESCE($2, next_attempt_us), last_error = $3, updated_us = $4 \
                     WHERE id = $5 AND status = 'leased' AND lease_owner = $6",
                )
                .bind(status.as_str())
                .bind(next)
                .bind(error)
                .bind(now)
                .bind(item.item_id)
                .bind(owner)
                .execute(&mut **tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Records what workers concluded, in one transaction. Items
            /// whose lease was lost are skipped (another worker owns them)
            /// and reported as `false`.
            pub async fn finish(
                pool: &$pool,
                audit: &AuditLog,
                owner: &str,
                now: DateTime<Utc>,
                results: &[(Claimed, Finish)],
            ) -> Result<Vec<bool>, StoreError> {
                let t = us(now);
                let who = owner_actor(owner);
                let mut tx = begin(pool).await?;
                let mut kept = Vec::with_capacity(results.len());
                let mut events = Vec::with_capacity(results.len() * 2);
                for (item, finish) in results {
                    let ok = match finish {
                        Finish::RetryAt { at, error } => release(&mut tx, item, owner, WorkStatus::Pending, Some(us(*at)), Some(error), t).await?,
                        Finish::Drafted { draft, register_json, subjects, same_period_check, dropped_when_routed } => {
                            if !release(&mut tx, item, owner, WorkStatus::Done, None, None, t).await? {
                                kept.push(false);
                                continue;
                            }
                            let At::Received(received) = current_state(&mut tx, item.case_id).await?.at() else {
                                return Err(StoreError::StaleState { case: item.case_id, expected: CaseState::Received });
                            };
                            let routes = routes_for(&mut tx, item.case_id, &draft.period().to_string(), *same_period_check).await?;
                            let routed = route_to_person(draft, &routes, &|c: &str| !dropped_when_routed.iter().any(|d| d == c))?;
                            let draft = &routed;
                            let r = draft.ruleset();
                            let json = draft.to_json();
                            sqlx::query("UPDATE applications SET register = $1, enriched_us = $2 WHERE case_id = $3")
                                .bind(register_json)
                                .bind(t)
                                .bind(item.case_id)
                                .execute(&mut *tx)
                                .await?;
                            sqlx::query("INSERT INTO drafts (case_id, draft, created_us) VALUES ($1, $2, $3)")
                                .bind(item.case_id)
                                .bind(&json)
                                .bind(t)
                                .execute(&mut *tx)
                                .await?;
                            sqlx::query(
                                "UPDATE cases SET period = $1, ruleset_name = $2, ruleset_version = $3, ruleset_hash = $4, outcome = $5, amount_ore = $6, assessments = $8 WHERE id = $7",
                            )
                            .bind(draft.period().to_string())
                            .bind(&r.name)
                            .bind(&r.version)
                            .bind(&r.hash)
                            .bind(draft.outcome().as_str())
                            .bind(draft.amount().map(domain::Money::ore))
                            .bind(item.case_id)
                            .bind(i32::try_from(draft.assessments().len()).unwrap_or(i32::MAX))
                            .execute(&mut *tx)
                            .await?;
                            let evaluated = received.evaluated();
                            let codes: Vec<&str> = draft.codes().iter().map(|c| c.as_str()).collect();
                            let mut e = event(evaluated, &who, item.case_id, now)?
                                .with_ruleset(RulesetHash::parse(&r.hash)?)
                                .with_payload(json!({"ruleset": format!("{} {}", r.name, r.version), "outcome": draft.outcome().as_str(), "codes": codes, "attempt": item.attempts}))?;
                            if let Some(applicant) = subjects.first() {
                                e = e.with_personal(applicant, json!({"amount_sek": draft.amount().map(|m| m.to_json_value())}))?;
                            }
                            step(&mut tx, &mut events, item.case_id, evaluated, None, e, t).await?;
                            let At::Evaluated(ev) = evaluated.to().at() else {
                                return Err(StoreError::StaleState { case: item.case_id, expected: CaseState::Evaluated });
                            };
                            let drafted = ev.awaiting_approval();
                            let e = event(drafted, &who, item.case_id, now)?
                                .with_payload(json!({"outcome": draft.outcome().as_str(), "draft_sha256": super::sha256(json.as_bytes())}))?;
                            step(&mut tx, &mut events, item.case_id, drafted, None, e, t).await?;
                            true
                        }
                        Finish::Invalid { reason } => {
                            if !release(&mut tx, item, owner, WorkStatus::Done, None, None, t).await? {
                                kept.push(false);
                                continue;
                            }
                            let At::Received(received) = current_state(&mut tx, item.case_id).await?.at() else {
                                return Err(StoreError::StaleState { case: item.case_id, expected: CaseState::Received });
                            };
                            let s = received.invalid();
                            let e = event(s, &who, item.case_id, now)?.with_payload(json!({"reason": "invalid_application"}))?;
                            step(&mut tx, &mut events, item.case_id, s, Some(reason), e, t).await?;
                            true
                        }
                        Finish::Failed { reason } => {
                            if !release(&mut tx, item, owner, WorkStatus::Dead, None, Some(reason), t).await? {
                                kept.push(false);
                                continue;
                            }
                            let s = match current_state(&mut tx, item.case_id).await?.at() {
                                At::Received(r) => r.failed(),
                                At::Evaluated(e) => e.failed(),
                                _ => return Err(StoreError::StaleState { case: item.case_id, expected: CaseState::Received }),
                            };
                            let e = event(s, &who, item.case_id, now)?.with_payload(json!({"reason": "processing_failed", "attempts": item.attempts}))?;
                            step(&mut tx, &mut events, item.case_id, s, Some(reason), e, t).await?;
                            true
                        }
                    };
                    kept.push(ok);
                }
                if !events.is_empty() {
                    audit.append_batch(&mut *tx, &events).await?;
                }
                tx.commit().await?;
                Ok(kept)
            }

            /// An operator sends a failed case through the pipeline again.
            pub async fn requeue(pool: &$pool, audit: &AuditLog, who: &str, now: DateTime<Utc>, case: CaseId) -> Result<(), StoreError> {
                let t = us(now);
                let mut tx = begin(pool).await?;
                let At::Failed(failed) = current_state(&mut tx, case).await?.at() else {
                    return Err(StoreError::StaleState { case, expected: CaseState::Failed });
                };
                let s = failed.requeued();
                let e = event(s, who, case, now)?;
                let mut events = Vec::new();
                step(&mut tx, &mut events, case, s, None, e, t).await?;
                audit.append_batch(&mut *tx, &events).await?;
                sqlx::query("UPDATE work_items SET status = 'pending', attempts = 0, next_attempt_us = $1, last_error = NULL, updated_us = $1 WHERE case_id = $2")
                    .bind(t)
                    .bind(case)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn count_open_work(pool: &$pool) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM work_items WHERE status IN ('pending', 'leased')")
                    .fetch_one(pool)
                    .await?)
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, SqlitePool, "");
engine!(postgres, sqlx::Postgres, PgPool, "FOR UPDATE SKIP LOCKED");

impl Store {
    /// Leases up to `limit` work items that are due (or whose lease expired).
    pub async fn claim(&self, owner: &str, lease: Duration, limit: i64) -> Result<Vec<Claimed>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, claim(owner, now, lease, limit))
    }

    pub async fn finish(&self, owner: &str, results: &[(Claimed, Finish)]) -> Result<Vec<bool>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, finish(&self.audit, owner, now, results))
    }

    pub async fn requeue(&self, who: &str, case: CaseId) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, requeue(&self.audit, who, now, case))
    }

    pub async fn count_open_work(&self) -> Result<i64, StoreError> {
        dispatch!(self, count_open_work())
    }
}
