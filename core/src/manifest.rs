//! The object manifest: everything needed to find, check and decode an object, and nothing
//! that reveals its contents. The gateway stores it; clients read it back to download.
//!
//! Binary form: `"CYXM"`, a little-endian u16 version, then the postcard encoding of that
//! version's record. JSON (serde) is used where humans or HTTP APIs see it. Decoding always
//! validates, so a manifest that parses is internally consistent.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::crypto::NONCE_LEN;
use crate::erasure::ErasureProfile;
use crate::error::{Error, Result};
use crate::format::{Flags, HEADER_LEN, MAX_CHUNK_SIZE, check_sizes};
use crate::id::{ChunkId, ObjectId, serde_via_hex_bytes};
use crate::keys::{KeyId, WrappedKey};

pub const MANIFEST_MAGIC: [u8; 4] = *b"CYXM";
pub const MANIFEST_VERSION: u16 = 1;
/// The only encryption algorithm of version 1.
pub const ALGORITHM_AES_256_GCM: &str = "AES-256-GCM";

/// A per-chunk AES-GCM nonce.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Nonce(pub [u8; NONCE_LEN]);
serde_via_hex_bytes!(Nonce, 12);

/// How an object's chunks are encrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionInfo {
    /// "AES-256-GCM".
    pub algorithm: String,
    /// The object's data key, wrapped by the key named in `wrapped_key.key_id`.
    pub wrapped_key: WrappedKey,
}

impl EncryptionInfo {
    pub fn key_id(&self) -> KeyId {
        self.wrapped_key.key_id
    }
}

/// One chunk of an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkEntry {
    pub index: u64,
    /// Plaintext bytes in this chunk.
    pub original_size: u64,
    /// Bytes of data after the 72-byte header (compressed and/or encrypted, with tag).
    pub stored_size: u64,
    pub flags: Flags,
    /// Present exactly when the chunk is encrypted.
    pub nonce: Option<Nonce>,
    /// BLAKE3 of the stored data; equals the content hash in the chunk header.
    pub chunk_id: ChunkId,
    /// Length of every shard of this chunk.
    pub shard_size: u64,
    /// BLAKE3 of each shard, data shards first.
    pub shards: Vec<ChunkId>,
}

impl ChunkEntry {
    fn validate(
        &self,
        expected_index: u64,
        profile: ErasureProfile,
        encrypted: bool,
    ) -> Result<()> {
        let bad = |m: String| Err(Error::ManifestInvalid(format!("chunk {}: {m}", self.index)));
        if self.index != expected_index {
            return bad(format!("expected index {expected_index}"));
        }
        if self.original_size == 0 {
            return bad("empty chunk".into());
        }
        check_sizes(self.flags, self.original_size, self.stored_size)
            .map_err(|e| Error::ManifestInvalid(format!("chunk {}: {e}", self.index)))?;
        if !self.flags.contains(Flags::VERIFIED) {
            return bad("verified flag missing".into());
        }
        if self.flags.encrypted() != encrypted || self.nonce.is_some() != encrypted {
            return bad("encryption flag, nonce and object encryption disagree".into());
        }
        if self.shards.len() != profile.total_shards() {
            return bad(format!(
                "{} shard ids for profile {profile}",
                self.shards.len()
            ));
        }
        let expect = profile.shard_len(HEADER_LEN + self.stored_size as usize) as u64;
        if self.shard_size != expect {
            return bad(format!("shard size {} should be {expect}", self.shard_size));
        }
        Ok(())
    }

    /// Bytes stored on nodes for this chunk, all shards together.
    pub fn stored_bytes(&self) -> u64 {
        self.shard_size * self.shards.len() as u64
    }
}

/// A versioned record of one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u16,
    pub object_id: ObjectId,
    /// Plaintext size of the whole object.
    pub size: u64,
    pub content_type: String,
    pub user_metadata: BTreeMap<String, String>,
    pub profile: ErasureProfile,
    /// Nominal chunk size used by the writer (every chunk is at most this long).
    pub chunk_size: u64,
    pub encryption: Option<EncryptionInfo>,
    pub chunks: Vec<ChunkEntry>,
}

impl Manifest {
    /// An empty manifest (a 0-byte object) to which encoded chunks are appended in order.
    pub fn new(
        object_id: ObjectId,
        profile: ErasureProfile,
        chunk_size: u64,
        encryption: Option<EncryptionInfo>,
        content_type: impl Into<String>,
    ) -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            object_id,
            size: 0,
            content_type: content_type.into(),
            user_metadata: BTreeMap::new(),
            profile,
            chunk_size,
            encryption,
            chunks: Vec::new(),
        }
    }

    /// Append the next chunk's entry.
    pub fn push_chunk(&mut self, entry: ChunkEntry) {
        self.size += entry.original_size;
        self.chunks.push(entry);
    }

    /// Check every internal invariant.
    pub fn validate(&self) -> Result<()> {
        if self.version != MANIFEST_VERSION {
            return Err(Error::ManifestVersion(self.version));
        }
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return Err(Error::ManifestInvalid(format!(
                "chunk size {} out of range",
                self.chunk_size
            )));
        }
        if let Some(e) = &self.encryption
            && e.algorithm != ALGORITHM_AES_256_GCM
        {
            return Err(Error::ManifestInvalid(format!(
                "unknown algorithm {:?}",
                e.algorithm
            )));
        }
        let mut total: u64 = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            c.validate(i as u64, self.profile, self.encryption.is_some())?;
            if c.original_size > self.chunk_size {
                return Err(Error::ManifestInvalid(format!(
                    "chunk {i} is larger than the chunk size"
                )));
            }
            total = total
                .checked_add(c.original_size)
                .ok_or_else(|| Error::ManifestInvalid("size overflows".into()))?;
        }
        if total != self.size {
            return Err(Error::ManifestInvalid(format!(
                "chunks hold {total} bytes, object size is {}",
                self.size
            )));
        }
        Ok(())
    }

    /// Binary encoding (magic, version, postcard body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(64 + self.chunks.len() * (80 + 33 * self.profile.total_shards()));
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        postcard::to_io(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Decode and validate a binary manifest.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 6 || bytes[..4] != MANIFEST_MAGIC {
            return Err(Error::ManifestMalformed("missing CYXM magic".into()));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let m: Manifest = match version {
            1 => {
                let (m, rest): (Manifest, &[u8]) = postcard::take_from_bytes(&bytes[6..])
                    .map_err(|e| Error::ManifestMalformed(e.to_string()))?;
                if !rest.is_empty() {
                    return Err(Error::ManifestMalformed(format!(
                        "{} trailing bytes",
                        rest.len()
                    )));
                }
                if m.version != version {
                    return Err(Error::ManifestMalformed(
                        "envelope and body versions differ".into(),
                    ));
                }
                m
            }
            v => return Err(Error::ManifestVersion(v)),
        };
        m.validate()?;
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("manifest serialises to JSON")
    }

    pub fn from_json(s: &str) -> Result<Self> {
        let m: Manifest =
            serde_json::from_str(s).map_err(|e| Error::ManifestMalformed(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Total bytes stored on nodes for this object.
    pub fn stored_bytes(&self) -> u64 {
        self.chunks.iter().map(ChunkEntry::stored_bytes).sum()
    }

    /// Plaintext offset of each chunk's first byte.
    pub fn chunk_offsets(&self) -> Vec<u64> {
        let mut off = 0;
        self.chunks
            .iter()
            .map(|c| {
                let o = off;
                off += c.original_size;
                o
            })
            .collect()
    }

    /// The chunks a byte range `[start, end)` touches, and the offset of the range within
    /// the first of them. Empty when the range is empty or past the end.
    pub fn chunks_for_range(&self, range: Range<u64>) -> (Range<usize>, u64) {
        let end = range.end.min(self.size);
        if range.start >= end {
            return (0..0, 0);
        }
        let offsets = self.chunk_offsets();
        let first = offsets.partition_point(|&o| o <= range.start) - 1;
        let last = offsets.partition_point(|&o| o < end);
        (first..last, range.start - offsets[first])
    }
}
