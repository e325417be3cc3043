//! Identifiers: content ids (BLAKE3 of stored bytes) and random object ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serializer};

use crate::error::Error;

/// A 32-byte BLAKE3 hash naming stored bytes: a chunk (its encrypted, compressed form) or a
/// shard. Ids are always computed over what is stored, never over plaintext, so holders of
/// ids learn nothing about contents.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    pub const LEN: usize = 32;

    /// Hash `data` into its id.
    pub fn of(data: &[u8]) -> Self {
        ChunkId(*blake3::hash(data).as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn from_slice(b: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 32] = b
            .try_into()
            .map_err(|_| Error::InvalidId(format!("chunk id must be 32 bytes, got {}", b.len())))?;
        Ok(ChunkId(arr))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Constant-time comparison, used where the id is a check value.
    pub fn ct_eq(&self, other: &ChunkId) -> bool {
        blake3::Hash::from(self.0) == blake3::Hash::from(other.0)
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({})", self.to_hex())
    }
}

impl FromStr for ChunkId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| Error::InvalidId(format!("chunk id {s:?}: {e}")))?;
        Ok(ChunkId(out))
    }
}

/// A random 128-bit object identity, chosen when an upload begins. It is bound into every
/// chunk's associated data, so chunks cannot move between objects.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 16]);

impl ObjectId {
    pub fn random() -> Self {
        ObjectId(crate::random_array())
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

impl FromStr for ObjectId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| Error::InvalidId(format!("object id {s:?}: {e}")))?;
        Ok(ObjectId(out))
    }
}

/// Fixed-size byte arrays serialise as hex strings in human-readable formats (JSON) and as
/// raw bytes in binary ones (postcard), so manifests stay compact on the wire.
pub(crate) mod hex_bytes {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            serde::Serialize::serialize(&serde_bytes_array(v), s)
        }
    }

    fn serde_bytes_array<const N: usize>(v: &[u8; N]) -> &serde_bytes_compat::Bytes {
        serde_bytes_compat::Bytes::new(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        use serde::de::Error as _;
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let mut out = [0u8; N];
            hex::decode_to_slice(&s, &mut out).map_err(D::Error::custom)?;
            Ok(out)
        } else {
            let v = serde_bytes_compat::ByteBuf::deserialize(d)?;
            v.0.as_slice()
                .try_into()
                .map_err(|_| D::Error::invalid_length(v.0.len(), &"a fixed-size byte array"))
        }
    }

    /// Minimal byte-string wrappers so binary formats store arrays as one length-prefixed run
    /// instead of N separate integers.
    mod serde_bytes_compat {
        use serde::de::{Error, Visitor};
        use std::fmt;

        #[repr(transparent)]
        pub struct Bytes([u8]);
        impl Bytes {
            pub fn new(b: &[u8]) -> &Bytes {
                // SAFETY: Bytes is repr(transparent) over [u8], so the cast preserves layout.
                unsafe { &*(b as *const [u8] as *const Bytes) }
            }
        }
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }

        pub struct ByteBuf(pub Vec<u8>);
        impl<'de> serde::Deserialize<'de> for ByteBuf {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = ByteBuf;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a byte string")
                    }
                    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                        Ok(ByteBuf(v.to_vec()))
                    }
                    fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                        Ok(ByteBuf(v))
                    }
                }
                d.deserialize_bytes(V)
            }
        }
    }
}

macro_rules! serde_via_hex_bytes {
    ($t:ty, $n:expr) => {
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                $crate::id::hex_bytes::serialize::<S, $n>(&self.0, s)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                $crate::id::hex_bytes::deserialize::<D, $n>(d).map(Self)
            }
        }
    };
}
pub(crate) use serde_via_hex_bytes;

serde_via_hex_bytes!(ChunkId, 32);
serde_via_hex_bytes!(ObjectId, 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_id_hex_roundtrip_and_rejects_bad_input() {
        let id = ChunkId::of(b"hello");
        let s = id.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<ChunkId>().unwrap(), id);
        assert!("zz".parse::<ChunkId>().is_err());
        assert!(s[..62].parse::<ChunkId>().is_err());
    }

    #[test]
    fn ids_serialise_as_hex_in_json_and_bytes_in_postcard() {
        let id = ChunkId::of(b"x");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.to_hex()));
        assert_eq!(serde_json::from_str::<ChunkId>(&json).unwrap(), id);
        let bin = postcard::to_allocvec(&id).unwrap();
        assert_eq!(bin.len(), 33, "one length byte and 32 raw bytes");
        assert_eq!(postcard::from_bytes::<ChunkId>(&bin).unwrap(), id);
        let oid = ObjectId::random();
        let bin = postcard::to_allocvec(&oid).unwrap();
        assert_eq!(postcard::from_bytes::<ObjectId>(&bin).unwrap(), oid);
        // A wrong length is an error, not a panic.
        let short = postcard::to_allocvec(&serde_json::Value::Null).unwrap();
        assert!(postcard::from_bytes::<ChunkId>(&short).is_err());
    }
}
