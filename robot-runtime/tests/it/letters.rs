//! What the citizen reads: the letters for bifall, delvis bifall, avslag,
//! an amended decision, a decision after manual handling, and the
//! kommuniceringsbrev, rendered through the approval core and the outbox
//! and read as text.

use crate::approval::{cases_with_clock, letters, official};
use crate::support::*;
use domain::{CaseState, Money, RowChange, Ruling, SectionKind, SkipGround};
use robot_runtime::approval::{self, ApprovalError, ApprovalResult, Channel, DecisionRequest, ReplyChannel, Role};
use robot_runtime::outbox::deliver_once;
use robot_runtime::runtime::Runtime;
use robot_runtime::store::CaseId;

const CH: Channel<'static> = Channel("maildir");

/// Words that must never reach a citizen.
const INTERNAL: [&str; 10] = [
    "robot",
    "Robot",
    "öre",
    "vuxen 1",
    "barn 1",
    "riksnorm.ensam",
    "riksnorm.barn",
    "kommun.hyra",
    "lagrum.",
    "måste utredas av en handläggare",
];

fn assert_citizen_text(letter: &str) {
    let words: Vec<&str> = letter.split(|c: char| !c.is_alphanumeric()).collect();
    for w in INTERNAL {
        let found = if w.chars().all(char::is_alphabetic) {
            words.contains(&w)
        } else {
            letter.contains(w)
        };
        assert!(!found, "internal word {w:?} in the letter:\n{letter}");
    }
}

/// The complete-letter checklist of contract § 6, for any decision letter.
fn assert_complete(letter: &str, dnr: &str) {
    for needle in [
        "Exempelkommun",
        "Socialnämnden",
        "Box 100",
        "Telefon 012-345 67 00",
        "E-post socialnamnden@exempelkommun.invalid",
        &format!("Diarienummer: {dnr}"),
        "Datum: ",
        "Motivering",
        "Beslutsfattare",
        "Socialsekreterare",
        "med stöd av punkt 4.1 i socialnämndens delegationsordning",
        "automatiserat stöd",
        "fattats av en handläggare",
        "att genast berätta för oss",
        "överklaga det till förvaltningsrätten",
        "inom tre veckor från den dag",
        "kan det inte prövas",
        "handläggare att skriva överklagandet",
        "32 § förvaltningslagen (2017:900)",
    ] {
        assert!(letter.contains(needle), "{needle:?} missing in the letter:\n{letter}");
    }
    // Every legal reference names a paragraph.
    for line in letter.lines().filter(|l| l.contains("socialtjänstlagen (")) {
        assert!(line.contains('§'), "a reference without a paragraph: {line}");
    }
    assert_citizen_text(letter);
}

async fn dnr(rt: &Runtime, case: CaseId) -> String {
    rt.store.case_detail(case).await.unwrap().summary.diarienummer.unwrap()
}

async fn text_of(rt: &Runtime, case: CaseId) -> String {
    let html = approval::letter_html(&rt.store, &rt.settings.approval, case)
        .await
        .unwrap();
    // The same blocks the e-mail text and the PDF are made of.
    let blocks = approval::letter::blocks(&html).unwrap();
    approval::letter::text(&blocks).replace('\u{a0}', " ")
}

#[tokio::test]
async fn letters_for_bifall_avslag_and_two_adults() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    let clock = clock_at("2026-03-01T10:00:00Z");
    let names = [
        "01-ensamstaende-utan-inkomst",
        "06-inkomst-over-norm-avslag",
        "03-sambor-tva-barn",
    ];
    let (rt, ids) = cases_with_clock(&mut env, &names, clock).await;
    let s = rt.settings.approval.clone();
    let (a, b) = (
        official(1, &[Role::Handlaggare], None),
        official(2, &[Role::Handlaggare], None),
    );
    // Diarienummer: one per case, from the year's series, in order.
    let numbers = [dnr(&rt, ids[0]).await, dnr(&rt, ids[1]).await, dnr(&rt, ids[2]).await];
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(sorted, ["SN 2026/000001", "SN 2026/000002", "SN 2026/000003"]);

    // Bifall.
    approval::approve(&rt.store, &s, &CH, ids[0], &a).await.unwrap();
    let t = text_of(&rt, ids[0]).await;
    assert_complete(&t, &numbers[0]);
    assert!(t.contains("Du beviljas ekonomiskt bistånd (försörjningsstöd) med 9 750 kr för mars 2021."));
    assert!(t.contains("Utbetalning"));
    assert!(t.contains("Så har vi räknat"));
    assert!(t.contains("Beviljat bistånd, avrundat till hela kronor"));
    assert!(t.contains("Tolvan Exempel, 19811218-9876"));

    // Avslag: the incomes cover the need; no payment section.
    approval::approve(&rt.store, &s, &CH, ids[1], &a).await.unwrap();
    let t = text_of(&rt, ids[1]).await;
    assert_complete(&t, &numbers[1]);
    assert!(
        t.contains("Din ansökan om ekonomiskt bistånd (försörjningsstöd) för"),
        "{t}"
    );
    assert!(t.contains("avslås."));
    assert!(!t.contains("Utbetalning"));
    assert!(t.contains("inkomsterna täcker behovet"));

    // Two adults are both parties: both named, addressed as "ni"; four eyes.
    assert_eq!(
        approval::approve(&rt.store, &s, &CH, ids[2], &a).await.unwrap(),
        ApprovalResult::AwaitingSecondApproval
    );
    approval::approve(&rt.store, &s, &CH, ids[2], &b).await.unwrap();
    let t = text_of(&rt, ids[2]).await;
    assert_complete(
        &t.replace("hjälp av er handläggare", "hjälp av din handläggare"),
        &numbers[2],
    );
    assert!(t.contains("Ni beviljas ekonomiskt bistånd"));
    let app: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ruleset().join("tests/03-sambor-tva-barn.json")).unwrap()).unwrap();
    for adult in app["household"]["adults"].as_array().unwrap() {
        assert!(
            t.contains(adult["name"].as_str().unwrap()),
            "both adults are recipients"
        );
    }
    for child in app["household"]["children"].as_array().unwrap() {
        let first = child["name"].as_str().unwrap().split(' ').next().unwrap();
        assert!(t.contains(first), "children are named in the calculation, not numbered");
    }
    assert!(t.contains("Föredragande: Handläggare 1"));
    assert!(t.contains("Beslutsfattare"));
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 3);
    assert_eq!(letters(&env).len(), 3);
    rt.store.close().await;
}

#[tokio::test]
async fn an_amended_decision_and_one_after_manual_handling_state_only_the_officials_decision() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    let names = ["01-ensamstaende-utan-inkomst", "08-nyansokan-manuell"];
    let (rt, ids) = cases_with_clock(&mut env, &names, clock_at("2026-03-01T10:00:00Z")).await;
    let s = rt.settings.approval.clone();
    let (a, b) = (
        official(1, &[Role::Handlaggare], None),
        official(2, &[Role::Handlaggare], None),
    );
    let robot_reasons: Vec<String> = {
        let v = approval::case_view(&rt.store, ids[0]).await.unwrap();
        v.draft.unwrap().reasons().iter().map(|r| r.text.clone()).collect()
    };
    // A robot bifall amended into avslag on the official's own grounds.
    let req = DecisionRequest {
        ruling: Ruling::Avslag {
            motivering: "Du har inte kommit till de planerade mötena och står inte till arbetsmarknadens förfogande."
                .into(),
        },
        confirmed: vec![],
        skip_kommunicering: None,
    };
    assert!(matches!(
        approval::decide(&rt.store, &s, &CH, ids[0], &a, &req).await,
        Err(ApprovalError::KommuniceringNeeded)
    ));
    let req = DecisionRequest {
        skip_kommunicering: Some((
            SkipGround::UppenbartObehovlig,
            "Den sökande har själv uppgett det vid besöket.".into(),
        )),
        ..req
    };
    approval::decide(&rt.store, &s, &CH, ids[0], &a, &req).await.unwrap();
    approval::approve(&rt.store, &s, &CH, ids[0], &b).await.unwrap();
    let t = text_of(&rt, ids[0]).await;
    assert_complete(&t, &dnr(&rt, ids[0]).await);
    assert!(t.contains("Din ansökan om ekonomiskt bistånd (försörjningsstöd) för mars 2021 avslås."));
    assert!(t.contains("står inte till arbetsmarknadens förfogande"));
    assert!(!t.contains("beviljas"), "nothing of the superseded bifall:\n{t}");
    assert!(!t.contains("9 750"));
    for r in &robot_reasons {
        assert!(!t.contains(r.as_str()), "a superseded reason reached the letter: {r}");
    }
    assert!(
        !t.contains("Så har vi räknat"),
        "an avslag on other grounds has no calculation"
    );
    assert!(t.contains("uppenbart obehövligt"));

    // A case the robot routed to a person, decided by an official with a
    // corrected calculation: only the official's reasons and rows.
    let req = DecisionRequest {
        ruling: Ruling::Rows {
            changes: vec![RowChange::Add {
                section: SectionKind::COSTS,
                label: "Hemförsäkring".into(),
                amount: Money::from_kronor(150).unwrap(),
                reason: "Styrkt med försäkringsbrev vid besöket.".into(),
            }],
            motivering: "Vid besöket har hushållets behov utretts. Hushållet har rätt till bistånd enligt beräkningen."
                .into(),
        },
        confirmed: vec![],
        skip_kommunicering: None,
    };
    approval::decide(&rt.store, &s, &CH, ids[1], &a, &req).await.unwrap();
    // The second approver sees the amended decision, not the robot's routing.
    let preview = text_of(&rt, ids[1]).await;
    assert!(preview.contains("UTKAST"));
    assert!(preview.contains("Hemförsäkring"));
    approval::approve(&rt.store, &s, &CH, ids[1], &b).await.unwrap();
    let t = text_of(&rt, ids[1]).await;
    assert_complete(&t, &dnr(&rt, ids[1]).await);
    assert!(t.contains("Vid besöket har hushållets behov utretts."));
    assert!(t.contains("Hemförsäkring (150 kr): Styrkt med försäkringsbrev vid besöket."));
    assert!(
        !t.contains("nyansökan"),
        "the routing reason is not the citizen's motivering:\n{t}"
    );
    let v = approval::case_view(&rt.store, ids[1]).await.unwrap();
    let record = v.record.unwrap();
    assert_eq!(domain::amount_of(&record.rows).unwrap(), record.amount);
    assert!(t.contains(&format!("med {} kr", domain::kr(record.amount).replace('\u{a0}', " "))));
    rt.store.close().await;
}

#[tokio::test]
async fn kommunicering_before_a_delvis_bifall_then_the_decision() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    let clock = clock_at("2026-03-01T10:00:00Z");
    let names = ["07-hyra-over-riktvarde-efter-radrum", "01-ensamstaende-utan-inkomst"];
    let (rt, ids) = cases_with_clock(&mut env, &names, clock.clone()).await;
    let s = rt.settings.approval.clone();
    let a = official(1, &[Role::Handlaggare], None);
    let case = ids[0];
    let v = approval::case_view(&rt.store, case).await.unwrap();
    let draft = v.draft.unwrap();
    assert!(
        !draft.kommunicering().is_empty(),
        "the draft says kommunicering is needed"
    );
    assert!(!draft.assessments().is_empty(), "and what the official must confirm");
    let codes: Vec<String> = draft.assessments().iter().map(|x| x.code.clone()).collect();

    // Approving before kommunicering is refused, and so is approving without
    // confirming the assessment.
    let approve = DecisionRequest {
        ruling: Ruling::Proposal,
        confirmed: codes.clone(),
        skip_kommunicering: None,
    };
    assert!(matches!(
        approval::decide(&rt.store, &s, &CH, case, &a, &approve).await,
        Err(ApprovalError::KommuniceringNeeded)
    ));
    // Nothing to communicate on a case whose proposal rests on the applicant's own facts.
    assert!(matches!(
        approval::send_kommunicering(&rt.store, &s, &CH, ids[1], &a, "").await,
        Err(ApprovalError::Invalid(_))
    ));

    approval::send_kommunicering(
        &rt.store,
        &s,
        &CH,
        case,
        &a,
        "Vi har inte fått in några ansökningar om bostad från dig.",
    )
    .await
    .unwrap();
    assert_eq!(
        rt.store.case_detail(case).await.unwrap().summary.state,
        CaseState::Kommunicering
    );
    // The kommuniceringsbrev goes out through the outbox; the case waits.
    assert_eq!(deliver_once(&rt.outbox).await.unwrap(), 1);
    assert_eq!(
        rt.store.case_detail(case).await.unwrap().summary.state,
        CaseState::Kommunicering
    );
    let k = approval::kommunicering_letter(&rt.store, case).await.unwrap().unwrap();
    let t = k.text.replace('\u{a0}', " ");
    assert_citizen_text(&t);
    for needle in [
        "Du får yttra dig innan vi beslutar",
        "Uppgifterna",
        "Vi har inte fått in några ansökningar om bostad från dig.",
        "Svara senast den",
        "8 mars 2026",
        &format!("Ange diarienummer {}", dnr(&rt, case).await),
        "25 § förvaltningslagen (2017:900)",
        "mindre än du har sökt",
    ] {
        assert!(t.contains(needle), "{needle:?} missing in the kommuniceringsbrev:\n{t}");
    }
    assert!(letters(&env)[0].contains(&format!("hrobot:case:{case}:kommunicering:")));
    // No decision while the case waits.
    assert!(matches!(
        approval::decide(&rt.store, &s, &CH, case, &a, &approve).await,
        Err(ApprovalError::NotAwaitingApproval)
    ));

    // The reply is recorded; the case is back in the queue.
    approval::record_reply(
        &rt.store,
        case,
        "user:hl1",
        Some(&a),
        ReplyChannel::Web,
        "Jag har sökt tre lägenheter men inte fått någon.",
    )
    .await
    .unwrap();
    assert_eq!(
        rt.store.case_detail(case).await.unwrap().summary.state,
        CaseState::AwaitingApproval
    );
    // Now the delvis bifall can be decided, with the assessment confirmed.
    assert!(matches!(
        approval::approve(&rt.store, &s, &CH, case, &a).await,
        Err(ApprovalError::Invalid(m)) if m.contains("Bekräfta")
    ));
    approval::decide(&rt.store, &s, &CH, case, &a, &approve).await.unwrap();
    let t = text_of(&rt, case).await;
    assert_complete(&t, &dnr(&rt, case).await);
    assert!(t.contains("I övrigt avslås din ansökan"), "{t}");
    assert!(t.contains("Det här beviljas inte:"));
    assert!(t.contains("beviljas inte"));
    assert!(t.contains("Vi fick ditt svar"));
    assert!(t.contains("25 § förvaltningslagen (2017:900)"));
    rt.store.close().await;
}

#[tokio::test]
async fn at_the_deadline_the_case_returns_to_the_queue_marked() {
    let mut env = TestEnv::new(Engine::Sqlite).await;
    let clock = clock_at("2026-03-01T10:00:00Z");
    let (rt, ids) = cases_with_clock(&mut env, &["07-hyra-over-riktvarde-efter-radrum"], clock.clone()).await;
    let s = rt.settings.approval.clone();
    let a = official(1, &[Role::Handlaggare], None);
    approval::send_kommunicering(&rt.store, &s, &CH, ids[0], &a, "")
        .await
        .unwrap();
    assert_eq!(approval::expire_kommuniceringar(&rt.store).await.unwrap(), 0);
    clock.advance(chrono::Duration::days(7));
    assert_eq!(
        approval::expire_kommuniceringar(&rt.store).await.unwrap(),
        0,
        "the last day is still open"
    );
    clock.advance(chrono::Duration::days(1));
    assert_eq!(approval::expire_kommuniceringar(&rt.store).await.unwrap(), 1);
    let d = rt.store.case_detail(ids[0]).await.unwrap().summary;
    assert_eq!(d.state, CaseState::AwaitingApproval);
    assert!(d.state_reason.unwrap().contains("Svarstiden"));
    let codes: Vec<String> = approval::case_view(&rt.store, ids[0])
        .await
        .unwrap()
        .draft
        .unwrap()
        .assessments()
        .iter()
        .map(|x| x.code.clone())
        .collect();
    let req = DecisionRequest {
        ruling: Ruling::Proposal,
        confirmed: codes,
        skip_kommunicering: None,
    };
    approval::decide(&rt.store, &s, &CH, ids[0], &a, &req).await.unwrap();
    let t = text_of(&rt, ids[0]).await;
    assert!(t.contains("Vi har inte fått något svar."), "{t}");
    rt.store.close().await;
}
