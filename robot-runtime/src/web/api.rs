//! The JSON API under `/api/v1`: the same authorisation as the UI, bearer
//! tokens instead of cookies, one error shape (`error.rs`). Amounts are
//! integer öre.
//!
//! Each handler carries its `#[utoipa::path]`, and each body, parameter
//! set and answer is a type deriving `ToSchema`/`IntoParams`, so the
//! OpenAPI document (`openapi.rs`) is made from what the handlers take and
//! give. What the schema allows is accepted; what it forbids is refused
//! with 400 (a malformed query, id or body) or 422 (a text that is blank or
//! too long); what the case's state forbids is 403, 409 or 422.

use super::Web;
use super::actions::{MAX_TEXT, required_text};
use super::approval_core::{self as ac, ApprovalResult, DecisionRequest, ReplyChannel};
use super::error::{ApiError, Failure};
use super::pages::{ClientAddr, LoginRefused, client_ip};
use super::queue::QueueQuery;
use super::session::Authed;
use crate::store::CaseId;
use crate::store::queue::QueueSort;
use crate::store::sessions::{AuthMethod, SessionKind};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::{CaseState, Money, Outcome, RowChange, Ruling, SectionKind, SkipGround};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// The largest `limit` of a page of cases.
pub const MAX_LIMIT: i64 = 500;
/// The largest `offset`: deeper than this, narrow the filter instead.
pub const MAX_OFFSET: i64 = 1_000_000;
const DEFAULT_LIMIT: i64 = 50;
/// Characters a search may have (`web/queue.rs` refuses longer ones).
const MAX_SEARCH: usize = 200;
/// Characters of a filter value (a robot's or a casework type's name).
const MAX_NAME: usize = 100;
/// The largest amount of a row, either sign: 1 000 000 000 kr in öre.
pub const MAX_AMOUNT_ORE: i64 = 100_000_000_000;
/// A filter or search value: no control characters at all.
const PLAIN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// Control characters the approval core refuses (line breaks and tabs are
/// allowed), as a JSON Schema character class.
const NO_CONTROL: &str = r"[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]";

/// JSON Schema's `integer` includes `1.0`; serde's `i64` does not. A
/// number in a body read as an integer: any JSON number with no fraction
/// within ±2^63.
mod int {
    use serde::Deserialize;
    use serde::de::{Deserializer, Error};

    pub fn of(n: &serde_json::Number) -> Option<i64> {
        n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (-9.2e18..=9.2e18).contains(f))
                .map(|f| f as i64)
        })
    }

    fn number<'de, D: Deserializer<'de>>(n: serde_json::Number) -> Result<i64, D::Error> {
        of(&n).ok_or_else(|| D::Error::custom(format!("{n} is not an integer")))
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        number::<D>(serde_json::Number::deserialize(d)?)
    }

    pub fn usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        let n = number::<D>(serde_json::Number::deserialize(d)?)?;
        usize::try_from(n).map_err(|_| D::Error::custom(format!("{n} is not an index")))
    }

    /// Required, but may be `null`.
    pub fn nullable_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<serde_json::Number>::deserialize(d)? {
            None => Ok(None),
            Some(n) => number::<D>(n).map(Some),
        }
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(Failure::BadRequest(message.into()))
}

/// A JSON body, or the API's error: 415 without a JSON content type, 413
/// over the size limit, 400 for anything else (syntax, shape, unknown
/// fields, wrong types).
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(|e| {
        ApiError(match e {
            JsonRejection::MissingJsonContentType(_) => Failure::UnsupportedMediaType,
            e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Failure::PayloadTooLarge,
            e => Failure::BadRequest(format!("Ogiltig JSON-kropp: {}", e.body_text())),
        })
    })
}

/// The case id of the path: an integer from 1, else 400.
fn case_id(p: Result<Path<CaseId>, PathRejection>) -> Result<CaseId, ApiError> {
    match p {
        Ok(Path(id)) if id >= 1 => Ok(id),
        _ => Err(bad_request("Ogiltigt ärende-id: ett heltal från 1 väntades.")),
    }
}

/// Whether the request says its body is JSON (`application/json` or
/// `application/*+json`, parameters allowed), as axum's `Json` decides.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// A text an official writes in the API: at most [`MAX_TEXT`] characters
/// as sent, then the approval core's rules (trimmed, not blank, no
/// control characters); a breach is 422.
fn text(s: &str, what: &str) -> Result<String, ApiError> {
    if s.chars().count() > MAX_TEXT {
        return Err(ApiError(Failure::Invalid(format!(
            "{what} får vara högst {MAX_TEXT} tecken."
        ))));
    }
    required_text(s, what).map_err(ApiError)
}

/// The schema of a text an official writes: 1–2000 characters, at least
/// one that is not blank, no control characters but line breaks and tabs.
pub struct Text;

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_TEXT))
            .pattern(Some(format!(
                r"^{NO_CONTROL}*[^\s\u0000-\u001F\u007F-\u009F]{NO_CONTROL}*$"
            )))
            .description(Some(
                "1–2000 tecken, inte bara blanktecken, inga styrtecken utom radbrytning och tabb.",
            ))
            .into()
    }
}

/// An optional text: up to 2000 characters, no control characters.
fn optional_text_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TEXT))
        .pattern(Some(format!("^{NO_CONTROL}*$")))
        .into()
}

fn enum_schema<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.into_iter().collect::<Vec<_>>()))
        .description(Some(description))
        .into()
}

fn name_schema(description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME))
        .pattern(Some(PLAIN))
        .description(Some(description))
        .into()
}

fn search_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_SEARCH))
        .pattern(Some(PLAIN))
        .into()
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn state_schema() -> Schema {
    enum_schema(CaseState::ALL.iter().map(|s| s.as_str()), "The case's state")
}

fn state_filter_schema() -> Schema {
    enum_schema(
        CaseState::ALL.iter().map(|s| s.as_str()).chain(["alla"]),
        "A case state, or `alla` (the default): every state",
    )
}

fn outcome_schema() -> Schema {
    enum_schema(Outcome::ALL.iter().map(|o| o.as_str()), "The proposal's outcome")
}

fn nullable_outcome_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .enum_values(Some(
            Outcome::ALL
                .iter()
                .map(|o| Value::from(o.as_str()))
                .chain([Value::Null])
                .collect::<Vec<_>>(),
        ))
        .description(Some("The proposal's outcome; null before a draft"))
        .into()
}

fn sort_schema() -> Schema {
    enum_schema(
        QueueSort::ALL.iter().map(|s| s.as_str()),
        "aldst/nyast: by the application's own received date",
    )
}

fn skip_ground_schema() -> Schema {
    enum_schema(
        SkipGround::ALL.iter().map(|g| g.as_str()),
        "Förvaltningslagen 25 § andra stycket 1–3",
    )
}

fn section_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[a-z0-9_]{1,64}$"))
        .description(Some(
            "A part of the draft's calculation, as the casework type names it (ekonomiskt bistånd: norm, costs, incomes, assets)",
        ))
        .into()
}

fn date_time_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime,
        )))
        .into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// No control characters.
    #[schema(schema_with = username_schema)]
    username: String,
    #[schema(max_length = 1000)]
    password: String,
}

fn username_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(200))
        .pattern(Some(PLAIN))
        .into()
}

#[derive(Serialize, ToSchema)]
pub enum TokenType {
    Bearer,
}

#[derive(Serialize, ToSchema)]
pub struct SessionUser {
    id: i64,
    username: String,
    /// handlaggare, regelforfattare, administrator, revisor.
    roles: Vec<String>,
}

/// A bearer token for `Authorization: Bearer …`.
#[derive(Serialize, ToSchema)]
pub struct Session {
    token: String,
    token_type: TokenType,
    /// The token ends after this long without a request.
    idle_timeout_minutes: u64,
    /// The token ends after this long in any case.
    max_hours: u64,
    user: SessionUser,
}

/// `POST /api/v1/session`: username and password → a bearer token.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    operation_id = "createSession",
    tag = "session",
    summary = "Sign in: username and password give a bearer token",
    security(()),
    request_body = SessionRequest,
    responses(
        (status = 201, description = "Signed in", body = Session),
        (status = 400, description = "A body that is not JSON or does not match its schema, or a username with control characters (bad_request)", body = super::error::ErrorBody),
        (status = 403, description = "Wrong username or password (invalid_credentials)", body = super::error::ErrorBody),
        (status = 429, description = "Too many failed sign-ins from this address or for this account (too_many_requests)", body = super::error::ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn create_session(
    State(web): State<Web>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    b: Result<Json<SessionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
    // A control character is in no username (and PostgreSQL refuses NUL).
    if has_control(&req.username) {
        return Err(bad_request("Användarnamnet har styrtecken."));
    }
    let username = req.username.trim().to_lowercase();
    let ip = client_ip(&web, &headers, peer);
    let user = match web.password_login(&username, &req.password, ip).await {
        Ok(u) => u,
        Err(LoginRefused::Wrong) => {
            return Err(ApiError(Failure::Forbidden {
                code: "invalid_credentials",
                message: "Fel användarnamn eller lösenord.".into(),
            }));
        }
        Err(LoginRefused::Limited(secs)) => {
            return Err(ApiError(Failure::TooManyRequests { retry_after_secs: secs }));
        }
        Err(LoginRefused::Failed(f)) => return Err(ApiError(f)),
    };
    let token = web
        .start_session(&user, SessionKind::Api, AuthMethod::Password, ip)
        .await?;
    let session = Session {
        token,
        token_type: TokenType::Bearer,
        idle_timeout_minutes: web.settings.api_token_idle_minutes,
        max_hours: web.settings.api_token_max_hours,
        user: SessionUser {
            id: user.id,
            username: user.username.clone(),
            roles: user.roles.iter().map(|r| r.as_str().to_string()).collect(),
        },
    };
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

/// `DELETE /api/v1/session`: the token stops working.
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    operation_id = "deleteSession",
    tag = "session",
    summary = "Sign out: the token stops working",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out"))
)]
pub async fn delete_session(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, ApiError> {
    web.ctx.store.delete_session(&a.session_hash).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The work queue's filters, sort and page. Unknown parameters are refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CasesQuery {
    /// A case state, or `alla` (the default): every state.
    #[param(schema_with = state_filter_schema)]
    state: Option<String>,
    /// The casework type (`avgift-aldreomsorg`); a type this service does
    /// not run matches no case.
    #[param(schema_with = casework_type_schema)]
    casework_type: Option<String>,
    /// A robot's name; one this service does not run matches no case.
    #[param(schema_with = robot_schema)]
    robot: Option<String>,
    #[param(schema_with = outcome_schema)]
    outcome: Option<String>,
    /// Days since the application was received.
    #[param(schema_with = age_schema)]
    age: Option<String>,
    /// Only the cases assigned to the caller.
    assigned_to_me: Option<bool>,
    #[param(schema_with = sort_schema)]
    sort: Option<String>,
    /// Search: every word (2 characters or more) must match part of a
    /// name, personnummer (12 or 10 digits, with or without dash, or the
    /// last four), diarienummer or external id; case and accents ignored.
    /// Refused (403 `pseudonymised`) for a role that sees cases
    /// pseudonymised.
    #[param(schema_with = search_schema)]
    q: Option<String>,
    /// Cases per page.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Cases to skip.
    #[param(minimum = 0, maximum = 1_000_000, default = 0)]
    offset: Option<i64>,
}

fn casework_type_schema() -> Schema {
    name_schema("The casework type")
}

fn robot_schema() -> Schema {
    name_schema("A robot's name")
}

const AGES: [&str; 3] = ["0-7", "8-30", "31-"];

fn age_schema() -> Schema {
    enum_schema(AGES, "Days since the application was received")
}

/// A case in the queue.
#[derive(Serialize, ToSchema)]
pub struct CaseSummary {
    id: i64,
    external_id: String,
    diarienummer: Option<String>,
    robot: String,
    #[schema(schema_with = state_schema)]
    state: &'static str,
    /// `YYYY-MM`.
    period: Option<String>,
    #[schema(schema_with = nullable_outcome_schema)]
    outcome: Option<&'static str>,
    amount_ore: Option<i64>,
    /// When the robot took the application in.
    #[schema(schema_with = date_time_schema)]
    received: String,
    /// The application's own received time.
    #[schema(schema_with = date_time_schema)]
    application_received: String,
    #[schema(schema_with = date_time_schema)]
    updated: String,
    /// The official the case is assigned to.
    assigned_to: Option<i64>,
}

/// A page of cases: the page asked for and whether more follow.
#[derive(Serialize, ToSchema)]
pub struct CasePage {
    cases: Vec<CaseSummary>,
    limit: i64,
    offset: i64,
    /// Whether a page at `offset + limit` has cases.
    has_more: bool,
}

/// `GET /api/v1/cases`.
#[utoipa::path(
    get,
    path = "/api/v1/cases",
    operation_id = "listCases",
    tag = "cases",
    summary = "The work queue, filtered, sorted and paged",
    security(("bearer" = [])),
    params(CasesQuery),
    responses(
        (status = 200, description = "A page of cases", body = CasePage),
        (status = 400, description = "A parameter the schema does not allow: an unknown parameter or value, a limit or offset out of range", body = super::error::ErrorBody),
        (status = 403, description = "The role may not read cases, or may not search (pseudonymised)", body = super::error::ErrorBody),
    )
)]
pub async fn list_cases(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    q: Result<Query<CasesQuery>, QueryRejection>,
) -> Result<Json<CasePage>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(format!("Ogiltig fråga: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad_request(format!("limit ska vara 1–{MAX_LIMIT}.")));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(bad_request(format!("offset ska vara 0–{MAX_OFFSET}.")));
    }
    // The values the schema lists, and no others (the UI's queue reads an
    // empty value as "no filter"; the API refuses it).
    let state = match q.state.as_deref() {
        None | Some("alla") => "alla".to_string(),
        Some(s) => s
            .parse::<CaseState>()
            .map(|s| s.as_str().to_string())
            .map_err(|_| bad_request("Okänd status i filtret."))?,
    };
    if let Some(o) = q.outcome.as_deref() {
        o.parse::<Outcome>()
            .map_err(|_| bad_request("Okänt förslag i filtret."))?;
    }
    if q.age.as_deref().is_some_and(|a| !AGES.contains(&a)) {
        return Err(bad_request("Okänd ålder i filtret."));
    }
    if q.sort.as_deref().is_some_and(|s| QueueSort::parse(s).is_none()) {
        return Err(bad_request("Okänd sortering."));
    }
    for (name, v) in [("robot", &q.robot), ("casework_type", &q.casework_type)] {
        if v.as_deref()
            .is_some_and(|v| v.is_empty() || v.chars().count() > MAX_NAME || has_control(v))
        {
            return Err(bad_request(format!(
                "{name} ska ha 1–{MAX_NAME} tecken och inga styrtecken."
            )));
        }
    }
    if q.q
        .as_deref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH || has_control(s))
    {
        return Err(bad_request("Sökningen är för lång eller har styrtecken."));
    }
    if q.q.as_deref().is_some_and(|s| !s.trim().is_empty()) && super::access::pseudonymised(&a) {
        return Err(ApiError(Failure::Forbidden {
            code: "pseudonymised",
            message: "Sökning på person är inte tillgänglig för den här rollen.".into(),
        }));
    }
    let empty = CasePage {
        cases: Vec::new(),
        limit,
        offset,
        has_more: false,
    };
    if q.casework_type
        .as_deref()
        .is_some_and(|t| !super::queue::runs_type(&web, t))
    {
        return Ok(Json(empty));
    }
    let qq = QueueQuery {
        typ: q.casework_type.clone(),
        status: Some(state),
        robot: q.robot.clone(),
        utfall: q.outcome.clone(),
        alder: q.age.clone(),
        mina: q.assigned_to_me.filter(|m| *m).map(|_| "1".into()),
        sortering: q.sort.clone(),
        sida: None,
        q: q.q.clone(),
        vy: None,
    };
    let (filter, sort) = qq.filter(&web, a.official.user_id).map_err(ApiError)?;
    let page = web.ctx.store.queue(&filter, sort, limit, offset).await?;
    let cases = page
        .rows
        .iter()
        .map(|r| CaseSummary {
            id: r.id,
            external_id: r.external_id.clone(),
            diarienummer: r.diarienummer.clone(),
            robot: r.robot.clone(),
            state: r.state.as_str(),
            period: r.period.clone(),
            outcome: r.outcome.map(Outcome::as_str),
            amount_ore: r.amount_ore,
            received: r.received.to_rfc3339(),
            application_received: r.applied.to_rfc3339(),
            updated: r.updated.to_rfc3339(),
            assigned_to: r.assigned_to,
        })
        .collect();
    Ok(Json(CasePage {
        cases,
        has_more: page.has_more,
        ..empty
    }))
}

/// The case id in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CaseIdParam {
    /// The case.
    #[param(minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    #[allow(dead_code, reason = "read through Path<CaseId>; here for the document")]
    id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Comment {
    by: String,
    #[schema(schema_with = date_time_schema)]
    at: String,
    text: String,
}

/// One case: the application, the register answer, the draft, decisions,
/// comments and deliveries.
#[derive(Serialize, ToSchema)]
pub struct Case {
    id: i64,
    external_id: String,
    /// Where the application came from.
    source: String,
    robot: String,
    #[schema(schema_with = state_schema)]
    state: &'static str,
    /// Why the case is in its state (a refused application's reason).
    state_reason: Option<String>,
    period: Option<String>,
    #[schema(schema_with = nullable_outcome_schema)]
    outcome: Option<&'static str>,
    amount_ore: Option<i64>,
    /// The ruleset version that made the draft.
    ruleset: Option<String>,
    #[schema(schema_with = date_time_schema)]
    received: String,
    #[schema(schema_with = date_time_schema)]
    updated: String,
    assigned_to: Option<i64>,
    /// The application as received (its casework type's schema).
    application: Option<Value>,
    register: Option<Value>,
    /// The draft decision (its casework type's draft schema).
    draft: Option<Value>,
    /// Decisions and approvals, one Swedish line each.
    decisions: Vec<String>,
    /// Deliveries, one Swedish line each.
    deliveries: Vec<String>,
    /// Empty when pseudonymised.
    comments: Vec<Comment>,
    /// Names, personnummer and addresses replaced (a rule author's view).
    pseudonymised: bool,
}

/// `GET /api/v1/cases/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}",
    operation_id = "getCase",
    tag = "cases",
    summary = "One case: application, register answer, draft, decisions, comments, deliveries",
    security(("bearer" = [])),
    params(CaseIdParam),
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 403, description = "The role may not read cases, or the official is part of the household (conflict_of_interest)", body = super::error::ErrorBody),
        (status = 404, description = "No such case", body = super::error::ErrorBody),
    )
)]
pub async fn get_case(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    id: Result<Path<CaseId>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = case_id(id)?;
    let pseudo = super::access::read_case(&web, &a, id, "api").await.map_err(ApiError)?;
    let cv = super::core_view::load(&web, id).await?;
    let d = &cv.detail;
    let s = &d.summary;
    let parse = |t: Option<&str>| t.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let case = Case {
        id: s.id,
        external_id: s.external_id.clone(),
        source: s.source.clone(),
        robot: s.robot.clone(),
        state: s.state.as_str(),
        state_reason: s.state_reason.clone(),
        period: s.period.clone(),
        outcome: s.outcome.map(Outcome::as_str),
        amount_ore: s.amount_ore,
        ruleset: s.ruleset.clone(),
        received: s.received.to_rfc3339(),
        updated: s.updated.to_rfc3339(),
        assigned_to: cv.assigned_to,
        application: serde_json::from_slice::<Value>(&d.document).ok(),
        register: parse(d.register_json.as_deref()),
        draft: parse(d.draft_json.as_deref()),
        decisions: cv.decisions.clone(),
        deliveries: cv.outbox.clone(),
        comments: if pseudo {
            Vec::new()
        } else {
            cv.comments
                .iter()
                .map(|(by, at, text)| Comment {
                    by: by.clone(),
                    at: at.to_rfc3339(),
                    text: text.clone(),
                })
                .collect()
        },
        pseudonymised: pseudo,
    };
    if !pseudo {
        return Ok(Json(case).into_response());
    }
    // A rule author sees the case without personal data: names,
    // personnummer and addresses replaced, no free-text comments.
    let mut body = serde_json::to_value(&case).map_err(anyhow::Error::from)?;
    super::access::pseudonymise(&mut body);
    body["pseudonymised"] = Value::Bool(true);
    Ok(Json(body).into_response())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    Approved,
    AwaitingSecondApproval,
    KommuniceringSent,
    ReplyRecorded,
    ReturnedToManual,
    Assigned,
}

/// What an action did.
#[derive(Serialize, ToSchema)]
pub struct ActionResult {
    result: ActionOutcome,
    /// `assign` only: the official now assigned, `null` for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    user_id: Option<Option<i64>>,
}

fn done(result: ActionOutcome) -> Json<ActionResult> {
    Json(ActionResult { result, user_id: None })
}

fn result_json(r: ApprovalResult) -> Json<ActionResult> {
    done(match r {
        ApprovalResult::Approved => ActionOutcome::Approved,
        ApprovalResult::AwaitingSecondApproval => ActionOutcome::AwaitingSecondApproval,
    })
}

/// Deciding without kommunicering, on a ground of FL 25 § andra stycket.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipKommunicering {
    #[schema(schema_with = skip_ground_schema)]
    ground: SkipGround,
    #[schema(schema_with = Text::schema)]
    explanation: String,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Codes of the draft's assessments the official confirms; all must be confirmed.
    #[serde(default)]
    #[schema(max_items = 100)]
    confirmed_assessments: Vec<String>,
    skip_kommunicering: Option<SkipKommunicering>,
}

fn skip(s: Option<SkipKommunicering>) -> Result<Option<(SkipGround, String)>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) => Ok(Some((
            s.ground,
            text(&s.explanation, "Förklaringen till att kommunicering inte behövs")?,
        ))),
    }
}

/// `POST /api/v1/cases/{id}/approve`: the proposal as drafted (or, for a
/// second approver, the first official's decision). The body is optional.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/approve",
    operation_id = "approveCase",
    tag = "cases",
    summary = "Approve the proposal, confirming its assessments (four-eyes may ask for a second approver). The body is optional.",
    security(("bearer" = [])),
    params(CaseIdParam),
    request_body(content = Option<ApproveRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Approved, or waiting for a second official", body = ActionResult),
        (status = 403, description = "The role may not decide, four-eyes (same_approver) or conflict of interest (conflict_of_interest)", body = super::error::ErrorBody),
        (status = 404, description = "No such case", body = super::error::ErrorBody),
        (status = 409, description = "The case is not awaiting approval (not_awaiting_approval)", body = super::error::ErrorBody),
        (status = 422, description = "The case's rules refuse it: an assessment not confirmed, kommunicering needed, a text blank or too long (invalid)", body = super::error::ErrorBody),
    )
)]
pub async fn approve(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    id: Result<Path<CaseId>, PathRejection>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<ActionResult>, ApiError> {
    let id = case_id(id)?;
    let b = b.map_err(|e| {
        ApiError(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::PayloadTooLarge
        } else {
            Failure::BadRequest(format!("Ogiltig kropp: {}", e.body_text()))
        })
    })?;
    let req: ApproveRequest = if b.iter().all(u8::is_ascii_whitespace) {
        ApproveRequest::default()
    } else if !is_json(&headers) {
        return Err(ApiError(Failure::UnsupportedMediaType));
    } else {
        // `null` is no body, as the schema says.
        serde_json::from_slice::<Option<ApproveRequest>>(&b)
            .map_err(|e| bad_request(format!("Ogiltig JSON-kropp: {e}")))?
            .unwrap_or_default()
    };
    let req = DecisionRequest {
        ruling: Ruling::Proposal,
        confirmed: req.confirmed_assessments,
        skip_kommunicering: skip(req.skip_kommunicering)?,
    };
    let r = ac::decide(&web, id, &a.official, &req).await?;
    web.counts.invalidate();
    Ok(result_json(r))
}

/// A row change (amounts in öre, like the rest of the API).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, tag = "op", rename_all = "snake_case")]
pub enum ChangeJson {
    /// A new row.
    Add {
        #[schema(schema_with = section_schema)]
        section: SectionKind,
        #[schema(schema_with = Text::schema)]
        label: String,
        #[schema(minimum = -100_000_000_000_i64, maximum = 100_000_000_000_i64)]
        #[serde(deserialize_with = "int::i64")]
        amount_ore: i64,
        #[schema(schema_with = Text::schema)]
        reason: String,
    },
    /// Another amount for the row at `index` (0-based within the section).
    Change {
        #[schema(schema_with = section_schema)]
        section: SectionKind,
        #[schema(minimum = 0, maximum = 999)]
        #[serde(deserialize_with = "int::usize")]
        index: usize,
        #[schema(minimum = -100_000_000_000_i64, maximum = 100_000_000_000_i64)]
        #[serde(deserialize_with = "int::i64")]
        amount_ore: i64,
        #[schema(schema_with = Text::schema)]
        reason: String,
    },
    /// The row at `index` taken away.
    Remove {
        #[schema(schema_with = section_schema)]
        section: SectionKind,
        #[schema(minimum = 0, maximum = 999)]
        #[serde(deserialize_with = "int::usize")]
        index: usize,
        #[schema(schema_with = Text::schema)]
        reason: String,
    },
}

impl From<ChangeJson> for RowChange {
    fn from(c: ChangeJson) -> RowChange {
        match c {
            ChangeJson::Add {
                section,
                label,
                amount_ore,
                reason,
            } => RowChange::Add {
                section,
                label,
                amount: Money::from_ore(amount_ore),
                reason,
            },
            ChangeJson::Change {
                section,
                index,
                amount_ore,
                reason,
            } => RowChange::Change {
                section,
                index,
                amount: Money::from_ore(amount_ore),
                reason,
            },
            ChangeJson::Remove { section, index, reason } => RowChange::Remove { section, index, reason },
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendRequest {
    /// Row changes against the draft's calculation (`add`, `change`,
    /// `remove`, each with a reason). None with `avslag`.
    #[serde(default)]
    #[schema(max_items = 100)]
    changes: Vec<ChangeJson>,
    /// Reject the application on the official's own grounds (no changes).
    #[serde(default)]
    avslag: bool,
    /// The motivering the letter gives (Swedish).
    #[schema(schema_with = Text::schema)]
    motivering: String,
    skip_kommunicering: Option<SkipKommunicering>,
}

/// `POST /api/v1/cases/{id}/amend`: decide differently from the draft.
/// The amount follows from the rows.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/amend",
    operation_id = "amendCase",
    tag = "cases",
    summary = "Decide differently from the proposal: change, add or remove rows (each with a reason) or reject on the official's grounds, with a motivering; the amount follows from the rows",
    security(("bearer" = [])),
    params(CaseIdParam),
    request_body = AmendRequest,
    responses(
        (status = 200, description = "Decided, or waiting for a second official", body = ActionResult),
        (status = 403, description = "The role may not decide, four-eyes (same_approver) or conflict of interest (conflict_of_interest)", body = super::error::ErrorBody),
        (status = 404, description = "No such case", body = super::error::ErrorBody),
        (status = 409, description = "The case is not awaiting approval (not_awaiting_approval)", body = super::error::ErrorBody),
        (status = 422, description = "The case's rules refuse it: a row that does not exist, avslag with changes, kommunicering needed, a text blank or too long (invalid)", body = super::error::ErrorBody),
    )
)]
pub async fn amend(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    id: Result<Path<CaseId>, PathRejection>,
    b: Result<Json<AmendRequest>, JsonRejection>,
) -> Result<Json<ActionResult>, ApiError> {
    let id = case_id(id)?;
    let req = body(b)?;
    let motivering = text(&req.motivering, "Motiveringen")?;
    if req.avslag && !req.changes.is_empty() {
        return Err(ApiError(Failure::Invalid(
            "Ett avslag på egna grunder har inga ändrade rader.".into(),
        )));
    }
    let ruling = if req.avslag {
        Ruling::Avslag { motivering }
    } else {
        if req.changes.len() > 100 {
            return Err(ApiError(Failure::Invalid("Högst 100 ändrade rader.".into())));
        }
        for c in &req.changes {
            if let ChangeJson::Add { amount_ore, .. } | ChangeJson::Change { amount_ore, .. } = c
                && !(-MAX_AMOUNT_ORE..=MAX_AMOUNT_ORE).contains(amount_ore)
            {
                return Err(ApiError(Failure::Invalid(
                    "Ett belopp får vara högst 1 000 000 000 kr.".into(),
                )));
            }
            let (ChangeJson::Add { reason, .. }
            | ChangeJson::Change { reason, .. }
            | ChangeJson::Remove { reason, .. }) = c;
            text(reason, "Skälet för ändringen")?;
            if let ChangeJson::Add { label, .. } = c {
                text(label, "Radens namn")?;
            }
        }
        Ruling::Rows {
            changes: req.changes.into_iter().map(RowChange::from).collect(),
            motivering,
        }
    };
    let req = DecisionRequest {
        ruling,
        confirmed: Vec::new(),
        skip_kommunicering: skip(req.skip_kommunicering)?,
    };
    let r = ac::decide(&web, id, &a.official, &req).await?;
    web.counts.invalidate();
    Ok(result_json(r))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KommuniceringRequest {
    /// The official's own findings to communicate besides the draft's.
    #[serde(default)]
    #[schema(schema_with = optional_text_schema)]
    own_findings: String,
}

/// `POST /api/v1/cases/{id}/kommunicering`: send the kommuniceringsbrev.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/kommunicering",
    operation_id = "sendKommunicering",
    tag = "cases",
    summary = "Send the applicant a kommuniceringsbrev (förvaltningslagen 25 §); the case waits for the reply or the deadline",
    security(("bearer" = [])),
    params(CaseIdParam),
    request_body = KommuniceringRequest,
    responses(
        (status = 200, description = "Sent", body = ActionResult),
        (status = 403, description = "The role may not decide, or conflict of interest (conflict_of_interest)", body = super::error::ErrorBody),
        (status = 404, description = "No such case", body = super::error::ErrorBody),
        (status = 409, description = "The case is not awaiting approval (not_awaiting_approval)", body = super::error::ErrorBody),
        (status = 422, description = "Nothing to communicate, or a text too long (invalid)", body = super::error::ErrorBody),
    )
)]
pub async fn kommunicering(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    id: Result<Path<CaseId>, PathRejection>,
    b: Result<Json<KommuniceringRequest>, JsonRejection>,
) -> Result<Json<ActionResult>, ApiError> {
    let id = case_id(id)?;
    let req = body(b)?;
    if req.own_findings.chars().count() > MAX_TEXT {
        return Err(ApiError(Failure::Invalid(format!(
            "Dina egna uppgifter får vara högst {MAX_TEXT} tecken."
        ))));
    }
    ac::send_kommunicering(&web, id, &a.official, &req.own_findings).await?;
    web.counts.invalidate();
    Ok(done(ActionOutcome::KommuniceringSent))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The applicant's reply, as the official received it.
    #[schema(schema_with = Text::schema)]
    reply: String,
}

/// `POST /api/v1/cases/{id}/kommunicering/reply`: record the applicant's reply.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/kommunicering/reply",
    operation_id = "recordKommuniceringReply",
    tag = "cases",
    summary = "Record the applicant's reply to a kommunicering; the case returns to the queue",
    security(("bearer" = [])),
    params(CaseIdParam),
    request_body = ReplyRequest,
    responses(
        (status = 200, description = "Recorded", body = ActionResult),
        (status = 403, description = "The role may not decide, or conflict of interest (conflict_of_interest)", body = super::error::ErrorBody),
        (status = 404, description = "No such case", body = super::error::ErrorBody),
        (status = 409, description = "The case changed meanwhile (not_awaiting_approval)", body = super::error::ErrorBody),
        (status = 422, description = "The case is not waiting for a reply to a kommunicering, or the reply is blank or too long (invalid)", body = super::error::ErrorBody),
    )
)]
pub async fn kommunicering_reply(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    id: Result<Path<CaseId>, PathRejection>,
    b: Result<Json<ReplyRequest>, JsonRejection>,
) -> Result<Json<ActionResult>, ApiError> {
    let id = case_id(id)?;
    let req = body(b)?;
    let reply = text(&req.reply, "Svaret")?;
    ac::record_reply(&web, id, &a.official, ReplyChannel::Api, &reply).await?;
    web.counts.invalidate();
    Ok(done(ActionOutcome::ReplyRecorded))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// Why the case needs a person.
    #[schema(schema_with = Text::schema)]
    reason: String,
}

/// `POST /api/v1/cases/{id}/return`.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/return",
    operation_id = "returnCase",
    tag = "cases",
    summary = "Return the case to manual handling, with a reason",
    security(("bearer" = [])),
    params(CaseIdParam),
    request_body = ReturnRequest,
    responses(
        (status = 200, description = "Returned", body = ActionResult),
        (status = 403, description = "The role may not decide, or conflict of interest (conflict_of_interest)", body = super::error::ErrorBody),
        (status = 404, description = "No such case", body = super::error::ErrorBody),
        (status = 409, description = "The case is not awaiting approval (not_awaiting_approval)", body = super::error::ErrorBody),
        (status = 422, description = "The reason is blank or too long (invalid)", body = super::error::ErrorBody),
    )
)]
pub async fn return_to_manual(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    id: Result<Path<CaseId>, PathRejection>,
    b: Result<Json<ReturnRequest>, JsonRejection>,
) -> Result<Json<ActionResult>, ApiError> {
    let id = case_id(id)?;
    let req = body(b)?;
    let reason = text(&req.reason, "Skälet")?;
    ac::return_to_manual(&web, id, &a.official, &reason).await?;
    web.counts.invalidate();
    Ok(done(ActionOutcome::ReturnedToManual))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The official to assign to; `null` unassigns. Required.
    #[serde(deserialize_with = "int::nullable_i64")]
    #[schema(required = true, minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    user_id: Option<i64>,
}

/// `POST /api/v1/cases/{id}/assign`.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/assign",
    operation_id = "assignCase",
    tag = "cases",
    summary = "Assign the case to an official, or unassign it",
    security(("bearer" = [])),
    params(CaseIdParam),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "Assigned", body = ActionResult),
        (status = 403, description = "The role may not decide, or conflict of interest (conflict_of_interest)", body = super::error::ErrorBody),
        (status = 404, description = "No such case", body = super::error::ErrorBody),
        (status = 409, description = "The case is not awaiting approval (not_awaiting_approval)", body = super::error::ErrorBody),
        (status = 422, description = "No active official who may decide the case has that id (invalid)", body = super::error::ErrorBody),
    )
)]
pub async fn assign(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    id: Result<Path<CaseId>, PathRejection>,
    b: Result<Json<AssignRequest>, JsonRejection>,
) -> Result<Json<ActionResult>, ApiError> {
    let id = case_id(id)?;
    let req = body(b)?;
    ac::assign(&web, id, &a.official, req.user_id).await?;
    Ok(Json(ActionResult {
        result: ActionOutcome::Assigned,
        user_id: Some(req.user_id),
    }))
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    summary = "This document",
    security(()),
    responses((status = 200, description = "The OpenAPI document", body = Value))
)]
pub async fn openapi() -> Response {
    Json(super::openapi::document()).into_response()
}
