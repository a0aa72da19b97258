//! The robot pipeline: a run fetches applications from the robot's source
//! into the store; workers then enrich, evaluate and store drafts.
//!
//! ```text
//! run:    source.list_new → fetch → store (case + document + work item + audit, one tx) → source.acknowledge
//! worker: claim (lease) → parse → enrich (lookups) → evaluate (sandbox) → store draft + transitions + audit (one tx)
//! ```
//!
//! Fetching is idempotent on (source, external_id): fetching again never
//! makes a second case. A document is acknowledged (moved away) only after
//! its case is committed. Business failures (an invalid application, a
//! failing ruleset) are never retried; technical ones (a source or lookup
//! down) are retried with exponential backoff up to a limit, then the case
//! is marked failed for IT. A worker that dies leaves its lease to expire,
//! and another worker takes the item.

use crate::faults::{Fault, FaultPoint};
use crate::metrics::{Metrics, connector_result};
use crate::runtime::{Robot, Runtime};
use crate::scheduler;
use crate::store::{
    Claimed, Finish, Inserted, NewCase, RegisterAnswer, RunCounts, RunId, StoreError, Trigger, new_correlation_id,
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use connectors::{Ack, ConnectorError};
use domain::{Application, Register, RegisterIncome};
use sandbox::{Input, ReadError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{Instrument, debug, error, info, info_span, warn};

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    pub run_id: RunId,
    pub counts: RunCounts,
}

const CONNECTOR_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads an `external_id` out of a document that is not a valid
/// application, so that fetching it again still finds the same case.
fn external_id_of(bytes: &[u8], item: &str) -> String {
    let from_doc = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("external_id").and_then(|e| e.as_str().map(str::to_string)))
        .filter(|s| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        });
    from_doc.unwrap_or_else(|| format!("ref:{}", item.chars().take(200).collect::<String>()))
}

fn new_case(
    ruleset: Option<&sandbox::Ruleset>,
    robot: &str,
    source: &str,
    item: &str,
    run: RunId,
    document: Vec<u8>,
) -> (NewCase, Ack) {
    let read = match ruleset {
        Some(r) => r.read(&document),
        None => Application::parse(&document)
            .map(|a| Input::Builtin(Box::new(a)))
            .map_err(|e| ReadError::Input(sandbox::InputError::Application(e))),
    };
    let unread = |document: Vec<u8>| NewCase {
        source: source.to_string(),
        external_id: external_id_of(&document, item),
        source_ref: item.to_string(),
        robot: robot.to_string(),
        run_id: Some(run),
        period: None,
        subjects: Vec::new(),
        adults: 0,
        refused: None,
        people: Vec::new(),
        applied: None,
        correlation_id: new_correlation_id(),
        document,
    };
    match read {
        Ok(input) => {
            let subjects: Vec<domain::Personnummer> = input.subjects().into_iter().copied().collect();
            // The adults (whose other cases for the period matter) come
            // first: the household's adults, or a package type's applicant.
            let adults = match &input {
                Input::Builtin(app) => app.household().adults.len(),
                Input::Package(_) => 1,
            };
            (
                NewCase {
                    source: source.to_string(),
                    external_id: input.external_id().to_string(),
                    source_ref: item.to_string(),
                    robot: robot.to_string(),
                    run_id: Some(run),
                    period: Some(input.period().to_string()),
                    subjects,
                    adults,
                    refused: None,
                    people: crate::store::CasePerson::of(&input),
                    applied: Some(input.received_at().with_timezone(&chrono::Utc)),
                    correlation_id: new_correlation_id(),
                    document,
                },
                Ack::Accepted,
            )
        }
        // The ruleset itself failed (a parameter missing for the period, its
        // validation script): kept as received, the worker reports it.
        Err(ReadError::Ruleset(_)) => (unread(document), Ack::Accepted),
        Err(ReadError::Input(e)) => (
            unread(document),
            Ack::Rejected {
                reason: format!("Ansökan är ogiltig och har registrerats som ett ogiltigt ärende: {e}"),
            },
        ),
    }
}

/// An item the source refused to hand over (a link, a folder, a file too
/// large): an invalid case with the source's reason, filed away as rejected.
fn refused_case(robot: &str, source: &str, item: &str, run: RunId, reason: &str) -> (NewCase, Ack) {
    (
        NewCase {
            source: source.to_string(),
            external_id: format!("ref:{}", item.chars().take(200).collect::<String>()),
            source_ref: item.to_string(),
            robot: robot.to_string(),
            run_id: Some(run),
            period: None,
            subjects: Vec::new(),
            adults: 0,
            refused: Some(reason.to_string()),
            people: Vec::new(),
            applied: None,
            correlation_id: new_correlation_id(),
            document: Vec::new(),
        },
        Ack::Rejected {
            reason: format!("Posten har inte lästs och har registrerats som ett ogiltigt ärende: {reason}"),
        },
    )
}

async fn with_timeout<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    match tokio::time::timeout(CONNECTOR_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(ConnectorError::retriable(what, "timed out")),
    }
}

/// A connector call under [`with_timeout`], counted and timed in
/// `hrobot_connector_calls_total` / `hrobot_connector_call_duration_seconds`
/// by connector, `kind` and result (`ok`, `retriable`, `permanent`, `refused`).
async fn call<T>(
    metrics: &Metrics,
    connector: &str,
    kind: &str,
    f: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    let started = Instant::now();
    let r = with_timeout(connector, f).await;
    metrics.connector_call(connector, kind, connector_result(&r), started.elapsed().as_secs_f64());
    r
}

/// One run of a robot: fetch everything new from its source into the
/// store. `None` when the robot is paused, already running elsewhere, or
/// the fire time was already taken by another worker.
pub async fn run_robot(
    rt: &Runtime,
    name: &str,
    trigger: Trigger,
    fire: DateTime<Utc>,
) -> anyhow::Result<Option<RunReport>> {
    let robot = rt
        .robots
        .get(name)
        .with_context(|| format!("no robot named {name:?} in the configuration"))?;
    if let Some(reason) = rt.store.paused(name).await? {
        info!(robot = %name, reason = %reason, "robot is paused; run skipped");
        return Ok(None);
    }
    let ttl = scheduler::lock_ttl(&robot.schedule, rt.settings.lease(), rt.clock.now());
    if !rt.store.try_lock_robot(name, &rt.owner, ttl).await? {
        // Held by a node known dead (no heartbeat, or its process gone on
        // this host): take over now rather than after the lock's TTL.
        let taken_over = match rt.take_over_dead().await {
            Ok(n) => n > 0 && rt.store.try_lock_robot(name, &rt.owner, ttl).await?,
            Err(e) => {
                warn!(robot = %name, error = %e, "could not check whether the robot lock's holder is alive");
                false
            }
        };
        if !taken_over {
            // Expected while another node fetches: not worth a line per tick.
            debug!(robot = %name, "robot is already running; this fire time is skipped");
            return Ok(None);
        }
    }
    let lost = AtomicBool::new(false);
    let lost = &lost;
    let run = async {
        let Some(run_id) = rt.store.start_run(name, fire, trigger, &rt.owner).await? else {
            info!(robot = %name, "fire time already taken by another worker");
            return Ok(None);
        };
        let span = info_span!("robot_run", robot = %name, run_id, trigger = trigger.as_str());
        let started = Instant::now();
        let outcome = fetch_all(rt, robot, run_id, lost).instrument(span.clone()).await;
        rt.metrics.run_seconds.observe(started.elapsed().as_secs_f64());
        let (ok, counts, err) = match &outcome {
            Ok(c) => (true, *c, None),
            // The whole cause chain: "storing fetched applications:
            // database: error communicating with database: …".
            Err((c, e)) => (false, *c, Some(crate::error_text::chain(e))),
        };
        rt.store.finish_run(run_id, ok, counts, err.as_deref()).await?;
        rt.metrics.robot_run(name, if ok { "succeeded" } else { "failed" });
        let _e = span.enter();
        match &outcome {
            Ok(c) => info!(
                fetched = c.fetched,
                duplicates = c.duplicates,
                rejected = c.rejected,
                "robot run finished"
            ),
            Err((_, e)) => error!(error = %crate::error_text::chain(e), "robot run failed"),
        }
        Ok(Some(RunReport { run_id, counts }))
    };
    let result = renewing_lock(rt, name, ttl, lost, run).await;
    if let Err(e) = rt.store.unlock_robot(name, &rt.owner).await {
        warn!(robot = %name, error = %e, "could not release the robot lock; it expires by itself");
    }
    result
}

/// Runs `work` while renewing the robot's lock every third of `ttl`. If
/// the lock is found taken over (renewals failed for longer than `ttl`),
/// `lost` is set and the run stops before its next batch.
async fn renewing_lock<T>(
    rt: &Runtime,
    name: &str,
    ttl: Duration,
    lost: &AtomicBool,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let every = (ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            r = &mut work => return r,
            () = tokio::time::sleep(every) => {
                match rt.store.try_lock_robot(name, &rt.owner, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        warn!(robot = %name, "the robot lock was taken over; this run stops before its next batch");
                        lost.store(true, Ordering::SeqCst);
                    }
                    Err(e) => warn!(robot = %name, error = %e, "could not renew the robot lock"),
                }
            }
        }
    }
}

async fn fetch_all(
    rt: &Runtime,
    robot: &Robot,
    run_id: RunId,
    lost: &AtomicBool,
) -> Result<RunCounts, (RunCounts, anyhow::Error)> {
    let mut counts = RunCounts::default();
    let source = &robot.source;
    let opts = &robot.settings.options;
    if let Err(e) = call(&rt.metrics, source.name(), "health", source.health()).await {
        return Err((counts, anyhow::anyhow!("the source is not healthy: {e}")));
    }
    // The robot's casework type reads what is fetched (its schema,
    // annotations and validation script): the version in force today
    // (rulebook), else its configured folder; cached by content hash.
    let ruleset = crate::rulebook::in_force_for_robot(&rt.store, &rt.settings.data_dir, &robot.settings.ruleset)
        .await
        .ok()
        .map(|(r, _)| r);
    let mut seen = std::collections::HashSet::new();
    loop {
        let total = counts.fetched + counts.duplicates;
        let left = opts
            .max_items_per_run
            .saturating_sub(usize::try_from(total).unwrap_or(usize::MAX));
        if left == 0 {
            break;
        }
        let items = call(
            &rt.metrics,
            source.name(),
            "list",
            source.list_new(opts.fetch_batch.clamp(1, left)),
        )
        .await
        .map_err(|e| (counts, anyhow::anyhow!("listing the source: {e}")))?;
        // An item we already handled in this run but could not file away
        // would come back forever: stop at the first repeat.
        let items: Vec<_> = items.into_iter().filter(|i| seen.insert(i.id.clone())).collect();
        if items.is_empty() {
            break;
        }
        let mut batch = Vec::with_capacity(items.len());
        for item in &items {
            let case = match call(&rt.metrics, source.name(), "fetch", source.fetch(item)).await {
                Ok(doc) => new_case(
                    ruleset.as_deref(),
                    &robot.settings.name,
                    source.name(),
                    &item.id,
                    run_id,
                    doc,
                ),
                // Not a document at all: recorded, never skipped silently.
                Err(e) if e.is_refused() => {
                    refused_case(&robot.settings.name, source.name(), &item.id, run_id, &e.message)
                }
                Err(e) => return Err((counts, anyhow::anyhow!("fetching an item: {e}"))),
            };
            batch.push((item.clone(), case));
        }
        let cases: Vec<NewCase> = batch.iter().map(|(_, (c, _))| c.clone()).collect();
        let inserted = rt
            .store
            .insert_cases(&cases)
            .await
            .map_err(|e| (counts, anyhow::Error::new(e).context("storing fetched applications")))?;
        for ((item, (case, ack)), ins) in batch.iter().zip(&inserted) {
            match ins {
                Inserted::New(id) => {
                    counts.fetched += 1;
                    rt.metrics.fetched.inc();
                    info!(case_id = id, correlation_id = %case.correlation_id, "application fetched");
                }
                Inserted::Duplicate(_) => {
                    counts.duplicates += 1;
                    rt.metrics.duplicates.inc();
                }
                Inserted::NewVersion { id, previous, version } => {
                    counts.fetched += 1;
                    rt.metrics.fetched.inc();
                    info!(
                        case_id = id,
                        correlation_id = %case.correlation_id,
                        previous_case_id = previous,
                        version,
                        "an application came again with changed content: stored as a new version for a person"
                    );
                }
            }
            if matches!(ack, Ack::Rejected { .. }) {
                counts.rejected += 1;
            }
            if let Err(e) = call(&rt.metrics, source.name(), "acknowledge", source.acknowledge(item, ack)).await {
                warn!(error = %e, "could not file an item away; it is recognised as stored next time");
            }
        }
        if lost.load(Ordering::SeqCst) {
            return Err((
                counts,
                anyhow::anyhow!("the robot lock was lost; the run stops so that runs never overlap"),
            ));
        }
    }
    Ok(counts)
}

async fn enrich(metrics: &Metrics, robot: &Robot, app: &Application) -> Result<Register, ConnectorError> {
    let mut register = Register::default();
    let period = app.period();
    let case = app.external_id();
    let h = app.household();
    for lookup in &robot.lookups {
        for adult in &h.adults {
            let a = call(
                metrics,
                lookup.name(),
                "lookup",
                lookup.lookup_for_case(case, &adult.personnummer, period),
            )
            .await?;
            if a.job_seeker && !register.job_seekers.contains(&adult.personnummer) {
                register.job_seekers.push(adult.personnummer);
            }
            register.incomes.extend(a.incomes.into_iter().map(|i| RegisterIncome {
                person: adult.personnummer,
                source: i.source,
                kind: i.kind,
                amount: i.amount,
            }));
        }
        for child in &h.children {
            let a = call(
                metrics,
                lookup.name(),
                "lookup",
                lookup.lookup_for_case(case, &child.personnummer, period),
            )
            .await?;
            register.incomes.extend(a.incomes.into_iter().map(|i| RegisterIncome {
                person: child.personnummer,
                source: i.source,
                kind: i.kind,
                amount: i.amount,
            }));
        }
    }
    Ok(register)
}

enum Processed {
    Done(Finish),
    Crash,
}

/// Rulesets chosen for one batch, by robot: the version in force today
/// for the robot's type, else its configured folder (`rulebook`); asked
/// once per batch, so an approved activation is picked up by the next
/// batch; compiled once per content hash by the sandbox.
type Rulesets = HashMap<String, Result<Arc<sandbox::Ruleset>, crate::rulebook::Unavailable>>;

async fn ruleset_for(
    rt: &Runtime,
    rulesets: &mut Rulesets,
    robot: &Robot,
) -> Result<Arc<sandbox::Ruleset>, crate::rulebook::Unavailable> {
    if let Some(r) = rulesets.get(&robot.settings.name) {
        return r.clone();
    }
    let r = crate::rulebook::ruleset_for_robot(
        &rt.store,
        &rt.settings.data_dir,
        &robot.settings.name,
        &robot.settings.ruleset,
    )
    .await;
    rulesets.insert(robot.settings.name.clone(), r.clone());
    r
}

/// Works one leased item through enrichment and evaluation.
async fn process(rt: &Runtime, item: &Claimed, rulesets: &mut Rulesets) -> Processed {
    let retry_or_fail = |error: String| {
        if item.attempts >= rt.settings.workers.max_attempts {
            Finish::Failed {
                reason: format!("Behandlingen gav upp efter {} försök: {error}", item.attempts),
            }
        } else {
            Finish::RetryAt {
                at: rt.clock.now() + rt.backoff(item.attempts),
                error,
            }
        }
    };
    match rt.faults.hit(FaultPoint::AfterClaim) {
        Some(Fault::Crash) => return Processed::Crash,
        Some(Fault::Error) => return Processed::Done(retry_or_fail("injected fault after claim".into())),
        None => {}
    }
    let Some(robot) = rt.robots.get(&item.robot) else {
        return Processed::Done(retry_or_fail(format!(
            "roboten {} finns inte i konfigurationen",
            item.robot
        )));
    };
    let ruleset = match ruleset_for(rt, rulesets, robot).await {
        Ok(r) => r,
        // The store could not be read (a dropped connection, an outage):
        // not the item's fault, so it does not use up its attempts.
        Err(e) if e.retriable => {
            return Processed::Done(Finish::RetryAt {
                at: rt.clock.now() + rt.backoff(1),
                error: e.message,
            });
        }
        Err(e) => {
            return Processed::Done(Finish::Failed {
                reason: format!("regeluppsättningen kan inte läsas: {}", e.message),
            });
        }
    };
    let input = match ruleset.read(&item.document) {
        Ok(i) => i,
        Err(ReadError::Input(e)) => return Processed::Done(Finish::Invalid { reason: e.to_string() }),
        Err(ReadError::Ruleset(e)) => {
            return Processed::Done(Finish::Failed {
                reason: format!("regelfel: {e}"),
            });
        }
    };
    // Register lookups answer in ekonomiskt bistånd's terms (SSBTEK):
    // only its applications are enriched.
    let (input, register) = match input {
        Input::Builtin(app) if !robot.lookups.is_empty() => match enrich(&rt.metrics, robot, &app).await {
            Ok(reg) => {
                let json = match RegisterAnswer::of(&reg).to_json() {
                    Ok(j) => j,
                    Err(e) => return Processed::Done(Finish::Failed { reason: e.to_string() }),
                };
                match app.with_register(reg) {
                    Ok(a) => (Input::Builtin(Box::new(a)), Some(json)),
                    Err(e) => {
                        return Processed::Done(Finish::Failed {
                            reason: format!("registersvaret passar inte ansökan: {e}"),
                        });
                    }
                }
            }
            Err(e) if e.is_retriable() => return Processed::Done(retry_or_fail(format!("registeruppslag: {e}"))),
            Err(e) => {
                return Processed::Done(Finish::Failed {
                    reason: format!("registeruppslag: {e}"),
                });
            }
        },
        other => (other, None),
    };
    let subjects: Vec<domain::Personnummer> = input.subjects().into_iter().copied().collect();
    let dropped_when_routed: Vec<String> = ruleset
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
    let started = Instant::now();
    let evaluated = tokio::task::spawn_blocking(move || ruleset.evaluate_input(&input)).await;
    rt.metrics.evaluation_seconds.observe(started.elapsed().as_secs_f64());
    let finish = match evaluated {
        Ok(Ok(draft)) => Finish::Drafted {
            draft: Box::new(draft),
            register_json: register,
            subjects,
            same_period_check: robot.settings.options.same_period_check,
            dropped_when_routed,
        },
        Ok(Err(e)) => Finish::Failed {
            reason: format!("regelfel: {e}"),
        },
        Err(_) => Finish::Failed {
            reason: "bedömningen avbröts av ett internt fel".into(),
        },
    };
    match rt.faults.hit(FaultPoint::AfterEvaluate) {
        Some(Fault::Crash) => Processed::Crash,
        Some(Fault::Error) => Processed::Done(retry_or_fail("injected fault after evaluate".into())),
        None => Processed::Done(finish),
    }
}

fn result_name(f: &Finish) -> &'static str {
    match f {
        Finish::Drafted { .. } => "drafted",
        Finish::Invalid { .. } => "invalid",
        Finish::Failed { .. } => "failed",
        Finish::RetryAt { .. } => "retry",
    }
}

/// Claims one batch and works it. Returns how many items were finished
/// (0 when there was nothing to do).
pub async fn work_once(rt: &Runtime) -> Result<usize, StoreError> {
    let claimed = rt
        .store
        .claim(&rt.owner, rt.settings.lease(), rt.settings.workers.batch)
        .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let mut results = Vec::with_capacity(claimed.len());
    let mut rulesets = Rulesets::new();
    for item in claimed {
        let span = info_span!(
            "case",
            case_id = item.case_id,
            correlation_id = item.correlation_id.as_deref().unwrap_or(""),
            attempt = item.attempts
        );
        match process(rt, &item, &mut rulesets).instrument(span).await {
            Processed::Done(f) => results.push((item, f)),
            Processed::Crash => {
                warn!("injected crash: the batch is abandoned, its leases will expire");
                return Ok(0);
            }
        }
    }
    if rt.faults.hit(FaultPoint::BeforeCommit).is_some() {
        warn!("injected crash before commit: the batch is abandoned, its leases will expire");
        return Ok(0);
    }
    let kept = match rt.store.finish(&rt.owner, &results).await {
        Ok(k) => k,
        Err(e) if e.is_retriable() => return Err(e),
        Err(e) => {
            // One item the store refuses must not hold back the others:
            // finish them one by one; the refused one keeps its lease and
            // is retried (and eventually given up) like any failure.
            warn!(error = %crate::error_text::of(&e), "storing the batch failed; storing its items one by one");
            let mut kept = Vec::with_capacity(results.len());
            for r in &results {
                match rt.store.finish(&rt.owner, std::slice::from_ref(r)).await {
                    Ok(k) => kept.extend(k),
                    Err(e) => {
                        error!(case_id = r.0.case_id, error = %crate::error_text::of(&e), "could not store the result for a case");
                        kept.push(false);
                    }
                }
            }
            kept
        }
    };
    let mut n = 0;
    for ((item, f), ok) in results.iter().zip(kept) {
        if ok {
            n += 1;
            rt.metrics.work_item(result_name(f));
            match f {
                Finish::Drafted { draft, .. } => {
                    info!(
                        case_id = item.case_id,
                        correlation_id = item.correlation_id.as_deref().unwrap_or(""),
                        outcome = draft.outcome().as_str(),
                        "draft stored"
                    )
                }
                Finish::Invalid { .. } => info!(case_id = item.case_id, "invalid application"),
                Finish::Failed { .. } => warn!(case_id = item.case_id, attempts = item.attempts, "case failed"),
                Finish::RetryAt { at, .. } => {
                    info!(case_id = item.case_id, attempts = item.attempts, retry_at = %at, "will retry")
                }
            }
        } else {
            warn!(case_id = item.case_id, "lease lost; another worker has the item");
        }
    }
    Ok(n)
}

/// A worker: claims and works batches until told to stop. The batch in
/// hand is always finished (or, on a crash, left to its lease).
pub async fn worker(rt: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(rt.settings.workers.poll_millis.max(10));
    loop {
        if *stop.borrow() {
            return;
        }
        let idle = match work_once(&rt).await {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                // An outage fails every worker twice a second: the first
                // line, then one per window with the count.
                let text = crate::error_text::of(&e);
                if let Some(r) = crate::repeats::global().admit("worker", &text) {
                    error!(error = %text, repeated = r.repeated, "worker could not claim or store work{r}");
                }
                true
            }
        };
        if idle {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = crate::clock::stopped(&mut stop) => return,
            }
        }
    }
}

/// A robot's schedule: catch up on missed fire times at start, then run at
/// every fire time until told to stop.
pub async fn robot_loop(rt: Arc<Runtime>, name: String, mut stop: watch::Receiver<bool>) {
    let Some(robot) = rt.robots.get(&name) else { return };
    let limit = chrono::Duration::hours(i64::try_from(robot.settings.missed_limit_hours).unwrap_or(24));
    match rt.store.last_fire(&name).await {
        Ok(last) => {
            let now = rt.clock.now();
            if let Some(fire) = scheduler::catch_up(&robot.schedule, robot.settings.missed, limit, last, now) {
                info!(robot = %name, "catching up on a missed fire time");
                if let Err(e) = run_robot(&rt, &name, Trigger::CatchUp, fire).await {
                    error!(robot = %name, error = %crate::error_text::chain(&e), "catch-up run failed");
                }
            }
        }
        Err(e) => error!(robot = %name, error = %e, "cannot read the robot's last run"),
    }
    let mut cursor = rt.clock.now();
    while let Some(fire) = scheduler::wait_for_next(rt.clock.as_ref(), &robot.schedule, cursor, &mut stop).await {
        cursor = fire;
        if let Err(e) = run_robot(&rt, &name, Trigger::Schedule, fire).await {
            error!(robot = %name, error = %crate::error_text::chain(&e), "robot run failed");
        }
    }
}

/// Works until no work item of `run` is due (for `hrobot run`), calling
/// `progress` with (due, waiting for retry) after each batch. Items waiting
/// for a later retry are left to the service.
pub async fn drain_run(rt: &Runtime, run: RunId, mut progress: impl FnMut(i64, i64)) -> Result<(), StoreError> {
    loop {
        let (due, later) = rt.store.open_work_for_run(run).await?;
        progress(due, later);
        if due == 0 {
            return Ok(());
        }
        if work_once(rt).await? == 0 {
            // Leased by another worker: wait for it to finish or expire.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
