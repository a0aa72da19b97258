//! The seeded data set: applications in our own schema, from which each
//! simulated system presents its view (the e-service's form values, the
//! registers' answers, the legacy system's screens).

use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// One seeded application.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The file name it came from.
    pub file: String,
    pub application: Value,
}

#[derive(Debug, Clone, Default)]
pub struct Dataset(pub Arc<Vec<Seeded>>);

impl Dataset {
    /// Every `*.json` in the folder that is an application (has `schema`),
    /// in name order. Files that are not valid applications are kept too:
    /// real systems hold bad data.
    pub fn load(dir: &Path) -> anyhow::Result<Dataset> {
        let mut out = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if !name.ends_with(".json") || name.ends_with(".expected.json") {
                continue;
            }
            let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&p)?) else {
                continue;
            };
            if v.get("schema").is_some() {
                out.push(Seeded {
                    file: name,
                    application: v,
                });
            }
        }
        Ok(Dataset(Arc::new(out)))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Seeded> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
