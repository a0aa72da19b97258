//! The data directory holds personal data (the SQLite database and its
//! `-wal`/`-shm`, letters, applications, keys), so it is the service's
//! alone: the process umask is 0077, the directory 0700, its files 0600.
//!
//! The umask is set through `rustix` (a safe wrapper over the system call,
//! already in our dependency tree through tempfile) because the workspace
//! forbids `unsafe` and std has no umask. On other platforms this module
//! does nothing.

use std::io;
use std::path::Path;

/// Sets the process umask to 0077: every file and folder the process
/// creates from now on is for its owner only. Called first thing by the
/// command line, before any verb writes.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        let _ = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// What [`secure_data_dir`] had to change.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tightened {
    pub dirs: usize,
    pub files: usize,
}

/// What hrobot keeps at the top of its data directory. A directory with
/// none of them is not recognised as ours and is not changed (a data
/// directory set to `/var/lib` or `/tmp` by mistake must not be closed).
const OURS: &[&str] = &["hrobot.sqlite", "master.key", "audit-signing.key", "outbox"];
/// Top-level files that are tightened.
const FILES: &[&str] = &[
    "hrobot.sqlite",
    "hrobot.sqlite-wal",
    "hrobot.sqlite-shm",
    "hrobot.sqlite-journal",
    "master.key",
    "audit-signing.key",
];
/// Folders whose whole contents are ours. Not `inbox` itself: another
/// account may drop applications there; what hrobot has filed away is ours.
const TREES: &[&str] = &["outbox", "inbox/processed", "inbox/failed"];

/// Creates the data directory (0700) if it is missing. If it exists and is
/// recognised as hrobot's, takes group and world access away from it, from
/// the database and key files, and from everything in `outbox/`,
/// `inbox/processed/` and `inbox/failed/` (folders 0700, files 0600), and
/// logs how many it changed — counts only, no paths, as file names may
/// carry personal data. A directory with the sticky bit (`/tmp`), one not
/// recognised as ours, and symbolic links are left as they are (with a
/// warning if the directory is open).
pub fn secure_data_dir(dir: &Path) -> io::Result<Tightened> {
    let mut t = Tightened::default();
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mode = std::fs::symlink_metadata(dir)?.permissions().mode();
        let ours = OURS.iter().any(|n| dir.join(n).exists());
        let shared = mode & 0o1000 != 0;
        if mode & 0o077 != 0 {
            if ours && !shared {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
                t.dirs += 1;
            } else if !ours && dir.read_dir()?.next().is_some() {
                tracing::warn!(
                    "the data directory is readable by others and not recognised as hrobot's: left as it is"
                );
            } else if shared {
                tracing::warn!("the data directory is a shared folder (sticky bit): left as it is");
            } else {
                // Empty: ours from now on.
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
                t.dirs += 1;
            }
        }
        if ours && !shared {
            for f in FILES {
                tighten_file(&dir.join(f), &mut t)?;
            }
            for sub in TREES {
                tighten(&dir.join(sub), &mut t, 0)?;
            }
        }
        if t != Tightened::default() {
            tracing::warn!(
                dirs = t.dirs,
                files = t.files,
                "the data directory was readable by others: group and world access removed"
            );
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(t)
}

/// A regular file (not a link) loses group and world access.
#[cfg(unix)]
fn tighten_file(path: &Path, t: &mut Tightened) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let mode = meta.permissions().mode();
    if meta.is_file() && mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        t.files += 1;
    }
    Ok(())
}

#[cfg(unix)]
fn tighten(dir: &Path, t: &mut Tightened, depth: usize) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Ok(());
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        t.dirs += 1;
    }
    // Deep enough for outbox/new; no runaway on odd trees.
    if depth >= 4 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            tighten(&path, t, depth + 1)?;
        } else if ft.is_file() {
            tighten_file(&path, t)?;
        }
    }
    Ok(())
}

/// The file of a `sqlite:` URL; `None` for another engine's URL and for an
/// in-memory database.
pub fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Creates the SQLite database file 0600 before SQLite opens it, so the
/// file and the `-wal` and `-shm` files SQLite gives the same mode are the
/// owner's alone even without the umask (tests, embedding).
pub fn precreate_sqlite(url: &str) -> io::Result<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    let path = Path::new(path);
    if path.exists() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map(drop)
            .or_else(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_open_data_directory_is_tightened() {
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let set = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data");
        std::fs::create_dir_all(d.join("outbox/new")).unwrap();
        std::fs::create_dir_all(d.join("inbox/processed")).unwrap();
        std::fs::write(d.join("hrobot.sqlite"), "x").unwrap();
        std::fs::write(d.join("outbox/new/1.eml"), "x").unwrap();
        std::fs::write(d.join("inbox/processed/a.json"), "x").unwrap();
        std::fs::write(d.join("inbox/ny.json"), "x").unwrap();
        for p in [
            &d,
            &d.join("outbox"),
            &d.join("outbox/new"),
            &d.join("inbox"),
            &d.join("inbox/processed"),
        ] {
            set(p, 0o755);
        }
        for p in [
            "hrobot.sqlite",
            "outbox/new/1.eml",
            "inbox/processed/a.json",
            "inbox/ny.json",
        ] {
            set(&d.join(p), 0o644);
        }
        let changed = secure_data_dir(&d).unwrap();
        assert_eq!(changed, Tightened { dirs: 4, files: 3 });
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join("outbox/new")), 0o700);
        assert_eq!(mode(&d.join("hrobot.sqlite")), 0o600);
        assert_eq!(mode(&d.join("outbox/new/1.eml")), 0o600);
        assert_eq!(mode(&d.join("inbox/processed/a.json")), 0o600);
        // The inbox itself may be another account's drop folder.
        assert_eq!(mode(&d.join("inbox")), 0o755);
        assert_eq!(mode(&d.join("inbox/ny.json")), 0o644);
        assert_eq!(secure_data_dir(&d).unwrap(), Tightened::default(), "nothing left to do");
        let fresh = t.path().join("new/data");
        secure_data_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        // A folder that is not ours (a mistaken data_dir) is not closed.
        let other = t.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("their.txt"), "x").unwrap();
        set(&other, 0o755);
        set(&other.join("their.txt"), 0o644);
        assert_eq!(secure_data_dir(&other).unwrap(), Tightened::default());
        assert_eq!(mode(&other), 0o755);
        assert_eq!(mode(&other.join("their.txt")), 0o644);
    }

    #[test]
    fn the_database_file_is_created_0600() {
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("db/hrobot.sqlite");
        precreate_sqlite(&format!("sqlite://{}?mode=rwc", db.display())).unwrap();
        assert_eq!(mode(&db), 0o600);
        precreate_sqlite("sqlite::memory:").unwrap();
        precreate_sqlite("postgres://x").unwrap();
    }
}
