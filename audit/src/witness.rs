//! Checkpoints kept outside the database: a witness directory.
//!
//! Everything in the database can be rewritten by whoever controls the
//! database, including a *consistent* rollback (drop the triggers, delete
//! the newest events, their nodes and the checkpoints that cover them,
//! rewrite the head): the shorter log then verifies on its own. What such a
//! rollback cannot undo is a signed checkpoint that was copied somewhere
//! else before it happened. `hrobot audit verify --against` (and plain
//! `verify` when a witness directory is configured) checks that the log is
//! a consistent extension of the newest checkpoint found there.
//!
//! The directory is append-only by construction: each checkpoint goes to a
//! new file `SIZE.checkpoint` (the tree size, 20 digits), created with
//! `O_EXCL` (never overwritten), mode 0600, written in full and fsynced,
//! and then the directory is fsynced. The directory is created 0700. If a
//! file of that name already holds something else (a write cut short by a
//! crash, or — which would be alarming — a different checkpoint of the same
//! size), the checkpoint goes to `SIZE.N.checkpoint` instead and the old file
//! is left as it is. Production puts the directory on another machine or
//! mount than the database (see `ops/runbooks/audit-keys.md`).
//!
//! Writing the witness never holds up the database: the runtime copies the
//! checkpoints that are already committed, after the fact, from its own
//! task ([`Witness::publish`]); a failure is logged and the next round
//! tries again from the witness's newest checkpoint.

use crate::checkpoint::SignedCheckpoint;
use crate::note::NoteVerifier;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A checkpoint file is a signed note of a few hundred bytes; anything much
/// larger is not one.
const MAX_FILE_BYTES: u64 = 64 * 1024;
const SUFFIX: &str = ".checkpoint";
/// How many `SIZE.N.checkpoint` alternatives are tried before giving up.
const MAX_ALTERNATIVES: u32 = 9;

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("witness {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("witness {path}: not a checkpoint signed by a trusted key: {why}")]
    Invalid { path: String, why: String },
    #[error("witness {path}: {what}")]
    Conflict { path: String, what: String },
}

fn io(path: &Path, error: std::io::Error) -> WitnessError {
    WitnessError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// A witness file that could not be used (unreadable, unsigned, wrongly
/// signed): reported, never trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
}

/// The newest usable checkpoint in a witness directory.
#[derive(Debug, Clone)]
pub struct Newest {
    /// `None` if the directory holds no usable checkpoint.
    pub found: Option<(PathBuf, SignedCheckpoint)>,
    /// Files with a larger tree size in their name that could not be used.
    pub skipped: Vec<Skipped>,
}

/// Reads and opens one checkpoint file: its signature must verify with a
/// key in `known` whose name is the checkpoint's origin.
pub fn read_checkpoint(path: &Path, known: &[NoteVerifier]) -> Result<SignedCheckpoint, WitnessError> {
    let bytes = read_small(path)?;
    SignedCheckpoint::open(&bytes, known).map_err(|e| WitnessError::Invalid {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

fn read_small(path: &Path) -> Result<Vec<u8>, WitnessError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(WitnessError::Invalid {
            path: path.display().to_string(),
            why: "larger than any checkpoint".into(),
        });
    }
    Ok(bytes)
}

/// The tree size a witness file's name claims (`SIZE.checkpoint` or
/// `SIZE.N.checkpoint`).
fn size_in_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?;
    let size = stem.split_once('.').map_or(stem, |(size, n)| {
        if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() {
            size
        } else {
            ""
        }
    });
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    size.parse().ok()
}

/// The tree size of a signed checkpoint note, without checking its
/// signature.
fn unverified_size(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (body, sigs) = text.split_once("\n\n")?;
    if !sigs.starts_with('\u{2014}') || !sigs.ends_with('\n') {
        return None;
    }
    crate::checkpoint::Checkpoint::parse(&format!("{body}\n"))
        .ok()
        .map(|c| c.size)
}

fn file_name(size: u64, alternative: u32) -> String {
    if alternative == 0 {
        format!("{size:020}{SUFFIX}")
    } else {
        format!("{size:020}.{alternative}{SUFFIX}")
    }
}

/// A witness directory.
#[derive(Debug, Clone)]
pub struct WitnessDir {
    path: PathBuf,
}

impl WitnessDir {
    pub fn new(path: impl Into<PathBuf>) -> WitnessDir {
        WitnessDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The checkpoint files, by the tree size in their names, largest first.
    fn files(&self) -> Result<Vec<(u64, PathBuf)>, WitnessError> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(|e| io(&self.path, e))? {
            let entry = entry.map_err(|e| io(&self.path, e))?;
            let name = entry.file_name();
            if let Some(size) = name.to_str().and_then(size_in_name) {
                files.push((size, entry.path()));
            }
        }
        files.sort_by(|a, b| b.cmp(a));
        Ok(files)
    }

    /// The largest tree size among the files that hold a checkpoint of the
    /// size in their name (signatures unchecked; a file cut short by a
    /// crash does not count): where the writer continues from.
    pub fn newest_size(&self) -> Result<Option<u64>, WitnessError> {
        if !self.path.exists() {
            return Ok(None);
        }
        for (size, path) in self.files()? {
            if read_small(&path).ok().and_then(|b| unverified_size(&b)) == Some(size) {
                return Ok(Some(size));
            }
        }
        Ok(None)
    }

    /// The newest checkpoint whose signature verifies with `known` (and
    /// whose size is the one in its file name). Files that do not open are
    /// listed in [`Newest::skipped`]. A missing directory is an error: a
    /// configured witness that cannot be read must not look like an empty
    /// one.
    pub fn newest(&self, known: &[NoteVerifier]) -> Result<Newest, WitnessError> {
        let mut skipped = Vec::new();
        for (size, path) in self.files()? {
            match read_checkpoint(&path, known) {
                Ok(cp) if cp.checkpoint.size == size => {
                    return Ok(Newest {
                        found: Some((path, cp)),
                        skipped,
                    });
                }
                Ok(cp) => skipped.push(Skipped {
                    path,
                    why: format!(
                        "its name says tree size {size}, the checkpoint says {}",
                        cp.checkpoint.size
                    ),
                }),
                Err(e) => skipped.push(Skipped {
                    path,
                    why: match e {
                        WitnessError::Invalid { why, .. } => why,
                        other => other.to_string(),
                    },
                }),
            }
        }
        Ok(Newest { found: None, skipped })
    }

    /// Creates the directory (0700) if it is missing; warns if an existing
    /// one is open to group or others.
    pub fn ensure(&self) -> Result<(), WitnessError> {
        if self.path.is_dir() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(meta) = std::fs::metadata(&self.path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(path = %self.path.display(), "the audit witness directory is open to group or others; chmod 700 it");
                }
            }
            return Ok(());
        }
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&self.path).map_err(|e| io(&self.path, e))
    }

    /// Writes one checkpoint to a new file. Returns the file, or `None` if
    /// exactly this checkpoint is already there.
    pub fn write(&self, cp: &SignedCheckpoint) -> Result<Option<PathBuf>, WitnessError> {
        self.ensure()?;
        let size = cp.checkpoint.size;
        for alternative in 0..=MAX_ALTERNATIVES {
            let path = self.path.join(file_name(size, alternative));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(mut file) => {
                    file.write_all(cp.note.as_bytes()).map_err(|e| io(&path, e))?;
                    file.sync_all().map_err(|e| io(&path, e))?;
                    drop(file);
                    sync_dir(&self.path)?;
                    return Ok(Some(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if read_small(&path).is_ok_and(|b| b == cp.note.as_bytes()) {
                        return Ok(None);
                    }
                    tracing::warn!(
                        size,
                        file = %path.display(),
                        "the audit witness already has a different file for this tree size; leaving it and writing beside it"
                    );
                }
                Err(e) => return Err(io(&path, e)),
            }
        }
        Err(WitnessError::Conflict {
            path: self.path.display().to_string(),
            what: format!(
                "{} files for tree size {size} already hold something else",
                MAX_ALTERNATIVES + 1
            ),
        })
    }
}

fn sync_dir(path: &Path) -> Result<(), WitnessError> {
    #[cfg(unix)]
    {
        std::fs::File::open(path)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The writer's side: remembers how far the witness is, so each round only
/// writes what is new. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct Witness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: WitnessDir,
    /// The newest tree size written (or found), once known.
    newest: Mutex<Option<Option<u64>>>,
}

impl Witness {
    pub fn new(dir: WitnessDir) -> Witness {
        Witness {
            inner: Arc::new(Inner {
                dir,
                newest: Mutex::new(None),
            }),
        }
    }

    pub fn dir(&self) -> &WitnessDir {
        &self.inner.dir
    }

    /// The newest tree size in the witness (read from the directory the
    /// first time). Blocking file-system work runs on a blocking thread.
    pub async fn newest_size(&self) -> Result<Option<u64>, WitnessError> {
        let inner = self.inner.clone();
        run_blocking(move || inner.newest_size()).await
    }

    /// Writes the checkpoints of `pending` that are newer than the witness,
    /// oldest first, each to its own file. Returns how many were written.
    /// On an error the ones before it are written and the rest are tried
    /// again next time.
    pub async fn publish(&self, pending: Vec<SignedCheckpoint>) -> Result<usize, WitnessError> {
        let inner = self.inner.clone();
        run_blocking(move || inner.publish(&pending)).await
    }
}

impl Inner {
    fn newest_size(&self) -> Result<Option<u64>, WitnessError> {
        let mut newest = self.newest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = *newest {
            return Ok(known);
        }
        let found = self.dir.newest_size()?;
        *newest = Some(found);
        Ok(found)
    }

    fn publish(&self, pending: &[SignedCheckpoint]) -> Result<usize, WitnessError> {
        let mut written = 0;
        let mut sorted: Vec<&SignedCheckpoint> = pending.iter().collect();
        sorted.sort_by_key(|c| c.checkpoint.size);
        for cp in sorted {
            let newest = self.newest_size()?;
            if newest.is_some_and(|n| cp.checkpoint.size <= n) {
                continue;
            }
            if self.dir.write(cp)?.is_some() {
                written += 1;
            }
            let mut slot = self.newest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *slot = Some(Some(cp.checkpoint.size));
        }
        Ok(written)
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WitnessError> + Send + 'static,
) -> Result<T, WitnessError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(WitnessError::Io {
            path: String::new(),
            error: std::io::Error::other(format!("the witness thread failed: {e}")),
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::hash::leaf_hash;
    use crate::note::NoteSigner;

    fn signed(signer: &NoteSigner, size: u64) -> SignedCheckpoint {
        Checkpoint::new(signer.name(), size, leaf_hash(&size.to_be_bytes()))
            .sign(signer)
            .unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(size_in_name("00000000000000000127.checkpoint"), Some(127));
        assert_eq!(size_in_name("00000000000000000127.2.checkpoint"), Some(127));
        assert_eq!(size_in_name("127.x.checkpoint"), None);
        assert_eq!(size_in_name("notes.txt"), None);
        assert_eq!(size_in_name(".checkpoint"), None);
    }

    #[tokio::test]
    async fn writes_new_files_only_and_finds_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = WitnessDir::new(tmp.path().join("w"));
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let known = [signer.verifier()];
        let w = Witness::new(dir.clone());
        assert_eq!(w.newest_size().await.unwrap(), None);
        assert_eq!(
            w.publish(vec![signed(&signer, 5), signed(&signer, 9)]).await.unwrap(),
            2
        );
        // Already there: nothing new.
        assert_eq!(w.publish(vec![signed(&signer, 9)]).await.unwrap(), 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(dir.path()), 0o700);
            assert_eq!(mode(&dir.path().join(file_name(9, 0))), 0o600);
        }
        let newest = dir.newest(&known).unwrap();
        assert_eq!(newest.found.unwrap().1.checkpoint.size, 9);

        // A file of the same name with other content is never overwritten.
        let path = dir.path().join(file_name(12, 0));
        std::fs::write(&path, b"half a chec").unwrap();
        // A second writer that has not seen it.
        let w2 = Witness::new(WitnessDir::new(dir.path()));
        *w2.inner.newest.lock().unwrap() = Some(Some(9));
        assert_eq!(w2.publish(vec![signed(&signer, 12)]).await.unwrap(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), b"half a chec");
        let newest = dir.newest(&known).unwrap();
        assert_eq!(newest.found.as_ref().unwrap().0, dir.path().join(file_name(12, 1)));
        assert_eq!(newest.skipped.len(), 1);

        // A checkpoint by another key is skipped, not trusted.
        let stranger = NoteSigner::generate("example.com/log").unwrap();
        dir.write(&signed(&stranger, 20)).unwrap();
        let newest = dir.newest(&known).unwrap();
        assert_eq!(newest.found.unwrap().1.checkpoint.size, 12);
        assert!(newest.skipped.iter().any(|s| s.path.ends_with(file_name(20, 0))));
    }

    #[test]
    fn a_missing_directory_is_an_error_when_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = WitnessDir::new(tmp.path().join("absent"));
        assert!(dir.newest(&[]).is_err());
        assert_eq!(dir.newest_size().unwrap(), None);
    }
}
