//! Helpers shared by the node's integration tests.
#![allow(dead_code)]

use std::path::Path;

use cyxcloud_core::ChunkId;
use cyxcloud_core::grant::{Grant, GrantOp, SigningKey};
use cyxcloud_node::config::{BackendKind, NodeConfig};
use cyxcloud_node::{NodeHandle, start};
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::*;
use tonic::codegen::Bytes;
use tonic::transport::Channel;

pub fn gateway() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn grant_with(
    key: &SigningKey,
    op: GrantOp,
    node: [u8; 32],
    shard: ChunkId,
    max: u64,
    expires: u64,
) -> Bytes {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).unwrap();
    let g = Grant {
        op,
        node,
        shard,
        max_bytes: max,
        issued_at: now(),
        expires_at: expires,
        grant_id: id,
    };
    Bytes::copy_from_slice(&g.sign(key).to_bytes())
}

pub fn grant(op: GrantOp, node: [u8; 32], shard: ChunkId, max: u64) -> Bytes {
    grant_with(&gateway(), op, node, shard, max, now() + 600)
}

pub fn config(dir: &Path, backend: BackendKind, capacity_gb: f64) -> NodeConfig {
    let mut c = NodeConfig::default();
    c.storage.path = dir.to_owned();
    c.storage.backend = backend;
    c.storage.capacity_gb = capacity_gb;
    c.storage.scrub_rate_mb_s = 0.0;
    c.network.grpc_host = "127.0.0.1".into();
    c.network.grpc_port = 0;
    c.metrics.port = 0;
    c.gateway.public_key = hex::encode(gateway().verifying_key().to_bytes());
    c
}

pub async fn start_node(dir: &Path, capacity_gb: f64) -> NodeHandle {
    start(config(dir, BackendKind::Rocksdb, capacity_gb))
        .await
        .unwrap()
}

pub async fn client(h: &NodeHandle) -> ChunkServiceClient<Channel> {
    let limit = 80 << 20;
    ChunkServiceClient::new(
        cyxcloud_proto::limits::shard_endpoint(format!("http://{}", h.grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    )
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit)
}

pub fn shard(n: usize, seed: u64) -> (ChunkId, Bytes) {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    (ChunkId::of(&data), Bytes::from(data))
}

pub fn store_req(id: ChunkId, data: Bytes, grant: Bytes) -> StoreChunkRequest {
    StoreChunkRequest {
        chunk_id: Some(id.into()),
        data,
        metadata: None,
        grant,
    }
}

pub fn get_req(id: ChunkId, grant: Bytes) -> GetChunkRequest {
    GetChunkRequest {
        chunk_id: Some(id.into()),
        grant,
    }
}

/// Store a shard under a fresh store grant; panics on refusal.
pub async fn put(c: &mut ChunkServiceClient<Channel>, node: [u8; 32], id: ChunkId, data: Bytes) {
    let max = (data.len() as u64).max(1 << 20);
    c.store_chunk(store_req(id, data, grant(GrantOp::Store, node, id, max)))
        .await
        .unwrap();
}

/// Read a shard under a get grant of 16 MiB; panics on refusal.
pub async fn get(
    c: &mut ChunkServiceClient<Channel>,
    node: [u8; 32],
    id: ChunkId,
) -> GetChunkResponse {
    c.get_chunk(get_req(id, grant(GrantOp::Get, node, id, 16 << 20)))
        .await
        .unwrap()
        .into_inner()
}

/// A RocksDB node in a fresh directory, its public key and a connected client.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub node: NodeHandle,
    pub pk: [u8; 32],
    pub c: ChunkServiceClient<Channel>,
}

pub async fn setup(capacity_gb: f64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), capacity_gb).await;
    let pk = node.state.public_key;
    let c = client(&node).await;
    Setup { dir, node, pk, c }
}

/// Every file in a shard-file directory (`.../files/<xx>/`) under `root`.
pub fn shard_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .parent()
                .and_then(|d| d.parent())
                .is_some_and(|f| f.ends_with("files"))
            {
                out.push(p);
            }
        }
    }
    out
}
