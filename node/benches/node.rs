//! StoreChunk and GetChunk over loopback against a RocksDB node, beside the raw sequential
//! write speed (with fsync) of the same disk, measured in the same run.
//! `cargo bench -p cyxcloud-node --bench node` (set CYX_BENCH_DIR to choose the disk,
//! CYX_BENCH_SUSTAINED=N for N rounds of 64 KiB stores instead of the usual phases).

use std::io::Write;
use std::time::Instant;

use cyxcloud_core::ChunkId;
use cyxcloud_core::grant::{Grant, GrantOp, SigningKey};
use cyxcloud_node::config::NodeConfig;
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::{GetChunkRequest, StoreChunkRequest};
use cyxcloud_proto::frames;
use tonic::codegen::Bytes;

const MIB: usize = 1 << 20;

fn raw_fsync_write(dir: &std::path::Path, block: usize, total: usize) -> f64 {
    let path = dir.join("raw-write-probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let buf = vec![0x5au8; block];
    let t = Instant::now();
    for _ in 0..total / block {
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
    }
    let mbs = total as f64 / t.elapsed().as_secs_f64() / 1e6;
    drop(f);
    let _ = std::fs::remove_file(path);
    mbs
}

fn shard(n: usize, seed: u64) -> (ChunkId, Bytes) {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut v = vec![0u8; n];
    for c in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        c.copy_from_slice(&b[..c.len()]);
    }
    (ChunkId::of(&v), Bytes::from(v))
}

fn grant(gw: &SigningKey, op: GrantOp, node: [u8; 32], shard: ChunkId) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let g = Grant {
        op,
        node,
        shard,
        max_bytes: 1 << 30,
        issued_at: now,
        expires_at: now + 3600,
        grant_id: rand16(shard),
    };
    Bytes::copy_from_slice(&g.sign(gw).to_bytes())
}

fn rand16(seed: ChunkId) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&seed.0[..16]);
    id
}

struct Run {
    ops: u64,
    bytes: u64,
    secs: f64,
    /// CPU time of the whole process (node and clients), user + system.
    cpu_secs: f64,
}

/// `clients` tasks each store (or get) their own pre-made shards for about `budget`.
#[allow(clippy::too_many_arguments)]
async fn run(
    url: &str,
    clients: usize,
    size: usize,
    count_per_client: usize,
    store: bool,
    gw: &SigningKey,
    pk: [u8; 32],
    seed: u64,
) -> Run {
    let mut tasks = Vec::new();
    let limit = 80 * MIB;
    // Every client prepares its shards and grants first; the clock starts when all are ready.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(clients + 1));
    for c in 0..clients {
        let shards: Vec<(ChunkId, Bytes)> = (0..count_per_client)
            // Phases with different seeds get different shards (the 8-client runs used to
            // repeat the one-client run's shards, which were acknowledged without a write).
            .map(|i| shard(size, (seed << 32) + (c * 100_000 + i) as u64))
            .collect();
        let grants: Vec<Bytes> = shards
            .iter()
            .map(|(id, _)| {
                grant(
                    gw,
                    if store { GrantOp::Store } else { GrantOp::Get },
                    pk,
                    *id,
                )
            })
            .collect();
        let url = url.to_string();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let mut ch = cyxcloud_proto::limits::shard_endpoint(url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut cl = ChunkServiceClient::new(ch.clone())
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit);
            let limits = frames::Limits::both(limit);
            start.wait().await;
            for ((id, data), g) in shards.into_iter().zip(grants) {
                if store {
                    // Sent as the gateway and the client send shards.
                    let req = StoreChunkRequest {
                        chunk_id: Some(id.into()),
                        data,
                        metadata: None,
                        grant: g,
                    };
                    frames::store_chunk(&mut ch, req, limits).await.unwrap();
                } else {
                    let r = cl
                        .get_chunk(GetChunkRequest {
                            chunk_id: Some(id.into()),
                            grant: g,
                        })
                        .await
                        .unwrap();
                    assert!(r.into_inner().found);
                }
            }
        }));
    }
    start.wait().await;
    let (t, cpu) = (Instant::now(), cyxcloud_node::sys::process_cpu_seconds());
    for task in tasks {
        task.await.unwrap();
    }
    let ops = (clients * count_per_client) as u64;
    Run {
        ops,
        bytes: ops * size as u64,
        secs: t.elapsed().as_secs_f64(),
        cpu_secs: cyxcloud_node::sys::process_cpu_seconds() - cpu,
    }
}

fn print(name: &str, r: &Run, raw: f64) {
    let mbs = r.bytes as f64 / r.secs / 1e6;
    println!(
        "{name:<44} {mbs:>8.0} MB/s {:>8.0} ops/s  ({:.0}% of raw fsync write, {:.2} ms CPU/op)",
        r.ops as f64 / r.secs,
        100.0 * mbs / raw,
        r.cpu_secs * 1e3 / r.ops as f64
    );
}

fn main() {
    // The allocator setting of the node binary.
    cyxcloud_core::buffers::keep_freed_memory(cyxcloud_core::buffers::Workload::LargeBuffers);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

async fn bench() {
    let base = std::env::var_os("CYX_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).unwrap();
    let raw8 = raw_fsync_write(dir.path(), 8 * MIB, 512 * MIB);
    let raw64k = raw_fsync_write(dir.path(), 64 * 1024, 32 * MIB);
    println!("cyxcloud-node benchmark in {}", dir.path().display());
    println!(
        "{:<44} {raw8:>8.0} MB/s",
        "raw sequential write + fsync, 8 MiB blocks"
    );
    println!(
        "{:<44} {raw64k:>8.0} MB/s {:>8.0} ops/s",
        "raw sequential write + fsync, 64 KiB blocks",
        raw64k * 1e6 / 65536.0
    );

    let gw = SigningKey::from_bytes(&[42u8; 32]);
    let mut cfg = NodeConfig::default();
    cfg.storage.path = dir.path().join("node");
    cfg.storage.capacity_gb = 100.0;
    cfg.storage.scrub_rate_mb_s = 0.0;
    // Room for the 384 MiB the 8-client runs read, so "warm" means served from the cache.
    // The 64 KiB reads find the shards just stored in it.
    cfg.storage.read_cache_mb = 512;
    cfg.network.grpc_host = "127.0.0.1".into();
    cfg.network.grpc_port = 0;
    cfg.metrics.port = 0;
    cfg.gateway.public_key = hex::encode(gw.verifying_key().to_bytes());
    let node = cyxcloud_node::start(cfg).await.unwrap();
    let pk = node.state.public_key;
    let url = format!("http://{}", node.grpc_addr);

    // CYX_BENCH_SUSTAINED=N: instead of the phases below, N rounds of 8,000 64 KiB stores
    // (8 clients), then the raw 64 KiB write again. Shows whether the store rate holds as
    // RocksDB compacts, and whether background work is still running on the disk afterwards.
    if let Some(rounds) = std::env::var("CYX_BENCH_SUSTAINED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        for k in 0..rounds {
            let r = run(&url, 8, 64 * 1024, 1000, true, &gw, pk, 10 + k).await;
            print(
                &format!("StoreChunk 64 KiB, 8 clients, round {}", k + 1),
                &r,
                raw64k,
            );
        }
        let after = raw_fsync_write(dir.path(), 64 * 1024, 32 * MIB);
        println!(
            "{:<44} {after:>8.0} MB/s",
            "raw 64 KiB write + fsync, after the rounds"
        );
        node.shutdown();
        node.wait().await.unwrap();
        return;
    }
    let r = run(&url, 1, 8 * MIB, 24, true, &gw, pk, 1).await;
    print("StoreChunk 8 MiB, 1 client", &r, raw8);
    let r = run(&url, 8, 8 * MIB, 6, true, &gw, pk, 2).await;
    print("StoreChunk 8 MiB, 8 clients", &r, raw8);
    // Stores fill the node's read cache; emptied, the first reads go to RocksDB (flushes
    // write blob files with direct I/O, so a flushed shard comes from the disk).
    node.state.cache.clear();
    let r = run(&url, 1, 8 * MIB, 24, false, &gw, pk, 1).await;
    print("GetChunk 8 MiB (first read), 1 client", &r, raw8);
    let r = run(&url, 1, 8 * MIB, 24, false, &gw, pk, 1).await;
    print("GetChunk 8 MiB (warm), 1 client", &r, raw8);
    node.state.cache.clear();
    let r = run(&url, 8, 8 * MIB, 6, false, &gw, pk, 2).await;
    print("GetChunk 8 MiB (first read), 8 clients", &r, raw8);
    let r = run(&url, 8, 8 * MIB, 6, false, &gw, pk, 2).await;
    print("GetChunk 8 MiB (warm), 8 clients", &r, raw8);
    // A new store's first two write-ahead logs are fresh files: each sync of one also
    // commits the file's grown size to the filesystem journal. RocksDB reuses them once
    // their records are flushed (about 64 MiB of small shards each), and from then on (as
    // after a restart) a sync only writes data blocks. The small-shard phases measure that
    // steady state, after 256 MiB of 64 KiB stores, which are printed too.
    let r = run(&url, 8, 64 * 1024, 500, true, &gw, pk, 5).await;
    print("StoreChunk 64 KiB, 8 clients, new store", &r, raw64k);
    let r = run(&url, 1, 64 * 1024, 300, true, &gw, pk, 3).await;
    print("StoreChunk 64 KiB, 1 client", &r, raw64k);
    let r = run(&url, 8, 64 * 1024, 1000, true, &gw, pk, 4).await;
    print("StoreChunk 64 KiB, 8 clients", &r, raw64k);
    let r = run(&url, 8, 64 * 1024, 1000, false, &gw, pk, 4).await;
    print("GetChunk 64 KiB, 8 clients", &r, raw64k);
    node.shutdown();
    node.wait().await.unwrap();
}
