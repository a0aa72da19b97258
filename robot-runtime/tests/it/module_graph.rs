//! The runtime's modules do not import in circles (house style 5).
//!
//! Reads `robot-runtime/src/**/*.rs`, takes every `crate::X` path (in `use`
//! lines and inline, `crate::{X, Y}` groups too; comments are skipped) as an
//! arrow from the file's top-level module to `X`, and asserts the graph of
//! top-level modules has no cycle. A cycle fails with the arrows and the
//! lines that make it, so the fix is to move a type down, not to add an
//! exception here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (from, to) → where.
type Arrows = BTreeMap<(String, String), Vec<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a line names through `crate::`.
fn named(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `$crate::` belongs to a macro, not to a module path of ours.
        let before_ok = i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        rest = &rest[i + "crate::".len()..];
        if !before_ok {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::C}`: the group on this line.
            let group = group.split('}').next().unwrap_or("");
            out.extend(group.split(',').map(|p| ident(p.trim()).to_string()));
        } else {
            out.push(ident(rest).to_string());
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn arrows(src: &Path) -> Arrows {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut arrows = Arrows::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let top = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for to in named(line) {
                if to != top {
                    arrows
                        .entry((top.clone(), to))
                        .or_default()
                        .push(format!("{}:{}", rel.display(), n + 1));
                }
            }
        }
    }
    arrows
}

/// A cycle in the graph, if there is one.
fn cycle(arrows: &Arrows) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in arrows.keys() {
        next.entry(from).or_default().insert(to);
    }
    // 0 unvisited, 1 on the path, 2 done.
    fn visit<'a>(
        m: &'a str,
        next: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(m, 1);
        path.push(m);
        for &n in next.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|p| *p == n).unwrap();
                    let mut c: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                    c.push(n.to_string());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(n, next, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    let starts: Vec<&str> = next.keys().copied().collect();
    for m in starts {
        if state.get(m).copied().unwrap_or(0) == 0 {
            let mut path = Vec::new();
            if let Some(c) = visit(m, &next, &mut state, &mut path) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_runtime_s_modules_import_in_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let arrows = arrows(&src);
    assert!(
        arrows.contains_key(&("pipeline".to_string(), "store".to_string())),
        "the scan finds arrows at all"
    );
    if let Some(c) = cycle(&arrows) {
        let evidence: Vec<String> = c
            .windows(2)
            .map(|w| {
                let at = &arrows[&(w[0].clone(), w[1].clone())];
                format!("  {} -> {}: {}", w[0], w[1], at.join(", "))
            })
            .collect();
        panic!(
            "modules import in a circle: {}\n{}",
            c.join(" -> "),
            evidence.join("\n")
        );
    }
}

#[test]
fn the_scan_sees_groups_and_inline_paths_and_finds_circles() {
    assert_eq!(named("use crate::{config::Settings, store};"), ["config", "store"]);
    assert_eq!(named("    let s = crate::store::sha256(b); // crate::web"), ["store"]);
    assert_eq!(named("$crate::x"), Vec::<String>::new());
    let mut a = Arrows::new();
    a.insert(("a".into(), "b".into()), vec![]);
    a.insert(("b".into(), "c".into()), vec![]);
    assert_eq!(cycle(&a), None);
    a.insert(("c".into(), "a".into()), vec![]);
    assert_eq!(cycle(&a).unwrap(), ["a", "b", "c", "a"]);
}
