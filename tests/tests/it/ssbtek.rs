//! The SSBTEK connector against the simulated register service: real SOAP
//! over real mutual TLS, every seeded person, every fault mode.

use crate::support::*;
use connectors::RegisterLookup;
use connectors::ssbtek::{Parts, SsbtekConfig, SsbtekLookup};
use connectors::{ConnectorError, PersonAnswer, RegisterIncome};
use domain::{Application, IncomeKind, Money, Period, Personnummer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::ssbtek::{PartError, RegisterView, SoapFault, SsbtekSim};
use tests::{Fault, Service, Simulator};

pub(crate) fn config(sim: &SsbtekSim) -> SsbtekConfig {
    sim.client_config()
}

fn lookup(sim: &SsbtekSim) -> SsbtekLookup {
    SsbtekLookup::new(config(sim)).unwrap()
}

fn pnr(s: &str) -> Personnummer {
    Personnummer::parse(s, "2021-03-01".parse().unwrap()).unwrap()
}

fn march() -> Period {
    "2021-03".parse().unwrap()
}

/// Where the registers report an income kind: the sources of the four parts we ask.
fn source(kind: IncomeKind) -> Option<&'static str> {
    use IncomeKind::*;
    match kind {
        AKassa => Some("AKASSA"),
        Studiemedel => Some("CSN"),
        Sjukpenning
        | Sjukersattning
        | Aktivitetsstod
        | Etableringsersattning
        | Foraldrapenning
        | Bostadsbidrag
        | Barnbidrag
        | Underhallsstod => Some("FK"),
        Lon | Underhallsbidrag | Pension | Skatteaterbaring | Ovrigt => None,
    }
}

/// What the registers should say about a member of a valid application:
/// its declared register-reported incomes, summed per source and kind, and
/// the adult's job-seeking.
fn expected(app: &Application, person: &Personnummer) -> PersonAnswer {
    let mut sums: BTreeMap<(&str, IncomeKind), Money> = BTreeMap::new();
    for i in app.incomes().iter().filter(|i| &i.person == person) {
        if let Some(s) = source(i.kind) {
            let e = sums.entry((s, i.kind)).or_insert(Money::ZERO);
            *e = e.checked_add(i.amount).unwrap();
        }
    }
    let job_seeker = app
        .household()
        .adults
        .iter()
        .any(|a| &a.personnummer == person && a.job_seeking);
    PersonAnswer {
        job_seeker,
        incomes: sums
            .into_iter()
            .map(|((source, kind), amount)| RegisterIncome {
                source: source.into(),
                kind,
                amount,
            })
            .collect(),
    }
}

fn assert_private(e: &ConnectorError, person: &str) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(person), "{text}");
    assert!(!text.contains(&person[2..]), "{text}");
}

#[tokio::test]
async fn every_seeded_person_is_answered_as_the_application_declares() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let reg = lookup(&sim.ssbtek);
    reg.health().await.unwrap();
    let (mut apps, mut people, mut with_incomes, mut job_seekers) = (0, 0, 0, 0);
    for seeded in sim.data.iter() {
        let Ok(app) = Application::parse(seeded.application.to_string().as_bytes()) else {
            continue; // invalid applications are in the data set on purpose
        };
        apps += 1;
        let h = app.household();
        let members = h
            .adults
            .iter()
            .map(|a| a.personnummer)
            .chain(h.children.iter().map(|c| c.personnummer));
        for person in members {
            sim.ssbtek.control.clear_received();
            let got = reg
                .lookup_for_case(app.external_id(), &person, app.period())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", seeded.file));
            assert_eq!(got, expected(&app, &person), "{}", seeded.file);
            // One request per person and period, for this case, asking the four parts.
            let received = sim.ssbtek.control.received();
            assert_eq!(received.len(), 1);
            let r = &received[0];
            assert_eq!(r.personidentitet, person.as_str());
            assert_eq!(r.arendeidentitet, app.external_id());
            assert_eq!(r.period, app.period());
            assert_eq!(r.from, app.period().first_day().to_string());
            assert_eq!(r.parts, ["AF", "CSN", "FK", "SO"]);
            assert_eq!(r.organisationsnummer, "162120000000");
            assert!(r.fk_groups.contains(&"FK:ABB".to_string()));
            people += 1;
            with_incomes += usize::from(!got.incomes.is_empty());
            job_seekers += usize::from(got.job_seeker);
        }
    }
    // The data set really exercises the mapping.
    assert!(apps >= 40, "{apps} applications");
    assert!(people > apps, "{people} people");
    assert!(with_incomes >= 10, "{with_incomes} with register incomes");
    assert!(job_seekers >= 10 && job_seekers < people, "{job_seekers} job seekers");
}

#[tokio::test]
async fn without_a_case_reference_the_configured_one_is_sent() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let reg = lookup(&sim.ssbtek);
    // Sambor with two children (shared example 03): the two adults are job seekers, the children are not.
    let anna = reg.lookup(&pnr("198504039820"), march()).await.unwrap();
    assert!(anna.job_seeker);
    let cia = reg.lookup(&pnr("201603159862"), march()).await.unwrap();
    assert!(!cia.job_seeker);
    // A person the registers do not know at all.
    let unknown = reg.lookup(&pnr("194607029883"), march()).await;
    assert_eq!(unknown.unwrap(), PersonAnswer::default());
    let received = sim.ssbtek.control.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.arendeidentitet == "hrobot"));
}

#[tokio::test]
async fn a_test_can_make_the_registers_disagree_with_the_application() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let reg = lookup(&sim.ssbtek);
    // Shared example 09: declared a-kassa 4 000 kr, the register says 6 500,50.
    sim.ssbtek.control.set_answer(
        "198112189876",
        "2021-03",
        RegisterView {
            known_to_af: true,
            job_seeker: false,
            incomes: vec![
                (IncomeKind::AKassa, Money::from_ore(650_050)),
                (IncomeKind::Barnbidrag, Money::from_ore(125_000)),
                (IncomeKind::Sjukpenning, Money::from_ore(321_777)),
                (IncomeKind::Studiemedel, Money::from_ore(1_086_400)),
                (IncomeKind::Lon, Money::from_ore(2_000_000)),
            ],
        },
    );
    let a = reg
        .lookup_for_case("EX-2021-0009", &pnr("198112189876"), march())
        .await
        .unwrap();
    assert!(!a.job_seeker);
    let income = |source: &str, kind, ore| RegisterIncome {
        source: source.into(),
        kind,
        amount: Money::from_ore(ore),
    };
    assert_eq!(
        a.incomes,
        [
            income("AKASSA", IncomeKind::AKassa, 650_050),
            income("CSN", IncomeKind::Studiemedel, 1_086_400),
            income("FK", IncomeKind::Sjukpenning, 321_777),
            income("FK", IncomeKind::Barnbidrag, 125_000),
        ]
    );
    // Another period of the same person is not overridden.
    let april = reg
        .lookup(&pnr("198112189876"), "2031-04".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(april, PersonAnswer::default());
    sim.ssbtek.control.clear_answers();
}

#[tokio::test]
async fn only_the_configured_parts_are_asked() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let mut c = config(&sim.ssbtek);
    c.parts = Parts {
        arbetsformedlingen: true,
        forsakringskassan: false,
        csn: false,
        akassor: true,
    };
    c.forsakringskassan.aktorsid = None;
    let reg = SsbtekLookup::new(c).unwrap();
    reg.lookup(&pnr("198112189876"), march()).await.unwrap();
    let r = sim.ssbtek.control.received();
    assert_eq!(r[0].parts, ["AF", "SO"]);
    assert!(r[0].fk_groups.is_empty());
}

async fn handshake_and_get(addr: std::net::SocketAddr, config: rustls::ClientConfig) -> Result<String, std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(b"POST /ssbt/v10 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nSOAPAction: \"\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = String::new();
    tls.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn the_service_requires_a_client_certificate_from_its_ca() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let pki = &sim.ssbtek.pki;
    // With the certificate, the TLS layer lets us through (the empty body is a SOAP fault).
    let ok = handshake_and_get(sim.ssbtek.addr, pki.client_config(true).unwrap())
        .await
        .unwrap();
    assert!(ok.starts_with("HTTP/1.1 "), "{ok}");
    // Without a certificate: no HTTP answer at all.
    let refused = handshake_and_get(sim.ssbtek.addr, pki.client_config(false).unwrap()).await;
    assert!(
        refused.is_err() || refused.as_ref().is_ok_and(|s| s.is_empty()),
        "{refused:?}"
    );

    // A certificate from another CA: the connector is refused, permanently.
    let other = tests::tls::TestPki::new("another").unwrap();
    let mut c = config(&sim.ssbtek);
    c.client_cert = other.files.cert.clone();
    c.client_key = other.files.key.clone();
    let e = SsbtekLookup::new(c)
        .unwrap()
        .lookup(&pnr("198112189876"), march())
        .await
        .unwrap_err();
    assert!(!e.is_retriable(), "{e}");
    assert!(e.message.contains("TLS"), "{e}");
    assert_private(&e, "198112189876");

    // And a connector that does not trust the server's CA refuses the server.
    let mut c = config(&sim.ssbtek);
    c.ca = other.files.ca.clone();
    let e = SsbtekLookup::new(c).unwrap().health().await.unwrap_err();
    assert!(!e.is_retriable(), "{e}");
    assert!(e.message.contains("not trusted"), "{e}");
    assert!(sim.ssbtek.control.received().is_empty());
}

#[tokio::test]
async fn each_fault_mode_gives_the_right_kind_of_error() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let reg = lookup(&sim.ssbtek);
    let who = "198504039820";
    let person = pnr(who);
    for (fault, retriable) in [(Fault::Down, true), (Fault::Http500, true), (Fault::Malformed, false)] {
        sim.faults.set(Service::Ssbtek, fault);
        let e = reg.lookup(&person, march()).await.unwrap_err();
        assert_eq!(e.is_retriable(), retriable, "{fault:?}: {e}");
        assert_private(&e, who);
        let h = reg.health().await.unwrap_err();
        assert_eq!(h.is_retriable(), retriable, "health under {fault:?}: {h}");
        sim.faults.clear(Service::Ssbtek);
        reg.lookup(&person, march()).await.unwrap();
    }

    let control = &sim.ssbtek.control;
    for (code, retriable) in [("Server", true), ("Client", false)] {
        control.set_fault(Some(SoapFault {
            code: code.into(),
            felkod: "SIM-1".into(),
        }));
        let e = reg.lookup(&person, march()).await.unwrap_err();
        assert_eq!(e.is_retriable(), retriable, "{code}: {e}");
        assert!(e.message.contains(&format!("SOAP fault {code} (felkod SIM-1)")), "{e}");
        assert_private(&e, who);
        assert_eq!(reg.health().await.unwrap_err().is_retriable(), retriable);
    }
    control.set_fault(None);

    for part in ["AF", "CSN", "FK", "SO"] {
        control.set_part_error(
            part,
            Some(PartError {
                kalla: "BT".into(),
                felkod: "TIMEOUT".into(),
            }),
        );
        let e = reg.lookup(&person, march()).await.unwrap_err();
        assert!(e.is_retriable(), "{part}: {e}");
        assert!(e.message.contains(&format!("the {part} part")), "{e}");
        assert_private(&e, who);
        let h = reg.health().await.unwrap_err();
        assert!(h.is_retriable() && h.message.starts_with("health:"), "{h}");
        control.set_part_error(part, None);
    }
    reg.health().await.unwrap();
    // Malformed, two SOAP faults, four part errors and the last: Down and HTTP 500 never reach the service.
    assert_eq!(control.pings(), 8);
}

#[tokio::test]
async fn a_slow_service_times_out_and_can_be_retried() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let mut c = config(&sim.ssbtek);
    c.timeout_seconds = 1;
    let reg = SsbtekLookup::new(c).unwrap();
    // Far slower than the timeout, so a loaded machine cannot blur the two.
    sim.faults.set(Service::Ssbtek, Fault::Slow(Duration::from_secs(10)));
    let started = Instant::now();
    let e = reg.lookup(&pnr("198504039820"), march()).await.unwrap_err();
    let took = started.elapsed();
    assert!(e.is_retriable(), "{e}");
    assert!(e.message.contains("timed out"), "{e}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    // Slow but within the timeout is fine.
    sim.faults.set(Service::Ssbtek, Fault::Slow(Duration::from_millis(200)));
    reg.lookup(&pnr("198504039820"), march()).await.unwrap();
    sim.faults.clear(Service::Ssbtek);
}
