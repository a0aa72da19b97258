//! Register lookup through SSBTEK, Försäkringskassan's *Sammansatt
//! bastjänst för ekonomiskt bistånd*: SOAP 1.1 over HTTPS with mutual TLS,
//! one request per person and period.
//!
//! ```text
//! POST <endpoint>   Content-Type: text/xml; charset=utf-8   SOAPAction: ""
//!   soapenv:Envelope/Body/ssbt:hamtaBastjanstInformation     (one person, one month)
//!   → ssbt:hamtaBastjanstInformationResponse/svarsdata/{AF,CSN,FK,SO}   or soapenv:Fault
//! health(): ssbt:testaBastjanstInformation (the contract's own ping)
//! ```
//!
//! The messages follow the public SSBTEK v10 contract
//! (`Sammansatt_Bastjanst_v10.wsdl`, `sammansatt_bastjanst_v10.xsd` and the
//! schemas it imports, as published in Sundsvallskommun/api-service-financial-aid
//! under `src/main/resources/contract/v10/`). The types and the XML handling
//! here are our own, written from those schemas.
//!
//! # How an answer becomes a [`PersonAnswer`]
//!
//! | part | what we read | becomes |
//! |---|---|---|
//! | `AF` (`af:SvarMeddelande`) | `Svar/StatusSokandeinformationKod`, `Svar/ArbetssokandeInfo/Arbetssokande`, `…/ArbetssokandeAvaktualiserad` | `job_seeker`: status 0 and `Arbetssokande` true and not deregistered before the period began; status 1 (not known to Arbetsförmedlingen) is not a job seeker |
//! | `SO` (the a-kassor) | `ArbetsloshetsersattningLista/Arbetsloshetsersattning/Utbetalningar/{Utbetalningsdatum, NettoEfterSkatt}` | `a_kassa`, source `AKASSA` |
//! | `FK` (LEFI JSON, base64) | `formansinformation.{utbetalningsuppgift, preliminarautbetalningar}[]`: `formansfamilj.id`, `datum`, `bruttobelopp − skattebelopp` | the kind of [`fk_income_kind`], source `FK` |
//! | `CSN` (CSN's XML, base64) | `Personer/Person/{Studiemedel, Studiehjalp, Studiestartsstod, Omstallningsstudiestod}/Arenden/Arende/UtbetalningsPlan/Utbetalning/{utbetdatum, utbetstatus, totbelopp}` | `studiemedel`, source `CSN` |
//!
//! A payment counts for the period when its payment date falls in that
//! month (paid or planned); payments of the same source and kind are summed
//! exactly (öre, never `f64`). Amounts are net of tax: `NettoEfterSkatt`
//! for the a-kassor, gross minus tax for Försäkringskassan (other
//! deductions, such as distraint or union fees, are not subtracted: the
//! application declares those costs itself), CSN's `totbelopp` (untaxed).
//!
//! # Errors
//!
//! * transport: refused, reset, timed out, HTTP 5xx, 408, 429 → retriable;
//!   a TLS certificate the other side rejects, or that we do not trust → permanent;
//! * SOAP fault: `Server` → retriable, `Client` and anything else → permanent;
//! * a part's `error` element (`kalla` SSBT or BT: the contract describes both
//!   as technical errors, e.g. a timeout towards the underlying service) → retriable;
//! * LEFI `tillstand` `FELANDE`/`OTILLGANGLIG` and deviation `INTERNT_FEL` →
//!   retriable, `OBEHORIG` → permanent;
//! * malformed XML, JSON or base64, a part we asked for that is missing,
//!   an answer about another person, a correlation id that does not match,
//!   and every code we do not know → permanent.
//!
//! Messages name the operation, the part and codes, never the personnummer,
//! a name, an amount or the other side's free text (`faultstring`,
//! `felmeddelande`): those may name the person.
//!
//! # What we kept from the contract, and what we simplified
//!
//! Kept: the SOAP 1.1 binding (document/literal, `soapAction=""`), the
//! namespaces and element names of the request (`generellaFrageparametrar`
//! with `korrelationsid`, `ingivare`, `personidentitet`, `arendeidentitet`,
//! `tidsperiod`, `syfte`, `lagtext`; `specifikaFrageparametrar` with every
//! part's `inkludera` flag, in the schema's order) and of the answer parts
//! above, each part's `data`/`error` choice, the fault element
//! `hamtaBastjanstInformationFault/felkod`, the FK part's base64 LEFI JSON
//! question and answer, the CSN part's base64 `CSNSvar` document with its
//! per-type namespaces, and the `testaBastjanstInformation` ping.
//!
//! Simplified or assumed:
//! * We never ask Skatteverket, Transportstyrelsen or Migrationsverket
//!   (`inkludera="false"`), nor Pensionsmyndigheten's LEFI groups; wages
//!   and pensions are therefore not reported.
//! * AF's `StatusSokandeinformationKod` values are not listed in the public
//!   contract; we read 0 as "information found" and 1 as "not known to
//!   Arbetsförmedlingen", and refuse any other value.
//! * CSN's `ResultatKod` values are not listed either; "0" is success,
//!   anything else a permanent error. `HemutrustningsLan` (a loan for
//!   furniture) is not an income and is not read.
//! * LEFI's payment family codes are listed in the contract without
//!   meanings (except ABB, FP, SJP, YL); [`fk_income_kind`] is our reading,
//!   mapping the uncertain ones to `ovrigt`. A code outside the contract's
//!   list is refused.
//! * The request carries no `frageTidpunkt` (time is not read here) and no
//!   `personuppgiftsbitrade`; `arendeidentitet` is the case's external id
//!   when the caller gives one ([`SsbtekLookup::lookup_for_case`]), else
//!   the configured default.
//! * Real SSBTEK may wrap the service in further infrastructure (SHS
//!   headers, WS-Addressing); none is sent here.

mod contract;
mod xml;

pub use contract::{Ingivare, Parts};

use crate::{ConnectorError, PersonAnswer, RegisterIncome, RegisterLookup};
use async_trait::async_trait;
use contract::{Answer, Date, FkQuestion, Kalla, Part, PartError, Request, Svar};
use domain::{IncomeKind, Money, Period, Personnummer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const NAME: &str = "ssbtek";

/// Försäkringskassan's payment groups (LEFI v9 `LefiFkFormanGruppKod`).
const FK_GROUPS: &[&str] = &[
    "ABB", "AP", "AS", "BOB", "BST", "BTI", "DPE", "EJO", "ET", "FP", "FSJP", "GP", "HE", "MABB", "MEK", "NP", "OMV",
    "PJOB", "PROG", "RBE", "SA", "SBP", "SJP", "TFP", "US", "VB", "YL",
];

/// Our reading of a LEFI payment family (`ABB` or `FK:ABB`) as an income
/// kind of the application. `None` for a code outside the contract.
pub fn fk_income_kind(code: &str) -> Option<IncomeKind> {
    let c = code.strip_prefix("FK:").unwrap_or(code);
    Some(match c {
        "ABB" | "MABB" => IncomeKind::Barnbidrag,
        "BOB" => IncomeKind::Bostadsbidrag,
        "SJP" | "FSJP" | "SBP" | "RBE" => IncomeKind::Sjukpenning,
        "SA" => IncomeKind::Sjukersattning,
        "AS" | "PROG" | "PJOB" => IncomeKind::Aktivitetsstod,
        "ET" => IncomeKind::Etableringsersattning,
        "FP" | "TFP" | "GP" => IncomeKind::Foraldrapenning,
        "US" => IncomeKind::Underhallsstod,
        "AP" => IncomeKind::Pension,
        other if FK_GROUPS.contains(&other) => IncomeKind::Ovrigt,
        _ => return None,
    })
}

/// The `[robots.lookups]` section for `kind = "ssbtek"`.
///
/// ```toml
/// kind = "ssbtek"
/// endpoint = "https://ssbtek.example.se/ssbt/v10"
/// client_cert = "/etc/hrobot/ssbtek/client.pem"
/// client_key = "/etc/hrobot/ssbtek/client.key"   # mode 0600
/// ca = "/etc/hrobot/ssbtek/ca.pem"
/// syfte = "Handläggning av ekonomiskt bistånd"
/// lagtext = "11 kap. 11 § socialtjänstlagen (2001:453)"
/// [ingivare]
/// organisationsnummer = "212000-0000"
/// namn = "Exempelkommun, socialnämnden"
/// handlaggare = "hrobot"
/// [forsakringskassan]
/// aktorsid = "9255f428-4ba0-63ce-5407-e65d469fac0f"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsbtekConfig {
    /// The service's `https://` address.
    pub endpoint: String,
    /// Our client certificate chain (PEM), issued for the municipality.
    pub client_cert: PathBuf,
    /// Its private key (PEM, PKCS#8, PKCS#1 or SEC1). A secret: keep the file 0600.
    pub client_key: PathBuf,
    /// The CA(s) that issue the service's server certificate (PEM). Only these are trusted.
    pub ca: PathBuf,
    #[serde(default = "connect_timeout")]
    pub connect_timeout_seconds: u64,
    /// For the whole call, answer included.
    #[serde(default = "timeout")]
    pub timeout_seconds: u64,
    /// Which parts to ask (all four by default).
    #[serde(default)]
    pub parts: Parts,
    pub ingivare: Ingivare,
    /// Why we ask (`syfte`).
    pub syfte: String,
    /// The rule that allows the registers to answer (`lagtext`).
    pub lagtext: String,
    /// `arendeidentitet` when the caller gives no case reference.
    #[serde(default = "arendeidentitet")]
    pub arendeidentitet: String,
    #[serde(default)]
    pub forsakringskassan: FkSettings,
}

/// Försäkringskassan's part: LEFI's own question parameters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FkSettings {
    /// The municipality's LEFI actor id (given by Försäkringskassan). Required when the part is asked.
    pub aktorsid: Option<String>,
    /// LEFI's API version, as in its path (`v9`).
    pub lefi_version: String,
    /// Payment groups to ask for (`FK:ABB`, …).
    pub formansgrupper: Vec<String>,
}

impl Default for FkSettings {
    fn default() -> FkSettings {
        FkSettings {
            aktorsid: None,
            lefi_version: "v9".into(),
            formansgrupper: ["ABB", "AS", "BOB", "ET", "FP", "SA", "SJP", "TFP", "US"]
                .iter()
                .map(|g| format!("FK:{g}"))
                .collect(),
        }
    }
}

fn connect_timeout() -> u64 {
    5
}
fn timeout() -> u64 {
    20
}
fn arendeidentitet() -> String {
    "hrobot".into()
}

impl SsbtekConfig {
    /// Makes relative file paths relative to `dir` (the configuration file's folder).
    pub fn relative_to(&mut self, dir: &Path) {
        for p in [&mut self.client_cert, &mut self.client_key, &mut self.ca] {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// A register lookup against an SSBTEK(-style) service.
pub struct SsbtekLookup {
    config: SsbtekConfig,
    /// As sent: the organisationsnummer in the contract's 12-digit form (`16` + 10 digits).
    ingivare: Ingivare,
    client: reqwest::Client,
    endpoint: reqwest::Url,
    calls: AtomicU64,
}

impl std::fmt::Debug for SsbtekLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsbtekLookup")
            .field("endpoint", &self.endpoint.as_str())
            .field("parts", &self.config.parts)
            .finish_non_exhaustive()
    }
}

fn config_error(message: impl Into<String>) -> ConnectorError {
    ConnectorError::permanent(NAME, message)
}

fn read_file(what: &str, p: &Path) -> Result<Vec<u8>, ConnectorError> {
    std::fs::read(p).map_err(|e| config_error(format!("cannot read the {what} file {}: {}", p.display(), e.kind())))
}

/// A reference of 1–64 characters `A–Z a–z 0–9 . _ -` (an `external_id`).
fn valid_reference(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `NNNNNN-NNNN` or 10/12 digits → the contract's 12 digits (`16` prefix).
fn normalise_orgnr(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let twelve = match digits.len() {
        10 => format!("16{digits}"),
        12 => digits,
        _ => return None,
    };
    (b'2'..=b'9').contains(&twelve.as_bytes()[4]).then_some(twelve)
}

fn tls_config(c: &SsbtekConfig) -> Result<rustls::ClientConfig, ConnectorError> {
    let ca = read_file("CA", &c.ca)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        let cert = cert.map_err(|_| config_error("the CA file is not PEM"))?;
        roots
            .add(cert)
            .map_err(|_| config_error("the CA file holds a certificate that cannot be used as a trust anchor"))?;
    }
    if roots.is_empty() {
        return Err(config_error("the CA file holds no certificate"));
    }
    let chain = read_file("client certificate", &c.client_cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain)
        .collect::<Result<_, _>>()
        .map_err(|_| config_error("the client certificate file is not PEM"))?;
    if chain.is_empty() {
        return Err(config_error("the client certificate file holds no certificate"));
    }
    warn_if_key_readable_by_others(&c.client_key);
    let key = read_file("client key", &c.client_key)?;
    let key =
        PrivateKeyDer::from_pem_slice(&key).map_err(|_| config_error("the client key file holds no private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| config_error("no TLS protocol version available"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|_| config_error("the client certificate and key do not belong together or are unusable"))
}

#[cfg(unix)]
fn warn_if_key_readable_by_others(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(p)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(connector = NAME, file = %p.display(), "the client key file is readable by others than its owner");
    }
}

#[cfg(not(unix))]
fn warn_if_key_readable_by_others(_: &Path) {}

impl SsbtekLookup {
    /// Checks the configuration and loads the certificates; every problem
    /// is a permanent error, found at start-up.
    pub fn new(config: SsbtekConfig) -> Result<SsbtekLookup, ConnectorError> {
        let endpoint = reqwest::Url::parse(&config.endpoint).map_err(|_| config_error("endpoint is not a URL"))?;
        if endpoint.scheme() != "https" || endpoint.host().is_none() {
            return Err(config_error(
                "endpoint must be an https:// URL (SSBTEK needs mutual TLS)",
            ));
        }
        let organisationsnummer = normalise_orgnr(&config.ingivare.organisationsnummer)
            .ok_or_else(|| config_error("ingivare.organisationsnummer must be an organisationsnummer (10 digits)"))?;
        for (field, value) in [
            ("ingivare.namn", &config.ingivare.namn),
            ("ingivare.handlaggare", &config.ingivare.handlaggare),
            ("syfte", &config.syfte),
            ("lagtext", &config.lagtext),
        ] {
            if value.trim().is_empty() {
                return Err(config_error(format!("{field} must not be empty")));
            }
        }
        if !valid_reference(&config.arendeidentitet) {
            return Err(config_error("arendeidentitet: 1–64 characters of A–Z a–z 0–9 . _ -"));
        }
        let p = config.parts;
        if !(p.arbetsformedlingen || p.forsakringskassan || p.csn || p.akassor) {
            return Err(config_error("parts: ask at least one part"));
        }
        if p.forsakringskassan {
            let fk = &config.forsakringskassan;
            if fk.aktorsid.as_deref().is_none_or(|a| a.trim().is_empty()) {
                return Err(config_error(
                    "forsakringskassan.aktorsid is required when the FK part is asked",
                ));
            }
            let v = fk.lefi_version.strip_prefix('v').unwrap_or_default();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(config_error("forsakringskassan.lefi_version must look like v9"));
            }
            if fk.formansgrupper.is_empty() {
                return Err(config_error("forsakringskassan.formansgrupper must not be empty"));
            }
            for g in &fk.formansgrupper {
                if !g.starts_with("FK:") || fk_income_kind(g).is_none() {
                    return Err(config_error(format!(
                        "forsakringskassan.formansgrupper: {g:?} is not one of LEFI's FK payment groups"
                    )));
                }
            }
        }
        if config.timeout_seconds == 0 || config.connect_timeout_seconds == 0 {
            return Err(config_error("timeouts must be at least one second"));
        }
        let tls = tls_config(&config)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(config.connect_timeout_seconds))
            .timeout(Duration::from_secs(config.timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hrobot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| config_error("cannot build the HTTPS client"))?;
        let ingivare = Ingivare {
            organisationsnummer,
            ..config.ingivare.clone()
        };
        Ok(SsbtekLookup {
            config,
            ingivare,
            client,
            endpoint,
            calls: AtomicU64::new(0),
        })
    }

    /// Like [`RegisterLookup::lookup`], with the case's reference (the
    /// application's `external_id`) as the request's `arendeidentitet`,
    /// as the contract intends.
    pub async fn lookup_for_case(
        &self,
        case_reference: &str,
        person: &Personnummer,
        period: Period,
    ) -> Result<PersonAnswer, ConnectorError> {
        if !valid_reference(case_reference) {
            return Err(ConnectorError::permanent(NAME, "malformed case reference"));
        }
        self.ask(case_reference, person, period).await
    }

    async fn ask(&self, case: &str, person: &Personnummer, period: Period) -> Result<PersonAnswer, ConnectorError> {
        let first = period.first_day();
        let last = period
            .plus_months(1)
            .and_then(|p| p.first_day().pred_opt())
            .ok_or_else(|| ConnectorError::permanent(NAME, "period out of range"))?;
        let (from, tom) = (first.to_string(), last.to_string());
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let korrelationsid = format!("hrobot-{n}");
        let fk = &self.config.forsakringskassan;
        let request = Request {
            korrelationsid: &korrelationsid,
            ingivare: &self.ingivare,
            personidentitet: person.as_str(),
            arendeidentitet: case,
            from: &from,
            tom: &tom,
            syfte: &self.config.syfte,
            lagtext: &self.config.lagtext,
            parts: self.config.parts,
            fk: fk.aktorsid.as_deref().map(|aktorsid| FkQuestion {
                version: &fk.lefi_version,
                aktorsid,
                formansgrupper: &fk.formansgrupper,
            }),
        };
        let (status, body) = self.call("lookup", request.to_xml()).await?;
        let svar = match interpret("lookup", status, &body, contract::read_answer)? {
            Answer::Ok(s) => s,
            Answer::Fault(f) => return Err(fault_error("lookup", &f)),
        };
        let answer = to_person_answer(&svar, &korrelationsid, self.config.parts, person, period);
        if let Err(e) = &answer {
            tracing::warn!(connector = NAME, operation = "lookup", retriable = e.is_retriable(), error = %e.message, "register answer not usable");
        }
        answer
    }

    async fn call(&self, operation: &'static str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ConnectorError> {
        let started = Instant::now();
        let result = self.send(operation, body).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok((status, _)) => {
                tracing::debug!(connector = NAME, operation, status, duration_ms, "call done");
            }
            Err(e) => {
                tracing::warn!(connector = NAME, operation, duration_ms, retriable = e.is_retriable(), error = %e.message, "call failed");
            }
        }
        result
    }

    async fn send(&self, operation: &'static str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ConnectorError> {
        let mut response = self
            .client
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", "\"\"")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(operation, &e))?;
        let status = response.status().as_u16();
        let mut buf = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(operation, &e))? {
            if buf.len() + chunk.len() > xml::MAX_BYTES {
                return Err(ConnectorError::permanent(
                    NAME,
                    format!("{operation}: the answer is too large"),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((status, buf))
    }
}

/// Classifies a transport error. TLS certificate problems are permanent
/// (retrying does not change a certificate); the rest is worth retrying.
fn transport_error(operation: &str, e: &reqwest::Error) -> ConnectorError {
    if let Some(tls) = rustls_cause(e) {
        use rustls::AlertDescription as A;
        let permanent = match tls {
            rustls::Error::InvalidCertificate(_) => Some("the server's certificate is not trusted"),
            rustls::Error::NoCertificatesPresented => Some("the server presented no certificate"),
            rustls::Error::AlertReceived(
                A::BadCertificate
                | A::UnknownCA
                | A::CertificateRequired
                | A::CertificateUnknown
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::AccessDenied,
            ) => Some("the server refused our client certificate"),
            _ => None,
        };
        if let Some(what) = permanent {
            return ConnectorError::permanent(NAME, format!("{operation}: TLS: {what}"));
        }
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    ConnectorError::retriable(NAME, format!("{operation}: {what}"))
}

fn rustls_cause(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        // `io::Error::source` skips the error it wraps (and io errors nest):
        // look inside each one.
        let mut inner = err;
        loop {
            if let Some(t) = inner.downcast_ref::<rustls::Error>() {
                return Some(t);
            }
            match inner.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        cur = err.source();
    }
    None
}

/// What an HTTP status and body mean. SOAP 1.1 sends faults with HTTP 500,
/// so a 500 is read as a fault when it is one, and as "retry later" when not.
fn interpret<T>(
    operation: &str,
    status: u16,
    body: &[u8],
    read: impl Fn(&[u8]) -> Result<Answer<T>, contract::Malformed>,
) -> Result<Answer<T>, ConnectorError> {
    match status {
        200 => read(body).map_err(|e| ConnectorError::permanent(NAME, format!("{operation}: malformed answer: {e}"))),
        500 => match read(body) {
            Ok(Answer::Fault(f)) => Ok(Answer::Fault(f)),
            _ => Err(ConnectorError::retriable(NAME, format!("{operation}: HTTP 500"))),
        },
        408 | 429 | 501..=599 => Err(ConnectorError::retriable(NAME, format!("{operation}: HTTP {status}"))),
        _ => Err(ConnectorError::permanent(NAME, format!("{operation}: HTTP {status}"))),
    }
}

/// A code from the other side, fit for an error message: short, plain,
/// and without anything that could be a personnummer.
fn code_text(s: &str) -> String {
    let s = s.trim();
    let plain = !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    let longest_digits = s.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    if plain && longest_digits < 6 {
        s.to_string()
    } else {
        "(not shown)".into()
    }
}

fn fault_error(operation: &str, f: &contract::Fault) -> ConnectorError {
    let felkod = f
        .felkod
        .as_deref()
        .map(|k| format!(" (felkod {})", code_text(k)))
        .unwrap_or_default();
    let message = format!("{operation}: SOAP fault {}{felkod}", code_text(&f.code));
    if f.code == "Server" {
        ConnectorError::retriable(NAME, message)
    } else {
        ConnectorError::permanent(NAME, message)
    }
}

fn part_failed(part: &str, e: &PartError) -> ConnectorError {
    let kalla = match e.kalla {
        Kalla::Ssbt => "SSBT",
        Kalla::Bt => "BT",
    };
    ConnectorError::retriable(
        NAME,
        format!(
            "lookup: the {part} part answered with an error (kalla {kalla}, felkod {})",
            code_text(&e.felkod)
        ),
    )
}

fn permanent(message: impl Into<String>) -> ConnectorError {
    ConnectorError::permanent(NAME, format!("lookup: {}", message.into()))
}

/// The part's data, when it was asked for; its error or absence otherwise.
fn asked<'a, T>(asked: bool, part: &'a Option<Part<T>>, name: &str) -> Result<Option<&'a T>, ConnectorError> {
    if !asked {
        return Ok(None);
    }
    match part {
        None => Err(permanent(format!("the {name} part is missing from the answer"))),
        Some(Part::Error(e)) => Err(part_failed(name, e)),
        Some(Part::Data(d)) => Ok(Some(d)),
    }
}

/// Maps the parts of an answer to our register answer; see the module documentation.
fn to_person_answer(
    svar: &Svar,
    korrelationsid: &str,
    parts: Parts,
    person: &Personnummer,
    period: Period,
) -> Result<PersonAnswer, ConnectorError> {
    if svar.korrelationsid.as_deref().is_some_and(|k| k != korrelationsid) {
        return Err(permanent("the answer's korrelationsid is not the request's"));
    }
    let pnr = person.as_str();
    let (year, month) = (period.year(), period.month());
    let first = Date {
        y: year,
        m: month,
        d: 1,
    };
    let mut sums: BTreeMap<(&'static str, IncomeKind), Money> = BTreeMap::new();
    let mut add = |source: &'static str, kind: IncomeKind, amount: Money| -> Result<(), ConnectorError> {
        let sum = sums.entry((source, kind)).or_insert(Money::ZERO);
        *sum = sum
            .checked_add(amount)
            .map_err(|_| permanent("an amount out of range"))?;
        Ok(())
    };

    let mut job_seeker = false;
    if let Some(af) = asked(parts.arbetsformedlingen, &svar.af, "AF")? {
        if af.person != pnr {
            return Err(permanent("the AF part concerns another person than asked"));
        }
        job_seeker = match af.status_kod {
            0 => af.arbetssokande == Some(true) && af.avaktualiserad.is_none_or(|d| d >= first),
            1 => false,
            n => return Err(permanent(format!("unknown AF StatusSokandeinformationKod {n}"))),
        };
    }

    if let Some(so) = asked(parts.akassor, &svar.so, "SO")? {
        if so.person != pnr {
            return Err(permanent("the SO part concerns another person than asked"));
        }
        for p in so.payments.iter().filter(|p| p.date.in_month(year, month)) {
            add("AKASSA", IncomeKind::AKassa, p.amount)?;
        }
    }

    if let Some(fk) = asked(parts.forsakringskassan, &svar.fk, "FK")? {
        for (utlamnare, tillstand) in &fk.utlamnare {
            match tillstand.as_str() {
                "OK" => {}
                "FELANDE" | "OTILLGANGLIG" => {
                    return Err(ConnectorError::retriable(
                        NAME,
                        format!("lookup: LEFI reports {} as {tillstand}", code_text(utlamnare)),
                    ));
                }
                other => return Err(permanent(format!("unknown LEFI tillstand {}", code_text(other)))),
            }
        }
        // A deviation that retrying cannot fix decides; otherwise an internal error is worth a retry.
        match fk
            .avvikelser
            .iter()
            .find(|a| a.as_str() != "INTERNT_FEL")
            .map(String::as_str)
        {
            Some("OBEHORIG") => return Err(permanent("LEFI says we may not see a payment group we asked for")),
            Some(other) => return Err(permanent(format!("unknown LEFI avvikelse {}", code_text(other)))),
            None if !fk.avvikelser.is_empty() => {
                return Err(ConnectorError::retriable(
                    NAME,
                    "lookup: LEFI reports an internal error for a payment group",
                ));
            }
            None => {}
        }
        for (familj, p) in &fk.payments {
            let kind = fk_income_kind(familj)
                .ok_or_else(|| permanent(format!("unknown LEFI formansfamilj {}", code_text(familj))))?;
            if p.date.in_month(year, month) {
                add("FK", kind, p.amount)?;
            }
        }
    }

    if let Some(csn) = asked(parts.csn, &svar.csn, "CSN")? {
        if csn.resultat_kod != "0" {
            return Err(permanent(format!("CSN ResultatKod {}", code_text(&csn.resultat_kod))));
        }
        for p in &csn.persons {
            let same = p.personnummer == pnr[2..] && p.sekel.as_deref().is_none_or(|s| s == &pnr[..2]);
            if !same {
                return Err(permanent("the CSN part concerns another person than asked"));
            }
            if p.status.as_deref() == Some("Ej träff") {
                continue;
            }
            for (_, pay) in p.payments.iter().filter(|(_, pay)| pay.date.in_month(year, month)) {
                add("CSN", IncomeKind::Studiemedel, pay.amount)?;
            }
        }
    }

    let mut incomes = Vec::with_capacity(sums.len());
    for ((source, kind), amount) in sums {
        if amount.ore() < 0 {
            return Err(permanent(format!("a negative total for {source} {kind}")));
        }
        incomes.push(RegisterIncome {
            source: source.to_string(),
            kind,
            amount,
        });
    }
    Ok(PersonAnswer { job_seeker, incomes })
}

#[async_trait]
impl RegisterLookup for SsbtekLookup {
    fn name(&self) -> &str {
        NAME
    }

    async fn lookup(&self, person: &Personnummer, period: Period) -> Result<PersonAnswer, ConnectorError> {
        self.ask(&self.config.arendeidentitet, person, period).await
    }

    /// A case reference the contract cannot carry (too long, odd
    /// characters) falls back to the configured `arendeidentitet`.
    async fn lookup_for_case(
        &self,
        case_reference: &str,
        person: &Personnummer,
        period: Period,
    ) -> Result<PersonAnswer, ConnectorError> {
        let case = if valid_reference(case_reference) {
            case_reference
        } else {
            &self.config.arendeidentitet
        };
        self.ask(case, person, period).await
    }

    /// `testaBastjanstInformation`: a TLS handshake with our certificate and
    /// the contract's ping; a part we ask that reports an error fails it.
    async fn health(&self) -> Result<(), ConnectorError> {
        let (status, body) = self.call("health", contract::test_request()).await?;
        let test = match interpret("health", status, &body, contract::read_test_answer)? {
            Answer::Ok(t) => t,
            Answer::Fault(f) => return Err(fault_error("health", &f)),
        };
        let p = self.config.parts;
        for (part, error) in &test.parts {
            let wanted = match part.as_str() {
                "AF" => p.arbetsformedlingen,
                "CSN" => p.csn,
                "FK" => p.forsakringskassan,
                "SO" => p.akassor,
                _ => false,
            };
            if let (true, Some(e)) = (wanted, error) {
                return Err(part_failed(part, e).with_operation("health"));
            }
        }
        Ok(())
    }
}

trait WithOperation {
    fn with_operation(self, operation: &str) -> Self;
}

impl WithOperation for ConnectorError {
    fn with_operation(mut self, operation: &str) -> ConnectorError {
        if let Some(rest) = self.message.strip_prefix("lookup:") {
            self.message = format!("{operation}:{rest}");
        }
        self
    }
}

#[cfg(test)]
mod tests;
