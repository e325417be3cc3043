//! Shard storage. The specification's `StorageBackend` trait, with a RocksDB backend
//! (default; small payloads in blob files, large ones in files of their own, synced
//! writes) and a memory backend (tests, ephemeral volunteers). One test suite runs against
//! both.
//!
//! Backends store bytes under their id and keep side records (served grants for
//! settlement, shards found corrupt); integrity checks are the service's job, so a backend
//! never silently "fixes" data.

use async_trait::async_trait;
use cyxcloud_core::ChunkId;
use tonic::codegen::Bytes;

mod files;
mod group;
pub mod memory;
pub mod rocks;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// The disk (or the user's quota on it) is full.
    #[error("no space left on the disk: {0}")]
    NoSpace(String),
    #[error("stored record is corrupt: {0}")]
    CorruptRecord(String),
    /// The storage engine's own checksums caught damage to this shard's bytes.
    #[error("shard data is corrupt: {0}")]
    CorruptData(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// An I/O failure as RocksDB or the OS describes it: [`NoSpace`](Self::NoSpace) when the
    /// disk or the quota is full (RocksDB says so only in its message, in the OS's words).
    pub(crate) fn from_io_message(msg: String) -> Self {
        const FULL: [&str; 2] = ["No space left on device", "Disk quota exceeded"];
        if FULL.iter().any(|f| msg.contains(f)) {
            StorageError::NoSpace(msg)
        } else {
            StorageError::Io(msg)
        }
    }
}

/// A check that runs beside a write ([`StorageBackend::put_new_verified`]).
pub type Check = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub chunk_count: u64,
    pub read_latency_us: u64,
    pub write_latency_us: u64,
}

/// A grant served by this node, kept until the gateway acknowledges it for settlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedRecord {
    pub grant: Vec<u8>,
    pub bytes: u64,
    pub served_at: i64,
}

/// A shard stored as its bytes arrive ([`StorageBackend::incoming`]). The methods block:
/// call them from a blocking thread. Dropped before [`commit`](Self::commit), it leaves
/// nothing behind.
pub trait IncomingShard: Send {
    /// The shard's next bytes, in order.
    fn write(&mut self, data: &[u8]) -> Result<()>;
    /// Every byte has arrived and was checked against the id: make the shard part of the
    /// store, durably, unless it is stored already. Returns whether it wrote.
    fn commit(self: Box<Self>) -> Result<bool>;
}

/// [`StorageBackend::put_new_verified`] without overlap: wait for the check, then
/// [`put_new`](StorageBackend::put_new).
pub(crate) async fn put_new_once_verified<B: StorageBackend + ?Sized>(
    backend: &B,
    chunk_id: &ChunkId,
    data: Bytes,
    verified: Check,
) -> Result<Option<bool>> {
    if !verified.await {
        return Ok(None);
    }
    backend.put_new(chunk_id, data).await.map(Some)
}

/// Storage backend trait for chunk (shard) persistence.
#[async_trait]
pub trait StorageBackend: Send + Sync + 'static {
    /// Store a chunk. When this returns, the chunk is durable.
    async fn put(&self, chunk_id: &ChunkId, data: Bytes) -> Result<()>;
    /// Store a chunk unless one with this id is already stored. Returns whether it wrote.
    /// When this returns, the chunk is durable either way.
    async fn put_new(&self, chunk_id: &ChunkId, data: Bytes) -> Result<bool> {
        if self.exists(chunk_id).await? {
            return Ok(false);
        }
        self.put(chunk_id, data).await?;
        Ok(true)
    }
    /// [`put_new`](Self::put_new) for bytes still being checked (their hash against the
    /// id): `verified` says whether they may be stored. A backend may write them aside
    /// while the check runs, but nothing becomes part of the store unless it passes.
    /// `None` when the check failed and nothing was stored.
    async fn put_new_verified(
        &self,
        chunk_id: &ChunkId,
        data: Bytes,
        verified: Check,
    ) -> Result<Option<bool>> {
        put_new_once_verified(self, chunk_id, data, verified).await
    }
    /// Whether this backend stores a shard of `len` bytes as they arrive
    /// ([`incoming`](Self::incoming)) rather than whole.
    fn streams(&self, _len: u64) -> bool {
        false
    }
    /// Begin storing a shard of `len` bytes as they arrive, if this backend does that for
    /// a shard of this size; `None` if it takes shards whole
    /// ([`put_new_verified`](Self::put_new_verified)).
    async fn incoming(
        &self,
        _chunk_id: &ChunkId,
        _len: u64,
    ) -> Result<Option<Box<dyn IncomingShard>>> {
        Ok(None)
    }
    /// Bytes free on the disk that holds this backend's data; `None` if it keeps none
    /// there (memory).
    fn disk_free(&self) -> Option<u64> {
        None
    }
    /// Retrieve a chunk.
    async fn get(&self, chunk_id: &ChunkId) -> Result<Option<Bytes>>;
    /// Retrieve a chunk without keeping it in a read cache (scrubbing reads everything once
    /// and would push the shards clients read out of it).
    async fn get_cold(&self, chunk_id: &ChunkId) -> Result<Option<Bytes>> {
        self.get(chunk_id).await
    }
    /// Delete a chunk; `false` if it was absent.
    async fn delete(&self, chunk_id: &ChunkId) -> Result<bool>;
    /// Check if a chunk exists.
    async fn exists(&self, chunk_id: &ChunkId) -> Result<bool>;
    /// Verify chunk integrity: the stored bytes hash to `expected_hash`.
    async fn verify(&self, chunk_id: &ChunkId, expected_hash: &[u8]) -> Result<bool> {
        Ok(match self.get(chunk_id).await? {
            Some(d) => blake3::hash(&d).as_bytes()[..] == *expected_hash,
            None => false,
        })
    }
    /// List chunk ids in order, strictly after `after`, at most `limit`.
    async fn list_page(&self, after: Option<ChunkId>, limit: usize) -> Result<Vec<ChunkId>>;
    /// List all chunk IDs.
    async fn list(&self) -> Result<Vec<ChunkId>> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.list_page(after, 4096).await?;
            let Some(last) = page.last().copied() else {
                return Ok(all);
            };
            all.extend(page);
            after = Some(last);
        }
    }
    /// Bytes of shards stored, without touching the disk (the capacity check's hot path).
    fn used_bytes(&self) -> u64;
    /// Storage statistics (`total_bytes` is the backend's own footprint on disk if known).
    async fn stats(&self) -> Result<StorageStats>;

    /// Periodic upkeep that depends on how the store has been used (the node calls it
    /// about once a minute).
    async fn maintain(&self) -> Result<()> {
        Ok(())
    }

    /// Make everything written so far durable in the backend's long-term files (called on
    /// graceful shutdown; writes are already durable through the write-ahead log).
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Remember a served grant for settlement.
    async fn record_served(&self, grant_id: [u8; 16], record: ServedRecord) -> Result<()>;
    /// Served grants not yet acknowledged, at most `limit`.
    async fn served(&self, limit: usize) -> Result<Vec<([u8; 16], ServedRecord)>>;
    /// Forget acknowledged served grants.
    async fn ack_served(&self, grant_ids: &[[u8; 16]]) -> Result<()>;
    /// Record a shard found corrupt (kept until it is deleted or replaced).
    async fn mark_corrupt(&self, chunk_id: &ChunkId, detected_at: i64) -> Result<()>;
    /// Shards found corrupt, with when.
    async fn corrupt(&self) -> Result<Vec<(ChunkId, i64)>>;
}

#[cfg(test)]
pub(crate) mod test_suite {
    //! The shared suite every backend must pass.
    use super::*;

    pub fn shard(n: usize, seed: u8) -> (ChunkId, Bytes) {
        let data: Vec<u8> = (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        (ChunkId::of(&data), Bytes::from(data))
    }

    pub async fn run(b: &dyn StorageBackend) {
        let empty = b.stats().await.unwrap();
        assert_eq!((empty.used_bytes, empty.chunk_count), (0, 0));
        let (a, da) = shard(1000, 1);
        let (c, dc) = shard(70_000, 2);
        assert_eq!(b.get(&a).await.unwrap(), None);
        assert!(!b.exists(&a).await.unwrap());
        b.put(&a, da.clone()).await.unwrap();
        b.put(&c, dc.clone()).await.unwrap();
        // Idempotent: storing again changes nothing.
        b.put(&a, da.clone()).await.unwrap();
        assert_eq!(b.get(&a).await.unwrap().as_deref(), Some(&da[..]));
        assert!(b.exists(&c).await.unwrap());
        assert!(b.verify(&a, a.as_bytes()).await.unwrap());
        assert!(!b.verify(&a, c.as_bytes()).await.unwrap());
        let s = b.stats().await.unwrap();
        assert_eq!((s.used_bytes, s.chunk_count), (71_000, 2));
        let mut expect = vec![a, c];
        expect.sort();
        assert_eq!(b.list().await.unwrap(), expect);
        assert_eq!(
            b.list_page(Some(expect[0]), 10).await.unwrap(),
            vec![expect[1]]
        );
        assert_eq!(b.list_page(None, 1).await.unwrap(), vec![expect[0]]);
        assert!(b.delete(&a).await.unwrap());
        assert!(!b.delete(&a).await.unwrap());
        assert_eq!(b.get(&a).await.unwrap(), None);
        let s = b.stats().await.unwrap();
        assert_eq!((s.used_bytes, s.chunk_count), (70_000, 1));
        // Empty shard and many shards.
        for i in 0..300u32 {
            let d = Bytes::from(i.to_le_bytes().to_vec());
            b.put(&ChunkId::of(&d), d).await.unwrap();
        }
        assert_eq!(b.list().await.unwrap().len(), 301);
        // A shard stored as it arrives, where the backend does that: readable once
        // committed, counted once, and arriving again it is acknowledged without a write.
        let (e, de) = shard(90_000, 3);
        if b.streams(de.len() as u64) {
            for first in [true, false] {
                let mut sink = b.incoming(&e, de.len() as u64).await.unwrap().unwrap();
                let d = de.clone();
                let wrote = tokio::task::spawn_blocking(move || {
                    for piece in d.chunks(7000) {
                        sink.write(piece)?;
                    }
                    sink.commit()
                })
                .await
                .unwrap()
                .unwrap();
                assert_eq!(wrote, first);
            }
            assert_eq!(b.get(&e).await.unwrap().as_deref(), Some(&de[..]));
            assert_eq!(b.stats().await.unwrap().chunk_count, 302);
            assert!(b.delete(&e).await.unwrap());
        } else {
            assert!(b.incoming(&e, de.len() as u64).await.unwrap().is_none());
        }
        // Side records.
        let rec = ServedRecord {
            grant: vec![1, 2, 3],
            bytes: 99,
            served_at: 5,
        };
        b.record_served([7; 16], rec.clone()).await.unwrap();
        b.record_served([8; 16], rec.clone()).await.unwrap();
        assert_eq!(b.served(10).await.unwrap().len(), 2);
        b.ack_served(&[[7; 16]]).await.unwrap();
        assert_eq!(b.served(10).await.unwrap(), vec![([8; 16], rec)]);
        b.mark_corrupt(&c, 42).await.unwrap();
        assert_eq!(b.corrupt().await.unwrap(), vec![(c, 42)]);
        // Replacing or deleting a corrupt shard clears the mark.
        b.delete(&c).await.unwrap();
        assert!(b.corrupt().await.unwrap().is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::StorageError;

    /// A full disk is told apart in RocksDB's words and the OS's, anything else stays I/O.
    #[test]
    fn a_full_disk_is_no_space_whoever_reports_it() {
        let full = [
            "IO error: No space left on device: While appending to file: db/000008.log",
            "writing files/aa/x.tmp: No space left on device (os error 28)",
            "writing files/aa/x.tmp: Disk quota exceeded (os error 122)",
        ];
        for m in full {
            assert!(matches!(
                StorageError::from_io_message(m.into()),
                StorageError::NoSpace(s) if s == m
            ));
        }
        let other = "IO error: Input/output error (os error 5)";
        assert!(matches!(
            StorageError::from_io_message(other.into()),
            StorageError::Io(s) if s == other
        ));
        // The OS's own text for ENOSPC is the one matched.
        let os = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
        assert!(matches!(
            StorageError::from_io_message(os),
            StorageError::NoSpace(_)
        ));
    }
}
