//! gRPC message size limits.
//!
//! tonic refuses messages over 4 MiB by default, far below one shard of a 64 MiB chunk with
//! few data shards. Both sides derive their limits from the largest chunk they handle and the
//! smallest data-shard count they accept, so limits always fit the data and never much more.

use cyxcloud_core::crypto::sealed_len;
use cyxcloud_core::erasure::{ErasureProfile, SHARD_ALIGN};
use cyxcloud_core::format::HEADER_LEN;

/// Room for everything in a message besides shard bytes: ids, grants, metadata, framing.
pub const ENVELOPE_SLACK: usize = 64 * 1024;

/// The largest shard any chunk of at most `chunk_size` bytes produces with `profile`.
pub fn max_shard_len(chunk_size: usize, profile: ErasureProfile) -> usize {
    // Compression is only kept when it shrinks the chunk, so the payload is at most the chunk.
    profile.shard_len(HEADER_LEN + sealed_len(chunk_size))
}

/// The message limit for carrying one shard of chunks up to `chunk_size` with any profile
/// that has at least `min_data_shards` data shards.
pub fn max_message_size(chunk_size: usize, min_data_shards: usize) -> usize {
    let k = min_data_shards.max(1);
    (HEADER_LEN + sealed_len(chunk_size))
        .div_ceil(k)
        .next_multiple_of(SHARD_ALIGN)
        + ENVELOPE_SLACK
}

/// HTTP/2 flow-control windows for shard traffic. With the 64 KiB default, an 8 MiB shard
/// waits on about 128 window updates; these let a whole shard be in flight.
pub const STREAM_WINDOW: u32 = 16 << 20;
pub const CONNECTION_WINDOW: u32 = 64 << 20;
/// HTTP/2 frame size: 1 MiB frames carry a shard in a few frames instead of hundreds of
/// 16 KiB ones.
pub const MAX_FRAME: u32 = 1 << 20;

/// A client endpoint tuned for shard traffic: large flow-control windows, no Nagle delay,
/// keepalives. Every CyxCloud client of a ChunkService should connect through this.
pub fn shard_endpoint(
    url: impl Into<String>,
) -> Result<tonic::transport::Endpoint, tonic::transport::Error> {
    Ok(tonic::transport::Endpoint::from_shared(url.into())?
        .tcp_nodelay(true)
        .max_frame_size(MAX_FRAME)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .http2_keep_alive_interval(std::time::Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_timeout(std::time::Duration::from_secs(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_cover_the_largest_shard_of_every_named_profile() {
        let chunk = 64 * 1024 * 1024;
        for (_, p) in ErasureProfile::NAMED {
            let limit = max_message_size(chunk, p.data_shards());
            assert_eq!(limit, max_shard_len(chunk, p) + ENVELOPE_SLACK, "{p}");
            assert!(
                limit < chunk,
                "{p}: the limit should be about one shard, not a chunk"
            );
        }
        // Default tonic limit (4 MiB) is too small for an 8+6 shard of a 64 MiB chunk.
        assert!(max_shard_len(chunk, ErasureProfile::STANDARD) > 4 * 1024 * 1024);
    }
}
