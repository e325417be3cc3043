//! In-memory backend: tests and ephemeral volunteers. Everything is lost on exit.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;
use cyxcloud_core::ChunkId;

use super::{Result, ServedRecord, StorageBackend, StorageStats};
use tonic::codegen::Bytes;

#[derive(Default)]
pub struct MemoryBackend {
    shards: RwLock<BTreeMap<ChunkId, Bytes>>,
    served: RwLock<BTreeMap<[u8; 16], ServedRecord>>,
    corrupt: RwLock<BTreeMap<ChunkId, i64>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

// Poisoning only follows a panic elsewhere; the maps stay consistent, so keep serving.
macro_rules! r {
    ($l:expr) => {
        $l.read().unwrap_or_else(|e| e.into_inner())
    };
}
macro_rules! w {
    ($l:expr) => {
        $l.write().unwrap_or_else(|e| e.into_inner())
    };
}

#[async_trait]
impl StorageBackend for MemoryBackend {
    async fn put(&self, id: &ChunkId, data: Bytes) -> Result<()> {
        w!(self.shards).insert(*id, data);
        w!(self.corrupt).remove(id);
        Ok(())
    }
    async fn get(&self, id: &ChunkId) -> Result<Option<Bytes>> {
        Ok(r!(self.shards).get(id).cloned())
    }
    async fn delete(&self, id: &ChunkId) -> Result<bool> {
        w!(self.corrupt).remove(id);
        Ok(w!(self.shards).remove(id).is_some())
    }
    async fn exists(&self, id: &ChunkId) -> Result<bool> {
        Ok(r!(self.shards).contains_key(id))
    }
    async fn list_page(&self, after: Option<ChunkId>, limit: usize) -> Result<Vec<ChunkId>> {
        let map = r!(self.shards);
        let it: Box<dyn Iterator<Item = &ChunkId>> = match after {
            Some(a) => Box::new(
                map.range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
                    .map(|(k, _)| k),
            ),
            None => Box::new(map.keys()),
        };
        Ok(it.take(limit).copied().collect())
    }
    fn used_bytes(&self) -> u64 {
        r!(self.shards).values().map(|v| v.len() as u64).sum()
    }

    async fn stats(&self) -> Result<StorageStats> {
        let map = r!(self.shards);
        let used = map.values().map(|v| v.len() as u64).sum();
        Ok(StorageStats {
            total_bytes: used,
            used_bytes: used,
            chunk_count: map.len() as u64,
            ..Default::default()
        })
    }
    async fn record_served(&self, grant_id: [u8; 16], record: ServedRecord) -> Result<()> {
        w!(self.served).insert(grant_id, record);
        Ok(())
    }
    async fn served(&self, limit: usize) -> Result<Vec<([u8; 16], ServedRecord)>> {
        Ok(r!(self.served)
            .iter()
            .take(limit)
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }
    async fn ack_served(&self, ids: &[[u8; 16]]) -> Result<()> {
        let mut s = w!(self.served);
        for id in ids {
            s.remove(id);
        }
        Ok(())
    }
    async fn mark_corrupt(&self, id: &ChunkId, at: i64) -> Result<()> {
        w!(self.corrupt).insert(*id, at);
        Ok(())
    }
    async fn corrupt(&self) -> Result<Vec<(ChunkId, i64)>> {
        Ok(r!(self.corrupt).iter().map(|(k, v)| (*k, *v)).collect())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_backend_passes_the_shared_suite() {
        super::super::test_suite::run(&super::MemoryBackend::new()).await;
    }
}
