//! The one error type of the core layer. Callers map it at their boundary (S3 codes, gRPC
//! status, errno, exit codes); nothing here knows about transports.

use crate::id::ChunkId;

/// Everything that can go wrong while encoding, decoding or checking CyxCloud data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- chunk binary format ---
    #[error("chunk is truncated: need {needed} bytes, have {have}")]
    Truncated { needed: u64, have: u64 },
    #[error("chunk has bad magic {0:02x?} (expected \"CYXC\")")]
    BadMagic([u8; 4]),
    #[error("chunk format version {0} is not supported")]
    UnsupportedVersion(u32),
    #[error("chunk header has unknown flag bits {0:#x}")]
    UnknownFlags(u32),
    #[error("chunk header reserved bytes are not zero")]
    ReservedNotZero,
    #[error("chunk header lacks the verified flag: version 1 chunks always carry a content hash")]
    MissingIntegrity,
    #[error("chunk size mismatch: {what} is {actual}, expected {expected}")]
    SizeMismatch {
        what: &'static str,
        expected: u64,
        actual: u64,
    },
    #[error("chunk content hash mismatch: expected {expected}, computed {actual}")]
    HashMismatch { expected: ChunkId, actual: ChunkId },
    #[error("chunk of {0} bytes exceeds the maximum chunk size")]
    ChunkTooLarge(u64),

    // --- compression ---
    #[error("compressed chunk data is corrupt: {0}")]
    Decompress(String),

    // --- encryption and keys ---
    #[error("decryption failed: wrong key, or the chunk was altered, moved or reordered")]
    DecryptFailed,
    #[error("chunk is encrypted but no data key was supplied")]
    KeyRequired,
    #[error(
        "object is wrapped by key {expected}, but the supplied key is {actual} (wrong passphrase or key)"
    )]
    WrongKey { expected: String, actual: String },
    #[error("wrapped data key could not be opened: it was altered or belongs to another object")]
    UnwrapFailed,
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
    #[error("invalid key derivation parameters: {0}")]
    InvalidKdfParams(String),

    // --- erasure coding ---
    #[error("invalid erasure profile {0}")]
    InvalidProfile(String),
    #[error(
        "not enough valid shards to rebuild chunk {index}: need {needed}, have {valid} valid ({corrupt} corrupt)"
    )]
    NotEnoughShards {
        index: u64,
        needed: usize,
        valid: usize,
        corrupt: usize,
    },
    #[error("erasure coding failed: {0}")]
    Erasure(String),

    // --- manifests ---
    #[error("manifest is malformed: {0}")]
    ManifestMalformed(String),
    #[error("manifest format version {0} is not supported")]
    ManifestVersion(u16),
    #[error("manifest is inconsistent: {0}")]
    ManifestInvalid(String),

    // --- grants ---
    #[error(transparent)]
    Grant(#[from] crate::grant::GrantError),

    // --- identifiers ---
    #[error("invalid identifier: {0}")]
    InvalidId(String),

    // --- streaming encoder input ---
    #[error("reading input failed: {0}")]
    Read(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
