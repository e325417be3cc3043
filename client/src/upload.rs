//! The upload engine: read -> chunk -> compress -> encrypt -> erasure code -> store shards on
//! the nodes the gateway places them on -> commit the manifest.
//!
//! - One blocking thread reads and encodes, one chunk at a time, while chunk uploads run on
//!   the runtime. A chunk's encoded buffer is only allocated after it gets an in-flight slot,
//!   so memory is bounded by (slots x encoded chunk) whatever the file size; slots come from
//!   a memory budget (default 256 MiB).
//! - Every shard goes to its placed node; on failure it moves to a spare. Once a chunk has
//!   its write quorum, shards still in flight get a deadline (as long as the chunk has taken
//!   so far, at least a second) after which a duplicate starts on a spare and the first to
//!   finish wins: one slow node never holds up the upload.
//! - Uploads of files are resumable: the resume token is derived from the file (path, size,
//!   modification time) and destination, and the gateway keeps each chunk's manifest entry
//!   and the nodes that confirmed its shards, so the same command run again re-reads only the
//!   chunks that were not stored.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cyxcloud_core::keys::DataKey;
use cyxcloud_core::manifest::{ALGORITHM_AES_256_GCM, ChunkEntry, EncryptionInfo};
use cyxcloud_core::pipeline::{ChunkEncoder, ChunkOptions, max_encoded_len};
use cyxcloud_core::{ChunkId, ErasureProfile, Manifest, ObjectId};
use cyxcloud_proto::gateway::{
    AbortUploadRequest, AllocateChunkRequest, BeginUploadRequest, BeginUploadResponse,
    CommitUploadRequest, NodeTarget, ResumeUploadRequest,
};
use cyxcloud_proto::metadata::{ObjectInfo, ShardLocation};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::Client;
use crate::error::{ClientError, Result};
use crate::nodes::NodePool;
use crate::progress::{Progress, ProgressFn, emit};

/// Where the bytes come from.
pub enum Source {
    File(PathBuf),
    /// A stream (stdin); not resumable.
    Reader(Box<dyn Read + Send>),
}

#[derive(Clone, Debug)]
pub struct UploadOptions {
    pub bucket: String,
    pub key: String,
    /// Guessed from the key's extension when unset.
    pub content_type: Option<String>,
    /// The bucket's profile when unset.
    pub erasure: Option<ErasureProfile>,
    pub compress: bool,
    pub user_metadata: BTreeMap<String, String>,
    /// Bytes of encoded chunks allowed in memory at once.
    pub memory_budget: usize,
}

impl UploadOptions {
    pub fn new(bucket: &str, key: &str) -> Self {
        UploadOptions {
            bucket: bucket.into(),
            key: key.into(),
            content_type: None,
            erasure: None,
            compress: true,
            user_metadata: BTreeMap::new(),
            memory_budget: 256 << 20,
        }
    }
}

/// A content type from a key's extension, for the common cases; else octet-stream.
pub fn guess_content_type(key: &str) -> &'static str {
    let ext = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "md" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "json" => "application/json",
        "js" => "text/javascript",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

enum Input {
    File(std::fs::File),
    Reader(Box<dyn Read + Send>),
}

impl Input {
    fn read_full(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r: &mut dyn Read = match self {
            Input::File(f) => f,
            Input::Reader(r) => r,
        };
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(m) => n += m,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        match self {
            Input::File(f) => f.seek(SeekFrom::Current(n as i64)).map(|_| ()),
            Input::Reader(r) => std::io::copy(&mut r.take(n), &mut std::io::sink()).map(|_| ()),
        }
    }
}

struct Encoded {
    index: u64,
    entry: ChunkEntry,
    shards: Bytes,
    _slot: OwnedSemaphorePermit,
}

/// A chunk that reached its write quorum.
struct Stored {
    entry: ChunkEntry,
    locations: Vec<ShardLocation>,
}

impl Client {
    /// Upload `src` to `opts.bucket`/`opts.key`, encrypted with the account's key.
    pub async fn upload(
        &self,
        src: Source,
        opts: &UploadOptions,
        progress: Option<ProgressFn>,
    ) -> Result<ObjectInfo> {
        let kek = self.key().await?;
        let (input, token, size_hint) = match src {
            Source::File(path) => {
                let f = std::fs::File::open(&path)
                    .map_err(|e| ClientError::io(format!("opening {}", path.display()), e))?;
                let md = f
                    .metadata()
                    .map_err(|e| ClientError::io(format!("reading {}", path.display()), e))?;
                if md.is_dir() {
                    return Err(ClientError::InvalidArgument(format!(
                        "{} is a directory",
                        path.display()
                    )));
                }
                let abs = std::fs::canonicalize(&path).unwrap_or(path);
                let mtime = md
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let mut h = blake3::Hasher::new();
                h.update(b"cyxcloud-resume-v1\0");
                for part in [
                    opts.bucket.as_bytes(),
                    opts.key.as_bytes(),
                    abs.to_string_lossy().as_bytes(),
                    &md.len().to_le_bytes(),
                    &mtime.to_le_bytes(),
                    format!("{:?}{}", opts.erasure, opts.compress).as_bytes(),
                ] {
                    h.update(&(part.len() as u64).to_le_bytes());
                    h.update(part);
                }
                (
                    Input::File(f),
                    Some(h.finalize().to_hex()[..32].to_string()),
                    Some(md.len()),
                )
            }
            Source::Reader(r) => (Input::Reader(r), None, None),
        };

        // Resume an interrupted upload of the same file, or begin a new one.
        let mut committed: BTreeMap<u64, Stored> = BTreeMap::new();
        let resumed = match &token {
            Some(t) => {
                let r = self.req(ResumeUploadRequest {
                    bucket: opts.bucket.clone(),
                    key: opts.key.clone(),
                    resume_token: t.clone(),
                })?;
                let r = self
                    .grpc()
                    .resume_upload(r)
                    .await
                    .map_err(ClientError::from_status)?
                    .into_inner();
                if r.found {
                    for c in r.chunks {
                        let entry: ChunkEntry =
                            serde_json::from_slice(&c.chunk_entry).map_err(|e| {
                                ClientError::Integrity(format!("resumed chunk entry: {e}"))
                            })?;
                        committed.insert(
                            c.chunk_index,
                            Stored {
                                entry,
                                locations: c.locations,
                            },
                        );
                    }
                    r.upload
                } else {
                    None
                }
            }
            None => None,
        };
        let (upload, object, dk, enc) = match resumed {
            Some(u) => {
                let object = ObjectId(u.object_id.as_ref().try_into().map_err(|_| {
                    ClientError::Integrity("resumed object id is not 16 bytes".into())
                })?);
                let enc: EncryptionInfo = serde_json::from_slice(&u.encryption)
                    .map_err(|e| ClientError::Integrity(format!("resumed key record: {e}")))?;
                let dk = kek.unwrap(&enc.wrapped_key, &object)?;
                (u, object, dk, enc)
            }
            None => {
                let object = ObjectId::random();
                let dk = DataKey::generate();
                let enc = EncryptionInfo {
                    algorithm: ALGORITHM_AES_256_GCM.into(),
                    wrapped_key: kek.wrap(&dk, &object),
                };
                let r = self.req(BeginUploadRequest {
                    bucket: opts.bucket.clone(),
                    key: opts.key.clone(),
                    size_hint: size_hint.unwrap_or(0),
                    content_type: opts.content_type.clone().unwrap_or_default(),
                    erasure: opts.erasure.map(Into::into),
                    client_encrypted: true,
                    resume_token: token
                        .clone()
                        .unwrap_or_else(|| hex::encode(ObjectId::random().0)),
                    encryption: serde_json::to_vec(&enc)
                        .map_err(|e| ClientError::Integrity(e.to_string()))?
                        .into(),
                    object_id: object.0.to_vec().into(),
                })?;
                let u = self
                    .grpc()
                    .begin_upload(r)
                    .await
                    .map_err(ClientError::from_status)?
                    .into_inner();
                (u, object, dk, enc)
            }
        };
        let res = self
            .run_upload(
                input, opts, &upload, object, dk, enc, committed, size_hint, progress,
            )
            .await;
        if res.is_err() && token.is_none() {
            // A stream cannot be resumed: free what it placed now.
            if let Ok(r) = self.req(AbortUploadRequest {
                upload_id: upload.upload_id.clone(),
            }) {
                let _ = self.grpc().abort_upload(r).await;
            }
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_upload(
        &self,
        mut input: Input,
        opts: &UploadOptions,
        upload: &BeginUploadResponse,
        object: ObjectId,
        dk: DataKey,
        enc: EncryptionInfo,
        mut committed: BTreeMap<u64, Stored>,
        size_hint: Option<u64>,
        progress: Option<ProgressFn>,
    ) -> Result<ObjectInfo> {
        let profile = upload
            .erasure
            .as_ref()
            .ok_or_else(|| ClientError::Integrity("the gateway named no erasure profile".into()))
            .and_then(|e| ErasureProfile::try_from(e).map_err(ClientError::from))?;
        let chunk_size = upload.chunk_size as usize;
        if chunk_size == 0 {
            return Err(ClientError::Integrity(
                "the gateway gave a zero chunk size".into(),
            ));
        }
        let encoded_len = max_encoded_len(profile, chunk_size);
        let slots = (opts.memory_budget / encoded_len.max(1)).clamp(2, 16);
        let done_before: u64 = committed.values().map(|s| s.entry.original_size).sum();
        emit(
            &progress,
            Progress::Started {
                total: size_hint,
                done: done_before,
            },
        );

        // The encoder thread.
        let skip: BTreeMap<u64, u64> = committed
            .iter()
            .map(|(i, s)| (*i, s.entry.original_size))
            .collect();
        let sem = Arc::new(Semaphore::new(slots));
        let (tx, mut rx) = mpsc::channel::<Result<Encoded>>(slots);
        let compress = opts.compress;
        let enc_progress = progress.clone();
        let encoder = {
            let sem = sem.clone();
            let buffers = self.buffers.clone();
            tokio::task::spawn_blocking(move || {
                let mut run = || -> Result<()> {
                    let mut encoder = ChunkEncoder::new(profile)?;
                    let mut buf = vec![0u8; chunk_size];
                    let mut index = 0u64;
                    loop {
                        if let Some(len) = skip.get(&index) {
                            input
                                .skip(*len)
                                .map_err(|e| ClientError::io("reading the source", e))?;
                            index += 1;
                            if (*len as usize) < chunk_size {
                                return Ok(());
                            }
                            continue;
                        }
                        let n = input
                            .read_full(&mut buf)
                            .map_err(|e| ClientError::io("reading the source", e))?;
                        if n == 0 {
                            return Ok(());
                        }
                        // Wait for an in-flight slot before allocating the encoded buffer.
                        let Ok(slot) =
                            tokio::runtime::Handle::current().block_on(sem.clone().acquire_owned())
                        else {
                            return Ok(());
                        };
                        let opts = ChunkOptions {
                            compress,
                            key: Some(&dk),
                        };
                        encoder.reuse_buffer(buffers.take(encoded_len));
                        let (entry, shards) =
                            encoder.encode_owned(&object, index, &buf[..n], opts)?;
                        emit(
                            &enc_progress,
                            Progress::ChunkEncoded {
                                index,
                                bytes: n as u64,
                            },
                        );
                        let e = Encoded {
                            index,
                            entry,
                            shards: buffers.bytes(shards),
                            _slot: slot,
                        };
                        if tx.blocking_send(Ok(e)).is_err() {
                            return Ok(());
                        }
                        index += 1;
                        if n < chunk_size {
                            return Ok(());
                        }
                    }
                };
                if let Err(e) = run() {
                    let _ = tx.blocking_send(Err(e));
                }
            })
        };

        let mut tasks = tokio::task::JoinSet::new();
        let mut first_err: Option<ClientError> = None;
        let mut open = true;
        while open || !tasks.is_empty() {
            tokio::select! {
                m = rx.recv(), if open => match m {
                    Some(Ok(c)) => {
                        let ctx = ChunkCtx {
                            client: self.grpc(),
                            auth: self.auth()?,
                            pool: self.pool.clone(),
                            upload_id: upload.upload_id.clone(),
                            profile,
                            progress: progress.clone(),
                        };
                        tasks.spawn(async move {
                            let index = c.index;
                            ctx.store_chunk(c).await.map(|s| (index, s))
                        });
                    }
                    Some(Err(e)) => { first_err.get_or_insert(e); open = false; }
                    None => open = false,
                },
                Some(r) = tasks.join_next(), if !tasks.is_empty() => match r {
                    Ok(Ok((i, s))) => { committed.insert(i, s); }
                    Ok(Err(e)) => { first_err.get_or_insert(e); open = false; }
                    Err(e) => { first_err.get_or_insert(ClientError::Integrity(format!("chunk task: {e}"))); open = false; }
                },
            }
            if first_err.is_some() {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
        drop(rx);
        sem.close();
        let _ = encoder.await;
        if let Some(e) = first_err {
            return Err(e);
        }

        // Commit: every chunk in order, with the nodes that hold its shards.
        let content_type = opts
            .content_type
            .clone()
            .unwrap_or_else(|| guess_content_type(&opts.key).to_string());
        let mut m = Manifest::new(object, profile, chunk_size as u64, Some(enc), content_type);
        m.user_metadata = opts.user_metadata.clone();
        let mut locations = Vec::new();
        for (i, (idx, s)) in committed.into_iter().enumerate() {
            if idx != i as u64 {
                return Err(ClientError::Integrity(format!(
                    "chunk {i} is missing from the upload"
                )));
            }
            m.push_chunk(s.entry);
            locations.extend(s.locations);
        }
        if let Some(size) = size_hint
            && m.size != size
        {
            return Err(ClientError::io(
                "reading the source",
                std::io::Error::other(format!(
                    "the file changed during the upload ({size} -> {} bytes)",
                    m.size
                )),
            ));
        }
        let r = self.req(CommitUploadRequest {
            upload_id: upload.upload_id.clone(),
            manifest: m.to_bytes().into(),
            locations,
            user_metadata: opts.user_metadata.clone().into_iter().collect(),
        })?;
        let info = self
            .grpc()
            .commit_upload(r)
            .await
            .map_err(ClientError::from_status)?
            .into_inner()
            .object
            .ok_or_else(|| ClientError::Integrity("the gateway committed no object".into()))?;
        emit(&progress, Progress::Finished { bytes: m.size });
        Ok(info)
    }
}

struct ChunkCtx {
    client: cyxcloud_proto::gateway::gateway_service_client::GatewayServiceClient<
        tonic::transport::Channel,
    >,
    auth: tonic::metadata::MetadataMap,
    pool: Arc<NodePool>,
    upload_id: String,
    profile: ErasureProfile,
    progress: Option<ProgressFn>,
}

impl ChunkCtx {
    async fn store_chunk(mut self, c: Encoded) -> Result<Stored> {
        let req = AllocateChunkRequest {
            upload_id: self.upload_id.clone(),
            chunk_index: c.index,
            shard_size: c.entry.shard_size,
            shard_ids: c.entry.shards.iter().map(|s| s.0.to_vec().into()).collect(),
            chunk_entry: serde_json::to_vec(&c.entry)
                .map_err(|e| ClientError::Integrity(e.to_string()))?
                .into(),
        };
        let req = tonic::Request::from_parts(self.auth.clone(), Default::default(), req);
        let placement = self
            .client
            .allocate_chunk(req)
            .await
            .map_err(ClientError::from_status)?
            .into_inner();
        let total = self.profile.total_shards();
        let (k, m) = (self.profile.data_shards(), self.profile.parity_shards());
        let quorum = k + m.div_ceil(2);
        let len = c.entry.shard_size as usize;
        let claimed: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(
            placement
                .shards
                .iter()
                .filter_map(|s| s.targets.first().map(|t| t.node_id.clone()))
                .collect(),
        ));
        let (hedge_tx, hedge_rx) = watch::channel::<Option<Instant>>(None);
        let started = Instant::now();
        let mut shards = FuturesUnordered::new();
        for st in &placement.shards {
            let i = st.shard_index as usize;
            if i >= total {
                return Err(ClientError::Integrity(format!(
                    "placement names shard {i} of {total}"
                )));
            }
            shards.push(store_shard(
                self.pool.clone(),
                c.index,
                i,
                st.targets.clone(),
                claimed.clone(),
                c.shards.slice(i * len..(i + 1) * len),
                c.entry.shards[i],
                hedge_rx.clone(),
                self.progress.clone(),
            ));
        }
        let mut locations = Vec::with_capacity(total);
        while let Some(r) = shards.next().await {
            if let Some(loc) = r {
                locations.push(loc);
                if locations.len() == quorum {
                    let waited = started.elapsed().max(Duration::from_secs(1));
                    let _ = hedge_tx.send(Some(Instant::now() + waited));
                }
            }
        }
        if locations.len() < quorum {
            return Err(ClientError::Quorum(format!(
                "chunk {}: {} of {total} shards stored, {quorum} needed",
                c.index,
                locations.len()
            )));
        }
        if locations.len() < total {
            emit(
                &self.progress,
                Progress::ChunkDegraded {
                    index: c.index,
                    stored: locations.len(),
                    total,
                },
            );
        }
        emit(
            &self.progress,
            Progress::ChunkDone {
                index: c.index,
                bytes: c.entry.original_size,
            },
        );
        Ok(Stored {
            entry: c.entry,
            locations,
        })
    }
}

/// Store one shard: on its placed node, then spares on failure, plus a hedge on a spare once
/// the chunk's quorum is in and this shard is late. Returns where it landed.
#[allow(clippy::too_many_arguments)]
async fn store_shard(
    pool: Arc<NodePool>,
    chunk: u64,
    index: usize,
    targets: Vec<NodeTarget>,
    claimed: Arc<Mutex<HashSet<String>>>,
    data: Bytes,
    id: ChunkId,
    mut hedge: watch::Receiver<Option<Instant>>,
    progress: Option<ProgressFn>,
) -> Option<ShardLocation> {
    let mut rest = targets.into_iter();
    let first = rest.next()?;
    // A spare no other shard of this chunk has taken.
    let mut next_spare = move || {
        let mut c = claimed.lock().unwrap_or_else(|e| e.into_inner());
        rest.find(|t| c.insert(t.node_id.clone()))
    };
    let attempt = |t: NodeTarget| {
        let (pool, data) = (pool.clone(), data.clone());
        async move {
            let r = pool
                .store(&t.node_id, &t.address, id, data, t.grant.clone())
                .await;
            (t.node_id, r)
        }
    };
    let mut attempts = FuturesUnordered::new();
    attempts.push(attempt(first));
    let mut hedged = false;
    loop {
        let deadline = if hedged { None } else { *hedge.borrow() };
        tokio::select! {
            r = attempts.next() => match r {
                Some((node, Ok(()))) => {
                    return Some(ShardLocation {
                        chunk_index: chunk,
                        shard_index: index as u32,
                        shard_id: id.0.to_vec().into(),
                        node_id: node,
                    });
                }
                Some((node, Err(e))) => {
                    emit(&progress, Progress::Retry { node, reason: e.to_string() });
                    if attempts.is_empty() {
                        attempts.push(attempt(next_spare()?));
                    }
                }
                None => return None,
            },
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                hedged = true;
                if let Some(t) = next_spare() {
                    attempts.push(attempt(t));
                }
            }
            _ = hedge.changed(), if !hedged && deadline.is_none() => {}
        }
    }
}
