//! What a screen of the legacy case system holds, read by structure:
//! label/value rows ("Hyra:" | "5 200,00") and list tables (a caption and
//! header cells), and how the case screens map to our application schema
//! `ekonomiskt-bistand/ansokan/v1`.
//!
//! Pure data: no browser here, so the mapping is tested on its own.

use serde::Deserialize;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// One screen as [`EXTRACT_JS`] returns it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Screen {
    pub title: String,
    /// The page footer is there: the page arrived whole.
    #[serde(default)]
    pub end: bool,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub tables: BTreeMap<String, Table>,
    #[serde(default)]
    pub links: Vec<(String, String)>,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub texts: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The first link of each row, if any.
    pub hrefs: Vec<Option<String>>,
}

/// A screen lacks something the connector relies on: the layout changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub screen: String,
    pub what: String,
}

impl Missing {
    fn new(screen: &str, what: String) -> Missing {
        Missing {
            screen: screen.to_string(),
            what,
        }
    }
}

/// Reads one screen's label/value rows and list tables by structure. Run
/// in the content frame; returns JSON that [`Screen`] deserialises.
pub const EXTRACT_JS: &str = r#"
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const out = {title: document.title, end: !!document.querySelector('td.sidfot'), fields: {}, tables: {}, links: [], errors: [], texts: []};
for (const tr of document.querySelectorAll('tr')) {
  const cells = Array.from(tr.cells);
  if (cells.some(c => c.tagName !== 'TD' || c.querySelector('table, input, select, textarea'))) continue;
  for (let i = 0; i + 1 < cells.length; i += 2) {
    const l = norm(cells[i].textContent);
    if (l.endsWith(':')) out.fields[l.slice(0, -1).trim()] = norm(cells[i + 1].textContent);
  }
}
for (const t of document.querySelectorAll('table')) {
  const cap = t.caption ? norm(t.caption.textContent) : '';
  if (!cap) continue;
  const rows = Array.from(t.rows);
  if (!rows.length) continue;
  const headers = Array.from(rows[0].cells).filter(c => c.tagName === 'TH').map(c => norm(c.textContent));
  const body = [], hrefs = [];
  for (const r of rows.slice(1)) {
    const cs = Array.from(r.cells);
    if (cs.length === 1 && norm(cs[0].textContent) === 'Inga uppgifter') continue;
    if (cs.length !== headers.length) continue;
    body.push(cs.map(c => norm(c.textContent)));
    const a = r.querySelector('a[href]');
    hrefs.push(a ? a.getAttribute('href') : null);
  }
  out.tables[cap] = {headers, rows: body, hrefs};
}
for (const a of document.querySelectorAll('a[href]')) out.links.push([norm(a.textContent), a.getAttribute('href')]);
for (const p of document.querySelectorAll('.fel')) out.errors.push(norm(p.textContent));
for (const p of document.querySelectorAll('p')) out.texts.push(norm(p.textContent));
return out;
"#;

impl Screen {
    pub fn field(&self, label: &str) -> Result<&str, Missing> {
        self.fields
            .get(label)
            .map(String::as_str)
            .ok_or_else(|| Missing::new(&self.title, format!("field '{label}'")))
    }

    /// A list table by caption, with the given columns (in any order).
    pub fn table<'a>(&'a self, caption: &str, columns: &[&str]) -> Result<TableView<'a>, Missing> {
        let table = self
            .tables
            .get(caption)
            .ok_or_else(|| Missing::new(&self.title, format!("table '{caption}'")))?;
        let mut index = Vec::with_capacity(columns.len());
        for c in columns {
            let i = table
                .headers
                .iter()
                .position(|h| h == c)
                .ok_or_else(|| Missing::new(&self.title, format!("column '{c}' in table '{caption}'")))?;
            index.push(i);
        }
        Ok(TableView { table, index })
    }

    pub fn link(&self, text: &str) -> Result<&str, Missing> {
        self.links
            .iter()
            .find(|(t, _)| t == text)
            .map(|(_, h)| h.as_str())
            .ok_or_else(|| Missing::new(&self.title, format!("link '{text}'")))
    }
}

/// A table's rows, cells in the order of the columns asked for.
pub struct TableView<'a> {
    table: &'a Table,
    index: Vec<usize>,
}

impl<'a> TableView<'a> {
    pub fn rows(&self) -> impl Iterator<Item = (Vec<&'a str>, Option<&'a str>)> + '_ {
        self.table.rows.iter().zip(self.table.hrefs.iter()).map(|(r, h)| {
            (
                self.index
                    .iter()
                    .map(|&i| r.get(i).map(String::as_str).unwrap_or(""))
                    .collect(),
                h.as_deref(),
            )
        })
    }
}

// ---------------------------------------------------------------------------
// The case system's vocabulary, back to our codes.

const INCOME_LABELS: &[(&str, &str)] = &[
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
const ASSET_LABELS: &[(&str, &str)] = &[
    ("bankmedel", "Bankmedel"),
    ("kontanter", "Kontanter"),
    ("vardepapper", "Värdepapper"),
    ("ovrigt", "Övriga tillgångar"),
];
const RELATION_LABELS: &[(&str, &str)] = &[("sambo", "Sambo"), ("make", "Make/maka"), ("annan", "Annan")];
const KIND_LABELS: &[(&str, &str)] = &[("fortsatt", "Fortsatt ansökan"), ("nyansokan", "Nyansökan")];

/// The code for a label; text the system shows without a label (a value
/// it stored as typed) passes through, so the application parser judges it.
fn code_of(table: &[(&str, &str)], label: &str) -> Value {
    let code = table
        .iter()
        .find(|(_, l)| *l == label)
        .map(|(c, _)| *c)
        .unwrap_or(label);
    Value::String(code.to_string())
}

/// Swedish amount text ("5 200,00", "-100,00") as a JSON number, read
/// from its text (no rounding). Text that is not an amount passes through
/// as a string, so the application parser names the field.
pub fn amount(text: &str) -> Value {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let dotted = cleaned.replacen(',', ".", 1);
    let digits_ok = {
        let body = dotted.strip_prefix('-').unwrap_or(&dotted);
        let mut parts = body.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    if digits_ok && let Ok(n) = serde_json::from_str::<Number>(&dotted) {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

/// A whole number, or the text as it stands.
fn integer(text: &str) -> Value {
    match text.trim().parse::<i64>() {
        Ok(n) => Value::Number(n.into()),
        Err(_) => Value::String(text.to_string()),
    }
}

fn yes_no(text: &str) -> Option<Value> {
    match text {
        "Ja" => Some(Value::Bool(true)),
        "Nej" => Some(Value::Bool(false)),
        "" => None,
        other => Some(Value::String(other.to_string())),
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v);
    }
}

fn non_empty(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| Value::String(text.to_string()))
}

/// The application's screens, read.
pub struct CaseScreens {
    pub ansokan: Screen,
    pub hushall: Screen,
    pub ekonomi: Screen,
    pub historik: Screen,
}

pub const TITLE_ANSOKAN: &str = "ÄrendeSys – Ärende – Ansökan";
pub const TITLE_HUSHALL: &str = "ÄrendeSys – Ärende – Hushåll";
pub const TITLE_EKONOMI: &str = "ÄrendeSys – Ärende – Ekonomi";
pub const TITLE_HISTORIK: &str = "ÄrendeSys – Ärende – Historik";
pub const TITLE_BESLUT: &str = "ÄrendeSys – Ärende – Beslut";

/// What each screen must show; the health check asks for exactly these.
pub fn expectations(screen: &Screen) -> Vec<Missing> {
    let mut missing = Vec::new();
    let mut need_field = |l: &str| {
        if let Err(m) = screen.field(l) {
            missing.push(m);
        }
    };
    let (fields, tables): (&[&str], &[(&str, &[&str])]) = match screen.title.as_str() {
        TITLE_ANSOKAN => (
            &[
                "Ärendenummer",
                "Blankett",
                "Inkom",
                "Avser månad",
                "Ansökningstyp",
                "Sökande",
                "Status",
            ],
            &[],
        ),
        TITLE_HUSHALL => (
            &["Ärendenummer", "Personer i bostaden"],
            &[
                (
                    "Vuxna",
                    &["Personnummer", "Namn", "Relation", "Arbetssökande", "Undantag"],
                ),
                (
                    "Barn",
                    &[
                        "Personnummer",
                        "Namn",
                        "Lunch i förskolan",
                        "Boende (%)",
                        "Gymnasiestudier",
                        "Lön tidigare i år",
                    ],
                ),
            ],
        ),
        TITLE_EKONOMI => (
            &[
                "Ärendenummer",
                "Hyra",
                "Hushållsel",
                "Hemförsäkring",
                "Fackavgift",
                "A-kasseavgift",
                "Arbetsresor",
                "Barnomsorg",
            ],
            &[
                ("Inkomster", &["Person", "Inkomstslag", "Belopp (kr)"]),
                ("Tillgångar", &["Slag", "Belopp (kr)"]),
                ("Livsföring i övrigt", &["Behov", "Belopp (kr)", "Beskrivning"]),
            ],
        ),
        TITLE_HISTORIK => (
            &[
                "Ärendenummer",
                "Månader i följd med bistånd",
                "Använda månader med jobbstimulans",
                "Uppmaning att sänka hyran",
                "Jobbstimulans från",
                "Registerkontroll (SSBTEK)",
            ],
            &[
                ("Inskrivna arbetssökande", &["Personnummer"]),
                (
                    "Registrerade inkomster",
                    &["Person", "Källa", "Inkomstslag", "Belopp (kr)"],
                ),
            ],
        ),
        TITLE_BESLUT => (
            &["Ärendenummer", "Beslut registrerat"],
            &[(
                "Registrerade beslut",
                &[
                    "Beslutsnummer",
                    "Beslut",
                    "Belopp (kr)",
                    "Period",
                    "Referens",
                    "Beslutsfattare",
                ],
            )],
        ),
        _ => (&[], &[]),
    };
    for f in fields {
        need_field(f);
    }
    for (caption, columns) in tables {
        if let Err(m) = screen.table(caption, columns) {
            missing.push(m);
        }
    }
    missing
}

/// The four case screens as an application, schema v1, as JSON bytes.
///
/// Values are carried as the system shows them: labels become our codes,
/// Swedish amounts become JSON numbers read from their text, and anything
/// that does not fit passes through as text, so that
/// `domain::Application::parse` (run by the runtime) refuses it with the
/// field's JSON pointer, as it would from any other source.
pub fn application(s: &CaseScreens) -> Result<Value, Missing> {
    for screen in [&s.ansokan, &s.hushall, &s.ekonomi, &s.historik] {
        if let Some(m) = expectations(screen).into_iter().next() {
            return Err(m);
        }
    }
    let a = &s.ansokan;
    let mut app = Map::new();
    app.insert("schema".into(), Value::String(a.field("Blankett")?.to_string()));
    app.insert(
        "external_id".into(),
        Value::String(a.field("Ärendenummer")?.to_string()),
    );
    app.insert(
        "received_at".into(),
        Value::String(a.field("Inkom")?.replacen(' ', "T", 1)),
    );
    app.insert("period".into(), Value::String(a.field("Avser månad")?.to_string()));
    app.insert("kind".into(), code_of(KIND_LABELS, a.field("Ansökningstyp")?));
    app.insert("applicant".into(), Value::String(a.field("Sökande")?.to_string()));

    let h = &s.hushall;
    let mut adults = Vec::new();
    let t = h.table(
        "Vuxna",
        &["Personnummer", "Namn", "Relation", "Arbetssökande", "Undantag"],
    )?;
    for (r, _) in t.rows() {
        let mut m = Map::new();
        m.insert("personnummer".into(), Value::String(r[0].to_string()));
        m.insert("name".into(), Value::String(r[1].to_string()));
        put(
            &mut m,
            "relation",
            (!r[2].is_empty()).then(|| code_of(RELATION_LABELS, r[2])),
        );
        put(&mut m, "job_seeking", yes_no(r[3]));
        put(&mut m, "exempt_reason", non_empty(r[4]));
        adults.push(Value::Object(m));
    }
    let mut children = Vec::new();
    let t = h.table(
        "Barn",
        &[
            "Personnummer",
            "Namn",
            "Lunch i förskolan",
            "Boende (%)",
            "Gymnasiestudier",
            "Lön tidigare i år",
        ],
    )?;
    for (r, _) in t.rows() {
        let mut m = Map::new();
        m.insert("personnummer".into(), Value::String(r[0].to_string()));
        m.insert("name".into(), Value::String(r[1].to_string()));
        put(&mut m, "lunch_at_preschool", yes_no(r[2]));
        put(
            &mut m,
            "residence_share_percent",
            (!r[3].is_empty()).then(|| integer(r[3])),
        );
        put(&mut m, "in_school", yes_no(r[4]));
        put(
            &mut m,
            "wage_earlier_this_year",
            (!r[5].is_empty()).then(|| amount(r[5])),
        );
        children.push(Value::Object(m));
    }
    let mut household = Map::new();
    household.insert("adults".into(), Value::Array(adults));
    household.insert("children".into(), Value::Array(children));
    let dwelling = h.field("Personer i bostaden")?;
    put(
        &mut household,
        "dwelling_persons",
        (!dwelling.is_empty()).then(|| integer(dwelling)),
    );
    app.insert("household".into(), Value::Object(household));

    let e = &s.ekonomi;
    let mut costs = Map::new();
    for (label, key) in [
        ("Hyra", "rent"),
        ("Hushållsel", "electricity"),
        ("Hemförsäkring", "home_insurance"),
        ("Fackavgift", "union_fee"),
        ("A-kasseavgift", "unemployment_fund_fee"),
        ("Arbetsresor", "work_travel"),
        ("Barnomsorg", "childcare"),
    ] {
        let v = e.field(label)?;
        put(&mut costs, key, (!v.is_empty()).then(|| amount(v)));
    }
    app.insert("costs".into(), Value::Object(costs));
    let mut incomes = Vec::new();
    for (r, _) in e.table("Inkomster", &["Person", "Inkomstslag", "Belopp (kr)"])?.rows() {
        let mut m = Map::new();
        m.insert("person".into(), Value::String(r[0].to_string()));
        m.insert("kind".into(), code_of(INCOME_LABELS, r[1]));
        m.insert("amount".into(), amount(r[2]));
        incomes.push(Value::Object(m));
    }
    app.insert("incomes".into(), Value::Array(incomes));
    let mut assets = Vec::new();
    for (r, _) in e.table("Tillgångar", &["Slag", "Belopp (kr)"])?.rows() {
        let mut m = Map::new();
        m.insert("kind".into(), code_of(ASSET_LABELS, r[0]));
        m.insert("amount".into(), amount(r[1]));
        assets.push(Value::Object(m));
    }
    app.insert("assets".into(), Value::Array(assets));
    let mut needs = Vec::new();
    for (r, _) in e
        .table("Livsföring i övrigt", &["Behov", "Belopp (kr)", "Beskrivning"])?
        .rows()
    {
        let mut m = Map::new();
        m.insert("kind".into(), Value::String(r[0].to_string()));
        m.insert("amount".into(), amount(r[1]));
        m.insert("description".into(), Value::String(r[2].to_string()));
        needs.push(Value::Object(m));
    }
    if !needs.is_empty() {
        app.insert("other_needs".into(), Value::Array(needs));
    }

    let hi = &s.historik;
    let months = hi.field("Månader i följd med bistånd")?;
    let jobb = hi.field("Använda månader med jobbstimulans")?;
    let notice = hi.field("Uppmaning att sänka hyran")?;
    let stim_start = hi.field("Jobbstimulans från")?;
    if !(months.is_empty() && jobb.is_empty() && notice.is_empty() && stim_start.is_empty()) {
        let mut m = Map::new();
        put(
            &mut m,
            "consecutive_months_with_bistand",
            (!months.is_empty()).then(|| integer(months)),
        );
        put(
            &mut m,
            "jobbstimulans_months_used",
            (!jobb.is_empty()).then(|| integer(jobb)),
        );
        put(&mut m, "rent_notice_period", non_empty(notice));
        put(&mut m, "jobbstimulans_start", non_empty(stim_start));
        app.insert("history".into(), Value::Object(m));
    }
    if hi.field("Registerkontroll (SSBTEK)")? == "Ja" {
        let seekers: Vec<Value> = hi
            .table("Inskrivna arbetssökande", &["Personnummer"])?
            .rows()
            .map(|(r, _)| Value::String(r[0].to_string()))
            .collect();
        let mut reg_incomes = Vec::new();
        for (r, _) in hi
            .table(
                "Registrerade inkomster",
                &["Person", "Källa", "Inkomstslag", "Belopp (kr)"],
            )?
            .rows()
        {
            let mut m = Map::new();
            m.insert("person".into(), Value::String(r[0].to_string()));
            m.insert("source".into(), Value::String(r[1].to_string()));
            m.insert("kind".into(), code_of(INCOME_LABELS, r[2]));
            m.insert("amount".into(), amount(r[3]));
            reg_incomes.push(Value::Object(m));
        }
        let mut reg = Map::new();
        reg.insert("job_seekers".into(), Value::Array(seekers));
        reg.insert("incomes".into(), Value::Array(reg_incomes));
        app.insert("register".into(), Value::Object(reg));
    }
    Ok(Value::Object(app))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_read_from_their_text() {
        assert_eq!(amount("5 200,00"), json!(5200.0));
        assert_eq!(amount("250,555").to_string(), "250.555");
        assert_eq!(amount("-100,00"), json!(-100.0));
        assert_eq!(amount("1\u{a0}234,5"), json!(1234.5));
        assert_eq!(amount("12"), json!(12));
        assert_eq!(amount("tolv"), json!("tolv"));
        assert_eq!(amount("1,2,3"), json!("1,2,3"));
        assert_eq!(amount(",5"), json!(",5"));
    }

    #[test]
    fn labels_become_codes_and_unknown_text_passes_through() {
        assert_eq!(code_of(INCOME_LABELS, "A-kassa"), json!("a_kassa"));
        assert_eq!(code_of(INCOME_LABELS, "lotterivinst"), json!("lotterivinst"));
        assert_eq!(yes_no("Ja"), Some(json!(true)));
        assert_eq!(yes_no(""), None);
        assert_eq!(integer("50"), json!(50));
        assert_eq!(integer("halva"), json!("halva"));
    }

    #[test]
    fn a_missing_label_names_the_screen_and_the_field() {
        let screen = Screen {
            title: TITLE_EKONOMI.into(),
            end: true,
            ..Screen::default()
        };
        let missing = expectations(&screen);
        assert!(missing.iter().any(|m| m.what == "field 'Hyra'"), "{missing:?}");
        assert!(missing.iter().any(|m| m.what == "table 'Inkomster'"));
    }
}
