//! The JSON API under `/api/v1`: the same authorisation as the UI, bearer
//! tokens instead of cookies, one error shape (`error.rs`). Amounts are
//! integer öre. The document that describes it is `openapi.rs`.

use super::Web;
use super::actions::required_text;
use super::approval_core::{self as ac, ApprovalResult, DecisionRequest, ReplyChannel};
use super::error::{ApiError, Failure};
use super::pages::{ClientAddr, LoginRefused, client_ip};
use super::queue::QueueQuery;
use super::session::Authed;
use crate::store::CaseId;
use crate::store::sessions::{AuthMethod, SessionKind};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::{Money, Outcome, RowChange, Ruling, SectionKind};
use serde::Deserialize;
use serde_json::{Value, json};

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError(Failure::BadRequest(format!("Ogiltig JSON-kropp: {}", e.body_text()))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    username: String,
    password: String,
}

/// `POST /api/v1/session`: username and password → a bearer token.
pub async fn create_session(
    State(web): State<Web>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    b: Result<Json<SessionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(b)?;
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
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "token_type": "Bearer",
            "idle_timeout_minutes": web.settings.api_token_idle_minutes,
            "max_hours": web.settings.api_token_max_hours,
            "user": {"id": user.id, "username": user.username, "roles": user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()},
        })),
    )
        .into_response())
}

/// `DELETE /api/v1/session`: the token stops working.
pub async fn delete_session(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, ApiError> {
    web.ctx.store.delete_session(&a.session_hash).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesQuery {
    state: Option<String>,
    /// The casework type (`avgift-aldreomsorg`).
    casework_type: Option<String>,
    robot: Option<String>,
    outcome: Option<String>,
    age: Option<String>,
    assigned_to_me: Option<bool>,
    sort: Option<String>,
    /// Search: name, personnummer, diarienummer or external id (each word
    /// must match part of one).
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/cases`.
pub async fn list_cases(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    q: Result<Query<CasesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(Failure::BadRequest(format!("Ogiltig fråga: {}", e.body_text()))))?;
    let qq = QueueQuery {
        typ: q.casework_type.clone(),
        status: Some(q.state.clone().unwrap_or_else(|| "alla".into())),
        robot: q.robot.clone(),
        utfall: q.outcome.clone(),
        alder: q.age.clone(),
        mina: q.assigned_to_me.filter(|m| *m).map(|_| "1".into()),
        sortering: q.sort.clone(),
        sida: None,
        q: q.q.clone(),
        vy: None,
    };
    if qq.q.as_deref().is_some_and(|s| !s.trim().is_empty()) && super::access::pseudonymised(&a) {
        return Err(ApiError(Failure::Forbidden {
            code: "pseudonymised",
            message: "Sökning på person är inte tillgänglig för den här rollen.".into(),
        }));
    }
    let (filter, sort) = qq.filter(&web, a.official.user_id).map_err(ApiError)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    let page = web.ctx.store.queue(&filter, sort, limit, offset).await?;
    let cases: Vec<Value> = page
        .rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "external_id": r.external_id,
                "diarienummer": r.diarienummer,
                "robot": r.robot,
                "state": r.state.as_str(),
                "period": r.period,
                "outcome": r.outcome.map(Outcome::as_str),
                "amount_ore": r.amount_ore,
                "received": r.received.to_rfc3339(),
                "application_received": r.applied.to_rfc3339(),
                "updated": r.updated.to_rfc3339(),
                "assigned_to": r.assigned_to,
            })
        })
        .collect();
    Ok(Json(
        json!({"cases": cases, "limit": limit, "offset": offset, "has_more": page.has_more}),
    ))
}

/// `GET /api/v1/cases/{id}`.
pub async fn get_case(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
) -> Result<Json<Value>, ApiError> {
    let pseudo = super::access::read_case(&web, &a, id, "api").await.map_err(ApiError)?;
    let cv = super::core_view::load(&web, id).await?;
    let d = &cv.detail;
    let s = &d.summary;
    let parse = |t: Option<&str>| t.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let mut body = json!({
        "id": s.id,
        "external_id": s.external_id,
        "source": s.source,
        "robot": s.robot,
        "state": s.state.as_str(),
        "state_reason": s.state_reason,
        "period": s.period,
        "outcome": s.outcome.map(Outcome::as_str),
        "amount_ore": s.amount_ore,
        "ruleset": s.ruleset,
        "received": s.received.to_rfc3339(),
        "updated": s.updated.to_rfc3339(),
        "assigned_to": cv.assigned_to,
        "application": serde_json::from_slice::<Value>(&d.document).ok(),
        "register": parse(d.register_json.as_deref()),
        "draft": parse(d.draft_json.as_deref()),
        "decisions": cv.decisions,
        "deliveries": cv.outbox,
        "comments": cv.comments.iter().map(|(by, at, text)| json!({"by": by, "at": at.to_rfc3339(), "text": text})).collect::<Vec<_>>(),
    });
    if pseudo {
        // A rule author sees the case without personal data: names,
        // personnummer and addresses replaced, no free-text comments.
        super::access::pseudonymise(&mut body);
        body["comments"] = json!([]);
        body["pseudonymised"] = json!(true);
    }
    Ok(Json(body))
}

fn result_json(r: ApprovalResult) -> Json<Value> {
    Json(json!({"result": match r {
        ApprovalResult::Approved => "approved",
        ApprovalResult::AwaitingSecondApproval => "awaiting_second_approval",
    }}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipRequest {
    /// `uppenbart_obehovlig`, `svarare_att_genomfora` or `kan_inte_skjutas_upp` (FL 25 § andra stycket).
    ground: String,
    explanation: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Codes of the draft's assessments the official confirms.
    #[serde(default)]
    confirmed_assessments: Vec<String>,
    skip_kommunicering: Option<SkipRequest>,
}

fn skip(s: Option<SkipRequest>) -> Result<Option<(domain::SkipGround, String)>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) => super::actions::skip_ground("api", &s.ground, &s.explanation).map_err(|e| ApiError(e.into())),
    }
}

/// `POST /api/v1/cases/{id}/approve`: the proposal as drafted (or, for a
/// second approver, the first official's decision). The body is optional.
pub async fn approve(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    b: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: ApproveRequest = if b.iter().all(u8::is_ascii_whitespace) {
        ApproveRequest::default()
    } else {
        serde_json::from_slice(&b).map_err(|e| ApiError(Failure::BadRequest(format!("Ogiltig JSON-kropp: {e}"))))?
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

/// A row change as the API takes it (amounts in öre, like the rest of the API).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "op", rename_all = "snake_case")]
pub enum ChangeJson {
    Add {
        section: SectionKind,
        label: String,
        amount_ore: i64,
        reason: String,
    },
    Change {
        section: SectionKind,
        index: usize,
        amount_ore: i64,
        reason: String,
    },
    Remove {
        section: SectionKind,
        index: usize,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendRequest {
    /// Row changes against the draft's calculation (`add`, `change`, `remove`, each with a reason).
    #[serde(default)]
    changes: Vec<ChangeJson>,
    /// Reject the application on the official's grounds (no rows).
    #[serde(default)]
    avslag: bool,
    motivering: String,
    skip_kommunicering: Option<SkipRequest>,
}

/// `POST /api/v1/cases/{id}/amend`: decide differently from the draft.
/// The amount follows from the rows.
pub async fn amend(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    b: Result<Json<AmendRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    let motivering = required_text(&req.motivering, "Motiveringen").map_err(ApiError)?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KommuniceringRequest {
    /// The official's own findings to communicate besides the draft's.
    #[serde(default)]
    own_findings: String,
}

/// `POST /api/v1/cases/{id}/kommunicering`: send the kommuniceringsbrev.
pub async fn kommunicering(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    b: Result<Json<KommuniceringRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    ac::send_kommunicering(&web, id, &a.official, &req.own_findings).await?;
    web.counts.invalidate();
    Ok(Json(json!({"result": "kommunicering_sent"})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    reply: String,
}

/// `POST /api/v1/cases/{id}/kommunicering/reply`: record the applicant's reply.
pub async fn kommunicering_reply(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    b: Result<Json<ReplyRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    let reply = required_text(&req.reply, "Svaret").map_err(ApiError)?;
    ac::record_reply(&web, id, &a.official, ReplyChannel::Api, &reply).await?;
    web.counts.invalidate();
    Ok(Json(json!({"result": "reply_recorded"})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    reason: String,
}

/// `POST /api/v1/cases/{id}/return`.
pub async fn return_to_manual(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    b: Result<Json<ReturnRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    let reason = required_text(&req.reason, "Skälet").map_err(ApiError)?;
    ac::return_to_manual(&web, id, &a.official, &reason).await?;
    web.counts.invalidate();
    Ok(Json(json!({"result": "returned_to_manual"})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The official to assign to; `null` unassigns.
    user_id: Option<i64>,
}

/// `POST /api/v1/cases/{id}/assign`.
pub async fn assign(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    b: Result<Json<AssignRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    ac::assign(&web, id, &a.official, req.user_id).await?;
    Ok(Json(json!({"result": "assigned", "user_id": req.user_id})))
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}
