//! A simulated SSBTEK (Försäkringskassan's *Sammansatt bastjänst för
//! ekonomiskt bistånd*): SOAP 1.1 over HTTPS that requires a client
//! certificate, answering `hamtaBastjanstInformation` (one person, one
//! period) and `testaBastjanstInformation` (the ping) as the public v10
//! contract describes them.
//!
//! ```text
//! POST https://127.0.0.1:PORT/ssbt/v10   Content-Type: text/xml   SOAPAction: ""
//! ```
//!
//! The registers' view of a person comes from the seeded applications: the
//! application whose `external_id` is the request's `arendeidentitet` (or,
//! failing that, the first in name order for the period that has the
//! person), its adult's `job_seeking` as Arbetsförmedlingen's status and
//! the incomes it declares for the person as the registers' payments:
//! `a_kassa` from the a-kassor, `studiemedel` from CSN (whole kronor, as
//! CSN pays), Försäkringskassan's benefits through LEFI. Wages, pensions,
//! tax refunds and private maintenance are not in these registers and are
//! not reported. Tests override a person's answer with
//! [`Control::set_answer`] (e.g. to make a register deviation), make the
//! service answer with a SOAP fault or a part's error, and read the
//! requests it received.
//!
//! The document-writing here is deliberately separate from the connector's
//! reading code, so a test of one against the other checks both.
//!
//! Fault modes ([`crate::faults`], service `Ssbtek`): `Down` closes every
//! connection before the TLS handshake, `Slow(d)` delays every answer,
//! `Http500` answers a plain HTTP 500 page, `Malformed` cuts the answer in
//! half.

use crate::data::Dataset;
use crate::faults::{Fault, Faults, Service};
use crate::tls::{ClientFiles, TestPki, TlsListener};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use domain::{IncomeKind, Money, Period, Personnummer};
use quick_xml::escape::escape;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const PATH: &str = "/ssbt/v10";

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SSBT: &str = "http://schema.forsakringskassan.se/integration/ssbt/10";
const AF: &str = "http://api.arbetsformedlingen.se/arbetssokande/ersattningsstod/v2";
const SO: &str = "http://INT014.UBPService.Schemas";
const PARTS: [&str; 7] = ["AF", "CSN", "FK", "SKV", "SO", "TNS", "MIV"];

/// What the registers say about one person for one period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterView {
    /// Known to Arbetsförmedlingen at all (adults of the data set are, children are not).
    pub known_to_af: bool,
    pub job_seeker: bool,
    /// Payments in the period, one per income; a kind outside the four
    /// registers (wages, pensions, …) is not reported.
    pub incomes: Vec<(IncomeKind, Money)>,
}

/// A SOAP fault to answer with instead of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// `Server` (try later) or `Client` (the request is wrong).
    pub code: String,
    pub felkod: String,
}

/// A part's `error` element instead of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartError {
    /// `SSBT` or `BT`.
    pub kalla: String,
    pub felkod: String,
}

/// One `hamtaBastjanstInformation` request as the service understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub personidentitet: String,
    pub arendeidentitet: String,
    pub from: String,
    pub tom: String,
    /// The month `from` falls in.
    pub period: Period,
    /// Parts with `inkludera="true"`.
    pub parts: Vec<String>,
    /// The LEFI question's payment groups, when FK was asked.
    pub fk_groups: Vec<String>,
    pub organisationsnummer: String,
}

#[derive(Default)]
struct ControlState {
    answers: HashMap<(String, String), RegisterView>,
    fault: Option<SoapFault>,
    part_errors: HashMap<String, PartError>,
    received: Vec<Received>,
    pings: usize,
}

/// The test's handle on the running service.
#[derive(Clone, Default)]
pub struct Control(Arc<Mutex<ControlState>>);

impl Control {
    fn with<T>(&self, f: impl FnOnce(&mut ControlState) -> T) -> Option<T> {
        self.0.lock().ok().map(|mut s| f(&mut s))
    }

    /// Answers for `personnummer` (12 digits) and `period` (`YYYY-MM`) with `view`.
    pub fn set_answer(&self, personnummer: &str, period: &str, view: RegisterView) {
        self.with(|s| s.answers.insert((personnummer.to_string(), period.to_string()), view));
    }

    pub fn clear_answers(&self) {
        self.with(|s| s.answers.clear());
    }

    /// Every request is answered with this fault (none: answer normally).
    pub fn set_fault(&self, fault: Option<SoapFault>) {
        self.with(|s| s.fault = fault);
    }

    /// The part (`AF`, `CSN`, `FK`, `SO`) answers with this error (none: with data).
    pub fn set_part_error(&self, part: &str, error: Option<PartError>) {
        self.with(|s| match error {
            Some(e) => s.part_errors.insert(part.to_string(), e),
            None => s.part_errors.remove(part),
        });
    }

    pub fn received(&self) -> Vec<Received> {
        self.with(|s| s.received.clone()).unwrap_or_default()
    }

    pub fn clear_received(&self) {
        self.with(|s| s.received.clear());
    }

    /// How many `testaBastjanstInformation` calls arrived.
    pub fn pings(&self) -> usize {
        self.with(|s| s.pings).unwrap_or(0)
    }
}

/// The running service: where it listens, the files a client needs, and the test's handle.
pub struct SsbtekSim {
    pub addr: SocketAddr,
    pub control: Control,
    pub pki: Arc<TestPki>,
}

impl SsbtekSim {
    pub fn url(&self) -> String {
        format!("https://{}{PATH}", self.addr)
    }

    /// The CA to trust and a client certificate and key the service accepts (PEM files).
    pub fn client_files(&self) -> &ClientFiles {
        &self.pki.files
    }

    /// A connector configuration for this service: its address, the test
    /// PKI's client certificate, all four parts, a test municipality.
    pub fn client_config(&self) -> connectors::ssbtek::SsbtekConfig {
        use connectors::ssbtek::{FkSettings, Ingivare, Parts, SsbtekConfig};
        let files = self.client_files();
        SsbtekConfig {
            endpoint: self.url(),
            client_cert: files.cert.clone(),
            client_key: files.key.clone(),
            ca: files.ca.clone(),
            connect_timeout_seconds: 2,
            timeout_seconds: 5,
            parts: Parts::default(),
            ingivare: Ingivare {
                organisationsnummer: "212000-0000".into(),
                namn: "Exempelkommun, socialnämnden".into(),
                handlaggare: "hrobot".into(),
            },
            syfte: "Handläggning av ekonomiskt bistånd".into(),
            lagtext: "11 kap. 11 § socialtjänstlagen (2001:453)".into(),
            arendeidentitet: "hrobot".into(),
            forsakringskassan: FkSettings {
                aktorsid: Some("9255f428-4ba0-63ce-5407-e65d469fac0f".into()),
                ..FkSettings::default()
            },
        }
    }
}

#[derive(Clone)]
struct AppState {
    data: Dataset,
    faults: Faults,
    control: Control,
}

// ------------------------------------------------------------ request

/// One element of a flattened document.
struct Node {
    /// Local names from the root, joined by `/`.
    path: String,
    ns: String,
    attrs: Vec<(String, String)>,
    text: String,
}

/// A flattened view of an XML document, elements in document order.
struct Flat(Vec<Node>);

impl Flat {
    fn parse(doc: &str) -> Option<Flat> {
        use quick_xml::events::Event;
        use quick_xml::name::ResolveResult;
        let mut r = quick_xml::NsReader::from_str(doc);
        let mut path: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            let (ns, ev) = match r.read_resolved_event() {
                Ok((ResolveResult::Bound(ns), ev)) => (ns.0.to_string(), ev),
                Ok((ResolveResult::Unbound, ev)) => (String::new(), ev),
                Ok((ResolveResult::Unknown(_), _)) | Err(_) => return None,
            };
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    path.push(e.local_name().as_ref().to_string());
                    let attrs = e
                        .attributes()
                        .filter_map(Result::ok)
                        .map(|a| (a.key.as_ref().to_string(), a.value.to_string()))
                        .collect();
                    out.push(Node {
                        path: path.join("/"),
                        ns,
                        attrs,
                        text: String::new(),
                    });
                    if matches!(ev, Event::Empty(_)) {
                        path.pop();
                    } else {
                        open.push(out.len() - 1);
                    }
                }
                Event::End(_) => {
                    path.pop();
                    open.pop();
                }
                Event::Text(t) => {
                    if let Some(&i) = open.last() {
                        out[i].text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(g) => {
                    if let (Some(&i), Some(s)) = (open.last(), quick_xml::escape::resolve_xml_entity(&g)) {
                        out[i].text.push_str(s);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        path.is_empty().then_some(Flat(out))
    }

    fn find(&self, path: &str) -> Option<&Node> {
        self.0.iter().find(|e| e.path == path)
    }

    fn text(&self, path: &str) -> Option<String> {
        self.find(path).map(|e| e.text.trim().to_string())
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn date(s: &str) -> bool {
    s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' && digits(&s[..4], 4)
}

/// Checks a `hamtaBastjanstInformation` request against the contract; the error names what is wrong.
fn read_request(flat: &Flat) -> Result<Received, String> {
    let base = "Envelope/Body/hamtaBastjanstInformation";
    let g = format!("{base}/generellaFrageparametrar");
    let get = |p: &str| flat.text(&format!("{g}/{p}")).filter(|t| !t.is_empty());
    let need = |p: &str| get(p).ok_or_else(|| format!("{p} saknas"));
    for e in &flat.0 {
        if e.path.starts_with(base) && e.ns != SSBT {
            return Err(format!("{} har fel namnrymd", e.path));
        }
    }
    let orgnr = need("ingivare/organisationsnummer")?;
    let ok_orgnr = digits(&orgnr, 12) && (b'2'..=b'9').contains(&orgnr.as_bytes()[4]);
    if !ok_orgnr {
        return Err("ogiltigt organisationsnummer".into());
    }
    need("ingivare/namn")?;
    need("ingivare/handlaggare")?;
    let person = need("personidentitet")?;
    if !digits(&person, 12) {
        return Err("ogiltig personidentitet".into());
    }
    let arende = need("arendeidentitet")?;
    let from = need("tidsperiod/fromDatum")?;
    let tom = need("tidsperiod/tomDatum")?;
    let period: Period = from[..7.min(from.len())].parse().map_err(|_| "ogiltig tidsperiod")?;
    if !date(&from) || !date(&tom) || tom < from {
        return Err("ogiltig tidsperiod".into());
    }
    need("syfte")?;
    need("lagtext")?;
    let mut parts = Vec::new();
    for p in PARTS {
        let e = flat
            .find(&format!("{base}/specifikaFrageparametrar/{p}"))
            .ok_or_else(|| format!("{p} saknas"))?;
        match e.attrs.iter().find(|(k, _)| k == "inkludera").map(|(_, v)| v.as_str()) {
            Some("true") => parts.push(p.to_string()),
            Some("false") => {}
            _ => return Err(format!("{p}: inkludera saknas")),
        }
    }
    let mut fk_groups = Vec::new();
    if parts.iter().any(|p| p == "FK") {
        let f = format!("{base}/specifikaFrageparametrar/FK/fraga");
        flat.text(&format!("{f}/aktorsid"))
            .filter(|a| !a.is_empty())
            .ok_or("aktorsid saknas")?;
        let q = flat.text(&format!("{f}/lefiJsonFraga")).ok_or("lefiJsonFraga saknas")?;
        let q = base64::engine::general_purpose::STANDARD
            .decode(q)
            .map_err(|_| "lefiJsonFraga är inte base64")?;
        let q: Value = serde_json::from_slice(&q).map_err(|_| "lefiJsonFraga är inte JSON")?;
        if q["personnummer"] != person.as_str() || q["period"] != json!({"from": from, "tom": tom}) {
            return Err("lefiJsonFraga gäller annan person eller period".into());
        }
        fk_groups = q["utbetalningar"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if fk_groups.is_empty() {
            return Err("lefiJsonFraga utan förmånsgrupper".into());
        }
    }
    Ok(Received {
        personidentitet: person,
        arendeidentitet: arende,
        from,
        tom,
        period,
        parts,
        fk_groups,
        organisationsnummer: orgnr,
    })
}

// ------------------------------------------------------------ the registers' view

/// The registers' view of `person` in `period`, from the seeded data set.
pub fn view_of(data: &Dataset, person: &str, period: &str, case: &str) -> RegisterView {
    let Ok(p) = period.parse::<Period>() else {
        return RegisterView::default();
    };
    let same = |v: &Value| {
        v.as_str()
            .and_then(|s| Personnummer::parse(s, p.first_day()).ok())
            .is_some_and(|x| x.as_str() == person)
    };
    let has = |app: &Value| {
        app["period"] == period
            && ["adults", "children"].iter().any(|k| {
                app["household"][k]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|m| same(&m["personnummer"])))
            })
    };
    let app = data
        .iter()
        .map(|s| &s.application)
        .find(|a| a["external_id"] == case && has(a))
        .or_else(|| data.iter().map(|s| &s.application).find(|a| has(a)));
    let Some(app) = app else {
        return RegisterView::default();
    };
    let adult = app["household"]["adults"]
        .as_array()
        .and_then(|a| a.iter().find(|m| same(&m["personnummer"])));
    let incomes = app["incomes"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|i| same(&i["person"]))
                .filter_map(|i| {
                    let kind: IncomeKind = i["kind"].as_str()?.parse().ok()?;
                    let amount = Money::parse_json_number(&i["amount"].as_number()?.to_string()).ok()?;
                    part_of(kind).map(|_| (kind, amount))
                })
                .collect()
        })
        .unwrap_or_default();
    RegisterView {
        known_to_af: adult.is_some(),
        job_seeker: adult.is_some_and(|a| a["job_seeking"] == true),
        incomes,
    }
}

/// Which part reports an income kind, and LEFI's payment family for FK's.
fn part_of(kind: IncomeKind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        IncomeKind::AKassa => ("SO", ""),
        IncomeKind::Studiemedel => ("CSN", ""),
        IncomeKind::Sjukpenning => ("FK", "SJP"),
        IncomeKind::Sjukersattning => ("FK", "SA"),
        IncomeKind::Aktivitetsstod => ("FK", "AS"),
        IncomeKind::Etableringsersattning => ("FK", "ET"),
        IncomeKind::Foraldrapenning => ("FK", "FP"),
        IncomeKind::Bostadsbidrag => ("FK", "BOB"),
        IncomeKind::Barnbidrag => ("FK", "ABB"),
        IncomeKind::Underhallsstod => ("FK", "US"),
        _ => return None,
    })
}

// ------------------------------------------------------------ answer

fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

fn fault(code: &str, felkod: &str, text: &str) -> Response {
    let body = envelope(&format!(
        r#"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{}</faultstring><detail><ns2:hamtaBastjanstInformationFault xmlns:ns2="{SSBT}"><ns2:felkod>{}</ns2:felkod><ns2:felmeddelande>{}</ns2:felmeddelande></ns2:hamtaBastjanstInformationFault></detail></soap:Fault>"#,
        escape(text),
        escape(felkod),
        escape(text)
    ));
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn part_error_xml(e: &PartError, person: &str) -> String {
    // The message names the person, as real services do: the connector must not repeat it.
    format!(
        "<ns2:error><ns2:kalla>{}</ns2:kalla><ns2:felkod>{}</ns2:felkod><ns2:felmeddelande>Tekniskt fel för {}</ns2:felmeddelande></ns2:error>",
        escape(&e.kalla),
        escape(&e.felkod),
        escape(person)
    )
}

fn ore_split(m: Money) -> (Money, Money) {
    let a = Money::from_ore(m.ore() / 2);
    (a, Money::from_ore(m.ore() - a.ore()))
}

fn kr(m: Money) -> String {
    m.to_json_number_string()
}

fn previous(p: Period) -> Period {
    p.plus_months(-1).unwrap_or(p)
}

fn af_xml(r: &Received, view: &RegisterView) -> String {
    let p = &r.personidentitet;
    let fraga = format!(
        "<af:Fraga><af:OrganisationsnummerForIngivare>{}</af:OrganisationsnummerForIngivare><af:NamnPaIngivare>Kommunen</af:NamnPaIngivare><af:KontonamnForHandlaggare>hrobot</af:KontonamnForHandlaggare><af:Referensnummer>{}</af:Referensnummer><af:From>{}</af:From><af:Tom>{}</af:Tom><af:SyfteMedFraga>Ekonomiskt bistånd</af:SyfteMedFraga><af:LagParagraf>SoL</af:LagParagraf><af:IdentitetsbeteckningFysiskPerson>{p}</af:IdentitetsbeteckningFysiskPerson></af:Fraga>",
        &r.organisationsnummer[2..],
        escape(&r.arendeidentitet),
        r.from,
        r.tom
    );
    let status = if view.known_to_af {
        let deregistered = if view.job_seeker {
            String::new()
        } else {
            "<af:ArbetssokandeAvaktualiserad>2020-12-31</af:ArbetssokandeAvaktualiserad>".to_string()
        };
        format!(
            "<af:Fornamn>Test</af:Fornamn><af:Efternamn>Person</af:Efternamn><af:Sekretessmarkering>false</af:Sekretessmarkering><af:ArbetssokandeInfo><af:Arbetssokande>{}</af:Arbetssokande><af:ArbetssokandeRegistrerad>2020-01-15</af:ArbetssokandeRegistrerad>{deregistered}<af:AktivetetsRapportDatum><af:AktivitetsRapportMeddelande>Inlämnad</af:AktivitetsRapportMeddelande></af:AktivetetsRapportDatum></af:ArbetssokandeInfo><af:StatusSokandeinformationKod>0</af:StatusSokandeinformationKod><af:StatusSokandeinformationKodText>Uppgifter finns</af:StatusSokandeinformationKodText>",
            view.job_seeker
        )
    } else {
        "<af:StatusSokandeinformationKod>1</af:StatusSokandeinformationKod><af:StatusSokandeinformationKodText>Personen finns inte hos Arbetsförmedlingen</af:StatusSokandeinformationKodText>".to_string()
    };
    format!(
        r#"<ns2:data xmlns:af="{AF}">{fraga}<af:Svar><af:Schemaversion>2.0</af:Schemaversion><af:Referensnummer>{}</af:Referensnummer><af:LagParagraf>SoL</af:LagParagraf><af:IdentitetsbeteckningFysiskPerson>{p}</af:IdentitetsbeteckningFysiskPerson>{status}</af:Svar></ns2:data>"#,
        escape(&r.arendeidentitet)
    )
}

fn so_xml(r: &Received, period: Period, view: &RegisterView) -> String {
    let mut pay = String::new();
    let kassa: Vec<Money> = view
        .incomes
        .iter()
        .filter(|(k, _)| *k == IncomeKind::AKassa)
        .map(|(_, m)| *m)
        .collect();
    let utbetalning = |date: String, netto: Money| {
        let avdrag = Money::from_ore(netto.ore() - netto.ore().min(10_000));
        format!(
            "<so:Utbetalningar><so:Utbetalningsdatum>{date}</so:Utbetalningsdatum><so:NettoEfterSkatt>{}</so:NettoEfterSkatt><so:NettoEfterAvdrag>{}</so:NettoEfterAvdrag><so:Ersattningsdagar>10</so:Ersattningsdagar><so:AvserFrom>{}-01</so:AvserFrom><so:AvserTom>{}-14</so:AvserTom></so:Utbetalningar>",
            kr(netto),
            kr(avdrag),
            period,
            period
        )
    };
    if !kassa.is_empty() {
        // Last month's payment, which the connector must not count for this period.
        pay.push_str(&utbetalning(
            format!("{}-24", previous(period)),
            Money::from_ore(123_456),
        ));
    }
    for m in kassa {
        let (a, b) = ore_split(m);
        pay.push_str(&utbetalning(format!("{period}-10"), a));
        pay.push_str(&utbetalning(format!("{period}-24+01:00"), b));
    }
    let lista = if pay.is_empty() {
        "<so:ArbetsloshetsersattningLista/>".to_string()
    } else {
        format!(
            "<so:ArbetsloshetsersattningLista><so:Arbetsloshetsersattning><so:SvarandeOrganisation>Simulerad a-kassa</so:SvarandeOrganisation><so:StatusSvarandeOrganisation>OK</so:StatusSvarandeOrganisation>{pay}</so:Arbetsloshetsersattning></so:ArbetsloshetsersattningLista>"
        )
    };
    format!(
        r#"<ns2:data xmlns:so="{SO}"><so:OrganisationsnummerIngivare>{}</so:OrganisationsnummerIngivare><so:NamnIngivare>Kommunen</so:NamnIngivare><so:KontonamnHandlaggare>hrobot</so:KontonamnHandlaggare><so:Referensnummer>{}</so:Referensnummer><so:From>{}</so:From><so:Tom>{}</so:Tom><so:Syfte>Ekonomiskt bistånd</so:Syfte><so:Paragraf>SoL</so:Paragraf><so:IdentificationNumber>{}</so:IdentificationNumber>{lista}</ns2:data>"#,
        &r.organisationsnummer[2..],
        escape(&r.arendeidentitet),
        r.from,
        r.tom,
        r.personidentitet
    )
}

fn fk_json(period: Period, view: &RegisterView) -> Value {
    let belopp = |m: Money| json!({"summa": m.to_json_value(), "valuta": "SEK"});
    let mut utbetalningar = Vec::new();
    for (kind, netto) in &view.incomes {
        let Some(("FK", familj)) = part_of(*kind) else {
            continue;
        };
        let taxable = matches!(familj, "SJP" | "SA" | "AS" | "FP");
        // Gross = net + tax, tax ≈ 30 % of gross, all in öre: the connector must subtract exactly.
        let skatt = if taxable {
            Money::from_ore(netto.ore() * 3 / 7)
        } else {
            Money::ZERO
        };
        let brutto = Money::from_ore(netto.ore() + skatt.ore());
        utbetalningar.push(json!({
            "typ": {"id": 1, "beskrivning": "Månad"},
            "foretag": {"id": 1001, "beskrivning": "Försäkringskassan"},
            "formansfamilj": {"id": familj, "beskrivning": kind.label()},
            "datum": format!("{period}-19"),
            "period": {"fran": format!("{period}-01"), "till": format!("{period}-28")},
            "bruttobelopp": belopp(brutto),
            "skattebelopp": belopp(skatt),
            "avdragsbelopp": belopp(skatt),
            "nettobelopp": belopp(*netto),
        }));
        // Last month's payment of the same benefit: not this period's income.
        utbetalningar.push(json!({
            "formansfamilj": {"id": familj},
            "datum": format!("{}-19", previous(period)),
            "bruttobelopp": belopp(Money::from_ore(99_900)),
            "skattebelopp": belopp(Money::ZERO),
            "nettobelopp": belopp(Money::from_ore(99_900)),
        }));
    }
    json!({
        "utlamnare": [{"utlamnare": {"kod": "FK", "namn": "Försäkringskassan"}, "tillstand": {"kod": "OK", "beskrivning": "Tillgänglig"}}],
        "avvikelser": {"utbetalningar": [], "preliminaraUtbetalningar": []},
        "formansinformation": {"utbetalningsuppgift": utbetalningar, "preliminarautbetalningar": []},
    })
}

fn csn_xml(r: &Received, period: Period, view: &RegisterView) -> String {
    let compact = period.to_string().replace('-', "");
    let mut plan = String::new();
    for (_, m) in view.incomes.iter().filter(|(k, _)| *k == IncomeKind::Studiemedel) {
        // CSN pays whole kronor; an amount with öre is written as it is (and refused by a careful reader).
        let belopp = match m.whole_kronor() {
            Some(k) => k.to_string(),
            None => kr(*m),
        };
        let _ = write!(
            plan,
            "<sm:Utbetalning><gem:utbetdatum>{compact}25</gem:utbetdatum><gem:utbetstatus>Utbetald</gem:utbetstatus><gem:Utbetaldatider/><gem:totbelopp>{belopp}</gem:totbelopp></sm:Utbetalning>"
        );
    }
    let p = &r.personidentitet;
    let person = if plan.is_empty() {
        format!(
            r#"<csn:Person personnummer="{}" sekel="{}" Status="Ej träff"><pers:Studiestodstypforteckning><gem:studiemedel>N</gem:studiemedel><gem:studiehjalp>N</gem:studiehjalp><gem:hemutrustningslan>N</gem:hemutrustningslan><gem:studiestartsstod>N</gem:studiestartsstod><gem:omstallningsstudiestod>N</gem:omstallningsstudiestod></pers:Studiestodstypforteckning><pers:Studiemedel/><pers:Studiehjalp/><pers:HemutrustningsLan/><pers:Studiestartsstod/><pers:Omstallningsstudiestod/></csn:Person>"#,
            &p[2..],
            &p[..2]
        )
    } else {
        format!(
            r#"<csn:Person personnummer="{}" sekel="{}"><pers:Studiestodstypforteckning><gem:studiemedel>J</gem:studiemedel><gem:studiehjalp>N</gem:studiehjalp><gem:hemutrustningslan>N</gem:hemutrustningslan><gem:studiestartsstod>N</gem:studiestartsstod><gem:omstallningsstudiestod>N</gem:omstallningsstudiestod></pers:Studiestodstypforteckning><pers:Studiemedel><pers:Arenden><pers:Arende lopnummer="1"><sm:stodform>GRUND</sm:stodform><sm:klartext>Studiemedel</sm:klartext><sm:status>BESLUTAD</sm:status><sm:soktaTider/><sm:BeviljadeTider/><sm:UtbetalningsPlan>{plan}</sm:UtbetalningsPlan></pers:Arende></pers:Arenden></pers:Studiemedel><pers:Studiehjalp/><pers:HemutrustningsLan/><pers:Studiestartsstod/><pers:Omstallningsstudiestod/></csn:Person>"#,
            &p[2..],
            &p[..2]
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><csn:CSNSvar xmlns:csn="http://schema.csn.se/v4.0/kommunfraga" xmlns:pers="http://schema.csn.se/v4.0/person" xmlns:sm="http://schema.csn.se/v4.0/studiemedel" xmlns:gem="http://schema.csn.se/v4.0/csntyper" schemaVersion="4.0"><csn:GemensamtSvarEkbistand><csn:Resultat><csn:ResultatKod>0</csn:ResultatKod><csn:ResultatText>OK</csn:ResultatText></csn:Resultat></csn:GemensamtSvarEkbistand><csn:GemensamtFragaEkbistand/><csn:Personer>{person}</csn:Personer></csn:CSNSvar>"#
    )
}

/// The `hamtaBastjanstInformationResponse` for a request and a view.
pub fn answer(
    r: &Received,
    korrelationsid: Option<&str>,
    view: &RegisterView,
    errors: &HashMap<String, PartError>,
) -> String {
    let period = r.period;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut svar = String::new();
    for part in &r.parts {
        let data = match (errors.get(part), part.as_str()) {
            (Some(e), _) => part_error_xml(e, &r.personidentitet),
            (None, "AF") => af_xml(r, view),
            (None, "SO") => so_xml(r, period, view),
            (None, "FK") => format!(
                "<ns2:data><ns2:lefiJsonSvar>{}</ns2:lefiJsonSvar></ns2:data>",
                b64(&fk_json(period, view).to_string())
            ),
            (None, "CSN") => format!(
                "<ns2:data><ns2:svar>{}</ns2:svar></ns2:data>",
                b64(&csn_xml(r, period, view))
            ),
            // Parts we do not simulate answer with an error from SSBT itself.
            (None, _) => part_error_xml(
                &PartError {
                    kalla: "SSBT".into(),
                    felkod: "EJ_SIMULERAD".into(),
                },
                &r.personidentitet,
            ),
        };
        let _ = write!(svar, "<ns2:{part}>{data}</ns2:{part}>");
    }
    let korr = korrelationsid
        .map(|k| format!("<ns2:korrelationsid>{}</ns2:korrelationsid>", escape(k)))
        .unwrap_or_default();
    envelope(&format!(
        r#"<ns2:hamtaBastjanstInformationResponse xmlns:ns2="{SSBT}">{korr}<ns2:svarsdata>{svar}</ns2:svarsdata></ns2:hamtaBastjanstInformationResponse>"#
    ))
}

fn test_answer(errors: &HashMap<String, PartError>) -> String {
    let mut parts = String::new();
    for p in ["AF", "CSN", "FK", "SO"] {
        let error = errors
            .get(p)
            .map(|e| part_error_xml(e, "testanrop"))
            .unwrap_or_default();
        let _ = write!(parts, "<ns2:{p}><ns2:anropad>true</ns2:anropad>{error}</ns2:{p}>");
    }
    envelope(&format!(
        r#"<ns2:testaBastjanstInformationResponse xmlns:ns2="{SSBT}">{parts}</ns2:testaBastjanstInformationResponse>"#
    ))
}

// ------------------------------------------------------------ service

async fn handle(State(s): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let fault_mode = s.faults.get(Service::Ssbtek);
    if let Some(Fault::Slow(d)) = fault_mode {
        tokio::time::sleep(d).await;
    }
    if matches!(fault_mode, Some(Fault::Http500)) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Internal Server Error</body></html>",
        )
            .into_response();
    }
    let xml_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/xml"));
    if !xml_type {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "SOAP 1.1 needs text/xml").into_response();
    }
    if !headers.contains_key("soapaction") {
        return fault("Client", "SOAPACTION", "SOAPAction saknas");
    }
    let Some(flat) = Flat::parse(&body) else {
        return fault("Client", "XML", "Frågan är inte välformad XML");
    };
    let envelope_ok = flat.find("Envelope").is_some_and(|e| e.ns == SOAP11);
    if !envelope_ok {
        return fault("VersionMismatch", "SOAP", "Endast SOAP 1.1");
    }
    let (errors, soap_fault) = s
        .control
        .with(|c| (c.part_errors.clone(), c.fault.clone()))
        .unwrap_or_default();
    let text = if flat
        .find("Envelope/Body/testaBastjanstInformation")
        .is_some_and(|e| e.ns == SSBT)
    {
        s.control.with(|c| c.pings += 1);
        if let Some(f) = soap_fault {
            return fault(&f.code, &f.felkod, "Simulerat fel");
        }
        test_answer(&errors)
    } else {
        let r = match read_request(&flat) {
            Ok(r) => r,
            Err(why) => return fault("Client", "FRAGA", &why),
        };
        s.control.with(|c| c.received.push(r.clone()));
        if let Some(f) = soap_fault {
            return fault(&f.code, &f.felkod, &format!("Simulerat fel för {}", r.personidentitet));
        }
        let period = r.period.to_string();
        let overridden = s
            .control
            .with(|c| c.answers.get(&(r.personidentitet.clone(), period.clone())).cloned())
            .flatten();
        let view = overridden.unwrap_or_else(|| view_of(&s.data, &r.personidentitet, &period, &r.arendeidentitet));
        let korr = flat.text("Envelope/Body/hamtaBastjanstInformation/generellaFrageparametrar/korrelationsid");
        answer(&r, korr.as_deref(), &view, &errors)
    };
    let text = if fault_mode == Some(Fault::Malformed) {
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text[..cut].to_string()
    } else {
        text
    };
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], text).into_response()
}

pub fn router(data: Dataset, faults: Faults, control: Control) -> Router {
    Router::new()
        .route(PATH, post(handle))
        .with_state(AppState { data, faults, control })
}

/// Serves the register service on 127.0.0.1, port 0, over mutual TLS with a fresh test PKI.
pub async fn spawn(data: Dataset, faults: Faults) -> anyhow::Result<(SsbtekSim, tokio::task::JoinHandle<()>)> {
    let pki = Arc::new(TestPki::new("ssbtek")?);
    let control = Control::default();
    let down = faults.clone();
    let listener = TlsListener::bind(pki.server_config()?, move || {
        down.get(Service::Ssbtek) == Some(Fault::Down)
    })
    .await?;
    let addr = listener.addr();
    let app = router(data, faults, control.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((SsbtekSim { addr, control, pki }, task))
}
