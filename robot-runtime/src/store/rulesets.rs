//! The store's SQL for the rule author's workbench (migration 0009):
//! published ruleset versions and their files, activation requests, shadow
//! reports, and the stored inputs that replay and shadow runs read. Written
//! once, instantiated for SQLite and PostgreSQL by `engine!`; each change
//! and its audit event commit in one transaction.

use super::sql::*;
use super::*;
use audit::event::Event;
use sqlx::Row;

/// A published ruleset version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionRow {
    /// `sha256:<hex>`, the ruleset's content hash.
    pub hash: String,
    pub name: String,
    pub version: String,
    pub casework_type: String,
    pub description: String,
    pub tests_passed: i64,
    pub tests_failed: i64,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
}

/// A version to store, with its files (relative path, text).
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub row: VersionRow,
    pub files: Vec<(String, String)>,
}

/// Where an activation request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationState {
    Requested,
    Approved,
    Refused,
    Withdrawn,
}

impl ActivationState {
    pub const ALL: [ActivationState; 4] = [
        ActivationState::Requested,
        ActivationState::Approved,
        ActivationState::Refused,
        ActivationState::Withdrawn,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationState::Requested => "requested",
            ActivationState::Approved => "approved",
            ActivationState::Refused => "refused",
            ActivationState::Withdrawn => "withdrawn",
        }
    }
    fn parse(s: &str) -> Result<ActivationState, StoreError> {
        ActivationState::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown activation state {s:?}")))
    }
}

/// A request to use a version for a casework type from a date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActivationRow {
    pub id: i64,
    pub casework_type: String,
    pub hash: String,
    /// The first day (Swedish calendar) the version is used.
    pub valid_from: chrono::NaiveDate,
    pub reason: String,
    pub state: ActivationState,
    pub requested_by: String,
    pub requested_by_user: Option<i64>,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_by_user: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    /// The shadow report the request was made with.
    pub shadow_report: Option<i64>,
}

/// A new activation request.
#[derive(Debug, Clone)]
pub struct NewActivation<'a> {
    pub casework_type: &'a str,
    pub hash: &'a str,
    pub valid_from: chrono::NaiveDate,
    pub reason: &'a str,
    pub requested_by: &'a str,
    pub requested_by_user: Option<i64>,
    pub shadow_report: Option<i64>,
}

/// A stored shadow report (the report itself is JSON, `rulebook::shadow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowRow {
    pub id: i64,
    pub candidate_hash: String,
    pub casework_type: String,
    pub filter: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub cases: i64,
    pub changed: i64,
    /// Empty when listed without the report.
    pub report: String,
}

/// Which stored cases a shadow run reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Rulesets of these names (the candidate's type).
    pub ruleset_names: Vec<String>,
    pub robot: Option<String>,
    /// Received at or after (µs since 1970).
    pub from_us: Option<i64>,
    /// Received before (µs since 1970).
    pub to_us: Option<i64>,
    /// The application's period, `YYYY-MM`.
    pub period: Option<String>,
    pub state: Option<CaseState>,
    pub limit: Option<i64>,
}

/// A case's stored inputs and its latest draft, as replay and shadow runs
/// read them.
#[derive(Debug, Clone)]
pub struct StoredInput {
    pub case_id: CaseId,
    pub diarienummer: Option<String>,
    pub robot: String,
    pub state: CaseState,
    pub ruleset_hash: Option<String>,
    pub document: Vec<u8>,
    pub register: Option<String>,
    pub draft: String,
}

fn version_from<R: Row>(r: &R) -> Result<VersionRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(VersionRow {
        hash: r.try_get("hash")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        casework_type: r.try_get("casework_type")?,
        description: r.try_get("description")?,
        tests_passed: r.try_get("tests_passed")?,
        tests_failed: r.try_get("tests_failed")?,
        published_by: r.try_get("published_by")?,
        published_at: from_us(r.try_get("published_us")?),
    })
}

fn activation_from<R: Row>(r: &R) -> Result<ActivationRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let valid_from: String = r.try_get("valid_from")?;
    let state: String = r.try_get("state")?;
    Ok(ActivationRow {
        id: r.try_get("id")?,
        casework_type: r.try_get("casework_type")?,
        hash: r.try_get("hash")?,
        valid_from: valid_from
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("activation date {valid_from:?}")))?,
        reason: r.try_get("reason")?,
        state: ActivationState::parse(&state)?,
        requested_by: r.try_get("requested_by")?,
        requested_by_user: r.try_get("requested_by_user")?,
        requested_at: from_us(r.try_get("requested_us")?),
        decided_by: r.try_get("decided_by")?,
        decided_by_user: r.try_get("decided_by_user")?,
        decided_at: r.try_get::<Option<i64>, _>("decided_us")?.map(from_us),
        decision_note: r.try_get("decision_note")?,
        shadow_report: r.try_get("shadow_report")?,
    })
}

fn shadow_from<R: Row>(r: &R, with_report: bool) -> Result<ShadowRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ShadowRow {
        id: r.try_get("id")?,
        candidate_hash: r.try_get("candidate_hash")?,
        casework_type: r.try_get("casework_type")?,
        filter: r.try_get("filter")?,
        created_by: r.try_get("created_by")?,
        created_at: from_us(r.try_get("created_us")?),
        cases: r.try_get("cases")?,
        changed: r.try_get("changed")?,
        report: if with_report {
            r.try_get("report")?
        } else {
            String::new()
        },
    })
}

fn with_id(mut payload: serde_json::Value, key: &str, id: i64) -> serde_json::Value {
    if let Some(m) = payload.as_object_mut() {
        m.insert(key.to_string(), serde_json::json!(id));
    }
    payload
}

macro_rules! activation_columns {
    () => {
        "id, casework_type, hash, valid_from, reason, state, requested_by, requested_by_user, requested_us, \
         decided_by, decided_by_user, decided_us, decision_note, shadow_report"
    };
}
macro_rules! version_columns {
    () => {
        "hash, name, version, casework_type, description, tests_passed, tests_failed, published_by, published_us"
    };
}
macro_rules! shadow_columns {
    () => {
        "id, candidate_hash, casework_type, filter, created_by, created_us, cases, changed"
    };
}

macro_rules! engine {
    ($module:ident, $db:ty, $pool:ty) => {
        pub(super) mod $module {
            use super::super::sql::$module::*;
            use super::*;

            /// Stores a version and its files with its audit event; `false`
            /// (and nothing written) when the hash is stored already.
            pub async fn insert_version(pool: &$pool, audit: &AuditLog, v: &NewVersion, event: Event) -> Result<bool, StoreError> {
                let mut tx = begin(pool).await?;
                let done = sqlx::query(
                    "INSERT INTO ruleset_versions (hash, name, version, casework_type, description, tests_passed, tests_failed, published_by, published_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (hash) DO NOTHING",
                )
                .bind(&v.row.hash)
                .bind(&v.row.name)
                .bind(&v.row.version)
                .bind(&v.row.casework_type)
                .bind(&v.row.description)
                .bind(v.row.tests_passed)
                .bind(v.row.tests_failed)
                .bind(&v.row.published_by)
                .bind(us(v.row.published_at))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                for (path, content) in &v.files {
                    sqlx::query("INSERT INTO ruleset_files (hash, path, content) VALUES ($1, $2, $3)")
                        .bind(&v.row.hash)
                        .bind(path)
                        .bind(content)
                        .execute(&mut *tx)
                        .await?;
                }
                commit(tx, audit, std::slice::from_ref(&event)).await?;
                Ok(true)
            }

            pub async fn versions(pool: &$pool, casework_type: Option<String>) -> Result<Vec<VersionRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", version_columns!(), " FROM ruleset_versions WHERE (CAST($1 AS TEXT) IS NULL OR casework_type = $1) ORDER BY published_us DESC, hash"))
                .bind(casework_type)
                .fetch_all(pool)
                .await?;
                rows.iter().map(version_from).collect()
            }

            pub async fn version(pool: &$pool, hash: &str) -> Result<Option<VersionRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", version_columns!(), " FROM ruleset_versions WHERE hash = $1"))
                    .bind(hash)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(version_from).transpose()
            }

            pub async fn version_files(pool: &$pool, hash: &str) -> Result<Vec<(String, String)>, StoreError> {
                let rows = sqlx::query("SELECT path, content FROM ruleset_files WHERE hash = $1 ORDER BY path")
                    .bind(hash)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("path")?, r.try_get("content")?))).collect()
            }

            pub async fn insert_activation(pool: &$pool, audit: &AuditLog, a: &NewActivation<'_>, event: Event, payload: serde_json::Value, now: i64) -> Result<i64, StoreError> {
                let mut tx = begin(pool).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO ruleset_activations (casework_type, hash, valid_from, reason, state, requested_by, requested_by_user, requested_us, shadow_report) \
                     VALUES ($1, $2, $3, $4, 'requested', $5, $6, $7, $8) RETURNING id",
                )
                .bind(a.casework_type)
                .bind(a.hash)
                .bind(a.valid_from.to_string())
                .bind(a.reason)
                .bind(a.requested_by)
                .bind(a.requested_by_user)
                .bind(now)
                .bind(a.shadow_report)
                .fetch_one(&mut *tx)
                .await?;
                let event = event.with_payload(with_id(payload, "request", id))?;
                commit(tx, audit, std::slice::from_ref(&event)).await?;
                Ok(id)
            }

            /// Decides a request that is still `requested`; `false` when it
            /// was decided meanwhile (nothing written).
            #[allow(clippy::too_many_arguments)]
            pub async fn decide_activation(
                pool: &$pool,
                audit: &AuditLog,
                id: i64,
                state: ActivationState,
                by: &str,
                by_user: Option<i64>,
                note: Option<&str>,
                event: Event,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = begin(pool).await?;
                let done = sqlx::query(
                    "UPDATE ruleset_activations SET state = $1, decided_by = $2, decided_by_user = $3, decided_us = $4, decision_note = $5 \
                     WHERE id = $6 AND state = 'requested'",
                )
                .bind(state.as_str())
                .bind(by)
                .bind(by_user)
                .bind(now)
                .bind(note)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                commit(tx, audit, std::slice::from_ref(&event)).await?;
                Ok(true)
            }

            pub async fn activations(pool: &$pool, casework_type: Option<String>) -> Result<Vec<ActivationRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", activation_columns!(), " FROM ruleset_activations WHERE (CAST($1 AS TEXT) IS NULL OR casework_type = $1) ORDER BY id DESC"))
                .bind(casework_type)
                .fetch_all(pool)
                .await?;
                rows.iter().map(activation_from).collect()
            }

            pub async fn activation(pool: &$pool, id: i64) -> Result<Option<ActivationRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", activation_columns!(), " FROM ruleset_activations WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(activation_from).transpose()
            }

            /// The approved activation in force for a type on a day: the
            /// latest start on or before it; of two from the same day, the
            /// one approved last (a rollback from today wins).
            pub async fn active(pool: &$pool, casework_type: &str, day: chrono::NaiveDate) -> Result<Option<ActivationRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", activation_columns!(), " FROM ruleset_activations WHERE casework_type = $1 AND state = 'approved' AND valid_from <= $2 \
                     ORDER BY valid_from DESC, decided_us DESC, id DESC LIMIT 1"))
                .bind(casework_type)
                .bind(day.to_string())
                .fetch_optional(pool)
                .await?;
                row.as_ref().map(activation_from).transpose()
            }

            pub async fn insert_shadow(pool: &$pool, audit: &AuditLog, s: &ShadowRow, event: Event, payload: serde_json::Value) -> Result<i64, StoreError> {
                let mut tx = begin(pool).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO shadow_reports (candidate_hash, casework_type, filter, created_by, created_us, cases, changed, report) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(&s.candidate_hash)
                .bind(&s.casework_type)
                .bind(&s.filter)
                .bind(&s.created_by)
                .bind(us(s.created_at))
                .bind(s.cases)
                .bind(s.changed)
                .bind(&s.report)
                .fetch_one(&mut *tx)
                .await?;
                let event = event.with_payload(with_id(payload, "report", id))?;
                commit(tx, audit, std::slice::from_ref(&event)).await?;
                Ok(id)
            }

            pub async fn shadow_reports(pool: &$pool, candidate: Option<String>, limit: i64) -> Result<Vec<ShadowRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", shadow_columns!(), " FROM shadow_reports WHERE (CAST($1 AS TEXT) IS NULL OR candidate_hash = $1) ORDER BY id DESC LIMIT $2"))
                .bind(candidate)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter().map(|r| shadow_from(r, false)).collect()
            }

            pub async fn shadow_report(pool: &$pool, id: i64) -> Result<Option<ShadowRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", shadow_columns!(), ", report FROM shadow_reports WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(|r| shadow_from(r, true)).transpose()
            }

            /// One page of cases with a draft under the filter, by id
            /// after `after`: the stored document, register answer and
            /// latest draft.
            pub async fn stored_inputs(pool: &$pool, f: &CaseFilter, after: CaseId, page: i64) -> Result<Vec<StoredInput>, StoreError> {
                let mut sql = String::from(
                    "SELECT c.id, c.diarienummer, c.robot, c.state, c.ruleset_hash, a.document, a.register, \
                     (SELECT d.draft FROM drafts d WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1) AS draft \
                     FROM cases c JOIN applications a ON a.case_id = c.id WHERE c.id > $1 AND c.ruleset_hash IS NOT NULL",
                );
                let mut n = 1;
                let mut next = |sql: &mut String, clause: &str| {
                    n += 1;
                    sql.push_str(&clause.replace('?', &format!("${n}")));
                };
                if !f.ruleset_names.is_empty() {
                    sql.push_str(" AND c.ruleset_name IN (");
                    for (i, _) in f.ruleset_names.iter().enumerate() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        next(&mut sql, "?");
                    }
                    sql.push(')');
                }
                if f.robot.is_some() { next(&mut sql, " AND c.robot = ?"); }
                if f.from_us.is_some() { next(&mut sql, " AND c.received_us >= ?"); }
                if f.to_us.is_some() { next(&mut sql, " AND c.received_us < ?"); }
                if f.period.is_some() { next(&mut sql, " AND c.period = ?"); }
                if f.state.is_some() { next(&mut sql, " AND c.state = ?"); }
                next(&mut sql, " ORDER BY c.id LIMIT ?");
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after);
                for name in &f.ruleset_names {
                    q = q.bind(name);
                }
                if let Some(r) = &f.robot { q = q.bind(r); }
                if let Some(t) = f.from_us { q = q.bind(t); }
                if let Some(t) = f.to_us { q = q.bind(t); }
                if let Some(p) = &f.period { q = q.bind(p); }
                if let Some(s) = f.state { q = q.bind(s.as_str()); }
                let rows = q.bind(page).fetch_all(pool).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let Some(draft) = r.try_get::<Option<String>, _>("draft")? else { continue };
                    let state: String = r.try_get("state")?;
                    out.push(StoredInput {
                        case_id: r.try_get("id")?,
                        diarienummer: r.try_get("diarienummer")?,
                        robot: r.try_get("robot")?,
                        state: state.parse().map_err(|_| StoreError::Corrupt(format!("unknown state {state:?}")))?,
                        ruleset_hash: r.try_get("ruleset_hash")?,
                        document: r.try_get("document")?,
                        register: r.try_get("register")?,
                        draft,
                    });
                }
                Ok(out)
            }

            /// One case's stored inputs (`None`: no such case, or no draft).
            pub async fn stored_input(pool: &$pool, case: CaseId) -> Result<Option<StoredInput>, StoreError> {
                let f = CaseFilter { limit: Some(1), ..CaseFilter::default() };
                let mut page = stored_inputs(pool, &f, case - 1, 1).await?;
                Ok(page.pop().filter(|s| s.case_id == case))
            }

            pub async fn diarienummer_of(pool: &$pool, case: CaseId) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar::<_, Option<String>>("SELECT diarienummer FROM cases WHERE id = $1")
                    .bind(case)
                    .fetch_optional(pool)
                    .await?
                    .flatten())
            }
        }
    };
}

engine!(sqlite, sqlx::Sqlite, SqlitePool);
engine!(postgres, sqlx::Postgres, PgPool);

impl Store {
    /// Stores a published version (`false`: already stored, nothing written).
    pub async fn insert_ruleset_version(&self, v: &NewVersion, event: Event) -> Result<bool, StoreError> {
        let audit = self.audit.clone();
        dispatch!(self, insert_version(&audit, v, event))
    }

    pub async fn ruleset_versions(&self, casework_type: Option<&str>) -> Result<Vec<VersionRow>, StoreError> {
        let t = casework_type.map(str::to_string);
        dispatch!(self, versions(t))
    }

    pub async fn ruleset_version(&self, hash: &str) -> Result<Option<VersionRow>, StoreError> {
        dispatch!(self, version(hash))
    }

    pub async fn ruleset_files(&self, hash: &str) -> Result<Vec<(String, String)>, StoreError> {
        dispatch!(self, version_files(hash))
    }

    /// Stores a request with its audit event (`event` without a payload;
    /// `payload` gets the request's id as `request`).
    pub async fn insert_activation(
        &self,
        a: &NewActivation<'_>,
        event: Event,
        payload: serde_json::Value,
    ) -> Result<i64, StoreError> {
        let audit = self.audit.clone();
        let now = us(self.clock.now());
        dispatch!(self, insert_activation(&audit, a, event, payload, now))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn decide_activation(
        &self,
        id: i64,
        state: ActivationState,
        by: &str,
        by_user: Option<i64>,
        note: Option<&str>,
        event: Event,
    ) -> Result<bool, StoreError> {
        let audit = self.audit.clone();
        let now = us(self.clock.now());
        dispatch!(
            self,
            decide_activation(&audit, id, state, by, by_user, note, event, now)
        )
    }

    pub async fn activations(&self, casework_type: Option<&str>) -> Result<Vec<ActivationRow>, StoreError> {
        let t = casework_type.map(str::to_string);
        dispatch!(self, activations(t))
    }

    pub async fn activation(&self, id: i64) -> Result<Option<ActivationRow>, StoreError> {
        dispatch!(self, activation(id))
    }

    pub async fn active_activation(
        &self,
        casework_type: &str,
        day: chrono::NaiveDate,
    ) -> Result<Option<ActivationRow>, StoreError> {
        dispatch!(self, active(casework_type, day))
    }

    /// Stores a report with its audit event (`payload` gets its id as `report`).
    pub async fn insert_shadow_report(
        &self,
        s: &ShadowRow,
        event: Event,
        payload: serde_json::Value,
    ) -> Result<i64, StoreError> {
        let audit = self.audit.clone();
        dispatch!(self, insert_shadow(&audit, s, event, payload))
    }

    /// Shadow reports, newest first, without their report bodies.
    pub async fn shadow_reports(&self, candidate: Option<&str>, limit: i64) -> Result<Vec<ShadowRow>, StoreError> {
        let c = candidate.map(str::to_string);
        dispatch!(self, shadow_reports(c, limit))
    }

    pub async fn shadow_report(&self, id: i64) -> Result<Option<ShadowRow>, StoreError> {
        dispatch!(self, shadow_report(id))
    }

    pub async fn stored_inputs(
        &self,
        filter: &CaseFilter,
        after: CaseId,
        page: i64,
    ) -> Result<Vec<StoredInput>, StoreError> {
        dispatch!(self, stored_inputs(filter, after, page))
    }

    pub async fn stored_input(&self, case: CaseId) -> Result<Option<StoredInput>, StoreError> {
        dispatch!(self, stored_input(case))
    }

    pub async fn diarienummer_of(&self, case: CaseId) -> Result<Option<String>, StoreError> {
        dispatch!(self, diarienummer_of(case))
    }
}
