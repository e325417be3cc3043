//! The services' codec encodes a shard message into one buffer of its size: counted with a
//! global allocator, beside tonic's stock prost codec, which allocates the payload's size
//! about twice more (its buffer fits the payload exactly, then grows for the fields after it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use cyxcloud_proto::chunk::{ChunkId, StoreChunkRequest};
use cyxcloud_proto::codec::SizedProstCodec;
use http_body_util::BodyExt;
use tonic::Status;
use tonic::codec::{Codec, EncodeBody};

struct Counting;
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const PAYLOAD: usize = 4 << 20;

fn message() -> StoreChunkRequest {
    StoreChunkRequest {
        chunk_id: Some(ChunkId {
            hash: Bytes::from(vec![7u8; 32]),
        }),
        data: Bytes::from(vec![0xa5u8; PAYLOAD]),
        metadata: None,
        grant: Bytes::from(vec![1u8; 160]),
    }
}

/// Bytes allocated while `codec` turns one message into HTTP body frames, and those frames.
async fn encode<C: Codec<Encode = StoreChunkRequest>>(mut codec: C) -> (usize, Vec<u8>) {
    let m = message();
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut body = std::pin::pin!(EncodeBody::new_client(
        codec.encoder(),
        tokio_stream::once(Ok::<_, Status>(m)),
        None,
        None,
    ));
    let mut frames = Vec::new();
    while let Some(f) = body.frame().await {
        frames.push(f.unwrap().into_data().unwrap());
    }
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    (allocated, frames.concat())
}

#[tokio::test(flavor = "current_thread")]
async fn a_shard_message_costs_one_payload_sized_allocation() {
    let (sized, wire) =
        encode(SizedProstCodec::<StoreChunkRequest, StoreChunkRequest>::default()).await;
    let (stock, stock_wire) = encode(tonic_prost::ProstCodec::<
        StoreChunkRequest,
        StoreChunkRequest,
    >::default())
    .await;
    assert_eq!(wire, stock_wire, "the bytes on the wire are the same");
    assert!(
        sized < PAYLOAD + PAYLOAD / 4,
        "sized codec allocated {sized} bytes for a {PAYLOAD}-byte payload"
    );
    assert!(
        stock > 2 * PAYLOAD,
        "the stock codec allocated {stock} bytes: the comparison no longer shows the growth"
    );
}
