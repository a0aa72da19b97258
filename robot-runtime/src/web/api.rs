//! The JSON API under `/api/v1`: the same authorisation as the UI, bearer
//! tokens instead of cookies, one error shape (`error.rs`). Amounts are
//! integer öre. The document that describes it is `openapi.rs`.

use super::Web;
use super::actions::required_text;
use super::approval_core::{self as ac, Amendment, ApprovalResult};
use super::error::{ApiError, Failure};
use super::pages::{ClientAddr, LoginRefused, QueueQuery, client_ip};
use super::session::Authed;
use crate::store::CaseId;
use crate::store::sessions::{AuthMethod, SessionKind};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::{Money, Outcome, Row};
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
    let token = web.start_session(&user, SessionKind::Api, AuthMethod::Password).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "token_type": "Bearer",
            "idle_timeout_minutes": web.settings.api_token_idle_minutes,
            "user": {"id": user.id, "username": user.username, "roles": user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()},
        })),
    )
        .into_response())
}

/// `DELETE /api/v1/session`: the token stops working.
pub async fn delete_session(State(web): State<Web>, Extension(a): Extension<Authed>) -> Result<Response, ApiError> {
    web.rt.store.delete_session(&a.session_hash).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesQuery {
    state: Option<String>,
    robot: Option<String>,
    outcome: Option<String>,
    age: Option<String>,
    assigned_to_me: Option<bool>,
    sort: Option<String>,
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
        status: Some(q.state.clone().unwrap_or_else(|| "alla".into())),
        robot: q.robot.clone(),
        utfall: q.outcome.clone(),
        alder: q.age.clone(),
        mina: q.assigned_to_me.filter(|m| *m).map(|_| "1".into()),
        sortering: q.sort.clone(),
        sida: None,
    };
    let (filter, sort) = qq.filter(&web, a.official.user_id).map_err(ApiError)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    let page = web.rt.store.queue(&filter, sort, limit, offset).await?;
    let cases: Vec<Value> = page
        .rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "external_id": r.external_id,
                "robot": r.robot,
                "state": r.state.as_str(),
                "period": r.period,
                "outcome": r.outcome.map(Outcome::as_str),
                "amount_ore": r.amount_ore,
                "received": r.received.to_rfc3339(),
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
pub async fn get_case(State(web): State<Web>, Path(id): Path<CaseId>) -> Result<Json<Value>, ApiError> {
    let cv = super::core_view::load(&web, id).await?;
    let d = &cv.detail;
    let s = &d.summary;
    let parse = |t: Option<&str>| t.and_then(|t| serde_json::from_str::<Value>(t).ok());
    Ok(Json(json!({
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
    })))
}

fn result_json(r: ApprovalResult) -> Json<Value> {
    Json(json!({"result": match r {
        ApprovalResult::Approved => "approved",
        ApprovalResult::AwaitingSecondApproval => "awaiting_second_approval",
    }}))
}

/// `POST /api/v1/cases/{id}/approve`.
pub async fn approve(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
) -> Result<Json<Value>, ApiError> {
    let r = ac::approve(&web, id, &a.official).await?;
    web.counts.invalidate();
    Ok(result_json(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowJson {
    label: String,
    amount_ore: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendRequest {
    outcome: Outcome,
    amount_ore: Option<i64>,
    #[serde(default)]
    rows: Vec<RowJson>,
    justification: String,
}

/// `POST /api/v1/cases/{id}/amend`.
pub async fn amend(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Path(id): Path<CaseId>,
    b: Result<Json<AmendRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    if req.outcome == Outcome::Manuell {
        return Err(ApiError(Failure::Invalid(
            "Använd /return för att lämna ärendet till manuell handläggning.".into(),
        )));
    }
    if req.rows.len() > 50
        || req
            .rows
            .iter()
            .any(|r| r.label.trim().is_empty() || r.label.len() > 200)
    {
        return Err(ApiError(Failure::Invalid(
            "Raderna: högst 50, var och en med en text.".into(),
        )));
    }
    let am = Amendment {
        outcome: req.outcome,
        amount: Money::from_ore(req.amount_ore.unwrap_or(0)),
        rows: req
            .rows
            .into_iter()
            .map(|r| Row {
                label: r.label.trim().to_string(),
                amount: Money::from_ore(r.amount_ore),
            })
            .collect(),
        justification: required_text(&req.justification, "Motiveringen").map_err(ApiError)?,
    };
    let r = ac::amend(&web, id, &a.official, &am).await?;
    web.counts.invalidate();
    Ok(result_json(r))
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
