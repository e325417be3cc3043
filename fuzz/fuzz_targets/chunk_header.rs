//! Any bytes given to the chunk parser yield a typed error or a chunk whose data hashes to
//! its header's content hash; never a panic.
#![no_main]
use cyxcloud_core::{ChunkId, format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, body)) = format::parse_chunk(data) {
        assert_eq!(ChunkId::of(body), header.content_hash);
        assert_eq!(body.len() as u64, header.stored_size);
        assert_eq!(&header.to_bytes()[..], &data[..format::HEADER_LEN]);
    }
});
