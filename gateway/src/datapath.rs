//! The data path between S3 bodies and storage nodes.
//!
//! Writes: the body streams into chunk-sized buffers; each chunk is encoded (LZ4 when it
//! pays, AES-256-GCM under a per-part data key wrapped by the gateway's key, Reed-Solomon)
//! on a blocking thread while the previous chunk's shards are in flight; every shard goes to
//! its own node with a store grant. Memory is bounded by `upload_parallel_chunks` chunks and
//! their shards, whatever the object size. Shards are recorded against the upload before
//! they are sent, so an upload that fails or dies leaves nothing nobody will clean up.
//!
//! Write quorum: a chunk counts as written when at least k + ceil(m/2) of its k+m shards
//! are stored on distinct nodes (failed shards are retried on spare nodes first).
//!
//! Reads: per chunk, ask the k best holders (read-healthy first, then by latency), and a
//! few more only if those are slower than usual (hedged); keep the first k that arrive,
//! drop the rest; decode on a blocking thread; one chunk is prefetched while the previous
//! one is sent.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cyxcloud_core::buffers::BufferPool;
use cyxcloud_core::grant::GrantOp;
use cyxcloud_core::keys::{DataKey, KeyEncryptionKey};
use cyxcloud_core::manifest::{ALGORITHM_AES_256_GCM, ChunkEntry, EncryptionInfo};
use cyxcloud_core::pipeline::{ChunkDecoder, ChunkEncoder, ChunkOptions, max_encoded_len};
use cyxcloud_core::{ChunkId, ErasureProfile, Manifest, ObjectId};
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::{self as cpb};
use cyxcloud_proto::frames;
use futures_util::stream::{FuturesUnordered, StreamExt};
use md5::Digest;
use tokio::sync::mpsc;

use crate::db::{Db, ShardLoc};
use crate::error::{GatewayError, Result};
use crate::layout::Layout;
use crate::nodes::{NodeInfo, Registry, Signer};

/// A source of body bytes (already de-chunked and checked by the S3 layer).
pub type BodyStream = futures_util::stream::BoxStream<'static, Result<Bytes>>;

/// Settings of the data path.
#[derive(Clone, Debug)]
pub struct DataPathConfig {
    pub chunk_size: usize,
    pub parallel_chunks: usize,
    pub read_extra: usize,
    pub node_timeout: Duration,
    pub spares: usize,
}

pub struct DataPath {
    /// Chunk, shard and plaintext buffers, reused across requests (see `core::buffers`).
    pub buffers: BufferPool,
    pub db: Db,
    pub registry: Arc<Registry>,
    pub signer: Arc<Signer>,
    pub kek: Arc<KeyEncryptionKey>,
    pub cfg: DataPathConfig,
}

/// One encoded and stored part.
pub struct StoredPart {
    pub manifest: Manifest,
    /// Shard locations; chunk indices are the manifest's.
    pub shards: Vec<ShardLoc>,
    pub md5: [u8; 16],
    pub size: u64,
}

pub fn write_quorum(p: ErasureProfile) -> usize {
    p.data_shards() + p.parity_shards().div_ceil(2)
}

struct Encoded {
    entry: ChunkEntry,
    shards: Vec<Bytes>,
    buf: Vec<u8>,
}

impl DataPath {
    fn client(&self, node: &str) -> Result<ChunkServiceClient<tonic::transport::Channel>> {
        let max = self.registry.max_message();
        Ok(ChunkServiceClient::new(self.registry.channel(node)?)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max))
    }

    /// Encode and store a body as one part of `upload_id`. `limit` caps the bytes accepted.
    pub async fn store(
        self: &Arc<Self>,
        upload_id: &str,
        profile: ErasureProfile,
        mut body: BodyStream,
        limit: u64,
    ) -> Result<StoredPart> {
        let object = ObjectId::random();
        let key = DataKey::generate();
        let enc_info = EncryptionInfo {
            algorithm: ALGORITHM_AES_256_GCM.into(),
            wrapped_key: self.kek.wrap(&key, &object),
        };
        let key = Arc::new(key);
        let chunk_size = self.cfg.chunk_size;
        let mut manifest = Manifest::new(object, profile, chunk_size as u64, Some(enc_info), "");
        let mut md5 = md5::Md5::new();
        let mut total: u64 = 0;
        let mut index: u64 = 0;
        let mut in_flight = FuturesUnordered::new();
        let mut entries: Vec<Option<(ChunkEntry, Vec<ShardLoc>)>> = Vec::new();
        let mut pending: Option<Bytes> = None;
        let mut ended = false;
        while !ended {
            // Fill one chunk.
            let mut buf = self.buffers.take(chunk_size);
            buf.clear();
            buf.reserve(chunk_size);
            loop {
                let piece = match pending.take() {
                    Some(p) => p,
                    None => match body.next().await {
                        Some(p) => p?,
                        None => {
                            ended = true;
                            break;
                        }
                    },
                };
                total += piece.len() as u64;
                if total > limit {
                    return Err(GatewayError::EntityTooLarge);
                }
                let room = chunk_size - buf.len();
                if piece.len() > room {
                    md5.update(&piece[..room]);
                    buf.extend_from_slice(&piece[..room]);
                    total -= (piece.len() - room) as u64;
                    pending = Some(piece.slice(room..));
                } else {
                    md5.update(&piece);
                    buf.extend_from_slice(&piece);
                }
                if buf.len() == chunk_size {
                    break;
                }
            }
            if buf.is_empty() {
                self.buffers.give(buf);
                break;
            }
            let i = index;
            index += 1;
            entries.push(None);
            let key = key.clone();
            let pool = self.buffers.clone();
            let enc = tokio::task::spawn_blocking(move || -> Result<Encoded> {
                let mut e = ChunkEncoder::new(profile)?;
                e.reuse_buffer(pool.take(max_encoded_len(profile, buf.len())));
                let (entry, stripes) = e.encode_owned(
                    &object,
                    i,
                    &buf,
                    ChunkOptions {
                        compress: true,
                        key: Some(&key),
                    },
                )?;
                // The shards are views of the encoder's buffer: no copy per shard.
                let len = entry.shard_size as usize;
                let stripes = pool.bytes(stripes);
                let shards = (0..entry.shards.len())
                    .map(|s| stripes.slice(s * len..(s + 1) * len))
                    .collect();
                Ok(Encoded { entry, shards, buf })
            })
            .await
            .map_err(|e| GatewayError::Internal(format!("encoder task: {e}")))??;
            self.buffers.give(enc.buf);
            let this = self.clone();
            let upload = upload_id.to_string();
            in_flight.push(async move {
                let locs = this
                    .store_chunk(&upload, i, profile, &enc.entry, enc.shards)
                    .await?;
                Ok::<_, GatewayError>((i, enc.entry, locs))
            });
            while in_flight.len() >= self.cfg.parallel_chunks {
                let (i, e, l) = in_flight.next().await.expect("not empty")?;
                entries[i as usize] = Some((e, l));
            }
        }
        while let Some(r) = in_flight.next().await {
            let (i, e, l) = r?;
            entries[i as usize] = Some((e, l));
        }
        let mut shards = Vec::new();
        for e in entries {
            let (entry, locs) = e.ok_or_else(|| GatewayError::Internal("chunk lost".into()))?;
            manifest.push_chunk(entry);
            shards.extend(locs);
        }
        manifest.validate()?;
        Ok(StoredPart {
            manifest,
            shards,
            md5: md5.finalize().into(),
            size: total,
        })
    }

    /// Store one encoded chunk's shards on distinct nodes; returns where they went.
    async fn store_chunk(
        &self,
        upload_id: &str,
        chunk_index: u64,
        profile: ErasureProfile,
        entry: &ChunkEntry,
        shards: Vec<Bytes>,
    ) -> Result<Vec<ShardLoc>> {
        let n = shards.len();
        let quorum = write_quorum(profile);
        let mut used: HashSet<String> = HashSet::new();
        let mut targets = self.registry.place(n + self.cfg.spares, &used);
        if targets.len() < quorum {
            return Err(GatewayError::NoNodes(format!(
                "{} write-healthy nodes, {quorum} needed",
                targets.len()
            )));
        }
        let spares: Vec<NodeInfo> = targets.split_off(targets.len().min(n));
        let mut spares = spares.into_iter();
        for t in &targets {
            used.insert(t.id.clone());
        }
        let record: Vec<([u8; 32], String)> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (entry.shards[i].0, t.id.clone()))
            .collect();
        self.db.record_upload_shards(upload_id, &record).await?;

        let mut tasks = FuturesUnordered::new();
        for (i, t) in targets.into_iter().enumerate() {
            tasks.push(self.store_shard(i, t, entry.shards[i], shards[i].clone(), 0));
        }
        let mut stored = Vec::new();
        let mut timeouts = 0;
        let mut last_err = String::new();
        while let Some((i, node, attempt, r)) = tasks.next().await {
            match r {
                Ok(()) => stored.push(ShardLoc {
                    chunk_index,
                    shard_index: i as u32,
                    shard_id: entry.shards[i].0,
                    node_id: node.id,
                }),
                Err(e) => {
                    if matches!(e, GatewayError::NodeTimeout) {
                        timeouts += 1;
                    }
                    last_err = format!("{}: {e}", node.id);
                    tracing::debug!(node = %node.id, shard = i, error = %e, "shard store failed");
                    if attempt >= 2 {
                        continue;
                    }
                    let next = match spares.next() {
                        Some(s) => Some(s),
                        None => self.registry.place(1, &used).into_iter().next(),
                    };
                    if let Some(s) = next {
                        used.insert(s.id.clone());
                        self.db
                            .record_upload_shards(upload_id, &[(entry.shards[i].0, s.id.clone())])
                            .await?;
                        tasks.push(self.store_shard(
                            i,
                            s,
                            entry.shards[i],
                            shards[i].clone(),
                            attempt + 1,
                        ));
                    }
                }
            }
        }
        if stored.len() < quorum {
            if timeouts > 0 && stored.is_empty() {
                return Err(GatewayError::NodeTimeout);
            }
            return Err(GatewayError::QuorumFailed(format!(
                "chunk {chunk_index}: {} of {n} shards stored, {quorum} needed (last error {last_err})",
                stored.len()
            )));
        }
        stored.sort_by_key(|s| s.shard_index);
        Ok(stored)
    }

    async fn store_shard(
        &self,
        i: usize,
        node: NodeInfo,
        id: ChunkId,
        data: Bytes,
        attempt: u32,
    ) -> (usize, NodeInfo, u32, Result<()>) {
        let started = Instant::now();
        let r = async {
            let mut ch = self.registry.channel(&node.id)?;
            let grant = self
                .signer
                .grant(GrantOp::Store, &node.public_key, &id, data.len() as u64);
            let req = cpb::StoreChunkRequest {
                chunk_id: Some(id.into()),
                data,
                metadata: None,
                grant: grant.into(),
            };
            // The shard goes to the socket from `data` itself, not from a copy.
            let limits = frames::Limits::both(self.registry.max_message());
            let call = frames::store_chunk(&mut ch, req, limits);
            match tokio::time::timeout(self.cfg.node_timeout, call).await {
                Err(_) => Err(GatewayError::NodeTimeout),
                Ok(Err(s)) => Err(GatewayError::Unavailable(format!(
                    "{}: {}",
                    s.code(),
                    s.message()
                ))),
                Ok(Ok(r)) if !r.get_ref().success => {
                    Err(GatewayError::Unavailable(r.into_inner().error_message))
                }
                Ok(Ok(_)) => Ok(()),
            }
        }
        .await;
        match &r {
            Ok(()) => self.registry.record_success(&node.id, started.elapsed()),
            Err(_) => self.registry.record_failure(&node.id),
        }
        (i, node, attempt, r)
    }

    /// Fetch and decode one chunk: k shards from the nodes that answered fastest so far, and
    /// `read_extra` more from the next nodes when the k have not all arrived within the hedge
    /// delay (twice the slowest one's usual latency), the first k to arrive decoded. A failed
    /// request is replaced at once. Asking k + extra from the start cost every read a
    /// quarter more node work (8+6 with 2 extra) to hide a tail that is rarely there.
    /// Shards are verified once, by the decoder; when it finds too few intact ones, the
    /// corrupt ones are dropped (and their nodes marked as failing) and replacements are
    /// fetched.
    pub async fn read_chunk(
        &self,
        manifest: &Manifest,
        chunk: usize,
        holders: &[ShardLoc],
    ) -> Result<Bytes> {
        let entry = &manifest.chunks[chunk];
        let profile = manifest.profile;
        let k = profile.data_shards();
        let total = profile.total_shards();
        let mut cands: Vec<(usize, String)> = holders
            .iter()
            .filter(|h| (h.shard_index as usize) < total)
            .filter(|h| h.shard_id == entry.shards[h.shard_index as usize].0)
            .map(|h| (h.shard_index as usize, h.node_id.clone()))
            .collect();
        self.registry.read_order(&mut cands);
        let object = manifest.object_id;
        let key = match &manifest.encryption {
            Some(e) => Some(Arc::new(self.kek.unwrap(&e.wrapped_key, &object)?)),
            None => None,
        };
        let mut got: Vec<Option<(Bytes, String)>> = vec![None; total];
        let mut have = 0;
        let mut tried = 0;
        // Shard index -> node, for the requests in flight.
        let mut inflight: HashMap<usize, String> = HashMap::new();
        let mut tasks = FuturesUnordered::new();
        let mut next = 0;
        let hedge = self
            .registry
            .hedge_delay(cands.iter().take(k).map(|(_, n)| n.as_str()));
        // The hedge counts from when the first k are asked, not from the last answer.
        let hedge_at = tokio::time::Instant::now() + hedge;
        let mut hedged = self.cfg.read_extra == 0;
        let mut last_err = String::from("no holders recorded");
        loop {
            loop {
                let want = if hedged { k + self.cfg.read_extra } else { k };
                while tasks.len() + have < want && next < cands.len() {
                    let (idx, node) = cands[next].clone();
                    next += 1;
                    if got[idx].is_some() || inflight.contains_key(&idx) {
                        continue;
                    }
                    inflight.insert(idx, node.clone());
                    tried += 1;
                    tasks.push(self.fetch_shard(idx, node, entry.shards[idx], entry.shard_size));
                }
                if have >= k {
                    break;
                }
                let done = if hedged {
                    tasks.next().await
                } else {
                    match tokio::time::timeout_at(hedge_at, tasks.next()).await {
                        Ok(done) => done,
                        Err(_) => {
                            // Those still out are slower than usual: rank them so.
                            for node in inflight.values() {
                                self.registry.record_slow(node, hedge);
                            }
                            hedged = true;
                            continue;
                        }
                    }
                };
                let Some((idx, node, r)) = done else {
                    break;
                };
                inflight.remove(&idx);
                match r {
                    Ok(b) => {
                        if got[idx].is_none() {
                            got[idx] = Some((b, node));
                            have += 1;
                        }
                    }
                    Err(e) => last_err = format!("{node}: {e}"),
                }
            }
            if have < k {
                return Err(GatewayError::Unavailable(format!(
                    "chunk {chunk}: {have} of {k} shards reachable after {tried} requests ({last_err})"
                )));
            }
            let shards: Vec<Option<Bytes>> = got
                .iter()
                .map(|g| g.as_ref().map(|(b, _)| b.clone()))
                .collect();
            let (entry2, key2) = (entry.clone(), key.clone());
            let pool = self.buffers.clone();
            let decoded = tokio::task::spawn_blocking(move || {
                let refs: Vec<Option<&[u8]>> = shards.iter().map(|o| o.as_deref()).collect();
                let r = ChunkDecoder::new(profile).and_then(|mut d| {
                    d.decode_pooled(&pool, &object, &entry2, &refs, key2.as_deref())
                });
                match r {
                    Err(cyxcloud_core::Error::NotEnoughShards { .. }) => {
                        let bad: Vec<usize> = refs
                            .iter()
                            .enumerate()
                            .filter(|(i, s)| s.is_some_and(|s| ChunkId::of(s) != entry2.shards[*i]))
                            .map(|(i, _)| i)
                            .collect();
                        Err(bad)
                    }
                    r => Ok(r),
                }
            })
            .await
            .map_err(|e| GatewayError::Internal(format!("decoder task: {e}")))?;
            match decoded {
                Ok(r) => {
                    let (data, corrupt) = r?;
                    if !corrupt.is_empty() {
                        tracing::warn!(shards = ?corrupt, "corrupt shards skipped while decoding");
                    }
                    return Ok(data);
                }
                Err(bad) if !bad.is_empty() => {
                    for i in bad {
                        if let Some((_, node)) = got[i].take() {
                            tracing::warn!(%node, shard = i, chunk, "shard failed verification");
                            self.registry.record_failure(&node);
                            last_err = format!("{node}: shard failed verification");
                            have -= 1;
                        }
                    }
                }
                Err(_) => {
                    return Err(GatewayError::Internal(format!(
                        "chunk {chunk}: the decoder found too few shards among verified ones"
                    )));
                }
            }
        }
    }

    async fn fetch_shard(
        &self,
        idx: usize,
        node: String,
        id: ChunkId,
        len: u64,
    ) -> (usize, String, Result<Bytes>) {
        let started = Instant::now();
        let r = async {
            let info = self
                .registry
                .get(&node)
                .ok_or_else(|| GatewayError::Unavailable("node is not registered".into()))?;
            let mut c = self.client(&node)?;
            let grant = self.signer.grant(GrantOp::Get, &info.public_key, &id, len);
            let req = cpb::GetChunkRequest {
                chunk_id: Some(id.into()),
                grant: grant.into(),
            };
            match tokio::time::timeout(self.cfg.node_timeout, c.get_chunk(req)).await {
                Err(_) => Err(GatewayError::NodeTimeout),
                Ok(Err(s)) => Err(GatewayError::Unavailable(format!(
                    "{}: {}",
                    s.code(),
                    s.message()
                ))),
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    if !r.found {
                        return Err(GatewayError::Unavailable("shard not found".into()));
                    }
                    // The decoder verifies the shard against its id.
                    Ok(r.data)
                }
            }
        }
        .await;
        match &r {
            Ok(_) => self.registry.record_success(&node, started.elapsed()),
            Err(_) => self.registry.record_failure(&node),
        }
        (idx, node, r)
    }

    /// Stream bytes `[start, end)` of an object. The receiver yields pieces in order; an
    /// error ends the stream (the HTTP layer aborts the connection, so a client never
    /// mistakes a truncated body for a whole one).
    pub fn read_range(
        self: &Arc<Self>,
        layout: Arc<Layout>,
        shards: Arc<Vec<ShardLoc>>,
        start: u64,
        end: u64,
    ) -> mpsc::Receiver<Result<Bytes>> {
        let (tx, rx) = mpsc::channel(2);
        let this = self.clone();
        tokio::spawn(async move {
            let chunks = layout.chunks_for_range(start, end);
            let mut prefetch = futures_util::stream::iter(chunks.into_iter().map(|c| {
                let this = this.clone();
                let layout = layout.clone();
                let shards = shards.clone();
                async move {
                    let holders: Vec<ShardLoc> = shards
                        .iter()
                        .filter(|s| s.chunk_index == c.global)
                        .cloned()
                        .collect();
                    let data = this
                        .read_chunk(&layout.parts[c.part], c.chunk, &holders)
                        .await?;
                    let from = start.saturating_sub(c.offset) as usize;
                    let to = (end.min(c.offset + c.len) - c.offset) as usize;
                    Ok::<Bytes, GatewayError>(data.slice(from..to))
                }
            }))
            .buffered(2);
            while let Some(r) = prefetch.next().await {
                let stop = r.is_err();
                if tx.send(r).await.is_err() || stop {
                    break;
                }
            }
        });
        rx
    }

    /// Delete shards from nodes (the janitor's work). Returns the ones that succeeded.
    pub async fn delete_shard(&self, node: &str, shard: &[u8; 32]) -> Result<()> {
        let info = self
            .registry
            .get(node)
            .ok_or_else(|| GatewayError::Unavailable("node is not registered".into()))?;
        let id = ChunkId(*shard);
        let mut c = self.client(node)?;
        let grant = self.signer.grant(GrantOp::Delete, &info.public_key, &id, 0);
        let r = tokio::time::timeout(
            self.cfg.node_timeout,
            c.delete_chunk(cpb::DeleteChunkRequest {
                chunk_id: Some(id.into()),
                grant: grant.into(),
            }),
        )
        .await
        .map_err(|_| GatewayError::NodeTimeout)?
        .map_err(|s| GatewayError::Unavailable(format!("{}: {}", s.code(), s.message())))?;
        if !r.get_ref().success {
            return Err(GatewayError::Unavailable(r.into_inner().error_message));
        }
        Ok(())
    }
}

/// Hex MD5, as S3 ETags show it.
pub fn md5_hex(d: &[u8; 16]) -> String {
    hex::encode(d)
}
