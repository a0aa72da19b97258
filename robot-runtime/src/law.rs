//! Where letters get their legal references: the ruleset's dated
//! parameters (`lagrum.*`), in force on the period's first day. The law
//! changes (socialtjänstlagen (2001:453) gave way to (2025:400) on
//! 2025-07-01), so no reference is written into the letter code.

use domain::{Period, RulesetRef};
use sandbox::{ParamValue, Ruleset};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The legal references a letter cites besides its reasons' own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterLaw {
    /// For the officials' own motivering: the right to bistånd.
    pub motivering_lagrum: String,
    /// The duty to give reasons (förvaltningslagen 32 §).
    pub motivering_fl: String,
    /// How to appeal: the social services act's appeal provision and
    /// förvaltningslagen's rules on appeals.
    pub overklagande: String,
    /// Kommunicering (förvaltningslagen 25 §).
    pub kommunicering: String,
    /// Whether every value came from a verified parameter set.
    pub verified: bool,
}

impl LetterLaw {
    /// What the ruleset contract (§ 5) states, for a ruleset that does not
    /// carry these parameters; marked unverified so letters are checked.
    fn fallback(period: Period) -> LetterLaw {
        let new_law = period >= Period::new(2025, 7).unwrap_or(period);
        LetterLaw {
            motivering_lagrum: if new_law {
                "12 kap. socialtjänstlagen (2025:400)".into()
            } else {
                "4 kap. 1 § socialtjänstlagen (2001:453)".into()
            },
            motivering_fl: "32 § förvaltningslagen (2017:900)".into(),
            overklagande: if new_law {
                "40–45 §§ förvaltningslagen (2017:900)".into()
            } else {
                "16 kap. 3 § socialtjänstlagen (2001:453) och 40–45 §§ förvaltningslagen (2017:900)".into()
            },
            kommunicering: "25 § förvaltningslagen (2017:900)".into(),
            verified: false,
        }
    }
}

/// The rulesets the robots use, loaded when a letter first needs one.
#[derive(Clone, Default)]
pub struct LawBook {
    dirs: Vec<PathBuf>,
    /// Where published versions are written out (`DATA/rulesets/<hex>/`).
    versions: Option<PathBuf>,
    loaded: Arc<Mutex<HashMap<PathBuf, Arc<Ruleset>>>>,
}

impl std::fmt::Debug for LawBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LawBook")
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl LawBook {
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> LawBook {
        let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
        dirs.sort();
        dirs.dedup();
        LawBook {
            dirs,
            versions: None,
            loaded: Arc::default(),
        }
    }

    /// Also reads the published versions written out under `dir`, so a
    /// letter cites the references of the very version its draft was made
    /// with.
    pub fn with_versions(mut self, dir: PathBuf) -> LawBook {
        self.versions = Some(dir);
        self
    }

    /// The draft's own version: loaded in this process, or written out
    /// under the versions folder.
    fn version(&self, hash: &str) -> Option<Arc<Ruleset>> {
        if let Some(r) = Ruleset::loaded(hash) {
            return Some(r);
        }
        let hex = hash.strip_prefix("sha256:")?;
        let dir = self.versions.as_ref()?.join(hex);
        if !dir.is_dir() {
            return None;
        }
        Ruleset::load(&dir).ok().filter(|r| r.hash() == hash)
    }

    fn ruleset(&self, name: &str) -> Option<Arc<Ruleset>> {
        let mut loaded = self.loaded.lock().ok()?;
        for dir in &self.dirs {
            if !loaded.contains_key(dir) {
                match Ruleset::load(dir) {
                    Ok(r) => {
                        loaded.insert(dir.clone(), r);
                    }
                    Err(e) => {
                        tracing::warn!(ruleset = %dir.display(), error = %e, "a ruleset for letters' legal references did not load");
                        continue;
                    }
                }
            }
            if let Some(r) = loaded.get(dir).filter(|r| r.name() == name) {
                return Some(r.clone());
            }
        }
        None
    }

    /// The references in force for a decision about `period`, from the
    /// version the draft was made with, else the robots' ruleset of the
    /// same name (a newer version carries the same dated references).
    pub fn letter_law(&self, ruleset: &RulesetRef, period: Period) -> LetterLaw {
        let fallback = LetterLaw::fallback(period);
        let Some(r) = self.version(&ruleset.hash).or_else(|| self.ruleset(&ruleset.name)) else {
            return fallback;
        };
        let Ok(params) = r.resolved(period.first_day()) else {
            return fallback;
        };
        let mut verified = true;
        let mut text = |key: &str, or: &str| match params.get(key) {
            Some(p) => match &p.value {
                ParamValue::Text(t) => {
                    verified &= p.verified;
                    t.clone()
                }
                _ => or.to_string(),
            },
            None => {
                verified = false;
                or.to_string()
            }
        };
        let motivering_lagrum = text("lagrum.ratt_till_bistand", &fallback.motivering_lagrum);
        let motivering_fl = text("lagrum.motivering", &fallback.motivering_fl);
        let overklagande = text("lagrum.overklagande", &fallback.overklagande);
        let kommunicering = text("lagrum.kommunicering", &fallback.kommunicering);
        LetterLaw {
            motivering_lagrum,
            motivering_fl,
            overklagande,
            kommunicering,
            verified,
        }
    }
}
