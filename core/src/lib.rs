//! CyxCloud core: the formats, cryptography and erasure coding every other crate shares.
//! No network and no disk I/O: callers hand in bytes (or a reader) and get bytes back.
//!
//! - [`buffers`]: a pool of large buffers, so chunk-sized allocations are not faulted in again.
//! - [`id`]: content ids (BLAKE3 of stored bytes) and object ids.
//! - [`format`]: the 72-byte chunk header and strict blob parsing.
//! - [`compress`]: LZ4 with an incompressibility probe.
//! - [`crypto`]: AES-256-GCM sealing with associated data that pins each chunk in place.
//! - [`keys`]: passphrase / raw master keys, key-encryption keys, wrapped per-object data keys.
//! - [`erasure`]: profiles and striped Reed-Solomon coding.
//! - [`pipeline`]: chunk encode/decode and the streaming encoder.
//! - [`manifest`]: the versioned object record.
//! - [`grant`]: Ed25519-signed authorisations for node operations.
//! - [`error_code`]: the specification's error codes and JSON error body.

pub mod buffers;
pub mod compress;
pub mod crypto;
pub mod erasure;
pub mod error;
pub mod error_code;
pub mod format;
pub mod grant;
pub mod id;
pub mod keys;
pub mod manifest;
pub mod pipeline;

pub use erasure::ErasureProfile;
pub use error::{Error, Result};
pub use error_code::ErrorCode;
pub use id::{ChunkId, ObjectId};
pub use manifest::Manifest;

/// Fill an array from the operating system's CSPRNG.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut a = [0u8; N];
    // The OS RNG failing is unrecoverable: continuing would produce predictable keys.
    getrandom::fill(&mut a).expect("operating system random number generator failed");
    a
}
