//! The rule test runner: cases in plain files, `NAME.json` (an
//! application) beside `NAME.expected.json`:
//!
//! ```json
//! {"outcome": "bifall", "amount_sek": 9750, "codes": []}
//! {"exit_code": 2, "pointer_any": ["/costs/rent"]}      // invalid application
//! {"exit_code": 1}                                      // ruleset error
//! ```
//!
//! Optional checks on a draft: `"warnings_contain": ["text", …]` (each a
//! substring of some warning), `"reasons_contain": ["code", …]`,
//! `"reason_texts_contain": ["text", …]` (each a substring of some reason's
//! text), `"assessments": ["code", …]` and `"kommunicering": ["code", …]`
//! (exactly these codes, order free; `[]` for none).

use crate::ruleset::{ReadError, Ruleset};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    outcome: Option<String>,
    #[serde(default, deserialize_with = "present")]
    amount_sek: Option<Option<serde_json::Number>>,
    codes: Option<Vec<String>>,
    exit_code: Option<i32>,
    #[serde(default)]
    pointer_any: Vec<String>,
    #[serde(default)]
    warnings_contain: Vec<String>,
    #[serde(default)]
    reasons_contain: Vec<String>,
    /// The codes of the draft's assessments, exactly (order free).
    assessments: Option<Vec<String>>,
    /// The codes of the draft's kommunicering items, exactly (order free).
    kommunicering: Option<Vec<String>>,
    /// Substrings that some reason's text must contain.
    #[serde(default)]
    reason_texts_contain: Vec<String>,
    #[serde(default, rename = "comment")]
    _comment: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<serde_json::Number>>, D::Error> {
    Option::<serde_json::Number>::deserialize(d).map(Some)
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    /// What differed, one line each, `want … got …`.
    pub diffs: Vec<String>,
    /// What the script printed while running the case.
    pub printed: Vec<String>,
}

/// The `NAME.json` files of a folder that have a `NAME.expected.json`, in name order.
pub fn cases(dir: &Path) -> std::io::Result<Vec<(String, PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".expected.json") {
            let input = dir.join(format!("{stem}.json"));
            out.push((stem.to_string(), input, path.clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Runs one case.
pub fn run_case(ruleset: &Ruleset, name: &str, input: &Path, expected: &Path) -> CaseResult {
    run_case_with_draft(ruleset, name, input, expected).0
}

/// Runs one case, also returning the draft the ruleset made of it (none
/// for an invalid application or a ruleset error), whether or not it was
/// what the case expects.
pub fn run_case_with_draft(
    ruleset: &Ruleset,
    name: &str,
    input: &Path,
    expected: &Path,
) -> (CaseResult, Option<domain::Draft>) {
    let mut made = None;
    let mut r = CaseResult {
        name: name.to_string(),
        passed: false,
        diffs: Vec::new(),
        printed: Vec::new(),
    };
    let want: Expected = match std::fs::read_to_string(expected)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(w) => w,
        Err(e) => {
            r.diffs.push(format!("{}: kan inte läsas: {e}", expected.display()));
            return (r, None);
        }
    };
    let bytes = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            r.diffs.push(format!("{}: kan inte läsas: {e}", input.display()));
            return (r, None);
        }
    };
    let want_exit = want.exit_code.unwrap_or(0);
    match ruleset.read(&bytes) {
        Err(ReadError::Input(e)) => {
            if want_exit != 2 {
                r.diffs
                    .push(format!("want exit {want_exit}, got exit 2 (ogiltig ansökan: {e})"));
            } else if !want.pointer_any.is_empty() {
                let got = e.pointers();
                if !want.pointer_any.iter().any(|p| got.contains(&p.as_str())) {
                    r.diffs
                        .push(format!("pointer: want one of {:?}, got {:?}", want.pointer_any, got));
                }
            }
        }
        Err(ReadError::Ruleset(e)) => {
            if want_exit != 1 {
                r.diffs
                    .push(format!("want exit {want_exit}, got exit 1 (regelfel: {e})"));
            }
        }
        Ok(input) => {
            let (result, printed) = ruleset.evaluate_input_capturing(&input);
            r.printed = printed;
            match result {
                Err(e) => {
                    if want_exit != 1 {
                        r.diffs
                            .push(format!("want exit {want_exit}, got exit 1 (regelfel: {e})"));
                    }
                }
                Ok(draft) => {
                    if want_exit != 0 {
                        r.diffs
                            .push(format!("want exit {want_exit}, got a draft ({})", draft.outcome()));
                    } else {
                        compare(&want, &draft, &mut r.diffs);
                    }
                    made = Some(draft);
                }
            }
        }
    }
    r.passed = r.diffs.is_empty();
    (r, made)
}

fn compare(want: &Expected, draft: &domain::Draft, diffs: &mut Vec<String>) {
    if let Some(o) = &want.outcome
        && o != draft.outcome().as_str()
    {
        diffs.push(format!("outcome: want {o}, got {}", draft.outcome()));
    }
    if let Some(a) = &want.amount_sek {
        let got = draft.amount().map(|m| m.to_json_number_string());
        let want_s = a.as_ref().map(ToString::to_string);
        if got != want_s {
            diffs.push(format!(
                "amount_sek: want {}, got {}",
                want_s.as_deref().unwrap_or("null"),
                got.as_deref().unwrap_or("null")
            ));
        }
    }
    if let Some(codes) = &want.codes {
        let w: BTreeSet<&str> = codes.iter().map(String::as_str).collect();
        let g: BTreeSet<&str> = draft.codes().iter().map(|c| c.as_str()).collect();
        if w != g {
            diffs.push(format!("codes: want {w:?}, got {g:?}"));
        }
    }
    for needle in &want.warnings_contain {
        if !draft.warnings().iter().any(|w| w.contains(needle.as_str())) {
            diffs.push(format!(
                "warnings: want one containing {needle:?}, got {:?}",
                draft.warnings()
            ));
        }
    }
    for code in &want.reasons_contain {
        if !draft.reasons().iter().any(|r| &r.code == code) {
            let got: Vec<&str> = draft.reasons().iter().map(|r| r.code.as_str()).collect();
            diffs.push(format!("reasons: want {code:?}, got {got:?}"));
        }
    }
    for needle in &want.reason_texts_contain {
        if !draft.reasons().iter().any(|r| r.text.contains(needle.as_str())) {
            let got: Vec<&str> = draft.reasons().iter().map(|r| r.text.as_str()).collect();
            diffs.push(format!("reasons: want a text containing {needle:?}, got {got:?}"));
        }
    }
    let exact = |what: &str, want: &Option<Vec<String>>, got: Vec<&str>, diffs: &mut Vec<String>| {
        if let Some(w) = want {
            let w: BTreeSet<&str> = w.iter().map(String::as_str).collect();
            let g: BTreeSet<&str> = got.into_iter().collect();
            if w != g {
                diffs.push(format!("{what}: want {w:?}, got {g:?}"));
            }
        }
    };
    exact(
        "assessments",
        &want.assessments,
        draft.assessments().iter().map(|a| a.code.as_str()).collect(),
        diffs,
    );
    exact(
        "kommunicering",
        &want.kommunicering,
        draft.kommunicering().iter().map(|k| k.code.as_str()).collect(),
        diffs,
    );
}
