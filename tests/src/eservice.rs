//! A simulated e-service platform: citizens' applications ("ärenden") as
//! the platform presents them — its own field names, yes/no as "ja"/"nej",
//! amounts as Swedish text ("5 200,50") — behind a small REST API:
//!
//! ```text
//! GET  /api/v1/errands?status=submitted&page=P&per_page=N   → {"page","per_page","total","errands":[{"id","submitted"}]}
//! GET  /api/v1/errands/{id}                                 → the errand
//! POST /api/v1/errands/{id}/acknowledge  {"status","message"} → 204 (idempotent)
//! ```
//!
//! Every request needs `Authorization: Bearer <token>`.

use crate::data::Dataset;
use crate::faults::{Fault, Faults, Service};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Auth {
    pub token: String,
}

impl Default for Auth {
    fn default() -> Auth {
        Auth {
            token: "sim-eservice-token".into(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    errands: Arc<BTreeMap<String, Value>>,
    acknowledged: Arc<Mutex<BTreeMap<String, Value>>>,
    faults: Faults,
    auth: Auth,
}

/// Swedish amount text: "5 200,50" (a space between thousands, a comma).
fn belopp(v: &Value) -> Value {
    let text = match v {
        Value::Number(n) => n.to_string(),
        other => return other.clone(),
    };
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), format!("{f:0<2}")),
        None => (text.clone(), "00".to_string()),
    };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(ch);
    }
    Value::String(format!("{grouped},{frac}"))
}

fn ja_nej(v: &Value) -> Value {
    match v.as_bool() {
        Some(true) => json!("ja"),
        Some(false) => json!("nej"),
        None => Value::Null,
    }
}

fn pick(obj: &Value, key: &str) -> Value {
    obj.get(key).cloned().unwrap_or(Value::Null)
}

/// The platform's view of one of our applications.
pub fn errand_of(app: &Value) -> Value {
    let h = pick(app, "household");
    let adults: Vec<Value> = h["adults"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    json!({
                        "personnummer": pick(x, "personnummer"),
                        "namn": pick(x, "name"),
                        "arbetssokande": ja_nej(&x["job_seeking"]),
                        "relation": pick(x, "relation"),
                        "undantag": pick(x, "exempt_reason"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let children: Vec<Value> = h["children"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    json!({
                        "personnummer": pick(x, "personnummer"),
                        "namn": pick(x, "name"),
                        "lunch_i_forskola": ja_nej(&x["lunch_at_preschool"]),
                        "boende_procent": pick(x, "residence_share_percent"),
                        "gar_i_gymnasiet": ja_nej(&x["in_school"]),
                        "lon_tidigare_i_ar": belopp(&x["wage_earlier_this_year"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let costs = pick(app, "costs");
    let cost = |k: &str| belopp(&costs[k]);
    let list = |key: &str, f: &dyn Fn(&Value) -> Value| -> Vec<Value> {
        app[key]
            .as_array()
            .map(|a| a.iter().map(f).collect())
            .unwrap_or_default()
    };
    json!({
        "id": pick(app, "external_id"),
        "flow": "ekonomiskt-bistand",
        "status": "submitted",
        "submitted": pick(app, "received_at"),
        "values": {
            "ansokningsmanad": pick(app, "period"),
            "ansokningstyp": pick(app, "kind"),
            "sokande": pick(app, "applicant"),
            "vuxna": adults,
            "barn": children,
            "personer_i_bostaden": h["dwelling_persons"],
            "utgifter": {
                "hyra": cost("rent"), "hushallsel": cost("electricity"), "hemforsakring": cost("home_insurance"),
                "fackavgift": cost("union_fee"), "a_kasseavgift": cost("unemployment_fund_fee"),
                "arbetsresor": cost("work_travel"), "barnomsorg": cost("childcare"),
            },
            "inkomster": list("incomes", &|i| json!({"personnummer": i["person"], "slag": i["kind"], "belopp": belopp(&i["amount"])})),
            "tillgangar": list("assets", &|a| json!({"slag": a["kind"], "belopp": belopp(&a["amount"])})),
            "ovriga_behov": list("other_needs", &|n| json!({"slag": n["kind"], "belopp": belopp(&n["amount"]), "beskrivning": n["description"]})),
            "historik": app.get("history").map(|h| json!({
                "manader_i_folj": h["consecutive_months_with_bistand"],
                "jobbstimulans_manader": h["jobbstimulans_months_used"],
                "hyresuppmaning": h["rent_notice_period"],
                "jobbstimulans_start": h["jobbstimulans_start"],
            })).unwrap_or(Value::Null),
        }
    })
}

async fn guard(s: &AppState, headers: &HeaderMap) -> Option<Response> {
    match s.faults.get(Service::Eservice) {
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Http500) | Some(Fault::Down) => {
            return Some((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response());
        }
        _ => {}
    }
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", s.auth.token));
    if !ok {
        return Some((StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized"}))).into_response());
    }
    None
}

fn malformed(s: &AppState, body: Value) -> Response {
    if s.faults.get(Service::Eservice) == Some(Fault::Malformed) {
        let text = body.to_string();
        let cut = &text[..text.len() / 2];
        return ([(header::CONTENT_TYPE, "application/json")], cut.to_string()).into_response();
    }
    Json(body).into_response()
}

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn list(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if let Some(r) = guard(&s, &headers).await {
        return r;
    }
    let acked = s.acknowledged.lock().map(|a| a.clone()).unwrap_or_default();
    let wanted = q.status.unwrap_or_else(|| "submitted".into());
    let all: Vec<&Value> = s
        .errands
        .values()
        .filter(|e| {
            let id = e["id"].as_str().unwrap_or_default();
            let status = if acked.contains_key(id) {
                "acknowledged"
            } else {
                "submitted"
            };
            status == wanted
        })
        .collect();
    let per_page = q.per_page.unwrap_or(20).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|e| json!({"id": e["id"], "submitted": e["submitted"]}))
        .collect();
    malformed(
        &s,
        json!({"page": page, "per_page": per_page, "total": all.len(), "errands": items}),
    )
}

async fn one(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = guard(&s, &headers).await {
        return r;
    }
    match s.errands.get(&id) {
        Some(e) => malformed(&s, e.clone()),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response(),
    }
}

async fn acknowledge(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(r) = guard(&s, &headers).await {
        return r;
    }
    if !s.errands.contains_key(&id) {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response();
    }
    if let Ok(mut a) = s.acknowledged.lock() {
        a.entry(id).or_insert_with(|| body.map(|b| b.0).unwrap_or(Value::Null));
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn acknowledged(State(s): State<AppState>) -> Response {
    let a = s.acknowledged.lock().map(|a| a.clone()).unwrap_or_default();
    Json(json!(a)).into_response()
}

pub fn router(data: &Dataset, faults: Faults, auth: Auth) -> Router {
    let errands: BTreeMap<String, Value> = data
        .iter()
        .map(|s| errand_of(&s.application))
        .filter_map(|e| e["id"].as_str().map(|id| (id.to_string(), e.clone())))
        .collect();
    let state = AppState {
        errands: Arc::new(errands),
        acknowledged: Arc::default(),
        faults,
        auth,
    };
    Router::new()
        .route("/api/v1/errands", get(list))
        .route("/api/v1/errands/{id}", get(one))
        .route("/api/v1/errands/{id}/acknowledge", post(acknowledge))
        .route("/_sim/acknowledged", get(acknowledged))
        .with_state(state)
}

/// Serves the platform on 127.0.0.1, port 0.
pub async fn spawn(
    data: Dataset,
    faults: Faults,
    auth: Auth,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(&data, faults, auth);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_swedish_text() {
        assert_eq!(belopp(&json!(5200)), json!("5 200,00"));
        assert_eq!(belopp(&json!(250.5)), json!("250,50"));
        assert_eq!(belopp(&json!(1234567.25)), json!("1 234 567,25"));
        assert_eq!(belopp(&Value::Null), Value::Null);
    }
}
