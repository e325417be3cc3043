//! The ChunkService: a thin gRPC layer over [`NodeState`]. Every data operation verifies a
//! gateway-signed grant first; stored bytes are verified against their id on the way in and
//! on every read from disk (reads served by the cache were verified when they entered it),
//! so the node never acknowledges or serves wrong data.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use cyxcloud_core::ChunkId;
use cyxcloud_core::grant::{Grant, GrantCheck, GrantOp, SignedGrant};
use cyxcloud_proto::chunk::chunk_service_server::ChunkService;
use cyxcloud_proto::chunk::*;
use tokio_stream::{Stream, StreamExt};
use tonic::codegen::Bytes;
use tonic::{Request, Response, Status, Streaming};

use crate::state::{NodeState, now_secs};
use crate::storage::{Check, ServedRecord, StorageError};

pub struct ChunkServiceImpl {
    pub state: Arc<NodeState>,
}

pub(crate) fn parse_id(id: Option<&cyxcloud_proto::chunk::ChunkId>) -> Result<ChunkId, Status> {
    let id = id.ok_or_else(|| Status::invalid_argument("chunk_id is required"))?;
    ChunkId::try_from(id).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// Hash off the async threads when the payload is large.
pub(crate) async fn hash(data: &Bytes) -> ChunkId {
    if data.len() < 256 * 1024 {
        return ChunkId::of(data);
    }
    let d = data.clone();
    // If the hashing task dies, an all-zero id matches nothing, so the data is refused.
    tokio::task::spawn_blocking(move || ChunkId::of(&d))
        .await
        .unwrap_or(ChunkId([0; 32]))
}

impl NodeState {
    /// Verify a grant for this node. Every failure is PERMISSION_DENIED.
    pub fn check_grant(
        &self,
        grant: &[u8],
        shard: &ChunkId,
        op: GrantOp,
        size: u64,
    ) -> Result<Grant, Status> {
        if grant.is_empty() {
            return Err(Status::permission_denied("a grant is required"));
        }
        let key = self.gateway_key().ok_or_else(|| {
            Status::permission_denied(
                "this node does not know the gateway key yet (not registered)",
            )
        })?;
        let g = SignedGrant::decode(grant).map_err(|e| Status::permission_denied(e.to_string()))?;
        let check = GrantCheck {
            node: &self.public_key,
            shard,
            op,
            size,
            now: now_secs() as u64,
        };
        g.verify(&key, &check)
            .cloned()
            .map_err(|e| Status::permission_denied(e.to_string()))
    }

    /// What a store checks before it looks at the bytes: a valid store grant for this
    /// shard and size, and a node that takes new shards.
    pub fn admit_store(&self, id: &ChunkId, len: u64, grant: &[u8]) -> Result<(), Status> {
        self.check_grant(grant, id, GrantOp::Store, len)?;
        if self.is_draining() {
            return Err(Status::unavailable(
                "node is draining and accepts no new shards",
            ));
        }
        Ok(())
    }

    /// Store one shard under a store grant. Returns bytes written.
    pub async fn store(&self, id: ChunkId, data: Bytes, grant: &[u8]) -> Result<u64, Status> {
        let len = data.len() as u64;
        self.admit_store(&id, len, grant)?;
        let _reservation = match self.reserve(len) {
            Ok(r) => r,
            Err(e) => {
                if !hash(&data).await.ct_eq(&id) {
                    return Err(hash_mismatch());
                }
                // A full node still acknowledges a shard it already holds: stores are
                // idempotent.
                if self.backend.exists(&id).await? {
                    return Ok(len);
                }
                return Err(e);
            }
        };
        let since = self.cache.generation();
        // The backend decides whether the bytes are written while they are checked (a
        // large shard's hash takes about as long as its disk write) or after.
        let d = data.clone();
        let verified: Check = Box::pin(async move { hash(&d).await.ct_eq(&id) });
        let wrote = self
            .backend
            .put_new_verified(&id, data.clone(), verified)
            .await?
            .ok_or_else(hash_mismatch)?;
        if wrote {
            self.metrics
                .bytes_received
                .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        }
        // Verified above, and durable now: cached as the page cache would have kept it, had
        // flushes not bypassed it. Shards are often read soon after they are written. A
        // small shard may share its receive buffer with other messages of a stream; it is
        // copied out so the cache holds only its own bytes.
        let data = if data.len() < 1 << 20 {
            Bytes::copy_from_slice(&data)
        } else {
            data
        };
        self.cache.insert(id, data, since);
        Ok(len)
    }

    /// Read one shard under a get grant, verifying it. `Ok(None)` if absent.
    pub async fn fetch(&self, id: ChunkId, grant: &[u8]) -> Result<Option<Bytes>, Status> {
        let g = self.check_grant(grant, &id, GrantOp::Get, 0)?;
        self.fetch_granted(id, grant, &g).await
    }

    /// [`fetch`](Self::fetch) under a grant already checked: `g` is `grant` decoded.
    pub async fn fetch_granted(
        &self,
        id: ChunkId,
        grant: &[u8],
        g: &Grant,
    ) -> Result<Option<Bytes>, Status> {
        let data = match self.cache.get(&id) {
            Some(data) => data,
            None => {
                let since = self.cache.generation();
                let Some(data) = self.read(&id).await? else {
                    return Ok(None);
                };
                if !hash(&data).await.ct_eq(&id) {
                    self.report_corrupt(&id).await;
                    return Err(Status::data_loss(format!(
                        "shard {id} is corrupt on this node"
                    )));
                }
                self.cache.insert(id, data.clone(), since);
                data
            }
        };
        if data.len() as u64 > g.max_bytes {
            return Err(Status::permission_denied(format!(
                "{} bytes exceed the grant's limit of {}",
                data.len(),
                g.max_bytes
            )));
        }
        let record = ServedRecord {
            grant: grant.to_vec(),
            bytes: data.len() as u64,
            served_at: now_secs(),
        };
        if let Err(e) = self.backend.record_served(g.grant_id, record).await {
            tracing::warn!(error = %e, "could not record a served grant");
        }
        self.metrics
            .bytes_served
            .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(data))
    }
}

impl NodeState {
    /// Read a shard; damage caught by the storage engine is reported as a corrupt shard.
    pub async fn read(&self, id: &ChunkId) -> Result<Option<Bytes>, Status> {
        let r = self.backend.get(id).await;
        self.checked(id, r).await
    }

    /// [`read`](Self::read) for the scrubber: the shard does not enter the read cache.
    pub async fn read_cold(&self, id: &ChunkId) -> Result<Option<Bytes>, Status> {
        let r = self.backend.get_cold(id).await;
        self.checked(id, r).await
    }

    async fn checked(
        &self,
        id: &ChunkId,
        r: crate::storage::Result<Option<Bytes>>,
    ) -> Result<Option<Bytes>, Status> {
        match r {
            Ok(d) => Ok(d),
            Err(StorageError::CorruptData(e)) => {
                tracing::warn!(shard = %id, error = %e, "storage engine reports corruption");
                self.report_corrupt(id).await;
                Err(Status::data_loss(format!(
                    "shard {id} is corrupt on this node"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A store whose bytes do not hash to the shard's id.
pub(crate) fn hash_mismatch() -> Status {
    Status::invalid_argument("data does not hash to the chunk id")
}

/// How a storage failure reaches a caller: a full disk as RESOURCE_EXHAUSTED (the gateway
/// places the shard elsewhere, as for a full node), damage as DATA_LOSS, anything else as
/// INTERNAL.
impl From<StorageError> for Status {
    fn from(e: StorageError) -> Status {
        match e {
            StorageError::NoSpace(_) => {
                tracing::warn!(error = %e, "the disk is full");
                Status::resource_exhausted(format!("node's disk is full: {e}"))
            }
            StorageError::CorruptData(_) => Status::data_loss(e.to_string()),
            e => internal(e),
        }
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "storage failure");
    Status::internal(format!("storage failure: {e}"))
}

/// Run an RPC body and record its status and latency.
async fn observed<T>(
    state: &NodeState,
    rpc: &'static str,
    f: impl std::future::Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let t = Instant::now();
    let r = f.await;
    let code = r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok);
    state.metrics.observe(rpc, code, t.elapsed());
    r
}

/// GetChunk's answer. Servers answer through [`crate::direct_get`], which sends the shard
/// without copying it into tonic's encode buffer; this is also the generated service's
/// handler, so both answer alike.
pub(crate) async fn get_chunk(
    state: &NodeState,
    r: GetChunkRequest,
) -> Result<GetChunkResponse, Status> {
    observed(state, "GetChunk", async {
        let id = parse_id(r.chunk_id.as_ref())?;
        let data = state.fetch(id, &r.grant).await?;
        Ok(GetChunkResponse {
            found: data.is_some(),
            metadata: data.as_ref().map(|d| ChunkMetadata {
                original_size: d.len() as u64,
                stored_size: d.len() as u64,
                ..Default::default()
            }),
            data: data.unwrap_or_default(),
        })
    })
    .await
}

type FetchStream = Pin<Box<dyn Stream<Item = Result<ChunkData, Status>> + Send>>;

#[tonic::async_trait]
impl ChunkService for ChunkServiceImpl {
    #[tracing::instrument(skip_all, fields(rpc = "StoreChunk"))]
    async fn store_chunk(
        &self,
        r: Request<StoreChunkRequest>,
    ) -> Result<Response<StoreChunkResponse>, Status> {
        let r = r.into_inner();
        observed(&self.state, "StoreChunk", async {
            let id = parse_id(r.chunk_id.as_ref())?;
            let n = self.state.store(id, r.data, &r.grant).await?;
            Ok(Response::new(StoreChunkResponse {
                success: true,
                error_message: String::new(),
                bytes_written: n,
            }))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetChunk"))]
    async fn get_chunk(
        &self,
        r: Request<GetChunkRequest>,
    ) -> Result<Response<GetChunkResponse>, Status> {
        get_chunk(&self.state, r.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteChunk"))]
    async fn delete_chunk(
        &self,
        r: Request<DeleteChunkRequest>,
    ) -> Result<Response<DeleteChunkResponse>, Status> {
        let r = r.into_inner();
        observed(&self.state, "DeleteChunk", async {
            let id = parse_id(r.chunk_id.as_ref())?;
            self.state.check_grant(&r.grant, &id, GrantOp::Delete, 0)?;
            self.state.backend.delete(&id).await?;
            // After the delete: a read that began before it cannot cache the shard again.
            self.state.cache.remove(&id);
            Ok(Response::new(DeleteChunkResponse {
                success: true,
                error_message: String::new(),
            }))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "StreamChunks"))]
    async fn stream_chunks(
        &self,
        r: Request<Streaming<ChunkData>>,
    ) -> Result<Response<StreamChunksResponse>, Status> {
        let mut stream = r.into_inner();
        observed(&self.state, "StreamChunks", async {
            let mut resp = StreamChunksResponse::default();
            // One message at a time: the HTTP/2 window gives the sender backpressure and
            // memory stays at one shard.
            while let Some(msg) = stream.next().await {
                let msg = msg?;
                let raw_id = msg.chunk_id.clone().unwrap_or_default();
                let ok = match parse_id(msg.chunk_id.as_ref()) {
                    Ok(id) => self.state.store(id, msg.data, &msg.grant).await,
                    Err(e) => Err(e),
                };
                match ok {
                    Ok(n) => {
                        resp.chunks_stored += 1;
                        resp.bytes_stored += n;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e.message(), "stream store refused");
                        resp.failed_chunks.push(raw_id);
                    }
                }
            }
            Ok(Response::new(resp))
        })
        .await
    }

    type FetchChunksStream = FetchStream;

    #[tracing::instrument(skip_all, fields(rpc = "FetchChunks"))]
    async fn fetch_chunks(
        &self,
        r: Request<FetchChunksRequest>,
    ) -> Result<Response<FetchStream>, Status> {
        let r = r.into_inner();
        observed(&self.state, "FetchChunks", async {
            if r.chunk_ids.len() != r.grants.len() {
                return Err(Status::invalid_argument(
                    "one grant per chunk id is required",
                ));
            }
            let ids = r
                .chunk_ids
                .iter()
                .map(|i| parse_id(Some(i)))
                .collect::<Result<Vec<_>, _>>()?;
            // Check every grant before sending anything (and only then: each check is an
            // Ed25519 verification).
            let checked = ids
                .iter()
                .zip(&r.grants)
                .map(|(id, g)| self.state.check_grant(g, id, GrantOp::Get, 0))
                .collect::<Result<Vec<_>, _>>()?;
            // A two-slot channel bounds memory to a couple of shards however many are asked.
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            let state = self.state.clone();
            tokio::spawn(async move {
                let granted = ids.into_iter().zip(r.grants).zip(checked);
                for (i, ((id, grant), g)) in granted.enumerate() {
                    // Absent and corrupt shards are skipped (and corrupt ones reported);
                    // the caller sees which ids did not arrive.
                    let item = match state.fetch_granted(id, &grant, &g).await {
                        Ok(Some(data)) => Ok(ChunkData {
                            chunk_id: Some(id.into()),
                            data,
                            shard_index: i as u32,
                            grant: Bytes::new(),
                            metadata: None,
                        }),
                        Ok(None) => continue,
                        Err(e) if e.code() == tonic::Code::DataLoss => continue,
                        Err(e) => Err(e),
                    };
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        break;
                    }
                }
            });
            let stream: FetchStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
            Ok(Response::new(stream))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "VerifyChunk"))]
    async fn verify_chunk(
        &self,
        r: Request<VerifyChunkRequest>,
    ) -> Result<Response<VerifyChunkResponse>, Status> {
        let r = r.into_inner();
        observed(&self.state, "VerifyChunk", async {
            let id = parse_id(r.chunk_id.as_ref())?;
            let data = match self.state.read(&id).await {
                Ok(d) => d,
                Err(s) if s.code() == tonic::Code::DataLoss => {
                    return Ok(Response::new(VerifyChunkResponse {
                        valid: false,
                        actual_hash: Bytes::new(),
                        error_message: s.message().to_string(),
                    }));
                }
                Err(s) => return Err(s),
            };
            let Some(data) = data else {
                return Ok(Response::new(VerifyChunkResponse {
                    valid: false,
                    actual_hash: Bytes::new(),
                    error_message: "chunk not found".into(),
                }));
            };
            let actual = hash(&data).await;
            let matches_id = actual.ct_eq(&id);
            if !matches_id {
                self.state.report_corrupt(&id).await;
            }
            let matches_expected =
                r.expected_hash.is_empty() || r.expected_hash[..] == actual.0[..];
            let valid = matches_id && matches_expected;
            Ok(Response::new(VerifyChunkResponse {
                valid,
                actual_hash: Bytes::copy_from_slice(&actual.0),
                error_message: match (matches_id, matches_expected) {
                    (false, _) => "stored bytes do not hash to the chunk id (corrupt)".into(),
                    (true, false) => "stored bytes do not match the expected hash".into(),
                    _ => String::new(),
                },
            }))
        })
        .await
    }

    async fn health_check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        observed(&self.state, "HealthCheck", async {
            let s = self.state.backend.stats().await;
            let healthy = s.is_ok();
            let s = s.unwrap_or_default();
            Ok(Response::new(HealthCheckResponse {
                healthy,
                status: Some(NodeStatus {
                    node_id: self.state.node_id.clone(),
                    capacity_bytes: self.state.offered(s.used_bytes),
                    used_bytes: s.used_bytes,
                    chunk_count: s.chunk_count,
                    cpu_usage: self.state.cpu.cpu_percent(),
                    memory_usage: crate::sys::memory_percent(),
                    uptime_seconds: self.state.started.elapsed().as_secs(),
                }),
            }))
        })
        .await
    }
}
