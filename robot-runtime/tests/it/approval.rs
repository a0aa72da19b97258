//! The approval core: decisions, four-eyes, conflicts of interest, the
//! outbox as the only way out, and the database refusing anything else.

use crate::support::*;
use domain::{CaseState, Money, Personnummer, RowChange, Ruling, SectionKind, SkipGround};
use proptest::prelude::*;
use robot_runtime::approval::{
    self, ApprovalError, ApprovalResult, ApprovalSettings, Channel, DecisionRequest, Official, ReplyChannel, Role,
};
use robot_runtime::outbox::deliver_once;
use robot_runtime::pipeline::{drain_run, run_robot};
use robot_runtime::runtime::Runtime;
use robot_runtime::store::{CaseId, Trigger};

pub(crate) fn official(id: i64, roles: &[Role], pnr: Option<&str>) -> Official {
    Official {
        user_id: id,
        username: format!("hl{id}"),
        display_name: format!("Handläggare {id}"),
        roles: roles.to_vec(),
        // Every official deciding has their personnummer on the account;
        // officials 1, 2, … are different persons.
        personnummer: Some(
            Personnummer::parse(
                pnr.unwrap_or(crate::web_support::OFFICIAL_PERSONNUMMER[usize::try_from(id).unwrap() % 8]),
                "2021-03-01".parse().unwrap(),
            )
            .unwrap(),
        ),
        title: Some("Socialsekreterare".into()),
        delegation: Some("punkt 4.1 i socialnämndens delegationsordning".into()),
    }
}

fn skip() -> Option<(SkipGround, String)> {
    Some((
        SkipGround::UppenbartObehovlig,
        "Uppgiften kommer från den sökande själv.".into(),
    ))
}

const CH: Channel<'static> = Channel("maildir");

/// Cases awaiting approval for the named shipped test cases (no register lookup).
async fn cases(env: &mut TestEnv, names: &[&str]) -> (Runtime, Vec<CaseId>) {
    cases_with_clock(env, names, clock_at("2026-03-01T10:00:00Z")).await
}

/// The same, on a clock the test moves.
pub(crate) async fn cases_with_clock(
    env: &mut TestEnv,
    names: &[&str],
    clock: std::sync::Arc<robot_runtime::clock::ManualClock>,
) -> (Runtime, Vec<CaseId>) {
    env.settings.robots[0].lookups.clear();
    let files: Vec<_> = names
        .iter()
        .map(|n| ruleset().join(format!("tests/{n}.json")))
        .collect();
    env.put(&files);
    let rt = env.runtime(clock).await;
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, report.run_id, |_, _| {}).await.unwrap();
    let all = rt.store.list_cases(None, None, 100, 0).await.unwrap();
    let ids = names
        .iter()
        .map(|n| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(ruleset().join(format!("tests/{n}.json"))).unwrap()).unwrap();
            all.iter()
                .find(|c| c.external_id == v["external_id"].as_str().unwrap())
                .unwrap()
                .id
        })
        .collect();
    (rt, ids)
}

async fn state(rt: &Runtime, case: CaseId) -> CaseState {
    rt.store.case_detail(case).await.unwrap().summary.state
}

pub(crate) fn letters(env: &TestEnv) -> Vec<String> {
    let dir = env.dir.path().join("outbox/new");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

async fn approve_and_deliver(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    let (rt, ids) = cases(&mut env, &["01-ensamstaende-utan-inkomst"]).await;
    let s = ApprovalSettings::default();
    let a = official(1, &[Role::Handlaggare], None);
    assert_eq!(state(&rt, ids[0]).await, CaseState::AwaitingApproval);
    // The preview says it is not decided.
    let preview = approval::letter_html(&rt.store, &s, ids[0]).await.unwrap();
    assert!(preview.contains("UTKAST"));

    assert_eq!(
        approval::approve(&rt.store, &s, &CH, ids[0], &a).await.unwrap(),
        ApprovalResult::Approved
    );
    assert_eq!(state(&rt, ids[0]).await, CaseState::Approved);
    assert!(letters(&env).is_empty(), "nothing is sent until the outbox runs");
    assert!(matches!(
        approval::approve(&rt.store, &s, &CH, ids[0], &a).await,
        Err(ApprovalError::NotAwaitingApproval)
    ));

    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 1);
    assert_eq!(state(&rt, ids[0]).await, CaseState::Sent);
    let sent = letters(&env);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains(&format!("Message-ID: <hrobot:case:{}:decision:", ids[0])));
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 0, "delivered once");

    let html = approval::letter_html(&rt.store, &s, ids[0]).await.unwrap();
    assert!(!html.contains("UTKAST"));
    for needle in [
        "Du beviljas ekonomiskt bistånd",
        "9\u{a0}750\u{a0}kr",
        "mars 2021",
        "Hur du överklagar",
        "Handläggare 1",
        "Tolvan Exempel",
    ] {
        assert!(html.contains(needle), "{needle} missing in the letter");
    }
    assert!(
        approval::letter_pdf(&rt.store, &s, ids[0])
            .await
            .unwrap()
            .starts_with(b"%PDF-")
    );
    let view = approval::case_view(&rt.store, ids[0]).await.unwrap();
    assert_eq!(view.decisions.len(), 1);
    assert_eq!(view.outbox.unwrap().status.as_str(), "delivered");
    rt.store.close().await;
}

#[tokio::test]
async fn approve_then_the_outbox_delivers_once_sqlite() {
    approve_and_deliver(Engine::Sqlite).await;
}

#[tokio::test]
async fn approve_then_the_outbox_delivers_once_postgres() {
    approve_and_deliver(Engine::Postgres).await;
}

#[tokio::test]
async fn large_amounts_and_amendments_need_two_different_officials() {
    for engine in ENGINES {
        let mut env = TestEnv::new(engine).await;
        let (rt, ids) = cases(&mut env, &["03-sambor-tva-barn", "01-ensamstaende-utan-inkomst"]).await;
        let s = ApprovalSettings::default();
        let (a, b) = (
            official(1, &[Role::Handlaggare], None),
            official(2, &[Role::Handlaggare], None),
        );
        // 17 040 kr ≥ 15 000 kr.
        assert_eq!(
            approval::approve(&rt.store, &s, &CH, ids[0], &a).await.unwrap(),
            ApprovalResult::AwaitingSecondApproval
        );
        assert_eq!(state(&rt, ids[0]).await, CaseState::AwaitingSecondApproval);
        assert!(matches!(
            approval::approve(&rt.store, &s, &CH, ids[0], &a).await,
            Err(ApprovalError::SameApprover)
        ));
        assert_eq!(
            deliver_once(&rt.outbox).await.unwrap(),
            0,
            "nothing goes out after one approval"
        );
        assert_eq!(
            approval::approve(&rt.store, &s, &CH, ids[0], &b).await.unwrap(),
            ApprovalResult::Approved
        );
        assert_eq!(state(&rt, ids[0]).await, CaseState::Approved);

        // An amendment always needs a second official; the letter states
        // only the officials' decision: their rows, their motivering.
        let amendment = DecisionRequest {
            ruling: Ruling::Rows {
                changes: vec![RowChange::Add {
                    section: SectionKind::INCOMES,
                    label: "Hyresrabatt i mars".into(),
                    amount: Money::from_kronor(750).unwrap(),
                    reason: "Hyresvärden har lämnat rabatt i mars <b>enligt avi</b>.".into(),
                }],
                motivering: "Hyresrabatten är en inkomst som räknas.".into(),
            },
            confirmed: vec![],
            skip_kommunicering: skip(),
        };
        assert!(
            matches!(
                approval::amend(&rt.store, &s, &CH, ids[1], &a, &amendment.ruling).await,
                Err(ApprovalError::KommuniceringNeeded)
            ),
            "a lower amount on the official's own findings needs kommunicering or a ground"
        );
        assert_eq!(
            approval::decide(&rt.store, &s, &CH, ids[1], &a, &amendment)
                .await
                .unwrap(),
            ApprovalResult::AwaitingSecondApproval
        );
        assert_eq!(
            rt.store.case_detail(ids[1]).await.unwrap().summary.amount_ore,
            Some(900_000),
            "the queue shows the amendment being approved"
        );
        let preview = approval::letter_html(&rt.store, &s, ids[1]).await.unwrap();
        assert!(
            preview.contains("UTKAST") && preview.contains("9\u{a0}000\u{a0}kr"),
            "the second approver previews the amended decision"
        );
        assert!(matches!(
            approval::approve(&rt.store, &s, &CH, ids[1], &a).await,
            Err(ApprovalError::SameApprover)
        ));
        assert_eq!(
            approval::approve(&rt.store, &s, &CH, ids[1], &b).await.unwrap(),
            ApprovalResult::Approved
        );
        assert_eq!(state(&rt, ids[1]).await, CaseState::Amended);
        let html = approval::letter_html(&rt.store, &s, ids[1]).await.unwrap();
        assert!(!html.contains("robot"), "no internal words: {html}");
        assert!(!html.contains("UTKAST"));
        assert!(html.contains("&lt;b&gt;enligt avi"), "the reason is inert markup");
        assert!(!html.contains("<b>enligt"));
        assert!(html.contains("Du beviljas ekonomiskt bistånd (försörjningsstöd) med 9\u{a0}000\u{a0}kr"));
        assert!(!html.contains("9\u{a0}750"), "the superseded amount appears nowhere");
        assert!(html.contains("Hyresrabatten är en inkomst som räknas."));
        assert!(html.contains("Handläggare 2, Socialsekreterare"));
        assert!(html.contains("Föredragande: Handläggare 1"));
        assert!(html.contains("med stöd av punkt 4.1 i socialnämndens delegationsordning"));
        assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 2);
        rt.store.close().await;
    }
}

#[tokio::test]
async fn the_amendment_rules() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    let (rt, ids) = cases(&mut env, &["01-ensamstaende-utan-inkomst"]).await;
    let s = ApprovalSettings::default();
    let a = official(1, &[Role::Handlaggare], None);
    let rows = |changes: Vec<RowChange>, why: &str| Ruling::Rows {
        changes,
        motivering: why.into(),
    };
    for am in [
        rows(vec![], "  "),
        rows(vec![], "Inga rader ändrade."),
        rows(
            vec![RowChange::Remove {
                section: SectionKind::COSTS,
                index: 99,
                reason: "x".into(),
            }],
            "skäl",
        ),
        rows(
            vec![RowChange::Change {
                section: SectionKind::COSTS,
                index: 0,
                amount: Money::from_kronor(-5).unwrap(),
                reason: "x".into(),
            }],
            "skäl",
        ),
        Ruling::Avslag { motivering: " ".into() },
        Ruling::Proposal,
    ] {
        assert!(matches!(
            approval::amend(&rt.store, &s, &CH, ids[0], &a, &am).await,
            Err(ApprovalError::Invalid(_))
        ));
    }
    assert_eq!(
        state(&rt, ids[0]).await,
        CaseState::AwaitingApproval,
        "a refused amendment changes nothing"
    );
}

#[tokio::test]
async fn roles_and_conflicts_of_interest_are_enforced() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    let (rt, ids) = cases(&mut env, &["01-ensamstaende-utan-inkomst", "08-nyansokan-manuell"]).await;
    let s = ApprovalSettings::default();
    for role in [Role::Regelforfattare, Role::Administrator, Role::Revisor] {
        let o = official(5, &[role], None);
        assert!(
            matches!(
                approval::approve(&rt.store, &s, &CH, ids[0], &o).await,
                Err(ApprovalError::Forbidden(_))
            ),
            "{role:?}"
        );
        assert!(matches!(
            approval::return_to_manual(&rt.store, ids[0], &o, "x").await,
            Err(ApprovalError::Forbidden(_))
        ));
        assert!(matches!(
            approval::comment(&rt.store, ids[0], &o, "x").await,
            Err(ApprovalError::Forbidden(_))
        ));
    }
    // Tolvan is the applicant of case 01: an official with that personnummer may not decide.
    let jav = official(6, &[Role::Handlaggare], Some("198112189876"));
    assert!(matches!(
        approval::approve(&rt.store, &s, &CH, ids[0], &jav).await,
        Err(ApprovalError::ConflictOfInterest)
    ));
    assert!(matches!(
        approval::return_to_manual(&rt.store, ids[0], &jav, "x").await,
        Err(ApprovalError::ConflictOfInterest)
    ));
    // A manual draft has no amount to approve; it can be amended or returned.
    let a = official(1, &[Role::Handlaggare], None);
    assert!(matches!(
        approval::approve(&rt.store, &s, &CH, ids[1], &a).await,
        Err(ApprovalError::Invalid(_))
    ));
    approval::comment(&rt.store, ids[1], &a, "Bokar besök.").await.unwrap();
    // Only to an active official who may decide: not to someone unknown.
    assert!(approval::assign(&rt.store, ids[1], &a, Some(99)).await.is_err());
    let colleague = robot_runtime::accounts::create_user(
        &rt.store,
        "kollega",
        "Kollega Ett",
        Some("korrekt-häst-batteri"),
        Some(crate::web_support::OFFICIAL_PERSONNUMMER[3]),
        vec![Role::Handlaggare],
    )
    .await
    .unwrap();
    approval::assign(&rt.store, ids[1], &a, Some(colleague)).await.unwrap();
    approval::return_to_manual(&rt.store, ids[1], &a, "Nyansökan: personligt besök krävs.")
        .await
        .unwrap();
    let v = approval::case_view(&rt.store, ids[1]).await.unwrap();
    assert_eq!(v.detail.summary.state, CaseState::ReturnedToManual);
    assert_eq!(v.comments.len(), 1);
    assert_eq!(v.assigned_to, Some(colleague));
    assert!(matches!(
        approval::approve(&rt.store, &s, &CH, ids[1], &a).await,
        Err(ApprovalError::NotAwaitingApproval)
    ));
    // Cases 01 and 08 share the applicant: each sees the other as the household's earlier case.
    let v0 = approval::case_view(&rt.store, ids[0]).await.unwrap();
    assert!(v0.earlier.iter().any(|c| c.id == ids[1]));
}

#[tokio::test]
async fn the_database_refuses_a_delivery_without_an_approval() {
    for engine in ENGINES {
        let mut env = TestEnv::new(engine).await;
        let (rt, ids) = cases(&mut env, &["01-ensamstaende-utan-inkomst"]).await;
        let insert = "INSERT INTO outbox (case_id, decision_id, channel, idempotency_key, letter_html, letter_text, letter_pdf, status, next_attempt_us, created_us, updated_us) \
                      VALUES ($1, $2, 'maildir', 'k', '', '', $3, 'pending', 0, 0, 0)";
        let draft_id: i64 = match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
            (Some(p), _) => sqlx::query_scalar("SELECT id FROM drafts LIMIT 1")
                .fetch_one(p)
                .await
                .unwrap(),
            (_, Some(p)) => sqlx::query_scalar("SELECT id FROM drafts LIMIT 1")
                .fetch_one(p)
                .await
                .unwrap(),
            _ => unreachable!(),
        };
        // A decision that is not final (a first approval of a four-eyes case).
        let pending = "INSERT INTO decisions (case_id, draft_id, outcome, amount_ore, amended, needs_second, first_by, first_by_name, first_us, final) \
                       VALUES ($1, $2, 'bifall', 975000, $3, $4, 1, 'x', 0, $3) RETURNING id";
        let r = match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
            (Some(p), _) => {
                let d: i64 = sqlx::query_scalar(pending)
                    .bind(ids[0])
                    .bind(draft_id)
                    .bind(false)
                    .bind(true)
                    .fetch_one(p)
                    .await
                    .unwrap();
                let r1 = sqlx::query(insert)
                    .bind(ids[0])
                    .bind(d)
                    .bind(vec![0u8])
                    .execute(p)
                    .await
                    .map(|_| ());
                let r2 = sqlx::query(insert)
                    .bind(ids[0])
                    .bind(999_999i64)
                    .bind(vec![0u8])
                    .execute(p)
                    .await
                    .map(|_| ());
                (r1, r2)
            }
            (_, Some(p)) => {
                let d: i64 = sqlx::query_scalar(pending)
                    .bind(ids[0])
                    .bind(draft_id)
                    .bind(false)
                    .bind(true)
                    .fetch_one(p)
                    .await
                    .unwrap();
                let r1 = sqlx::query(insert)
                    .bind(ids[0])
                    .bind(d)
                    .bind(vec![0u8])
                    .execute(p)
                    .await
                    .map(|_| ());
                let r2 = sqlx::query(insert)
                    .bind(ids[0])
                    .bind(999_999i64)
                    .bind(vec![0u8])
                    .execute(p)
                    .await
                    .map(|_| ());
                (r1, r2)
            }
            _ => unreachable!(),
        };
        assert!(r.0.is_err(), "{engine:?}: an unapproved decision cannot be delivered");
        assert!(r.1.is_err(), "{engine:?}: no decision at all cannot be delivered");

        // A final decision cannot be changed afterwards.
        let s = ApprovalSettings::default();
        approval::approve(&rt.store, &s, &CH, ids[0], &official(1, &[Role::Handlaggare], None))
            .await
            .unwrap();
        let change = "UPDATE decisions SET amount_ore = 100 WHERE final = $1";
        let r = match (rt.store.sqlite_pool(), rt.store.postgres_pool()) {
            (Some(p), _) => sqlx::query(change).bind(true).execute(p).await.map(|_| ()),
            (_, Some(p)) => sqlx::query(change).bind(true).execute(p).await.map(|_| ()),
            _ => unreachable!(),
        };
        assert!(r.is_err(), "{engine:?}: a final decision is final");
        rt.store.close().await;
    }
}

/// One step of a random session.
#[derive(Debug, Clone)]
enum Action {
    Approve(usize, i64),
    Amend(usize, i64),
    Return(usize, i64),
    Kommunicera(usize, i64),
    Reply(usize, i64),
    Deliver,
    DeliveryDown,
    DeliveryUp,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0usize..3, 1i64..4).prop_map(|(c, o)| Action::Approve(c, o)),
        (0usize..3, 1i64..4).prop_map(|(c, o)| Action::Amend(c, o)),
        (0usize..3, 1i64..4).prop_map(|(c, o)| Action::Return(c, o)),
        (0usize..3, 1i64..4).prop_map(|(c, o)| Action::Kommunicera(c, o)),
        (0usize..3, 1i64..4).prop_map(|(c, o)| Action::Reply(c, o)),
        Just(Action::Deliver),
        Just(Action::DeliveryDown),
        Just(Action::DeliveryUp),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever officials do, in whatever order, with the delivery channel
    /// failing on and off: a letter leaves only for a case with a final
    /// decision, by one official or (four-eyes) by two different ones.
    #[test]
    fn nothing_is_sent_before_approval(actions in proptest::collection::vec(action(), 1..14)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let mut env = TestEnv::new(Engine::Sqlite).await;
            let (runtime, ids) = cases(&mut env, &["01-ensamstaende-utan-inkomst", "03-sambor-tva-barn", "08-nyansokan-manuell"]).await;
            let s = ApprovalSettings::default();
            let outbox = env.dir.path().join("outbox");
            for a in &actions {
                let o = |id: i64| official(id, &[Role::Handlaggare], None);
                match a {
                    Action::Approve(c, by) => { let _ = approval::approve(&runtime.store, &s, &CH, ids[*c], &o(*by)).await; }
                    Action::Amend(c, by) => {
                        let ruling = match by % 3 {
                            0 => Ruling::Avslag { motivering: "HANDLÄGGARENS AVSLAG.".into() },
                            1 => Ruling::Rows { changes: vec![RowChange::Add { section: SectionKind::COSTS, label: "Tandvård".into(), amount: Money::from_kronor(1200).unwrap(), reason: "Akut tandvård enligt intyg.".into() }], motivering: "HANDLÄGGARENS BIFALL.".into() },
                            _ => Ruling::Rows { changes: vec![RowChange::Add { section: SectionKind::INCOMES, label: "Lön".into(), amount: Money::from_kronor(2000).unwrap(), reason: "Lönebesked.".into() }], motivering: "HANDLÄGGARENS MINSKNING.".into() },
                        };
                        let req = DecisionRequest { ruling, confirmed: vec![], skip_kommunicering: if *by == 2 { None } else { skip() } };
                        let _ = approval::decide(&runtime.store, &s, &CH, ids[*c], &o(*by), &req).await;
                    }
                    Action::Kommunicera(c, by) => {
                        let _ = approval::send_kommunicering(&runtime.store, &s, &CH, ids[*c], &o(*by), "Lönebesked från arbetsgivaren visar 2 000 kr.").await;
                    }
                    Action::Reply(c, by) => {
                        let _ = approval::record_reply(&runtime.store, ids[*c], "user:x", Some(&o(*by)), ReplyChannel::Web, "Jag har inte fått någon lön.").await;
                    }
                    Action::Return(c, by) => { let _ = approval::return_to_manual(&runtime.store, ids[*c], &o(*by), "Manuellt.").await; }
                    Action::Deliver => { let _ = deliver_once(&runtime.outbox).await; }
                    Action::DeliveryDown => { std::fs::create_dir_all(&outbox).unwrap(); std::fs::write(outbox.join("new"), b"blocks the maildir").ok(); }
                    Action::DeliveryUp => { let p = outbox.join("new"); if p.is_file() { std::fs::remove_file(p).unwrap(); } }
                }
                // The invariant, after every step.
                for (i, id) in ids.iter().enumerate() {
                    let v = approval::case_view(&runtime.store, *id).await.unwrap();
                    let finals: Vec<_> = v.decisions.iter().filter(|d| d.final_).collect();
                    if let Some(o) = &v.outbox {
                        prop_assert_eq!(finals.len(), 1, "case {} has an outbox item without one final decision", i);
                        let d = finals[0];
                        if d.needs_second {
                            prop_assert!(d.second_by.is_some() && d.second_by != Some(d.first_by));
                        }
                        if o.status.as_str() == "delivered" {
                            prop_assert_eq!(v.detail.summary.state, CaseState::Sent);
                        }
                    } else {
                        prop_assert!(v.detail.summary.state != CaseState::Sent);
                    }
                    prop_assert!(finals.len() <= 1);
                }
            }
            // Every decision letter in the maildir belongs to a case with a
            // final decision and states exactly that decision: its amount,
            // rows that add up to it, and no superseded reason.
            let mut delivered = 0;
            if let Ok(rd) = std::fs::read_dir(outbox.join("new")) {
                for e in rd.flatten() {
                    let text = std::fs::read_to_string(e.path()).unwrap();
                    let key = text.split("hrobot:case:").nth(1).unwrap();
                    let case: i64 = key.split(':').next().unwrap().parse().unwrap();
                    if key.split(':').nth(1) == Some("kommunicering") {
                        continue;
                    }
                    let v = approval::case_view(&runtime.store, case).await.unwrap();
                    prop_assert!(v.decisions.iter().any(|d| d.final_));
                    let record = v.record.clone().expect("a final decision has its record");
                    prop_assert!(record.check().is_ok());
                    let letter = approval::letter_html(&runtime.store, &s, case).await.unwrap();
                    if record.outcome == domain::Outcome::Avslag {
                        prop_assert!(letter.contains("avslås."), "the letter states the avslag");
                        prop_assert!(!letter.contains("beviljas ekonomiskt"));
                    } else {
                        let amount = format!("med {}\u{a0}kr", domain::kr(record.amount));
                        prop_assert!(letter.contains(&amount), "the letter states the decided amount {}", amount);
                    }
                    prop_assert_eq!(domain::amount_of(&record.rows).unwrap(), record.amount);
                    if record.departs_from_proposal() {
                        for r in v.draft.as_ref().unwrap().reasons() {
                            prop_assert!(!letter.contains(&r.text), "a superseded reason reached the letter");
                        }
                        let ours = ["HANDLÄGGARENS AVSLAG.", "HANDLÄGGARENS BIFALL.", "HANDLÄGGARENS MINSKNING."];
                        prop_assert_eq!(ours.iter().filter(|m| letter.contains(*m)).count(), 1, "exactly the final motivering");
                    }
                    delivered += 1;
                }
            }
            let sent = runtime.store.list_cases(Some(CaseState::Sent), None, 10, 0).await.unwrap().len();
            prop_assert_eq!(delivered, sent, "one letter per sent case");
            runtime.store.close().await;
            Ok(())
        })?;
    }
}
