use super::*;
use crate::draft::{Calculation, DraftParts, Row, Section};
use proptest::prelude::*;

fn row(label: &str, kr: i64) -> Row {
    Row::new(label, Money::from_ore(kr * 100))
}

fn draft(outcome: Outcome, amount: Option<i64>, norm: &[i64], costs: &[i64], incomes: &[i64]) -> Draft {
    let sec = |label: &str, v: &[i64]| {
        Section::new(
            v.iter()
                .enumerate()
                .map(|(i, k)| row(&format!("{label} {i}"), *k))
                .collect(),
        )
        .unwrap()
    };
    let codes = if outcome == Outcome::Manuell {
        vec!["nyansokan".parse().unwrap()]
    } else {
        vec![]
    };
    Draft::new(DraftParts {
        schema: crate::DRAFT_SCHEMA.into(),
        external_id: "EX-1".into(),
        period: "2026-12".parse().unwrap(),
        outcome,
        amount: amount.map(|k| Money::from_ore(k * 100)),
        codes,
        calculation: Calculation::contract_v2(
            sec("Norm", norm),
            sec("Kostnad", costs),
            sec("Inkomst", incomes),
            Section::default(),
        ),
        reasons: vec![Reason {
            code: "bistand".into(),
            text: "ROBOTENS SKÄL: du beviljas".into(),
            lagrum: "4 kap. 1 § socialtjänstlagen (2001:453)".into(),
        }],
        warnings: vec![],
        assessments: vec![],
        kommunicering: vec![],
        ruleset: RulesetRef {
            name: "r".into(),
            version: "2.0.0".into(),
            hash: "sha256:00".into(),
        },
        trace: vec![],
    })
    .unwrap()
}

fn input(d: &Draft, ruling: Ruling) -> DecisionInput<'_> {
    DecisionInput {
        draft: d,
        ruling,
        motivering_lagrum: "4 kap. 1 § socialtjänstlagen (2001:453)".into(),
        assessments: vec![],
        signatories: vec![Signatory {
            username: "ada".into(),
            name: "Ada Andersson".into(),
            title: "Socialsekreterare".into(),
            delegation: Some("Delegationsordning punkt 3.1".into()),
            role: SignatoryRole::Beslutsfattare,
        }],
        diarienummer: "SN 2026/000001".into(),
        decided_on: "2026-12-04".into(),
        kommunicering: KommuniceringOutcome::NotNeeded,
        fixed_amount: false,
    }
}

#[test]
fn the_proposal_is_decided_as_drafted_and_its_rows_add_up() {
    let d = draft(Outcome::Bifall, Some(9_750), &[4_180], &[5_570], &[]);
    let r = DecisionRecord::build(input(&d, Ruling::Proposal)).unwrap();
    assert_eq!((r.outcome, r.amount), (Outcome::Bifall, Money::from_ore(975_000)));
    assert_eq!(r.basis, Basis::Proposal);
    assert_eq!(r.reasons, d.reasons());
    r.check().unwrap();
    assert_eq!(DecisionRecord::from_json(&r.to_json()).unwrap(), r);
}

#[test]
fn a_proposal_whose_rows_do_not_give_its_amount_is_refused() {
    let d = draft(Outcome::Bifall, Some(9_000), &[4_180], &[5_570], &[]);
    assert!(matches!(
        DecisionRecord::build(input(&d, Ruling::Proposal)),
        Err(DecisionError::DoesNotAddUp { .. })
    ));
}

#[test]
fn a_manual_draft_cannot_be_approved_as_it_is_but_can_be_decided_with_a_motivering() {
    let d = draft(Outcome::Manuell, None, &[4_180], &[5_570], &[1_000]);
    assert!(DecisionRecord::build(input(&d, Ruling::Proposal)).is_err());
    let r = DecisionRecord::build(input(
        &d,
        Ruling::Rows {
            changes: vec![],
            motivering: "Utredningen visar att hushållet har rätt till bistånd.".into(),
        },
    ))
    .unwrap();
    assert_eq!((r.outcome, r.amount), (Outcome::Bifall, Money::from_ore(875_000)));
    assert_eq!(r.basis, Basis::AfterManualHandling);
    assert!(r.reasons.iter().all(|x| !x.text.contains("ROBOTENS")));
}

#[test]
fn lowering_a_cost_is_a_delvis_bifall_with_the_part_not_granted_line_by_line() {
    let d = draft(Outcome::Bifall, Some(9_750), &[4_180], &[5_570], &[]);
    let r = DecisionRecord::build(input(
        &d,
        Ruling::Rows {
            changes: vec![RowChange::Change {
                section: SectionKind::COSTS,
                index: 0,
                amount: Money::from_ore(500_000),
                reason: "Hyran godtas med riktvärdet.".into(),
            }],
            motivering: "Boendekostnaden är inte skälig.".into(),
        },
    ))
    .unwrap();
    assert_eq!((r.outcome, r.amount), (Outcome::DelvisBifall, Money::from_ore(918_000)));
    assert_eq!(r.not_granted.len(), 1);
    assert_eq!(r.not_granted[0].refused(), Money::from_ore(57_000));
    assert!(r.reasons.iter().all(|x| !x.text.contains("ROBOTENS")));
    assert_eq!(amount_of(&r.rows).unwrap(), r.amount);
}

#[test]
fn raising_the_amount_states_only_the_new_amount() {
    let d = draft(Outcome::Bifall, Some(9_750), &[4_180], &[5_570], &[]);
    let r = DecisionRecord::build(input(
        &d,
        Ruling::Rows {
            changes: vec![RowChange::Add {
                section: SectionKind::COSTS,
                label: "Hemförsäkring".into(),
                amount: Money::from_ore(20_000),
                reason: "Kostnaden styrks med faktura.".into(),
            }],
            motivering: "En kostnad saknades i ansökan.".into(),
        },
    ))
    .unwrap();
    assert_eq!((r.outcome, r.amount), (Outcome::Bifall, Money::from_ore(995_000)));
    assert!(r.not_granted.is_empty());
}

#[test]
fn avslag_on_the_officials_grounds_carries_only_their_motivering() {
    let d = draft(Outcome::Bifall, Some(9_750), &[4_180], &[5_570], &[]);
    let r = DecisionRecord::build(input(
        &d,
        Ruling::Avslag {
            motivering: "Du har inte stått till arbetsmarknadens förfogande.".into(),
        },
    ))
    .unwrap();
    assert_eq!(
        (r.outcome, r.amount, r.basis.clone()),
        (Outcome::Avslag, Money::ZERO, Basis::Avslag)
    );
    assert_eq!(r.reasons.len(), 1);
    assert!(r.reasons[0].text.starts_with("Du har inte"));
}

#[test]
fn bad_changes_are_refused_with_a_reason() {
    let d = draft(Outcome::Bifall, Some(9_750), &[4_180], &[5_570], &[]);
    let rows = |changes: Vec<RowChange>| {
        DecisionRecord::build(input(
            &d,
            Ruling::Rows {
                changes,
                motivering: "x".into(),
            },
        ))
    };
    let missing = rows(vec![RowChange::Remove {
        section: SectionKind::COSTS,
        index: 5,
        reason: "x".into(),
    }]);
    assert!(matches!(missing, Err(DecisionError::Invalid(m)) if m.contains("finns inte")));
    let no_reason = rows(vec![RowChange::Remove {
        section: SectionKind::COSTS,
        index: 0,
        reason: " ".into(),
    }]);
    assert!(no_reason.is_err());
    let twice = rows(vec![
        RowChange::Remove {
            section: SectionKind::NORM,
            index: 0,
            reason: "a".into(),
        },
        RowChange::Change {
            section: SectionKind::NORM,
            index: 0,
            amount: Money::from_ore(1),
            reason: "b".into(),
        },
    ]);
    assert!(twice.is_err());
    let negative = rows(vec![RowChange::Change {
        section: SectionKind::COSTS,
        index: 0,
        amount: Money::from_ore(-1),
        reason: "b".into(),
    }]);
    assert!(negative.is_err());
    let none = rows(vec![]);
    assert!(
        none.is_err(),
        "no change on a robot proposal is an approval, not an amendment"
    );
}

#[test]
fn a_tampered_record_does_not_check() {
    let d = draft(Outcome::Bifall, Some(9_750), &[4_180], &[5_570], &[]);
    let mut r = DecisionRecord::build(input(&d, Ruling::Proposal)).unwrap();
    r.amount = Money::from_ore(1_000_000);
    assert!(DecisionRecord::from_json(&r.to_json()).is_err());
}

fn change_strategy() -> impl Strategy<Value = RowChange> {
    let section = prop_oneof![
        Just(SectionKind::NORM),
        Just(SectionKind::COSTS),
        Just(SectionKind::INCOMES),
        Just(SectionKind::ASSETS)
    ];
    prop_oneof![
        (section.clone(), 0i64..2_000_000).prop_map(|(section, ore)| RowChange::Add {
            section,
            label: "Tillagd rad".into(),
            amount: Money::from_ore(ore),
            reason: "skäl".into(),
        }),
        (section.clone(), 0usize..4, 0i64..2_000_000).prop_map(|(section, index, ore)| RowChange::Change {
            section,
            index,
            amount: Money::from_ore(ore),
            reason: "skäl".into(),
        }),
        (section, 0usize..4).prop_map(|(section, index)| RowChange::Remove {
            section,
            index,
            reason: "skäl".into(),
        }),
    ]
}

proptest! {
    /// Whatever officials change, a record that is made adds up, states one
    /// outcome consistent with its amount, and carries none of the robot's
    /// superseded reasons.
    #[test]
    fn any_amendment_gives_a_record_that_adds_up(
        norm in proptest::collection::vec(0i64..10_000, 1..3),
        costs in proptest::collection::vec(0i64..10_000, 0..4),
        incomes in proptest::collection::vec(0i64..20_000, 0..3),
        changes in proptest::collection::vec(change_strategy(), 0..6),
        avslag in any::<bool>(),
    ) {
        let need: i64 = norm.iter().sum::<i64>() + costs.iter().sum::<i64>() - incomes.iter().sum::<i64>();
        let (outcome, amount) = if need > 0 { (Outcome::Bifall, Some(need)) } else { (Outcome::Avslag, Some(0)) };
        let d = draft(outcome, amount, &norm, &costs, &incomes);
        let ruling = if avslag {
            Ruling::Avslag { motivering: "Officials' grounds.".into() }
        } else {
            Ruling::Rows { changes, motivering: "Officials' grounds.".into() }
        };
        if let Ok(r) = DecisionRecord::build(input(&d, ruling)) {
            prop_assert!(r.check().is_ok());
            prop_assert_eq!(amount_of(&r.rows).unwrap(), r.amount);
            prop_assert!(r.reasons.iter().all(|x| !x.text.contains("ROBOTENS")));
            prop_assert_eq!(r.outcome == Outcome::Avslag, r.amount.is_zero());
            prop_assert_eq!(r.outcome == Outcome::DelvisBifall, !r.not_granted.is_empty() && !r.amount.is_zero());
            prop_assert_eq!(DecisionRecord::from_json(&r.to_json()).unwrap(), r);
        }
    }
}
