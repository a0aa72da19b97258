//! The application for ekonomiskt bistånd, schema
//! `ekonomiskt-bistand/ansokan/v1`, parsed and validated once.

use crate::codes::string_enum;
use crate::json::{Json, Pointer, classify};
use crate::money::{Money, MoneyError};
use crate::period::Period;
use crate::personnummer::Personnummer;
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::value::RawValue;
use std::fmt;

pub const APPLICATION_SCHEMA_V1: &str = "ekonomiskt-bistand/ansokan/v1";
/// Largest accepted application document.
pub const MAX_APPLICATION_BYTES: usize = 1024 * 1024;
/// Oldest age on the first day of the period at which a child is still
/// supported by the household's norm (19–20 år is the last age group).
pub const MAX_CHILD_AGE: i32 = 20;

string_enum! {
    ApplicationKind, "ansökningstyp" {
        Fortsatt => "fortsatt",
        Nyansokan => "nyansokan",
    }
}

string_enum! {
    Relation, "relation" {
        Sambo => "sambo",
        Make => "make",
        Annan => "annan",
    }
}

string_enum! {
    IncomeKind, "inkomstslag" {
        Lon => "lon",
        AKassa => "a_kassa",
        Sjukpenning => "sjukpenning",
        Sjukersattning => "sjukersattning",
        Aktivitetsstod => "aktivitetsstod",
        Etableringsersattning => "etableringsersattning",
        Foraldrapenning => "foraldrapenning",
        Bostadsbidrag => "bostadsbidrag",
        Barnbidrag => "barnbidrag",
        Underhallsstod => "underhallsstod",
        Underhallsbidrag => "underhallsbidrag",
        Studiemedel => "studiemedel",
        Pension => "pension",
        Skatteaterbaring => "skatteaterbaring",
        Ovrigt => "ovrigt",
    }
}

impl IncomeKind {
    pub const fn label(self) -> &'static str {
        match self {
            IncomeKind::Lon => "Lön (netto)",
            IncomeKind::AKassa => "Ersättning från a-kassa",
            IncomeKind::Sjukpenning => "Sjukpenning",
            IncomeKind::Sjukersattning => "Sjukersättning",
            IncomeKind::Aktivitetsstod => "Aktivitetsstöd",
            IncomeKind::Etableringsersattning => "Etableringsersättning",
            IncomeKind::Foraldrapenning => "Föräldrapenning",
            IncomeKind::Bostadsbidrag => "Bostadsbidrag",
            IncomeKind::Barnbidrag => "Barnbidrag",
            IncomeKind::Underhallsstod => "Underhållsstöd",
            IncomeKind::Underhallsbidrag => "Underhållsbidrag",
            IncomeKind::Studiemedel => "Studiemedel",
            IncomeKind::Pension => "Pension",
            IncomeKind::Skatteaterbaring => "Skatteåterbäring",
            IncomeKind::Ovrigt => "Övrig inkomst",
        }
    }
}

string_enum! {
    AssetKind, "tillgångsslag" {
        Bankmedel => "bankmedel",
        Kontanter => "kontanter",
        Vardepapper => "vardepapper",
        Ovrigt => "ovrigt",
    }
}

impl AssetKind {
    pub const fn label(self) -> &'static str {
        match self {
            AssetKind::Bankmedel => "Bankmedel",
            AssetKind::Kontanter => "Kontanter",
            AssetKind::Vardepapper => "Värdepapper",
            AssetKind::Ovrigt => "Övriga tillgångar",
        }
    }
}

string_enum! {
    /// The cost items of the application, in the order of the schema.
    CostKind, "kostnadsslag" {
        Rent => "rent",
        Electricity => "electricity",
        HomeInsurance => "home_insurance",
        UnionFee => "union_fee",
        UnemploymentFundFee => "unemployment_fund_fee",
        WorkTravel => "work_travel",
        Childcare => "childcare",
    }
}

impl CostKind {
    pub const fn label(self) -> &'static str {
        match self {
            CostKind::Rent => "Boendekostnad (hyra)",
            CostKind::Electricity => "Hushållsel",
            CostKind::HomeInsurance => "Hemförsäkring",
            CostKind::UnionFee => "Fackavgift",
            CostKind::UnemploymentFundFee => "A-kasseavgift",
            CostKind::WorkTravel => "Arbetsresor",
            CostKind::Childcare => "Barnomsorgsavgift",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adult {
    pub personnummer: Personnummer,
    pub name: String,
    pub job_seeking: bool,
    pub relation: Option<Relation>,
    pub exempt_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub personnummer: Personnummer,
    pub name: String,
    pub lunch_at_preschool: bool,
    /// 1..=100
    pub residence_share_percent: u8,
    /// Attends upper secondary school (gymnasium); matters from age 19.
    pub in_school: bool,
    /// The child's own wage received in earlier months of the same calendar
    /// year (for the yearly disregard of one prisbasbelopp).
    pub wage_earlier_this_year: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Household {
    pub adults: Vec<Adult>,
    pub children: Vec<Child>,
    pub dwelling_persons: Option<u32>,
}

impl Household {
    pub fn size(&self) -> usize {
        self.adults.len() + self.children.len()
    }

    pub fn member(&self, p: &Personnummer) -> Option<Member> {
        if let Some(i) = self.adults.iter().position(|a| &a.personnummer == p) {
            return Some(Member::Adult(i));
        }
        self.children
            .iter()
            .position(|c| &c.personnummer == p)
            .map(Member::Child)
    }
}

/// A reference to a member of the household, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member {
    Adult(usize),
    Child(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Costs {
    pub rent: Money,
    pub electricity: Money,
    pub home_insurance: Money,
    pub union_fee: Money,
    pub unemployment_fund_fee: Money,
    pub work_travel: Money,
    pub childcare: Money,
}

impl Costs {
    pub fn get(&self, kind: CostKind) -> Money {
        match kind {
            CostKind::Rent => self.rent,
            CostKind::Electricity => self.electricity,
            CostKind::HomeInsurance => self.home_insurance,
            CostKind::UnionFee => self.union_fee,
            CostKind::UnemploymentFundFee => self.unemployment_fund_fee,
            CostKind::WorkTravel => self.work_travel,
            CostKind::Childcare => self.childcare,
        }
    }

    fn slot(&mut self, kind: CostKind) -> &mut Money {
        match kind {
            CostKind::Rent => &mut self.rent,
            CostKind::Electricity => &mut self.electricity,
            CostKind::HomeInsurance => &mut self.home_insurance,
            CostKind::UnionFee => &mut self.union_fee,
            CostKind::UnemploymentFundFee => &mut self.unemployment_fund_fee,
            CostKind::WorkTravel => &mut self.work_travel,
            CostKind::Childcare => &mut self.childcare,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Income {
    pub person: Personnummer,
    pub kind: IncomeKind,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub kind: AssetKind,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherNeed {
    pub kind: String,
    pub amount: Money,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct History {
    pub consecutive_months_with_bistand: u32,
    pub jobbstimulans_months_used: u32,
    /// The first month the jobbstimulans rule was applied (never after the
    /// period).
    pub jobbstimulans_start: Option<Period>,
    pub rent_notice_period: Option<Period>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterIncome {
    pub person: Personnummer,
    pub source: String,
    pub kind: IncomeKind,
    pub amount: Money,
}

/// What the register lookup (SSBTEK-like) returned for the household.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Register {
    pub job_seekers: Vec<Personnummer>,
    pub incomes: Vec<RegisterIncome>,
}

/// A valid application. Only [`Application::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    external_id: String,
    received_at: DateTime<FixedOffset>,
    period: Period,
    kind: ApplicationKind,
    applicant: Personnummer,
    household: Household,
    costs: Costs,
    incomes: Vec<Income>,
    assets: Vec<Asset>,
    other_needs: Vec<OtherNeed>,
    history: History,
    register: Option<Register>,
}

impl Application {
    pub fn external_id(&self) -> &str {
        &self.external_id
    }
    pub fn received_at(&self) -> DateTime<FixedOffset> {
        self.received_at
    }
    pub fn period(&self) -> Period {
        self.period
    }
    pub fn kind(&self) -> ApplicationKind {
        self.kind
    }
    pub fn applicant(&self) -> &Personnummer {
        &self.applicant
    }
    pub fn household(&self) -> &Household {
        &self.household
    }
    pub fn costs(&self) -> &Costs {
        &self.costs
    }
    pub fn incomes(&self) -> &[Income] {
        &self.incomes
    }
    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }
    pub fn other_needs(&self) -> &[OtherNeed] {
        &self.other_needs
    }
    pub fn history(&self) -> &History {
        &self.history
    }
    pub fn register(&self) -> Option<&Register> {
        self.register.as_ref()
    }

    /// Every personnummer in the application (household members), for
    /// redaction and for crypto-shredding subjects.
    pub fn subjects(&self) -> impl Iterator<Item = &Personnummer> {
        self.household
            .adults
            .iter()
            .map(|a| &a.personnummer)
            .chain(self.household.children.iter().map(|c| &c.personnummer))
    }

    /// The same application with the register answer of an enrichment step
    /// (replacing any `register` the document carried). Every person in the
    /// answer must be a member of the household.
    pub fn with_register(mut self, register: Register) -> Result<Application, ApplicationError> {
        let mut errors = Vec::new();
        let base = Pointer::root().key("register");
        for (i, p) in register.job_seekers.iter().enumerate() {
            if self.household.member(p).is_none() {
                errors.push(ValidationError::new(
                    &base.key("job_seekers").index(i),
                    "personen finns inte i hushållet",
                ));
            }
        }
        for (i, inc) in register.incomes.iter().enumerate() {
            if self.household.member(&inc.person).is_none() {
                errors.push(ValidationError::new(
                    &base.key("incomes").index(i).key("person"),
                    "personen finns inte i hushållet",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ApplicationError::Invalid(errors));
        }
        self.register = Some(register);
        Ok(self)
    }

    /// Parses and validates a document. Every problem found is reported,
    /// each with the JSON pointer of the field.
    pub fn parse(bytes: &[u8]) -> Result<Application, ApplicationError> {
        if bytes.len() > MAX_APPLICATION_BYTES {
            return Err(ApplicationError::TooLarge { bytes: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| ApplicationError::NotUtf8 {
            byte_offset: e.valid_up_to(),
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let root: &RawValue = serde_json::from_str(text).map_err(|e| ApplicationError::NotJson {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let mut v = Validator::default();
        let app = v.application(root);
        match app {
            Some(app) if v.errors.is_empty() => Ok(app),
            _ => {
                if v.errors.is_empty() {
                    v.errors
                        .push(ValidationError::new(&Pointer::root(), "ansökan är ogiltig"));
                }
                Err(ApplicationError::Invalid(v.errors))
            }
        }
    }
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// RFC 6901 JSON pointer; empty for the whole document.
    pub pointer: String,
    /// Swedish, for the official.
    pub message: String,
}

impl ValidationError {
    fn new(pointer: &Pointer, message: impl Into<String>) -> ValidationError {
        ValidationError {
            pointer: pointer.as_str().to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = if self.pointer.is_empty() {
            "(dokumentet)"
        } else {
            &self.pointer
        };
        write!(f, "{p}: {}", self.message)
    }
}

/// Why a document is not a valid application.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationError {
    #[error("ansökan är {bytes} byte, större än gränsen 1 MiB ({} byte)", MAX_APPLICATION_BYTES)]
    TooLarge { bytes: usize },
    #[error("ansökan är inte UTF-8 (fel vid byte {byte_offset})")]
    NotUtf8 { byte_offset: usize },
    #[error("ansökan är inte JSON (rad {line}, kolumn {column})")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("ansökan är ogiltig: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
}

impl ApplicationError {
    /// The JSON pointers of the offending fields (none when the document as
    /// a whole is unreadable).
    pub fn pointers(&self) -> Vec<&str> {
        match self {
            ApplicationError::Invalid(errors) => errors.iter().map(|e| e.pointer.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Default)]
struct Validator {
    errors: Vec<ValidationError>,
}

type Obj<'a> = Vec<(String, &'a RawValue)>;

impl Validator {
    fn err(&mut self, p: &Pointer, msg: impl Into<String>) {
        self.errors.push(ValidationError::new(p, msg));
    }

    fn node<'a>(&mut self, raw: &'a RawValue, p: &Pointer) -> Option<Json<'a>> {
        match classify(raw) {
            Ok(j) => Some(j),
            Err(e) => {
                self.err(p, format!("kunde inte läsas: {e}"));
                None
            }
        }
    }

    fn object<'a>(&mut self, raw: &'a RawValue, p: &Pointer) -> Option<Obj<'a>> {
        match self.node(raw, p)? {
            Json::Object(entries) => {
                let mut seen: Vec<&str> = Vec::with_capacity(entries.len());
                for (k, _) in &entries {
                    if seen.contains(&k.as_str()) {
                        self.err(&p.key(k), "fältet förekommer mer än en gång");
                    }
                    seen.push(k);
                }
                Some(entries)
            }
            other => {
                self.err(p, format!("ska vara ett objekt, inte {}", other.type_name()));
                None
            }
        }
    }

    fn array<'a>(&mut self, raw: &'a RawValue, p: &Pointer) -> Option<Vec<&'a RawValue>> {
        match self.node(raw, p)? {
            Json::Array(items) => Some(items),
            other => {
                self.err(p, format!("ska vara en lista, inte {}", other.type_name()));
                None
            }
        }
    }

    /// A present, non-null field.
    fn field<'a>(obj: &Obj<'a>, key: &str) -> Option<&'a RawValue> {
        obj.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .filter(|v| v.get().trim() != "null")
    }

    fn required<'a>(&mut self, obj: &Obj<'a>, key: &str, p: &Pointer) -> Option<&'a RawValue> {
        let f = Self::field(obj, key);
        if f.is_none() {
            self.err(&p.key(key), "fältet saknas");
        }
        f
    }

    fn string(&mut self, raw: &RawValue, p: &Pointer) -> Option<String> {
        match self.node(raw, p)? {
            Json::String(s) => Some(s),
            other => {
                self.err(p, format!("ska vara en text, inte {}", other.type_name()));
                None
            }
        }
    }

    fn text(&mut self, raw: &RawValue, p: &Pointer, max_chars: usize) -> Option<String> {
        let s = self.string(raw, p)?;
        if s.trim().is_empty() {
            self.err(p, "får inte vara tom");
            return None;
        }
        if s.chars().count() > max_chars {
            self.err(p, format!("får vara högst {max_chars} tecken"));
            return None;
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            self.err(p, "innehåller otillåtna tecken");
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, raw: &RawValue, p: &Pointer) -> Option<bool> {
        match self.node(raw, p)? {
            Json::Bool(b) => Some(b),
            other => {
                self.err(p, format!("ska vara true eller false, inte {}", other.type_name()));
                None
            }
        }
    }

    fn integer(&mut self, raw: &RawValue, p: &Pointer, min: u32, max: u32) -> Option<u32> {
        let text = match self.node(raw, p)? {
            Json::Number(t) => t,
            other => {
                self.err(p, format!("ska vara ett heltal, inte {}", other.type_name()));
                return None;
            }
        };
        let dec = crate::money::ExactDecimal::parse(text);
        let value = dec.as_ref().and_then(|d| {
            if d.negative && !d.is_zero() {
                return None;
            }
            d.scaled_to(0).ok()
        });
        match value {
            Some(v) if v >= i128::from(min) && v <= i128::from(max) => Some(v as u32),
            _ => {
                self.err(p, format!("ska vara ett heltal från {min} till {max}"));
                None
            }
        }
    }

    fn amount(&mut self, raw: &RawValue, p: &Pointer) -> Option<Money> {
        let text = match self.node(raw, p)? {
            Json::Number(t) => t,
            other => {
                self.err(p, format!("ska vara ett belopp i kronor, inte {}", other.type_name()));
                return None;
            }
        };
        match Money::parse_json_number(text) {
            Ok(m) => Some(m),
            Err(e) => {
                let e: MoneyError = e;
                self.err(p, e.to_string());
                None
            }
        }
    }

    fn enumerated<T: std::str::FromStr>(&mut self, raw: &RawValue, p: &Pointer, allowed: &str) -> Option<T> {
        let s = self.string(raw, p)?;
        match s.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.err(p, format!("okänt värde; tillåtna värden: {allowed}"));
                None
            }
        }
    }

    fn personnummer(&mut self, raw: &RawValue, p: &Pointer, reference: NaiveDate) -> Option<Personnummer> {
        let s = self.string(raw, p)?;
        match Personnummer::parse(s.trim(), reference) {
            Ok(pnr) => Some(pnr),
            Err(e) => {
                self.err(p, format!("ogiltigt personnummer: {e}"));
                None
            }
        }
    }

    fn period(&mut self, raw: &RawValue, p: &Pointer) -> Option<Period> {
        let s = self.string(raw, p)?;
        match s.parse() {
            Ok(period) => Some(period),
            Err(e) => {
                let e: crate::period::PeriodError = e;
                self.err(p, e.to_string());
                None
            }
        }
    }

    fn application(&mut self, root: &RawValue) -> Option<Application> {
        let r = Pointer::root();
        let obj = self.object(root, &r)?;

        // schema
        if let Some(raw) = self.required(&obj, "schema", &r) {
            let p = r.key("schema");
            if let Some(s) = self.string(raw, &p)
                && s != APPLICATION_SCHEMA_V1
            {
                self.err(&p, format!("schemat ska vara {APPLICATION_SCHEMA_V1}"));
            }
        }

        let external_id = self.required(&obj, "external_id", &r).and_then(|raw| {
            let p = r.key("external_id");
            let s = self.string(raw, &p)?;
            let ok = (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
            if !ok {
                self.err(
                    &p,
                    "ska vara 1–64 tecken av A–Z, a–z, 0–9, punkt, understreck och bindestreck",
                );
                return None;
            }
            Some(s)
        });

        let received_at = self.required(&obj, "received_at", &r).and_then(|raw| {
            let p = r.key("received_at");
            let s = self.string(raw, &p)?;
            match DateTime::parse_from_rfc3339(&s) {
                Ok(t) => Some(t),
                Err(_) => {
                    self.err(
                        &p,
                        "ska vara en tidpunkt enligt RFC 3339, till exempel 2021-03-02T09:30:00+01:00",
                    );
                    None
                }
            }
        });

        let period = self
            .required(&obj, "period", &r)
            .and_then(|raw| self.period(raw, &r.key("period")));

        let kind = self
            .required(&obj, "kind", &r)
            .and_then(|raw| self.enumerated::<ApplicationKind>(raw, &r.key("kind"), "fortsatt, nyansokan"));

        // Ages and the century of 10-digit numbers are taken on the first
        // day of the period; without a valid period, use the receipt date.
        let reference = period
            .map(Period::first_day)
            .or_else(|| received_at.map(|t| t.date_naive()))
            .unwrap_or(NaiveDate::MIN);
        let period_end = period
            .and_then(|p| p.plus_months(1))
            .map(Period::first_day)
            .unwrap_or(NaiveDate::MAX);

        let household = self
            .required(&obj, "household", &r)
            .and_then(|raw| self.household(raw, &r.key("household"), reference, period.is_some(), period_end));

        let applicant = self.required(&obj, "applicant", &r).and_then(|raw| {
            let p = r.key("applicant");
            let pnr = self.personnummer(raw, &p, reference)?;
            if let Some(h) = &household
                && !h.adults.iter().any(|a| a.personnummer == pnr)
            {
                self.err(&p, "sökanden ska vara en av de vuxna i hushållet");
                return None;
            }
            Some(pnr)
        });

        let costs = match Self::field(&obj, "costs") {
            None => Some(Costs::default()),
            Some(raw) => self.costs(raw, &r.key("costs")),
        };

        let incomes = self.list(&obj, "incomes", &r, |v, raw, p| {
            let o = v.object(raw, p)?;
            let person = v
                .required(&o, "person", p)
                .and_then(|x| v.member(x, &p.key("person"), reference, household.as_ref()));
            let kind = v
                .required(&o, "kind", p)
                .and_then(|x| v.enumerated::<IncomeKind>(x, &p.key("kind"), INCOME_KINDS));
            let amount = v.required(&o, "amount", p).and_then(|x| v.amount(x, &p.key("amount")));
            Some(Income {
                person: person?,
                kind: kind?,
                amount: amount?,
            })
        });

        let assets = self.list(&obj, "assets", &r, |v, raw, p| {
            let o = v.object(raw, p)?;
            let kind = v.required(&o, "kind", p).and_then(|x| {
                v.enumerated::<AssetKind>(x, &p.key("kind"), "bankmedel, kontanter, vardepapper, ovrigt")
            });
            let amount = v.required(&o, "amount", p).and_then(|x| v.amount(x, &p.key("amount")));
            Some(Asset {
                kind: kind?,
                amount: amount?,
            })
        });

        let other_needs = self.list(&obj, "other_needs", &r, |v, raw, p| {
            let o = v.object(raw, p)?;
            let kind = v.required(&o, "kind", p).and_then(|x| v.text(x, &p.key("kind"), 64));
            let amount = v.required(&o, "amount", p).and_then(|x| v.amount(x, &p.key("amount")));
            let description = v
                .required(&o, "description", p)
                .and_then(|x| v.text(x, &p.key("description"), 2000));
            Some(OtherNeed {
                kind: kind?,
                amount: amount?,
                description: description?,
            })
        });

        let history = match Self::field(&obj, "history") {
            None => Some(History::default()),
            Some(raw) => self.history(raw, &r.key("history")),
        };
        // Jobbstimulans cannot have started after the month applied for.
        let history = match (history, period) {
            (Some(h), Some(p)) if h.jobbstimulans_start.is_some_and(|s| s > p) => {
                self.err(
                    &r.key("history").key("jobbstimulans_start"),
                    format!("jobbstimulans kan inte ha börjat efter perioden {p}"),
                );
                None
            }
            (h, _) => h,
        };

        let register = match Self::field(&obj, "register") {
            None => Some(None),
            Some(raw) => self
                .register(raw, &r.key("register"), reference, household.as_ref())
                .map(Some),
        };

        Some(Application {
            external_id: external_id?,
            received_at: received_at?,
            period: period?,
            kind: kind?,
            applicant: applicant?,
            household: household?,
            costs: costs?,
            incomes: incomes?,
            assets: assets?,
            other_needs: other_needs?,
            history: history?,
            register: register?,
        })
    }

    /// An optional array field: every element validated, `None` if any fails.
    fn list<'a, T>(
        &mut self,
        obj: &Obj<'a>,
        key: &str,
        base: &Pointer,
        mut each: impl FnMut(&mut Self, &'a RawValue, &Pointer) -> Option<T>,
    ) -> Option<Vec<T>> {
        let p = base.key(key);
        let Some(raw) = Self::field(obj, key) else {
            return Some(Vec::new());
        };
        let items = self.array(raw, &p)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            match each(self, item, &p.index(i)) {
                Some(t) => out.push(t),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn member(
        &mut self,
        raw: &RawValue,
        p: &Pointer,
        reference: NaiveDate,
        household: Option<&Household>,
    ) -> Option<Personnummer> {
        let pnr = self.personnummer(raw, p, reference)?;
        if let Some(h) = household
            && h.member(&pnr).is_none()
        {
            self.err(p, "personen finns inte i hushållet");
            return None;
        }
        Some(pnr)
    }

    fn household(
        &mut self,
        raw: &RawValue,
        p: &Pointer,
        reference: NaiveDate,
        ages_known: bool,
        period_end: NaiveDate,
    ) -> Option<Household> {
        let obj = self.object(raw, p)?;
        let mut seen: Vec<Personnummer> = Vec::new();

        let adults_p = p.key("adults");
        let adults = match self.required(&obj, "adults", p) {
            None => None,
            Some(raw) => {
                let items = self.array(raw, &adults_p)?;
                if items.is_empty() {
                    self.err(&adults_p, "hushållet ska ha minst en vuxen");
                }
                let mut out = Vec::new();
                let mut ok = !items.is_empty();
                for (i, item) in items.into_iter().enumerate() {
                    let ap = adults_p.index(i);
                    match self.adult(item, &ap, reference, ages_known, &mut seen) {
                        Some(a) => out.push(a),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
        };

        let children_p = p.key("children");
        let children = match Self::field(&obj, "children") {
            None => Some(Vec::new()),
            Some(raw) => {
                let items = self.array(raw, &children_p)?;
                let mut out = Vec::new();
                let mut ok = true;
                for (i, item) in items.into_iter().enumerate() {
                    let cp = children_p.index(i);
                    match self.child(item, &cp, reference, ages_known, period_end, &mut seen) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
        };

        let dwelling_persons = match Self::field(&obj, "dwelling_persons") {
            None => Some(None),
            Some(raw) => {
                let dp = p.key("dwelling_persons");
                match self.integer(raw, &dp, 1, 1000) {
                    None => None,
                    Some(n) => {
                        let size = adults.as_ref().map_or(0, Vec::len) + children.as_ref().map_or(0, Vec::len);
                        if (n as usize) < size {
                            self.err(&dp, format!("kan inte vara färre än hushållets {size} personer"));
                            None
                        } else {
                            Some(Some(n))
                        }
                    }
                }
            }
        };

        Some(Household {
            adults: adults?,
            children: children?,
            dwelling_persons: dwelling_persons?,
        })
    }

    fn unique(&mut self, pnr: Personnummer, p: &Pointer, seen: &mut Vec<Personnummer>) -> Option<Personnummer> {
        if seen.contains(&pnr) {
            self.err(p, "personen finns redan i hushållet");
            return None;
        }
        seen.push(pnr);
        Some(pnr)
    }

    fn adult(
        &mut self,
        raw: &RawValue,
        p: &Pointer,
        reference: NaiveDate,
        ages_known: bool,
        seen: &mut Vec<Personnummer>,
    ) -> Option<Adult> {
        let o = self.object(raw, p)?;
        let pp = p.key("personnummer");
        let personnummer = self
            .required(&o, "personnummer", p)
            .and_then(|x| self.personnummer(x, &pp, reference))
            .and_then(|pnr| {
                if ages_known && pnr.age_on(reference) < 0 {
                    self.err(&pp, "personen är inte född den första dagen i perioden");
                    return None;
                }
                self.unique(pnr, &pp, seen)
            });
        let name = self
            .required(&o, "name", p)
            .and_then(|x| self.text(x, &p.key("name"), 200));
        let job_seeking = match Self::field(&o, "job_seeking") {
            None => Some(false),
            Some(x) => self.boolean(x, &p.key("job_seeking")),
        };
        let relation = match Self::field(&o, "relation") {
            None => Some(None),
            Some(x) => self
                .enumerated::<Relation>(x, &p.key("relation"), "sambo, make, annan")
                .map(Some),
        };
        // An empty reason is the same as none.
        let exempt_reason = match Self::field(&o, "exempt_reason") {
            None => Some(None),
            Some(x) => match self.string(x, &p.key("exempt_reason")) {
                Some(s) if s.trim().is_empty() => Some(None),
                Some(_) => self.text(x, &p.key("exempt_reason"), 2000).map(Some),
                None => None,
            },
        };
        Some(Adult {
            personnummer: personnummer?,
            name: name?,
            job_seeking: job_seeking?,
            relation: relation?,
            exempt_reason: exempt_reason?,
        })
    }

    fn child(
        &mut self,
        raw: &RawValue,
        p: &Pointer,
        reference: NaiveDate,
        ages_known: bool,
        period_end: NaiveDate,
        seen: &mut Vec<Personnummer>,
    ) -> Option<Child> {
        let o = self.object(raw, p)?;
        let pp = p.key("personnummer");
        let personnummer = self
            .required(&o, "personnummer", p)
            .and_then(|x| self.personnummer(x, &pp, reference))
            .and_then(|pnr| {
                if ages_known {
                    if pnr.birth_date() >= period_end {
                        self.err(&pp, "barnet är fött efter perioden");
                        return None;
                    }
                    if pnr.age_on(reference) > MAX_CHILD_AGE {
                        self.err(
                            p,
                            "ett barn som fyllt 21 år den första dagen i perioden ingår inte i hushållets barn",
                        );
                        return None;
                    }
                }
                self.unique(pnr, &pp, seen)
            });
        let name = self
            .required(&o, "name", p)
            .and_then(|x| self.text(x, &p.key("name"), 200));
        let lunch_at_preschool = match Self::field(&o, "lunch_at_preschool") {
            None => Some(false),
            Some(x) => self.boolean(x, &p.key("lunch_at_preschool")),
        };
        let residence_share_percent = match Self::field(&o, "residence_share_percent") {
            None => Some(100),
            Some(x) => self
                .integer(x, &p.key("residence_share_percent"), 1, 100)
                .map(|v| v as u8),
        };
        let in_school = match Self::field(&o, "in_school") {
            None => Some(false),
            Some(x) => self.boolean(x, &p.key("in_school")),
        };
        let wage_earlier_this_year = match Self::field(&o, "wage_earlier_this_year") {
            None => Some(Money::ZERO),
            Some(x) => self.amount(x, &p.key("wage_earlier_this_year")),
        };
        Some(Child {
            personnummer: personnummer?,
            name: name?,
            lunch_at_preschool: lunch_at_preschool?,
            residence_share_percent: residence_share_percent?,
            in_school: in_school?,
            wage_earlier_this_year: wage_earlier_this_year?,
        })
    }

    fn costs(&mut self, raw: &RawValue, p: &Pointer) -> Option<Costs> {
        let obj = self.object(raw, p)?;
        let mut costs = Costs::default();
        let mut ok = true;
        for kind in CostKind::ALL {
            if let Some(x) = Self::field(&obj, kind.as_str()) {
                match self.amount(x, &p.key(kind.as_str())) {
                    Some(m) => *costs.slot(*kind) = m,
                    None => ok = false,
                }
            }
        }
        ok.then_some(costs)
    }

    fn history(&mut self, raw: &RawValue, p: &Pointer) -> Option<History> {
        let obj = self.object(raw, p)?;
        let months = |v: &mut Self, key: &str| match Self::field(&obj, key) {
            None => Some(0),
            Some(x) => v.integer(x, &p.key(key), 0, 1200),
        };
        let consecutive = months(self, "consecutive_months_with_bistand");
        let used = months(self, "jobbstimulans_months_used");
        let notice = match Self::field(&obj, "rent_notice_period") {
            None => Some(None),
            Some(x) => self.period(x, &p.key("rent_notice_period")).map(Some),
        };
        let start = match Self::field(&obj, "jobbstimulans_start") {
            None => Some(None),
            Some(x) => self.period(x, &p.key("jobbstimulans_start")).map(Some),
        };
        Some(History {
            consecutive_months_with_bistand: consecutive?,
            jobbstimulans_months_used: used?,
            jobbstimulans_start: start?,
            rent_notice_period: notice?,
        })
    }

    fn register(
        &mut self,
        raw: &RawValue,
        p: &Pointer,
        reference: NaiveDate,
        household: Option<&Household>,
    ) -> Option<Register> {
        let obj = self.object(raw, p)?;
        let job_seekers = self.list(&obj, "job_seekers", p, |v, x, ip| v.member(x, ip, reference, household));
        let incomes = self.list(&obj, "incomes", p, |v, x, ip| {
            let o = v.object(x, ip)?;
            let person = v
                .required(&o, "person", ip)
                .and_then(|y| v.member(y, &ip.key("person"), reference, household));
            let source = v
                .required(&o, "source", ip)
                .and_then(|y| v.text(y, &ip.key("source"), 64));
            let kind = v
                .required(&o, "kind", ip)
                .and_then(|y| v.enumerated::<IncomeKind>(y, &ip.key("kind"), INCOME_KINDS));
            let amount = v
                .required(&o, "amount", ip)
                .and_then(|y| v.amount(y, &ip.key("amount")));
            Some(RegisterIncome {
                person: person?,
                source: source?,
                kind: kind?,
                amount: amount?,
            })
        });
        Some(Register {
            job_seekers: job_seekers?,
            incomes: incomes?,
        })
    }
}

const INCOME_KINDS: &str = "lon, a_kassa, sjukpenning, sjukersattning, aktivitetsstod, etableringsersattning, foraldrapenning, bostadsbidrag, barnbidrag, underhallsstod, underhallsbidrag, studiemedel, pension, skatteaterbaring, ovrigt";
