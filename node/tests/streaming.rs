//! StoreChunk of large shards over real gRPC, with the shard sent last: the node checks
//! the grant before the bytes come, writes them to the shard's file as they arrive, and
//! leaves nothing behind when a store is refused, abandoned or wrong.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::*;
use cyxcloud_core::grant::{GrantOp, SigningKey};
use cyxcloud_proto::chunk::StoreChunkResponse;
use cyxcloud_proto::frames::{self, STORE_CHUNK_PATH, store_frames};
use http_body::{Body as _, Frame};
use prost::Message;
use tonic::codegen::{Bytes, Service};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// A request body fed by the test, piece by piece; it ends when the sender is dropped.
struct Fed(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for Fed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        self.0.poll_recv(cx).map(|p| p.map(|b| Ok(Frame::data(b))))
    }
}

/// Start a StoreChunk call whose body the returned sender feeds; the task yields its
/// status and response.
fn start_store(
    mut ch: Channel,
) -> (
    tokio::sync::mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<(Code, Option<StoreChunkResponse>)>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let call = tokio::spawn(async move {
        let req = frames::request(STORE_CHUNK_PATH, tonic::body::Body::new(Fed(rx))).unwrap();
        std::future::poll_fn(|cx| ch.poll_ready(cx)).await.unwrap();
        let resp = ch.call(req).await.unwrap();
        if let Some(s) = Status::from_header_map(resp.headers()) {
            return (s.code(), None);
        }
        let mut body = resp.into_body();
        let (mut message, mut code) = (Vec::new(), Code::Unknown);
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.unwrap();
            if let Some(t) = frame.trailers_ref() {
                code = Status::from_header_map(t).map_or(Code::Ok, |s| s.code());
            } else if let Ok(d) = frame.into_data() {
                message.extend_from_slice(&d);
            }
        }
        let r = (message.len() > 5).then(|| StoreChunkResponse::decode(&message[5..]).unwrap());
        (code, r)
    });
    (tx, call)
}

/// The status a store gets for the fields before its shard alone, the body left open:
/// the answer must come before any of the shard is sent.
async fn answer_to_head(ch: &Channel, head: Bytes) -> Code {
    let (tx, call) = start_store(ch.clone());
    tx.send(head).await.unwrap();
    let (code, _) = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("no answer before the shard was sent")
        .unwrap();
    code
}

/// Temporary shard files and their lengths.
fn temporary_files(root: &std::path::Path) -> Vec<u64> {
    shard_files(root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| m.len()))
        .collect()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_shards_are_written_as_they_arrive_and_refused_before_their_bytes() {
    let Setup {
        dir,
        node,
        pk,
        mut c,
    } = setup(1.0).await;
    let root = dir.path().to_path_buf();
    let ch = cyxcloud_proto::limits::shard_endpoint(format!("http://{}", node.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let limits = frames::Limits::both(80 << 20);
    let len = 3 << 20;
    let (id, data) = shard(len, 1);

    // Refused on the fields before the shard: the answer comes while the body is still
    // open and not one byte of the shard has been sent.
    let forger = SigningKey::from_bytes(&[1u8; 32]);
    let refusals = [
        ("no grant", Bytes::new()),
        (
            "forged",
            grant_with(&forger, GrantOp::Store, pk, id, 1 << 30, now() + 60),
        ),
        ("another node", grant(GrantOp::Store, [9; 32], id, 1 << 30)),
        (
            "size over grant",
            grant(GrantOp::Store, pk, id, len as u64 - 1),
        ),
    ];
    for (what, g) in refusals {
        let head = store_frames(store_req(id, data.clone(), g))[0].clone();
        assert_eq!(
            answer_to_head(&ch, head).await,
            Code::PermissionDenied,
            "{what}"
        );
    }
    // A draining node takes no new shards: refused the same way, before the bytes.
    node.state.set_draining(true);
    let g = grant(GrantOp::Store, pk, id, len as u64);
    let head = store_frames(store_req(id, data.clone(), g))[0].clone();
    assert_eq!(answer_to_head(&ch, head).await, Code::Unavailable);
    node.state.set_draining(false);
    assert!(shard_files(&root).is_empty());
    assert_eq!(
        node.state
            .metrics
            .requests("StoreChunk", Code::PermissionDenied),
        4
    );

    // Written as it arrives: with half the shard sent, its file already holds a MiB.
    let frames = store_frames(store_req(
        id,
        data.clone(),
        grant(GrantOp::Store, pk, id, len as u64),
    ));
    let (tx, call) = start_store(ch.clone());
    tx.send(frames[0].clone()).await.unwrap();
    tx.send(data.slice(..len / 2)).await.unwrap();
    until("part of the shard on disk before the rest is sent", || {
        temporary_files(&root).iter().any(|&n| n >= 1 << 20)
    })
    .await;
    tx.send(data.slice(len / 2..)).await.unwrap();
    drop(tx);
    let (code, resp) = call.await.unwrap();
    assert_eq!(code, Code::Ok);
    assert_eq!(resp.unwrap().bytes_written, len as u64);
    // Kept in the read cache, as stored shards are.
    assert_eq!(node.state.cache.get(&id).as_deref(), Some(&data[..]));
    assert!(temporary_files(&root).is_empty());
    assert_eq!(get(&mut c, pk, id).await.data, data);
    let stats = node.state.backend.stats().await.unwrap();
    assert_eq!((stats.chunk_count, stats.used_bytes), (1, len as u64));
    assert_eq!(node.state.metrics.requests("StoreChunk", Code::Ok), 1);

    // Abandoned halfway, by a body that ends early or by a cancelled call: nothing stays.
    let (id2, data2) = shard(len, 2);
    for cancel in [false, true] {
        let frames = store_frames(store_req(
            id2,
            data2.clone(),
            grant(GrantOp::Store, pk, id2, len as u64),
        ));
        let (tx, call) = start_store(ch.clone());
        tx.send(frames[0].clone()).await.unwrap();
        tx.send(data2.slice(..len / 2)).await.unwrap();
        until("part of the shard on disk", || {
            !temporary_files(&root).is_empty()
        })
        .await;
        if cancel {
            call.abort();
            let _ = call.await;
        } else {
            drop(tx);
            assert_eq!(call.await.unwrap().0, Code::InvalidArgument);
        }
        until("the partial file removed", || {
            temporary_files(&root).is_empty()
        })
        .await;
        assert!(!node.state.backend.exists(&id2).await.unwrap());
    }

    // Bytes that do not hash to the id: refused, no file left.
    let (_, wrong) = shard(len, 3);
    let err = frames::store_chunk(
        &mut ch.clone(),
        store_req(id2, wrong, grant(GrantOp::Store, pk, id2, len as u64)),
        limits,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    until("the wrong bytes' file removed", || {
        temporary_files(&root).is_empty()
    })
    .await;
    assert!(!node.state.backend.exists(&id2).await.unwrap());

    // The same shard again is acknowledged, and stored once.
    frames::store_chunk(
        &mut ch.clone(),
        store_req(id, data.clone(), grant(GrantOp::Store, pk, id, len as u64)),
        limits,
    )
    .await
    .unwrap();
    // Sent in small frames (each body piece is a frame of its own), it is gathered into
    // larger pieces on the way and stored the same.
    let (id5, data5) = shard((1 << 20) + 12_345, 6);
    let frames = store_frames(store_req(
        id5,
        data5.clone(),
        grant(GrantOp::Store, pk, id5, 2 << 20),
    ));
    let (tx, call) = start_store(ch.clone());
    let d = data5.clone();
    let feed = tokio::spawn(async move {
        tx.send(frames[0].clone()).await.unwrap();
        for at in (0..d.len()).step_by(1000) {
            tx.send(d.slice(at..(at + 1000).min(d.len())))
                .await
                .unwrap();
        }
    });
    let (code, resp) = call.await.unwrap();
    feed.await.unwrap();
    assert_eq!(code, Code::Ok);
    assert_eq!(resp.unwrap().bytes_written, (1 << 20) + 12_345);
    node.state.cache.clear();
    assert_eq!(get(&mut c, pk, id5).await.data, data5);
    assert!(node.state.backend.delete(&id5).await.unwrap());
    // The shard sent before the grant (as prost orders the fields) goes the whole way.
    let (id3, data3) = shard(len, 4);
    put(&mut c, pk, id3, data3.clone()).await;
    // So does a shard below the file threshold, sent either way.
    let (id4, data4) = shard(64 << 10, 5);
    frames::store_chunk(
        &mut ch.clone(),
        store_req(id4, data4.clone(), grant(GrantOp::Store, pk, id4, 1 << 20)),
        limits,
    )
    .await
    .unwrap();
    assert!(node.state.cache.get(&id4).is_some());
    let stats = node.state.backend.stats().await.unwrap();
    assert_eq!(stats.chunk_count, 3);
    assert_eq!(stats.used_bytes, (2 * len + (64 << 10)) as u64);
    for (id, d) in [(id, data), (id3, data3), (id4, data4)] {
        assert_eq!(get(&mut c, pk, id).await.data, d);
    }
    node.shutdown();
    node.wait().await.unwrap();
}
