use crate::*;
use proptest::prelude::*;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "schema": "ekonomiskt-bistand/ansokan/v1",
        "external_id": "EX-2021-0003",
        "received_at": "2021-03-02T09:30:00+01:00",
        "period": "2021-03",
        "kind": "fortsatt",
        "applicant": "198504039820",
        "household": {
            "adults": [
                {"personnummer": "198504039820", "name": "Anna", "job_seeking": true},
                {"personnummer": "198709149838", "name": "Bo", "job_seeking": true, "relation": "sambo"}
            ],
            "children": [
                {"personnummer": "201603159862", "name": "Cia", "lunch_at_preschool": true},
                {"personnummer": "201308089885", "name": "Dan", "residence_share_percent": 50}
            ]
        },
        "costs": {"rent": 7900, "electricity": 450.5, "home_insurance": 180},
        "incomes": [
            {"person": "198504039820", "kind": "barnbidrag", "amount": 2500},
            {"person": "201308089885", "kind": "lon", "amount": 1200.25}
        ],
        "assets": [{"kind": "bankmedel", "amount": 1500}],
        "other_needs": [],
        "history": {"consecutive_months_with_bistand": 7, "jobbstimulans_months_used": 2, "rent_notice_period": "2020-11"},
        "register": {
            "job_seekers": ["198504039820", "198709149838"],
            "incomes": [{"person": "198504039820", "source": "FK", "kind": "barnbidrag", "amount": 2500}]
        }
    })
}

fn parse(v: &Value) -> Result<Application, ApplicationError> {
    Application::parse(v.to_string().as_bytes())
}

fn with(pointer: &str, value: Value) -> Value {
    let mut v = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    match target {
        Value::Object(m) => {
            if value.is_null() && key.starts_with('-') {
                m.remove(&key[1..]);
            } else {
                m.insert(key.to_string(), value);
            }
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        _ => panic!("bad pointer {pointer}"),
    }
    v
}

fn without(pointer: &str) -> Value {
    let mut v = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    target.as_object_mut().unwrap().remove(key);
    v
}

#[track_caller]
fn check_invalid(v: Value, pointer: &str) {
    match parse(&v) {
        Err(e @ ApplicationError::Invalid(_)) => {
            assert!(
                e.pointers().contains(&pointer),
                "want {pointer}, got {:?}",
                e.pointers()
            )
        }
        other => panic!("want invalid at {pointer}, got {other:?}"),
    }
}

#[test]
fn the_base_application_parses_into_typed_values() {
    let app = parse(&base()).unwrap();
    assert_eq!(app.external_id(), "EX-2021-0003");
    assert_eq!(app.period().to_string(), "2021-03");
    assert_eq!(app.kind(), ApplicationKind::Fortsatt);
    assert_eq!(app.household().size(), 4);
    assert_eq!(app.household().adults[1].relation, Some(Relation::Sambo));
    assert!(!app.household().children[1].lunch_at_preschool);
    assert!(app.household().children[0].lunch_at_preschool);
    assert_eq!(app.household().children[1].residence_share_percent, 50);
    assert_eq!(app.household().children[0].residence_share_percent, 100);
    assert_eq!(app.costs().electricity, Money::from_ore(45_050));
    assert_eq!(app.costs().childcare, Money::ZERO);
    assert_eq!(app.incomes()[1].amount, Money::from_ore(120_025));
    assert_eq!(app.incomes()[1].kind, IncomeKind::Lon);
    assert_eq!(app.history().rent_notice_period.unwrap().to_string(), "2020-11");
    assert_eq!(app.register().unwrap().incomes.len(), 1);
    assert_eq!(app.subjects().count(), 4);
}

#[test]
fn optional_parts_default() {
    let mut v = base();
    let o = v.as_object_mut().unwrap();
    for k in ["costs", "incomes", "assets", "other_needs", "history", "register"] {
        o.remove(k);
    }
    o["household"].as_object_mut().unwrap().remove("children");
    o["household"]["adults"][0]
        .as_object_mut()
        .unwrap()
        .remove("job_seeking");
    v["household"]["adults"].as_array_mut().unwrap().pop();
    let app = parse(&v).unwrap();
    assert_eq!(app.costs(), &Costs::default());
    assert!(app.register().is_none());
    assert_eq!(app.history(), &History::default());
    assert!(
        !app.household().adults[0].job_seeking,
        "a missing job_seeking counts as false"
    );
}

#[test]
fn every_field_is_validated_with_its_pointer() {
    let cases: Vec<(Value, &str)> = vec![
        (with("/schema", json!("ekonomiskt-bistand/ansokan/v2")), "/schema"),
        (without("/schema"), "/schema"),
        (with("/external_id", json!("")), "/external_id"),
        (with("/external_id", json!("EX 1")), "/external_id"),
        (with("/external_id", json!("x".repeat(65))), "/external_id"),
        (with("/external_id", json!(17)), "/external_id"),
        (with("/received_at", json!("2021-03-02 kl 09")), "/received_at"),
        (with("/received_at", json!("2021-03-02")), "/received_at"),
        (with("/period", json!("2021-13")), "/period"),
        (with("/period", json!("2021-3")), "/period"),
        (without("/period"), "/period"),
        (with("/kind", json!("ny")), "/kind"),
        (with("/applicant", json!("198112189876")), "/applicant"),
        (with("/applicant", json!("198504039821")), "/applicant"),
        (with("/household", json!([])), "/household"),
        (with("/household/adults", json!([])), "/household/adults"),
        (
            with("/household/adults/0/personnummer", json!("198504039821")),
            "/household/adults/0/personnummer",
        ),
        (
            with("/household/adults/1/personnummer", json!("198504039820")),
            "/household/adults/1/personnummer",
        ),
        (with("/household/adults/0/name", json!("")), "/household/adults/0/name"),
        (
            with("/household/adults/0/job_seeking", json!("ja")),
            "/household/adults/0/job_seeking",
        ),
        (
            with("/household/adults/1/relation", json!("kusin")),
            "/household/adults/1/relation",
        ),
        (
            with("/household/adults/0/personnummer", json!("202105012387")),
            "/household/adults/0/personnummer",
        ),
        (
            with(
                "/household/children/0",
                json!({"personnummer": "200002289874", "name": "Stor"}),
            ),
            "/household/children/0",
        ),
        (
            with("/household/children/1/personnummer", json!("201603159862")),
            "/household/children/1/personnummer",
        ),
        (
            with("/household/children/0/residence_share_percent", json!(0)),
            "/household/children/0/residence_share_percent",
        ),
        (
            with("/household/children/0/residence_share_percent", json!(101)),
            "/household/children/0/residence_share_percent",
        ),
        (
            with("/household/children/0/residence_share_percent", json!(50.5)),
            "/household/children/0/residence_share_percent",
        ),
        (
            with("/household/children/0/lunch_at_preschool", json!(1)),
            "/household/children/0/lunch_at_preschool",
        ),
        (
            with("/household/dwelling_persons", json!(3)),
            "/household/dwelling_persons",
        ),
        (
            with("/household/dwelling_persons", json!(-5)),
            "/household/dwelling_persons",
        ),
        (with("/costs/rent", json!(-1)), "/costs/rent"),
        (with("/costs/rent", json!("7900")), "/costs/rent"),
        (with("/costs/electricity", json!(450.555)), "/costs/electricity"),
        (with("/costs", json!(5)), "/costs"),
        (with("/incomes/1/kind", json!("lotteri")), "/incomes/1/kind"),
        (with("/incomes/0/person", json!("198112189876")), "/incomes/0/person"),
        (with("/incomes/0/amount", json!(-100)), "/incomes/0/amount"),
        (with("/incomes", json!({})), "/incomes"),
        (with("/assets/0/kind", json!("guld")), "/assets/0/kind"),
        (with("/assets/0/amount", json!(1e12)), "/assets/0/amount"),
        (
            with("/other_needs", json!([{"kind": "tandvard", "amount": 900}])),
            "/other_needs/0/description",
        ),
        (
            with("/history/consecutive_months_with_bistand", json!(-1)),
            "/history/consecutive_months_with_bistand",
        ),
        (
            with("/history/rent_notice_period", json!("nov")),
            "/history/rent_notice_period",
        ),
        (
            with("/history/jobbstimulans_start", json!("2021-3")),
            "/history/jobbstimulans_start",
        ),
        (
            with("/history/jobbstimulans_start", json!("2021-04")),
            "/history/jobbstimulans_start",
        ),
        (
            with("/household/children/0/in_school", json!("ja")),
            "/household/children/0/in_school",
        ),
        (
            with("/household/children/1/wage_earlier_this_year", json!(-1)),
            "/household/children/1/wage_earlier_this_year",
        ),
        (
            with("/household/children/1/wage_earlier_this_year", json!(100.001)),
            "/household/children/1/wage_earlier_this_year",
        ),
        (
            with("/household/children/1/wage_earlier_this_year", json!("100")),
            "/household/children/1/wage_earlier_this_year",
        ),
        (
            with("/register/job_seekers/0", json!("19850403-9821")),
            "/register/job_seekers/0",
        ),
        (with("/register/incomes/0/kind", json!("x")), "/register/incomes/0/kind"),
        (
            with("/register/incomes/0/person", json!("198112189876")),
            "/register/incomes/0/person",
        ),
    ];
    for (v, pointer) in cases {
        check_invalid(v, pointer);
    }
}

#[test]
fn contract_v2_fields_parse_and_default() {
    // v1 shape: the new fields take their defaults.
    let app = parse(&base()).unwrap();
    let c = &app.household().children[1];
    assert!(!c.in_school);
    assert_eq!(c.wage_earlier_this_year, Money::ZERO);
    assert_eq!(app.history().jobbstimulans_start, None);

    let mut v = base();
    v["household"]["children"][1]["in_school"] = json!(true);
    v["household"]["children"][1]["wage_earlier_this_year"] = json!(38000.07);
    v["history"]["jobbstimulans_start"] = json!("2019-06");
    let app = parse(&v).unwrap();
    let c = &app.household().children[1];
    assert!(c.in_school);
    assert_eq!(c.wage_earlier_this_year, Money::from_ore(3_800_007));
    assert_eq!(app.history().jobbstimulans_start.unwrap().to_string(), "2019-06");

    // A start in the period itself is valid; the month after is not.
    v["history"]["jobbstimulans_start"] = json!("2021-03");
    assert!(parse(&v).is_ok());
    v["history"]["jobbstimulans_start"] = json!("2021-04");
    check_invalid(v, "/history/jobbstimulans_start");
}

#[test]
fn a_child_is_judged_by_age_on_the_first_day_of_the_period() {
    // Born 2000-03-01: 21 on 2021-03-01 (invalid), 20 on 2021-02-01 (valid).
    let pnr = {
        let c = luhn_check_digit(b"000301123");
        format!("20000301123{c}")
    };
    let v = with("/household/children/0", json!({"personnummer": pnr, "name": "Ung"}));
    check_invalid(v.clone(), "/household/children/0");
    let mut ok = v;
    ok["period"] = json!("2021-02");
    assert!(parse(&ok).is_ok());
}

#[test]
fn a_child_born_during_the_period_is_accepted_but_not_after() {
    let mk = |ymd: &str| {
        let c = luhn_check_digit(format!("{}123", &ymd[2..]).as_bytes());
        format!("{ymd}123{c}")
    };
    let v = with(
        "/household/children/0",
        json!({"personnummer": mk("20210331"), "name": "Ny"}),
    );
    assert!(parse(&v).is_ok());
    let v = with(
        "/household/children/0",
        json!({"personnummer": mk("20210401"), "name": "Ofödd"}),
    );
    check_invalid(v, "/household/children/0/personnummer");
}

#[test]
fn ten_digit_numbers_are_normalised() {
    let v = with("/applicant", json!("850403-9820"));
    let app = parse(&v).unwrap();
    assert_eq!(app.applicant().as_str(), "198504039820");
}

#[test]
fn unknown_fields_are_ignored_and_nulls_are_absent() {
    let mut v = base();
    v["extra"] = json!({"anything": [1, 2, 3]});
    v["costs"]["parking"] = json!(-5);
    v["costs"]["childcare"] = Value::Null;
    let app = parse(&v).unwrap();
    assert_eq!(app.costs().childcare, Money::ZERO);
}

#[test]
fn unreadable_documents_have_no_pointer() {
    assert!(matches!(
        Application::parse(b"{not json"),
        Err(ApplicationError::NotJson { .. })
    ));
    assert!(matches!(
        Application::parse(b"\xff\xfe{}"),
        Err(ApplicationError::NotUtf8 { .. })
    ));
    assert!(matches!(Application::parse(b""), Err(ApplicationError::NotJson { .. })));
    let big = vec![b' '; MAX_APPLICATION_BYTES + 1];
    assert!(matches!(
        Application::parse(&big),
        Err(ApplicationError::TooLarge { .. })
    ));
    // The real size and the real limit (review I-6).
    assert_eq!(
        Application::parse(&big).unwrap_err().to_string(),
        "ansökan är 1048577 byte, större än gränsen 1 MiB (1048576 byte)"
    );
    assert_eq!(Application::parse(b"[]").unwrap_err().pointers(), vec![""]);
    // Trailing garbage after the object.
    assert!(matches!(
        Application::parse(b"{} x"),
        Err(ApplicationError::NotJson { .. })
    ));
}

#[test]
fn duplicate_keys_are_refused() {
    let text = base()
        .to_string()
        .replacen(r#""kind":"fortsatt""#, r#""kind":"fortsatt","kind":"nyansokan""#, 1);
    let e = Application::parse(text.as_bytes()).unwrap_err();
    assert!(e.pointers().contains(&"/kind"), "{e:?}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let mut v = base();
    v["costs"]["rent"] = json!(-1);
    v["incomes"][1]["kind"] = json!("x");
    let e = parse(&v).unwrap_err();
    assert_eq!(e.pointers(), vec!["/costs/rent", "/incomes/1/kind"]);
}

#[test]
fn with_register_refuses_strangers() {
    let app = parse(&base()).unwrap();
    let stranger = Personnummer::parse("198112189876", app.period().first_day()).unwrap();
    let reg = Register {
        job_seekers: vec![stranger],
        incomes: vec![],
    };
    assert_eq!(
        app.clone().with_register(reg).unwrap_err().pointers(),
        vec!["/register/job_seekers/0"]
    );
    let own = Register {
        job_seekers: vec![*app.applicant()],
        incomes: vec![],
    };
    assert_eq!(app.with_register(own).unwrap().register().unwrap().job_seekers.len(), 1);
}

const AMOUNT_POINTERS: &[&str] = &[
    "/costs/rent",
    "/costs/electricity",
    "/incomes/0/amount",
    "/assets/0/amount",
];

proptest! {
    #[test]
    fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Application::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_documents(idx in 0usize..2000, ch in any::<char>()) {
        let text = base().to_string();
        let mut s: Vec<char> = text.chars().collect();
        let i = idx % s.len();
        s[i] = ch;
        let t: String = s.into_iter().collect();
        let _ = Application::parse(t.as_bytes());
    }

    #[test]
    fn any_amount_with_two_decimals_is_exact(which in 0usize..4, kr in 0u64..10_000_000, ore in 0u64..100) {
        let pointer = AMOUNT_POINTERS[which];
        let text = base().to_string();
        let mut v = base();
        *v.pointer_mut(pointer).unwrap() = json!(0);
        // Write the literal into the text so no float is involved.
        let marker = v.to_string();
        let _ = text;
        let literal = format!("{kr}.{ore:02}");
        let doc = marker.replacen(&format!("\"{}\":0", pointer.rsplit('/').next().unwrap()), &format!("\"{}\":{literal}", pointer.rsplit('/').next().unwrap()), 1);
        let app = Application::parse(doc.as_bytes()).unwrap();
        let got = match pointer {
            "/costs/rent" => app.costs().rent,
            "/costs/electricity" => app.costs().electricity,
            "/incomes/0/amount" => app.incomes()[0].amount,
            _ => app.assets()[0].amount,
        };
        prop_assert_eq!(got.ore(), (kr * 100 + ore) as i64);
    }

    #[test]
    fn a_third_decimal_is_refused_at_its_pointer(which in 0usize..4, kr in 0u64..1_000_000, milli in 1u64..10) {
        let pointer = AMOUNT_POINTERS[which];
        let mut v = base();
        *v.pointer_mut(pointer).unwrap() = json!(0);
        let key = pointer.rsplit('/').next().unwrap();
        let doc = v.to_string().replacen(&format!("\"{key}\":0"), &format!("\"{key}\":{kr}.00{milli}"), 1);
        let e = Application::parse(doc.as_bytes()).unwrap_err();
        prop_assert!(e.pointers().contains(&pointer));
    }
}
