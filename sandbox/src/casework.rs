//! A casework type as a package: the manifest's `[casework]` table, the
//! application's JSON Schema with the engine's annotations, the validation
//! script, and the `facts` the rules see (`rulesets/PACKAGES.md`).
//!
//! ```text
//! bytes ─▶ JSON ─▶ JSON Schema (draft 2020-12) ─▶ annotations (money, personnummer,
//!          period, date) ─▶ validate.rhai ─▶ Document ─▶ facts for the rules
//! ```
//! Every stage reports JSON pointers; the first stage that fails stops.

use crate::api::{DraftSpec, SectionSpec};
use domain::{MAX_APPLICATION_BYTES, Money, Outcome, Period, Personnummer, ReasonCode, SectionKind};
use rhai::{Array, Dynamic, ImmutableString, Map};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The manifest's `[casework]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseworkManifest {
    pub title: String,
    pub application_schema: String,
    pub draft_schema: String,
    #[serde(default)]
    pub json_schema: Option<String>,
    #[serde(default)]
    pub validate: Option<String>,
    #[serde(default)]
    pub labels: Option<String>,
    #[serde(default)]
    pub letter: Option<String>,
    #[serde(default)]
    pub kommunicering_letter: Option<String>,
    /// The built-in reader of a type whose facts are still made in Rust
    /// (`ekonomiskt-bistand/ansokan/v1`); absent for a package type.
    #[serde(default)]
    pub builtin: Option<String>,
    #[serde(default = "default_applicant")]
    pub applicant: String,
    #[serde(default)]
    pub applicant_name: Option<String>,
    /// Others the case is about, shown beside the applicant (a partner):
    /// pointers to their personnummer and name, and what they are called.
    #[serde(default)]
    pub people: Vec<PersonEntry>,
    pub outcomes: Vec<String>,
    pub sections: Vec<SectionEntry>,
    #[serde(default)]
    pub codes: BTreeMap<String, CodeEntry>,
    /// What the signed sum of the rows is called on the case page
    /// (default "Summa enligt raderna").
    #[serde(default)]
    pub result_label: Option<String>,
}

/// One more person a package's application names (`[[casework.people]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonEntry {
    /// What the person is to the case, in Swedish ("Make, maka eller sambo").
    pub role: String,
    /// Pointer to the personnummer.
    pub personnummer: String,
    /// Pointer to the name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A person the case is about, as the official sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// "Sökande", "Medsökande", or the package's word.
    pub role: String,
    pub name: Option<String>,
    pub personnummer: Personnummer,
}

fn default_applicant() -> String {
    "/applicant".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionEntry {
    pub id: String,
    pub title: String,
    #[serde(default = "plus")]
    pub sign: i64,
}

fn plus() -> i64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    pub label: String,
    #[serde(default)]
    pub manual: bool,
    /// Whether the code still stands when the runtime sends the case to a
    /// person (`false` for a code that only explains the robot's outcome).
    #[serde(default = "yes")]
    pub keep_when_routed: bool,
}

/// The case page's labels (`labels.toml`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// JSON pointer patterns (`*` for any array index) to Swedish labels.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Enumerated values to Swedish words.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// The rule trace's steps (`kostnader.boende`) in Swedish.
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
    /// The rule trace's values (`hyra`) in Swedish, and whether a number is
    /// an amount in öre (`{ label = "hyra", unit = "öre" }`) or in kronor.
    #[serde(default)]
    pub trace: BTreeMap<String, TraceLabel>,
}

/// What a value in the rule trace is called and in what unit it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TraceLabel {
    Plain(String),
    Unit {
        label: String,
        #[serde(default)]
        unit: Option<String>,
    },
}

impl TraceLabel {
    pub fn label(&self) -> &str {
        match self {
            TraceLabel::Plain(l) | TraceLabel::Unit { label: l, .. } => l,
        }
    }
    /// `öre`, `kr`, or another unit word (`%`, `månader`).
    pub fn unit(&self) -> Option<&str> {
        match self {
            TraceLabel::Plain(_) => None,
            TraceLabel::Unit { unit, .. } => unit.as_deref(),
        }
    }
}

impl Labels {
    /// The label for a concrete pointer (`/incomes/0/kind` matches
    /// `/incomes/*/kind`).
    pub fn field(&self, pointer: &str) -> Option<&str> {
        if let Some(l) = self.fields.get(pointer) {
            return Some(l);
        }
        let parts: Vec<&str> = pointer.split('/').collect();
        self.fields.iter().find_map(|(pattern, label)| {
            let p: Vec<&str> = pattern.split('/').collect();
            (p.len() == parts.len()
                && p.iter()
                    .zip(&parts)
                    .all(|(a, b)| a == b || (*a == "*" && b.bytes().all(|c| c.is_ascii_digit()))))
            .then_some(label.as_str())
        })
    }

    pub fn value<'a>(&'a self, v: &'a str) -> &'a str {
        self.values.get(v).map_or(v, String::as_str)
    }
}

/// A domain type the engine knows, named by `"x-hrobot"` in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Annotation {
    Money,
    Personnummer,
    Period,
    Date,
    Personal,
}

impl Annotation {
    fn parse(s: &str) -> Option<Annotation> {
        Some(match s {
            "money" => Annotation::Money,
            "personnummer" => Annotation::Personnummer,
            "period" => Annotation::Period,
            "date" => Annotation::Date,
            "personal" => Annotation::Personal,
            _ => return None,
        })
    }
}

/// One problem with the input, at a JSON pointer ("" for the whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    pub pointer: String,
    pub message: String,
}

/// Why an input is not a valid application.
#[derive(Debug, Clone)]
pub enum InputError {
    /// From the built-in reader (its own messages and pointers).
    Application(domain::ApplicationError),
    TooLarge {
        bytes: usize,
    },
    NotUtf8,
    NotJson {
        line: usize,
        column: usize,
    },
    Invalid(Vec<InputProblem>),
}

impl InputError {
    pub fn pointers(&self) -> Vec<&str> {
        match self {
            InputError::Invalid(v) => v.iter().map(|p| p.pointer.as_str()).collect(),
            InputError::Application(e) => e.pointers(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Application(e) => write!(f, "{e}"),
            InputError::TooLarge { bytes } => {
                write!(f, "ansökan är {bytes} byte, mer än {MAX_APPLICATION_BYTES}")
            }
            InputError::NotUtf8 => f.write_str("ansökan är inte UTF-8"),
            InputError::NotJson { line, column } => write!(f, "ansökan är inte JSON (rad {line}, kolumn {column})"),
            InputError::Invalid(problems) => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    let at = if p.pointer.is_empty() { "/" } else { &p.pointer };
                    write!(f, "{at}: {}", p.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for InputError {}

/// A valid application of a package type.
#[derive(Debug, Clone)]
pub struct Document {
    /// As read (numbers as JSON numbers).
    pub value: Value,
    pub external_id: String,
    pub period: Period,
    pub received_at: chrono::DateTime<chrono::FixedOffset>,
    /// The applicant (the manifest's `applicant` pointer).
    pub applicant: Personnummer,
    pub applicant_name: Option<String>,
    /// Every personnummer in the document, the applicant first.
    pub subjects: Vec<Personnummer>,
    /// The applicant and the manifest's `people`, with names.
    pub people: Vec<Person>,
    /// The document for the rules: money in öre, personnummer as ages,
    /// personal texts left out, schema defaults filled in.
    pub(crate) facts: Dynamic,
    /// The document for the validation script: money in öre,
    /// personnummer normalised, nothing left out.
    pub(crate) doc: Dynamic,
}

impl Document {
    /// The casework type: the `schema` value's first part.
    pub fn type_name(&self) -> &str {
        self.value
            .get("schema")
            .and_then(Value::as_str)
            .and_then(|s| s.split('/').next())
            .unwrap_or_default()
    }
}

/// A casework type, loaded and checked.
pub struct Casework {
    pub manifest: CaseworkManifest,
    pub labels: Labels,
    pub letter: Option<String>,
    pub kommunicering_letter: Option<String>,
    pub(crate) spec: std::sync::Arc<DraftSpec>,
    schema: Option<Value>,
    validator: Option<jsonschema::Validator>,
    pub(crate) validate: Option<rhai::AST>,
}

impl fmt::Debug for Casework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Casework")
            .field("title", &self.manifest.title)
            .finish_non_exhaustive()
    }
}

impl Casework {
    /// Builds the type from its manifest table and the files it names
    /// (read by the caller: `json_schema`, `labels`, letters). Returns
    /// every problem found, each naming the file.
    pub(crate) fn new(
        manifest: CaseworkManifest,
        schema_text: Option<(&str, &str)>,
        labels_text: Option<(&str, &str)>,
        letter: Option<String>,
        kommunicering_letter: Option<String>,
        validate: Option<rhai::AST>,
    ) -> Result<Casework, Vec<(String, String)>> {
        let mut problems: Vec<(String, String)> = Vec::new();
        let m = &manifest;
        let manifest_file = crate::ruleset::MANIFEST.to_string();
        let mut bad = |file: &str, msg: String| problems.push((file.to_string(), msg));
        if !m.application_schema.contains('/') {
            bad(
                &manifest_file,
                "[casework] application_schema ska se ut som TYP/ansokan/vN".into(),
            );
        }
        if !domain::is_draft_schema(&m.draft_schema) && m.draft_schema != domain::DRAFT_SCHEMA {
            bad(
                &manifest_file,
                "[casework] draft_schema ska se ut som TYP/beslutsutkast/vN".into(),
            );
        }
        let mut outcomes = Vec::new();
        for o in &m.outcomes {
            match o.parse::<Outcome>() {
                Ok(o) => outcomes.push(o),
                Err(e) => bad(&manifest_file, format!("[casework] outcomes: {e}")),
            }
        }
        let mut sections = Vec::new();
        for s in &m.sections {
            match SectionKind::new(&s.id) {
                Ok(kind) if s.sign == 1 || s.sign == -1 => {
                    if sections.iter().any(|x: &SectionSpec| x.kind == kind) {
                        bad(&manifest_file, format!("[casework] sections: {} två gånger", s.id));
                    }
                    sections.push(SectionSpec {
                        kind,
                        title: s.title.clone(),
                        sign: s.sign,
                    });
                }
                Ok(_) => bad(
                    &manifest_file,
                    format!("[casework] sections: {}: sign ska vara 1 eller -1", s.id),
                ),
                Err(e) => bad(&manifest_file, format!("[casework] sections: {e}")),
            }
        }
        if sections.is_empty() {
            bad(
                &manifest_file,
                "[casework] sections: minst en del av beräkningen".into(),
            );
        }
        let mut codes = Vec::new();
        for (name, c) in &m.codes {
            match ReasonCode::new(name) {
                Ok(code) if code.is_store_route() => bad(
                    &manifest_file,
                    format!("[casework.codes.{name}]: koden sätts av körmiljön, inte av regler"),
                ),
                Ok(code) => codes.push((code, c.manual)),
                Err(e) => bad(&manifest_file, format!("[casework.codes]: {e}")),
            }
        }
        let schema = match schema_text {
            None => None,
            Some((file, text)) => match serde_json::from_str::<Value>(text) {
                Ok(v) => Some((file.to_string(), v)),
                Err(e) => {
                    bad(file, format!("ogiltig JSON: {e}"));
                    None
                }
            },
        };
        let validator = match &schema {
            None => None,
            Some((file, v)) => match jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(v)
            {
                Ok(val) => {
                    check_annotations(v, "", 0, &mut |msg| bad(file, msg));
                    Some(val)
                }
                Err(e) => {
                    bad(file, format!("ogiltigt JSON Schema: {e}"));
                    None
                }
            },
        };
        if validator.is_none() && m.builtin.is_none() {
            bad(
                &manifest_file,
                "[casework] json_schema saknas: en ärendetyp beskriver sin ansökan med ett JSON Schema".into(),
            );
        }
        let labels = match labels_text {
            None => Labels::default(),
            Some((file, text)) => toml::from_str::<Labels>(text).unwrap_or_else(|e| {
                bad(file, format!("ogiltig TOML: {}", e.message()));
                Labels::default()
            }),
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let spec = DraftSpec {
            schema: m.draft_schema.clone(),
            sections,
            outcomes,
            codes: Some(codes),
        };
        Ok(Casework {
            spec: std::sync::Arc::new(spec),
            schema: schema.map(|(_, v)| v),
            validator,
            labels,
            letter,
            kommunicering_letter,
            validate,
            manifest,
        })
    }

    pub fn title(&self) -> &str {
        &self.manifest.title
    }

    /// The casework type's name: the application schema's first part.
    pub fn type_name(&self) -> &str {
        self.manifest.application_schema.split('/').next().unwrap_or_default()
    }

    /// Whether documents are read by the built-in reader.
    pub fn builtin(&self) -> Option<&str> {
        self.manifest.builtin.as_deref()
    }

    /// The calculation's parts with titles and signs.
    pub fn sections(&self) -> &[SectionSpec] {
        &self.spec.sections
    }

    /// The Swedish label of a code (the runtime's own codes too).
    pub fn code_label<'a>(&'a self, code: &'a str) -> &'a str {
        if let Some(l) = ReasonCode::new(code).ok().and_then(|c| c.store_label()) {
            return l;
        }
        self.manifest.codes.get(code).map_or(code, |c| c.label.as_str())
    }

    /// Whether a code sends the case to a person.
    pub fn code_is_manual(&self, code: &str) -> bool {
        ReasonCode::new(code).is_ok_and(|c| c.is_store_route())
            || self.manifest.codes.get(code).is_some_and(|c| c.manual)
    }

    /// Whether a code of a draft still stands when the case is sent to a person.
    pub fn code_kept_when_routed(&self, code: &str) -> bool {
        self.manifest.codes.get(code).is_none_or(|c| c.keep_when_routed)
    }

    /// Whether the outcome is a fixed amount (a fee) rather than a grant.
    pub fn fixes_amount(&self) -> bool {
        self.spec.outcomes.contains(&Outcome::Faststalld)
    }

    /// The schema (for the case page and the API).
    pub fn json_schema(&self) -> Option<&Value> {
        self.schema.as_ref()
    }

    /// The `x-hrobot` annotation of the value at a document pointer
    /// (`/incomes/0/amount` → `money`), following properties, items and `$ref`.
    pub fn annotation_at(&self, pointer: &str) -> Option<&str> {
        let root = self.schema.as_ref()?;
        let mut s = root;
        for part in pointer.split('/').skip(1) {
            s = resolve(root, s);
            s = match s.get("items") {
                Some(items) if part.bytes().all(|b| b.is_ascii_digit()) => items,
                _ => s.get("properties")?.get(part)?,
            };
        }
        resolve(root, s).get("x-hrobot").and_then(Value::as_str)
    }

    /// Stages 1–3: JSON, the schema, the annotations. `validate.rhai`
    /// (stage 4) needs the parameters and runs in [`crate::Ruleset`].
    pub(crate) fn read(&self, bytes: &[u8]) -> Result<Document, InputError> {
        if bytes.len() > MAX_APPLICATION_BYTES {
            return Err(InputError::TooLarge { bytes: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = serde_json::from_str(text).map_err(|e| InputError::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let raw: &RawValue = serde_json::from_str(text).map_err(|e| InputError::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let invalid = |pointer: &str, message: String| {
            InputError::Invalid(vec![InputProblem {
                pointer: pointer.to_string(),
                message,
            }])
        };
        if !value.is_object() {
            return Err(invalid("", "ansökan ska vara ett JSON-objekt".into()));
        }
        // The schema value first: a document of another type is named as such.
        match value.get("schema").and_then(Value::as_str) {
            Some(s) if s == self.manifest.application_schema => {}
            _ => {
                return Err(invalid(
                    "/schema",
                    format!("schema ska vara {:?}", self.manifest.application_schema),
                ));
            }
        }
        let (Some(validator), Some(schema)) = (&self.validator, &self.schema) else {
            return Err(invalid("", "ärendetypen har inget JSON Schema".into()));
        };
        // The valid case first: no error is built.
        let mut problems: Vec<InputProblem> = if validator.is_valid(&value) {
            Vec::new()
        } else {
            validator
                .iter_errors(&value)
                .take(50)
                .map(|e| {
                    let mut pointer = e.instance_path().to_string();
                    // A missing field is named by its own pointer.
                    if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind()
                        && let Some(name) = property.as_str()
                    {
                        pointer.push('/');
                        pointer.push_str(&escape(name));
                    }
                    InputProblem {
                        pointer,
                        message: schema_message(&e),
                    }
                })
                .collect()
        };
        if !problems.is_empty() {
            problems.sort_by(|a, b| a.pointer.cmp(&b.pointer));
            problems.dedup();
            return Err(InputError::Invalid(problems));
        }
        // The fields every type has.
        let period: Period = match value.get("period").and_then(Value::as_str).map(str::parse) {
            Some(Ok(p)) => p,
            _ => return Err(invalid("/period", "perioden ska vara ÅÅÅÅ-MM".into())),
        };
        let external_id = match value.get("external_id").and_then(Value::as_str) {
            Some(s)
                if !s.is_empty()
                    && s.len() <= 64
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
            {
                s.to_string()
            }
            _ => {
                return Err(invalid(
                    "/external_id",
                    "ärendets id ska vara 1–64 tecken av A–Z, a–z, 0–9, punkt, understreck och bindestreck".into(),
                ));
            }
        };
        let received_at = match value
            .get("received_at")
            .and_then(Value::as_str)
            .map(chrono::DateTime::parse_from_rfc3339)
        {
            Some(Ok(t)) => t,
            _ => return Err(invalid("/received_at", "tidpunkten ska skrivas enligt RFC 3339".into())),
        };
        let day1 = period.first_day();
        let mut walk = Walk {
            root: schema,
            facts: self.builtin().is_none(),
            day1,
            problems: Vec::new(),
            subjects: Vec::new(),
        };
        let (doc, facts) = walk.value(schema, &value, Some(raw), &mut String::new(), 0);
        if !walk.problems.is_empty() {
            return Err(InputError::Invalid(walk.problems));
        }
        let applicant_pointer = self.manifest.applicant.as_str();
        let applicant = match value.pointer(applicant_pointer).and_then(Value::as_str) {
            Some(s) => Personnummer::parse(s.trim(), day1).map_err(|e| invalid(applicant_pointer, e.to_string()))?,
            None => return Err(invalid(applicant_pointer, "sökandens personnummer saknas".into())),
        };
        let applicant_name = self
            .manifest
            .applicant_name
            .as_deref()
            .and_then(|p| value.pointer(p))
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut people = vec![Person {
            role: "Sökande".into(),
            name: applicant_name.clone(),
            personnummer: applicant,
        }];
        for e in &self.manifest.people {
            let pnr = value
                .pointer(&e.personnummer)
                .and_then(Value::as_str)
                .and_then(|s| Personnummer::parse(s.trim(), day1).ok());
            if let Some(personnummer) = pnr {
                people.push(Person {
                    role: e.role.clone(),
                    name: e
                        .name
                        .as_deref()
                        .and_then(|p| value.pointer(p))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    personnummer,
                });
            }
        }
        let mut subjects = vec![applicant];
        for s in walk.subjects {
            if !subjects.contains(&s) {
                subjects.push(s);
            }
        }
        Ok(Document {
            value,
            external_id,
            period,
            received_at,
            applicant,
            applicant_name,
            subjects,
            people,
            facts: facts.unwrap_or(Dynamic::UNIT),
            doc,
        })
    }
}

/// A schema error in Swedish, naming the keyword broken and never the
/// value (which may be a name or a personnummer: messages reach logs).
fn schema_message(e: &jsonschema::ValidationError<'_>) -> String {
    let keyword = e.kind().keyword();
    let sv = match keyword {
        "required" => "ett obligatoriskt fält saknas",
        "type" => "fel typ",
        "enum" | "const" => "värdet är inte ett av de tillåtna",
        "minimum" | "exclusiveMinimum" => "värdet är för litet",
        "maximum" | "exclusiveMaximum" => "värdet är för stort",
        "minLength" | "maxLength" => "texten har fel längd",
        "minItems" | "maxItems" => "listan har fel antal",
        "pattern" => "värdet har fel form",
        "additionalProperties" | "unevaluatedProperties" => "okänt fält",
        "format" => "värdet har fel format",
        _ => "värdet är ogiltigt",
    };
    format!("{sv} (schemats {keyword})")
}

/// Checks the annotations of a schema: known names, and money and
/// personnummer only on numbers and strings.
fn check_annotations(s: &Value, at: &str, depth: usize, bad: &mut dyn FnMut(String)) {
    if depth > 64 {
        return;
    }
    let Some(obj) = s.as_object() else { return };
    // `"type": "number"` or a list with it (`["number", "null"]`).
    let typed = |t: &str| match obj.get("type") {
        Some(Value::String(s)) => s == t,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(t)),
        _ => false,
    };
    if let Some(a) = obj.get("x-hrobot") {
        match a.as_str().and_then(Annotation::parse) {
            None => bad(format!(
                "{at}: okänd x-hrobot {a}; kända: money, personnummer, period, date, personal"
            )),
            Some(Annotation::Money) if !typed("number") => {
                bad(format!("{at}: x-hrobot money ska stå på \"type\": \"number\""))
            }
            Some(Annotation::Personnummer | Annotation::Period | Annotation::Date | Annotation::Personal)
                if !typed("string") =>
            {
                bad(format!("{at}: x-hrobot {a} ska stå på \"type\": \"string\""))
            }
            Some(_) => {}
        }
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (k, v) in props {
            check_annotations(v, &format!("{at}/properties/{k}"), depth + 1, bad);
        }
    }
    if let Some(items) = obj.get("items") {
        check_annotations(items, &format!("{at}/items"), depth + 1, bad);
    }
    if let Some(Value::Object(defs)) = obj.get("$defs") {
        for (k, v) in defs {
            check_annotations(v, &format!("{at}/$defs/{k}"), depth + 1, bad);
        }
    }
}

/// Walks the document with its schema: checks the annotations and makes
/// the two views the scripts get.
struct Walk<'a> {
    root: &'a Value,
    /// Make the rules' view too (not for a type whose facts the built-in
    /// reader makes).
    facts: bool,
    day1: chrono::NaiveDate,
    problems: Vec<InputProblem>,
    subjects: Vec<Personnummer>,
}

/// The local schema a `$ref` names (`#/$defs/x`).
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    let mut s = s;
    for _ in 0..16 {
        match s.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
            Some(p) => match root.pointer(p) {
                Some(t) => s = t,
                None => return s,
            },
            None => return s,
        }
    }
    s
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Walk<'_> {
    /// Returns (doc, facts) for `v`; `Dynamic::UNIT` in facts for a value
    /// left out (the caller drops the key).
    fn value(
        &mut self,
        schema: &Value,
        v: &Value,
        raw: Option<&RawValue>,
        at: &mut String,
        depth: usize,
    ) -> (Dynamic, Option<Dynamic>) {
        let schema = resolve(self.root, schema);
        if depth > 64 {
            return (Dynamic::UNIT, None);
        }
        let annotation = schema
            .get("x-hrobot")
            .and_then(Value::as_str)
            .and_then(Annotation::parse);
        // allOf branches may annotate too.
        let annotation = annotation.or_else(|| {
            schema.get("allOf").and_then(Value::as_array).and_then(|all| {
                all.iter().find_map(|b| {
                    resolve(self.root, b)
                        .get("x-hrobot")
                        .and_then(Value::as_str)
                        .and_then(Annotation::parse)
                })
            })
        });
        match (annotation, v) {
            (Some(Annotation::Money), Value::Number(_)) => {
                let text = raw.map_or_else(|| v.to_string(), |r| r.get().to_string());
                match Money::parse_json_number(text.trim()) {
                    Ok(m) => {
                        let d = Dynamic::from_int(m.ore());
                        return (d.clone(), Some(d));
                    }
                    Err(e) => {
                        self.problem(at, format!("beloppet är ogiltigt: {e}"));
                        return (Dynamic::UNIT, None);
                    }
                }
            }
            (Some(Annotation::Personnummer), Value::String(s)) => match Personnummer::parse(s.trim(), self.day1) {
                Ok(p) => {
                    let age = p.age_on(self.day1).max(0);
                    let doc = Dynamic::from(ImmutableString::from(p.as_str()));
                    self.subjects.push(p);
                    let mut m = Map::new();
                    m.insert("age".into(), Dynamic::from_int(i64::from(age)));
                    return (doc, Some(Dynamic::from_map(m)));
                }
                Err(e) => {
                    self.problem(at, format!("personnumret är ogiltigt: {e}"));
                    return (Dynamic::UNIT, None);
                }
            },
            (Some(Annotation::Period), Value::String(s)) if s.parse::<Period>().is_err() => {
                self.problem(at, "perioden ska vara en månad, ÅÅÅÅ-MM".into());
            }
            (Some(Annotation::Date), Value::String(s))
                if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() || s.len() != 10 =>
            {
                self.problem(at, "datumet ska vara ÅÅÅÅ-MM-DD".into());
            }
            (Some(Annotation::Personal), Value::String(s)) => {
                return (Dynamic::from(ImmutableString::from(s.as_str())), None);
            }
            _ => {}
        }
        match v {
            Value::Null => (Dynamic::UNIT, Some(Dynamic::UNIT)),
            Value::Bool(b) => (Dynamic::from_bool(*b), Some(Dynamic::from_bool(*b))),
            Value::String(s) => {
                let d = Dynamic::from(ImmutableString::from(s.as_str()));
                (d.clone(), Some(d))
            }
            Value::Number(n) => match n.as_i64().or_else(|| {
                // `5.0` and `1e1` are whole numbers (JSON Schema's integer).
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            }) {
                Some(i) => (Dynamic::from_int(i), Some(Dynamic::from_int(i))),
                None => {
                    self.problem(
                        at,
                        "talet ska vara ett heltal (ett belopp ska märkas x-hrobot: money i schemat)".into(),
                    );
                    (Dynamic::UNIT, None)
                }
            },
            Value::Array(items) => {
                let item_schema = schema.get("items").unwrap_or(&Value::Bool(true));
                let raws: Vec<&RawValue> = raw
                    .and_then(|r| serde_json::from_str::<Vec<&RawValue>>(r.get()).ok())
                    .unwrap_or_default();
                let mut doc = Array::new();
                let mut facts = Array::new();
                for (i, item) in items.iter().enumerate() {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&i.to_string());
                    let (d, f) = self.value(item_schema, item, raws.get(i).copied(), at, depth + 1);
                    at.truncate(len);
                    doc.push(d);
                    if self.facts {
                        facts.push(f.unwrap_or(Dynamic::UNIT));
                    }
                }
                (Dynamic::from_array(doc), Some(Dynamic::from_array(facts)))
            }
            Value::Object(obj) => {
                let props = schema.get("properties").and_then(Value::as_object);
                let raws: HashMap<String, &RawValue> = raw
                    .and_then(|r| serde_json::from_str::<HashMap<String, &RawValue>>(r.get()).ok())
                    .unwrap_or_default();
                let mut doc = Map::new();
                let mut facts = Map::new();
                for (k, item) in obj {
                    let prop = props.and_then(|p| p.get(k)).unwrap_or(&Value::Bool(true));
                    let len = at.len();
                    at.push('/');
                    at.push_str(&escape(k));
                    let (d, f) = self.value(prop, item, raws.get(k).copied(), at, depth + 1);
                    at.truncate(len);
                    doc.insert(k.as_str().into(), d);
                    if let Some(f) = f.filter(|_| self.facts) {
                        facts.insert(k.as_str().into(), f);
                    }
                }
                // Defaults of absent properties, for the rules.
                if let Some(props) = props.filter(|_| self.facts) {
                    for (k, p) in props {
                        if obj.contains_key(k) {
                            continue;
                        }
                        let p = resolve(self.root, p);
                        if let Some(default) = p.get("default") {
                            let len = at.len();
                            at.push('/');
                            at.push_str(&escape(k));
                            let (_, f) = self.value(p, default, None, at, depth + 1);
                            at.truncate(len);
                            if let Some(f) = f {
                                facts.insert(k.as_str().into(), f);
                            }
                        }
                    }
                }
                (Dynamic::from_map(doc), Some(Dynamic::from_map(facts)))
            }
        }
    }

    fn problem(&mut self, at: &str, message: String) {
        if self.problems.len() < 50 {
            self.problems.push(InputProblem {
                pointer: at.to_string(),
                message,
            });
        }
    }
}
