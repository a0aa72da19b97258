//! The rule author's workbench: published ruleset versions, their
//! activation by a second person, and which version a robot uses.
//!
//! A version is the ruleset's files and content hash
//! (`sandbox::Ruleset::package`), stored once and never changed
//! (migration 0009, with triggers). A version becomes the one used for a
//! casework type from a date only when a second person — a regelförfattare
//! or an administratör, not the one who asked — approves the request; both
//! steps are audit events. The pipeline asks [`ruleset_for_robot`] once per
//! batch, so an approved activation is picked up without a restart; a
//! rollback is an activation of an earlier version. Until a type has an
//! approved activation, its robots use their configured folder, which is
//! published automatically (actor `config:ROBOT`) before its first draft
//! is stored, so every draft names a version the store holds and can be
//! replayed ([`replay`]). Candidates are tried over stored cases by
//! [`shadow`].

pub mod replay;
pub mod shadow;

use crate::accounts::By;
use crate::officials::Official;
use crate::roles::Role;
use crate::store::rulesets::{ActivationRow, ActivationState, NewActivation, NewVersion, VersionRow};
use crate::store::{Store, StoreError};
use audit::EventKind;
use audit::event::{Actor, Event, RulesetHash};
use chrono::{DateTime, NaiveDate, Utc};
use sandbox::Ruleset;
use serde_json::json;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The stack rule evaluation needs (the sandbox's depth limits are sized
/// for it).
pub const EVAL_STACK_BYTES: usize = 32 * 1024 * 1024;

/// The most test files a published version keeps, and their size.
const MAX_TEST_FILES: usize = 2_000;
const MAX_TEST_FILE_BYTES: u64 = 1024 * 1024;

/// The Swedish calendar day of an instant (activations start on a day).
pub fn swedish_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&chrono_tz::Europe::Stockholm).date_naive()
}

/// What publishing a folder gave.
#[derive(Debug, Clone)]
pub struct Published {
    pub row: VersionRow,
    /// `false`: this content was published before; nothing was written.
    pub new: bool,
}

/// A ruleset folder read for publishing: its package, tests run.
pub struct Prepared {
    pub ruleset: Arc<Ruleset>,
    pub files: Vec<(String, String)>,
    pub tests_passed: i64,
    pub tests_failed: i64,
}

/// Reads, loads and tests a folder (blocking: compiles and evaluates).
pub fn prepare(dir: &Path) -> Result<Prepared, String> {
    let ruleset = Ruleset::load(dir).map_err(|e| format!("regeluppsättningen {} laddas inte:\n{e}", dir.display()))?;
    let package = Ruleset::package(dir).map_err(|e| e.to_string())?;
    if package.hash != ruleset.hash() {
        return Err("mappen ändrades medan den lästes; försök igen".into());
    }
    let mut files = package.files;
    let (mut passed, mut failed) = (0, 0);
    let tests = dir.join("tests");
    if tests.is_dir() {
        let list = sandbox::testing::cases(&tests).map_err(|e| format!("{}: {e}", tests.display()))?;
        for (name, input, expected) in &list {
            if sandbox::testing::run_case(&ruleset, name, input, expected).passed {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        let mut names: Vec<PathBuf> = list.iter().flat_map(|(_, i, e)| [i.clone(), e.clone()]).collect();
        names.sort();
        if names.len() > MAX_TEST_FILES {
            return Err(format!("för många testfiler (högst {MAX_TEST_FILES})"));
        }
        for path in names {
            let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.len() > MAX_TEST_FILE_BYTES {
                return Err(format!("{}: testfilen är för stor", path.display()));
            }
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            files.push((format!("tests/{file}"), text));
        }
    }
    Ok(Prepared {
        ruleset,
        files,
        tests_passed: passed,
        tests_failed: failed,
    })
}

fn event(kind: EventKind, actor: &str, now: DateTime<Utc>, hash: &str) -> Result<Event, String> {
    let actor = Actor::parse(actor).map_err(|_| format!("ogiltig aktör {actor:?}"))?;
    let hash = RulesetHash::parse(hash).map_err(|e| format!("händelsen kan inte loggas: {e}"))?;
    Ok(Event::new(kind, actor, now).with_ruleset(hash))
}

/// Stores a prepared folder as a version (audited as `ruleset_published`).
pub async fn store_version(store: &Store, actor: &str, p: &Prepared, via: &str) -> Result<Published, String> {
    let r = &p.ruleset;
    let now = store.clock().now();
    let row = VersionRow {
        hash: r.hash().to_string(),
        name: r.name().to_string(),
        version: r.version().to_string(),
        casework_type: r.type_name().to_string(),
        description: r.description().to_string(),
        tests_passed: p.tests_passed,
        tests_failed: p.tests_failed,
        published_by: actor.to_string(),
        published_at: now,
    };
    let ev = event(EventKind::RulesetPublished, actor, now, r.hash())?
        .with_payload(json!({
            "name": row.name,
            "version": row.version,
            "casework_type": row.casework_type,
            "files": p.files.len(),
            "tests_passed": p.tests_passed,
            "tests_failed": p.tests_failed,
            "via": via,
        }))
        .map_err(|e| format!("händelsen kan inte loggas: {e}"))?;
    let new = store
        .insert_ruleset_version(
            &NewVersion {
                row: row.clone(),
                files: p.files.clone(),
            },
            ev,
        )
        .await
        .map_err(store_error)?;
    let row = if new {
        row
    } else {
        store
            .ruleset_version(&row.hash)
            .await
            .map_err(store_error)?
            .ok_or_else(|| "versionen försvann".to_string())?
    };
    tracing::info!(hash = %row.hash, new, "ruleset version published");
    Ok(Published { row, new })
}

/// `hrobot rules publish DIR`: a folder read, tested and stored.
pub async fn publish(store: &Store, by: &By, dir: &Path) -> Result<Published, String> {
    let d = dir.to_path_buf();
    let p = tokio::task::spawn_blocking(move || prepare(&d))
        .await
        .map_err(|_| "regeluppsättningen kunde inte läsas (internt fel)".to_string())??;
    store_version(store, &by.actor(), &p, "publish").await
}

/// Makes sure the store holds the version a robot's configured folder
/// has (published as `config:ROBOT` the first time), so that its drafts
/// can be replayed. (One look-up by primary key; the pipeline asks once
/// per batch.)
pub async fn ensure_published(store: &Store, robot: &str, dir: &Path, ruleset: &Arc<Ruleset>) -> Result<(), String> {
    if store
        .ruleset_version(ruleset.hash())
        .await
        .map_err(store_error)?
        .is_some()
    {
        return Ok(());
    }
    let d = dir.to_path_buf();
    let p = tokio::task::spawn_blocking(move || prepare(&d))
        .await
        .map_err(|_| "regeluppsättningen kunde inte läsas (internt fel)".to_string())??;
    if p.ruleset.hash() != ruleset.hash() {
        return Err("robotens regelmapp ändrades under körningen; nästa omgång läser den igen".into());
    }
    store_version(store, &format!("config:{}", actor_safe(robot)), &p, "configuration").await?;
    Ok(())
}

fn actor_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// Writes a stored version's files to `DATA/rulesets/<hex>/` (once; a
/// folder whose content no longer has the hash is written again) and
/// loads it. Blocking.
pub fn load_version_files(data_dir: &Path, hash: &str, files: &[(String, String)]) -> Result<Arc<Ruleset>, String> {
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("ogiltig versionsnyckel {hash:?}"));
    }
    let root = data_dir.join("rulesets");
    let dir = root.join(hex);
    if let Ok(r) = Ruleset::load(&dir)
        && r.hash() == hash
    {
        return Ok(r);
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let tmp = root.join(format!(".{hex}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (path, content) in files {
        let rel = Path::new(path);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(format!("versionens fil {path:?} ligger utanför mappen"));
        }
        let target = tmp.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&target, content).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        // Another process (or worker) wrote the same version first.
        let _ = std::fs::remove_dir_all(&tmp);
        return match Ruleset::load(&dir) {
            Ok(r) if r.hash() == hash => Ok(r),
            _ => Err(format!("{}: {e}", dir.display())),
        };
    }
    let r = Ruleset::load(&dir).map_err(|e| format!("version {hash} laddas inte:\n{e}"))?;
    if r.hash() != hash {
        return Err(format!("version {hash}: filerna ger en annan hash ({})", r.hash()));
    }
    Ok(r)
}

/// A stored version, loaded (written to the data directory first).
pub async fn load_version(store: &Store, data_dir: &Path, hash: &str) -> Result<Arc<Ruleset>, String> {
    let files = store.ruleset_files(hash).await.map_err(store_error)?;
    if files.is_empty() {
        return Err(format!("versionen {hash} finns inte i databasen"));
    }
    let d = data_dir.to_path_buf();
    let h = hash.to_string();
    tokio::task::spawn_blocking(move || load_version_files(&d, &h, &files))
        .await
        .map_err(|_| "versionen kunde inte läsas (internt fel)".to_string())?
}

/// Why a robot has no ruleset now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub message: String,
    /// Worth trying again (the store, not the rules).
    pub retriable: bool,
}

/// The ruleset a robot uses today: the version approved for its type
/// from the latest date on or before today, else its configured folder
/// (published first, so its drafts can be replayed).
pub async fn ruleset_for_robot(
    store: &Store,
    data_dir: &Path,
    robot: &str,
    folder: &Path,
) -> Result<Arc<Ruleset>, Unavailable> {
    let (ruleset, from_folder) = in_force_for_robot(store, data_dir, folder).await?;
    if from_folder {
        ensure_published(store, robot, folder, &ruleset)
            .await
            .map_err(|message| Unavailable {
                message,
                retriable: true,
            })?;
    }
    Ok(ruleset)
}

/// [`ruleset_for_robot`] without publishing the folder: for reading what
/// a robot fetches (no draft is made from it). `true`: the folder's.
pub async fn in_force_for_robot(
    store: &Store,
    data_dir: &Path,
    folder: &Path,
) -> Result<(Arc<Ruleset>, bool), Unavailable> {
    let again = |message: String| Unavailable {
        message,
        retriable: true,
    };
    let f = folder.to_path_buf();
    let configured = tokio::task::spawn_blocking(move || Ruleset::load(&f))
        .await
        .map_err(|_| again("regeluppsättningen kunde inte läsas (internt fel)".into()))?
        .map_err(|e| Unavailable {
            message: e.to_string(),
            retriable: false,
        })?;
    let today = swedish_day(store.clock().now());
    match store
        .active_activation(configured.type_name(), today)
        .await
        .map_err(|e| again(store_error(e)))?
    {
        Some(a) if a.hash == configured.hash() => Ok((configured, false)),
        Some(a) => Ok((load_version(store, data_dir, &a.hash).await.map_err(again)?, false)),
        None => Ok((configured, true)),
    }
}

/// Who may decide an activation request.
pub fn may_decide(by: &Official) -> bool {
    by.has(Role::Regelforfattare) || by.has(Role::Administrator)
}

/// A request to use `hash` for its casework type from `valid_from`
/// (audited as `activation_requested`). The version's own tests must
/// pass; the latest shadow report of the version goes with the request.
pub async fn request_activation(
    store: &Store,
    by: &By,
    hash: &str,
    valid_from: NaiveDate,
    reason: &str,
) -> Result<i64, String> {
    if let By::Official(o) = by
        && !o.has(Role::Regelforfattare)
    {
        return Err("Bara en regelförfattare kan begära att en version börjar användas.".into());
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("Skriv varför versionen ska börja användas.".into());
    }
    if reason.chars().count() > 2_000 {
        return Err("Motiveringen får vara högst 2 000 tecken.".into());
    }
    let v = store
        .ruleset_version(hash)
        .await
        .map_err(store_error)?
        .ok_or_else(|| format!("Versionen {hash} är inte publicerad."))?;
    if v.tests_failed > 0 {
        return Err(format!(
            "Versionens egna tester misslyckades ({} av {}); rätta och publicera igen.",
            v.tests_failed,
            v.tests_failed + v.tests_passed
        ));
    }
    let today = swedish_day(store.clock().now());
    if valid_from < today {
        return Err(format!(
            "Startdagen {valid_from} har redan varit; välj i dag ({today}) eller senare."
        ));
    }
    let shadow = store
        .shadow_reports(Some(hash), 1)
        .await
        .map_err(store_error)?
        .first()
        .map(|s| s.id);
    let actor = by.actor();
    let user = match by {
        By::Official(o) => Some(o.user_id),
        _ => None,
    };
    let ev = event(EventKind::ActivationRequested, &actor, store.clock().now(), hash)?;
    let payload = json!({
        "casework_type": v.casework_type,
        "valid_from": valid_from.to_string(),
        "shadow_report": shadow,
        "name": v.name,
        "version": v.version,
    });
    let id = store
        .insert_activation(
            &NewActivation {
                casework_type: &v.casework_type,
                hash,
                valid_from,
                reason,
                requested_by: &actor,
                requested_by_user: user,
                shadow_report: shadow,
            },
            ev,
            payload,
        )
        .await
        .map_err(store_error)?;
    tracing::info!(request = id, hash, "activation requested");
    Ok(id)
}

/// What a second person does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Refuse,
    /// By the one who asked.
    Withdraw,
}

/// Decides an activation request: approve or refuse by a regelförfattare
/// or administratör who is not the one who asked (neither the account nor
/// another account of the same person); withdraw by the one who asked.
pub async fn decide_activation(
    store: &Store,
    by: &Official,
    id: i64,
    decision: Decision,
    note: Option<&str>,
) -> Result<ActivationRow, String> {
    let a = store
        .activation(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| "Begäran finns inte.".to_string())?;
    if a.state != ActivationState::Requested {
        return Err("Begäran är redan avgjord.".into());
    }
    let own = a.requested_by_user == Some(by.user_id) || a.requested_by == format!("user:{}", by.username);
    match decision {
        Decision::Withdraw if !own => return Err("Bara den som begärde kan återkalla begäran.".into()),
        Decision::Approve | Decision::Refuse => {
            if !may_decide(by) {
                return Err("Bara en regelförfattare eller administratör kan besluta om en aktivering.".into());
            }
            if own {
                return Err("Någon annan än den som begärde aktiveringen måste besluta om den (fyra ögon).".into());
            }
            if let Some(requester) = a.requested_by_user {
                let asker = store.user_by_id(requester).await.map_err(store_error)?;
                let me = store.user_by_id(by.user_id).await.map_err(store_error)?;
                if let (Some(asker), Some(me)) = (asker, me)
                    && crate::accounts::same_person(store, &asker, &me)
                {
                    return Err("Någon annan än den som begärde aktiveringen måste besluta om den (fyra ögon).".into());
                }
            }
        }
        Decision::Withdraw => {}
    }
    let (state, kind) = match decision {
        Decision::Approve => (ActivationState::Approved, EventKind::ActivationApproved),
        Decision::Refuse => (ActivationState::Refused, EventKind::ActivationRefused),
        Decision::Withdraw => (ActivationState::Withdrawn, EventKind::ActivationRefused),
    };
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if matches!(decision, Decision::Refuse) && note.is_none() {
        return Err("Skriv varför aktiveringen avslås.".into());
    }
    let actor = format!("user:{}", by.username);
    let ev = event(kind, &actor, store.clock().now(), &a.hash)?
        .with_payload(json!({
            "request": id,
            "casework_type": a.casework_type,
            "valid_from": a.valid_from.to_string(),
            "state": state.as_str(),
            "requested_by": a.requested_by,
        }))
        .map_err(|e| format!("händelsen kan inte loggas: {e}"))?;
    if !store
        .decide_activation(id, state, &actor, Some(by.user_id), note, ev)
        .await
        .map_err(store_error)?
    {
        return Err("Begäran är redan avgjord.".into());
    }
    tracing::info!(request = id, state = state.as_str(), "activation decided");
    store
        .activation(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| "Begäran finns inte.".to_string())
}

fn store_error(e: StoreError) -> String {
    tracing::error!(error = %e, "the rule workbench could not read or write the store");
    "Databasen kunde inte läsas eller skrivas; försök igen.".to_string()
}

/// A published version named by its hash or a unique prefix of at least
/// 8 hex digits (with or without `sha256:`).
pub async fn find_version(store: &Store, arg: &str) -> Result<VersionRow, String> {
    let hex = arg
        .trim()
        .strip_prefix("sha256:")
        .unwrap_or(arg.trim())
        .to_ascii_lowercase();
    if hex.len() < 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{arg:?}: ange versionens hash (minst 8 hexadecimala tecken)"));
    }
    let found: Vec<VersionRow> = store
        .ruleset_versions(None)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|v| v.hash["sha256:".len()..].starts_with(&hex))
        .collect();
    match found.len() {
        0 => Err(format!("ingen publicerad version börjar med {hex}")),
        1 => found.into_iter().next().ok_or_else(|| "versionen försvann".to_string()),
        n => Err(format!("{n} versioner börjar med {hex}; ange fler tecken")),
    }
}

/// The ruleset in force today for a casework type: the approved
/// activation's version, else the configured folder of the first robot
/// (of `robots`: name and folder) whose ruleset has that type.
pub async fn in_force(
    store: &Store,
    data_dir: &Path,
    robots: &[(String, PathBuf)],
    casework_type: &str,
) -> Result<Option<Arc<Ruleset>>, String> {
    let today = swedish_day(store.clock().now());
    if let Some(a) = store
        .active_activation(casework_type, today)
        .await
        .map_err(store_error)?
    {
        return load_version(store, data_dir, &a.hash).await.map(Some);
    }
    for (_, folder) in robots {
        if let Ok(r) = Ruleset::load(folder)
            && r.type_name() == casework_type
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// The versions robots use today from their configured folder (their
/// type has no activation in force), by hash.
pub async fn used_from_folders(store: &Store, robots: &[(String, PathBuf)]) -> Result<HashSet<String>, String> {
    let today = swedish_day(store.clock().now());
    let folders: Vec<PathBuf> = robots.iter().map(|(_, f)| f.clone()).collect();
    let loaded =
        tokio::task::spawn_blocking(move || folders.iter().filter_map(|f| Ruleset::load(f).ok()).collect::<Vec<_>>())
            .await
            .map_err(|_| "regeluppsättningarna kunde inte läsas (internt fel)".to_string())?;
    let mut out = HashSet::new();
    for r in loaded {
        if store
            .active_activation(r.type_name(), today)
            .await
            .map_err(store_error)?
            .is_none()
        {
            out.insert(r.hash().to_string());
        }
    }
    Ok(out)
}

/// Where each version stands, as the versions list shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionState {
    pub row: VersionRow,
    /// In force today for its type (an approved activation).
    pub active: bool,
    /// Approved from a later day.
    pub scheduled_from: Option<NaiveDate>,
    /// Waiting for a second person.
    pub requested: Vec<i64>,
}

/// Every published version with its state today.
pub async fn version_states(store: &Store, casework_type: Option<&str>) -> Result<Vec<VersionState>, String> {
    let versions = store.ruleset_versions(casework_type).await.map_err(store_error)?;
    let activations = store.activations(casework_type).await.map_err(store_error)?;
    let today = swedish_day(store.clock().now());
    let mut active = HashSet::new();
    let types: HashSet<&str> = versions.iter().map(|v| v.casework_type.as_str()).collect();
    for t in types {
        if let Some(a) = store.active_activation(t, today).await.map_err(store_error)? {
            active.insert(a.hash);
        }
    }
    Ok(versions
        .into_iter()
        .map(|v| {
            let mine = activations.iter().filter(|a| a.hash == v.hash);
            VersionState {
                active: active.contains(&v.hash),
                scheduled_from: mine
                    .clone()
                    .filter(|a| a.state == ActivationState::Approved && a.valid_from > today)
                    .map(|a| a.valid_from)
                    .min(),
                requested: mine
                    .filter(|a| a.state == ActivationState::Requested)
                    .map(|a| a.id)
                    .collect(),
                row: v,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_written_out_checked_by_its_hash_and_written_again_when_changed() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulesets/avgift-aldreomsorg");
        let pkg = Ruleset::package(&src).unwrap();
        let data = tempfile::tempdir().unwrap();
        let r = load_version_files(data.path(), &pkg.hash, &pkg.files).unwrap();
        assert_eq!(r.hash(), pkg.hash);
        // A file changed on disk is not used: the folder is written again
        // from the stored files.
        let hex = &pkg.hash["sha256:".len()..];
        let manifest = data.path().join("rulesets").join(hex).join("ruleset.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, text.replace("version = ", "version = \"9\"\n# ")).unwrap();
        let again = load_version_files(data.path(), &pkg.hash, &pkg.files).unwrap();
        assert_eq!(again.hash(), pkg.hash);
        assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
        // Files that do not give the hash they are stored under are refused,
        // and so is a path outside the folder.
        let other = format!("sha256:{}", "0".repeat(64));
        let e = load_version_files(data.path(), &other, &pkg.files)
            .map(|_| ())
            .unwrap_err();
        assert!(e.contains("en annan hash"), "{e}");
        let mut outside = pkg.files.clone();
        outside.push(("../utanfor.txt".into(), "x".into()));
        let e = load_version_files(data.path(), &other, &outside)
            .map(|_| ())
            .unwrap_err();
        assert!(e.contains("utanför mappen"), "{e}");
        assert!(!data.path().join("utanfor.txt").exists());
        assert!(load_version_files(data.path(), "sha256:../../etc", &pkg.files).is_err());
    }
}
