//! The store's SQL, written once and instantiated for each engine.

use super::routing::{Route, route_to_person};
use super::*;
use audit::event::{Actor, CaseRef, Event, RulesetHash};
use domain::{At, CaseState, LetterKind};
use serde_json::json;
use sqlx::Row;

/// A pool on one of the two engines.
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

fn actor(s: &str) -> Result<Actor, StoreError> {
    Ok(Actor::parse(s)?)
}

fn case_ref(id: CaseId) -> Result<CaseRef, StoreError> {
    Ok(CaseRef::parse(&format!("case:{id}"))?)
}

/// The audit event for a fetched document.
fn fetched_event(id: CaseId, c: &NewCase, diarienummer: &str, now: DateTime<Utc>) -> Result<Event, StoreError> {
    let mut e = Event::new(audit::EventKind::Fetched, actor(&format!("robot:{}", c.robot))?, now)
        .with_case(case_ref(id)?)
        .with_payload(json!({"source": c.source, "source_ref_len": c.source_ref.len(), "period": c.period, "diarienummer": diarienummer, "state": "received", "application_sha256": super::sha256(&c.document)}))?;
    for (i, p) in c.subjects.iter().enumerate() {
        let role = if i == 0 { "sökande" } else { "hushållsmedlem" };
        e = e.with_personal(p, json!({"roll": role, "external_id": c.external_id}))?;
    }
    Ok(e)
}

fn summary_from<R: Row>(r: &R) -> Result<CaseSummary, StoreError>
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

fn kommunicering_from<R: Row>(r: &R) -> Result<KommuniceringRow, StoreError>
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

fn int<R: Row>(r: &R, col: &str) -> Result<i64, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    r.try_get::<i64, _>(col)
        .or_else(|_| r.try_get::<i32, _>(col).map(i64::from))
        .map_err(StoreError::from)
}

fn decision_from<R: Row>(r: &R) -> Result<DecisionRow, StoreError>
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

fn outbox_from<R: Row>(r: &R) -> Result<OutboxRow, StoreError>
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

const SUMMARY_COLUMNS: &str = "id, source, external_id, robot, state, state_reason, period, ruleset_name, ruleset_version, outcome, amount_ore, diarienummer, received_us, updated_us";

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty, $begin:expr, $skip_locked:literal) => {
        pub(super) mod $module {
            use super::*;

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

            fn event(step: Step, who: &str, case: CaseId, now: DateTime<Utc>) -> Result<Event, StoreError> {
                Ok(Event::new(event_kind(step), actor(who)?, now)
                    .with_case(case_ref(case)?))
            }

            /// Stores one case as received: diarienummer, document, work
            /// item (or, for an item the source refused, straight to
            /// `invalid`), subjects, audit events. `None` if the key was
            /// taken meanwhile.
            #[allow(clippy::too_many_arguments)]
            async fn insert_case(
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
                    "INSERT INTO cases (source, external_id, source_ref, robot, run_id, state, period, received_us, updated_us, version, previous_case_id, content_sha256) \
                     VALUES ($1, $2, $3, $4, $5, 'received', $6, $7, $7, $8, $9, $10) ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
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

            /// The SHA-256 (hex) of a stored case's document.
            async fn stored_sha256(tx: &mut Tx, case: CaseId) -> Result<String, StoreError> {
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

            async fn case_by_key(tx: &mut Tx, source: &str, external_id: &str) -> Result<Option<CaseId>, StoreError> {
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
            async fn routes_for(tx: &mut Tx, case: CaseId, period: &str, same_period_check: bool) -> Result<Vec<Route>, StoreError> {
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
                    let row = sqlx::query("SELECT c.robot, a.document FROM cases c JOIN applications a ON a.case_id = c.id WHERE c.id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    out.push(Claimed {
                        item_id,
                        case_id,
                        attempts,
                        robot: row.try_get("robot")?,
                        document: row.try_get("document")?,
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

            pub(crate) async fn current_state(tx: &mut Tx, case: CaseId) -> Result<CaseState, StoreError> {
                let s: String = sqlx::query_scalar("SELECT state FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound(case))?;
                s.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {s:?}")))
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
                        Finish::Drafted { draft, register_json, subjects, same_period_check } => {
                            if !release(&mut tx, item, owner, WorkStatus::Done, None, None, t).await? {
                                kept.push(false);
                                continue;
                            }
                            let At::Received(received) = current_state(&mut tx, item.case_id).await?.at() else {
                                return Err(StoreError::StaleState { case: item.case_id, expected: CaseState::Received });
                            };
                            let routes = routes_for(&mut tx, item.case_id, &draft.period().to_string(), *same_period_check).await?;
                            let routed = route_to_person(draft, &routes)?;
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
                                "UPDATE cases SET period = $1, ruleset_name = $2, ruleset_version = $3, ruleset_hash = $4, outcome = $5, amount_ore = $6 WHERE id = $7",
                            )
                            .bind(draft.period().to_string())
                            .bind(&r.name)
                            .bind(&r.version)
                            .bind(&r.hash)
                            .bind(draft.outcome().as_str())
                            .bind(draft.amount().map(domain::Money::ore))
                            .bind(item.case_id)
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

            pub async fn start_run(pool: &$pool, robot: &str, fire: DateTime<Utc>, trigger: Trigger, owner: &str, now: DateTime<Utc>) -> Result<Option<RunId>, StoreError> {
                let mut tx = begin(pool).await?;
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO robot_runs (robot, fire_us, trigger, status, owner, started_us) VALUES ($1, $2, $3, 'running', $4, $5) \
                     ON CONFLICT (robot, fire_us) DO NOTHING RETURNING id",
                )
                .bind(robot)
                .bind(us(fire))
                .bind(trigger.as_str())
                .bind(owner)
                .bind(us(now))
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            pub async fn finish_run(pool: &$pool, run: RunId, ok: bool, counts: RunCounts, error: Option<&str>, now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = begin(pool).await?;
                sqlx::query("UPDATE robot_runs SET status = $1, finished_us = $2, fetched = $3, duplicates = $4, rejected = $5, error = $6 WHERE id = $7")
                    .bind(if ok { RunStatus::Succeeded } else { RunStatus::Failed }.as_str())
                    .bind(us(now))
                    .bind(counts.fetched)
                    .bind(counts.duplicates)
                    .bind(counts.rejected)
                    .bind(error)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn last_fire(pool: &$pool, robot: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
                let v: Option<i64> = sqlx::query_scalar("SELECT MAX(fire_us) FROM robot_runs WHERE robot = $1 AND trigger <> 'manual'")
                    .bind(robot)
                    .fetch_one(pool)
                    .await?;
                Ok(v.map(from_us))
            }

            pub async fn list_runs(pool: &$pool, robot: Option<&str>, limit: i64) -> Result<Vec<RunSummary>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, robot, fire_us, trigger, status, fetched, duplicates, rejected, error FROM robot_runs \
                     WHERE ($1 IS NULL OR robot = $1) ORDER BY fire_us DESC, id DESC LIMIT $2",
                )
                .bind(robot)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(RunSummary {
                            id: r.try_get("id")?,
                            robot: r.try_get("robot")?,
                            fire: from_us(r.try_get("fire_us")?),
                            trigger: r.try_get::<String, _>("trigger")?.parse()?,
                            status: r.try_get::<String, _>("status")?.parse()?,
                            counts: RunCounts {
                                fetched: r.try_get("fetched")?,
                                duplicates: r.try_get("duplicates")?,
                                rejected: r.try_get("rejected")?,
                            },
                            error: r.try_get("error")?,
                        })
                    })
                    .collect()
            }

            pub async fn try_lock_robot(pool: &$pool, robot: &str, owner: &str, now: DateTime<Utc>, ttl: Duration) -> Result<bool, StoreError> {
                let t = us(now);
                let expires = t + i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
                let mut tx = begin(pool).await?;
                let done = sqlx::query(
                    "INSERT INTO robot_locks (robot, owner, expires_us) VALUES ($1, $2, $3) \
                     ON CONFLICT (robot) DO UPDATE SET owner = excluded.owner, expires_us = excluded.expires_us \
                     WHERE robot_locks.expires_us < $4 OR robot_locks.owner = excluded.owner",
                )
                .bind(robot)
                .bind(owner)
                .bind(expires)
                .bind(t)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn unlock_robot(pool: &$pool, robot: &str, owner: &str) -> Result<(), StoreError> {
                let mut tx = begin(pool).await?;
                sqlx::query("DELETE FROM robot_locks WHERE robot = $1 AND owner = $2")
                    .bind(robot)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            /// Who holds robot locks and leases now (for taking over
            /// those of an instance that is gone).
            pub async fn holders(pool: &$pool) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT owner FROM robot_locks UNION SELECT lease_owner FROM work_items WHERE status = 'leased' AND lease_owner IS NOT NULL \
                     UNION SELECT lease_owner FROM outbox WHERE status = 'leased' AND lease_owner IS NOT NULL",
                )
                .fetch_all(pool)
                .await?)
            }

            /// Ends what `owner` holds: its robot locks go, its leases of
            /// work and outbox items expire now (so the next claim takes
            /// them, counting the attempt as usual). Returns how many.
            pub async fn release_holder(pool: &$pool, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let t = us(now);
                let mut tx = begin(pool).await?;
                let mut n = sqlx::query("DELETE FROM robot_locks WHERE owner = $1")
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                n += sqlx::query("UPDATE work_items SET lease_expires_us = $2 WHERE status = 'leased' AND lease_owner = $1 AND lease_expires_us >= $2")
                    .bind(owner)
                    .bind(t - 1)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                n += sqlx::query("UPDATE outbox SET lease_expires_us = $2 WHERE status = 'leased' AND lease_owner = $1 AND lease_expires_us >= $2")
                    .bind(owner)
                    .bind(t - 1)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            pub async fn set_paused(pool: &$pool, robot: &str, paused: bool, reason: Option<&str>, now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = begin(pool).await?;
                sqlx::query(
                    "INSERT INTO robots (name, paused, paused_reason, updated_us) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, paused_reason = excluded.paused_reason, updated_us = excluded.updated_us",
                )
                .bind(robot)
                .bind(paused)
                .bind(reason)
                .bind(us(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn paused(pool: &$pool, robot: &str) -> Result<Option<String>, StoreError> {
                let row = sqlx::query("SELECT paused, paused_reason FROM robots WHERE name = $1")
                    .bind(robot)
                    .fetch_optional(pool)
                    .await?;
                match row {
                    Some(r) if r.try_get::<bool, _>("paused")? => {
                        Ok(Some(r.try_get::<Option<String>, _>("paused_reason")?.unwrap_or_default()))
                    }
                    _ => Ok(None),
                }
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

            pub async fn count_open_work(pool: &$pool) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM work_items WHERE status IN ('pending', 'leased')")
                    .fetch_one(pool)
                    .await?)
            }

            /// (due or leased now, waiting for a later retry)
            pub async fn open_work_for_run(pool: &$pool, run: RunId, now: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
                let row = sqlx::query(
                    "SELECT COALESCE(SUM(CASE WHEN w.status = 'leased' OR w.next_attempt_us <= $2 THEN 1 ELSE 0 END), 0) AS due, \
                            COALESCE(SUM(CASE WHEN w.status = 'pending' AND w.next_attempt_us > $2 THEN 1 ELSE 0 END), 0) AS later \
                     FROM work_items w JOIN cases c ON c.id = w.case_id WHERE c.run_id = $1 AND w.status IN ('pending', 'leased')",
                )
                .bind(run)
                .bind(us(now))
                .fetch_one(pool)
                .await?;
                Ok((row.try_get("due")?, row.try_get("later")?))
            }

            pub async fn run_states(pool: &$pool, run: RunId) -> Result<Vec<(CaseState, i64)>, StoreError> {
                let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM cases WHERE run_id = $1 GROUP BY state")
                    .bind(run)
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
                sqlx::query("UPDATE cases SET outcome = $1, amount_ore = $2 WHERE id = $3")
                    .bind(d.outcome.as_str())
                    .bind(d.amount.ore())
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

            pub(crate) async fn commit(mut tx: Tx, audit: &AuditLog, events: &[Event]) -> Result<(), StoreError> {
                if !events.is_empty() {
                    audit.append_batch(&mut *tx, events).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            // ------------------------------------------------ outbox delivery

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

            pub async fn ping(pool: &$pool) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(pool).await?;
                Ok(())
            }
        }
    };
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The key a later version of an application is stored under; `~` cannot
/// occur in an external id (`[A-Za-z0-9._-]`).
fn version_key(external_id: &str, version: usize) -> String {
    format!("{external_id}~v{version}")
}

fn owner_actor(owner: &str) -> String {
    format!("worker:{owner}")
}

async fn begin_sqlite(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

async fn begin_pg(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}

engine!(sqlite, sqlx::Sqlite, SqlitePool, begin_sqlite, "");
engine!(postgres, sqlx::Postgres, PgPool, begin_pg, "FOR UPDATE SKIP LOCKED");

/// Calls the same function on whichever engine the store uses.
macro_rules! dispatch {
    ($self:expr, $f:ident ( $($arg:expr),* )) => {
        match &*$self.backend {
            Backend::Sqlite(p) => sqlite::$f(p, $($arg),*).await,
            Backend::Postgres(p) => postgres::$f(p, $($arg),*).await,
        }
    };
}

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

    /// Records the start of a run for a fire time. `None`: that fire time
    /// already ran (or is running) — on this or another worker.
    pub async fn start_run(
        &self,
        robot: &str,
        fire: DateTime<Utc>,
        trigger: Trigger,
        owner: &str,
    ) -> Result<Option<RunId>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, start_run(robot, fire, trigger, owner, now))
    }

    pub async fn finish_run(
        &self,
        run: RunId,
        ok: bool,
        counts: RunCounts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, finish_run(run, ok, counts, error, now))
    }

    /// The latest scheduled fire time recorded for a robot.
    pub async fn last_fire(&self, robot: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        dispatch!(self, last_fire(robot))
    }

    pub async fn list_runs(&self, robot: Option<&str>, limit: i64) -> Result<Vec<RunSummary>, StoreError> {
        dispatch!(self, list_runs(robot, limit))
    }

    /// Takes the robot's run lock (runs of one robot never overlap), or
    /// renews it if we hold it.
    pub async fn try_lock_robot(&self, robot: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.clock.now();
        dispatch!(self, try_lock_robot(robot, owner, now, ttl))
    }

    pub async fn unlock_robot(&self, robot: &str, owner: &str) -> Result<(), StoreError> {
        dispatch!(self, unlock_robot(robot, owner))
    }

    /// Everyone holding a robot lock or a work or outbox lease.
    pub async fn holders(&self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, holders())
    }

    /// Releases what an instance that is gone held (see `sql::release_holder`).
    pub async fn release_holder(&self, owner: &str) -> Result<u64, StoreError> {
        let now = self.clock.now();
        dispatch!(self, release_holder(owner, now))
    }

    pub async fn set_paused(&self, robot: &str, paused: bool, reason: Option<&str>) -> Result<(), StoreError> {
        let now = self.clock.now();
        dispatch!(self, set_paused(robot, paused, reason, now))
    }

    /// `Some(reason)` when the robot is paused.
    pub async fn paused(&self, robot: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, paused(robot))
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

    pub async fn count_open_work(&self) -> Result<i64, StoreError> {
        dispatch!(self, count_open_work())
    }

    /// Work items of a run still open: (due or leased now, waiting for a later retry).
    pub async fn open_work_for_run(&self, run: RunId) -> Result<(i64, i64), StoreError> {
        let now = self.clock.now();
        dispatch!(self, open_work_for_run(run, now))
    }

    pub async fn run_states(&self, run: RunId) -> Result<Vec<(CaseState, i64)>, StoreError> {
        dispatch!(self, run_states(run))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, ping())
    }

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

    /// Outbox items that keep failing (for administrators).
    /// Cases whose kommunicering deadline has passed without a reply.
    pub async fn due_kommuniceringar(&self, limit: i64) -> Result<Vec<CaseId>, StoreError> {
        let now = self.clock.now();
        dispatch!(self, due_kommuniceringar(now, limit))
    }

    pub async fn failing_outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        dispatch!(self, failing_outbox())
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
