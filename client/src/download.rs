//! The download engine: for each chunk a range touches, fetch shards from the fastest nodes
//! (k plus two extra at once, the rest only on failure; the first k that verify win and the
//! slower fetches are cancelled), decode, decrypt, decompress, and write in order.
//!
//! Several chunks are in flight at once (bounded by a memory budget) and written in order.
//! Objects stored through plain S3 (not client-encrypted) stream through the gateway's S3
//! path instead. Downloads to a file go to `<file>.cyxpart` with a small progress record
//! beside it; an interrupted download continues from the last complete chunk when run again,
//! and the file appears under its name only once it is complete and synced.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use cyxcloud_core::buffers::BufferPool;
use cyxcloud_core::keys::DataKey;
use cyxcloud_core::manifest::ChunkEntry;
use cyxcloud_core::pipeline::ChunkDecoder;
use cyxcloud_core::{ErasureProfile, Manifest};
use cyxcloud_proto::gateway::{ChunkSources, GetDownloadRequest, NodeTarget};
use cyxcloud_proto::metadata::ObjectInfo;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use tokio_util::task::AbortOnDropHandle;

use crate::Client;
use crate::config::write_atomic;
use crate::error::{ClientError, Result};
use crate::nodes::NodePool;
use crate::progress::{Progress, ProgressFn, emit};

/// Shard fetches started beyond k once the first k are late (see
/// [`NodePool::hedge_delay`]). Reads ask only k nodes until then, so nodes serve no shard
/// that is thrown away unless one of them is slow.
const EXTRA_READS: usize = 2;
/// The part file is synced (and the resume record advanced) after at least this many bytes.
const SYNC_EVERY: u64 = 256 << 20;

/// Receives the plaintext in order.
pub trait Sink {
    fn write(&mut self, piece: &[u8]) -> Result<()>;
    /// Called after each complete chunk (a safe point to record progress).
    fn chunk_done(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Any `Write` (stdout, a `Vec`) as a sink.
pub struct WriteSink<W>(pub W);

impl<W: Write> Sink for WriteSink<W> {
    fn write(&mut self, piece: &[u8]) -> Result<()> {
        self.0
            .write_all(piece)
            .map_err(|e| ClientError::io("writing the output", e))
    }
    fn chunk_done(&mut self) -> Result<()> {
        self.0
            .flush()
            .map_err(|e| ClientError::io("writing the output", e))
    }
}

impl Client {
    /// Stream `bucket/key` (or the plaintext range `[start, end)`) into `sink`.
    pub async fn download(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        sink: &mut dyn Sink,
        progress: Option<ProgressFn>,
    ) -> Result<ObjectInfo> {
        let (start, end) = range.unwrap_or((0, 0));
        let r = self.req(GetDownloadRequest {
            bucket: bucket.into(),
            key: key.into(),
            range_start: start,
            range_end: end,
        })?;
        let d = self
            .grpc()
            .get_download(r)
            .await
            .map_err(ClientError::from_status)?
            .into_inner();
        let info = d
            .object
            .ok_or_else(|| ClientError::Integrity("the gateway sent no object".into()))?;
        let end = if range.is_some() {
            end.min(info.size)
        } else {
            info.size
        };
        if start > end || (range.is_some() && start >= info.size && info.size > 0) {
            return Err(ClientError::InvalidArgument(format!(
                "range {start}-{end} is outside the object's {} bytes",
                info.size
            )));
        }
        emit(
            &progress,
            Progress::Started {
                total: Some(end - start),
                done: 0,
            },
        );
        if !info.client_encrypted {
            return self
                .download_plain(
                    bucket,
                    key,
                    range.map(|_| (start, end)),
                    info,
                    sink,
                    progress,
                )
                .await;
        }
        let manifest = Manifest::from_bytes(&d.manifest)?;
        let enc = manifest.encryption.as_ref().ok_or_else(|| {
            ClientError::Integrity("a client-encrypted object without a key record".into())
        })?;
        let kek = self.key().await?;
        if enc.key_id() != kek.id() {
            return Err(ClientError::WrongKey(format!(
                "{bucket}/{key} was encrypted under key {}, not yours ({}): wrong passphrase, or \
                 another account's object",
                enc.key_id(),
                kek.id()
            )));
        }
        let dk = Arc::new(kek.unwrap(&enc.wrapped_key, &manifest.object_id)?);
        let offsets = manifest.chunk_offsets();
        let manifest = Arc::new(manifest);
        let per_chunk = manifest.chunk_size as usize * 2 + 1;
        let parallel = ((256usize << 20) / per_chunk).clamp(2, 8);
        let mut written = 0u64;
        // Each chunk is fetched and decoded in its own task, so the next chunks keep coming
        // while one is written out (and synced) in order. At most `parallel` run at once.
        let mut stream = futures_util::stream::iter(d.chunks.into_iter().map(|c| {
            let (pool, manifest, dk) = (self.pool.clone(), manifest.clone(), dk.clone());
            let buffers = self.buffers.clone();
            // Aborted when dropped: a failed download stops fetching the chunks after it.
            let task =
                AbortOnDropHandle::new(tokio::spawn(fetch_chunk(pool, buffers, manifest, dk, c)));
            async move {
                task.await.unwrap_or_else(|e| {
                    Err(ClientError::Integrity(format!("chunk task failed: {e}")))
                })
            }
        }))
        .buffered(parallel);
        while let Some(r) = stream.next().await {
            let (index, plain) = r?;
            let off = offsets[index as usize];
            let a = start.saturating_sub(off).min(plain.len() as u64) as usize;
            let b = end.saturating_sub(off).min(plain.len() as u64) as usize;
            // Writing and syncing block; on a multi-threaded runtime the other tasks move
            // to another thread meanwhile.
            blocking(|| {
                if a < b {
                    sink.write(&plain[a..b])?;
                }
                sink.chunk_done()
            })?;
            written += b.saturating_sub(a) as u64;
            emit(
                &progress,
                Progress::ChunkDone {
                    index,
                    bytes: (b.saturating_sub(a)) as u64,
                },
            );
        }
        if written != end - start {
            return Err(ClientError::Integrity(format!(
                "wrote {written} bytes of the {} expected",
                end - start
            )));
        }
        emit(&progress, Progress::Finished { bytes: written });
        Ok(info)
    }

    async fn download_plain(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        info: ObjectInfo,
        sink: &mut dyn Sink,
        progress: Option<ProgressFn>,
    ) -> Result<ObjectInfo> {
        let expect = range.map(|(a, b)| b - a).unwrap_or(info.size);
        if expect == 0 {
            emit(&progress, Progress::Finished { bytes: 0 });
            return Ok(info);
        }
        let resp = self.api().s3_get(bucket, key, range).await?;
        let mut body = resp.bytes_stream();
        let mut n = 0u64;
        while let Some(piece) = body.next().await {
            let piece = piece
                .map_err(|e| ClientError::Unreachable(format!("reading from the gateway: {e}")))?;
            sink.write(&piece)?;
            n += piece.len() as u64;
            emit(
                &progress,
                Progress::ChunkDone {
                    index: 0,
                    bytes: piece.len() as u64,
                },
            );
        }
        sink.chunk_done()?;
        if n != expect {
            return Err(ClientError::Unreachable(format!(
                "the gateway sent {n} of {expect} bytes"
            )));
        }
        emit(&progress, Progress::Finished { bytes: n });
        Ok(info)
    }

    /// Download the object, or the byte range `[start, end)` of it, to a file: atomically,
    /// and resuming an interrupted download of the same range of the same version.
    pub async fn download_file(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        dest: &Path,
        progress: Option<ProgressFn>,
    ) -> Result<ObjectInfo> {
        let info = self.stat(bucket, key).await?;
        let (start, end) = match range {
            Some((a, b)) => (a, b.min(info.size)),
            None => (0, info.size),
        };
        if start > end || (range.is_some() && start >= end) {
            return Err(ClientError::InvalidArgument(format!(
                "range {start}-{end} is outside the object's {} bytes",
                info.size
            )));
        }
        let part = sidecar(dest, "cyxpart");
        let meta_path = sidecar(dest, "cyxpart.json");
        let mut done = 0u64;
        if let (Ok(text), Ok(md)) = (std::fs::read(&meta_path), std::fs::metadata(&part))
            && let Ok(m) = serde_json::from_slice::<PartRecord>(&text)
            && m.version == 1
            && m.etag == info.etag
            && m.size == info.size
            && (m.start, m.end) == (start, end)
            && md.len() >= m.done
        {
            done = m.done;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&part)
            .map_err(|e| ClientError::io(format!("creating {}", part.display()), e))?;
        f.set_len(done)
            .map_err(|e| ClientError::io(format!("writing {}", part.display()), e))?;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(done))
            .map_err(|e| ClientError::io(format!("writing {}", part.display()), e))?;
        let mut sink = FileSink {
            file: std::io::BufWriter::with_capacity(1 << 20, f),
            meta_path: meta_path.clone(),
            record: PartRecord {
                version: 1,
                etag: info.etag.clone(),
                size: info.size,
                start,
                end,
                done,
            },
            path: part.clone(),
            synced: done,
        };
        if start + done < end {
            self.download(bucket, key, Some((start + done, end)), &mut sink, progress)
                .await?;
        }
        let f = sink
            .file
            .into_inner()
            .map_err(|e| ClientError::io(format!("writing {}", part.display()), e.into_error()))?;
        f.sync_all()
            .map_err(|e| ClientError::io(format!("syncing {}", part.display()), e))?;
        std::fs::rename(&part, dest)
            .map_err(|e| ClientError::io(format!("renaming to {}", dest.display()), e))?;
        let _ = std::fs::remove_file(&meta_path);
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(info)
    }
}

/// `<dest>.<ext>` beside the destination.
fn sidecar(dest: &Path, ext: &str) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

#[derive(Serialize, Deserialize)]
struct PartRecord {
    version: u32,
    etag: String,
    size: u64,
    /// The byte range `[start, end)` being downloaded (the whole object: `0..size`).
    start: u64,
    end: u64,
    /// Bytes of the range already in the part file, all synced.
    done: u64,
}

struct FileSink {
    file: std::io::BufWriter<std::fs::File>,
    meta_path: PathBuf,
    record: PartRecord,
    path: PathBuf,
    synced: u64,
}

impl Sink for FileSink {
    fn write(&mut self, piece: &[u8]) -> Result<()> {
        self.file
            .write_all(piece)
            .map_err(|e| ClientError::io(format!("writing {}", self.path.display()), e))?;
        self.record.done += piece.len() as u64;
        Ok(())
    }

    fn chunk_done(&mut self) -> Result<()> {
        // The record only ever claims synced bytes; syncing every chunk would cost more
        // than the re-download it saves.
        let complete = self.record.start + self.record.done >= self.record.end;
        if self.record.done < self.synced + SYNC_EVERY && !complete {
            return Ok(());
        }
        self.synced = self.record.done;
        let err = |e| ClientError::io(format!("writing {}", self.path.display()), e);
        self.file.flush().map_err(err)?;
        self.file.get_ref().sync_data().map_err(err)?;
        let json =
            serde_json::to_vec(&self.record).map_err(|e| ClientError::Integrity(e.to_string()))?;
        write_atomic(&self.meta_path, &json, 0o600)
    }
}

/// Run blocking file work without stalling the runtime's other tasks where it can.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Fetch k verified shards of one chunk and decode it.
async fn fetch_chunk(
    pool: Arc<NodePool>,
    buffers: BufferPool,
    manifest: Arc<Manifest>,
    dk: Arc<DataKey>,
    c: ChunkSources,
) -> Result<(u64, Bytes)> {
    let index = c.chunk_index;
    let entry: ChunkEntry = manifest
        .chunks
        .get(index as usize)
        .cloned()
        .ok_or_else(|| {
            ClientError::Integrity(format!(
                "the gateway sent sources for unknown chunk {index}"
            ))
        })?;
    let profile: ErasureProfile = manifest.profile;
    let (k, total) = (profile.data_shards(), profile.total_shards());
    // Candidates: one list per shard of nodes holding it, fastest first; shards ordered by
    // their best node's speed.
    let mut per_shard: Vec<(usize, Vec<NodeTarget>)> = Vec::new();
    for s in c.shards {
        let i = s.shard_index as usize;
        if i >= total || s.sources.is_empty() {
            continue;
        }
        let mut ranked: Vec<(String, usize)> = s
            .sources
            .iter()
            .enumerate()
            .map(|(j, t)| (t.node_id.clone(), j))
            .collect();
        pool.rank(&mut ranked);
        per_shard.push((
            i,
            ranked
                .into_iter()
                .map(|(_, j)| s.sources[j].clone())
                .collect(),
        ));
    }
    let mut order: Vec<(String, usize)> = per_shard
        .iter()
        .enumerate()
        .map(|(p, (_, t))| (t[0].node_id.clone(), p))
        .collect();
    pool.rank(&mut order);
    let mut queue: std::collections::VecDeque<(usize, Vec<NodeTarget>)> = order
        .into_iter()
        .map(|(_, p)| std::mem::take(&mut per_shard[p]))
        .collect();

    let size = entry.shard_size as usize;
    let fetch = |i: usize, mut sources: Vec<NodeTarget>, started: Arc<OnceLock<Instant>>| {
        let pool = pool.clone();
        let id = entry.shards[i];
        async move {
            let t = sources.remove(0);
            let r = pool
                .get(&t.node_id, &t.address, id, t.grant.clone(), size, &started)
                .await;
            (i, t.node_id, sources, r)
        }
    };
    let mut shards: Vec<Option<Bytes>> = vec![None; total];
    let mut have = 0;
    let mut last_err = None;
    // The hedge: when requests already sent to nodes have not answered in time, ask more
    // nodes. Time spent waiting for our own connection limit does not count: the nodes are
    // not late, and more requests would wait too. At most once per chunk.
    let hedge = pool.hedge_delay(
        queue.iter().take(k).map(|(_, t)| t[0].node_id.as_str()),
        size,
    );
    let mut hedge_at = tokio::time::Instant::now() + hedge;
    let mut hedged = false;
    // Shards are verified once, by the decoder. A corrupt one makes it report too few valid
    // shards; then as many more are fetched as were corrupt, and decoding runs again.
    let mut want = k;
    loop {
        let mut inflight = FuturesUnordered::new();
        // Shard index -> node and when its request left, for the fetches in flight.
        let mut asked: HashMap<usize, (String, Arc<OnceLock<Instant>>)> = HashMap::new();
        loop {
            let target = want + if hedged { EXTRA_READS } else { 0 };
            while inflight.len() + have < target {
                let Some((i, s)) = queue.pop_front() else {
                    break;
                };
                let started = Arc::new(OnceLock::new());
                asked.insert(i, (s[0].node_id.clone(), started.clone()));
                inflight.push(fetch(i, s, started));
            }
            if have >= want {
                break;
            }
            let done = if hedged {
                inflight.next().await
            } else {
                match tokio::time::timeout_at(hedge_at, inflight.next()).await {
                    Ok(done) => done,
                    Err(_) => {
                        let now = Instant::now();
                        let late: Vec<&str> = asked
                            .values()
                            .filter(|(_, s)| s.get().is_some_and(|t| now - *t >= hedge))
                            .map(|(n, _)| n.as_str())
                            .collect();
                        if late.is_empty() {
                            // Look again when the earliest request sent is due.
                            let first = asked.values().filter_map(|(_, s)| s.get()).min();
                            hedge_at = tokio::time::Instant::now()
                                + first
                                    .map_or(hedge, |t| (*t + hedge).saturating_duration_since(now));
                        } else {
                            // Rank the late ones as slow as they have proved to be.
                            for node in late {
                                pool.record_slow(node, size, hedge);
                            }
                            hedged = true;
                        }
                        continue;
                    }
                }
            };
            let Some((i, node, rest, r)) = done else {
                break;
            };
            asked.remove(&i);
            match r {
                Ok(data) if data.len() == size => {
                    shards[i] = Some(data);
                    have += 1;
                }
                other => {
                    last_err = Some(match other {
                        Err(e) => e.to_string(),
                        Ok(d) => format!(
                            "shard {i} from {node} has {} bytes, expected {size}",
                            d.len()
                        ),
                    });
                    // Try the shard's next holder, else (by the top of the loop) another shard.
                    if let Some(next) = rest.first() {
                        let started = Arc::new(OnceLock::new());
                        asked.insert(i, (next.node_id.clone(), started.clone()));
                        inflight.push(fetch(i, rest, started));
                    }
                }
            }
        }
        drop(inflight); // cancels the slowest fetches
        if have < want {
            return Err(ClientError::Quorum(format!(
                "chunk {index}: only {} of the {k} shards needed could be read{}",
                have - (want - k),
                last_err
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            )));
        }
        let (object, entry, dk) = (manifest.object_id, entry.clone(), dk.clone());
        let buffers = buffers.clone();
        let (back, r) = tokio::task::spawn_blocking(move || {
            let r = ChunkDecoder::new(profile).and_then(|mut dec| {
                let refs: Vec<Option<&[u8]>> = shards.iter().map(|s| s.as_deref()).collect();
                dec.decode_pooled(&buffers, &object, &entry, &refs, Some(&dk))
                    .map(|(plain, _)| plain)
            });
            (shards, r)
        })
        .await
        .map_err(|e| ClientError::Integrity(format!("decoder: {e}")))?;
        shards = back;
        match r {
            Ok(plain) => return Ok((index, plain)),
            Err(cyxcloud_core::Error::NotEnoughShards { valid, .. }) if valid < k => {
                last_err = Some(format!("{} corrupt shards", have - valid));
                want = have + (k - valid);
            }
            Err(e) => return Err(e.into()),
        }
    }
}
