//! A folder of application files: the embedded default source.
//!
//! `*.json` files in the folder are new. After a successful store they move
//! to `processed/`; unreadable ones move to `failed/` with
//! `NAME.error.txt` beside them. A file is only moved after the case is
//! committed, so a crash in between means the file is seen again, and the
//! store's key on (source, external_id) makes that harmless.
//!
//! Nothing that looks like an application is skipped without a trace:
//! symbolic links, folders named `*.json`, files whose extension has the
//! wrong case (`UPPER.JSON`), other non-regular entries (pipes, sockets,
//! devices) and files over the size limit are listed too, and
//! [`FileInbox::fetch`] refuses them ([`ConnectorError::refused`]) with a
//! Swedish reason; the runtime records an invalid case and they are moved to
//! `failed/` with the reason beside them. Moving a link moves the link,
//! never its target. Dotfiles, the `processed/` and `failed/` folders,
//! other folders and regular files with other extensions (a sender's
//! `NAME.json.tmp` while it writes) are left alone.
//!
//! A file is opened without following links (`O_NOFOLLOW`) and the opened
//! descriptor is checked to be a regular file before it is read, so a file
//! swapped for a link between listing and reading is refused, not followed.

use crate::{Ack, ApplicationSource, ConnectorError, ItemRef};
use async_trait::async_trait;
use domain::MAX_APPLICATION_BYTES;
use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

const NAME: &str = "file_inbox";
/// Where handled items go; never listed.
const PROCESSED: &str = "processed";
const FAILED: &str = "failed";

const REFUSED_LINK: &str = "Posten i inkorgen är en symbolisk länk. Länkar följs inte och det de pekar på läses aldrig; \
     lägg in själva ansökningsfilen i inkorgen.";
const REFUSED_FOLDER: &str = "Posten i inkorgen är en mapp, inte en fil. Lägg in ansökningsfilen direkt i inkorgen.";
const REFUSED_SPECIAL: &str = "Posten i inkorgen är ingen vanlig fil (till exempel en namngiven pipe, en socket eller en enhetsfil) och läses inte.";
const REFUSED_CASE: &str = "Filnamnet slutar inte på .json med små bokstäver (till exempel .JSON) och filen har inte lästs. \
     Byt namn så att det slutar på .json och lägg in filen igen.";

fn refused_size(bytes: u64) -> String {
    format!(
        "Filen är {bytes} byte, större än gränsen för en ansökan på 1 MiB ({MAX_APPLICATION_BYTES} byte). Den har inte lästs."
    )
}

fn refused(reason: impl Into<String>) -> ConnectorError {
    ConnectorError::refused(NAME, reason)
}

/// Why an entry that is not a regular file is refused.
fn refusal_for(t: FileType) -> &'static str {
    if t.is_symlink() {
        REFUSED_LINK
    } else if t.is_dir() {
        REFUSED_FOLDER
    } else {
        REFUSED_SPECIAL
    }
}

/// `.json` in any case.
fn json_in_any_case(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 5 && b[b.len() - 5..].eq_ignore_ascii_case(b".json")
}

/// Whether a folder entry is for the robot: applications (`*.json`
/// regular files) and everything it must refuse visibly.
fn is_listed(name: &str, t: FileType) -> bool {
    if name.starts_with('.') {
        return false;
    }
    if t.is_file() || t.is_dir() {
        // Folders: only one named like an application is a mistake to
        // report; `processed/`, `failed/` and others are not items.
        return json_in_any_case(name);
    }
    // Links, pipes, sockets, devices: never a sender's temporary file.
    t.is_symlink() || t.is_fifo() || t.is_socket() || t.is_block_device() || t.is_char_device()
}

/// Opens a regular file without following a link that may have replaced
/// it since it was listed (`O_NOFOLLOW`), without blocking on a pipe
/// (`O_NONBLOCK`), and checks the opened descriptor itself (`fstat`): what
/// is read is what was checked.
async fn open_regular(path: &Path) -> Result<(tokio::fs::File, std::fs::Metadata), ConnectorError> {
    let mut opts = tokio::fs::OpenOptions::new();
    opts.read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    let file = match opts.open(path).await {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(refused(REFUSED_LINK)),
        Err(e) => return Err(ConnectorError::from_io(NAME, "read file", &e)),
    };
    let meta = file
        .metadata()
        .await
        .map_err(|e| ConnectorError::from_io(NAME, "read file", &e))?;
    if !meta.file_type().is_file() {
        return Err(refused(refusal_for(meta.file_type())));
    }
    Ok((file, meta))
}

#[derive(Debug, Clone)]
pub struct FileInbox {
    name: String,
    dir: PathBuf,
}

impl FileInbox {
    /// `name` identifies the source in the store (e.g. the robot's name).
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> FileInbox {
        FileInbox {
            name: name.into(),
            dir: dir.into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, item: &ItemRef) -> Result<PathBuf, ConnectorError> {
        let valid = !item.id.is_empty()
            && !item.id.contains(['/', '\\', '\0'])
            && item.id != "."
            && item.id != ".."
            && item.id != PROCESSED
            && item.id != FAILED;
        if !valid {
            return Err(ConnectorError::permanent(NAME, "not an inbox file name"));
        }
        Ok(self.dir.join(&item.id))
    }

    /// `processed/` or `failed/`, created if missing; refused if it is a
    /// link or not a folder (so nothing is ever moved through a link).
    async fn folder(&self, name: &str) -> Result<PathBuf, ConnectorError> {
        let dir = self.dir.join(name);
        match tokio::fs::symlink_metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(dir),
            Ok(_) => Err(ConnectorError::permanent(
                NAME,
                format!("the inbox's {name}/ is not a folder"),
            )),
            // Created readable by the service alone (0700).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match crate::private::create_dir_all(&dir).await {
                Ok(()) => Ok(dir),
                Err(e) => Err(ConnectorError::from_io(NAME, "create folder", &e)),
            },
            Err(e) => Err(ConnectorError::from_io(NAME, "create folder", &e)),
        }
    }

    async fn move_to(&self, item: &ItemRef, folder: &str) -> Result<(), ConnectorError> {
        let from = self.path(item)?;
        let to = self.folder(folder).await?.join(&item.id);
        // rename(2) moves the entry itself: a link is moved, not its target.
        match tokio::fs::rename(&from, &to).await {
            // The application keeps the mode it was dropped with: make it
            // ours alone. A file another account owns cannot be changed, and
            // a link is left as it is (its target is never touched); the
            // 0700 folder it is now in keeps others out all the same.
            Ok(()) => match tokio::fs::symlink_metadata(&to).await {
                Ok(m) if m.file_type().is_symlink() => Ok(()),
                _ => match crate::private::restrict(&to).await {
                    Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
                        Err(ConnectorError::from_io(NAME, "restrict file", &e))
                    }
                    _ => Ok(()),
                },
            },
            // Already moved by an earlier acknowledgement: idempotent.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tokio::fs::symlink_metadata(&to).await.is_ok() => {
                Ok(())
            }
            Err(e) => Err(ConnectorError::from_io(NAME, "move file", &e)),
        }
    }

    /// Writes `failed/NAME.error.txt`, never through a link planted there.
    async fn write_note(&self, item: &ItemRef, reason: &str) -> Result<(), ConnectorError> {
        let note = self.folder(FAILED).await?.join(format!("{}.error.txt", item.id));
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        let mut f = opts
            .open(&note)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "write error note", &e))?;
        use tokio::io::AsyncWriteExt;
        f.write_all(format!("{reason}\n").as_bytes())
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "write error note", &e))?;
        f.flush()
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "write error note", &e))
    }
}

#[async_trait]
impl ApplicationSource for FileInbox {
    fn name(&self) -> &str {
        &self.name
    }

    async fn list_new(&self, limit: usize) -> Result<Vec<ItemRef>, ConnectorError> {
        let mut rd = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "list inbox", &e))?;
        let mut names = Vec::new();
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "list inbox", &e))?
        {
            // The entry's own type (a link is a link, not its target).
            let Ok(t) = entry.file_type().await else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(
                    connector = NAME,
                    "an inbox entry whose name is not UTF-8 is left in place; rename it"
                );
                continue;
            };
            if is_listed(&name, t) && self.path(&ItemRef { id: name.clone() }).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        names.truncate(limit);
        Ok(names.into_iter().map(|id| ItemRef { id }).collect())
    }

    async fn fetch(&self, item: &ItemRef) -> Result<Vec<u8>, ConnectorError> {
        let path = self.path(item)?;
        // What the entry is, without following it: special files are never
        // opened at all.
        let entry = tokio::fs::symlink_metadata(&path)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "read file", &e))?;
        if !entry.file_type().is_file() {
            return Err(refused(refusal_for(entry.file_type())));
        }
        if !item.id.ends_with(".json") {
            return Err(refused(REFUSED_CASE));
        }
        let (file, meta) = open_regular(&path).await?;
        let limit = u64::try_from(MAX_APPLICATION_BYTES).unwrap_or(u64::MAX);
        if meta.len() > limit {
            return Err(refused(refused_size(meta.len())));
        }
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(limit + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "read file", &e))?;
        if buf.len() > MAX_APPLICATION_BYTES {
            // It grew while it was read.
            let now = u64::try_from(buf.len()).unwrap_or(u64::MAX);
            return Err(refused(refused_size(now)));
        }
        Ok(buf)
    }

    async fn acknowledge(&self, item: &ItemRef, ack: &Ack) -> Result<(), ConnectorError> {
        match ack {
            Ack::Accepted => self.move_to(item, PROCESSED).await,
            Ack::Rejected { reason } => {
                self.write_note(item, reason).await?;
                self.move_to(item, FAILED).await
            }
        }
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        let meta = tokio::fs::metadata(&self.dir)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "inbox folder", &e))?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(ConnectorError::permanent(NAME, "the inbox is not a folder"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_fetches_and_files_away() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("a.json"), b"[1]").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let inbox = FileInbox::new("inbox", dir.path());
        inbox.health().await.unwrap();
        let items = inbox.list_new(10).await.unwrap();
        assert_eq!(
            items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["a.json", "b.json"]
        );
        assert_eq!(inbox.fetch(&items[0]).await.unwrap(), b"[1]");
        inbox.acknowledge(&items[0], &Ack::Accepted).await.unwrap();
        // Idempotent.
        inbox.acknowledge(&items[0], &Ack::Accepted).await.unwrap();
        inbox
            .acknowledge(
                &items[1],
                &Ack::Rejected {
                    reason: "not JSON".into(),
                },
            )
            .await
            .unwrap();
        assert!(dir.path().join("processed/a.json").exists());
        assert!(dir.path().join("failed/b.json").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("failed/b.json.error.txt")).unwrap(),
            "not JSON\n"
        );
        assert!(inbox.list_new(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn refuses_paths_outside_the_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = FileInbox::new("inbox", dir.path());
        let e = inbox
            .fetch(&ItemRef {
                id: "../etc/passwd.json".into(),
            })
            .await
            .unwrap_err();
        assert!(!e.is_retriable());
        let e = inbox
            .fetch(&ItemRef {
                id: "missing.json".into(),
            })
            .await
            .unwrap_err();
        assert!(!e.is_retriable());
    }

    /// Every kind of entry that is not an application file is listed,
    /// refused with its reason and filed away in `failed/`; links are
    /// moved as links and their targets never read.
    #[tokio::test]
    async fn entries_that_are_not_application_files_are_refused_visibly() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("master.key");
        std::fs::write(&secret, b"secret").unwrap();
        let d = dir.path();
        std::os::unix::fs::symlink(&secret, d.join("link.json")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", d.join("dangling.json")).unwrap();
        std::fs::create_dir(d.join("folder.json")).unwrap();
        std::fs::write(d.join("UPPER.JSON"), b"{}").unwrap();
        std::fs::write(d.join("ok.json"), b"{}").unwrap();
        let fifo = std::process::Command::new("mkfifo").arg(d.join("pipe.json")).status();
        let has_fifo = fifo.is_ok_and(|s| s.success());
        // Left alone: dotfiles, a sender's temporary file, other folders.
        std::fs::write(d.join(".hidden.json"), b"{}").unwrap();
        std::fs::write(d.join("ok.json.tmp"), b"{").unwrap();
        std::fs::create_dir(d.join("archive")).unwrap();
        std::fs::create_dir(d.join("processed")).unwrap();

        let inbox = FileInbox::new("inbox", d);
        let listed: Vec<String> = inbox.list_new(100).await.unwrap().into_iter().map(|i| i.id).collect();
        let mut expected = vec!["UPPER.JSON", "dangling.json", "folder.json", "link.json", "ok.json"];
        if has_fifo {
            expected.push("pipe.json");
        }
        assert_eq!(listed, expected);

        let check = |id: &'static str, reason: &'static str| {
            let inbox = inbox.clone();
            async move {
                let item = ItemRef { id: id.into() };
                let e = inbox.fetch(&item).await.unwrap_err();
                assert!(e.is_refused(), "{id}: {e}");
                assert!(!e.is_retriable());
                assert_eq!(e.message, reason, "{id}");
                inbox
                    .acknowledge(
                        &item,
                        &Ack::Rejected {
                            reason: e.message.clone(),
                        },
                    )
                    .await
                    .unwrap();
                // Idempotent.
                inbox
                    .acknowledge(
                        &item,
                        &Ack::Rejected {
                            reason: e.message.clone(),
                        },
                    )
                    .await
                    .unwrap();
            }
        };
        check("link.json", REFUSED_LINK).await;
        check("dangling.json", REFUSED_LINK).await;
        check("folder.json", REFUSED_FOLDER).await;
        check("UPPER.JSON", REFUSED_CASE).await;
        if has_fifo {
            check("pipe.json", REFUSED_SPECIAL).await;
        }
        assert_eq!(inbox.fetch(&ItemRef { id: "ok.json".into() }).await.unwrap(), b"{}");

        let failed = d.join("failed");
        // The link itself moved, still a link, pointing where it did; the
        // target is where it was, unchanged.
        let moved = std::fs::symlink_metadata(failed.join("link.json")).unwrap();
        assert!(moved.file_type().is_symlink());
        assert_eq!(std::fs::read_link(failed.join("link.json")).unwrap(), secret);
        assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
        assert!(
            std::fs::symlink_metadata(failed.join("dangling.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(failed.join("folder.json").is_dir());
        assert_eq!(std::fs::read(failed.join("UPPER.JSON")).unwrap(), b"{}");
        assert_eq!(
            std::fs::read_to_string(failed.join("link.json.error.txt")).unwrap(),
            format!("{REFUSED_LINK}\n")
        );
        assert_eq!(
            std::fs::read_to_string(failed.join("UPPER.JSON.error.txt")).unwrap(),
            format!("{REFUSED_CASE}\n")
        );
        let left: Vec<String> = inbox.list_new(100).await.unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(left, ["ok.json"]);
        assert!(d.join(".hidden.json").exists() && d.join("ok.json.tmp").exists() && d.join("archive").is_dir());
    }

    /// A file swapped for a link after it was listed is refused, not followed.
    #[tokio::test]
    async fn a_file_swapped_for_a_link_after_listing_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("passwd");
        std::fs::write(&secret, b"root:x:0:0").unwrap();
        let file = dir.path().join("a.json");
        std::fs::write(&file, b"{}").unwrap();
        let inbox = FileInbox::new("inbox", dir.path());
        let items = inbox.list_new(10).await.unwrap();
        assert_eq!(items.len(), 1);
        // The swap, between listing and reading.
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&secret, &file).unwrap();
        let e = inbox.fetch(&items[0]).await.unwrap_err();
        assert!(e.is_refused());
        assert_eq!(e.message, REFUSED_LINK);
        assert!(!e.to_string().contains("root"));
        // The narrower window, between the type check and the open: the
        // open itself refuses to follow the link, and checks the descriptor.
        let e = open_regular(&file).await.unwrap_err();
        assert!(e.is_refused());
        assert_eq!(e.message, REFUSED_LINK);
        let e = open_regular(dir.path()).await.unwrap_err();
        assert_eq!(e.message, REFUSED_FOLDER);
        inbox
            .acknowledge(
                &items[0],
                &Ack::Rejected {
                    reason: e.message.clone(),
                },
            )
            .await
            .unwrap();
        assert!(
            std::fs::symlink_metadata(dir.path().join("failed/a.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&secret).unwrap(), b"root:x:0:0");
    }

    /// An error note is never written through a link planted in `failed/`.
    #[tokio::test]
    async fn the_error_note_does_not_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::fs::create_dir(dir.path().join("failed")).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("failed/b.json.error.txt")).unwrap();
        std::fs::write(dir.path().join("b.json"), b"x").unwrap();
        let inbox = FileInbox::new("inbox", dir.path());
        let item = ItemRef { id: "b.json".into() };
        assert!(
            inbox
                .acknowledge(&item, &Ack::Rejected { reason: "x".into() })
                .await
                .is_err()
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    /// Review I-6: the message states the file's real size and the real limit.
    #[tokio::test]
    async fn an_oversized_file_is_refused_with_its_real_size() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("big.json")).unwrap();
        f.set_len(20 * 1024 * 1024).unwrap();
        let inbox = FileInbox::new("inbox", dir.path());
        let e = inbox.fetch(&ItemRef { id: "big.json".into() }).await.unwrap_err();
        assert!(e.is_refused());
        assert_eq!(
            e.message,
            "Filen är 20971520 byte, större än gränsen för en ansökan på 1 MiB (1048576 byte). Den har inte lästs."
        );
        // Exactly at the limit is read.
        f.set_len(1024 * 1024).unwrap();
        assert_eq!(
            inbox.fetch(&ItemRef { id: "big.json".into() }).await.unwrap().len(),
            1024 * 1024
        );
    }

    #[tokio::test]
    async fn a_missing_inbox_is_unhealthy() {
        let inbox = FileInbox::new("inbox", "/nonexistent/inbox");
        assert!(inbox.health().await.is_err());
    }
}
