//! The gateway's data path on a local network of 14 RocksDB nodes (8+6): PUT and GET of
//! 64 MiB objects with 4 concurrent S3 clients, 4 KiB PUT and GET with 16 concurrent
//! clients (ops/s, p99), beside a plain file copy with fsync to the same disk in the same
//! run. `cargo bench -p cyxcloud-gateway --bench gateway` (CYX_BENCH_DIR picks the disk).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use cyxcloud_gateway::GatewayConfig;

#[path = "../tests/common/mod.rs"]
mod common;

const MIB: usize = 1 << 20;

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut v = vec![0u8; len];
    for c in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
    }
    v
}

/// `rounds` times, `writers` threads each copy `size` bytes into a new file and fsync it
/// (the files stay until the end, as the PUT's objects do); aggregate MB/s.
fn file_copy_fsync(
    dir: &std::path::Path,
    rounds: usize,
    writers: usize,
    size: usize,
    data: &[u8],
) -> f64 {
    let t = Instant::now();
    for r in 0..rounds {
        std::thread::scope(|s| {
            for w in 0..writers {
                s.spawn(move || {
                    let p = dir.join(format!("copy-{r}-{w}"));
                    let mut f = std::fs::File::create(&p).unwrap();
                    for piece in data[..size].chunks(MIB) {
                        f.write_all(piece).unwrap();
                    }
                    f.sync_all().unwrap();
                });
            }
        });
    }
    let mbs = (rounds * writers * size) as f64 / t.elapsed().as_secs_f64() / 1e6;
    for r in 0..rounds {
        for w in 0..writers {
            let _ = std::fs::remove_file(dir.join(format!("copy-{r}-{w}")));
        }
    }
    mbs
}

fn p99(v: &mut [Duration]) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

fn main() {
    // The allocator setting of the gateway and node binaries.
    cyxcloud_core::buffers::keep_freed_memory();
    tokio::runtime::Runtime::new().unwrap().block_on(bench());
}

async fn bench() {
    let base = std::env::var_os("CYX_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let mut cfg = GatewayConfig::default();
    cfg.server.host = "127.0.0.1".into();
    cfg.server.http_port = 0;
    cfg.server.grpc_port = 0;
    cfg.server.data_dir = dir.path().join("gateway");
    cfg.server.dev_mode = true;
    cfg.storage.default_quota_bytes = 1 << 40;
    cfg.logging.level = "warn".into();
    let gw = cyxcloud_gateway::start(cfg).await.unwrap();
    let mut nodes = Vec::new();
    for i in 0..14 {
        let mut n = cyxcloud_node::NodeConfig::default();
        n.node.id = format!("node-{i:02}");
        n.storage.path = dir.path().join(format!("node-{i}"));
        n.storage.capacity_gb = 100.0;
        n.network.grpc_host = "127.0.0.1".into();
        n.network.grpc_port = 0;
        n.gateway.url = format!("http://{}", gw.grpc_addr);
        n.gateway.heartbeat_interval_secs = 1;
        n.metrics.port = 0;
        nodes.push(cyxcloud_node::start(n).await.unwrap());
    }
    while gw
        .state
        .registry
        .all()
        .iter()
        .filter(|n| n.status == "online")
        .count()
        < 14
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("http://{}", gw.http_addr);
    let s3 = common::s3_for(&url, &common::signup(&url, "bench@example.com").await);
    s3.create_bucket().bucket("bench").send().await.unwrap();

    // `Bytes` clones share the buffer: the clients do not copy 64 MiB per request.
    let big = bytes::Bytes::from(random(64 * MIB, 1));
    // 64 MiB PUT, 4 clients, 3 rounds; the file copy moves the same bytes the same way.
    let rounds = 3;
    let copy = file_copy_fsync(dir.path(), rounds, 4, 64 * MIB, &big);
    let profile = cyxcloud_core::ErasureProfile::STANDARD;
    println!("plain file copy + fsync, {rounds} rounds of 4 writers x 64 MiB: {copy:.0} MB/s");

    let cpu = cyxcloud_node::sys::process_cpu_seconds;
    // CPU time per MB of object, for the gateway, the 14 nodes and the clients together:
    // steadier than MB/s on a shared machine.
    let cpu_per_mb = |c0: f64| (cpu() - c0) * 1e3 / ((rounds * 4 * 64 * MIB) as f64 / 1e6);
    let (t, c0) = (Instant::now(), cpu());
    for r in 0..rounds {
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..4 {
            let (s3, big) = (s3.clone(), big.clone());
            tasks.spawn(async move {
                s3.put_object()
                    .bucket("bench")
                    .key(format!("big-{r}-{c}"))
                    .body(ByteStream::from(big))
                    .send()
                    .await
                    .unwrap();
            });
        }
        while let Some(x) = tasks.join_next().await {
            x.unwrap();
        }
    }
    let put = (rounds * 4 * 64 * MIB) as f64 / t.elapsed().as_secs_f64() / 1e6;
    let put_target = 0.5 * copy / profile.expansion();
    println!(
        "64 MiB PUT, 4 clients: {put:.0} MB/s (target >= {put_target:.0} = 50% of copy / {:.2}), \
         {:.2} ms CPU/MB",
        profile.expansion(),
        cpu_per_mb(c0)
    );

    let (t, c0) = (Instant::now(), cpu());
    for r in 0..rounds {
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..4 {
            let s3 = s3.clone();
            tasks.spawn(async move {
                let o = s3
                    .get_object()
                    .bucket("bench")
                    .key(format!("big-{r}-{c}"))
                    .send()
                    .await
                    .unwrap();
                let mut body = o.body;
                let mut n = 0;
                while let Some(b) = body.try_next().await.unwrap() {
                    n += b.len();
                }
                assert_eq!(n, 64 * MIB);
            });
        }
        while let Some(x) = tasks.join_next().await {
            x.unwrap();
        }
    }
    let get = (rounds * 4 * 64 * MIB) as f64 / t.elapsed().as_secs_f64() / 1e6;
    println!(
        "64 MiB GET, 4 clients: {get:.0} MB/s (target >= 1000), {:.2} ms CPU/MB",
        cpu_per_mb(c0)
    );

    // 4 KiB objects, 16 clients, a fixed time each way.
    let small = Arc::new(random(4096, 2));
    let run = Duration::from_secs(5);
    for op in ["PUT", "GET"] {
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..16 {
            let (s3, small) = (s3.clone(), small.clone());
            tasks.spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0;
                while t.elapsed() < run {
                    let key = format!("small-{c}-{}", if op == "PUT" { i } else { i % 50 });
                    let s = Instant::now();
                    if op == "PUT" {
                        s3.put_object()
                            .bucket("bench")
                            .key(key)
                            .body(ByteStream::from(small.to_vec()))
                            .send()
                            .await
                            .unwrap();
                    } else {
                        let o = s3
                            .get_object()
                            .bucket("bench")
                            .key(key)
                            .send()
                            .await
                            .unwrap();
                        o.body.collect().await.unwrap();
                    }
                    lat.push(s.elapsed());
                    i += 1;
                }
                lat
            });
        }
        let mut all = Vec::new();
        while let Some(x) = tasks.join_next().await {
            all.extend(x.unwrap());
        }
        let ops = all.len() as f64 / t.elapsed().as_secs_f64();
        let target = if op == "PUT" { 1500 } else { 4000 };
        println!(
            "4 KiB {op}, 16 clients: {ops:.0} ops/s, p99 {:.1} ms (target >= {target} ops/s)",
            p99(&mut all).as_secs_f64() * 1000.0
        );
    }

    gw.shutdown();
    gw.wait().await.unwrap();
    for n in nodes {
        n.shutdown();
        let _ = n.wait().await;
    }
}
