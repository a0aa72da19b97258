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

/// Creates the data directory (0700) if it is missing; otherwise takes group
/// and world access away from it and from everything in it (folders 0700,
/// files 0600), and logs how many it changed — counts only, no paths, as
/// file names may carry personal data. Symbolic links are left alone.
pub fn secure_data_dir(dir: &Path) -> io::Result<Tightened> {
    let mut t = Tightened::default();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        tighten(dir, &mut t, 0)?;
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

#[cfg(unix)]
fn tighten(dir: &Path, t: &mut Tightened, depth: usize) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        t.dirs += 1;
    }
    // Deep enough for inbox/processed and outbox/new; no runaway on odd trees.
    if depth >= 8 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            tighten(&path, t, depth + 1)?;
        } else if ft.is_file() {
            let mode = entry.metadata()?.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o700))?;
                t.files += 1;
            }
        }
    }
    Ok(())
}

/// Creates the SQLite database file 0600 before SQLite opens it, so the
/// file and the `-wal` and `-shm` files SQLite gives the same mode are the
/// owner's alone even without the umask (tests, embedding).
pub fn precreate_sqlite(url: &str) -> io::Result<()> {
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
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
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data");
        std::fs::create_dir_all(d.join("outbox/new")).unwrap();
        std::fs::write(d.join("hrobot.sqlite"), "x").unwrap();
        std::fs::write(d.join("outbox/new/1.eml"), "x").unwrap();
        for p in [&d, &d.join("outbox"), &d.join("outbox/new")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for p in [d.join("hrobot.sqlite"), d.join("outbox/new/1.eml")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let changed = secure_data_dir(&d).unwrap();
        assert_eq!(changed, Tightened { dirs: 3, files: 2 });
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join("outbox/new")), 0o700);
        assert_eq!(mode(&d.join("hrobot.sqlite")), 0o600);
        assert_eq!(mode(&d.join("outbox/new/1.eml")), 0o600);
        assert_eq!(secure_data_dir(&d).unwrap(), Tightened::default(), "nothing left to do");
        let fresh = t.path().join("new/data");
        secure_data_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
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
