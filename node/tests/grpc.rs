//! The ChunkService over real gRPC on loopback, RocksDB backend.

mod common;

use common::*;
use cyxcloud_core::ChunkId;
use cyxcloud_core::grant::{GrantOp, SigningKey};
use cyxcloud_proto::chunk::*;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::codegen::Bytes;

#[tokio::test]
async fn store_get_stream_fetch_verify_delete() {
    let Setup {
        dir: _dir,
        node,
        pk,
        mut c,
    } = setup(1.0).await;

    let (id, data) = shard(300_000, 1);
    let r = c
        .store_chunk(store_req(
            id,
            data.clone(),
            grant(GrantOp::Store, pk, id, 300_000),
        ))
        .await
        .unwrap();
    assert_eq!(r.into_inner().bytes_written, 300_000);
    // A stored shard was verified on the way in, and is cached.
    assert_eq!(node.state.cache.used_bytes(), 300_000);
    // Storing the same shard again is idempotent.
    c.store_chunk(store_req(
        id,
        data.clone(),
        grant(GrantOp::Store, pk, id, 300_000),
    ))
    .await
    .unwrap();
    let got = get(&mut c, pk, id).await;
    assert!(got.found);
    assert_eq!(got.data, data);
    // Reads are served from the cache, and add nothing to it.
    assert_eq!(node.state.cache.used_bytes(), 300_000);
    let again = c
        .get_chunk(get_req(id, grant(GrantOp::Get, pk, id, 1 << 20)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.data, data);
    assert_eq!(node.state.cache.used_bytes(), 300_000);
    // A cached shard still needs a grant that covers it.
    let err = c
        .get_chunk(get_req(id, grant(GrantOp::Get, pk, id, 1000)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let (missing, _) = shard(10, 99);
    let got = c
        .get_chunk(get_req(missing, grant(GrantOp::Get, pk, missing, 1 << 20)))
        .await
        .unwrap()
        .into_inner();
    assert!(!got.found);

    // StreamChunks: three good shards and one whose bytes do not match its id.
    let mut msgs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let (id, data) = shard(50_000 + i, 10 + i as u64);
        ids.push(id);
        msgs.push(ChunkData {
            chunk_id: Some(id.into()),
            data,
            shard_index: i as u32,
            grant: grant(GrantOp::Store, pk, id, 1 << 20),
            metadata: None,
        });
    }
    let (bad, _) = shard(100, 77);
    msgs.push(ChunkData {
        chunk_id: Some(bad.into()),
        data: Bytes::from_static(b"not the right bytes"),
        shard_index: 3,
        grant: grant(GrantOp::Store, pk, bad, 1 << 20),
        metadata: None,
    });
    let r = c
        .stream_chunks(tokio_stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.chunks_stored, 3);
    assert_eq!(r.failed_chunks.len(), 1);

    // FetchChunks returns each stored shard intact, in order.
    let mut stream = c
        .fetch_chunks(fetch_req(pk, &ids, 1 << 20))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(item) = stream.next().await {
        let item = item.unwrap();
        assert_eq!(ChunkId::of(&item.data), ids[item.shard_index as usize]);
        n += 1;
    }
    assert_eq!(n, 3);

    let v = verify(&mut c, id).await;
    assert!(v.valid);
    assert_eq!(&v.actual_hash[..], id.as_bytes());

    let h = c
        .health_check(HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    let st = h.status.unwrap();
    assert!(h.healthy);
    assert_eq!(st.chunk_count, 4);
    assert_eq!(st.used_bytes, 300_000 + 50_000 + 50_001 + 50_002);
    assert_eq!(st.capacity_bytes, 1_000_000_000);
    assert_eq!(st.node_id, node.node_id);

    c.delete_chunk(DeleteChunkRequest {
        chunk_id: Some(id.into()),
        grant: grant(GrantOp::Delete, pk, id, 0),
    })
    .await
    .unwrap();
    assert!(
        node.state.cache.get(&id).is_none(),
        "a deleted shard leaves the cache"
    );
    // Deleting an absent shard succeeds.
    c.delete_chunk(DeleteChunkRequest {
        chunk_id: Some(id.into()),
        grant: grant(GrantOp::Delete, pk, id, 0),
    })
    .await
    .unwrap();
    let got = c
        .get_chunk(get_req(id, grant(GrantOp::Get, pk, id, 1 << 20)))
        .await
        .unwrap()
        .into_inner();
    assert!(!got.found);

    // The node recorded the grants it served, for settlement.
    // Two GetChunks and three FetchChunks items were
    // served; misses and refusals are not.
    assert_eq!(node.state.backend.served(100).await.unwrap().len(), 5);
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test]
async fn every_grant_refusal_is_permission_denied_and_leaves_nothing() {
    let Setup {
        dir,
        node,
        pk,
        mut c,
    } = setup(1.0).await;
    let (id, data) = shard(4096, 3);
    let (other, _) = shard(4096, 4);
    let forger = SigningKey::from_bytes(&[1u8; 32]);
    let cases: Vec<(&str, Bytes)> = vec![
        ("no grant", Bytes::new()),
        ("garbage", Bytes::from_static(b"garbage")),
        ("another node", grant(GrantOp::Store, [9; 32], id, 1 << 20)),
        ("another shard", grant(GrantOp::Store, pk, other, 1 << 20)),
        ("wrong operation", grant(GrantOp::Get, pk, id, 1 << 20)),
        (
            "forged",
            grant_with(&forger, GrantOp::Store, pk, id, 1 << 20, now() + 60),
        ),
        (
            "expired",
            grant_with(&gateway(), GrantOp::Store, pk, id, 1 << 20, now() - 1),
        ),
        ("size over grant", grant(GrantOp::Store, pk, id, 4095)),
    ];
    for (what, g) in cases {
        let err = c
            .store_chunk(store_req(id, data.clone(), g))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{what}: {err:?}");
    }
    assert!(!node.state.backend.exists(&id).await.unwrap());
    assert_eq!(node.state.backend.stats().await.unwrap().chunk_count, 0);

    // Reads and deletes need grants too.
    put(&mut c, pk, id, data.clone()).await;
    let err = c.get_chunk(get_req(id, Bytes::new())).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .get_chunk(get_req(id, grant(GrantOp::Get, pk, id, 100)))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "a read larger than the grant"
    );
    let err = c
        .delete_chunk(DeleteChunkRequest {
            chunk_id: Some(id.into()),
            grant: grant(GrantOp::Get, pk, id, 0),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(node.state.backend.exists(&id).await.unwrap());
    let err = c
        .fetch_chunks(FetchChunksRequest {
            chunk_ids: vec![id.into()],
            grants: vec![Bytes::new()],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Bytes that do not hash to the id are refused, nothing stored.
    let (id2, _) = shard(100, 5);
    let err = c
        .store_chunk(store_req(
            id2,
            Bytes::from_static(b"other"),
            grant(GrantOp::Store, pk, id2, 1 << 20),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(!node.state.backend.exists(&id2).await.unwrap());
    // So are large ones, whose bytes the node writes aside while it hashes them: no file
    // of them is left behind.
    let (id3, _) = shard(3 << 20, 6);
    let (_, other) = shard(3 << 20, 7);
    let err = c
        .store_chunk(store_req(
            id3,
            other,
            grant(GrantOp::Store, pk, id3, 4 << 20),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(!node.state.backend.exists(&id3).await.unwrap());
    let hex = id3.to_hex();
    let left: Vec<_> = shard_files(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&hex))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        node.state
            .metrics
            .requests("StoreChunk", Code::PermissionDenied),
        8
    );
}

#[tokio::test]
async fn a_full_node_refuses_new_shards_and_keeps_serving() {
    let Setup {
        dir: _dir,
        node,
        pk,
        mut c,
    } = setup(0.000_1).await; // 100 kB
    let (a, da) = shard(60_000, 1);
    let (b, db) = shard(60_000, 2);
    put(&mut c, pk, a, da.clone()).await;
    let err = c
        .store_chunk(store_req(b, db, grant(GrantOp::Store, pk, b, 1 << 20)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(!node.state.backend.exists(&b).await.unwrap());
    let got = c
        .get_chunk(get_req(a, grant(GrantOp::Get, pk, a, 1 << 20)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.data, da);
    // Storing an existing shard again is not refused: it needs no space.
    put(&mut c, pk, a, da).await;
}

#[tokio::test]
async fn corruption_on_disk_is_caught_by_get_verify_and_the_scrubber() {
    let dir = tempfile::tempdir().unwrap();
    // Three shards small enough for RocksDB's blob files, and one stored as a file.
    let (ids, datas): (Vec<_>, Vec<_>) = [200_000, 200_000, 200_000, 3 << 20]
        .into_iter()
        .zip(100..)
        .map(|(n, seed)| shard(n, seed))
        .unzip();
    {
        let node = start_node(dir.path(), 1.0).await;
        let pk = node.state.public_key;
        let mut c = client(&node).await;
        for (id, d) in ids.iter().zip(&datas) {
            c.store_chunk(store_req(
                *id,
                d.clone(),
                grant(GrantOp::Store, pk, *id, 4 << 20),
            ))
            .await
            .unwrap();
        }
        node.shutdown();
        node.wait().await.unwrap(); // flushes shards into blob files
    }
    // Flip one byte of shard 1 in the blob file that holds it at rest (bit rot), and one
    // of shard 3 in its own file.
    for (shard, place) in [(1, "blob file"), (3, "shard file")] {
        let needle = &datas[shard][1000..1064];
        let mut flipped = 0;
        for entry in walk(dir.path()) {
            let is_blob = entry.extension().is_some_and(|e| e == "blob");
            if is_blob != (place == "blob file") {
                continue;
            }
            let mut bytes = std::fs::read(&entry).unwrap();
            if let Some(pos) = bytes.windows(needle.len()).position(|w| w == needle) {
                bytes[pos + 10] ^= 0x01;
                std::fs::write(&entry, bytes).unwrap();
                flipped += 1;
            }
        }
        assert_eq!(flipped, 1, "shard {shard} not found in a {place}");
    }

    let node = start_node(dir.path(), 1.0).await;
    let pk = node.state.public_key;
    let mut c = client(&node).await;
    let err = c
        .get_chunk(get_req(ids[1], grant(GrantOp::Get, pk, ids[1], 1 << 20)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{err:?}");
    assert_eq!(
        node.state.cache.used_bytes(),
        0,
        "a corrupt shard is not cached"
    );
    let v = verify(&mut c, ids[1]).await;
    assert!(!v.valid);
    // Healthy shards still read back.
    let got = c
        .get_chunk(get_req(ids[0], grant(GrantOp::Get, pk, ids[0], 1 << 20)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.data, datas[0]);
    // The scrubber finds exactly the damaged shards (the one in its own file found first
    // here), and they are recorded for the gateway.
    assert_eq!(node.state.cache.used_bytes(), 200_000);
    let found = cyxcloud_node::scrub::scrub_pass(&node.state, 0.0, &Default::default()).await;
    assert_eq!(found, 2);
    // The scrubber reads the disk, and what it reads stays out of the cache.
    assert_eq!(node.state.cache.used_bytes(), 200_000);
    assert!(node.state.cache.get(&ids[2]).is_none());
    let mut corrupt: Vec<ChunkId> = node
        .state
        .backend
        .corrupt()
        .await
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    corrupt.sort();
    let mut expect = vec![ids[1], ids[3]];
    expect.sort();
    assert_eq!(corrupt, expect);
    // GetChunk and VerifyChunk catch the damaged shard file too.
    let err = c
        .get_chunk(get_req(ids[3], grant(GrantOp::Get, pk, ids[3], 4 << 20)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{err:?}");
    let v = verify(&mut c, ids[3]).await;
    assert!(!v.valid);
}

/// VerifyChunk of `id`, with no expected hash given.
async fn verify(
    c: &mut chunk_service_client::ChunkServiceClient<tonic::transport::Channel>,
    id: ChunkId,
) -> VerifyChunkResponse {
    c.verify_chunk(VerifyChunkRequest {
        chunk_id: Some(id.into()),
        expected_hash: Bytes::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn metrics_endpoint_reports_requests_and_storage() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), cyxcloud_node::config::BackendKind::Memory, 1.0);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cfg.metrics.port = port;
    let node = cyxcloud_node::start(cfg).await.unwrap();
    let pk = node.state.public_key;
    let mut c = client(&node).await;
    let (id, data) = shard(1234, 1);
    put(&mut c, pk, id, data).await;
    let text = http_get(node.metrics_addr.unwrap(), "/metrics").await;
    assert!(text.contains("cyxcloud_node_bytes_stored 1234"), "{text}");
    let cpu: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .expect("process CPU time is exported")
        .parse()
        .unwrap();
    assert!(cpu > 0.0, "{text}");
    assert!(
        text.contains("cyxcloud_node_requests_total{rpc=\"StoreChunk\",code=\"OK\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("cyxcloud_node_request_duration_seconds_count{rpc=\"StoreChunk\"} 1"),
        "{text}"
    );
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn get_chunk_is_answered_by_the_direct_path_and_sends_the_shard_whole() {
    let Setup {
        dir: _dir,
        node,
        pk,
        mut c,
    } = setup(1.0).await;
    // Large enough for a file of its own, several HTTP/2 frames, and a multi-byte length.
    let (id, data) = shard(3 << 20, 5);
    put(&mut c, pk, id, data.clone()).await;
    let got = get(&mut c, pk, id).await;
    assert!(got.found);
    assert_eq!(got.data, data);
    let meta = got.metadata.expect("metadata of a found shard");
    assert_eq!((meta.original_size, meta.stored_size), (3 << 20, 3 << 20));
    // A request body beyond the direct path's limit is refused before the grant is read,
    // which the generated service would have rejected as a malformed grant instead.
    let err = c
        .get_chunk(get_req(id, Bytes::from(vec![0u8; 20_000])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    // The read that reached the handler was counted under GetChunk, as the generated
    // service counts it; a request refused while it is read is not (nor is it there).
    let m = &node.state.metrics;
    assert_eq!(m.requests("GetChunk", Code::Ok), 1);
    assert_eq!(m.requests("GetChunk", Code::ResourceExhausted), 0);
}

/// FetchChunks sends with backpressure: while the caller does not read, the node fetches
/// only what HTTP/2 flow control lets through (a 16 MiB stream window) and a few shards
/// more, not every shard asked for; read on, the caller gets them all.
#[tokio::test]
async fn fetch_chunks_waits_for_a_reader_that_stops() {
    let Setup {
        dir: _dir,
        node,
        pk,
        mut c,
    } = setup(1.0).await;
    const N: usize = 48;
    const LEN: usize = 1 << 20;
    let mut ids = Vec::new();
    for i in 0..N {
        let (id, data) = shard(LEN, 500 + i as u64);
        c.store_chunk(store_req(
            id,
            data,
            grant(GrantOp::Store, pk, id, LEN as u64),
        ))
        .await
        .unwrap();
        ids.push(id);
    }
    let mut stream = c
        .fetch_chunks(fetch_req(pk, &ids, LEN as u64))
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(ChunkId::of(&first.data), ids[0]);
    // Wait until the node stops fetching (each fetch records its served grant).
    let served = || async { node.state.backend.served(1000).await.unwrap().len() };
    let mut last = served().await;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let now = served().await;
        if now == last && now > 1 {
            break;
        }
        last = now;
    }
    let held = served().await;
    // Here 20: the one read, about 16 MiB in the window, and the few the node holds
    // ready to send; without the bound on its queue, all 48.
    assert!(
        held <= 24,
        "{held} of {N} shards fetched for a caller that read one"
    );
    let mut n = 1;
    while let Some(item) = stream.next().await {
        let item = item.unwrap();
        assert_eq!(ChunkId::of(&item.data), ids[item.shard_index as usize]);
        n += 1;
    }
    assert_eq!(n, N);
    assert_eq!(served().await, N);
    node.shutdown();
    node.wait().await.unwrap();
}

/// FetchChunks for `ids`, each with a get grant of up to `max` bytes.
fn fetch_req(pk: [u8; 32], ids: &[ChunkId], max: u64) -> FetchChunksRequest {
    FetchChunksRequest {
        chunk_ids: ids.iter().map(|i| (*i).into()).collect(),
        grants: ids
            .iter()
            .map(|i| grant(GrantOp::Get, pk, *i, max))
            .collect(),
    }
}
