//! Crash durability: a real `cyxcloud-node` process on RocksDB stores shards (small ones in
//! RocksDB, large ones in shard files) from several concurrent clients and is killed with
//! SIGKILL at random moments; after each restart every acknowledged shard reads back and
//! verifies.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use cyxcloud_core::ChunkId;
use cyxcloud_core::grant::GrantOp;
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;

struct Proc {
    child: Child,
    addr: String,
    pk: [u8; 32],
}

fn spawn_node(dir: &std::path::Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cyxcloud-node"))
        .args([
            "--storage-path",
            dir.to_str().unwrap(),
            "--grpc-host",
            "127.0.0.1",
            "--grpc-port",
            "0",
        ])
        .args([
            "--metrics-port",
            "0",
            "--gateway-public-key",
            &hex::encode(gateway().verifying_key().to_bytes()),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cyxcloud-node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("grpc="))
        .expect("ready line")
        .to_string();
    // The node's public key is in its identity file.
    let text = std::fs::read_to_string(dir.join("identity.key")).unwrap();
    let secret: [u8; 32] = hex::decode(text.lines().nth(1).unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pk = ed25519_dalek::SigningKey::from_bytes(&secret)
        .verifying_key()
        .to_bytes();
    Proc { child, addr, pk }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_shards_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let seed = now();
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let acked: Arc<Mutex<Vec<ChunkId>>> = Arc::default();
    let large: Arc<AtomicUsize> = Arc::default();
    let streamed: Arc<AtomicUsize> = Arc::default();
    let mut counter = 0u64;
    let t0 = std::time::Instant::now();
    for round in 0..4 {
        let mut p = spawn_node(dir.path());
        let url = format!("http://{}", p.addr);
        // Writers: store shards as fast as they can, recording each acknowledgement.
        let mut writers = Vec::new();
        for w in 0..4u64 {
            let url = url.clone();
            let acked = acked.clone();
            let large = large.clone();
            let streamed = streamed.clone();
            let pk = p.pk;
            let base = counter + w * 1_000_000;
            writers.push(tokio::spawn(async move {
                let Ok(endpoint) = cyxcloud_proto::limits::shard_endpoint(url) else {
                    return;
                };
                let Ok(mut ch) = endpoint.connect().await else {
                    return;
                };
                let mut c = ChunkServiceClient::new(ch.clone()).max_encoding_message_size(64 << 20);
                // Half the writers send the shard last, as the client and gateway do (large
                // shards then go to disk as they arrive), half send it as prost orders it.
                let shard_last = w % 2 == 1;
                let limits = cyxcloud_proto::frames::Limits::both(64 << 20);
                for i in 0.. {
                    // Mostly small shards (kept in RocksDB), every eighth one large
                    // enough for a file of its own.
                    let n = base + i;
                    let len = if n % 8 == 7 {
                        (1 << 20) + (n % 5) as usize * 4096
                    } else {
                        1000 + (n % 7) as usize * 9000
                    };
                    let (id, data) = shard(len, n);
                    let g = grant(GrantOp::Store, pk, id, 2 << 20);
                    let req = store_req(id, data, g);
                    let r = if shard_last {
                        cyxcloud_proto::frames::store_chunk(&mut ch, req, limits)
                            .await
                            .map(drop)
                    } else {
                        c.store_chunk(req).await.map(drop)
                    };
                    match r {
                        Ok(_) => {
                            acked.lock().unwrap().push(id);
                            if len >= 1 << 20 {
                                large.fetch_add(1, Ordering::Relaxed);
                                if shard_last {
                                    streamed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Err(_) => return, // the node died
                    }
                }
            }));
        }
        counter += 10_000_000;
        tokio::time::sleep(Duration::from_millis(150 + next() % 600)).await;
        p.child.kill().unwrap(); // SIGKILL
        p.child.wait().unwrap();
        for w in writers {
            let _ = w.await;
        }

        // Restart and read every acknowledged shard back.
        eprintln!(
            "round {round}: {} acknowledged, {:?} since start",
            acked.lock().unwrap().len(),
            t0.elapsed()
        );
        let mut p = spawn_node(dir.path());
        let mut c = ChunkServiceClient::connect(format!("http://{}", p.addr))
            .await
            .unwrap();
        let ids = acked.lock().unwrap().clone();
        assert!(
            !ids.is_empty(),
            "round {round}: nothing was stored before the kill (seed {seed})"
        );
        for id in &ids {
            let r = c
                .get_chunk(get_req(*id, grant(GrantOp::Get, p.pk, *id, 2 << 20)))
                .await;
            let r = r
                .unwrap_or_else(|e| panic!("round {round}, seed {seed}: {id}: {e:?}"))
                .into_inner();
            assert!(
                r.found,
                "round {round}, seed {seed}: acknowledged shard {id} lost"
            );
            assert_eq!(
                ChunkId::of(&r.data),
                *id,
                "round {round}, seed {seed}: shard {id} damaged"
            );
        }
        // Partial files of stores the kill interrupted were swept at the restart.
        let partial: Vec<_> = shard_files(dir.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
            .collect();
        assert!(partial.is_empty(), "round {round}: {partial:?} left");
        p.child.kill().unwrap();
        p.child.wait().unwrap();
    }
    assert!(
        streamed.load(Ordering::Relaxed) > 0
            && large.load(Ordering::Relaxed) > streamed.load(Ordering::Relaxed),
        "large shards were not acknowledged on both paths (seed {seed})"
    );
}

#[test]
fn sigterm_stops_the_node_cleanly_with_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_node(dir.path());
    let pid = p.child.id() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc_kill(pid, 15) }, 0);
    let status = p.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn invalid_configuration_fails_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("node.toml");
    std::fs::write(&cfg, "[storage]\ncapacity_gb = -5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cyxcloud-node"))
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storage.capacity_gb"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
