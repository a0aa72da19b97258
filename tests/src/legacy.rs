//! A simulated legacy case system, "ÄrendeSys 4.2": server-rendered HTML in
//! the style of the old Swedish social-services systems that robots drive
//! through the browser because they have no API.
//!
//! What a robot meets here, as in the real ones:
//!
//! * a login form (username and password) and a session cookie
//!   (`JSESSIONID`), idle sessions expire;
//! * a frameset: a menu frame (`meny`) and a content frame (`innehall`);
//!   everything happens in the content frame;
//! * nested layout tables; label/value rows (`Hyra:` | `5 200,00`) and
//!   list tables with a caption and header cells;
//! * form fields whose `id` and `name` are generated per page load (the
//!   server maps them back through a hidden form key), so a robot must
//!   find a field by its `<label>`;
//! * a search page (by personnummer or case number), a paginated list of
//!   open applications that is slow to render, and case screens (tabs):
//!   Ansökan, Hushåll, Ekonomi, Historik, Beslut;
//! * a decision form whose "Spara" button opens a "Spara beslutet?"
//!   overlay a moment later; only its "Ja" saves. Saving is idempotent on
//!   the reference (`Referens`) the robot writes into the form;
//! * fault modes ([`Service::Legacy`]): down (connections closed), slow,
//!   HTTP 500, malformed (pages cut in half), expired sessions (with the
//!   fault on, a session dies after every second screen it serves: the
//!   frameset and menu do not count) and a changed
//!   layout (labels renamed, label/value tables turned into `<dl>`s).
//!
//! For tests, `GET /_sim/decisions` lists the decisions written and
//! `GET /_sim/cases` each case's status.
//!
//! Every seeded application becomes one case whose number
//! (`Ärendenummer`) is the application's `external_id`.

use crate::data::Dataset;
use crate::faults::{Fault, Faults, Service};
use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The product name shown on every page.
pub const PRODUCT: &str = "ÄrendeSys";

/// Who may log in.
#[derive(Debug, Clone)]
pub struct Options {
    pub username: String,
    pub password: String,
    /// Rows per page of the list of open applications.
    pub per_page: usize,
    /// How long the list of open applications takes to render (the slow page).
    pub slow_page: Duration,
    /// A session not used for this long has expired.
    pub idle_timeout: Duration,
    /// How long after a click on "Spara" the confirmation overlay appears.
    pub overlay_delay_ms: u64,
    /// With the expired-session fault on, how many screens a session
    /// serves before it expires (2: enough to load a form and post it).
    pub screens_per_session_under_fault: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            username: "robot".into(),
            password: "sim-legacy-password".into(),
            per_page: 10,
            slow_page: Duration::from_millis(300),
            idle_timeout: Duration::from_secs(20 * 60),
            overlay_delay_ms: 150,
            screens_per_session_under_fault: 2,
        }
    }
}

/// A decision as recorded by the case system.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub arende: String,
    pub beslutsnummer: String,
    pub utfall: String,
    /// The amount in öre, when one was given.
    pub belopp_ore: Option<i64>,
    pub period: String,
    pub text: String,
    pub beslutsfattare: String,
    pub referens: String,
    /// The user the robot logged in as.
    pub sparad_av: String,
}

struct Case {
    internal: u32,
    app: Value,
    status: &'static str,
    note: String,
    decisions: Vec<Decision>,
}

struct Session {
    user: String,
    last_used: Instant,
    screens: u32,
}

/// A rendered form: the generated field names and what they stand for.
struct FormSpec {
    fields: HashMap<String, &'static str>,
}

#[derive(Default)]
struct Inner {
    cases: BTreeMap<String, Case>,
    sessions: HashMap<String, Session>,
    forms: HashMap<String, FormSpec>,
    decisions: Vec<Decision>,
    pages: u64,
}

#[derive(Clone)]
struct AppState {
    inner: Arc<Mutex<Inner>>,
    faults: Faults,
    options: Arc<Options>,
    random: Arc<std::collections::hash_map::RandomState>,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl AppState {
    fn token(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut h = self.random.build_hasher();
        h.write_u64(n);
        format!("{prefix}{:016x}", h.finish())
    }

    fn layout_changed(&self) -> bool {
        self.faults.get(Service::Legacy) == Some(Fault::ChangedLayout)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a test thread panicked; the data is fine.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

// ---------------------------------------------------------------------------
// Vocabulary: the case system's own Swedish labels for our codes.

/// Income kinds as the case system names them.
pub const INCOME_LABELS: &[(&str, &str)] = &[
    ("lon", "Lön"),
    ("a_kassa", "A-kassa"),
    ("sjukpenning", "Sjukpenning"),
    ("sjukersattning", "Sjukersättning"),
    ("aktivitetsstod", "Aktivitetsstöd"),
    ("etableringsersattning", "Etableringsersättning"),
    ("foraldrapenning", "Föräldrapenning"),
    ("bostadsbidrag", "Bostadsbidrag"),
    ("barnbidrag", "Barnbidrag"),
    ("underhallsstod", "Underhållsstöd"),
    ("underhallsbidrag", "Underhållsbidrag"),
    ("studiemedel", "Studiemedel"),
    ("pension", "Pension"),
    ("skatteaterbaring", "Skatteåterbäring"),
    ("ovrigt", "Övrig inkomst"),
];

pub const ASSET_LABELS: &[(&str, &str)] = &[
    ("bankmedel", "Bankmedel"),
    ("kontanter", "Kontanter"),
    ("vardepapper", "Värdepapper"),
    ("ovrigt", "Övriga tillgångar"),
];

pub const RELATION_LABELS: &[(&str, &str)] = &[("sambo", "Sambo"), ("make", "Make/maka"), ("annan", "Annan")];

pub const KIND_LABELS: &[(&str, &str)] = &[("fortsatt", "Fortsatt ansökan"), ("nyansokan", "Nyansökan")];

pub const OUTCOME_LABELS: &[(&str, &str)] = &[
    ("bifall", "Bifall"),
    ("delvis_bifall", "Delvis bifall"),
    ("avslag", "Avslag"),
    ("manuell", "Manuell handläggning"),
];

const STATUS_OPEN: &str = "Inkommen";
const STATUSES: &[&str] = &[STATUS_OPEN, "Hämtad av robot", "Åter till handläggare", "Beslutad"];

fn label_of(table: &[(&str, &'static str)], code: &str) -> Option<&'static str> {
    table.iter().find(|(c, _)| *c == code).map(|(_, l)| *l)
}

// ---------------------------------------------------------------------------
// Text helpers.

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A scalar as the case system shows it ("" when absent).
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "Ja".into(),
        Some(Value::Bool(false)) => "Nej".into(),
        Some(other) => other.to_string(),
    }
}

/// A code shown with the system's label, or as stored when it has none.
fn coded(v: Option<&Value>, table: &[(&str, &'static str)]) -> String {
    match v {
        Some(Value::String(s)) => label_of(table, s).map(str::to_string).unwrap_or_else(|| s.clone()),
        other => text(other),
    }
}

/// An amount as Swedish text: "5 200,00", "-100,00", "250,555" (every
/// decimal kept: the system shows what was stored).
pub fn amount_text(v: Option<&Value>) -> String {
    let Some(Value::Number(n)) = v else {
        return text(v);
    };
    let raw = n.to_string();
    let (sign, digits) = match raw.strip_prefix('-') {
        Some(rest) => ("-", rest.to_string()),
        None => ("", raw.clone()),
    };
    if digits.contains(['e', 'E']) {
        return raw;
    }
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i.to_string(), format!("{f:0<2}")),
        None => (digits.clone(), "00".to_string()),
    };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped},{frac}")
}

/// "2021-03-02T09:30:00+01:00" → "2021-03-02 09:30:00+01:00".
fn time_text(v: Option<&Value>) -> String {
    text(v).replacen('T', " ", 1)
}

/// Parses an amount typed into a form ("9 750", "9750,50") into öre.
fn parse_amount_ore(s: &str) -> Option<i64> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if cleaned.is_empty() {
        return None;
    }
    let (int, frac) = match cleaned.split_once(',') {
        Some((i, f)) => (i, f),
        None => (cleaned.as_str(), ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kr: i64 = int.parse().ok()?;
    let ore: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    kr.checked_mul(100)?.checked_add(ore)
}

fn valid_period(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!(s[5..].parse::<u32>(), Ok(1..=12))
}

// ---------------------------------------------------------------------------
// Page building.

const STYLE: &str = "body{font-family:Verdana,Arial,sans-serif;font-size:11px;background:#d4d0c8;margin:4px}\
table.yttre{background:#fff;border:1px solid #808080}td.rubrik{background:#0a246a;color:#fff}\
h1{font-size:13px;margin:2px}td.etikett,dt{font-weight:bold;text-align:right;padding-right:6px}\
table.lista{border-collapse:collapse}table.lista th{background:#ece9d8;border:1px solid #aca899}\
table.lista td{border:1px solid #aca899;padding:1px 4px}caption{text-align:left;font-weight:bold}\
td.sidfot{font-size:9px;color:#808080}p.fel{color:#c00;font-weight:bold}\
div.modal{position:fixed;left:0;top:0;width:100%;height:100%;background:rgba(0,0,0,.35)}\
div.ruta{background:#ece9d8;border:2px outset #fff;width:260px;margin:120px auto;padding:10px}";

/// A content-frame screen: nested layout tables, a title, a footer that
/// marks the end of the page.
fn screen(s: &AppState, title: &str, body: &str) -> Html<String> {
    let n = {
        let mut i = s.lock();
        i.pages += 1;
        i.pages
    };
    Html(format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<html><head>\
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\
<title>{PRODUCT} – {title}</title><style>{STYLE}</style></head><body>\n\
<table class=\"yttre\" width=\"100%\" cellspacing=\"0\" cellpadding=\"3\">\
<tr><td class=\"rubrik\"><h1>{title}</h1></td></tr>\n<tr><td>\n{body}\n</td></tr>\n\
<tr><td class=\"sidfot\">{PRODUCT} 4.2 · sida {n}</td></tr></table>\n</body></html>\n",
        title = esc(title),
    ))
}

/// Label/value rows. In the changed layout: a definition list.
fn fields(s: &AppState, rows: &[(&str, String)]) -> String {
    let mut out = String::new();
    if s.layout_changed() {
        out.push_str("<dl class=\"falt\">");
        for (label, value) in rows {
            let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(label), esc(value));
        }
        out.push_str("</dl>");
        return out;
    }
    out.push_str("<table class=\"falt\" cellspacing=\"0\" cellpadding=\"2\"><tr><td><table>");
    for (label, value) in rows {
        let _ = write!(
            out,
            "<tr><td class=\"etikett\">{}:</td><td class=\"varde\">{}</td></tr>",
            esc(label),
            esc(value)
        );
    }
    out.push_str("</table></td></tr></table>");
    out
}

/// A list table with a caption and header cells.
fn list_table(caption: &str, headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = format!(
        "<table class=\"lista\" cellspacing=\"0\"><caption>{}</caption><tr>",
        esc(caption)
    );
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\"><i>Inga uppgifter</i></td></tr>",
            headers.len()
        );
    }
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            match c {
                Cell::Text(t) => {
                    let _ = write!(out, "<td>{}</td>", esc(t));
                }
                Cell::Link(t, href) => {
                    let _ = write!(out, "<td><a href=\"{}\">{}</a></td>", esc(href), esc(t));
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table><br>");
    out
}

enum Cell {
    Text(String),
    Link(String, String),
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// A form whose fields get fresh ids and names on every page load.
struct FormBuilder<'a> {
    s: &'a AppState,
    key: String,
    fields: HashMap<String, &'static str>,
}

impl<'a> FormBuilder<'a> {
    fn new(s: &'a AppState) -> FormBuilder<'a> {
        FormBuilder {
            s,
            key: s.token("k"),
            fields: HashMap::new(),
        }
    }

    /// (id, name) for a logical field.
    fn field(&mut self, logical: &'static str) -> (String, String) {
        let id = self.s.token("f");
        let name = self.s.token("n");
        self.fields.insert(name.clone(), logical);
        (id, name)
    }

    fn input_row(&mut self, label: &str, logical: &'static str, kind: &str, value: &str) -> String {
        let (id, name) = self.field(logical);
        format!(
            "<tr><td class=\"etikett\"><label for=\"{id}\">{}</label></td>\
<td><input type=\"{kind}\" id=\"{id}\" name=\"{name}\" value=\"{}\" size=\"30\"></td></tr>",
            esc(label),
            esc(value)
        )
    }

    fn hidden(&mut self, logical: &'static str, value: &str) -> String {
        let (id, name) = self.field(logical);
        format!(
            "<input type=\"hidden\" id=\"{id}\" name=\"{name}\" value=\"{}\">",
            esc(value)
        )
    }

    fn finish(self) -> String {
        let hidden = format!("<input type=\"hidden\" name=\"_form\" value=\"{}\">", self.key);
        let mut inner = self.s.lock();
        if inner.forms.len() > 20_000 {
            inner.forms.clear();
        }
        inner.forms.insert(self.key, FormSpec { fields: self.fields });
        hidden
    }
}

/// The posted values by logical name, through the form key.
fn posted(s: &AppState, form: &[(String, String)]) -> Option<HashMap<&'static str, String>> {
    let key = form.iter().find(|(k, _)| k == "_form").map(|(_, v)| v.clone())?;
    let inner = s.lock();
    let spec = inner.forms.get(&key)?;
    Some(
        form.iter()
            .filter_map(|(k, v)| spec.fields.get(k).map(|l| (*l, v.clone())))
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Faults, applied to every page (not to /_sim).

async fn faults_layer(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_sim/") {
        return next.run(req).await;
    }
    match s.faults.get(Service::Legacy) {
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Http500) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(format!(
                    "<html><head><title>{PRODUCT} – Serverfel</title></head><body>\
<h1>Ett internt fel har inträffat</h1><p>Försök igen senare. Felkod 500.</p></body></html>"
                )),
            )
                .into_response();
        }
        _ => {}
    }
    let response = next.run(req).await;
    if s.faults.get(Service::Legacy) == Some(Fault::Malformed) {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 4 * 1024 * 1024).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut parts = parts;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(text[..cut].to_string()));
    }
    response
}

// ---------------------------------------------------------------------------
// Sessions.

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn expired_page(s: &AppState) -> Response {
    screen(
        s,
        "Sessionen har gått ut",
        "<p>Din session har gått ut. <a href=\"/login\" target=\"_top\">Logga in igen</a>.</p>",
    )
    .into_response()
}

/// The logged-in user, or the "session expired" page. `counted` screens
/// use up a session while the expired-session fault is on.
#[allow(clippy::result_large_err, reason = "the Err is the page to answer with, built once")]
fn session(s: &AppState, headers: &HeaderMap, counted: bool) -> Result<String, Response> {
    let Some(id) = cookie(headers, "JSESSIONID") else {
        return Err(expired_page(s));
    };
    let fault = s.faults.get(Service::Legacy) == Some(Fault::ExpiredSession);
    let idle = s.options.idle_timeout;
    let mut inner = s.lock();
    let Some(sess) = inner.sessions.get_mut(&id) else {
        drop(inner);
        return Err(expired_page(s));
    };
    if sess.last_used.elapsed() > idle
        || (fault && counted && sess.screens >= s.options.screens_per_session_under_fault)
    {
        inner.sessions.remove(&id);
        drop(inner);
        return Err(expired_page(s));
    }
    sess.last_used = Instant::now();
    if counted {
        sess.screens += 1;
    }
    Ok(sess.user.clone())
}

// ---------------------------------------------------------------------------
// Login, frameset, menu, start.

fn login_page(s: &AppState, error: Option<&str>) -> Response {
    let changed = s.layout_changed();
    let mut f = FormBuilder::new(s);
    let user = f.input_row("Användarnamn", "user", "text", "");
    let pass = f.input_row("Lösenord", "password", "password", "");
    let hidden = f.finish();
    let error = error
        .map(|e| format!("<p class=\"fel\">{}</p>", esc(e)))
        .unwrap_or_default();
    let _ = changed;
    Html(format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<html><head>\
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\
<title>{PRODUCT} – Inloggning</title><style>{STYLE}</style></head><body>\
<table width=\"100%\" height=\"90%\"><tr><td align=\"center\" valign=\"middle\">\
<table class=\"yttre\" width=\"360\" cellpadding=\"6\"><tr><td class=\"rubrik\"><h1>{PRODUCT} – Inloggning</h1></td></tr>\
<tr><td>{error}<form method=\"post\" action=\"/login\">{hidden}<table>{user}{pass}\
<tr><td></td><td><input type=\"submit\" value=\"Logga in\"></td></tr></table></form></td></tr>\
<tr><td class=\"sidfot\">{PRODUCT} 4.2</td></tr></table></td></tr></table></body></html>"
    ))
    .into_response()
}

async fn login_form(State(s): State<AppState>) -> Response {
    login_page(&s, None)
}

async fn login(State(s): State<AppState>, Form(form): Form<Vec<(String, String)>>) -> Response {
    let Some(values) = posted(&s, &form) else {
        return login_page(&s, Some("Formuläret har gått ut. Försök igen."));
    };
    let user = values.get("user").cloned().unwrap_or_default();
    let password = values.get("password").cloned().unwrap_or_default();
    if user != s.options.username || password != s.options.password {
        return login_page(&s, Some("Felaktigt användarnamn eller lösenord."));
    }
    let id = s.token("S");
    s.lock().sessions.insert(
        id.clone(),
        Session {
            user,
            last_used: Instant::now(),
            screens: 0,
        },
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, format!("JSESSIONID={id}; Path=/; HttpOnly")),
            (header::LOCATION, "/app/ram".to_string()),
        ],
    )
        .into_response()
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, "JSESSIONID") {
        s.lock().sessions.remove(&id);
    }
    Redirect::to("/login").into_response()
}

async fn frameset(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = session(&s, &headers, false) {
        return r;
    }
    Html(format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Frameset//EN\">\n<html><head>\
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><title>{PRODUCT}</title></head>\
<frameset rows=\"40,*\" border=\"0\"><frame name=\"meny\" src=\"/app/meny\" scrolling=\"no\" noresize>\
<frame name=\"innehall\" src=\"/app/start\"></frameset></html>"
    ))
    .into_response()
}

async fn menu(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let user = match session(&s, &headers, false) {
        Ok(u) => u,
        Err(r) => return r,
    };
    Html(format!(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\
<title>{PRODUCT} – Meny</title><style>{STYLE}</style></head><body><table width=\"100%\"><tr>\
<td><b>{PRODUCT}</b></td><td><a href=\"/app/sok\" target=\"innehall\">Sök ärende</a></td>\
<td><a href=\"/app/lista\" target=\"innehall\">Öppna ansökningar</a></td>\
<td align=\"right\">Inloggad: {} · <a href=\"/logout\" target=\"_top\">Logga ut</a></td></tr></table></body></html>",
        esc(&user)
    ))
    .into_response()
}

async fn start(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = session(&s, &headers, false) {
        return r;
    }
    screen(
        &s,
        "Startsida",
        "<p>Välkommen. Välj <b>Sök ärende</b> eller <b>Öppna ansökningar</b> i menyn.</p>",
    )
    .into_response()
}

// ---------------------------------------------------------------------------
// Search.

fn search_form(s: &AppState, message: Option<&str>) -> String {
    let changed = s.layout_changed();
    let mut f = FormBuilder::new(s);
    let pnr = f.input_row(
        if changed { "Pnr/Samordningsnr" } else { "Personnummer" },
        "pnr",
        "text",
        "",
    );
    let nr = f.input_row(if changed { "Diarienr" } else { "Ärendenummer" }, "nr", "text", "");
    let hidden = f.finish();
    let message = message
        .map(|m| format!("<p class=\"fel\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "{message}<form method=\"post\" action=\"/app/sok\">{hidden}<table>{pnr}{nr}\
<tr><td></td><td><input type=\"submit\" value=\"Sök\"></td></tr></table></form>"
    )
}

async fn search_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = session(&s, &headers, true) {
        return r;
    }
    let body = search_form(&s, None);
    screen(&s, "Sök ärende", &body).into_response()
}

fn case_href(internal: u32, tab: &str) -> String {
    format!("/app/arende?id={internal}&flik={tab}")
}

async fn search(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>) -> Response {
    if let Err(r) = session(&s, &headers, true) {
        return r;
    }
    let Some(values) = posted(&s, &form) else {
        let body = search_form(&s, Some("Formuläret har gått ut. Sök igen."));
        return screen(&s, "Sök ärende", &body).into_response();
    };
    let pnr: String = values
        .get("pnr")
        .map(|v| v.chars().filter(|c| c.is_ascii_digit()).collect())
        .unwrap_or_default();
    let nr = values.get("nr").map(|v| v.trim().to_string()).unwrap_or_default();
    if pnr.is_empty() && nr.is_empty() {
        let body = search_form(&s, Some("Ange personnummer eller ärendenummer."));
        return screen(&s, "Sök ärende", &body).into_response();
    }
    let digits = |v: &Value| -> String { text(Some(v)).chars().filter(char::is_ascii_digit).collect() };
    let matches_pnr = |app: &Value| -> bool {
        if pnr.is_empty() {
            return true;
        }
        let hit = |v: &Value| {
            let d = digits(v);
            !d.is_empty()
                && (d == pnr || (pnr.len() == 10 && d.ends_with(&pnr)) || (d.len() == 10 && pnr.ends_with(&d)))
        };
        hit(&app["applicant"])
            || app["household"]["adults"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| hit(&x["personnummer"])))
    };
    let rows: Vec<Vec<Cell>> = {
        let inner = s.lock();
        inner
            .cases
            .iter()
            .filter(|(id, c)| (nr.is_empty() || **id == nr) && matches_pnr(&c.app))
            .map(|(id, c)| {
                vec![
                    Cell::Link(id.clone(), case_href(c.internal, "ansokan")),
                    t(text(c.app.get("applicant"))),
                    t(time_text(c.app.get("received_at"))),
                    t(c.status),
                ]
            })
            .collect()
    };
    let changed = s.layout_changed();
    let headers_row: &[&str] = if changed {
        &["Diarienr", "Sökande", "Inkom", "Status"]
    } else {
        &["Ärendenummer", "Sökande", "Inkom", "Status"]
    };
    let mut body = format!("<p>{} träff(ar).</p>", rows.len());
    body.push_str(&list_table("Träffar", headers_row, &rows));
    body.push_str(&search_form(&s, None));
    screen(&s, "Sökresultat", &body).into_response()
}

// ---------------------------------------------------------------------------
// The list of open applications (the slow page).

#[derive(serde::Deserialize)]
struct ListQuery {
    sida: Option<usize>,
}

async fn open_list(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = session(&s, &headers, true) {
        return r;
    }
    tokio::time::sleep(s.options.slow_page).await;
    let per_page = s.options.per_page.max(1);
    let mut open: Vec<(String, String, Value, u32)> = {
        let inner = s.lock();
        inner
            .cases
            .iter()
            .filter(|(_, c)| c.status == STATUS_OPEN)
            .map(|(id, c)| (text(c.app.get("received_at")), id.clone(), c.app.clone(), c.internal))
            .collect()
    };
    open.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let pages = open.len().div_ceil(per_page).max(1);
    let page = q.sida.unwrap_or(1).clamp(1, pages);
    let rows: Vec<Vec<Cell>> = open
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(_, id, app, internal)| {
            vec![
                Cell::Link(id.clone(), case_href(*internal, "ansokan")),
                t(time_text(app.get("received_at"))),
                t(text(app.get("period"))),
                t(coded(app.get("kind"), KIND_LABELS)),
            ]
        })
        .collect();
    let changed = s.layout_changed();
    let hdr: &[&str] = if changed {
        &["Diarienr", "Registrerad", "Månad", "Typ"]
    } else {
        &["Ärendenummer", "Inkom", "Avser månad", "Typ"]
    };
    let mut body = format!("<p>{} öppna ansökningar.</p>", open.len());
    body.push_str(&list_table("Öppna ansökningar", hdr, &rows));
    body.push_str("<table><tr>");
    if page > 1 {
        let _ = write!(
            body,
            "<td><a href=\"/app/lista?sida={}\">« Föregående</a></td>",
            page - 1
        );
    }
    let _ = write!(body, "<td>Sida {page} av {pages}</td>");
    if page < pages {
        let _ = write!(body, "<td><a href=\"/app/lista?sida={}\">Nästa »</a></td>", page + 1);
    }
    body.push_str("</tr></table>");
    screen(&s, "Öppna ansökningar", &body).into_response()
}

// ---------------------------------------------------------------------------
// Case screens.

#[derive(serde::Deserialize)]
struct CaseQuery {
    id: Option<u32>,
    flik: Option<String>,
}

const TABS: &[(&str, &str)] = &[
    ("ansokan", "Ansökan"),
    ("hushall", "Hushåll"),
    ("ekonomi", "Ekonomi"),
    ("historik", "Historik"),
    ("beslut", "Beslut"),
];

fn tabs_bar(internal: u32, current: &str) -> String {
    let mut out = String::from("<table class=\"flikar\"><tr>");
    for (key, label) in TABS {
        if *key == current {
            let _ = write!(out, "<td><b>[{label}]</b></td>");
        } else {
            let _ = write!(out, "<td><a href=\"{}\">{label}</a></td>", case_href(internal, key));
        }
    }
    out.push_str("</tr></table><hr>");
    out
}

fn arr(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

async fn case_screen(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<CaseQuery>) -> Response {
    if let Err(r) = session(&s, &headers, true) {
        return r;
    }
    let tab = q.flik.unwrap_or_else(|| "ansokan".into());
    let Some((&(_, tab_label), id)) = TABS
        .iter()
        .find(|(k, _)| *k == tab)
        .map(|t| (t, q.id.unwrap_or_default()))
    else {
        return screen(&s, "Fel", "<p class=\"fel\">Okänd flik.</p>").into_response();
    };
    let found = {
        let inner = s.lock();
        inner
            .cases
            .iter()
            .find(|(_, c)| c.internal == id)
            .map(|(nr, c)| (nr.clone(), c.app.clone(), c.status, c.note.clone(), c.decisions.clone()))
    };
    let Some((nr, app, status, note, decisions)) = found else {
        return screen(&s, "Fel", "<p class=\"fel\">Ärendet finns inte.</p>").into_response();
    };
    let changed = s.layout_changed();
    let mut body = fields(&s, &[("Ärendenummer", nr.clone())]);
    body.push_str(&tabs_bar(id, &tab));
    match tab.as_str() {
        "ansokan" => {
            body.push_str(&fields(
                &s,
                &[
                    ("Blankett", text(app.get("schema"))),
                    ("Inkom", time_text(app.get("received_at"))),
                    (if changed { "Period" } else { "Avser månad" }, text(app.get("period"))),
                    ("Ansökningstyp", coded(app.get("kind"), KIND_LABELS)),
                    ("Sökande", text(app.get("applicant"))),
                    ("Status", status.to_string()),
                    (
                        "Beslut registrerat",
                        if decisions.is_empty() { "Nej" } else { "Ja" }.into(),
                    ),
                    ("Anteckning", note),
                ],
            ));
            body.push_str(&status_form(&s, id, status));
        }
        "hushall" => {
            let h = app.get("household").cloned().unwrap_or(Value::Null);
            let adults: Vec<Vec<Cell>> = arr(&h, "adults")
                .iter()
                .map(|a| {
                    vec![
                        t(text(a.get("personnummer"))),
                        t(text(a.get("name"))),
                        t(coded(a.get("relation"), RELATION_LABELS)),
                        t(text(a.get("job_seeking"))),
                        t(text(a.get("exempt_reason"))),
                    ]
                })
                .collect();
            let pnr = if changed { "Pnr" } else { "Personnummer" };
            body.push_str(&list_table(
                if changed { "Vuxna i hushållet" } else { "Vuxna" },
                &[pnr, "Namn", "Relation", "Arbetssökande", "Undantag"],
                &adults,
            ));
            let children: Vec<Vec<Cell>> = arr(&h, "children")
                .iter()
                .map(|c| {
                    vec![
                        t(text(c.get("personnummer"))),
                        t(text(c.get("name"))),
                        t(text(c.get("lunch_at_preschool"))),
                        t(text(c.get("residence_share_percent"))),
                        t(text(c.get("in_school"))),
                        t(text(c.get("wage_earlier_this_year"))),
                    ]
                })
                .collect();
            body.push_str(&list_table(
                "Barn",
                &[
                    pnr,
                    "Namn",
                    "Lunch i förskolan",
                    "Boende (%)",
                    "Gymnasiestudier",
                    "Lön tidigare i år",
                ],
                &children,
            ));
            body.push_str(&fields(&s, &[("Personer i bostaden", text(h.get("dwelling_persons")))]));
        }
        "ekonomi" => {
            let c = app.get("costs").cloned().unwrap_or(Value::Null);
            body.push_str("<b>Utgifter per månad</b>");
            body.push_str(&fields(
                &s,
                &[
                    (
                        if changed { "Boendekostnad" } else { "Hyra" },
                        amount_text(c.get("rent")),
                    ),
                    ("Hushållsel", amount_text(c.get("electricity"))),
                    ("Hemförsäkring", amount_text(c.get("home_insurance"))),
                    ("Fackavgift", amount_text(c.get("union_fee"))),
                    ("A-kasseavgift", amount_text(c.get("unemployment_fund_fee"))),
                    ("Arbetsresor", amount_text(c.get("work_travel"))),
                    ("Barnomsorg", amount_text(c.get("childcare"))),
                ],
            ));
            let belopp = if changed { "Kronor" } else { "Belopp (kr)" };
            let incomes: Vec<Vec<Cell>> = arr(&app, "incomes")
                .iter()
                .map(|i| {
                    vec![
                        t(text(i.get("person"))),
                        t(coded(i.get("kind"), INCOME_LABELS)),
                        t(amount_text(i.get("amount"))),
                    ]
                })
                .collect();
            body.push_str(&list_table("Inkomster", &["Person", "Inkomstslag", belopp], &incomes));
            let assets: Vec<Vec<Cell>> = arr(&app, "assets")
                .iter()
                .map(|a| vec![t(coded(a.get("kind"), ASSET_LABELS)), t(amount_text(a.get("amount")))])
                .collect();
            body.push_str(&list_table("Tillgångar", &["Slag", belopp], &assets));
            let needs: Vec<Vec<Cell>> = arr(&app, "other_needs")
                .iter()
                .map(|n| {
                    vec![
                        t(text(n.get("kind"))),
                        t(amount_text(n.get("amount"))),
                        t(text(n.get("description"))),
                    ]
                })
                .collect();
            body.push_str(&list_table(
                "Livsföring i övrigt",
                &["Behov", belopp, "Beskrivning"],
                &needs,
            ));
        }
        "historik" => {
            let h = app.get("history").cloned().unwrap_or(Value::Null);
            body.push_str(&fields(
                &s,
                &[
                    (
                        "Månader i följd med bistånd",
                        text(h.get("consecutive_months_with_bistand")),
                    ),
                    (
                        "Använda månader med jobbstimulans",
                        text(h.get("jobbstimulans_months_used")),
                    ),
                    ("Uppmaning att sänka hyran", text(h.get("rent_notice_period"))),
                    ("Jobbstimulans från", text(h.get("jobbstimulans_start"))),
                ],
            ));
            let reg = app.get("register");
            body.push_str(&fields(
                &s,
                &[(
                    "Registerkontroll (SSBTEK)",
                    if reg.is_some() { "Ja" } else { "Nej" }.into(),
                )],
            ));
            let reg = reg.cloned().unwrap_or(Value::Null);
            let seekers: Vec<Vec<Cell>> = arr(&reg, "job_seekers")
                .iter()
                .map(|p| vec![t(text(Some(p)))])
                .collect();
            body.push_str(&list_table(
                "Inskrivna arbetssökande",
                &[if changed { "Pnr" } else { "Personnummer" }],
                &seekers,
            ));
            let incomes: Vec<Vec<Cell>> = arr(&reg, "incomes")
                .iter()
                .map(|i| {
                    vec![
                        t(text(i.get("person"))),
                        t(text(i.get("source"))),
                        t(coded(i.get("kind"), INCOME_LABELS)),
                        t(amount_text(i.get("amount"))),
                    ]
                })
                .collect();
            body.push_str(&list_table(
                "Registrerade inkomster",
                &["Person", "Källa", "Inkomstslag", "Belopp (kr)"],
                &incomes,
            ));
        }
        _ => {
            body.push_str(&decision_screen(&s, id, &decisions, None));
        }
    }
    screen(&s, &format!("Ärende – {tab_label}"), &body).into_response()
}

fn status_form(s: &AppState, internal: u32, status: &str) -> String {
    let mut f = FormBuilder::new(s);
    let (sid, sname) = f.field("status");
    let (nid, nname) = f.field("note");
    let case = f.hidden("case", &internal.to_string());
    let hidden = f.finish();
    let mut options = String::new();
    for st in STATUSES {
        let sel = if *st == status { " selected" } else { "" };
        let _ = write!(options, "<option{sel}>{st}</option>");
    }
    format!(
        "<form method=\"post\" action=\"/app/arende/status\">{hidden}{case}<table>\
<tr><td class=\"etikett\"><label for=\"{sid}\">Ändra status</label></td><td><select id=\"{sid}\" name=\"{sname}\">{options}</select></td></tr>\
<tr><td class=\"etikett\"><label for=\"{nid}\">Ny anteckning</label></td><td><textarea id=\"{nid}\" name=\"{nname}\" rows=\"2\" cols=\"40\"></textarea></td></tr>\
<tr><td></td><td><input type=\"submit\" value=\"Spara status\"></td></tr></table></form>"
    )
}

fn decision_screen(s: &AppState, internal: u32, decisions: &[Decision], error: Option<&str>) -> String {
    let changed = s.layout_changed();
    let rows: Vec<Vec<Cell>> = decisions
        .iter()
        .map(|d| {
            vec![
                t(d.beslutsnummer.clone()),
                t(label_of(OUTCOME_LABELS, &d.utfall).unwrap_or_default()),
                t(d.belopp_ore
                    .map(|o| amount_text(Some(&json!(o / 100))).replace(",00", "") + &ore_suffix(o))
                    .unwrap_or_default()),
                t(d.period.clone()),
                t(d.referens.clone()),
                t(d.beslutsfattare.clone()),
            ]
        })
        .collect();
    let mut body = fields(
        s,
        &[(
            "Beslut registrerat",
            if decisions.is_empty() { "Nej" } else { "Ja" }.into(),
        )],
    );
    body.push_str(&list_table(
        "Registrerade beslut",
        &[
            "Beslutsnummer",
            "Beslut",
            "Belopp (kr)",
            "Period",
            "Referens",
            "Beslutsfattare",
        ],
        &rows,
    ));
    if let Some(e) = error {
        let _ = write!(body, "<p class=\"fel\">{}</p>", esc(e));
    }
    let mut f = FormBuilder::new(s);
    let (oid, oname) = f.field("outcome");
    let mut options = String::from("<option value=\"\">– välj –</option>");
    for (code, label) in OUTCOME_LABELS {
        let _ = write!(options, "<option value=\"{code}\">{label}</option>");
    }
    let amount = f.input_row(
        if changed { "Utbetalning" } else { "Belopp (kr)" },
        "amount",
        "text",
        "",
    );
    let period = f.input_row("Period", "period", "text", "");
    let (tid, tname) = f.field("text");
    let by = f.input_row("Beslutsfattare", "by", "text", "");
    let reference = f.input_row("Referens", "reference", "text", "");
    let (cid, cname) = f.field("confirmed");
    let case = f.hidden("case", &internal.to_string());
    let hidden = f.finish();
    let delay = s.options.overlay_delay_ms;
    let _ = write!(
        body,
        "<b>Registrera beslut</b><form method=\"post\" action=\"/app/arende/beslut\" id=\"beslutsform\">{hidden}{case}\
<input type=\"hidden\" id=\"{cid}\" name=\"{cname}\" value=\"\">\
<table><tr><td class=\"etikett\"><label for=\"{oid}\">Beslut</label></td><td><select id=\"{oid}\" name=\"{oname}\">{options}</select></td></tr>\
{amount}{period}\
<tr><td class=\"etikett\"><label for=\"{tid}\">Beslutstext</label></td><td><textarea id=\"{tid}\" name=\"{tname}\" rows=\"4\" cols=\"50\"></textarea></td></tr>\
{by}{reference}\
<tr><td></td><td><input type=\"button\" value=\"Spara\" onclick=\"setTimeout(function(){{document.getElementById('sparadialog').style.display='block';}},{delay});\"></td></tr></table>\
<div class=\"modal\" id=\"sparadialog\" style=\"display:none\"><div class=\"ruta\"><p><b>Spara?</b></p><p>Spara beslutet? Det går inte att ändra efteråt.</p>\
<input type=\"button\" value=\"Ja\" onclick=\"document.getElementById('{cid}').value='ja';document.getElementById('beslutsform').submit();\"> \
<input type=\"button\" value=\"Nej\" onclick=\"document.getElementById('sparadialog').style.display='none';\"></div></div></form>"
    );
    body
}

fn ore_suffix(ore: i64) -> String {
    if ore % 100 == 0 {
        String::new()
    } else {
        format!(",{:02}", ore % 100)
    }
}

async fn set_status(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = session(&s, &headers, true) {
        return r;
    }
    let Some(values) = posted(&s, &form) else {
        return screen(&s, "Fel", "<p class=\"fel\">Formuläret har gått ut.</p>").into_response();
    };
    let internal: u32 = values.get("case").and_then(|v| v.parse().ok()).unwrap_or_default();
    let wanted = values.get("status").cloned().unwrap_or_default();
    let Some(status) = STATUSES.iter().find(|st| **st == wanted) else {
        return screen(&s, "Fel", "<p class=\"fel\">Okänd status.</p>").into_response();
    };
    let note = values.get("note").map(|n| n.trim().to_string()).unwrap_or_default();
    {
        let mut inner = s.lock();
        let Some(case) = inner.cases.values_mut().find(|c| c.internal == internal) else {
            drop(inner);
            return screen(&s, "Fel", "<p class=\"fel\">Ärendet finns inte.</p>").into_response();
        };
        case.status = status;
        if !note.is_empty() {
            case.note = note;
        }
    }
    Redirect::to(&case_href(internal, "ansokan")).into_response()
}

async fn save_decision(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let user = match session(&s, &headers, true) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(v) = posted(&s, &form) else {
        return screen(&s, "Fel", "<p class=\"fel\">Formuläret har gått ut.</p>").into_response();
    };
    let get = |k: &str| v.get(k).map(|x| x.trim().to_string()).unwrap_or_default();
    let internal: u32 = get("case").parse().unwrap_or_default();
    let reference = get("reference");
    let outcome = get("outcome");
    let amount_text_in = get("amount");
    let period = get("period");
    let text_in = v.get("text").cloned().unwrap_or_default();
    let by = get("by");

    let mut inner = s.lock();
    let Some((nr, case)) = inner.cases.iter_mut().find(|(_, c)| c.internal == internal) else {
        drop(inner);
        return screen(&s, "Fel", "<p class=\"fel\">Ärendet finns inte.</p>").into_response();
    };
    let nr = nr.clone();
    // Idempotent on the reference: a second save with it records nothing.
    if !reference.is_empty()
        && let Some(d) = case.decisions.iter().find(|d| d.referens == reference)
    {
        let number = d.beslutsnummer.clone();
        drop(inner);
        let body = fields(
            &s,
            &[("Ärendenummer", nr), ("Beslutsnummer", number), ("Referens", reference)],
        ) + "<p>Beslutet fanns redan registrerat med samma referens. Inget nytt beslut sparades.</p>";
        return screen(&s, "Beslut sparat", &body).into_response();
    }
    let mut error = None;
    if get("confirmed") != "ja" {
        error = Some("Beslutet sparades inte: det bekräftades inte.");
    } else if label_of(OUTCOME_LABELS, &outcome).is_none() {
        error = Some("Välj ett beslut.");
    } else if !valid_period(&period) {
        error = Some("Period ska anges som ÅÅÅÅ-MM.");
    } else if text_in.trim().is_empty() {
        error = Some("Beslutstext saknas.");
    } else if reference.is_empty() {
        error = Some("Referens saknas.");
    } else if by.is_empty() {
        error = Some("Beslutsfattare saknas.");
    }
    let belopp_ore = parse_amount_ore(&amount_text_in);
    if error.is_none() && !amount_text_in.is_empty() && belopp_ore.is_none() {
        error = Some("Belopp ska vara ett tal i kronor.");
    }
    if error.is_none() && outcome != "manuell" && outcome != "avslag" && belopp_ore.is_none() {
        error = Some("Belopp saknas.");
    }
    if let Some(e) = error {
        let decisions = case.decisions.clone();
        drop(inner);
        let mut body = fields(&s, &[("Ärendenummer", nr)]);
        body.push_str(&tabs_bar(internal, "beslut"));
        body.push_str(&decision_screen(&s, internal, &decisions, Some(e)));
        return screen(&s, "Ärende – Beslut", &body).into_response();
    }
    let number = format!("B-{:06}", inner.decisions.len() + 1);
    let decision = Decision {
        arende: nr.clone(),
        beslutsnummer: number.clone(),
        utfall: outcome,
        belopp_ore,
        period,
        text: text_in,
        beslutsfattare: by,
        referens: reference.clone(),
        sparad_av: user,
    };
    if let Some(case) = inner.cases.get_mut(&nr) {
        case.decisions.push(decision.clone());
        case.status = "Beslutad";
    }
    inner.decisions.push(decision);
    drop(inner);
    let body = fields(
        &s,
        &[("Ärendenummer", nr), ("Beslutsnummer", number), ("Referens", reference)],
    ) + "<p>Beslutet har sparats.</p>";
    screen(&s, "Beslut sparat", &body).into_response()
}

// ---------------------------------------------------------------------------
// For tests.

async fn sim_decisions(State(s): State<AppState>) -> Response {
    let d = s.lock().decisions.clone();
    axum::Json(json!(d)).into_response()
}

async fn sim_cases(State(s): State<AppState>) -> Response {
    let inner = s.lock();
    let cases: Vec<Value> = inner
        .cases
        .iter()
        .map(|(nr, c)| json!({"arende": nr, "status": c.status, "anteckning": c.note, "beslut": c.decisions.len()}))
        .collect();
    axum::Json(json!(cases)).into_response()
}

pub fn router(data: &Dataset, faults: Faults, options: Options) -> Router {
    let mut cases = BTreeMap::new();
    let mut next = 1001u32;
    for seeded in data.iter() {
        let Some(id) = seeded.application.get("external_id").and_then(Value::as_str) else {
            continue;
        };
        cases.entry(id.to_string()).or_insert_with(|| {
            next += 1;
            Case {
                internal: next,
                app: seeded.application.clone(),
                status: STATUS_OPEN,
                note: String::new(),
                decisions: Vec::new(),
            }
        });
    }
    let state = AppState {
        inner: Arc::new(Mutex::new(Inner {
            cases,
            ..Inner::default()
        })),
        faults,
        options: Arc::new(options),
        random: Arc::new(std::collections::hash_map::RandomState::new()),
        counter: Arc::default(),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/login") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout))
        .route("/app/ram", get(frameset))
        .route("/app/meny", get(menu))
        .route("/app/start", get(start))
        .route("/app/sok", get(search_page).post(search))
        .route("/app/lista", get(open_list))
        .route("/app/arende", get(case_screen))
        .route("/app/arende/status", axum::routing::post(set_status))
        .route("/app/arende/beslut", axum::routing::post(save_decision))
        .route("/_sim/decisions", get(sim_decisions))
        .route("/_sim/cases", get(sim_cases))
        .layer(axum::middleware::from_fn_with_state(state.clone(), faults_layer))
        .with_state(state)
}

// ---------------------------------------------------------------------------
// The listener: with the "down" fault, connections are closed unanswered.

struct FaultyListener {
    inner: TcpListener,
    faults: Faults,
}

/// A connection that reads as closed while the service is down, so even
/// a browser's kept-alive connection gets no answer.
pub struct FaultyStream {
    inner: TcpStream,
    faults: Faults,
}

impl AsyncRead for FaultyStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.faults.get(Service::Legacy) == Some(Fault::Down) {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "service down",
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultyStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for FaultyListener {
    type Io = FaultyStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FaultyStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    if self.faults.get(Service::Legacy) == Some(Fault::Down) {
                        drop(stream);
                        continue;
                    }
                    return (
                        FaultyStream {
                            inner: stream,
                            faults: self.faults.clone(),
                        },
                        addr,
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Serves the case system on 127.0.0.1, port 0.
pub async fn spawn(
    data: Dataset,
    faults: Faults,
    options: Options,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(&data, faults.clone(), options);
    let listener = FaultyListener {
        inner: listener,
        faults,
    };
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_swedish_text_with_every_decimal() {
        assert_eq!(amount_text(Some(&json!(5200))), "5 200,00");
        assert_eq!(amount_text(Some(&json!(250.5))), "250,50");
        assert_eq!(amount_text(Some(&json!(250.555))), "250,555");
        assert_eq!(amount_text(Some(&json!(-1100))), "-1 100,00");
        assert_eq!(amount_text(None), "");
    }

    #[test]
    fn typed_amounts_parse_to_ore() {
        assert_eq!(parse_amount_ore("9 750"), Some(975_000));
        assert_eq!(parse_amount_ore("12,5"), Some(1250));
        assert_eq!(parse_amount_ore("12,555"), None);
        assert_eq!(parse_amount_ore("-5"), None);
        assert_eq!(parse_amount_ore(""), None);
    }
}
