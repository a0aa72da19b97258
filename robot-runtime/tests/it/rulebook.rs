//! The rule author's workbench end to end, in process, on both engines:
//! the configured folder published by the service, a candidate published,
//! shadowed over the stored cases, activated only by a second person and
//! picked up by the running pipeline without a restart, rolled back, every
//! draft replayed byte for byte, and every step in the audit log.

use crate::approval::official;
use crate::support::*;
use domain::{CaseState, Outcome};
use robot_runtime::accounts::By;
use robot_runtime::clock::ManualClock;
use robot_runtime::pipeline::{drain_run, run_robot};
use robot_runtime::roles::Role;
use robot_runtime::rulebook::{self, Decision, replay, shadow};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::Trigger;
use robot_runtime::store::rulesets::{ActivationState, CaseFilter};
use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A copy of the shipped ruleset whose rent guide values are 1 000 kr
/// higher (every household size), with version `version`.
fn higher_rent(dir: &Path, version: &str) -> PathBuf {
    copy_dir(&ruleset(), dir);
    let p = dir.join("parameters/kommun.toml");
    let mut text = std::fs::read_to_string(&p).unwrap();
    for (old, new) in [
        ("hyra_riktvarde_0_barn = 6500", "hyra_riktvarde_0_barn = 7500"),
        ("hyra_riktvarde_1_barn = 7200", "hyra_riktvarde_1_barn = 8200"),
        ("hyra_riktvarde_2_barn = 8300", "hyra_riktvarde_2_barn = 9300"),
        ("hyra_riktvarde_3_barn = 9000", "hyra_riktvarde_3_barn = 10000"),
        ("hyra_riktvarde_4_barn = 9600", "hyra_riktvarde_4_barn = 10600"),
    ] {
        assert!(text.contains(old), "{old}");
        text = text.replace(old, new);
    }
    std::fs::write(&p, text).unwrap();
    let m = dir.join("ruleset.toml");
    let manifest = std::fs::read_to_string(&m)
        .unwrap()
        .replace("version = \"2.0.0\"", &format!("version = \"{version}\""));
    std::fs::write(&m, manifest).unwrap();
    dir.to_path_buf()
}

async fn run_and_drain(rt: &Runtime, clock: &ManualClock) {
    // A fire time runs once: each run a minute later.
    clock.advance(chrono::Duration::minutes(1));
    let report = run_robot(rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(rt, report.run_id, |_, _| {}).await.unwrap();
}

async fn audit_kinds(rt: &Runtime) -> Vec<String> {
    let sql = "SELECT kind FROM audit_events ORDER BY seq";
    match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
        (Some(p), _) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        (_, Some(p)) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        _ => unreachable!(),
    }
}

/// A stored account with one role; `person` picks its personnummer.
async fn user(rt: &Runtime, name: &str, role: Role, person: usize) -> robot_runtime::officials::Official {
    let pnr = crate::web_support::OFFICIAL_PERSONNUMMER[person];
    let id =
        robot_runtime::accounts::create_user(&rt.store, name, &format!("{name} (test)"), None, Some(pnr), vec![role])
            .await
            .unwrap();
    let mut o = official(id, &[role], Some(pnr));
    o.username = name.to_string();
    o
}

/// The application of a shipped test case under a new external id.
fn again(env: &TestEnv, case: &str, id: &str) -> String {
    let src = ruleset().join("tests").join(format!("{case}.json"));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(src).unwrap()).unwrap();
    v["external_id"] = serde_json::json!(id);
    std::fs::write(env.inbox().join(format!("{id}.json")), v.to_string()).unwrap();
    id.to_string()
}

async fn case_of(rt: &Runtime, external_id: &str) -> robot_runtime::store::CaseSummary {
    rt.store
        .list_cases(None, None, 10_000, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.external_id == external_id)
        .unwrap()
}

async fn replay_all(rt: &Runtime, data: &Path) -> (usize, Vec<String>) {
    let mut seen = 0;
    let mut different = Vec::new();
    let mut after = 0;
    loop {
        let page = rt
            .store
            .stored_inputs(&CaseFilter::default(), after, 100)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.case_id;
        for s in page {
            let r = replay::replay_case(&rt.store, data, s.case_id, "cli:test")
                .await
                .unwrap();
            seen += 1;
            if !r.identical {
                different.push(format!("case {}: {:?} {:?}", s.case_id, r.error, r.differences));
            }
        }
    }
    (seen, different)
}

async fn workbench(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    let data = env.dir.path().to_path_buf();
    // The robot's configured folder: a copy of the shipped ruleset.
    let v1_dir = data.join("regler-v1");
    copy_dir(&ruleset(), &v1_dir);
    env.settings.robots[0].ruleset = v1_dir.clone();
    for f in valid_cases() {
        crate::pipeline::register_agreeing(&env, &f);
    }
    env.put(&valid_cases());
    let clock = clock_at("2026-12-10T09:00:00Z");
    let rt = env.runtime(clock.clone()).await;
    run_and_drain(&rt, &clock).await;
    // An application sent again with changed content: a new version the
    // service routes to a person (replayed with the same route).
    let first = valid_cases()[0].clone();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&first).unwrap()).unwrap();
    v["costs"]["rent"] = serde_json::json!(v["costs"]["rent"].as_i64().unwrap_or(5000) + 100);
    std::fs::write(env.inbox().join("andrad.json"), v.to_string()).unwrap();
    run_and_drain(&rt, &clock).await;

    // 1. The configured folder was published by the service before its
    //    first draft, so every draft names a stored version.
    let versions = rt.store.ruleset_versions(None).await.unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let v1 = versions[0].clone();
    assert_eq!(v1.published_by, "config:r1");
    assert_eq!(v1.casework_type, "ekonomiskt-bistand");
    assert!(v1.tests_passed > 100 && v1.tests_failed == 0, "{v1:?}");
    let drafted = rt.store.list_cases(None, None, 10_000, 0).await.unwrap();
    assert!(drafted.len() > 50);
    let routed = drafted.iter().filter(|c| c.outcome == Some(Outcome::Manuell)).count();
    assert!(routed > 0);

    // 2. Replay: every stored draft comes out byte-identical.
    let (seen, different) = replay_all(&rt, &data).await;
    assert!(seen > 50, "{seen}");
    assert!(different.is_empty(), "{different:?}");

    // A draft changed in the store is found out, with the place.
    let some = drafted
        .iter()
        .find(|c| matches!(c.outcome, Some(Outcome::Bifall | Outcome::DelvisBifall)))
        .unwrap();
    let was = format!("\"outcome\":\"{}\"", some.outcome.unwrap().as_str());
    let tampered = {
        let sql = "UPDATE drafts SET draft = replace(draft, $2, '\"outcome\":\"avslag\"') WHERE case_id = $1";
        match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
            (Some(p), _) => sqlx::query(sql)
                .bind(some.id)
                .bind(&was)
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
            (_, Some(p)) => sqlx::query(sql)
                .bind(some.id)
                .bind(&was)
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
            _ => unreachable!(),
        }
    };
    assert_eq!(tampered, 1);
    let r = replay::replay_case(&rt.store, &data, some.id, "cli:test")
        .await
        .unwrap();
    assert!(!r.identical);
    assert!(
        r.differences
            .iter()
            .any(|d| d.contains("/outcome") && d.contains("avslag")),
        "{:?}",
        r.differences
    );

    // 3. A candidate whose own tests fail is published, but cannot be
    //    asked for.
    let cand_dir = higher_rent(&data.join("regler-v2"), "2.1.0");
    let anna = user(&rt, "anna", Role::Regelforfattare, 2).await;
    let bo = user(&rt, "bo", Role::Regelforfattare, 3).await;
    let admin = user(&rt, "admin", Role::Administrator, 4).await;
    let handl = user(&rt, "hanna", Role::Handlaggare, 5).await;
    let failing = rulebook::publish(&rt.store, &By::Official(anna.clone()), &cand_dir)
        .await
        .unwrap();
    assert!(failing.new);
    assert!(failing.row.tests_failed >= 1, "{:?}", failing.row);
    let today = rulebook::swedish_day(rt.clock.now());
    let refused = rulebook::request_activation(
        &rt.store,
        &By::Official(anna.clone()),
        &failing.row.hash,
        today,
        "Ny hyresnivå",
    )
    .await
    .unwrap_err();
    assert!(refused.contains("tester misslyckades"), "{refused}");

    // The rule author updates the expected results of the tests the change
    // affects, and publishes again: a new version.
    // (Here: the tests that no longer hold are taken out.)
    let loaded = sandbox::Ruleset::load(&cand_dir).unwrap();
    let mut taken_out = 0;
    for (name, input, expected) in sandbox::testing::cases(&cand_dir.join("tests")).unwrap() {
        if !sandbox::testing::run_case(&loaded, &name, &input, &expected).passed {
            std::fs::remove_file(input).unwrap();
            std::fs::remove_file(expected).unwrap();
            taken_out += 1;
        }
    }
    assert_eq!(taken_out as i64, failing.row.tests_failed);
    let v2 = rulebook::publish(&rt.store, &By::Official(anna.clone()), &cand_dir)
        .await
        .unwrap()
        .row;
    assert_eq!(v2.hash, failing.row.hash, "tests are not part of the content hash");
    // Publishing the same content again changes nothing.
    let failed_tests_kept = rt.store.ruleset_version(&v2.hash).await.unwrap().unwrap();
    assert!(failed_tests_kept.tests_failed >= 1, "a version is immutable");
    // So the rule author makes the change visible in the version number.
    let cand_dir = {
        let d = data.join("regler-v2b");
        copy_dir(&cand_dir, &d);
        let m = d.join("ruleset.toml");
        let t = std::fs::read_to_string(&m).unwrap().replace("\"2.1.0\"", "\"2.1.1\"");
        std::fs::write(&m, t).unwrap();
        d
    };
    let v2 = rulebook::publish(&rt.store, &By::Official(anna.clone()), &cand_dir)
        .await
        .unwrap()
        .row;
    assert_eq!(v2.tests_failed, 0, "{v2:?}");
    assert_ne!(v2.hash, v1.hash);

    // 4. Shadow: the candidate over every stored case against the version
    //    in force.
    let in_force = rulebook::in_force(
        &rt.store,
        &data,
        &[("r1".to_string(), v1_dir.clone())],
        "ekonomiskt-bistand",
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(in_force.hash(), v1.hash);
    let cand = rulebook::load_version(&rt.store, &data, &v2.hash).await.unwrap();
    let report = shadow::run(
        &rt.store,
        cand.clone(),
        Some(in_force.clone()),
        CaseFilter::default(),
        "all",
    )
    .await
    .unwrap();
    assert_eq!(report.cases as usize, seen);
    assert!(report.changed >= 2, "{report:?}");
    assert_eq!(report.cases, report.changed + report.unchanged + report.failed);
    assert!(
        report
            .transitions
            .iter()
            .any(|t| t.from == "delvis_bifall" && t.to == "bifall" && t.cases >= 1),
        "{:?}",
        report.transitions
    );
    assert!(report.amounts.increased >= 1 && report.amounts.decreased == 0);
    assert!(report.codes_lost.iter().any(|c| c.code == "hyra_over_riktvarde"));
    // The stored drafts were the baseline (made with the version in force),
    // except the one tampered with above, which is still compared by the rules.
    assert_eq!(report.baseline_evaluated, 0);
    let html = shadow::html(&report, "https://hrobot.example").unwrap();
    assert!(html.contains("Delvis bifall") && html.contains("https://hrobot.example/arenden/"));
    let report_id = shadow::save(&rt.store, "user:hl11", &report).await.unwrap();
    let stored = rt.store.shadow_report(report_id).await.unwrap().unwrap();
    assert_eq!(shadow::parse(&stored).unwrap(), report);

    // 5. Activation needs a second person.
    let req = rulebook::request_activation(
        &rt.store,
        &By::Official(anna.clone()),
        &v2.hash,
        today,
        "Nämndens beslut om nya riktvärden för hyra",
    )
    .await
    .unwrap();
    let a = rt.store.activation(req).await.unwrap().unwrap();
    assert_eq!(
        a.shadow_report,
        Some(report_id),
        "the request carries the latest shadow report"
    );
    let own = rulebook::decide_activation(&rt.store, &anna, req, Decision::Approve, None)
        .await
        .unwrap_err();
    assert!(own.contains("fyra ögon"), "{own}");
    let wrong_role = rulebook::decide_activation(&rt.store, &handl, req, Decision::Approve, None)
        .await
        .unwrap_err();
    assert!(
        wrong_role.contains("regelförfattare eller administratör"),
        "{wrong_role}"
    );
    // Anna's second account (the same personnummer) is not a second person.
    let anna_again = user(&rt, "anna.andra", Role::Regelforfattare, 2).await;
    let same = rulebook::decide_activation(&rt.store, &anna_again, req, Decision::Approve, None)
        .await
        .unwrap_err();
    assert!(same.contains("fyra ögon"), "{same}");
    assert!(
        rulebook::decide_activation(&rt.store, &bo, req, Decision::Refuse, Some(" "))
            .await
            .is_err()
    );
    // Nothing changed yet: a new case still uses v1.
    again(&env, "07-hyra-over-riktvarde-efter-radrum", "EFTER-BEGARAN");
    run_and_drain(&rt, &clock).await;
    let c = case_of(&rt, "EFTER-BEGARAN").await;
    assert_eq!(c.outcome, Some(Outcome::DelvisBifall));
    let approved = rulebook::decide_activation(&rt.store, &bo, req, Decision::Approve, Some("Enligt nämndens beslut"))
        .await
        .unwrap();
    assert_eq!(approved.state, ActivationState::Approved);
    assert!(
        rulebook::decide_activation(&rt.store, &bo, req, Decision::Refuse, Some("nej"))
            .await
            .is_err()
    );

    // 6. The running pipeline picks it up at its next batch: no restart.
    again(&env, "07-hyra-over-riktvarde-efter-radrum", "EFTER-AKTIVERING");
    run_and_drain(&rt, &clock).await;
    let c = case_of(&rt, "EFTER-AKTIVERING").await;
    assert_eq!(c.state, CaseState::AwaitingApproval);
    assert_eq!(c.outcome, Some(Outcome::Bifall));
    let d = rt.store.case_detail(c.id).await.unwrap();
    let draft = domain::Draft::from_json(d.draft_json.as_deref().unwrap()).unwrap();
    assert_eq!(draft.ruleset().hash, v2.hash);
    let states = rulebook::version_states(&rt.store, None).await.unwrap();
    assert!(states.iter().any(|s| s.row.hash == v2.hash && s.active));
    assert!(states.iter().any(|s| s.row.hash == v1.hash && !s.active));

    // 7. Rollback: the earlier version, activated from today, asked for by
    //    one person and approved by another (here an administratör).
    let back = rulebook::request_activation(
        &rt.store,
        &By::Official(bo.clone()),
        &v1.hash,
        today,
        "Tillbaka: beslutet gäller först från januari",
    )
    .await
    .unwrap();
    rulebook::decide_activation(&rt.store, &admin, back, Decision::Approve, None)
        .await
        .unwrap();
    again(&env, "07-hyra-over-riktvarde-efter-radrum", "EFTER-ROLLBACK");
    run_and_drain(&rt, &clock).await;
    let c = case_of(&rt, "EFTER-ROLLBACK").await;
    assert_eq!(c.outcome, Some(Outcome::DelvisBifall));
    let d = rt.store.case_detail(c.id).await.unwrap();
    assert_eq!(
        domain::Draft::from_json(d.draft_json.as_deref().unwrap())
            .unwrap()
            .ruleset()
            .hash,
        v1.hash
    );
    // A withdrawn request by the one who asked; nobody else may withdraw.
    let w = rulebook::request_activation(
        &rt.store,
        &By::Official(anna.clone()),
        &v2.hash,
        today.succ_opt().unwrap(),
        "Prov",
    )
    .await
    .unwrap();
    assert!(
        rulebook::decide_activation(&rt.store, &bo, w, Decision::Withdraw, None)
            .await
            .is_err()
    );
    rulebook::decide_activation(&rt.store, &anna, w, Decision::Withdraw, None)
        .await
        .unwrap();
    // A start in the past is refused.
    let past = rulebook::request_activation(
        &rt.store,
        &By::Official(anna.clone()),
        &v2.hash,
        today.pred_opt().unwrap(),
        "x",
    )
    .await
    .unwrap_err();
    assert!(past.contains("redan varit"), "{past}");

    // 8. Every draft of both versions replays byte-identical (but the one
    //    changed in the store above).
    let (seen_after, different) = replay_all(&rt, &data).await;
    assert_eq!(seen_after, seen + 3);
    assert_eq!(different.len(), 1, "{different:?}");
    assert!(different[0].starts_with(&format!("case {}:", some.id)));

    // 9. Every step is in the audit log, and the log verifies.
    let kinds = audit_kinds(&rt).await;
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("ruleset_published"), 3, "v1 by the service, v2.1.0 and v2.1.1");
    assert_eq!(count("activation_requested"), 3);
    assert_eq!(count("activation_approved"), 2);
    assert_eq!(count("activation_refused"), 1, "the withdrawal");
    assert_eq!(count("shadow_run"), 1);
    assert_eq!(count("case_replayed"), seen + 1 + seen + 3);
    let url = match &env.settings.database.url {
        Some(u) => u.expose().clone(),
        None => format!("sqlite://{}", data.join("hrobot.sqlite").display()),
    };
    let signer =
        audit::NoteSigner::from_skey(std::fs::read_to_string(env.settings.signing_key_file()).unwrap().trim()).unwrap();
    let db = audit::Db::connect(&url).await.unwrap();
    let report = db.verify(&[signer.verifier()]).await.unwrap();
    assert!(report.is_ok(), "audit log: {:?}", report.problems);
    // The store's versions and activations agree with the log …
    let cases = robot_runtime::audit_cases::check(&db).await.unwrap();
    assert!(cases.rules.is_empty(), "{:?}", cases.rules);
    // … and an activation written into the store by hand, past the four
    // eyes, is found out.
    let sql = "INSERT INTO ruleset_activations (casework_type, hash, valid_from, reason, state, requested_by, requested_us, decided_by, decided_us) \
               VALUES ('ekonomiskt-bistand', $1, '2026-12-10', 'x', 'approved', 'user:anna', 1, 'user:anna', 1)";
    match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
        (Some(p), _) => assert_eq!(
            sqlx::query(sql)
                .bind(&v2.hash)
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
            1
        ),
        (_, Some(p)) => assert_eq!(
            sqlx::query(sql)
                .bind(&v2.hash)
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
            1
        ),
        _ => unreachable!(),
    }
    let cases = robot_runtime::audit_cases::check(&db).await.unwrap();
    assert_eq!(cases.rules.len(), 2, "{:?}", cases.rules);
    assert!(cases.rules[0].contains("no event asked for it"), "{:?}", cases.rules);
    assert!(
        cases.rules[1].contains("no activation_approved event decided it"),
        "{:?}",
        cases.rules
    );
    db.close().await;

    // The store refuses to change a published version.
    let changed = match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
        (Some(p), _) => sqlx::query("UPDATE ruleset_files SET content = 'x' WHERE hash = $1")
            .bind(&v1.hash)
            .execute(p)
            .await
            .is_err(),
        (_, Some(p)) => sqlx::query("UPDATE ruleset_files SET content = 'x' WHERE hash = $1")
            .bind(&v1.hash)
            .execute(p)
            .await
            .is_err(),
        _ => unreachable!(),
    };
    assert!(changed, "published files never change");
}

#[tokio::test]
async fn the_workbench_on_sqlite() {
    workbench(Engine::Sqlite).await;
}

#[tokio::test]
async fn the_workbench_on_postgres() {
    workbench(Engine::Postgres).await;
}

/// Both casework types over the demo data, through the command line:
/// every draft replays byte-identical (`cases replay --all`), and the
/// workbench's verbs publish, list, shadow and refuse as they say.
#[tokio::test]
async fn the_demo_data_replays_and_the_workbench_verbs_work() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let dir = env.dir.path();
    let demo = repo().join("ops/demo");
    copy_dir(&demo.join("inbox"), &dir.join("inbox-eb"));
    copy_dir(&demo.join("inbox-avgift"), &dir.join("inbox-avgift"));
    let cfg = dir.join("hrobot.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = "{data}"
[[robots]]
name = "demo"
schedule = "0 8 * * 1-5"
ruleset = "{eb}"
[robots.source]
kind = "file_inbox"
path = "{data}/inbox-eb"
[[robots.lookups]]
kind = "file_register"
path = "{register}"
[[robots]]
name = "demo-avgift"
schedule = "0 8 * * 1-5"
ruleset = "{avgift}"
[robots.source]
kind = "file_inbox"
path = "{data}/inbox-avgift"
"#,
            data = dir.display(),
            eb = ruleset().display(),
            avgift = repo().join("rulesets/avgift-aldreomsorg").display(),
            register = demo.join("register").display(),
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    for robot in ["demo", "demo-avgift"] {
        let o = run(&["run", robot, "--config", cfg]);
        assert!(o.status.success(), "{}", stderr(&o));
    }

    let o = run(&["rules", "versions", "--format", "json", "--config", cfg]);
    assert!(o.status.success(), "{}", stderr(&o));
    let versions: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let by: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["row"]["published_by"].as_str().unwrap())
        .collect();
    assert_eq!(by.len(), 2, "{versions}");
    assert!(
        by.contains(&"config:demo") && by.contains(&"config:demo-avgift"),
        "{by:?}"
    );

    let o = run(&["cases", "replay", "--all", "--config", cfg]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let summary = out.lines().last().unwrap();
    let identical: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(identical >= 30, "{summary}");
    assert!(summary.ends_with(" identical, 0 different"), "{summary}");
    let o = run(&["cases", "replay", "1", "--format", "json", "--config", cfg]);
    let one: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(one["identical"], true, "{one}");

    // A candidate: higher rent guide values (its own tests no longer hold).
    let cand = higher_rent(&dir.join("kandidat"), "2.1.0");
    let o = run(&["rules", "publish", cand.to_str().unwrap(), "--config", cfg]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.starts_with("published ekonomiskt-bistand 2.1.0"), "{out}");
    let hash = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_string();
    let prefix = &hash["sha256:".len().."sha256:".len() + 12];
    let o = run(&["rules", "publish", cand.to_str().unwrap(), "--config", cfg]);
    assert!(stdout(&o).starts_with("already published"), "{}", stdout(&o));

    let reports = dir.join("rapporter");
    let o = run(&[
        "rules",
        "shadow",
        prefix,
        "--cases",
        "all",
        "--out",
        reports.to_str().unwrap(),
        "--config",
        cfg,
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.starts_with("shadow report #1: "), "{out}");
    assert!(out.contains(" changed, ") && !out.contains(" 0 changed"), "{out}");
    assert!(out.contains("increased, 0 decreased"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("shadow-1.json")).unwrap()).unwrap();
    assert!(report["changed"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["casework_type"], "ekonomiskt-bistand");
    let html = std::fs::read_to_string(reports.join("shadow-1.html")).unwrap();
    assert!(html.contains("<html lang=\"sv\">") && html.contains("Delvis bifall"));
    // Personal data stays out of the report: ids and diarienummer only.
    assert!(
        !audit::event::contains_personnummer(&html),
        "no personnummer in the report"
    );
    assert!(!audit::event::contains_personnummer(&report.to_string()));

    // A version whose tests fail is not asked for; a bad filter is named.
    let today =
        robot_runtime::rulebook::swedish_day(robot_runtime::clock::Clock::now(&robot_runtime::clock::SystemClock))
            .to_string();
    let o = run(&[
        "rules",
        "activate",
        prefix,
        "--from",
        &today,
        "--reason",
        "Nya riktvärden",
        "--config",
        cfg,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("tester misslyckades"), "{}", stderr(&o));
    let o = run(&["rules", "shadow", prefix, "--cases", "fran=2026-01-01", "--config", cfg]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("okänd nyckel"), "{}", stderr(&o));
    let o = run(&["rules", "activations", "--config", cfg]);
    assert!(o.status.success());
}

/// A case drafted before versions were stored (migration 0009): replay
/// publishes its version from the folder loaded with exactly that content,
/// and the draft comes out byte-identical.
#[tokio::test]
async fn a_draft_from_before_versions_were_stored_is_replayed() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let rt = env.runtime(clock_at("2026-12-10T09:00:00Z")).await;
    let rs = sandbox::Ruleset::load(&ruleset()).unwrap();
    let file = valid_cases().into_iter().next().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let draft = rs.evaluate_input(&rs.read(&bytes).unwrap()).unwrap();
    let pool = rt.store.sqlite_pool().unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cases (source, external_id, source_ref, robot, state, period, ruleset_name, ruleset_version, ruleset_hash, received_us, updated_us) \
         VALUES ('gammal', 'G-1', 'gammal/1', 'r1', 'awaiting_approval', $1, $2, $3, $4, 1, 1) RETURNING id",
    )
    .bind(draft.period().to_string())
    .bind(rs.name())
    .bind(rs.version())
    .bind(rs.hash())
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO applications (case_id, document) VALUES ($1, $2)")
        .bind(id)
        .bind(&bytes)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO drafts (case_id, draft, created_us) VALUES ($1, $2, 1)")
        .bind(id)
        .bind(draft.to_json())
        .execute(pool)
        .await
        .unwrap();
    assert!(rt.store.ruleset_version(rs.hash()).await.unwrap().is_none());
    let r = replay::replay_case(&rt.store, env.dir.path(), id, "cli:test")
        .await
        .unwrap();
    assert!(r.identical, "{:?} {:?}", r.error, r.differences);
    let v = rt.store.ruleset_version(rs.hash()).await.unwrap().unwrap();
    assert_eq!(v.published_by, "cli:test");
}
