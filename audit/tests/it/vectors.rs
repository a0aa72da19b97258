//! Every shared RFC 6962 proof vector through the offline verifier.

use audit::offline::{Verdict, verify_file};
use std::path::{Path, PathBuf};

pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("HROBOT_SHARED_DIR") {
        Some(d) => PathBuf::from(d).join("vectors/rfc6962"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/rfc6962"),
    }
}

pub fn vector_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&vectors_dir(), &mut out);
    out.sort();
    out
}

pub fn want_err(bytes: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    v["wantErr"].as_bool().unwrap()
}

#[test]
fn all_196_shared_vectors_get_the_right_verdict() {
    let files = vector_files();
    assert_eq!(files.len(), 196, "the shared folder should hold 196 cases");
    let mut wrong = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let verdict = verify_file(&bytes, &[]).unwrap_or_else(|e| panic!("{}: unreadable: {e}", path.display()));
        if verdict.is_valid() {
            valid += 1;
        } else {
            invalid += 1;
        }
        if verdict.is_valid() == want_err(&bytes) {
            wrong.push(format!("{}: {verdict:?}", path.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Both kinds are present, so neither verdict can be a constant.
    assert!(valid >= 10 && invalid >= 100, "{valid} valid, {invalid} invalid");
}

#[test]
fn unreadable_inputs_are_told_apart_from_invalid_proofs() {
    for bad in [
        &b"not json"[..],
        b"[1, 2]",
        br#"{"desc": "neither kind"}"#,
        br#"{"leafIdx": -1, "treeSize": 1}"#,
        br#"{"leafIdx": 0, "treeSize": 1, "root": "!!!"}"#,
        br#"{"size1": 1, "size2": 2, "proof": ["AAAA", 3]}"#,
        br#"{"leafIdx": 0, "size1": 1}"#,
    ] {
        assert!(verify_file(bad, &[]).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    // Readable, and wrong.
    let v = verify_file(br#"{"leafIdx": 0, "treeSize": 0, "proof": null}"#, &[]).unwrap();
    assert!(matches!(v, Verdict::Invalid(_)));
}
