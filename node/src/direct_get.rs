//! GetChunk answered without copying the shard.
//!
//! tonic encodes every response message into a buffer of its own, so a shard served from
//! the read cache was copied once more (8 MiB per 8 MiB read) before HTTP/2 sent it. This
//! layer answers the GetChunk route itself: the gRPC frame's prefix and the small fields are
//! encoded into a few bytes, and the shard follows as the cached `Bytes` it already is,
//! which HTTP/2 hands to the socket without copying. Every other route goes to the
//! generated service unchanged, and the answer is the generated handler's
//! ([`crate::service::get_chunk`]), so both paths agree on every status and field.
//!
//! The request is read as the generated service would read it: one uncompressed gRPC
//! message (this node offers no compression), at most [`MAX_REQUEST`] bytes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use cyxcloud_proto::chunk::{GetChunkRequest, GetChunkResponse};
use http_body::{Body as _, Frame};
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use tracing::Instrument;

use crate::state::NodeState;

/// The route this layer answers.
pub const GET_CHUNK_PATH: &str = "/cyxcloud.chunk.ChunkService/GetChunk";

/// Largest GetChunk request accepted: an id and a grant take about 210 bytes.
pub const MAX_REQUEST: usize = 16 * 1024;

/// Protobuf field 2 (`data`), length-delimited: `(2 << 3) | 2`.
const DATA_TAG: u8 = 0x12;

/// Wraps the generated ChunkService server `S` and answers GetChunk itself.
#[derive(Clone)]
pub struct DirectGet<S> {
    inner: S,
    state: Arc<NodeState>,
}

impl<S> DirectGet<S> {
    pub fn new(inner: S, state: Arc<NodeState>) -> Self {
        Self { inner, state }
    }
}

impl<S: NamedService> NamedService for DirectGet<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for DirectGet<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if req.uri().path() != GET_CHUNK_PATH {
            return Box::pin(self.inner.call(req));
        }
        let state = self.state.clone();
        let answer = async move {
            let r = match read_request(req).await {
                Ok(r) => crate::service::get_chunk(&state, r).await,
                Err(s) => Err(s),
            };
            Ok(match r {
                Ok(resp) => respond(resp),
                Err(status) => status.into_http(),
            })
        };
        // The span the generated handler has.
        Box::pin(answer.instrument(tracing::info_span!("get_chunk", rpc = "GetChunk")))
    }
}

/// The one gRPC message of a GetChunk request.
async fn read_request(req: http::Request<Body>) -> Result<GetChunkRequest, Status> {
    if let Some(enc) = req.headers().get("grpc-encoding")
        && enc.as_bytes() != b"identity"
    {
        return Err(Status::unimplemented(format!(
            "message compression {enc:?} is not supported"
        )));
    }
    let mut body = req.into_body();
    let mut buf = BytesMut::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_REQUEST {
                return Err(Status::resource_exhausted(format!(
                    "a GetChunk request takes at most {MAX_REQUEST} bytes"
                )));
            }
            buf.put(data);
        }
    }
    decode_message(&buf)
}

/// Parse one length-prefixed gRPC message holding a [`GetChunkRequest`].
fn decode_message(b: &[u8]) -> Result<GetChunkRequest, Status> {
    let Some((prefix, message)) = b.split_first_chunk::<5>() else {
        return Err(Status::invalid_argument(
            "a GetChunk request message is required",
        ));
    };
    if prefix[0] != 0 {
        return Err(Status::unimplemented(
            "compressed messages are not supported",
        ));
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if message.len() != len {
        return Err(Status::invalid_argument(format!(
            "the request holds {} bytes after a message of {len}; one message was expected",
            message.len()
        )));
    }
    GetChunkRequest::decode(message)
        .map_err(|e| Status::invalid_argument(format!("decoding the request: {e}")))
}

/// A GetChunk response as gRPC frames: the small fields, then the shard as it is.
fn respond(mut r: GetChunkResponse) -> http::Response<Body> {
    let data = std::mem::take(&mut r.data);
    let (head, total) = encode_head(&r, data.len());
    let mut frames = VecDeque::from([head]);
    if !data.is_empty() {
        frames.push_back(data);
    }
    debug_assert_eq!(frames.iter().map(Bytes::len).sum::<usize>(), total);
    let mut resp = http::Response::new(Body::new(Frames {
        data: frames,
        trailers: true,
    }));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    resp
}

/// The gRPC prefix, `r`'s fields (its `data` left empty) and the header of a `data` field of
/// `data_len` bytes; with the total length of the frames, prefix included.
fn encode_head(r: &GetChunkResponse, data_len: usize) -> (Bytes, usize) {
    let data_field = if data_len == 0 {
        0
    } else {
        1 + prost::encoding::encoded_len_varint(data_len as u64) + data_len
    };
    let fields_len = r.encoded_len();
    let message_len = fields_len + data_field;
    // The prefix, the fields, and the data field's tag and length (at most 11 bytes).
    let mut head = BytesMut::with_capacity(5 + fields_len + 11);
    head.put_u8(0);
    head.put_u32(message_len as u32);
    r.encode(&mut head)
        .expect("the buffer was sized for the message");
    if data_len > 0 {
        head.put_u8(DATA_TAG);
        prost::encoding::encode_varint(data_len as u64, &mut head);
    }
    (head.freeze(), 5 + message_len)
}

/// A response body: data frames, then the `grpc-status: 0` trailers.
struct Frames {
    data: VecDeque<Bytes>,
    trailers: bool,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(d) = self.data.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        if std::mem::take(&mut self.trailers) {
            let mut t = http::HeaderMap::new();
            t.insert("grpc-status", http::HeaderValue::from_static("0"));
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && !self.trailers
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.iter().map(|d| d.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyxcloud_proto::chunk::{ChunkId as PbChunkId, ChunkMetadata};

    fn framed(m: &impl Message) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&(m.encoded_len() as u32).to_be_bytes());
        m.encode(&mut v).unwrap();
        v
    }

    #[test]
    fn the_frames_decode_as_the_generated_encoding_of_the_same_response() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 8 << 20] {
            let data = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
            let r = GetChunkResponse {
                found: len > 0,
                data: data.clone(),
                metadata: (len > 0).then(|| ChunkMetadata {
                    original_size: len as u64,
                    stored_size: len as u64,
                    ..Default::default()
                }),
            };
            let mut small = r.clone();
            small.data = Bytes::new();
            let (head, total) = encode_head(&small, len);
            let mut wire = head.to_vec();
            wire.extend_from_slice(&data);
            assert_eq!(wire.len(), total, "len {len}");
            // Same length prefix as the stock encoding, and the same message once decoded.
            let stock = framed(&r);
            assert_eq!(wire[..5], stock[..5], "len {len}");
            assert_eq!(
                GetChunkResponse::decode(&wire[5..]).unwrap(),
                r,
                "len {len}"
            );
        }
    }

    #[test]
    fn requests_are_read_as_one_uncompressed_message() {
        let req = GetChunkRequest {
            chunk_id: Some(PbChunkId {
                hash: Bytes::from(vec![7; 32]),
            }),
            grant: Bytes::from_static(&[1; 170]),
        };
        let ok = framed(&req);
        assert_eq!(decode_message(&ok).unwrap(), req);
        let mut compressed = ok.clone();
        compressed[0] = 1;
        assert_eq!(
            decode_message(&compressed).unwrap_err().code(),
            tonic::Code::Unimplemented
        );
        let mut two = ok.clone();
        two.extend_from_slice(&ok);
        assert_eq!(
            decode_message(&two).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        for cut in [0, 3, 5, ok.len() - 1] {
            assert_eq!(
                decode_message(&ok[..cut]).unwrap_err().code(),
                tonic::Code::InvalidArgument,
                "cut at {cut}"
            );
        }
        let mut garbage = ok.clone();
        garbage[5] = 0xff;
        assert!(decode_message(&garbage).is_err());
    }
}
