//! AES-256-GCM sealing of chunk data.
//!
//! The associated data binds the format version, the flags, the original size, the object
//! and the chunk index, so a chunk cannot be swapped with another, reordered, moved to
//! another object or have its flags flipped without the tag check failing.
//!
//! The cipher is `ring`'s AES-GCM: on this project's machines it runs about three times
//! faster than the `aes-gcm` crate (see README, "Crates chosen by measurement").

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::error::{Error, Result};
use crate::format::{FORMAT_VERSION, Flags, MAGIC};
use crate::id::ObjectId;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
pub const CHUNK_AAD_LEN: usize = 4 + 4 + 4 + 8 + 16 + 8;

/// Associated data of a chunk: magic, version, flags (encrypted and compressed bits),
/// original size, object id, chunk index.
pub fn chunk_aad(
    flags: Flags,
    original_size: u64,
    object: &ObjectId,
    index: u64,
) -> [u8; CHUNK_AAD_LEN] {
    let mut a = [0u8; CHUNK_AAD_LEN];
    a[0..4].copy_from_slice(&MAGIC);
    a[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    // The verified bit is bookkeeping, not content: leave it out of the binding.
    let bound = flags.bits() & (Flags::ENCRYPTED.bits() | Flags::COMPRESSED.bits());
    a[8..12].copy_from_slice(&bound.to_le_bytes());
    a[12..20].copy_from_slice(&original_size.to_le_bytes());
    a[20..36].copy_from_slice(object.as_bytes());
    a[36..44].copy_from_slice(&index.to_le_bytes());
    a
}

fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // 32 bytes is always a valid AES-256 key length.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("AES-256 key is 32 bytes"))
}

/// Encrypt `data` in place and return the tag.
pub fn seal_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    data: &mut [u8],
) -> [u8; TAG_LEN] {
    let tag = aead_key(key)
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), data)
        .expect("AES-GCM sealing of at most 1 GiB cannot fail");
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Decrypt `ciphertext || tag` in place; returns the plaintext part of the buffer.
pub fn open_in_place<'a>(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &'a mut [u8],
) -> Result<&'a mut [u8]> {
    aead_key(key)
        .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), sealed)
        .map_err(|_| Error::DecryptFailed)
}

pub fn random_nonce() -> [u8; NONCE_LEN] {
    crate::random_array()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_aad_binding() {
        let key = [7u8; 32];
        let nonce = random_nonce();
        let obj = ObjectId([1; 16]);
        let aad = chunk_aad(Flags::ENCRYPTED, 5, &obj, 0);
        let mut buf = b"hello".to_vec();
        let tag = seal_in_place(&key, &nonce, &aad, &mut buf);
        assert_ne!(&buf, b"hello");
        buf.extend_from_slice(&tag);
        let mut copy = buf.clone();
        assert_eq!(
            open_in_place(&key, &nonce, &aad, &mut copy).unwrap(),
            b"hello"
        );
        // Another index, object, or flag set fails.
        for other in [
            chunk_aad(Flags::ENCRYPTED, 5, &obj, 1),
            chunk_aad(Flags::ENCRYPTED, 5, &ObjectId([2; 16]), 0),
            chunk_aad(Flags::ENCRYPTED.union(Flags::COMPRESSED), 5, &obj, 0),
            chunk_aad(Flags::ENCRYPTED, 6, &obj, 0),
        ] {
            let mut copy = buf.clone();
            assert_eq!(
                open_in_place(&key, &nonce, &other, &mut copy),
                Err(Error::DecryptFailed)
            );
        }
        // The verified bit is not bound.
        let same = chunk_aad(Flags::ENCRYPTED.union(Flags::VERIFIED), 5, &obj, 0);
        assert_eq!(same, aad);
        let mut copy = buf.clone();
        assert!(open_in_place(&[8u8; 32], &nonce, &aad, &mut copy).is_err());
    }
}
