use domain::Application;
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn shipped_ruleset() -> PathBuf {
    repo().join("rulesets/ekonomiskt-bistand")
}

/// A valid application (shared example 01).
pub fn application() -> Application {
    let p = repo().join("rulesets/ekonomiskt-bistand/tests/01-ensamstaende-utan-inkomst.json");
    Application::parse(&std::fs::read(p).unwrap()).unwrap()
}

pub const PARAMS: &str = r#"name = "p"
[types]
belopp = "money"
[[set]]
valid_from = 2019-01-01
source = "test"
verified = true
[set.values]
belopp = 100
[[set]]
valid_from = 2021-01-01
source = "test, overifierad"
verified = false
[set.values]
belopp = "200.50"
"#;

/// Writes a ruleset whose entry script is `main` (and optional include) to a temp dir.
pub fn ruleset_with(main: &str, include: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_ruleset(dir.path(), main, include);
    dir
}

pub fn write_ruleset(dir: &Path, main: &str, include: Option<&str>) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/main.rhai"), main).unwrap();
    let inc = match include {
        Some(text) => {
            std::fs::write(dir.join("rules/lib.rhai"), text).unwrap();
            r#"include = ["rules/lib.rhai"]"#
        }
        None => "",
    };
    std::fs::write(dir.join("p.toml"), PARAMS).unwrap();
    std::fs::write(
        dir.join("ruleset.toml"),
        format!("name = \"t\"\nversion = \"0.1\"\nentry = \"rules/main.rhai\"\n{inc}\nparameters = [\"p.toml\"]\n"),
    )
    .unwrap();
}

/// The smallest valid entry script.
pub const MINIMAL: &str = r#"
draft.rule("r");
draft.row("norm", "Norm", params.get("p.belopp"));
draft.outcome("bifall", round_kr(draft.total("norm")));
draft
"#;
