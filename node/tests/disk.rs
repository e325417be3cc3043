//! A node on a disk that fills up: a real (tmpfs) filesystem of a few MiB, mounted for the
//! test. Without the right to mount (not root), the tests say so and pass.

mod common;

use std::path::Path;

use common::*;
use cyxcloud_core::ChunkId;
use cyxcloud_core::grant::GrantOp;
use cyxcloud_node::config::BackendKind;
use cyxcloud_node::{NodeHandle, start};
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::*;
use tonic::Code;
use tonic::transport::Channel;

/// A tmpfs of `mb` MiB, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(mb: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("cannot mount a tmpfs here (not root?); skipped");
            return None;
        }
        Some(Tmpfs(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a failed test may leave a node with files open on it.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

async fn node_on(dir: &Path, min_free_mb: u64) -> (NodeHandle, ChunkServiceClient<Channel>) {
    let mut cfg = config(dir, BackendKind::Rocksdb, 10.0);
    cfg.storage.min_free_mb = min_free_mb;
    let node = start(cfg).await.unwrap();
    let c = client(&node).await;
    (node, c)
}

async fn store(
    c: &mut ChunkServiceClient<Channel>,
    pk: [u8; 32],
    len: usize,
    seed: u64,
) -> Result<ChunkId, tonic::Status> {
    let (id, data) = shard(len, seed);
    c.store_chunk(store_req(
        id,
        data,
        grant(GrantOp::Store, pk, id, len as u64),
    ))
    .await
    .map(|_| id)
}

/// Every shard in `ids` reads back and hashes to its id.
async fn all_readable(c: &mut ChunkServiceClient<Channel>, pk: [u8; 32], ids: &[ChunkId]) {
    for id in ids {
        let r = c
            .get_chunk(get_req(*id, grant(GrantOp::Get, pk, *id, 8 << 20)))
            .await
            .unwrap()
            .into_inner();
        assert!(r.found && ChunkId::of(&r.data) == *id, "shard {id} lost");
    }
}

/// With `min_free_mb` kept free, a node offers no more than its disk holds and refuses new
/// shards as a full node while RocksDB still has room: deletes and reads go on.
#[tokio::test]
async fn a_nearly_full_disk_refuses_new_shards_and_keeps_room_for_deletes() {
    let Some(fs) = Tmpfs::mount(64) else { return };
    let (node, mut c) = node_on(&fs.path().join("node"), 16).await;
    let pk = node.state.public_key;
    let offered = |c: &mut ChunkServiceClient<Channel>| {
        let mut c = c.clone();
        async move {
            let h = c.health_check(HealthCheckRequest {}).await.unwrap();
            h.into_inner().status.unwrap().capacity_bytes
        }
    };
    // Configured for 10 GB, offered what fits: under 64 - 16 MiB.
    assert!(offered(&mut c).await <= 48 << 20);

    let mut stored = Vec::new();
    let refusal = loop {
        match store(&mut c, pk, 1 << 20, stored.len() as u64).await {
            Ok(id) => stored.push(id),
            Err(e) => break e,
        }
        assert!(stored.len() < 64, "a 64 MiB disk took 64 MiB of shards");
    };
    assert_eq!(refusal.code(), Code::ResourceExhausted, "{refusal:?}");
    assert!(refusal.message().contains("kept free"), "{refusal:?}");
    assert!(stored.len() >= 20, "only {} shards stored", stored.len());
    let free = cyxcloud_node::sys::disk_free(fs.path()).unwrap();
    assert!(free >= 15 << 20, "{free} bytes left free");
    // What is offered now is about what is stored.
    let used = node.state.backend.used_bytes();
    assert!(offered(&mut c).await <= used + (1 << 20));

    all_readable(&mut c, pk, &stored).await;
    for id in &stored[..stored.len() / 2] {
        c.delete_chunk(DeleteChunkRequest {
            chunk_id: Some((*id).into()),
            grant: grant(GrantOp::Delete, pk, *id, 0),
        })
        .await
        .unwrap();
    }
    // Deleted shard files free their space at once: stores go again.
    store(&mut c, pk, 1 << 20, 10_000).await.unwrap();
    all_readable(&mut c, pk, &stored[stored.len() / 2..]).await;
    node.shutdown();
    node.wait().await.unwrap();
}

/// A disk that another program fills: the node refuses stores as a full node's, a write
/// that races the other program fails as one too (not as an internal error), and nothing
/// acknowledged is lost. RocksDB, which refuses all writes once its log met the full disk,
/// resumes by itself when a memtable's worth (64 MiB) is free again: the node stores again
/// without a restart.
#[tokio::test]
async fn a_disk_filled_by_another_program_fails_stores_as_full_and_loses_nothing() {
    let Some(fs) = Tmpfs::mount(160) else { return };
    let dir = fs.path().join("node");
    let (node, mut c) = node_on(&dir, 0).await;
    let pk = node.state.public_key;
    // Small shards (in RocksDB's log) and 2 MiB ones (a file each).
    let mut stored = Vec::new();
    for i in 0..12u64 {
        let len = if i % 3 == 2 { 2 << 20 } else { 64 << 10 };
        stored.push(store(&mut c, pk, len, 100 + i).await.unwrap());
    }
    // Another program takes every byte left.
    let filler = fs.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        for block in [1 << 20, 4096, 1] {
            while f.write_all(&vec![1u8; block]).is_ok() {}
        }
    }
    for len in [64 << 10, 2 << 20] {
        let e = store(&mut c, pk, len, 900 + len as u64).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{len} bytes: {e:?}");
    }
    // A write that passed the free-space check just before the disk filled.
    for len in [64 << 10, 2 << 20] {
        let (id, data) = shard(len, 800 + len as u64);
        let e = node.state.backend.put(&id, data).await.unwrap_err();
        assert!(
            matches!(e, cyxcloud_node::storage::StorageError::NoSpace(_)),
            "{len} bytes: {e:?}"
        );
        assert_eq!(tonic::Status::from(e).code(), Code::ResourceExhausted);
    }
    all_readable(&mut c, pk, &stored).await;

    std::fs::remove_file(&filler).unwrap();
    let mut resumed = None;
    for t in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if let Ok(id) = store(&mut c, pk, 64 << 10, 5_000 + t).await {
            resumed = Some(id);
            break;
        }
    }
    let resumed = resumed.expect("stores did not resume within 30 s of freeing space");
    stored.push(resumed);
    stored.push(store(&mut c, pk, 2 << 20, 6_000).await.unwrap());
    node.shutdown();
    node.wait().await.unwrap();
    let (node, mut c) = node_on(&dir, 0).await;
    all_readable(&mut c, pk, &stored).await;
    node.shutdown();
    node.wait().await.unwrap();
}
