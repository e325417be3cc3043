//! The chunk binary format (specification, "Chunk Binary Format").
//!
//! ```text
//! offset size field
//! 0      4    magic          "CYXC" (0x43595843 read big-endian)
//! 4      4    version        u32 little-endian, 1
//! 8      4    flags          u32 LE: bit 0 encrypted, bit 1 compressed, bit 2 verified
//! 12     8    original size  u64 LE, bytes before compression and encryption
//! 20     8    stored size    u64 LE, bytes of data following the header
//! 28     32   content hash   BLAKE3 of the stored data
//! 60     12   reserved       zero
//! 72     N    data
//! ```
//!
//! Parsing is strict and total: every field is checked and every failure is a typed
//! [`Error`]. A later version can be read beside version 1 by dispatching on `version`.

use crate::error::{Error, Result};
use crate::id::ChunkId;

pub const MAGIC: [u8; 4] = *b"CYXC";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 72;
/// Largest chunk (original or stored size) a version-1 chunk may declare. It bounds the
/// memory a decoder allocates for a hostile header.
pub const MAX_CHUNK_SIZE: u64 = 1 << 30;

/// Chunk flags. Unknown bits are rejected on parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Flags(u32);

impl Flags {
    pub const ENCRYPTED: Flags = Flags(1);
    pub const COMPRESSED: Flags = Flags(1 << 1);
    pub const VERIFIED: Flags = Flags(1 << 2);
    const KNOWN: u32 = 0b111;

    pub const fn empty() -> Self {
        Flags(0)
    }
    pub const fn bits(self) -> u32 {
        self.0
    }
    pub fn from_bits(bits: u32) -> Result<Self> {
        if bits & !Self::KNOWN != 0 {
            return Err(Error::UnknownFlags(bits & !Self::KNOWN));
        }
        Ok(Flags(bits))
    }
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn set(&mut self, other: Flags, on: bool) {
        if on {
            self.0 |= other.0
        } else {
            self.0 &= !other.0
        }
    }
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    pub fn encrypted(self) -> bool {
        self.contains(Self::ENCRYPTED)
    }
    pub fn compressed(self) -> bool {
        self.contains(Self::COMPRESSED)
    }
}

impl serde::Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Flags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let bits = u32::deserialize(d)?;
        Flags::from_bits(bits).map_err(serde::de::Error::custom)
    }
}

/// A parsed chunk header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    pub version: u32,
    pub flags: Flags,
    pub original_size: u64,
    pub stored_size: u64,
    pub content_hash: ChunkId,
}

impl ChunkHeader {
    /// Serialise into exactly [`HEADER_LEN`] bytes.
    pub fn write(&self, out: &mut [u8; HEADER_LEN]) {
        out[0..4].copy_from_slice(&MAGIC);
        out[4..8].copy_from_slice(&self.version.to_le_bytes());
        out[8..12].copy_from_slice(&self.flags.bits().to_le_bytes());
        out[12..20].copy_from_slice(&self.original_size.to_le_bytes());
        out[20..28].copy_from_slice(&self.stored_size.to_le_bytes());
        out[28..60].copy_from_slice(self.content_hash.as_bytes());
        out[60..72].fill(0);
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        self.write(&mut b);
        b
    }

    /// Parse and check a header without looking at the data that follows.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let h: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Truncated {
                needed: HEADER_LEN as u64,
                have: bytes.len() as u64,
            })?;
        let magic: [u8; 4] = h[0..4].try_into().expect("4 bytes");
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        let version = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
        match version {
            FORMAT_VERSION => Self::parse_v1(h),
            v => Err(Error::UnsupportedVersion(v)),
        }
    }

    fn parse_v1(h: &[u8; HEADER_LEN]) -> Result<Self> {
        let flags = Flags::from_bits(u32::from_le_bytes(h[8..12].try_into().expect("4 bytes")))?;
        if !flags.contains(Flags::VERIFIED) {
            return Err(Error::MissingIntegrity);
        }
        let original_size = u64::from_le_bytes(h[12..20].try_into().expect("8 bytes"));
        let stored_size = u64::from_le_bytes(h[20..28].try_into().expect("8 bytes"));
        if h[60..72].iter().any(|&b| b != 0) {
            return Err(Error::ReservedNotZero);
        }
        check_sizes(flags, original_size, stored_size)?;
        let content_hash = ChunkId(h[28..60].try_into().expect("32 bytes"));
        Ok(ChunkHeader {
            version: FORMAT_VERSION,
            flags,
            original_size,
            stored_size,
            content_hash,
        })
    }
}

/// Check that the original and stored sizes agree with what the flags say was done to the
/// data: encryption adds a tag per segment, compression must have shrunk the payload.
pub fn check_sizes(flags: Flags, original_size: u64, stored_size: u64) -> Result<()> {
    use crate::crypto::{payload_len, sealed_len};
    if original_size > MAX_CHUNK_SIZE {
        return Err(Error::ChunkTooLarge(original_size));
    }
    if stored_size > sealed_len(MAX_CHUNK_SIZE as usize) as u64 {
        return Err(Error::ChunkTooLarge(stored_size));
    }
    let payload = if flags.encrypted() {
        payload_len(stored_size as usize).ok_or(Error::SizeMismatch {
            what: "stored size of an encrypted chunk",
            expected: sealed_len(original_size as usize) as u64,
            actual: stored_size,
        })? as u64
    } else {
        stored_size
    };
    let ok = if flags.compressed() {
        payload > 0 && payload < original_size
    } else {
        payload == original_size
    };
    if !ok {
        return Err(Error::SizeMismatch {
            what: "payload size for the chunk flags",
            expected: original_size,
            actual: payload,
        });
    }
    Ok(())
}

/// Parse a whole chunk blob (header and data), check that the length matches the header
/// exactly and that the data hashes to the content hash. Returns the header and the data.
pub fn parse_chunk(blob: &[u8]) -> Result<(ChunkHeader, &[u8])> {
    let (header, data) = parse_chunk_unhashed(blob)?;
    let actual = ChunkId::of(data);
    if !actual.ct_eq(&header.content_hash) {
        return Err(Error::HashMismatch {
            expected: header.content_hash,
            actual,
        });
    }
    Ok((header, data))
}

/// [`parse_chunk`] without hashing the data: every check but the content hash. For callers
/// that authenticate the data another way (GCM tags of an encrypted chunk).
pub fn parse_chunk_unhashed(blob: &[u8]) -> Result<(ChunkHeader, &[u8])> {
    let header = ChunkHeader::parse(blob)?;
    let needed = HEADER_LEN as u64 + header.stored_size;
    if (blob.len() as u64) < needed {
        return Err(Error::Truncated {
            needed,
            have: blob.len() as u64,
        });
    }
    if blob.len() as u64 > needed {
        return Err(Error::SizeMismatch {
            what: "chunk length",
            expected: needed,
            actual: blob.len() as u64,
        });
    }
    Ok((header, &blob[HEADER_LEN..]))
}

/// Length of the blob a header announces, for callers that must cut erasure padding.
pub fn blob_len(header: &ChunkHeader) -> u64 {
    HEADER_LEN as u64 + header.stored_size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(data: &[u8]) -> Vec<u8> {
        let h = ChunkHeader {
            version: FORMAT_VERSION,
            flags: Flags::VERIFIED,
            original_size: data.len() as u64,
            stored_size: data.len() as u64,
            content_hash: ChunkId::of(data),
        };
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn layout_matches_the_specification_table() {
        let blob = sample(b"abc");
        assert_eq!(&blob[0..4], b"CYXC");
        assert_eq!(
            u32::from_be_bytes(blob[0..4].try_into().unwrap()),
            0x43595843
        );
        assert_eq!(u32::from_le_bytes(blob[4..8].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(blob[8..12].try_into().unwrap()), 0b100);
        assert_eq!(u64::from_le_bytes(blob[12..20].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(blob[20..28].try_into().unwrap()), 3);
        assert_eq!(&blob[28..60], blake3::hash(b"abc").as_bytes());
        assert_eq!(&blob[60..72], &[0u8; 12]);
        assert_eq!(&blob[72..], b"abc");
        let (h, d) = parse_chunk(&blob).unwrap();
        assert_eq!(d, b"abc");
        assert_eq!(h.original_size, 3);
    }

    #[test]
    fn every_kind_of_damage_is_a_typed_error() {
        let good = sample(b"hello world");
        let mut b = good.clone();
        b[0] = b'X';
        assert!(matches!(parse_chunk(&b), Err(Error::BadMagic(_))));
        let mut b = good.clone();
        b[4] = 2;
        assert_eq!(parse_chunk(&b), Err(Error::UnsupportedVersion(2)));
        let mut b = good.clone();
        b[9] = 1;
        assert!(matches!(parse_chunk(&b), Err(Error::UnknownFlags(_))));
        let mut b = good.clone();
        b[8] = 0;
        assert_eq!(parse_chunk(&b), Err(Error::MissingIntegrity));
        let mut b = good.clone();
        b[70] = 1;
        assert_eq!(parse_chunk(&b), Err(Error::ReservedNotZero));
        let mut b = good.clone();
        b.push(0);
        assert!(matches!(parse_chunk(&b), Err(Error::SizeMismatch { .. })));
        let b = &good[..good.len() - 1];
        assert!(matches!(parse_chunk(b), Err(Error::Truncated { .. })));
        assert!(matches!(
            parse_chunk(&good[..10]),
            Err(Error::Truncated { .. })
        ));
        let mut b = good.clone();
        *b.last_mut().unwrap() ^= 1;
        assert!(matches!(parse_chunk(&b), Err(Error::HashMismatch { .. })));
        let mut b = good.clone();
        b[12] = 99; // original size no longer matches stored size of an uncompressed chunk
        assert!(matches!(parse_chunk(&b), Err(Error::SizeMismatch { .. })));
        let mut b = good;
        b[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(parse_chunk(&b), Err(Error::ChunkTooLarge(_))));
    }
}
