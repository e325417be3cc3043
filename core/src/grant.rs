//! Grants: compact, gateway-signed authorisations for one data operation on one node.
//!
//! Wire form (version 1, 170 bytes):
//! ```text
//! 0    1   version (1)
//! 1    1   operation (1 store, 2 get, 3 delete)
//! 2    32  node public key (Ed25519)
//! 34   32  shard id
//! 66   8   max bytes (u64 LE)
//! 74   8   issued at (unix seconds, u64 LE)
//! 82   8   expires at (unix seconds, u64 LE)
//! 90   16  grant id (random; the unit of bandwidth settlement)
//! 106  64  Ed25519 signature over "cyxcloud-grant-v1" || bytes 0..106
//! ```
//! Nodes verify grants before touching data; the same record later backs payment claims.

use ed25519_dalek::{Signature, Signer};
pub use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::id::ChunkId;

pub const GRANT_VERSION: u8 = 1;
pub const GRANT_BODY_LEN: usize = 106;
pub const GRANT_LEN: usize = GRANT_BODY_LEN + 64;
const DOMAIN: &[u8] = b"cyxcloud-grant-v1";

/// Why a grant was refused. Every variant maps to PERMISSION_DENIED at the node boundary.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum GrantError {
    #[error("grant is malformed: {0}")]
    Malformed(&'static str),
    #[error("grant version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("grant signature is invalid")]
    BadSignature,
    #[error("grant is for another node")]
    WrongNode,
    #[error("grant is for another shard")]
    WrongShard,
    #[error("grant is for {granted:?}, not {requested:?}")]
    WrongOperation {
        granted: GrantOp,
        requested: GrantOp,
    },
    #[error("grant expired at {expired_at} (now {now})")]
    Expired { expired_at: u64, now: u64 },
    #[error("{size} bytes exceed the grant's limit of {limit}")]
    SizeExceeded { size: u64, limit: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GrantOp {
    Store = 1,
    Get = 2,
    Delete = 3,
}

impl GrantOp {
    fn from_u8(v: u8) -> Result<Self, GrantError> {
        match v {
            1 => Ok(Self::Store),
            2 => Ok(Self::Get),
            3 => Ok(Self::Delete),
            _ => Err(GrantError::Malformed("unknown operation")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Get => "get",
            Self::Delete => "delete",
        }
    }
}

/// The signed statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub op: GrantOp,
    pub node: [u8; 32],
    pub shard: ChunkId,
    pub max_bytes: u64,
    pub issued_at: u64,
    pub expires_at: u64,
    pub grant_id: [u8; 16],
}

impl Grant {
    fn body(&self) -> [u8; GRANT_BODY_LEN] {
        let mut b = [0u8; GRANT_BODY_LEN];
        b[0] = GRANT_VERSION;
        b[1] = self.op as u8;
        b[2..34].copy_from_slice(&self.node);
        b[34..66].copy_from_slice(self.shard.as_bytes());
        b[66..74].copy_from_slice(&self.max_bytes.to_le_bytes());
        b[74..82].copy_from_slice(&self.issued_at.to_le_bytes());
        b[82..90].copy_from_slice(&self.expires_at.to_le_bytes());
        b[90..106].copy_from_slice(&self.grant_id);
        b
    }

    fn signed_message(body: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(DOMAIN.len() + body.len());
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(body);
        m
    }

    /// Sign with the gateway's key and encode.
    pub fn sign(&self, gateway: &SigningKey) -> SignedGrant {
        let body = self.body();
        let sig = gateway.sign(&Self::signed_message(&body));
        let mut bytes = [0u8; GRANT_LEN];
        bytes[..GRANT_BODY_LEN].copy_from_slice(&body);
        bytes[GRANT_BODY_LEN..].copy_from_slice(&sig.to_bytes());
        SignedGrant {
            grant: self.clone(),
            bytes,
        }
    }
}

/// A grant with its signature, as carried on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedGrant {
    pub grant: Grant,
    bytes: [u8; GRANT_LEN],
}

/// What a node expects a grant to allow.
#[derive(Clone, Copy, Debug)]
pub struct GrantCheck<'a> {
    pub node: &'a [u8; 32],
    pub shard: &'a ChunkId,
    pub op: GrantOp,
    pub size: u64,
    pub now: u64,
}

impl SignedGrant {
    pub fn to_bytes(&self) -> [u8; GRANT_LEN] {
        self.bytes
    }

    /// Decode without checking the signature (see [`SignedGrant::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, GrantError> {
        let bytes: [u8; GRANT_LEN] = bytes
            .try_into()
            .map_err(|_| GrantError::Malformed("wrong length"))?;
        if bytes[0] != GRANT_VERSION {
            return Err(GrantError::UnsupportedVersion(bytes[0]));
        }
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let grant = Grant {
            op: GrantOp::from_u8(bytes[1])?,
            node: bytes[2..34].try_into().expect("32 bytes"),
            shard: ChunkId(bytes[34..66].try_into().expect("32 bytes")),
            max_bytes: u64_at(66),
            issued_at: u64_at(74),
            expires_at: u64_at(82),
            grant_id: bytes[90..106].try_into().expect("16 bytes"),
        };
        Ok(SignedGrant { grant, bytes })
    }

    /// Check every field against the request, then the signature against the gateway key.
    /// The fields go first because they cost nothing: a grant for another node, shard or
    /// operation, or an expired one, is refused without the signature check (about 50 µs,
    /// the largest single cost of storing a small shard). Only a grant that passes both
    /// is returned.
    pub fn verify(
        &self,
        gateway: &VerifyingKey,
        check: &GrantCheck<'_>,
    ) -> Result<&Grant, GrantError> {
        let g = &self.grant;
        if g.node != *check.node {
            return Err(GrantError::WrongNode);
        }
        if g.shard != *check.shard {
            return Err(GrantError::WrongShard);
        }
        if g.op != check.op {
            return Err(GrantError::WrongOperation {
                granted: g.op,
                requested: check.op,
            });
        }
        if check.now >= g.expires_at {
            return Err(GrantError::Expired {
                expired_at: g.expires_at,
                now: check.now,
            });
        }
        if check.size > g.max_bytes {
            return Err(GrantError::SizeExceeded {
                size: check.size,
                limit: g.max_bytes,
            });
        }
        let sig = Signature::from_bytes(self.bytes[GRANT_BODY_LEN..].try_into().expect("64 bytes"));
        gateway
            .verify_strict(&Grant::signed_message(&self.bytes[..GRANT_BODY_LEN]), &sig)
            .map_err(|_| GrantError::BadSignature)?;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SigningKey, Grant) {
        let gw = SigningKey::from_bytes(&[9u8; 32]);
        let g = Grant {
            op: GrantOp::Store,
            node: [1; 32],
            shard: ChunkId::of(b"shard"),
            max_bytes: 1000,
            issued_at: 100,
            expires_at: 200,
            grant_id: [5; 16],
        };
        (gw, g)
    }

    #[test]
    fn sign_encode_decode_verify() {
        let (gw, g) = setup();
        let s = g.sign(&gw);
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), GRANT_LEN);
        let d = SignedGrant::decode(&bytes).unwrap();
        assert_eq!(d, s);
        let shard = g.shard;
        let ok = GrantCheck {
            node: &[1; 32],
            shard: &shard,
            op: GrantOp::Store,
            size: 1000,
            now: 150,
        };
        assert_eq!(d.verify(&gw.verifying_key(), &ok).unwrap(), &g);
    }

    #[test]
    fn every_refusal_case() {
        let (gw, g) = setup();
        let s = g.sign(&gw);
        let vk = gw.verifying_key();
        let shard = g.shard;
        let other_shard = ChunkId::of(b"other");
        let base = GrantCheck {
            node: &[1; 32],
            shard: &shard,
            op: GrantOp::Store,
            size: 10,
            now: 150,
        };
        assert_eq!(
            s.verify(
                &vk,
                &GrantCheck {
                    node: &[2; 32],
                    ..base
                }
            ),
            Err(GrantError::WrongNode)
        );
        assert_eq!(
            s.verify(
                &vk,
                &GrantCheck {
                    shard: &other_shard,
                    ..base
                }
            ),
            Err(GrantError::WrongShard)
        );
        assert!(matches!(
            s.verify(
                &vk,
                &GrantCheck {
                    op: GrantOp::Get,
                    ..base
                }
            ),
            Err(GrantError::WrongOperation { .. })
        ));
        assert!(matches!(
            s.verify(&vk, &GrantCheck { now: 200, ..base }),
            Err(GrantError::Expired { .. })
        ));
        assert!(matches!(
            s.verify(&vk, &GrantCheck { size: 1001, ..base }),
            Err(GrantError::SizeExceeded { .. })
        ));
        let forger = SigningKey::from_bytes(&[8u8; 32]);
        let forged = g.sign(&forger);
        assert_eq!(forged.verify(&vk, &base), Err(GrantError::BadSignature));
        // A forged grant that also asks for something else is refused for that.
        assert!(matches!(
            forged.verify(&vk, &GrantCheck { now: 200, ..base }),
            Err(GrantError::Expired { .. })
        ));
        // Any flipped byte breaks the signature or the decoding.
        for i in 0..GRANT_LEN {
            let mut b = s.to_bytes();
            b[i] ^= 0x01;
            let r = SignedGrant::decode(&b).and_then(|d| d.verify(&vk, &base).cloned());
            assert!(r.is_err(), "flip at byte {i} accepted");
        }
        assert_eq!(
            SignedGrant::decode(&[1; 10]),
            Err(GrantError::Malformed("wrong length"))
        );
    }
}
