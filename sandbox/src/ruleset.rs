//! Loading, hashing, compiling and running a ruleset folder.
//!
//! ```text
//! rulesets/ekonomiskt-bistand/
//!   ruleset.toml          name, version, entry, include, parameters
//!   rules/*.rhai          the entry script and the function libraries it includes
//!   parameters/*.toml     dated parameter files
//!   tests/NAME.json       cases: an application …
//!   tests/NAME.expected.json   … and what the ruleset must make of it
//! ```

use crate::api::DraftSpec;
use crate::api::{self, DraftBuilder, Params, ScriptParams};
use crate::casework::{Casework, CaseworkManifest, Document as CaseDocument, InputError, InputProblem};
use crate::engine::{self, LIMITS};
use crate::error::{Problem, RulesetError, line_col};
use crate::params::{ParamTable, ResolvedParams};
use chrono::NaiveDate;
use domain::{Application, Draft, DraftParts, Outcome, Period, Personnummer, RulesetRef};
use rhai::{AST, Dynamic, EvalAltResult, Position, Scope};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use toml_edit::{Document, Item};

pub const MANIFEST: &str = "ruleset.toml";
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
const MAX_PARAM_FILE_BYTES: u64 = 1024 * 1024;
const MAX_TOTAL_SCRIPT_BYTES: u64 = 4 * 1024 * 1024;

/// Put before the scripts. Rhai finds a variable the script declared by its
/// position, but one the host put in the scope (`draft`, `params`) by
/// comparing its name with every variable in scope, newest first: with the
/// ruleset's fifty-odd variables that search was 5 % of an evaluation.
/// Declared again here, they are found by position. Both are handles, so
/// the copies record into the same draft and the same set of parameters
/// read. (`facts` stays as it is: a copy of it would cost more than the
/// searches it saves.)
const PROLOGUE: &str = "let draft = draft; let params = params;\n";

/// A script file's place in the combined source the engine compiles.
#[derive(Debug, Clone)]
struct SourceSpan {
    file: String,
    first_line: usize,
    lines: usize,
}

/// A loaded, compiled ruleset. Cheap to share between threads; evaluation
/// takes `&self`.
pub struct Ruleset {
    name: String,
    version: String,
    hash: String,
    description: String,
    dir: PathBuf,
    ast: AST,
    sources: Vec<SourceSpan>,
    params: ParamTable,
    resolved: RwLock<HashMap<NaiveDate, Arc<ResolvedParams>>>,
    /// The same, prepared for scripts.
    script_params: RwLock<HashMap<NaiveDate, Arc<ScriptParams>>>,
    /// The casework type (`[casework]`); `None` for a bare ruleset.
    casework: Option<Casework>,
    /// The rule scripts as read, (relative path, text): includes, then the
    /// entry. Kept for static analysis (`coverage.rs`).
    scripts: Vec<(String, String)>,
    /// The manifest as read.
    manifest_text: String,
}

impl std::fmt::Debug for Ruleset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ruleset")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// An application read by its casework type.
#[derive(Debug, Clone)]
pub enum Input {
    /// Read by the built-in reader of contract v2 (ekonomiskt bistånd).
    Builtin(Box<Application>),
    /// Read by a package type's schema, annotations and validation script.
    Package(Box<CaseDocument>),
}

impl Input {
    pub fn external_id(&self) -> &str {
        match self {
            Input::Builtin(a) => a.external_id(),
            Input::Package(d) => &d.external_id,
        }
    }
    pub fn period(&self) -> Period {
        match self {
            Input::Builtin(a) => a.period(),
            Input::Package(d) => d.period,
        }
    }
    pub fn received_at(&self) -> chrono::DateTime<chrono::FixedOffset> {
        match self {
            Input::Builtin(a) => a.received_at(),
            Input::Package(d) => d.received_at,
        }
    }
    pub fn applicant(&self) -> &Personnummer {
        match self {
            Input::Builtin(a) => a.applicant(),
            Input::Package(d) => &d.applicant,
        }
    }
    /// The adults the case is about, with names, the applicant first: the
    /// household's adults, or a package's applicant and its `people`.
    pub fn people(&self) -> Vec<crate::casework::Person> {
        match self {
            Input::Builtin(a) => a
                .household()
                .adults
                .iter()
                .enumerate()
                .map(|(i, x)| crate::casework::Person {
                    role: if i == 0 { "Sökande" } else { "Medsökande" }.into(),
                    name: Some(x.name.clone()),
                    personnummer: x.personnummer,
                })
                .collect(),
            Input::Package(d) => d.people.clone(),
        }
    }
    /// Everyone the case is about, the applicant first.
    pub fn subjects(&self) -> Vec<&Personnummer> {
        match self {
            Input::Builtin(a) => a.subjects().collect(),
            Input::Package(d) => d.subjects.iter().collect(),
        }
    }
    pub fn application(&self) -> Option<&Application> {
        match self {
            Input::Builtin(a) => Some(a),
            Input::Package(_) => None,
        }
    }
    pub fn document(&self) -> Option<&CaseDocument> {
        match self {
            Input::Builtin(_) => None,
            Input::Package(d) => Some(d),
        }
    }
}

/// Why [`Ruleset::read`] gave no application.
#[derive(Debug)]
pub enum ReadError {
    /// Invalid input: exit code 2, with pointers.
    Input(InputError),
    /// The ruleset failed (its validation script, its parameters): exit code 1.
    Ruleset(RulesetError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Input(e) => write!(f, "{e}"),
            ReadError::Ruleset(e) => write!(f, "{e}"),
        }
    }
}

/// What the manifest says, before anything is compiled.
struct Manifest {
    name: String,
    version: String,
    description: String,
    entry: String,
    include: Vec<String>,
    parameters: Vec<String>,
    casework: Option<CaseworkManifest>,
}

/// The ruleset folder read into memory, with its content hash.
struct Contents {
    manifest: Manifest,
    manifest_text: String,
    /// (relative path, text) in combined-source order: includes, then entry.
    scripts: Vec<(String, String)>,
    params: Vec<(String, String)>,
    /// The casework type's files: (relative path, text) of the schema,
    /// the validation script, labels and letters, each `None` if not named.
    schema: Option<(String, String)>,
    validate: Option<(String, String)>,
    labels: Option<(String, String)>,
    letter: Option<(String, String)>,
    kommunicering_letter: Option<(String, String)>,
    hash: String,
}

/// A ruleset's files and content hash ([`Ruleset::package`]).
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Filled in by the caller from the loaded ruleset (`Ruleset::type_name`).
    pub casework_type: Option<String>,
    /// `sha256:<hex>`, the same as the loaded ruleset's [`Ruleset::hash`].
    pub hash: String,
    /// (relative path, text), manifest first.
    pub files: Vec<(String, String)>,
}

fn cache() -> &'static Mutex<HashMap<String, Arc<Ruleset>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Ruleset>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The casework types loaded in this process, by name: the last ruleset
/// loaded for each (what views use for labels and titles).
fn types() -> &'static RwLock<HashMap<String, Arc<Ruleset>>> {
    static TYPES: OnceLock<RwLock<HashMap<String, Arc<Ruleset>>>> = OnceLock::new();
    TYPES.get_or_init(RwLock::default)
}

impl Ruleset {
    /// The ruleset loaded last for a casework type (`ekonomiskt-bistand`).
    pub fn of_type(type_name: &str) -> Option<Arc<Ruleset>> {
        types()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(type_name)
            .cloned()
    }

    /// A stored application read by the casework type its `schema` names
    /// (a type loaded in this process), or by the built-in reader.
    pub fn read_stored(bytes: &[u8]) -> Option<Input> {
        #[derive(serde::Deserialize)]
        struct Head {
            schema: Option<String>,
        }
        let schema = serde_json::from_slice::<Head>(bytes).ok()?.schema?;
        let type_name = schema.split('/').next().unwrap_or_default();
        match Ruleset::of_type(type_name) {
            Some(r) => r.read(bytes).ok(),
            None => Application::parse(bytes).ok().map(|a| Input::Builtin(Box::new(a))),
        }
    }

    /// Every casework type loaded, by name.
    pub fn loaded_types() -> Vec<Arc<Ruleset>> {
        let mut v: Vec<Arc<Ruleset>> = types()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.dedup_by(|a, b| Arc::ptr_eq(a, b));
        v
    }

    /// The Swedish label of a code in a type's drafts (the code itself
    /// when the type is not loaded or does not declare it).
    pub fn code_label(type_name: &str, code: &str) -> String {
        if let Some(l) = domain::ReasonCode::new(code).ok().and_then(|c| c.store_label()) {
            return l.to_string();
        }
        Ruleset::of_type(type_name)
            .and_then(|r| r.casework().map(|c| c.code_label(code).to_string()))
            .unwrap_or_else(|| code.to_string())
    }

    /// The Swedish title of a part of a type's calculation.
    pub fn section_title(type_name: &str, kind: &domain::SectionKind) -> String {
        Ruleset::of_type(type_name)
            .and_then(|r| {
                r.casework()
                    .and_then(|c| c.sections().iter().find(|s| s.kind == *kind).map(|s| s.title.clone()))
            })
            .unwrap_or_else(|| kind.label().to_string())
    }

    /// A ruleset this process has loaded, by its content hash.
    pub fn loaded(hash: &str) -> Option<Arc<Ruleset>> {
        cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    /// Loads a ruleset folder. Files are read and hashed every time; the
    /// scripts are compiled once per content hash and shared.
    pub fn load(dir: &Path) -> Result<Arc<Ruleset>, RulesetError> {
        let contents = read(dir)?;
        if let Some(r) = cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&contents.hash)
        {
            return Ok(r.clone());
        }
        let (ruleset, problems) = compile(dir, contents);
        match ruleset {
            Some(r) if problems.is_empty() => {
                let r = Arc::new(r);
                if let Some(cw) = &r.casework {
                    // By type and by ruleset name (a record names its ruleset).
                    let mut t = types().write().unwrap_or_else(std::sync::PoisonError::into_inner);
                    t.insert(cw.type_name().to_string(), r.clone());
                    t.insert(r.name.clone(), r.clone());
                }
                cache()
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(r.hash.clone(), r.clone());
                Ok(r)
            }
            _ => Err(RulesetError { problems }),
        }
    }

    /// The files that make up the ruleset's content hash, as read for it
    /// (manifest, scripts, parameter files and the casework type's schema,
    /// validation script, labels and letters), with that hash: what a
    /// published version stores. Written back to a folder, they load as a
    /// ruleset with the same hash.
    pub fn package(dir: &Path) -> Result<Package, RulesetError> {
        let c = read(dir)?;
        let mut files = vec![(MANIFEST.to_string(), c.manifest_text.clone())];
        files.extend(c.scripts.iter().cloned());
        files.extend(c.params.iter().cloned());
        files.extend(
            [&c.schema, &c.validate, &c.labels, &c.letter, &c.kommunicering_letter]
                .into_iter()
                .flatten()
                .cloned(),
        );
        // A file named twice (an include that is also the entry) is stored once.
        let mut seen = std::collections::HashSet::new();
        files.retain(|(p, _)| seen.insert(p.clone()));
        Ok(Package {
            name: c.manifest.name.clone(),
            version: c.manifest.version.clone(),
            description: c.manifest.description.clone(),
            casework_type: None,
            hash: c.hash,
            files,
        })
    }

    /// Every problem in the folder: manifest, scripts, parameter files.
    pub fn check(dir: &Path) -> Vec<Problem> {
        match read(dir) {
            Err(e) => e.problems,
            Ok(contents) => compile(dir, contents).1,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn version(&self) -> &str {
        &self.version
    }
    /// `sha256:<hex>` over the manifest, scripts, parameter files and the
    /// casework type's schema, validation script, labels and letters.
    pub fn hash(&self) -> &str {
        &self.hash
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The casework type this ruleset decides (its `[casework]` type, or
    /// its name for a ruleset without one): what a version is activated for.
    pub fn type_name(&self) -> &str {
        self.casework.as_ref().map(|c| c.type_name()).unwrap_or(&self.name)
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn params(&self) -> &ParamTable {
        &self.params
    }

    pub fn reference(&self) -> RulesetRef {
        RulesetRef {
            name: self.name.clone(),
            version: self.version.clone(),
            hash: self.hash.clone(),
        }
    }

    /// The parameters in force on `date` (cached per date).
    pub fn resolved(&self, date: NaiveDate) -> Result<Arc<ResolvedParams>, RulesetError> {
        if let Some(r) = self
            .resolved
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&date)
        {
            return Ok(r.clone());
        }
        let r = Arc::new(self.params.resolve(date).map_err(RulesetError::one)?);
        self.resolved
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(date, r.clone());
        Ok(r)
    }

    /// The parameters in force on `date`, prepared for scripts (cached per date).
    fn script_params(&self, date: NaiveDate) -> Result<Arc<ScriptParams>, RulesetError> {
        if let Some(p) = self
            .script_params
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&date)
        {
            return Ok(p.clone());
        }
        let p = Arc::new(ScriptParams::new(&*self.resolved(date)?));
        self.script_params
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(date, p.clone());
        Ok(p)
    }

    /// The rule scripts as read, (path relative to the folder, text):
    /// includes first, the entry last. Lines count from 1 in each file.
    pub fn scripts(&self) -> &[(String, String)] {
        &self.scripts
    }

    /// The manifest (`ruleset.toml`) as read.
    pub fn manifest_text(&self) -> &str {
        &self.manifest_text
    }

    /// The casework type, when the manifest declares one.
    pub fn casework(&self) -> Option<&Casework> {
        self.casework.as_ref()
    }

    /// Reads an application of this ruleset's casework type: the JSON
    /// Schema, the annotations and `validate.rhai` for a package type;
    /// the built-in reader for a type that still has one; contract v2's
    /// reader for a ruleset without `[casework]`.
    pub fn read(&self, bytes: &[u8]) -> Result<Input, ReadError> {
        let Some(cw) = &self.casework else {
            return Application::parse(bytes)
                .map(|a| Input::Builtin(Box::new(a)))
                .map_err(|e| ReadError::Input(InputError::Application(e)));
        };
        if cw.builtin().is_some() && cw.json_schema().is_none() {
            return Application::parse(bytes)
                .map(|a| Input::Builtin(Box::new(a)))
                .map_err(|e| ReadError::Input(InputError::Application(e)));
        }
        let doc = cw.read(bytes).map_err(ReadError::Input)?;
        self.run_validate(cw, &doc)?;
        if cw.builtin().is_some() {
            return Application::parse(bytes)
                .map(|a| Input::Builtin(Box::new(a)))
                .map_err(|e| ReadError::Input(InputError::Application(e)));
        }
        Ok(Input::Package(Box::new(doc)))
    }

    /// Stage 4: the type's validation script.
    fn run_validate(&self, cw: &Casework, doc: &CaseDocument) -> Result<(), ReadError> {
        let Some(ast) = &cw.validate else { return Ok(()) };
        let file = cw.manifest.validate.clone().unwrap_or_default();
        // A period without parameters is the rules' problem, not the
        // validation's: it then sees none.
        let params = match self.script_params(doc.period.first_day()) {
            Ok(p) => Params::new(p),
            Err(_) => Params::new(Arc::new(ScriptParams::new(&ResolvedParams::none(
                doc.period.first_day(),
            )))),
        };
        let mut scope = Scope::new();
        scope.push_constant_dynamic("doc", doc.doc.clone());
        scope.push("params", params);
        let (outcome, _printed) = engine::with_deadline(|| {
            catch_unwind(AssertUnwindSafe(|| {
                engine::engine().eval_ast_with_scope::<Dynamic>(&mut scope, ast)
            }))
        });
        let value = match outcome {
            Err(_) => {
                return Err(ReadError::Ruleset(RulesetError::new(
                    file,
                    "valideringen avbröts av ett internt fel",
                )));
            }
            Ok(Err(e)) => {
                let pos = e.position();
                let mut p = Problem::new(file, format!("valideringsskriptet: {}", strip_position(&e.to_string())));
                if let (Some(l), Some(c)) = (pos.line(), pos.position()) {
                    p = p.at(l, c);
                }
                return Err(ReadError::Ruleset(RulesetError::one(p)));
            }
            Ok(Ok(v)) => v,
        };
        let shape = || {
            ReadError::Ruleset(RulesetError::new(
                file.clone(),
                "valideringsskriptet ska sluta med en lista av #{ pointer: \"/fält\", message: \"…\" }",
            ))
        };
        let Some(list) = value.try_cast::<rhai::Array>() else {
            return Err(shape());
        };
        let mut problems = Vec::new();
        for item in list.into_iter().take(50) {
            let Some(m) = item.try_cast::<rhai::Map>() else {
                return Err(shape());
            };
            let text = |k: &str| {
                m.get(k)
                    .and_then(|v| v.clone().into_immutable_string().ok())
                    .map(|s| s.to_string())
            };
            let (Some(pointer), Some(message)) = (text("pointer"), text("message")) else {
                return Err(shape());
            };
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(shape());
            }
            problems.push(InputProblem { pointer, message });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ReadError::Input(InputError::Invalid(problems)))
        }
    }

    /// Turns a valid application into a draft. Same application, same
    /// ruleset: byte-identical draft.
    pub fn evaluate(&self, app: &Application) -> Result<Draft, RulesetError> {
        self.evaluate_capturing(app).0
    }

    /// As [`Ruleset::evaluate`], also returning what the script printed
    /// (for the rule author's test runs; never logged).
    pub fn evaluate_capturing(&self, app: &Application) -> (Result<Draft, RulesetError>, Vec<String>) {
        self.run(api::facts(app), app.external_id(), app.period())
    }

    /// Any application read by [`Ruleset::read`] into a draft.
    pub fn evaluate_input(&self, input: &Input) -> Result<Draft, RulesetError> {
        self.evaluate_input_capturing(input).0
    }

    pub fn evaluate_input_capturing(&self, input: &Input) -> (Result<Draft, RulesetError>, Vec<String>) {
        match input {
            Input::Builtin(app) => self.evaluate_capturing(app),
            Input::Package(doc) => {
                let mut facts = doc.facts.clone();
                if let Some(mut m) = facts.write_lock::<rhai::Map>() {
                    m.entry("period_index".into())
                        .or_insert_with(|| Dynamic::from_int(doc.period.index()));
                }
                self.run(facts, &doc.external_id, doc.period)
            }
        }
    }

    fn run(&self, facts: Dynamic, external_id: &str, period: Period) -> (Result<Draft, RulesetError>, Vec<String>) {
        let params = match self.script_params(period.first_day()) {
            Ok(p) => Params::new(p),
            Err(e) => return (Err(e), Vec::new()),
        };
        let spec = self
            .casework
            .as_ref()
            .map_or_else(DraftSpec::contract_v2, |c| c.spec.clone());
        let builder = DraftBuilder::new(spec);
        let mut scope = Scope::new();
        scope.push_constant_dynamic("facts", facts);
        scope.push("params", params.clone());
        scope.push("draft", builder.clone());

        let (outcome, printed) = engine::with_deadline(|| {
            catch_unwind(AssertUnwindSafe(|| {
                engine::engine().eval_ast_with_scope::<Dynamic>(&mut scope, &self.ast)
            }))
        });
        let result = match outcome {
            Err(_) => Err(RulesetError::new(
                self.entry_file(),
                "regelmotorn avbröts av ett internt fel",
            )),
            Ok(Err(err)) => Err(RulesetError::one(self.describe(&err))),
            Ok(Ok(value)) => self.finish(external_id, period, &params, &builder, value),
        };
        (result, printed)
    }

    fn entry_file(&self) -> &str {
        self.sources.last().map_or(MANIFEST, |s| s.file.as_str())
    }

    fn finish(
        &self,
        external_id: &str,
        period: Period,
        params: &Params,
        builder: &DraftBuilder,
        value: Dynamic,
    ) -> Result<Draft, RulesetError> {
        let returned = value.try_cast::<DraftBuilder>();
        if !returned.is_some_and(|d| d.same_as(builder)) {
            return Err(RulesetError::new(
                self.entry_file(),
                "huvudskriptet ska avslutas med `draft` (utkastet som byggts), men returnerade något annat",
            ));
        }
        let mut state = builder.take();
        let invalid = |e: domain::DraftError| RulesetError::new(self.entry_file(), format!("ogiltigt utkast: {e}"));
        // The trace first: it refers to rows that the calculation takes.
        let trace = state.trace().map_err(invalid)?;
        let calculation = state.calculation().map_err(invalid)?;
        let Some(outcome) = state.outcome else {
            return Err(RulesetError::new(
                self.entry_file(),
                "ogiltigt utkast: inget utfall (anropa draft.outcome(...) eller draft.manual())",
            ));
        };
        // The amount follows from the rows (PACKAGES.md): the record, the
        // letter and an official's amendment recompute it from them.
        if self.casework.is_some() && outcome != Outcome::Manuell {
            let from_rows = calculation.amount().map_err(invalid)?;
            if state.amount != Some(from_rows) {
                return Err(RulesetError::new(
                    self.entry_file(),
                    format!(
                        "ogiltigt utkast: beloppet {} är inte det som beräkningens rader ger ({}: delarna som läggs till minus delarna med sign = -1, avrundat till hela kronor, 0 om det inte är över 0)",
                        state.amount.map_or_else(|| "–".to_string(), |a| a.to_string()),
                        from_rows
                    ),
                ));
            }
        }
        let mut warnings = state.warnings;
        warnings.extend(params.unverified_warnings().iter().cloned());
        Draft::new(DraftParts {
            schema: state.spec.schema.clone().into(),
            external_id: external_id.to_string(),
            period,
            outcome,
            amount: state.amount,
            codes: state.codes,
            calculation,
            reasons: state.reasons,
            warnings,
            assessments: state.assessments,
            kommunicering: state.kommunicering,
            ruleset: self.reference(),
            trace,
        })
        .map_err(|e| RulesetError::new(self.entry_file(), format!("ogiltigt utkast: {e}")))
    }

    fn locate(&self, pos: Position) -> (String, Option<usize>, Option<usize>) {
        locate(&self.sources, pos)
    }

    fn describe(&self, err: &EvalAltResult) -> Problem {
        // Walk into nested function calls to where it really happened.
        let mut calls = Vec::new();
        let mut inner = err;
        while let EvalAltResult::ErrorInFunctionCall(name, _, e, pos) = inner {
            let (f, l, _) = self.locate(*pos);
            calls.push(format!("{name}() anropad från {f}:{}", l.unwrap_or(0)));
            inner = e;
        }
        let message = match engine::stopped_by(inner) {
            Some(engine::Stopped::Deadline) => {
                format!(
                    "tidsgränsen {} ms för en bedömning överskreds",
                    LIMITS.wall_time.as_millis()
                )
            }
            Some(engine::Stopped::Heap) => format!(
                "minnesgränsen överskreds (högst {} MiB per bedömning)",
                LIMITS.max_heap_growth_bytes / (1024 * 1024)
            ),
            None => match inner {
                EvalAltResult::ErrorTooManyOperations(_) => {
                    format!("för många operationer (gränsen är {})", LIMITS.max_operations)
                }
                EvalAltResult::ErrorStackOverflow(_) => {
                    format!(
                        "för djup rekursion (gränsen är {} anropsnivåer)",
                        LIMITS.max_call_levels
                    )
                }
                EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
                other => strip_position(&other.to_string()),
            },
        };
        let message = if calls.is_empty() {
            message
        } else {
            format!("{message} (i {})", calls.join(", "))
        };
        let (file, line, column) = self.locate(inner.position());
        Problem {
            file,
            line,
            column,
            message,
        }
    }
}

fn strip_position(s: &str) -> String {
    match s.rfind(" (line ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s.to_string(),
    }
}

/// A path inside the ruleset folder: relative, no `..`.
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(p))
}

fn read_limited(path: &Path, limit: u64, rel: &str) -> Result<String, Problem> {
    let meta = std::fs::metadata(path).map_err(|e| Problem::new(rel, format!("kan inte läsas: {e}")))?;
    if !meta.is_file() {
        return Err(Problem::new(rel, "är ingen fil"));
    }
    if meta.len() > limit {
        return Err(Problem::new(
            rel,
            format!("filen är för stor ({} byte, högst {limit})", meta.len()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Problem::new(rel, format!("kan inte läsas: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Problem::new(rel, "är inte UTF-8"))
}

fn read_manifest(dir: &Path) -> Result<(Manifest, String), RulesetError> {
    let text = read_limited(&dir.join(MANIFEST), MAX_MANIFEST_BYTES, MANIFEST).map_err(RulesetError::one)?;
    let doc = Document::parse(text.as_str()).map_err(|e| {
        let mut p = Problem::new(MANIFEST, format!("ogiltig TOML: {}", e.message()));
        if let Some(s) = e.span() {
            let (l, c) = line_col(&text, s.start);
            p = p.at(l, c);
        }
        RulesetError::one(p)
    })?;
    let root = doc.as_table();
    let mut problems = Vec::new();
    let at = |item: Option<&Item>, msg: String| {
        let mut p = Problem::new(MANIFEST, msg);
        if let Some(s) = item.and_then(Item::span) {
            let (l, c) = line_col(&text, s.start);
            p = p.at(l, c);
        }
        p
    };
    let string = |key: &str, problems: &mut Vec<Problem>| -> String {
        match root.get(key).and_then(Item::as_str) {
            Some(s) if !s.trim().is_empty() => s.to_string(),
            _ => {
                problems.push(at(root.get(key), format!("{key} saknas eller är inte en text")));
                String::new()
            }
        }
    };
    let list = |key: &str, required: bool, problems: &mut Vec<Problem>| -> Vec<String> {
        match root.get(key) {
            None if !required => Vec::new(),
            None => {
                problems.push(at(None, format!("{key} saknas (en lista, som kan vara tom)")));
                Vec::new()
            }
            Some(item) => match item.as_array() {
                Some(a) if a.iter().all(|v| v.as_str().is_some()) => {
                    a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
                }
                _ => {
                    problems.push(at(Some(item), format!("{key} ska vara en lista med sökvägar")));
                    Vec::new()
                }
            },
        }
    };
    for (k, item) in root.iter() {
        if ![
            "name",
            "version",
            "description",
            "entry",
            "include",
            "parameters",
            "casework",
        ]
        .contains(&k)
        {
            problems.push(at(Some(item), format!("okänd nyckel {k:?}")));
        }
    }
    let m = Manifest {
        name: string("name", &mut problems),
        version: string("version", &mut problems),
        description: root.get("description").and_then(Item::as_str).unwrap_or("").to_string(),
        entry: string("entry", &mut problems),
        include: list("include", false, &mut problems),
        parameters: list("parameters", true, &mut problems),
        casework: match root.get("casework") {
            None => None,
            Some(item) => match toml::from_str::<toml::Table>(&text)
                .map_err(|e| e.message().to_string())
                .and_then(|t| {
                    t.get("casework")
                        .cloned()
                        .ok_or_else(|| "[casework] saknas".to_string())?
                        .try_into::<CaseworkManifest>()
                        .map_err(|e| e.message().to_string())
                }) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(at(Some(item), format!("[casework]: {e}")));
                    None
                }
            },
        },
    };
    if problems.is_empty() {
        Ok((m, text))
    } else {
        Err(RulesetError { problems })
    }
}

fn read(dir: &Path) -> Result<Contents, RulesetError> {
    if !dir.join(MANIFEST).is_file() {
        return Err(RulesetError::new(
            dir.display().to_string(),
            format!("ingen regeluppsättning här: {MANIFEST} saknas"),
        ));
    }
    let (manifest, manifest_text) = read_manifest(dir)?;
    let mut problems = Vec::new();
    let mut total: u64 = 0;
    let mut scripts = Vec::new();
    for rel in manifest.include.iter().chain(std::iter::once(&manifest.entry)) {
        let Some(path) = inside(dir, rel) else {
            problems.push(Problem::new(
                MANIFEST,
                format!("{rel:?}: sökvägen ska ligga inne i regelmappen"),
            ));
            continue;
        };
        match read_limited(&path, LIMITS.max_script_bytes, rel) {
            Ok(t) => {
                total += t.len() as u64;
                scripts.push((rel.clone(), t));
            }
            Err(p) => problems.push(p),
        }
    }
    if total > MAX_TOTAL_SCRIPT_BYTES {
        problems.push(Problem::new(MANIFEST, "skripten är tillsammans för stora"));
    }
    let mut params = Vec::new();
    for rel in &manifest.parameters {
        let Some(path) = inside(dir, rel) else {
            problems.push(Problem::new(
                MANIFEST,
                format!("{rel:?}: sökvägen ska ligga inne i regelmappen"),
            ));
            continue;
        };
        match read_limited(&path, MAX_PARAM_FILE_BYTES, rel) {
            Ok(t) => params.push((rel.clone(), t)),
            Err(p) => problems.push(p),
        }
    }
    let file = |rel: Option<&String>, limit: u64, problems: &mut Vec<Problem>| -> Option<(String, String)> {
        let rel = rel?;
        let Some(path) = inside(dir, rel) else {
            problems.push(Problem::new(
                MANIFEST,
                format!("{rel:?}: sökvägen ska ligga inne i regelmappen"),
            ));
            return None;
        };
        match read_limited(&path, limit, rel) {
            Ok(t) => Some((rel.clone(), t)),
            Err(p) => {
                problems.push(p);
                None
            }
        }
    };
    let cw = manifest.casework.as_ref();
    let schema = file(
        cw.and_then(|c| c.json_schema.as_ref()),
        MAX_PARAM_FILE_BYTES,
        &mut problems,
    );
    let validate = file(
        cw.and_then(|c| c.validate.as_ref()),
        LIMITS.max_script_bytes,
        &mut problems,
    );
    let labels = file(cw.and_then(|c| c.labels.as_ref()), MAX_PARAM_FILE_BYTES, &mut problems);
    let letter = file(cw.and_then(|c| c.letter.as_ref()), MAX_PARAM_FILE_BYTES, &mut problems);
    let kommunicering_letter = file(
        cw.and_then(|c| c.kommunicering_letter.as_ref()),
        MAX_PARAM_FILE_BYTES,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(RulesetError { problems });
    }
    let mut h = Sha256::new();
    let mut add = |name: &str, text: &str| {
        h.update(name.as_bytes());
        h.update([0]);
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    };
    add(MANIFEST, &manifest_text);
    for (n, t) in scripts.iter().chain(params.iter()) {
        add(n, t);
    }
    for (n, t) in [&schema, &validate, &labels, &letter, &kommunicering_letter]
        .into_iter()
        .flatten()
    {
        add(n, t);
    }
    let hash = format!("sha256:{}", hex::encode(h.finalize()));
    Ok(Contents {
        manifest,
        manifest_text,
        scripts,
        params,
        schema,
        validate,
        labels,
        letter,
        kommunicering_letter,
        hash,
    })
}

fn compile(dir: &Path, c: Contents) -> (Option<Ruleset>, Vec<Problem>) {
    let mut problems = Vec::new();

    // One combined source (includes first, the entry last), so that every
    // function is visible everywhere and every position maps back to a file.
    // It starts with PROLOGUE, on a line of its own.
    let mut source = String::from(PROLOGUE);
    let mut sources = Vec::new();
    let mut line = 1 + PROLOGUE.lines().count();
    for (file, text) in &c.scripts {
        let lines = text.lines().count().max(1);
        sources.push(SourceSpan {
            file: file.clone(),
            first_line: line,
            lines,
        });
        source.push_str(text);
        if !text.ends_with('\n') {
            source.push('\n');
        }
        line += lines;
    }

    let mut scope = Scope::new();
    scope.push("facts", ());
    scope.push("params", ());
    scope.push("draft", ());
    let engine = engine::engine();
    let ast = match catch_unwind(AssertUnwindSafe(|| engine.compile_with_scope(&scope, &source))) {
        Ok(Ok(ast)) => Some(ast),
        Ok(Err(e)) => {
            let pos = e.position();
            let (file, l, col) = locate(&sources, pos);
            problems.push(Problem {
                file,
                line: l,
                column: col,
                message: format!("syntaxfel: {}", e.err_type()),
            });
            None
        }
        Err(_) => {
            problems.push(Problem::new(MANIFEST, "skripten kunde inte kompileras (internt fel)"));
            None
        }
    };

    let mut table = ParamTable::default();
    for (file, text) in &c.params {
        let (f, p) = crate::params::load(file, text);
        problems.extend(p);
        if let Some(f) = f {
            table.files.push(f);
        }
    }
    problems.extend(table.check_across_files());

    let casework = match c.manifest.casework.clone() {
        None => None,
        Some(cm) => {
            let validate = c.validate.as_ref().and_then(|(file, text)| {
                let mut scope = Scope::new();
                scope.push("doc", ());
                scope.push("params", ());
                match catch_unwind(AssertUnwindSafe(|| engine.compile_with_scope(&scope, text))) {
                    Ok(Ok(ast)) => Some(ast),
                    Ok(Err(e)) => {
                        let pos = e.position();
                        problems.push(Problem {
                            file: file.clone(),
                            line: pos.line(),
                            column: pos.position(),
                            message: format!("syntaxfel: {}", e.err_type()),
                        });
                        None
                    }
                    Err(_) => {
                        problems.push(Problem::new(
                            file.clone(),
                            "skriptet kunde inte kompileras (internt fel)",
                        ));
                        None
                    }
                }
            });
            match Casework::new(
                cm,
                c.schema.as_ref().map(|(f, t)| (f.as_str(), t.as_str())),
                c.labels.as_ref().map(|(f, t)| (f.as_str(), t.as_str())),
                c.letter.map(|(_, t)| t),
                c.kommunicering_letter.map(|(_, t)| t),
                validate,
            ) {
                Ok(cw) => Some(cw),
                Err(ps) => {
                    problems.extend(ps.into_iter().map(|(f, m)| Problem::new(f, m)));
                    None
                }
            }
        }
    };

    let Some(ast) = ast else { return (None, problems) };
    let m = c.manifest;
    let ruleset = Ruleset {
        name: m.name,
        version: m.version,
        hash: c.hash,
        description: m.description,
        dir: dir.to_path_buf(),
        ast,
        sources,
        params: table,
        resolved: RwLock::default(),
        script_params: RwLock::default(),
        casework,
        scripts: c.scripts,
        manifest_text: c.manifest_text,
    };
    (Some(ruleset), problems)
}

/// Maps a line of the combined source back to its file.
fn locate(sources: &[SourceSpan], pos: Position) -> (String, Option<usize>, Option<usize>) {
    let entry = sources.last().map_or(MANIFEST.to_string(), |s| s.file.clone());
    let Some(line) = pos.line() else {
        return (entry, None, None);
    };
    for s in sources {
        if line >= s.first_line && line < s.first_line + s.lines {
            return (s.file.clone(), Some(line - s.first_line + 1), pos.position());
        }
    }
    (entry, Some(line), pos.position())
}
