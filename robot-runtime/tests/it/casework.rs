//! The second casework type end to end: fee decisions in elderly care
//! (`rulesets/avgift-aldreomsorg`) fetched from a file inbox, drafted,
//! approved, and sent as the type's own letter; the queue filters by type.

use crate::approval::{letters, official};
use crate::support::*;
use domain::{CaseState, Outcome};
use robot_runtime::approval::{self, ApprovalResult, ApprovalSettings, Channel, Role};
use robot_runtime::outbox::deliver_once;
use robot_runtime::pipeline::{drain_run, run_robot};
use robot_runtime::store::Trigger;
use robot_runtime::store::queue::{QueueFilter, QueueSort};

fn fee_tests() -> std::path::PathBuf {
    repo().join("rulesets/avgift-aldreomsorg/tests")
}

async fn fee_case_is_drafted_approved_and_sent(engine: Engine) {
    let mut env = TestEnv::new(engine).await;
    let robot = &mut env.settings.robots[0];
    robot.ruleset = repo().join("rulesets/avgift-aldreomsorg");
    robot.lookups.clear();
    env.put(&[
        fee_tests().join("01-ensam-hemtjanst-full-taxa.json"),
        fee_tests().join("04-avgiftsutrymme-exakt-noll.json"),
        fee_tests().join("29-manuell-hojt-minimibelopp.json"),
        // Invalid: three decimals in an amount.
        fee_tests().join("50-ogiltig-tre-decimaler.json"),
    ]);
    let rt = env.runtime(clock_at("2026-03-01T10:00:00Z")).await;
    let report = run_robot(&rt, "r1", Trigger::Manual, rt.clock.now())
        .await
        .unwrap()
        .unwrap();
    drain_run(&rt, report.run_id, |_, _| {}).await.unwrap();
    let all = rt.store.list_cases(None, None, 100, 0).await.unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    let by_ext = |ext: &str| all.iter().find(|c| c.external_id == ext).unwrap().clone();
    let full = by_ext("AO-01");
    assert_eq!(full.state, CaseState::AwaitingApproval);
    assert_eq!(full.outcome, Some(Outcome::Faststalld));
    assert_eq!(by_ext("AO-04").outcome, Some(Outcome::Faststalld));
    assert_eq!(by_ext("AO-04").amount_ore, Some(0));
    assert_eq!(by_ext("AO-29").outcome, Some(Outcome::Manuell));
    let invalid = all
        .iter()
        .find(|c| c.state == CaseState::Invalid)
        .expect("the invalid one");
    let detail = rt.store.case_detail(invalid.id).await.unwrap();
    assert!(
        detail
            .summary
            .state_reason
            .as_deref()
            .unwrap_or_default()
            .contains("/incomes/0/amount"),
        "{:?}",
        detail.summary.state_reason
    );

    // The queue filters by the robots of a type.
    let filter = |robots: Vec<String>| QueueFilter {
        robots: Some(robots),
        ..QueueFilter::default()
    };
    let q = rt
        .store
        .queue(&filter(vec!["r1".into()]), QueueSort::default(), 50, 0)
        .await
        .unwrap();
    assert_eq!(q.rows.len(), 4);
    let q = rt
        .store
        .queue(&filter(vec![]), QueueSort::default(), 50, 0)
        .await
        .unwrap();
    assert!(q.rows.is_empty());

    // Approve the fee of 0 kr and the full fee; the letters are the type's own.
    let s = ApprovalSettings::default();
    let a = official(1, &[Role::Handlaggare], None);
    for case in [full.id, by_ext("AO-04").id] {
        assert_eq!(
            approval::approve(&rt.store, &s, &Channel("maildir"), case, &a)
                .await
                .unwrap(),
            ApprovalResult::Approved
        );
    }
    while deliver_once(&rt.outbox).await.unwrap() > 0 {}
    for case in [full.id, by_ext("AO-04").id] {
        assert_eq!(rt.store.case_detail(case).await.unwrap().summary.state, CaseState::Sent);
    }
    let sent = letters(&env);
    assert_eq!(sent.len(), 2);
    for l in &sent {
        assert!(
            l.contains("Subject: Beslut om avgift"),
            "the subject is the type's letter title"
        );
        assert!(!l.contains("ekonomiskt bist"), "no word of another type's letter");
        assert!(!l.contains("bankkonto"), "a fee is not paid out");
    }
    let html = approval::letter_html(&rt.store, &s, full.id).await.unwrap();
    for needle in [
        "Du ska betala 2\u{a0}100\u{a0}kr per månad",
        "mars 2026",
        "Hur du överklagar",
        "Förbehållsbelopp",
    ] {
        assert!(html.contains(needle), "{needle} missing in the letter: {html}");
    }
    let zero = approval::letter_html(&rt.store, &s, by_ext("AO-04").id).await.unwrap();
    assert!(zero.contains("Du ska inte betala någon avgift"), "{zero}");
    rt.store.close().await;
}

#[tokio::test]
async fn a_fee_decision_goes_from_inbox_to_letter_sqlite() {
    fee_case_is_drafted_approved_and_sent(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_fee_decision_goes_from_inbox_to_letter_postgres() {
    fee_case_is_drafted_approved_and_sent(Engine::Postgres).await;
}

/// The care system's SQL view, through the type's field map, gives an
/// application the type accepts, and the yearly recalculation states the
/// change from the fee in force.
#[test]
fn the_care_systems_field_map_makes_a_valid_application_for_the_new_year() {
    let text =
        std::fs::read_to_string(repo().join("rulesets/avgift-aldreomsorg/field-maps/verksamhetssystem.toml")).unwrap();
    let map: connectors::field_map::FieldMap = toml::from_str(&text).unwrap();
    let row = serde_json::json!({
        "id": "AVG-2027-000123", "registrerad": "2026-12-01T06:00:00+01:00",
        "giltig_fran": "2027-01", "personnummer": "194204099222", "namn": "Astrid Provsson",
        "boendeform": "ordinart_boende", "civilstand": "ensamstaende",
        "inkomster": [{"slag": "pension", "belopp": "14 500,00"}, {"slag": "bostadstillagg", "belopp": "3 500,00"}],
        "boendekostnad": "7 000,00",
        "insatser": [{"typ": "hemtjanst", "timmar": 8}, {"typ": "trygghetslarm"}],
        "inkomstuppgift_inkommen": "ja", "nuvarande_avgift": "2 100,00"
    });
    let doc = map.apply(&row).unwrap();
    let ruleset = sandbox::Ruleset::load(&repo().join("rulesets/avgift-aldreomsorg")).unwrap();
    let input = ruleset.read(serde_json::to_string(&doc).unwrap().as_bytes()).unwrap();
    let draft = ruleset.evaluate_input(&input).unwrap();
    assert_eq!(draft.outcome(), Outcome::Faststalld);
    assert_eq!(draft.period().to_string(), "2027-01");
    assert!(
        draft
            .reasons()
            .iter()
            .any(|r| r.text.contains("2\u{a0}100") || r.text.contains("2 100")),
        "the change from the fee in force is stated: {:?}",
        draft.reasons()
    );
}
