//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shipped ruleset's test cases: every application shape we know.
pub fn seeded_applications() -> PathBuf {
    repo().join("rulesets/ekonomiskt-bistand/tests")
}
