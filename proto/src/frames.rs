//! gRPC messages whose one large `bytes` field travels as the `Bytes` it already is.
//!
//! tonic encodes every message into a buffer of its own, so a shard is copied once more
//! (8 MiB per 8 MiB shard) on its way from the caller's buffer to the socket. Here a
//! message is sent as a few frames instead: the gRPC prefix and the fields before the
//! payload, the payload itself, then the fields after it. HTTP/2 writes a large frame to
//! the socket from the caller's buffer, without copying it.
//!
//! Protobuf lets a message's fields come in any order, and every decoder reads them so.
//! [`store_chunk`] sends the shard last, after its id, metadata and grant: a node can then
//! check the grant before the shard's bytes arrive and write them to disk as they come
//! (`cyxcloud_node::direct_store`). Decoded, the message is the one prost would have
//! encoded in field-number order.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::Frame;
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tonic::codec::{Codec, Streaming};
use tonic::codegen::{Service, http};
use tonic::transport::Channel;

use crate::chunk::{StoreChunkRequest, StoreChunkResponse};
use crate::codec::SizedProstCodec;

/// The StoreChunk route of ChunkService.
pub const STORE_CHUNK_PATH: &str = "/cyxcloud.chunk.ChunkService/StoreChunk";

/// One gRPC message as frames: the 5-byte prefix with `head`'s fields, then `payload` as
/// field `field` (length-delimited), then `tail`'s fields. An empty payload is left out,
/// as prost leaves out an empty `bytes` field.
pub fn message_frames(
    head: &impl Message,
    field: u32,
    payload: Bytes,
    tail: &impl Message,
) -> VecDeque<Bytes> {
    use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
    let payload_field = if payload.is_empty() {
        0
    } else {
        key_len(field) + encoded_len_varint(payload.len() as u64) + payload.len()
    };
    let (head_len, tail_len) = (head.encoded_len(), tail.encoded_len());
    let message_len = head_len + payload_field + tail_len;
    // The prefix, the head's fields and the payload's key and length (at most 15 bytes).
    let mut first = BytesMut::with_capacity(5 + head_len + 15);
    first.put_u8(0);
    first.put_u32(message_len as u32);
    head.encode(&mut first)
        .expect("the buffer was sized for the fields");
    let mut frames = VecDeque::with_capacity(3);
    if !payload.is_empty() {
        encode_key(field, WireType::LengthDelimited, &mut first);
        encode_varint(payload.len() as u64, &mut first);
        frames.push_back(first.freeze());
        frames.push_back(payload);
    } else {
        frames.push_back(first.freeze());
    }
    if tail_len > 0 {
        frames.push_back(Bytes::from(tail.encode_to_vec()));
    }
    debug_assert_eq!(
        frames.iter().map(Bytes::len).sum::<usize>(),
        5 + message_len
    );
    frames
}

/// An HTTP body of data frames, then optionally trailers.
pub struct Frames {
    data: VecDeque<Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl Frames {
    /// A request body: the frames, no trailers.
    pub fn request(data: VecDeque<Bytes>) -> Self {
        Frames {
            data,
            trailers: None,
        }
    }

    /// A response body: the frames, then the `grpc-status: 0` trailers.
    pub fn ok_response(data: VecDeque<Bytes>) -> Self {
        let mut t = http::HeaderMap::new();
        t.insert("grpc-status", http::HeaderValue::from_static("0"));
        Frames {
            data,
            trailers: Some(t),
        }
    }
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
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.iter().map(|d| d.len() as u64).sum())
    }
}

/// Size limits of a call, as the generated clients' `max_encoding_message_size` and
/// `max_decoding_message_size` set them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub encode: usize,
    pub decode: usize,
}

impl Limits {
    /// The same limit for both directions, as shard traffic uses.
    pub fn both(max: usize) -> Self {
        Limits {
            encode: max,
            decode: max,
        }
    }
}

/// A gRPC request to the method at `path` with `body` (messages already framed).
pub fn request(path: &str, body: Body) -> Result<http::Request<Body>, Status> {
    http::Request::builder()
        .method(http::Method::POST)
        .version(http::Version::HTTP_2)
        .uri(path)
        .header(
            http::header::CONTENT_TYPE,
            tonic::metadata::GRPC_CONTENT_TYPE,
        )
        .header(http::header::TE, "trailers")
        .body(body)
        .map_err(|e| Status::internal(format!("building a request: {e}")))
}

/// Call the unary method at `path` over `channel` with a message already in `frames`
/// ([`message_frames`]), and decode its one response message. Statuses are read as
/// tonic's generated clients read them: from the headers of a trailers-only answer, or
/// from the trailers after the message.
pub async fn unary<R>(
    channel: &mut Channel,
    path: &'static str,
    frames: VecDeque<Bytes>,
    limits: Limits,
) -> Result<tonic::Response<R>, Status>
where
    R: Message + Default + Send + 'static,
{
    let len = frames
        .iter()
        .map(Bytes::len)
        .sum::<usize>()
        .saturating_sub(5);
    if len > limits.encode {
        return Err(Status::out_of_range(format!(
            "Error, encoded message length too large: found {len} bytes, the limit is: {} bytes",
            limits.encode
        )));
    }
    let req = request(path, Body::new(Frames::request(frames)))?;
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .map_err(|e| Status::from_error(Box::new(e)))?;
    let resp = channel
        .call(req)
        .await
        .map_err(|e| Status::from_error(Box::new(e)))?;
    if let Some(status) = Status::from_header_map(resp.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    let (parts, body) = resp.into_parts();
    let decoder = SizedProstCodec::<R, R>::default().decoder();
    let mut stream =
        Streaming::new_response(decoder, body, parts.status, None, Some(limits.decode));
    let message = stream
        .message()
        .await?
        .ok_or_else(|| Status::internal("Missing response message."))?;
    let mut headers = parts.headers;
    if let Some(trailers) = stream.trailers().await? {
        headers.extend(trailers.into_headers());
    }
    Ok(tonic::Response::from_parts(
        tonic::metadata::MetadataMap::from_headers(headers),
        message,
        parts.extensions,
    ))
}

/// ChunkService.StoreChunk with the shard sent from `req.data` as it is.
pub async fn store_chunk(
    channel: &mut Channel,
    req: StoreChunkRequest,
    limits: Limits,
) -> Result<tonic::Response<StoreChunkResponse>, Status> {
    unary(channel, STORE_CHUNK_PATH, store_frames(req), limits).await
}

/// A StoreChunk request as frames: the id, metadata and grant (fields 1, 3 and 4) first,
/// then the shard (field 2) as the last field.
pub fn store_frames(mut req: StoreChunkRequest) -> VecDeque<Bytes> {
    let data = std::mem::take(&mut req.data);
    message_frames(&req, STORE_DATA_FIELD, data, &())
}

/// The `data` field of StoreChunkRequest.
pub const STORE_DATA_FIELD: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ChunkId, ChunkMetadata};

    fn framed(m: &impl Message) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&(m.encoded_len() as u32).to_be_bytes());
        m.encode(&mut v).unwrap();
        v
    }

    #[test]
    fn a_store_request_in_frames_decodes_as_the_same_message_with_the_shard_last() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 21] {
            for with_meta in [false, true] {
                let r = StoreChunkRequest {
                    chunk_id: Some(ChunkId {
                        hash: Bytes::from(vec![7; 32]),
                    }),
                    data: Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>()),
                    metadata: with_meta.then(|| ChunkMetadata {
                        original_size: len as u64,
                        stored_size: len as u64,
                        ..Default::default()
                    }),
                    grant: Bytes::from(vec![1; 170]),
                };
                let frames = store_frames(r.clone());
                // The payload is the caller's buffer itself, not a copy of it.
                if len > 0 {
                    assert_eq!(frames[1].as_ptr(), r.data.as_ptr(), "len {len}");
                }
                let wire: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
                let stock = framed(&r);
                // The same prefix and length as prost's encoding, and the same message.
                assert_eq!(wire.len(), stock.len(), "len {len}, metadata {with_meta}");
                assert_eq!(wire[..5], stock[..5]);
                assert_eq!(StoreChunkRequest::decode(&wire[5..]).unwrap(), r);
                // Everything but the shard comes before it.
                if len > 0 {
                    let mut head = r.clone();
                    head.data = Bytes::new();
                    assert_eq!(frames.len(), 2);
                    assert_eq!(
                        &frames[0][5..5 + head.encoded_len()],
                        &head.encode_to_vec()[..]
                    );
                }
            }
        }
    }

    #[test]
    fn a_message_with_nothing_after_the_payload_has_no_last_frame() {
        let head = StoreChunkRequest {
            chunk_id: Some(ChunkId {
                hash: Bytes::from_static(&[3; 32]),
            }),
            ..Default::default()
        };
        let frames = message_frames(&head, 2, Bytes::from_static(b"shard"), &());
        assert_eq!(frames.len(), 2);
        let wire: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        let whole = StoreChunkRequest {
            data: Bytes::from_static(b"shard"),
            ..head
        };
        assert_eq!(wire, framed(&whole));
    }
}
