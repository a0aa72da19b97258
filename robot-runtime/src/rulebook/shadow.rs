//! Shadow runs: a candidate ruleset evaluated over stored cases and
//! compared with the version in force, without changing anything.
//!
//! Each case is read from its stored inputs (`replay::evaluate_stored`,
//! with the routes its stored draft had). The baseline is the version in
//! force now for the type: where the case's stored draft was made with that
//! very version, the stored draft is the baseline (replay shows it comes out
//! byte-identical), otherwise the baseline version is evaluated too. With
//! no baseline given, the stored drafts are the baseline as they are.
//!
//! Pages of stored cases are read while the previous page is evaluated on
//! a pool of threads (one per core, each with the sandbox's stack).

use super::replay::{Unevaluable, evaluate_stored, routes_of};
use super::{EVAL_STACK_BYTES, store_error};
use crate::store::rulesets::{CaseFilter, ShadowRow, StoredInput};
use crate::store::{CaseId, Store};
use audit::EventKind;
use audit::event::{Actor, Event, RulesetHash};
use domain::{Draft, Outcome};
use rayon::prelude::*;
use sandbox::Ruleset;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// Stored cases read per page.
const PAGE: i64 = 1_000;
/// The most changed cases a report lists one by one.
pub const MAX_LISTED: usize = 5_000;

/// A ruleset version as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRef {
    pub hash: String,
    pub name: String,
    pub version: String,
}

impl VersionRef {
    fn of(r: &Ruleset) -> VersionRef {
        VersionRef {
            hash: r.hash().to_string(),
            name: r.name().to_string(),
            version: r.version().to_string(),
        }
    }
}

/// One outcome transition and how many cases made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub cases: u64,
}

/// How many cases' amount changed by how much (kronor, both ends included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub label: String,
    pub cases: u64,
}

/// The distribution of amount changes (candidate − baseline, öre; a draft
/// without an amount counts as 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountChanges {
    pub increased: u64,
    pub decreased: u64,
    pub unchanged: u64,
    pub total_change_ore: i64,
    pub largest_increase_ore: i64,
    pub largest_decrease_ore: i64,
    pub median_change_ore: i64,
    pub buckets: Vec<Bucket>,
}

/// A code and how many cases gained or lost it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCount {
    pub code: String,
    pub label: String,
    pub cases: u64,
}

/// One case whose draft would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedCase {
    pub case_id: CaseId,
    pub diarienummer: Option<String>,
    pub from_outcome: String,
    pub to_outcome: String,
    pub from_amount_ore: Option<i64>,
    pub to_amount_ore: Option<i64>,
    pub change_ore: i64,
    pub codes_gained: Vec<String>,
    pub codes_lost: Vec<String>,
}

/// A case the candidate (or the baseline) could not evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCase {
    pub case_id: CaseId,
    pub diarienummer: Option<String>,
    pub error: String,
}

/// A shadow report (stored as JSON; the HTML is made from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub casework_type: String,
    pub candidate: VersionRef,
    /// `None`: compared with the stored drafts as they are.
    pub baseline: Option<VersionRef>,
    /// The filter as the rule author wrote it.
    pub filter: String,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    pub seconds: f64,
    pub cases: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Cases whose baseline was evaluated (not taken from the stored draft).
    pub baseline_evaluated: u64,
    pub transitions: Vec<Transition>,
    pub amounts: AmountChanges,
    pub codes_gained: Vec<CodeCount>,
    pub codes_lost: Vec<CodeCount>,
    pub changed_cases: Vec<ChangedCase>,
    /// More changed cases than listed.
    pub changed_cases_truncated: bool,
    pub failures: Vec<FailedCase>,
}

struct Side {
    outcome: Outcome,
    amount: Option<i64>,
    codes: BTreeSet<String>,
}

impl Side {
    fn of(d: &Draft) -> Side {
        Side {
            outcome: d.outcome(),
            amount: d.amount().map(|m| m.ore()),
            codes: d.codes().iter().map(|c| c.as_str().to_string()).collect(),
        }
    }
}

enum Compared {
    Same {
        outcome: Outcome,
        baseline_evaluated: bool,
    },
    Changed {
        case: ChangedCase,
        from: Outcome,
        to: Outcome,
        baseline_evaluated: bool,
    },
    Failed(FailedCase),
}

fn compare(candidate: &Ruleset, baseline: Option<&Ruleset>, s: &StoredInput) -> Compared {
    let failed = |error: String| {
        Compared::Failed(FailedCase {
            case_id: s.case_id,
            diarienummer: s.diarienummer.clone(),
            error,
        })
    };
    let stored = match Draft::from_json(&s.draft) {
        Ok(d) => d,
        Err(e) => return failed(format!("det sparade utkastet kan inte läsas: {e}")),
    };
    let routes = routes_of(&stored, &|_| None);
    let (base, baseline_evaluated) = match baseline {
        Some(b) if b.hash() != stored.ruleset().hash => {
            match evaluate_stored(b, &s.document, s.register.as_deref(), &routes) {
                Ok(d) => (Side::of(&d), true),
                Err(e) => return failed(format!("gällande version: {e}")),
            }
        }
        _ => (Side::of(&stored), false),
    };
    let cand = match evaluate_stored(candidate, &s.document, s.register.as_deref(), &routes) {
        Ok(d) => Side::of(&d),
        Err(e @ Unevaluable::Invalid(_)) | Err(e @ Unevaluable::Ruleset(_)) => return failed(e.to_string()),
    };
    if base.outcome == cand.outcome && base.amount == cand.amount && base.codes == cand.codes {
        return Compared::Same {
            outcome: base.outcome,
            baseline_evaluated,
        };
    }
    Compared::Changed {
        from: base.outcome,
        to: cand.outcome,
        baseline_evaluated,
        case: ChangedCase {
            case_id: s.case_id,
            diarienummer: s.diarienummer.clone(),
            from_outcome: base.outcome.as_str().to_string(),
            to_outcome: cand.outcome.as_str().to_string(),
            from_amount_ore: base.amount,
            to_amount_ore: cand.amount,
            change_ore: cand.amount.unwrap_or(0) - base.amount.unwrap_or(0),
            codes_gained: cand.codes.difference(&base.codes).cloned().collect(),
            codes_lost: base.codes.difference(&cand.codes).cloned().collect(),
        },
    }
}

#[derive(Default)]
struct Tally {
    cases: u64,
    unchanged: u64,
    baseline_evaluated: u64,
    transitions: BTreeMap<(String, String), u64>,
    changes: Vec<i64>,
    gained: BTreeMap<String, u64>,
    lost: BTreeMap<String, u64>,
    changed: Vec<ChangedCase>,
    changed_count: u64,
    failures: Vec<FailedCase>,
}

impl Tally {
    fn add(&mut self, c: Compared) {
        self.cases += 1;
        match c {
            Compared::Same {
                outcome,
                baseline_evaluated,
            } => {
                self.unchanged += 1;
                self.baseline_evaluated += u64::from(baseline_evaluated);
                *self
                    .transitions
                    .entry((outcome.as_str().into(), outcome.as_str().into()))
                    .or_default() += 1;
                self.changes.push(0);
            }
            Compared::Changed {
                case,
                from,
                to,
                baseline_evaluated,
            } => {
                self.changed_count += 1;
                self.baseline_evaluated += u64::from(baseline_evaluated);
                *self
                    .transitions
                    .entry((from.as_str().into(), to.as_str().into()))
                    .or_default() += 1;
                self.changes.push(case.change_ore);
                for g in &case.codes_gained {
                    *self.gained.entry(g.clone()).or_default() += 1;
                }
                for l in &case.codes_lost {
                    *self.lost.entry(l.clone()).or_default() += 1;
                }
                if self.changed.len() < MAX_LISTED {
                    self.changed.push(case);
                }
            }
            Compared::Failed(f) => {
                if self.failures.len() < MAX_LISTED {
                    self.failures.push(f);
                }
            }
        }
    }
}

/// The amount-change buckets, in kronor: (label, lowest öre, highest öre).
const BUCKETS: [(&str, i64, i64); 7] = [
    ("sänkt mer än 1 000 kr", i64::MIN, -100_001),
    ("sänkt 101–1 000 kr", -100_000, -10_001),
    ("sänkt 1–100 kr", -10_000, -1),
    ("oförändrat", 0, 0),
    ("höjt 1–100 kr", 1, 10_000),
    ("höjt 101–1 000 kr", 10_001, 100_000),
    ("höjt mer än 1 000 kr", 100_001, i64::MAX),
];

fn amounts(changes: &mut [i64]) -> AmountChanges {
    changes.sort_unstable();
    let mut a = AmountChanges {
        increased: changes.iter().filter(|c| **c > 0).count() as u64,
        decreased: changes.iter().filter(|c| **c < 0).count() as u64,
        unchanged: changes.iter().filter(|c| **c == 0).count() as u64,
        total_change_ore: changes.iter().sum(),
        largest_increase_ore: changes.last().copied().filter(|c| *c > 0).unwrap_or(0),
        largest_decrease_ore: changes.first().copied().filter(|c| *c < 0).unwrap_or(0),
        median_change_ore: changes.get(changes.len() / 2).copied().unwrap_or(0),
        buckets: Vec::new(),
    };
    a.buckets = BUCKETS
        .iter()
        .map(|(label, lo, hi)| Bucket {
            label: (*label).to_string(),
            cases: changes.iter().filter(|c| (*lo..=*hi).contains(*c)).count() as u64,
        })
        .collect();
    a
}

fn code_counts(m: BTreeMap<String, u64>, type_name: &str) -> Vec<CodeCount> {
    let mut v: Vec<CodeCount> = m
        .into_iter()
        .map(|(code, cases)| CodeCount {
            label: Ruleset::code_label(type_name, &code),
            code,
            cases,
        })
        .collect();
    v.sort_by(|a, b| b.cases.cmp(&a.cases).then(a.code.cmp(&b.code)));
    v
}

/// Runs a shadow: `candidate` over the stored cases `filter` selects,
/// against `baseline` (`None`: the stored drafts). Reads pages while the
/// previous page is evaluated.
pub async fn run(
    store: &Store,
    candidate: Arc<Ruleset>,
    baseline: Option<Arc<Ruleset>>,
    mut filter: CaseFilter,
    filter_text: &str,
) -> Result<Report, String> {
    let started = Instant::now();
    if filter.ruleset_names.is_empty() {
        // The candidate's type: every ruleset name published for it.
        let mut names: BTreeSet<String> = store
            .ruleset_versions(Some(candidate.type_name()))
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|v| v.name)
            .collect();
        names.insert(candidate.name().to_string());
        if let Some(b) = &baseline {
            names.insert(b.name().to_string());
        }
        filter.ruleset_names = names.into_iter().collect();
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(EVAL_STACK_BYTES)
            .thread_name(|i| format!("hrobot-shadow-{i}"))
            .build()
            .map_err(|e| format!("kunde inte starta skuggkörningen: {e}"))?,
    );
    let limit = filter.limit.unwrap_or(i64::MAX);
    let mut tally = Tally::default();
    let mut read: i64 = 0;
    let mut after: CaseId = 0;
    let mut page = store
        .stored_inputs(&filter, after, PAGE.min(limit))
        .await
        .map_err(store_error)?;
    let mut working: Option<tokio::task::JoinHandle<Vec<Compared>>> = None;
    loop {
        let batch = std::mem::take(&mut page);
        if batch.is_empty() && working.is_none() {
            break;
        }
        read += batch.len() as i64;
        let done = batch.is_empty() || read >= limit;
        if let Some(last) = batch.last() {
            after = last.case_id;
        }
        // Evaluate this page while the next one is read.
        let next_work = if batch.is_empty() {
            None
        } else {
            let (c, b, p) = (candidate.clone(), baseline.clone(), pool.clone());
            Some(tokio::task::spawn_blocking(move || {
                p.install(|| batch.par_iter().map(|s| compare(&c, b.as_deref(), s)).collect())
            }))
        };
        if let Some(w) = working.take() {
            for c in w
                .await
                .map_err(|_| "skuggkörningen avbröts av ett internt fel".to_string())?
            {
                tally.add(c);
            }
        }
        working = next_work;
        if !done {
            page = store
                .stored_inputs(&filter, after, PAGE.min(limit - read))
                .await
                .map_err(store_error)?;
        }
    }
    let type_name = candidate.type_name().to_string();
    let mut transitions: Vec<Transition> = tally
        .transitions
        .into_iter()
        .map(|((from, to), cases)| Transition { from, to, cases })
        .collect();
    transitions.sort_by(|a, b| (a.from == a.to).cmp(&(b.from == b.to)).then(b.cases.cmp(&a.cases)));
    let failed = tally.cases - tally.unchanged - tally.changed_count;
    Ok(Report {
        casework_type: type_name.clone(),
        candidate: VersionRef::of(&candidate),
        baseline: baseline.as_deref().map(VersionRef::of),
        filter: filter_text.to_string(),
        generated_at: store.clock().now(),
        seconds: started.elapsed().as_secs_f64(),
        cases: tally.cases,
        changed: tally.changed_count,
        unchanged: tally.unchanged,
        failed,
        baseline_evaluated: tally.baseline_evaluated,
        transitions,
        amounts: amounts(&mut tally.changes),
        codes_gained: code_counts(tally.gained, &type_name),
        codes_lost: code_counts(tally.lost, &type_name),
        changed_cases_truncated: tally.changed_count as usize > tally.changed.len(),
        changed_cases: tally.changed,
        failures: tally.failures,
    })
}

/// Stores a report (audited as `shadow_run` by `actor`); its id.
pub async fn save(store: &Store, actor: &str, report: &Report) -> Result<i64, String> {
    let json = serde_json::to_string(report).map_err(|e| e.to_string())?;
    let event = Event::new(
        EventKind::ShadowRun,
        Actor::parse(actor).map_err(|_| format!("ogiltig aktör {actor:?}"))?,
        store.clock().now(),
    )
    .with_ruleset(RulesetHash::parse(&report.candidate.hash).map_err(|e| e.to_string())?);
    let payload = json!({
        "casework_type": report.casework_type,
        "baseline": report.baseline.as_ref().map(|b| b.hash.clone()),
        "cases": report.cases,
        "changed": report.changed,
        "failed": report.failed,
    });
    let id = store
        .insert_shadow_report(
            &ShadowRow {
                id: 0,
                candidate_hash: report.candidate.hash.clone(),
                casework_type: report.casework_type.clone(),
                filter: report.filter.clone(),
                created_by: actor.to_string(),
                created_at: report.generated_at,
                cases: report.cases as i64,
                changed: report.changed as i64,
                report: json,
            },
            event,
            payload,
        )
        .await
        .map_err(store_error)?;
    tracing::info!(
        report = id,
        cases = report.cases,
        changed = report.changed,
        "shadow report stored"
    );
    Ok(id)
}

/// Reads a stored report.
pub fn parse(row: &ShadowRow) -> Result<Report, String> {
    serde_json::from_str(&row.report).map_err(|e| format!("skuggrapport {}: {e}", row.id))
}

/// Parses the filter a rule author writes: comma-separated `key=value`
/// with `from=YYYY-MM-DD`, `to=YYYY-MM-DD` (received, Swedish days, both
/// included), `period=YYYY-MM`, `robot=NAME`, `state=STATE`, `limit=N`;
/// `all` for every stored case; `last-month` for the calendar month
/// before `today`.
pub fn parse_filter(text: &str, today: chrono::NaiveDate) -> Result<CaseFilter, String> {
    use chrono::{Datelike, NaiveDate, TimeZone};
    let mut f = CaseFilter::default();
    let start_of = |d: NaiveDate| -> Result<i64, String> {
        let t = chrono_tz::Europe::Stockholm
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .ok_or_else(|| format!("{d}: ingen sådan tid i svensk tid"))?;
        Ok(crate::store::us(t.with_timezone(&chrono::Utc)))
    };
    let day =
        |v: &str| NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| format!("{v:?}: skriv datum som ÅÅÅÅ-MM-DD"));
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "all" || part == "alla" {
            continue;
        }
        if part == "last-month" || part == "forra-manaden" {
            let first_this = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).ok_or("ogiltigt datum")?;
            let first_last = first_this
                .checked_sub_months(chrono::Months::new(1))
                .ok_or("ogiltigt datum")?;
            f.from_us = Some(start_of(first_last)?);
            f.to_us = Some(start_of(first_this)?);
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "{part:?}: skriv nyckel=värde (from, to, period, robot, state, limit), all eller last-month"
            ));
        };
        let v = v.trim();
        match k.trim() {
            "from" => f.from_us = Some(start_of(day(v)?)?),
            "to" => f.to_us = Some(start_of(day(v)?.succ_opt().ok_or("ogiltigt datum")?)?),
            "period" => {
                if NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d").is_err() {
                    return Err(format!("{v:?}: skriv perioden som ÅÅÅÅ-MM"));
                }
                f.period = Some(v.to_string());
            }
            "robot" => f.robot = Some(v.to_string()),
            "state" => f.state = Some(v.parse().map_err(|_| format!("{v:?}: okänt tillstånd"))?),
            "limit" => {
                f.limit = Some(
                    v.parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{v:?}: limit ska vara ett positivt heltal"))?,
                )
            }
            other => {
                return Err(format!(
                    "{other:?}: okänd nyckel (from, to, period, robot, state, limit)"
                ));
            }
        }
    }
    Ok(f)
}

/// A filter as people read it, in Swedish ("alla lagrade ärenden",
/// "inkomna 2026-12-01–2026-12-31, robot eb").
pub fn describe_filter(text: &str) -> String {
    let mut parts = Vec::new();
    let (mut from, mut to) = (None, None);
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            None if part == "last-month" || part == "forra-manaden" => parts.push("inkomna förra månaden".to_string()),
            None => {}
            Some((k, v)) => match k.trim() {
                "from" => from = Some(v.trim().to_string()),
                "to" => to = Some(v.trim().to_string()),
                "period" => parts.push(format!("perioden {}", v.trim())),
                "robot" => parts.push(format!("roboten {}", v.trim())),
                "state" => parts.push(format!(
                    "läget {}",
                    v.trim()
                        .parse::<domain::CaseState>()
                        .map(|s| s.label().to_lowercase())
                        .unwrap_or_else(|_| v.trim().to_string())
                )),
                "limit" => parts.push(format!("högst {} ärenden", v.trim())),
                _ => parts.push(part.to_string()),
            },
        }
    }
    match (from, to) {
        (Some(f), Some(t)) => parts.insert(0, format!("inkomna {f}–{t}")),
        (Some(f), None) => parts.insert(0, format!("inkomna från och med {f}")),
        (None, Some(t)) => parts.insert(0, format!("inkomna till och med {t}")),
        (None, None) => {}
    }
    if parts.is_empty() {
        "alla lagrade ärenden".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_described_in_swedish() {
        assert_eq!(describe_filter("all"), "alla lagrade ärenden");
        assert_eq!(describe_filter("last-month"), "inkomna förra månaden");
        assert_eq!(
            describe_filter("from=2026-12-01, to=2026-12-31,robot=eb,limit=10"),
            "inkomna 2026-12-01–2026-12-31, roboten eb, högst 10 ärenden"
        );
        assert_eq!(describe_filter("state=awaiting_approval"), "läget väntar på beslut");
    }

    #[test]
    fn filters_are_read_as_rule_authors_write_them() {
        let today = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap_or_default();
        let f = parse_filter("from=2026-12-01, to=2026-12-31,robot=eb,limit=10", today).unwrap();
        let m = parse_filter("last-month", today).unwrap();
        assert_eq!((f.from_us, f.to_us), (m.from_us, m.to_us));
        assert_eq!(f.robot.as_deref(), Some("eb"));
        assert_eq!(f.limit, Some(10));
        assert_eq!(parse_filter("all", today).unwrap(), CaseFilter::default());
        assert!(
            parse_filter("fran=2026-01-01", today)
                .unwrap_err()
                .contains("okänd nyckel")
        );
        assert!(
            parse_filter("from=2026-13-01", today)
                .unwrap_err()
                .contains("ÅÅÅÅ-MM-DD")
        );
        assert!(parse_filter("limit=0", today).is_err());
        assert!(parse_filter("state=nonsense", today).is_err());
    }

    #[test]
    fn amount_changes_fall_in_their_buckets() {
        let a = amounts(&mut [0, 0, 50_000, -200_000, 100, -1]);
        assert_eq!((a.increased, a.decreased, a.unchanged), (2, 2, 2));
        assert_eq!(a.total_change_ore, -149_901);
        assert_eq!(a.largest_increase_ore, 50_000);
        assert_eq!(a.largest_decrease_ore, -200_000);
        let by: Vec<u64> = a.buckets.iter().map(|b| b.cases).collect();
        assert_eq!(by, vec![1, 0, 1, 2, 1, 1, 0]);
    }
}

/// A report as people read it: kronor, Swedish outcome labels, links.
/// `shadow_body.html` renders it (in the web UI and in the file).
pub struct ReportView {
    /// The filter in Swedish.
    pub filter: String,
    pub generated: String,
    pub seconds: String,
    pub total_change: String,
    pub largest_increase: String,
    pub largest_decrease: String,
    pub median: String,
    pub transitions: Vec<TransitionView>,
    pub changed: Vec<ChangedView>,
    pub failures: Vec<FailedView>,
    /// Prepended to `/arenden/ID` (empty in the web UI).
    pub link_base: String,
}

pub struct TransitionView {
    pub from: String,
    pub to: String,
    pub changed: bool,
    pub cases: u64,
}

pub struct ChangedView {
    pub case_id: CaseId,
    pub name: String,
    pub outcome: String,
    pub before: String,
    pub after: String,
    pub change: String,
    pub codes: String,
}

pub struct FailedView {
    pub case_id: CaseId,
    pub name: String,
    pub error: String,
}

fn kr(ore: i64) -> String {
    domain::Money::from_ore(ore).to_string()
}

fn signed_kr(ore: i64) -> String {
    if ore > 0 { format!("+{}", kr(ore)) } else { kr(ore) }
}

fn outcome_label(s: &str) -> String {
    s.parse::<Outcome>()
        .map(|o| o.label().to_string())
        .unwrap_or_else(|_| s.to_string())
}

fn case_name(id: CaseId, dnr: &Option<String>) -> String {
    match dnr {
        Some(d) => format!("{d} (ärende {id})"),
        None => format!("Ärende {id}"),
    }
}

impl ReportView {
    pub fn of(r: &Report, link_base: &str) -> ReportView {
        let amount = |a: Option<i64>| a.map(kr).unwrap_or_else(|| "–".into());
        ReportView {
            filter: describe_filter(&r.filter),
            generated: r
                .generated_at
                .with_timezone(&chrono_tz::Europe::Stockholm)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            seconds: format!("{:.1} s", r.seconds).replace('.', ","),
            total_change: signed_kr(r.amounts.total_change_ore),
            largest_increase: signed_kr(r.amounts.largest_increase_ore),
            largest_decrease: signed_kr(r.amounts.largest_decrease_ore),
            median: signed_kr(r.amounts.median_change_ore),
            transitions: r
                .transitions
                .iter()
                .map(|t| TransitionView {
                    from: outcome_label(&t.from),
                    to: outcome_label(&t.to),
                    changed: t.from != t.to,
                    cases: t.cases,
                })
                .collect(),
            changed: r
                .changed_cases
                .iter()
                .map(|c| {
                    let mut codes: Vec<String> = c.codes_gained.iter().map(|g| format!("+{g}")).collect();
                    codes.extend(c.codes_lost.iter().map(|l| format!("−{l}")));
                    ChangedView {
                        case_id: c.case_id,
                        name: case_name(c.case_id, &c.diarienummer),
                        outcome: if c.from_outcome == c.to_outcome {
                            outcome_label(&c.to_outcome)
                        } else {
                            format!("{} → {}", outcome_label(&c.from_outcome), outcome_label(&c.to_outcome))
                        },
                        before: amount(c.from_amount_ore),
                        after: amount(c.to_amount_ore),
                        change: signed_kr(c.change_ore),
                        codes: codes.join(", "),
                    }
                })
                .collect(),
            failures: r
                .failures
                .iter()
                .map(|f| FailedView {
                    case_id: f.case_id,
                    name: case_name(f.case_id, &f.diarienummer),
                    error: f.error.clone(),
                })
                .collect(),
            link_base: link_base.trim_end_matches('/').to_string(),
        }
    }
}

/// The report as a standalone HTML file.
#[derive(askama::Template)]
#[template(path = "shadow_report.html")]
struct ReportFile<'a> {
    r: &'a Report,
    v: ReportView,
}

/// Renders a report as a standalone HTML document; links to cases start
/// with `link_base` (the web UI's address).
pub fn html(r: &Report, link_base: &str) -> Result<String, String> {
    use askama::Template;
    ReportFile {
        r,
        v: ReportView::of(r, link_base),
    }
    .render()
    .map_err(|e| format!("rapporten kunde inte skrivas som HTML: {e}"))
}
