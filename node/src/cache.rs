//! The read cache: recently stored and read shards, kept in memory once they were verified
//! against their ids.
//!
//! A hit is served with no disk read, no copy and no hash: the bytes were checked when they
//! entered, and they do not change in memory. Bit rot on disk is what verification guards
//! against, and the scrubber keeps reading the disk, never this cache.
//!
//! Deletes and reads can race: a read that fetched a shard from disk just before a delete
//! removed it must not put the shard back. Every removal therefore bumps a generation, and
//! a read inserts only if no removal happened since it began.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use cyxcloud_core::ChunkId;
use tonic::codegen::Bytes;

/// A byte-bounded LRU of verified shards.
pub struct ShardCache {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    /// Shard id -> (bytes, last use).
    map: HashMap<ChunkId, (Bytes, u64)>,
    /// Last use -> shard id, oldest first.
    order: BTreeMap<u64, ChunkId>,
    used: usize,
    clock: u64,
    generation: u64,
}

impl ShardCache {
    /// A cache of at most `capacity` bytes of shards; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        ShardCache {
            capacity,
            inner: Mutex::new(Lru::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached bytes of `id`, marked as just used.
    pub fn get(&self, id: &ChunkId) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let mut l = self.lock();
        l.clock += 1;
        let now = l.clock;
        let (data, used) = l.map.get_mut(id)?;
        let (data, old) = (data.clone(), std::mem::replace(used, now));
        l.order.remove(&old);
        l.order.insert(now, *id);
        Some(data)
    }

    /// Whether a shard of `len` bytes may be kept ([`insert`](Self::insert) takes shards of
    /// up to half the cache).
    pub fn admits(&self, len: usize) -> bool {
        len <= self.capacity / 2
    }

    /// Take before reading a shard from disk; hand to [`insert`](Self::insert).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keep `data`, which hashes to `id`, unless something was removed since `since` (the
    /// shard may be the one removed) or it would take more than half of the cache.
    pub fn insert(&self, id: ChunkId, data: Bytes, since: u64) {
        if !self.admits(data.len()) {
            return;
        }
        let mut l = self.lock();
        if l.generation != since {
            return;
        }
        l.clock += 1;
        let now = l.clock;
        let len = data.len();
        if let Some((old, used)) = l.map.insert(id, (data, now)) {
            l.used -= old.len();
            l.order.remove(&used);
        }
        l.order.insert(now, id);
        l.used += len;
        while l.used > self.capacity {
            let Some((_, victim)) = l.order.pop_first() else {
                break;
            };
            if let Some((d, _)) = l.map.remove(&victim) {
                l.used -= d.len();
            }
        }
    }

    /// Forget `id` (it was deleted, or found corrupt on disk).
    pub fn remove(&self, id: &ChunkId) {
        let mut l = self.lock();
        l.generation += 1;
        if let Some((d, used)) = l.map.remove(id) {
            l.used -= d.len();
            l.order.remove(&used);
        }
    }

    /// Forget every shard.
    pub fn clear(&self) {
        let mut l = self.lock();
        l.generation += 1;
        l.map.clear();
        l.order.clear();
        l.used = 0;
    }

    /// Bytes of shards held.
    pub fn used_bytes(&self) -> usize {
        self.lock().used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ChunkId {
        ChunkId([n; 32])
    }

    #[test]
    fn keeps_the_most_recently_used_within_its_capacity() {
        let c = ShardCache::new(800);
        for n in 0..8 {
            c.insert(id(n), Bytes::from(vec![n; 100]), c.generation());
        }
        assert_eq!(c.used_bytes(), 800);
        // Touch 0, then add one more: 1 (now the oldest) goes, 0 stays.
        assert_eq!(c.get(&id(0)).unwrap(), vec![0u8; 100]);
        c.insert(id(8), Bytes::from(vec![8; 100]), c.generation());
        assert!(c.get(&id(1)).is_none());
        assert!(c.get(&id(0)).is_some());
        assert!(c.get(&id(8)).is_some());
        assert_eq!(c.used_bytes(), 800);
        // Replacing an entry does not count it twice.
        c.insert(id(8), Bytes::from(vec![9; 50]), c.generation());
        assert_eq!(c.used_bytes(), 750);
        assert_eq!(c.get(&id(8)).unwrap(), vec![9u8; 50]);
    }

    #[test]
    fn large_shards_and_a_zero_capacity_are_not_cached() {
        let c = ShardCache::new(800);
        c.insert(id(1), Bytes::from(vec![1; 401]), c.generation());
        assert!(c.get(&id(1)).is_none());
        assert_eq!(c.used_bytes(), 0);
        let off = ShardCache::new(0);
        off.insert(id(1), Bytes::new(), off.generation());
        assert!(off.get(&id(1)).is_none());
    }

    #[test]
    fn a_read_that_raced_a_removal_does_not_put_the_shard_back() {
        let c = ShardCache::new(1000);
        c.insert(id(1), Bytes::from_static(b"one"), c.generation());
        let before = c.generation();
        // A delete lands while a read of shard 2 is at the disk.
        c.remove(&id(2));
        c.insert(id(2), Bytes::from_static(b"two"), before);
        assert!(c.get(&id(2)).is_none());
        c.remove(&id(1));
        assert!(c.get(&id(1)).is_none());
        assert_eq!(c.used_bytes(), 0);
        // A read that starts after the removal is cached again.
        c.insert(id(2), Bytes::from_static(b"two"), c.generation());
        assert!(c.get(&id(2)).is_some());
        let before = c.generation();
        c.clear();
        assert!(c.get(&id(2)).is_none());
        assert_eq!(c.used_bytes(), 0);
        c.insert(id(3), Bytes::from_static(b"three"), before);
        assert!(c.get(&id(3)).is_none(), "a clear counts as a removal");
    }
}
