//! XML handling and mapping on recorded documents (`samples/`), written
//! from the contract's schemas: a full answer with all four parts, a person
//! unknown to the registers, faults, a part's error, the ping's answer, and
//! malformed variants of each.

use super::contract::{self, Answer, Request};
use super::*;
use base64::Engine as _;

const PNR: &str = "198112189876";
const FULL: &str = include_str!("samples/answer-full.xml");
const NOT_REGISTERED: &str = include_str!("samples/answer-not-registered.xml");
const PART_ERROR: &str = include_str!("samples/answer-part-error.xml");
const FAULT_SERVER: &str = include_str!("samples/fault-server.xml");
const FAULT_CLIENT: &str = include_str!("samples/fault-client.xml");
const TEST_ANSWER: &str = include_str!("samples/test-answer.xml");
const LEFI: &str = include_str!("samples/lefi-svar.json");
const CSN: &str = include_str!("samples/csn-svar.xml");

fn pnr(s: &str) -> Personnummer {
    Personnummer::parse(s, "2021-03-01".parse().unwrap()).unwrap()
}

fn period(s: &str) -> Period {
    s.parse().unwrap()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn svar(doc: &str) -> Svar {
    match contract::read_answer(doc.as_bytes()).unwrap() {
        Answer::Ok(s) => s,
        Answer::Fault(f) => panic!("unexpected fault {f:?}"),
    }
}

/// Reads and maps a document as the connector does after HTTP 200.
fn map(doc: &str, person: &str, p: &str, parts: Parts) -> Result<PersonAnswer, ConnectorError> {
    match interpret("lookup", 200, doc.as_bytes(), contract::read_answer)? {
        Answer::Ok(s) => to_person_answer(&s, "hrobot-0", parts, &pnr(person), period(p)),
        Answer::Fault(f) => Err(fault_error("lookup", &f)),
    }
}

fn income(source: &str, kind: IncomeKind, ore: i64) -> RegisterIncome {
    RegisterIncome {
        source: source.into(),
        kind,
        amount: Money::from_ore(ore),
    }
}

fn assert_private(e: &ConnectorError) {
    let text = e.to_string();
    for secret in [PNR, "8112189876", "Testsson", "3250", "6500", "8123", "1250", "10864"] {
        assert!(!text.contains(secret), "{secret} in {text:?}");
    }
}

#[test]
fn the_request_follows_the_contract() {
    let ingivare = Ingivare {
        organisationsnummer: "162120000000".into(),
        namn: "Åre & Söner <socialnämnden>".into(),
        handlaggare: "hrobot".into(),
    };
    let groups = vec!["FK:ABB".to_string(), "FK:SJP".to_string()];
    let r = Request {
        korrelationsid: "hrobot-7",
        ingivare: &ingivare,
        personidentitet: PNR,
        arendeidentitet: "EX-2021-0009",
        from: "2021-03-01",
        tom: "2021-03-31",
        syfte: "Handläggning av ekonomiskt bistånd",
        lagtext: "11 kap. 11 § socialtjänstlagen (2001:453)",
        parts: Parts {
            csn: false,
            ..Parts::default()
        },
        fk: Some(contract::FkQuestion {
            version: "v9",
            aktorsid: "9255f428-4ba0-63ce-5407-e65d469fac0f",
            formansgrupper: &groups,
        }),
    };
    let doc = r.to_xml();
    let root = xml::parse(&doc).unwrap();
    assert!(root.is(contract::SOAP11, "Envelope"));
    let call = &root.child(contract::SOAP11, "Body").unwrap().children[0];
    assert!(call.is(contract::SSBT, "hamtaBastjanstInformation"));
    let g = call.child(contract::SSBT, "generellaFrageparametrar").unwrap();
    let order: Vec<&str> = g.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        order,
        [
            "korrelationsid",
            "fraganSkallInkluderasISvaret",
            "ingivare",
            "personidentitet",
            "arendeidentitet",
            "tidsperiod",
            "syfte",
            "lagtext"
        ]
    );
    let ing = g.child(contract::SSBT, "ingivare").unwrap();
    assert_eq!(
        ing.child(contract::SSBT, "namn").unwrap().text(),
        "Åre & Söner <socialnämnden>"
    );
    assert_eq!(g.child(contract::SSBT, "personidentitet").unwrap().text(), PNR);
    let t = g.child(contract::SSBT, "tidsperiod").unwrap();
    assert_eq!(t.child(contract::SSBT, "fromDatum").unwrap().text(), "2021-03-01");
    assert_eq!(t.child(contract::SSBT, "tomDatum").unwrap().text(), "2021-03-31");
    let s = call.child(contract::SSBT, "specifikaFrageparametrar").unwrap();
    let flags: Vec<(&str, &str)> = s
        .children
        .iter()
        .map(|c| (c.name.as_str(), c.attr("inkludera").unwrap()))
        .collect();
    assert_eq!(
        flags,
        [
            ("AF", "true"),
            ("CSN", "false"),
            ("FK", "true"),
            ("SKV", "false"),
            ("SO", "true"),
            ("TNS", "false"),
            ("MIV", "false")
        ]
    );
    let fraga = s
        .child(contract::SSBT, "FK")
        .unwrap()
        .child(contract::SSBT, "fraga")
        .unwrap();
    assert_eq!(fraga.child(contract::SSBT, "version").unwrap().text(), "v9");
    let json = base64::engine::general_purpose::STANDARD
        .decode(fraga.child(contract::SSBT, "lefiJsonFraga").unwrap().text())
        .unwrap();
    let q: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(q["personnummer"], PNR);
    assert_eq!(
        q["period"],
        serde_json::json!({"from": "2021-03-01", "tom": "2021-03-31"})
    );
    assert_eq!(q["utbetalningar"], serde_json::json!(["FK:ABB", "FK:SJP"]));

    let ping = xml::parse(&contract::test_request()).unwrap();
    let body = ping.child(contract::SOAP11, "Body").unwrap();
    assert!(body.children[0].is(contract::SSBT, "testaBastjanstInformation"));
}

#[test]
fn the_samples_embed_the_lefi_and_csn_documents() {
    let root = xml::parse(FULL.as_bytes()).unwrap();
    let body = root.child(contract::SOAP11, "Body").unwrap();
    let data = |part: &str| {
        body.children[0]
            .child(contract::SSBT, "svarsdata")
            .unwrap()
            .child(contract::SSBT, part)
            .unwrap()
            .child(contract::SSBT, "data")
            .unwrap()
            .clone()
    };
    let decode = |t: &str| {
        let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(t).unwrap()
    };
    let lefi = decode(data("FK").child(contract::SSBT, "lefiJsonSvar").unwrap().text());
    assert_eq!(lefi, LEFI.as_bytes());
    let csn = decode(data("CSN").child(contract::SSBT, "svar").unwrap().text());
    assert_eq!(csn, CSN.as_bytes());
}

#[test]
fn a_full_answer_maps_every_part_exactly() {
    let a = map(FULL, PNR, "2021-03", Parts::default()).unwrap();
    assert!(a.job_seeker);
    assert_eq!(
        a.incomes,
        [
            // two a-kassa payments in March (NettoEfterSkatt); February's is not counted
            income("AKASSA", IncomeKind::AKassa, 325_025 + 324_975),
            // the paid studiemedel in March; April's planned one is not
            income("CSN", IncomeKind::Studiemedel, 1_086_400),
            // gross minus tax, effected and preliminary: 8123.45 − 2436.00 + 100.10 − 30.03
            income("FK", IncomeKind::Sjukpenning, 812_345 - 243_600 + 10_010 - 3_003),
            income("FK", IncomeKind::Barnbidrag, 125_000),
        ]
    );
}

#[test]
fn only_payments_dated_in_the_period_count() {
    let a = map(FULL, PNR, "2021-04", Parts::default()).unwrap();
    assert_eq!(a.incomes, [income("CSN", IncomeKind::Studiemedel, 1_086_400)]);
    let a = map(FULL, PNR, "2021-02", Parts::default()).unwrap();
    assert_eq!(
        a.incomes,
        [
            income("AKASSA", IncomeKind::AKassa, 300_000),
            income("FK", IncomeKind::Barnbidrag, 125_000)
        ]
    );
}

#[test]
fn parts_not_asked_are_ignored_and_parts_asked_must_be_there() {
    let only_af = Parts {
        arbetsformedlingen: true,
        forsakringskassan: false,
        csn: false,
        akassor: false,
    };
    let a = map(FULL, PNR, "2021-03", only_af).unwrap();
    assert_eq!(
        a,
        PersonAnswer {
            job_seeker: true,
            incomes: vec![]
        }
    );

    let child = "201603159862";
    let af_so = Parts {
        akassor: true,
        ..only_af
    };
    assert_eq!(
        map(NOT_REGISTERED, child, "2021-03", af_so).unwrap(),
        PersonAnswer::default()
    );
    let e = map(NOT_REGISTERED, child, "2021-03", Parts::default()).unwrap_err();
    assert!(!e.is_retriable());
    assert!(e.message.contains("part is missing from the answer"), "{e}");
}

#[test]
fn faults_say_whether_to_retry_and_never_repeat_their_text() {
    let e = map(FAULT_SERVER, PNR, "2021-03", Parts::default()).unwrap_err();
    assert!(e.is_retriable());
    assert_eq!(e.message, "lookup: SOAP fault Server (felkod SSBT-503)");
    assert_private(&e);
    let e = map(FAULT_CLIENT, PNR, "2021-03", Parts::default()).unwrap_err();
    assert!(!e.is_retriable());
    assert_eq!(e.message, "lookup: SOAP fault Client");

    // SOAP 1.1 sends faults with HTTP 500: read them there too.
    let server = interpret("lookup", 500, FAULT_SERVER.as_bytes(), contract::read_answer).unwrap();
    assert!(matches!(server, Answer::Fault(f) if f.code == "Server"));
    let client = interpret("lookup", 500, FAULT_CLIENT.as_bytes(), contract::read_answer).unwrap();
    assert!(matches!(client, Answer::Fault(f) if f.code == "Client"));
}

#[test]
fn http_statuses_are_classified() {
    let read = contract::read_answer;
    for (status, body, retriable) in [
        (200, "<oops", false),
        (500, "<html>Internal Server Error</html>", true),
        (502, "", true),
        (503, FULL, true),
        (408, "", true),
        (429, "", true),
        (400, "", false),
        (401, "", false),
        (403, "", false),
        (404, "", false),
        (302, "", false),
    ] {
        let e = interpret("lookup", status, body.as_bytes(), read).unwrap_err();
        assert_eq!(e.is_retriable(), retriable, "HTTP {status}: {e}");
    }
}

#[test]
fn a_parts_error_is_retriable_and_names_only_codes() {
    let so = Parts {
        arbetsformedlingen: false,
        forsakringskassan: false,
        csn: false,
        akassor: true,
    };
    let e = map(PART_ERROR, PNR, "2021-03", so).unwrap_err();
    assert!(e.is_retriable());
    assert_eq!(
        e.message,
        "lookup: the SO part answered with an error (kalla SSBT, felkod TIMEOUT)"
    );
    assert_private(&e);
}

#[test]
fn the_pings_answer_lists_each_part_and_its_error() {
    let Answer::Ok(t) = contract::read_test_answer(TEST_ANSWER.as_bytes()).unwrap() else {
        panic!("fault")
    };
    let names: Vec<&str> = t.parts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["AF", "CSN", "FK", "SO"]);
    assert_eq!(t.parts[3].1.as_ref().unwrap().felkod, "503");
    assert!(t.parts[..3].iter().all(|(_, e)| e.is_none()));
}

fn with_lefi(json: &str) -> String {
    FULL.replace(&b64(LEFI), &b64(json))
}

fn with_csn(doc: &str) -> String {
    let root = xml::parse(FULL.as_bytes()).unwrap();
    let svar = root.children[0].children[0]
        .child(contract::SSBT, "svarsdata")
        .unwrap()
        .child(contract::SSBT, "CSN")
        .unwrap()
        .child(contract::SSBT, "data")
        .unwrap()
        .child(contract::SSBT, "svar")
        .unwrap()
        .text
        .clone();
    assert!(FULL.contains(&svar));
    FULL.replace(&svar, &b64(doc))
}

#[test]
fn malformed_and_unknown_answers_are_permanent_and_private() {
    let cases: Vec<(&str, String)> = vec![
        ("truncated", FULL[..FULL.len() / 2].to_string()),
        ("empty", String::new()),
        ("not XML", "Internal error for 198112189876".into()),
        (
            "SOAP 1.2",
            FULL.replace(
                "http://schemas.xmlsoap.org/soap/envelope/",
                "http://www.w3.org/2003/05/soap-envelope",
            ),
        ),
        (
            "other service namespace",
            FULL.replace(
                "http://schema.forsakringskassan.se/integration/ssbt/10",
                "http://schema.forsakringskassan.se/integration/ssbt/9",
            ),
        ),
        ("Swedish amount text", FULL.replace(">3250.25<", ">3 250,25<")),
        ("three decimals", FULL.replace(">3250.25<", ">3250.255<")),
        ("bad date", FULL.replace(">2021-03-24<", ">2021-02-30<")),
        (
            "unknown AF status",
            FULL.replace(
                "StatusSokandeinformationKod>0<",
                "StatusSokandeinformationKod>7<",
            ),
        ),
        ("AF boolean", FULL.replace("Arbetssokande>true<", "Arbetssokande>ja<")),
        (
            "AF about another person",
            FULL.replace(
                "<ns3:IdentitetsbeteckningFysiskPerson>198112189876<",
                "<ns3:IdentitetsbeteckningFysiskPerson>198504039820<",
            ),
        ),
        (
            "SO about another person",
            FULL.replace(">198112189876</ns4:IdentificationNumber>", ">198504039820</ns4:IdentificationNumber>"),
        ),
        ("korrelationsid", FULL.replace(">hrobot-0<", ">hrobot-1<")),
        ("not base64", FULL.replace(&b64(LEFI), "!!!not base64!!!")),
        ("LEFI not JSON", with_lefi("{\"utlamnare\": [")),
        ("unknown formansfamilj", with_lefi(&LEFI.replace("\"id\": \"ABB\"", "\"id\": \"XYZ\""))),
        ("other currency", with_lefi(&LEFI.replacen("\"SEK\"", "\"EUR\"", 1))),
        ("unknown tillstand", with_lefi(&LEFI.replace("\"kod\": \"OK\"", "\"kod\": \"KANSKE\""))),
        (
            "obehörig",
            with_lefi(&LEFI.replace(
                "\"utbetalningar\": []",
                "\"utbetalningar\": [{\"avvikelse\": {\"kod\": \"OBEHORIG\"}, \"formansgrupp\": {\"kod\": \"FK:SJP\", \"beskrivning\": \"Sjukpenning\"}}]",
            )),
        ),
        (
            "negative total",
            with_lefi(&LEFI.replace("\"summa\": 8123.45", "\"summa\": -8123.45")),
        ),
        ("CSN result", with_csn(&CSN.replace("ResultatKod>0<", "ResultatKod>E17<"))),
        ("CSN other person", with_csn(&CSN.replace("8112189876", "8504039820"))),
        ("CSN status", with_csn(&CSN.replace(">Utbetald<", ">Kanske<"))),
        ("CSN decimals", with_csn(&CSN.replace("totbelopp>10864</gem:totbelopp>\n              </sm", "totbelopp>10864.50</gem:totbelopp>\n              </sm"))),
        ("CSN not XML", with_csn("<csn:CSNSvar")),
        (
            "a DTD",
            FULL.replace(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                "<?xml version=\"1.0\"?><!DOCTYPE soap:Envelope [<!ENTITY x \"198112189876\">]>",
            ),
        ),
        ("unknown kalla", PART_ERROR.replace(">SSBT<", ">OKAND<")),
    ];
    for (what, doc) in cases {
        assert_ne!(doc, FULL, "{what}: the mutation did not apply");
        let e = map(&doc, PNR, "2021-03", Parts::default()).unwrap_err();
        assert!(!e.is_retriable(), "{what}: {e}");
        assert_private(&e);
    }
}

#[test]
fn lefi_deviations_and_unavailable_registers_are_retriable() {
    for json in [
        LEFI.replace("\"kod\": \"OK\"", "\"kod\": \"OTILLGANGLIG\""),
        LEFI.replace(
            "\"preliminaraUtbetalningar\": []",
            "\"preliminaraUtbetalningar\": [{\"avvikelse\": {\"kod\": \"INTERNT_FEL\"}}]",
        ),
    ] {
        let e = map(&with_lefi(&json), PNR, "2021-03", Parts::default()).unwrap_err();
        assert!(e.is_retriable(), "{e}");
    }
}

#[test]
fn job_seeker_status_follows_deregistration() {
    let deregistered = |date: &str| {
        FULL.replace(
            "<ns3:ArbetssokandeOmfattning>",
            &format!(
                "<ns3:ArbetssokandeAvaktualiserad>{date}</ns3:ArbetssokandeAvaktualiserad><ns3:ArbetssokandeOmfattning>"
            ),
        )
    };
    assert!(
        !map(&deregistered("2021-02-28"), PNR, "2021-03", Parts::default())
            .unwrap()
            .job_seeker
    );
    assert!(
        map(&deregistered("2021-03-01"), PNR, "2021-03", Parts::default())
            .unwrap()
            .job_seeker
    );
    let not = FULL.replace("Arbetssokande>true<", "Arbetssokande>false<");
    assert!(!map(&not, PNR, "2021-03", Parts::default()).unwrap().job_seeker);
    let a = svar(FULL);
    assert!(matches!(a.af, Some(Part::Data(ref af)) if af.status_kod == 0));
}

#[test]
fn dates_and_amounts_are_read_exactly() {
    assert_eq!(Date::parse_xs("2024-02-29"), Some(Date { y: 2024, m: 2, d: 29 }));
    assert_eq!(Date::parse_xs("2023-02-29"), None);
    assert_eq!(Date::parse_xs("2021-03-10Z"), Some(Date { y: 2021, m: 3, d: 10 }));
    assert_eq!(Date::parse_xs("2021-03-10+01:00"), Some(Date { y: 2021, m: 3, d: 10 }));
    assert_eq!(Date::parse_xs("2021-3-10"), None);
    assert_eq!(Date::parse_xs("2021-03-10T12:00"), None);
    assert_eq!(Date::parse_compact("20210325"), Some(Date { y: 2021, m: 3, d: 25 }));
    assert_eq!(Date::parse_compact("2021032"), None);
    assert_eq!(contract::decimal_kronor("0.1"), Some(Money::from_ore(10)));
    assert_eq!(contract::decimal_kronor("-12.25"), Some(Money::from_ore(-1225)));
    assert_eq!(contract::decimal_kronor("6500"), Some(Money::from_ore(650_000)));
    for bad in ["", "-", ".5", "1,5", "1 000", "1e3", "0.001", "NaN", "١٢"] {
        assert_eq!(contract::decimal_kronor(bad), None, "{bad}");
    }
}

#[test]
fn codes_from_the_other_side_are_shown_only_when_harmless() {
    assert_eq!(code_text("SSBT-503"), "SSBT-503");
    assert_eq!(code_text("198112189876"), "(not shown)");
    assert_eq!(code_text("E-811218-9876"), "(not shown)");
    assert_eq!(code_text("fel för Anna"), "(not shown)");
    assert_eq!(code_text(&"A".repeat(41)), "(not shown)");
}

#[test]
fn every_lefi_group_has_a_kind() {
    for g in FK_GROUPS {
        assert!(fk_income_kind(g).is_some(), "{g}");
        assert_eq!(fk_income_kind(g), fk_income_kind(&format!("FK:{g}")));
    }
    assert_eq!(fk_income_kind("PM:AP"), None);
    assert_eq!(fk_income_kind("XYZ"), None);
}

fn config_json() -> serde_json::Value {
    serde_json::json!({
        "endpoint": "https://ssbtek.example.se/ssbt/v10",
        "client_cert": "client.pem",
        "client_key": "client.key",
        "ca": "ca.pem",
        "syfte": "Handläggning av ekonomiskt bistånd",
        "lagtext": "11 kap. 11 § socialtjänstlagen (2001:453)",
        "ingivare": {"organisationsnummer": "212000-0000", "namn": "Exempelkommun", "handlaggare": "hrobot"},
        "forsakringskassan": {"aktorsid": "9255f428-4ba0-63ce-5407-e65d469fac0f"},
    })
}

#[test]
fn the_config_is_typed_and_strict() {
    let c: SsbtekConfig = serde_json::from_value(config_json()).unwrap();
    assert_eq!(c.parts, Parts::default());
    assert_eq!(c.timeout_seconds, 20);
    assert_eq!(c.forsakringskassan.lefi_version, "v9");
    let mut bad = config_json();
    bad["passwd"] = serde_json::json!("x");
    assert!(serde_json::from_value::<SsbtekConfig>(bad).is_err());
    let mut bad = config_json();
    bad["parts"] = serde_json::json!({"skatteverket": true});
    assert!(serde_json::from_value::<SsbtekConfig>(bad).is_err());

    // The runtime's lookup settings are an internally tagged enum: the
    // config must fit in one as a variant (`kind = "ssbtek"`).
    #[derive(Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    enum Lookup {
        Ssbtek(SsbtekConfig),
    }
    let mut tagged = config_json();
    tagged["kind"] = serde_json::json!("ssbtek");
    let Lookup::Ssbtek(t) = serde_json::from_value(tagged).unwrap();
    assert_eq!(t, c);

    let mut rel = c.clone();
    rel.relative_to(Path::new("/etc/hrobot"));
    assert_eq!(rel.ca, Path::new("/etc/hrobot/ca.pem"));
}

#[test]
fn bad_configuration_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let base: SsbtekConfig = serde_json::from_value(config_json()).unwrap();
    let check = |f: &dyn Fn(&mut SsbtekConfig), needle: &str| {
        let mut c = base.clone();
        c.relative_to(dir.path());
        f(&mut c);
        let e = SsbtekLookup::new(c).unwrap_err();
        assert!(!e.is_retriable());
        assert!(e.message.contains(needle), "{needle}: {e}");
    };
    check(&|c| c.endpoint = "http://ssbtek.example.se/".into(), "https://");
    check(&|c| c.endpoint = "ssbtek".into(), "not a URL");
    check(
        &|c| c.ingivare.organisationsnummer = "12345".into(),
        "organisationsnummer",
    );
    check(
        &|c| c.ingivare.organisationsnummer = "211000-0000".into(),
        "organisationsnummer",
    );
    check(&|c| c.lagtext = " ".into(), "lagtext");
    check(&|c| c.arendeidentitet = "a b".into(), "arendeidentitet");
    check(&|c| c.forsakringskassan.aktorsid = None, "aktorsid");
    check(
        &|c| c.forsakringskassan.formansgrupper = vec!["FK:XYZ".into()],
        "FK:XYZ",
    );
    check(&|c| c.forsakringskassan.formansgrupper = vec!["ABB".into()], "ABB");
    check(&|c| c.forsakringskassan.lefi_version = "9".into(), "lefi_version");
    check(
        &|c| {
            c.parts = Parts {
                arbetsformedlingen: false,
                forsakringskassan: false,
                csn: false,
                akassor: false,
            }
        },
        "at least one part",
    );
    check(&|c| c.timeout_seconds = 0, "timeouts");
    check(&|_| {}, "cannot read the CA file");
    std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
    check(&|_| {}, "no certificate");
}

#[test]
fn organisationsnummer_takes_the_contracts_twelve_digit_form() {
    assert_eq!(normalise_orgnr("212000-2411").as_deref(), Some("162120002411"));
    assert_eq!(normalise_orgnr("2120002411").as_deref(), Some("162120002411"));
    assert_eq!(normalise_orgnr("162120002411").as_deref(), Some("162120002411"));
    assert_eq!(normalise_orgnr("8112189876"), None);
    assert_eq!(normalise_orgnr("21200x2411"), None);
}
