//! StoreChunk with the shard written to disk as it arrives.
//!
//! The generated service hands a handler the whole request: an 8 MiB shard was received
//! into memory completely before its grant was looked at, its bytes hashed or its file
//! written. Senders of this project put the shard last in the message
//! ([`cyxcloud_proto::frames::store_frames`]), after its id and grant. This layer reads a
//! StoreChunk request up to the shard's first byte, checks the grant there (a refused store
//! is answered before its data is sent) and then writes each arriving piece of the shard
//! to the shard's file and hashes it, on the blocking pool, while the next piece arrives:
//! receiving, hashing and writing overlap. Like the generated service's stores, a stored
//! shard enters the node's read cache (the hashing thread gathers it for that); with the
//! cache off, a store holds about two pieces (HTTP/2 frames of up to 1 MiB) besides what
//! HTTP/2 flow control lets the sender have in flight. The shard becomes part of the store
//! only when every byte has arrived and hashes to its id; anything else leaves nothing
//! behind.
//!
//! The generated service still answers every request this path does not stream: another
//! route, a message with the shard before the grant or not last, a shard the backend takes
//! whole (below its file threshold, or the memory backend), a full node (which
//! acknowledges a shard it already holds), compression. It gets the bytes read so far and
//! then the rest of the body, so the request reaches it unchanged.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use cyxcloud_core::ChunkId;
use cyxcloud_proto::chunk::{StoreChunkRequest, StoreChunkResponse};
use cyxcloud_proto::frames::{STORE_DATA_FIELD, message_frames};
use http_body::{Body as _, Frame};
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Service, http};

use crate::service::{hash_mismatch, internal, parse_id};
use crate::state::NodeState;
use crate::storage::IncomingShard;

/// Pieces of a shard smaller than this (HTTP/2 frames are as small as the sender makes
/// them, 16 KiB by default) are gathered up to it before they go to the writer and the
/// hasher, so that a shard costs a few hand-offs to the blocking pool, not one per frame.
const MIN_PIECE: usize = 256 * 1024;

/// The fields before the shard (id, metadata, grant) take a few hundred bytes; a request
/// whose shard does not begin within this many goes to the generated service.
pub const MAX_HEAD: usize = 64 * 1024;

/// Answer a StoreChunk request ([`crate::direct::Direct`] routes it here), or let
/// `inner`, the generated service, answer it. Messages over `max_message` bytes go there
/// to be refused.
pub(crate) async fn answer<S>(
    state: Arc<NodeState>,
    req: http::Request<Body>,
    max_message: usize,
    mut inner: S,
) -> Result<http::Response<Body>, Infallible>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    match store(&state, req, max_message).await {
        Outcome::Answer(resp) => Ok(resp),
        Outcome::Whole(req) => inner.call(req).await,
    }
}

enum Outcome {
    /// Answered here.
    Answer(http::Response<Body>),
    /// For the generated service: the request as it arrived.
    Whole(http::Request<Body>),
}

/// Where a StoreChunk message's shard begins, once enough of it has arrived.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// More bytes are needed to tell.
    More,
    /// The fields before the shard are `fields` (offsets into the request's bytes); the
    /// shard's `len` bytes begin at `data_at` and end the message.
    Shard {
        fields: std::ops::Range<usize>,
        data_at: usize,
        len: usize,
    },
    /// Not a message this path streams.
    Whole,
}

enum Varint {
    Value(u64, usize),
    Incomplete,
    Invalid,
}

fn varint(b: &[u8]) -> Varint {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Varint::Value(v, i + 1);
        }
    }
    if b.len() < 10 {
        Varint::Incomplete
    } else {
        Varint::Invalid
    }
}

/// Read a gRPC request's start: the 5-byte prefix, then protobuf fields up to the shard.
fn parse_head(b: &[u8]) -> Head {
    let Some((prefix, rest)) = b.split_first_chunk::<5>() else {
        return Head::More;
    };
    if prefix[0] != 0 {
        return Head::Whole;
    }
    let end = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let mut pos = 0;
    // Reads a varint at `at`, or returns what that means for the whole.
    macro_rules! varint_at {
        ($at:expr) => {
            match varint(&rest[($at).min(rest.len())..]) {
                Varint::Value(v, n) => (v, $at + n),
                Varint::Incomplete => return Head::More,
                Varint::Invalid => return Head::Whole,
            }
        };
    }
    loop {
        if pos >= end {
            // The message ended without a shard (an empty one is left out).
            return Head::Whole;
        }
        let (key, after_key) = varint_at!(pos);
        let (field, wire_type) = (key >> 3, key & 7);
        pos = match wire_type {
            0 => varint_at!(after_key).1,
            1 => after_key + 8,
            5 => after_key + 4,
            2 => {
                let (len, start) = varint_at!(after_key);
                let Ok(len) = usize::try_from(len) else {
                    return Head::Whole;
                };
                if field == u64::from(STORE_DATA_FIELD) {
                    if start.checked_add(len) != Some(end) {
                        return Head::Whole;
                    }
                    return Head::Shard {
                        fields: 5..5 + pos,
                        data_at: 5 + start,
                        len,
                    };
                }
                match start.checked_add(len) {
                    Some(next) => next,
                    None => return Head::Whole,
                }
            }
            _ => return Head::Whole,
        };
        if pos > end {
            return Head::Whole;
        }
        if pos > rest.len() {
            return Head::More;
        }
    }
}

/// An HTTP body that yields `head` first, then the rest of `body`.
struct Prepend {
    head: Option<Bytes>,
    body: Body,
}

impl http_body::Body for Prepend {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(h) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(h))));
        }
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.body.is_end_stream()
    }
}

async fn next_frame(body: &mut Body) -> Option<Result<Frame<Bytes>, Status>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

/// Store the shard of a StoreChunk request as it arrives, or hand the request back.
async fn store(state: &NodeState, req: http::Request<Body>, max_message: usize) -> Outcome {
    let t = std::time::Instant::now();
    // An answer from here, counted as the generated service counts its own.
    let answer = |r: Result<u64, Status>| {
        let code = r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok);
        state.metrics.observe("StoreChunk", code, t.elapsed());
        Outcome::Answer(match r {
            Ok(n) => respond(n),
            Err(status) => status.into_http(),
        })
    };
    let compressed = req
        .headers()
        .get("grpc-encoding")
        .is_some_and(|e| e.as_bytes() != b"identity");
    if compressed {
        return Outcome::Whole(req);
    }
    let (parts, mut body) = req.into_parts();
    let whole = move |head: Bytes, body: Body| {
        let body = Body::new(Prepend {
            head: (!head.is_empty()).then_some(head),
            body,
        });
        Outcome::Whole(http::Request::from_parts(parts, body))
    };
    // Usually the first frame: kept as it came, so a request that goes whole is not copied.
    let mut head = Bytes::new();
    let (fields, data_at, len) = loop {
        match parse_head(&head) {
            Head::Shard {
                fields,
                data_at,
                len,
            } if data_at - 5 + len <= max_message => break (fields, data_at, len),
            Head::Shard { .. } | Head::Whole => return whole(head, body),
            Head::More if head.len() >= MAX_HEAD => return whole(head, body),
            Head::More => {}
        }
        match next_frame(&mut body).await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    head = if head.is_empty() {
                        data
                    } else {
                        let mut joined = BytesMut::with_capacity(head.len() + data.len());
                        joined.extend_from_slice(&head);
                        joined.extend_from_slice(&data);
                        joined.freeze()
                    };
                }
            }
            // The body ended (or failed) early: the generated service says what is wrong.
            Some(Err(_)) | None => return whole(head, Body::empty()),
        }
    };
    // Small shards go whole (before the grant check, which the generated service makes).
    if !state.backend.streams(len as u64) {
        return whole(head, body);
    }
    let Ok(r) = StoreChunkRequest::decode(&head[fields]) else {
        return whole(head, body);
    };
    let Ok(id) = parse_id(r.chunk_id.as_ref()) else {
        return whole(head, body);
    };
    // The grant first: a refused store is answered before its bytes are sent.
    if let Err(status) = state.admit_store(&id, len as u64, &r.grant) {
        return answer(Err(status));
    }
    // A full node still acknowledges a shard it holds; the generated service decides.
    let Ok(reservation) = state.reserve(len as u64) else {
        return whole(head, body);
    };
    let sink = match state.backend.incoming(&id, len as u64).await {
        Ok(Some(sink)) => sink,
        Ok(None) => {
            drop(reservation);
            return whole(head, body);
        }
        Err(e) => return answer(Err(e.into())),
    };
    head.advance(data_at);
    let r = receive(state, id, len, head, body, sink).await;
    drop(reservation);
    answer(r)
}

/// A value that goes to the blocking pool while work on it runs, one piece at a time:
/// the work on a piece overlaps the arrival of the next, and a stalled sender holds no
/// thread.
enum Stage<T> {
    Idle(T),
    Busy(tokio::task::JoinHandle<Result<T, Status>>),
    /// Its work failed (the failure was returned) or it was taken.
    Gone,
}

impl<T: Send + 'static> Stage<T> {
    /// The value, once the work on it is done.
    async fn take(&mut self) -> Result<T, Status> {
        match std::mem::replace(self, Stage::Gone) {
            Stage::Idle(t) => Ok(t),
            Stage::Busy(work) => work.await.map_err(internal)?,
            Stage::Gone => Err(internal("the shard's pipeline failed earlier")),
        }
    }

    /// Run `f` on the value on the blocking pool, after the work before it. Dropped
    /// unfinished, the work still ends and drops the value on its thread.
    async fn then(
        &mut self,
        f: impl FnOnce(&mut T) -> Result<(), Status> + Send + 'static,
    ) -> Result<(), Status> {
        let mut t = self.take().await?;
        *self = Stage::Busy(tokio::task::spawn_blocking(move || {
            f(&mut t)?;
            Ok(t)
        }));
        Ok(())
    }
}

/// Receive the shard's `len` bytes (`first` of them already read), writing and hashing
/// each piece while the next arrives; commit the shard if they hash to `id`.
async fn receive(
    state: &NodeState,
    id: ChunkId,
    len: usize,
    first: Bytes,
    mut body: Body,
    sink: Box<dyn IncomingShard>,
) -> Result<u64, Status> {
    let mut sink = Stage::Idle(sink);
    // Stored shards enter the read cache, as the generated service's do (a shard is often
    // read soon after it is stored, and its file bypassed the page cache): the hashing
    // thread also gathers the pieces into one buffer for it.
    let since = state.cache.generation();
    let gather = state
        .cache
        .admits(len)
        .then(|| BytesMut::with_capacity(len));
    let mut hasher = Stage::Idle((blake3::Hasher::new(), gather));
    let mut received = 0usize;
    let mut piece = (!first.is_empty()).then_some(first);
    // Small frames are gathered into pieces of at least MIN_PIECE bytes.
    let mut small = BytesMut::new();
    loop {
        if let Some(p) = piece.take() {
            if received + p.len() > len {
                return Err(Status::invalid_argument(
                    "a StoreChunk request holds one message; more bytes followed it",
                ));
            }
            received += p.len();
            let p = if small.is_empty() && p.len() >= MIN_PIECE {
                Some(p)
            } else {
                small.extend_from_slice(&p);
                (small.len() >= MIN_PIECE || received == len).then(|| small.split().freeze())
            };
            if let Some(p) = p {
                let q = p.clone();
                sink.then(move |s| s.write(&p).map_err(Status::from))
                    .await?;
                hasher
                    .then(move |(h, gather)| {
                        h.update(&q);
                        if let Some(g) = gather {
                            g.extend_from_slice(&q);
                        }
                        Ok(())
                    })
                    .await?;
            }
        }
        match next_frame(&mut body).await {
            Some(Ok(frame)) => piece = frame.into_data().ok().filter(|d| !d.is_empty()),
            Some(Err(status)) => return Err(status),
            None if received < len => {
                return Err(Status::invalid_argument(format!(
                    "the request ended after {received} of the shard's {len} bytes"
                )));
            }
            None => break,
        }
    }
    let sink = sink.take().await?;
    let (h, gathered) = hasher.take().await?;
    let hash = ChunkId(*h.finalize().as_bytes());
    if !hash.ct_eq(&id) {
        // Dropping the sink removes its file: off the async threads.
        tokio::task::spawn_blocking(move || drop(sink));
        return Err(hash_mismatch());
    }
    let wrote = tokio::task::spawn_blocking(move || sink.commit())
        .await
        .map_err(internal)??;
    if wrote {
        state
            .metrics
            .bytes_received
            .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(data) = gathered {
        state.cache.insert(id, data.freeze(), since);
    }
    Ok(len as u64)
}

/// The response to a stored shard.
fn respond(bytes_written: u64) -> http::Response<Body> {
    let r = StoreChunkResponse {
        success: true,
        error_message: String::new(),
        bytes_written,
    };
    // All fields in the message's first frame: no payload field follows them.
    crate::direct::ok_response(message_frames(&r, 0, Bytes::new(), &()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyxcloud_proto::chunk::{ChunkId as PbChunkId, ChunkMetadata};
    use cyxcloud_proto::frames::store_frames;
    use proptest::prelude::*;

    fn request(data_len: usize, grant_len: usize, meta: bool) -> StoreChunkRequest {
        StoreChunkRequest {
            chunk_id: Some(PbChunkId {
                hash: Bytes::from(vec![7; 32]),
            }),
            data: Bytes::from(vec![5; data_len]),
            metadata: meta.then(|| ChunkMetadata {
                original_size: data_len as u64,
                stored_size: data_len as u64,
                ..Default::default()
            }),
            grant: Bytes::from(vec![1; grant_len]),
        }
    }

    fn prost_order(r: &StoreChunkRequest) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&(r.encoded_len() as u32).to_be_bytes());
        r.encode(&mut v).unwrap();
        v
    }

    proptest! {
        /// A request sent shard-last is found at the first byte of its shard, and not a byte
        /// earlier; the fields before it decode to the request without its shard.
        #[test]
        fn the_shard_is_found_where_it_begins(
            data_len in 1usize..300_000,
            grant_len in 0usize..400,
            meta: bool,
        ) {
            let r = request(data_len, grant_len, meta);
            let frames = store_frames(r.clone());
            let head = &frames[0];
            for cut in 0..head.len() {
                prop_assert_eq!(parse_head(&head[..cut]), Head::More, "cut at {}", cut);
            }
            let Head::Shard { fields, data_at, len } = parse_head(head) else {
                panic!("no shard found");
            };
            prop_assert_eq!((data_at, len), (head.len(), data_len));
            let mut without = r.clone();
            without.data = Bytes::new();
            prop_assert_eq!(StoreChunkRequest::decode(&head[fields]).unwrap(), without);
            // The shard's first bytes change nothing.
            let mut more = head.to_vec();
            more.extend_from_slice(&frames[1][..data_len.min(100)]);
            prop_assert_eq!(parse_head(&more), parse_head(head));
        }

        /// Whatever the bytes, the parser answers without panicking.
        #[test]
        fn any_bytes_get_an_answer(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_head(&b);
        }
    }

    #[test]
    fn messages_not_sent_shard_last_go_whole() {
        // The generated clients' order: the shard before the grant.
        let r = request(5000, 170, true);
        let stock = prost_order(&r);
        assert_eq!(parse_head(&stock), Head::Whole);
        // A field after the shard.
        let frames = store_frames(r.clone());
        let mut after: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        let extra = [0x22, 1, 9]; // field 4, one byte
        after.extend_from_slice(&extra);
        let total = (after.len() - 5) as u32;
        after[1..5].copy_from_slice(&total.to_be_bytes());
        assert_eq!(parse_head(&after), Head::Whole);
        // Compressed.
        let mut compressed = frames[0].to_vec();
        compressed[0] = 1;
        assert_eq!(parse_head(&compressed), Head::Whole);
        // No shard at all.
        let empty = prost_order(&request(0, 170, false));
        assert_eq!(parse_head(&empty), Head::Whole);
        // A malformed varint.
        let mut bad = vec![0, 0, 0, 0, 20];
        bad.extend_from_slice(&[0xff; 11]);
        assert_eq!(parse_head(&bad), Head::Whole);
    }
}
