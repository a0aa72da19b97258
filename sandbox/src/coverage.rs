//! Rule coverage: what a ruleset can produce, and what a set of drafts
//! (its rule tests, or the drafts the service made) exercised of it.
//!
//! **The universe** is read from the ruleset's sources without running
//! them: every `draft.rule("NAME", …)` (rules), `draft.row("SECTION",
//! "LABEL", …)` (rows, named `SECTION: LABEL`), `draft.reason("CODE", …)`
//! (reasons, by code) and `draft.code("CODE")` (codes) in the rule
//! scripts, and every code declared in the manifest's `[casework.codes]`.
//! A name that is not a string literal is not guessed: it becomes one item
//! `dynamic at FILE:LINE`, with what is known of it as a pattern (a
//! template string `` `Hyra ${x}` `` gives `Hyra *`, a variable `*`).
//! Calls are found on `draft` and on `this` (a function called as a
//! method of the draft); a draft handed to a function under another name
//! is not seen.
//!
//! **Observation** ([`Coverage::observe`]) reads a draft's trace (rules),
//! calculation rows, reasons and codes, and counts per item the drafts
//! that exercised it. A name observed is credited to the item of that
//! exact name; a name no script writes literally (a code only the manifest
//! declares, a row label built from a template) is credited to the most
//! specific dynamic item whose pattern it matches. What the service adds
//! when it routes a case to a person (`manuell.andrad_ansokan`,
//! `manuell.dubblett_period` and their codes and reasons) is listed as
//! added by the service; anything else is listed as not in the sources.
//!
//! Pure: the only I/O is the rule test runner's reading of case files in
//! [`of_tests`].

use crate::ruleset::{MANIFEST, Ruleset};
use crate::testing::{cases, run_case_with_draft};
use domain::{Draft, ReasonCode, RulesetRef};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

/// What a draft is made of that coverage counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Rule,
    Row,
    Reason,
    Code,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Rule, Kind::Row, Kind::Reason, Kind::Code];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rule => "rule",
            Kind::Row => "row",
            Kind::Reason => "reason",
            Kind::Code => "code",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Rule => "rules",
            Kind::Row => "rows",
            Kind::Reason => "reasons",
            Kind::Code => "codes",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The script method that produces this kind.
    fn method(self) -> &'static str {
        match self {
            Kind::Rule => "rule",
            Kind::Row => "row",
            Kind::Reason => "reason",
            Kind::Code => "code",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in the ruleset folder: a file (relative path) and a line (from 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Site {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A piece of a name: text as written, or a value the script puts in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Hole,
}

/// A name as far as the source says: text with holes (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Pattern(Vec<Piece>);

impl Pattern {
    fn hole() -> Pattern {
        Pattern(vec![Piece::Hole])
    }

    /// Appends, merging neighbouring texts and neighbouring holes.
    fn push(&mut self, p: Piece) {
        match (self.0.last_mut(), p) {
            (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
            (Some(Piece::Hole), Piece::Hole) => {}
            (_, Piece::Text(b)) if b.is_empty() => {}
            (_, p) => self.0.push(p),
        }
    }

    fn extend(&mut self, other: Pattern) {
        for p in other.0 {
            self.push(p);
        }
    }

    /// The name, when it has no holes.
    fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Hole => return None,
            }
        }
        Some(s)
    }

    /// How much of a name the pattern fixes: more is more specific.
    fn fixed(&self) -> usize {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                Piece::Hole => 0,
            })
            .sum()
    }

    /// Whether `s` is a name the pattern can make (a hole is any text).
    fn matches(&self, s: &str) -> bool {
        let pieces = &self.0;
        let mut rest = s;
        for (i, p) in pieces.iter().enumerate() {
            let Piece::Text(t) = p else { continue };
            let first = i == 0;
            let last = i + 1 == pieces.len();
            if first && last {
                return rest == t;
            }
            if first {
                match rest.strip_prefix(t.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if last {
                return rest.ends_with(t.as_str());
            } else {
                match rest.find(t.as_str()) {
                    Some(at) => rest = &rest[at + t.len()..],
                    None => return false,
                }
            }
        }
        // Ends with a hole (or is empty: matches only the empty name).
        !pieces.is_empty() || rest.is_empty()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match p {
                Piece::Text(t) => f.write_str(t)?,
                Piece::Hole => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

/// One thing a ruleset can produce.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: Kind,
    /// The rule name, the code, or `SECTION: LABEL` for a row; for a name
    /// built while the script runs, `dynamic at FILE:LINE`.
    pub name: String,
    /// Every place that produces it (a code: the script lines and its
    /// declaration in the manifest), in source order.
    pub sites: Vec<Site>,
    /// For a dynamic name: what is known of it.
    pattern: Option<Pattern>,
    /// For a dynamic name: the expression as written (shortened).
    expression: Option<String>,
    /// Written literally in a script (not only declared in the manifest).
    in_script: bool,
}

impl Item {
    pub fn is_dynamic(&self) -> bool {
        self.pattern.is_some()
    }

    /// For a dynamic name: the text the source fixes, `*` where a value
    /// goes in (`norm: Personliga kostnader, * (*)`).
    pub fn pattern(&self) -> Option<String> {
        self.pattern.as_ref().map(ToString::to_string)
    }

    /// For a dynamic name: the expression as written in the script.
    pub fn expression(&self) -> Option<&str> {
        self.expression.as_deref()
    }

    /// The first place that produces it.
    pub fn site(&self) -> Option<&Site> {
        self.sites.first()
    }
}

/// Everything a ruleset can produce, per kind, in the order of its sources
/// (scripts, includes first and the entry last, then the manifest).
#[derive(Debug, Clone, Default)]
pub struct Universe {
    items: [Vec<Item>; 4],
}

impl Universe {
    /// The universe of a loaded ruleset: its scripts and its manifest.
    pub fn of(ruleset: &Ruleset) -> Universe {
        Universe::from_sources(ruleset.scripts(), Some(ruleset.manifest_text()))
    }

    /// The universe of rule scripts, (relative path, text), and a manifest.
    pub fn from_sources(scripts: &[(String, String)], manifest: Option<&str>) -> Universe {
        let mut u = Universe::default();
        for (file, text) in scripts {
            scan(file, text, &mut u);
        }
        if let Some(m) = manifest {
            for (code, line) in manifest_codes(m) {
                u.add_literal(
                    Kind::Code,
                    code,
                    Site {
                        file: MANIFEST.to_string(),
                        line,
                    },
                    false,
                );
            }
        }
        u
    }

    pub fn items(&self, kind: Kind) -> &[Item] {
        &self.items[kind.index()]
    }

    fn add_literal(&mut self, kind: Kind, name: String, site: Site, in_script: bool) {
        let items = &mut self.items[kind.index()];
        if let Some(it) = items.iter_mut().find(|i| !i.is_dynamic() && i.name == name) {
            it.sites.push(site);
            it.in_script |= in_script;
        } else {
            items.push(Item {
                kind,
                name,
                sites: vec![site],
                pattern: None,
                expression: None,
                in_script,
            });
        }
    }

    fn add_dynamic(&mut self, kind: Kind, pattern: Pattern, expression: String, site: Site) {
        self.items[kind.index()].push(Item {
            kind,
            name: format!("dynamic at {site}"),
            sites: vec![site],
            pattern: Some(pattern),
            expression: Some(expression),
            in_script: true,
        });
    }

    /// The items a name observed in a draft is credited to: the item of
    /// that exact name, and, when no script writes the name literally, the
    /// most specific dynamic item that can make it. Empty: not in the
    /// universe.
    fn resolve(&self, kind: Kind, name: &str) -> Vec<usize> {
        let items = self.items(kind);
        let mut out = Vec::new();
        let exact = items.iter().position(|i| !i.is_dynamic() && i.name == name);
        if let Some(e) = exact {
            out.push(e);
            if items[e].in_script {
                return out;
            }
        }
        let mut best: Option<(usize, usize)> = None;
        for (idx, it) in items.iter().enumerate() {
            if let Some(p) = &it.pattern
                && p.matches(name)
                && best.is_none_or(|(_, f)| p.fixed() > f)
            {
                best = Some((idx, p.fixed()));
            }
        }
        out.extend(best.map(|(i, _)| i));
        out
    }
}

/// Whether the service, not the ruleset, adds this name to drafts: the
/// routing of a changed resubmission or a second application for the same
/// period to a person (`store/routing.rs` in the runtime).
pub fn added_by_service(kind: Kind, name: &str) -> bool {
    let route = |code: &str| ReasonCode::new(code).is_ok_and(|c| c.is_store_route());
    match kind {
        Kind::Rule => name.strip_prefix("manuell.").is_some_and(route),
        Kind::Code | Kind::Reason => route(name),
        Kind::Row => false,
    }
}

// ------------------------------------------------------------ the sources

/// The codes a manifest declares in `[casework.codes]`, with their lines,
/// in the order written.
fn manifest_codes(text: &str) -> Vec<(String, usize)> {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Vec::new();
    };
    let Some(codes) = doc
        .as_table()
        .get("casework")
        .and_then(toml_edit::Item::as_table_like)
        .and_then(|c| c.get("codes"))
        .and_then(toml_edit::Item::as_table_like)
    else {
        return Vec::new();
    };
    let line_of = |offset: usize| 1 + text[..offset.min(text.len())].matches('\n').count();
    codes
        .iter()
        .map(|(name, item)| {
            let span = codes.key(name).and_then(toml_edit::Key::span).or_else(|| item.span());
            let line = span.map_or_else(|| header_line(text, name), |s| line_of(s.start));
            (name.to_string(), line)
        })
        .collect()
}

/// Where a code's table or key is written, found as text (1 if nowhere).
fn header_line(text: &str, name: &str) -> usize {
    let header = format!("[casework.codes.{name}]");
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(&header) || l.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(Pattern),
    Punct(char),
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    start: usize,
    end: usize,
}

/// A small lexer for Rhai: enough to find calls and their string
/// arguments (comments, strings with escapes, template strings with
/// interpolations, character literals, identifiers, punctuation).
struct Lexer<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            text,
            chars: text.char_indices().collect(),
            i: 0,
            line: 1,
        }
    }

    fn at(&self, k: usize) -> Option<char> {
        self.chars.get(k).map(|&(_, c)| c)
    }

    fn offset(&self) -> usize {
        self.chars.get(self.i).map_or(self.text.len(), |&(o, _)| o)
    }

    /// Takes one character, counting lines.
    fn bump(&mut self) -> Option<char> {
        let c = self.at(self.i)?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn tokens(mut self) -> Vec<Token> {
        let mut out = Vec::new();
        while let Some(c) = self.at(self.i) {
            let (start, line) = (self.offset(), self.line);
            let next = self.at(self.i + 1);
            let tok = match c {
                c if c.is_whitespace() => {
                    self.bump();
                    continue;
                }
                '/' if next == Some('/') => {
                    while self.at(self.i).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                    continue;
                }
                '/' if next == Some('*') => {
                    self.block_comment();
                    continue;
                }
                '"' => Tok::Str(self.string()),
                '`' => Tok::Str(self.template()),
                '\'' => {
                    self.char_literal();
                    Tok::Other
                }
                c if c.is_alphabetic() || c == '_' => {
                    let mut s = String::new();
                    while let Some(c) = self.at(self.i).filter(|c| c.is_alphanumeric() || *c == '_') {
                        s.push(c);
                        self.bump();
                    }
                    Tok::Ident(s)
                }
                c if c.is_ascii_digit() => {
                    while self.at(self.i).is_some_and(|c| {
                        c.is_ascii_alphanumeric()
                            || c == '_'
                            || (c == '.' && self.at(self.i + 1).is_some_and(|d| d.is_ascii_digit()))
                    }) {
                        self.bump();
                    }
                    Tok::Other
                }
                c => {
                    self.bump();
                    Tok::Punct(c)
                }
            };
            out.push(Token {
                tok,
                line,
                start,
                end: self.offset(),
            });
        }
        out
    }

    /// `/* … */`, which nest in Rhai.
    fn block_comment(&mut self) {
        self.bump();
        self.bump();
        let mut depth = 1;
        while let Some(c) = self.bump() {
            if c == '/' && self.at(self.i) == Some('*') {
                self.bump();
                depth += 1;
            } else if c == '*' && self.at(self.i) == Some('/') {
                self.bump();
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
        }
    }

    /// `"…"` with its escapes; a backslash before a line break continues
    /// the string on the next line.
    fn string(&mut self) -> Pattern {
        self.bump();
        let mut s = String::new();
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('\n') => {
                        while self.at(self.i).is_some_and(|c| c == ' ' || c == '\t') {
                            self.bump();
                        }
                    }
                    Some(other) => s.push(other),
                    None => break,
                },
                c => s.push(c),
            }
        }
        Pattern(vec![Piece::Text(s)])
    }

    /// `` `…${expr}…` ``: the text, with a hole per interpolation. Two
    /// backticks stand for one.
    fn template(&mut self) -> Pattern {
        self.bump();
        let mut p = Pattern::default();
        let mut s = String::new();
        while let Some(c) = self.bump() {
            match c {
                '`' if self.at(self.i) == Some('`') => {
                    self.bump();
                    s.push('`');
                }
                '`' => break,
                '$' if self.at(self.i) == Some('{') => {
                    self.bump();
                    p.push(Piece::Text(std::mem::take(&mut s)));
                    p.push(Piece::Hole);
                    self.interpolation();
                }
                c => s.push(c),
            }
        }
        p.push(Piece::Text(s));
        if p.0.is_empty() {
            p.0.push(Piece::Text(String::new()));
        }
        p
    }

    /// Skips an interpolation's expression up to its closing `}`.
    fn interpolation(&mut self) {
        let mut depth = 1;
        while let Some(c) = self.at(self.i) {
            match c {
                '"' => {
                    self.string();
                }
                '`' => {
                    self.template();
                }
                '\'' => self.char_literal(),
                '{' => {
                    self.bump();
                    depth += 1;
                }
                '}' => {
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    fn char_literal(&mut self) {
        self.bump();
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '\'' | '\n' => return,
                _ => {}
            }
        }
    }
}

/// The arguments of a call whose `(` has been passed: each a run of
/// tokens, up to the `)` that closes the call.
fn arguments(tokens: &[Token]) -> Vec<&[Token]> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (k, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') if depth > 0 => depth -= 1,
            Tok::Punct(')') => {
                if k > start {
                    args.push(&tokens[start..k]);
                }
                return args;
            }
            Tok::Punct(',') if depth == 0 => {
                args.push(&tokens[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    args
}

/// What an argument makes: a string literal or template as written, a
/// `+` of such and other values, or any text (`*`).
fn pattern_of(arg: &[Token]) -> Pattern {
    let mut p = Pattern::default();
    let mut depth = 0usize;
    let mut part: Vec<&Token> = Vec::new();
    fn close(part: &mut Vec<&Token>, p: &mut Pattern) {
        match part.as_slice() {
            [Token { tok: Tok::Str(s), .. }] => p.extend(s.clone()),
            _ => p.push(Piece::Hole),
        }
        part.clear();
    }
    for t in arg {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => depth = depth.saturating_sub(1),
            Tok::Punct('+') if depth == 0 => {
                close(&mut part, &mut p);
                continue;
            }
            _ => {}
        }
        part.push(t);
    }
    close(&mut part, &mut p);
    if p.0.is_empty() { Pattern::hole() } else { p }
}

/// An argument's text as written, on one line, shortened.
fn expression_of(text: &str, args: &[&[Token]]) -> String {
    let (Some(first), Some(last)) = (args.first().and_then(|a| a.first()), args.last().and_then(|a| a.last())) else {
        return String::new();
    };
    let raw = text.get(first.start..last.end).unwrap_or_default();
    let mut s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 60 {
        s = s.chars().take(59).collect::<String>() + "…";
    }
    s
}

/// Adds what one script file can produce.
fn scan(file: &str, text: &str, u: &mut Universe) {
    let tokens = Lexer::new(text).tokens();
    for k in 0..tokens.len() {
        let Tok::Ident(receiver) = &tokens[k].tok else { continue };
        if receiver != "draft" && receiver != "this" {
            continue;
        }
        if k > 0 && tokens[k - 1].tok == Tok::Punct('.') {
            continue;
        }
        let (Some(dot), Some(Tok::Ident(method)), Some(open)) = (
            tokens.get(k + 1).map(|t| &t.tok),
            tokens.get(k + 2).map(|t| &t.tok),
            tokens.get(k + 3).map(|t| &t.tok),
        ) else {
            continue;
        };
        if *dot != Tok::Punct('.') || *open != Tok::Punct('(') {
            continue;
        }
        let Some(kind) = Kind::ALL.into_iter().find(|kd| kd.method() == method.as_str()) else {
            continue;
        };
        let args = arguments(&tokens[k + 4..]);
        let site = Site {
            file: file.to_string(),
            line: tokens[k].line,
        };
        let (pattern, used) = match kind {
            Kind::Row => {
                if args.len() < 2 {
                    continue;
                }
                let mut p = pattern_of(args[0]);
                p.push(Piece::Text(": ".into()));
                p.extend(pattern_of(args[1]));
                (p, &args[..2])
            }
            _ => {
                if args.is_empty() {
                    continue;
                }
                (pattern_of(args[0]), &args[..1])
            }
        };
        match pattern.literal() {
            Some(name) => u.add_literal(kind, name, site, true),
            None => u.add_dynamic(kind, pattern, expression_of(text, used), site),
        }
    }
}

// ------------------------------------------------------------ observation

/// What a set of drafts exercised of a ruleset's universe.
#[derive(Debug, Clone)]
pub struct Coverage {
    ruleset: RulesetRef,
    universe: Universe,
    drafts: u64,
    /// Per kind, per item: the drafts that exercised it.
    counts: [Vec<u64>; 4],
    /// Per rule: the drafts in which its trace entry recorded something
    /// (a row, reason, code, note, outcome …), not only that it ran.
    fired: Vec<u64>,
    service: [BTreeMap<String, u64>; 4],
    unknown: [BTreeMap<String, u64>; 4],
    /// Names already resolved to items (drafts repeat their names).
    resolved: HashMap<(Kind, String), Vec<usize>>,
}

impl Coverage {
    /// Coverage of a loaded ruleset, nothing observed yet.
    pub fn new(ruleset: &Ruleset) -> Coverage {
        Coverage::with_universe(ruleset.reference(), Universe::of(ruleset))
    }

    pub fn with_universe(ruleset: RulesetRef, universe: Universe) -> Coverage {
        let counts = Kind::ALL.map(|k| vec![0; universe.items(k).len()]);
        let fired = vec![0; universe.items(Kind::Rule).len()];
        Coverage {
            ruleset,
            universe,
            drafts: 0,
            counts,
            fired,
            service: Default::default(),
            unknown: Default::default(),
            resolved: HashMap::new(),
        }
    }

    pub fn universe(&self) -> &Universe {
        &self.universe
    }

    /// How many drafts were observed.
    pub fn drafts(&self) -> u64 {
        self.drafts
    }

    /// Counts what one draft exercised (each item at most once per draft).
    pub fn observe(&mut self, draft: &Draft) {
        self.drafts += 1;
        let rows: BTreeSet<String> = draft
            .calculation()
            .parts()
            .iter()
            .flat_map(|p| {
                p.section
                    .rows()
                    .iter()
                    .map(move |r| format!("{}: {}", p.kind.as_str(), r.label))
            })
            .collect();
        let mut names: [BTreeSet<&str>; 4] = Default::default();
        names[Kind::Rule.index()].extend(draft.trace().iter().map(|t| t.rule.as_str()));
        names[Kind::Code.index()].extend(draft.codes().iter().map(|c| c.as_str()));
        names[Kind::Reason.index()].extend(draft.reasons().iter().map(|r| r.code.as_str()));
        names[Kind::Row.index()].extend(rows.iter().map(String::as_str));
        // A rule whose entry recorded nothing ran without effect: its
        // condition did not hold.
        let fired: BTreeSet<&str> = draft
            .trace()
            .iter()
            .filter(|t| t.result_json() != "{}")
            .map(|t| t.rule.as_str())
            .collect();
        let mut fired_items = BTreeSet::new();
        for kind in Kind::ALL {
            let mut hit = BTreeSet::new();
            for &name in &names[kind.index()] {
                let items = self
                    .resolved
                    .entry((kind, name.to_string()))
                    .or_insert_with(|| self.universe.resolve(kind, name));
                if !items.is_empty() {
                    hit.extend(items.iter().copied());
                    if kind == Kind::Rule && fired.contains(name) {
                        fired_items.extend(items.iter().copied());
                    }
                } else if added_by_service(kind, name) {
                    *self.service[kind.index()].entry(name.to_string()).or_default() += 1;
                } else {
                    *self.unknown[kind.index()].entry(name.to_string()).or_default() += 1;
                }
            }
            for i in hit {
                self.counts[kind.index()][i] += 1;
            }
        }
        for i in fired_items {
            self.fired[i] += 1;
        }
    }

    /// The report of what was observed so far.
    pub fn report(&self) -> Report {
        let kind = |k: Kind| {
            let items: Vec<ItemReport> = self
                .universe
                .items(k)
                .iter()
                .zip(&self.counts[k.index()])
                .enumerate()
                .map(|(idx, (it, &n))| {
                    let site = it.site().cloned().unwrap_or(Site {
                        file: MANIFEST.to_string(),
                        line: 1,
                    });
                    ItemReport {
                        name: it.name.clone(),
                        dynamic: it.is_dynamic(),
                        pattern: it.pattern(),
                        expression: it.expression.clone(),
                        file: site.file,
                        line: site.line,
                        sites: it.sites.clone(),
                        drafts: n,
                        exercised: n > 0,
                        fired: (k == Kind::Rule).then(|| self.fired.get(idx).copied().unwrap_or(0)),
                    }
                })
                .collect();
            let total = items.len();
            let exercised = items.iter().filter(|i| i.exercised).count();
            let fired = (k == Kind::Rule).then(|| items.iter().filter(|i| i.fired > Some(0)).count());
            let observed = |m: &BTreeMap<String, u64>| {
                m.iter()
                    .map(|(name, &drafts)| Observed {
                        name: name.clone(),
                        drafts,
                    })
                    .collect()
            };
            KindReport {
                kind: k,
                total,
                exercised,
                summary: format!("{exercised} of {total} {} exercised", k.plural()),
                fired,
                items,
                added_by_service: observed(&self.service[k.index()]),
                not_in_sources: observed(&self.unknown[k.index()]),
            }
        };
        Report {
            ruleset: self.ruleset.clone(),
            drafts: self.drafts,
            rules: kind(Kind::Rule),
            rows: kind(Kind::Row),
            reasons: kind(Kind::Reason),
            codes: kind(Kind::Code),
        }
    }
}

/// What a set of drafts exercised of a ruleset, per kind.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The ruleset whose sources are the universe.
    pub ruleset: RulesetRef,
    /// How many drafts were observed.
    pub drafts: u64,
    pub rules: KindReport,
    pub rows: KindReport,
    pub reasons: KindReport,
    pub codes: KindReport,
}

impl Report {
    pub fn kind(&self, kind: Kind) -> &KindReport {
        match kind {
            Kind::Rule => &self.rules,
            Kind::Row => &self.rows,
            Kind::Reason => &self.reasons,
            Kind::Code => &self.codes,
        }
    }
}

/// One kind's items, with how many drafts exercised each.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub kind: Kind,
    /// Items in the universe (a dynamic name counts as one).
    pub total: usize,
    /// Items at least one draft exercised.
    pub exercised: usize,
    /// `23 of 27 rules exercised`.
    pub summary: String,
    /// Rules only: how many recorded something in at least one draft. A
    /// rule is exercised when its `draft.rule(…)` ran; it fired when its
    /// trace entry then got a row, reason, code, note or outcome (rules
    /// that record their step before testing a condition run in every
    /// draft, and only fire when the condition holds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fired: Option<usize>,
    /// Every item of the universe, in source order; `exercised: false`
    /// flags one no draft exercised.
    pub items: Vec<ItemReport>,
    /// Names the service added (routing a case to a person), not the rules.
    pub added_by_service: Vec<Observed>,
    /// Names observed that the sources do not produce (a draft made by
    /// another version of the rules, say).
    pub not_in_sources: Vec<Observed>,
}

impl KindReport {
    /// The share of items exercised, in percent (100 when there are none).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            // Counts of items are far below 2^52: exact as f64.
            100.0 * self.exercised as f64 / self.total as f64
        }
    }

    /// The items no draft exercised.
    pub fn never_exercised(&self) -> impl Iterator<Item = &ItemReport> {
        self.items.iter().filter(|i| !i.exercised)
    }
}

/// One item of the universe and its count.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    /// The name, or `dynamic at FILE:LINE`.
    pub name: String,
    pub dynamic: bool,
    /// For a dynamic name: the text the source fixes, `*` for values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// For a dynamic name: the expression as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The first place that produces it.
    pub file: String,
    pub line: usize,
    /// Every place that produces it.
    pub sites: Vec<Site>,
    /// How many drafts exercised it.
    pub drafts: u64,
    pub exercised: bool,
    /// Rules only: in how many drafts its trace entry recorded something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fired: Option<u64>,
}

/// A name observed outside the universe, and in how many drafts.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub name: String,
    pub drafts: u64,
}

/// Coverage of a ruleset's own test cases.
#[derive(Debug, Clone, Serialize)]
pub struct TestsCoverage {
    /// Cases run.
    pub cases: usize,
    /// Cases whose expectations were not met (their drafts are counted).
    pub failed: Vec<String>,
    /// Cases that gave no draft (an invalid application, a ruleset error).
    pub without_draft: Vec<String>,
    pub report: Report,
}

/// Runs the test cases in `cases_dir` (`NAME.json` + `NAME.expected.json`,
/// as `hrobot rules test`) and reports what their drafts exercised. The
/// web UI or the command line can call this directly.
pub fn of_tests(ruleset: &Ruleset, cases_dir: &Path) -> std::io::Result<TestsCoverage> {
    let list = cases(cases_dir)?;
    let mut coverage = Coverage::new(ruleset);
    let mut failed = Vec::new();
    let mut without_draft = Vec::new();
    for (name, input, expected) in &list {
        let (result, draft) = run_case_with_draft(ruleset, name, input, expected);
        if !result.passed {
            failed.push(name.clone());
        }
        match draft {
            Some(d) => coverage.observe(&d),
            None => without_draft.push(name.clone()),
        }
    }
    Ok(TestsCoverage {
        cases: list.len(),
        failed,
        without_draft,
        report: coverage.report(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn universe(script: &str) -> Universe {
        Universe::from_sources(&[("rules/main.rhai".into(), script.into())], None)
    }

    fn names(u: &Universe, k: Kind) -> Vec<String> {
        u.items(k)
            .iter()
            .map(|i| match i.pattern() {
                Some(p) => format!("{} [{p}]", i.name),
                None => i.name.clone(),
            })
            .collect()
    }

    #[test]
    fn literals_templates_and_expressions() {
        let u = universe(
            r#"
// draft.rule("i.en.kommentar");
/* draft.rule("inte /* nästlad */ heller"); */
draft.rule("a.b", #{ x: "draft.rule(\"nej\")" });
draft.row("norm",
    "Personliga kostnader, ensamstående", 1);
draft.row("norm", `Barn ${c.label} (${if x { "a" } else { `b${y}` }})`, 2);
draft.row(section, "Fast", 3);
draft.code(begransning);
draft.code("tak"); draft.code("tak");
draft.reason("kod" + suffix, "text", "lagrum");
draft.reason("x", `text ${a}`, "lagrum");
let s = "draft.code(\"inne_i_text\")";
fn f() { this.rule("i.metod"); }
other.draft.rule("inte.draft");
draft.total("norm");
"#,
        );
        assert_eq!(names(&u, Kind::Rule), ["a.b", "i.metod"]);
        assert_eq!(
            names(&u, Kind::Row),
            [
                "norm: Personliga kostnader, ensamstående",
                "dynamic at rules/main.rhai:7 [norm: Barn * (*)]",
                "dynamic at rules/main.rhai:8 [*: Fast]",
            ]
        );
        assert_eq!(names(&u, Kind::Code), ["dynamic at rules/main.rhai:9 [*]", "tak"]);
        assert_eq!(names(&u, Kind::Reason), ["dynamic at rules/main.rhai:11 [kod*]", "x"]);
        let tak = &u.items(Kind::Code)[1];
        assert_eq!(tak.sites.len(), 2);
        assert_eq!(tak.sites[0].line, 10);
        assert_eq!(u.items(Kind::Row)[0].site().unwrap().line, 5);
        assert_eq!(u.items(Kind::Code)[0].expression(), Some("begransning"));
    }

    #[test]
    fn patterns_match_what_they_can_make() {
        let p = |s: &str| {
            let toks = Lexer::new(s).tokens();
            pattern_of(&toks)
        };
        assert!(p("`a ${x} b`").matches("a 12 b"));
        assert!(p("`a ${x} b`").matches("a  b"));
        assert!(!p("`a ${x} b`").matches("a 12 c"));
        assert!(p("`${x}, make`").matches("Lön, make"));
        assert!(!p("`${x}, make`").matches("Lön"));
        assert!(p("x").matches("vad som helst"));
        assert!(p("\"pre\" + x + \"mid\" + y").matches("pre1mid2"));
        assert!(!p("\"pre\" + x + \"mid\" + y").matches("pre1mi"));
        assert!(p("`ab``c`").matches("ab`c"));
        assert_eq!(p("`ab``c`").literal().as_deref(), Some("ab`c"));
    }

    #[test]
    fn manifest_codes_have_their_lines() {
        let m = "name = \"x\"\n[casework]\ntitle = \"t\"\n\n[casework.codes.forsta]\nlabel = \"F\"\n\n[casework.codes.andra]\nlabel = \"A\"\n";
        assert_eq!(manifest_codes(m), [("forsta".to_string(), 5), ("andra".to_string(), 8)]);
        let inline = "[casework.codes]\nett = { label = \"E\" }\ntva = { label = \"T\" }\n";
        assert_eq!(manifest_codes(inline), [("ett".to_string(), 2), ("tva".to_string(), 3)]);
    }

    #[test]
    fn a_name_goes_to_its_literal_else_the_most_specific_dynamic_item() {
        let u = Universe::from_sources(
            &[(
                "r.rhai".into(),
                "draft.code(x);\ndraft.code(\"fast\");\ndraft.row(\"s\", l, 1);\ndraft.row(\"s\", `${l}, make`, 1);\n"
                    .into(),
            )],
            Some("[casework.codes.fast]\nlabel = \"F\"\n[casework.codes.bara_i_manifestet]\nlabel = \"B\"\n"),
        );
        // In a script: the literal alone.
        assert_eq!(u.resolve(Kind::Code, "fast"), [1]);
        // Only in the manifest: its entry, and the dynamic call that made it.
        assert_eq!(u.resolve(Kind::Code, "bara_i_manifestet"), [2, 0]);
        assert_eq!(u.resolve(Kind::Row, "s: Lön, make"), [1]);
        assert_eq!(u.resolve(Kind::Row, "s: Lön"), [0]);
        assert!(u.resolve(Kind::Row, "t: Lön").is_empty());
        assert!(added_by_service(Kind::Rule, "manuell.dubblett_period"));
        assert!(added_by_service(Kind::Code, "andrad_ansokan"));
        assert!(!added_by_service(Kind::Rule, "manuell.nyansokan"));
    }
}
