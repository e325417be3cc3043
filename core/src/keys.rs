//! Key hierarchy.
//!
//! ```text
//! passphrase --Argon2id(salt, params)--> master key      (or a raw 256-bit self-managed key)
//! master key --HKDF-SHA256(salt "cyxcloud-v1")--> key-encryption key (KEK) + key id
//! per object: random 256-bit data key, wrapped by the KEK with AES-256-GCM
//! per chunk:  HKDF-SHA256(data key, object id || chunk index) --> chunk key
//! ```
//!
//! Wrapping data keys means a passphrase change re-wraps a few bytes per object instead of
//! re-uploading data, and one object can be shared by handing over its data key alone.
//!
//! The specification writes the chunk key as HKDF(derived key, chunk id). Content ids are
//! hashes of the encrypted bytes and cannot exist before encryption, so the chunk's identity
//! in the derivation is its position: object id and chunk index (see README).

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{KEY_LEN, NONCE_LEN, TAG_LEN, open_in_place, random_nonce, seal_in_place};
use crate::error::{Error, Result};
use crate::id::{ObjectId, hex_bytes, serde_via_hex_bytes};

/// HKDF salt fixed by the specification.
pub const HKDF_SALT: &[u8] = b"cyxcloud-v1";
const INFO_KEK: &[u8] = b"cyxcloud key-encryption key v1";
const INFO_KEY_ID: &[u8] = b"cyxcloud key id v1";
const INFO_CHUNK: &[u8] = b"cyxcloud chunk key v1";
const WRAP_AAD_PREFIX: &[u8] = b"cyxcloud-wrap-v1";

/// Argon2id parameters, stored beside the key metadata so the same passphrase always
/// yields the same master key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Always "argon2id" in this version.
    pub algorithm: String,
    /// Random per-user salt (hex in JSON).
    #[serde(with = "hex_bytes")]
    pub salt: [u8; 16],
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl KdfParams {
    /// Recommended parameters with a fresh salt: 64 MiB, 3 passes, 1 lane.
    pub fn recommended() -> Self {
        KdfParams {
            algorithm: "argon2id".into(),
            salt: crate::random_array(),
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }

    fn argon2(&self) -> Result<argon2::Argon2<'static>> {
        if self.algorithm != "argon2id" {
            return Err(Error::InvalidKdfParams(format!(
                "unknown algorithm {:?}",
                self.algorithm
            )));
        }
        // Refuse parameters so weak they would make a stolen metadata file easy to attack,
        // and so large they would exhaust memory.
        if self.memory_kib < 8 || self.memory_kib > 4 * 1024 * 1024 {
            return Err(Error::InvalidKdfParams(format!(
                "memory_kib {} out of range",
                self.memory_kib
            )));
        }
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|e| Error::InvalidKdfParams(e.to_string()))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

/// The user's master key. Never leaves the client; zeroed on drop.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    pub fn from_passphrase(passphrase: &[u8], params: &KdfParams) -> Result<Self> {
        if passphrase.is_empty() {
            return Err(Error::InvalidKey("the passphrase is empty"));
        }
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        params
            .argon2()?
            .hash_password_into(passphrase, &params.salt, out.as_mut())
            .map_err(|e| Error::InvalidKdfParams(e.to_string()))?;
        Ok(MasterKey(out))
    }

    /// A self-managed 256-bit key.
    pub fn from_bytes(raw: [u8; KEY_LEN]) -> Self {
        MasterKey(Zeroizing::new(raw))
    }

    /// Parse a self-managed key given as 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self> {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(s.trim(), raw.as_mut())
            .map_err(|_| Error::InvalidKey("expected 64 hex digits"))?;
        Ok(MasterKey(raw))
    }

    pub fn generate() -> Self {
        MasterKey(Zeroizing::new(crate::random_array()))
    }

    /// The raw key, for the client's own secret store (OS keyring). Never send it anywhere.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Derive the key-encryption key and its id.
    pub fn derive(&self) -> KeyEncryptionKey {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), self.0.as_ref());
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        hk.expand(INFO_KEK, key.as_mut())
            .expect("32 bytes is a valid HKDF length");
        let mut id = [0u8; 16];
        hk.expand(INFO_KEY_ID, &mut id)
            .expect("16 bytes is a valid HKDF length");
        KeyEncryptionKey { key, id: KeyId(id) }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Names a key-encryption key without revealing anything about it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 16]);
serde_via_hex_bytes!(KeyId, 16);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kid-{}", hex::encode(self.0))
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}
impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s.strip_prefix("kid-").unwrap_or(s), &mut out)
            .map_err(|e| Error::InvalidId(format!("key id {s:?}: {e}")))?;
        Ok(KeyId(out))
    }
}

/// Wraps and unwraps per-object data keys.
pub struct KeyEncryptionKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: KeyId,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyEncryptionKey({}, <redacted>)", self.id)
    }
}

fn wrap_aad(id: &KeyId, object: &ObjectId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_AAD_PREFIX.len() + 32);
    aad.extend_from_slice(WRAP_AAD_PREFIX);
    aad.extend_from_slice(&id.0);
    aad.extend_from_slice(object.as_bytes());
    aad
}

impl KeyEncryptionKey {
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Wrap `data_key` for `object`.
    pub fn wrap(&self, data_key: &DataKey, object: &ObjectId) -> WrappedKey {
        let nonce = random_nonce();
        let mut buf = data_key.0.to_vec();
        let tag = seal_in_place(&self.key, &nonce, &wrap_aad(&self.id, object), &mut buf);
        buf.extend_from_slice(&tag);
        WrappedKey {
            key_id: self.id,
            nonce,
            ciphertext: buf,
        }
    }

    /// Unwrap the data key of `object`. A different key id is reported as a wrong key
    /// (typically a wrong passphrase) before any decryption is tried.
    pub fn unwrap(&self, wrapped: &WrappedKey, object: &ObjectId) -> Result<DataKey> {
        if wrapped.key_id != self.id {
            return Err(Error::WrongKey {
                expected: wrapped.key_id.to_string(),
                actual: self.id.to_string(),
            });
        }
        if wrapped.ciphertext.len() != KEY_LEN + TAG_LEN {
            return Err(Error::UnwrapFailed);
        }
        let mut buf = Zeroizing::new(wrapped.ciphertext.clone());
        let plain = open_in_place(
            &self.key,
            &wrapped.nonce,
            &wrap_aad(&self.id, object),
            &mut buf,
        )
        .map_err(|_| Error::UnwrapFailed)?;
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(plain);
        let dk = DataKey::from_bytes(key);
        key.zeroize();
        Ok(dk)
    }

    /// Re-wrap an object's data key under `new`: rotating a passphrase touches metadata only.
    pub fn rewrap(
        &self,
        new: &KeyEncryptionKey,
        wrapped: &WrappedKey,
        object: &ObjectId,
    ) -> Result<WrappedKey> {
        Ok(new.wrap(&self.unwrap(wrapped, object)?, object))
    }
}

/// A data key wrapped by a key-encryption key. Safe to store anywhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub key_id: KeyId,
    #[serde(with = "hex_bytes")]
    pub nonce: [u8; NONCE_LEN],
    #[serde(with = "hex_vec")]
    pub ciphertext: Vec<u8>,
}

mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            s.serialize_bytes(v)
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            hex::decode(s).map_err(serde::de::Error::custom)
        } else {
            let v: &[u8] = <&[u8]>::deserialize(d)?;
            Ok(v.to_vec())
        }
    }
}

/// A per-object data key. Zeroed on drop; `Debug` never prints it.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    pub fn generate() -> Self {
        DataKey(Zeroizing::new(crate::random_array()))
    }
    pub fn from_bytes(raw: [u8; KEY_LEN]) -> Self {
        DataKey(Zeroizing::new(raw))
    }
    /// The raw key, for sharing one object with someone else.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key that encrypts chunk `index` of `object`.
    pub fn chunk_key(&self, object: &ObjectId, index: u64) -> Zeroizing<[u8; KEY_LEN]> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), self.0.as_ref());
        let mut info = [0u8; INFO_CHUNK.len() + 16 + 8];
        info[..INFO_CHUNK.len()].copy_from_slice(INFO_CHUNK);
        info[INFO_CHUNK.len()..INFO_CHUNK.len() + 16].copy_from_slice(object.as_bytes());
        info[INFO_CHUNK.len() + 16..].copy_from_slice(&index.to_le_bytes());
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        hk.expand(&info, out.as_mut())
            .expect("32 bytes is a valid HKDF length");
        out
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast_params() -> KdfParams {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            ..KdfParams::recommended()
        }
    }

    #[test]
    fn passphrase_derivation_is_deterministic_and_salted() {
        let p = fast_params();
        let a = MasterKey::from_passphrase(b"correct horse", &p)
            .unwrap()
            .derive();
        let b = MasterKey::from_passphrase(b"correct horse", &p)
            .unwrap()
            .derive();
        assert_eq!(a.id(), b.id());
        let c = MasterKey::from_passphrase(b"correct horse", &fast_params())
            .unwrap()
            .derive();
        assert_ne!(a.id(), c.id(), "a different salt gives a different key");
        assert!(MasterKey::from_passphrase(b"", &p).is_err());
        let bad = KdfParams {
            algorithm: "scrypt".into(),
            ..p
        };
        assert!(matches!(
            MasterKey::from_passphrase(b"x", &bad),
            Err(Error::InvalidKdfParams(_))
        ));
    }

    #[test]
    fn wrap_unwrap_rotate_and_wrong_keys() {
        let p = fast_params();
        let old = MasterKey::from_passphrase(b"old", &p).unwrap().derive();
        let new = MasterKey::from_passphrase(b"new", &p).unwrap().derive();
        let obj = ObjectId::random();
        let dk = DataKey::generate();
        let w = old.wrap(&dk, &obj);
        assert_eq!(old.unwrap(&w, &obj).unwrap().expose(), dk.expose());
        assert!(matches!(new.unwrap(&w, &obj), Err(Error::WrongKey { .. })));
        assert_eq!(
            old.unwrap(&w, &ObjectId::random()).unwrap_err(),
            Error::UnwrapFailed
        );
        let mut tampered = w.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(
            old.unwrap(&tampered, &obj).unwrap_err(),
            Error::UnwrapFailed
        );
        let rotated = old.rewrap(&new, &w, &obj).unwrap();
        assert_eq!(rotated.key_id, new.id());
        assert_eq!(new.unwrap(&rotated, &obj).unwrap().expose(), dk.expose());
        // JSON round trip of wrapped keys.
        let json = serde_json::to_string(&rotated).unwrap();
        assert_eq!(serde_json::from_str::<WrappedKey>(&json).unwrap(), rotated);
    }

    #[test]
    fn chunk_keys_differ_per_chunk_and_object() {
        let dk = DataKey::generate();
        let o = ObjectId([1; 16]);
        assert_ne!(*dk.chunk_key(&o, 0), *dk.chunk_key(&o, 1));
        assert_ne!(*dk.chunk_key(&o, 0), *dk.chunk_key(&ObjectId([2; 16]), 0));
        assert_eq!(*dk.chunk_key(&o, 3), *dk.chunk_key(&o, 3));
    }

    #[test]
    fn secrets_never_print() {
        let m = MasterKey::from_bytes([0xab; 32]);
        assert!(!format!("{m:?}").contains("ab"));
        let d = DataKey::from_bytes([0xcd; 32]);
        assert!(!format!("{d:?}").contains("cd"));
        assert!(!format!("{:?}", m.derive()).contains("abab"));
        assert!(MasterKey::from_hex("zz").is_err());
        assert_eq!(
            MasterKey::from_hex(&"ab".repeat(32)).unwrap().derive().id(),
            m.derive().id()
        );
    }
}
