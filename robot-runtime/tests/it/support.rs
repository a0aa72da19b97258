//! Helpers shared by the CLI tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root (the workspace folder).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `../shared` beside the repository, where the product's examples live.
pub fn shared() -> PathBuf {
    repo().parent().unwrap().join("shared")
}

pub fn ruleset() -> PathBuf {
    repo().join("rulesets/ekonomiskt-bistand")
}

pub fn hrobot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hrobot"));
    c.current_dir(repo());
    c
}

pub fn run(args: &[&str]) -> Output {
    hrobot().args(args).output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
