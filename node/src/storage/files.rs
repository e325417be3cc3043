//! Large shards, one file each: `files/<first byte of the id, hex>/<id, hex>`.
//!
//! Stored inside RocksDB, every byte of a large shard reached the disk twice (the write-ahead
//! log, then its blob file at flush) and was copied twice in memory on the way (into the log
//! and into the memtable). Written here it is copied once and written once. RocksDB keeps
//! only the shard's record, and that record is the commit point: a file is trusted only
//! while a record says the shard lives in a file, so files left by a crash between the two
//! writes are swept when the store opens ([`ShardFiles::sweep`]).
//!
//! A file is written under a temporary name, synced, renamed into place and its directory
//! synced, so the name only ever points at a complete, durable shard; a replaced shard is
//! swapped atomically.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use cyxcloud_core::ChunkId;

use super::{Result, StorageError};

const TMP_SUFFIX: &str = ".tmp";

fn io(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError::Io(format!("{what} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing directory", dir, e))
}

pub(super) struct ShardFiles {
    root: PathBuf,
}

impl ShardFiles {
    /// Use (creating it if needed) the file area under `root`, with its 256 directories.
    pub fn open(root: PathBuf) -> Result<Self> {
        let fresh = !root.exists();
        let files = Self { root };
        for b in 0..=255u8 {
            let d = files.subdir(b);
            std::fs::create_dir_all(&d).map_err(|e| io("creating", &d, e))?;
        }
        if fresh {
            sync_dir(&files.root)?;
            if let Some(parent) = files.root.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(files)
    }

    /// The directory for ids whose first byte is `b`.
    fn subdir(&self, b: u8) -> PathBuf {
        self.root.join(hex::encode([b]))
    }

    fn dir(&self, id: &ChunkId) -> PathBuf {
        self.subdir(id.0[0])
    }

    fn path(&self, id: &ChunkId) -> PathBuf {
        self.dir(id).join(id.to_hex())
    }

    /// Write a shard durably: when this returns, its file survives a crash.
    pub fn write(&self, id: &ChunkId, data: &[u8]) -> Result<()> {
        let dir = self.dir(id);
        let name = id.to_hex();
        let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| io("creating", &tmp, e))?;
        f.write_all(data)
            .and_then(|()| f.sync_data())
            .map_err(|e| io("writing", &tmp, e))?;
        drop(f);
        let path = dir.join(name);
        std::fs::rename(&tmp, &path).map_err(|e| io("renaming", &tmp, e))?;
        sync_dir(&dir)
    }

    /// A shard's bytes; `None` if its file is missing.
    pub fn read(&self, id: &ChunkId) -> Result<Option<Vec<u8>>> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", &path, e)),
        }
    }

    /// Remove a shard's file; a missing one is not an error. Not synced: a file that comes
    /// back after a crash has no record and is swept at the next open.
    pub fn remove(&self, id: &ChunkId) -> Result<()> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("removing", &path, e)),
        }
    }

    /// [`remove`](Self::remove) after the record is gone: a failure only leaves a file for
    /// the next open to sweep, so it is logged, not returned.
    pub fn remove_or_leave(&self, id: &ChunkId) {
        if let Err(e) = self.remove(id) {
            tracing::warn!(shard = %id, error = %e, "shard file left for the next sweep");
        }
    }

    /// Remove temporary files and every shard file `keep` rejects. Returns how many files
    /// were removed.
    pub fn sweep(&self, mut keep: impl FnMut(&ChunkId) -> Result<bool>) -> Result<usize> {
        let mut removed = 0;
        for b in 0..=255u8 {
            let dir = self.subdir(b);
            let entries = std::fs::read_dir(&dir).map_err(|e| io("listing", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| io("listing", &dir, e))?;
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let name = entry.file_name();
                let id = name
                    .to_str()
                    .and_then(|n| hex::decode(n).ok())
                    .and_then(|b| ChunkId::from_slice(&b).ok());
                let wanted = match id {
                    Some(id) if id.0[0] == b => keep(&id)?,
                    // Temporary files of writes that never finished, and strays.
                    _ => false,
                };
                if !wanted {
                    let path = entry.path();
                    std::fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
