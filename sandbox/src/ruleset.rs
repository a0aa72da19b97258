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

use crate::api::{self, DraftBuilder, Params, ScriptParams};
use crate::engine::{self, LIMITS};
use crate::error::{Problem, RulesetError, line_col};
use crate::params::{ParamTable, ResolvedParams};
use chrono::NaiveDate;
use domain::{Application, Draft, DraftParts, RulesetRef};
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

/// What the manifest says, before anything is compiled.
struct Manifest {
    name: String,
    version: String,
    description: String,
    entry: String,
    include: Vec<String>,
    parameters: Vec<String>,
}

/// The ruleset folder read into memory, with its content hash.
struct Contents {
    manifest: Manifest,
    /// (relative path, text) in combined-source order: includes, then entry.
    scripts: Vec<(String, String)>,
    params: Vec<(String, String)>,
    hash: String,
}

fn cache() -> &'static Mutex<HashMap<String, Arc<Ruleset>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Ruleset>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

impl Ruleset {
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
                cache()
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(r.hash.clone(), r.clone());
                Ok(r)
            }
            _ => Err(RulesetError { problems }),
        }
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
    /// `sha256:<hex>` over the manifest, scripts and parameter files.
    pub fn hash(&self) -> &str {
        &self.hash
    }
    pub fn description(&self) -> &str {
        &self.description
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

    /// Turns a valid application into a draft. Same application, same
    /// ruleset: byte-identical draft.
    pub fn evaluate(&self, app: &Application) -> Result<Draft, RulesetError> {
        self.evaluate_capturing(app).0
    }

    /// As [`Ruleset::evaluate`], also returning what the script printed
    /// (for the rule author's test runs; never logged).
    pub fn evaluate_capturing(&self, app: &Application) -> (Result<Draft, RulesetError>, Vec<String>) {
        let params = match self.script_params(app.period().first_day()) {
            Ok(p) => Params::new(p),
            Err(e) => return (Err(e), Vec::new()),
        };
        let builder = DraftBuilder::default();
        let mut scope = Scope::new();
        scope.push_constant_dynamic("facts", api::facts(app));
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
            Ok(Ok(value)) => self.finish(app, &params, &builder, value),
        };
        (result, printed)
    }

    fn entry_file(&self) -> &str {
        self.sources.last().map_or(MANIFEST, |s| s.file.as_str())
    }

    fn finish(
        &self,
        app: &Application,
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
        let mut warnings = state.warnings;
        warnings.extend(params.unverified_warnings().iter().cloned());
        Draft::new(DraftParts {
            external_id: app.external_id().to_string(),
            period: app.period(),
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
        if !["name", "version", "description", "entry", "include", "parameters"].contains(&k) {
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
    let hash = format!("sha256:{}", hex::encode(h.finalize()));
    Ok(Contents {
        manifest,
        scripts,
        params,
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
