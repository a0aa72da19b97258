//! Rule coverage of production drafts (`hrobot rules coverage --production`):
//! the drafts of the cases a ruleset (by name) worked, read in batches by
//! id so a store of 100,000 drafts never holds them all in memory, and
//! counted per ruleset version by `sandbox::coverage`. The SQL is written
//! once, instantiated for SQLite and PostgreSQL by `engine!`.

use super::*;
use sandbox::coverage::{Coverage, Report};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// Drafts read per query.
const BATCH: i64 = 500;

macro_rules! engine {
    ($module:ident, $pool:ty) => {
        pub(super) mod $module {
            use super::*;

            /// Up to `limit` drafts with an id above `after` of the cases
            /// whose ruleset is named `name`: (draft id, draft JSON), by id.
            pub async fn drafts_of_ruleset(
                pool: &$pool,
                name: &str,
                after: i64,
                limit: i64,
            ) -> Result<Vec<(i64, String)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT d.id, d.draft FROM drafts d JOIN cases c ON c.id = d.case_id \
                     WHERE c.ruleset_name = $1 AND d.id > $2 ORDER BY d.id LIMIT $3",
                )
                .bind(name)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("id")?, r.try_get("draft")?)))
                    .collect()
            }
        }
    };
}

engine!(sqlite, SqlitePool);
engine!(postgres, PgPool);

/// What the production drafts of one version of a ruleset exercised.
#[derive(Debug, Clone, Serialize)]
pub struct VersionCoverage {
    /// The version's content hash, as its drafts name it.
    pub hash: String,
    /// The version as its drafts name it.
    pub version: String,
    /// Whether this is the version loaded (whose sources are the universe).
    /// For another version, items may have moved or changed: the universe
    /// is still the loaded version's.
    pub current: bool,
    /// Measured against its own sources (the folder's, or the published
    /// version's stored files); otherwise against the folder's.
    pub own_sources: bool,
    /// The id of the newest draft of this version.
    pub newest_draft: i64,
    pub report: Report,
}

/// Production coverage of a ruleset.
#[derive(Debug, Clone, Serialize)]
pub struct ProductionCoverage {
    /// Per version found, newest first (by the newest draft).
    pub versions: Vec<VersionCoverage>,
    /// Stored drafts that could not be read as drafts (not counted).
    pub unreadable: u64,
}

impl Store {
    /// What the drafts stored for cases worked by a ruleset of this name
    /// exercised of it, per version (a draft's version is the one it names
    /// itself, which made it), newest version first. The universe is the
    /// given ruleset's sources for every version. For the web UI and
    /// `hrobot rules coverage --production`.
    /// `stored`: other versions' own rulesets by hash (published versions,
    /// `rulebook::load_version`); a version found there is measured against
    /// its own sources.
    pub async fn production_coverage(
        &self,
        ruleset: &sandbox::Ruleset,
        stored: &HashMap<String, std::sync::Arc<sandbox::Ruleset>>,
    ) -> Result<ProductionCoverage, StoreError> {
        let universe = sandbox::coverage::Universe::of(ruleset);
        // hash → (version, newest draft id, coverage)
        let mut by_hash: HashMap<String, (String, i64, Coverage)> = HashMap::new();
        let mut unreadable = 0u64;
        let mut after = 0i64;
        loop {
            let batch = dispatch!(self, drafts_of_ruleset(ruleset.name(), after, BATCH))?;
            let Some(&(last, _)) = batch.last() else { break };
            after = last;
            for (id, json) in &batch {
                let Ok(draft) = domain::Draft::from_json(json) else {
                    unreadable += 1;
                    continue;
                };
                let r = draft.ruleset();
                let entry = by_hash.entry(r.hash.clone()).or_insert_with(|| {
                    let own = stored.get(&r.hash).filter(|_| r.hash != ruleset.hash());
                    (
                        r.version.clone(),
                        *id,
                        match own {
                            Some(o) => Coverage::with_universe(o.reference(), sandbox::coverage::Universe::of(o)),
                            None => Coverage::with_universe(ruleset.reference(), universe.clone()),
                        },
                    )
                });
                entry.1 = entry.1.max(*id);
                entry.2.observe(&draft);
            }
        }
        let mut versions: Vec<VersionCoverage> = by_hash
            .into_iter()
            .map(|(hash, (version, newest_draft, coverage))| VersionCoverage {
                current: hash == ruleset.hash(),
                own_sources: hash == ruleset.hash() || stored.contains_key(&hash),
                hash,
                version,
                newest_draft,
                report: coverage.report(),
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.newest_draft));
        Ok(ProductionCoverage { versions, unreadable })
    }
}
