//! GatewayService: the rich client's API. The client compresses, encrypts and erasure-codes
//! locally; the gateway only places shards, signs grants, checks with the nodes that shards
//! were really stored, and keeps the manifest. It never receives keys or plaintext: the
//! manifest holds the data key wrapped by the client's own key.
//!
//! Authentication: gRPC metadata `authorization: Bearer <jwt>` or `x-api-key`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use cyxcloud_core::grant::GrantOp;
use cyxcloud_core::manifest::ChunkEntry;
use cyxcloud_core::{ChunkId, ErasureProfile, Manifest, ObjectId};
use cyxcloud_proto::chunk::VerifyChunkRequest;
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::gateway::gateway_service_server::GatewayService;
use cyxcloud_proto::gateway::*;
use cyxcloud_proto::metadata::{ErasureConfig, ObjectInfo, ShardLocation, Visibility};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tonic::{Request, Response, Status};

use crate::auth::{self, Principal};
use crate::datapath::write_quorum;
use crate::db::{self, Bucket, NewObject, Object, ShardLoc, Upload};
use crate::error::{GatewayError, Result};
use crate::layout::Layout;
use crate::nodes::Signer;
use crate::s3::{Access, authorize};
use crate::server::AppState;

/// Spare nodes offered per chunk beyond its k+m primaries.
pub const SPARES: usize = 3;

pub struct GatewayServiceImpl {
    pub st: Arc<AppState>,
    pub signer: Arc<Signer>,
}

fn object_id_of(u: &Upload) -> Result<ObjectId> {
    u.object_id
        .parse()
        .map_err(|_| GatewayError::Internal("upload object id".into()))
}

fn profile_of(u: &Upload) -> Result<ErasureProfile> {
    Ok(ErasureProfile::new(
        u.data_shards as usize,
        u.parity_shards as usize,
    )?)
}

fn object_info(o: &Object, b: &Bucket) -> ObjectInfo {
    ObjectInfo {
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        size: o.size,
        content_type: o.content_type.clone(),
        etag: o.etag.clone(),
        last_modified: o.last_modified,
        user_metadata: o.user_metadata.clone().into_iter().collect(),
        visibility: if b.public {
            Visibility::Public
        } else {
            Visibility::Private
        } as i32,
        erasure: Some(ErasureConfig {
            data_shards: b.data_shards,
            parity_shards: b.parity_shards,
        }),
        client_encrypted: o.client_encrypted,
        stored_bytes: o.stored_bytes,
    }
}

fn begin_response(u: &Upload) -> Result<BeginUploadResponse> {
    Ok(BeginUploadResponse {
        upload_id: u.id.clone(),
        object_id: object_id_of(u)?.0.to_vec().into(),
        chunk_size: u.chunk_size,
        erasure: Some(ErasureConfig {
            data_shards: u.data_shards,
            parity_shards: u.parity_shards,
        }),
        encryption: u.encryption.clone().unwrap_or_default().into(),
    })
}

impl GatewayServiceImpl {
    /// The caller, if the request names one; invalid credentials are an error.
    async fn caller<T>(&self, req: &Request<T>) -> Result<Option<Principal>> {
        let m = req.metadata();
        let get = |n: &str| m.get(n).and_then(|v| v.to_str().ok());
        auth::bearer_or_api_key(
            &self.st.db,
            &self.st.secrets,
            get("authorization"),
            get("x-api-key"),
        )
        .await
    }

    async fn principal<T>(&self, req: &Request<T>) -> Result<Principal> {
        self.caller(req).await?.ok_or_else(|| {
            GatewayError::Unauthenticated(
                "send authorization: Bearer <token> or x-api-key metadata".into(),
            )
        })
    }

    async fn bucket(&self, name: &str) -> Result<Bucket> {
        self.st
            .db
            .bucket(name)
            .await?
            .ok_or(GatewayError::NoSuchBucket)
    }

    async fn own_upload(&self, p: &Principal, id: &str) -> Result<Upload> {
        match self.st.db.upload(id).await? {
            Some(u) if u.kind == "client" && u.owner_id == p.user_id => Ok(u),
            _ => Err(GatewayError::NoSuchUpload),
        }
    }

    /// Ask the nodes which of `locs` they hold intact; returns the confirmed ones.
    async fn confirm(&self, locs: Vec<ShardLoc>) -> Vec<ShardLoc> {
        let mut tasks = FuturesUnordered::new();
        for l in locs {
            tasks.push(async move {
                let ok = async {
                    let ch = self.st.registry.channel(&l.node_id).ok()?;
                    let r = tokio::time::timeout(
                        self.st.data.cfg.node_timeout,
                        ChunkServiceClient::new(ch).verify_chunk(VerifyChunkRequest {
                            chunk_id: Some(ChunkId(l.shard_id).into()),
                            expected_hash: l.shard_id.to_vec().into(),
                        }),
                    )
                    .await
                    .ok()?
                    .ok()?;
                    Some(r.into_inner().valid)
                }
                .await
                .unwrap_or(false);
                (l, ok)
            });
        }
        let mut out = Vec::new();
        while let Some((l, ok)) = tasks.next().await {
            if ok {
                out.push(l);
            }
        }
        out.sort_by(|a, b| {
            (a.chunk_index, a.shard_index, &a.node_id).cmp(&(
                b.chunk_index,
                b.shard_index,
                &b.node_id,
            ))
        });
        out
    }

    /// Granted (shard, node) pairs of an upload.
    async fn granted(&self, upload: &str) -> Result<HashSet<([u8; 32], String)>> {
        Ok(self
            .st
            .db
            .upload_shards(upload)
            .await?
            .into_iter()
            .collect())
    }

    async fn begin(&self, p: &Principal, r: BeginUploadRequest) -> Result<BeginUploadResponse> {
        let b = self.bucket(&r.bucket).await?;
        authorize(Some(p), &b, Access::Write)?;
        crate::s3::valid_key(&r.key)?;
        if !r.resume_token.is_empty()
            && let Some(u) = self
                .st
                .db
                .upload_by_resume_token(&r.bucket, &r.key, &p.user_id, &r.resume_token)
                .await?
        {
            return begin_response(&u);
        }
        let profile = match &r.erasure {
            Some(e) => ErasureProfile::try_from(e)
                .map_err(|e| GatewayError::InvalidArgument(e.to_string()))?,
            None => b.profile(),
        };
        if r.size_hint > self.st.cfg.storage.max_upload_size_bytes {
            return Err(GatewayError::EntityTooLarge);
        }
        if r.size_hint > 0 {
            crate::s3::quota_precheck(&self.st, &b, Some(&r.key), r.size_hint).await?;
        }
        if r.encryption.len() > 4096 {
            return Err(GatewayError::InvalidArgument(
                "encryption record too large".into(),
            ));
        }
        let object_id = match r.object_id.len() {
            0 => ObjectId::random(),
            16 => ObjectId(r.object_id[..].try_into().expect("16 bytes")),
            _ => {
                return Err(GatewayError::InvalidArgument(
                    "object_id must be 16 bytes".into(),
                ));
            }
        };
        if self.st.db.object_id_in_use(&object_id.to_hex()).await? {
            return Err(GatewayError::Conflict(
                "object_id is already in use; pick a fresh one".into(),
            ));
        }
        let now = db::now();
        let u = Upload {
            id: db::new_id("cli-"),
            kind: "client".into(),
            bucket: b.name.clone(),
            key: r.key.clone(),
            owner_id: b.owner_id.clone(),
            object_id: object_id.to_hex(),
            content_type: if r.content_type.is_empty() {
                "application/octet-stream".into()
            } else {
                r.content_type.clone()
            },
            user_metadata: BTreeMap::new(),
            data_shards: profile.data_shards() as u32,
            parity_shards: profile.parity_shards() as u32,
            chunk_size: self.st.data.cfg.chunk_size as u64,
            client_encrypted: r.client_encrypted,
            resume_token: (!r.resume_token.is_empty()).then(|| r.resume_token.clone()),
            gateway_instance: self.st.instance.clone(),
            created_at: now,
            updated_at: now,
            encryption: (!r.encryption.is_empty()).then(|| r.encryption.to_vec()),
        };
        self.st.db.create_upload(&u).await?;
        begin_response(&u)
    }

    async fn allocate(&self, p: &Principal, r: AllocateChunkRequest) -> Result<ChunkPlacement> {
        let u = self.own_upload(p, &r.upload_id).await?;
        let profile = profile_of(&u)?;
        let n = profile.total_shards();
        if r.shard_ids.len() != n {
            return Err(GatewayError::InvalidArgument(format!(
                "{} shard ids for profile {profile}",
                r.shard_ids.len()
            )));
        }
        let ids: Vec<ChunkId> = r
            .shard_ids
            .iter()
            .map(|b| ChunkId::from_slice(b))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| GatewayError::InvalidArgument(format!("shard id: {e}")))?;
        let max = cyxcloud_proto::limits::max_shard_len(u.chunk_size as usize, profile) as u64;
        if r.shard_size == 0 || r.shard_size > max {
            return Err(GatewayError::InvalidArgument(format!(
                "shard size must be 1 to {max} bytes"
            )));
        }
        if !r.chunk_entry.is_empty() {
            let e: ChunkEntry = serde_json::from_slice(&r.chunk_entry)
                .map_err(|e| GatewayError::InvalidArgument(format!("chunk entry: {e}")))?;
            if e.index != r.chunk_index || e.shard_size != r.shard_size || e.shards != ids {
                return Err(GatewayError::InvalidArgument(
                    "chunk entry does not match the shard ids and sizes".into(),
                ));
            }
            self.st
                .db
                .put_upload_chunk(&u.id, r.chunk_index, &r.chunk_entry)
                .await?;
        }
        let quorum = write_quorum(profile);
        let mut nodes = self.st.registry.place(n + SPARES, &HashSet::new());
        if nodes.len() < quorum {
            return Err(GatewayError::NoNodes(format!(
                "{} write-healthy nodes, {quorum} needed",
                nodes.len()
            )));
        }
        let spares = nodes.split_off(nodes.len().min(n));
        let mut record = Vec::new();
        let mut shards = Vec::with_capacity(n);
        for (i, id) in ids.iter().enumerate() {
            // Shards without a primary node (fewer nodes than k+m) get only spares.
            let mut targets = Vec::new();
            for node in nodes.get(i).into_iter().chain(spares.iter()) {
                record.push((id.0, node.id.clone()));
                targets.push(NodeTarget {
                    node_id: node.id.clone(),
                    address: node.address.clone(),
                    grant: self
                        .signer
                        .grant(GrantOp::Store, &node.public_key, id, r.shard_size)
                        .into(),
                });
            }
            shards.push(ShardTargets {
                shard_index: i as u32,
                targets,
            });
        }
        self.st.db.record_upload_shards(&u.id, &record).await?;
        Ok(ChunkPlacement {
            chunk_index: r.chunk_index,
            shards,
        })
    }

    async fn commit(&self, p: &Principal, r: CommitUploadRequest) -> Result<CommitUploadResponse> {
        let u = self.own_upload(p, &r.upload_id).await?;
        let b = self.bucket(&u.bucket).await?;
        authorize(Some(p), &b, Access::Write)?;
        let m = Manifest::from_bytes(&r.manifest)
            .map_err(|e| GatewayError::InvalidArgument(format!("manifest: {e}")))?;
        if m.object_id != object_id_of(&u)? {
            return Err(GatewayError::InvalidArgument(
                "manifest is for another object".into(),
            ));
        }
        let profile = profile_of(&u)?;
        if m.profile != profile {
            return Err(GatewayError::InvalidArgument(format!(
                "manifest profile {} differs from the upload's {profile}",
                m.profile
            )));
        }
        if u.client_encrypted != m.encryption.is_some() {
            return Err(GatewayError::InvalidArgument(
                "manifest encryption does not match the upload".into(),
            ));
        }
        let granted = self.granted(&u.id).await?;
        let mut locs = Vec::new();
        let mut seen = HashSet::new();
        for l in &r.locations {
            let c = m.chunks.get(l.chunk_index as usize).ok_or_else(|| {
                GatewayError::InvalidArgument(format!(
                    "location for chunk {} beyond the manifest",
                    l.chunk_index
                ))
            })?;
            let id = c.shards.get(l.shard_index as usize).ok_or_else(|| {
                GatewayError::InvalidArgument(format!("shard index {} out of range", l.shard_index))
            })?;
            if l.shard_id[..] != id.0 {
                return Err(GatewayError::InvalidArgument(format!(
                    "chunk {} shard {}: id differs from the manifest",
                    l.chunk_index, l.shard_index
                )));
            }
            if !granted.contains(&(id.0, l.node_id.clone())) {
                return Err(GatewayError::InvalidArgument(format!(
                    "chunk {} shard {}: node {} was not granted this shard",
                    l.chunk_index, l.shard_index, l.node_id
                )));
            }
            if seen.insert((l.chunk_index, l.node_id.clone())) {
                locs.push(ShardLoc {
                    chunk_index: l.chunk_index,
                    shard_index: l.shard_index,
                    shard_id: id.0,
                    node_id: l.node_id.clone(),
                });
            } else {
                return Err(GatewayError::InvalidArgument(format!(
                    "chunk {}: two shards on node {}",
                    l.chunk_index, l.node_id
                )));
            }
        }
        let confirmed = self.confirm(locs).await;
        let mut per_chunk: HashMap<u64, usize> = HashMap::new();
        for l in &confirmed {
            *per_chunk.entry(l.chunk_index).or_default() += 1;
        }
        let quorum = write_quorum(profile);
        for i in 0..m.chunks.len() as u64 {
            let have = per_chunk.get(&i).copied().unwrap_or(0);
            if have < quorum {
                return Err(GatewayError::QuorumFailed(format!(
                    "chunk {i}: nodes confirm {have} shards, {quorum} needed"
                )));
            }
        }
        let meta: BTreeMap<String, String> = r.user_metadata.into_iter().collect();
        let etag = blake3::hash(&r.manifest).to_hex()[..32].to_string();
        let layout = Layout::single(m);
        let content_type = if layout.parts[0].content_type.is_empty() {
            u.content_type.clone()
        } else {
            layout.parts[0].content_type.clone()
        };
        self.st
            .db
            .commit_object(&NewObject {
                bucket: &u.bucket,
                key: &u.key,
                object_id: &u.object_id,
                owner_id: &u.owner_id,
                size: layout.size(),
                stored_bytes: layout.stored_bytes(),
                content_type: &content_type,
                etag: &etag,
                user_metadata: &meta,
                client_encrypted: u.client_encrypted,
                layout: Some(&layout.to_bytes()),
                inline_data: None,
                shards: &confirmed,
                upload_id: Some(&u.id),
            })
            .await?;
        self.st.janitor_kick.notify_one();
        self.st
            .events
            .file_created(&u.bucket, &u.key, layout.size(), &etag);
        let o = self
            .st
            .db
            .object(&u.bucket, &u.key)
            .await?
            .ok_or_else(|| GatewayError::Internal("committed object vanished".into()))?;
        Ok(CommitUploadResponse {
            object: Some(object_info(&o, &b)),
        })
    }

    async fn resume(&self, p: &Principal, r: ResumeUploadRequest) -> Result<ResumeUploadResponse> {
        let Some(u) = self
            .st
            .db
            .upload_by_resume_token(&r.bucket, &r.key, &p.user_id, &r.resume_token)
            .await?
        else {
            return Ok(ResumeUploadResponse::default());
        };
        let profile = profile_of(&u)?;
        let granted = self.st.db.upload_shards(&u.id).await?;
        let mut out = ResumeUploadResponse {
            found: true,
            upload: Some(begin_response(&u)?),
            ..Default::default()
        };
        for (index, raw) in self.st.db.upload_chunks(&u.id).await? {
            let Ok(entry) = serde_json::from_slice::<ChunkEntry>(&raw) else {
                continue;
            };
            let candidates: Vec<ShardLoc> = entry
                .shards
                .iter()
                .enumerate()
                .flat_map(|(i, id)| {
                    granted
                        .iter()
                        .filter(move |(s, _)| *s == id.0)
                        .map(move |(s, n)| ShardLoc {
                            chunk_index: index,
                            shard_index: i as u32,
                            shard_id: *s,
                            node_id: n.clone(),
                        })
                })
                .collect();
            let mut confirmed = self.confirm(candidates).await;
            // One location per shard and per node.
            let mut shard_seen = HashSet::new();
            let mut node_seen = HashSet::new();
            confirmed.retain(|l| {
                node_seen.insert(l.node_id.clone()) && shard_seen.insert(l.shard_index)
            });
            if confirmed.len() >= write_quorum(profile) {
                out.committed_chunks.push(index);
                out.chunks.push(CommittedChunk {
                    chunk_index: index,
                    chunk_entry: raw.into(),
                    locations: confirmed.iter().map(to_pb_loc).collect(),
                });
            }
        }
        self.st.db.touch_upload(&u.id).await?;
        Ok(out)
    }

    async fn download(
        &self,
        p: Option<&Principal>,
        r: GetDownloadRequest,
    ) -> Result<GetDownloadResponse> {
        let b = self.bucket(&r.bucket).await?;
        authorize(p, &b, Access::Read)?;
        let o = self
            .st
            .db
            .object(&r.bucket, &r.key)
            .await?
            .ok_or(GatewayError::NoSuchKey)?;
        let info = object_info(&o, &b);
        if !o.client_encrypted || o.inline_data.is_some() {
            // Encoded by the gateway: the client reads it through the S3 API.
            return Ok(GetDownloadResponse {
                object: Some(info),
                ..Default::default()
            });
        }
        let layout = Layout::from_bytes(
            o.layout
                .as_deref()
                .ok_or_else(|| GatewayError::Internal("object without layout".into()))?,
        )?;
        let (start, end) = if r.range_start == 0 && r.range_end == 0 {
            (0, o.size)
        } else {
            (r.range_start, r.range_end.min(o.size))
        };
        if start > end {
            return Err(GatewayError::InvalidRange { size: o.size });
        }
        let shards = self.st.db.object_shards(&o.object_id).await?;
        let m = &layout.parts[0];
        let mut chunks = Vec::new();
        for c in layout.chunks_for_range(start, end) {
            let entry = &m.chunks[c.chunk];
            let mut by_shard: BTreeMap<u32, Vec<NodeTarget>> = BTreeMap::new();
            for s in shards.iter().filter(|s| s.chunk_index == c.global) {
                let Some(node) = self.st.registry.get(&s.node_id) else {
                    continue;
                };
                by_shard.entry(s.shard_index).or_default().push(NodeTarget {
                    node_id: node.id.clone(),
                    address: node.address.clone(),
                    grant: self
                        .signer
                        .grant(
                            GrantOp::Get,
                            &node.public_key,
                            &ChunkId(s.shard_id),
                            entry.shard_size,
                        )
                        .into(),
                });
            }
            chunks.push(ChunkSources {
                chunk_index: c.global,
                shards: by_shard
                    .into_iter()
                    .map(|(i, sources)| ShardSources {
                        shard_index: i,
                        sources,
                    })
                    .collect(),
            });
        }
        Ok(GetDownloadResponse {
            object: Some(info),
            manifest: m.to_bytes().into(),
            chunks,
        })
    }
}

fn to_pb_loc(l: &ShardLoc) -> ShardLocation {
    ShardLocation {
        chunk_index: l.chunk_index,
        shard_index: l.shard_index,
        shard_id: l.shard_id.to_vec().into(),
        node_id: l.node_id.clone(),
    }
}

fn reply<T>(r: Result<T>) -> std::result::Result<Response<T>, Status> {
    r.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl GatewayService for GatewayServiceImpl {
    async fn begin_upload(
        &self,
        req: Request<BeginUploadRequest>,
    ) -> std::result::Result<Response<BeginUploadResponse>, Status> {
        let p = self.principal(&req).await?;
        reply(self.begin(&p, req.into_inner()).await)
    }

    async fn allocate_chunk(
        &self,
        req: Request<AllocateChunkRequest>,
    ) -> std::result::Result<Response<ChunkPlacement>, Status> {
        let p = self.principal(&req).await?;
        reply(self.allocate(&p, req.into_inner()).await)
    }

    async fn commit_upload(
        &self,
        req: Request<CommitUploadRequest>,
    ) -> std::result::Result<Response<CommitUploadResponse>, Status> {
        let p = self.principal(&req).await?;
        reply(self.commit(&p, req.into_inner()).await)
    }

    async fn abort_upload(
        &self,
        req: Request<AbortUploadRequest>,
    ) -> std::result::Result<Response<AbortUploadResponse>, Status> {
        let p = self.principal(&req).await?;
        let r = async {
            let u = self.own_upload(&p, &req.get_ref().upload_id).await?;
            self.st.db.abort_upload(&u.id).await?;
            self.st.janitor_kick.notify_one();
            Ok(AbortUploadResponse {})
        }
        .await;
        reply(r)
    }

    async fn resume_upload(
        &self,
        req: Request<ResumeUploadRequest>,
    ) -> std::result::Result<Response<ResumeUploadResponse>, Status> {
        let p = self.principal(&req).await?;
        reply(self.resume(&p, req.into_inner()).await)
    }

    async fn get_download(
        &self,
        req: Request<GetDownloadRequest>,
    ) -> std::result::Result<Response<GetDownloadResponse>, Status> {
        let p = self.caller(&req).await?;
        reply(self.download(p.as_ref(), req.into_inner()).await)
    }

    async fn stat_object(
        &self,
        req: Request<StatObjectRequest>,
    ) -> std::result::Result<Response<ObjectInfo>, Status> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let out = async {
            let b = self.bucket(&r.bucket).await?;
            authorize(p.as_ref(), &b, Access::Read)?;
            let o = self
                .st
                .db
                .object(&r.bucket, &r.key)
                .await?
                .ok_or(GatewayError::NoSuchKey)?;
            Ok(object_info(&o, &b))
        }
        .await;
        reply(out)
    }

    async fn list_objects(
        &self,
        req: Request<ListObjectsRequest>,
    ) -> std::result::Result<Response<ListObjectsResponse>, Status> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let out = async {
            let b = self.bucket(&r.bucket).await?;
            authorize(p.as_ref(), &b, Access::Read)?;
            let start = if r.continuation_token.is_empty() {
                None
            } else {
                Some(crate::s3::decode_token(&r.continuation_token)?)
            };
            let max = if r.max_keys == 0 {
                1000
            } else {
                r.max_keys.min(1000)
            } as usize;
            let l = crate::s3::list(&self.st, &b.name, &r.prefix, &r.delimiter, start, max).await?;
            Ok(ListObjectsResponse {
                objects: l.objects.iter().map(|o| object_info(o, &b)).collect(),
                common_prefixes: l.prefixes.clone(),
                next_continuation_token: match (&l.next, l.truncated) {
                    (Some(n), true) => crate::s3::encode_token(n),
                    _ => String::new(),
                },
                is_truncated: l.truncated,
            })
        }
        .await;
        reply(out)
    }

    async fn delete_object(
        &self,
        req: Request<DeleteObjectRequest>,
    ) -> std::result::Result<Response<DeleteObjectResponse>, Status> {
        let p = self.principal(&req).await?;
        let r = req.into_inner();
        let out = async {
            let b = self.bucket(&r.bucket).await?;
            authorize(Some(&p), &b, Access::Write)?;
            if self.st.db.delete_object(&r.bucket, &r.key).await? {
                self.st.events.file_deleted(&r.bucket, &r.key);
                self.st.janitor_kick.notify_one();
            }
            Ok(DeleteObjectResponse {})
        }
        .await;
        reply(out)
    }
}
