//! The rich-client API end to end with the core pipeline: the client encrypts and encodes,
//! stores shards on the nodes the gateway chose, commits; the gateway checks with the nodes;
//! a resumed upload skips committed chunks; downloads decode to the same bytes; nothing
//! readable reaches the gateway's or the nodes' disks.

mod common;

use bytes::Bytes;
use common::*;
use cyxcloud_core::keys::{DataKey, MasterKey};
use cyxcloud_core::manifest::{ALGORITHM_AES_256_GCM, ChunkEntry, EncryptionInfo};
use cyxcloud_core::pipeline::{ChunkDecoder, ChunkEncoder, ChunkOptions};
use cyxcloud_core::{ChunkId, Manifest, ObjectId};
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::{GetChunkRequest, StoreChunkRequest};
use cyxcloud_proto::gateway::gateway_service_client::GatewayServiceClient;
use cyxcloud_proto::gateway::*;
use cyxcloud_proto::metadata::ShardLocation;
use tonic::transport::Channel;

fn req<T>(t: T, key: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(t);
    r.metadata_mut().insert("x-api-key", key.parse().unwrap());
    r
}

async fn node(addr: &str) -> ChunkServiceClient<Channel> {
    ChunkServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(64 << 20)
}

/// Store every shard of a placed chunk on its first target that accepts it.
async fn store(
    placement: &ChunkPlacement,
    shards: &[Vec<u8>],
    ids: &[ChunkId],
    skip: usize,
) -> Vec<ShardLocation> {
    let mut locs = Vec::new();
    let mut used = std::collections::HashSet::new();
    for st in &placement.shards {
        let i = st.shard_index as usize;
        if i < skip {
            continue;
        }
        for t in &st.targets {
            if used.contains(&t.node_id) {
                continue;
            }
            let r = node(&t.address)
                .await
                .store_chunk(StoreChunkRequest {
                    chunk_id: Some(ids[i].into()),
                    data: Bytes::from(shards[i].clone()),
                    metadata: None,
                    grant: t.grant.clone(),
                })
                .await;
            if r.is_ok() {
                used.insert(t.node_id.clone());
                locs.push(ShardLocation {
                    chunk_index: placement.chunk_index,
                    shard_index: i as u32,
                    shard_id: ids[i].0.to_vec().into(),
                    node_id: t.node_id.clone(),
                });
                break;
            }
        }
    }
    locs
}

fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_encrypted_upload_resume_download_and_zero_knowledge() {
    let mut net = Net::start(6, None).await;
    let base = net.http.clone();
    let u = signup(&base, "rich@example.com").await;
    s3_for(&base, &u)
        .create_bucket()
        .bucket("vault")
        .send()
        .await
        .unwrap();
    let mut g = GatewayServiceClient::connect(format!("http://{}", net.grpc))
        .await
        .unwrap();

    // The file: a marker string inside ~2.5 chunks of compressible text.
    let marker = "CYX-MARKER-7f3a9c1e-do-not-leak";
    let mut plain = Vec::new();
    while plain.len() < (5 << 20) / 2 {
        plain.extend_from_slice(format!("line {} {marker} lorem ipsum\n", plain.len()).as_bytes());
    }
    let kek = MasterKey::from_bytes([7; 32]).derive();
    let object = ObjectId::random();
    let dk = DataKey::generate();
    let enc = EncryptionInfo {
        algorithm: ALGORITHM_AES_256_GCM.into(),
        wrapped_key: kek.wrap(&dk, &object),
    };
    let begin = |token: &str| BeginUploadRequest {
        bucket: "vault".into(),
        key: "secret.txt".into(),
        client_encrypted: true,
        resume_token: token.into(),
        object_id: object.0.to_vec().into(),
        encryption: serde_json::to_vec(&enc).unwrap().into(),
        ..Default::default()
    };
    let b = g
        .begin_upload(req(begin("tok-1"), &u.api_key))
        .await
        .unwrap()
        .into_inner();
    let profile = cyxcloud_core::ErasureProfile::try_from(b.erasure.as_ref().unwrap()).unwrap();
    let chunk_size = b.chunk_size as usize;
    let mut encoder = ChunkEncoder::new(profile).unwrap();
    let encoded: Vec<(ChunkEntry, Vec<Vec<u8>>)> = plain
        .chunks(chunk_size)
        .enumerate()
        .map(|(i, p)| {
            let c = encoder
                .encode(
                    &object,
                    i as u64,
                    p,
                    ChunkOptions {
                        compress: true,
                        key: Some(&dk),
                    },
                )
                .unwrap();
            (c.entry.clone(), c.to_owned_shards())
        })
        .collect();
    assert_eq!(encoded.len(), 3);

    // Upload chunk 0 fully; then the client "dies".
    let alloc = |i: usize, with_entry: bool| AllocateChunkRequest {
        upload_id: b.upload_id.clone(),
        chunk_index: i as u64,
        shard_size: encoded[i].0.shard_size,
        shard_ids: encoded[i]
            .0
            .shards
            .iter()
            .map(|s| s.0.to_vec().into())
            .collect(),
        chunk_entry: if with_entry {
            serde_json::to_vec(&encoded[i].0).unwrap().into()
        } else {
            Default::default()
        },
    };
    let p0 = g
        .allocate_chunk(req(alloc(0, true), &u.api_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p0.shards.len(), 6);
    let locs0 = store(&p0, &encoded[0].1, &encoded[0].0.shards, 0).await;
    assert_eq!(locs0.len(), 6);

    // Resume: the same begin returns the same upload; chunk 0 is committed already.
    let b2 = g
        .begin_upload(req(begin("tok-1"), &u.api_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b2.upload_id, b.upload_id);
    let r = g
        .resume_upload(req(
            ResumeUploadRequest {
                bucket: "vault".into(),
                key: "secret.txt".into(),
                resume_token: "tok-1".into(),
            },
            &u.api_key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.found);
    assert_eq!(r.committed_chunks, [0]);
    let back: EncryptionInfo = serde_json::from_slice(&r.upload.unwrap().encryption).unwrap();
    assert_eq!(
        kek.unwrap(&back.wrapped_key, &object).unwrap().expose(),
        dk.expose()
    );
    let entry0: ChunkEntry = serde_json::from_slice(&r.chunks[0].chunk_entry).unwrap();
    assert_eq!(entry0, encoded[0].0);

    // The rest: chunk 1 fully, chunk 2 with only 4 of 6 shards (below the 5-shard quorum).
    let p1 = g
        .allocate_chunk(req(alloc(1, true), &u.api_key))
        .await
        .unwrap()
        .into_inner();
    let locs1 = store(&p1, &encoded[1].1, &encoded[1].0.shards, 0).await;
    let p2 = g
        .allocate_chunk(req(alloc(2, false), &u.api_key))
        .await
        .unwrap()
        .into_inner();
    let locs2 = store(&p2, &encoded[2].1, &encoded[2].0.shards, 2).await;
    let mut m = Manifest::new(
        object,
        profile,
        chunk_size as u64,
        Some(enc.clone()),
        "text/plain",
    );
    for (e, _) in &encoded {
        m.push_chunk(e.clone());
    }
    let commit = |locations: Vec<ShardLocation>| CommitUploadRequest {
        upload_id: b.upload_id.clone(),
        manifest: m.to_bytes().into(),
        locations,
        user_metadata: Default::default(),
    };
    let all: Vec<ShardLocation> = r.chunks[0]
        .locations
        .iter()
        .cloned()
        .chain(locs1.clone())
        .chain(locs2.clone())
        .collect();
    let e = g
        .commit_upload(req(commit(all.clone()), &u.api_key))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable);
    assert!(
        e.message().contains("NETWORK_QUORUM_FAILED"),
        "{}",
        e.message()
    );
    let extra = store(&p2, &encoded[2].1, &encoded[2].0.shards, 0).await;
    // Node ids not granted the shard are refused outright.
    let mut foreign = all.clone();
    foreign.push(ShardLocation {
        node_id: "node-99".into(),
        ..extra[0].clone()
    });
    let e = g
        .commit_upload(req(commit(foreign), &u.api_key))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    // Now store the missing shards for real and commit.
    let mut good: Vec<ShardLocation> = r.chunks[0].locations.iter().cloned().chain(locs1).collect();
    good.extend(extra);
    let done = g
        .commit_upload(req(commit(good), &u.api_key))
        .await
        .unwrap()
        .into_inner();
    let info = done.object.unwrap();
    assert_eq!(info.size, plain.len() as u64);
    assert!(info.client_encrypted);

    // Download a range through the manifest and the nodes.
    let d = g
        .get_download(req(
            GetDownloadRequest {
                bucket: "vault".into(),
                key: "secret.txt".into(),
                range_start: (1 << 20) - 10,
                range_end: (1 << 20) + 10,
            },
            &u.api_key,
        ))
        .await
        .unwrap()
        .into_inner();
    let m2 = Manifest::from_bytes(&d.manifest).unwrap();
    assert_eq!(d.chunks.len(), 2, "only the chunks the range touches");
    let key = kek
        .unwrap(&m2.encryption.as_ref().unwrap().wrapped_key, &m2.object_id)
        .unwrap();
    let mut out = Vec::new();
    let mut dec = ChunkDecoder::new(profile).unwrap();
    for c in &d.chunks {
        let entry = &m2.chunks[c.chunk_index as usize];
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; 6];
        for s in c.shards.iter().take(4) {
            let t = &s.sources[0];
            let r = node(&t.address)
                .await
                .get_chunk(GetChunkRequest {
                    chunk_id: Some(entry.shards[s.shard_index as usize].into()),
                    grant: t.grant.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            shards[s.shard_index as usize] = Some(r.data.to_vec());
        }
        let refs: Vec<Option<&[u8]>> = shards.iter().map(|s| s.as_deref()).collect();
        out.extend_from_slice(
            dec.decode(&m2.object_id, entry, &refs, Some(&key))
                .unwrap()
                .data,
        );
    }
    let first = (m2.chunk_offsets()[d.chunks[0].chunk_index as usize]) as usize;
    assert_eq!(
        &out[(1 << 20) - 10 - first..(1 << 20) + 10 - first],
        &plain[(1 << 20) - 10..(1 << 20) + 10]
    );

    // Through S3 the gateway refuses to serve bytes it cannot decrypt, and says why.
    let r = http()
        .get(format!("{base}/s3/vault/secret.txt"))
        .header("x-api-key", &u.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let listed = g
        .list_objects(req(
            ListObjectsRequest {
                bucket: "vault".into(),
                ..Default::default()
            },
            &u.api_key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.objects.len(), 1);

    // Zero knowledge: the marker is nowhere on the gateway's or the nodes' disks.
    net.stop().await;
    for n in &mut net.nodes {
        n.kill();
    }
    let mut files = Vec::new();
    walk(net.dir.path(), &mut files);
    assert!(files.len() > 10);
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{} contains the plaintext marker",
            f.display()
        );
    }
}
