//! Replay: a stored case evaluated again with its own ruleset version and
//! its stored inputs (the document exactly as the source gave it, and the
//! register answer), compared byte for byte with the stored draft.
//!
//! What the service did around the rules is taken from the stored draft,
//! not decided again: when the draft was routed to a person (a changed
//! resubmission, a second application for the same period; see
//! `store::routing`), the same routes — read back from its trace — are
//! applied to the new evaluation. Everything the rules computed is
//! computed again.

use super::{EVAL_STACK_BYTES, load_version, store_error};
use crate::store::routing::{Route, route_to_person};
use crate::store::{CaseId, RegisterAnswer, Store};
use audit::EventKind;
use audit::event::{Actor, CaseRef, Event, RulesetHash};
use domain::{Draft, Personnummer, Register, RegisterIncome};
use sandbox::{Input, ReadError, Ruleset};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// The most differences a replay lists.
const MAX_DIFFERENCES: usize = 50;

/// The routes the service applied to a stored draft, in the order it
/// applied them, read from the draft's trace (`manuell.andrad_ansokan`,
/// `manuell.dubblett_period`). `diarienummer` names an earlier case.
pub fn routes_of(draft: &Draft, diarienummer: &dyn Fn(CaseId) -> Option<String>) -> Vec<Route> {
    draft
        .parts()
        .trace
        .iter()
        .filter_map(|t| route_of(&t.rule, &Value::Object(t.inputs()), diarienummer))
        .collect()
}

fn route_of(rule: &str, inputs: &Value, diarienummer: &dyn Fn(CaseId) -> Option<String>) -> Option<Route> {
    match rule {
        "manuell.andrad_ansokan" => Some(Route::Resubmitted {
            previous: inputs.get("tidigare_version").and_then(Value::as_i64)?,
            diarienummer: inputs
                .get("tidigare_diarienummer")
                .and_then(Value::as_str)
                .map(str::to_string),
        }),
        "manuell.dubblett_period" => Some(Route::SamePeriod {
            earlier: inputs
                .get("tidigare_arenden")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_i64)
                        .map(|id| (id, diarienummer(id)))
                        .collect()
                })
                .unwrap_or_default(),
        }),
        _ => None,
    }
}

/// What replay needs from a stored draft, read as plain JSON so that a
/// draft changed in the store (even into one the domain would refuse) is
/// still replayed and shown to differ: its version and its routes.
struct Basis {
    hash: String,
    name: String,
    version: String,
    routes: Vec<Route>,
}

fn basis(stored: &str) -> Result<Basis, String> {
    let v: Value = serde_json::from_str(stored).map_err(|e| format!("det sparade utkastet är inte JSON: {e}"))?;
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let hash = text("/ruleset/hash").ok_or("det sparade utkastet namnger ingen regelversion")?;
    let routes = v
        .get("trace")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|e| {
                    let rule = e.get("rule").and_then(Value::as_str)?;
                    route_of(rule, e.get("inputs")?, &|_| None)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Basis {
        hash,
        name: text("/ruleset/name").unwrap_or_default(),
        version: text("/ruleset/version").unwrap_or_default(),
        routes,
    })
}

/// The register answer as the application carried it (stored with 12
/// digits, so the reference date never decides the century).
fn register_of(answer: &RegisterAnswer, on: chrono::NaiveDate) -> Result<Register, String> {
    let pnr =
        |s: &str| Personnummer::parse(s, on).map_err(|_| "registersvaret har ett ogiltigt personnummer".to_string());
    Ok(Register {
        job_seekers: answer.job_seekers.iter().map(|p| pnr(p)).collect::<Result<_, _>>()?,
        incomes: answer
            .incomes
            .iter()
            .map(|i| {
                Ok(RegisterIncome {
                    person: pnr(&i.person)?,
                    source: i.source.clone(),
                    kind: i.kind,
                    amount: i.amount,
                })
            })
            .collect::<Result<_, String>>()?,
    })
}

/// Why a stored case could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unevaluable {
    /// The document is not a valid application for this ruleset.
    Invalid(String),
    /// The ruleset failed on it.
    Ruleset(String),
}

impl std::fmt::Display for Unevaluable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unevaluable::Invalid(e) => write!(f, "ogiltig ansökan: {e}"),
            Unevaluable::Ruleset(e) => write!(f, "regelfel: {e}"),
        }
    }
}

/// Evaluates stored inputs as the pipeline did: read by the ruleset, the
/// stored register answer put back (only where one was stored), the rules,
/// then the given routes. Blocking (the rules run here).
pub fn evaluate_stored(
    ruleset: &Ruleset,
    document: &[u8],
    register: Option<&str>,
    routes: &[Route],
) -> Result<Draft, Unevaluable> {
    let input = match ruleset.read(document) {
        Ok(i) => i,
        Err(ReadError::Input(e)) => return Err(Unevaluable::Invalid(e.to_string())),
        Err(ReadError::Ruleset(e)) => return Err(Unevaluable::Ruleset(e.to_string())),
    };
    let input = match (input, register) {
        (Input::Builtin(app), Some(text)) => {
            let answer = RegisterAnswer::from_json(text).map_err(|e| Unevaluable::Ruleset(e.to_string()))?;
            let reg = register_of(&answer, app.received_at().date_naive()).map_err(Unevaluable::Ruleset)?;
            Input::Builtin(Box::new(
                app.with_register(reg)
                    .map_err(|e| Unevaluable::Ruleset(e.to_string()))?,
            ))
        }
        (other, _) => other,
    };
    let draft = ruleset
        .evaluate_input(&input)
        .map_err(|e| Unevaluable::Ruleset(e.to_string()))?;
    if routes.is_empty() {
        return Ok(draft);
    }
    let dropped: Vec<String> = ruleset
        .casework()
        .map(|cw| {
            cw.manifest
                .codes
                .keys()
                .filter(|c| !cw.code_kept_when_routed(c))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    route_to_person(&draft, routes, &|c: &str| !dropped.iter().any(|d| d == c))
        .map_err(|e| Unevaluable::Ruleset(e.to_string()))
}

/// What a replay found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replay {
    pub case_id: CaseId,
    pub diarienummer: Option<String>,
    /// The version the draft was made with, and replayed with.
    pub hash: String,
    pub name: String,
    pub version: String,
    /// The stored draft and the replayed one are the same bytes.
    pub identical: bool,
    /// Where they differ (JSON paths with both values), at most 50.
    pub differences: Vec<String>,
    /// Why the case could not be evaluated again (then not identical).
    pub error: Option<String>,
    pub stored: String,
    pub replayed: Option<String>,
}

/// Replays one case (audited as `case_replayed` by `actor`).
pub async fn replay_case(store: &Store, data_dir: &Path, case: CaseId, actor: &str) -> Result<Replay, String> {
    let stored = store
        .stored_input(case)
        .await
        .map_err(store_error)?
        .ok_or_else(|| format!("Ärende {case} finns inte eller har inget utkast att köra om."))?;
    let r = basis(&stored.draft)?;
    let ruleset = match load_version(store, data_dir, &r.hash).await {
        Ok(rs) => rs,
        Err(e) => {
            // A draft from before versions were stored (migration 0009):
            // its version can still be published from a folder this process
            // has loaded with exactly that content (a robot's configured one).
            let Some(loaded) = Ruleset::loaded(&r.hash) else {
                return Err(e);
            };
            let dir = loaded.dir().to_path_buf();
            let p = tokio::task::spawn_blocking(move || super::prepare(&dir))
                .await
                .map_err(|_| "regeluppsättningen kunde inte läsas (internt fel)".to_string())??;
            if p.ruleset.hash() != r.hash {
                return Err(e);
            }
            super::store_version(store, actor, &p, "replay").await?;
            p.ruleset
        }
    };
    let mut routes = r.routes.clone();
    // The earlier cases' diarienummer, as the reasons named them.
    for route in &mut routes {
        if let Route::SamePeriod { earlier } = route {
            for (id, d) in earlier.iter_mut() {
                *d = store.diarienummer_of(*id).await.map_err(store_error)?;
            }
        }
    }
    let replayed = evaluate_blocking(ruleset, stored.document.clone(), stored.register.clone(), routes).await?;
    let (replayed_json, error) = match replayed {
        Ok(d) => (Some(d.to_json()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let identical = replayed_json.as_deref() == Some(stored.draft.as_str());
    let differences = match &replayed_json {
        Some(j) if !identical => differences(&stored.draft, j),
        _ => Vec::new(),
    };
    let event = Event::new(
        EventKind::CaseReplayed,
        Actor::parse(actor).map_err(|_| format!("ogiltig aktör {actor:?}"))?,
        store.clock().now(),
    )
    .with_case(CaseRef::parse(&format!("case:{case}")).map_err(|e| e.to_string())?)
    .with_ruleset(RulesetHash::parse(&r.hash).map_err(|e| e.to_string())?)
    .with_payload(json!({
        "identical": identical,
        "differences": differences.len(),
        "evaluated": error.is_none(),
    }))
    .map_err(|e| e.to_string())?;
    store.log(vec![event]).await.map_err(store_error)?;
    tracing::info!(case_id = case, identical, "case replayed");
    Ok(Replay {
        case_id: case,
        diarienummer: stored.diarienummer,
        hash: r.hash,
        name: r.name,
        version: r.version,
        identical,
        differences,
        error,
        stored: stored.draft,
        replayed: replayed_json,
    })
}

async fn evaluate_blocking(
    ruleset: Arc<Ruleset>,
    document: Vec<u8>,
    register: Option<String>,
    routes: Vec<Route>,
) -> Result<Result<Draft, Unevaluable>, String> {
    // On a thread with the stack the sandbox's limits assume.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hrobot-replay".into())
        .stack_size(EVAL_STACK_BYTES)
        .spawn(move || {
            let _ = tx.send(evaluate_stored(&ruleset, &document, register.as_deref(), &routes));
        })
        .map_err(|e| format!("kunde inte starta bedömningen: {e}"))?;
    rx.await
        .map_err(|_| "bedömningen avbröts av ett internt fel".to_string())
}

/// The JSON paths where two documents differ, with both values.
pub fn differences(a: &str, b: &str) -> Vec<String> {
    let (Ok(x), Ok(y)) = (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)) else {
        return vec!["(inte JSON)".into()];
    };
    let mut out = Vec::new();
    diff(&x, &y, String::new(), &mut out);
    if out.is_empty() {
        // Same values, different bytes (key order or spacing).
        out.push("(samma värden, olika byte)".into());
    }
    out
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn diff(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    if out.len() >= MAX_DIFFERENCES || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff(u, v, p, out),
                    (Some(u), None) => out.push(format!("{p}: {} → (saknas)", short(u))),
                    (None, Some(v)) => out.push(format!("{p}: (saknas) → {}", short(v))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let p = format!("{path}/{i}");
                match (x.get(i), y.get(i)) {
                    (Some(u), Some(v)) => diff(u, v, p, out),
                    (Some(u), None) => out.push(format!("{p}: {} → (saknas)", short(u))),
                    (None, Some(v)) => out.push(format!("{p}: (saknas) → {}", short(v))),
                    (None, None) => {}
                }
            }
        }
        _ => out.push(format!(
            "{}: {} → {}",
            if path.is_empty() { "/" } else { &path },
            short(a),
            short(b)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_paths_and_both_values() {
        let d = differences(
            r#"{"outcome":"bifall","amount":{"ore":100},"codes":["a"]}"#,
            r#"{"outcome":"avslag","amount":{"ore":100},"codes":["a","b"]}"#,
        );
        assert_eq!(
            d,
            vec![r#"/codes/1: (saknas) → "b""#, r#"/outcome: "bifall" → "avslag""#]
        );
        assert_eq!(
            differences("{\"a\":1}", "{ \"a\": 1 }"),
            vec!["(samma värden, olika byte)"]
        );
    }
}
