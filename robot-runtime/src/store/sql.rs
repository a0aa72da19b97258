//! The store's shared SQL and the cases' own: the row types several table
//! families read, the transaction helpers every family builds on (`Tx`,
//! `begin`, `step`, `event`, `commit`), cases and their documents (intake
//! with versions and the same-period check, listing, detail, counts) and
//! the audit checkpoint. The other families have a file each: `work.rs`,
//! `runs.rs`, `decisions.rs`, `outbox.rs`, `queue.rs`, `users.rs`,
//! `sessions.rs`, `access.rs`. Written once, instantiated for SQLite and
//! PostgreSQL by `engine!`; `Store`'s methods pick the engine with the
//! store's one `dispatch!` (in `mod.rs`).

use super::routing::Route;
use super::*;
use audit::event::{Actor, CaseRef, Event};
use domain::{At, CaseState, LetterKind};
use serde_json::json;
use sqlx::Row;

/// A pool on one of the two engines.
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub(super) fn actor(s: &str) -> Result<Actor, StoreError> {
    Ok(Actor::parse(s)?)
}

pub(super) fn case_ref(id: CaseId) -> Result<CaseRef, StoreError> {
    Ok(CaseRef::parse(&format!("case:{id}"))?)
}

/// The audit event for a fetched document.
pub(super) fn fetched_event(
    id: CaseId,
    c: &NewCase,
    diarienummer: &str,
    now: DateTime<Utc>,
) -> Result<Event, StoreError> {
    let mut e = Event::new(audit::EventKind::Fetched, actor(&format!("robot:{}", c.robot))?, now)
        .with_case(case_ref(id)?)
        .with_payload(json!({"source": c.source, "source_ref_len": c.source_ref.len(), "period": c.period, "diarienummer": diarienummer, "state": "received", "application_sha256": super::sha256(&c.document)}))?;
    for (i, p) in c.subjects.iter().enumerate() {
        let role = if i == 0 { "sökande" } else { "hushållsmedlem" };
        e = e.with_personal(p, json!({"roll": role, "external_id": c.external_id}))?;
    }
    Ok(e)
}

pub(super) fn summary_from<R: Row>(r: &R) -> Result<CaseSummary, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
{
    let state: String = r.try_get("state")?;
    let outcome: Option<String> = r.try_get("outcome")?;
    let name: Option<String> = r.try_get("ruleset_name")?;
    let version: Option<String> = r.try_get("ruleset_version")?;
    Ok(CaseSummary {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        external_id: r.try_get("external_id")?,
        robot: r.try_get("robot")?,
        state: state
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("unknown state {state:?}")))?,
        state_reason: r.try_get("state_reason")?,
        period: r.try_get("period")?,
        outcome: match outcome {
            None => None,
            Some(o) => Some(
                o.parse()
                    .map_err(|_| StoreError::Corrupt(format!("unknown outcome {o:?}")))?,
            ),
        },
        amount_ore: r.try_get("amount_ore")?,
        ruleset: match (name, version) {
            (Some(n), Some(v)) => Some(format!("{n} {v}")),
            _ => None,
        },
        diarienummer: r.try_get("diarienummer")?,
        received: from_us(r.try_get("received_us")?),
        updated: from_us(r.try_get("updated_us")?),
    })
}

/// A decision row.
#[derive(Debug, Clone)]
pub struct DecisionRow {
    pub id: i64,
    pub case_id: CaseId,
    pub draft_id: i64,
    pub outcome: domain::Outcome,
    pub amount: domain::Money,
    pub amendment: Option<AmendmentNote>,
    pub needs_second: bool,
    pub first_by: i64,
    pub first_by_name: String,
    pub first_at: DateTime<Utc>,
    pub second_by: Option<i64>,
    pub second_by_name: Option<String>,
    pub final_: bool,
    /// The decision record (JSON of `domain::DecisionRecord`).
    pub record: Option<String>,
}

/// What the approval core asks the store to record as a decision.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub case_id: CaseId,
    pub draft_id: i64,
    pub outcome: domain::Outcome,
    pub amount: domain::Money,
    /// When an official departed from the proposal: on what basis, and how many rows.
    pub amendment: Option<AmendmentNote>,
    pub needs_second: bool,
    pub by_user: i64,
    pub by_name: String,
    /// The decision record as the first official made it (JSON).
    pub record: String,
}

#[derive(Debug, Clone)]
pub struct CommentRow {
    pub user_name: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// An outbox item (the letter itself is not loaded for listings).
#[derive(Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub case_id: CaseId,
    pub kind: LetterKind,
    pub decision_id: Option<i64>,
    pub kommunicering_id: Option<i64>,
    pub channel: String,
    pub idempotency_key: String,
    pub recipient: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub receipt: Option<String>,
    pub letter_html: String,
    pub letter_text: String,
    pub letter_pdf: Vec<u8>,
    pub next_attempt: DateTime<Utc>,
}

impl std::fmt::Debug for OutboxRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRow")
            .field("id", &self.id)
            .field("case_id", &self.case_id)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The decision behind an outbox item, for a case system's write-back:
/// its record, nothing read back out of the letter.
#[derive(Debug, Clone)]
pub struct OutboxDecision {
    pub record: domain::DecisionRecord,
    /// The officials' login names (a write-back never carries their names).
    pub decided_by: Vec<String>,
}

/// What goes into the outbox (built by the approval core from an
/// `ApprovedDecision` or a sent kommunicering).
pub struct NewOutboxItem<'a> {
    pub case_id: CaseId,
    pub kind: LetterKind,
    pub decision_id: Option<i64>,
    pub kommunicering_id: Option<i64>,
    pub channel: &'a str,
    pub idempotency_key: &'a str,
    pub recipient: Option<&'a str>,
    pub letter_html: &'a str,
    pub letter_text: &'a str,
    pub letter_pdf: &'a [u8],
}

macro_rules! decision_columns {
    () => {
        "id, case_id, draft_id, outcome, amount_ore, amendment, needs_second, first_by, first_by_name, first_us, second_by, second_by_name, final, record"
    };
}

/// A kommunicering as stored.
#[derive(Debug, Clone)]
pub struct KommuniceringRow {
    pub id: i64,
    pub case_id: CaseId,
    pub draft_id: i64,
    /// JSON: what was sent (`approval::kommunicering::Facts`).
    pub facts: String,
    pub sent_by: i64,
    pub sent_by_name: String,
    pub sent: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub reply: Option<String>,
    pub reply_channel: Option<String>,
    pub reply_at: Option<DateTime<Utc>>,
    pub closed: Option<String>,
}

/// What the approval core records when an official sends a kommunicering.
pub struct NewKommunicering<'a> {
    pub case_id: CaseId,
    pub draft_id: i64,
    pub facts: &'a str,
    pub by_user: i64,
    pub by_name: &'a str,
    pub deadline: DateTime<Utc>,
}

macro_rules! kommunicering_columns {
    () => {
        "id, case_id, draft_id, facts, sent_by, sent_by_name, sent_us, deadline_us, reply, reply_channel, reply_us, closed"
    };
}

pub(super) fn kommunicering_from<R: Row>(r: &R) -> Result<KommuniceringRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
{
    Ok(KommuniceringRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        draft_id: r.try_get("draft_id")?,
        facts: r.try_get("facts")?,
        sent_by: r.try_get("sent_by")?,
        sent_by_name: r.try_get("sent_by_name")?,
        sent: from_us(r.try_get("sent_us")?),
        deadline: from_us(r.try_get("deadline_us")?),
        reply: r.try_get("reply")?,
        reply_channel: r.try_get("reply_channel")?,
        reply_at: r.try_get::<Option<i64>, _>("reply_us")?.map(from_us),
        closed: r.try_get("closed")?,
    })
}

macro_rules! outbox_columns {
    () => {
        "id, case_id, kind, decision_id, kommunicering_id, channel, idempotency_key, recipient, status, attempts, last_error, receipt, letter_html, letter_text, letter_pdf, next_attempt_us"
    };
}
pub(super) use {decision_columns, kommunicering_columns, outbox_columns};

pub(super) fn int<R: Row>(r: &R, col: &str) -> Result<i64, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    r.try_get::<i64, _>(col)
        .or_else(|_| r.try_get::<i32, _>(col).map(i64::from))
        .map_err(StoreError::from)
}

pub(super) fn decision_from<R: Row>(r: &R) -> Result<DecisionRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
{
    let outcome: String = r.try_get("outcome")?;
    Ok(DecisionRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        draft_id: r.try_get("draft_id")?,
        outcome: outcome
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("unknown outcome {outcome:?}")))?,
        amount: domain::Money::from_ore(r.try_get("amount_ore")?),
        amendment: r
            .try_get::<Option<String>, _>("amendment")?
            .map(|a| AmendmentNote::from_json(&a))
            .transpose()?,
        needs_second: r.try_get("needs_second")?,
        first_by: r.try_get("first_by")?,
        first_by_name: r.try_get("first_by_name")?,
        first_at: from_us(r.try_get("first_us")?),
        second_by: r.try_get("second_by")?,
        second_by_name: r.try_get("second_by_name")?,
        final_: r.try_get("final")?,
        record: r.try_get("record")?,
    })
}

pub(super) fn outbox_from<R: Row>(r: &R) -> Result<OutboxRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
{
    let kind: String = r.try_get("kind")?;
    Ok(OutboxRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        kind: kind
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("unknown letter kind {kind:?}")))?,
        decision_id: r.try_get("decision_id")?,
        kommunicering_id: r.try_get("kommunicering_id")?,
        channel: r.try_get("channel")?,
        idempotency_key: r.try_get("idempotency_key")?,
        recipient: r.try_get("recipient")?,
        status: r.try_get::<String, _>("status")?.parse()?,
        attempts: int(r, "attempts")?,
        last_error: r.try_get("last_error")?,
        receipt: r.try_get("receipt")?,
        letter_html: r.try_get("letter_html")?,
        letter_text: r.try_get("letter_text")?,
        letter_pdf: r.try_get("letter_pdf")?,
        next_attempt: from_us(r.try_get("next_attempt_us")?),
    })
}

pub(super) const SUMMARY_COLUMNS: &str = "id, source, external_id, robot, state, state_reason, period, ruleset_name, ruleset_version, outcome, amount_ore, diarienummer, received_us, updated_us";

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty, $begin:expr, $skip_locked:literal) => {
        pub(super) mod $module {
            use super::*;
            // The approval core's transaction (tx.rs) reaches the decisions' SQL here too.
            pub(crate) use crate::store::decisions::$module::*;

            pub(crate) type Tx = sqlx::Transaction<'static, $db>;

            pub(crate) async fn begin(pool: &$pool) -> Result<Tx, StoreError> {
                let f = $begin;
                Ok(f(pool).await?)
            }

            /// Moves a case along one legal step; its audit event goes to
            /// `events`, appended (in order) before the transaction commits.
            pub(crate) async fn step(
                tx: &mut Tx,
                events: &mut Vec<Event>,
                case: CaseId,
                step: Step,
                reason: Option<&str>,
                event: Event,
                now: i64,
            ) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE cases SET state = $1, state_reason = $2, updated_us = $3 WHERE id = $4 AND state = $5")
                    .bind(step.to().as_str())
                    .bind(reason)
                    .bind(now)
                    .bind(case)
                    .bind(step.from().as_str())
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::StaleState { case, expected: step.from() });
                }
                // Every state change says which states it went between, so
                // `audit verify --cases` can hold the case store to the log.
                let mut payload = event.payload().clone();
                if let Some(o) = payload.as_object_mut() {
                    o.insert("from".into(), step.from().as_str().into());
                    o.insert("state".into(), step.to().as_str().into());
                }
                events.push(event.with_payload(payload)?);
                Ok(())
            }

            pub(crate) fn event(step: Step, who: &str, case: CaseId, now: DateTime<Utc>) -> Result<Event, StoreError> {
                Ok(Event::new(event_kind(step), actor(who)?, now)
                    .with_case(case_ref(case)?))
            }

            /// Stores one case as received: diarienummer, document, work
            /// item (or, for an item the source refused, straight to
            /// `invalid`), subjects, audit events. `None` if the key was
            /// taken meanwhile.
            #[allow(clippy::too_many_arguments)]
            pub(crate) async fn insert_case(
                tx: &mut Tx,
                audit: &AuditLog,
                diarium: &Diarium,
                now: DateTime<Utc>,
                events: &mut Vec<Event>,
                c: &NewCase,
                external_id: &str,
                version: i64,
                previous: Option<CaseId>,
                sha256: &str,
            ) -> Result<Option<CaseId>, StoreError> {
                let t = us(now);
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO cases (source, external_id, source_ref, robot, run_id, state, period, received_us, updated_us, version, previous_case_id, content_sha256, applied_us, correlation_id) \
                     VALUES ($1, $2, $3, $4, $5, 'received', $6, $7, $7, $8, $9, $10, $11, $12) ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
                )
                .bind(&c.source)
                .bind(external_id)
                .bind(&c.source_ref)
                .bind(&c.robot)
                .bind(c.run_id)
                .bind(&c.period)
                .bind(t)
                .bind(version)
                .bind(previous)
                .bind(sha256)
                .bind(us(c.applied.unwrap_or(now)))
                .bind(Some(c.correlation_id.as_str()).filter(|c| !c.is_empty()))
                .fetch_optional(&mut **tx)
                .await?;
                let Some(id) = id else { return Ok(None) };
                let year = diarium.year_of(now);
                let n = next_in_series(tx, &diarium.series, year).await?;
                let diarienummer = diarium.format(year, n);
                sqlx::query("UPDATE cases SET diarienummer = $1 WHERE id = $2")
                    .bind(&diarienummer)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("INSERT INTO applications (case_id, document) VALUES ($1, $2)")
                    .bind(id)
                    .bind(&c.document)
                    .execute(&mut **tx)
                    .await?;
                for (i, p) in c.subjects.iter().enumerate() {
                    let subject = audit.subject_id(&mut **tx, p).await?;
                    sqlx::query("INSERT INTO case_subjects (case_id, subject, adult) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(id)
                        .bind(subject.0.to_vec())
                        .bind(i32::from(i < c.adults))
                        .execute(&mut **tx)
                        .await?;
                }
                write_people(tx, id, &c.people, &diarienummer, external_id).await?;
                events.push(fetched_event(id, c, &diarienummer, now)?);
                if let Some(previous) = previous {
                    events.push(
                        Event::new(audit::EventKind::Resubmitted, actor(&format!("robot:{}", c.robot))?, now)
                            .with_case(case_ref(id)?)
                            .with_payload(json!({"previous_case": format!("case:{previous}"), "version": version}))?,
                    );
                }
                match &c.refused {
                    Some(reason) => {
                        // Nothing to work: the source could not hand the item over.
                        let s = CaseState::Received.at();
                        let At::Received(received) = s else {
                            return Err(StoreError::StaleState { case: id, expected: CaseState::Received });
                        };
                        let s = received.invalid();
                        let e = event(s, &format!("robot:{}", c.robot), id, now)?
                            .with_payload(json!({"reason": "refused_by_source"}))?;
                        step(tx, events, id, s, Some(reason), e, t).await?;
                    }
                    None => {
                        sqlx::query("INSERT INTO work_items (case_id, status, attempts, next_attempt_us, updated_us) VALUES ($1, 'pending', 0, $2, $2)")
                            .bind(id)
                            .bind(t)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                Ok(Some(id))
            }

            /// Who a case is about and its search terms (names,
            /// personnummer, diarienummer, external id). Idempotent.
            pub(crate) async fn write_people(
                tx: &mut Tx,
                id: CaseId,
                people: &[CasePerson],
                diarienummer: &str,
                external_id: &str,
            ) -> Result<(), StoreError> {
                for (pos, p) in people.iter().enumerate() {
                    sqlx::query("INSERT INTO case_people (case_id, pos, role, name, personnummer) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
                        .bind(id)
                        .bind(i32::try_from(pos).unwrap_or(i32::MAX))
                        .bind(&p.role)
                        .bind(&p.name)
                        .bind(p.personnummer.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
                let texts = people
                    .iter()
                    .flat_map(|p| [p.name.as_deref().unwrap_or(""), p.personnummer.as_str()])
                    .chain([diarienummer, external_id]);
                let terms: Vec<String> = crate::store::search::terms(texts).into_iter().collect();
                for chunk in terms.chunks(200) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO case_terms (term, case_id) ");
                    qb.push_values(chunk, |mut b, t| {
                        b.push_bind(t.clone()).push_bind(id);
                    });
                    qb.push(" ON CONFLICT DO NOTHING");
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// The SHA-256 (hex) of a stored case's document.
            pub(crate) async fn stored_sha256(tx: &mut Tx, case: CaseId) -> Result<String, StoreError> {
                let h: Option<String> = sqlx::query_scalar("SELECT content_sha256 FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_one(&mut **tx)
                    .await?;
                if let Some(h) = h {
                    return Ok(h);
                }
                // Stored before the hash was kept.
                let doc: Vec<u8> = sqlx::query_scalar("SELECT document FROM applications WHERE case_id = $1")
                    .bind(case)
                    .fetch_one(&mut **tx)
                    .await?;
                Ok(sha256_hex(&doc))
            }

            pub(crate) async fn case_by_key(tx: &mut Tx, source: &str, external_id: &str) -> Result<Option<CaseId>, StoreError> {
                Ok(sqlx::query_scalar("SELECT id FROM cases WHERE source = $1 AND external_id = $2")
                    .bind(source)
                    .bind(external_id)
                    .fetch_optional(&mut **tx)
                    .await?)
            }

            /// Stores fetched documents. The same content under a known
            /// (source, external_id) is a harmless re-delivery
            /// (`Duplicate`); different content is a new version of the
            /// case (`NewVersion`, stored under `EXTERNAL_ID~vN`, linked to
            /// the version before, with a `resubmitted` audit event).
            pub async fn insert_cases(
                pool: &$pool,
                audit: &AuditLog,
                diarium: &Diarium,
                now: DateTime<Utc>,
                cases: &[NewCase],
            ) -> Result<Vec<Inserted>, StoreError> {
                let mut tx = begin(pool).await?;
                let mut out = Vec::with_capacity(cases.len());
                let mut events = Vec::new();
                for c in cases {
                    let sha256 = sha256_hex(&c.document);
                    let Some(first) = case_by_key(&mut tx, &c.source, &c.external_id).await? else {
                        match insert_case(&mut tx, audit, diarium, now, &mut events, c, &c.external_id, 1, None, &sha256).await? {
                            Some(id) => out.push(Inserted::New(id)),
                            None => {
                                // Taken by a concurrent fetch of the same item.
                                let id = case_by_key(&mut tx, &c.source, &c.external_id).await?.ok_or(StoreError::NotFound(0))?;
                                out.push(Inserted::Duplicate(id));
                            }
                        }
                        continue;
                    };
                    let mut versions = vec![first];
                    while let Some(v) = case_by_key(&mut tx, &c.source, &version_key(&c.external_id, versions.len() + 1)).await? {
                        versions.push(v);
                    }
                    let mut same = None;
                    for v in &versions {
                        if stored_sha256(&mut tx, *v).await? == sha256 {
                            same = Some(*v);
                            break;
                        }
                    }
                    if let Some(v) = same {
                        out.push(Inserted::Duplicate(v));
                        continue;
                    }
                    let previous = versions.last().copied().unwrap_or(first);
                    let version = i64::try_from(versions.len() + 1).unwrap_or(i64::MAX);
                    let key = version_key(&c.external_id, versions.len() + 1);
                    match insert_case(&mut tx, audit, diarium, now, &mut events, c, &key, version, Some(previous), &sha256).await? {
                        Some(id) => out.push(Inserted::NewVersion { id, previous, version }),
                        None => {
                            let id = case_by_key(&mut tx, &c.source, &key).await?.ok_or(StoreError::NotFound(0))?;
                            out.push(Inserted::Duplicate(id));
                        }
                    }
                }
                if !events.is_empty() {
                    audit.append_batch(&mut *tx, &events).await?;
                }
                tx.commit().await?;
                Ok(out)
            }

            /// Why a drafted case must go to a person (see `routing`).
            pub(crate) async fn routes_for(tx: &mut Tx, case: CaseId, period: &str, same_period_check: bool) -> Result<Vec<Route>, StoreError> {
                let row = sqlx::query("SELECT source, external_id, version, previous_case_id FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound(case))?;
                let source: String = row.try_get("source")?;
                let external_id: String = row.try_get("external_id")?;
                let version: i64 = row.try_get("version")?;
                let previous: Option<i64> = row.try_get("previous_case_id")?;
                let mut routes = Vec::new();
                if let Some(previous) = previous {
                    let diarienummer: Option<String> = sqlx::query_scalar("SELECT diarienummer FROM cases WHERE id = $1")
                        .bind(previous)
                        .fetch_one(&mut **tx)
                        .await?;
                    routes.push(Route::Resubmitted { previous, diarienummer });
                }
                if same_period_check {
                    // The versions of this application are one application.
                    let base = if version > 1 {
                        external_id.rsplit_once("~v").map_or(external_id.as_str(), |(b, _)| b)
                    } else {
                        external_id.as_str()
                    };
                    let prefix = format!("{base}~v");
                    let prefix_len = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
                    // Another case for an adult of this household (subjects
                    // stored before adults were marked count as adults) and
                    // the same period, from any source, that is not invalid
                    // and not closed without a decision. A later case counts
                    // once it is past `received`, so of two applications
                    // worked at the same time at least the later one goes
                    // to a person.
                    let rows = sqlx::query(
                        "SELECT DISTINCT c.id, c.diarienummer FROM case_subjects me \
                         JOIN case_subjects s ON s.subject = me.subject AND s.case_id <> me.case_id \
                         JOIN cases c ON c.id = s.case_id \
                         WHERE me.case_id = $1 AND COALESCE(me.adult, 1) = 1 AND COALESCE(s.adult, 1) = 1 \
                           AND c.period = $2 AND c.state <> 'invalid' \
                           AND NOT (c.state = 'closed' AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.case_id = c.id)) \
                           AND (c.id < $1 OR c.state <> 'received') \
                           AND NOT (c.source = $3 AND (c.external_id = $4 OR substr(c.external_id, 1, $5) = $6)) \
                         ORDER BY c.id",
                    )
                    .bind(case)
                    .bind(period)
                    .bind(&source)
                    .bind(base)
                    .bind(prefix_len)
                    .bind(&prefix)
                    .fetch_all(&mut **tx)
                    .await?;
                    let earlier = rows
                        .iter()
                        .map(|r| Ok((r.try_get::<i64, _>("id")?, r.try_get::<Option<String>, _>("diarienummer")?)))
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    if !earlier.is_empty() {
                        routes.push(Route::SamePeriod { earlier });
                    }
                }
                Ok(routes)
            }

            pub(crate) async fn current_state(tx: &mut Tx, case: CaseId) -> Result<CaseState, StoreError> {
                let s: String = sqlx::query_scalar("SELECT state FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound(case))?;
                s.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {s:?}")))
            }

            pub async fn list_cases(pool: &$pool, state: Option<CaseState>, robot: Option<&str>, limit: i64, offset: i64) -> Result<Vec<CaseSummary>, StoreError> {
                let sql = format!(
                    "SELECT {SUMMARY_COLUMNS} FROM cases WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR robot = $2) ORDER BY id LIMIT $3 OFFSET $4"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(state.map(|s| s.as_str()))
                    .bind(robot)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(summary_from).collect()
            }

            pub async fn case_detail(pool: &$pool, id: CaseId) -> Result<CaseDetail, StoreError> {
                let sql = format!("SELECT {SUMMARY_COLUMNS} FROM cases WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?
                    .ok_or(StoreError::NotFound(id))?;
                let summary = summary_from(&row)?;
                let app = sqlx::query("SELECT document, register FROM applications WHERE case_id = $1")
                    .bind(id)
                    .fetch_one(pool)
                    .await?;
                let draft: Option<String> = sqlx::query_scalar("SELECT draft FROM drafts WHERE case_id = $1 ORDER BY id DESC LIMIT 1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                let work = sqlx::query("SELECT attempts, status, last_error FROM work_items WHERE case_id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                let (attempts, work_status, last_error) = match work {
                    Some(w) => (
                        Some(w.try_get::<i64, _>("attempts").or_else(|_| w.try_get::<i32, _>("attempts").map(i64::from))?),
                        Some(w.try_get::<String, _>("status")?.parse()?),
                        w.try_get::<Option<String>, _>("last_error")?,
                    ),
                    None => (None, None, None),
                };
                Ok(CaseDetail {
                    summary,
                    document: app.try_get("document")?,
                    register_json: app.try_get("register")?,
                    draft_json: draft,
                    attempts,
                    work_status,
                    last_error,
                })
            }

            pub async fn count_by_state(pool: &$pool) -> Result<Vec<(CaseState, i64)>, StoreError> {
                let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM cases GROUP BY state ORDER BY state")
                    .fetch_all(pool)
                    .await?;
                let mut out = Vec::new();
                for r in rows {
                    let s: String = r.try_get("state")?;
                    let state = s.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {s:?}")))?;
                    out.push((state, r.try_get("n")?));
                }
                Ok(out)
            }

            pub async fn checkpoint(pool: &$pool, audit: &AuditLog, only_if_due: bool) -> Result<Option<audit::SignedCheckpoint>, StoreError> {
                let mut tx = begin(pool).await?;
                let signed = if only_if_due {
                    audit.checkpoint_if_due(&mut *tx).await?
                } else {
                    audit.checkpoint(&mut *tx).await?
                };
                tx.commit().await?;
                Ok(signed)
            }

            pub async fn witness_pending(pool: &$pool, after: Option<u64>) -> Result<Vec<audit::SignedCheckpoint>, StoreError> {
                let mut conn = pool.acquire().await?;
                Ok(audit::store::checkpoints_after(&mut *conn, after, audit::store::WITNESS_BATCH).await?)
            }

            // ------------------------------------------------ approval (see tx.rs)

            pub(crate) async fn commit(mut tx: Tx, audit: &AuditLog, events: &[Event]) -> Result<(), StoreError> {
                if !events.is_empty() {
                    audit.append_batch(&mut *tx, events).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            // ------------------------------------------------ outbox delivery

            pub async fn ping(pool: &$pool) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(pool).await?;
                Ok(())
            }
        }
    };
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The key a later version of an application is stored under; `~` cannot
/// occur in an external id (`[A-Za-z0-9._-]`).
pub(super) fn version_key(external_id: &str, version: usize) -> String {
    format!("{external_id}~v{version}")
}

pub(super) fn owner_actor(owner: &str) -> String {
    format!("worker:{owner}")
}

pub(super) async fn begin_sqlite(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub(super) async fn begin_pg(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}

engine!(sqlite, sqlx::Sqlite, SqlitePool, begin_sqlite, "");
engine!(postgres, sqlx::Postgres, PgPool, begin_pg, "FOR UPDATE SKIP LOCKED");

impl Store {
    /// Stores fetched documents as new cases (with their work items and
    /// audit events), in one transaction. A document already stored under
    /// the same (source, external_id) with the same content (SHA-256) is
    /// reported as a duplicate and left alone; with different content it
    /// becomes a new version of the case, which a person handles.
    pub async fn insert_cases(&self, cases: &[NewCase]) -> Result<Vec<Inserted>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, insert_cases(&self.audit, &self.diarium, now, cases))
    }

    pub async fn list_cases(
        &self,
        state: Option<CaseState>,
        robot: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        dispatch!(self, list_cases(state, robot, limit, offset))
    }

    pub async fn case_detail(&self, id: CaseId) -> Result<CaseDetail, StoreError> {
        dispatch!(self, case_detail(id))
    }

    pub async fn count_by_state(&self) -> Result<Vec<(CaseState, i64)>, StoreError> {
        dispatch!(self, count_by_state())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, ping())
    }

    /// Signs an audit checkpoint: always (when there is anything new), or
    /// only when the policy says one is due.
    pub async fn checkpoint(&self, only_if_due: bool) -> Result<Option<audit::SignedCheckpoint>, StoreError> {
        dispatch!(self, checkpoint(&self.audit, only_if_due))
    }

    /// Copies the committed checkpoints that the witness does not have yet
    /// to it (see `audit::witness`). The database connection is given back
    /// before the files are written, on a blocking thread.
    pub async fn publish_to_witness(&self, witness: &audit::witness::Witness) -> Result<usize, StoreError> {
        let after = witness.newest_size().await.map_err(audit::AuditError::from)?;
        let pending = dispatch!(self, witness_pending(after))?;
        Ok(witness.publish(pending).await.map_err(audit::AuditError::from)?)
    }
}
