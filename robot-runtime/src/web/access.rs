//! Reading a case: who may, what they see, and the access log.
//!
//! Every read of a case (its page, the API, the decision letter, the
//! kommuniceringsbrev) is an audit event (`case_read`) with the reader, so a
//! revisor can list who read a person's case ([`reads_page`]). An official
//! who is part of the case's household (jäv) cannot open it. A
//! regelförfattare who holds no deciding or auditing role sees cases
//! pseudonymised: no names, personnummer or addresses, and no letters.

use super::approval_core::Role;
use super::error::{Failure, WebError};
use super::pages::{Chrome, render};
use super::session::Authed;
use super::{Web, view};
use crate::store::CaseId;
use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Whether the official sees cases without personal data.
pub fn pseudonymised(a: &Authed) -> bool {
    let o = &a.official;
    o.has(Role::Regelforfattare) && !o.has(Role::Handlaggare) && !o.has(Role::Revisor)
}

/// Checks the jäv rule and logs the read. Returns whether the reader sees
/// the case pseudonymised.
pub async fn read_case(web: &Web, a: &Authed, case: CaseId, via: &str) -> Result<bool, Failure> {
    let store = &web.ctx.store;
    // A case that does not exist is a 404, not a logged read.
    let detail = store.case_detail(case).await?;
    if crate::approval::conflicted_in(&a.official, &detail.document) {
        tracing::info!(
            case,
            user_id = a.official.user_id,
            "a conflicted official was refused a case"
        );
        return Err(Failure::from(crate::approval::ApprovalError::ConflictOfInterest));
    }
    let pseudo = pseudonymised(a);
    store
        .log_case_read(
            case,
            &format!("user:{}", a.official.username),
            json!({"via": via, "pseudonymised": pseudo}),
        )
        .await?;
    Ok(pseudo)
}

/// Refuses a letter to a pseudonymised reader (a letter is all personal data).
pub fn no_letters(pseudo: bool) -> Result<(), Failure> {
    if pseudo {
        return Err(Failure::Forbidden {
            code: "pseudonymised",
            message: "Som regelförfattare ser du ärenden utan personuppgifter; breven innehåller personuppgifter."
                .into(),
        });
    }
    Ok(())
}

const NAME_KEYS: &[&str] = &[
    "name",
    "namn",
    "first_name",
    "last_name",
    "fornamn",
    "efternamn",
    "address",
    "adress",
    "email",
    "epost",
    "phone",
    "telefon",
    "bank_account",
    "konto",
];

/// Replaces names, addresses and personnummer in a JSON document with
/// stable pseudonyms ("Person 1", "Person 2", … by first appearance).
pub fn pseudonymise(v: &mut Value) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    walk(v, &mut seen, None);
}

fn alias(seen: &mut BTreeMap<String, usize>, original: &str) -> String {
    let n = seen.len() + 1;
    let i = *seen.entry(original.to_string()).or_insert(n);
    format!("Person {i}")
}

fn walk(v: &mut Value, seen: &mut BTreeMap<String, usize>, key: Option<&str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                walk(x, seen, Some(k.as_str()));
            }
        }
        Value::Array(xs) => {
            for x in xs {
                walk(x, seen, key);
            }
        }
        Value::String(s) => {
            let k = key.map(str::to_lowercase).unwrap_or_default();
            if k.contains("personnummer") || audit::event::contains_personnummer(s) {
                *s = format!("{} (personnummer dolt)", alias(seen, s));
            } else if NAME_KEYS.contains(&k.as_str()) {
                *s = "(dolt)".into();
            }
        }
        _ => {}
    }
}

// ------------------------------------------------------------ who read

#[derive(Deserialize)]
pub struct ReadsQuery {
    arende: Option<String>,
    personnummer: Option<String>,
}

pub struct ReadLine {
    pub case: i64,
    pub time: String,
    pub reader: String,
    pub via: String,
}

#[derive(Template)]
#[template(path = "reads.html")]
struct ReadsPage {
    chrome: Chrome,
    arende: String,
    searched: bool,
    cases: Vec<i64>,
    lines: Vec<ReadLine>,
    error: Option<String>,
}

/// `/granskning/lasningar`: a revisor lists who read a case, or every case
/// of a person (by personnummer). The search itself is logged as a read.
pub async fn reads_page(
    State(web): State<Web>,
    Extension(a): Extension<Authed>,
    Query(q): Query<ReadsQuery>,
) -> Result<Response, WebError> {
    let store = &web.ctx.store;
    let mut error = None;
    let mut cases: Vec<i64> = Vec::new();
    let arende = q.arende.clone().unwrap_or_default();
    if let Some(c) = q.arende.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        match c.parse::<i64>() {
            Ok(id) if store.case_detail(id).await.is_ok() => cases.push(id),
            _ => error = Some("Det finns inget sådant ärende.".to_string()),
        }
    }
    if let Some(p) = q.personnummer.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        match domain::Personnummer::parse(p, web.now().date_naive()) {
            Ok(pnr) => cases.extend(store.cases_of_person(&pnr).await?),
            Err(_) => error = Some("Personnumret är inte giltigt.".to_string()),
        }
    }
    cases.sort_unstable();
    cases.dedup();
    let mut lines = Vec::new();
    for id in &cases {
        read_case(&web, &a, *id, "access_log").await?;
        for (seq_time, actor, payload) in store.case_reads(*id).await? {
            lines.push(ReadLine {
                case: *id,
                time: view::time(seq_time),
                reader: actor.trim_start_matches("user:").to_string(),
                via: match payload.get("via").and_then(Value::as_str).unwrap_or("") {
                    "page" => "ärendesidan",
                    "api" => "API",
                    "letter" => "beslutsbrevet",
                    "letter_pdf" => "beslutsbrevet (PDF)",
                    "kommunicering_letter" => "kommuniceringsbrevet",
                    "access_log" => "läsloggen",
                    "cli" => "kommandoraden",
                    _ => "annat",
                }
                .to_string(),
            });
        }
    }
    render(&ReadsPage {
        chrome: Chrome::for_user(&a, "/granskning"),
        searched: q.arende.is_some() || q.personnummer.is_some(),
        arende,
        cases,
        lines,
        error,
    })
}
