//! GetChunk answered without copying the shard.
//!
//! tonic encodes every response message into a buffer of its own, so a shard served from
//! the read cache was copied once more (8 MiB per 8 MiB read) before HTTP/2 sent it. This
//! layer answers the GetChunk route itself: the gRPC frame's prefix and the small fields are
//! encoded into a few bytes, and the shard follows as the cached `Bytes` it already is,
//! which HTTP/2 hands to the socket without copying ([`crate::direct`] routes the requests
//! here). The answer is the generated handler's ([`crate::service::get_chunk`]), so both
//! paths agree on every status and field.
//!
//! The request is read as the generated service would read it: one uncompressed gRPC
//! message (this node offers no compression), at most [`MAX_REQUEST`] bytes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use cyxcloud_proto::chunk::{GetChunkRequest, GetChunkResponse};
use cyxcloud_proto::frames::message_frames;
use http_body::Body as _;
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http;

use crate::state::NodeState;

/// The route this layer answers.
pub const GET_CHUNK_PATH: &str = "/cyxcloud.chunk.ChunkService/GetChunk";

/// Largest GetChunk request accepted: an id and a grant take about 210 bytes.
pub const MAX_REQUEST: usize = 16 * 1024;

/// The `data` field of GetChunkResponse.
const DATA_FIELD: u32 = 2;

/// Answer a GetChunk request ([`crate::direct::Direct`] routes it here).
pub(crate) async fn answer(
    state: Arc<NodeState>,
    req: http::Request<Body>,
) -> http::Response<Body> {
    let r = match read_request(req).await {
        Ok(r) => crate::service::get_chunk(&state, r).await,
        Err(s) => Err(s),
    };
    match r {
        Ok(resp) => respond(resp),
        Err(status) => status.into_http(),
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
    crate::direct::ok_response(encode(&r, data))
}

/// `r`'s fields (its `data` left empty) and then `data` as its `data` field, as frames.
fn encode(r: &GetChunkResponse, data: Bytes) -> VecDeque<Bytes> {
    message_frames(r, DATA_FIELD, data, &())
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
            let wire: Vec<u8> = encode(&small, data.clone())
                .iter()
                .flat_map(|f| f.to_vec())
                .collect();
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
