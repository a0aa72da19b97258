//! `hrobot audit verify --cases`: holds the case store to the audit log.
//!
//! The log is tamper-evident by itself; the case store (applications,
//! drafts, decisions, states, comments, assignments) is an ordinary set of
//! tables. The events say what the store must hold: the SHA-256 of the
//! application document when it was fetched, of every draft and decision
//! record, the state each step left the case in, each comment's hash, the
//! last assignment. This check reads the whole log (its public part; no
//! key is needed) and every case, and names each difference by case and by
//! the event that disagrees.

use crate::store::sha256;
use audit::Db;
use audit::store::ExportedEvent;
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// One difference between the case store and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub case: i64,
    pub what: String,
}

/// What the check saw.
#[derive(Debug, Default)]
pub struct CasesReport {
    pub cases: usize,
    pub events: u64,
    pub findings: Vec<Finding>,
    /// Differences in the rule author's workbench: a published version or
    /// an activation the log does not account for.
    pub rules: Vec<String>,
}

/// What the log says about ruleset versions and activations.
#[derive(Default)]
struct LoggedRules {
    published: BTreeSet<String>,
    /// Request id → who asked.
    requested: BTreeMap<i64, String>,
    /// Request id → (event kind, who decided).
    decided: BTreeMap<i64, (String, String)>,
}

macro_rules! load_rules {
    ($pool:expr) => {{
        let pool = $pool;
        let versions: Vec<String> = sqlx::query_scalar("SELECT hash FROM ruleset_versions ORDER BY hash")
            .fetch_all(pool)
            .await?;
        let mut activations = Vec::new();
        for r in sqlx::query("SELECT id, state, requested_by, decided_by FROM ruleset_activations ORDER BY id")
            .fetch_all(pool)
            .await?
        {
            activations.push((
                r.try_get::<i64, _>("id")?,
                r.try_get::<String, _>("state")?,
                r.try_get::<String, _>("requested_by")?,
                r.try_get::<Option<String>, _>("decided_by")?,
            ));
        }
        (versions, activations)
    }};
}

/// Published versions and activations held to the log: every version was
/// published by an event, every activation was asked for, and every
/// decided one was decided by an event of the matching kind, by someone
/// other than the one who asked (unless withdrawn).
fn check_rules(
    l: &LoggedRules,
    versions: &[String],
    activations: &[(i64, String, String, Option<String>)],
) -> Vec<String> {
    let mut out = Vec::new();
    for v in versions {
        if !l.published.contains(v) {
            out.push(format!(
                "ruleset version {v} is in the store, but no event published it"
            ));
        }
    }
    for (id, state, asked, decided) in activations {
        match l.requested.get(id) {
            None => out.push(format!("activation {id} is in the store, but no event asked for it")),
            Some(a) if a != asked => out.push(format!(
                "activation {id}: asked for by {asked} in the store, by {a} in the log"
            )),
            Some(_) => {}
        }
        let logged = l.decided.get(id);
        let want = match state.as_str() {
            "approved" => Some(("activation_approved", "approved")),
            "refused" | "withdrawn" => Some(("activation_refused", state.as_str())),
            _ => None,
        };
        match (want, logged) {
            (None, None) => {}
            (None, Some((k, _))) => out.push(format!(
                "activation {id} is still requested in the store, but the log decided it ({k})"
            )),
            (Some((k, _)), None) => out.push(format!(
                "activation {id} is {state} in the store, but no {k} event decided it"
            )),
            (Some((k, st)), Some((lk, by))) => {
                if k != lk {
                    out.push(format!("activation {id} is {st} in the store, but the log says {lk}"));
                }
                if decided.as_deref() != Some(by.as_str()) {
                    out.push(format!(
                        "activation {id}: decided by {} in the store, by {by} in the log",
                        decided.as_deref().unwrap_or("nobody")
                    ));
                }
                if st == "approved" && Some(by) == l.requested.get(id) {
                    out.push(format!("activation {id} was approved by the one who asked for it"));
                }
            }
        }
    }
    out
}

#[derive(Default)]
struct Logged {
    fetched: Option<(u64, Option<String>)>,
    /// The last event that named the case's state: (seq, state).
    state: Option<(u64, String)>,
    drafts: BTreeSet<String>,
    records: BTreeSet<String>,
    comments: Vec<(u64, Option<String>)>,
    assigned: Option<(u64, Option<i64>)>,
}

struct StoredCase {
    state: String,
    amount_ore: Option<i64>,
    assigned_to: Option<i64>,
    document: Option<Vec<u8>>,
    drafts: Vec<String>,
    decisions: Vec<(i64, i64, Option<String>)>,
    comments: Vec<String>,
}

fn case_number(e: &ExportedEvent) -> Option<i64> {
    e.case.as_deref()?.strip_prefix("case:")?.parse().ok()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

macro_rules! load_cases {
    ($pool:expr) => {{
        let pool = $pool;
        let mut out: BTreeMap<i64, StoredCase> = BTreeMap::new();
        for r in sqlx::query("SELECT id, state, amount_ore, assigned_to FROM cases ORDER BY id")
            .fetch_all(pool)
            .await?
        {
            out.insert(
                r.try_get("id")?,
                StoredCase {
                    state: r.try_get("state")?,
                    amount_ore: r.try_get("amount_ore")?,
                    assigned_to: r.try_get("assigned_to")?,
                    document: None,
                    drafts: Vec::new(),
                    decisions: Vec::new(),
                    comments: Vec::new(),
                },
            );
        }
        for r in sqlx::query("SELECT case_id, document FROM applications")
            .fetch_all(pool)
            .await?
        {
            let id: i64 = r.try_get("case_id")?;
            if let Some(c) = out.get_mut(&id) {
                c.document = Some(r.try_get("document")?);
            }
        }
        for r in sqlx::query("SELECT case_id, draft FROM drafts ORDER BY id")
            .fetch_all(pool)
            .await?
        {
            let id: i64 = r.try_get("case_id")?;
            if let Some(c) = out.get_mut(&id) {
                c.drafts.push(r.try_get("draft")?);
            }
        }
        for r in sqlx::query("SELECT id, case_id, amount_ore, record FROM decisions ORDER BY id")
            .fetch_all(pool)
            .await?
        {
            let id: i64 = r.try_get("case_id")?;
            if let Some(c) = out.get_mut(&id) {
                c.decisions
                    .push((r.try_get("id")?, r.try_get("amount_ore")?, r.try_get("record")?));
            }
        }
        for r in sqlx::query("SELECT case_id, body FROM comments ORDER BY id")
            .fetch_all(pool)
            .await?
        {
            let id: i64 = r.try_get("case_id")?;
            if let Some(c) = out.get_mut(&id) {
                c.comments.push(r.try_get("body")?);
            }
        }
        out
    }};
}

async fn load(db: &Db) -> anyhow::Result<BTreeMap<i64, StoredCase>> {
    Ok(match db {
        Db::Sqlite(p) => load_cases!(p),
        Db::Postgres(p) => load_cases!(p),
    })
}

/// Reads the log and the case store and compares them.
pub async fn check(db: &Db) -> anyhow::Result<CasesReport> {
    let mut logged: BTreeMap<i64, Logged> = BTreeMap::new();
    let mut rules = LoggedRules::default();
    let events = db
        .export(None, 0, None, |e| {
            let request = || e.payload.get("request").and_then(Value::as_i64);
            match e.kind.as_str() {
                "ruleset_published" => {
                    if let Some(h) = &e.ruleset {
                        rules.published.insert(h.clone());
                    }
                }
                "activation_requested" => {
                    if let Some(r) = request() {
                        rules.requested.insert(r, e.actor.clone());
                    }
                }
                "activation_approved" | "activation_refused" => {
                    if let Some(r) = request() {
                        rules.decided.insert(r, (e.kind.clone(), e.actor.clone()));
                    }
                }
                _ => {}
            }
            let Some(case) = case_number(&e) else { return Ok(()) };
            let l = logged.entry(case).or_default();
            let p = &e.payload;
            if let Some(s) = text(p, "state") {
                l.state = Some((e.seq, s));
            }
            match e.kind.as_str() {
                "fetched" => l.fetched = Some((e.seq, text(p, "application_sha256"))),
                "drafted" => {
                    if let Some(h) = text(p, "draft_sha256") {
                        l.drafts.insert(h);
                    }
                }
                "approved" | "amended" => {
                    if let Some(h) = text(p, "record_sha256") {
                        l.records.insert(h);
                    }
                }
                "commented" => l.comments.push((e.seq, text(p, "text_sha256"))),
                "assigned" => l.assigned = Some((e.seq, p.get("to").and_then(Value::as_i64))),
                _ => {}
            }
            Ok(())
        })
        .await?;
    let stored = load(db).await?;
    let (versions, activations) = match db {
        Db::Sqlite(p) => load_rules!(p),
        Db::Postgres(p) => load_rules!(p),
    };
    let rule_findings = check_rules(&rules, &versions, &activations);
    let mut findings = Vec::new();
    let mut say = |case: i64, what: String| findings.push(Finding { case, what });
    for (id, c) in &stored {
        let Some(l) = logged.get(id) else {
            say(*id, "the case is not in the audit log (no event names it)".into());
            continue;
        };
        match (&l.fetched, &c.document) {
            (None, _) => say(*id, "the audit log has no `fetched` event for the case".into()),
            (Some((seq, Some(h))), Some(doc)) if &sha256(doc) != h => say(
                *id,
                format!("the application document differs from the one fetched (event {seq} recorded {h})"),
            ),
            (Some((seq, Some(_))), None) => say(
                *id,
                format!("the application document is missing (fetched in event {seq})"),
            ),
            _ => {}
        }
        if let Some((seq, s)) = &l.state
            && s != &c.state
        {
            say(
                *id,
                format!(
                    "the state is {} in the case store, but the log's last state change (event {seq}) left it {s}",
                    c.state
                ),
            );
        }
        for (i, d) in c.drafts.iter().enumerate() {
            let h = sha256(d.as_bytes());
            if !l.drafts.is_empty() && !l.drafts.contains(&h) {
                say(
                    *id,
                    format!("draft {} differs from every draft the log recorded", i + 1),
                );
            }
        }
        for (did, amount, record) in &c.decisions {
            let Some(record) = record else { continue };
            if !l.records.contains(&sha256(record.as_bytes())) {
                say(
                    *id,
                    format!(
                        "decision {did}: its record (outcome, amount, rows or motivering) differs from what the officials approved according to the log"
                    ),
                );
            }
            match domain::DecisionRecord::from_json(record) {
                Ok(r) if r.amount.ore() != *amount => say(
                    *id,
                    format!("decision {did}: the amount column differs from the decision record"),
                ),
                Ok(_) => {}
                Err(_) => say(*id, format!("decision {did}: the record does not read")),
            }
        }
        let latest_amount = match c.decisions.last() {
            Some((_, amount, _)) => Some(*amount),
            None => c
                .drafts
                .last()
                .and_then(|d| domain::Draft::from_json(d).ok())
                .and_then(|d| d.amount().map(domain::Money::ore)),
        };
        if (c.amount_ore.is_some() || !c.drafts.is_empty()) && c.amount_ore != latest_amount {
            say(
                *id,
                "the case's amount differs from its latest decision or draft".into(),
            );
        }
        if c.comments.len() != l.comments.len() {
            say(
                *id,
                format!(
                    "the case store has {} comment(s), the log recorded {}",
                    c.comments.len(),
                    l.comments.len()
                ),
            );
        } else {
            for (body, (seq, h)) in c.comments.iter().zip(&l.comments) {
                if let Some(h) = h
                    && &sha256(body.as_bytes()) != h
                {
                    say(*id, format!("a comment differs from the one recorded in event {seq}"));
                }
            }
        }
        let logged_to = l.assigned.as_ref().and_then(|(_, to)| *to);
        if c.assigned_to != logged_to {
            say(
                *id,
                match &l.assigned {
                    Some((seq, _)) => format!("the assignment differs from the last one recorded (event {seq})"),
                    None => "the case is assigned, but the log records no assignment".into(),
                },
            );
        }
    }
    for (id, l) in &logged {
        if !stored.contains_key(id)
            && let Some((seq, _)) = l.fetched
        {
            say(
                *id,
                format!("the log fetched the case in event {seq}, but the case store has no such case"),
            );
        }
    }
    Ok(CasesReport {
        cases: stored.len(),
        events,
        findings,
        rules: rule_findings,
    })
}
