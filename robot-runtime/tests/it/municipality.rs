//! The robot in the simulated municipality, end to end: applications from
//! the e-service platform, a SQL view or the legacy case system, enriched
//! by the SSBTEK-style register over mutual TLS, drafted, approved by an
//! official, and delivered by e-mail or written back into the legacy
//! system, while the outside systems fail in between. Nothing is lost,
//! nothing is done twice, nothing leaves without approval.

use crate::support::*;
use connectors::ApplicationSource;
use connectors::eservice::EserviceConfig;
use connectors::ssbtek::{SsbtekConfig, SsbtekLookup};
use domain::{Application, CaseState, Register, RegisterIncome};
use robot_runtime::approval::{self, ApprovalSettings, Channel, Official, Role};
use robot_runtime::clock::ManualClock;
use robot_runtime::config::DeliverySettings;
use robot_runtime::config::{LookupSettings, SourceSettings};
use robot_runtime::faults::{Fault as CrashFault, FaultPoint};
use robot_runtime::outbox::deliver_once;
use robot_runtime::pipeline::{drain_run, run_robot, work_once};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::{CaseId, CaseSummary, Trigger};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tests::{Fault, Service, Simulator};

fn ssbtek(sim: &Simulator) -> SsbtekConfig {
    sim.ssbtek.client_config()
}

fn eservice(sim: &Simulator, dir: &Path) -> EserviceConfig {
    let token = dir.join("eservice-token");
    std::fs::write(&token, "sim-eservice-token\n").unwrap();
    EserviceConfig {
        base_url: format!("http://{}", sim.eservice),
        token_env: None,
        token_file: Some(token),
        tls: Default::default(),
        field_map: repo().join("ops/field-maps/eservice.toml"),
        page_size: 10,
        timeout_seconds: 5,
    }
}

/// A folder with the first `n` valid shipped applications.
fn some_applications(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in valid_cases().into_iter().take(n) {
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    dir
}

fn official(id: i64) -> Official {
    Official {
        user_id: id,
        username: format!("hl{id}"),
        display_name: format!("Handläggare {id}"),
        roles: vec![Role::Handlaggare],
        personnummer: Some(
            domain::Personnummer::parse(
                crate::web_support::OFFICIAL_PERSONNUMMER[usize::try_from(id).unwrap() % 8],
                "2021-03-01".parse().unwrap(),
            )
            .unwrap(),
        ),
        title: None,
        delegation: None,
    }
}

async fn all_cases(rt: &Runtime) -> Vec<CaseSummary> {
    rt.store.list_cases(None, None, 10_000, 0).await.unwrap()
}

/// What the registers say about an application's household, asked directly
/// (the oracle the pipeline's enrichment is compared with).
async fn register_of(lookup: &SsbtekLookup, app: &Application) -> Register {
    let mut r = Register::default();
    let h = app.household();
    let people = h
        .adults
        .iter()
        .map(|a| (a.personnummer, true))
        .chain(h.children.iter().map(|c| (c.personnummer, false)));
    for (p, adult) in people {
        let a = lookup
            .lookup_for_case(app.external_id(), &p, app.period())
            .await
            .unwrap();
        if adult && a.job_seeker && !r.job_seekers.contains(&p) {
            r.job_seekers.push(p);
        }
        r.incomes.extend(a.incomes.into_iter().map(|i| RegisterIncome {
            person: p,
            source: i.source,
            kind: i.kind,
            amount: i.amount,
        }));
    }
    r
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

/// Ten digits or more in a row once `-` and `+` are taken out: a personnummer's shape.
fn has_personnummer(s: &str) -> bool {
    let mut run = 0;
    for c in s.chars().filter(|c| !matches!(c, '-' | '+')) {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 10 {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn eservice_applications_enriched_by_ssbtek_become_the_drafts_a_direct_evaluation_gives() {
    let sim = Simulator::start(&ruleset().join("tests")).await.unwrap();
    let mut env = TestEnv::new(Engine::Sqlite).await;
    env.settings.robots[0].source = SourceSettings::Eservice(eservice(&sim, env.dir.path()));
    env.settings.robots[0].lookups = vec![LookupSettings::Ssbtek(Box::new(ssbtek(&sim)))];
    env.settings.workers.batch = 32;
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;

    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, report.run_id, |_, _| {}).await.unwrap();
    let asked = sim.ssbtek.control.received();

    let cases = all_cases(&rt).await;
    assert_eq!(cases.len(), sim.data.len(), "every errand became exactly one case");
    let mut ids: Vec<&str> = cases.iter().map(|c| c.external_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), cases.len(), "no errand twice");

    let direct = SsbtekLookup::new(ssbtek(&sim)).unwrap();
    let ruleset = sandbox::Ruleset::load(&ruleset()).unwrap();
    let (mut drafted, mut with_register_income, mut people) = (0, 0, 0);
    for case in &cases {
        let detail = rt.store.case_detail(case.id).await.unwrap();
        let Ok(app) = Application::parse(&detail.document) else {
            assert_eq!(case.state, CaseState::Invalid, "{}", case.external_id);
            continue;
        };
        people += app.household().adults.len() + app.household().children.len();
        let register = register_of(&direct, &app).await;
        let Ok(enriched) = app.with_register(register.clone()) else {
            assert_eq!(case.state, CaseState::Failed, "{}", case.external_id);
            continue;
        };
        match ruleset.evaluate(&enriched) {
            Err(_) => assert_eq!(case.state, CaseState::Failed, "{}", case.external_id),
            Ok(draft) => {
                drafted += 1;
                assert_eq!(case.state, CaseState::AwaitingApproval, "{}", case.external_id);
                assert_eq!(
                    json(detail.draft_json.as_deref().unwrap()),
                    json(&draft.to_json()),
                    "{}: the pipeline's draft",
                    case.external_id
                );
                let stored = json(detail.register_json.as_deref().unwrap());
                assert_eq!(
                    stored["incomes"].as_array().unwrap().len(),
                    register.incomes.len(),
                    "{}",
                    case.external_id
                );
                if !register.incomes.is_empty() {
                    with_register_income += 1;
                }
            }
        }
    }
    assert!(drafted >= 60, "most shipped cases are drafts ({drafted})");
    assert!(
        with_register_income >= 10,
        "the registers reported incomes ({with_register_income})"
    );
    // One question per person of every readable application, each naming its case.
    assert_eq!(asked.len(), people);
    for q in &asked {
        assert!(
            cases.iter().any(|c| c.external_id == q.arendeidentitet),
            "{}",
            q.arendeidentitet
        );
    }

    // Every errand was acknowledged: the next run finds nothing new.
    let src = connectors::eservice::EserviceSource::new("check", &eservice(&sim, env.dir.path())).unwrap();
    assert!(src.list_new(100).await.unwrap().is_empty());
    clock.advance(chrono::Duration::minutes(10));
    let again = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, again.run_id, |_, _| {}).await.unwrap();
    assert_eq!(all_cases(&rt).await.len(), cases.len());

    // Every draft replays byte-identical from what was stored: the
    // e-service's document and SSBTEK's answers, with the version the
    // service published from the robot's folder.
    let mut replayed = 0;
    for case in cases.iter().filter(|c| c.state == CaseState::AwaitingApproval) {
        let r = robot_runtime::rulebook::replay::replay_case(&rt.store, env.dir.path(), case.id, "cli:test")
            .await
            .unwrap();
        assert!(r.identical, "{}: {:?} {:?}", case.external_id, r.error, r.differences);
        replayed += 1;
    }
    assert_eq!(replayed, drafted);
    rt.store.close().await;
}

async fn register_outages_are_retried_and_nothing_is_lost_or_doubled(engine: Engine) {
    let apps = some_applications(6);
    let sim = Simulator::start(apps.path()).await.unwrap();
    let mut env = TestEnv::new(engine).await;
    env.settings.robots[0].source = SourceSettings::Eservice(eservice(&sim, env.dir.path()));
    env.settings.robots[0].lookups = vec![LookupSettings::Ssbtek(Box::new(ssbtek(&sim)))];
    let clock = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;

    // The e-service is down while the robot runs: the run fails, nothing is taken.
    sim.faults.set(Service::Eservice, Fault::Down);
    run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    let run = rt.store.list_runs(Some("r1"), 1).await.unwrap().pop().unwrap();
    assert_eq!(run.status.as_str(), "failed");
    assert!(run.error.unwrap().contains("not healthy"));
    assert!(all_cases(&rt).await.is_empty());
    sim.faults.clear(Service::Eservice);
    clock.advance(chrono::Duration::minutes(1));
    run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all_cases(&rt).await.len(), 6);

    // The register is down, then answers HTTP 500: every item waits and is retried.
    sim.faults.set(Service::Ssbtek, Fault::Down);
    while work_once(&rt).await.unwrap() > 0 {}
    for c in all_cases(&rt).await {
        assert_eq!(c.state, CaseState::Received);
        let d = rt.store.case_detail(c.id).await.unwrap();
        let error = d.last_error.unwrap();
        assert!(error.contains("registeruppslag"), "{error}");
        assert!(!has_personnummer(&error), "{error}");
    }
    sim.faults.set(Service::Ssbtek, Fault::Http500);
    clock.advance(chrono::Duration::seconds(10));
    while work_once(&rt).await.unwrap() > 0 {}
    assert!(all_cases(&rt).await.iter().all(|c| c.state == CaseState::Received));

    // Back: every case is drafted, once.
    sim.faults.clear(Service::Ssbtek);
    clock.advance(chrono::Duration::seconds(20));
    while work_once(&rt).await.unwrap() > 0 {}
    let cases = all_cases(&rt).await;
    assert_eq!(cases.len(), 6);
    assert!(
        cases.iter().all(|c| c.state == CaseState::AwaitingApproval),
        "{cases:?}"
    );
    for c in &cases {
        let d = rt.store.case_detail(c.id).await.unwrap();
        assert_eq!(d.attempts, Some(3), "two failed attempts, then the draft");
    }
    rt.store.close().await;
}

#[tokio::test]
async fn register_outages_are_retried_sqlite() {
    register_outages_are_retried_and_nothing_is_lost_or_doubled(Engine::Sqlite).await;
}

#[tokio::test]
async fn register_outages_are_retried_postgres() {
    register_outages_are_retried_and_nothing_is_lost_or_doubled(Engine::Postgres).await;
}

#[tokio::test]
async fn a_malformed_register_answer_goes_to_a_person_with_the_reason() {
    let apps = some_applications(2);
    let sim = Simulator::start(apps.path()).await.unwrap();
    let mut env = TestEnv::new(Engine::Sqlite).await;
    env.settings.robots[0].source = SourceSettings::Eservice(eservice(&sim, env.dir.path()));
    env.settings.robots[0].lookups = vec![LookupSettings::Ssbtek(Box::new(ssbtek(&sim)))];
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;
    sim.faults.set(Service::Ssbtek, Fault::Malformed);
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, report.run_id, |_, _| {}).await.unwrap();
    let cases = all_cases(&rt).await;
    assert_eq!(cases.len(), 2);
    for c in cases {
        assert_eq!(c.state, CaseState::Failed, "a permanent error is not retried");
        let reason = c.state_reason.unwrap();
        assert!(reason.starts_with("registeruppslag: "), "{reason}");
        assert!(!has_personnummer(&reason), "{reason}");
        assert!(rt.store.case_detail(c.id).await.unwrap().draft_json.is_none());
    }
    rt.store.close().await;
}

// ------------------------------------------------------------- SQL and SMTP

async fn approve(rt: &Runtime, case: CaseId) {
    let channel = Channel(rt.settings.outbox.channel());
    approval::approve(&rt.store, &ApprovalSettings::default(), &channel, case, &official(1))
        .await
        .unwrap();
}

const SOURCE_SCHEMA: &[&str] = &[
    "CREATE TABLE ekb_ansokan (nr TEXT PRIMARY KEY, innehall TEXT NOT NULL, hamtad INTEGER NOT NULL DEFAULT 0)",
    "CREATE VIEW v_att_hamta AS SELECT nr AS id, innehall AS document FROM ekb_ansokan WHERE hamtad = 0",
];

/// Another system's SQLite database with the applications in `dir`.
async fn source_database(dir: &Path, apps: &Path) -> PathBuf {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=rwc", dir.join("other.sqlite").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for s in SOURCE_SCHEMA {
        sqlx::query(sqlx::AssertSqlSafe(*s)).execute(&mut c).await.unwrap();
    }
    for e in std::fs::read_dir(apps).unwrap().flatten() {
        let doc = std::fs::read_to_string(e.path()).unwrap();
        sqlx::query("INSERT INTO ekb_ansokan (nr, innehall) VALUES ($1, $2)")
            .bind(e.file_name().to_string_lossy().trim_end_matches(".json").to_string())
            .bind(doc)
            .execute(&mut c)
            .await
            .unwrap();
    }
    let url_file = dir.join("source-url");
    std::fs::write(&url_file, url).unwrap();
    url_file
}

#[tokio::test]
async fn a_sql_view_through_approval_to_one_email_per_decision() {
    let apps = some_applications(3);
    let sim = Simulator::start(apps.path()).await.unwrap();
    let mut env = TestEnv::new(Engine::Postgres).await;
    let url_file = source_database(env.dir.path(), apps.path()).await;
    env.settings.robots[0].source = SourceSettings::Sql(connectors::sql_source::SqlSourceConfig {
        url_env: None,
        url_file: Some(url_file),
        query: "SELECT id, document FROM v_att_hamta".into(),
        acknowledge: Some("UPDATE ekb_ansokan SET hamtad = 1 WHERE nr = $1".into()),
        field_map: None,
        timeout_seconds: 5,
    });
    env.settings.robots[0].lookups = vec![LookupSettings::Ssbtek(Box::new(ssbtek(&sim)))];
    let maildir = env.dir.path().join("received");
    let mut smtp = tests::smtp::SmtpServer::start(&maildir).unwrap();
    env.settings.outbox.delivery = Some(DeliverySettings::Smtp(connectors::delivery::SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtp.port,
        security: connectors::delivery::SmtpSecurity::None,
        ca: None,
        username_env: None,
        password_env: None,
        from: "Socialtjänsten <beslut@exempelkommun.se>".into(),
        default_to: Some("digitalbrevlada@exempelkommun.se".into()),
        timeout_seconds: 5,
    }));
    env.settings.outbox.backoff_base_seconds = 30;
    let clock: Arc<ManualClock> = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, report.run_id, |_, _| {}).await.unwrap();
    let cases = all_cases(&rt).await;
    assert_eq!(cases.len(), 3);
    assert!(cases.iter().all(|c| c.state == CaseState::AwaitingApproval));
    assert!(rt.store.case_detail(cases[0].id).await.unwrap().register_json.is_some());

    // Nothing is sent before an official approves.
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0);
    assert!(smtp.messages().is_empty());

    // The mail server is down: the delivery waits and is retried.
    smtp.stop();
    approve(&rt, cases[0].id).await;
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0);
    smtp.resume().unwrap();
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0, "not due yet");
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 1);

    // The worker dies after the server took the message, before the receipt
    // is stored: the retry carries the same Message-ID (receivers deduplicate on it).
    approve(&rt, cases[1].id).await;
    rt.faults.plan(FaultPoint::AfterDelivery, CrashFault::Crash, 1);
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0);
    clock.advance(chrono::Duration::seconds(
        i64::try_from(rt.settings.lease().as_secs()).unwrap() + 1,
    ));
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 1);
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0);

    let messages = smtp.messages();
    let ids: Vec<String> = messages
        .iter()
        .map(|m| {
            m.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .unwrap()
                .to_string()
        })
        .collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "two decisions, two Message-IDs: {ids:?}");
    for (case, want) in [(cases[0].id, 1), (cases[1].id, 2)] {
        let tag = format!("<hrobot:case:{case}:decision:");
        assert_eq!(ids.iter().filter(|i| i.contains(&tag)).count(), want, "{ids:?}");
    }
    assert_eq!(
        rt.store.case_detail(cases[2].id).await.unwrap().summary.state,
        CaseState::AwaitingApproval
    );
    for c in &cases[..2] {
        assert_eq!(rt.store.case_detail(c.id).await.unwrap().summary.state, CaseState::Sent);
    }
    rt.store.close().await;
}

// ------------------------------------------------------- the legacy system

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

async fn legacy_decisions(sim: &Simulator) -> Vec<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sim.legacy).await.unwrap();
    s.write_all(b"GET /_sim/decisions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    serde_json::from_str::<serde_json::Value>(text.split_once("\r\n\r\n").unwrap().1)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_legacy_system_in_and_out_each_decision_written_back_once() {
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "the legacy tests need Debian's chromium and chromium-driver (cargo xtask ci installs them)"
    );
    let apps = some_applications(3);
    let sim = Simulator::start(apps.path()).await.unwrap();
    let mut env = TestEnv::new(Engine::Sqlite).await;
    let legacy = |name: &str| {
        let mut c = connectors::legacy::LegacyConfig::new(
            format!("http://{}", sim.legacy),
            "robot",
            connectors::legacy::Password::new("sim-legacy-password"),
            env.dir.path().join(format!("artefacts-{name}")),
        );
        c.step_timeout_ms = 20_000;
        c
    };
    env.settings.robots[0].source = SourceSettings::Legacy(legacy("source"));
    env.settings.robots[0].lookups = vec![LookupSettings::Ssbtek(Box::new(ssbtek(&sim)))];
    env.settings.outbox.delivery = Some(DeliverySettings::Legacy(legacy("outbox")));
    let clock: Arc<ManualClock> = clock_at("2026-03-01T10:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, report.run_id, |_, _| {}).await.unwrap();
    let cases = all_cases(&rt).await;
    assert_eq!(cases.len(), 3);
    assert!(
        cases.iter().all(|c| c.state == CaseState::AwaitingApproval),
        "{cases:?}"
    );
    assert!(
        legacy_decisions(&sim).await.is_empty(),
        "nothing written before approval"
    );

    approve(&rt, cases[0].id).await;
    // The worker dies after the case system saved the decision, before the
    // receipt is stored; the retry finds the decision there and does not write it again.
    rt.faults.plan(FaultPoint::AfterDelivery, CrashFault::Crash, 1);
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0);
    assert_eq!(legacy_decisions(&sim).await.len(), 1);
    clock.advance(chrono::Duration::seconds(
        i64::try_from(rt.settings.lease().as_secs()).unwrap() + 1,
    ));
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 1);
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0);

    let decisions = legacy_decisions(&sim).await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    let d = &decisions[0];
    assert_eq!(d["arende"], cases[0].external_id.as_str());
    assert_eq!(d["belopp_ore"].as_i64(), cases[0].amount_ore);
    assert_eq!(
        rt.store.case_detail(cases[0].id).await.unwrap().summary.state,
        CaseState::Sent
    );
    for c in &cases[1..] {
        assert_eq!(
            rt.store.case_detail(c.id).await.unwrap().summary.state,
            CaseState::AwaitingApproval
        );
    }
    rt.store.close().await;
}
