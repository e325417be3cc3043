//! State shared by the gRPC service, the scrubber, the gateway link and the metrics endpoint.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use cyxcloud_core::ChunkId;
use ed25519_dalek::VerifyingKey;
use tonic::Status;

use crate::cache::ShardCache;
use crate::metrics::Metrics;
use crate::storage::StorageBackend;
use crate::sys::CpuSampler;

pub const GATEWAY_KEY_FILE: &str = "gateway.pub";

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub struct NodeState {
    pub node_id: String,
    pub public_key: [u8; 32],
    pub backend: Arc<dyn StorageBackend>,
    /// Recently stored and read shards, verified: served without a disk read or a hash.
    pub cache: ShardCache,
    /// Capacity offered to the network, as configured (see [`NodeState::offered`]).
    pub capacity: u64,
    /// Bytes kept free on the data's disk ([`NodeState::with_min_free`]).
    min_free: u64,
    pub data_dir: PathBuf,
    pub metrics: Metrics,
    pub cpu: CpuSampler,
    pub started: Instant,
    gateway_key: RwLock<Option<VerifyingKey>>,
    draining: AtomicBool,
    /// Bytes of stores in flight, counted against capacity before they land.
    reserved: AtomicU64,
}

/// Releases a capacity reservation when the store finishes, whatever the outcome.
pub struct Reservation<'a> {
    state: &'a NodeState,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.state.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl NodeState {
    pub fn new(
        node_id: String,
        public_key: [u8; 32],
        backend: Arc<dyn StorageBackend>,
        read_cache_bytes: usize,
        capacity: u64,
        data_dir: PathBuf,
        gateway_key: Option<VerifyingKey>,
    ) -> Self {
        NodeState {
            node_id,
            public_key,
            backend,
            cache: ShardCache::new(read_cache_bytes),
            capacity,
            min_free: 0,
            data_dir,
            metrics: Metrics::default(),
            cpu: CpuSampler::default(),
            started: Instant::now(),
            gateway_key: RwLock::new(gateway_key),
            draining: AtomicBool::new(false),
            reserved: AtomicU64::new(0),
        }
    }

    /// Keep `bytes` free on the disk that holds the shards: new shards are refused below
    /// that, so the storage engine keeps room for its logs, flushes and deletes.
    pub fn with_min_free(mut self, bytes: u64) -> Self {
        self.min_free = bytes;
        self
    }

    /// The capacity this node offers with `used` bytes stored: the configured one, or
    /// less if its disk cannot hold that much more (the disk's free space above the
    /// space kept free).
    pub fn offered(&self, used: u64) -> u64 {
        match self.backend.disk_free() {
            Some(free) => self
                .capacity
                .min(used.saturating_add(free.saturating_sub(self.min_free))),
            None => self.capacity,
        }
    }

    pub fn gateway_key(&self) -> Option<VerifyingKey> {
        *self.gateway_key.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adopt the gateway's grant key and remember it, so a restarted node keeps serving
    /// valid grants while the gateway is unreachable.
    pub fn set_gateway_key(&self, key: VerifyingKey) {
        *self.gateway_key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
        let path = self.data_dir.join(GATEWAY_KEY_FILE);
        let tmp = self.data_dir.join(format!("{GATEWAY_KEY_FILE}.tmp"));
        let r = std::fs::write(&tmp, hex::encode(key.to_bytes()))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not save the gateway key");
        }
    }

    /// The gateway key saved by an earlier run, if any.
    pub fn saved_gateway_key(data_dir: &std::path::Path) -> Option<VerifyingKey> {
        let text = std::fs::read_to_string(data_dir.join(GATEWAY_KEY_FILE)).ok()?;
        crate::identity::parse_public_key(&text).ok()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn set_draining(&self, on: bool) {
        self.draining.store(on, Ordering::Release);
    }

    /// Reserve `bytes` of capacity, or refuse with RESOURCE_EXHAUSTED.
    pub fn reserve(&self, bytes: u64) -> Result<Reservation<'_>, Status> {
        let used = self.backend.used_bytes();
        let reserved = self.reserved.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let r = Reservation { state: self, bytes };
        if used.saturating_add(reserved) > self.capacity {
            return Err(Status::resource_exhausted(format!(
                "node is full: {used} of {} bytes used, {bytes} more requested",
                self.capacity
            )));
        }
        // Stores in flight (this one included) are not on the disk yet.
        if let Some(free) = self.backend.disk_free()
            && free < self.min_free.saturating_add(reserved)
        {
            return Err(Status::resource_exhausted(format!(
                "node's disk is full: {free} bytes free, {} kept free, {bytes} more requested",
                self.min_free
            )));
        }
        Ok(r)
    }

    pub async fn report_corrupt(&self, id: &ChunkId) {
        tracing::warn!(shard = %id, "corrupt shard detected");
        self.metrics.corrupt_found.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.backend.mark_corrupt(id, now_secs()).await {
            tracing::error!(error = %e, "could not record a corrupt shard");
        }
    }
}
