//! A folder of application files: the embedded default source.
//!
//! `*.json` files in the folder are new. After a successful store they move
//! to `processed/`; unreadable ones move to `failed/` with
//! `NAME.error.txt` beside them. A file is only moved after the case is
//! committed, so a crash in between means the file is seen again, and the
//! store's key on (source, external_id) makes that harmless.

use crate::{Ack, ApplicationSource, ConnectorError, ItemRef};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

const NAME: &str = "file_inbox";
/// Largest file read; bigger ones are refused by the application parser anyway.
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

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
            && !item.id.contains(['/', '\\'])
            && item.id != "."
            && item.id != ".."
            && item.id.ends_with(".json");
        if !valid {
            return Err(ConnectorError::permanent(NAME, "not an inbox file name"));
        }
        Ok(self.dir.join(&item.id))
    }

    async fn move_to(&self, item: &ItemRef, folder: &str) -> Result<(), ConnectorError> {
        let from = self.path(item)?;
        let to_dir = self.dir.join(folder);
        crate::private::create_dir_all(&to_dir)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "create folder", &e))?;
        match tokio::fs::rename(&from, to_dir.join(&item.id)).await {
            // The application keeps the mode it was dropped with: make it
            // ours alone. A file another account owns cannot be changed;
            // the 0700 folder it is now in keeps others out all the same.
            Ok(()) => match crate::private::restrict(&to_dir.join(&item.id)).await {
                Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
                    Err(ConnectorError::from_io(NAME, "restrict file", &e))
                }
                _ => Ok(()),
            },
            // Already moved by an earlier acknowledgement: idempotent.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && to_dir.join(&item.id).exists() => Ok(()),
            Err(e) => Err(ConnectorError::from_io(NAME, "move file", &e)),
        }
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
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().await.map(|t| t.is_file()).unwrap_or(false);
            if is_file && name.ends_with(".json") && !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        names.truncate(limit);
        Ok(names.into_iter().map(|id| ItemRef { id }).collect())
    }

    async fn fetch(&self, item: &ItemRef) -> Result<Vec<u8>, ConnectorError> {
        let path = self.path(item)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "read file", &e))?;
        if meta.len() > MAX_FILE_BYTES {
            // Read the first part only: the parser refuses it with a clear error.
            let mut buf = vec![0; (MAX_FILE_BYTES) as usize];
            use tokio::io::AsyncReadExt;
            let mut f = tokio::fs::File::open(&path)
                .await
                .map_err(|e| ConnectorError::from_io(NAME, "read file", &e))?;
            let n = f
                .read(&mut buf)
                .await
                .map_err(|e| ConnectorError::from_io(NAME, "read file", &e))?;
            buf.truncate(n);
            return Ok(buf);
        }
        tokio::fs::read(&path)
            .await
            .map_err(|e| ConnectorError::from_io(NAME, "read file", &e))
    }

    async fn acknowledge(&self, item: &ItemRef, ack: &Ack) -> Result<(), ConnectorError> {
        match ack {
            Ack::Accepted => self.move_to(item, "processed").await,
            Ack::Rejected { reason } => {
                let note = self.dir.join("failed").join(format!("{}.error.txt", item.id));
                crate::private::create_dir_all(&self.dir.join("failed"))
                    .await
                    .map_err(|e| ConnectorError::from_io(NAME, "create folder", &e))?;
                crate::private::write(&note, format!("{reason}\n").as_bytes())
                    .await
                    .map_err(|e| ConnectorError::from_io(NAME, "write error note", &e))?;
                self.move_to(item, "failed").await
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

    #[tokio::test]
    async fn a_missing_inbox_is_unhealthy() {
        let inbox = FileInbox::new("inbox", "/nonexistent/inbox");
        assert!(inbox.health().await.is_err());
    }
}
