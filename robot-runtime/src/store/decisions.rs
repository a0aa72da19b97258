//! The store's SQL for decisions, kommuniceringar, comments and assignment,
//! as the approval core writes them inside its transaction (see tx.rs), and
//! the outbox rows it adds: written once, instantiated for SQLite and
//! PostgreSQL by `engine!`; `Store`'s methods pick the engine with the
//! store's one `dispatch!`.

use super::sql::*;
use super::*;
use domain::LetterKind;
use sqlx::Row;

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty) => {
        pub(super) mod $module {
            use super::super::sql::$module::*;
            use super::*;

            pub(crate) async fn latest_draft(tx: &mut Tx, case: CaseId) -> Result<Option<(i64, String)>, StoreError> {
                let row = sqlx::query("SELECT id, draft FROM drafts WHERE case_id = $1 ORDER BY id DESC LIMIT 1")
                    .bind(case)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.map(|r| Ok((r.try_get("id")?, r.try_get("draft")?))).transpose()
            }

            pub(crate) async fn document(tx: &mut Tx, case: CaseId) -> Result<Vec<u8>, StoreError> {
                sqlx::query_scalar("SELECT document FROM applications WHERE case_id = $1")
                    .bind(case)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound(case))
            }

            pub(crate) async fn insert_decision(tx: &mut Tx, d: &NewDecision, now: i64) -> Result<i64, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO decisions (case_id, draft_id, outcome, amount_ore, amended, amendment, needs_second, \
                     first_by, first_by_name, first_us, final, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                )
                .bind(d.case_id)
                .bind(d.draft_id)
                .bind(d.outcome.as_str())
                .bind(d.amount.ore())
                .bind(d.amendment.is_some())
                .bind(d.amendment.map(|a| a.to_json()).transpose()?)
                .bind(d.needs_second)
                .bind(d.by_user)
                .bind(&d.by_name)
                .bind(now)
                .bind(!d.needs_second)
                .bind(&d.record)
                .fetch_one(&mut **tx)
                .await?;
                // The queue shows the decision being made (what a second
                // approver approves), not the superseded proposal.
                // And who approved first, so the queue finds the cases
                // waiting for another official than them.
                sqlx::query("UPDATE cases SET outcome = $1, amount_ore = $2, first_by = $3 WHERE id = $4")
                    .bind(d.outcome.as_str())
                    .bind(d.amount.ore())
                    .bind(d.needs_second.then_some(d.by_user))
                    .bind(d.case_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(id)
            }

            pub(crate) async fn pending_decision(tx: &mut Tx, case: CaseId) -> Result<Option<DecisionRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", decision_columns!(), " FROM decisions WHERE case_id = $1 AND final = $2 ORDER BY id DESC LIMIT 1"))
                    .bind(case)
                    .bind(false)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.as_ref().map(decision_from).transpose()
            }

            pub(crate) async fn decisions(tx: &mut Tx, case: CaseId) -> Result<Vec<DecisionRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", decision_columns!(), " FROM decisions WHERE case_id = $1 ORDER BY id"))
                    .bind(case)
                    .fetch_all(&mut **tx)
                    .await?;
                rows.iter().map(decision_from).collect()
            }

            pub(crate) async fn finalize_decision(tx: &mut Tx, id: i64, by_user: i64, by_name: &str, record: &str, now: i64) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE decisions SET second_by = $1, second_by_name = $2, second_us = $3, final = $4, record = $5 WHERE id = $6 AND final = $7",
                )
                .bind(by_user)
                .bind(by_name)
                .bind(now)
                .bind(true)
                .bind(record)
                .bind(id)
                .bind(false)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::Corrupt(format!("decision {id} was not pending"))) }
            }

            pub(crate) async fn insert_outbox(tx: &mut Tx, o: &NewOutboxItem<'_>, now: i64) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO outbox (case_id, kind, decision_id, kommunicering_id, channel, idempotency_key, recipient, letter_html, letter_text, letter_pdf, \
                     status, attempts, next_attempt_us, created_us, updated_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11) RETURNING id",
                )
                .bind(o.case_id)
                .bind(o.kind.as_str())
                .bind(o.decision_id)
                .bind(o.kommunicering_id)
                .bind(o.channel)
                .bind(o.idempotency_key)
                .bind(o.recipient)
                .bind(o.letter_html)
                .bind(o.letter_text)
                .bind(o.letter_pdf)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?)
            }

            /// The next number of a yearly diarium series (gap-free: the
            /// counter moves in the case's own transaction).
            pub(crate) async fn next_in_series(tx: &mut Tx, series: &str, year: i32) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO diarium_series (series, year, last) VALUES ($1, $2, 1) \
                     ON CONFLICT (series, year) DO UPDATE SET last = diarium_series.last + 1 RETURNING last",
                )
                .bind(series)
                .bind(year)
                .fetch_one(&mut **tx)
                .await?)
            }

            pub(crate) async fn insert_kommunicering(tx: &mut Tx, k: &NewKommunicering<'_>, now: i64) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO kommuniceringar (case_id, draft_id, facts, sent_by, sent_by_name, sent_us, deadline_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(k.case_id)
                .bind(k.draft_id)
                .bind(k.facts)
                .bind(k.by_user)
                .bind(k.by_name)
                .bind(now)
                .bind(us(k.deadline))
                .fetch_one(&mut **tx)
                .await?)
            }

            pub(crate) async fn kommuniceringar(tx: &mut Tx, case: CaseId) -> Result<Vec<KommuniceringRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", kommunicering_columns!(), " FROM kommuniceringar WHERE case_id = $1 ORDER BY id"))
                    .bind(case)
                    .fetch_all(&mut **tx)
                    .await?;
                rows.iter().map(kommunicering_from).collect()
            }

            pub(crate) async fn close_kommunicering(
                tx: &mut Tx,
                id: i64,
                closed: &str,
                reply: Option<(&str, &str, &str)>,
                now: i64,
            ) -> Result<(), StoreError> {
                let (text, channel, by, at) = match reply {
                    Some((t, c, b)) => (Some(t), Some(c), Some(b), Some(now)),
                    None => (None, None, None, None),
                };
                let done = sqlx::query(
                    "UPDATE kommuniceringar SET closed = $1, closed_us = $2, reply = $3, reply_channel = $4, reply_by = $5, reply_us = $6 \
                     WHERE id = $7 AND closed IS NULL",
                )
                .bind(closed)
                .bind(now)
                .bind(text)
                .bind(channel)
                .bind(by)
                .bind(at)
                .bind(id)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::Corrupt(format!("kommunicering {id} is not open"))) }
            }

            /// Open kommuniceringar whose reply deadline has passed.
            pub async fn due_kommuniceringar(pool: &$pool, now: DateTime<Utc>, limit: i64) -> Result<Vec<CaseId>, StoreError> {
                Ok(sqlx::query_scalar("SELECT case_id FROM kommuniceringar WHERE closed IS NULL AND deadline_us < $1 ORDER BY deadline_us LIMIT $2")
                    .bind(us(now))
                    .bind(limit)
                    .fetch_all(pool)
                    .await?)
            }

            pub(crate) async fn insert_comment(tx: &mut Tx, case: CaseId, user: i64, name: &str, body: &str, now: i64) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO comments (case_id, user_id, user_name, body, created_us) VALUES ($1, $2, $3, $4, $5)")
                    .bind(case)
                    .bind(user)
                    .bind(name)
                    .bind(body)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub(crate) async fn comments(tx: &mut Tx, case: CaseId) -> Result<Vec<CommentRow>, StoreError> {
                let rows = sqlx::query("SELECT user_name, body, created_us FROM comments WHERE case_id = $1 ORDER BY id")
                    .bind(case)
                    .fetch_all(&mut **tx)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(CommentRow {
                            user_name: r.try_get("user_name")?,
                            body: r.try_get("body")?,
                            at: from_us(r.try_get("created_us")?),
                        })
                    })
                    .collect()
            }

            pub(crate) async fn set_assigned(tx: &mut Tx, case: CaseId, to: Option<i64>, now: i64) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE cases SET assigned_to = $1, updated_us = $2 WHERE id = $3")
                    .bind(to)
                    .bind(now)
                    .bind(case)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound(case)) }
            }

            pub(crate) async fn case_diarienummer(tx: &mut Tx, case: CaseId) -> Result<Option<String>, StoreError> {
                sqlx::query_scalar("SELECT diarienummer FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound(case))
            }

            pub(crate) async fn assigned(tx: &mut Tx, case: CaseId) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar("SELECT assigned_to FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound(case))
            }

            pub(crate) async fn outbox_for_case(tx: &mut Tx, case: CaseId, kind: LetterKind) -> Result<Option<OutboxRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE case_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1"))
                    .bind(case)
                    .bind(kind.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
                row.as_ref().map(outbox_from).transpose()
            }

            /// Other cases that share a household member with this one, newest first.
            pub(crate) async fn household_cases(tx: &mut Tx, case: CaseId, limit: i64) -> Result<Vec<CaseSummary>, StoreError> {
                let sql = format!(
                    "SELECT {} FROM cases WHERE id IN (SELECT b.case_id FROM case_subjects a JOIN case_subjects b ON b.subject = a.subject \
                     WHERE a.case_id = $1 AND b.case_id <> $1) ORDER BY id DESC LIMIT $2",
                    SUMMARY_COLUMNS
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case).bind(limit).fetch_all(&mut **tx).await?;
                rows.iter().map(summary_from).collect()
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, SqlitePool);
engine!(postgres, sqlx::Postgres, PgPool);

impl Store {
    /// Outbox items that keep failing (for administrators).
    /// Cases whose kommunicering deadline has passed without a reply.
    pub async fn due_kommuniceringar(&self, limit: i64) -> Result<Vec<CaseId>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, due_kommuniceringar(now, limit))
    }
}
