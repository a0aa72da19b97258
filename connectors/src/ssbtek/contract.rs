//! Our own model of the SSBTEK v10 messages: the request we write, and the
//! parts of the answer we read, with the contract's namespaces and element
//! names. What was kept and what was left out is listed in the module
//! documentation of [`super`].

use super::xml::{self, Element};
use base64::Engine as _;
use domain::Money;
use serde::Deserialize;
use serde_json::value::RawValue;

pub(crate) const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub(crate) const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// Försäkringskassan's composite service (Sammansatt bastjänst), v10.
pub(crate) const SSBT: &str = "http://schema.forsakringskassan.se/integration/ssbt/10";
/// Arbetsförmedlingen's part (`af:SvarMeddelande`).
pub(crate) const AF: &str = "http://api.arbetsformedlingen.se/arbetssokande/ersattningsstod/v2";
/// The a-kassor's part, through their joint organisation (the contract's "SO",
/// `so:GetUnemploymentBenefitPaymentResponseType`).
pub(crate) const SO: &str = "http://INT014.UBPService.Schemas";
/// CSN's answer document (base64 inside `CSN/data/svar`) and the namespaces its types come from.
pub(crate) const CSN_KOMMUNFRAGA: &str = "http://schema.csn.se/v4.0/kommunfraga";
pub(crate) const CSN_PERSON: &str = "http://schema.csn.se/v4.0/person";
pub(crate) const CSN_TYPER: &str = "http://schema.csn.se/v4.0/csntyper";

/// Problems with what the other side sent: permanent, and never quoting it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Malformed(pub String);

impl From<xml::XmlError> for Malformed {
    fn from(e: xml::XmlError) -> Malformed {
        Malformed(e.0)
    }
}

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

// ---------------------------------------------------------------- request

/// Who asks (the contract's `Ingivare`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ingivare {
    /// The municipality's organisationsnummer, 10 digits (`NNNNNN-NNNN` is accepted and normalised).
    pub organisationsnummer: String,
    /// The municipality or nämnd, e.g. "Exempelkommun, socialnämnden".
    pub namn: String,
    /// The official or user id asking; the robot's own account name.
    pub handlaggare: String,
}

/// Which of SSBTEK's parts to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Parts {
    /// Arbetsförmedlingen: job-seeker status.
    pub arbetsformedlingen: bool,
    /// Försäkringskassan (through LEFI): payments of benefits.
    pub forsakringskassan: bool,
    /// CSN: student finance payments.
    pub csn: bool,
    /// The a-kassor: unemployment benefit payments.
    pub akassor: bool,
}

impl Default for Parts {
    fn default() -> Parts {
        Parts {
            arbetsformedlingen: true,
            forsakringskassan: true,
            csn: true,
            akassor: true,
        }
    }
}

/// Försäkringskassan's question: LEFI's own JSON, base64 inside the SOAP request.
pub(crate) struct FkQuestion<'a> {
    pub version: &'a str,
    pub aktorsid: &'a str,
    pub formansgrupper: &'a [String],
}

/// `hamtaBastjanstInformation`: one person, one period.
pub(crate) struct Request<'a> {
    pub korrelationsid: &'a str,
    pub ingivare: &'a Ingivare,
    /// 12 digits.
    pub personidentitet: &'a str,
    pub arendeidentitet: &'a str,
    /// `YYYY-MM-DD`, first and last day of the period.
    pub from: &'a str,
    pub tom: &'a str,
    pub syfte: &'a str,
    pub lagtext: &'a str,
    pub parts: Parts,
    pub fk: Option<FkQuestion<'a>>,
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

fn el(out: &mut String, name: &str, text: &str) {
    out.push_str("<ssbt:");
    out.push_str(name);
    out.push('>');
    out.push_str(&esc(text));
    out.push_str("</ssbt:");
    out.push_str(name);
    out.push('>');
}

fn envelope(body: &str) -> Vec<u8> {
    let mut s = String::with_capacity(body.len() + 300);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    s.push_str(r#"<soapenv:Envelope xmlns:soapenv=""#);
    s.push_str(SOAP11);
    s.push_str(r#"" xmlns:ssbt=""#);
    s.push_str(SSBT);
    s.push_str(r#""><soapenv:Header/><soapenv:Body>"#);
    s.push_str(body);
    s.push_str("</soapenv:Body></soapenv:Envelope>");
    s.into_bytes()
}

/// The LEFI question Försäkringskassan's part carries (JSON, base64).
pub(crate) fn lefi_question(personnummer: &str, from: &str, tom: &str, groups: &[String]) -> String {
    let q = serde_json::json!({
        "personnummer": personnummer,
        "period": {"from": from, "tom": tom},
        "utbetalningar": groups,
        "preliminaraUtbetalningar": groups,
    });
    base64::engine::general_purpose::STANDARD.encode(q.to_string())
}

impl Request<'_> {
    /// The SOAP 1.1 envelope, elements in the order the schema's sequences require.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut b = String::with_capacity(2048);
        b.push_str("<ssbt:hamtaBastjanstInformation><ssbt:generellaFrageparametrar>");
        el(&mut b, "korrelationsid", self.korrelationsid);
        el(&mut b, "fraganSkallInkluderasISvaret", "false");
        b.push_str("<ssbt:ingivare>");
        el(&mut b, "organisationsnummer", &self.ingivare.organisationsnummer);
        el(&mut b, "namn", &self.ingivare.namn);
        el(&mut b, "handlaggare", &self.ingivare.handlaggare);
        b.push_str("</ssbt:ingivare>");
        el(&mut b, "personidentitet", self.personidentitet);
        el(&mut b, "arendeidentitet", self.arendeidentitet);
        b.push_str("<ssbt:tidsperiod>");
        el(&mut b, "fromDatum", self.from);
        el(&mut b, "tomDatum", self.tom);
        b.push_str("</ssbt:tidsperiod>");
        el(&mut b, "syfte", self.syfte);
        el(&mut b, "lagtext", self.lagtext);
        b.push_str("</ssbt:generellaFrageparametrar><ssbt:specifikaFrageparametrar>");
        let flag = |on: bool| if on { "true" } else { "false" };
        b.push_str(&format!(
            r#"<ssbt:AF inkludera="{}"/>"#,
            flag(self.parts.arbetsformedlingen)
        ));
        b.push_str(&format!(r#"<ssbt:CSN inkludera="{}"/>"#, flag(self.parts.csn)));
        match (&self.fk, self.parts.forsakringskassan) {
            (Some(fk), true) => {
                b.push_str(r#"<ssbt:FK inkludera="true"><ssbt:fraga>"#);
                el(&mut b, "version", fk.version);
                el(&mut b, "aktorsid", fk.aktorsid);
                el(
                    &mut b,
                    "lefiJsonFraga",
                    &lefi_question(self.personidentitet, self.from, self.tom, fk.formansgrupper),
                );
                b.push_str("</ssbt:fraga></ssbt:FK>");
            }
            _ => b.push_str(r#"<ssbt:FK inkludera="false"/>"#),
        }
        b.push_str(r#"<ssbt:SKV inkludera="false"/>"#);
        b.push_str(&format!(r#"<ssbt:SO inkludera="{}"/>"#, flag(self.parts.akassor)));
        b.push_str(r#"<ssbt:TNS inkludera="false"/><ssbt:MIV inkludera="false"/>"#);
        b.push_str("</ssbt:specifikaFrageparametrar></ssbt:hamtaBastjanstInformation>");
        envelope(&b)
    }
}

/// `testaBastjanstInformation`: the contract's own ping, with no parameters.
pub(crate) fn test_request() -> Vec<u8> {
    envelope("<ssbt:testaBastjanstInformation/>")
}

// ---------------------------------------------------------------- answer

/// A calendar date as the registers write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Date {
    pub y: i32,
    pub m: u32,
    pub d: u32,
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    fn new(y: i32, m: u32, d: u32) -> Option<Date> {
        ((1900..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some(Date {
            y,
            m,
            d,
        })
    }

    fn digits(s: &str) -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }

    /// `xs:date`: `YYYY-MM-DD`, optionally with a time zone (`Z`, `+01:00`), which is ignored.
    pub fn parse_xs(s: &str) -> Option<Date> {
        let s = s.trim();
        if s.len() < 10 || !s.is_char_boundary(10) {
            return None;
        }
        let (date, zone) = s.split_at(10);
        let zone_ok = zone.is_empty()
            || zone == "Z"
            || (zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) && &zone[3..4] == ":");
        let b = date.as_bytes();
        if !zone_ok || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Date::new(
            i32::try_from(Date::digits(&date[..4])?).ok()?,
            Date::digits(&date[5..7])?,
            Date::digits(&date[8..10])?,
        )
    }

    /// CSN's `datum`: `YYYYMMDD`.
    pub fn parse_compact(s: &str) -> Option<Date> {
        let s = s.trim();
        if s.len() != 8 {
            return None;
        }
        Date::new(
            i32::try_from(Date::digits(&s[..4])?).ok()?,
            Date::digits(&s[4..6])?,
            Date::digits(&s[6..])?,
        )
    }

    pub fn in_month(&self, year: i32, month: u32) -> bool {
        self.y == year && self.m == month
    }
}

/// `xs:decimal` kronor, exactly: `6500`, `6500.5`, `-120.25`.
pub(crate) fn decimal_kronor(s: &str) -> Option<Money> {
    let t = s.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let ok = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|&b| b == b'.').count() <= 1
        && body.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    Money::parse_kronor_text(t).ok()
}

/// A SOAP fault: its code (the part after the prefix) and, when the detail
/// carries the contract's `BastjanstInformationFault`, its `felkod`.
/// `faultstring` and `felmeddelande` are not kept: free text from the other
/// side may name the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub code: String,
    pub felkod: Option<String>,
}

/// Where a part's error came from (`KallaEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kalla {
    /// SSBT itself, e.g. a timeout towards the underlying service.
    Ssbt,
    /// The underlying service (bastjänst), e.g. a technical error there.
    Bt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartError {
    pub kalla: Kalla,
    pub felkod: String,
}

/// A part's answer: its data, or the error the contract's `choice` allows instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part<T> {
    Data(T),
    Error(PartError),
}

/// Arbetsförmedlingen's `Svar`, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AfSvar {
    pub person: String,
    pub status_kod: i64,
    pub arbetssokande: Option<bool>,
    pub avaktualiserad: Option<Date>,
}

/// One payment, already reduced to its date and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Payment {
    pub date: Date,
    pub amount: Money,
}

/// The a-kassor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoSvar {
    pub person: String,
    /// `NettoEfterSkatt` of every `Utbetalningar` of every a-kassa.
    pub payments: Vec<Payment>,
}

/// CSN's support forms that pay money to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CsnStod {
    Studiemedel,
    Studiehjalp,
    Studiestartsstod,
    Omstallningsstudiestod,
}

impl CsnStod {
    const ALL: [(CsnStod, &'static str, &'static str); 4] = [
        (
            CsnStod::Studiemedel,
            "Studiemedel",
            "http://schema.csn.se/v4.0/studiemedel",
        ),
        (
            CsnStod::Studiehjalp,
            "Studiehjalp",
            "http://schema.csn.se/v4.0/studiehjalp",
        ),
        (
            CsnStod::Studiestartsstod,
            "Studiestartsstod",
            "http://schema.csn.se/v4.0/studiestartsstod",
        ),
        (
            CsnStod::Omstallningsstudiestod,
            "Omstallningsstudiestod",
            "http://schema.csn.se/v4.0/omstallningsstudiestod",
        ),
    ];
}

/// CSN's answer: the result code and, per person, the payments (paid or planned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsnSvar {
    pub resultat_kod: String,
    pub persons: Vec<CsnPerson>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsnPerson {
    /// 10 digits, as CSN writes it, and the century when given.
    pub personnummer: String,
    pub sekel: Option<String>,
    /// "Ej träff" when CSN does not know the person.
    pub status: Option<String>,
    pub payments: Vec<(CsnStod, Payment)>,
}

/// Försäkringskassan's answer (LEFI JSON), the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FkSvar {
    /// (utlämnare, tillstånd) — e.g. ("FK", "OK").
    pub utlamnare: Vec<(String, String)>,
    /// Kinds of deviation (`INTERNT_FEL`, `OBEHORIG`) for the payment groups asked.
    pub avvikelser: Vec<String>,
    /// (förmånsfamilj code, payment): effected and preliminary payments.
    pub payments: Vec<(String, Payment)>,
}

/// `hamtaBastjanstInformationResponse`, the parts we ask for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Svar {
    pub korrelationsid: Option<String>,
    pub af: Option<Part<AfSvar>>,
    pub csn: Option<Part<CsnSvar>>,
    pub fk: Option<Part<FkSvar>>,
    pub so: Option<Part<SoSvar>>,
}

/// `testaBastjanstInformationResponse`: per part, whether its own test
/// service was called and the error it gave, if any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TestSvar {
    pub parts: Vec<(String, Option<PartError>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer<T> {
    Ok(T),
    Fault(Fault),
}

fn need<'a>(parent: &'a Element, ns: &str, name: &str, part: &str) -> Result<&'a Element, Malformed> {
    parent
        .child(ns, name)
        .ok_or_else(|| malformed(format!("{part}: missing element {name}")))
}

/// The Body's one element, or the fault in it.
fn body(doc: &[u8]) -> Result<Result<Element, Fault>, Malformed> {
    let root = xml::parse(doc)?;
    if root.is(SOAP12, "Envelope") {
        return Err(malformed("a SOAP 1.2 envelope where SOAP 1.1 was expected"));
    }
    if !root.is(SOAP11, "Envelope") {
        return Err(malformed("not a SOAP envelope"));
    }
    let body = need(&root, SOAP11, "Body", "envelope")?;
    let mut elements = body.children.iter();
    let (Some(first), None) = (elements.next(), elements.next()) else {
        return Err(malformed("the SOAP body must hold exactly one element"));
    };
    if first.is(SOAP11, "Fault") {
        let code = first
            .child("", "faultcode")
            .map(|c| c.text().rsplit(':').next().unwrap_or_default().to_string())
            .ok_or_else(|| malformed("fault: missing faultcode"))?;
        let felkod = first.child("", "detail").and_then(|d| {
            d.children
                .iter()
                .find(|c| c.ns == SSBT && c.name.ends_with("BastjanstInformationFault"))
                .and_then(|f| f.child(SSBT, "felkod"))
                .map(|f| f.text().to_string())
        });
        return Ok(Err(Fault { code, felkod }));
    }
    Ok(Ok(first.clone()))
}

fn part_error(e: &Element, part: &str) -> Result<PartError, Malformed> {
    let kalla = match need(e, SSBT, "kalla", part)?.text() {
        "SSBT" => Kalla::Ssbt,
        "BT" => Kalla::Bt,
        _ => return Err(malformed(format!("{part}: unknown kalla in an error"))),
    };
    Ok(PartError {
        kalla,
        felkod: need(e, SSBT, "felkod", part)?.text().to_string(),
    })
}

fn part<T>(
    svarsdata: &Element,
    name: &str,
    read: impl Fn(&Element) -> Result<T, Malformed>,
) -> Result<Option<Part<T>>, Malformed> {
    let Some(p) = svarsdata.child(SSBT, name) else {
        return Ok(None);
    };
    if let Some(e) = p.child(SSBT, "error") {
        return Ok(Some(Part::Error(part_error(e, name)?)));
    }
    let data = p
        .child(SSBT, "data")
        .ok_or_else(|| malformed(format!("{name}: neither data nor error")))?;
    Ok(Some(Part::Data(read(data)?)))
}

fn bool_text(s: &str) -> Option<bool> {
    match s {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn read_af(data: &Element) -> Result<AfSvar, Malformed> {
    let svar = need(data, AF, "Svar", "AF")?;
    let person = need(svar, AF, "IdentitetsbeteckningFysiskPerson", "AF")?
        .text()
        .to_string();
    let status_kod = need(svar, AF, "StatusSokandeinformationKod", "AF")?
        .text()
        .parse::<i64>()
        .map_err(|_| malformed("AF: StatusSokandeinformationKod is not an integer"))?;
    let info = svar.child(AF, "ArbetssokandeInfo");
    let arbetssokande = match info.and_then(|i| i.child(AF, "Arbetssokande")) {
        Some(a) => Some(bool_text(a.text()).ok_or_else(|| malformed("AF: Arbetssokande is not a boolean"))?),
        None => None,
    };
    let avaktualiserad = match info.and_then(|i| i.child(AF, "ArbetssokandeAvaktualiserad")) {
        Some(a) => Some(Date::parse_xs(a.text()).ok_or_else(|| malformed("AF: malformed date"))?),
        None => None,
    };
    Ok(AfSvar {
        person,
        status_kod,
        arbetssokande,
        avaktualiserad,
    })
}

fn read_so(data: &Element) -> Result<SoSvar, Malformed> {
    let person = need(data, SO, "IdentificationNumber", "SO")?.text().to_string();
    let list = need(data, SO, "ArbetsloshetsersattningLista", "SO")?;
    let mut payments = Vec::new();
    for kassa in list.children_named(SO, "Arbetsloshetsersattning") {
        for u in kassa.children_named(SO, "Utbetalningar") {
            let date = Date::parse_xs(need(u, SO, "Utbetalningsdatum", "SO")?.text())
                .ok_or_else(|| malformed("SO: malformed Utbetalningsdatum"))?;
            let amount = decimal_kronor(need(u, SO, "NettoEfterSkatt", "SO")?.text())
                .ok_or_else(|| malformed("SO: malformed amount"))?;
            payments.push(Payment { date, amount });
        }
    }
    Ok(SoSvar { person, payments })
}

fn b64(part: &str, text: &str) -> Result<Vec<u8>, Malformed> {
    // base64Binary allows whitespace (line breaks) inside the text.
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| malformed(format!("{part}: not base64")))
}

fn read_csn(data: &Element) -> Result<CsnSvar, Malformed> {
    let doc = b64("CSN", need(data, SSBT, "svar", "CSN")?.text())?;
    read_csn_document(&doc)
}

/// CSN's own answer document (`kommunfraga:CSNSvar`).
pub(crate) fn read_csn_document(doc: &[u8]) -> Result<CsnSvar, Malformed> {
    let root = xml::parse(doc).map_err(|e| malformed(format!("CSN: {e}")))?;
    let k = CSN_KOMMUNFRAGA;
    if !root.is(k, "CSNSvar") {
        return Err(malformed("CSN: not a CSNSvar document"));
    }
    let resultat = need(need(&root, k, "GemensamtSvarEkbistand", "CSN")?, k, "Resultat", "CSN")?;
    let resultat_kod = need(resultat, k, "ResultatKod", "CSN")?.text().to_string();
    let mut persons = Vec::new();
    for p in need(&root, k, "Personer", "CSN")?.children_named(k, "Person") {
        let personnummer = p
            .attr("personnummer")
            .ok_or_else(|| malformed("CSN: a person without personnummer"))?
            .to_string();
        let mut payments = Vec::new();
        for (stod, container, ns) in CsnStod::ALL {
            let Some(arenden) = p
                .child(CSN_PERSON, container)
                .and_then(|c| c.child(CSN_PERSON, "Arenden"))
            else {
                continue;
            };
            for arende in arenden.children_named(CSN_PERSON, "Arende") {
                let Some(plan) = arende.child(ns, "UtbetalningsPlan") else {
                    continue;
                };
                for u in plan.children_named(ns, "Utbetalning") {
                    let date = Date::parse_compact(need(u, CSN_TYPER, "utbetdatum", "CSN")?.text())
                        .ok_or_else(|| malformed("CSN: malformed utbetdatum"))?;
                    match need(u, CSN_TYPER, "utbetstatus", "CSN")?.text() {
                        "Utbetald" | "UTBETALAD" | "Planerad" => {}
                        _ => return Err(malformed("CSN: unknown utbetstatus")),
                    }
                    let text = need(u, CSN_TYPER, "totbelopp", "CSN")?.text();
                    let whole = text.strip_prefix('-').unwrap_or(text);
                    if whole.is_empty() || whole.len() > 7 || !whole.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(malformed("CSN: malformed totbelopp"));
                    }
                    let amount = decimal_kronor(text).ok_or_else(|| malformed("CSN: malformed totbelopp"))?;
                    payments.push((stod, Payment { date, amount }));
                }
            }
        }
        persons.push(CsnPerson {
            personnummer,
            sekel: p.attr("sekel").map(str::to_string),
            status: p.attr("Status").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
            payments,
        });
    }
    Ok(CsnSvar { resultat_kod, persons })
}

// LEFI's JSON, only the fields we read; everything else is ignored.
#[derive(Deserialize)]
struct LefiSvar {
    #[serde(default)]
    utlamnare: Vec<LefiUtlamnareTillstand>,
    #[serde(default)]
    avvikelser: Option<LefiAvvikelser>,
    #[serde(default)]
    formansinformation: Option<LefiFormansinformation>,
}

#[derive(Deserialize)]
struct LefiUtlamnareTillstand {
    utlamnare: Option<LefiKod>,
    tillstand: Option<LefiKod>,
}

#[derive(Deserialize)]
struct LefiKod {
    kod: Option<String>,
}

#[derive(Deserialize)]
struct LefiAvvikelser {
    #[serde(default)]
    utbetalningar: Vec<LefiAvvikelse>,
    #[serde(default, rename = "preliminaraUtbetalningar")]
    preliminara_utbetalningar: Vec<LefiAvvikelse>,
}

#[derive(Deserialize)]
struct LefiAvvikelse {
    avvikelse: Option<LefiKod>,
}

#[derive(Deserialize)]
struct LefiFormansinformation {
    #[serde(default)]
    utbetalningsuppgift: Vec<LefiUtbetalning>,
    #[serde(default)]
    preliminarautbetalningar: Vec<LefiUtbetalning>,
}

#[derive(Deserialize)]
struct LefiUtbetalning {
    formansfamilj: Option<LefiBokstavskod>,
    datum: Option<String>,
    bruttobelopp: Option<LefiBelopp>,
    skattebelopp: Option<LefiBelopp>,
}

#[derive(Deserialize)]
struct LefiBokstavskod {
    id: Option<String>,
}

#[derive(Deserialize)]
struct LefiBelopp {
    summa: Option<Box<RawValue>>,
    valuta: Option<String>,
}

fn lefi_amount(b: &Option<LefiBelopp>) -> Result<Money, Malformed> {
    let Some(b) = b else {
        return Ok(Money::ZERO);
    };
    if b.valuta.as_deref().is_some_and(|v| v != "SEK") {
        return Err(malformed("FK: an amount in another currency than SEK"));
    }
    match &b.summa {
        None => Ok(Money::ZERO),
        Some(raw) => decimal_kronor(raw.get()).ok_or_else(|| malformed("FK: malformed amount")),
    }
}

fn read_fk(data: &Element) -> Result<FkSvar, Malformed> {
    let json = b64("FK", need(data, SSBT, "lefiJsonSvar", "FK")?.text())?;
    read_lefi_json(&json)
}

/// LEFI's JSON answer (`LefiExternFormansinformationSvar`).
pub(crate) fn read_lefi_json(json: &[u8]) -> Result<FkSvar, Malformed> {
    let svar: LefiSvar = serde_json::from_slice(json).map_err(|e| {
        // serde_json's messages may quote values; keep only the position.
        malformed(format!("FK: malformed JSON at line {} column {}", e.line(), e.column()))
    })?;
    let utlamnare = svar
        .utlamnare
        .iter()
        .map(|u| {
            (
                u.utlamnare.as_ref().and_then(|k| k.kod.clone()).unwrap_or_default(),
                u.tillstand.as_ref().and_then(|k| k.kod.clone()).unwrap_or_default(),
            )
        })
        .collect();
    let avvikelser = svar
        .avvikelser
        .iter()
        .flat_map(|a| a.utbetalningar.iter().chain(&a.preliminara_utbetalningar))
        .map(|a| a.avvikelse.as_ref().and_then(|k| k.kod.clone()).unwrap_or_default())
        .collect();
    let mut payments = Vec::new();
    if let Some(f) = &svar.formansinformation {
        for u in f.utbetalningsuppgift.iter().chain(&f.preliminarautbetalningar) {
            let familj = u
                .formansfamilj
                .as_ref()
                .and_then(|f| f.id.clone())
                .ok_or_else(|| malformed("FK: a payment without formansfamilj"))?;
            let date = u
                .datum
                .as_deref()
                .and_then(Date::parse_xs)
                .ok_or_else(|| malformed("FK: a payment without a valid datum"))?;
            if u.bruttobelopp.is_none() {
                return Err(malformed("FK: a payment without bruttobelopp"));
            }
            let brutto = lefi_amount(&u.bruttobelopp)?;
            let skatt = lefi_amount(&u.skattebelopp)?;
            let amount = brutto
                .checked_sub(skatt)
                .map_err(|_| malformed("FK: amount out of range"))?;
            payments.push((familj, Payment { date, amount }));
        }
    }
    Ok(FkSvar {
        utlamnare,
        avvikelser,
        payments,
    })
}

/// Reads a `hamtaBastjanstInformation` answer (or the fault in its place).
pub(crate) fn read_answer(doc: &[u8]) -> Result<Answer<Svar>, Malformed> {
    let first = match body(doc)? {
        Ok(e) => e,
        Err(f) => return Ok(Answer::Fault(f)),
    };
    if !first.is(SSBT, "hamtaBastjanstInformationResponse") {
        return Err(malformed("the body is not a hamtaBastjanstInformationResponse"));
    }
    let svarsdata = need(&first, SSBT, "svarsdata", "answer")?;
    Ok(Answer::Ok(Svar {
        korrelationsid: first.child(SSBT, "korrelationsid").map(|k| k.text().to_string()),
        af: part(svarsdata, "AF", read_af)?,
        csn: part(svarsdata, "CSN", read_csn)?,
        fk: part(svarsdata, "FK", read_fk)?,
        so: part(svarsdata, "SO", read_so)?,
    }))
}

/// Reads a `testaBastjanstInformation` answer (or the fault in its place).
pub(crate) fn read_test_answer(doc: &[u8]) -> Result<Answer<TestSvar>, Malformed> {
    let first = match body(doc)? {
        Ok(e) => e,
        Err(f) => return Ok(Answer::Fault(f)),
    };
    if !first.is(SSBT, "testaBastjanstInformationResponse") {
        return Err(malformed("the body is not a testaBastjanstInformationResponse"));
    }
    let mut parts = Vec::new();
    for p in first.children.iter().filter(|c| c.ns == SSBT) {
        let anropad = need(p, SSBT, "anropad", &p.name)?.text();
        bool_text(anropad).ok_or_else(|| malformed("test answer: anropad is not a boolean"))?;
        let error = match p.child(SSBT, "error") {
            Some(e) => Some(part_error(e, &p.name)?),
            None => None,
        };
        parts.push((p.name.clone(), error));
    }
    Ok(Answer::Ok(TestSvar { parts }))
}
